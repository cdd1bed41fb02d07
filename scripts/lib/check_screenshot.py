#!/usr/bin/env python3
"""Checks a headless-browser screenshot of report.html: not blank, curves and pictures drawn (stdlib only).

usage: check_screenshot.py SCREENSHOT.png REPORT.html
Exit 0 and one summary line when the page rendered; exit 1 naming what is missing otherwise.
"""
import sys
import xml.etree.ElementTree as ET
import zlib


def read_png(path):
    """(width, height, rows of (r, g, b) tuples) of an 8-bit RGB/RGBA, non-interlaced PNG (what chromium writes)."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise SystemExit(f"check_screenshot: {path} is not a PNG file")
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        n = int.from_bytes(data[pos:pos + 4], "big")
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            width, height = int.from_bytes(body[0:4], "big"), int.from_bytes(body[4:8], "big")
            depth, colour, interlace = body[8], body[9], body[12]
            if depth != 8 or colour not in (2, 6) or interlace:
                raise SystemExit(f"check_screenshot: {path}: expected 8-bit RGB(A) non-interlaced, "
                                 f"got depth {depth}, colour type {colour}, interlace {interlace}")
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append([tuple(line[x * bpp:x * bpp + 3]) for x in range(width)])
        prev = line
    return width, height, rows


def main():
    shot, report = sys.argv[1], sys.argv[2]
    page = open(report, encoding="utf-8").read()
    # The writer promises XML-well-formed HTML: parse everything after the doctype.
    ET.fromstring(page.split("\n", 1)[1])
    width, height, rows = read_png(shot)
    background = rows[0][0]
    pixels = [p for row in rows for p in row]
    inked = sum(1 for p in pixels if p != background)
    colours = len(set(pixels))
    # The curves' first colour (#1f77b4, the first key of each chart), allowing for anti-aliasing.
    blue = sum(1 for r, g, b in pixels if abs(r - 0x1f) < 24 and abs(g - 0x77) < 24 and abs(b - 0xb4) < 24)
    # The embedded pictures: Fashion-MNIST grids have black backgrounds; the page's darkest ink is its text (#222).
    black = sum(1 for p in pixels if p == (0, 0, 0))
    problems = []
    if inked < 0.05 * len(pixels):
        problems.append(f"only {inked} of {len(pixels)} pixels differ from the background {background}")
    if colours < 64:
        problems.append(f"only {colours} distinct colours")
    if blue < 200:
        problems.append(f"only {blue} pixels of the curves' blue: the SVG charts did not render")
    if black < 20000:
        problems.append(f"only {black} black pixels: the embedded pictures did not render")
    summary = (f"{shot}: {width}x{height}, {inked / len(pixels):.1%} of pixels inked, {colours} colours, "
               f"{blue} curve-blue pixels, {black} picture-black pixels; {report} is well-formed")
    if problems:
        print("check_screenshot: FAILED: " + "; ".join(problems) + f" ({summary})", file=sys.stderr)
        return 1
    print("check_screenshot: ok: " + summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
