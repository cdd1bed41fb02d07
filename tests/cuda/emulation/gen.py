# Turns the committed cuda kernel headers into host C++ for emulate.cc: drops includes, renames kernel<Op, cuda>
# to emu_kernel<Op>, makes device temporaries (tensor<T, cuda>) host tensors, and rewrites every launch
# `k<<<blocks, threads, 0, stream>>>(args);` into `emu_launch(blocks, threads, [&] { k(args); });`.
# Usage: python3 gen.py <include/vae/backend/cuda> <out.hpp>
import re
import sys

root, out_path = sys.argv[1], sys.argv[2]
files = ['reduce.cuh', 'group_norm.cuh', 'layer_norm.cuh', 'batch_norm.cuh', 'softmax.cuh', 'losses.cuh',
         'upsample.cuh', 'avg_pool2d.cuh', 'conv_fusion.cuh', 'conv2d.cuh', 'conv_transpose2d.cuh', 'sgd.cuh', 'adam_step.cuh',
         'vq_nearest.cuh']
files += ['likelihood_terms.cuh', 'gaussian_latent.cuh']  # the VAE policy ops
files += ['add.cuh', 'rows_by_code.cuh', 'vq_terms.cuh']  # skip additions and the quantizers' element ops
files += ['pad2d.cuh', 'act_norm.cuh']  # the VQ-GAN blocks' ops (batched_matmul is cuBLAS alone)
files += ['max_pool2d.cuh', 'feature_distance.cuh']  # the perceptual loss's ops


def split_top(s):
    parts, depth, cur = [], 0, ''
    for ch in s:
        if ch in '(<[':
            depth += 1
        if ch in ')>]':
            depth -= 1
        if ch == ',' and depth == 0:
            parts.append(cur)
            cur = ''
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts]


def launch(m):
    name, cfg, args = m.group(1).strip(), split_top(m.group(2)), m.group(3)
    return 'emu_launch(%s, %s, [&] { %s(%s); });' % (cfg[0], cfg[1], name, args)


out = []
for f in files:
    s = open(root + '/' + f).read()
    s = '\n'.join(l for l in s.split('\n') if not l.startswith('#'))
    s = re.sub(r'\bkernel<([^;{}()]*?), cuda>', r'emu_kernel<\1>', s)  # also where a kernel names itself (CRTP bases)
    s = re.sub(r'tensor<([\w:]+), cuda>', r'tensor<\1, cpu>', s).replace('cuda::copy_to_host', 'emu_copy_to_host')
    s = re.sub(r'([\w:]+(?:<[\w:<>, ]*>)?)\s*<<<(.*?)>>>\((.*?)\);', launch, s, flags=re.S)
    if '<<<' in s:
        sys.exit('gen.py: a launch in %s was not rewritten' % f)
    out.append('// ==== ' + f + '\n' + s)
open(out_path, 'w').write('\n'.join(out))
