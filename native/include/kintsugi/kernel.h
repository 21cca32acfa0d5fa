// The Kintsugi step over plain pointers and counts (ALGORITHM.md), with no N-API in it, so the
// addon and the native unit tests call exactly the same code.
#pragma once
#include <cstddef>
#include <cstdint>

namespace kintsugi {

enum class Granularity : int { Weight = 0, Unit = 1, Layer = 2 };
enum class Base : int { Sgd = 0, Momentum = 1, Adam = 2 };

// Mirrors KernelParams of src/kernel/types.ts; the caller validates ranges.
struct Params {
  Granularity granularity = Granularity::Unit;
  Base base = Base::Adam;
  double learningRate = 0.001;
  double gildingRate = 0.01;
  double annealing = 0;
  bool relativeCrack = false;
  bool normalizeMean = true;
  double phiMin = 0;
  double phiMax = 10;
  double momentum = 0.9;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double epsilon = 1e-7;
  double weightDecay = 0;
  bool throwOnNonFinite = false;
  double step = 1;
};

// One variable: n elements of theta and grad, P pathways of phi. m and v hold n elements when
// the base uses them (momentum: m; adam: m and v) and may be null otherwise. For Unit, n % P == 0.
// crack, Unit only and optional: P cracks supplied by the caller (per-example cracks), finite and
// >= 0 (the caller checks), taken instead of each unit's mean |g|; null for the kernel's own. The
// finite check reads grad either way, so a NaN gradient is still caught. Last, so that the
// aggregate initializers of callers that supply none stay valid.
struct Variable {
  float* theta;
  const float* grad;
  float* phi;
  float* m;
  float* v;
  size_t n;
  size_t P;
  const float* crack = nullptr;
};

// Runs one step over `count` variables. skipped[i] and meanAbsDeltaPhi[i] are written for every
// variable. Returns -1, or, when params.throwOnNonFinite is set, the index of the first variable
// with a non-finite gradient; in that case nothing at all has been written.
long step(const Variable* vars, size_t count, const Params& params, uint8_t* skipped,
          double* meanAbsDeltaPhi);

}  // namespace kintsugi
