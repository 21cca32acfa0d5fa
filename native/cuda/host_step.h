// The CUDA step run on the host: the kernel bodies of pipeline.h, block after block, in the
// order runStep gives them, on the host's memory. It computes the bits a GPU computes (the same
// float32 and float64 operations in the same order; the GPU build uses no contraction of a*b+c,
// see element.h), so the CUDA algorithm is tested wherever this compiles, with or without a GPU.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kintsugi/kernel.h"

namespace kintsugi {
namespace cuda {

// The contract of kintsugi::step (kintsugi/kernel.h): the same arguments, results and errors.
long hostStep(const Variable* vars, size_t count, const Params& params, uint8_t* skipped, double* meanAbsDeltaPhi);

}  // namespace cuda
}  // namespace kintsugi
