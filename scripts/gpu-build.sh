#!/usr/bin/env bash
# Builds what scripts/gpu-check.sh runs on a device machine: radctl and the
# Go test binaries, into bin/ (carried to the device with the work tree).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
go build -ldflags="-s -w" -o bin/radctl ./cmd/radctl
for p in torch radmodel radmodel/diffusion infer train; do
  go test -c -ldflags="-s -w" -o "bin/$(basename $p).test" "./$p"
done
ls -la bin
