// The baseline kernel: plain C++ compiled for the oldest CPU the build targets (x86-64, armv8-a).
#include "scalar_ops.h"

#define KINTSUGI_TARGET
namespace kintsugi {
namespace {
using Vec = ScalarOps<false>;
}
}  // namespace kintsugi
#include "fused.inl"

namespace kintsugi {
const KernelTable& scalarTable() { return kTable; }
}  // namespace kintsugi
