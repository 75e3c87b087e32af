# Sourced by the GPU-machine result scripts (dijs-pipeline.sh, dijs-sweep.sh, teacher-continue.sh):
# Node on the PATH, $out (= $OUT, what comes back), the card's name, the addon built unless a
# prebuild was carried, and $run: tsx, or with NPROC=n > 1
# `onestep launch` over n GPUs (data parallel; --batch stays per GPU).
set -uo pipefail
export PATH=/opt/node/bin:$PATH
out=${OUT:-bench/out}; mkdir -p "$out"
nvidia-smi --query-gpu=name --format=csv,noheader
if ! ls prebuilds/linux-x64/*cu*.node >/dev/null 2>&1; then
  # The log stays off $OUT: 8 files at most come back.
  node_modules/.bin/cmake-js build --out build > /tmp/build.log 2>&1 || { tail -20 /tmp/build.log; exit 1; }
fi
run="node_modules/.bin/tsx"; [ "${NPROC:-1}" -gt 1 ] && run="node bin/onestep.mjs launch --nproc $NPROC"
