// Instruction-set choice: the best kernel this CPU can run, capped by KINTSUGI_ISA.
#include <atomic>
#include <cstdlib>
#include <string>

#include "cpu_features.h"
#include "kintsugi/runtime.h"
#include "table.h"

namespace kintsugi {
namespace {

// Every instruction set, in the order info() lists them.
constexpr Isa kAll[] = {Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon, Isa::WasmSimd};

[[maybe_unused]] const CpuFeatures& cpu() {  // unused where no probe exists (wasm)
  static const CpuFeatures f = probeCpu();
  return f;
}

// Order of preference, worst first; a cap keeps everything up to and including it.
int rank(Isa isa) { return isa == Isa::Scalar ? 0 : isa == Isa::Avx512 ? 2 : 1; }

Isa best(Isa cap) {
  Isa chosen = Isa::Scalar;
  for (Isa isa : kAll)
    if (isa != Isa::Scalar && isaAvailable(isa) && rank(isa) <= rank(cap)) chosen = isa;
  return chosen;
}

// The AVX-512 kernel has not yet run on AVX-512 hardware (the development machines lack it and
// qemu cannot emulate it), so automatic dispatch stops at AVX2; KINTSUGI_ISA=avx512 opts in.
constexpr Isa kDefaultCap = Isa::Avx2;

// NEON and wasm SIMD rank with AVX2 as caps: the verified best of each architecture.
Isa rankedCap(Isa cap) { return cap == Isa::Neon || cap == Isa::WasmSimd ? Isa::Avx2 : cap; }

// KINTSUGI_ISA by the rules of src/env.ts: exactly 'scalar', 'avx2', 'neon' or 'avx512'. Any
// other value means the default: JS refuses it with an error before it uses the addon, but this
// runs when the addon loads, where nothing can throw.
Isa fromEnvironment() {
  Isa cap = kDefaultCap;
#if !defined(__EMSCRIPTEN__)
  // WebAssembly has no environment of its own (reading one would import WASI's environ_get).
  const char* env = std::getenv("KINTSUGI_ISA");
  if (env != nullptr && (!parseIsa(env, &cap) || cap == Isa::WasmSimd)) cap = kDefaultCap;
#endif
  return best(rankedCap(cap));
}

std::atomic<int>& current() {
  static std::atomic<int> isa{int(fromEnvironment())};
  return isa;
}

}  // namespace

const char* isaName(Isa isa) {
  switch (isa) {
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
    case Isa::Neon: return "neon";
    case Isa::WasmSimd: return "wasm-simd";
    default: return "scalar";
  }
}

bool parseIsa(const std::string& name, Isa* out) {
  for (Isa isa : kAll) {
    if (name == isaName(isa)) {
      *out = isa;
      return true;
    }
  }
  return false;
}

bool isaAvailable(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return true;
#if defined(__x86_64__) || defined(_M_X64)
    case Isa::Avx2: return cpu().avx2Fma;
    case Isa::Avx512: return cpu().avx512f;
#endif
#if defined(__aarch64__)
    case Isa::Neon: return cpu().neon;
#endif
#if defined(__wasm_simd128__)
    case Isa::WasmSimd: return true;  // a runtime without simd128 cannot even compile this build
#endif
    default: return false;
  }
}

std::string availableIsas() {
  std::string s;
  for (Isa isa : kAll) {
    if (!isaAvailable(isa)) continue;
    if (!s.empty()) s += ',';
    s += isaName(isa);
  }
  return s;
}

Isa currentIsa() { return Isa(current().load()); }

Isa capIsa(Isa cap) {
  const Isa chosen = best(rankedCap(cap));
  current().store(int(chosen));
  return chosen;
}

const KernelTable& activeTable() {
  switch (currentIsa()) {
#if defined(__x86_64__) || defined(_M_X64)
    case Isa::Avx2: return avx2Table();
    case Isa::Avx512: return avx512Table();
#endif
#if defined(__aarch64__)
    case Isa::Neon: return neonTable();
#endif
#if defined(__wasm_simd128__)
    case Isa::WasmSimd: return wasmSimdTable();
#endif
    default: return scalarTable();
  }
}

}  // namespace kintsugi
