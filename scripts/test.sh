#!/usr/bin/env bash
# Sets up (scripts/setup.sh, with chromium for the service's browser test)
# and runs every check: gofmt, go vet, go test, and the module-proxy check
# (scripts/goget-check.sh: a separate module builds and runs on this one
# with go get alone).
set -euo pipefail
cd "$(dirname "$0")/.."
RAD_BROWSER_TESTS=1 bash scripts/setup.sh
source scripts/env.sh

bad=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$bad" ]; then
  echo "gofmt needed on:"; echo "$bad"; exit 1
fi
go vet ./...
# the radtorch_cmake build (CMake's shim; scripts/gpu-*.sh) type-checks too
go vet -tags radtorch_cmake ./torch
# -count=1: every test runs (the test cache would skip the unchanged ones;
# it does not see a changed libtorch either).
go test -count=1 -timeout 30m ./... "$@"
# the race detector over the packages with concurrent code (the sampler's
# batching and cancellation, the data loader's workers, the CLI's jobs, the
# service)
go test -race -count=1 -timeout 30m ./infer ./train/data ./cmd/radctl ./serve "$@"
# a Go program of its own, through a file:// module proxy: go get, go
# build, inpaint (README: "Use it from your Go program")
bash scripts/goget-check.sh
