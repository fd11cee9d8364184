#!/usr/bin/env bash
# Sets up a Debian 12 machine for RAD and builds everything:
#   apt packages (libtorch-dev, cmake, a C++ compiler; python3-torch for the
#   interop tests), Go modules (pinned in go.mod), the libtorch shim
#   (build/libradtorch.so) and bin/radctl. Quick when all is there.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for p in libtorch-dev cmake g++ make python3-torch; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if ! command -v go >/dev/null 2>&1 && [ ! -x /usr/local/go/bin/go ]; then
  need+=(golang-go)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need[@]}"
fi
export PATH="$PATH:/usr/local/go/bin"

# The shim: CMake rebuilds only what changed.
if [ ! -f build/CMakeCache.txt ]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build build -j"$(nproc)"

go mod download
go build -o bin/radctl ./cmd/radctl
echo "setup: ok (bin/radctl, build/libradtorch.so)"
