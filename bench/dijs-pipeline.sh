#!/usr/bin/env bash
# One GPU-machine call for DiJS results: build (unless a prebuild is carried), the fused step beside
# PyTorch eager on the same card, then the longest DiJS run that fits the call, dumping 10 k EMA
# samples every 400 kimg and at the end (plus verifier samples) into $OUT, xz-compressed, with the
# log, grids and curves. Measure the dumps on a machine with the yardstick:
#   npx tsx examples/evaluate.ts --samples a.safetensors,b.safetensors
# Pack first with bash bench/pack-device.sh [--prebuilt]; then, on the GPU machine:
#   source .device/prelude.sh >/dev/null 2>&1; MAXS=420 bash bench/dijs-pipeline.sh [train-dijs.ts options…]
# MAXS: seconds of training (leave ~150 s of a 600 s call for the rest). SKIP_BENCH=1 skips the step timing.
source "$(dirname "$0")/gpu-call.sh"
if [ -z "${SKIP_BENCH:-}" ]; then
  { node_modules/.bin/tsx bench/dijs-step.ts 2>&1 | grep RESULT
    node_modules/.bin/tsx bench/dijs-step.ts --tf32 2>&1 | grep RESULT
    python3 bench/reference/dijs_step.py --tf32 --steps 30 2>&1 | grep RESULT; } | tee "$out/bench.txt"
fi
$run examples/train-dijs.ts --device cuda --kimg 5000 --max-seconds "${MAXS:-420}" --out runs/dijs --no-eval \
  --dump-samples 10000 --dump-every-kimg 400 --verifier 4 --sigma-verify 0.05,0.5 --grid-every-kimg 200 \
  --checkpoint-every-kimg 100000 "$@" 2>&1 | grep -v "^\s*$" | tail -4
# With --export runs/dijs/generator.safetensors the EMA generator (float16, ~14 MB) comes back too.
( cd runs/dijs && for f in samples*.safetensors; do xz -6 -T0 -c "$f" > "$out/$f.xz"; done
  [ -f generator.safetensors ] && cp generator.safetensors "$out/"
  tar czf "$out/dijs-run.tgz" *.png *.svg log.jsonl )
ls -la "$out"
