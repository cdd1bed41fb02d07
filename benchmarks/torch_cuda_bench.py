#!/usr/bin/env python3
"""PyTorch eager on the GPU: the peer of `vae_bench --device cuda`, same models as ../shared/reference/ (whose
scripts are CPU-only), same protocol: each step gathers its batch on the host and uploads it, Adam 1e-3, timed
windows of steps with a device synchronisation at each window's end, median over windows after one warm-up window.
Prints one JSON line per model.
Run: python3 benchmarks/torch_cuda_bench.py --model mlp-vae [--batch 512] [--seconds 20] [--data DIR]"""
import argparse, gzip, json, os, statistics, time
import numpy as np
import torch, torch.nn as nn, torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--model", choices=["mlp-vae", "conv-vae", "vq-vae"], required=True)
p.add_argument("--batch", type=int, default=512)
p.add_argument("--seconds", type=float, default=20)
p.add_argument("--device", default="cuda", help="cuda (the comparison); cpu only to check the script")
p.add_argument("--data", default=os.environ.get("FMNIST_DIR", "/usr/share/datasets/fashion-mnist"))
args = p.parse_args()
torch.manual_seed(0)
dev = torch.device(args.device)
sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
ZD, K, D, H, RH = 32, 512, 64, 128, 32


def idx_file(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(raw[3])]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * raw[3]).reshape(dims)


def images(prefix):
    return torch.from_numpy(idx_file(os.path.join(args.data, f"{prefix}-images-idx3-ubyte.gz")).reshape(-1, 784)
                            .astype(np.float32) / 255.0)


class MLPVAE(nn.Module):  # vae_mlp.py
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 2 * ZD))
        self.dec = nn.Sequential(nn.Linear(ZD, 256), nn.ReLU(), nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 784))

    def forward(self, x):
        mu, logvar = self.enc(x).chunk(2, dim=1)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        rec = F.binary_cross_entropy_with_logits(self.dec(z), x, reduction="none").sum(1)
        return rec + 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(1)


class ConvVAE(nn.Module):  # vae_conv.py
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Conv2d(1, 32, 4, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(), nn.Flatten(),
                                 nn.Linear(64 * 7 * 7, 2 * ZD))
        self.fc = nn.Linear(ZD, 64 * 7 * 7)
        self.dec = nn.Sequential(nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(32, 1, 4, 2, 1))

    def forward(self, x):
        mu, logvar = self.enc(x.view(-1, 1, 28, 28)).chunk(2, dim=1)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        logits = self.dec(F.relu(self.fc(z)).view(-1, 64, 7, 7)).view(-1, 784)
        rec = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
        return rec + 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(1)


class Res(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(H, RH, 3, 1, 1), nn.Conv2d(RH, H, 1)

    def forward(self, x):
        return x + self.c2(F.relu(self.c1(F.relu(x))))


class VQVAE(nn.Module):  # vqvae.py
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Conv2d(1, 64, 4, 2, 1), nn.ReLU(), nn.Conv2d(64, H, 4, 2, 1), nn.ReLU(), Res(), Res(),
                                 nn.ReLU(), nn.Conv2d(H, D, 1))
        self.codebook = nn.Embedding(K, D)
        self.codebook.weight.data.uniform_(-1 / K, 1 / K)
        self.dec = nn.Sequential(nn.Conv2d(D, H, 1), Res(), Res(), nn.ReLU(), nn.ConvTranspose2d(H, 64, 4, 2, 1), nn.ReLU(),
                                 nn.ConvTranspose2d(64, 1, 4, 2, 1))

    def forward(self, x):
        z = self.enc(x.view(-1, 1, 28, 28))
        zf = z.permute(0, 2, 3, 1).reshape(-1, D)
        E = self.codebook.weight
        idx = (zf.pow(2).sum(1, keepdim=True) - 2 * zf @ E.t() + E.pow(2).sum(1)[None, :]).argmin(1)
        zq = E[idx].view(z.shape[0], 7, 7, D).permute(0, 3, 1, 2)
        vq = F.mse_loss(zq, z.detach()) + 0.25 * F.mse_loss(z, zq.detach())
        xh = self.dec(z + (zq - z).detach()).view(-1, 784)
        return F.mse_loss(xh, x, reduction="none").mean(1) + vq


model = {"mlp-vae": MLPVAE, "conv-vae": ConvVAE, "vq-vae": VQVAE}[args.model]().to(dev)
binary = args.model != "vq-vae"
xtr, xte = images("train"), images("t10k")
if binary:
    xtr, xte = (xtr > 0.5).float(), (xte > 0.5).float()
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
B, n = args.batch, xtr.shape[0]
window = {"mlp-vae": 50, "conv-vae": 20, "vq-vae": 10}[args.model]
rates, steps, seen = [], 0, 0
start = t0 = time.perf_counter()
model.train()
while time.perf_counter() - start < args.seconds or len(rates) < 3:
    perm = torch.randperm(n)
    for i in range(n // B):
        xb = xtr[perm[i * B:(i + 1) * B]].to(dev)
        opt.zero_grad(set_to_none=True)
        loss = model(xb).mean()
        loss.backward()
        opt.step()
        steps += 1
        if steps % window == 0:
            sync()
            t = time.perf_counter()
            if seen > 0:
                rates.append(window * B / (t - t0))
            seen += 1
            t0 = t
            if t - start >= args.seconds and len(rates) >= 3:
                break
    if not torch.isfinite(loss):
        raise SystemExit(f"non-finite loss {loss.item()}")
model.eval()
eval_rates = []
with torch.no_grad():
    for rep in range(4):
        sync()
        t = time.perf_counter()
        for i in range(0, xte.shape[0] - B + 1, B):
            model(xte[i:i + B].to(dev))
        sync()
        if rep > 0:
            eval_rates.append((xte.shape[0] // B) * B / (time.perf_counter() - t))
print(json.dumps({"impl": "pytorch-eager-cuda", "model": args.model, "batch": B, "device": torch.cuda.get_device_name() if dev.type == "cuda" else "cpu",
                  "torch": torch.__version__,
                  # PyTorch's defaults: convolutions may use TF32 tensor cores (cuDNN), matrix products may not
                  "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
                  "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32, "train_samples_per_s": round(statistics.median(rates), 1),
                  "train_min": round(min(rates), 1), "train_max": round(max(rates), 1), "windows": len(rates),
                  "eval_samples_per_s": round(statistics.median(eval_rates), 1), "last_loss": round(loss.item(), 4)}),
      flush=True)
