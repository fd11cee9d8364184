#!/usr/bin/env python3
"""Side-by-side grid of several radctl eval runs on the same images and masks.

Each run's grid-<kind>.png has the columns input | mask | result | original
(66 px each, a white 2 px separator); this takes input and mask from the
first run, the result column of every run, and the original:
    /usr/bin/python3 scripts/fmnist-compare-grid.py --kind box --out docs/x.png RUN1 RUN2 ...
"""
import argparse, os
import cv2, numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("--kind", required=True)
ap.add_argument("--out", required=True)
ap.add_argument("runs", nargs="+")
a = ap.parse_args()
grids = [cv2.imread(os.path.join(r, f"grid-{a.kind}.png")) for r in a.runs]
for r, g in zip(a.runs, grids):
    if g is None or g.shape != grids[0].shape:
        raise SystemExit(f"{r}: no grid-{a.kind}.png or another shape")
w = 66
col = lambda g, i: g[:, i * w:(i + 1) * w]
cols = [col(grids[0], 0), col(grids[0], 1)] + [col(g, 2) for g in grids] + [col(grids[0], 3)]
out = np.concatenate(cols, 1)
cv2.imwrite(a.out, out)
print(f"{a.out}: input | mask | {' | '.join(os.path.basename(r.rstrip('/')) for r in a.runs)} | original")
