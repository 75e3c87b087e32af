#!/usr/bin/env bash
# One GPU-machine call that continues the shipped teacher (warm start from its EMA weights) for a
# time budget and sends back what the CPU machine needs to measure it: the new EMA weights
# (float16), 10 k samples per reference-table row (8-bit, xz), the log and the last grid.
# Measure them here with: npx tsx examples/evaluate.ts --samples teacher-0.safetensors,...
# Pack first with bash bench/pack-device.sh [--prebuilt]; then, on the GPU machine:
#   source .device/prelude.sh >/dev/null 2>&1; MAXS=400 bash bench/teacher-continue.sh [train-teacher.ts options…]
# MAXS: seconds of training (default: what is left of a 600 s call after the build and ~150 s for
# the samples: seconds_left in bench/gpu-call.sh).
# RESUME=1 continues the previous call's run (its checkpoint in /tmp/teacher-run, kept by a warm
# machine; its options come from the checkpoint) instead of starting from the shipped weights.
# Without a carried prebuild it builds first (~50 s; bench/gpu-call.sh) and returns it as onestep.node.xz
# (not with RESUME=1: the first call of a chain returned it). STEPS: the Heun rows dumped (default 18,9,4). With --extra-ema-kimg
# each extra EMA comes back too (fmnist32-teacher-ema<kimg>k.safetensors, 14 MB) with its Heun-18
# samples: with two extra EMAs pass STEPS=18 to stay within the ~64 MiB a call returns. WEIGHTS=0
# keeps the weights on the machine (only the samples come back: a chained call before the last).
source "$(dirname "$0")/gpu-call.sh"
MAXS=${MAXS:-$(seconds_left 150)}
start=(--init models/fmnist32-teacher.safetensors)
[ -n "${RESUME:-}" ] && [ -f /tmp/teacher-run/checkpoint.safetensors ] && start=(--resume /tmp/teacher-run/checkpoint.safetensors)
echo "training for $MAXS s from ${start[*]}"
rm -rf /tmp/teacher-export /tmp/teacher-samples; mkdir -p /tmp/teacher-export
# The build comes back for the next call's prebuilds/linux-x64/onestep-torch2.11-cu130.node.
[ -z "${RESUME:-}" ] && [ -f build/Release/onestep.node ] && xz -1 -T0 -c build/Release/onestep.node > "$out/onestep.node.xz"
$run examples/train-teacher.ts --device cuda "${start[@]}" --kimg 100000 \
  --max-seconds "$MAXS" --out /tmp/teacher-run --report-every 100 --grid-every-kimg 100000 --checkpoint-every-kimg 100000 \
  --export /tmp/teacher-export/fmnist32-teacher.safetensors "$@" 2>&1 | grep -v "^\s*$" | tail -4
node_modules/.bin/tsx examples/evaluate.ts --device cuda --teacher /tmp/teacher-export/fmnist32-teacher.safetensors --steps "${STEPS:-18,9,4}" --dump /tmp/teacher-samples 2>&1 | tail -4
# The Heun rows come back; the one-step row (always last) only with the default STEPS.
rows=$(ls /tmp/teacher-samples/*.safetensors | sort -V); [ -n "${STEPS:-}" ] && rows=$(echo "$rows" | head -n -1)
for f in $rows; do xz -6 -T0 -c "$f" > "$out/$(basename "$f").xz"; done
for f in /tmp/teacher-export/fmnist32-teacher-ema*k.safetensors; do
  [ -f "$f" ] || continue
  tag=$(basename "$f" .safetensors)
  node_modules/.bin/tsx examples/evaluate.ts --device cuda --teacher "$f" --steps 18 --label "${tag#fmnist32-teacher-}" --dump "/tmp/$tag" 2>&1 | head -1
  xz -6 -T0 -c "/tmp/$tag/teacher-0.safetensors" > "$out/$tag-heun18.safetensors.xz"
done
[ "${WEIGHTS:-1}" = 0 ] || cp /tmp/teacher-export/*.safetensors "$out/"
( cd /tmp/teacher-run && tar czf "$out/teacher-run.tgz" log.jsonl $(ls grid-*.png | tail -1) )
ls -la "$out"
