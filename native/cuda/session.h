// The CUDA step's host-side interface, free of CUDA types, so the N-API skin (addon.cpp) is plain
// C++. device.cu implements it: the GPU, its streams, the variables' state in device memory and
// the pinned buffers g and theta cross the bus through.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "kintsugi/kernel.h"

namespace kintsugi {
namespace cuda {

// What the CUDA runtime reports; never throws. ok is false, with the CUDA error in `reason`, when
// there is no driver, no device, or no kernel image in this build for the device.
struct Probe {
  bool ok = false;
  std::string reason;
  int deviceCount = 0;
  std::string name;
  int major = 0, minor = 0;      // compute capability
  size_t totalMemory = 0;        // bytes
  int memoryClockKHz = 0;        // peak memory clock
  int busWidthBits = 0;          // global memory bus width
  int multiprocessors = 0;
  int driverVersion = 0, runtimeVersion = 0;  // 1000 major + 10 minor, as CUDA reports them
};
Probe probe();

// One optimizer's device state: per variable a slot holding phi, m and v in device memory, kept
// across steps; and the buffers a step needs, grown to the largest step and then reused.
class Session {
 public:
  Session();  // throws std::runtime_error (with the CUDA error) when no device can be used
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // A slot for a variable of n elements and P pathways under `base` (m: momentum and adam; v:
  // adam). Its contents are undefined until upload().
  int alloc(size_t n, size_t P, Base base);
  void release(int id);
  bool has(int id) const;
  size_t elements(int id) const;
  size_t pathways(int id) const;
  Base base(int id) const;
  // phi: P floats; m, v: n floats where the base keeps them (else ignored).
  void upload(int id, const float* phi, const float* m, const float* v);
  void download(int id, float* phi, float* m, float* v);

  // One step over `count` variables, slots ids[i], with theta and grad in host memory (the
  // caller checked every length against the slot): kintsugi::step's contract, results and
  // errors: -1, or the first variable with a non-finite gradient under throwOnNonFinite, with
  // nothing written.
  long step(const int* ids, float* const* thetas, const float* const* grads, size_t count, const Params& params,
            uint8_t* skipped, double* meanAbsDeltaPhi);

  struct Memory {
    size_t free, total;  // the device's, from cudaMemGetInfo
    size_t held;         // what this session has allocated on the device
  };
  Memory memory() const;

  // Benchmark hooks. stepKernelsMs: the last step's kernels run again `reps` times on the data
  // already on the device (no transfer), milliseconds per step from CUDA events.
  double stepKernelsMs(const Params& params, int reps);
  struct Bandwidth {
    double deviceToDevice, hostToDevice, deviceToHost;  // GB/s: cudaMemcpy of `bytes`, pinned host memory
  };
  Bandwidth bandwidth(size_t bytes, int reps);

  struct Impl;  // device.cu

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace cuda
}  // namespace kintsugi
