// The vector-type interface of fused.inl, one lane wide. Every instruction set's vector type
// provides the same members; this one is also the tail of the wider ones.
#pragma once
#include <cmath>
#include <cstddef>

namespace kintsugi {

// Fuse: whether fmadd rounds once (the FMA instruction) or twice (the baseline, which has no FMA
// and must not call a slow software fma).
template <bool Fuse>
struct ScalarOps {
  using T = float;
  using DAcc = double;
  using Tail = ScalarOps;
  static constexpr size_t W = 1;
  static T load(const float* p) { return *p; }
  static void store(float* p, T x) { *p = x; }
  static T set1(float x) { return x; }
  static T add(T a, T b) { return a + b; }
  static T sub(T a, T b) { return a - b; }
  static T mul(T a, T b) { return a * b; }
  static T div(T a, T b) { return a / b; }
  static T sqrt(T a) { return std::sqrt(a); }
  static T abs(T a) { return std::fabs(a); }
  // Operand order as the SSE/AVX min and max instructions: a NaN in `a` yields `b`.
  static T min(T a, T b) { return a < b ? a : b; }
  static T max(T a, T b) { return a > b ? a : b; }
  static T fmadd(T a, T b, T c) {
    if constexpr (Fuse) return __builtin_fmaf(a, b, c);
    else return a * b + c;
  }
  static DAcc dzero() { return 0.0; }
  static void accAbs(DAcc& acc, T x) { acc += std::fabs(double(x)); }
  static double dtotal(const DAcc& acc) { return acc; }
};

}  // namespace kintsugi
