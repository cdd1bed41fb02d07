#!/usr/bin/python3
"""Loads a `vae train` run's model.safetensors into the PyTorch reference module (same architecture as
../shared/reference/) with load_state_dict(strict=True) and evaluates it on the Fashion-MNIST test set with
PyTorch, next to the numbers vae wrote in metrics.jsonl. Shows the weights are PyTorch-compatible.
Run: /usr/bin/python3 tools/check_pytorch_load.py RUN_DIR   (models: mlp-vae, conv-vae, vq-vae)"""
import gzip, json, os, sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_np  # noqa: E402  (Debian 12 has no python3-safetensors)

ZD = 32


def fmnist_test():
    def idx(path):
        with gzip.open(path, "rb") as f:
            raw = f.read()
        nd = raw[3]
        dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
        return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * nd).reshape(dims)
    x = idx("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz").reshape(-1, 784).astype(np.float32) / 255
    return torch.from_numpy(x)


class MLPVAE(nn.Module):  # vae_mlp.py
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 2 * ZD))
        self.dec = nn.Sequential(nn.Linear(ZD, 256), nn.ReLU(), nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 784))

    def logits(self, z):
        return self.dec(z)

    def encode(self, x):
        return self.enc(x).chunk(2, dim=1)


class ConvVAE(nn.Module):  # vae_conv.py
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Conv2d(1, 32, 4, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(), nn.Flatten(),
                                 nn.Linear(64 * 7 * 7, 2 * ZD))
        self.fc = nn.Linear(ZD, 64 * 7 * 7)
        self.dec = nn.Sequential(nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(32, 1, 4, 2, 1))

    def logits(self, z):
        return self.dec(F.relu(self.fc(z)).view(-1, 64, 7, 7)).view(-1, 784)

    def encode(self, x):
        return self.enc(x.view(-1, 1, 28, 28)).chunk(2, dim=1)


class Res(nn.Module):
    def __init__(self, H=128, RH=32):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(H, RH, 3, 1, 1), nn.Conv2d(RH, H, 1)

    def forward(self, x):
        return x + self.c2(F.relu(self.c1(F.relu(x))))


class VQVAE(nn.Module):  # vqvae.py
    def __init__(self, K, D=64, H=128):
        super().__init__()
        self.enc = nn.Sequential(nn.Conv2d(1, 64, 4, 2, 1), nn.ReLU(), nn.Conv2d(64, H, 4, 2, 1), nn.ReLU(), Res(), Res(),
                                 nn.ReLU(), nn.Conv2d(H, D, 1))
        self.codebook = nn.Embedding(K, D)
        self.dec = nn.Sequential(nn.Conv2d(D, H, 1), Res(), Res(), nn.ReLU(), nn.ConvTranspose2d(H, 64, 4, 2, 1), nn.ReLU(),
                                 nn.ConvTranspose2d(64, 1, 4, 2, 1))

    def forward(self, x):
        z = self.enc(x.view(-1, 1, 28, 28))
        B, D = z.shape[0], z.shape[1]
        zf = z.permute(0, 2, 3, 1).reshape(-1, D)
        E = self.codebook.weight
        idx = (zf.pow(2).sum(1, keepdim=True) - 2 * zf @ E.t() + E.pow(2).sum(1)[None, :]).argmin(1)
        zq = E[idx].view(B, 7, 7, D).permute(0, 3, 1, 2)
        return self.dec(zq).view(-1, 784), idx


def main():
    run = sys.argv[1] if len(sys.argv) > 1 else sys.exit(__doc__)
    config = json.load(open(os.path.join(run, "config.json")))
    weights, _ = safetensors_np.load(os.path.join(run, "model.safetensors"))
    last = [json.loads(l) for l in open(os.path.join(run, "metrics.jsonl"))][-1]
    name = config["model"]
    if name in ("mlp-vae", "conv-vae"):
        model = MLPVAE() if name == "mlp-vae" else ConvVAE()
    elif name in ("vq-vae", "vq-vae-2048"):
        model = VQVAE(config.get("codebook_size", 512) if name == "vq-vae" else 2048)
        # EMA quantizers save their running statistics beside the codebook; PyTorch's module has only the codebook.
        weights = {k: v for k, v in weights.items() if not k.startswith("codebook.") or k == "codebook.weight"}
    else:
        sys.exit(f"check_pytorch_load: model {name} is not covered (mlp-vae, conv-vae, vq-vae)")
    model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()}, strict=True)
    model.eval()
    x = fmnist_test()
    torch.manual_seed(1)
    with torch.no_grad():
        if name.endswith("-vae") and not name.startswith("vq"):
            x = (x > 0.5).float()
            elbos = []
            for i in range(0, 10000, 1000):
                xb = x[i:i + 1000]
                mu, logvar = model.encode(xb)
                z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
                rec = F.binary_cross_entropy_with_logits(model.logits(z), xb, reduction="none").sum(1)
                kl = 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(1)
                elbos.append(-(rec + kl))
            out = {"model": name, "pytorch_test_elbo": torch.cat(elbos).mean().item(), "vae_test_elbo": last["test_elbo"]}
        else:
            se = 0.0
            for i in range(0, 10000, 500):
                xh, _ = model(x[i:i + 500])
                se += (xh - x[i:i + 500]).pow(2).sum().item()
            out = {"model": name, "pytorch_test_mse": se / (10000 * 784), "vae_test_mse": last["test_mse"]}
    out["state_dict_keys"] = len(weights)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
