// The shared kernel test vectors (test/vectors/kernel-vectors.json, written by
// scripts/make-kernel-vectors.cjs): reading the file, running a case on a kernel with
// kintsugi::step's contract, and checking it against the file's rule ("spec", "tolerance").
// test/kernel-vectors.test.ts implements the same rule for the TypeScript side. Used by
// vectors_test.cpp (the CPU kernels) and cuda_host_test.cpp (the CUDA step run on the host).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "json_lite.h"
#include "kintsugi/kernel.h"

namespace vectors {

using json_lite::Value;

// ---------------------------------------------------------------------------------------------
// Reading the file. Any deviation from the format is an error naming the place.

[[noreturn]] void bad(const std::string& where, const std::string& what) { throw std::runtime_error(where + ": " + what); }

const Value& member(const Value& o, const char* key, const std::string& where) {
  if (!o.isObject()) bad(where, "not an object");
  const Value* v = o.find(key);
  if (v == nullptr) bad(where, std::string("missing \"") + key + "\"");
  return *v;
}

// Rejects members other than `allowed` (a null-terminated list).
void onlyKeys(const Value& o, const char* const* allowed, const std::string& where) {
  for (const auto& kv : o.object) {
    bool ok = false;
    for (const char* const* k = allowed; *k; k++) ok = ok || kv.first == *k;
    if (!ok) bad(where, "unexpected member \"" + kv.first + "\"");
  }
}

// spec.numbers: a JSON number or "NaN", "Infinity", "-Infinity".
double numberOf(const Value& v, const std::string& where) {
  if (v.isNumber()) return v.number;
  if (v.isString()) {
    if (v.string == "NaN") return NAN;
    if (v.string == "Infinity") return INFINITY;
    if (v.string == "-Infinity") return -INFINITY;
  }
  bad(where, "not a number");
}

size_t countOf(const Value& v, const std::string& where) {
  if (!v.isNumber() || v.number < 0 || v.number != std::floor(v.number) || v.number > 1e12) bad(where, "not a count");
  return size_t(v.number);
}

bool boolOf(const Value& v, const std::string& where) {
  if (!v.isBool()) bad(where, "not a boolean");
  return v.boolean;
}

const std::vector<Value>& arrayOf(const Value& v, const std::string& where) {
  if (!v.isArray()) bad(where, "not an array");
  return v.array;
}

// spec.fill: the seeded LCG. y is stored before the addition, so that no compiler may fuse the
// multiply and the add (the tests build with -ffp-contract=off as well).
std::vector<float> expandFill(const Value& f, const std::string& where) {
  static const char* const kKeys[] = {"length", "seed", "scale", "shift", "set", nullptr};
  onlyKeys(f, kKeys, where);
  const size_t length = countOf(member(f, "length", where), where + ".length");
  const double seed = numberOf(member(f, "seed", where), where + ".seed");
  if (!(seed >= 0 && seed < 4294967296.0 && seed == std::floor(seed))) bad(where, "seed is not a uint32");
  const double scale = numberOf(member(f, "scale", where), where + ".scale");
  const double shift = numberOf(member(f, "shift", where), where + ".shift");
  std::vector<float> out(length);
  uint32_t state = uint32_t(seed);
  for (size_t k = 0; k < length; k++) {
    state = 1664525u * state + 1013904223u;
    const double u = double(state >> 8) / 16777216.0;
    volatile double y = (2 * u - 1) * scale;
    const double x = y + shift;
    out[k] = float(x);
  }
  if (const Value* set = f.find("set")) {
    for (const Value& pair : arrayOf(*set, where + ".set")) {
      const auto& iv = arrayOf(pair, where + ".set[]");
      if (iv.size() != 2) bad(where, "set entries are [index, value]");
      const size_t i = countOf(iv[0], where + ".set index");
      if (i >= length) bad(where, "set index out of range");
      out[i] = float(numberOf(iv[1], where + ".set value"));
    }
  }
  return out;
}

// An input array: plain numbers, or {"fill": ...}; it must hold `length` elements.
std::vector<float> inputArray(const Value& v, size_t length, const std::string& where) {
  std::vector<float> out;
  if (v.isArray()) {
    for (size_t i = 0; i < v.array.size(); i++) out.push_back(float(numberOf(v.array[i], where + "[" + std::to_string(i) + "]")));
  } else {
    static const char* const kKeys[] = {"fill", nullptr};
    onlyKeys(v, kKeys, where);
    out = expandFill(member(v, "fill", where), where + ".fill");
  }
  if (out.size() != length) bad(where, "has " + std::to_string(out.size()) + " elements, expected " + std::to_string(length));
  return out;
}

// An expected array as (index, value) pairs: plain, or {"stride", "tail", "values"} (spec.checks).
struct Expected {
  std::vector<size_t> idx;
  std::vector<double> val;
};

Expected expectedArray(const Value& v, size_t length, const std::string& where) {
  Expected e;
  if (v.isArray()) {
    if (v.array.size() != length) bad(where, "expects " + std::to_string(v.array.size()) + " elements, the array has " + std::to_string(length));
    for (size_t i = 0; i < length; i++) {
      e.idx.push_back(i);
      e.val.push_back(numberOf(v.array[i], where));
    }
    return e;
  }
  static const char* const kKeys[] = {"stride", "tail", "values", nullptr};
  onlyKeys(v, kKeys, where);
  const size_t stride = countOf(member(v, "stride", where), where + ".stride");
  const size_t tail = countOf(member(v, "tail", where), where + ".tail");
  if (stride == 0) bad(where, "stride 0");
  for (size_t i = 0; i < length; i++)
    if (i % stride == 0 || i + tail >= length) e.idx.push_back(i);
  const auto& values = arrayOf(member(v, "values", where), where + ".values");
  if (values.size() != e.idx.size()) bad(where, "sampled " + std::to_string(values.size()) + " values, the rule gives " + std::to_string(e.idx.size()));
  for (const Value& x : values) e.val.push_back(numberOf(x, where));
  return e;
}

struct State {
  std::vector<float> theta, phi, m, v;
};
const char* const kStateKeys[] = {"theta", "phi", "m", "v"};
std::vector<float>& field(State& s, int k) { return k == 0 ? s.theta : k == 1 ? s.phi : k == 2 ? s.m : s.v; }
const std::vector<float>& field(const State& s, int k) { return k == 0 ? s.theta : k == 1 ? s.phi : k == 2 ? s.m : s.v; }

struct Check {
  size_t afterStep;
  long throwIndex;
  std::vector<int> skipped;           // empty when throwIndex >= 0
  std::vector<double> meanAbsDeltaPhi;
  std::vector<std::vector<Expected>> vars;  // [variable][theta, phi, m, v]
};

struct Case {
  std::string name;
  kintsugi::Params params;
  size_t steps = 0;
  std::vector<std::string> names;
  std::vector<size_t> n, P;
  std::vector<State> initial;
  std::vector<std::vector<std::vector<float>>> grads;  // [step][variable]
  // The supplied crack of each variable (the same at every step); hasCrack[i] false for none.
  std::vector<std::vector<float>> cracks;
  std::vector<bool> hasCrack;
  std::vector<Check> checks;
  bool anyCrack() const {
    for (bool b : hasCrack)
      if (b) return true;
    return false;
  }
};

struct Tolerance {
  double rtol, floorFraction, floorMin, madAtol, madRtol;
};

kintsugi::Params paramsOf(const Value& o, const std::string& where) {
  static const char* const kKeys[] = {"granularity", "base", "learningRate", "gildingRate", "annealing", "relativeCrack",
                                      "normalizeMean", "phiMin", "phiMax", "momentum", "beta1", "beta2", "epsilon",
                                      "weightDecay", "throwOnNonFinite", "step", nullptr};
  onlyKeys(o, kKeys, where);
  auto num = [&](const char* key) { return numberOf(member(o, key, where), where + "." + key); };
  auto flag = [&](const char* key) { return boolOf(member(o, key, where), where + "." + key); };
  auto code = [&](const char* key) {
    const double x = num(key);
    if (x != 0 && x != 1 && x != 2) bad(where + "." + key, "must be 0, 1 or 2");
    return int(x);
  };
  kintsugi::Params p;
  p.granularity = kintsugi::Granularity(code("granularity"));
  p.base = kintsugi::Base(code("base"));
  p.learningRate = num("learningRate");
  p.gildingRate = num("gildingRate");
  p.annealing = num("annealing");
  p.relativeCrack = flag("relativeCrack");
  p.normalizeMean = flag("normalizeMean");
  p.phiMin = num("phiMin");
  p.phiMax = num("phiMax");
  p.momentum = num("momentum");
  p.beta1 = num("beta1");
  p.beta2 = num("beta2");
  p.epsilon = num("epsilon");
  p.weightDecay = num("weightDecay");
  p.throwOnNonFinite = flag("throwOnNonFinite");
  p.step = num("step");
  if (!(p.step >= 1 && p.step == std::floor(p.step))) bad(where + ".step", "must be an integer >= 1");
  return p;
}

Case caseOf(const Value& c, size_t index) {
  std::string where = "cases[" + std::to_string(index) + "]";
  static const char* const kKeys[] = {"name", "origin", "from", "derivation", "params", "steps", "variables", "checks", nullptr};
  onlyKeys(c, kKeys, where);
  Case out;
  const Value& name = member(c, "name", where);
  if (!name.isString()) bad(where, "name is not a string");
  out.name = name.string;
  where += " (" + out.name + ")";
  out.params = paramsOf(member(c, "params", where), where + ".params");
  out.steps = countOf(member(c, "steps", where), where + ".steps");
  if (out.steps == 0) bad(where, "steps must be >= 1");
  const bool useM = out.params.base != kintsugi::Base::Sgd, useV = out.params.base == kintsugi::Base::Adam;

  const auto& vars = arrayOf(member(c, "variables", where), where + ".variables");
  out.grads.assign(out.steps, {});
  for (size_t i = 0; i < vars.size(); i++) {
    const Value& v = vars[i];
    const std::string w = where + ".variables[" + std::to_string(i) + "]";
    static const char* const kVarKeys[] = {"name", "n", "P", "theta", "grad", "phi", "m", "v", "laterGrads", "crack", nullptr};
    onlyKeys(v, kVarKeys, w);
    const Value& vn = member(v, "name", w);
    if (!vn.isString()) bad(w, "name is not a string");
    for (const std::string& other : out.names)
      if (other == vn.string) bad(w, "duplicate variable name");
    out.names.push_back(vn.string);
    const size_t n = countOf(member(v, "n", w), w + ".n"), P = countOf(member(v, "P", w), w + ".P");
    out.n.push_back(n);
    out.P.push_back(P);
    State s;
    s.theta = inputArray(member(v, "theta", w), n, w + ".theta");
    s.phi = inputArray(member(v, "phi", w), P, w + ".phi");
    s.m = inputArray(member(v, "m", w), useM ? n : 0, w + ".m");
    s.v = inputArray(member(v, "v", w), useV ? n : 0, w + ".v");
    out.initial.push_back(std::move(s));
    const Value* crack = v.find("crack");
    out.hasCrack.push_back(crack != nullptr);
    out.cracks.push_back(crack ? inputArray(*crack, P, w + ".crack") : std::vector<float>{});
    const Value* later = v.find("laterGrads");
    if (later && arrayOf(*later, w + ".laterGrads").size() != out.steps - 1) bad(w, "laterGrads needs steps - 1 entries");
    for (size_t st = 0; st < out.steps; st++) {
      const Value& g = st == 0 || !later ? member(v, "grad", w) : later->array[st - 1];
      out.grads[st].push_back(inputArray(g, n, w + " gradient of step " + std::to_string(st + 1)));
    }
  }

  const auto& checks = arrayOf(member(c, "checks", where), where + ".checks");
  if (checks.empty()) bad(where, "no checks");
  for (size_t k = 0; k < checks.size(); k++) {
    const Value& ch = checks[k];
    const std::string w = where + ".checks[" + std::to_string(k) + "]";
    static const char* const kCheckKeys[] = {"afterStep", "throwIndex", "skipped", "meanAbsDeltaPhi", "variables", nullptr};
    onlyKeys(ch, kCheckKeys, w);
    Check check;
    check.afterStep = countOf(member(ch, "afterStep", w), w + ".afterStep");
    if (check.afterStep < 1 || check.afterStep > out.steps || (k > 0 && check.afterStep <= out.checks.back().afterStep))
      bad(w, "afterStep out of order or range");
    check.throwIndex = long(numberOf(member(ch, "throwIndex", w), w + ".throwIndex"));
    if (check.throwIndex < -1 || check.throwIndex >= long(vars.size())) bad(w, "throwIndex out of range");
    if (check.throwIndex < 0) {
      for (const Value& x : arrayOf(member(ch, "skipped", w), w + ".skipped")) check.skipped.push_back(int(numberOf(x, w + ".skipped")));
      for (const Value& x : arrayOf(member(ch, "meanAbsDeltaPhi", w), w + ".meanAbsDeltaPhi"))
        check.meanAbsDeltaPhi.push_back(numberOf(x, w + ".meanAbsDeltaPhi"));
      if (check.skipped.size() != vars.size() || check.meanAbsDeltaPhi.size() != vars.size()) bad(w, "one skipped and meanAbsDeltaPhi per variable");
    }
    const auto& states = arrayOf(member(ch, "variables", w), w + ".variables");
    if (states.size() != vars.size()) bad(w, "one state per variable");
    for (size_t i = 0; i < states.size(); i++) {
      const std::string ws = w + ".variables[" + std::to_string(i) + "]";
      static const char* const kStateOnly[] = {"theta", "phi", "m", "v", nullptr};
      onlyKeys(states[i], kStateOnly, ws);
      std::vector<Expected> e;
      for (int f = 0; f < 4; f++) {
        const size_t len = field(out.initial[i], f).size();
        e.push_back(expectedArray(member(states[i], kStateKeys[f], ws), len, ws + "." + kStateKeys[f]));
      }
      check.vars.push_back(std::move(e));
    }
    out.checks.push_back(std::move(check));
  }
  if (out.checks.back().afterStep != out.steps) bad(where, "the last check must be after the last step");
  return out;
}

// ---------------------------------------------------------------------------------------------
// Running and checking.

struct Snapshot {
  size_t afterStep;
  long throwIndex;
  std::vector<uint8_t> skipped;
  std::vector<double> meanAbsDeltaPhi;
  std::vector<State> state, before;
};

// The kernel under test: kintsugi::step's contract (kintsugi/kernel.h).
using StepFn = long (*)(const kintsugi::Variable*, size_t, const kintsugi::Params&, uint8_t*, double*);

std::vector<Snapshot> runCase(const Case& c, StepFn stepFn) {
  std::vector<State> state = c.initial;
  std::vector<Snapshot> snaps;
  size_t next = 0;
  for (size_t s = 0; s < c.steps; s++) {
    const bool checked = next < c.checks.size() && c.checks[next].afterStep == s + 1;
    std::vector<State> before;
    if (checked) before = state;
    std::vector<kintsugi::Variable> views;
    for (size_t i = 0; i < state.size(); i++) {
      State& x = state[i];
      views.push_back({x.theta.data(), c.grads[s][i].data(), x.phi.data(), x.m.empty() ? nullptr : x.m.data(),
                       x.v.empty() ? nullptr : x.v.data(), c.n[i], c.P[i],
                       c.hasCrack[i] && !c.cracks[i].empty() ? c.cracks[i].data() : nullptr});
    }
    std::vector<uint8_t> skipped(state.size(), 0);
    std::vector<double> moved(state.size(), 0.0);
    kintsugi::Params p = c.params;
    p.step = c.params.step + double(s);
    const long r = stepFn(views.data(), views.size(), p, skipped.data(), moved.data());
    if (checked) {
      snaps.push_back({s + 1, r, skipped, moved, state, std::move(before)});
      next++;
    }
  }
  return snaps;
}

// spec.tolerance's T for m, after each step.
std::vector<std::vector<std::vector<double>>> mTerms(const Case& c) {
  const double b = c.params.base == kintsugi::Base::Momentum ? c.params.momentum : c.params.beta1;
  const double k = c.params.base == kintsugi::Base::Momentum ? 1.0 : 1 - c.params.beta1;
  std::vector<std::vector<double>> t;
  for (const State& s : c.initial) {
    std::vector<double> x;
    for (float m : s.m) x.push_back(std::fabs(double(m)));
    t.push_back(std::move(x));
  }
  std::vector<std::vector<std::vector<double>>> out;
  for (size_t s = 0; s < c.steps; s++) {
    for (size_t i = 0; i < t.size(); i++)
      for (size_t e = 0; e < t[i].size(); e++) {
        const double g = c.grads[s][i][e];
        if (std::isfinite(g)) t[i][e] = b * t[i][e] + k * std::fabs(g);
      }
    out.push_back(t);
  }
  return out;
}

bool sameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

// The worst element so far, as a fraction of its tolerance.
struct Worst {
  double ratio = 0;
  std::string where;
};

std::vector<std::string> verify(const Case& c, const std::vector<Snapshot>& snaps, const Tolerance& tol, Worst& worst) {
  std::vector<std::string> failures;
  auto fail = [&](const std::string& msg) {
    if (failures.size() < 12) failures.push_back(msg);
  };
  const auto terms = mTerms(c);
  char buf[512];
  for (size_t k = 0; k < c.checks.size(); k++) {
    const Check& want = c.checks[k];
    const Snapshot& got = snaps[k];
    const std::string at = "after step " + std::to_string(want.afterStep);
    if (got.throwIndex != want.throwIndex) {
      fail(at + ": throwIndex " + std::to_string(got.throwIndex) + ", expected " + std::to_string(want.throwIndex));
      continue;
    }
    const bool all = want.throwIndex >= 0;
    if (!all) {
      for (size_t i = 0; i < want.skipped.size(); i++) {
        if (got.skipped[i] != want.skipped[i]) fail(at + ": skipped[" + std::to_string(i) + "] = " + std::to_string(got.skipped[i]));
        const double x = want.meanAbsDeltaPhi[i], a = got.meanAbsDeltaPhi[i];
        const double allowed = tol.madAtol + tol.madRtol * std::fabs(x);
        if (std::fabs(a - x) / allowed > worst.ratio)
          worst = {std::fabs(a - x) / allowed, c.name + " " + at + ": meanAbsDeltaPhi[" + std::to_string(i) + "]"};
        if (!(std::fabs(a - x) <= allowed)) {
          std::snprintf(buf, sizeof buf, "%s: meanAbsDeltaPhi[%zu] = %.9g, expected %.9g", at.c_str(), i, a, x);
          fail(buf);
        }
      }
    }
    for (size_t i = 0; i < want.vars.size(); i++) {
      const bool unchanged = all || want.skipped[i] == 1;
      for (int f = 0; f < 4; f++) {
        const std::vector<float>& actual = field(got.state[i], f);
        const std::string what = at + ": " + c.names[i] + "." + kStateKeys[f];
        if (unchanged && !sameBits(actual, field(got.before[i], f))) fail(what + " changed in a step that must not write it");
        const Expected& e = want.vars[i][f];
        double max = 0;
        for (double x : e.val) max = std::fmax(max, std::fabs(x));
        const double floor = std::fmax(tol.floorFraction * max, tol.floorMin);
        for (size_t j = 0; j < e.idx.size(); j++) {
          const size_t el = e.idx[j];
          const double a = actual[el], x = e.val[j];
          const double t = f == 2 ? terms[want.afterStep - 1][i][el] : 0;
          const double scale = std::fmax(std::fmax(std::fabs(a), std::fabs(x)), std::fmax(t, floor));
          const double err = std::fabs(a - x) / scale;
          if (err / tol.rtol > worst.ratio) worst = {err / tol.rtol, c.name + " " + what + "[" + std::to_string(el) + "]"};
          if (!(err <= tol.rtol)) {
            std::snprintf(buf, sizeof buf, "%s[%zu] = %.9g, expected %.9g (relative %.3g > %g)", what.c_str(), el, a, x, err, tol.rtol);
            fail(buf);
          }
        }
      }
    }
  }
  return failures;
}

// Where two runs differ in any bit, or "".
std::string bitwiseDifference(const Case& c, const std::vector<Snapshot>& a, const std::vector<Snapshot>& b) {
  for (size_t k = 0; k < a.size(); k++) {
    const std::string at = "after step " + std::to_string(a[k].afterStep) + ": ";
    if (a[k].throwIndex != b[k].throwIndex) return at + "throwIndex";
    if (a[k].throwIndex < 0) {
      if (a[k].skipped != b[k].skipped) return at + "skipped";
      if (std::memcmp(a[k].meanAbsDeltaPhi.data(), b[k].meanAbsDeltaPhi.data(), a[k].meanAbsDeltaPhi.size() * sizeof(double)) != 0)
        return at + "meanAbsDeltaPhi";
    }
    for (size_t i = 0; i < c.names.size(); i++)
      for (int f = 0; f < 4; f++)
        if (!sameBits(field(a[k].state[i], f), field(b[k].state[i], f))) return at + c.names[i] + "." + kStateKeys[f];
  }
  return "";
}

// Reads the file's cases (those whose name contains `filter`, all when empty) and tolerance;
// prints why and returns false when the file is not what the format says.
bool readVectors(const char* path, const std::string& filter, std::vector<Case>& cases, Tolerance& tol) {
  try {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error(std::string("cannot open ") + path);
    std::ostringstream text;
    text << in.rdbuf();
    const Value doc = json_lite::parse(text.str());
    const Value& format = member(doc, "format", "file");
    if (!format.isString() || format.string != "kintsugi-kernel-vectors/1") bad("file", "format is not kintsugi-kernel-vectors/1");
    const Value& t = member(doc, "tolerance", "file");
    const Value& mad = member(t, "meanAbsDeltaPhi", "tolerance");
    tol = {numberOf(member(t, "rtol", "tolerance"), "rtol"), numberOf(member(t, "floorFraction", "tolerance"), "floorFraction"),
           numberOf(member(t, "floorMin", "tolerance"), "floorMin"), numberOf(member(mad, "atol", "meanAbsDeltaPhi"), "atol"),
           numberOf(member(mad, "rtol", "meanAbsDeltaPhi"), "rtol")};
    const auto& all = arrayOf(member(doc, "cases", "file"), "cases");
    for (size_t i = 0; i < all.size(); i++) {
      Case c = caseOf(all[i], i);
      for (const Case& other : cases)
        if (other.name == c.name) bad(c.name, "duplicate case name");
      if (filter.empty() || c.name.find(filter) != std::string::npos) cases.push_back(std::move(c));
    }
  } catch (const std::exception& e) {
    std::printf("FAIL reading %s: %s\n", path, e.what());
    return false;
  }
  if (cases.empty()) {
    std::printf("FAIL: no case matches '%s'\n", filter.c_str());
    return false;
  }
  return true;
}

}  // namespace vectors
