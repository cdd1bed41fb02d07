#!/usr/bin/python3
"""Converts the real LPIPS weights into one safetensors file for vae's LPIPS feature net (adversarial/lpips.hpp).

Offline: it reads two files you already have and downloads nothing.
  VGG    torchvision's VGG16 ImageNet weights, a state_dict saved by torch (e.g. vgg16-397923af.pth, which
         torchvision.models.vgg16(weights="IMAGENET1K_V1") caches in ~/.cache/torch/hub/checkpoints/); a whole
         lpips.LPIPS(net='vgg') state_dict (keys "net.slice<k>.<i>.weight") is accepted too.
  LIN    the lpips package's learned linear layers, lpips/weights/v0.1/vgg.pth (in the pip package's folder, or the
         repository github.com/richzhang/PerceptualSimilarity); keys "lin<k>.model.1.weight" ([1, C, 1, 1]).
Writes OUT.safetensors (float32) with exactly the names LPIPS<float> has, the one name table of this conversion:
  features.<i>.weight / .bias   for i in 0 2 5 7 10 12 14 17 19 21 24 26 28   (torchvision's vgg16().features)
  lin<k>.model.1.weight         for k in 0..4                                  (lpips's relu1_2 ... relu5_3 weights)
Usage: /usr/bin/python3 tools/convert_lpips.py VGG LIN OUT.safetensors
Then:  vae train --model vqgan --perceptual lpips:OUT.safetensors ...   (see docs/guide-vqgan.md)"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_np  # noqa: E402

CONVS = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
# lpips's vgg16 slices hold features[0:4], [4:9], [9:16], [16:23], [23:30] under their original indices.
SLICE_OF = {i: 1 + sum(i >= b for b in (4, 9, 16, 23)) for i in CONVS}


def load(path):
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except TypeError:  # torch < 1.13 has no weights_only
        sd = torch.load(path, map_location="cpu")
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        sys.exit(f"{path}: not a state_dict (a dict of tensors), got {type(sd).__name__}")
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in sd.items()}


def find(sd, names, path, what):
    for n in names:
        if n in sd:
            return sd[n]
    sys.exit(f"{path}: no tensor {' or '.join(repr(n) for n in names)} ({what}): is this the right file?")


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    vgg_path, lin_path, out = sys.argv[1:]
    vgg, lin = load(vgg_path), load(lin_path)
    t, prev = {}, 3
    for i in CONVS:
        for part in ("weight", "bias"):
            v = find(vgg, [f"features.{i}.{part}", f"net.slice{SLICE_OF[i]}.{i}.{part}"], vgg_path,
                     f"VGG16 features.{i}")
            t[f"features.{i}.{part}"] = v.detach().float().numpy()
        w = t[f"features.{i}.weight"]
        if w.ndim != 4 or w.shape[1] != prev or w.shape[2:] != (3, 3):
            sys.exit(f"{vgg_path}: features.{i}.weight has shape {list(w.shape)}, expected [out, {prev}, 3, 3]: "
                     "not torchvision's vgg16 (vgg16_bn or vgg19 have other indices)")
        prev = w.shape[0]
    taps = [t[f"features.{i}.weight"].shape[0] for i in (2, 7, 14, 21, 28)]
    for k, c in enumerate(taps):
        v = find(lin, [f"lin{k}.model.1.weight", f"lin{k}.model.0.weight"], lin_path, f"lpips lin{k}").detach().float().numpy()
        if v.shape != (1, c, 1, 1):
            sys.exit(f"{lin_path}: lin{k} weight has shape {list(v.shape)}, expected [1, {c}, 1, 1]: "
                     "not lpips's vgg weights (alex.pth and squeeze.pth belong to other nets)")
        if (v < 0).any():
            sys.exit(f"{lin_path}: lin{k} has negative weights: lpips's trained lin weights are non-negative")
        t[f"lin{k}.model.1.weight"] = v
    safetensors_np.save(out, {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in t.items()},
                        metadata={"format": "vae LPIPS (vgg)", "vgg": os.path.basename(vgg_path),
                                  "lin": os.path.basename(lin_path)})
    n = sum(v.size for v in t.values())
    print(f"wrote {out}: {len(t)} tensors, {n} parameters (widths {taps})")


if __name__ == "__main__":
    main()
