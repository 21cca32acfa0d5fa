#!/usr/bin/env bash
# The CUDA checks that need a GPU, in one command, for a machine that has one (an H200 was the
# target): builds the TypeScript, the CPU addon (for the crossover) and the CUDA addon, runs the
# CUDA test files and the CUDA benchmark, and writes everything under $OUT (default
# build/gpu-check). Sized to finish in about 8 minutes on 16 cores from a tree with node_modules
# and no build outputs. Exit status: non-zero when any phase failed (each phase still runs).
#
#   bash scripts/gpu-check.sh
#
# Without nvcc on the machine, a build/cuda/kintsugi_cuda.node already in the tree (built
# elsewhere with `npm run build:cuda`) is used as it is.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-build/gpu-check}"
mkdir -p "$OUT"
started=$SECONDS
failed=()

# phase NAME SECONDS COMMAND...: runs COMMAND with a time limit, its output in $OUT/NAME.txt.
phase() {
  local name=$1 limit=$2
  shift 2
  echo "=== $name ($((SECONDS - started)) s)" | tee -a "$OUT/summary.txt"
  timeout "$limit" "$@" >"$OUT/$name.txt" 2>&1
  local rc=$?
  tail -n 25 "$OUT/$name.txt"
  echo "--- $name: exit $rc ($((SECONDS - started)) s)" | tee -a "$OUT/summary.txt"
  [ "$rc" -eq 0 ] || failed+=("$name")
  return 0
}

: >"$OUT/summary.txt"
{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.memory,pcie.link.gen.max,pcie.link.width.max --format=csv 2>&1 || echo "nvidia-smi: not available"; } >"$OUT/gpu.txt"
cat "$OUT/gpu.txt"
echo "node $(node --version), $(nproc) CPUs" | tee -a "$OUT/summary.txt"

phase build 180 npm run build
phase build-native 240 npm run build:native
if node -e "process.exit(require('./scripts/build-cuda.cjs').findNvcc().nvcc ? 0 : 1)"; then
  phase build-cuda 300 npm run build:cuda
elif [ -f build/cuda/kintsugi_cuda.node ]; then
  echo "no nvcc here: using the build/cuda/kintsugi_cuda.node in the tree" | tee -a "$OUT/summary.txt"
else
  echo "no nvcc and no build/cuda/kintsugi_cuda.node: the CUDA addon cannot be had" | tee -a "$OUT/summary.txt"
  failed+=(build-cuda)
fi
phase probe 60 node -e "const a = require('./build/cuda/kintsugi_cuda.node'); const p = a.probe(); console.log(JSON.stringify(p, null, 1)); process.exit(p.ok ? 0 : 1)"
# The GPU suite, the device option and the host run of the CUDA kernels, the shared vectors on every backend.
phase tests 300 npx vitest run test/cuda-gpu.test.ts test/cuda.test.ts test/kernel-vectors.test.ts
phase bench 240 node --expose-gc bench/cuda.cjs
cp bench/results/cuda.json bench/results/cuda.md "$OUT/" 2>/dev/null || true

echo "=== done in $((SECONDS - started)) s; failed: ${failed[*]:-none}" | tee -a "$OUT/summary.txt"
[ "${#failed[@]}" -eq 0 ]
