// The loops of the native kernel, written once and compiled once per instruction set.
//
// Included by kernels_<isa>.cpp after it has defined KINTSUGI_TARGET (the function attribute of
// that instruction set, empty for the baseline) and `Vec`, its vector type (see scalar_ops.h
// for the operations a vector type provides). Each includer gets its own copy in an anonymous
// namespace, and every function here carries KINTSUGI_TARGET, so no translation unit is compiled
// with a whole-file -m flag and the baseline never sees a wider instruction.
#include <algorithm>
#include <cmath>

#include "element.h"
#include "table.h"

namespace kintsugi {
namespace {

// Elements [e0, e0 + len) of one variable. `ph` points at the phi of element e0 (Gild: phi
// itself, Table: the repeated table; Const: unused). Full vectors first, then the rest through
// the vector type's Tail, so an element's arithmetic depends only on where its fixed-size chunk
// starts, never on the thread that runs it. The arithmetic of one vector is fusedElements
// (element.h), which the CUDA kernel runs too.
template <class V, int B, int M>
KINTSUGI_TARGET double fusedRun(const FusedArgs& a, size_t e0, size_t len, float* ph) {
  float* th = a.theta + e0;
  const float* g = a.grad + e0;
  float* m = nullptr;
  float* v = nullptr;
  if constexpr (B != kSgd) m = a.m + e0;
  if constexpr (B == kAdam) v = a.v + e0;

  const FusedConsts<V> c = fusedConsts<V>(a);
  typename V::DAcc moved = V::dzero();

  size_t i = 0;
  for (; i + V::W <= len; i += V::W) {
    float* phi = M == int(PhiMode::Const) ? ph : ph + i;
    fusedElements<V, B, M>(c, g + i, th + i, B != kSgd ? m + i : m, B == kAdam ? v + i : v, phi, moved);
  }
  double total = V::dtotal(moved);
  if (i < len) {
    float* rest = M == int(PhiMode::Const) ? ph : ph + i;
    total += fusedRun<typename V::Tail, B, M>(a, e0 + i, len - i, rest);
  }
  return total;
}

template <class V, int B, int M>
KINTSUGI_TARGET double fusedRange(const FusedArgs& a, size_t begin, size_t end) {
  if constexpr (M == int(PhiMode::Table)) {
    // The table repeats with period a.period, so a range splits into contiguous segments.
    size_t e = begin, off = begin % a.period;
    while (e < end) {
      const size_t len = std::min(end - e, a.period - off);
      fusedRun<V, B, M>(a, e, len, a.phi + off);
      e += len;
      off = 0;
    }
    return 0;
  } else {
    return fusedRun<V, B, M>(a, begin, end - begin, M == int(PhiMode::Gild) ? a.phi + begin : nullptr);
  }
}

template <class V, int B>
KINTSUGI_TARGET double fusedByMode(const FusedArgs& a, size_t begin, size_t end) {
  switch (a.mode) {
    case PhiMode::Const: return fusedRange<V, B, int(PhiMode::Const)>(a, begin, end);
    case PhiMode::Table: return fusedRange<V, B, int(PhiMode::Table)>(a, begin, end);
    default: return fusedRange<V, B, int(PhiMode::Gild)>(a, begin, end);
  }
}

KINTSUGI_TARGET double fused(const FusedArgs& a, size_t begin, size_t end) {
  switch (a.base) {
    case kSgd: return fusedByMode<Vec, kSgd>(a, begin, end);
    case kMomentum: return fusedByMode<Vec, kMomentum>(a, begin, end);
    default: return fusedByMode<Vec, kAdam>(a, begin, end);
  }
}

// Eight float64 lanes, each summing every eighth element in order: independent chains the
// compiler may vectorize, in an order that is the same on every instruction set, so the
// pre-pass (and with it phi's normalization) is bitwise the same whichever kernel runs.
constexpr size_t kLanes = 8;

// What the pre-pass reads: g only; g and phi; g and phi with annealing. Separate loops, so the
// common cases do no work for sums nobody asked for.
template <int What>
KINTSUGI_TARGET inline void sumLanes(const float* g, const float* phi, size_t n, double gamma, double* sg,
                                     double* sp, double* sa) {
  auto add = [&](size_t j, size_t i) {
    const double ag = crackAbs(g[i]);
    sg[j] += ag;
    if constexpr (What >= 1) sp[j] += phi[i];
    if constexpr (What == 2) sa[j] += annealFactor(gamma, phi[i]) * ag;
  };
  const size_t full = n - n % kLanes;
  for (size_t i = 0; i < full; i += kLanes)
    for (size_t j = 0; j < kLanes; j++) add(j, i + j);
  for (size_t i = full; i < n; i++) add(i - full, i);
}

KINTSUGI_TARGET void sums(const float* g, const float* phi, size_t n, double gamma, Sums* out) {
  double sg[kLanes] = {}, sp[kLanes] = {}, sa[kLanes] = {};
  if (phi == nullptr) {
    sumLanes<0>(g, phi, n, gamma, sg, sp, sa);
  } else if (gamma == 0) {
    sumLanes<1>(g, phi, n, gamma, sg, sp, sa);
  } else {
    sumLanes<2>(g, phi, n, gamma, sg, sp, sa);
  }
  Sums s;
  for (size_t j = 0; j < kLanes; j++) {
    s.sumAbsG += sg[j];
    s.sumPhi += sp[j];
    s.sumAAbsG += sa[j];
  }
  // Without annealing a = 1, so sum a|g| is sum |g|.
  if (gamma == 0) s.sumAAbsG = s.sumAbsG;
  *out = s;
}

KINTSUGI_TARGET void unitSums(const float* g, size_t P, size_t rows, size_t u0, size_t u1, double* out) {
  const size_t w = u1 - u0;
  for (size_t k = 0; k < w; k++) out[k] = 0;
  for (size_t r = 0; r < rows; r++) {
    const float* row = g + r * P + u0;
    for (size_t k = 0; k < w; k++) out[k] += crackAbs(row[k]);
  }
}

const KernelTable kTable = {sums, unitSums, fused};

}  // namespace
}  // namespace kintsugi
