// The arithmetic of a Kintsugi step, written once for every kernel that runs it: the CPU kernels
// (fused.inl, once per instruction set, and step.cpp) and the CUDA kernels (native/cuda), which
// compile it for the device with nvcc. Change a formula here and every kernel changes with it.
//
//   per element   the crack terms of the pre-pass (|g|, the annealed |g|), and the fused update:
//                 gild, normalize and clamp ϕ (weight), the sgd/momentum/adam direction, decoupled
//                 weight decay, the θ update; templated on a vector-ops type V (scalar_ops.h), so
//                 one body serves every instruction set's vectors and the GPU's scalars
//   per pathway   the float64 rules of unit and layer: mean crack, the relative factor, gild,
//                 the normalization scale, the clamp; and weight's scale from the pre-pass sums
//
// Every function is KINTSUGI_HD (__host__ __device__ under nvcc, nothing elsewhere) and uses only
// operations that round the same on both sides: IEEE add, subtract, multiply, divide and square
// root, and fused multiply-add only where V::fmadd says so. That holds under nvcc only with
// --fmad=false (native/cuda/CMakeLists.txt), which stops it fusing a*b+c in the float64 rules.
//
// Everything here sits in an anonymous namespace: each translation unit gets its own copy, the
// way fused.inl does, because an instantiation such as fusedElements<ScalarOps<true>> is compiled
// with a different target attribute (KINTSUGI_TARGET) in the AVX2, AVX-512 and NEON files and
// must never be merged across them by the linker.
#ifndef KINTSUGI_ELEMENT_H
#define KINTSUGI_ELEMENT_H

#include <math.h>

#include <cmath>
#include <cstddef>

#include "kintsugi/kernel.h"
#include "table.h"

#ifdef __CUDACC__
#define KINTSUGI_HD __host__ __device__
#else
#define KINTSUGI_HD
#endif

// The function attribute of the instruction set being compiled (fused.inl's includers define
// it); empty for the baseline, step.cpp and CUDA.
#ifndef KINTSUGI_TARGET
#define KINTSUGI_TARGET
#endif

namespace kintsugi {
namespace {

enum : int { kSgd = 0, kMomentum = 1, kAdam = 2 };

// std::max and std::min, comparison for comparison (a NaN in the second operand of kmax yields
// the first), without needing nvcc's relaxed constexpr.
KINTSUGI_HD inline double kmax(double a, double b) { return a < b ? b : a; }
KINTSUGI_HD inline double kmin(double a, double b) { return b < a ? b : a; }

KINTSUGI_HD inline bool finiteValue(double x) {
#ifdef __CUDA_ARCH__
  return isfinite(x);
#else
  return std::isfinite(x);
#endif
}

// ---------------------------------------------------------------------------------------------
// The crack pre-pass, per element, in float64.

// |g|, the element's share of its pathway's crack.
KINTSUGI_HD inline double crackAbs(float g) { return fabs(double(g)); }

// a = max(0, 1 - gamma phi): how much a pathway may still gild (annealing).
KINTSUGI_HD inline double annealFactor(double gamma, float phi) { return kmax(0.0, 1.0 - gamma * phi); }

// ---------------------------------------------------------------------------------------------
// Per pathway (unit and layer gild their few pathways in float64, as reference.ts does).

// `layer`: a variable's crack is the mean |g| of its n elements.
KINTSUGI_HD inline double meanCrack(double sumAbsG, size_t n) { return n > 0 ? sumAbsG / double(n) : 0; }

// `crack: relative`: the factor that makes a group's cracks average 1 (P / sum), or 1 when the
// group's cracks sum to zero (they stay zero).
KINTSUGI_HD inline double relativeFactor(size_t P, double sumCracks) { return sumCracks > 0 ? double(P) / sumCracks : 1; }

// hat = phi + beta max(0, 1 - gamma phi) l.
KINTSUGI_HD inline double gildHat(float phi, double crack, const Params& p) {
  const double a = annealFactor(p.annealing, phi);
  return phi + p.gildingRate * a * crack;
}

// The mean normalization's factor for a group of P pathways whose phi_hat sums to sumHat
// (1 without it, or when the sum is zero or not finite).
KINTSUGI_HD inline double normalizeScale(size_t P, double sumHat, const Params& p) {
  return p.normalizeMean && sumHat > 0 && finiteValue(sumHat) ? double(P) / sumHat : 1;
}

// The new phi: hat normalized and clamped to [phiMin, phiMax], rounded to float32.
KINTSUGI_HD inline float constrainPhi(double hat, double scale, const Params& p) {
  return float(kmin(p.phiMax, kmax(p.phiMin, hat * scale)));
}

// |phi_new - phi_old| in float64, the term of the mean |dphi| a step reports.
KINTSUGI_HD inline double phiMove(float now, float old) { return fabs(double(now) - double(old)); }

// `weight`: each variable is a group of n pathways that the update pass gilds, normalizes and
// clamps element by element. With sum phi known from the pre-pass,
// sum phi_hat = sum phi + beta r sum a|g| (r the relative factor, P / sum |g|), so the
// normalization scale is known before the update pass writes a single phi.
struct WeightGild {
  float gild;   // beta r
  float scale;  // the normalization scale
};
KINTSUGI_HD inline WeightGild weightGild(size_t P, double sumAbsG, double sumPhi, double sumAAbsG, const Params& p) {
  const double rel = p.relativeCrack && sumAbsG > 0 ? double(P) / sumAbsG : 1;
  const double sumHat = sumPhi + p.gildingRate * rel * sumAAbsG;
  return {float(p.gildingRate * rel), float(normalizeScale(P, sumHat, p))};
}

// The constants of the update pass, rounded to float32 where it uses them (host only: the CUDA
// driver computes them on the host and passes them to its kernels).
inline FusedArgs fusedArgsOf(const Params& p) {
  FusedArgs a{};
  a.base = int(p.base);
  a.lr = float(p.learningRate);
  a.wd = float(p.weightDecay);
  a.mu = float(p.momentum);
  a.b1 = float(p.beta1);
  a.omb1 = float(1 - p.beta1);
  a.b2 = float(p.beta2);
  a.omb2 = float(1 - p.beta2);
  a.ibc1 = float(1 / (1 - std::pow(p.beta1, p.step)));
  a.ibc2 = float(1 / (1 - std::pow(p.beta2, p.step)));
  a.eps = float(p.epsilon);
  a.gamma = float(p.annealing);
  a.phiMin = float(p.phiMin);
  a.phiMax = float(p.phiMax);
  a.scale = 1;
  return a;
}

// ---------------------------------------------------------------------------------------------
// The fused update, per vector of V::W elements.

// FusedArgs broadcast to V's vectors, once per run of elements.
template <class V>
struct FusedConsts {
  using T = typename V::T;
  T nlr, wd, mu, b1, omb1, b2, omb2, ibc1, ibc2, eps, phiC, gild, ngamma, scale, pmin, pmax, zero, one;
};

template <class V>
KINTSUGI_HD KINTSUGI_TARGET inline FusedConsts<V> fusedConsts(const FusedArgs& a) {
  FusedConsts<V> c;
  c.nlr = V::set1(-a.lr);
  c.wd = V::set1(a.wd);
  c.mu = V::set1(a.mu);
  c.b1 = V::set1(a.b1);
  c.omb1 = V::set1(a.omb1);
  c.b2 = V::set1(a.b2);
  c.omb2 = V::set1(a.omb2);
  c.ibc1 = V::set1(a.ibc1);
  c.ibc2 = V::set1(a.ibc2);
  c.eps = V::set1(a.eps);
  c.phiC = V::set1(a.phiConst);
  c.gild = V::set1(a.gild);
  c.ngamma = V::set1(-a.gamma);
  c.scale = V::set1(a.scale);
  c.pmin = V::set1(a.phiMin);
  c.pmax = V::set1(a.phiMax);
  c.zero = V::set1(0.0f);
  c.one = V::set1(1.0f);
  return c;
}

// One vector of elements: g, th, m, v and ph point at its first element (ph: the element's phi
// in Gild and Table mode; unused in Const mode, whose phi is c.phiC). Reads g, theta, phi, m, v
// once and writes theta, m, v (and phi in Gild mode) once; in Gild mode adds |dphi| to `moved`.
template <class V, int B, int M>
KINTSUGI_HD KINTSUGI_TARGET inline void fusedElements(const FusedConsts<V>& c, const float* g, float* th, float* m,
                                                      float* v, float* ph, typename V::DAcc& moved) {
  using T = typename V::T;
  const T gi = V::load(g);
  T p;
  if constexpr (M == int(PhiMode::Const)) {
    p = c.phiC;
  } else if constexpr (M == int(PhiMode::Table)) {
    p = V::load(ph);
  } else {
    // Gild (a = max(0, 1 - gamma phi); hat = phi + beta a l), normalize, clamp.
    const T old = V::load(ph);
    const T anneal = V::max(c.zero, V::fmadd(c.ngamma, old, c.one));
    const T hat = V::fmadd(V::mul(c.gild, anneal), V::abs(gi), old);
    p = V::min(V::max(V::mul(hat, c.scale), c.pmin), c.pmax);
    V::store(ph, p);
    V::accAbs(moved, V::sub(p, old));
  }
  T d;
  if constexpr (B == kSgd) {
    d = gi;
  } else if constexpr (B == kMomentum) {
    d = V::fmadd(c.mu, V::load(m), gi);
    V::store(m, d);
  } else {
    const T mm = V::fmadd(c.b1, V::load(m), V::mul(c.omb1, gi));
    const T vv = V::fmadd(c.b2, V::load(v), V::mul(V::mul(c.omb2, gi), gi));
    V::store(m, mm);
    V::store(v, vv);
    d = V::div(V::mul(mm, c.ibc1), V::add(V::sqrt(V::mul(vv, c.ibc2)), c.eps));
  }
  const T t = V::load(th);
  V::store(th, V::fmadd(c.nlr, V::fmadd(p, d, V::mul(c.wd, t)), t));
}

}  // namespace
}  // namespace kintsugi

#endif  // KINTSUGI_ELEMENT_H
