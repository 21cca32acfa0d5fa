// AVX-512F kernel: 16 floats per vector, AVX512F instructions only (no DQ/BW/VL), so it runs on
// every AVX-512 CPU. Per-function target attributes, as in kernels_avx2.cpp.
#if defined(__x86_64__) || defined(_M_X64)
// GCC 12 warns inside its own avx512fintrin.h (the _mm512_undefined_* idiom); not our code.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "scalar_ops.h"

#define KINTSUGI_TARGET __attribute__((target("avx512f,avx2,fma")))
namespace kintsugi {
namespace {

struct Avx512Ops {
  using T = __m512;
  struct DAcc {
    __m512d lo, hi;
  };
  using Tail = ScalarOps<true>;
  static constexpr size_t W = 16;
  KINTSUGI_TARGET static T load(const float* p) { return _mm512_loadu_ps(p); }
  KINTSUGI_TARGET static void store(float* p, T x) { _mm512_storeu_ps(p, x); }
  KINTSUGI_TARGET static T set1(float x) { return _mm512_set1_ps(x); }
  KINTSUGI_TARGET static T add(T a, T b) { return _mm512_add_ps(a, b); }
  KINTSUGI_TARGET static T sub(T a, T b) { return _mm512_sub_ps(a, b); }
  KINTSUGI_TARGET static T mul(T a, T b) { return _mm512_mul_ps(a, b); }
  KINTSUGI_TARGET static T div(T a, T b) { return _mm512_div_ps(a, b); }
  KINTSUGI_TARGET static T sqrt(T a) { return _mm512_sqrt_ps(a); }
  KINTSUGI_TARGET static T abs(T a) {
    return _mm512_castsi512_ps(_mm512_and_epi32(_mm512_castps_si512(a), _mm512_set1_epi32(0x7fffffff)));
  }
  KINTSUGI_TARGET static T min(T a, T b) { return _mm512_min_ps(a, b); }
  KINTSUGI_TARGET static T max(T a, T b) { return _mm512_max_ps(a, b); }
  KINTSUGI_TARGET static T fmadd(T a, T b, T c) { return _mm512_fmadd_ps(a, b, c); }
  KINTSUGI_TARGET static DAcc dzero() { return {_mm512_setzero_pd(), _mm512_setzero_pd()}; }
  KINTSUGI_TARGET static void accAbs(DAcc& acc, T x) {
    const T ax = abs(x);
    const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(ax), 1));
    acc.lo = _mm512_add_pd(acc.lo, _mm512_cvtps_pd(_mm512_castps512_ps256(ax)));
    acc.hi = _mm512_add_pd(acc.hi, _mm512_cvtps_pd(hi));
  }
  KINTSUGI_TARGET static double dtotal(const DAcc& acc) {
    alignas(64) double lanes[16];
    _mm512_store_pd(lanes, acc.lo);
    _mm512_store_pd(lanes + 8, acc.hi);
    double s = 0;
    for (double x : lanes) s += x;
    return s;
  }
};
using Vec = Avx512Ops;

}  // namespace
}  // namespace kintsugi
#include "fused.inl"

namespace kintsugi {
const KernelTable& avx512Table() { return kTable; }
}  // namespace kintsugi
#endif
