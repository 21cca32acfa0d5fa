// One Kintsugi step over many variables, in the stages of ALGORITHM.md (docs/algorithm.md):
//
//   crack      a pre-pass over g: per-chunk float64 sums (and per-unit sums for `unit`), which
//              double as the finite check; then the mean crack l_p of each pathway (or, for a
//              `unit` variable that brings its own, the caller's crack), made relative
//   gild       a_p = max(0, 1 - gamma phi_p), phi_hat_p = phi_p + beta a_p l_p
//   constrain  normalize phi_hat to mean 1 (`normalize: mean`), clamp to [phiMin, phiMax]
//   update     one fused pass over theta, g, phi, m, v: the base direction scaled by phi
//
// `unit` and `layer` gild and constrain their few pathways in float64 here, exactly as
// reference.ts does. `weight` has one pathway per element: its crack stage computes the
// normalization scale from the pre-pass sums, and the update pass gilds, normalizes and clamps
// each phi as it writes it.
//
// Each stage is a free function over pointers and counts. Work is cut into fixed-size chunks
// whose boundaries depend only on the sizes, and every float64 sum is combined in chunk order,
// so the result is bitwise the same for any number of threads.
#include <algorithm>
#include <cmath>
#include <vector>

#include "element.h"
#include "kintsugi/kernel.h"
#include "pool.h"
#include "table.h"

namespace kintsugi {
namespace {

constexpr size_t kUnitBlock = 256;          // units per unit pre-pass task
constexpr size_t kTablePeriod = 1024;       // unit phi tables are repeated to about this length
constexpr size_t kSerialBelow = 2 * kChunk; // smaller steps stay on the calling thread

struct Range {
  size_t var, begin, end;
};

// Runs task(t) for every range t. Consecutive small ranges are handed to the pool together, about
// kChunk elements of work per pool task: a pool task costs microseconds, so 200 variables of a few
// thousand elements ran slower on two threads than on one. Each range still writes only its own
// result slot, so grouping changes no bits.
template <class Work, class Task>
void runTasks(const std::vector<Range>& ranges, size_t elements, const Work& work, const Task& task) {
  const size_t count = ranges.size();
  if (elements < kSerialBelow) {
    for (size_t i = 0; i < count; i++) task(i);
    return;
  }
  std::vector<size_t> starts;
  starts.reserve(elements / kChunk + 2);
  size_t pending = kChunk;
  for (size_t i = 0; i < count; i++) {
    if (pending >= kChunk) starts.push_back(i), pending = 0;
    pending += work(ranges[i]);
  }
  starts.push_back(count);
  parallelFor(starts.size() - 1, [&](size_t g) {
    for (size_t i = starts[g]; i < starts[g + 1]; i++) task(i);
  });
}

void addChunks(std::vector<Range>& out, size_t var, size_t n, size_t chunk) {
  for (size_t b = 0; b < n; b += chunk) out.push_back({var, b, std::min(n, b + chunk)});
}

size_t rowsOf(const Variable& v) { return v.P > 0 ? v.n / v.P : 0; }

// ---------------------------------------------------------------------------------------------
// Crack

// Pre-pass of `weight` and `layer`: totals[i] = the float64 sums of variable i (sum |g|, and sum
// phi and sum max(0, 1 - gamma phi)|g| when phiSums), each a sum of per-chunk sums in chunk order.
void crackSums(const KernelTable& kernel, const Variable* vars, size_t count, size_t elements, bool phiSums,
               double gamma, Sums* totals) {
  std::vector<Range> pre;
  pre.reserve(count + elements / kChunk);
  for (size_t i = 0; i < count; i++) addChunks(pre, i, vars[i].n, kChunk);
  std::vector<Sums> chunkSums(pre.size());
  runTasks(pre, elements, [](const Range& r) { return r.end - r.begin; }, [&](size_t t) {
    const Range& r = pre[t];
    const Variable& v = vars[r.var];
    kernel.sums(v.grad + r.begin, phiSums ? v.phi + r.begin : nullptr, r.end - r.begin, gamma, &chunkSums[t]);
  });
  for (size_t i = 0; i < count; i++) totals[i] = Sums{};
  for (size_t t = 0; t < chunkSums.size(); t++) {
    Sums& s = totals[pre[t].var];
    s.sumAbsG += chunkSums[t].sumAbsG;
    s.sumPhi += chunkSums[t].sumPhi;
    s.sumAAbsG += chunkSums[t].sumAAbsG;
  }
}

// Pre-pass of `unit`: sums[unitOffset[i] + u] = sum over the rows r of variable i of |g[r P + u]|,
// rows in order, in tasks of kUnitBlock units.
void crackUnitSums(const KernelTable& kernel, const Variable* vars, size_t count, size_t elements,
                   const size_t* unitOffset, double* sums) {
  std::vector<Range> pre;
  pre.reserve(count);
  for (size_t i = 0; i < count; i++) addChunks(pre, i, vars[i].P, kUnitBlock);
  runTasks(pre, elements, [&](const Range& r) { return (r.end - r.begin) * rowsOf(vars[r.var]); }, [&](size_t t) {
    const Range& r = pre[t];
    const Variable& v = vars[r.var];
    kernel.unitSums(v.grad, v.P, rowsOf(v), r.begin, r.end, &sums[unitOffset[r.var] + r.begin]);
  });
}

// The finite check, in variable order, before anything is written: a NaN or +-Inf gradient makes
// its variable's sums non-finite. Returns the first bad variable under throwOnNonFinite (then
// nothing is written), else marks the bad ones skipped and returns -1. `totals` (weight, layer)
// or `unitSums` (unit) is null.
long markNonFinite(size_t count, const Sums* totals, const double* unitSums, const size_t* unitOffset,
                   bool throwOnNonFinite, uint8_t* skipped, double* meanAbsDeltaPhi) {
  for (size_t i = 0; i < count; i++) {
    bool finite = totals == nullptr || std::isfinite(totals[i].sumAbsG);
    if (unitSums != nullptr) {
      for (size_t k = unitOffset[i]; k < unitOffset[i + 1]; k++) finite = finite && std::isfinite(unitSums[k]);
    }
    if (!finite && throwOnNonFinite) return long(i);
    skipped[i] = finite ? 0 : 1;
    meanAbsDeltaPhi[i] = 0;
  }
  return -1;
}

// `crack: relative`: divide by the group's mean crack; an all-zero group stays zero.
void makeRelative(double* cracks, size_t P) {
  double s = 0;
  for (size_t q = 0; q < P; q++) s += cracks[q];
  if (!(s > 0)) return;
  const double inv = relativeFactor(P, s);
  for (size_t q = 0; q < P; q++) cracks[q] *= inv;
}

// `unit`: the mean |g| of each unit over its `rows` rows (the sums in place), made relative.
void unitCracks(double* cracks, size_t P, size_t rows, bool relative) {
  for (size_t u = 0; u < P; u++) cracks[u] = meanCrack(cracks[u], rows);
  if (relative) makeRelative(cracks, P);
}

// ---------------------------------------------------------------------------------------------
// Gild and constrain (`unit`, `layer`: P pathways in float64, as reference.ts)

// hat[q] = phi[q] + beta max(0, 1 - gamma phi[q]) l[q], in place over the cracks l. Returns sum hat.
double gild(const float* phi, double* crackToHat, size_t P, const Params& p) {
  double sumHat = 0;
  for (size_t q = 0; q < P; q++) {
    crackToHat[q] = gildHat(phi[q], crackToHat[q], p);
    sumHat += crackToHat[q];
  }
  return sumHat;
}

// phi[q] = clamp(hat[q] * scale, phiMin, phiMax), rounded to float32. Returns mean |dphi|.
double constrain(float* phi, const double* hat, size_t P, double scale, const Params& p) {
  double delta = 0;
  for (size_t q = 0; q < P; q++) {
    const float old = phi[q];
    phi[q] = constrainPhi(hat[q], scale, p);
    delta += phiMove(phi[q], old);
  }
  return P > 0 ? delta / double(P) : 0;
}

// `layer`: the non-skipped variables form one group of single-pathway variables: crack, gild and
// constrain it, write each phi, and set the update pass to a constant phi.
void gildLayerGroup(const Variable* vars, size_t count, const Sums* totals, const uint8_t* skipped, const Params& p,
                    double* meanAbsDeltaPhi, FusedArgs* args) {
  std::vector<size_t> live;
  for (size_t i = 0; i < count; i++)
    if (!skipped[i]) live.push_back(i);
  std::vector<double> cracks(live.size());
  std::vector<float> group(live.size());
  for (size_t q = 0; q < live.size(); q++) {
    const Variable& v = vars[live[q]];
    cracks[q] = meanCrack(totals[live[q]].sumAbsG, v.n);
    group[q] = v.phi[0];
  }
  if (p.relativeCrack) makeRelative(cracks.data(), live.size());
  const double sumHat = gild(group.data(), cracks.data(), live.size(), p);
  constrain(group.data(), cracks.data(), live.size(), normalizeScale(live.size(), sumHat, p), p);
  for (size_t q = 0; q < live.size(); q++) {
    const Variable& v = vars[live[q]];
    meanAbsDeltaPhi[live[q]] = std::fabs(double(group[q]) - double(v.phi[0]));
    v.phi[0] = group[q];
    args[live[q]].mode = PhiMode::Const;
    args[live[q]].phiConst = group[q];
  }
}

// `unit`: the length of variable v's phi table, phi repeated to about kTablePeriod elements, or 0
// for none (the update pass then reads phi itself). A short unit row would cut the update pass
// into tiny segments; the table keeps them long. It never outgrows its variable, and the update
// pass builds it on its own stack for each range it runs (at most kTablePeriod floats, in L1): a
// table per variable in one heap buffer, zeroed and filled each step, cost more than many small
// variables' own updates.
size_t unitTableLength(const Variable& v) {
  const size_t P = v.P;
  const size_t reps = P == 0 ? 0 : std::min(v.n / P, kTablePeriod / P);
  return P == 0 || P >= kTablePeriod / 2 || reps <= 1 ? 0 : P * reps;
}

// `unit`: each non-skipped variable is its own group of P pathways: crack (from its unit sums, or
// the caller's), gild and constrain, write phi, and point the update pass at it.
void gildUnits(const Variable* vars, size_t count, double* unitSums, const size_t* unitOffset,
               const uint8_t* skipped, const Params& p, double* meanAbsDeltaPhi, FusedArgs* args) {
  for (size_t i = 0; i < count; i++) {
    if (skipped[i]) continue;
    const Variable& v = vars[i];
    double* cracks = &unitSums[unitOffset[i]];
    if (v.crack != nullptr) {
      // A supplied crack replaces the unit sums, which were computed anyway: they are the finite
      // check, and skipping them for such variables would let a NaN gradient through.
      for (size_t u = 0; u < v.P; u++) cracks[u] = double(v.crack[u]);
      if (p.relativeCrack) makeRelative(cracks, v.P);
    } else {
      unitCracks(cracks, v.P, rowsOf(v), p.relativeCrack);
    }
    const double sumHat = gild(v.phi, cracks, v.P, p);
    meanAbsDeltaPhi[i] = constrain(v.phi, cracks, v.P, normalizeScale(v.P, sumHat, p), p);
    FusedArgs& a = args[i];
    a.mode = PhiMode::Table;
    a.period = v.P;
    a.phi = v.phi;
  }
}

// `weight`: each non-skipped variable is a group of n pathways whose phi the update pass gilds,
// normalizes and clamps element by element, with the scale weightGild (element.h) derives from
// the pre-pass sums.
void prepareWeightGild(const Variable* vars, size_t count, const Sums* totals, const uint8_t* skipped,
                       const Params& p, FusedArgs* args) {
  for (size_t i = 0; i < count; i++) {
    if (skipped[i]) continue;
    const Variable& v = vars[i];
    const Sums& s = totals[i];
    const WeightGild w = weightGild(v.P, s.sumAbsG, s.sumPhi, s.sumAAbsG, p);
    FusedArgs& a = args[i];
    a.mode = PhiMode::Gild;
    a.phi = v.phi;
    a.gild = w.gild;
    a.scale = w.scale;
  }
}

// ---------------------------------------------------------------------------------------------
// Update

// The one fused pass over theta, g, phi, m, v of every non-skipped variable, in chunks of kChunk
// elements. moved[i] = sum |dphi| over variable i (`weight`, whose phi this pass writes; else 0).
void update(const KernelTable& kernel, const Variable* vars, size_t count, size_t elements, const uint8_t* skipped,
            FusedArgs* args, double* moved) {
  std::vector<Range> work;
  work.reserve(count + elements / kChunk);
  for (size_t i = 0; i < count; i++) {
    if (skipped[i]) continue;
    FusedArgs& a = args[i];
    a.theta = vars[i].theta;
    a.grad = vars[i].grad;
    a.m = vars[i].m;
    a.v = vars[i].v;
    addChunks(work, i, vars[i].n, kChunk);
  }
  std::vector<double> chunkMoved(work.size());
  runTasks(work, elements, [](const Range& r) { return r.end - r.begin; }, [&](size_t t) {
    const Range& r = work[t];
    const FusedArgs& a = args[r.var];
    const size_t len = a.mode == PhiMode::Table ? unitTableLength(vars[r.var]) : 0;
    if (len == 0) {
      chunkMoved[t] = kernel.fused(a, r.begin, r.end);
      return;
    }
    // phi, then the filled part copied onto the rest, doubling: a few block copies, not len / P.
    float table[kTablePeriod];
    std::copy(a.phi, a.phi + a.period, table);
    for (size_t filled = a.period; filled < len; filled *= 2)
      std::copy(table, table + std::min(filled, len - filled), table + filled);
    FusedArgs withTable = a;
    withTable.phi = table;
    withTable.period = len;
    chunkMoved[t] = kernel.fused(withTable, r.begin, r.end);
  });
  for (size_t i = 0; i < count; i++) moved[i] = 0.0;
  for (size_t t = 0; t < work.size(); t++) moved[work[t].var] += chunkMoved[t];
}

}  // namespace

long step(const Variable* vars, size_t count, const Params& p, uint8_t* skipped, double* meanAbsDeltaPhi) {
  const KernelTable& kernel = activeTable();
  const bool unit = p.granularity == Granularity::Unit;
  const bool weight = p.granularity == Granularity::Weight;

  size_t elements = 0;
  for (size_t i = 0; i < count; i++) elements += vars[i].n;

  // Crack: the pre-pass reads g (and phi for weight granularity with mean normalization, the only
  // case that needs sum phi) and writes only scratch; then the finite check.
  std::vector<Sums> totals(unit ? 0 : count);
  std::vector<size_t> unitOffset(unit ? count + 1 : 0, 0);
  std::vector<double> unitSums;
  if (unit) {
    for (size_t i = 0; i < count; i++) unitOffset[i + 1] = unitOffset[i] + vars[i].P;
    unitSums.resize(unitOffset[count]);
    crackUnitSums(kernel, vars, count, elements, unitOffset.data(), unitSums.data());
  } else {
    crackSums(kernel, vars, count, elements, weight && p.normalizeMean, p.annealing, totals.data());
  }
  const long bad = markNonFinite(count, unit ? nullptr : totals.data(), unit ? unitSums.data() : nullptr,
                                 unitOffset.data(), p.throwOnNonFinite, skipped, meanAbsDeltaPhi);
  if (bad >= 0) return bad;

  // Gild and constrain: the per-pathway work (small P) here; weight granularity's in the update.
  std::vector<FusedArgs> args(count, fusedArgsOf(p));
  if (p.granularity == Granularity::Layer) {
    gildLayerGroup(vars, count, totals.data(), skipped, p, meanAbsDeltaPhi, args.data());
  } else if (unit) {
    gildUnits(vars, count, unitSums.data(), unitOffset.data(), skipped, p, meanAbsDeltaPhi, args.data());
  } else {
    prepareWeightGild(vars, count, totals.data(), skipped, p, args.data());
  }

  // Update: the one fused pass.
  std::vector<double> moved(count);
  update(kernel, vars, count, elements, skipped, args.data(), moved.data());
  if (weight) {
    for (size_t i = 0; i < count; i++)
      if (!skipped[i] && vars[i].P > 0) meanAbsDeltaPhi[i] = moved[i] / double(vars[i].P);
  }
  return -1;
}

}  // namespace kintsugi
