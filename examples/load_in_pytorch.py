#!/usr/bin/python3
"""Loading a vae-trained model in PyTorch: examples/autoencoder.cpp writes autoencoder.safetensors (the weights, under
PyTorch's names) and autoencoder_check.safetensors (16 test images and vae's reconstructions of them). This script
builds the same network as a torch.nn.Module, loads the weights with load_state_dict(strict=True), reconstructs the
same images and compares with vae's output (float32 tolerance: atol 1e-5, rtol 1e-4).
Run: /usr/bin/python3 examples/load_in_pytorch.py [DIR]   (DIR holds the two files; default: the current folder)
Exit 77 (skipped) when PyTorch is not installed."""
import json
import os
import struct
import sys

try:
    import torch
    import torch.nn as nn
except ImportError:
    print("skipped: PyTorch is not installed (Debian: apt-get install python3-torch)")
    sys.exit(77)


def load_safetensors(path):
    """{name: tensor}. safetensors.torch.load_file does the same where the safetensors package is installed."""
    try:
        from safetensors.torch import load_file
        return load_file(path)
    except ImportError:
        pass
    dtypes = {"F32": torch.float32, "F64": torch.float64, "I32": torch.int32, "I64": torch.int64}
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])  # a little-endian u64 header length, then a JSON header, then the data
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        t = torch.frombuffer(bytearray(raw[8 + n + begin:8 + n + end]), dtype=dtypes[info["dtype"]])
        out[name] = t.reshape(info["shape"])
    return out


class Autoencoder(nn.Module):  # vae::MLPEncoder(784, 512, 256, 32) and vae::MLPDecoder(32, 256, 512, 784)
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 32))
        self.dec = nn.Sequential(nn.Linear(32, 256), nn.ReLU(), nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 784))

    def forward(self, x):
        return torch.sigmoid(self.dec(self.enc(x)))  # the BCE-with-logits decoder's output, as pixels


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else "."
    model = Autoencoder()
    model.load_state_dict(load_safetensors(os.path.join(folder, "autoencoder.safetensors")), strict=True)
    check = load_safetensors(os.path.join(folder, "autoencoder_check.safetensors"))
    with torch.no_grad():
        ours = model(check["x"])
    theirs = check["reconstruction"]
    err = (ours - theirs).abs().max().item()
    print(f"loaded {sum(p.numel() for p in model.parameters())} parameters with strict=True; "
          f"PyTorch vs vae reconstructions of {ours.shape[0]} images: max abs difference {err:.2e}")
    if not torch.allclose(ours, theirs, atol=1e-5, rtol=1e-4):
        print("FAILED: the reconstructions differ beyond float32 tolerance")
        return 1
    print("ok: same outputs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
