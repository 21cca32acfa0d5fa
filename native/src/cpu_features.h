// What this CPU and its OS can run, probed once (cpuid + xgetbv on x86-64).
#pragma once

namespace kintsugi {

struct CpuFeatures {
  bool avx2Fma = false;  // AVX2 and FMA, with YMM state enabled by the OS
  bool avx512f = false;  // AVX-512F, with opmask and ZMM state enabled by the OS
  bool neon = false;
};

CpuFeatures probeCpu();

}  // namespace kintsugi
