#!/usr/bin/env bash
# Device check on a CUDA machine with a PyTorch 2.x wheel but no Go: rebuild
# the shim there against the wheel's libtorch, then run the Go test binaries
# and radctl built elsewhere (scripts/gpu-build.sh puts them in bin/).
# Results go to $OUT (default ./gpu-out).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
PY=$(command -v python3)
TP=$($PY -c 'import torch;print(torch.utils.cmake_prefix_path)')
TL=$($PY -c 'import torch,os;print(os.path.join(os.path.dirname(torch.__file__),"lib"))')
{ nvidia-smi -L; $PY -c 'import torch;print("torch", torch.__version__, "cuda", torch.version.cuda)'; ldd --version | head -1; } | tee "$OUT/machine.txt"
start=$(date +%s)
if ! { cmake -S . -B build-cuda -DCMAKE_PREFIX_PATH="$TP" -DCMAKE_BUILD_TYPE=Release && cmake --build build-cuda -j"$(nproc)"; } > "$OUT/cmake.txt" 2>&1; then
  echo "CUDA extras build failed; retrying without them" | tee -a "$OUT/machine.txt"
  tail -40 "$OUT/cmake.txt"
  rm -rf build-cuda
  { cmake -S . -B build-cuda -DCMAKE_PREFIX_PATH="$TP" -DRADTORCH_CUDA_EXTRAS=OFF -DCMAKE_BUILD_TYPE=Release && cmake --build build-cuda -j"$(nproc)"; } > "$OUT/cmake2.txt" 2>&1 || { tail -40 "$OUT/cmake2.txt"; exit 1; }
fi
echo "shim build: $(( $(date +%s) - start )) s" | tee -a "$OUT/machine.txt"
export LD_LIBRARY_PATH=$PWD/build-cuda:$TL
./bin/radctl version | tee -a "$OUT/machine.txt"
run() { # name dir args...
  local name=$1 dir=$2 log; shift 2
  log=$(mktemp)
  (cd "$dir" && "$@") > "$log" 2>&1
  echo "$name: exit $? ($(grep -cE '^(--- |    --- )PASS' "$log") passed, $(grep -cE '^(--- |    --- )FAIL' "$log") failed)" | tee -a "$OUT/summary.txt"
  grep -B2 -A12 -E '^(--- |    --- )FAIL|^panic' "$log" >> "$OUT/summary.txt"
  { echo "=== $name"; cat "$log"; } >> "$OUT/tests.txt"
}
run torch torch ../bin/torch.test -test.count=1 -test.v
run radmodel radmodel ../bin/radmodel.test -test.count=1 -test.v -test.run 'CUDA|Fixture|Spatial|LoRA'
run diffusion radmodel/diffusion ../../bin/diffusion.test -test.count=1 -test.v
run infer infer ../bin/infer.test -test.count=1 -test.v -test.run 'CUDA|OneStep|ModelCall'
grep -hE "cuda:0 is|memory:|model:|RAD 100 steps" "$OUT/tests.txt" | tee -a "$OUT/summary.txt"
timeout 300 ./bin/radctl bench --preset ffhq_10m --device cuda > "$OUT/bench-ffhq-cuda.txt" 2>&1
cat "$OUT/bench-ffhq-cuda.txt"
timeout 120 ./bin/radctl bench --preset ffhq_10m --device cuda --dtype bfloat16 --skip-repaint --forwards 20 > "$OUT/bench-ffhq-cuda-bf16.txt" 2>&1
cat "$OUT/bench-ffhq-cuda-bf16.txt"
