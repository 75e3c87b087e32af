#!/usr/bin/env bash
# The foundation checks on a GPU machine, after `source .device/prelude.sh` (see
# ../shared/docs/gpu-machine.md): card and versions, clean and incremental build times, the GPU
# test suite, the DiJS quickstart on CUDA and a prebuild. Logs go to $OUT (or bench/out).
set -uo pipefail
out=${OUT:-bench/out}
mkdir -p "$out"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
  echo "cores $(nproc), $(g++ --version | head -1), cmake $(cmake --version | head -1 | cut -d' ' -f3)"
} | tee "$out/machine.txt"

TIMEFORMAT=%R
rm -rf build
clean=$( { time npx cmake-js build --out build >"$out/build.log" 2>&1; } 2>&1 ) || { tail -60 "$out/build.log"; exit 1; }
touch native/src/ops.cc
incremental=$( { time npx cmake-js build --out build >>"$out/build.log" 2>&1; } 2>&1 )
grep "onestep:" "$out/build.log"
cat build/Release/onestep.json

npm run test:gpu >"$out/test-gpu.log" 2>&1
tests=$?
grep -E "✓|×|→|Test Files|Tests |FAIL|Error" "$out/test-gpu.log" | sed 's/\x1b\[[0-9;]*m//g' | head -120
npx tsx examples/quickstart.ts --kimg 20 2>&1 | tee "$out/quickstart.log"
npx tsx bench/cpu-matmul.ts 2>&1 | tee "$out/cpu-matmul.log"
npm run prebuild >"$out/prebuild.log" 2>&1 && ls -la prebuilds/*/
# The prebuild alone (no build/): the loader must find it by its flavour name.
mv build build.hidden && npx tsx -e "import('./src/index.ts').then((m) => console.log(m.buildInfo()))" 2>&1 | head -4; mv build.hidden build
echo "clean build ${clean} s, incremental build (one .cc touched) ${incremental} s, test:gpu exit ${tests}"
exit $tests
