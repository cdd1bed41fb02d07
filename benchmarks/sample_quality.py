#!/usr/bin/python3
"""Sample quality in PyTorch, the same computation as `vae eval --fid`, for comparing vae's numbers with PyTorch's.

Loads a vae classifier run (config.json + model.safetensors, PyTorch names) into the equivalent nn.Module, takes its
penultimate features of two image sets (float32 .npy [N, C, H, W] in [0, 1], e.g. written by
`vae eval --fid --save-images DIR`, or by benchmarks/reference_samples.py for the PyTorch reference models) and prints
one JSON line: Fréchet distance (pytorch-fid's formula: scipy.linalg.sqrtm of the covariance product), improved
precision/recall (Kynkäänniemi et al., k = 3, brute-force distances in float64) and the Inception-style score of the
generated images' class probabilities.

Run: /usr/bin/python3 benchmarks/sample_quality.py --classifier RUN_CLS --real DIR/real.npy --generated DIR/generated.npy
"""
import argparse
import json
import os
import sys

import numpy as np
import scipy.linalg
import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import safetensors_np  # noqa: E402


class Classifier(nn.Module):
    """include/vae/models/classifier.hpp's ConvClassifierFeatures + linear head, with the same parameter names."""

    def __init__(self, c, h, w, classes, width=32, features=128):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(c, width, 3, 1, 1), nn.ReLU(), nn.Conv2d(width, 2 * width, 4, 2, 1),
                                      nn.ReLU(), nn.Conv2d(2 * width, 4 * width, 4, 2, 1), nn.ReLU(), nn.Flatten(),
                                      nn.Linear(4 * width * (h // 4) * (w // 4), features), nn.ReLU())
        self.head = nn.Linear(features, classes)


def load_classifier(run, shape):
    with open(os.path.join(run, "config.json")) as f:
        config = json.load(f)
    if config.get("model") != "classifier":
        sys.exit(f"{run} is a {config.get('model')} run, not a classifier")
    model = Classifier(shape[1], shape[2], shape[3], int(config["classes"]))
    tensors = safetensors_np.load(os.path.join(run, "model.safetensors"))[0]
    model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in tensors.items()})
    return model.eval()


def features_and_probs(model, images, batch=500):
    feats, probs = [], []
    with torch.no_grad():
        for i in range(0, len(images), batch):
            f = model.features(torch.from_numpy(images[i:i + batch]))
            feats.append(f.double().numpy())
            probs.append(torch.softmax(model.head(f), 1).double().numpy())
    return np.concatenate(feats), np.concatenate(probs)


def frechet(a, b):
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean, _ = scipy.linalg.sqrtm(s1.dot(s2), disp=False)
    if not np.isfinite(covmean).all():  # pytorch-fid's remedy for a singular product
        off = np.eye(s1.shape[0]) * 1e-6
        covmean = scipy.linalg.sqrtm((s1 + off).dot(s2 + off))
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean.real))


def squared_distances(x, y):
    return np.maximum((x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2 * x @ y.T, 0.0)


def radii(x, k, block=1000):
    out = np.empty(len(x))
    for i in range(0, len(x), block):
        d = squared_distances(x[i:i + block], x)
        d[np.arange(d.shape[0]), np.arange(i, i + d.shape[0])] = 0.0
        out[i:i + block] = np.partition(d, k, axis=1)[:, k]
    return out


def coverage(manifold, r, query, block=1000):
    inside = [(squared_distances(query[i:i + block], manifold) <= r[None, :]).any(1) for i in range(0, len(query), block)]
    return float(np.concatenate(inside).mean())


def inception_score(p):
    marginal = p.mean(0, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = np.where(p > 0, p * (np.log(p) - np.log(marginal)), 0.0).sum(1)
    return float(np.exp(kl.mean()))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--classifier", required=True, help="a vae classifier run directory")
    p.add_argument("--real", required=True)
    p.add_argument("--generated", required=True)
    p.add_argument("--k", type=int, default=3)
    a = p.parse_args()
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    real = np.load(a.real).astype(np.float32)
    gen = np.load(a.generated).astype(np.float32)
    if real.ndim == 3:
        real, gen = real[:, None], gen[:, None]
    if real.shape[1:] != gen.shape[1:]:
        sys.exit(f"real {real.shape} and generated {gen.shape} images differ in size")
    model = load_classifier(a.classifier, real.shape)
    fr, pr_ = features_and_probs(model, real)
    fg, pg = features_and_probs(model, gen)
    precision = coverage(fr, radii(fr, a.k), fg)
    recall = coverage(fg, radii(fg, a.k), fr)
    print(json.dumps({"fid": frechet(fr, fg), "precision": precision, "recall": recall, "pr_k": a.k,
                      "inception_score": inception_score(pg), "inception_score_real": inception_score(pr_),
                      "fid_n_real": len(real), "fid_n_generated": len(gen), "real": a.real, "generated": a.generated}))


if __name__ == "__main__":
    main()
