// The N-API skin over kintsugi::step: validates everything that crosses from JS, so a bad
// argument is a JS exception, never a crash or a silent write out of bounds.
#include <napi.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "kintsugi/kernel.h"
#include "kintsugi/runtime.h"
#include "kintsugi/triad.h"

#ifndef KINTSUGI_ADDON_VERSION
#define KINTSUGI_ADDON_VERSION "unknown"
#endif

namespace {

using kintsugi::Variable;

const std::string kPrefix = "kintsugi native: ";

[[noreturn]] void typeError(Napi::Env env, const std::string& msg) { throw Napi::TypeError::New(env, kPrefix + msg); }
[[noreturn]] void rangeError(Napi::Env env, const std::string& msg) { throw Napi::RangeError::New(env, kPrefix + msg); }

struct Span {
  float* data;
  size_t length;
};

// A Float32Array, with its byteOffset already applied by N-API. `who()` names it in an error; it
// is called only when one is thrown, because this runs for every variable of every step.
template <class Who>
Span floatArray(Napi::Env env, const Napi::Value& value, const Who& who) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    typeError(env, who() + " must be a Float32Array");
  Napi::Float32Array array = value.As<Napi::Float32Array>();
  bool detached = false;
  if (napi_is_detached_arraybuffer(env, array.ArrayBuffer(), &detached) == napi_ok && detached)
    typeError(env, who() + " is backed by a detached ArrayBuffer");
  Span s{array.Data(), array.ElementLength()};
  // JS guarantees byteOffset % 4 == 0 for a Float32Array; checked anyway, as the kernels rely on it.
  if (s.length > 0 && reinterpret_cast<uintptr_t>(s.data) % alignof(float) != 0)
    rangeError(env, who() + " is not 4-byte aligned");
  return s;
}

double number(Napi::Env env, const Napi::Object& params, const char* key, double min, double max, bool minOpen,
              bool maxOpen, bool allowInfinity = false) {
  const Napi::Value value = params.Get(key);
  if (!value.IsNumber()) typeError(env, std::string("params.") + key + " must be a number");
  const double x = value.As<Napi::Number>().DoubleValue();
  const bool ok = !std::isnan(x) && (std::isfinite(x) || (allowInfinity && x > 0)) &&
                  (minOpen ? x > min : x >= min) && (maxOpen ? x < max : x <= max);
  if (!ok) {
    rangeError(env, std::string("params.") + key + " must be in " + (minOpen ? "(" : "[") + std::to_string(min) +
                        ", " + (std::isinf(max) ? "Infinity" : std::to_string(max)) + (maxOpen ? ")" : "]") +
                        "; got " + value.ToString().Utf8Value());
  }
  return x;
}

bool boolean(Napi::Env env, const Napi::Object& params, const char* key) {
  const Napi::Value value = params.Get(key);
  if (!value.IsBoolean()) typeError(env, std::string("params.") + key + " must be a boolean");
  return value.As<Napi::Boolean>().Value();
}

int code(Napi::Env env, const Napi::Object& params, const char* key) {
  const double x = number(env, params, key, 0, 2, false, false);
  if (x != std::floor(x)) rangeError(env, std::string("params.") + key + " must be 0, 1 or 2");
  return int(x);
}

kintsugi::Params readParams(Napi::Env env, const Napi::Value& value) {
  if (!value.IsObject()) typeError(env, "params must be an object");
  const Napi::Object o = value.As<Napi::Object>();
  const double inf = INFINITY;
  kintsugi::Params p;
  p.granularity = kintsugi::Granularity(code(env, o, "granularity"));
  p.base = kintsugi::Base(code(env, o, "base"));
  p.learningRate = number(env, o, "learningRate", 0, inf, false, false);
  p.gildingRate = number(env, o, "gildingRate", 0, inf, false, false);
  p.annealing = number(env, o, "annealing", 0, inf, false, false);
  p.relativeCrack = boolean(env, o, "relativeCrack");
  p.normalizeMean = boolean(env, o, "normalizeMean");
  p.phiMin = number(env, o, "phiMin", 0, inf, false, false);
  p.phiMax = number(env, o, "phiMax", p.phiMin, inf, false, false, true);
  p.momentum = number(env, o, "momentum", 0, 1, false, true);
  p.beta1 = number(env, o, "beta1", 0, 1, false, true);
  p.beta2 = number(env, o, "beta2", 0, 1, false, true);
  p.epsilon = number(env, o, "epsilon", 0, inf, true, false);
  p.weightDecay = number(env, o, "weightDecay", 0, inf, false, false);
  p.throwOnNonFinite = boolean(env, o, "throwOnNonFinite");
  p.step = number(env, o, "step", 1, 9007199254740991.0, false, false);
  if (p.step != std::floor(p.step)) rangeError(env, "params.step must be an integer >= 1");
  return p;
}

Variable readVariable(Napi::Env env, const Napi::Value& value, size_t index, const kintsugi::Params& p) {
  // The label for errors only: building it costs a name read and string copies per variable.
  const auto who = [&]() {
    std::string w = "vars[" + std::to_string(index) + "]";
    if (value.IsObject()) {
      const Napi::Value name = value.As<Napi::Object>().Get("name");
      if (name.IsString()) w += " ('" + name.As<Napi::String>().Utf8Value() + "')";
    }
    return w;
  };
  if (!value.IsObject()) typeError(env, who() + " must be an object");
  const Napi::Object o = value.As<Napi::Object>();
  const auto field = [&](const char* key) { return floatArray(env, o.Get(key), [&] { return who() + "." + key; }); };
  const Span theta = field("theta"), grad = field("grad"), phi = field("phi"), m = field("m"), v = field("v");
  const size_t n = theta.length, P = phi.length;
  if (grad.length != n) rangeError(env, who() + ": grad has " + std::to_string(grad.length) + " elements, theta " + std::to_string(n));
  if (p.granularity == kintsugi::Granularity::Weight && P != n)
    rangeError(env, who() + ": granularity weight needs phi.length == theta.length (" + std::to_string(n) + "); got " + std::to_string(P));
  if (p.granularity == kintsugi::Granularity::Layer && P != 1)
    rangeError(env, who() + ": granularity layer needs phi.length == 1; got " + std::to_string(P));
  if (p.granularity == kintsugi::Granularity::Unit && (P == 0 ? n != 0 : n % P != 0))
    rangeError(env, who() + ": granularity unit needs theta.length (" + std::to_string(n) + ") to be a multiple of phi.length (" + std::to_string(P) + ")");
  const bool needM = p.base != kintsugi::Base::Sgd, needV = p.base == kintsugi::Base::Adam;
  auto moment = [&](const Span& s, bool needed, const char* key) {
    if (s.length == n || (s.length == 0 && !needed)) return;
    rangeError(env, who() + ": " + key + " must have " + std::to_string(n) + (needed ? "" : " or 0") +
                        " elements for this base; got " + std::to_string(s.length));
  };
  moment(m, needM, "m");
  moment(v, needV, "v");
  return {theta.data, grad.data, phi.data, m.length ? m.data : nullptr, v.length ? v.data : nullptr, n, P};
}

// Overlapping buffers would make the result depend on the order of writes (and on threads):
// no written range may overlap any other range.
void checkNoOverlap(Napi::Env env, const std::vector<Variable>& vars) {
  struct R {
    uintptr_t begin, end;
    bool written;
    size_t var;
  };
  std::vector<R> rs;
  for (size_t i = 0; i < vars.size(); i++) {
    const Variable& v = vars[i];
    auto add = [&](const float* p, size_t len, bool written) {
      if (p != nullptr && len > 0) rs.push_back({uintptr_t(p), uintptr_t(p + len), written, i});
    };
    add(v.theta, v.n, true);
    add(v.grad, v.n, false);
    add(v.phi, v.P, true);
    add(v.m, v.m ? v.n : 0, true);
    add(v.v, v.v ? v.n : 0, true);
  }
  std::sort(rs.begin(), rs.end(), [](const R& a, const R& b) { return a.begin < b.begin; });
  uintptr_t endAny = 0, endWritten = 0;
  size_t varAny = 0, varWritten = 0;
  for (const R& r : rs) {
    if (r.begin < endWritten || (r.written && r.begin < endAny)) {
      const size_t other = r.begin < endWritten ? varWritten : varAny;
      rangeError(env, "the arrays of vars[" + std::to_string(std::min(other, r.var)) + "] and vars[" +
                          std::to_string(std::max(other, r.var)) + "] overlap in memory, and one of them is written");
    }
    if (r.end > endAny) endAny = r.end, varAny = r.var;
    if (r.written && r.end > endWritten) endWritten = r.end, varWritten = r.var;
  }
}

// step(vars, params, skipped, meanAbsDeltaPhi) -> -1 or the index of the first variable with a
// non-finite gradient (throwOnNonFinite; then nothing was changed).
Napi::Value Step(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 4) typeError(env, "step(vars, params, skipped, meanAbsDeltaPhi) takes 4 arguments");
  if (!info[0].IsArray()) typeError(env, "vars must be an array");
  const kintsugi::Params params = readParams(env, info[1]);
  const Napi::Array array = info[0].As<Napi::Array>();
  const size_t count = array.Length();
  std::vector<Variable> vars;
  vars.reserve(count);
  for (size_t i = 0; i < count; i++) vars.push_back(readVariable(env, array.Get(uint32_t(i)), i, params));
  checkNoOverlap(env, vars);

  if (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    typeError(env, "skipped must be a Uint8Array");
  if (!info[3].IsTypedArray() || info[3].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
    typeError(env, "meanAbsDeltaPhi must be a Float64Array");
  Napi::Uint8Array skipped = info[2].As<Napi::Uint8Array>();
  Napi::Float64Array moved = info[3].As<Napi::Float64Array>();
  if (skipped.ElementLength() < count || moved.ElementLength() < count)
    rangeError(env, "skipped and meanAbsDeltaPhi need at least vars.length (" + std::to_string(count) + ") elements");
  if (reinterpret_cast<uintptr_t>(moved.Data()) % alignof(double) != 0 && count > 0)
    rangeError(env, "meanAbsDeltaPhi is not 8-byte aligned");

  const long bad = kintsugi::step(vars.data(), count, params, skipped.Data(), moved.Data());
  return Napi::Number::New(env, double(bad));
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
  exports.Set("step", Napi::Function::New(env, Step, "step"));
  exports.Set("info", Napi::Function::New(env, Info, "info"));
  exports.Set("setIsa", Napi::Function::New(env, SetIsa, "setIsa"));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads, "setThreads"));
  return exports;
}

}  // namespace

NODE_API_MODULE(kintsugi, Init)
