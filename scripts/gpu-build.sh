#!/usr/bin/env bash
# Builds what scripts/gpu-check.sh runs on a device machine: radctl and the
# Go test binaries, into bin/ (carried to the device with the work tree).
# They are built with -tags radtorch_cmake: they link the CMake-built shim
# (libradtorch.so; here build/ against Debian's libtorch, only to link),
# which the device scripts rebuild there against the wheel's CUDA libtorch
# (build-cuda/) and find through LD_LIBRARY_PATH. The default build would
# compile Debian's libtorch into the binaries instead.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
command -v cmake >/dev/null || { echo "gpu-build: needs cmake and make (apt-get install cmake make; setup.sh no longer installs them)"; exit 1; }
if [ ! -f build/CMakeCache.txt ]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build build -j"$(nproc)"
go build -tags radtorch_cmake -ldflags="-s -w" -o bin/radctl ./cmd/radctl
for p in torch radmodel radmodel/diffusion infer train; do
  go test -c -tags radtorch_cmake -ldflags="-s -w" -o "bin/$(basename $p).test" "./$p"
done
ls -la bin
