#include "cpu_features.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>

#include <cstdint>
#endif

namespace kintsugi {

#if defined(__x86_64__) || defined(_M_X64)
namespace {

// xgetbv by encoding, so the assembler needs no XSAVE flag; only called once OSXSAVE is known set.
uint64_t readXcr0() {
  uint32_t lo, hi;
  __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(lo), "=d"(hi) : "c"(0));
  return (uint64_t(hi) << 32) | lo;
}

}  // namespace

CpuFeatures probeCpu() {
  CpuFeatures f;
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = c & (1u << 27), avx = c & (1u << 28), fma = c & (1u << 12);
  // A CPU may have AVX while the OS does not save YMM/ZMM registers; then it must not be used.
  if (!osxsave || !avx) return f;
  const uint64_t xcr0 = readXcr0();
  const bool ymmState = (xcr0 & 0x6) == 0x6;
  const bool zmmState = (xcr0 & 0xe6) == 0xe6;
  if (__get_cpuid_max(0, nullptr) < 7) return f;
  __cpuid_count(7, 0, a, b, c, d);
  const bool avx2 = b & (1u << 5), avx512f = b & (1u << 16);
  f.avx2Fma = ymmState && avx2 && fma;
  f.avx512f = f.avx2Fma && zmmState && avx512f;
  return f;
}
#elif defined(__aarch64__)
CpuFeatures probeCpu() {
  CpuFeatures f;
  f.neon = true;  // part of armv8-a
  return f;
}
#else
CpuFeatures probeCpu() { return CpuFeatures(); }
#endif

}  // namespace kintsugi
