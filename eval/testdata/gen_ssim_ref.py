#!/usr/bin/python3
"""Reference hole SSIM and PSNR for eval's tests (run once, with Debian's
numpy and scipy):

    cd eval/testdata && /usr/bin/python3 gen_ssim_ref.py

Reads ssim_images.json (prediction, target [N, C, H, W] in [-1, 1] and mask
[N, 1, H, W], written by the Go test TestWriteTestdata) and writes
ssim_ref.json with, per image:

  - ssim: the SSIM map on the [0, 1] scale (Gaussian window of radius 5,
    sigma 1.5, scipy.ndimage.gaussian_filter with mode "reflect";
    C1 = 0.01^2, C2 = 0.03^2), averaged over channels, then over the
    pixels whose mask is >= 0.5;
  - psnr: 10 log10(1 / MSE) with MSE over hole pixels and channels on the
    [0, 1] scale.
"""
import json

import numpy as np
from scipy.ndimage import gaussian_filter

with open("ssim_images.json") as f:
    case = json.load(f)
n, c, h, w = case["shape"]
# the values are float32: round-trip them through float32 exactly
pred = np.array(case["pred"], dtype=np.float32).astype(np.float64).reshape(n, c, h, w)
target = np.array(case["target"], dtype=np.float32).astype(np.float64).reshape(n, c, h, w)
mask = np.array(case["mask"], dtype=np.float32).astype(np.float64).reshape(n, 1, h, w)

sigma, radius = 1.5, 5
truncate = radius / sigma  # gaussian_filter's radius is int(truncate * sigma + 0.5) = 5


def blur(x):
    return gaussian_filter(x, sigma=sigma, mode="reflect", truncate=truncate)


c1, c2 = 0.01 ** 2, 0.03 ** 2
ssim, psnr = [], []
for i in range(n):
    hole = mask[i, 0] >= 0.5
    maps = []
    for ch in range(c):
        x = (pred[i, ch] + 1) / 2
        y = (target[i, ch] + 1) / 2
        mx, my = blur(x), blur(y)
        vx = blur(x * x) - mx * mx
        vy = blur(y * y) - my * my
        cxy = blur(x * y) - mx * my
        maps.append(((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2)))
    m = np.mean(maps, axis=0)
    ssim.append(float(m[hole].mean()))
    d = (pred[i] - target[i]) / 2
    mse = float((d[:, hole] ** 2).mean())
    psnr.append(10 * np.log10(1 / mse))
out = {"ssim": ssim, "psnr": psnr,
       "generator": "gen_ssim_ref.py, numpy %s, scipy %s" % (np.__version__, __import__("scipy").__version__)}
with open("ssim_ref.json", "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
print(out)
