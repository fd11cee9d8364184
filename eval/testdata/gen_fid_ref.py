#!/usr/bin/python3
"""Reference FID for eval's tests (run once, with Debian's numpy and scipy):

    cd eval/testdata && /usr/bin/python3 gen_fid_ref.py

Reads fid_features.json (two feature sets, written by the Go test
TestWriteTestdata) and writes fid_ref.json: the FID computed as
pytorch-fid does (numpy.cov, scipy.linalg.sqrtm of sigma1 @ sigma2, real
part), and the first set's mean and covariance.
"""
import json

import numpy as np
from scipy import linalg

with open("fid_features.json") as f:
    case = json.load(f)
a = np.array(case["feats1"], dtype=np.float64)
b = np.array(case["feats2"], dtype=np.float64)
mu1, mu2 = a.mean(axis=0), b.mean(axis=0)
s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
covmean, _ = linalg.sqrtm(s1.dot(s2), disp=False)
covmean = covmean.real
diff = mu1 - mu2
fid = diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)
out = {
    "fid": float(fid),
    "mu1": [float(v) for v in mu1],
    "sigma1": [float(v) for v in s1.reshape(-1)],
    "generator": "gen_fid_ref.py, numpy %s, scipy %s" % (np.__version__, __import__("scipy").__version__),
}
with open("fid_ref.json", "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
print("fid", fid)
