#!/usr/bin/env bash
# DiJS runs side by side, one per GPU, for one-factor comparisons in one call: A, B, C, D… hold
# each run's extra train-dijs.ts options (as many runs as variables set, at most one per GPU).
# Each dumps 10 k EMA samples every DUMP kimg (default 400) and at the end (8-bit, xz); each run's
# dumps, log, curves and last grid come back as one tar, <name>.tar (keep a run's dumps under the
# device tool's 16 MiB per file: ~4.7 MB per dump). Measure the dumps here:
#   npx tsx examples/evaluate.ts --samples a-samples-….safetensors,…
#   source .device/prelude.sh >/dev/null 2>&1; A="--lr-d 2e-4" B="--lr-d 6e-4" MAXS=470 bash bench/dijs-sweep.sh
source "$(dirname "$0")/gpu-call.sh"
mkdir -p runs
train() {
  local name=$1 gpu=$2; shift 2
  CUDA_VISIBLE_DEVICES=$gpu node_modules/.bin/tsx examples/train-dijs.ts --device cuda --kimg 5000 --max-seconds "${MAXS:-470}" \
    --out "runs/$name" --no-eval --dump-samples 10000 --dump-every-kimg "${DUMP:-400}" --grid-every-kimg 200 \
    --checkpoint-every-kimg 100000 "$@" > "runs/$name.txt" 2>&1
}
names=()
gpu=0
for name in a b c d e f g h; do
  var=${name^^}
  [ -z "${!var+set}" ] && continue
  # shellcheck disable=SC2086  # each variable is an option list
  train "$name" "$gpu" ${!var} &
  names+=("$name"); gpu=$((gpu + 1))
done
wait
for r in "${names[@]}"; do
  var=${r^^}
  echo "== $r: ${!var}"; sed 's/\r/\n/g' "runs/$r.txt" | grep -v "^\s*$" | grep -v "|" | tail -3
  ( cd runs && for f in "$r"/samples*.safetensors; do xz -6 -T0 -c "$f" > "$r-$(basename "$f").xz"; done
    tar cf "$out/$r.tar" "$r".txt "$r"-samples*.xz "$r"/log.jsonl "$r"/*.svg $(ls "$r"/grid-*.png | tail -1) )
done
ls -la "$out"
