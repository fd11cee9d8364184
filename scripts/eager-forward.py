#!/usr/bin/python3
"""guided-diffusion's eager PyTorch forward, timed: the CPU baseline of the
Go forward (scripts/forward-vs-eager.sh). guided-diffusion is imported from
the folder given (a checkout of openai/guided-diffusion the user fetched;
nothing of it is in this repository).

  eager-forward.py GUIDED_DIFFUSION_DIR "FLAGS" RUNS [THREADS]

Prints one line: the median ms of RUNS no-grad forwards at batch 1 after a
warm-up (random weights, a random image, timestep 500)."""
import sys, time

import torch

sys.path.insert(0, sys.argv[1])
from guided_diffusion import script_util  # noqa: E402

flags, runs = sys.argv[2].split(), int(sys.argv[3])
torch.set_num_threads(int(sys.argv[4]) if len(sys.argv) > 4 else 2)
args = script_util.model_and_diffusion_defaults()
for i in range(0, len(flags), 2):
    k, v = flags[i].lstrip("-"), flags[i + 1]
    d = args[k]
    if isinstance(d, bool):
        args[k] = v.lower() in ("true", "t", "1", "yes", "y")
    elif d is None or isinstance(d, str):
        args[k] = v
    else:
        args[k] = type(d)(v)
names = script_util.create_model.__code__.co_varnames
model = script_util.create_model(**{k: v for k, v in args.items() if k in names}).eval()
size = args["image_size"]
torch.manual_seed(0)
x, t = torch.randn(1, 3, size, size), torch.tensor([500])
y = torch.tensor([0]) if args["class_cond"] else None
times = []
with torch.no_grad():
    model(x, t, y)
    for _ in range(runs):
        start = time.perf_counter()
        model(x, t, y)
        times.append(time.perf_counter() - start)
times.sort()
print("%.2f" % (1000 * times[len(times) // 2]))
