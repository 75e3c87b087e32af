#!/usr/bin/env bash
# Loading a 220 MB float32 state dict: torch.load against onestep, in separate processes.
#   bash bench/checkpoint-load.sh [python] [--cuda]
set -euo pipefail
cd "$(dirname "$0")/.."
python=${1:-python3}
file=${TMPDIR:-/tmp}/onestep-bench-220mb.pt
# Three processes each, alternating, on a warm page cache; compare medians.
for run in 1 2 3; do
  "$python" bench/reference/torch_load.py "$file" cpu
  npx tsx bench/checkpoint-load.ts "$file"
  npx tsx bench/checkpoint-load.ts "$file" --mmap
  if [ "${2:-}" = "--cuda" ]; then
    "$python" bench/reference/torch_load.py "$file" cuda
    npx tsx bench/checkpoint-load.ts "$file" --device cuda
  fi
done
