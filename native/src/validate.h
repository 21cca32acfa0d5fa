// The binding's CHECK phase (docs/errors.md, "The binding's memory safety") over plain values, with
// no N-API in it: native/src/addon.cpp reads the arguments from JavaScript, then calls these; the
// libFuzzer target native/test/fuzz_validate.cpp calls the same functions on arbitrary inputs and
// runs kintsugi::step on whatever they accept, under ASan/UBSan.
//
// Each check returns a Check: ok, or the kind of JS error to throw (TypeError or RangeError) and
// its message. Messages of validateVariable have no "vars[i] ('name')" prefix; the caller adds it.
#pragma once
#include <cstddef>
#include <string>

#include "kintsugi/kernel.h"

namespace kintsugi {

struct Check {
  enum Kind { Ok = 0, Type, Range } kind = Ok;
  std::string message;
  bool ok() const { return kind == Ok; }
  static Check range(std::string m) { return {Range, std::move(m)}; }
};

// A float array as the binding sees it: the data (byteOffset applied) and the element count.
struct FloatSpan {
  float* data;
  size_t length;
};

// The hyperparameters the binding checks, by name, in the order it reads them.
enum class Param : int {
  Granularity, Base, LearningRate, GildingRate, Annealing, PhiMin, PhiMax, Momentum, Beta1, Beta2,
  Epsilon, WeightDecay, Step
};
const char* paramName(Param key);

// params.<key> = x against its range (NUMBER_RULES of src/options.ts; granularity and base 0, 1
// or 2; step an integer in 1 .. Number.MAX_SAFE_INTEGER).
Check checkParam(Param key, double x);

// The raw params, as numbers: every range above, in the binding's order, and, when all hold, the
// kernel's Params in *out.
struct RawParams {
  double granularity, base, learningRate, gildingRate, annealing;
  bool relativeCrack, normalizeMean;
  double phiMin, phiMax, momentum, beta1, beta2, epsilon, weightDecay;
  bool throwOnNonFinite;
  double step;
};
Check validateParams(const RawParams& raw, Params* out);

// One variable's five arrays (theta, grad, phi, m, v), in that order: alignment, grad's length,
// phi's for the granularity, m's and v's for the base. On success, the kernel's Variable in *out.
// `crack`, the variable's optional supplied crack (null: none, which differs from an empty one):
// for unit granularity only, aligned, P values, each finite and >= 0; it reads the values, so the
// caller calls this when nothing can change them before the step.
Check validateVariable(const FloatSpan fields[5], const Params& p, Variable* out, const FloatSpan* crack = nullptr);

// No written array overlaps any other array, of any variable (a crack is read only, as grad).
Check validateNoOverlap(const Variable* vars, size_t count);

// The output arrays: at least `count` elements each, meanAbsDeltaPhi 8-byte aligned.
Check validateOutputs(size_t count, size_t skippedLength, const void* movedData, size_t movedLength);

}  // namespace kintsugi
