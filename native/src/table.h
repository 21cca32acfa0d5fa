// The per-instruction-set kernels, as a table of function pointers: step.cpp chooses the table
// once per call and never needs to know which instruction set it is driving.
#pragma once
#include <cstddef>

namespace kintsugi {

// How the fused pass obtains phi for an element.
enum class PhiMode : int {
  Const = 0,  // layer: one phi for the whole variable
  Table = 1,  // unit: a read-only table repeating with period `period`
  Gild = 2,   // weight: gild, normalize and clamp phi per element, in the same pass
};

// Sums of one pre-pass chunk, in float64. A non-finite gradient makes sumAbsG non-finite, which
// is why the pre-pass needs no separate finite check.
struct Sums {
  double sumAbsG = 0;   // sum |g|
  double sumPhi = 0;    // sum phi (only when asked for)
  double sumAAbsG = 0;  // sum max(0, 1 - gamma phi) |g| (only when asked for)
};

// Everything the fused pass needs, already rounded to float32 where the pass uses it.
struct FusedArgs {
  float* theta;
  const float* grad;
  float* phi;         // Gild: n elements; Table: `period` elements; Const: unused
  size_t period;      // Table only
  float* m;
  float* v;
  int base;           // Base as int
  PhiMode mode;
  float lr, wd;
  float mu;                      // momentum
  float b1, omb1, b2, omb2;      // beta1, 1 - beta1, beta2, 1 - beta2
  float ibc1, ibc2, eps;         // 1 / bias corrections, epsilon
  float phiConst;                // Const
  float gild, gamma, scale;      // Gild: beta * relative factor, annealing, normalization
  float phiMin, phiMax;          // Gild
};

struct KernelTable {
  // Pre-pass over g[0, n) (and phi[0, n) when phi is not null): the sums of one chunk.
  void (*sums)(const float* g, const float* phi, size_t n, double gamma, Sums* out);
  // Unit pre-pass: out[u - u0] = sum over rows r of |g[r P + u]|, for u in [u0, u1), rows in order.
  void (*unitSums)(const float* g, size_t P, size_t rows, size_t u0, size_t u1, double* out);
  // The fused pass over elements [begin, end): writes theta, m, v (and phi in Gild mode).
  // Returns sum |phi_new - phi_old| over the range (Gild mode), else 0.
  double (*fused)(const FusedArgs& a, size_t begin, size_t end);
};

const KernelTable& scalarTable();
#if defined(__x86_64__) || defined(_M_X64)
const KernelTable& avx2Table();
const KernelTable& avx512Table();
#endif
#if defined(__aarch64__)
const KernelTable& neonTable();
#endif
#if defined(__wasm_simd128__)
const KernelTable& wasmSimdTable();
#endif

}  // namespace kintsugi

namespace kintsugi {
// The table of the instruction set in use (runtime.cpp).
const KernelTable& activeTable();
}  // namespace kintsugi
