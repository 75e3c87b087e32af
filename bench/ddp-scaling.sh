#!/usr/bin/env bash
# Data-parallel scaling of the fused DiJS step in one GPU-machine call: one process alone
# (bench/dijs-step.ts), then NPROCS processes over NCCL (bench/dijs-ddp.ts), 256 images per GPU,
# each line with its efficiency against the one-process img/s measured just before. Extra
# options go to both benchmarks (e.g. --tf32 --cudnn-benchmark, --precision bf16). Lines also in $OUT/scaling.txt.
#   source .device/prelude.sh >/dev/null 2>&1; NPROCS="2 4" bash bench/ddp-scaling.sh --tf32 --cudnn-benchmark
source "$(dirname "$0")/gpu-call.sh"
line=$(node_modules/.bin/tsx bench/dijs-step.ts "$@" 2>&1 | grep RESULT)
echo "$line" | tee -a "$out/scaling.txt"
single=$(echo "$line" | sed -n 's/.*, \([0-9]*\) img\/s.*/\1/p')
for n in ${NPROCS:-2 4}; do
  node bin/onestep.mjs launch --nproc "$n" bench/dijs-ddp.ts "$@" --single "$single" 2>&1 | grep -E "RESULT|Error" | tee -a "$out/scaling.txt"
done
