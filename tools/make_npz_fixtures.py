#!/usr/bin/python3
"""Writes tests/data/npz/: small .npz archives made by numpy itself (stored and deflated), the
fixtures for edgeq's .npz reader. Deterministic; run with Debian's /usr/bin/python3."""
import os
import numpy as np

out = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "npz")
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(7)
arrays = {
    "x": rng.standard_normal((2, 3)).astype(np.float32),
    "ids": np.arange(5, dtype=np.int64),
    "flag": np.array(True),
}
np.savez(os.path.join(out, "stored.npz"), **arrays)
np.savez_compressed(os.path.join(out, "deflated.npz"), **arrays)
np.save(os.path.join(out, "x.npy"), arrays["x"])
np.save(os.path.join(out, "scalar_f64.npy"), np.float64(2.5))
np.save(os.path.join(out, "u8_3d.npy"), np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
print("wrote", sorted(os.listdir(out)))
