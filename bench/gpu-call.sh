# Sourced by the GPU-machine result scripts (dijs-pipeline.sh, dijs-sweep.sh, teacher-continue.sh):
# Node on the PATH, $out (= $OUT, what comes back), the card's name, the addon built unless a
# prebuild was carried (or BUILT=1: a command that runs two result scripts side by side builds once
# first), and $run: tsx, or with NPROC=n > 1
# `onestep launch` over n GPUs (data parallel; --batch stays per GPU), and seconds_left MARGIN:
# what is left of the device tool's 600 s call, less MARGIN, counted from CALL_START (set it with
# CALL_START=$(date +%s) at the start of a command that does other work first) or from here.
set -uo pipefail
call_start=${CALL_START:-$(date +%s)}
seconds_left() { echo $((600 - ($(date +%s) - call_start) - $1)); }
export PATH=/opt/node/bin:$PATH
out=${OUT:-bench/out}; mkdir -p "$out"
nvidia-smi --query-gpu=name --format=csv,noheader
# A prebuild packed by `pack-device.sh --prebuilt` travels compressed: unpack it where node-gyp-build looks.
for packed in .device/onestep-*.node.xz; do
  [ -f "$packed" ] && mkdir -p prebuilds/linux-x64 && xz -dc "$packed" > "prebuilds/linux-x64/$(basename "$packed" .xz)"
done
# The eval pack carries the classifier: the first call's tree had no room for it (pack-device.sh --eval).
[ -f .device-eval/fmnist-classifier.safetensors ] && [ ! -f models/fmnist-classifier.safetensors ] && cp .device-eval/fmnist-classifier.safetensors models/
if [ -z "${BUILT:-}" ] && ! ls prebuilds/linux-x64/*cu*.node >/dev/null 2>&1; then
  # The log stays off $OUT: 8 files at most come back.
  node_modules/.bin/cmake-js build --out build > /tmp/build.log 2>&1 || { tail -20 /tmp/build.log; exit 1; }
fi
run="node_modules/.bin/tsx"; [ "${NPROC:-1}" -gt 1 ] && run="node bin/onestep.mjs launch --nproc $NPROC"
