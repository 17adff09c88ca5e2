#!/usr/bin/env bash
# One command for a machine with an NVIDIA GPU and nvcc (see native/README.md, "GPU check"):
#   1. builds the native tests with PILLOW_CUDA=on and runs the CUDA-vs-CPU tests (test/cuda/) on
#      the real device,
#   2. builds the addon with PILLOW_CUDA=on,
#   3. checks a LlamaModel on device "cuda" against the CPU (scripts/gpu-model-check.mjs: prefill
#      logits, greedy KV-cache decode, LoRA loss and gradients, three training steps),
#   4. prints a short benchmark table (scripts/gpu-benchmark.mjs).
# Must finish within 8 minutes; each step has its own time limit.
#   bash native/scripts/gpu-check.sh            the real GPU
#   PILLOW_CUDA=emulate bash native/scripts/gpu-check.sh
#                                               a dry run without a GPU: the same steps in the
#                                               emulation build, with tiny benchmark shapes
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${PILLOW_CUDA:-on}"
case "$mode" in
  on | emulate) ;;
  *) echo "gpu-check: PILLOW_CUDA must be on (default) or emulate, got \"$mode\"" >&2; exit 2 ;;
esac
export PATH="$PATH:/usr/local/cuda/bin"
started=$(date +%s)

if [ "$mode" = on ]; then
  command -v nvcc >/dev/null || { echo "gpu-check: nvcc not found (install the CUDA toolkit or put it on PATH)" >&2; exit 1; }
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  else
    echo "gpu-check: nvidia-smi not found; continuing (the tests report whether a device answers)"
  fi
fi

echo "=== 1. CUDA-vs-CPU tests (PILLOW_CUDA=$mode)"
timeout 300 node scripts/native-tests.mjs --cuda "$mode" --only cuda_

echo "=== 2. addon build (PILLOW_CUDA=$mode)"
# The emulation shares its addon build with `pnpm test:cuda-emulated`.
build_dir="build-gpu-check"
[ "$mode" = emulate ] && build_dir="build-emulate"
timeout 240 node scripts/build.mjs --cuda "$mode" --build-dir "$build_dir"

echo "=== 3. model on device cuda vs cpu"
timeout 60 node scripts/gpu-model-check.mjs "$PWD/$build_dir/Release/pillow_native.node"

echo "=== 4. benchmark"
small=""
[ "$mode" = emulate ] && small="--small"
timeout 120 node scripts/gpu-benchmark.mjs "$PWD/$build_dir/Release/pillow_native.node" $small

echo "gpu-check: done in $(( $(date +%s) - started )) s (PILLOW_CUDA=$mode)"
