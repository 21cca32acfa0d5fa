// Native unit tests: tiny cases worked out by hand (ALGORITHM.md's four steps), every available
// instruction set against the baseline, and bitwise determinism across thread counts.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "kintsugi/kernel.h"
#include "kintsugi/runtime.h"

using namespace kintsugi;

static int failures = 0;
#define CHECK(cond)                                                        \
  do {                                                                     \
    if (!(cond)) {                                                         \
      std::printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);          \
      failures++;                                                          \
    }                                                                      \
  } while (0)

static bool near(double a, double b, double tol = 1e-6) { return std::fabs(a - b) <= tol * std::max(1.0, std::fabs(b)); }

// A variable that owns its buffers.
struct Var {
  std::vector<float> theta, grad, phi, m, v;
  std::vector<float> crack;  // a supplied crack (unit), or empty for none
  Var(std::vector<float> t, std::vector<float> g, size_t P, bool moments)
      : theta(std::move(t)), grad(std::move(g)), phi(P, 1.0f) {
    if (moments) {
      m.assign(theta.size(), 0.0f);
      v.assign(theta.size(), 0.0f);
    }
  }
  Variable view() {
    return {theta.data(), grad.data(), phi.data(), m.empty() ? nullptr : m.data(),
            v.empty() ? nullptr : v.data(), theta.size(), phi.size(), crack.empty() ? nullptr : crack.data()};
  }
};

static long run(std::vector<Var*> vars, const Params& p, std::vector<uint8_t>* skipped = nullptr,
                std::vector<double>* moved = nullptr) {
  std::vector<Variable> views;
  for (Var* v : vars) views.push_back(v->view());
  std::vector<uint8_t> s(vars.size());
  std::vector<double> d(vars.size());
  const long r = step(views.data(), views.size(), p, s.data(), d.data());
  if (skipped) *skipped = s;
  if (moved) *moved = d;
  return r;
}

static Params sgd() {
  Params p;
  p.granularity = Granularity::Weight;
  p.base = Base::Sgd;
  p.learningRate = 0.1;
  p.gildingRate = 0.5;
  return p;
}

static void handCases() {
  {  // weight, sgd: cracks [1, 3]; hat [1.5, 2.5]; mean-normalized phi [0.75, 1.25].
    Var a({1, 2}, {1, 3}, 2, false);
    std::vector<double> moved;
    CHECK(run({&a}, sgd(), nullptr, &moved) == -1);
    CHECK(near(a.phi[0], 0.75) && near(a.phi[1], 1.25));
    CHECK(near(a.theta[0], 0.925) && near(a.theta[1], 1.625));
    CHECK(near(moved[0], 0.25));
  }
  {  // unit [2, 2], adam step 1, beta 0: phi stays 1, and the first Adam step is lr * sign(g).
    Var a({0, 0, 0, 0}, {1, -2, 3, 4}, 2, true);
    Params p = sgd();
    p.granularity = Granularity::Unit;
    p.base = Base::Adam;
    p.gildingRate = 0;
    CHECK(run({&a}, p) == -1);
    CHECK(near(a.phi[0], 1) && near(a.phi[1], 1));
    const float want[4] = {-0.1f, 0.1f, -0.1f, -0.1f};
    for (int i = 0; i < 4; i++) CHECK(near(a.theta[i], want[i], 1e-5));
    CHECK(near(a.m[1], -0.2) && near(a.v[3], 0.016));
  }
  {  // unit, relative: cracks [2, 3] -> [0.8, 1.2]; hat [1.4, 1.6]; sum 3 -> phi [14/15, 16/15].
    Var a({0, 0, 0, 0}, {1, 2, 3, 4}, 2, false);
    Params p = sgd();
    p.granularity = Granularity::Unit;
    p.relativeCrack = true;
    CHECK(run({&a}, p) == -1);
    CHECK(near(a.phi[0], 14.0 / 15) && near(a.phi[1], 16.0 / 15));
    CHECK(near(a.theta[2], -0.1 * 3 * 14.0 / 15));
  }
  {  // layer, relative: cracks [1, 3] -> [0.5, 1.5]; beta 1: hat [1.5, 2.5] -> phi [0.75, 1.25].
    Var a({0, 0}, {1, -1}, 1, false), b({0}, {3}, 1, false);
    Params p = sgd();
    p.granularity = Granularity::Layer;
    p.relativeCrack = true;
    p.gildingRate = 1;
    p.learningRate = 1;
    CHECK(run({&a, &b}, p) == -1);
    CHECK(near(a.phi[0], 0.75) && near(b.phi[0], 1.25));
    CHECK(near(a.theta[0], -0.75) && near(a.theta[1], 0.75) && near(b.theta[0], -3.75));
  }
  {  // momentum, weight decay, clamp: hat [1, 11] -> [1, 5]; u [0.9, 10.9].
    Var a({1, 1}, {0, 10}, 2, true);
    a.m = {1, 1};
    Params p = sgd();
    p.base = Base::Momentum;
    p.gildingRate = 1;
    p.normalizeMean = false;
    p.phiMax = 5;
    p.weightDecay = 0.1;
    CHECK(run({&a}, p) == -1);
    CHECK(near(a.phi[0], 1) && near(a.phi[1], 5));
    CHECK(near(a.m[1], 10.9));
    CHECK(near(a.theta[0], 0.9) && near(a.theta[1], -4.46, 1e-5));
  }
  {  // annealing 0.5 on phi 1: a = 0.5, so hat = 1 + 0.5 * 2 = 2.
    Var a({0, 0}, {2, 0}, 2, false);
    Params p = sgd();
    p.gildingRate = 1;
    p.normalizeMean = false;
    p.annealing = 0.5;
    CHECK(run({&a}, p) == -1);
    CHECK(near(a.phi[0], 2) && near(a.phi[1], 1));
  }
  {  // unit, relative, supplied crack [1, 3] (g's would be [2, 3]) -> [0.5, 1.5]; hat [1.25, 1.75]
     // -> phi [5/6, 7/6]. A zero crack leaves phi at 1.
    Var a({0, 0, 0, 0}, {1, 2, 3, 4}, 2, false), b({0, 0}, {1, 5}, 2, false);
    a.crack = {1, 3};
    b.crack = {0, 0};
    Params p = sgd();
    p.granularity = Granularity::Unit;
    p.relativeCrack = true;
    std::vector<double> moved;
    CHECK(run({&a, &b}, p, nullptr, &moved) == -1);
    CHECK(near(a.phi[0], 5.0 / 6) && near(a.phi[1], 7.0 / 6));
    CHECK(near(a.theta[3], -0.1 * 4 * 7.0 / 6));
    CHECK(near(moved[0], 1.0 / 6));
    CHECK(b.phi[0] == 1 && b.phi[1] == 1 && near(b.theta[1], -0.5));
  }
  {  // a supplied crack does not hide a NaN gradient: throw names it, skip leaves it untouched.
    Var a({1, 1}, {1, NAN}, 2, false);
    a.crack = {1, 1};
    Params p = sgd();
    p.granularity = Granularity::Unit;
    p.throwOnNonFinite = true;
    CHECK(run({&a}, p) == 0);
    CHECK(a.theta[0] == 1 && a.phi[0] == 1);
    p.throwOnNonFinite = false;
    std::vector<uint8_t> skipped;
    CHECK(run({&a}, p, &skipped) == -1);
    CHECK(skipped[0] == 1 && a.theta[0] == 1 && a.phi[0] == 1);
  }
  {  // non-finite: throw changes nothing; skip leaves only that variable untouched.
    Var a({1}, {1}, 1, false), b({1, 1}, {1, NAN}, 2, false);
    Params p = sgd();
    p.throwOnNonFinite = true;
    CHECK(run({&a, &b}, p) == 1);
    CHECK(a.theta[0] == 1 && b.theta[0] == 1 && a.phi[0] == 1);
    p.throwOnNonFinite = false;
    std::vector<uint8_t> skipped;
    CHECK(run({&a, &b}, p, &skipped) == -1);
    CHECK(skipped[0] == 0 && skipped[1] == 1);
    CHECK(a.theta[0] != 1 && b.theta[0] == 1 && b.phi[0] == 1);
  }
}

static std::vector<float> randoms(size_t n, unsigned seed, float scale) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> d(-scale, scale);
  std::vector<float> x(n);
  for (auto& e : x) e = d(gen);
  return x;
}

struct Model {
  std::vector<Var> vars;
};

// Sizes chosen to cross vector widths, chunk boundaries and unit table periods.
static Model makeModel(Granularity g) {
  Model m;
  const size_t shapes[][2] = {{1, 1}, {7, 3}, {17, 1}, {1023, 10}, {1500, 257}, {70000, 3}};
  unsigned seed = 1;
  for (auto& s : shapes) {
    const size_t n = s[0] * s[1];
    const size_t P = g == Granularity::Weight ? n : g == Granularity::Unit ? s[1] : 1;
    m.vars.emplace_back(randoms(n, seed, 1), randoms(n, seed + 100, 0.01f), P, true);
    seed++;
  }
  return m;
}

static void runModel(Model& m, Params p, int steps) {
  for (int t = 1; t <= steps; t++) {
    std::vector<Var*> ptrs;
    for (auto& v : m.vars) {
      v.grad = randoms(v.theta.size(), 1000u + t * 7u + unsigned(v.theta.size()), 0.01f);
      ptrs.push_back(&v);
    }
    p.step = t;
    run(ptrs, p);
  }
}

static bool sameBits(const Model& a, const Model& b) {
  for (size_t i = 0; i < a.vars.size(); i++) {
    const Var &x = a.vars[i], &y = b.vars[i];
    auto eq = [](const std::vector<float>& p, const std::vector<float>& q) {
      return p.size() == q.size() && std::memcmp(p.data(), q.data(), p.size() * sizeof(float)) == 0;
    };
    if (!eq(x.theta, y.theta) || !eq(x.phi, y.phi) || !eq(x.m, y.m) || !eq(x.v, y.v)) return false;
  }
  return true;
}

static double worstRelative(const Model& a, const Model& b) {
  double worst = 0;
  auto cmp = [&](const std::vector<float>& p, const std::vector<float>& q) {
    for (size_t k = 0; k < p.size(); k++) {
      const double scale = std::max({std::fabs(double(p[k])), std::fabs(double(q[k])), 1e-3});
      worst = std::max(worst, std::fabs(double(p[k]) - double(q[k])) / scale);
    }
  };
  for (size_t i = 0; i < a.vars.size(); i++) {
    cmp(a.vars[i].theta, b.vars[i].theta);
    cmp(a.vars[i].phi, b.vars[i].phi);
  }
  return worst;
}

int main() {
  std::printf("available: %s\n", availableIsas().c_str());
  const Isa all[] = {Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon, Isa::WasmSimd};
  for (Isa isa : all) {
    if (!isaAvailable(isa)) continue;
    capIsa(isa);
    std::printf("hand cases on %s\n", isaName(currentIsa()));
    handCases();
  }

  for (Granularity g : {Granularity::Weight, Granularity::Unit, Granularity::Layer}) {
    Params p;
    p.granularity = g;
    p.gildingRate = 0.5;
    p.relativeCrack = true;
    p.annealing = 0.1;
    p.weightDecay = 0.01;
    p.phiMax = 3;

    capIsa(Isa::Scalar);
    Model base = makeModel(g);
    runModel(base, p, 3);
    for (Isa isa : all) {
      if (isa == Isa::Scalar || !isaAvailable(isa)) continue;
      capIsa(isa);
      Model other = makeModel(g);
      runModel(other, p, 3);
      const double worst = worstRelative(base, other);
      std::printf("granularity %d: %s vs scalar, worst relative difference %.3g\n", int(g), isaName(isa), worst);
      CHECK(worst < 1e-5);
    }

    capIsa(Isa::Avx512);
    Model ref = makeModel(g);
    setThreadCount(1);
    runModel(ref, p, 20);
    for (int threads : {2, 4}) {
      setThreadCount(threads);
      Model other = makeModel(g);
      runModel(other, p, 20);
      std::printf("granularity %d: %s, %d threads bitwise equal to 1: %s\n", int(g), isaName(currentIsa()), threads,
                  sameBits(ref, other) ? "yes" : "NO");
      CHECK(sameBits(ref, other));
    }
  }
  std::printf(failures == 0 ? "all native tests passed\n" : "%d native test failures\n", failures);
  return failures == 0 ? 0 : 1;
}
