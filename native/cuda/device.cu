// The CUDA step on a GPU (session.h): pipeline.h's bodies as kernels, the variables' state in
// device memory, and g and theta crossing the bus through pinned buffers on three streams:
//
//   copy-in   host -> device copies of each piece's g and theta (after the host has packed the
//             piece into the pinned buffer; packing piece k+1 overlaps the copy of piece k)
//   compute   the kernels; each piece's pre-pass waits for that piece's copy only, so the
//             copy of piece k+1 overlaps the kernels of piece k
//   copy-out  device -> host copies of each piece's new theta, as soon as its update is done
//
// The per-variable normalization and the non-finite decision run as kernels between the
// pre-pass and the update, reading and writing device memory only: a step synchronizes with the
// host once, at its end, when it reads its outputs and hands theta back.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "pipeline.h"
#include "session.h"

namespace kintsugi {
namespace cuda {
namespace {

[[noreturn]] void fail(const char* what, cudaError_t e) {
  throw std::runtime_error(std::string("kintsugi cuda: ") + what + " failed: " + cudaGetErrorName(e) + " (" +
                           cudaGetErrorString(e) + ")");
}

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) fail(what, e);
}

#define CK(call) check((call), #call)

// The device's executor: all kThreads threads run f, then meet at a barrier. Host and device
// members, so that pipeline.h's host-and-device templates instantiate cleanly for both sides;
// only the device side is ever called.
struct DeviceExec {
  template <class F>
  KINTSUGI_HD void each(F&& f) {
#ifdef __CUDA_ARCH__
    f(int(threadIdx.x));
    __syncthreads();
#else
    (void)f;
#endif
  }
  KINTSUGI_HD void sync() {
#ifdef __CUDA_ARCH__
    __syncthreads();
#endif
  }
};

// element.h's vector interface (scalar_ops.h) for one float, without the CPU loop's W and Tail, with the round-to-nearest intrinsics: the same
// IEEE operations as ScalarOps<true> on the host (fmadd fused, everything else rounded once).
struct DeviceOps {
  using T = float;
  using DAcc = double;
#ifdef __CUDA_ARCH__
  __device__ static T load(const float* p) { return *p; }
  __device__ static void store(float* p, T x) { *p = x; }
  __device__ static T add(T a, T b) { return __fadd_rn(a, b); }
  __device__ static T sub(T a, T b) { return __fsub_rn(a, b); }
  __device__ static T mul(T a, T b) { return __fmul_rn(a, b); }
  __device__ static T div(T a, T b) { return __fdiv_rn(a, b); }
  __device__ static T sqrt(T a) { return __fsqrt_rn(a); }
  __device__ static T fmadd(T a, T b, T c) { return __fmaf_rn(a, b, c); }
#else
  static T load(const float* p) { return *p; }
  static void store(float* p, T x) { *p = x; }
  static T add(T a, T b) { return a + b; }
  static T sub(T a, T b) { return a - b; }
  static T mul(T a, T b) { return a * b; }
  static T div(T a, T b) { return a / b; }
  static T sqrt(T a) { return ::sqrtf(a); }
  static T fmadd(T a, T b, T c) { return ::fmaf(a, b, c); }
#endif
  KINTSUGI_HD static T set1(float x) { return x; }
  KINTSUGI_HD static T abs(T a) { return fabsf(a); }
  // Operand order as ScalarOps: a NaN in `a` yields `b`.
  KINTSUGI_HD static T min(T a, T b) { return a < b ? a : b; }
  KINTSUGI_HD static T max(T a, T b) { return a > b ? a : b; }
  KINTSUGI_HD static DAcc dzero() { return 0.0; }
  KINTSUGI_HD static void accAbs(DAcc& acc, T x) { acc += fabs(double(x)); }
  KINTSUGI_HD static double dtotal(const DAcc& acc) { return acc; }
};

// ---------------------------------------------------------------------------------------------
// Kernels: one block of kThreads threads per item, variable or decision.

__global__ void __launch_bounds__(kThreads) reduceKernel(StepArgs a, size_t item0) {
  __shared__ double s[3 * kThreads];
  DeviceExec x;
  reduceItem(x, a, item0 + blockIdx.x, s);
}

__global__ void __launch_bounds__(kThreads) reduceUnitKernel(StepArgs a, size_t item0) {
  DeviceExec x;
  reduceUnitItem(x, a, item0 + blockIdx.x);
}

__global__ void __launch_bounds__(kThreads) planKernel(StepArgs a, size_t var0, bool totals, bool gild) {
  __shared__ double s[3 * kThreads];
  DeviceExec x;
  if (totals) planTotals(x, a, var0 + blockIdx.x, s);
  if (gild) planGild(x, a, var0 + blockIdx.x, s);
}

__global__ void __launch_bounds__(kThreads) decideKernel(StepArgs a) {
  DeviceExec x;
  decide(x, a);
}

template <int B, int M>
__global__ void __launch_bounds__(kThreads) fusedKernel(StepArgs a, size_t item0) {
  __shared__ double s[3 * kThreads];
  DeviceExec x;
  fusedItem<DeviceOps, B, M>(x, a, item0 + blockIdx.x, s);
}

__global__ void __launch_bounds__(kThreads) finishKernel(StepArgs a, size_t var0) {
  __shared__ double s[3 * kThreads];
  DeviceExec x;
  finishVar(x, a, var0 + blockIdx.x, s);
}

using FusedKernel = void (*)(StepArgs, size_t);

FusedKernel fusedKernelFor(int base, Granularity g) {
  const int mode = g == Granularity::Weight ? int(PhiMode::Gild) : g == Granularity::Unit ? int(PhiMode::Table) : int(PhiMode::Const);
  static const FusedKernel table[3][3] = {
      {fusedKernel<kSgd, 0>, fusedKernel<kSgd, 1>, fusedKernel<kSgd, 2>},
      {fusedKernel<kMomentum, 0>, fusedKernel<kMomentum, 1>, fusedKernel<kMomentum, 2>},
      {fusedKernel<kAdam, 0>, fusedKernel<kAdam, 1>, fusedKernel<kAdam, 2>},
  };
  static_assert(int(PhiMode::Const) == 0 && int(PhiMode::Table) == 1 && int(PhiMode::Gild) == 2, "table order");
  return table[base][mode];
}

// ---------------------------------------------------------------------------------------------
// Memory that grows to the largest step and is then reused, so steady training allocates
// nothing. `held` counts the device bytes of the session.

template <class T>
struct DeviceArray {
  T* p = nullptr;
  size_t capacity = 0;
  void reserve(size_t n, size_t& held) {
    if (n <= capacity) return;
    const size_t want = std::max(n, capacity + capacity / 4);
    if (p != nullptr) {
      cudaFree(p);
      held -= capacity * sizeof(T);
      p = nullptr;
      capacity = 0;
    }
    CK(cudaMalloc(reinterpret_cast<void**>(&p), want * sizeof(T)));
    capacity = want;
    held += want * sizeof(T);
  }
  void reset(size_t& held) {
    if (p != nullptr) cudaFree(p);
    held -= capacity * sizeof(T);
    p = nullptr;
    capacity = 0;
  }
};

template <class T>
struct PinnedArray {
  T* p = nullptr;
  size_t capacity = 0;
  void reserve(size_t n) {
    if (n <= capacity) return;
    const size_t want = std::max(n, capacity + capacity / 4);
    if (p != nullptr) cudaFreeHost(p);
    p = nullptr;
    capacity = 0;
    CK(cudaHostAlloc(reinterpret_cast<void**>(&p), want * sizeof(T), cudaHostAllocDefault));
    capacity = want;
  }
  void reset() {
    if (p != nullptr) cudaFreeHost(p);
    p = nullptr;
    capacity = 0;
  }
};

struct Slot {
  float* base = nullptr;  // one allocation: phi, then m, then v, each 256-byte aligned
  float *phi = nullptr, *m = nullptr, *v = nullptr;
  size_t n = 0, P = 0, bytes = 0;
  Base kind = Base::Sgd;
};

size_t alignFloats(size_t n) { return (n + 63) / 64 * 64; }

}  // namespace

Probe probe() {
  Probe r;
  cudaDriverGetVersion(&r.driverVersion);
  cudaRuntimeGetVersion(&r.runtimeVersion);
  const cudaError_t e = cudaGetDeviceCount(&r.deviceCount);
  if (e != cudaSuccess) {
    cudaGetLastError();  // clears it
    r.deviceCount = 0;
    r.reason = std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
    return r;
  }
  if (r.deviceCount == 0) {
    r.reason = "the CUDA runtime found no device";
    return r;
  }
  int device = 0;
  cudaGetDevice(&device);
  cudaDeviceProp prop;
  if (cudaGetDeviceProperties(&prop, device) == cudaSuccess) {
    r.name = prop.name;
    r.major = prop.major;
    r.minor = prop.minor;
    r.totalMemory = prop.totalGlobalMem;
    r.multiprocessors = prop.multiProcessorCount;
  }
  cudaDeviceGetAttribute(&r.memoryClockKHz, cudaDevAttrMemoryClockRate, device);
  cudaDeviceGetAttribute(&r.busWidthBits, cudaDevAttrGlobalMemoryBusWidth, device);
  // A device this build has no code for (SASS or PTX the driver can compile) fails here, before
  // any state is allocated, instead of at the first launch.
  cudaFuncAttributes attributes;
  const cudaError_t k = cudaFuncGetAttributes(&attributes, decideKernel);
  if (k != cudaSuccess) {
    cudaGetLastError();
    r.reason = std::string(cudaGetErrorName(k)) + ": " + cudaGetErrorString(k) + " (device " + r.name +
               ", compute capability " + std::to_string(r.major) + "." + std::to_string(r.minor) +
               "; set KINTSUGI_CUDA_ARCHITECTURES for npm run build:cuda)";
    return r;
  }
  r.ok = true;
  return r;
}

struct Session::Impl {
  cudaStream_t in = nullptr, compute = nullptr, out = nullptr;
  std::vector<cudaEvent_t> evIn, evDone, evOut;
  cudaEvent_t evStatus = nullptr, timing0 = nullptr, timing1 = nullptr;
  std::vector<Slot> slots;  // by id; a released slot has base == nullptr
  size_t held = 0;

  // The step's buffers.
  DeviceArray<float> g, theta;
  PinnedArray<float> hostG, hostTheta;
  DeviceArray<VarDesc> vars;
  DeviceArray<Item> items, unitItems;
  DeviceArray<double> itemSums, itemMoved, unitParts, unitSums;
  DeviceArray<VarPlan> plans;
  DeviceArray<unsigned char> outputs;  // throwIndex, then mad[count], then skipped[count]
  PinnedArray<unsigned char> hostOutputs;

  // The layout of the last step, and what it was built from (reused while they match).
  Layout layout;
  std::vector<const void*> layoutKey;
  StepArgs args{};

  ~Impl() {
    if (compute != nullptr) cudaStreamSynchronize(compute);
    for (Slot& s : slots)
      if (s.base != nullptr) cudaFree(s.base);
    size_t ignored = 0;
    g.reset(ignored), theta.reset(ignored), vars.reset(ignored), items.reset(ignored), unitItems.reset(ignored);
    itemSums.reset(ignored), itemMoved.reset(ignored), unitParts.reset(ignored), unitSums.reset(ignored);
    plans.reset(ignored), outputs.reset(ignored);
    hostG.reset(), hostTheta.reset(), hostOutputs.reset();
    for (auto* list : {&evIn, &evDone, &evOut})
      for (cudaEvent_t e : *list) cudaEventDestroy(e);
    for (cudaEvent_t e : {evStatus, timing0, timing1})
      if (e != nullptr) cudaEventDestroy(e);
    for (cudaStream_t s : {in, compute, out})
      if (s != nullptr) cudaStreamDestroy(s);
  }

  Slot& slot(int id) {
    if (id < 0 || size_t(id) >= slots.size() || slots[size_t(id)].base == nullptr)
      throw std::runtime_error("kintsugi cuda: no device state with id " + std::to_string(id));
    return slots[size_t(id)];
  }

  void events(size_t pieces) {
    for (auto* list : {&evIn, &evDone, &evOut}) {
      while (list->size() < pieces) {
        cudaEvent_t e;
        CK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
        list->push_back(e);
      }
    }
  }

  // The layout of a step over these slots, built and uploaded only when it changed.
  void prepare(const int* ids, size_t count, const Params& p) {
    std::vector<const void*> key;
    key.reserve(3 * count + 1);
    key.push_back(reinterpret_cast<const void*>(uintptr_t(p.granularity)));
    for (size_t i = 0; i < count; i++) {
      const Slot& s = slot(ids[i]);
      key.push_back(s.base);
      key.push_back(reinterpret_cast<const void*>(uintptr_t(s.n)));
      key.push_back(reinterpret_cast<const void*>(uintptr_t(s.P)));
    }
    if (key == layoutKey) return;
    std::vector<size_t> n(count), P(count);
    for (size_t i = 0; i < count; i++) n[i] = slot(ids[i]).n, P[i] = slot(ids[i]).P;
    Layout L = buildLayout(n.data(), P.data(), count, p.granularity);
    for (size_t i = 0; i < count; i++) {
      const Slot& s = slot(ids[i]);
      L.vars[i].phi = s.phi;
      L.vars[i].m = s.m;
      L.vars[i].v = s.v;
    }
    layoutKey.clear();  // a failure below leaves no layout to reuse
    const size_t outBytes = 8 + count * 9;
    g.reserve(L.elements, held);
    theta.reserve(L.elements, held);
    hostG.reserve(L.elements);
    hostTheta.reserve(L.elements);
    vars.reserve(count, held);
    items.reserve(L.items.size(), held);
    unitItems.reserve(L.unitItems.size(), held);
    itemSums.reserve(3 * L.items.size(), held);
    itemMoved.reserve(L.items.size(), held);
    unitParts.reserve(L.unitParts, held);
    unitSums.reserve(L.unitSums, held);
    plans.reserve(count, held);
    outputs.reserve(outBytes, held);
    hostOutputs.reserve(outBytes);
    events(L.pieces.size());
    CK(cudaStreamSynchronize(compute));
    if (count) CK(cudaMemcpy(vars.p, L.vars.data(), count * sizeof(VarDesc), cudaMemcpyHostToDevice));
    if (!L.items.empty()) CK(cudaMemcpy(items.p, L.items.data(), L.items.size() * sizeof(Item), cudaMemcpyHostToDevice));
    if (!L.unitItems.empty())
      CK(cudaMemcpy(unitItems.p, L.unitItems.data(), L.unitItems.size() * sizeof(Item), cudaMemcpyHostToDevice));
    layout = std::move(L);
    layoutKey = std::move(key);
  }

  StepArgs argsFor(size_t count, const Params& p) {
    StepArgs a{};
    a.vars = vars.p;
    a.items = items.p;
    a.unitItems = unitItems.p;
    a.g = g.p;
    a.theta = theta.p;
    a.itemSums = itemSums.p;
    a.itemMoved = itemMoved.p;
    a.unitParts = unitParts.p;
    a.unitSums = unitSums.p;
    a.plan = plans.p;
    a.throwIndex = reinterpret_cast<long long*>(outputs.p);
    a.madOut = reinterpret_cast<double*>(outputs.p + 8);
    a.skippedOut = outputs.p + 8 + 8 * count;
    a.count = count;
    a.p = p;
    a.f = fusedArgsOf(p);
    return a;
  }
};

namespace {

// runStep's stages as launches and copies on the session's streams. With `transfer` false the
// data already on the device is used (the benchmark's kernels-only timing).
struct DeviceRun {
  Session::Impl& s;
  const StepArgs& a;
  bool transfer;
  float* const* thetas = nullptr;
  const float* const* grads = nullptr;

  size_t index(const Piece& piece) const { return size_t(&piece - s.layout.pieces.data()); }

  void copyIn(const Piece& piece) {
    if (!transfer || piece.off1 == piece.off0) return;
    for (size_t i = piece.var0; i < piece.var1; i++) {
      const VarDesc& d = s.layout.vars[i];
      if (d.n == 0) continue;
      std::memcpy(s.hostG.p + d.off, grads[i], d.n * sizeof(float));
      std::memcpy(s.hostTheta.p + d.off, thetas[i], d.n * sizeof(float));
    }
    const size_t bytes = (piece.off1 - piece.off0) * sizeof(float);
    CK(cudaMemcpyAsync(s.g.p + piece.off0, s.hostG.p + piece.off0, bytes, cudaMemcpyHostToDevice, s.in));
    CK(cudaMemcpyAsync(s.theta.p + piece.off0, s.hostTheta.p + piece.off0, bytes, cudaMemcpyHostToDevice, s.in));
    CK(cudaEventRecord(s.evIn[index(piece)], s.in));
    CK(cudaStreamWaitEvent(s.compute, s.evIn[index(piece)], 0));
  }
  void reduce(const Piece& piece) {
    if (a.p.granularity == Granularity::Unit) {
      if (piece.unitItem1 > piece.unitItem0)
        reduceUnitKernel<<<unsigned(piece.unitItem1 - piece.unitItem0), kThreads, 0, s.compute>>>(a, piece.unitItem0);
    } else if (piece.item1 > piece.item0) {
      reduceKernel<<<unsigned(piece.item1 - piece.item0), kThreads, 0, s.compute>>>(a, piece.item0);
    }
    CK(cudaGetLastError());
  }
  void plan(size_t var0, size_t var1, bool totals, bool gild) {
    if (var1 > var0) planKernel<<<unsigned(var1 - var0), kThreads, 0, s.compute>>>(a, var0, totals, gild);
    CK(cudaGetLastError());
  }
  void decide() {
    decideKernel<<<1, kThreads, 0, s.compute>>>(a);
    CK(cudaGetLastError());
  }
  void fused(const Piece& piece) {
    if (piece.item1 > piece.item0)
      fusedKernelFor(a.f.base, a.p.granularity)<<<unsigned(piece.item1 - piece.item0), kThreads, 0, s.compute>>>(a, piece.item0);
    CK(cudaGetLastError());
  }
  void finish(size_t var0, size_t var1) {
    if (var1 > var0) finishKernel<<<unsigned(var1 - var0), kThreads, 0, s.compute>>>(a, var0);
    CK(cudaGetLastError());
  }
  void copyOut(const Piece& piece) {
    if (!transfer) return;
    const size_t k = index(piece);
    CK(cudaEventRecord(s.evDone[k], s.compute));
    CK(cudaStreamWaitEvent(s.out, s.evDone[k], 0));
    const size_t bytes = (piece.off1 - piece.off0) * sizeof(float);
    if (bytes) CK(cudaMemcpyAsync(s.hostTheta.p + piece.off0, s.theta.p + piece.off0, bytes, cudaMemcpyDeviceToHost, s.out));
    CK(cudaEventRecord(s.evOut[k], s.out));
  }
  void outputs() {
    if (!transfer) return;
    const size_t bytes = 8 + 9 * a.count;
    CK(cudaMemcpyAsync(s.hostOutputs.p, s.outputs.p, bytes, cudaMemcpyDeviceToHost, s.compute));
    CK(cudaEventRecord(s.evStatus, s.compute));
  }
};

}  // namespace

Session::Session() : impl_(new Impl) {
  const Probe p = probe();
  if (!p.ok) throw std::runtime_error("kintsugi cuda: no usable GPU: " + p.reason);
  Impl& s = *impl_;
  CK(cudaStreamCreateWithFlags(&s.in, cudaStreamNonBlocking));
  CK(cudaStreamCreateWithFlags(&s.compute, cudaStreamNonBlocking));
  CK(cudaStreamCreateWithFlags(&s.out, cudaStreamNonBlocking));
  CK(cudaEventCreateWithFlags(&s.evStatus, cudaEventDisableTiming));
  CK(cudaEventCreate(&s.timing0));
  CK(cudaEventCreate(&s.timing1));
}

Session::~Session() = default;

int Session::alloc(size_t n, size_t P, Base kind) {
  Impl& s = *impl_;
  Slot slot;
  slot.n = n;
  slot.P = P;
  slot.kind = kind;
  const size_t mLen = kind == Base::Sgd ? 0 : n, vLen = kind == Base::Adam ? n : 0;
  const size_t floats = alignFloats(P) + alignFloats(mLen) + alignFloats(vLen);
  slot.bytes = std::max<size_t>(floats, 1) * sizeof(float);
  CK(cudaMalloc(reinterpret_cast<void**>(&slot.base), slot.bytes));
  slot.phi = slot.base;
  slot.m = mLen ? slot.base + alignFloats(P) : nullptr;
  slot.v = vLen ? slot.base + alignFloats(P) + alignFloats(mLen) : nullptr;
  s.held += slot.bytes;
  for (size_t id = 0; id < s.slots.size(); id++) {
    if (s.slots[id].base == nullptr) {
      s.slots[id] = slot;
      return int(id);
    }
  }
  s.slots.push_back(slot);
  return int(s.slots.size() - 1);
}

void Session::release(int id) {
  Impl& s = *impl_;
  Slot& slot = s.slot(id);
  CK(cudaStreamSynchronize(s.compute));
  cudaFree(slot.base);
  s.held -= slot.bytes;
  slot = Slot{};
  s.layoutKey.clear();
}

bool Session::has(int id) const { return id >= 0 && size_t(id) < impl_->slots.size() && impl_->slots[size_t(id)].base != nullptr; }
size_t Session::elements(int id) const { return impl_->slot(id).n; }
size_t Session::pathways(int id) const { return impl_->slot(id).P; }
Base Session::base(int id) const { return impl_->slot(id).kind; }

void Session::upload(int id, const float* phi, const float* m, const float* v) {
  Impl& s = *impl_;
  const Slot& slot = s.slot(id);
  CK(cudaStreamSynchronize(s.compute));
  if (slot.P) CK(cudaMemcpy(slot.phi, phi, slot.P * sizeof(float), cudaMemcpyHostToDevice));
  if (slot.m && slot.n) CK(cudaMemcpy(slot.m, m, slot.n * sizeof(float), cudaMemcpyHostToDevice));
  if (slot.v && slot.n) CK(cudaMemcpy(slot.v, v, slot.n * sizeof(float), cudaMemcpyHostToDevice));
}

void Session::download(int id, float* phi, float* m, float* v) {
  Impl& s = *impl_;
  const Slot& slot = s.slot(id);
  CK(cudaStreamSynchronize(s.compute));
  if (slot.P) CK(cudaMemcpy(phi, slot.phi, slot.P * sizeof(float), cudaMemcpyDeviceToHost));
  if (slot.m && slot.n) CK(cudaMemcpy(m, slot.m, slot.n * sizeof(float), cudaMemcpyDeviceToHost));
  if (slot.v && slot.n) CK(cudaMemcpy(v, slot.v, slot.n * sizeof(float), cudaMemcpyDeviceToHost));
}

long Session::step(const int* ids, float* const* thetas, const float* const* grads, size_t count, const Params& p,
                   uint8_t* skipped, double* meanAbsDeltaPhi) {
  if (count == 0) return -1;
  Impl& s = *impl_;
  s.prepare(ids, count, p);
  s.args = s.argsFor(count, p);
  CK(cudaMemsetAsync(s.outputs.p, 0xff, 8, s.compute));  // throwIndex = -1
  DeviceRun run{s, s.args, true, thetas, grads};
  runStep(run, s.layout, p);

  // The one synchronization of the step: its outputs, then theta, piece by piece.
  CK(cudaEventSynchronize(s.evStatus));
  long long throwIndex;
  std::memcpy(&throwIndex, s.hostOutputs.p, 8);
  const auto copyBack = [&](const Piece& piece) {
    CK(cudaEventSynchronize(s.evOut[size_t(&piece - s.layout.pieces.data())]));
    if (throwIndex >= 0) return;
    for (size_t i = piece.var0; i < piece.var1; i++) {
      const VarDesc& d = s.layout.vars[i];
      if (d.n) std::memcpy(thetas[i], s.hostTheta.p + d.off, d.n * sizeof(float));
    }
  };
  for (const Piece& piece : s.layout.pieces) copyBack(piece);
  if (throwIndex >= 0) return long(throwIndex);
  std::memcpy(meanAbsDeltaPhi, s.hostOutputs.p + 8, 8 * count);
  std::memcpy(skipped, s.hostOutputs.p + 8 + 8 * count, count);
  return -1;
}

Session::Memory Session::memory() const {
  Memory m{0, 0, impl_->held};
  CK(cudaMemGetInfo(&m.free, &m.total));
  return m;
}

double Session::stepKernelsMs(const Params& p, int reps) {
  Impl& s = *impl_;
  if (s.layoutKey.empty()) throw std::runtime_error("kintsugi cuda: stepKernelsMs needs a step first");
  const StepArgs a = s.argsFor(s.layout.vars.size(), p);
  DeviceRun run{s, a, false};
  CK(cudaMemsetAsync(s.outputs.p, 0xff, 8, s.compute));  // throwIndex = -1
  runStep(run, s.layout, p);  // warm-up
  CK(cudaEventRecord(s.timing0, s.compute));
  for (int r = 0; r < reps; r++) runStep(run, s.layout, p);
  CK(cudaEventRecord(s.timing1, s.compute));
  CK(cudaEventSynchronize(s.timing1));
  float ms = 0;
  CK(cudaEventElapsedTime(&ms, s.timing0, s.timing1));
  return double(ms) / reps;
}

Session::Bandwidth Session::bandwidth(size_t bytes, int reps) {
  Impl& s = *impl_;
  size_t held = 0;
  DeviceArray<unsigned char> a, b;
  PinnedArray<unsigned char> h;
  Bandwidth r{};
  try {
    a.reserve(bytes, held);
    b.reserve(bytes, held);
    h.reserve(bytes);
    const auto time = [&](void* dst, const void* src, cudaMemcpyKind kind) {
      CK(cudaMemcpyAsync(dst, src, bytes, kind, s.compute));  // warm-up
      CK(cudaEventRecord(s.timing0, s.compute));
      for (int k = 0; k < reps; k++) CK(cudaMemcpyAsync(dst, src, bytes, kind, s.compute));
      CK(cudaEventRecord(s.timing1, s.compute));
      CK(cudaEventSynchronize(s.timing1));
      float ms = 0;
      CK(cudaEventElapsedTime(&ms, s.timing0, s.timing1));
      return double(bytes) * reps / (double(ms) * 1e6);
    };
    // A device-to-device copy reads and writes every byte: 2 x bytes moved.
    r.deviceToDevice = 2 * time(b.p, a.p, cudaMemcpyDeviceToDevice);
    r.hostToDevice = time(a.p, h.p, cudaMemcpyHostToDevice);
    r.deviceToHost = time(h.p, a.p, cudaMemcpyDeviceToHost);
  } catch (...) {
    a.reset(held), b.reset(held), h.reset();
    throw;
  }
  a.reset(held), b.reset(held), h.reset();
  return r;
}

}  // namespace cuda
}  // namespace kintsugi
