#!/usr/bin/python3
"""Resizes every photo in SRC so that its shorter side is 512 (OpenCV
INTER_AREA), as PNG files in DST: the training scale of the default photo
model (scripts/photo-finetune.sh, scripts/gpu-finish.sh; --zoom-max 8 at a
64-pixel crop never needs more). Needs Debian's python3-opencv.

    /usr/bin/python3 scripts/resize-photos.py SRC DST
"""
import glob, os, sys
import cv2

src, dst = sys.argv[1], sys.argv[2]
os.makedirs(dst, exist_ok=True)
for p in sorted(glob.glob(os.path.join(src, "*"))):
    im = cv2.imread(p, cv2.IMREAD_COLOR)
    if im is None:
        sys.exit(f"resize-photos: cannot read {p}")
    h, w = im.shape[:2]
    s = 512 / min(h, w)
    im = cv2.resize(im, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    cv2.imwrite(os.path.join(dst, os.path.splitext(os.path.basename(p))[0] + ".png"), im)
