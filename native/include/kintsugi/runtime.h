// Process-wide choices of the native kernel: which instruction set runs and how many threads.
// Both start from the environment (KINTSUGI_ISA, KINTSUGI_THREADS) and may be changed by tests.
#pragma once
#include <string>

namespace kintsugi {

enum class Isa : int { Scalar = 0, Avx2 = 1, Avx512 = 2, Neon = 3, WasmSimd = 4 };

const char* isaName(Isa isa);
// Parses "scalar" | "avx2" | "avx512" | "neon" | "wasm-simd"; false when the name is unknown.
bool parseIsa(const std::string& name, Isa* out);

// True when this CPU and OS can run `isa` and this build contains a kernel for it.
bool isaAvailable(Isa isa);
// Comma-separated list of the available instruction sets, best last.
std::string availableIsas();

// The instruction set in use.
Isa currentIsa();
// Uses the best available instruction set not above `cap`; returns the one chosen.
Isa capIsa(Isa cap);

// Threads that run a large step, the calling thread included (>= 1).
int threadCount();
// Resizes the pool; n is clamped to [1, 256]. Returns the count now in use.
int setThreadCount(int n);

}  // namespace kintsugi
