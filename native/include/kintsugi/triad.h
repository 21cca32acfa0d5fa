// The STREAM-style triad a = b + s·c, on the kernels' thread pool: the benchmark's measure of
// the bandwidth this machine can reach with the same threads (the roofline of the fused step).
#pragma once
#include <cstddef>

namespace kintsugi {

void triad(float* a, const float* b, const float* c, float s, size_t n);

}  // namespace kintsugi
