#!/usr/bin/env bash
# Short device check (bin/ from scripts/gpu-build.sh, -tags radtorch_cmake):
# rebuild the shim against the wheel's libtorch, then
# the CUDA tests of every package and one training step benchmark on CUDA.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
TP=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
TL=$(python3 -c 'import torch,os;print(os.path.join(os.path.dirname(torch.__file__),"lib"))')
{ cmake -S . -B build-cuda -DCMAKE_PREFIX_PATH="$TP" -DCMAKE_BUILD_TYPE=Release && cmake --build build-cuda -j"$(nproc)"; } > "$OUT/cmake.txt" 2>&1 || { tail -30 "$OUT/cmake.txt"; exit 1; }
export LD_LIBRARY_PATH=$PWD/build-cuda:$TL
for p in torch radmodel infer train; do
  (cd $p && ../bin/$p.test -test.count=1 -test.v -test.run CUDA 2>&1 | grep -E "^(--- |    --- |ok|FAIL|PASS)|cuda_test|panic") | tee -a "$OUT/tests.txt"
done
(cd train && RAD_BENCH_DEVICE=cuda ../bin/train.test -test.run '^$' -test.bench 'TrainStepPubB|TrainStepFFHQ256' -test.benchtime 3x 2>&1 | grep -E "Bench|FAIL|panic") | tee -a "$OUT/tests.txt"
