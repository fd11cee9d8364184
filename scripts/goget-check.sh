#!/usr/bin/env bash
# The README's "Use it from your Go program", as a user would see it: packs
# this working tree as the Go module proxy would serve it (a module zip
# made with golang.org/x/mod/zip, behind a file:// GOPROXY), then in a
# fresh module with a temporary GOMODCACHE: go mod init, go get
# github.com/radinpaint/rad@<pseudo-version>, go build of examples/embed's
# code (cgo compiles the libtorch shim: no CMake, no build folder, no
# environment variables), and runs it with the shipped default model on a
# crop of data/cimg's parrot photo, checking that the known pixels are
# unchanged. Offline: the other modules come from the local module cache.
# scripts/test.sh runs it. Flags go to scripts/goget-check (e.g. -keep).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
root=$PWD
cd scripts/goget-check
GOFLAGS=-mod=readonly GOWORK=off go run . -repo "$root" "$@"
