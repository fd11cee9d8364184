#!/usr/bin/env bash
# Fetches the data the project uses from Debian's packages (apt-get download
# + dpkg-deb -x: nothing is installed) into data/ (or $RAD_DATA):
#   data/cimg/parrot.ppm, parrot_mask.pgm   the README's main job (cimg-examples)
#   data/fashion-mnist/*.gz                 the evaluation (dataset-fashion-mnist)
#   data/photos-train/, data/photos-heldout/ the default model's photos
#                                           (mate-backgrounds, libjxl-testdata;
#                                           docs/DATA.md lists them)
# Usage: scripts/fetch-data.sh [parrot|fmnist|photos|all]   (default: parrot)
# Quick when the files are there.
set -euo pipefail
cd "$(dirname "$0")/.."
D=${RAD_DATA:-$PWD/data}
what=${1:-parrot}
mkdir -p "$D/debs"
fetch() { # package -> extracted under $D/x/<package>
  local p=$1
  [ -d "$D/x/$p" ] && return
  if ! ls "$D/debs/${p}_"*.deb >/dev/null 2>&1; then
    (cd "$D/debs" && apt-get download "$p" 2>/dev/null) ||
      { apt-get update -q >/dev/null && (cd "$D/debs" && apt-get download "$p"); }
  fi
  mkdir -p "$D/x/$p.tmp" && dpkg-deb -x "$D/debs/${p}_"*.deb "$D/x/$p.tmp" && mv "$D/x/$p.tmp" "$D/x/$p"
}
if [ "$what" = parrot ] || [ "$what" = all ]; then
  fetch cimg-examples
  mkdir -p "$D/cimg"
  cp -n "$D"/x/cimg-examples/usr/share/doc/cimg-dev/examples/img/parrot{.ppm,_mask.pgm} "$D/cimg/"
fi
if [ "$what" = fmnist ] || [ "$what" = all ]; then
  fetch dataset-fashion-mnist
  mkdir -p "$D/fashion-mnist"
  cp -n "$D"/x/dataset-fashion-mnist/usr/share/datasets/fashion-mnist/*.gz "$D/fashion-mnist/"
fi
if [ "$what" = photos ] || [ "$what" = all ]; then
  fetch mate-backgrounds
  fetch libjxl-testdata
  M=$D/x/mate-backgrounds/usr/share/backgrounds/mate
  J=$D/x/libjxl-testdata/usr/share/libjxl-testdata
  mkdir -p "$D/photos-train" "$D/photos-heldout"
  for f in $M/nature/{Aqua,Blinds,Dune,FreshFlower,Garden,GreenMeadow,LadyBird,RainDrops,Storm,Wood,YellowFlower}.jpg \
    $M/abstract/Elephants.jpg $J/jxl/flower/flower.png $J/external/wesaturate/500px/{cvo9xd_keong_macan,u76c0g_bliznaca}_srgb8.png; do
    cp -n "$f" "$D/photos-train/"
  done
  for f in $M/nature/TwoWings.jpg $J/jxl/hdr_room.png $J/external/wesaturate/500px/tmshre_riaphotographs_srgb8.png; do
    cp -n "$f" "$D/photos-heldout/"
  done
fi
echo "fetch-data: $what in $D"
