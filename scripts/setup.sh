#!/usr/bin/env bash
# Create the virtualenv: PyTorch first (the CPU wheel where there is no NVIDIA GPU, so pip does
# not pull gigabytes of CUDA packages), then storyloom with its dev/test extras.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"
TORCH_CPU_VERSION="${TORCH_CPU_VERSION:-2.13.0}"

if [ ! -x "$VENV/bin/python" ]; then
  echo "creating $VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --upgrade pip
fi
PIP=("$VENV/bin/pip" install --quiet --disable-pip-version-check)
if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo "installing PyTorch (CUDA build)"
    "${PIP[@]}" "torch>=2.4"
  else
    echo "installing PyTorch $TORCH_CPU_VERSION (CPU build)"
    "${PIP[@]}" "torch==$TORCH_CPU_VERSION"
  fi
fi
# Tested versions (constraints.txt) unless STORYLOOM_CONSTRAINTS names another file or is empty.
CONSTRAINTS="${STORYLOOM_CONSTRAINTS-constraints.txt}"
if [ -n "$CONSTRAINTS" ]; then
  PIP+=(-c "$CONSTRAINTS")
fi
echo "installing storyloom and its dev tools${CONSTRAINTS:+ (versions from $CONSTRAINTS)}"
# llama-cpp-python (dev extra: llama.cpp's server for the tests) has only a source release for
# Linux on PyPI: the first install compiles llama.cpp, later ones reuse pip's cached wheel. For
# the tests it is built lean: no multimodal library, -O1 (5.5 CPU-minutes instead of 8, under 3
# minutes on two free cores; the bundled model runs as fast). Set CMAKE_ARGS to build otherwise.
export CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF -DCMAKE_C_FLAGS_RELEASE=-O1 -DCMAKE_CXX_FLAGS_RELEASE=-O1}"
"${PIP[@]}" -e ".[dev]"
# A third-party plugin package, installed the way users install plugins (tests use it).
"${PIP[@]}" -e tests/fixtures/storyloom_dice
# The browser tests (tests/adapters/web) drive Debian's Chromium through Playwright; Playwright's
# own browser downloads are never used. Installed quietly where apt works and we are root;
# elsewhere the tests say what to install. STORYLOOM_NO_CHROMIUM=1 skips this.
if [ ! -x /usr/bin/chromium ] && [ -z "${STORYLOOM_NO_CHROMIUM:-}" ] \
   && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing Chromium for the browser tests (apt)"
  if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq \
         && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; } \
       >/dev/null 2>&1; then
    echo "warning: Chromium could not be installed; the browser tests will fail until it is" >&2
  fi
fi
echo "ready: $VENV/bin/storyloom --help"
