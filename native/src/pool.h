// A small persistent thread pool: the workers sleep between steps, so a step pays a wake-up,
// not a thread start.
#pragma once
#include <cstddef>
#include <functional>

namespace kintsugi {

// Runs task(0) .. task(count - 1) on the pool and the calling thread, and returns when all are
// done. Which thread runs which task is unspecified, so a task's result must depend only on
// its index. Calls from several threads at once are serialized.
void parallelFor(size_t count, const std::function<void(size_t)>& task);

}  // namespace kintsugi
