#!/usr/bin/env bash
# Builds the C++ kernel (native/src, the same sources as the addon) to WebAssembly, twice:
#   build/wasm/kintsugi-simd.wasm    with wasm SIMD (simd128): the WasmSimdOps kernel
#   build/wasm/kintsugi-scalar.wasm  without it: the baseline ScalarOps kernel
# Plain .wasm files with no JS glue. Their only imports, both provided by src/kernel/wasm.ts:
# env.emscripten_notify_memory_growth (a no-op) and wasi_snapshot_preview1.proc_exit, which abort()
# calls (out of memory: operator new without exceptions) and which wasm.ts turns into an error. Needs Emscripten (em++ on PATH, or EMXX=/path/to/em++).
# Run `npm run build` afterwards to embed them in dist/kernel/wasm-bytes.js.
#
#   bash scripts/build-wasm.sh          # the two kernels
#   bash scripts/build-wasm.sh --test   # also native/test/kernel_test.cpp, built both ways and
#                                       # run under Node's WASI (the C++ unit tests, in wasm)
set -euo pipefail
test_too=0
for arg in "$@"; do
  case "$arg" in
    --test) test_too=1 ;;
    *) echo "build-wasm: unknown argument '$arg' (only --test)" >&2; exit 2 ;;
  esac
done
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

EMXX="${EMXX:-}"
if [ -z "$EMXX" ]; then
  if command -v em++ >/dev/null 2>&1; then EMXX=em++
  elif command -v emcc >/dev/null 2>&1; then EMXX=emcc
  fi
fi
if [ -z "$EMXX" ] || ! command -v "$EMXX" >/dev/null 2>&1; then
  echo "build-wasm: Emscripten not found (no em++ or emcc on PATH, EMXX='${EMXX}')." >&2
  echo "build-wasm: install it (apt-get install emscripten, or emsdk: https://emscripten.org/docs/getting_started/downloads.html) and run again." >&2
  exit 1
fi

# The addon's source list (native/sources.txt), so a new kernel source reaches every backend;
# files for other architectures compile to nothing. Plus the wasm kernel and the wasm C ABI.
sources=()
while IFS= read -r line; do
  line="${line%%#*}"; line="$(echo "$line" | tr -d '[:space:]')"
  [ -n "$line" ] && sources+=("$line")
done < native/sources.txt
for extra in native/src/kernels_wasm_simd.cpp native/wasm/api.cpp; do
  case " ${sources[*]} " in *" $extra "*) ;; *) sources+=("$extra") ;; esac
done

exports=_kintsugi_abi_version,_kintsugi_desc_words,_kintsugi_param_slots,_kintsugi_alloc,_kintsugi_free,_kintsugi_step,_kintsugi_isa,_kintsugi_set_isa

# -ffp-contract=off: the code, not the compiler, decides where a multiply and an add fuse (and
# simd128 has no FMA: both builds round every multiply and add). No exceptions, no threads, no
# filesystem; memory grows up to 4 GiB (wasm32).
common=(
  -O3 -std=c++17 -ffp-contract=off -fno-exceptions -fno-rtti -Wall -Wextra
  -DNDEBUG -Inative/include -Inative/src
  --no-entry -sSTANDALONE_WASM=1
  -sEXPORTED_FUNCTIONS="$exports"
  -sALLOW_MEMORY_GROWTH=1 -sINITIAL_MEMORY=2MB -sMAXIMUM_MEMORY=4GB -sTOTAL_STACK=256KB
  -sMALLOC=emmalloc -sFILESYSTEM=0 -sASSERTIONS=0
)

mkdir -p build/wasm
echo "build-wasm: $("$EMXX" --version | head -n 1)"
echo "build-wasm: sources: ${sources[*]}"
"$EMXX" "${common[@]}" -msimd128 "${sources[@]}" -o build/wasm/kintsugi-simd.wasm
"$EMXX" "${common[@]}" "${sources[@]}" -o build/wasm/kintsugi-scalar.wasm

# Check what a runtime will see: the exports and the two imports.
node - <<'NODE'
const fs = require('fs');
for (const name of ['simd', 'scalar']) {
  const file = `build/wasm/kintsugi-${name}.wasm`;
  const bytes = fs.readFileSync(file);
  const mod = new WebAssembly.Module(bytes);
  const imports = WebAssembly.Module.imports(mod).map((i) => `${i.module}.${i.name}`);
  const exports = WebAssembly.Module.exports(mod).map((e) => e.name);
  const provided = ['env.emscripten_notify_memory_growth', 'wasi_snapshot_preview1.proc_exit'];
  const extra = imports.filter((i) => !provided.includes(i));
  if (extra.length) throw new Error(`${file} imports ${extra.join(', ')}: src/kernel/wasm.ts provides only ${provided.join(', ')}`);
  for (const e of ['memory', 'kintsugi_step', 'kintsugi_alloc', 'kintsugi_free']) {
    if (!exports.includes(e)) throw new Error(`${file} does not export ${e}`);
  }
  console.log(`build-wasm: ${file}  ${bytes.length} bytes`);
}
NODE

[ "$test_too" = 1 ] || exit 0

# The C++ unit tests, compiled as WASI programs with the same flags (less the exports), run by
# Node's WASI. Threads requested by the tests run serially here (pool.cpp), and must agree bitwise.
tests=()
for s in "${sources[@]}"; do [ "$s" != native/wasm/api.cpp ] && tests+=("$s"); done
tests+=(native/test/kernel_test.cpp)
test_flags=(
  -O2 -std=c++17 -ffp-contract=off -Wall -Wextra -Inative/include -Inative/src -Inative/test
  -sSTANDALONE_WASM=1 -sALLOW_MEMORY_GROWTH=1 -sMAXIMUM_MEMORY=4GB
)
"$EMXX" "${test_flags[@]}" -msimd128 "${tests[@]}" -o build/wasm/kernel_test-simd.wasm
"$EMXX" "${test_flags[@]}" "${tests[@]}" -o build/wasm/kernel_test-scalar.wasm
for name in simd scalar; do
  echo "build-wasm: running build/wasm/kernel_test-$name.wasm"
  node --no-warnings - "build/wasm/kernel_test-$name.wasm" <<'NODE'
const { WASI } = require('node:wasi');
const fs = require('fs');
const wasi = new WASI({ version: 'preview1', args: ['kernel_test'], env: {}, returnOnExit: true });
const mod = new WebAssembly.Module(fs.readFileSync(process.argv[2]));
const instance = new WebAssembly.Instance(mod, {
  wasi_snapshot_preview1: wasi.wasiImport,
  env: { emscripten_notify_memory_growth() {} },
});
process.exitCode = wasi.start(instance);
NODE
done
