#!/usr/bin/env bash
# Runs the built addon (and the native C++ tests, when built) under qemu-user as older x86-64
# CPUs: proves that run-time dispatch never executes an instruction the CPU lacks (a SIGILL
# would kill the run) and that the chosen path still agrees with the reference kernel.
# Needs: apt-get install -y qemu-user; npm run build and npm run build:native (or a prebuild).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(uname -m)" != x86_64 ]; then echo "qemu-check: x86-64 only; skipped"; exit 0; fi
command -v qemu-x86_64 >/dev/null || { echo "qemu-check: qemu-x86_64 missing (apt-get install -y qemu-user)"; exit 2; }
node -e "require('node-gyp-build').path('.')" 2>/dev/null || { echo "qemu-check: no addon built (npm run build:native)"; exit 2; }

# The reference kernel as npm run build compiled it (npm test builds first).
[ -f dist/kernel/reference.js ] || { echo "qemu-check: dist/ missing (npm run build)"; exit 2; }

node_bin=$(command -v node)
tests=build/native-tests/kintsugi_native_tests
# cpu model : the instruction set the addon must pick on it. qemu's TCG emulates AVX2/FMA but not
# AVX-512, so even a model that names AVX-512 must fall back to avx2: the probe must not assume.
for spec in Nehalem:scalar SandyBridge:scalar Haswell:avx2 Skylake-Server:avx2; do
  cpu=${spec%%:*}
  want=${spec##*:}
  echo "== qemu-x86_64 -cpu $cpu (expect $want)"
  qemu-x86_64 -cpu "$cpu" "$node_bin" scripts/qemu-check.cjs "$want" 2> >(grep -v "TCG doesn't support requested feature" >&2)
  if [ -x "$tests" ]; then
    qemu-x86_64 -cpu "$cpu" "$tests" 2> >(grep -v "TCG doesn't support requested feature" >&2) | tail -1
  fi
done

# Optional: the NEON kernel, cross-compiled and run under qemu-aarch64 (apt-get install -y
# g++-aarch64-linux-gnu). Runs the native C++ tests only; the addon needs an arm64 node.
if command -v aarch64-linux-gnu-g++ >/dev/null && command -v qemu-aarch64 >/dev/null; then
  echo "== qemu-aarch64: native C++ tests with the NEON kernel"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  # shellcheck disable=SC2046
  aarch64-linux-gnu-g++ -std=c++17 -O2 -ffp-contract=off -static -pthread -Inative/include \
    $(grep -v '^#' native/sources.txt) native/test/kernel_test.cpp -o "$tmp/kernel_test_arm64"
  qemu-aarch64 "$tmp/kernel_test_arm64" | tail -1
else
  echo "== arm64 check skipped (needs aarch64-linux-gnu-g++ and qemu-aarch64)"
fi
echo "qemu-check: passed"
