#!/usr/bin/env bash
# Soak test of radctl serve (outside CI): DURATION (default 600 s) of mixed
# requests on the shipped model from WORKERS (3) clients at once: synchronous
# inpaintings (multipart and JSON, 64-160 px crops of the main job's photo,
# 10 steps, n and average), jobs followed over their event stream and fetched,
# jobs cancelled midway, clients that disconnect mid-request, bad inputs and
# wrong tokens. After WARMUP (60 s) of the same mix, which brings the
# allocator to its working size, and again once idle after the load, it reads
# the service's resident memory, goroutines and live tensors from /metrics
# and prints them side by side (with the memory every minute in between) and
# the answers by status.
#   bash scripts/soak-serve.sh            (after scripts/setup.sh)
#   DURATION=60 bash scripts/soak-serve.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-600} WORKERS=${WORKERS:-3} PORT=${PORT:-18431} WARMUP=${WARMUP:-60}
[ -x bin/radctl ] || { echo "no bin/radctl: run scripts/setup.sh" >&2; exit 1; }
[ -f data/cimg/parrot.ppm ] || bash scripts/fetch-data.sh parrot >/dev/null
work=$(mktemp -d); trap 'kill $srv 2>/dev/null || true; rm -rf "$work"' EXIT
/usr/bin/python3 - "$work" <<'PY'
import sys, numpy as np, cv2
d = sys.argv[1]
im = cv2.imread('data/cimg/parrot.ppm')
for s in (64, 96, 128, 160):
    cv2.imwrite(f'{d}/img{s}.png', cv2.resize(im, (s, s)))
    m = np.zeros((s, s), np.uint8); m[s//4:s//2, s//3:2*s//3] = 255
    cv2.imwrite(f'{d}/mask{s}.png', m)
open(f'{d}/bad.png', 'wb').write(b'\x89PNG\r\n\x1a\nnot really')
PY
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$work/token"
tok=$(cat "$work/token"); url=http://127.0.0.1:$PORT; auth="Authorization: Bearer $tok"
./bin/radctl serve --addr 127.0.0.1:$PORT --token-file "$work/token" --steps 10 --max-memory 4GiB \
  --job-ttl 30s 2>"$work/serve.log" & srv=$!
for _ in $(seq 300); do curl -s -o /dev/null -H "$auth" $url/healthz && break; sleep 0.2; done
metric() { curl -s -H "$auth" $url/metrics | awk -v n="$1" '$1 == n {printf "%.0f", $2}'; }
snap() { echo "rss_mb=$(( $(metric process_resident_memory_bytes) >> 20 )) goroutines=$(metric go_goroutines) live_tensors=$(metric rad_live_tensors)"; }
client() { # one client's loop until $2 (epoch seconds); prints one status code per request
  local i=$1 end=$2 k=0
  while [ "$(date +%s)" -lt $end ]; do
    k=$((k + 1)); s=$(( (64 + 32 * ((i + k) % 4)) ))
    case $(( (i + k) % 8 )) in
      0) curl -s -o /dev/null -w '%{http_code}\n' -H "$auth" -F image=@"$work/img$s.png" -F mask=@"$work/mask$s.png" -F seed=$k $url/v1/inpaint ;;
      1) curl -s -o /dev/null -w '%{http_code}\n' -H "$auth" -H 'Content-Type: application/json' $url/v1/inpaint \
           -d "{\"image\":\"$(base64 -w0 "$work/img$s.png")\",\"mask\":\"$(base64 -w0 "$work/mask$s.png")\",\"n\":2,\"steps\":5}" ;;
      2) id=$(curl -s -H "$auth" -F image=@"$work/img$s.png" -F mask=@"$work/mask$s.png" $url/v1/jobs | sed -n 's/.*"id":"\([0-9a-f]*\)".*/\1/p')
         [ -n "$id" ] && curl -s -N --max-time 120 -H "$auth" $url/v1/jobs/$id/events >/dev/null
         [ -n "$id" ] && curl -s -o /dev/null -w '%{http_code}\n' -H "$auth" $url/v1/jobs/$id/result || echo 429 ;;
      3) id=$(curl -s -H "$auth" -F image=@"$work/img$s.png" -F mask=@"$work/mask$s.png" -F average=2 $url/v1/jobs | sed -n 's/.*"id":"\([0-9a-f]*\)".*/\1/p')
         sleep 0.5; [ -n "$id" ] && curl -s -o /dev/null -w '%{http_code}\n' -X DELETE -H "$auth" $url/v1/jobs/$id || echo 429 ;;
      4) c=$(curl -s -o /dev/null -w '%{http_code}' --max-time 0.7 -H "$auth" -F image=@"$work/img$s.png" -F mask=@"$work/mask$s.png" $url/v1/inpaint || true)
         [ "$c" = 000 ] && echo disconnect || echo "$c" ;;
      5) curl -s -o /dev/null -w '%{http_code}\n' -H "$auth" -F image=@"$work/bad.png" -F mask=@"$work/mask$s.png" $url/v1/inpaint ;;
      6) curl -s -o /dev/null -w '%{http_code}\n' -H "Authorization: Bearer wrong$k" $url/v1/config ;;
      7) curl -s -o /dev/null -w '%{http_code}\n' -H "$auth" -H 'Origin: http://evil.example' -F image=@"$work/img$s.png" -F mask=@"$work/mask$s.png" $url/v1/inpaint ;;
    esac
  done
}
idle() { # until nothing is pending and finished jobs expired (--job-ttl 30s)
  for _ in $(seq 120); do [ "$(curl -s -H "$auth" $url/healthz | sed -n 's/.*"pending":\([0-9]*\).*/\1/p')" = 0 ] && break; sleep 1; done
  sleep 35
}
pids=(); for i in $(seq $WORKERS); do client "$i" $(( $(date +%s) + WARMUP )) > /dev/null & pids+=($!); done
wait "${pids[@]}" || true; idle
start=$(snap); echo "start (after ${WARMUP} s of warm-up): $start"
pids=(); for i in $(seq $WORKERS); do client "$i" $(( $(date +%s) + DURATION )) > "$work/codes$i" & pids+=($!); done
( while sleep 60; do echo "  $(date +%T) $(snap)"; done ) & mon=$!
wait "${pids[@]}" || true; kill $mon 2>/dev/null || true
idle
after=$(snap)
echo "after: $after"
echo "answers: $(cat "$work"/codes* | sort | uniq -c | awk '{printf "%s x %s, ", $1, $2}')"
echo "requests: $(cat "$work"/codes* | wc -l) in ${DURATION} s from $WORKERS clients"
kill $srv; wait $srv 2>/dev/null || true
grep -c "panic" "$work/serve.log" | sed 's/^/panics in the log: /'
