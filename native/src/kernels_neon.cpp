// NEON kernel for arm64: 4 floats per vector. NEON is part of armv8-a, so this needs no target
// attribute and no run-time check. Built only on arm64, where it is the default.
#if defined(__aarch64__)
#include <arm_neon.h>

#include "scalar_ops.h"

#define KINTSUGI_TARGET
namespace kintsugi {
namespace {

struct NeonOps {
  using T = float32x4_t;
  struct DAcc {
    float64x2_t lo, hi;
  };
  using Tail = ScalarOps<true>;
  static constexpr size_t W = 4;
  static T load(const float* p) { return vld1q_f32(p); }
  static void store(float* p, T x) { vst1q_f32(p, x); }
  static T set1(float x) { return vdupq_n_f32(x); }
  static T add(T a, T b) { return vaddq_f32(a, b); }
  static T sub(T a, T b) { return vsubq_f32(a, b); }
  static T mul(T a, T b) { return vmulq_f32(a, b); }
  static T div(T a, T b) { return vdivq_f32(a, b); }
  static T sqrt(T a) { return vsqrtq_f32(a); }
  static T abs(T a) { return vabsq_f32(a); }
  static T min(T a, T b) { return vminq_f32(a, b); }
  static T max(T a, T b) { return vmaxq_f32(a, b); }
  static T fmadd(T a, T b, T c) { return vfmaq_f32(c, a, b); }
  static DAcc dzero() { return {vdupq_n_f64(0), vdupq_n_f64(0)}; }
  static void accAbs(DAcc& acc, T x) {
    const T ax = vabsq_f32(x);
    acc.lo = vaddq_f64(acc.lo, vcvt_f64_f32(vget_low_f32(ax)));
    acc.hi = vaddq_f64(acc.hi, vcvt_high_f64_f32(ax));
  }
  static double dtotal(const DAcc& acc) {
    return vgetq_lane_f64(acc.lo, 0) + vgetq_lane_f64(acc.lo, 1) + vgetq_lane_f64(acc.hi, 0) +
           vgetq_lane_f64(acc.hi, 1);
  }
};
using Vec = NeonOps;

}  // namespace
}  // namespace kintsugi
#include "fused.inl"

namespace kintsugi {
const KernelTable& neonTable() { return kTable; }
}  // namespace kintsugi
#endif
