#!/usr/bin/python3
"""Prints docs/RESULTS.md's Fashion-MNIST tables from radctl eval reports (out/eval/<method>/report.json and per-image CSVs; PSNR ± its standard error; seconds per image come from scripts/fmnist-timing.sh, measured side by side). Usage: /usr/bin/python3 scripts/fmnist-table.py [EVAL_DIR]"""
import sys, json, os
E = sys.argv[1] if len(sys.argv) > 1 else "out/eval"
methods = [("RAD (LoRA, spatial)", "rad"), ("Cfg. 1 (base ADM, RAD sampler)", "cfg1"), ("Cfg. 2 (LoRA, scalar embedding)", "cfg2"),
           ("RePaint (250 steps, jump 10x10)", "repaint"), ("mean fill (floor)", "mean-fill")]
rows = {d: json.load(open(f"{E}/{d}/report.json"))["rows"] for _, d in methods if os.path.exists(f"{E}/{d}/report.json")}
f = lambda r, k, p: ("–" if r.get(k) is None else f"{r[k]:.{p}f}")
import csv, statistics as st
def se(d, kind, col, n=None):
    p = f"{E}/{d}/per-image-{kind}.csv"
    if not os.path.exists(p): return ""
    v = [float(r[col]) for r in csv.DictReader(open(p))]
    if n: v = v[:n]
    return f" ± {st.stdev(v)/len(v)**0.5:.2f}" if len(v) > 1 else ""
full = [r for d in rows for r in rows[d] if not r.get("subset") and d != "repaint"]
sub = [r for d in rows for r in rows[d] if r.get("subset") or d == "repaint"]
N = max((r["images"] for r in full), default=0)
K = max((r["images"] for r in sub), default=0)
kid = lambda r: "–" if r.get("kid_mean") is None else f"{r['kid_mean']:.2f} ± {r['kid_std']:.1f}"
print(f"### All {N} images\n")
print("| masks | method | FID-FMNIST | KID-FMNIST (mean ± std) | LPIPS-style | PSNR hole (dB) | SSIM hole | calls/image |")
print("|---|---|---|---|---|---|---|---|")
for kind in ["box", "extreme", "wide"]:
    for name, d in methods:
        for r in rows.get(d, []):
            if r["masks"] == kind and not r.get("subset") and d != "repaint":
                print(f"| {kind} | {name} | {f(r,'fid',1)} | {kid(r)} | {f(r,'lpips_style',4)} | {f(r,'psnr_hole',2)}{se(d,kind,'psnr_hole')} | {f(r,'ssim_hole',3)} | {r['calls_per_image']:.0f} |")
print(f"\n### The first {K} images, every method (RePaint's budget)\n" if len({r["images"] for r in sub}) <= 1 else
      f"\n### The first {K} images or fewer (see report.json), every method (RePaint's budget)\n")
print("| masks | method | FID-FMNIST | KID-FMNIST (mean ± std) | LPIPS-style | PSNR hole (dB) | SSIM hole | calls/image |")
print("|---|---|---|---|---|---|---|---|")
for kind in ["box", "extreme", "wide"]:
    for name, d in methods:
        for r in rows.get(d, []):
            if r["masks"] == kind and (r.get("subset") or d == "repaint"):
                print(f"| {kind} | {name} | {f(r,'fid',1)} | {kid(r)} | {f(r,'lpips_style',4)} | {f(r,'psnr_hole',2)}{se(d,kind,'psnr_hole',r['images'])} | {f(r,'ssim_hole',3)} | {r['calls_per_image']:.0f} |")
