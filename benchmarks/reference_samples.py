#!/usr/bin/python3
"""Trains one PyTorch reference model of ../shared/reference/ (its own script, unchanged, run in this process) and
writes the images its sample quality is measured on: DIR/generated.npy (10000 decoded prior samples for the VAEs,
reconstructions of the first 10000 test images for the VQ-VAE and the VQGAN) and DIR/real.npy (the test images as
that model sees them: binarised for the Bernoulli VAEs), float32 [N, 1, 28, 28], the layout of `vae eval --fid
--save-images`. The VQGAN's reconstructions are its padded 32x32 outputs cropped to the centre 28x28 and mapped from
[-1, 1] to [0, 1] (y + 1) / 2, unclamped, as `vae eval --fid` takes a vqgan run's.
Measure them with benchmarks/sample_quality.py and a vae classifier run.

Run: /usr/bin/python3 benchmarks/reference_samples.py --model vae_mlp|vae_conv|vqvae|vqgan --epochs E --out DIR [--seed S]
"""
import argparse
import os
import runpy
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, choices=["vae_mlp", "vae_conv", "vqvae", "vqgan"])
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--n", type=int, default=10000)
    p.add_argument("--seed", type=int, default=0, help="the draws of the prior samples")
    p.add_argument("--reference-dir", default=os.environ.get("VAE_REFERENCE_DIR",
                                                             os.path.join(HERE, "..", "..", "shared", "reference")))
    a = p.parse_args()
    ref = os.path.abspath(a.reference_dir)
    sys.path.insert(0, ref)
    script = os.path.join(ref, a.model + ".py")
    sys.argv = [script, "--epochs", str(a.epochs), "--max-seconds", "1e9"]
    g = runpy.run_path(script, run_name="__main__")  # trains and prints the reference's own JSON result
    model, xte = g["model"], g["xte"]
    model.eval()
    torch.manual_seed(a.seed)
    with torch.no_grad():
        if a.model == "vqvae":
            gen = torch.cat([model(xte[i:i + 500])[0] for i in range(0, a.n, 500)])
        elif a.model == "vqgan":  # xte is padded to 32x32 in [-1, 1] (vqgan.py's to_img)
            gen = torch.cat([model(xte[i:i + 500])[0] for i in range(0, a.n, 500)])[:, :, 2:30, 2:30]
            gen = (gen + 1) / 2
            xte = (xte[:, :, 2:30, 2:30] + 1) / 2
        else:
            z = torch.randn(a.n, g["ZD"])
            if a.model == "vae_mlp":
                gen = torch.sigmoid(model.dec(z))
            else:
                gen = torch.sigmoid(model.dec(F.relu(model.fc(z)).view(-1, 64, 7, 7)))
    os.makedirs(a.out, exist_ok=True)
    np.save(os.path.join(a.out, "generated.npy"), gen.reshape(-1, 1, 28, 28).numpy().astype(np.float32))
    np.save(os.path.join(a.out, "real.npy"), xte[:a.n].reshape(-1, 1, 28, 28).numpy().astype(np.float32))
    print(f"wrote {a.out}/generated.npy and real.npy", file=sys.stderr)


if __name__ == "__main__":
    main()
