#!/usr/bin/env bash
# DiJS runs side by side, one or two per GPU, for one-factor comparisons in one call: A, B, C, D… hold
# each run's extra train-dijs.ts options (as many runs as variables set, placed on the GPUs by GPUS).
# Each dumps 10 k EMA samples every DUMP kimg (default 400) and at the end (8-bit, xz); each run's
# new dumps, log, curves and last grid come back as one tar, <name>.tar. The device tool returns
# at most 16 MiB per file and ~64 MiB per call: ~4.7 MB per dump, so keep to 3 dumps per run with 4 runs
# (--extra-ema-kimg multiplies the dumps, one per EMA: with two extra EMAs, DUMP=0 dumps only at the end;
# DUMP=none dumps nothing, for a first call whose runs later calls measure with EVAL).
# GPUS: the GPUs the runs take, in order (default 0 1 2 …; e.g. GPUS="2 3" beside a teacher run on 0 and 1).
# A GPU may take two runs (GPUS="0 1 0 1"): each then runs at half speed, the pair as fast as one alone
# (bench/NOTES.md, eighth session), so twice the recipes fit in a call. An entry listing several GPUs
# ("0,1,2,3") runs that run data parallel over them (`onestep launch`, --batch images per GPU).
# RESUME=1 continues each run from runs/<name>/checkpoint.safetensors where the machine still has it
# (a warm machine keeps runs/ between calls: chain calls to train past the 10-minute limit).
# FROM_<X>=<run> branches run x from run <run>'s checkpoint (and log) the first time x trains, with
# X's options: those train-dijs.ts may change on resume (rates, loss, augmentation, dropout…) take
# effect, the others must repeat <run>'s. E.g. after a 4-GPU run a: RESUME=1 GPUS="0,1 2,3"
# A="$C0 --batch 512" B="$C0 --batch 512 --lr-d 5e-5" FROM_B=a (a continues beside its branch b).
# BRANCH_<X> adds options to that first call of a branch only: BRANCH_C=--reset-ratio FROM_C=a starts
# c's ratio network again from the teacher once, at the branch, not at each later call's resume.
# Measure the dumps here: npx tsx examples/evaluate.ts --samples a-samples-….safetensors,…
# EVAL=<kimg> instead measures FID on the GPU (10 k samples, every EMA) every EVAL kimg and at the end,
# and keeps each run's best snapshot (--keep-best: chosen on training images; "best" in the table),
# and dumps nothing: the machine then needs the test split and the classifier, which the first
# call's pack has no room for — on a warm machine, carry `pack-device.sh --eval` (~4 MB) instead.
# The call ends with a table of each run's FIDs. DEVICE=cpu (with BUILT=1) tries the script here.
#   source .device/prelude.sh >/dev/null 2>&1; A="--lr-d 2e-4" B="--lr-d 6e-4" MAXS=470 bash bench/dijs-sweep.sh
# MAXS (seconds of training) defaults to what is left of the call after the build, less a margin
# for starting, the last evaluation, saving and packing that grows with the runs: 60 s + 10 s per
# run (+ 30 s with EVAL). A flat 90 s lost a whole call of 8 runs to the 600 s limit before any
# checkpoint was saved (bench/NOTES.md, tenth session).
source "$(dirname "$0")/gpu-call.sh"
runs=0
for name in A B C D E F G H; do [ -n "${!name+set}" ] && runs=$((runs + 1)); done
margin=$((60 + 10 * runs)); [ -n "${EVAL:-}" ] && margin=$((margin + 30))
MAXS=${MAXS:-$(seconds_left $margin)}
echo "training for $MAXS s per run"
mkdir -p runs
start=$(mktemp)  # what is newer than this was written by this call
train() {
  local name=$1 gpu=$2; shift 2
  local resume=() at_branch=() from="FROM_${name^^}" branch="BRANCH_${name^^}"
  if [ -n "${!from:-}" ] && [ ! -f "runs/$name/checkpoint.safetensors" ]; then
    [ -f "runs/${!from}/checkpoint.safetensors" ] || { echo "$name: no runs/${!from}/checkpoint.safetensors to branch from" > "runs/$name.txt"; return; }
    mkdir -p "runs/$name" && cp "runs/${!from}/checkpoint.safetensors" "runs/${!from}/log.jsonl" "runs/$name/"
    resume=(--resume "runs/$name/checkpoint.safetensors")
    read -ra at_branch <<< "${!branch:-}"
  fi
  [ -n "${RESUME:-}" ] && [ -f "runs/$name/checkpoint.safetensors" ] && resume=(--resume "runs/$name/checkpoint.safetensors")
  local measure=(--no-eval --dump-samples 10000 --dump-every-kimg "${DUMP:-400}")
  [ "${DUMP:-}" = none ] && measure=(--no-eval)
  [ -n "${EVAL:-}" ] && measure=(--eval-every-kimg "$EVAL" --keep-best)
  local runner=(node_modules/.bin/tsx)
  # One launcher port per run, so that two data-parallel runs of one call do not meet.
  [[ $gpu == *,* ]] && runner=(node bin/onestep.mjs launch --nproc "$(tr ',' '\n' <<< "$gpu" | wc -l)" --master-port "$((29500 + ${#names[@]}))")
  CUDA_VISIBLE_DEVICES=$gpu "${runner[@]}" examples/train-dijs.ts --device "${DEVICE:-cuda}" --kimg 50000 --max-seconds "$MAXS" \
    --out "runs/$name" "${resume[@]}" "${measure[@]}" --grid-every-kimg 1000 \
    --checkpoint-every-kimg 100000 "$@" "${at_branch[@]}" > "runs/$name.txt" 2>&1
}
# The runs' folders and tars, packed in parallel (xz of 10 MB takes seconds: sequentially it outlasted a call).
pack() {
  local r=$1 dumps=()
  cd runs || return
  for f in $(find "$r" -name 'samples*.safetensors' -newer "$start" | sort); do
    xz -6 -T0 -c "$f" > "$r-$(basename "$f").xz"; dumps+=("$r-$(basename "$f").xz")
  done
  tar cf "$out/$r.tar" "$r.txt" "${dumps[@]}" "$r/log.jsonl" "$r"/*.svg "$(ls "$r"/grid-*.png | tail -1)"
}
# Each run's FIDs so far (the log keeps every call's), one line per run.
fids() {
  python3 - "$@" <<'PY'
import json, sys
for name in sys.argv[1:]:
    rows = [json.loads(line) for line in open(f'runs/{name}/log.jsonl')]
    # d train/test: the ratio network's mean logit on noised training / test images (ratioOverfit).
    # |∇d|²: the ratio network's steepness at noised training images (ratioOverfit's inputGradSq).
    overfit = lambda r: (f" d train {r['ratioLogitTrainImages']:+.3f} test {r['ratioLogitTestImages']:+.3f}" if 'ratioLogitTestImages' in r else '') + \
        (f" |∇d|² {r['ratioInputGradSqTrainImages']:.3g}" if 'ratioInputGradSqTrainImages' in r else '')
    extras = lambda r: ''.join(f", EMA {e['halfLifeKimg']:g} k {e['fid']:.2f}{' best' if e.get('best') else ''}" for e in r.get('extraEmas', []))
    # μ: the main EMA's FID mean term (fidMean; the rest of its FID is the covariance term).
    mean = lambda r: f" μ {r['fidMean']:.2f}" if 'fidMean' in r else ''
    # Three decimals: a run's last in-run evaluation and its end-of-run one can be 5 k images apart.
    points = [f"{r['kimg'] / 1000:.3f} M {r['fid']:.2f}{extras(r)} (p {r['precision']:.3f} r {r['recall']:.3f}{mean(r)}{overfit(r)}){' best' if r.get('best') else ''}" for r in rows if 'fid' in r]
    print(f"{name}: " + ('; '.join(points) or 'no FID yet'))
PY
}
names=()
read -ra gpus <<< "${GPUS:-0 1 2 3 4 5 6 7}"
for name in a b c d e f g h; do
  var=${name^^}
  [ -z "${!var+set}" ] && continue
  # shellcheck disable=SC2086  # each variable is an option list
  train "$name" "${gpus[${#names[@]}]}" ${!var} &
  names+=("$name")
done
wait
for r in "${names[@]}"; do
  var=${r^^}
  echo "== $r: ${!var}"; sed 's/\r/\n/g' "runs/$r.txt" | grep -v "^\s*$" | grep -v "|" | grep -E "done|resumed|Error" | tail -2
  pack "$r" &
done
wait
ls -la "$out"
if [ -n "${EVAL:-}" ]; then fids "${names[@]}"; fi
