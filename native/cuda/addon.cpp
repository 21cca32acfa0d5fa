// The N-API skin of the CUDA addon (build/cuda/kintsugi_cuda.node, built by npm run build:cuda and
// never shipped). It checks everything that crosses from JavaScript, with the CPU binding's
// rules and messages (native/src/validate.cpp), so a bad argument is a JS exception, never a
// crash or a write out of bounds; and it turns every CUDA failure into a JS Error carrying the
// CUDA error string. cudart is linked statically: the addon loads on a machine without the CUDA
// runtime, and probe() says why no GPU can be used there.
//
//   probe()                                   what the CUDA runtime reports; never throws
//   stepOnHost(vars, params, skipped, moved)  the CUDA step run on the host (host_step.h)
//   new Session()                             a GPU's device state for one optimizer
//     .alloc(n, P, base) .upload(id, phi, m, v) .download(id, phi, m, v) .release(id)
//     .step(ids, thetas, grads, params, skipped, moved)  -> -1 or the first non-finite variable
//     .memory() .stepKernelsMs(params, reps) .bandwidth(bytes, reps) .dispose()
//
// `params` is a Float64Array of the 16 KernelParams fields in PARAM_ORDER (src/kernel/cuda.ts),
// booleans as 0 or 1: packed once per step in JavaScript, read here without a property lookup.
#include <napi.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "host_step.h"
#include "kintsugi/kernel.h"
#include "session.h"
#include "validate.h"

#ifndef KINTSUGI_ADDON_VERSION
#define KINTSUGI_ADDON_VERSION "unknown"
#endif

namespace {

using kintsugi::Check;
using kintsugi::FloatSpan;
using kintsugi::Params;
using kintsugi::Variable;

const std::string kPrefix = "kintsugi cuda: ";

[[noreturn]] void typeError(Napi::Env env, const std::string& msg) { throw Napi::TypeError::New(env, kPrefix + msg); }
[[noreturn]] void rangeError(Napi::Env env, const std::string& msg) { throw Napi::RangeError::New(env, kPrefix + msg); }

void throwIf(Napi::Env env, const Check& c, const std::string& prefix = "") {
  if (c.kind == Check::Type) typeError(env, prefix + c.message);
  if (c.kind == Check::Range) rangeError(env, prefix + c.message);
}

// A CUDA failure (std::runtime_error from device.cu) as a JS Error with its message.
template <class F>
auto guarded(Napi::Env env, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

// A typed array of the given type, whose buffer is attached.
template <class T>
T* typedData(Napi::Env env, const Napi::Value& value, napi_typedarray_type want, const char* typeName, const std::string& who,
             size_t* length) {
  napi_typedarray_type type;
  size_t n = 0;
  void* data = nullptr;
  napi_value buffer = nullptr;
  if (napi_get_typedarray_info(env, value, &type, &n, &data, &buffer, nullptr) != napi_ok || type != want)
    typeError(env, who + " must be a " + typeName);
  bool detached = false;
  if (n == 0 && napi_is_detached_arraybuffer(env, buffer, &detached) == napi_ok && detached)
    typeError(env, who + " is backed by a detached ArrayBuffer");
  *length = n;
  return static_cast<T*>(data);
}

FloatSpan floats(Napi::Env env, const Napi::Value& value, const std::string& who) {
  size_t n = 0;
  float* p = typedData<float>(env, value, napi_float32_array, "Float32Array", who, &n);
  return {p, n};
}

// The 16 params in PARAM_ORDER: every number in its range (validate.cpp), booleans 0 or 1.
Params readParams(Napi::Env env, const Napi::Value& value) {
  size_t n = 0;
  const double* x = typedData<double>(env, value, napi_float64_array, "Float64Array", "params", &n);
  if (n != 16) rangeError(env, "params must hold the 16 KernelParams fields; got " + std::to_string(n));
  const auto flag = [&](double v, const char* name) {
    if (v != 0 && v != 1) rangeError(env, std::string("params.") + name + " must be 0 or 1 (a boolean)");
    return v == 1;
  };
  kintsugi::RawParams raw;
  raw.granularity = x[0];
  raw.base = x[1];
  raw.learningRate = x[2];
  raw.gildingRate = x[3];
  raw.annealing = x[4];
  raw.relativeCrack = flag(x[5], "relativeCrack");
  raw.normalizeMean = flag(x[6], "normalizeMean");
  raw.phiMin = x[7];
  raw.phiMax = x[8];
  raw.momentum = x[9];
  raw.beta1 = x[10];
  raw.beta2 = x[11];
  raw.epsilon = x[12];
  raw.weightDecay = x[13];
  raw.throwOnNonFinite = flag(x[14], "throwOnNonFinite");
  raw.step = x[15];
  Params p;
  throwIf(env, kintsugi::validateParams(raw, &p));
  return p;
}

// A JS array of `count` typed arrays (or, when count is 0 on entry, of any length).
Napi::Array arrayArg(Napi::Env env, const Napi::Value& value, const char* name) {
  if (!value.IsArray()) typeError(env, std::string(name) + " must be an array");
  return value.As<Napi::Array>();
}

struct Outputs {
  uint8_t* skipped;
  double* moved;
};

Outputs readOutputs(Napi::Env env, const Napi::Value& skippedValue, const Napi::Value& movedValue, size_t count) {
  size_t ns = 0, nm = 0;
  uint8_t* skipped = typedData<uint8_t>(env, skippedValue, napi_uint8_array, "Uint8Array", "skipped", &ns);
  double* moved = typedData<double>(env, movedValue, napi_float64_array, "Float64Array", "meanAbsDeltaPhi", &nm);
  throwIf(env, kintsugi::validateOutputs(count, ns, moved, nm));
  return {skipped, moved};
}

Napi::Value Probe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const kintsugi::cuda::Probe p = kintsugi::cuda::probe();
  Napi::Object o = Napi::Object::New(env);
  o.Set("ok", p.ok);
  o.Set("reason", p.reason);
  o.Set("deviceCount", p.deviceCount);
  o.Set("name", p.name);
  o.Set("computeCapability", std::to_string(p.major) + "." + std::to_string(p.minor));
  o.Set("totalMemory", double(p.totalMemory));
  o.Set("memoryClockKHz", p.memoryClockKHz);
  o.Set("busWidthBits", p.busWidthBits);
  o.Set("multiprocessors", p.multiprocessors);
  o.Set("driverVersion", p.driverVersion);
  o.Set("runtimeVersion", p.runtimeVersion);
  return o;
}

// The CUDA kernels have no path for a supplied crack (KernelVariable.crack) yet; src/kernel/cuda.ts
// refuses one with this message before calling here, and stepOnHost refuses one too rather than
// ignore it and step on g's cracks.
const char* const kNoCrack =
    "kintsugi: per-example cracks (a supplied unit crack) are not supported on device 'cuda' yet; use device 'cpu'";

// stepOnHost(vars, params, skipped, moved): vars an array of {theta, grad, phi, m, v}, checked as
// the CPU binding checks them; a crack other than undefined is refused (kNoCrack).
Napi::Value StepOnHost(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 4) typeError(env, "stepOnHost(vars, params, skipped, meanAbsDeltaPhi) takes 4 arguments");
  const Napi::Array list = arrayArg(env, info[0], "vars");
  const size_t count = list.Length();
  static const char* const kFields[] = {"theta", "grad", "phi", "m", "v"};
  // Every property read (which may run a getter) before any check of what was read.
  std::vector<Napi::Value> fields(count * 5);
  bool cracked = false;
  for (size_t i = 0; i < count; i++) {
    const Napi::Value v = list.Get(uint32_t(i));
    if (!v.IsObject()) typeError(env, "vars[" + std::to_string(i) + "] must be an object");
    for (size_t k = 0; k < 5; k++) fields[i * 5 + k] = v.As<Napi::Object>().Get(kFields[k]);
    cracked = cracked || !v.As<Napi::Object>().Get("crack").IsUndefined();
  }
  const Params p = readParams(env, info[1]);
  if (cracked) throw Napi::Error::New(env, kNoCrack);
  std::vector<Variable> vars(count);
  for (size_t i = 0; i < count; i++) {
    const std::string who = "vars[" + std::to_string(i) + "]";
    FloatSpan spans[5];
    for (size_t k = 0; k < 5; k++) spans[k] = floats(env, fields[i * 5 + k], who + "." + kFields[k]);
    throwIf(env, kintsugi::validateVariable(spans, p, &vars[i]), who + ": ");
  }
  throwIf(env, kintsugi::validateNoOverlap(vars.data(), count));
  const Outputs out = readOutputs(env, info[2], info[3], count);
  return Napi::Number::New(env, double(kintsugi::cuda::hostStep(vars.data(), count, p, out.skipped, out.moved)));
}

class SessionWrap : public Napi::ObjectWrap<SessionWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Session",
                       {InstanceMethod<&SessionWrap::Alloc>("alloc"), InstanceMethod<&SessionWrap::Copy<true>>("upload"),
                        InstanceMethod<&SessionWrap::Copy<false>>("download"), InstanceMethod<&SessionWrap::Release>("release"),
                        InstanceMethod<&SessionWrap::Step>("step"), InstanceMethod<&SessionWrap::Memory>("memory"),
                        InstanceMethod<&SessionWrap::StepKernelsMs>("stepKernelsMs"),
                        InstanceMethod<&SessionWrap::Bandwidth>("bandwidth"), InstanceMethod<&SessionWrap::Dispose>("dispose")});
  }

  explicit SessionWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SessionWrap>(info) {
    session_ = guarded(info.Env(), [] { return std::make_unique<kintsugi::cuda::Session>(); });
  }

 private:
  std::unique_ptr<kintsugi::cuda::Session> session_;

  kintsugi::cuda::Session& live(Napi::Env env) {
    if (!session_) throw Napi::Error::New(env, kPrefix + "this session was disposed");
    return *session_;
  }

  static size_t count(Napi::Env env, const Napi::Value& v, const char* name, double max) {
    if (!v.IsNumber()) typeError(env, std::string(name) + " must be a number");
    const double x = v.As<Napi::Number>().DoubleValue();
    if (!(x >= 0 && x <= max) || x != std::floor(x)) rangeError(env, std::string(name) + " must be an integer in [0, " + std::to_string(size_t(max)) + "]");
    return size_t(x);
  }

  int id(Napi::Env env, const Napi::Value& v) {
    const size_t i = count(env, v, "id", 2147483647.0);
    if (!live(env).has(int(i))) rangeError(env, "no device state with id " + std::to_string(i));
    return int(i);
  }

  Napi::Value Alloc(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const size_t n = count(env, info[0], "n", 9007199254740991.0), P = count(env, info[1], "P", 9007199254740991.0);
    const size_t base = count(env, info[2], "base", 2);
    auto& s = live(env);
    return Napi::Number::New(env, guarded(env, [&] { return s.alloc(n, P, kintsugi::Base(int(base))); }));
  }

  // The slot's phi, m and v arrays: exactly its lengths (m, v empty where the base keeps none).
  void stateArrays(Napi::Env env, const Napi::CallbackInfo& info, int slot, FloatSpan out[3]) {
    auto& s = live(env);
    const size_t n = s.elements(slot), P = s.pathways(slot);
    const kintsugi::Base b = s.base(slot);
    const size_t want[3] = {P, b == kintsugi::Base::Sgd ? 0 : n, b == kintsugi::Base::Adam ? n : 0};
    static const char* const names[] = {"phi", "m", "v"};
    for (size_t k = 0; k < 3; k++) out[k] = floats(env, info[1 + k], names[k]);
    for (size_t k = 0; k < 3; k++)
      if (out[k].length != want[k])
        rangeError(env, std::string(names[k]) + " has " + std::to_string(out[k].length) + " elements; device state " +
                            std::to_string(slot) + " holds " + std::to_string(want[k]));
  }

  // upload(id, phi, m, v) (ToDevice) and download(id, phi, m, v): a slot's state from or to these arrays.
  template <bool ToDevice>
  Napi::Value Copy(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const int slot = id(env, info[0]);
    FloatSpan a[3];
    stateArrays(env, info, slot, a);
    guarded(env, [&] {
      if (ToDevice) live(env).upload(slot, a[0].data, a[1].data, a[2].data);
      else live(env).download(slot, a[0].data, a[1].data, a[2].data);
    });
    return env.Undefined();
  }

  Napi::Value Release(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const int slot = id(env, info[0]);
    guarded(env, [&] { live(env).release(slot); });
    return env.Undefined();
  }

  // step(ids: Int32Array, thetas: Float32Array[], grads: Float32Array[], params, skipped, moved)
  Napi::Value Step(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() != 6) typeError(env, "step(ids, thetas, grads, params, skipped, meanAbsDeltaPhi) takes 6 arguments");
    auto& s = live(env);
    // Every element read (which may run a getter, and detach a buffer) before any typed array is
    // taken or checked.
    const Napi::Array thetaList = arrayArg(env, info[1], "thetas"), gradList = arrayArg(env, info[2], "grads");
    const size_t listed = thetaList.Length();
    std::vector<Napi::Value> thetaValues(listed), gradValues(listed);
    for (size_t i = 0; i < listed; i++) {
      thetaValues[i] = thetaList.Get(uint32_t(i));
      if (i < gradList.Length()) gradValues[i] = gradList.Get(uint32_t(i));
    }
    size_t count = 0;
    const int32_t* ids = typedData<int32_t>(env, info[0], napi_int32_array, "Int32Array", "ids", &count);
    if (listed != count || gradList.Length() != count)
      rangeError(env, "ids, thetas and grads must have one length; got " + std::to_string(count) + ", " +
                          std::to_string(listed) + ", " + std::to_string(gradList.Length()));
    const Params p = readParams(env, info[3]);
    std::vector<Variable> vars(count);
    std::vector<float*> thetas(count);
    std::vector<const float*> grads(count);
    std::vector<bool> seen;
    for (size_t i = 0; i < count; i++) {
      const std::string who = "vars[" + std::to_string(i) + "]";
      const int slot = ids[i];
      if (!s.has(slot)) rangeError(env, who + ": no device state with id " + std::to_string(slot));
      if (seen.size() <= size_t(slot)) seen.resize(size_t(slot) + 1);
      if (seen[size_t(slot)]) rangeError(env, who + ": device state " + std::to_string(slot) + " appears twice in one step");
      seen[size_t(slot)] = true;
      const size_t n = s.elements(slot), P = s.pathways(slot);
      const FloatSpan theta = floats(env, thetaValues[i], who + ".theta"), grad = floats(env, gradValues[i], who + ".grad");
      if (theta.length != n || grad.length != n)
        rangeError(env, who + ": theta and grad must have the " + std::to_string(n) + " elements of its device state; got " +
                            std::to_string(theta.length) + " and " + std::to_string(grad.length));
      if (s.base(slot) != p.base) rangeError(env, who + ": its device state was made for another base");
      const bool fits = p.granularity == kintsugi::Granularity::Weight ? P == n
                        : p.granularity == kintsugi::Granularity::Layer ? P == 1
                                                                        : (P == 0 ? n == 0 : n % P == 0);
      if (!fits) rangeError(env, who + ": its device state's " + std::to_string(P) + " pathways do not fit this granularity");
      vars[i] = {theta.data, grad.data, nullptr, nullptr, nullptr, n, 0};
      thetas[i] = theta.data;
      grads[i] = grad.data;
    }
    throwIf(env, kintsugi::validateNoOverlap(vars.data(), count));
    const Outputs out = readOutputs(env, info[4], info[5], count);
    const long bad = guarded(env, [&] { return s.step(ids, thetas.data(), grads.data(), count, p, out.skipped, out.moved); });
    return Napi::Number::New(env, double(bad));
  }

  Napi::Value Memory(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const auto m = guarded(env, [&] { return live(env).memory(); });
    Napi::Object o = Napi::Object::New(env);
    o.Set("free", double(m.free));
    o.Set("total", double(m.total));
    o.Set("held", double(m.held));
    return o;
  }

  Napi::Value StepKernelsMs(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const Params p = readParams(env, info[0]);
    const size_t reps = count(env, info[1], "reps", 100000);
    if (reps == 0) rangeError(env, "reps must be at least 1");
    return Napi::Number::New(env, guarded(env, [&] { return live(env).stepKernelsMs(p, int(reps)); }));
  }

  Napi::Value Bandwidth(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const size_t bytes = count(env, info[0], "bytes", 68719476736.0), reps = count(env, info[1], "reps", 100000);
    if (bytes == 0 || reps == 0) rangeError(env, "bytes and reps must be at least 1");
    const auto b = guarded(env, [&] { return live(env).bandwidth(bytes, int(reps)); });
    Napi::Object o = Napi::Object::New(env);
    o.Set("deviceToDevice", b.deviceToDevice);
    o.Set("hostToDevice", b.hostToDevice);
    o.Set("deviceToHost", b.deviceToHost);
    return o;
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    session_.reset();
    return info.Env().Undefined();
  }
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("probe", Napi::Function::New(env, Probe, "probe"));
  exports.Set("stepOnHost", Napi::Function::New(env, StepOnHost, "stepOnHost"));
  exports.Set("Session", SessionWrap::Define(env));
  exports.Set("version", KINTSUGI_ADDON_VERSION);
  return exports;
}

}  // namespace

NODE_API_MODULE(kintsugi_cuda, Init)
