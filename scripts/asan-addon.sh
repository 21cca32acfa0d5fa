#!/usr/bin/env bash
# The binding's JS tests (test/native-binding.test.ts: hostile getters, proxies, detached and
# shrunk buffers; test/native.test.ts) against the addon built with AddressSanitizer and
# UndefinedBehaviorSanitizer, so a write the checks let through is a report, not silent damage.
#
# The addon is built by node-gyp from binding.gyp in build/asan (a copy of binding.gyp and
# package.json, and a link to native/), so build/Release is left as it is. node-gyp-build loads
# it because KINTSUGI_OPTIMIZER_PREBUILD points there (node-gyp-build reads <PACKAGE NAME>_PREBUILD
# as the folder to look in). Node itself is not instrumented, so libasan is preloaded.
#
#   bash scripts/asan-addon.sh                    # the two test files
#   bash scripts/asan-addon.sh test/x.test.ts     # other test files
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=(test/native-binding.test.ts test/native.test.ts)

libasan="$(gcc -print-file-name=libasan.so)"
if [ ! -e "$libasan" ]; then
  echo "asan-addon: gcc has no libasan.so ('$libasan'); install libasan for gcc" >&2
  exit 1
fi

dir="$root/build/asan"
mkdir -p "$dir"
cp binding.gyp package.json "$dir/"
ln -sfn "$root/native" "$dir/native"

sanitize=(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all -g)
echo "asan-addon: building $dir/build/Release/kintsugi.node with ${sanitize[*]}"
(
  cd "$dir"
  export CC=gcc CXX=g++
  export CFLAGS="${sanitize[*]}" CXXFLAGS="${sanitize[*]}" LDFLAGS="-fsanitize=address,undefined"
  # The copied package.json's build:native (node-gyp configure && node-gyp build), so npm puts
  # its own node-gyp on PATH as for `npm run build:native`.
  npm run --silent build:native >/dev/null
)
addon="$dir/build/Release/kintsugi.node"
ldd "$addon" | grep -q libasan || { echo "asan-addon: $addon is not linked against libasan" >&2; exit 1; }

export KINTSUGI_OPTIMIZER_PREBUILD="$dir"
export LD_PRELOAD="$libasan"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"

# The tests must load this addon, not build/Release or a prebuild.
loaded="$(node -e "console.log(require('node-gyp-build').path('$root'))")"
[ "$loaded" = "$addon" ] || { echo "asan-addon: node-gyp-build picks $loaded, not $addon" >&2; exit 1; }
echo "asan-addon: running ${tests[*]} against $loaded"
npx vitest run "${tests[@]}"
