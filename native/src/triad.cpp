#include "kintsugi/triad.h"

#include <algorithm>

#include "pool.h"

namespace kintsugi {

void triad(float* a, const float* b, const float* c, float s, size_t n) {
  // The same chunk size as the step, so both split work alike across the pool.
  constexpr size_t kChunk = size_t(1) << 16;
  const size_t chunks = (n + kChunk - 1) / kChunk;
  parallelFor(chunks, [=](size_t t) {
    const size_t end = std::min(n, (t + 1) * kChunk);
    for (size_t i = t * kChunk; i < end; i++) a[i] = b[i] + s * c[i];
  });
}

}  // namespace kintsugi
