#!/usr/bin/env bash
# Verifier sampling on a finished run, with and without a calibrated ratio network, one GPU per job:
# for each generator of RUN (best-generator.safetensors, keepBest's snapshot, and generator.safetensors,
# the main EMA), the plain one-step FID, verifier sampling (k = K) with the run's ratio network, and
# with that network first trained on against the generator alone for each of CAL kimg
# (examples/sample.ts --calibrate, calibrateRatio), at each σ of SIGMAS and each temperature of TEMPS
# (default 1; weights exp(−d/T), 0 the arg-min of d). 10 k samples against the test images (the
# yardstick). The run's checkpoint is only read, so jobs share it. Prints a table last.
#   source .device-eval/prelude.sh >/dev/null 2>&1; BUILT=1 RUN=runs/a CAL="100 300" bash bench/verifier-calibration.sh
# GPUS (default "0 1 2 3") takes the jobs round-robin; each GPU runs its own in turn. Each calibrated
# job calibrates on its own: with several TEMPS, CAL="" (the run's network only) is the cheap sweep.
# DEVICE=cpu (with BUILT=1, N small, CAL small, DATA_LIMIT the run's --data-limit) tries it here.
source "$(dirname "$0")/gpu-call.sh"
run=${RUN:-runs/a} k=${K:-4} n=${N:-10000}
read -ra gpus <<< "${GPUS:-0 1 2 3}"
read -ra sigmas <<< "${SIGMAS:-0.05}"
read -ra cals <<< "${CAL-100 300}"  # CAL="" measures the run's network only
read -ra temps <<< "${TEMPS:-1}"
generators=()
for g in best-generator generator; do [ -f "$run/$g.safetensors" ] && generators+=("$g"); done
[ ${#generators[@]} -gt 0 ] || { echo "no generator in $run" >&2; exit 1; }
# One job per line: "<generator> <label> <sample.ts options>".
jobs=()
for g in "${generators[@]}"; do
  jobs+=("$g plain --candidates 1")
  for s in "${sigmas[@]}"; do
    for t in "${temps[@]}"; do
      v="verifier,σ$s,T$t" verify="--candidates $k --sigma-verify $s --verifier-temperature $t"
      jobs+=("$g $v,run's $verify --ratio $run/ratio.safetensors")
      for c in "${cals[@]}"; do
        jobs+=("$g $v,calibrated-${c}k $verify --calibrate $run/checkpoint.safetensors --calibrate-kimg $c${DATA_LIMIT:+ --data-limit $DATA_LIMIT}")
      done
    done
  done
done
dir=$(mktemp -d)
for i in "${!gpus[@]}"; do
  (
    for j in "${!jobs[@]}"; do
      [ $((j % ${#gpus[@]})) -eq "$i" ] || continue
      read -r g label opts <<< "${jobs[$j]}"
      # shellcheck disable=SC2086 # opts is a list of options
      CUDA_VISIBLE_DEVICES=${gpus[$i]} node_modules/.bin/tsx examples/sample.ts --device "${DEVICE:-cuda}" --generator "$run/$g.safetensors" \
        --n "$n" --seed 0 --out "$dir/$j.png" --evaluate $opts > "$dir/$j.txt" 2>&1
      echo "$g $label $(grep -E '^FID|Error|error' "$dir/$j.txt" | tail -1)" > "$dir/$j.row"
    done
  ) &
done
wait
# Every job's output, in one file (the device tool brings back 8 files at most).
tar cf "$out/verifier-calibration.tar" -C "$dir" $(cd "$dir" && ls *.txt)
echo "== verifier sampling on $run (k = $k, $n samples)"
for j in "${!jobs[@]}"; do cat "$dir/$j.row"; done
