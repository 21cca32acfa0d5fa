// WebAssembly SIMD kernel (simd128): 4 floats per v128. Compiled only into the wasm build made
// with -msimd128 (scripts/build-wasm.sh); a runtime without simd128 loads the scalar build instead,
// so this needs no target attribute and no run-time check.
//
// simd128 has no fused multiply-add (that is relaxed-simd), so fmadd is a multiply and an add,
// each rounded, exactly as the baseline ScalarOps<false>; the tail uses ScalarOps<false> too.
// Every lane operation (add, sub, mul, div, sqrt, abs, and min/max below) is the IEEE operation
// the scalar kernel performs, so theta, phi, m and v are bitwise those of the scalar wasm build;
// only meanAbsDeltaPhi's float64 sum is kept in four lanes, as NEON keeps it.
#if defined(__wasm_simd128__)
#include <wasm_simd128.h>

#include "scalar_ops.h"

#define KINTSUGI_TARGET
namespace kintsugi {
namespace {

struct WasmSimdOps {
  using T = v128_t;
  struct DAcc {
    v128_t lo, hi;  // f64x2 each: lanes 0-1 and 2-3
  };
  using Tail = ScalarOps<false>;
  static constexpr size_t W = 4;
  static T load(const float* p) { return wasm_v128_load(p); }
  static void store(float* p, T x) { wasm_v128_store(p, x); }
  static T set1(float x) { return wasm_f32x4_splat(x); }
  static T add(T a, T b) { return wasm_f32x4_add(a, b); }
  static T sub(T a, T b) { return wasm_f32x4_sub(a, b); }
  static T mul(T a, T b) { return wasm_f32x4_mul(a, b); }
  static T div(T a, T b) { return wasm_f32x4_div(a, b); }
  static T sqrt(T a) { return wasm_f32x4_sqrt(a); }
  static T abs(T a) { return wasm_f32x4_abs(a); }
  // The SSE operand order of ScalarOps: min(a, b) = a < b ? a : b, so a NaN in `a` yields `b`.
  // pmin(x, y) is y < x ? y : x and pmax(x, y) is x < y ? y : x, hence the swapped operands.
  // (f32x4.min/max propagate NaN and order -0 below +0, which the scalar kernel does not.)
  static T min(T a, T b) { return wasm_f32x4_pmin(b, a); }
  static T max(T a, T b) { return wasm_f32x4_pmax(b, a); }
  static T fmadd(T a, T b, T c) { return wasm_f32x4_add(wasm_f32x4_mul(a, b), c); }
  static DAcc dzero() { return {wasm_f64x2_splat(0.0), wasm_f64x2_splat(0.0)}; }
  static void accAbs(DAcc& acc, T x) {
    const T ax = wasm_f32x4_abs(x);
    acc.lo = wasm_f64x2_add(acc.lo, wasm_f64x2_promote_low_f32x4(ax));
    acc.hi = wasm_f64x2_add(acc.hi, wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(ax, ax, 2, 3, 2, 3)));
  }
  static double dtotal(const DAcc& acc) {
    return wasm_f64x2_extract_lane(acc.lo, 0) + wasm_f64x2_extract_lane(acc.lo, 1) +
           wasm_f64x2_extract_lane(acc.hi, 0) + wasm_f64x2_extract_lane(acc.hi, 1);
  }
};
using Vec = WasmSimdOps;

}  // namespace
}  // namespace kintsugi
#include "fused.inl"

namespace kintsugi {
const KernelTable& wasmSimdTable() { return kTable; }
}  // namespace kintsugi
#endif
