#!/usr/bin/env bash
# Two DiJS runs side by side on a two-GPU machine, one per GPU, for a one-factor comparison in one
# call: A and B hold each run's extra train-dijs.ts options. Each dumps 10 k EMA samples every
# 400 kimg and at the end (8-bit, xz, ≤ 4 files per run with one verifier σ); logs, curves and
# the last grids come back in runs.tgz. Measure the dumps here: npx tsx examples/evaluate.ts --samples …
#   source .device/prelude.sh >/dev/null 2>&1; A="--lr-d 2e-4" B="--lr-d 6e-4" MAXS=470 bash bench/dijs-pair.sh
source "$(dirname "$0")/gpu-call.sh"
mkdir -p runs
train() {
  local name=$1 gpu=$2; shift 2
  CUDA_VISIBLE_DEVICES=$gpu node_modules/.bin/tsx examples/train-dijs.ts --device cuda --kimg 5000 --max-seconds "${MAXS:-470}" \
    --out "runs/$name" --no-eval --dump-samples 10000 --dump-every-kimg 400 --grid-every-kimg 200 --checkpoint-every-kimg 100000 \
    "$@" > "runs/$name.txt" 2>&1
}
# shellcheck disable=SC2086  # A and B are option lists
train a 0 ${A:-} & train b 1 ${B:-} & wait
for r in a b; do
  echo "== $r: ${r/a/${A:-}}"; sed 's/\r/\n/g' "runs/$r.txt" | grep -v "^\s*$" | grep -v "|" | tail -4
  ( cd "runs/$r" && for f in samples*.safetensors; do xz -6 -T0 -c "$f" > "$out/$r-$f.xz"; done )
done
( cd runs && tar czf "$out/runs.tgz" a.txt b.txt a/log.jsonl b/log.jsonl a/*.svg b/*.svg $(ls a/grid-*.png | tail -1) $(ls b/grid-*.png | tail -1) )
ls -la "$out"
