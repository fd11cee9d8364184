#!/usr/bin/python3
"""A large photo with one small hole, for timing the crop around the mask
(docs/RESULTS.md §1b): the held-out `Path` wallpaper scaled to 4000 x 3000
(Catmull-Rom-like bicubic) and a disc of 100 px diameter at (2500, 1800).
Needs Debian's python3-opencv; run after scripts/fetch-data.sh photos:

    /usr/bin/python3 scripts/big-photo.py out/big
    ./bin/radctl infer --image out/big/big.png --mask out/big/disc.png --out out/big/out.png --stats out/big/stats.json
"""
import os, sys
import cv2
import numpy as np

out = sys.argv[1] if len(sys.argv) > 1 else "out/big"
src = "data/photos-heldout-large/plasma-Path.jpg"
im = cv2.imread(src)
if im is None:
    sys.exit(f"no {src}: run scripts/fetch-data.sh photos")
os.makedirs(out, exist_ok=True)
cv2.imwrite(os.path.join(out, "big.png"), cv2.resize(im, (4000, 3000), interpolation=cv2.INTER_CUBIC))
m = np.zeros((3000, 4000), np.uint8)
cv2.circle(m, (2500, 1800), 50, 255, -1)
cv2.imwrite(os.path.join(out, "disc.png"), m)
print(f"wrote {out}/big.png (4000 x 3000) and {out}/disc.png")
