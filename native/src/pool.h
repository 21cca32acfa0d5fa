// A small persistent thread pool: the workers sleep between steps, so a step pays a wake-up,
// not a thread start.
#pragma once
#include <cstddef>
#include <functional>

namespace kintsugi {

// Elements per pool task, for the step and the triad alike: large enough to amortize a task, and
// the fixed unit in which the step combines its float64 sums (so results ignore the thread count).
constexpr size_t kChunk = size_t(1) << 16;

// Runs task(0) .. task(count - 1) on the pool and the calling thread, and returns when all are
// done. Which thread runs which task is unspecified, so a task's result must depend only on
// its index. Calls from several threads at once are serialized.
void parallelFor(size_t count, const std::function<void(size_t)>& task);

}  // namespace kintsugi
