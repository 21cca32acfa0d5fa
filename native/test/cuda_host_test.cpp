// The host test of the CUDA step: the shared kernel vectors (test/vectors/kernel-vectors.json)
// through kintsugi::cuda::hostStep, which runs the CUDA kernels' bodies (native/cuda/pipeline.h)
// and the shared arithmetic (native/src/element.h) on the CPU. It needs no GPU and no nvcc, so
// the algorithm the GPU runs is checked on every machine that runs the native tests. Each case
// runs twice and the runs must agree bitwise (the reductions have a fixed order).
//
// Usage: kintsugi_cuda_host_tests <kernel-vectors.json> [substring of the case names to run]
#include <cstdio>
#include <string>
#include <vector>

#include "../cuda/host_step.h"
#include "vectors.h"

using namespace vectors;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s <kernel-vectors.json> [case-name substring]\n", argv[0]);
    return 2;
  }
  std::vector<Case> cases;
  Tolerance tol{};
  if (!readVectors(argv[1], argc > 2 ? argv[2] : "", cases, tol)) return 1;
  std::printf("%zu cases from %s on the CUDA step run on the host\n", cases.size(), argv[1]);

  size_t passed = 0, unsupported = 0;
  Worst worst;
  for (const Case& c : cases) {
    // The CUDA path refuses a supplied crack (src/kernel/cuda.ts) rather than ignore it.
    if (c.anyCrack()) {
      unsupported++;
      continue;
    }
    const std::vector<Snapshot> first = runCase(c, kintsugi::cuda::hostStep);
    std::vector<std::string> bad = verify(c, first, tol, worst);
    const std::string diff = bitwiseDifference(c, first, runCase(c, kintsugi::cuda::hostStep));
    if (!diff.empty()) bad.insert(bad.begin(), "a second run differs in the bits of " + diff);
    if (bad.empty()) {
      passed++;
      continue;
    }
    std::printf("FAIL %s:\n", c.name.c_str());
    for (const std::string& line : bad) std::printf("  %s\n", line.c_str());
  }
  const size_t ran = cases.size() - unsupported;
  std::printf("cuda (host): %zu of %zu cases passed (two runs bitwise equal; %zu with a supplied crack, which the CUDA path "
              "refuses, not run); worst deviation %.4f of the tolerance (%s)\n",
              passed, ran, unsupported, worst.ratio, worst.where.c_str());
  std::printf(passed == ran ? "all vector tests passed\n" : "%zu vector test failures\n", ran - passed);
  return passed == ran ? 0 : 1;
}
