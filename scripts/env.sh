# Sourced by the other scripts: puts Go on PATH (the system's, or the
# toolchain setup.sh fetched from the Go module proxy into .toolchain/).
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$ROOT/.toolchain/go/bin:$PATH:/usr/local/go/bin"
