#!/usr/bin/python3
"""Object removal on held-out photos: large holes at 256 x 256 (docs/RESULTS.md §1b).

Cuts --crops crops of --size pixels from every photo of --heldout (each
photo resized so that its shorter side is 512), makes seeded large-box and
object masks (10-18 % of the crop) with `radctl masks`, and fills them with
OpenCV's classical methods (Telea, Navier-Stokes, xphoto shift-map and
FSR fast), the known pixels' mean colour, and each RAD setting given with
--rad NAME=ARGS (extra `radctl infer` arguments; repeatable). Scores, per
fill, over the hole: PSNR, low-pass PSNR (both images blurred with a
Gaussian of sigma 4 first) and the mean-colour error (the absolute
difference of the hole's mean colour, in 8-bit levels, averaged over R, G,
B), each as mean ± standard error over the images; seconds per image for
the RAD settings. A setting's results are kept (its folder's run.json
names the command): running the script again with more settings reuses
them. Writes compare.json, a table on stdout and a grid per
mask kind (input | mask | each fill | original) into --work. Needs Debian's
python3-opencv; run from the repository root after scripts/setup.sh and
scripts/fetch-data.sh photos:

    /usr/bin/python3 scripts/compare-large.py --rad plain="--coarse-to-fine off" --rad c2f=""
"""
import argparse, glob, json, os, shlex, subprocess, sys, time
import cv2
import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("--work", default="out/compare-large")
ap.add_argument("--heldout", default="data/photos-heldout-large")
ap.add_argument("--crops", type=int, default=1, help="crops per photo")
ap.add_argument("--size", type=int, default=256)
ap.add_argument("--radctl", default="./bin/radctl")
ap.add_argument("--kinds", default="large-box,object")
ap.add_argument("--rad", action="append", default=[], help="NAME=ARGS: a RAD setting (radctl infer arguments)")
ap.add_argument("--classical", default="telea,ns,shiftmap,fsr,mean")
ap.add_argument("--grid-images", type=int, default=4)
ap.add_argument("--pair", action="append", default=[], help="A:B: print A minus B paired per image (repeatable)")
args = ap.parse_args()

S = args.size
crops = os.path.join(args.work, "crops")
os.makedirs(crops, exist_ok=True)
photos = sorted(glob.glob(os.path.join(args.heldout, "*")))
if not photos:
    sys.exit(f"no photos in {args.heldout}: run scripts/fetch-data.sh photos")
rng = np.random.default_rng(2)
n = 0
for p in photos:
    im = cv2.imread(p, cv2.IMREAD_COLOR)
    h, w = im.shape[:2]
    s = 512 / min(h, w)
    im = cv2.resize(im, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    h, w = im.shape[:2]
    for _ in range(args.crops):
        y, x = rng.integers(0, h - S + 1), rng.integers(0, w - S + 1)
        cv2.imwrite(os.path.join(crops, f"{n:05d}.png"), im[y:y + S, x:x + S])
        n += 1


def scores(r, gt, m):
    a, b = r.astype(np.float64) / 255, gt.astype(np.float64) / 255
    mse = ((a - b)[m] ** 2).mean()
    la, lb = cv2.GaussianBlur(a, (0, 0), 4), cv2.GaussianBlur(b, (0, 0), 4)
    lmse = ((la - lb)[m] ** 2).mean()
    col = np.abs(r[m].astype(np.float64).mean(0) - gt[m].astype(np.float64).mean(0)).mean()
    return 10 * np.log10(1 / mse), 10 * np.log10(1 / lmse), col


def classical(name, bad, m8, gt, m):
    if name == "telea":
        return cv2.inpaint(bad, m8, 5, cv2.INPAINT_TELEA)
    if name == "ns":
        return cv2.inpaint(bad, m8, 5, cv2.INPAINT_NS)
    if name in ("shiftmap", "fsr"):
        out = np.zeros_like(bad)
        keep = (255 - m8)  # xphoto: non-zero = known
        alg = cv2.xphoto.INPAINT_SHIFTMAP if name == "shiftmap" else cv2.xphoto.INPAINT_FSR_FAST
        cv2.xphoto.inpaint(bad, keep, out, alg)
        return out
    if name == "mean":
        out = gt.copy()
        out[m] = gt[~m].mean(axis=0).round().astype(np.uint8)
        return out
    sys.exit(f"unknown classical method {name}")


rad = []
for spec in args.rad:
    name, _, extra = spec.partition("=")
    rad.append((name, shlex.split(extra)))
methods = [r[0] for r in rad] + args.classical.split(",")
table = {}
for kind in args.kinds.split(","):
    md = os.path.join(args.work, "masks-" + kind)
    subprocess.run([args.radctl, "masks", "--kind", kind, "--size", str(S), "-n", str(n), "--seed", "11", "--out", md],
                   check=True, stdout=subprocess.DEVNULL)
    secs = {}
    for name, extra in rad:
        od = os.path.join(args.work, f"{name}-{kind}")
        done = os.path.join(od, "run.json")
        cmd = [args.radctl, "infer", "--image", crops, "--mask", md, "--out", od, "--seed", "1"] + extra
        if os.path.exists(done) and json.load(open(done)).get("cmd") == cmd:
            secs[name] = json.load(open(done))["seconds_per_image"]  # kept from an earlier run of this command
            continue
        t0 = time.time()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        secs[name] = (time.time() - t0) / n
        json.dump({"cmd": cmd, "seconds_per_image": secs[name]}, open(done, "w"))
    res = {k: [] for k in methods}
    rows = []
    for k in range(n):
        gt = cv2.imread(os.path.join(crops, f"{k:05d}.png"))
        m8 = ((cv2.imread(os.path.join(md, f"{k:05d}.png"), 0) >= 128) * 255).astype(np.uint8)
        m = m8 > 0
        bad = gt.copy()
        bad[m] = 0
        fills = {}
        for name, _ in rad:
            fills[name] = cv2.imread(os.path.join(args.work, f"{name}-{kind}", f"{k:05d}.png"))
        for name in args.classical.split(","):
            fills[name] = classical(name, bad, m8, gt, m)
        for name in methods:
            res[name].append(scores(fills[name], gt, m))
        if k < args.grid_images:
            shown = bad.copy()
            shown[m] = 128
            rows.append(np.concatenate([shown, cv2.cvtColor(m8, cv2.COLOR_GRAY2BGR)] + [fills[x] for x in methods] + [gt], 1))
    if rows:
        cv2.imwrite(os.path.join(args.work, f"grid-{kind}.png"), np.concatenate(rows, 0))
    table[kind] = {"images": n, "methods": methods, "seconds_per_image": secs,
                   "scores": {name: [list(map(float, v)) for v in vals] for name, vals in res.items()}}
json.dump(table, open(os.path.join(args.work, "compare.json"), "w"), indent=1)


def ms(v):
    v = np.asarray(v)
    return f"{v.mean():.2f} ± {v.std(ddof=1) / np.sqrt(len(v)):.2f}"


print(f"grid columns: input | mask | {' | '.join(methods)} | original")
print("| masks | fill | hole PSNR (dB) | low-pass hole PSNR (dB) | mean-colour error (levels) | s/image |")
print("|---|---|---|---|---|---|")
for kind, t in table.items():
    for name in methods:
        v = np.asarray(t["scores"][name])
        sec = t["seconds_per_image"].get(name)
        print(f"| {kind} ({t['images']}) | {name} | {ms(v[:, 0])} | {ms(v[:, 1])} | {ms(v[:, 2])} | {'' if sec is None else f'{sec:.1f}'} |")

for spec in args.pair:
    a, _, b = spec.partition(":")
    for kind, t in table.items():
        if a not in t["scores"] or b not in t["scores"]:
            sys.exit(f"--pair {spec}: {a} or {b} is not a fill of this run")
        d = np.asarray(t["scores"][a]) - np.asarray(t["scores"][b])
        print(f"{kind}: {a} - {b} (paired, {len(d)} images): PSNR {ms(d[:, 0])} dB, low-pass {ms(d[:, 1])} dB, colour {ms(d[:, 2])} levels")
