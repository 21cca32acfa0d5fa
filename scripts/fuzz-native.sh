#!/usr/bin/env bash
# libFuzzer over the native binding's argument checks (native/src/validate.cpp) and the kernel
# they guard: native/test/fuzz_validate.cpp, built with clang++ -fsanitize=fuzzer,address,undefined.
# Any sanitizer report, crash or abort fails the run; the corpus grows in build/fuzz/corpus (kept
# between runs), a crashing input lands in build/fuzz/.
#
#   bash scripts/fuzz-native.sh        # 60 s
#   bash scripts/fuzz-native.sh 600    # 10 min
#
# Needs clang with libFuzzer (Debian: apt-get install clang libclang-rt-dev, or -14 of both).
set -euo pipefail
seconds="${1:-60}"
case "$seconds" in ''|*[!0-9]*) echo "fuzz-native: seconds must be a whole number, got '$seconds'" >&2; exit 2 ;; esac
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

CLANGXX="${CLANGXX:-}"
if [ -z "$CLANGXX" ]; then
  for c in clang++ clang++-19 clang++-18 clang++-17 clang++-16 clang++-15 clang++-14; do
    if command -v "$c" >/dev/null 2>&1; then CLANGXX="$c"; break; fi
  done
fi
if [ -z "$CLANGXX" ]; then
  echo "fuzz-native: clang++ not found (apt-get install clang libclang-rt-14-dev, or CLANGXX=/path/to/clang++)" >&2
  exit 1
fi

out=build/fuzz
mkdir -p "$out/corpus"
sources=()
while IFS= read -r line; do
  line="${line%%#*}"; line="$(echo "$line" | tr -d '[:space:]')"
  [ -n "$line" ] && sources+=("$line")
done < native/sources.txt

echo "fuzz-native: $("$CLANGXX" --version | head -n 1)"
# -ffp-contract=off as every other build; -O1 -g for readable reports; one compile per run.
"$CLANGXX" -std=c++17 -O1 -g -ffp-contract=off -fno-omit-frame-pointer \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  -Inative/include -Inative/src \
  native/test/fuzz_validate.cpp "${sources[@]}" -lpthread -o "$out/fuzz_validate"

echo "fuzz-native: fuzzing for ${seconds} s (corpus: $out/corpus)"
# One thread in the pool: the fuzzer's arrays are far below the parallel threshold anyway.
KINTSUGI_THREADS=1 \
ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}" \
UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
  "$out/fuzz_validate" -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$out/" "$out/corpus"
