#!/usr/bin/env bash
# Sets up a Debian 12 machine for RAD and builds everything:
#   apt packages (libtorch-dev, libgloo-dev (c10d's Gloo headers), a C++
#   compiler; python3-torch for the interop tests; chromium for the
#   service's browser test when RAD_BROWSER_TESTS=1 or CI=true, as
#   scripts/test.sh sets), Go modules (pinned in go.mod), bin/radctl (cgo
#   compiles the libtorch shim, torch/shim.cpp, with package torch: no
#   CMake step; CMakeLists.txt is for the radtorch_cmake build, README) and
#   the main job's photo (data/cimg/, scripts/fetch-data.sh). Quick when
#   all is there.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/env.sh

# go_ok: a Go of at least 1.22 is on PATH
go_ok() {
  command -v go >/dev/null 2>&1 || return 1
  local v
  v=$(go env GOVERSION 2>/dev/null | sed 's/^go//')
  [ "$(printf '%s\n1.22\n' "$v" | sort -V | head -1)" = "1.22" ]
}

need=()
pkgs=(libtorch-dev libgloo-dev g++ python3-torch)
if [ "${RAD_BROWSER_TESTS:-}" = 1 ] || [ "${CI:-}" = true ]; then
  pkgs+=(chromium) # serve's TestBrowser drives it headless
fi
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if ! go_ok && ! command -v go >/dev/null 2>&1; then
  need+=(golang-go)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need[@]}"
fi
if ! go_ok; then
  # Debian's Go is too old for this module: fetch Go 1.22 as the module the
  # Go module proxy serves for toolchain switching, with the old go itself
  echo "setup: fetching the Go 1.22 toolchain from the Go module proxy"
  dir=$(cd /tmp && GOFLAGS= go mod download -json golang.org/toolchain@v0.0.1-go1.22.12.linux-amd64 |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  rm -rf .toolchain && mkdir -p .toolchain && cp -r "$dir" .toolchain/go
  chmod -R u+w .toolchain && chmod +x .toolchain/go/bin/* .toolchain/go/pkg/tool/*/*
  go_ok || { echo "setup: no usable Go toolchain"; exit 1; }
fi

go mod download
(cd scripts/goget-check && go mod download) # golang.org/x/mod, for scripts/goget-check.sh
go build -o bin/radctl ./cmd/radctl
# the main job's photo and mask (Debian's cimg-examples; quick when present)
bash scripts/fetch-data.sh parrot
echo "setup: ok (bin/radctl, data/cimg/)"
