#!/usr/bin/env python3
"""The on-paper scaling model of docs/distributed.md: step time of data-parallel training on W GPUs with NCCL,
from each model's gradient size and its measured single-GPU step time. Every assumption is a named constant."""

# Per-GPU compute per step: the README's H200 fp32 train/s at batch 512 (vae_bench --device cuda), i.e. weak
# scaling with 512 images per GPU per step.
MODELS = {  # name: (trainable float32 parameters, tensors, train images/s on one GPU at batch 512)
    "mlp-vae": (1_091_920, 12, 568_731),
    "conv-vae": (370_945, 12, 277_222),
    "vq-vae": (445_505, 28, 63_017),
}
BATCH_PER_GPU = 512
# NCCL bus bandwidth (busbw = algbw * 2(W-1)/W) and per-hop latency. Intra-node: 8x H100 SXM on NVLink 4 /
# NVSwitch; inter-node: one 400 Gb/s NDR InfiniBand NIC per GPU (50 GB/s raw), taken at 80% = 40 GB/s.
INTRA_BUSBW, INTER_BUSBW = 350e9, 40e9  # bytes/s
INTRA_ALPHA, INTER_ALPHA = 3e-6, 8e-6   # seconds per ring hop
BACKWARD_SHARE = 2 / 3  # the backward pass's share of a step: the time an overlapped allreduce can hide behind


def allreduce(bytes_, world, ring=True):
    if world == 1:
        return 0.0
    busbw, alpha = (INTRA_BUSBW, INTRA_ALPHA) if world <= 8 else (INTER_BUSBW, INTER_ALPHA)
    bandwidth = 2 * (world - 1) / world * bytes_ / busbw
    hops = 2 * (world - 1) if ring else 2 * (world - 1).bit_length()  # ring vs tree (log2 W) latency
    return bandwidth + hops * alpha


def main():
    print("| model | grad MB | W | compute ms | ring allreduce ms | step ms (no overlap) | efficiency | "
          "comm-bound? | per-tensor allreduces ms | tree allreduce ms |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, (params, tensors, rate) in MODELS.items():
        size = 4 * params
        compute = BATCH_PER_GPU / rate
        for world in (8, 64, 512):
            ring = allreduce(size, world)
            per_tensor = tensors * allreduce(size / tensors, world)  # no buckets: one message per parameter tensor
            tree = allreduce(size, world, ring=False)
            step = compute + ring
            bound = "yes" if ring > BACKWARD_SHARE * compute else "no"
            print(f"| {name} | {size / 1e6:.2f} | {world} | {compute * 1e3:.2f} | {ring * 1e3:.3f} | {step * 1e3:.2f} | "
                  f"{compute / step:.0%} | {bound} | {per_tensor * 1e3:.2f} | {tree * 1e3:.3f} |")


if __name__ == "__main__":
    main()
