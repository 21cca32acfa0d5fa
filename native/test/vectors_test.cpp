// The shared kernel test vectors (test/vectors/kernel-vectors.json, written by
// scripts/make-kernel-vectors.cjs) on kintsugi::step: every case on every instruction set this
// build and CPU have, at 1 and 2 threads, which must agree bitwise. The file's header ("spec",
// "tolerance") defines the format and the rule implemented here; test/kernel-vectors.test.ts runs
// the same file on the TypeScript kernels and the addon.
//
// Usage: kintsugi_vector_tests <kernel-vectors.json> [substring of the case names to run]
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "kintsugi/kernel.h"
#include "kintsugi/runtime.h"
#include "vectors.h"

using namespace vectors;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s <kernel-vectors.json> [case-name substring]\n", argv[0]);
    return 2;
  }
  const std::string filter = argc > 2 ? argv[2] : "";
  std::vector<Case> cases;
  Tolerance tol{};
  if (!readVectors(argv[1], filter, cases, tol)) return 1;

  const kintsugi::Isa originalIsa = kintsugi::currentIsa();
  const int originalThreads = kintsugi::threadCount();
  std::vector<std::string> isas;
  {
    std::stringstream list(kintsugi::availableIsas());
    std::string name;
    while (std::getline(list, name, ','))
      if (!name.empty()) isas.push_back(name);
  }
  std::printf("%zu cases from %s; instruction sets: %s; threads 1 and 2\n", cases.size(), argv[1], kintsugi::availableIsas().c_str());

  int failures = 0;
  for (const std::string& name : isas) {
    kintsugi::Isa isa;
    if (!kintsugi::parseIsa(name, &isa) || kintsugi::capIsa(isa) != isa || kintsugi::currentIsa() != isa) {
      std::printf("FAIL %s: cannot select this instruction set\n", name.c_str());
      failures++;
      continue;
    }
    size_t passed = 0;
    Worst worst;
    for (const Case& c : cases) {
      std::vector<std::vector<Snapshot>> runs;
      for (int threads : {1, 2}) {
        if (kintsugi::setThreadCount(threads) != threads) {
          std::printf("FAIL %s: setThreadCount(%d)\n", name.c_str(), threads);
          failures++;
        }
        runs.push_back(runCase(c, kintsugi::step));
      }
      std::vector<std::string> bad = verify(c, runs[0], tol, worst);
      const std::string diff = bitwiseDifference(c, runs[0], runs[1]);
      if (!diff.empty()) bad.insert(bad.begin(), "2 threads differ from 1 in the bits of " + diff);
      if (bad.empty()) {
        passed++;
        continue;
      }
      failures++;
      std::printf("FAIL %s %s:\n", name.c_str(), c.name.c_str());
      for (const std::string& line : bad) std::printf("  %s\n", line.c_str());
    }
    std::printf("%s: %zu of %zu cases passed (1 and 2 threads bitwise equal); worst deviation %.4f of the tolerance (%s)\n",
                name.c_str(), passed, cases.size(), worst.ratio, worst.where.c_str());
  }
  kintsugi::capIsa(originalIsa);
  kintsugi::setThreadCount(originalThreads);
  std::printf(failures == 0 ? "all vector tests passed\n" : "%d vector test failures\n", failures);
  return failures == 0 ? 0 : 1;
}
