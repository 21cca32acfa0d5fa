// pipeline.h's kernels run on the host (host_step.h).
#include "host_step.h"

#include <cstring>
#include <vector>

#include "pipeline.h"
#include "scalar_ops.h"

namespace kintsugi {
namespace cuda {
namespace {

// The host's executor: a block's threads one after another, each stage to the end before the next.
struct HostExec {
  template <class F>
  void each(F&& f) {
    for (int t = 0; t < kThreads; t++) f(t);
  }
  void sync() {}
};

// The GPU computes fused multiply-adds where element.h asks for one, as ScalarOps<true> does.
using HostOps = ScalarOps<true>;

// The stages of runStep on host memory: g and theta staged in buffers laid out as on the GPU.
struct HostRun {
  const Layout& L;
  const Variable* vars;
  StepArgs a;
  std::vector<float> g, theta;
  std::vector<double> itemSums, itemMoved, unitParts, unitSums;
  std::vector<VarPlan> plans;
  std::vector<uint8_t> skippedOut;
  std::vector<double> madOut;
  long long throwIndex = -1;
  double s[3 * kThreads];

  HostRun(const Layout& layout, const Variable* v, const Params& p) : L(layout), vars(v) {
    const size_t count = L.vars.size();
    g.resize(L.elements);
    theta.resize(L.elements);
    itemSums.resize(3 * L.items.size());
    itemMoved.resize(L.items.size());
    unitParts.resize(L.unitParts);
    unitSums.resize(L.unitSums);
    plans.resize(count);
    skippedOut.resize(count);
    madOut.resize(count);
    a = StepArgs{L.vars.data(), L.items.data(), L.unitItems.data(), g.data(), theta.data(), itemSums.data(),
                 itemMoved.data(), unitParts.data(), unitSums.data(), plans.data(), &throwIndex,
                 skippedOut.data(), madOut.data(), count, p, fusedArgsOf(p)};
  }

  void copyIn(const Piece& piece) {
    for (size_t i = piece.var0; i < piece.var1; i++) {
      const size_t n = vars[i].n;
      if (n == 0) continue;
      std::memcpy(&g[L.vars[i].off], vars[i].grad, n * sizeof(float));
      std::memcpy(&theta[L.vars[i].off], vars[i].theta, n * sizeof(float));
    }
  }
  void reduce(const Piece& piece) {
    HostExec x;
    if (a.p.granularity == Granularity::Unit) {
      for (size_t k = piece.unitItem0; k < piece.unitItem1; k++) reduceUnitItem(x, a, k);
    } else {
      for (size_t k = piece.item0; k < piece.item1; k++) reduceItem(x, a, k, s);
    }
  }
  void plan(size_t var0, size_t var1, bool totals, bool gild) {
    HostExec x;
    for (size_t i = var0; i < var1; i++) {
      if (totals) planTotals(x, a, i, s);
      if (gild) planGild(x, a, i, s);
    }
  }
  void decide() {
    HostExec x;
    kintsugi::cuda::decide(x, a);
  }
  void fused(const Piece& piece) {
    for (size_t k = piece.item0; k < piece.item1; k++) fusedOne(k);
  }
  void fusedOne(size_t k) {
    HostExec x;
    const int mode = a.p.granularity == Granularity::Weight ? int(PhiMode::Gild)
                     : a.p.granularity == Granularity::Unit ? int(PhiMode::Table) : int(PhiMode::Const);
    switch (a.f.base * 3 + mode) {
      case kSgd * 3 + int(PhiMode::Const): return fusedItem<HostOps, kSgd, int(PhiMode::Const)>(x, a, k, s);
      case kSgd * 3 + int(PhiMode::Table): return fusedItem<HostOps, kSgd, int(PhiMode::Table)>(x, a, k, s);
      case kSgd * 3 + int(PhiMode::Gild): return fusedItem<HostOps, kSgd, int(PhiMode::Gild)>(x, a, k, s);
      case kMomentum * 3 + int(PhiMode::Const): return fusedItem<HostOps, kMomentum, int(PhiMode::Const)>(x, a, k, s);
      case kMomentum * 3 + int(PhiMode::Table): return fusedItem<HostOps, kMomentum, int(PhiMode::Table)>(x, a, k, s);
      case kMomentum * 3 + int(PhiMode::Gild): return fusedItem<HostOps, kMomentum, int(PhiMode::Gild)>(x, a, k, s);
      case kAdam * 3 + int(PhiMode::Const): return fusedItem<HostOps, kAdam, int(PhiMode::Const)>(x, a, k, s);
      case kAdam * 3 + int(PhiMode::Table): return fusedItem<HostOps, kAdam, int(PhiMode::Table)>(x, a, k, s);
      default: return fusedItem<HostOps, kAdam, int(PhiMode::Gild)>(x, a, k, s);
    }
  }
  void finish(size_t var0, size_t var1) {
    HostExec x;
    for (size_t i = var0; i < var1; i++) finishVar(x, a, i, s);
  }
  void copyOut(const Piece&) {}  // theta goes back once the step is known not to throw
  void outputs() {}
};

}  // namespace

long hostStep(const Variable* vars, size_t count, const Params& p, uint8_t* skipped, double* meanAbsDeltaPhi) {
  std::vector<size_t> n(count), P(count);
  for (size_t i = 0; i < count; i++) {
    n[i] = vars[i].n;
    P[i] = vars[i].P;
  }
  Layout L = buildLayout(n.data(), P.data(), count, p.granularity);
  for (size_t i = 0; i < count; i++) {
    L.vars[i].phi = vars[i].phi;
    L.vars[i].m = vars[i].m;
    L.vars[i].v = vars[i].v;
  }
  HostRun run(L, vars, p);
  runStep(run, L, p);
  if (run.throwIndex >= 0) return long(run.throwIndex);
  for (size_t i = 0; i < count; i++) {
    skipped[i] = run.skippedOut[i];
    meanAbsDeltaPhi[i] = run.madOut[i];
    if (!skipped[i] && vars[i].n > 0) std::memcpy(vars[i].theta, &run.theta[L.vars[i].off], vars[i].n * sizeof(float));
  }
  return -1;
}

}  // namespace cuda
}  // namespace kintsugi
