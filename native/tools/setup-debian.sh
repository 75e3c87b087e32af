#!/usr/bin/env bash
# Takes a fresh Debian 12 machine to a working onestep checkout: system packages, then `npm ci`
# (whose install hook builds the native addon). README's first command and .ci/run both use it.
set -euo pipefail
cd "$(dirname "$0")/../.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

packages=(
  libtorch-dev            # libtorch 1.13 (CPU): headers, libraries, TorchConfig.cmake
  python3-torch           # real PyTorch, for test fixtures written by torch itself
  libopenblas0-pthread    # fast BLAS: Debian's libtorch otherwise uses the reference BLAS (~10x slower)
  dataset-fashion-mnist   # /usr/share/datasets/fashion-mnist
  libgloo-dev             # gloo headers: libtorch's c10d Gloo backend (multi-process training on CPUs)
  cmake ninja-build g++ make ccache python3
)
echo "onestep setup: apt-get install ${packages[*]}"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${packages[@]}" \
  >/tmp/onestep-apt.log 2>&1 || { tail -40 /tmp/onestep-apt.log; exit 1; }

echo "onestep setup: npm ci (builds the native addon; log in build/install.log)"
npm ci --no-audit --no-fund
node -e "const i = require('./build/Release/onestep.json'); console.log('onestep setup: native addon built against libtorch ' + i.torch + ' (' + i.flavour + ')')"
