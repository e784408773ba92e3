#!/usr/bin/python3
"""Checks a PNG screenshot is not blank: decodes it (zlib + the five PNG row filters; 8-bit RGB or
RGBA, not interlaced — what Chromium writes) and prints `width height nonwhite_fraction colors
COLOR_COUNT...`, where each COLOR_COUNT is the number of pixels of one of the hex colors given
on the command line (within ±6 per channel, for anti-aliasing).

    report_png.py shot.png 2f6fde 9aa5b1

Used by tests/e2e/report_formats.sh; numpy only, so it runs wherever the tests do.
"""
import struct
import sys
import zlib

import numpy as np

# Anti-aliased bar edges blend with the background; a bar's inside keeps its exact color, so a
# small tolerance is enough to count it.
COLOR_TOLERANCE = 6


def read_png(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise SystemExit(f"{path}: not a PNG")
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    width, height, depth, ctype, _, _, interlace = header
    if depth != 8 or ctype not in (2, 6) or interlace != 0:
        raise SystemExit(f"{path}: unsupported PNG (depth {depth}, color type {ctype}, interlace {interlace})")
    bpp = 3 if ctype == 2 else 4
    stride = width * bpp
    raw = np.frombuffer(zlib.decompress(idat), np.uint8)
    rows = raw.reshape(height, stride + 1)
    img = np.zeros((height, stride), np.uint8)
    prev = np.zeros(stride, np.int32)
    for y in range(height):
        kind, line = rows[y, 0], rows[y, 1:].astype(np.int32)
        if kind == 0:
            cur = line
        elif kind == 1:  # Sub: running sum along each channel
            cur = np.cumsum(line.reshape(width, bpp), axis=0).reshape(-1) & 255
        elif kind == 2:  # Up
            cur = (line + prev) & 255
        elif kind in (3, 4):  # Average, Paeth: each pixel needs the one decoded before it
            cur = line.copy()
            left = np.zeros(bpp, np.int32)
            upleft = np.zeros(bpp, np.int32)
            for x in range(width):
                s = slice(x * bpp, x * bpp + bpp)
                up = prev[s]
                if kind == 3:
                    pred = (left + up) // 2
                else:
                    p = left + up - upleft
                    pa, pb, pc = np.abs(p - left), np.abs(p - up), np.abs(p - upleft)
                    pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, upleft))
                cur[s] = (line[s] + pred) & 255
                left, upleft = cur[s], up
        else:
            raise SystemExit(f"{path}: bad filter {kind} on row {y}")
        img[y] = cur
        prev = cur
    return img.reshape(height, width, bpp)[:, :, :3]


def main():
    img = read_png(sys.argv[1])
    h, w, _ = img.shape
    flat = img.reshape(-1, 3).astype(np.int32)
    nonwhite = float(np.mean(np.any(flat < 245, axis=1)))
    colors = len(np.unique(flat[:: max(1, len(flat) // 200000)], axis=0))
    counts = []
    for hexcolor in sys.argv[2:]:
        rgb = np.array([int(hexcolor[i:i + 2], 16) for i in (0, 2, 4)], np.int32)
        counts.append(int(np.sum(np.all(np.abs(flat - rgb) <= COLOR_TOLERANCE, axis=1))))
    print(w, h, f"{nonwhite:.6f}", colors, *counts)


if __name__ == "__main__":
    main()
