#!/usr/bin/env python3
"""Compares the float32 tensors of two safetensors files (standard library only): prints, per file pair, the largest
absolute and relative difference and how many values differ; exits 1 when a tensor is missing or a difference
exceeds --rtol/--atol (|a-b| <= atol + rtol*|b|), 0 otherwise. --exact: any differing value fails."""
import argparse, array, json, struct, sys


def load(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        blob = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        if t["dtype"] != "F32":
            raise SystemExit(f"{path}: tensor {name} is {t['dtype']}, this comparison reads F32 only")
        a = array.array("f")
        a.frombytes(blob[t["data_offsets"][0]:t["data_offsets"][1]])
        if sys.byteorder != "little":
            a.byteswap()
        out[name] = a
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--atol", type=float, default=0.0)
    p.add_argument("--rtol", type=float, default=0.0)
    p.add_argument("--exact", action="store_true")
    o = p.parse_args()
    A, B = load(o.a), load(o.b)
    if set(A) != set(B):
        print(f"different tensors: only in {o.a}: {sorted(set(A) - set(B))}, only in {o.b}: {sorted(set(B) - set(A))}")
        return 1
    worst_abs = worst_rel = 0.0
    differ = total = 0
    bad = []
    for name in sorted(A):
        a, b = A[name], B[name]
        if len(a) != len(b):
            print(f"{name}: {len(a)} vs {len(b)} values")
            return 1
        for x, y in zip(a, b):
            total += 1
            if x == y:
                continue
            differ += 1
            d = abs(x - y)
            worst_abs = max(worst_abs, d)
            worst_rel = max(worst_rel, d / max(abs(y), 1e-30))
            if o.exact or d > o.atol + o.rtol * abs(y):
                bad.append(name)
    print(f"{total} values, {differ} differ, max abs diff {worst_abs:.3g}, max rel diff {worst_rel:.3g}")
    if bad:
        print(f"beyond tolerance (atol {o.atol}, rtol {o.rtol}{', exact' if o.exact else ''}): {sorted(set(bad))[:10]}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
