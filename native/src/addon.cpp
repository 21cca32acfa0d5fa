// The N-API skin over kintsugi::step: validates everything that crosses from JS, so a bad
// argument is a JS exception, never a crash or a silent write out of bounds.
#include <napi.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "kintsugi/kernel.h"
#include "kintsugi/runtime.h"
#include "kintsugi/triad.h"
#include "validate.h"

#ifndef KINTSUGI_ADDON_VERSION
#define KINTSUGI_ADDON_VERSION "unknown"
#endif

namespace {

using kintsugi::Param;
using kintsugi::Variable;

const std::string kPrefix = "kintsugi native: ";

[[noreturn]] void typeError(Napi::Env env, const std::string& msg) { throw Napi::TypeError::New(env, kPrefix + msg); }
[[noreturn]] void rangeError(Napi::Env env, const std::string& msg) { throw Napi::RangeError::New(env, kPrefix + msg); }

using Span = kintsugi::FloatSpan;

// A failed check of phase 2 (native/src/validate.h), thrown as the JS error it names.
void throwIf(Napi::Env env, const kintsugi::Check& c, const std::string& prefix = "") {
  if (c.kind == kintsugi::Check::Type) typeError(env, prefix + c.message);
  if (c.kind == kintsugi::Check::Range) rangeError(env, prefix + c.message);
}

// Whether `value` is a typed array backed by a detached ArrayBuffer (which reads as length 0).
bool isDetached(napi_env env, napi_value value) {
  napi_value buffer = nullptr;
  bool detached = false;
  return napi_get_typedarray_info(env, value, nullptr, nullptr, nullptr, &buffer, nullptr) == napi_ok &&
         napi_is_detached_arraybuffer(env, buffer, &detached) == napi_ok && detached;
}

// A Float32Array, with its byteOffset already applied by N-API. `who()` names it in an error; it
// is called only when one is thrown, because this runs for every variable of every step. One
// napi_get_typedarray_info answers type, length and data; it runs no JS.
template <class Who>
Span floatArray(Napi::Env env, napi_value value, const Who& who) {
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  if (napi_get_typedarray_info(env, value, &type, &length, &data, nullptr, nullptr) != napi_ok ||
      type != napi_float32_array)
    typeError(env, who() + " must be a Float32Array");
  // A detached buffer reads as length 0 and no data, so only an empty array needs the check.
  if (length == 0 && isDetached(env, value)) typeError(env, who() + " is backed by a detached ArrayBuffer");
  Span s{static_cast<float*>(data), length};
  // JS guarantees byteOffset % 4 == 0 for a Float32Array; checked anyway, as the kernels rely on it.
  if (s.length > 0 && reinterpret_cast<uintptr_t>(s.data) % alignof(float) != 0)
    rangeError(env, who() + " is not 4-byte aligned");
  return s;
}

// params[key], a number in its range (kintsugi::checkParam: NUMBER_RULES of src/options.ts, the
// codes, the step), checked as soon as it is read, so no later getter runs after a bad value.
double number(Napi::Env env, const Napi::Object& params, Param key) {
  const char* name = kintsugi::paramName(key);
  const Napi::Value value = params.Get(name);
  if (!value.IsNumber()) typeError(env, std::string("params.") + name + " must be a number");
  const double x = value.As<Napi::Number>().DoubleValue();
  throwIf(env, kintsugi::checkParam(key, x));
  return x;
}

bool boolean(Napi::Env env, const Napi::Object& params, const char* key) {
  const Napi::Value value = params.Get(key);
  if (!value.IsBoolean()) typeError(env, std::string("params.") + key + " must be a boolean");
  return value.As<Napi::Boolean>().Value();
}

kintsugi::Params readParams(Napi::Env env, const Napi::Value& value) {
  if (!value.IsObject()) typeError(env, "params must be an object");
  const Napi::Object o = value.As<Napi::Object>();
  kintsugi::RawParams raw;
  raw.granularity = number(env, o, Param::Granularity);
  raw.base = number(env, o, Param::Base);
  raw.learningRate = number(env, o, Param::LearningRate);
  raw.gildingRate = number(env, o, Param::GildingRate);
  raw.annealing = number(env, o, Param::Annealing);
  raw.relativeCrack = boolean(env, o, "relativeCrack");
  raw.normalizeMean = boolean(env, o, "normalizeMean");
  raw.phiMin = number(env, o, Param::PhiMin);
  raw.phiMax = number(env, o, Param::PhiMax);
  raw.momentum = number(env, o, Param::Momentum);
  raw.beta1 = number(env, o, Param::Beta1);
  raw.beta2 = number(env, o, Param::Beta2);
  raw.epsilon = number(env, o, Param::Epsilon);
  raw.weightDecay = number(env, o, Param::WeightDecay);
  raw.throwOnNonFinite = boolean(env, o, "throwOnNonFinite");
  raw.step = number(env, o, Param::Step);
  // Every number was checked as it was read; this converts (and checks all again, at no cost).
  kintsugi::Params p;
  throwIf(env, kintsugi::validateParams(raw, &p));
  return p;
}

// What one variable contributes to the call: the object and the arrays the kernel reads, the five
// it always takes, then the optional crack (undefined: none).
constexpr const char* kFieldNames[] = {"theta", "grad", "phi", "m", "v", "crack"};
constexpr size_t kFields = sizeof(kFieldNames) / sizeof(kFieldNames[0]);
constexpr size_t kCrack = 5;
constexpr size_t kSlots = 1 + kFields;  // handles per variable: the object, then its fields

void check(Napi::Env env, napi_status status) {
  // A getter or proxy trap that threw leaves its exception pending; Error::New(env) takes it.
  if (status != napi_ok) throw Napi::Error::New(env);
}

// "vars[3] ('dense/kernel')", for error messages only: reading the name may run a getter, which
// is harmless on the way to a throw.
std::string label(Napi::Env env, napi_value value, size_t index) {
  std::string w = "vars[" + std::to_string(index) + "]";
  const Napi::Value v(env, value);
  if (v.IsObject()) {
    const Napi::Value name = v.As<Napi::Object>().Get("name");
    if (name.IsString()) w += " ('" + name.As<Napi::String>().Utf8Value() + "')";
  }
  return w;
}

// The first of the step's two phases: every property read that can run JavaScript (a getter, a
// proxy trap) happens here, and nothing is validated that such code could later invalidate.
// Reads vars[i] and its fields into handles[i * kSlots ...]: 1 + kFields N-API reads per variable,
// through keys made once per call.
void readVariables(Napi::Env env, napi_value array, size_t count, std::vector<napi_value>& handles) {
  napi_value keys[kFields];
  for (size_t k = 0; k < kFields; k++) check(env, napi_create_string_latin1(env, kFieldNames[k], NAPI_AUTO_LENGTH, &keys[k]));
  handles.resize(count * kSlots);
  for (size_t i = 0; i < count; i++) {
    napi_value* slot = &handles[i * kSlots];
    check(env, napi_get_element(env, array, uint32_t(i), &slot[0]));
    napi_valuetype type;
    check(env, napi_typeof(env, slot[0], &type));
    if (type != napi_object && type != napi_function) typeError(env, label(env, slot[0], i) + " must be an object");
    for (size_t k = 0; k < kFields; k++) check(env, napi_get_property(env, slot[0], keys[k], &slot[1 + k]));
  }
}

// The second phase, for one variable: its kFields arrays, checked against each other and the
// params (a crack's values too: no JavaScript can change them from here to the step). Runs no
// JavaScript (except in `who`, to label an error just before throwing it).
template <class Who>
Variable checkVariable(Napi::Env env, const napi_value* fields, const Who& who, const kintsugi::Params& p) {
  const auto field = [&](size_t k) { return floatArray(env, fields[k], [&] { return who() + "." + kFieldNames[k]; }); };
  const Span arrays[kCrack] = {field(0), field(1), field(2), field(3), field(4)};
  napi_valuetype crackType = napi_undefined;
  if (napi_typeof(env, fields[kCrack], &crackType) != napi_ok) crackType = napi_object;  // then floatArray says what
  Span crack{nullptr, 0};
  if (crackType != napi_undefined) crack = field(kCrack);
  Variable var;
  const kintsugi::Check c = kintsugi::validateVariable(arrays, p, &var, crackType != napi_undefined ? &crack : nullptr);
  if (!c.ok()) throwIf(env, c, who() + ": ");
  return var;
}

// The rest of phase 2, once every variable is checked: no overlap, the output arrays, the step.
Napi::Value finishStep(Napi::Env env, const std::vector<Variable>& vars, const kintsugi::Params& params,
                       const Napi::Value& skippedValue, const Napi::Value& movedValue) {
  const size_t count = vars.size();
  throwIf(env, kintsugi::validateNoOverlap(vars.data(), count));
  if (!skippedValue.IsTypedArray() || skippedValue.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    typeError(env, "skipped must be a Uint8Array");
  if (!movedValue.IsTypedArray() || movedValue.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
    typeError(env, "meanAbsDeltaPhi must be a Float64Array");
  Napi::Uint8Array skipped = skippedValue.As<Napi::Uint8Array>();
  Napi::Float64Array moved = movedValue.As<Napi::Float64Array>();
  throwIf(env, kintsugi::validateOutputs(count, skipped.ElementLength(), moved.Data(), moved.ElementLength()));

  const long bad = kintsugi::step(vars.data(), count, params, skipped.Data(), moved.Data());
  return Napi::Number::New(env, double(bad));
}

// step(vars, params, skipped, meanAbsDeltaPhi) -> -1 or the index of the first variable with a
// non-finite gradient (throwOnNonFinite; then nothing was changed). Reads each variable's arrays
// through N-API (7 property reads per variable); the exported `step` calls it for the cases that
// stepArrays does not take (see kReader).
Napi::Value Step(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 4) typeError(env, "step(vars, params, skipped, meanAbsDeltaPhi) takes 4 arguments");
  if (!info[0].IsArray()) typeError(env, "vars must be an array");
  // Phase 1, reads: the params (copied out as numbers, so checked at once) and every variable's
  // handles. Getters and proxies may run here, and may detach or resize any buffer.
  const kintsugi::Params params = readParams(env, info[1]);
  const size_t count = info[0].As<Napi::Array>().Length();
  std::vector<napi_value> handles;
  readVariables(env, info[0], count, handles);

  // Phase 2, checks and the step: no JavaScript runs from here to the kernel's last write, so what
  // is checked (types, lengths, detached buffers, overlap) still holds when the kernel writes.
  std::vector<Variable> vars(count);
  for (size_t i = 0; i < count; i++) {
    const napi_value* slot = &handles[i * kSlots];
    vars[i] = checkVariable(env, slot + 1, [&] { return label(env, slot[0], i); }, params);
  }
  return finishStep(env, vars, params, info[2], info[3]);
}

// stepArrays(vars, params, skipped, meanAbsDeltaPhi, theta0, grad0, phi0, m0, v0, crack0, theta1, ...):
// the same step, with every variable's arrays already read by kReader and passed as arguments, so
// that one napi_get_cb_info takes them all instead of seven property reads per variable. `vars`
// serves only to label errors; the arguments are the arrays the step uses.
Napi::Value StepArrays(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const size_t argc = info.Length();
  if (argc < 4 || (argc - 4) % kFields != 0) typeError(env, "stepArrays takes 4 + 6 * vars.length arguments");
  if (!info[0].IsArray()) typeError(env, "vars must be an array");
  // Phase 1: the params' getters are the last JavaScript to run (kReader ran the variables' ones).
  const kintsugi::Params params = readParams(env, info[1]);
  // Phase 2, as in Step.
  const size_t count = (argc - 4) / kFields;
  std::vector<napi_value> argv(argc);
  for (size_t k = 4; k < argc; k++) argv[k] = info[k];
  std::vector<Variable> vars(count);
  for (size_t i = 0; i < count; i++) {
    const auto who = [&]() {
      napi_value object = nullptr;
      napi_get_element(env, info[0], uint32_t(i), &object);
      return object != nullptr ? label(env, object, i) : "vars[" + std::to_string(i) + "]";
    };
    vars[i] = checkVariable(env, &argv[4 + i * kFields], who, params);
  }
  return finishStep(env, vars, params, info[2], info[3]);
}

// The exported `step`: reads the variables' arrays in JavaScript, where property reads take
// nanoseconds (N-API's take about a microsecond for a variable's six), and hands them to
// stepArrays as arguments. Anything else (another argument count, a variable that is not an
// object, more than kMaxReadVars variables, whose arguments would crowd the stack) goes to Step,
// which reads through N-API and reports the error. Either way every getter has run before the
// binding checks a single array.
constexpr int kMaxReadVars = 1024;
const char* const kReader = R"js((function (stepObjects, stepArrays, maxVars) {
  'use strict';
  let spare = null; // the last call's argument list, emptied: reused while the count stays the same
  return function step(vars, params, skipped, meanAbsDeltaPhi) {
    if (arguments.length !== 4 || !Array.isArray(vars) || vars.length > maxVars) return stepObjects.apply(undefined, arguments);
    const n = vars.length;
    let args = spare;
    spare = null; // a getter that calls step meanwhile makes its own
    if (args === null || args.length !== 4 + 6 * n) args = new Array(4 + 6 * n);
    try {
      args[0] = vars; args[1] = params; args[2] = skipped; args[3] = meanAbsDeltaPhi;
      for (let i = 0, k = 4; i < n; i++, k += 6) {
        const v = vars[i];
        if (v === null || (typeof v !== 'object' && typeof v !== 'function')) return stepObjects(vars, params, skipped, meanAbsDeltaPhi);
        args[k] = v.theta; args[k + 1] = v.grad; args[k + 2] = v.phi; args[k + 3] = v.m; args[k + 4] = v.v; args[k + 5] = v.crack;
      }
      return stepArrays.apply(undefined, args);
    } finally {
      args.fill(undefined); // holds no array past the call
      spare = args;
    }
  };
}))js";

// `step` as above, or, should the reader not compile, Step itself.
Napi::Function makeStep(Napi::Env env) {
  const Napi::Function step = Napi::Function::New(env, Step, "step");
  try {
    const Napi::Value factory = env.RunScript(kReader);
    const Napi::Value reader = factory.As<Napi::Function>().Call(
        {step, Napi::Function::New(env, StepArrays, "stepArrays"), Napi::Number::New(env, kMaxReadVars)});
    if (reader.IsFunction()) return reader.As<Napi::Function>();
  } catch (const Napi::Error&) {
  }
  return step;
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("isa", kintsugi::isaName(kintsugi::currentIsa()));
  o.Set("threads", kintsugi::threadCount());
  o.Set("version", KINTSUGI_ADDON_VERSION);
  Napi::Array isas = Napi::Array::New(env);
  uint32_t k = 0;
  for (auto isa : {kintsugi::Isa::Scalar, kintsugi::Isa::Avx2, kintsugi::Isa::Avx512, kintsugi::Isa::Neon})
    if (kintsugi::isaAvailable(isa)) isas.Set(k++, kintsugi::isaName(isa));
  o.Set("isasAvailable", isas);
  return o;
}

// Testing hooks: cap the instruction set / resize the pool in this process; return what is in use.
Napi::Value SetIsa(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  kintsugi::Isa cap;
  if (info.Length() < 1 || !info[0].IsString() || !kintsugi::parseIsa(info[0].As<Napi::String>().Utf8Value(), &cap))
    typeError(env, "setIsa(isa) takes 'scalar', 'avx2', 'avx512' or 'neon'");
  return Napi::String::New(env, kintsugi::isaName(kintsugi::capIsa(cap)));
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) typeError(env, "setThreads(n) takes a number");
  const double n = info[0].As<Napi::Number>().DoubleValue();
  if (!(n >= 1 && n <= 256) || n != std::floor(n)) rangeError(env, "setThreads(n) takes an integer in [1, 256]");
  return Napi::Number::New(env, kintsugi::setThreadCount(int(n)));
}

// triad(a, b, c, s): a = b + s·c over three equal-length Float32Arrays; the benchmark's roofline.
Napi::Value Triad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[3].IsNumber()) typeError(env, "triad(a, b, c, s) takes three Float32Arrays and a number");
  const auto arg = [&](size_t i, const char* name) { return floatArray(env, info[i], [name] { return std::string("triad.") + name; }); };
  const Span a = arg(0, "a"), b = arg(1, "b"), c = arg(2, "c");
  if (a.length != b.length || a.length != c.length) rangeError(env, "triad: a, b and c must have one length");
  const double s = info[3].As<Napi::Number>().DoubleValue();
  if (!std::isfinite(s)) rangeError(env, "triad: s must be finite");
  kintsugi::triad(a.data, b.data, c.data, float(s), a.length);
  return env.Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("triad", Napi::Function::New(env, Triad, "triad"));
  exports.Set("step", makeStep(env));
  exports.Set("info", Napi::Function::New(env, Info, "info"));
  exports.Set("setIsa", Napi::Function::New(env, SetIsa, "setIsa"));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads, "setThreads"));
  return exports;
}

}  // namespace

NODE_API_MODULE(kintsugi, Init)
