// One Kintsugi step over many variables: a pre-pass for cracks, sums and the finite check, the
// small per-pathway gilding in float64 (as the reference kernel does it), then one fused pass.
//
// Work is cut into fixed-size chunks whose boundaries depend only on the data, and every float64
// sum is combined in chunk order, so the result is bitwise the same for any number of threads.
#include <algorithm>
#include <cmath>
#include <vector>

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
void runTasks(const std::vector<Range>& ranges, size_t elements, const std::function<size_t(const Range&)>& work,
              const std::function<void(size_t)>& task) {
  const size_t count = ranges.size();
  if (elements < kSerialBelow) {
    for (size_t i = 0; i < count; i++) task(i);
    return;
  }
  std::vector<size_t> starts;
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

// `crack: relative`: divide by the group's mean crack; an all-zero group stays zero.
void makeRelative(double* cracks, size_t P) {
  double s = 0;
  for (size_t q = 0; q < P; q++) s += cracks[q];
  if (!(s > 0)) return;
  const double inv = double(P) / s;
  for (size_t q = 0; q < P; q++) cracks[q] *= inv;
}

// Gild, normalize and clamp one group in float64, exactly as reference.ts. Returns mean |dphi|.
double gildGroup(float* phi, double* cracks, size_t P, const Params& p) {
  double sumHat = 0;
  for (size_t q = 0; q < P; q++) {
    const double a = std::max(0.0, 1 - p.annealing * phi[q]);
    cracks[q] = phi[q] + p.gildingRate * a * cracks[q];
    sumHat += cracks[q];
  }
  const double scale = p.normalizeMean && sumHat > 0 && std::isfinite(sumHat) ? double(P) / sumHat : 1;
  double delta = 0;
  for (size_t q = 0; q < P; q++) {
    const float old = phi[q];
    phi[q] = float(std::min(p.phiMax, std::max(p.phiMin, cracks[q] * scale)));
    delta += std::fabs(double(phi[q]) - double(old));
  }
  return P > 0 ? delta / double(P) : 0;
}

FusedArgs commonArgs(const Params& p) {
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

}  // namespace

long step(const Variable* vars, size_t count, const Params& p, uint8_t* skipped, double* meanAbsDeltaPhi) {
  const KernelTable& kernel = activeTable();
  const bool unit = p.granularity == Granularity::Unit;
  const bool weight = p.granularity == Granularity::Weight;
  // Only mean normalization needs sum phi (weight granularity reads phi in the pre-pass for it).
  const bool phiSums = weight && p.normalizeMean;

  size_t elements = 0;
  for (size_t i = 0; i < count; i++) elements += vars[i].n;

  // ---- Pre-pass: reads g (and phi when phiSums); writes only scratch.
  std::vector<Range> pre;
  std::vector<size_t> unitOffset(count + 1, 0);
  for (size_t i = 0; i < count; i++) {
    if (unit) {
      addChunks(pre, i, vars[i].P, kUnitBlock);
      unitOffset[i + 1] = unitOffset[i] + vars[i].P;
    } else {
      addChunks(pre, i, vars[i].n, kChunk);
    }
  }
  std::vector<Sums> chunkSums(unit ? 0 : pre.size());
  std::vector<double> unitCracks(unitOffset[count]);
  const auto preWork = [&](const Range& r) {
    const Variable& v = vars[r.var];
    return unit ? (r.end - r.begin) * (v.P > 0 ? v.n / v.P : 0) : r.end - r.begin;
  };
  runTasks(pre, elements, preWork, [&](size_t t) {
    const Range& r = pre[t];
    const Variable& v = vars[r.var];
    if (unit) {
      const size_t rows = v.P > 0 ? v.n / v.P : 0;
      kernel.unitSums(v.grad, v.P, rows, r.begin, r.end, &unitCracks[unitOffset[r.var] + r.begin]);
    } else {
      kernel.sums(v.grad + r.begin, phiSums ? v.phi + r.begin : nullptr, r.end - r.begin,
                  p.annealing, &chunkSums[t]);
    }
  });

  std::vector<Sums> total(count);
  for (size_t t = 0; t < chunkSums.size(); t++) {
    Sums& s = total[pre[t].var];
    s.sumAbsG += chunkSums[t].sumAbsG;
    s.sumPhi += chunkSums[t].sumPhi;
    s.sumAAbsG += chunkSums[t].sumAAbsG;
  }
  // ---- Finite check, in variable order, before anything is written.
  for (size_t i = 0; i < count; i++) {
    bool finite = std::isfinite(total[i].sumAbsG);
    if (unit) {
      for (size_t k = unitOffset[i]; k < unitOffset[i + 1]; k++) finite = finite && std::isfinite(unitCracks[k]);
    }
    if (!finite && p.throwOnNonFinite) return long(i);
    skipped[i] = finite ? 0 : 1;
    meanAbsDeltaPhi[i] = 0;
  }

  // ---- Gild: per-pathway work (small P) here; weight granularity gilds inside the fused pass.
  std::vector<FusedArgs> args(count, commonArgs(p));
  std::vector<float> tables;
  if (p.granularity == Granularity::Layer) {
    std::vector<size_t> live;
    for (size_t i = 0; i < count; i++)
      if (!skipped[i]) live.push_back(i);
    std::vector<double> cracks(live.size());
    std::vector<float> group(live.size());
    for (size_t q = 0; q < live.size(); q++) {
      const Variable& v = vars[live[q]];
      cracks[q] = v.n > 0 ? total[live[q]].sumAbsG / double(v.n) : 0;
      group[q] = v.phi[0];
    }
    if (p.relativeCrack) makeRelative(cracks.data(), live.size());
    gildGroup(group.data(), cracks.data(), live.size(), p);
    for (size_t q = 0; q < live.size(); q++) {
      const Variable& v = vars[live[q]];
      meanAbsDeltaPhi[live[q]] = std::fabs(double(group[q]) - double(v.phi[0]));
      v.phi[0] = group[q];
      args[live[q]].mode = PhiMode::Const;
      args[live[q]].phiConst = group[q];
    }
  } else if (unit) {
    // A short unit row would cut the fused pass into tiny segments; a table repeating phi to
    // about kTablePeriod elements keeps them long.
    // The table never outgrows its variable: with many small variables a full-period table per
    // variable cost more than the variable's own update (13 us each for 200 variables of 10).
    std::vector<size_t> tableOffset(count + 1, 0);
    for (size_t i = 0; i < count; i++) {
      const size_t P = vars[i].P;
      const size_t reps = P == 0 ? 0 : std::min(vars[i].n / P, kTablePeriod / P);
      const size_t len = skipped[i] || P == 0 || P >= kTablePeriod / 2 || reps <= 1 ? 0 : P * reps;
      tableOffset[i + 1] = tableOffset[i] + len;
    }
    tables.resize(tableOffset[count]);
    for (size_t i = 0; i < count; i++) {
      if (skipped[i]) continue;
      const Variable& v = vars[i];
      double* cracks = &unitCracks[unitOffset[i]];
      const size_t rows = v.P > 0 ? v.n / v.P : 0;
      if (rows > 0)
        for (size_t u = 0; u < v.P; u++) cracks[u] /= double(rows);
      if (p.relativeCrack) makeRelative(cracks, v.P);
      meanAbsDeltaPhi[i] = gildGroup(v.phi, cracks, v.P, p);
      FusedArgs& a = args[i];
      a.mode = PhiMode::Table;
      a.period = v.P;
      a.phi = v.phi;
      const size_t len = tableOffset[i + 1] - tableOffset[i];
      if (len > 0) {
        float* t = &tables[tableOffset[i]];
        for (size_t k = 0; k < len; k += v.P) std::copy(v.phi, v.phi + v.P, t + k);
        a.phi = t;
        a.period = len;
      }
    }
  } else {
    for (size_t i = 0; i < count; i++) {
      if (skipped[i]) continue;
      const Variable& v = vars[i];
      const Sums& s = total[i];
      const double rel = p.relativeCrack && s.sumAbsG > 0 ? double(v.P) / s.sumAbsG : 1;
      // With sum phi known, sum phi_hat = sum phi + beta rel sum a|g|, so the scale is known
      // before the fused pass writes a single phi.
      const double sumHat = s.sumPhi + p.gildingRate * rel * s.sumAAbsG;
      FusedArgs& a = args[i];
      a.mode = PhiMode::Gild;
      a.phi = v.phi;
      a.gild = float(p.gildingRate * rel);
      a.scale = p.normalizeMean && sumHat > 0 && std::isfinite(sumHat) ? float(double(v.P) / sumHat) : 1.0f;
    }
  }

  // ---- The one fused pass over theta, g, phi, m, v.
  std::vector<Range> work;
  for (size_t i = 0; i < count; i++) {
    if (skipped[i]) continue;
    FusedArgs& a = args[i];
    a.theta = vars[i].theta;
    a.grad = vars[i].grad;
    a.m = vars[i].m;
    a.v = vars[i].v;
    addChunks(work, i, vars[i].n, kChunk);
  }
  std::vector<double> moved(work.size());
  runTasks(work, elements, [](const Range& r) { return r.end - r.begin; }, [&](size_t t) {
    const Range& r = work[t];
    moved[t] = kernel.fused(args[r.var], r.begin, r.end);
  });
  if (weight) {
    std::vector<double> sum(count, 0.0);
    for (size_t t = 0; t < work.size(); t++) sum[work[t].var] += moved[t];
    for (size_t i = 0; i < count; i++)
      if (!skipped[i] && vars[i].P > 0) meanAbsDeltaPhi[i] = sum[i] / double(vars[i].P);
  }
  return -1;
}

}  // namespace kintsugi
