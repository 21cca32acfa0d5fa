// AVX2 + FMA kernel: 8 floats per vector. Only the functions carry the target attribute; the
// file is compiled for the baseline, so nothing here runs before dispatch has checked the CPU.
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include "scalar_ops.h"

#define KINTSUGI_TARGET __attribute__((target("avx2,fma")))
namespace kintsugi {
namespace {

struct Avx2Ops {
  using T = __m256;
  struct DAcc {
    __m256d lo, hi;
  };
  using Tail = ScalarOps<true>;
  static constexpr size_t W = 8;
  KINTSUGI_TARGET static T load(const float* p) { return _mm256_loadu_ps(p); }
  KINTSUGI_TARGET static void store(float* p, T x) { _mm256_storeu_ps(p, x); }
  KINTSUGI_TARGET static T set1(float x) { return _mm256_set1_ps(x); }
  KINTSUGI_TARGET static T add(T a, T b) { return _mm256_add_ps(a, b); }
  KINTSUGI_TARGET static T sub(T a, T b) { return _mm256_sub_ps(a, b); }
  KINTSUGI_TARGET static T mul(T a, T b) { return _mm256_mul_ps(a, b); }
  KINTSUGI_TARGET static T div(T a, T b) { return _mm256_div_ps(a, b); }
  KINTSUGI_TARGET static T sqrt(T a) { return _mm256_sqrt_ps(a); }
  KINTSUGI_TARGET static T abs(T a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
  KINTSUGI_TARGET static T min(T a, T b) { return _mm256_min_ps(a, b); }
  KINTSUGI_TARGET static T max(T a, T b) { return _mm256_max_ps(a, b); }
  KINTSUGI_TARGET static T fmadd(T a, T b, T c) { return _mm256_fmadd_ps(a, b, c); }
  KINTSUGI_TARGET static DAcc dzero() { return {_mm256_setzero_pd(), _mm256_setzero_pd()}; }
  KINTSUGI_TARGET static void accAbs(DAcc& acc, T x) {
    const T ax = abs(x);
    acc.lo = _mm256_add_pd(acc.lo, _mm256_cvtps_pd(_mm256_castps256_ps128(ax)));
    acc.hi = _mm256_add_pd(acc.hi, _mm256_cvtps_pd(_mm256_extractf128_ps(ax, 1)));
  }
  KINTSUGI_TARGET static double dtotal(const DAcc& acc) {
    alignas(32) double lanes[8];
    _mm256_store_pd(lanes, acc.lo);
    _mm256_store_pd(lanes + 4, acc.hi);
    double s = 0;
    for (double x : lanes) s += x;
    return s;
  }
};
using Vec = Avx2Ops;

}  // namespace
}  // namespace kintsugi
#include "fused.inl"

namespace kintsugi {
const KernelTable& avx2Table() { return kTable; }
}  // namespace kintsugi
#endif
