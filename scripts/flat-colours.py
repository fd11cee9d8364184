#!/usr/bin/python3
"""Colour bias of a photo model's fills (docs/RESULTS.md §1).

Inpaints 64 x 64 images of one flat colour each (a 24 x 24 square hole
plus a 5-pixel bar across the image), where the right fill is that colour
exactly, and reports per colour the fill's mean error per channel (signed,
in 8-bit levels: a negative red error is a fill less red than its
surroundings) and its mean absolute deviation from the colour. Needs
python3-opencv and numpy; run from the repository root after
scripts/setup.sh:

    /usr/bin/python3 scripts/flat-colours.py [--base FILE] [--work out/flat]
"""
import argparse, json, os, subprocess
import cv2
import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("--work", default="out/flat")
ap.add_argument("--radctl", default="./bin/radctl")
ap.add_argument("--base", help="a model file for radctl infer --base (default: the shipped model)")
ap.add_argument("--seed", type=int, default=1)
args = ap.parse_args()

# name -> RGB: the primaries, skin and foliage tones, grays
COLOURS = {
    "red": (200, 40, 40), "green": (50, 160, 60), "blue": (40, 70, 200), "tan": (200, 160, 110),
    "skin": (225, 180, 150), "sky": (120, 170, 230), "gray": (128, 128, 128), "dark": (40, 40, 40),
}
S = 64
imgs, masks = os.path.join(args.work, "images"), os.path.join(args.work, "masks")
os.makedirs(imgs, exist_ok=True)
os.makedirs(masks, exist_ok=True)
m = np.zeros((S, S), np.uint8)
m[20:44, 20:44] = 255
m[:, 50:55] = 255
hole = m >= 128
for i, (name, rgb) in enumerate(COLOURS.items()):
    cv2.imwrite(os.path.join(imgs, f"{i:02d}.png"), np.full((S, S, 3), rgb[::-1], np.uint8))
    cv2.imwrite(os.path.join(masks, f"{i:02d}.png"), m)
out = os.path.join(args.work, "filled")
subprocess.run([args.radctl, "infer", "--image", imgs, "--mask", masks, "--out", out, "--seed", str(args.seed),
                "--batch-size", "8"] + (["--base", args.base] if args.base else []), check=True)
rows = {}
print(f"{'colour':8} {'RGB':>15} {'mean error R, G, B (levels)':>30} {'mean |dev|':>10}")
for i, (name, rgb) in enumerate(COLOURS.items()):
    f = cv2.imread(os.path.join(out, f"{i:02d}.png"))[:, :, ::-1].astype(np.float64)
    d = f[hole] - np.array(rgb, np.float64)
    err = d.mean(0)
    mad = np.abs(d).mean()
    rows[name] = {"rgb": rgb, "mean_error_rgb": [round(float(x), 2) for x in err], "mean_abs_dev": round(float(mad), 2)}
    print(f"{name:8} {str(rgb):>15} {', '.join(f'{x:+6.1f}' for x in err):>30} {mad:10.2f}")
allerr = np.array([r["mean_error_rgb"] for r in rows.values()])
summary = {"mean_error_rgb_over_colours": [round(float(x), 2) for x in allerr.mean(0)],
           "mean_abs_dev_over_colours": round(float(np.mean([r["mean_abs_dev"] for r in rows.values()])), 2)}
print("over the colours: mean error R, G, B", summary["mean_error_rgb_over_colours"], "; mean |dev|", summary["mean_abs_dev_over_colours"])
json.dump({"model": args.base or "shipped", "seed": args.seed, "colours": rows, "summary": summary},
          open(os.path.join(args.work, "flat.json"), "w"), indent=1)
