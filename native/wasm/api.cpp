// The C ABI of the WebAssembly build (scripts/build-wasm.sh -> build/wasm/kintsugi-{simd,scalar}.wasm),
// called by src/kernel/wasm.ts. It is a thin shell over kintsugi::step: the same code the native
// addon runs, compiled for wasm32. Everything crosses as plain numbers and addresses in linear
// memory; the JS side validates lengths and copies the arrays in and out.
#include <emscripten/emscripten.h>

#include <cstdint>
#include <cstdlib>
#include <vector>

#include "kintsugi/kernel.h"
#include "kintsugi/runtime.h"

namespace {

// One variable's descriptor: kDescWords uint32 words, addresses in bytes (0 for an absent m, v or
// crack; the JS side has checked a crack's granularity, length and values).
enum DescWord : uint32_t { kTheta = 0, kGrad, kPhi, kM, kV, kCrack, kN, kP, kDescWords };

// The parameters, one float64 each, in this order (KernelParams of src/kernel/types.ts).
enum ParamSlot : uint32_t {
  kGranularity = 0, kBase, kLearningRate, kGildingRate, kAnnealing, kRelativeCrack, kNormalizeMean,
  kPhiMin, kPhiMax, kMomentum, kBeta1, kBeta2, kEpsilon, kWeightDecay, kThrowOnNonFinite, kStep,
  kParamSlots
};

// Bump this when the layout above or an export changes; wasm.ts checks it.
constexpr int32_t kAbiVersion = 2;  // 2: the crack word

template <class P>
P* at(uint32_t address) {
  return address == 0 ? nullptr : reinterpret_cast<P*>(uintptr_t(address));
}

std::vector<kintsugi::Variable>& scratch() {
  static std::vector<kintsugi::Variable> vars;
  return vars;
}

}  // namespace

extern "C" {

EMSCRIPTEN_KEEPALIVE int32_t kintsugi_abi_version() { return kAbiVersion; }
EMSCRIPTEN_KEEPALIVE int32_t kintsugi_desc_words() { return kDescWords; }
EMSCRIPTEN_KEEPALIVE int32_t kintsugi_param_slots() { return kParamSlots; }

// `bytes` of memory aligned to 16 bytes, or 0 when memory cannot grow that far.
EMSCRIPTEN_KEEPALIVE void* kintsugi_alloc(uint32_t bytes) {
  const size_t rounded = (size_t(bytes) + 15) & ~size_t(15);
  return std::aligned_alloc(16, rounded == 0 ? 16 : rounded);
}

EMSCRIPTEN_KEEPALIVE void kintsugi_free(void* p) { std::free(p); }

// One step over `count` variables described at `desc`, with the parameters at `params`; writes
// skipped[count] and meanAbsDeltaPhi[count]. Returns -1, or with throwOnNonFinite the index of the
// first variable with a non-finite gradient, in which case nothing has been written (kernel.h).
// Returns -2 for a granularity or base code out of range, before anything is written.
EMSCRIPTEN_KEEPALIVE int32_t kintsugi_step(const uint32_t* desc, uint32_t count, const double* params,
                                           uint8_t* skipped, double* meanAbsDeltaPhi) {
  const double g = params[kGranularity], b = params[kBase];
  if (!(g == 0 || g == 1 || g == 2) || !(b == 0 || b == 1 || b == 2)) return -2;
  kintsugi::Params p;
  p.granularity = kintsugi::Granularity(int(g));
  p.base = kintsugi::Base(int(b));
  p.learningRate = params[kLearningRate];
  p.gildingRate = params[kGildingRate];
  p.annealing = params[kAnnealing];
  p.relativeCrack = params[kRelativeCrack] != 0;
  p.normalizeMean = params[kNormalizeMean] != 0;
  p.phiMin = params[kPhiMin];
  p.phiMax = params[kPhiMax];
  p.momentum = params[kMomentum];
  p.beta1 = params[kBeta1];
  p.beta2 = params[kBeta2];
  p.epsilon = params[kEpsilon];
  p.weightDecay = params[kWeightDecay];
  p.throwOnNonFinite = params[kThrowOnNonFinite] != 0;
  p.step = params[kStep];

  std::vector<kintsugi::Variable>& vars = scratch();
  vars.resize(count);
  for (uint32_t i = 0; i < count; i++) {
    const uint32_t* d = desc + size_t(i) * kDescWords;
    vars[i] = {at<float>(d[kTheta]), at<const float>(d[kGrad]), at<float>(d[kPhi]), at<float>(d[kM]),
               at<float>(d[kV]), size_t(d[kN]), size_t(d[kP]), at<const float>(d[kCrack])};
  }
  return int32_t(kintsugi::step(vars.data(), count, p, skipped, meanAbsDeltaPhi));
}

// The instruction set in use (kintsugi::Isa: 0 scalar, 4 wasm-simd).
EMSCRIPTEN_KEEPALIVE int32_t kintsugi_isa() { return int32_t(kintsugi::currentIsa()); }

// Testing hook: cap the instruction set (kintsugi::Isa code); returns the one now in use.
EMSCRIPTEN_KEEPALIVE int32_t kintsugi_set_isa(int32_t cap) {
  if (cap < 0 || cap > int32_t(kintsugi::Isa::WasmSimd)) return kintsugi_isa();
  return int32_t(kintsugi::capIsa(kintsugi::Isa(cap)));
}

}  // extern "C"
