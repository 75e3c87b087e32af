#!/usr/bin/env bash
# Issue 6's table in one GPU-machine call: the fused DiJS step (fmnist32 at 256, cifar10-ddpmpp at
# 128) plain and fast (bf16 + CUDA graph), each with libtorch's GroupNorm/SiLU (--no-fused) and
# with onestep's fused kernels, beside PyTorch eager and torch.compile of the same step; the
# teacher step; 10 k one-step samples; a kernel trace of the fastest step summarised by kind.
# TF32 and cuDNN autotuning on both sides. Pack with
# `bash bench/pack-device.sh --tests` (or the default pack), then on the GPU machine:
#   source .device/prelude.sh >/dev/null 2>&1; bash bench/fast-step.sh
# PARTS picks sections (default all): profile fmnist cifar teacher sample compile (compile last:
# torch.compile takes minutes to compile). Rows go to $out/fast-step.txt as they are measured.
source "$(dirname "$0")/gpu-call.sh"
t="node_modules/.bin/tsx"
flags="--tf32 --cudnn-benchmark"
parts=" ${PARTS:-profile fmnist cifar teacher sample compile} "
has() { [[ "$parts" == *" $1 "* ]]; }
fast="--precision bf16 --cuda-graph"
if has profile; then
  $t bench/dijs-profile.ts $flags $fast --iterations 3 --out /tmp/trace-fast.json > /dev/null 2>&1 &&
    python3 bench/reference/trace_summary.py /tmp/trace-fast.json --steps 3 --top 12 > "$out/profile-fast.txt" 2>&1
fi
{
  if has fmnist; then
    for v in "--no-fused" "" "$fast --no-fused" "$fast"; do
      $t bench/dijs-step.ts $flags $v 2>&1 | grep -E "RESULT|Error"
    done
    python3 bench/reference/dijs_step.py --tf32 --benchmark --steps 30 2>&1 | grep -E "RESULT|Error"
  fi
  if has cifar; then
    for v in "--no-fused" "$fast --no-fused" "$fast"; do
      $t bench/dijs-step.ts --preset cifar10-ddpmpp --batch 128 --calls 4 --iterations 5 $flags $v 2>&1 | grep -E "RESULT|Error"
    done
    python3 bench/reference/dijs_step.py --preset cifar10 --batch 128 --tf32 --benchmark --steps 15 2>&1 | grep -E "RESULT|Error"
  fi
  if has teacher; then
    for v in "--no-fused" "--precision bf16 --no-fused" "--precision bf16"; do $t bench/teacher-step.ts $flags $v 2>&1 | grep -E "RESULT|Error"; done
    python3 bench/reference/teacher_step.py --tf32 --benchmark --steps 30 2>&1 | grep -E "RESULT|Error"
  fi
  has sample && $t bench/sample-speed.ts $flags 2>&1 | grep -E "RESULT|Error"
  has compile && python3 bench/reference/dijs_step.py --tf32 --benchmark --compile --steps 30 2>&1 | grep -E "RESULT|Error"
} | tee -a "$out/fast-step.txt"
