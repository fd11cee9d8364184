#!/usr/bin/env python3
"""Store a safetensors file's float32 tensors as float16, metadata kept.

For LoRA adapters (radctl convert handles full models): the shipped
adapters are their training run's EMA adapter-<step>.safetensors in fp16.
    /usr/bin/python3 scripts/fp16-safetensors.py IN OUT   (Debian python3-numpy)
Refuses a tensor that does not fit float16 (an overflow would be inf).
"""
import json, os, struct, sys
import numpy as np

src, dst = sys.argv[1], sys.argv[2]
raw = open(src, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
meta = header.pop("__metadata__", None)
body = raw[8 + n:]
out_header, chunks, off = {}, [], 0
for name in sorted(header, key=lambda k: header[k]["data_offsets"][0]):
    t = header[name]
    a, b = t["data_offsets"]
    data = body[a:b]
    dtype = t["dtype"]
    if dtype == "F32":
        x = np.frombuffer(data, dtype="<f4")
        if np.isfinite(x).all() and np.abs(x).max(initial=0) > 65504:
            sys.exit(f"{src}: {name} exceeds float16's range")
        data, dtype = x.astype("<f2").tobytes(), "F16"
    out_header[name] = {"dtype": dtype, "shape": t["shape"], "data_offsets": [off, off + len(data)]}
    chunks.append(data)
    off += len(data)
if meta is not None:
    out_header["__metadata__"] = meta
h = json.dumps(out_header, separators=(",", ":")).encode()
h += b" " * (-len(h) % 8)
with open(dst + ".tmp", "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + b"".join(chunks))
os.replace(dst + ".tmp", dst)
print(f"{dst}: {len(out_header) - (meta is not None)} tensors, {8 + len(h) + off} bytes")
