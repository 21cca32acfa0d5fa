#include "kintsugi/triad.h"

#include <algorithm>

#include "pool.h"

namespace kintsugi {

void triad(float* a, const float* b, const float* c, float s, size_t n) {
  const size_t chunks = (n + kChunk - 1) / kChunk;
  parallelFor(chunks, [=](size_t t) {
    const size_t end = std::min(n, (t + 1) * kChunk);
    for (size_t i = t * kChunk; i < end; i++) a[i] = b[i] + s * c[i];
  });
}

}  // namespace kintsugi
