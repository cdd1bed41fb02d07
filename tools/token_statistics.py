"""How a VQ tokenizer spends its codes on flat scenes: code usage, perplexity, and the codes of black background.

Usage:
  vae encode --run RUN --n 64 --out tokens.npy
  vae reconstruct --run RUN --n 64 --out rec.png
  python3 tools/token_statistics.py tokens.npy rec.png [--margin 8] [--black 20]

tokens.npy is `vae encode`'s int32 [N, h, w] grid of the test set; rec.png is `vae reconstruct`'s grid of the same test
images (rows of 8 originals, each above its reconstructions, with a 2-pixel border), read here for the originals only.
A token counts as background when its patch and `margin` pixels around it are black in the original (every channel
below `black`). A tokenizer whose background codes are few and fixed gives a prior little to guess there; one that
spreads background over many codes makes the prior choose among near-identical black codes at every position.
"""
import argparse
import collections
import math
import struct
import zlib

import numpy as np


def read_png(path):
    """8-bit RGB/RGBA/grey PNG (as the CLI writes them) → uint8 [H, W, C]."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise SystemExit(f"{path}: not a PNG file")
    pos, idat, width = 8, b"", None
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            if depth != 8 or colour not in (0, 2, 6) or body[12] != 0:
                raise SystemExit(f"{path}: only 8-bit non-interlaced grey/RGB/RGBA PNGs are read")
            channels = {0: 1, 2: 3, 6: 4}[colour]
        elif kind == b"IDAT":
            idat += body
    if width is None:
        raise SystemExit(f"{path}: no IHDR chunk")
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(height, 1 + width * channels)
    out = np.zeros((height, width * channels), np.int32)
    prev = np.zeros(width * channels, np.int32)
    for y in range(height):
        f, row = raw[y, 0], raw[y, 1:].astype(np.int32)
        if f == 0:
            cur = row
        elif f == 2:
            cur = (row + prev) & 255
        else:  # Sub, Average, Paeth depend on the pixel to the left: one pixel at a time
            cur = np.zeros_like(row)
            for x in range(row.size):
                a = cur[x - channels] if x >= channels else 0
                b, c = prev[x], (prev[x - channels] if x >= channels else 0)
                if f == 1:
                    p = a
                elif f == 3:
                    p = (a + b) // 2
                else:
                    pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                    p = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                cur[x] = (row[x] + p) & 255
        out[y] = cur
        prev = cur
    return out.reshape(height, width, channels).astype(np.uint8)


def originals(grid, n, side, columns=8, border=2):
    """The test images of a `vae reconstruct` grid: row pair r holds images 8r..8r+7 above their reconstructions."""
    images = []
    for i in range(n):
        r, c = divmod(i, columns)
        y, x = border + 2 * r * (side + border), border + c * (side + border)
        if y + side > grid.shape[0] or x + side > grid.shape[1]:
            raise SystemExit(f"the PNG holds fewer than {n} test images of {side}x{side}")
        images.append(grid[y:y + side, x:x + side, :3])
    return np.stack(images)


def entropy(counts):
    total = sum(counts.values())
    return -sum(v / total * math.log(v / total) for v in counts.values()) if total else 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tokens")
    ap.add_argument("png")
    ap.add_argument("--side", type=int, default=64, help="image side in pixels (default 64)")
    ap.add_argument("--margin", type=int, default=8, help="black pixels needed around a token's patch (default 8)")
    ap.add_argument("--black", type=int, default=20, help="a pixel is black when every channel is below this")
    a = ap.parse_args()

    tokens = np.load(a.tokens)
    if tokens.ndim != 3:
        raise SystemExit(f"{a.tokens}: expected [N, h, w] tokens, got shape {tokens.shape}")
    grid = read_png(a.png)
    n = min(tokens.shape[0], (grid.shape[0] // (a.side + 2)) // 2 * 8)
    black = originals(grid, n, a.side).max(axis=3) < a.black
    h, w = tokens.shape[1:]
    patch = a.side // h
    every, background, inner = collections.Counter(), collections.Counter(), collections.Counter()
    for i in range(n):
        for ty in range(h):
            for tx in range(w):
                code = int(tokens[i, ty, tx])
                every[code] += 1
                y0, x0 = ty * patch, tx * patch
                if black[i, max(0, y0 - a.margin):y0 + patch + a.margin, max(0, x0 - a.margin):x0 + patch + a.margin].all():
                    background[code] += 1
                    if 2 <= ty < h - 2 and 2 <= tx < w - 2:
                        inner[code] += 1
    top, top_n = every.most_common(1)[0]
    print(f"{n} images, {sum(every.values())} tokens: {len(every)} distinct codes, perplexity "
          f"{math.exp(entropy(every)):.1f}, most frequent code {top} holds {100 * top_n / sum(every.values()):.1f}%")
    for name, c in (("background", background), ("background away from the border", inner)):
        if not c:
            print(f"{name}: no token")
            continue
        code, k = c.most_common(1)[0]
        print(f"{name} tokens (patch and {a.margin} px around it black): {sum(c.values())}, {len(c)} distinct codes, "
              f"entropy {entropy(c):.2f} nats, most frequent code {code} holds {100 * k / sum(c.values()):.1f}%")


if __name__ == "__main__":
    main()
