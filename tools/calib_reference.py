#!/usr/bin/python3
"""Independent numpy reference for edgeq's calibration methods (include/edgeq/calib/calibrate.h).

Written from the method definitions, not from the C++: it reads the raw values of one tensor
from a .npy file and prints "min max" for the method asked.

  minmax      np.min / np.max of the finite values.
  percentile  numpy's exact quantiles (np.quantile of x, or of |x| when --symmetric); edgeq
              reports bin edges, so the two agree within one histogram bin.
  entropy     TensorRT's KL-divergence threshold search on np.histogram(|x|, bins, (0, max|x|)).
  mse         expected squared error of uniform quantization with clipping on the same histogram.

Usage: calib_reference.py VALUES.npy --method M [--percentile P] [--bins 2048] [--levels 256]
       [--symmetric]
"""
import argparse
import sys

import numpy as np


def entropy_threshold(counts, width, levels):
    """The threshold i * width minimizing KL(P || Q) over i = M..len(counts), M = levels // 2.

    P: the first i bins, everything beyond added to the last of them. Q: the first i bins as
    they were, merged into M groups with boundaries floor(g * i / M), each group's sum spread
    evenly over the group's bins where P is non-zero. Both normalized to sum 1.
    """
    counts = counts.astype(np.float64)
    n, m = len(counts), max(1, levels // 2)
    if n < m or counts.sum() == 0:
        return n * width
    kl = np.full(n + 1, np.inf)
    for i in range(m, n + 1):
        p = counts[:i].copy()
        p[i - 1] += counts[i:].sum()
        bounds = (np.arange(m + 1) * i) // m
        group_of_bin = np.repeat(np.arange(m), np.diff(bounds))
        group_sum = np.bincount(group_of_bin, weights=counts[:i], minlength=m)
        group_nonzero = np.bincount(group_of_bin, weights=(p > 0).astype(np.float64), minlength=m)
        q = np.zeros(i)
        nz = p > 0
        q[nz] = group_sum[group_of_bin[nz]] / group_nonzero[group_of_bin[nz]]
        if q.sum() == 0:
            continue
        pn, qn = p / p.sum(), q / q.sum()
        if np.any(qn[nz] == 0):
            continue
        kl[i] = np.sum(pn[nz] * np.log(pn[nz] / qn[nz]))
    best = int(np.argmin(kl))  # the first minimum
    return (best if np.isfinite(kl[best]) else n) * width


def mse_threshold(counts, width, levels):
    """The threshold t = i * width (i = 1..bins) minimizing
    E(t) = sum_{c<t} n * step^2 / 12 + sum_{c>t} n * (c - t)^2, step = 2t / (levels - 1),
    each bin's count n placed at its centre c."""
    counts = counts.astype(np.float64)
    n = len(counts)
    centres = (np.arange(n) + 0.5) * width
    errors = []
    for i in range(1, n + 1):
        t = i * width
        step = 2.0 * t / (levels - 1)
        inside = counts[:i].sum()
        outside = counts[i:]
        errors.append(inside * step * step / 12.0 + np.sum(outside * (centres[i:] - t) ** 2))
    return (int(np.argmin(errors)) + 1) * width


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("values")
    ap.add_argument("--method", required=True, choices=["minmax", "percentile", "entropy", "mse"])
    ap.add_argument("--percentile", type=float, default=99.999)
    ap.add_argument("--bins", type=int, default=2048)
    ap.add_argument("--levels", type=int, default=256)
    ap.add_argument("--symmetric", action="store_true")
    a = ap.parse_args()

    x = np.load(a.values).astype(np.float64).ravel()
    x = x[np.isfinite(x)]
    lo, hi = x.min(), x.max()
    amax = max(abs(lo), abs(hi))
    if a.method == "minmax":
        r = (-amax, amax) if a.symmetric else (lo, hi)
    elif a.method == "percentile":
        if a.symmetric:
            t = np.quantile(np.abs(x), a.percentile / 100.0)
            r = (-t, t)
        else:
            tail = (100.0 - a.percentile) / 200.0
            r = (np.quantile(x, tail), np.quantile(x, 1.0 - tail))
    else:
        counts, _ = np.histogram(np.abs(x), bins=a.bins, range=(0.0, amax))
        width = amax / a.bins
        f = entropy_threshold if a.method == "entropy" else mse_threshold
        t = f(counts, width, a.levels)
        r = (-t, t) if a.symmetric else (max(-t, lo), min(t, hi))
    print(f"{r[0]:.9g} {r[1]:.9g}")


if __name__ == "__main__":
    sys.exit(main())
