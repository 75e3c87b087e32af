#!/usr/bin/env bash
# The teacher pipeline on a GPU machine, in one call: the teacher-step benchmark beside PyTorch
# eager, the yardstick classifier, a teacher run, and the reference table.
#   bash bench/teacher-pipeline.sh OUTDIR [teacher-kimg] [classifier.safetensors]
# With a classifier given, it is used instead of training one; SKIP_BENCH=1 skips the benchmark;
# INIT=weights.safetensors starts the teacher from those weights (train-teacher.ts --init).
set -uo pipefail
out=${1:?output folder}
kimg=${2:-1400}
classifier=${3:-}
mkdir -p "$out"
if [ -z "${SKIP_BENCH:-}" ]; then
  python3 bench/reference/teacher_step.py 2>&1 | tail -2 | tee "$out/bench-teacher-step.txt"
  npx tsx bench/teacher-step.ts 2>&1 | tail -1 | tee -a "$out/bench-teacher-step.txt"
fi
if [ -z "$classifier" ]; then
  classifier="$out/fmnist-classifier.safetensors"
  npx tsx examples/train-classifier.ts --epochs 20 --out "$classifier" 2>&1 | tail -2 | tee "$out/classifier.txt"
fi
start=$(date +%s)
npx tsx examples/train-teacher.ts --kimg "$kimg" ${INIT:+--init "$INIT"} --out /tmp/teacher-run --report-every 100 --grid-every-kimg 100000 \
  --checkpoint-every-kimg 100000 --export "$out/fmnist32-teacher.safetensors" > "$out/teacher.txt" 2>&1
echo "teacher wall time $(( $(date +%s) - start )) s" | tee -a "$out/teacher.txt"
tail -3 "$out/teacher.txt"
cp /tmp/teacher-run/log.jsonl "$out/teacher-log.jsonl"; cp /tmp/teacher-run/grid-*.png "$out/" 2>/dev/null
npx tsx examples/evaluate.ts --teacher "$out/fmnist32-teacher.safetensors" --classifier "$classifier" \
  --json "$out/table.json" 2>&1 | tee "$out/table.txt" | tail -8
