#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and runs every check: gofmt, go vet, go test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh

bad=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$bad" ]; then
  echo "gofmt needed on:"; echo "$bad"; exit 1
fi
go vet ./...
# -count=1: go's test cache does not see the shim library change.
go test -count=1 -timeout 30m ./... "$@"
# the race detector over the packages with concurrent code (the sampler's
# batching and cancellation, the data loader's workers, the CLI's jobs)
go test -race -count=1 -timeout 30m ./infer ./train/data ./cmd/radctl "$@"
