#!/usr/bin/python3
"""Held-out photo comparison of the default model (docs/RESULTS.md).

Cuts 128 x 128 crops from the held-out photos (each resized so that its
shorter side is 512, the training scale), makes seeded thin-stroke and box
masks with `radctl masks`, inpaints them with `radctl infer` (the shipped
model, its default steps) and scores the fills against OpenCV's Telea
inpainting and a mean fill (the mean of the known pixels per channel):
PSNR over the hole, on [0, 1]. Needs Debian's python3-opencv (Telea) and
numpy; run from the repository root after scripts/setup.sh and
scripts/fetch-data.sh photos:

    /usr/bin/python3 scripts/compare-photos.py [--work out/compare] [--crops 4] [--average K]
"""
import argparse, glob, json, os, shlex, subprocess, sys, time
import cv2
import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("--work", default="out/compare")
ap.add_argument("--heldout", default="data/photos-heldout")
ap.add_argument("--crops", type=int, default=4, help="crops per photo")
ap.add_argument("--size", type=int, default=128)
ap.add_argument("--radctl", default="./bin/radctl")
ap.add_argument("--steps", type=int, default=0, help="radctl infer --steps (0: its default: 25 from the default guided start, 100 from noise)")
ap.add_argument("--sampler", default="rad", help="radctl infer --sampler (rad, rad-ddim: eta 0)")
ap.add_argument("--base", help="a model file for radctl infer --base (default: the shipped model)")
ap.add_argument("--average", type=int, default=1, help="radctl infer --average: the mean of this many samples per image")
ap.add_argument("--kinds", default="thin,box", help="mask kinds, comma-separated")
ap.add_argument("--extra", default="", help="more radctl infer arguments, e.g. \"--init noise\"")
args = ap.parse_args()

S = args.size
crops = os.path.join(args.work, "crops")
os.makedirs(crops, exist_ok=True)
photos = sorted(glob.glob(os.path.join(args.heldout, "*")))
if not photos:
    sys.exit(f"no photos in {args.heldout}: run scripts/fetch-data.sh photos")
rng = np.random.default_rng(1)
i = 0
for p in photos:
    im = cv2.imread(p, cv2.IMREAD_COLOR)
    h, w = im.shape[:2]
    s = 512 / min(h, w)
    im = cv2.resize(im, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    h, w = im.shape[:2]
    for _ in range(args.crops):
        y, x = rng.integers(0, h - S + 1), rng.integers(0, w - S + 1)
        cv2.imwrite(os.path.join(crops, f"{i:05d}.png"), im[y:y + S, x:x + S])
        i += 1
n = i

def psnr_hole(a, b, m):
    d = (a.astype(np.float64) - b.astype(np.float64)) / 255.0
    mse = (d[m] ** 2).mean()
    return 10 * np.log10(1 / mse)

rows = {}
for kind in args.kinds.split(","):
    md = os.path.join(args.work, "masks-" + kind)
    subprocess.run([args.radctl, "masks", "--kind", kind, "--size", str(S), "-n", str(n), "--seed", "7", "--out", md], check=True)
    od = os.path.join(args.work, "rad-" + kind)
    t0 = time.time()
    subprocess.run([args.radctl, "infer", "--image", crops, "--mask", md, "--out", od, "--steps", str(args.steps),
                    "--batch-size", "4", "--seed", "1", "--sampler", args.sampler, "--average", str(args.average)] + (["--base", args.base] if args.base else []) + shlex.split(args.extra), check=True)
    secs = time.time() - t0
    res = {"rad": [], "telea": [], "mean": []}
    holes = []
    for k in range(n):
        gt = cv2.imread(os.path.join(crops, f"{k:05d}.png"))
        m = cv2.imread(os.path.join(md, f"{k:05d}.png"), 0) >= 128
        holes.append(m.mean())
        rad = cv2.imread(os.path.join(od, f"{k:05d}.png"))
        bad = gt.copy(); bad[m] = 0
        tel = cv2.inpaint(bad, m.astype(np.uint8) * 255, 5, cv2.INPAINT_TELEA)
        mean = gt.copy(); mean[m] = gt[~m].mean(axis=0).round().astype(np.uint8)
        for name, r in [("rad", rad), ("telea", tel), ("mean", mean)]:
            res[name].append(psnr_hole(r, gt, m))
        if k < 4:
            cv2.imwrite(os.path.join(args.work, f"example-{kind}-{k}.png"),
                        np.concatenate([bad, cv2.cvtColor(m.astype(np.uint8) * 255, cv2.COLOR_GRAY2BGR), rad, tel, gt], 1))
    rows[kind] = {name: {"psnr_mean": float(np.mean(v)), "psnr_std": float(np.std(v)), "per_image": [float(x) for x in v]}
                  for name, v in res.items()}
    rows[kind]["images"] = n
    rows[kind]["hole_fraction"] = float(np.mean(holes))
    rows[kind]["rad_seconds_per_image"] = secs / n
json.dump(rows, open(os.path.join(args.work, "compare.json"), "w"), indent=1)
avg = f", mean of {args.average}" if args.average > 1 else ""
print(f"| masks | images | hole | RAD ({args.sampler}, {args.steps or 'default'} steps{avg}) | Telea | mean fill | RAD s/image |")
print(f"|---|---|---|---|---|---|---|")
for kind, r in rows.items():
    f = lambda k: f"{r[k]['psnr_mean']:.2f} ± {r[k]['psnr_std']:.2f}"
    print(f"| {kind} | {r['images']} | {100*r['hole_fraction']:.1f}% | {f('rad')} | {f('telea')} | {f('mean')} | {r['rad_seconds_per_image']:.1f} |")
