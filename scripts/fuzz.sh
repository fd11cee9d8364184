#!/usr/bin/env bash
# Runs every fuzz target of the readers of outside bytes, one after another,
# each until 10^6 executions or 10 minutes, whichever comes first (override:
# FUZZ_EXECS, FUZZ_MINUTES; FUZZ_PARALLEL workers, default 1), and prints a
# summary line per target: executions, seconds, and whether it failed.
# A failing input is saved by Go under the package's testdata/fuzz/, where
# `go test` (and CI) then runs it as a normal test case.
#   bash scripts/fuzz.sh [Target ...]      (default: all)
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
execs=${FUZZ_EXECS:-1000000}
minutes=${FUZZ_MINUTES:-10}
par=${FUZZ_PARALLEL:-1}
declare -A pkg=(
  [FuzzLoadSafetensors]=./torch [FuzzLoadPT]=./torch [FuzzDetectReaderAt]=./torch
  [FuzzDecodeImage]=./infer [FuzzReadNetpbm]=./infer
  [FuzzParseFlags]=./radmodel [FuzzConfigJSON]=./radmodel
  [FuzzSpaceTimesteps]=./radmodel/diffusion
  [FuzzParseRequest]=./serve
)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(FuzzLoadSafetensors FuzzLoadPT FuzzDetectReaderAt FuzzDecodeImage FuzzReadNetpbm FuzzParseFlags FuzzConfigJSON FuzzSpaceTimesteps FuzzParseRequest)
mkdir -p out/fuzz
status=0
for t in "${targets[@]}"; do
  log=out/fuzz/$t.log
  start=$(date +%s)
  # SIGINT at the time limit: go test stops fuzzing cleanly and reports
  RADTORCH_THREADS=1 timeout -s INT $((minutes * 60)) go test -count=1 -run '^$' -fuzz "^$t\$" \
    -fuzztime "${execs}x" -parallel "$par" "${pkg[$t]}" >"$log" 2>&1
  secs=$(( $(date +%s) - start ))
  n=$(grep -o 'execs: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
  verdict=ok
  if grep -q -- "--- FAIL\|panic:" "$log"; then verdict=FAILED; status=1; fi
  echo "$t: ${n:-0} executions in ${secs}s: $verdict (log $log)"
done
exit $status
