#include "pool.h"

#include "kintsugi/runtime.h"

// WebAssembly without pthreads (the wasm build, native/wasm/) has no threads to start: every
// task runs on the calling thread, in index order. Results do not depend on the thread count.
#if defined(__EMSCRIPTEN__) && !defined(__EMSCRIPTEN_PTHREADS__)
#define KINTSUGI_SERIAL_POOL 1
#endif

#if defined(KINTSUGI_SERIAL_POOL)
namespace kintsugi {

void parallelFor(size_t count, const std::function<void(size_t)>& task) {
  for (size_t i = 0; i < count; i++) task(i);
}

int threadCount() { return 1; }

int setThreadCount(int) { return 1; }

}  // namespace kintsugi
#else
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace kintsugi {
namespace {

// Memory bandwidth, not arithmetic, bounds the step; beyond a few cores more threads only add
// wake-up cost, so the default stops at 8.
constexpr int kDefaultMaxThreads = 8;
constexpr int kMaxThreads = 256;

// KINTSUGI_THREADS by the rules of src/env.ts: a whole number ≥ 1 (digits only: no sign, space
// or leading zero), capped at the CPU count unless it ends in '!' (then at most 256). Returns 0 for
// unset or any other value: JS refuses such a value with an error before it uses the addon, but
// this runs at static initialization, where nothing can throw, so here it means the default.
int threadsFromEnvironment(int cpus) {
  const char* p = std::getenv("KINTSUGI_THREADS");
  if (p == nullptr || *p < '1' || *p > '9') return 0;
  int n = 0;  // saturates just above kMaxThreads
  for (; *p >= '0' && *p <= '9'; p++) n = std::min(n * 10 + (*p - '0'), kMaxThreads + 1);
  const bool forced = *p == '!';
  if (forced) p++;
  if (*p != '\0' || (forced && n > kMaxThreads)) return 0;
  return forced ? n : std::min(n, cpus);
}

int defaultThreads() {
  const unsigned hw = std::thread::hardware_concurrency();
  const int cpus = hw == 0 ? 1 : int(std::min<unsigned>(hw, kMaxThreads));
  const int fromEnv = threadsFromEnvironment(cpus);
  return fromEnv > 0 ? fromEnv : std::min(cpus, kDefaultMaxThreads);
}

class Pool {
 public:
  explicit Pool(int threads) { start(threads); }

  int threads() const { return int(workers_.size()) + 1; }

  void resize(int threads) {
    std::lock_guard<std::mutex> call(callMutex_);
    stop();
    start(threads);
  }

  void run(size_t count, const std::function<void(size_t)>& task) {
    std::lock_guard<std::mutex> call(callMutex_);
    if (workers_.empty() || count <= 1) {
      for (size_t i = 0; i < count; i++) task(i);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      task_ = &task;
      count_ = count;
      next_.store(0);
      busy_ = workers_.size();
      generation_++;
    }
    wake_.notify_all();
    drain();
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [&] { return busy_ == 0; });
    task_ = nullptr;
  }

 private:
  void start(int threads) {
    quit_ = false;
    // A new worker must not mistake the generation of an earlier run for work.
    const uint64_t now = generation_;
    for (int i = 1; i < threads; i++) workers_.emplace_back([this, now] { work(now); });
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      quit_ = true;
      generation_++;
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  void drain() {
    for (size_t i = next_.fetch_add(1); i < count_; i = next_.fetch_add(1)) (*task_)(i);
  }

  void work(uint64_t seen) {
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return generation_ != seen; });
        seen = generation_;
        if (quit_) return;
      }
      drain();
      {
        std::lock_guard<std::mutex> lock(mutex_);
        busy_--;
      }
      done_.notify_one();
    }
  }

  std::mutex callMutex_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::vector<std::thread> workers_;
  const std::function<void(size_t)>* task_ = nullptr;
  size_t count_ = 0;
  std::atomic<size_t> next_{0};
  size_t busy_ = 0;
  uint64_t generation_ = 0;
  bool quit_ = false;
};

// Never destroyed: at process exit the sleeping workers simply end with the process, instead of
// a static destructor joining threads while Node may still be tearing down.
Pool& pool() {
  static Pool* p = new Pool(defaultThreads());
  return *p;
}

}  // namespace

void parallelFor(size_t count, const std::function<void(size_t)>& task) { pool().run(count, task); }

int threadCount() { return pool().threads(); }

int setThreadCount(int n) {
  pool().resize(std::max(1, std::min(n, kMaxThreads)));
  return pool().threads();
}

}  // namespace kintsugi
#endif  // KINTSUGI_SERIAL_POOL
