#!/usr/bin/python3
"""Writes the PyTorch parity fixtures of tests/golden/ (small safetensors files, committed so CI needs no PyTorch).

Run with Debian's PyTorch:  apt-get install -y python3-torch && /usr/bin/python3 tools/make_fixtures.py
Each module in tools/fixtures/ defines make(out_dir, save) and writes one or more fixtures; pass module
names to regenerate only those:  /usr/bin/python3 tools/make_fixtures.py linear conv
"""
import importlib
import os
import pkgutil
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import safetensors_np  # noqa: E402

OUT = os.path.join(HERE, "..", "tests", "golden")


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)
    names = sys.argv[1:] or sorted(m.name for m in pkgutil.iter_modules([os.path.join(HERE, "fixtures")]))
    for name in names:
        torch.manual_seed(0)
        mod = importlib.import_module(f"fixtures.{name}")
        mod.make(OUT, safetensors_np.save)
        print(f"fixtures.{name}: done")


if __name__ == "__main__":
    main()
