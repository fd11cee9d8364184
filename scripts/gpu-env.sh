# Sourced (from the repository root) by the device scripts that train or
# evaluate with bin/radctl on a CUDA machine with a PyTorch 2.x wheel but no
# Go (scripts/gpu-train.sh, scripts/gpu-finish.sh; bin/radctl built by
# scripts/gpu-build.sh with -tags radtorch_cmake): makes $OUT, sets t0 (the
# start), PY (python3), TP and TL (the wheel's CMake prefix and lib folder),
# builds the shim against the wheel into build-cuda/ (configured once; the
# build is quick when nothing changed, and a warm machine's old shim of
# another ABI is rebuilt; exits on failure with the build log's tail), and
# exports LD_LIBRARY_PATH
# and RADTORCH_THREADS (default 3). Writes $OUT/machine.txt.
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
t0=$(date +%s)
PY=$(command -v python3)
TP=$($PY -c 'import torch;print(torch.utils.cmake_prefix_path)')
TL=$($PY -c 'import torch,os;print(os.path.join(os.path.dirname(torch.__file__),"lib"))')
nvidia-smi -L | tee "$OUT/machine.txt"
{ { [ -f build-cuda/CMakeCache.txt ] ||
    cmake -S . -B build-cuda -DCMAKE_PREFIX_PATH="$TP" -DCMAKE_BUILD_TYPE=Release -DRADTORCH_CUDA_EXTRAS=OFF; } &&
  cmake --build build-cuda -j"$(nproc)"; } > "$OUT/cmake.txt" 2>&1 || { tail -30 "$OUT/cmake.txt"; exit 1; }
echo "shim: $(( $(date +%s) - t0 )) s" | tee -a "$OUT/machine.txt"
export LD_LIBRARY_PATH=$PWD/build-cuda:$TL RADTORCH_THREADS=${RADTORCH_THREADS:-3}
./bin/radctl version | tee -a "$OUT/machine.txt"
