// The CUDA step's algorithm, written once for the GPU and for the host: the work layout, the
// bodies of every kernel, and the order in which a step runs them. native/cuda/device.cu runs
// the bodies as CUDA kernels (one thread block per call, kThreads threads); host_step.cpp runs the
// very same bodies on the CPU, block after block, which is how the CUDA path is tested on a
// machine without a GPU (native/test/cuda_host_test.cpp runs the shared kernel vectors through
// it) and how a GPU run is checked bit for bit (test/cuda-gpu.test.ts).
//
// A body is written against an executor X with two members: x.each(f) runs f(t) for every thread
// t of the block and then waits for all of them (the device's __syncthreads), and x.sync() only
// waits. Threads communicate only through memory between two each() calls, so running the
// threads one after another on the host computes exactly what the device computes, and every
// float64 sum is combined in an order fixed by the layout (per-thread strided sums, then a fixed
// tree): no atomics, no dependence on launch timing, the same bits on every run.
//
// Per-element and per-pathway arithmetic comes from native/src/element.h, shared with the CPU
// kernels. Like element.h, everything here is in an anonymous namespace: one copy per includer.
#ifndef KINTSUGI_CUDA_PIPELINE_H
#define KINTSUGI_CUDA_PIPELINE_H

#include <cstddef>
#include <cstdint>
#include <vector>

#include "element.h"

namespace kintsugi {
namespace cuda {
namespace {

constexpr int kThreads = 256;                         // threads per block, every kernel
constexpr size_t kItem = 2048;                        // elements per block of the element kernels
constexpr size_t kUnitRows = 64;                      // rows per partial sum of a unit's crack
constexpr size_t kPieceElements = size_t(1) << 20;    // a piece closes once it holds this many
constexpr size_t kAlign = 32;                         // each variable starts on a 128-byte boundary
constexpr int kPerThread = int(kItem / kThreads);     // elements per thread in an element item

// Unroll the fixed-count loops over a thread's elements on the device, so that all of their
// loads are in flight together (the step is bound by memory, not arithmetic).
#ifdef __CUDA_ARCH__
#define KINTSUGI_UNROLL _Pragma("unroll")
#else
#define KINTSUGI_UNROLL
#endif

// One variable of a step, as the kernels see it.
struct VarDesc {
  float* phi;       // its state (device memory on the GPU)
  float* m;
  float* v;
  size_t off;       // where its elements start in the step's g and theta buffers
  size_t n, P, rows;
  size_t item0, items;  // its element items
  size_t unit0;         // unit: its P crack sums in unitSums
  size_t part0;         // unit: its partial sums in unitParts, [part0 + rb P + u]
  size_t rowBlocks;     // unit: ceil(rows / kUnitRows)
};

// A block's work: elements [begin, end) of variable `var` (element items), or the flattened
// (row block, unit) indices [begin, end) of a unit variable (unit items).
struct Item {
  size_t var, begin, end;
};

// What the plan kernels derive per variable each step, read by the update and the outputs.
struct VarPlan {
  double sumAbsG, sumPhi, sumAAbsG;  // weight, layer: the pre-pass totals
  double crack;                      // layer: crack, then phi_hat
  double mad;                        // unit, layer: mean |dphi|
  float gild, scale, phiConst;       // weight: beta r and the scale; layer: the new phi
  int skip;                          // a non-finite gradient
};

// Consecutive whole variables whose copies and kernels are issued together: the copy of one
// piece overlaps the kernels of the previous one.
struct Piece {
  size_t var0, var1, item0, item1, unitItem0, unitItem1, off0, off1;
};

// Everything a kernel reads, passed by value.
struct StepArgs {
  const VarDesc* vars;
  const Item* items;
  const Item* unitItems;
  const float* g;
  float* theta;
  double* itemSums;   // 3 per element item (weight, layer)
  double* itemMoved;  // 1 per element item (weight)
  double* unitParts;
  double* unitSums;
  VarPlan* plan;
  long long* throwIndex;  // -1, or the first variable with a non-finite gradient (nonFinite 'throw')
  uint8_t* skippedOut;
  double* madOut;
  size_t count;
  Params p;
  FusedArgs f;  // fusedArgsOf(p): the update's constants
};

// The layout of one step: where each variable's elements sit, the work items and the pieces.
// It depends only on the variables' sizes and the granularity, so a step over the same
// variables reuses it.
struct Layout {
  std::vector<VarDesc> vars;
  std::vector<Item> items, unitItems;
  std::vector<Piece> pieces;
  size_t elements = 0, unitSums = 0, unitParts = 0;
};

inline Layout buildLayout(const size_t* n, const size_t* P, size_t count, Granularity granularity) {
  Layout L;
  const bool unit = granularity == Granularity::Unit;
  Piece piece{};
  for (size_t i = 0; i < count; i++) {
    VarDesc d{};
    d.off = (L.elements + kAlign - 1) / kAlign * kAlign;
    d.n = n[i];
    d.P = P[i];
    d.rows = d.P > 0 ? d.n / d.P : 0;
    d.item0 = L.items.size();
    for (size_t b = 0; b < d.n; b += kItem) L.items.push_back({i, b, b + kItem < d.n ? b + kItem : d.n});
    d.items = L.items.size() - d.item0;
    if (unit) {
      d.unit0 = L.unitSums;
      d.part0 = L.unitParts;
      d.rowBlocks = (d.rows + kUnitRows - 1) / kUnitRows;
      const size_t parts = d.rowBlocks * d.P;
      for (size_t b = 0; b < parts; b += kThreads) L.unitItems.push_back({i, b, b + kThreads < parts ? b + kThreads : parts});
      L.unitSums += d.P;
      L.unitParts += parts;
    }
    L.elements = d.off + d.n;
    L.vars.push_back(d);
    if (i + 1 == count || L.elements - piece.off0 >= kPieceElements) {
      piece.var1 = i + 1;
      piece.item1 = L.items.size();
      piece.unitItem1 = L.unitItems.size();
      piece.off1 = L.elements;
      L.pieces.push_back(piece);
      piece = {i + 1, i + 1, L.items.size(), L.items.size(), L.unitItems.size(), L.unitItems.size(), L.elements, L.elements};
    }
  }
  return L;
}

// ---------------------------------------------------------------------------------------------
// Bodies. `s` is the block's scratch: 3 kThreads doubles (shared memory on the device).

// s[k kThreads] = the sum of s[k kThreads + t] over t, for k < lanes, halving in a fixed order.
template <class X>
KINTSUGI_HD void treeSum(X& x, double* s, int lanes) {
  for (int w = kThreads / 2; w > 0; w >>= 1) {
    x.each([&](int t) {
      if (t < w)
        for (int k = 0; k < lanes; k++) s[k * kThreads + t] += s[k * kThreads + t + w];
    });
  }
}

// Pre-pass of weight and layer, one element item: sum |g| (and, for weight with mean
// normalization, sum phi and sum a|g|), into itemSums.
template <class X>
KINTSUGI_HD void reduceItem(X& x, const StepArgs& a, size_t item, double* s) {
  const Item it = a.items[item];
  const VarDesc d = a.vars[it.var];
  const bool phiSums = a.p.granularity == Granularity::Weight && a.p.normalizeMean;
  const double gamma = a.p.annealing;
  x.each([&](int t) {
    double sg = 0, sp = 0, sa = 0;
    KINTSUGI_UNROLL
    for (int j = 0; j < kPerThread; j++) {
      const size_t e = it.begin + size_t(t) + size_t(j) * kThreads;
      if (e >= it.end) continue;
      const double ag = crackAbs(a.g[d.off + e]);
      sg += ag;
      if (phiSums) {
        sp += d.phi[e];
        if (gamma != 0) sa += annealFactor(gamma, d.phi[e]) * ag;
      }
    }
    s[t] = sg;
    s[kThreads + t] = sp;
    s[2 * kThreads + t] = sa;
  });
  treeSum(x, s, 3);
  x.each([&](int t) {
    if (t == 0)
      for (int k = 0; k < 3; k++) a.itemSums[3 * item + k] = s[k * kThreads];
  });
}

// Pre-pass of unit, one unit item: per (row block, unit), the sum of |g| over the block's rows
// in row order, into unitParts.
template <class X>
KINTSUGI_HD void reduceUnitItem(X& x, const StepArgs& a, size_t item) {
  const Item it = a.unitItems[item];
  const VarDesc d = a.vars[it.var];
  x.each([&](int t) {
    const size_t idx = it.begin + size_t(t);
    if (idx >= it.end) return;
    const size_t rb = idx / d.P, u = idx % d.P;
    const size_t r1 = (rb + 1) * kUnitRows < d.rows ? (rb + 1) * kUnitRows : d.rows;
    double sum = 0;
    for (size_t r = rb * kUnitRows; r < r1; r++) sum += crackAbs(a.g[d.off + r * d.P + u]);
    a.unitParts[d.part0 + idx] = sum;
  });
}

// Plan, first half, one variable: its crack sums (unit: per unit, over its row blocks in
// order) and whether its gradient is finite.
template <class X>
KINTSUGI_HD void planTotals(X& x, const StepArgs& a, size_t i, double* s) {
  const VarDesc d = a.vars[i];
  VarPlan& pl = a.plan[i];
  if (a.p.granularity == Granularity::Unit) {
    x.each([&](int t) {
      double bad = 0;
      for (size_t u = size_t(t); u < d.P; u += kThreads) {
        double sum = 0;
        for (size_t rb = 0; rb < d.rowBlocks; rb++) sum += a.unitParts[d.part0 + rb * d.P + u];
        a.unitSums[d.unit0 + u] = sum;
        if (!finiteValue(sum)) bad = 1;
      }
      s[t] = bad;
    });
    treeSum(x, s, 1);
    x.each([&](int t) {
      if (t == 0) {
        pl.skip = s[0] > 0;
        pl.mad = 0;
      }
    });
    return;
  }
  x.each([&](int t) {
    double sg = 0, sp = 0, sa = 0;
    for (size_t k = size_t(t); k < d.items; k += kThreads) {
      const double* q = a.itemSums + 3 * (d.item0 + k);
      sg += q[0];
      sp += q[1];
      sa += q[2];
    }
    s[t] = sg;
    s[kThreads + t] = sp;
    s[2 * kThreads + t] = sa;
  });
  treeSum(x, s, 3);
  x.each([&](int t) {
    if (t == 0) {
      pl.sumAbsG = s[0];
      pl.sumPhi = s[kThreads];
      // Without annealing a = 1, so sum a|g| is sum |g|.
      pl.sumAAbsG = a.p.annealing == 0 ? s[0] : s[2 * kThreads];
      pl.skip = !finiteValue(s[0]);
      pl.mad = 0;
    }
  });
}

// Plan, second half, one variable that steps: weight's gild factor and scale; unit's gilding,
// normalization and clamp of its P pathways (writing phi).
template <class X>
KINTSUGI_HD void planGild(X& x, const StepArgs& a, size_t i, double* s) {
  const VarDesc d = a.vars[i];
  VarPlan& pl = a.plan[i];
  const Params& p = a.p;
  if (*a.throwIndex >= 0 || pl.skip) return;
  if (p.granularity == Granularity::Weight) {
    x.each([&](int t) {
      if (t != 0) return;
      const WeightGild w = weightGild(d.P, pl.sumAbsG, pl.sumPhi, pl.sumAAbsG, p);
      pl.gild = w.gild;
      pl.scale = w.scale;
    });
    return;
  }
  if (p.granularity != Granularity::Unit) return;
  double* c = a.unitSums + d.unit0;  // the crack of each unit, then its phi_hat
  x.each([&](int t) {
    double sum = 0;
    for (size_t u = size_t(t); u < d.P; u += kThreads) {
      c[u] = meanCrack(c[u], d.rows);
      sum += c[u];
    }
    s[t] = sum;
  });
  if (p.relativeCrack) {
    treeSum(x, s, 1);
    const double total = s[0];
    x.sync();
    if (total > 0) {
      const double inv = relativeFactor(d.P, total);
      x.each([&](int t) {
        for (size_t u = size_t(t); u < d.P; u += kThreads) c[u] *= inv;
      });
    }
  }
  x.each([&](int t) {
    double sum = 0;
    for (size_t u = size_t(t); u < d.P; u += kThreads) {
      c[u] = gildHat(d.phi[u], c[u], p);
      sum += c[u];
    }
    s[t] = sum;
  });
  treeSum(x, s, 1);
  const double scale = normalizeScale(d.P, s[0], p);
  x.sync();
  x.each([&](int t) {
    double moved = 0;
    for (size_t u = size_t(t); u < d.P; u += kThreads) {
      const float old = d.phi[u];
      d.phi[u] = constrainPhi(c[u], scale, p);
      moved += phiMove(d.phi[u], old);
    }
    s[t] = moved;
  });
  treeSum(x, s, 1);
  x.each([&](int t) {
    if (t == 0) pl.mad = d.P > 0 ? s[0] / double(d.P) : 0;
  });
}

// One thread, after every planTotals: the first variable with a non-finite gradient under
// nonFinite 'throw'; else, for layer, the group of stepping variables gilded, normalized and
// clamped in variable order, as step.cpp does it.
template <class X>
KINTSUGI_HD void decide(X& x, const StepArgs& a) {
  x.each([&](int t) {
    if (t != 0) return;
    const Params& p = a.p;
    VarPlan* plan = a.plan;
    if (p.throwOnNonFinite) {
      for (size_t i = 0; i < a.count; i++) {
        if (plan[i].skip) {
          *a.throwIndex = (long long)i;
          return;
        }
      }
    }
    if (p.granularity != Granularity::Layer) return;
    size_t live = 0;
    double total = 0;
    for (size_t i = 0; i < a.count; i++) {
      if (plan[i].skip) continue;
      plan[i].crack = meanCrack(plan[i].sumAbsG, a.vars[i].n);
      total += plan[i].crack;
      live++;
    }
    if (p.relativeCrack && total > 0) {
      const double inv = relativeFactor(live, total);
      for (size_t i = 0; i < a.count; i++)
        if (!plan[i].skip) plan[i].crack *= inv;
    }
    double sumHat = 0;
    for (size_t i = 0; i < a.count; i++) {
      if (plan[i].skip) continue;
      plan[i].crack = gildHat(a.vars[i].phi[0], plan[i].crack, p);
      sumHat += plan[i].crack;
    }
    const double scale = normalizeScale(live, sumHat, p);
    for (size_t i = 0; i < a.count; i++) {
      if (plan[i].skip) continue;
      float* phi = a.vars[i].phi;
      const float now = constrainPhi(plan[i].crack, scale, p);
      plan[i].mad = phiMove(now, phi[0]);
      plan[i].phiConst = now;
      phi[0] = now;
    }
  });
}

// The fused update of one element item: fusedElements (element.h) for each element, with phi
// per element (weight: Gild), per unit (Table: phi[e mod P]) or per variable (layer: Const).
// Weight writes the item's sum |dphi| to itemMoved. Each thread loads all of its elements into
// registers first, updates them there, then stores them: the same operations in the same order
// as updating them in place, with every load in flight at once.
template <class V, int B, int M, class X>
KINTSUGI_HD void fusedItem(X& x, const StepArgs& a, size_t item, double* s) {
  const Item it = a.items[item];
  const VarDesc d = a.vars[it.var];
  const VarPlan pl = a.plan[it.var];
  if (*a.throwIndex >= 0 || pl.skip) return;
  FusedArgs f = a.f;
  f.gild = pl.gild;
  f.scale = pl.scale;
  f.phiConst = pl.phiConst;
  const FusedConsts<V> c = fusedConsts<V>(f);
  const float* g = a.g + d.off;
  float* theta = a.theta + d.off;
  static_assert(kItem % kThreads == 0, "an item is a whole number of elements per thread");
  x.each([&](int t) {
    typename V::DAcc moved = V::dzero();
    float lg[kPerThread] = {}, lt[kPerThread] = {}, lm[kPerThread] = {}, lv[kPerThread] = {}, lp[kPerThread] = {};
    // Table: the unit of element e, advanced without a division per element.
    size_t q = 0, stride = 0;
    if (M == int(PhiMode::Table) && d.P > 0) {
      q = (it.begin + size_t(t)) % d.P;
      stride = size_t(kThreads) % d.P;
    }
    const size_t first = it.begin + size_t(t);
    KINTSUGI_UNROLL
    for (int j = 0; j < kPerThread; j++) {
      const size_t e = first + size_t(j) * kThreads;
      if (e >= it.end) continue;
      lg[j] = g[e];
      lt[j] = theta[e];
      if (B != kSgd) lm[j] = d.m[e];
      if (B == kAdam) lv[j] = d.v[e];
      if (M == int(PhiMode::Gild)) lp[j] = d.phi[e];
      if (M == int(PhiMode::Table)) {
        lp[j] = d.phi[q];
        q += stride;
        if (q >= d.P) q -= d.P;
      }
    }
    KINTSUGI_UNROLL
    for (int j = 0; j < kPerThread; j++)
      if (first + size_t(j) * kThreads < it.end) fusedElements<V, B, M>(c, &lg[j], &lt[j], &lm[j], &lv[j], &lp[j], moved);
    KINTSUGI_UNROLL
    for (int j = 0; j < kPerThread; j++) {
      const size_t e = first + size_t(j) * kThreads;
      if (e >= it.end) continue;
      theta[e] = lt[j];
      if (B != kSgd) d.m[e] = lm[j];
      if (B == kAdam) d.v[e] = lv[j];
      if (M == int(PhiMode::Gild)) d.phi[e] = lp[j];
    }
    if (M == int(PhiMode::Gild)) s[t] = V::dtotal(moved);
  });
  if (M == int(PhiMode::Gild)) {
    treeSum(x, s, 1);
    x.each([&](int t) {
      if (t == 0) a.itemMoved[item] = s[0];
    });
  }
}

// One variable's outputs: skipped, and mean |dphi| (weight: its items' sums over P).
template <class X>
KINTSUGI_HD void finishVar(X& x, const StepArgs& a, size_t i, double* s) {
  const VarDesc d = a.vars[i];
  const VarPlan pl = a.plan[i];
  const bool weight = a.p.granularity == Granularity::Weight;
  const bool summed = weight && !pl.skip && *a.throwIndex < 0;
  if (summed) {
    x.each([&](int t) {
      double sum = 0;
      for (size_t k = size_t(t); k < d.items; k += kThreads) sum += a.itemMoved[d.item0 + k];
      s[t] = sum;
    });
    treeSum(x, s, 1);
  }
  x.each([&](int t) {
    if (t != 0) return;
    a.skippedOut[i] = pl.skip ? 1 : 0;
    a.madOut[i] = pl.skip ? 0 : !weight ? pl.mad : summed && d.P > 0 ? s[0] / double(d.P) : 0;
  });
}

// ---------------------------------------------------------------------------------------------
// The order of a step. Run provides the stages over a piece or a range of variables:
// copyIn(piece), reduce(piece), plan(var0, var1, totals, gild), decide(), fused(piece),
// finish(var0, var1), copyOut(piece), outputs(); the GPU's Run issues them on its streams, the
// host's runs them in place.
//
// With nonFinite 'skip' and weight or unit, each piece is planned and updated as soon as its
// gradients have arrived, so the copy of the next piece overlaps its kernels. With 'throw' every
// variable must be known finite before any is written, and layer normalizes across all
// variables, so those plan once after the whole pre-pass: still on the device, with no host round
// trip, one decision kernel between the pre-pass and the update.
template <class Run>
void runStep(Run& run, const Layout& L, const Params& p) {
  const bool global = p.throwOnNonFinite || p.granularity == Granularity::Layer;
  for (size_t k = 0; k < L.pieces.size(); k++) {
    const Piece& piece = L.pieces[k];
    run.copyIn(piece);
    run.reduce(piece);
    if (!global) {
      run.plan(piece.var0, piece.var1, true, true);
      run.fused(piece);
      run.finish(piece.var0, piece.var1);
      run.copyOut(piece);
    }
  }
  if (global) {
    run.plan(0, L.vars.size(), true, false);
    run.decide();
    if (p.granularity != Granularity::Layer) run.plan(0, L.vars.size(), false, true);
    for (const Piece& piece : L.pieces) {
      run.fused(piece);
      run.copyOut(piece);
    }
    run.finish(0, L.vars.size());
  }
  run.outputs();
}

}  // namespace
}  // namespace cuda
}  // namespace kintsugi

#endif  // KINTSUGI_CUDA_PIPELINE_H
