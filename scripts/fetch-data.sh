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
if [ "$what" = photos ] || [ "$what" = all ]; then
  # the object-removal model's wider set (docs/DATA.md): photos only, no
  # renders or paintings; one photo of each source held out
  fetch plasma-workspace-wallpapers
  fetch opencv-doc
  fetch darknet
  fetch libdlib19.1
  P=$D/x/plasma-workspace-wallpapers/usr/share/wallpapers
  O=$D/x/opencv-doc/usr/share/doc/opencv-doc/examples/data
  K=$D/x/darknet/usr/share/darknet/data
  F=$D/x/libdlib19.1/usr/share/doc/libdlib19.1/examples/faces
  biggest() { ls -S "$P/$1/contents/images/"*.jpg | head -1; }
  for w in Autumn BytheWater ColdRipple ColorfulCups DarkestHour EveningGlow FallenLeaf Kite OneStandsOut SafeLanding Shell summer_1am; do
    cp -n "$(biggest $w)" "$D/photos-train/plasma-$w.jpg"
  done
  for f in fruits baboon HappyFish squirrel_cls orange messi5 aero1 apple butterfly building board ela_original aloeL leuvenA; do
    cp -n "$O/$f.jpg" "$D/photos-train/opencv-$f.jpg"
  done
  cp -n "$O/graf1.png" "$D/photos-train/opencv-graf1.png"
  cp -n "$O/chicky_512.png" "$D/photos-train/opencv-chicky_512.png"
  cp -n "$O/smarties.png" "$D/photos-train/opencv-smarties.png"
  for f in eagle kite giraffe person horses; do cp -n "$K/$f.jpg" "$D/photos-train/darknet-$f.jpg"; done
  for f in 2008_001322 2008_002079 2009_004587 bald_guys 2008_007676 2008_002470 2007_007763 2008_004176; do
    cp -n "$F/$f.jpg" "$D/photos-train/dlib-$f.jpg"
  done
  mkdir -p "$D/photos-heldout-large"
  cp -n "$(biggest Path)" "$D/photos-heldout-large/plasma-Path.jpg"
  cp -n "$O/home.jpg" "$D/photos-heldout-large/opencv-home.jpg"
  cp -n "$K/dog.jpg" "$D/photos-heldout-large/darknet-dog.jpg"
  cp -n "$F/2008_002506.jpg" "$D/photos-heldout-large/dlib-2008_002506.jpg"
  cp -n "$D"/photos-heldout/* "$D/photos-heldout-large/"
fi
echo "fetch-data: $what in $D"
