#!/usr/bin/env bash
# The Go ADM forward against guided-diffusion's eager PyTorch forward on the
# same libtorch (Debian's python3-torch and libtorch-dev), interleaved over
# ROUNDS rounds; prints each round's times and ratios and the medians.
#   bash scripts/forward-vs-eager.sh GUIDED_DIFFUSION_DIR [small|ffhq] [THREADS] [ROUNDS]
# GUIDED_DIFFUSION_DIR: a checkout of openai/guided-diffusion (fetched by
# the user; nothing of it is in this repository). small = the pub_b fixture
# config (32x32, 1.2 M parameters), ffhq = ffhq_10m (256x256, 93.6 M).
# Go runs both memory formats: NCHW and channels-last (ForwardOpts).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
gd=${1:?guided-diffusion folder}
which=${2:-small}
threads=${3:-2}
rounds=${4:-3}
case $which in
  small)
    flags="--image_size 32 --num_channels 64 --num_res_blocks 1 --num_head_channels 32 --attention_resolutions 16 --channel_mult 1,1 --resblock_updown True --use_new_attention_order True"
    bench=PubB1; runs=20 ;;
  ffhq)
    flags="--attention_resolutions 16 --image_size 256 --learn_sigma True --num_channels 128 --num_head_channels 64 --num_res_blocks 1 --resblock_updown True --use_scale_shift_norm True"
    bench=FFHQ256x1; runs=2 ;;
  *) echo "small or ffhq"; exit 2 ;;
esac
bin=$(mktemp -d)/radmodel.test
go test -c -o "$bin" ./radmodel
gonanos() { # ns/op of one benchmark
  (cd radmodel && RADTORCH_THREADS=$threads "$bin" -test.run x -test.bench "^Benchmark$1\$" -test.benchtime "${runs}x") |
    awk '/ns\/op/ {print $3}'
}
echo "config $which, $threads threads, $rounds rounds (ms per forward, batch 1)"
printf "%-6s %10s %10s %10s %12s %12s\n" round go go-cl eager go/eager go-cl/eager
r1=(); r2=()
for r in $(seq "$rounds"); do
  g=$(gonanos "Forward$bench"); gc=$(gonanos "ForwardCL$bench")
  e=$(/usr/bin/python3 scripts/eager-forward.py "$gd" "$flags" "$runs" "$threads")
  read -r gm gcm a b < <(awk -v g="$g" -v c="$gc" -v e="$e" 'BEGIN {printf "%.2f %.2f %.3f %.3f\n", g/1e6, c/1e6, g/1e6/e, c/1e6/e}')
  printf "%-6s %10s %10s %10s %12s %12s\n" "$r" "$gm" "$gcm" "$e" "$a" "$b"
  r1+=("$a"); r2+=("$b")
done
med() { printf "%s\n" "$@" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
echo "median go/eager $(med "${r1[@]}"), go-cl/eager $(med "${r2[@]}")"
