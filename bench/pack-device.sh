#!/usr/bin/env bash
# Packs .device/ for a training run on the GPU machine within its 64 MiB travel limit:
# ../shared/tools/device/bundle.sh --data, then a stripped Node (the Debian binary carries debug
# info: 24.2 → 21.9 MB compressed), no npm (the run calls node_modules/.bin directly), and no test
# split (FID is measured here from sample dumps: examples/evaluate.ts --samples). With --prebuilt
# and prebuilds/linux-x64/onestep-torch2.11-cu130.node present, node_modules keeps only what runs
# (no cmake-js) and the prebuild travels xz-compressed in .device/ (5.4 → 1.0 MB; bench/gpu-call.sh
# unpacks it into prebuilds/ on the machine, so no build). Prints what would
# travel (the device tool counts a little more than this sum: leave a margin under 64 MiB).
# With --tests: no Fashion-MNIST, and node_modules whole (vitest included) for `npm run test:gpu`
# and the step benchmarks, which use random data.
# With --eval: .device-eval/ with only the prelude, the test split and the classifier (~6.5 MB), for
# later calls on a warm machine that an earlier call set up (Node, node_modules, the build and the
# training set stay there): carry [".device-eval"], start with `source .device-eval/prelude.sh`; runs
# there measure FID themselves (`EVAL=… bash bench/dijs-sweep.sh`; bench/gpu-call.sh puts the
# classifier back into models/, so it may stay untracked for every call of the session).
# With --eval --train: the training split too (~30 MB), for a machine warmed by a --tests call
# (Node, the whole node_modules and the build are there; `npm run test:gpu` first, then training
# with FID from the first training call).
#   bash bench/pack-device.sh [--prebuilt | --tests | --eval [--train]]
# Then: run with carry [".device"], command starting; on a warm machine that
# had a lean node_modules, start with rm -rf node_modules (the prelude keeps an existing one):
#   source .device/prelude.sh >/dev/null 2>&1; export PATH=/opt/node/bin:$PATH; node_modules/.bin/tsx ...
# The classifier and the test split stay here; if the tree is still too large, untrack
# models/fmnist-classifier.safetensors for the call (git rm --cached + .git/info/exclude) and
# restore it afterwards (git restore --staged).
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
cache=${DEVICE_CACHE:-/tmp/device-cache}
# What travels with the carried folder $1: the tree's files (tracked and untracked-not-ignored) and it.
travels() {
  local total
  total=$(du -cb $(git ls-files -co --exclude-standard) "$1"/* | tail -1 | cut -f1)
  awk -v t="$total" -v d="$1" 'BEGIN { printf "travels: %.1f MiB of 64 with carry [\"%s\"]%s\n", t / 1048576, d,
    (t > 64 * 1048576) ? " — too much: untrack models/fmnist-classifier.safetensors for the call (see above)" : "" }'
}
if [ "${1:-}" = "--eval" ]; then
  # Its own folder, so that .device (the first call's) stays packed: the machine goes back after 30 s
  # idle, too soon to repack between calls.
  dir=.device-eval src=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
  grep -qxF "/$dir/" .git/info/exclude 2>/dev/null || echo "/$dir/" >> .git/info/exclude
  rm -rf "$dir" && mkdir -p "$dir" "$cache"
  files="t10k-images-idx3-ubyte t10k-labels-idx1-ubyte"
  [ "${2:-}" = "--train" ] && files="$files train-images-idx3-ubyte train-labels-idx1-ubyte"
  for f in $files; do
    # Through a temporary name: a failed zcat (dataset not installed yet) would otherwise leave a
    # valid xz of nothing in the cache, and every later pack would ship an empty file.
    [ -s "$cache/$f.xz" ] || { zcat "$src/$f.gz" | xz -9 -T0 > "$cache/$f.xz.tmp" && mv "$cache/$f.xz.tmp" "$cache/$f.xz"; }
    # An idx file starts 00 00 08 01 (labels) or 00 00 08 03 (images): refuse to ship anything else
    # (a call that carries a broken data file spends minutes of device time finding out).
    magic=$( (xz -dc "$cache/$f.xz" 2>/dev/null || true) | head -c 4 | od -An -tx1 | tr -d ' \n')
    case "$magic" in 00000801|00000803) ;; *) echo "$cache/$f.xz is not an idx file (starts '$magic'): rm it and pack again" >&2; exit 1 ;; esac
    cp "$cache/$f.xz" "$dir/"
  done
  cp ../shared/tools/device/prelude.sh models/fmnist-classifier.safetensors "$dir/"
  travels "$dir"; echo "(for a warm machine only: no Node$([ "${2:-}" = "--train" ] || echo ", no training set"))"
  exit 0
fi
rm -rf .device
if [ "${1:-}" = "--tests" ]; then ../shared/tools/device/bundle.sh >/dev/null; else ../shared/tools/device/bundle.sh --data >/dev/null; fi
if [ ! -s "$cache/node.stripped.xz" ]; then
  strip -o "$cache/node.stripped" "$(readlink -f "$(command -v node)")"
  xz -9e -T0 -c "$cache/node.stripped" > "$cache/node.stripped.xz"
fi
cp "$cache/node.stripped.xz" .device/node.xz
rm -f .device/npm.tar.xz .device/t10k-*
if [ "${1:-}" = "--tests" ]; then
  tar -cf - node_modules | xz -6 -T0 > .device/node_modules.tar.xz
elif [ "${1:-}" = "--prebuilt" ]; then
  # What runs: tsx and its resolver (nested under tsx/ in some npm layouts), the runtime dependencies.
  keep=$(ls -d node_modules/{tsx,esbuild,@esbuild/linux-x64,get-tsconfig,resolve-pkg-maps,yauzl,pend,cli-progress,string-width,strip-ansi,ansi-regex,emoji-regex,is-fullwidth-code-point,pngjs,node-gyp-build} 2>/dev/null || true)
  tar -cf - $keep node_modules/.bin/tsx | xz -6 -T0 > .device/node_modules.tar.xz
fi
if [ "${1:-}" = "--prebuilt" ]; then
  prebuild=prebuilds/linux-x64/onestep-torch2.11-cu130.node
  [ -f "$prebuild" ] || { echo "no $prebuild here: build it on the GPU machine once (npm run build:native there) and bring it back" >&2; exit 1; }
  # A prebuild older than the native sources would run old code (an unknown option is ignored there).
  if [ -n "$(git status --porcelain -- native CMakeLists.txt)" ] || [ "$(stat -c %Y "$prebuild")" -lt "$(git log -1 --format=%ct -- native CMakeLists.txt)" ]; then
    echo "$prebuild is older than native/ (or native/ has uncommitted changes): pack without --prebuilt (the call builds)" >&2; exit 1
  fi
  xz -9e -T0 -c "$prebuild" > ".device/$(basename "$prebuild").xz"
fi
travels .device
