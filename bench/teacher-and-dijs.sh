#!/usr/bin/env bash
# One GPU-machine call (four GPUs) that does both result runs side by side: the teacher continues
# data parallel on GPUs 0 and 1 (bench/teacher-continue.sh with the options in TEACHER) while DiJS
# recipes A, B run on GPUs 2 and 3 (bench/dijs-sweep.sh). Builds once first; RESUME, WEIGHTS,
# STEPS, DUMP and MAXS pass through to both, and each keeps its own margin of the 600 s call.
#   source .device/prelude.sh >/dev/null 2>&1; TEACHER="--lr 2e-4 …" A="…" B="…" bash bench/teacher-and-dijs.sh
export CALL_START=${CALL_START:-$(date +%s)}
source "$(dirname "$0")/gpu-call.sh"
export BUILT=1
# shellcheck disable=SC2086  # TEACHER is an option list
CUDA_VISIBLE_DEVICES=0,1 NPROC=2 bash bench/teacher-continue.sh ${TEACHER:-} > /tmp/teacher.txt 2>&1 &
GPUS="2 3" bash bench/dijs-sweep.sh > /tmp/dijs.txt 2>&1 &
wait
# Both logs without the listing of $out each script ends with (it is listed once, here).
grep -hvE '^(total [0-9]|[d-][rwx-]{9} )' /tmp/teacher.txt /tmp/dijs.txt; ls -la "$out"
