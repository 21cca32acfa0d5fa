// The binding's CHECK phase over plain values (validate.h): moved out of native/src/addon.cpp
// unchanged, rule for rule and message for message, so a libFuzzer target can reach it.
#include "validate.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <vector>

namespace kintsugi {
namespace {

// The range of a number, written as NUMBER_RULES in src/options.ts writes it.
struct Rule {
  double min, max;
  bool minOpen = false, maxOpen = false, allowInfinity = false;
};

constexpr double kInf = std::numeric_limits<double>::infinity();

// The hyperparameters' ranges: NUMBER_RULES of src/options.ts, rule for rule, so the binding accepts
// exactly the values resolveOptions accepts (test/option-ranges.test.ts derives boundary values
// from NUMBER_RULES and checks both). `step` has no option; it is the optimizer's count.
constexpr Rule kLearningRate{0, kInf};
constexpr Rule kGildingRate{0, kInf};
constexpr Rule kAnnealing{0, kInf};
constexpr Rule kPhiMin{0, 1};
constexpr Rule kPhiMax{1, kInf, false, false, true};
constexpr Rule kMomentum{0, 1, false, true};
constexpr Rule kBeta1{0, 1, false, true};
constexpr Rule kBeta2{0, 1, false, true};
constexpr Rule kEpsilon{0, kInf, true};
constexpr Rule kWeightDecay{0, kInf};
constexpr Rule kStep{1, 9007199254740991.0};  // an integer, checked below: 1 .. Number.MAX_SAFE_INTEGER
constexpr Rule kCode{0, 2};                   // granularity and base: 0, 1 or 2

std::string jsNumber(double x) {
  if (std::isnan(x)) return "NaN";
  if (std::isinf(x)) return x > 0 ? "Infinity" : "-Infinity";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", x);
  return buf;
}

// "a finite number in (0, Infinity)", as describeRange in src/options.ts.
std::string describe(const Rule& r) {
  const std::string hi = std::isinf(r.max) ? std::string("Infinity") + (r.allowInfinity ? "]" : ")")
                                           : jsNumber(r.max) + (r.maxOpen ? ")" : "]");
  return std::string("a ") + (r.allowInfinity ? "" : "finite ") + "number in " + (r.minOpen ? "(" : "[") +
         jsNumber(r.min) + ", " + hi;
}

const Rule& ruleOf(Param key) {
  switch (key) {
    case Param::Granularity: case Param::Base: return kCode;
    case Param::LearningRate: return kLearningRate;
    case Param::GildingRate: return kGildingRate;
    case Param::Annealing: return kAnnealing;
    case Param::PhiMin: return kPhiMin;
    case Param::PhiMax: return kPhiMax;
    case Param::Momentum: return kMomentum;
    case Param::Beta1: return kBeta1;
    case Param::Beta2: return kBeta2;
    case Param::Epsilon: return kEpsilon;
    case Param::WeightDecay: return kWeightDecay;
    case Param::Step: return kStep;
  }
  return kCode;
}

}  // namespace

const char* paramName(Param key) {
  switch (key) {
    case Param::Granularity: return "granularity";
    case Param::Base: return "base";
    case Param::LearningRate: return "learningRate";
    case Param::GildingRate: return "gildingRate";
    case Param::Annealing: return "annealing";
    case Param::PhiMin: return "phiMin";
    case Param::PhiMax: return "phiMax";
    case Param::Momentum: return "momentum";
    case Param::Beta1: return "beta1";
    case Param::Beta2: return "beta2";
    case Param::Epsilon: return "epsilon";
    case Param::WeightDecay: return "weightDecay";
    case Param::Step: return "step";
  }
  return "?";
}

Check checkParam(Param key, double x) {
  const Rule& r = ruleOf(key);
  const std::string name = paramName(key);
  const bool ok = !std::isnan(x) && (std::isfinite(x) || (r.allowInfinity && x == kInf)) &&
                  (r.minOpen ? x > r.min : x >= r.min) && (r.maxOpen ? x < r.max : x <= r.max);
  if (!ok) return Check::range("params." + name + " must be " + describe(r) + "; got " + jsNumber(x));
  if ((key == Param::Granularity || key == Param::Base) && x != std::floor(x))
    return Check::range("params." + name + " must be 0, 1 or 2; got " + jsNumber(x));
  if (key == Param::Step && x != std::floor(x))
    return Check::range("params.step must be an integer >= 1; got " + jsNumber(x));
  return {};
}

Check validateParams(const RawParams& raw, Params* out) {
  const std::pair<Param, double> numbers[] = {
      {Param::Granularity, raw.granularity}, {Param::Base, raw.base},       {Param::LearningRate, raw.learningRate},
      {Param::GildingRate, raw.gildingRate}, {Param::Annealing, raw.annealing}, {Param::PhiMin, raw.phiMin},
      {Param::PhiMax, raw.phiMax},           {Param::Momentum, raw.momentum}, {Param::Beta1, raw.beta1},
      {Param::Beta2, raw.beta2},             {Param::Epsilon, raw.epsilon},   {Param::WeightDecay, raw.weightDecay},
      {Param::Step, raw.step}};
  for (const auto& [key, x] : numbers) {
    Check c = checkParam(key, x);
    if (!c.ok()) return c;
  }
  Params p;
  p.granularity = Granularity(int(raw.granularity));
  p.base = Base(int(raw.base));
  p.learningRate = raw.learningRate;
  p.gildingRate = raw.gildingRate;
  p.annealing = raw.annealing;
  p.relativeCrack = raw.relativeCrack;
  p.normalizeMean = raw.normalizeMean;
  p.phiMin = raw.phiMin;
  p.phiMax = raw.phiMax;  // so phiMin <= 1 <= phiMax
  p.momentum = raw.momentum;
  p.beta1 = raw.beta1;
  p.beta2 = raw.beta2;
  p.epsilon = raw.epsilon;
  p.weightDecay = raw.weightDecay;
  p.throwOnNonFinite = raw.throwOnNonFinite;
  p.step = raw.step;
  *out = p;
  return {};
}

// A supplied crack (kernel.h, Variable::crack) against its variable of P pathways: the rules and
// messages of crackProblem in src/kernel/types.ts. Every value is read: the kernel trusts them.
static Check validateCrack(const FloatSpan& crack, const Params& p, size_t P) {
  if (p.granularity != Granularity::Unit) return Check::range("crack is for unit granularity only");
  if (crack.length > 0 && reinterpret_cast<uintptr_t>(crack.data) % alignof(float) != 0)
    return Check::range("crack is not 4-byte aligned");
  if (crack.length != P)
    return Check::range("crack has " + std::to_string(crack.length) + " values, phi " + std::to_string(P));
  for (size_t u = 0; u < P; u++) {
    const float x = crack.data[u];
    if (!(x >= 0 && std::isfinite(x)))
      return Check::range("crack[" + std::to_string(u) + "] is " + jsNumber(x) + "; a crack is finite and >= 0");
  }
  return {};
}

Check validateVariable(const FloatSpan fields[5], const Params& p, Variable* out, const FloatSpan* crack) {
  static const char* const names[] = {"theta", "grad", "phi", "m", "v"};
  // The binding has checked this already, per array, as it took each one from JS (where a
  // Float32Array is always aligned); checked again for callers that build spans themselves.
  for (size_t k = 0; k < 5; k++)
    if (fields[k].length > 0 && reinterpret_cast<uintptr_t>(fields[k].data) % alignof(float) != 0)
      return Check::range(std::string(names[k]) + " is not 4-byte aligned");
  const FloatSpan &theta = fields[0], &grad = fields[1], &phi = fields[2], &m = fields[3], &v = fields[4];
  const size_t n = theta.length, P = phi.length;
  if (grad.length != n)
    return Check::range("grad has " + std::to_string(grad.length) + " elements, theta " + std::to_string(n));
  if (p.granularity == Granularity::Weight && P != n)
    return Check::range("granularity weight needs phi.length == theta.length (" + std::to_string(n) + "); got " +
                        std::to_string(P));
  if (p.granularity == Granularity::Layer && P != 1)
    return Check::range("granularity layer needs phi.length == 1; got " + std::to_string(P));
  if (p.granularity == Granularity::Unit && (P == 0 ? n != 0 : n % P != 0))
    return Check::range("granularity unit needs theta.length (" + std::to_string(n) +
                        ") to be a multiple of phi.length (" + std::to_string(P) + ")");
  const bool needM = p.base != Base::Sgd, needV = p.base == Base::Adam;
  auto moment = [&](const FloatSpan& s, bool needed, const char* key) -> Check {
    if (s.length == n || (s.length == 0 && !needed)) return {};
    return Check::range(std::string(key) + " must have " + std::to_string(n) + (needed ? "" : " or 0") +
                        " elements for this base; got " + std::to_string(s.length));
  };
  Check c = moment(m, needM, "m");
  if (!c.ok()) return c;
  c = moment(v, needV, "v");
  if (!c.ok()) return c;
  if (crack != nullptr) {
    c = validateCrack(*crack, p, P);
    if (!c.ok()) return c;
  }
  // An empty crack (P == 0) becomes null: with no pathway there is nothing it could replace.
  *out = {theta.data, grad.data, phi.data, m.length ? m.data : nullptr, v.length ? v.data : nullptr, n, P,
          crack != nullptr && crack->length > 0 ? crack->data : nullptr};
  return {};
}

// Overlapping buffers would make the result depend on the order of writes (and on threads):
// no written range may overlap any other range.
Check validateNoOverlap(const Variable* vars, size_t count) {
  struct R {
    uintptr_t begin, end;
    bool written;
    size_t var;
  };
  std::vector<R> rs;
  rs.reserve(count * 6);
  for (size_t i = 0; i < count; i++) {
    const Variable& v = vars[i];
    auto add = [&](const float* p, size_t len, bool written) {
      if (p != nullptr && len > 0) rs.push_back({uintptr_t(p), uintptr_t(p + len), written, i});
    };
    add(v.theta, v.n, true);
    add(v.grad, v.n, false);
    add(v.phi, v.P, true);
    add(v.m, v.m ? v.n : 0, true);
    add(v.v, v.v ? v.n : 0, true);
    add(v.crack, v.crack ? v.P : 0, false);  // read only, as grad: may share memory with grad or another crack
  }
  std::sort(rs.begin(), rs.end(), [](const R& a, const R& b) { return a.begin < b.begin; });
  uintptr_t endAny = 0, endWritten = 0;
  size_t varAny = 0, varWritten = 0;
  for (const R& r : rs) {
    if (r.begin < endWritten || (r.written && r.begin < endAny)) {
      const size_t other = r.begin < endWritten ? varWritten : varAny;
      return Check::range("the arrays of vars[" + std::to_string(std::min(other, r.var)) + "] and vars[" +
                          std::to_string(std::max(other, r.var)) + "] overlap in memory, and one of them is written");
    }
    if (r.end > endAny) endAny = r.end, varAny = r.var;
    if (r.written && r.end > endWritten) endWritten = r.end, varWritten = r.var;
  }
  return {};
}

Check validateOutputs(size_t count, size_t skippedLength, const void* movedData, size_t movedLength) {
  if (skippedLength < count || movedLength < count)
    return Check::range("skipped and meanAbsDeltaPhi need at least vars.length (" + std::to_string(count) +
                        ") elements");
  if (reinterpret_cast<uintptr_t>(movedData) % alignof(double) != 0 && count > 0)
    return Check::range("meanAbsDeltaPhi is not 8-byte aligned");
  return {};
}

}  // namespace kintsugi
