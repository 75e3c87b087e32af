#!/usr/bin/env bash
# Issue 6's table in one GPU-machine call: the fused DiJS step (fmnist32 at 256, cifar10-ddpmpp at
# 128) in each precision with and without the CUDA graph, beside PyTorch eager and torch.compile of
# the same step; the teacher step; 10 k one-step samples; kernel traces of the plain and the fast
# step summarised by kind. TF32 and cuDNN autotuning on both sides. Pack with
# `bash bench/pack-device.sh --tests` (or the default pack), then on the GPU machine:
#   source .device/prelude.sh >/dev/null 2>&1; bash bench/fast-step.sh
# PARTS picks sections (default all): profile fmnist cifar teacher sample compile (compile last:
# torch.compile takes minutes to compile).
source "$(dirname "$0")/gpu-call.sh"
t="node_modules/.bin/tsx"
flags="--tf32 --cudnn-benchmark"
parts=" ${PARTS:-profile fmnist cifar teacher sample compile} "
has() { [[ "$parts" == *" $1 "* ]]; }
if has profile; then
  for v in plain fast; do
    extra=$([ $v = fast ] && echo "--precision bf16 --cuda-graph")
    $t bench/dijs-profile.ts $flags $extra --iterations 3 --out /tmp/trace-$v.json > /dev/null 2>&1 &&
      python3 bench/reference/trace_summary.py /tmp/trace-$v.json --steps 3 --top 12 > "$out/profile-$v.txt" 2>&1
  done
fi
{
  if has fmnist; then
    for v in "" "--precision bf16-autocast" "--precision bf16" "--cuda-graph" "--precision bf16 --cuda-graph"; do
      $t bench/dijs-step.ts $flags $v 2>&1 | grep RESULT
    done
    python3 bench/reference/dijs_step.py --tf32 --benchmark --steps 30 2>&1 | grep RESULT
  fi
  if has cifar; then
    for v in "" "--precision bf16 --cuda-graph"; do
      $t bench/dijs-step.ts --preset cifar10-ddpmpp --batch 128 --calls 4 --iterations 5 $flags $v 2>&1 | grep RESULT
    done
    python3 bench/reference/dijs_step.py --preset cifar10 --batch 128 --tf32 --benchmark --steps 15 2>&1 | grep RESULT
  fi
  if has teacher; then
    for v in "" "--precision bf16"; do $t bench/teacher-step.ts $flags $v 2>&1 | grep RESULT; done
    python3 bench/reference/teacher_step.py --tf32 --benchmark --steps 30 2>&1 | grep RESULT
  fi
  has sample && $t bench/sample-speed.ts $flags 2>&1 | grep RESULT
  has compile && python3 bench/reference/dijs_step.py --tf32 --benchmark --compile --steps 30 2>&1 | grep RESULT
} | tee -a "$out/fast-step.txt"
