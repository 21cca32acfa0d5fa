// libFuzzer target for the binding's CHECK phase (native/src/validate.h): decodes the input into
// a few variables whose five arrays, and sometimes a supplied crack, are spans of one shared buffer
// (so that they overlap, partly or wholly, and sit at odd byte offsets) or of buffers of their
// own, the crack's values sometimes negative, NaN or infinite, params that may be NaN,
// +-Infinity, -0 or fractional, and the two output arrays; validates them as the addon does; and,
// when the checks pass, runs kintsugi::step on them. Built with -fsanitize=fuzzer,address,undefined
// by scripts/fuzz-native.sh: ASan proves that inputs the checks accept never make the kernel touch
// memory outside the arrays, UBSan that nothing undefined happens on the way.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "kintsugi/kernel.h"
#include "kintsugi/runtime.h"
#include "validate.h"

namespace {

// Reads the input a byte at a time; zeros once it runs out.
struct Reader {
  const uint8_t* data;
  size_t size, at = 0;
  uint8_t byte() { return at < size ? data[at++] : 0; }
  uint16_t u16() { return uint16_t(byte() | (byte() << 8)); }
  double raw() {
    uint64_t bits = 0;
    for (int i = 0; i < 8; i++) bits |= uint64_t(byte()) << (8 * i);
    double x;
    std::memcpy(&x, &bits, sizeof x);
    return x;
  }
};

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A number for a param: mostly a value near the valid ones, sometimes a hostile one.
double number(Reader& r, double typical) {
  static const double special[] = {kNaN, kInf, -kInf, -0.0, 0, 1, 2, 3, 0.5, 1.5, -1, 1e-300, 1e300,
                                   0.999999999, 1.0000001, 9007199254740991.0, 9007199254740992.0, 4294967296.0};
  const uint8_t mode = r.byte();
  if (mode < 160) return typical;
  if (mode < 230) return special[mode % (sizeof special / sizeof special[0])];
  if (mode < 250) return typical * (1 + (r.byte() - 128) / 64.0);
  return r.raw();
}

double code(Reader& r) {
  const uint8_t b = r.byte();
  if (b < 240) return b % 3;
  return number(r, 1);
}

// Owns every allocation of one input, each exactly as large as asked, so ASan sees one float past.
struct Arena {
  std::vector<std::unique_ptr<unsigned char[]>> blocks;
  unsigned char* alloc(size_t bytes) {
    blocks.emplace_back(new unsigned char[bytes == 0 ? 1 : bytes]);
    return blocks.back().get();
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Reader r{data, size};
  Arena arena;

  // The instruction set: each kernel the CPU has, in turn.
  static const kintsugi::Isa isas[] = {kintsugi::Isa::Scalar, kintsugi::Isa::Avx2, kintsugi::Isa::Avx512,
                                       kintsugi::Isa::Neon};
  kintsugi::capIsa(isas[r.byte() % 4]);

  kintsugi::RawParams raw;
  raw.granularity = code(r);
  raw.base = code(r);
  raw.learningRate = number(r, 0.01);
  raw.gildingRate = number(r, 0.3);
  raw.annealing = number(r, 0);
  const uint8_t flags = r.byte();
  raw.relativeCrack = flags & 1;
  raw.normalizeMean = flags & 2;
  raw.throwOnNonFinite = flags & 4;
  raw.phiMin = number(r, 0.1);
  raw.phiMax = number(r, 10);
  raw.momentum = number(r, 0.9);
  raw.beta1 = number(r, 0.9);
  raw.beta2 = number(r, 0.999);
  raw.epsilon = number(r, 1e-7);
  raw.weightDecay = number(r, 0);
  raw.step = number(r, 1 + r.byte());
  kintsugi::Params params;
  const bool paramsOk = kintsugi::validateParams(raw, &params).ok();
  if (!paramsOk) {
    // Keep going with the converted codes, as far as they are codes, to check the arrays too.
    params = kintsugi::Params{};
    if (raw.granularity == 0 || raw.granularity == 1 || raw.granularity == 2)
      params.granularity = kintsugi::Granularity(int(raw.granularity));
    if (raw.base == 0 || raw.base == 1 || raw.base == 2) params.base = kintsugi::Base(int(raw.base));
  }

  // The shared buffer, in bytes (so a span may start at any byte), up to 4 KiB.
  const size_t sharedBytes = r.u16() % 4097;
  unsigned char* shared = arena.alloc(sharedBytes);

  const size_t count = r.byte() % 5;  // 0 .. 4 variables
  std::vector<kintsugi::Variable> vars(count);
  std::vector<kintsugi::FloatSpan> spans(count * 6);
  std::vector<bool> cracked(count, false);
  bool ok = paramsOk;
  for (size_t i = 0; i < count && ok; i++) {
    // Lengths: mostly what the granularity and base want, sometimes anything.
    const size_t n = r.byte() % 65;
    const uint8_t shape = r.byte();
    size_t lengths[6];
    lengths[0] = n;
    lengths[1] = (shape & 0x80) ? r.byte() % 65 : n;
    switch (shape & 3) {
      case 0: lengths[2] = n; break;
      case 1: lengths[2] = 1; break;
      case 2: {  // a divisor of n (units), or 0
        const size_t d = 1 + r.byte() % 8;
        lengths[2] = n == 0 ? 0 : (n % d == 0 ? n / d : d);
        break;
      }
      default: lengths[2] = r.byte() % 65;
    }
    lengths[3] = (shape & 0x04) ? 0 : ((shape & 0x40) ? r.byte() % 65 : n);
    lengths[4] = (shape & 0x08) ? 0 : ((shape & 0x40) ? r.byte() % 65 : n);
    // A supplied crack in about half the variables: mostly P values, sometimes any number.
    const uint8_t crackShape = r.byte();
    cracked[i] = crackShape & 1;
    lengths[5] = (crackShape & 0x0e) == 0x0e ? r.byte() % 65 : lengths[2];

    kintsugi::FloatSpan* fields = &spans[i * 6];
    for (size_t k = 0; k < 6; k++) {
      const size_t bytes = lengths[k] * sizeof(float);
      const uint8_t where = r.byte();
      unsigned char* p;
      if ((where & 0x03) != 0 || bytes > sharedBytes) {
        // A buffer of its own, sometimes one byte off alignment.
        const size_t skew = (where & 0x1c) == 0x1c ? 1 + (where >> 5) % 3 : 0;
        p = arena.alloc(bytes + skew) + skew;
      } else {
        // A span of the shared buffer: anywhere it fits, at any byte.
        const size_t room = sharedBytes - bytes;
        p = shared + (room == 0 ? 0 : r.u16() % (room + 1));
        if ((where & 0x04) == 0 && room > 0) p = shared + (size_t(p - shared) & ~size_t(3));  // mostly aligned
      }
      fields[k] = {reinterpret_cast<float*>(p), lengths[k]};
      // A Float32Array of length 0 may come with any pointer (N-API gives one anyway).
      if (lengths[k] == 0 && (where & 0x80)) fields[k].data = nullptr;
    }
    if (cracked[i]) {
      // The crack's values before the check, which reads them: mostly valid, sometimes not.
      // Through memcpy, as the span may sit at any byte.
      for (size_t e = 0; e < lengths[5]; e++) {
        const uint8_t b = r.byte();
        float x = std::fabs((b - 128) / 32.0f);
        if (b == 255) x = std::numeric_limits<float>::quiet_NaN();
        if (b == 254) x = std::numeric_limits<float>::infinity();
        if (b == 253) x = -1;
        if (b == 252) x = -0.0f;
        std::memcpy(reinterpret_cast<unsigned char*>(fields[5].data) + e * sizeof(float), &x, sizeof x);
      }
    }
    ok = kintsugi::validateVariable(fields, params, &vars[i], cracked[i] ? &fields[5] : nullptr).ok();
  }
  if (!ok) return 0;
  if (!kintsugi::validateNoOverlap(vars.data(), count).ok()) return 0;

  // The output arrays, as long as the input says, and meanAbsDeltaPhi maybe off alignment.
  const size_t skippedLength = r.byte() % 6, movedLength = r.byte() % 6;
  const size_t movedSkew = (r.byte() & 7) == 7 ? 4 : 0;
  uint8_t* skipped = arena.alloc(skippedLength);
  double* moved = reinterpret_cast<double*>(arena.alloc(movedLength * sizeof(double) + movedSkew) + movedSkew);
  if (!kintsugi::validateOutputs(count, skippedLength, moved, movedLength).ok()) return 0;

  // Accepted: fill every buffer's floats from the rest of the input (NaN, Inf, denormals and all),
  // then step. Each byte of each span is written, so MSan-style reads of garbage cannot hide a bug.
  for (size_t i = 0; i < count; i++) {
    const kintsugi::Variable& v = vars[i];
    float* arrays[5] = {v.theta, const_cast<float*>(v.grad), v.phi, v.m, v.v};
    const size_t lens[5] = {v.n, v.n, v.P, v.m ? v.n : 0, v.v ? v.n : 0};
    for (size_t k = 0; k < 5; k++)
      for (size_t e = 0; e < lens[k]; e++) {
        const uint8_t b = r.byte();
        float x = (b - 128) / 32.0f;
        if (b == 255) x = std::numeric_limits<float>::quiet_NaN();
        if (b == 254) x = std::numeric_limits<float>::infinity();
        if (k == 2 || k == 4) x = std::fabs(x);  // phi, v: non-negative as the optimizer keeps them
        arrays[k][e] = x;
      }
  }
  // A crack may share bytes with a grad or another crack (both read only), and filling the grads
  // may just have changed its values: check again, as the binding checks right before the step.
  for (size_t i = 0; i < count; i++) {
    kintsugi::Variable again;
    if (cracked[i] && !kintsugi::validateVariable(&spans[i * 6], params, &again, &spans[i * 6 + 5]).ok()) return 0;
  }
  const long bad = kintsugi::step(vars.data(), count, params, skipped, moved);
  if (bad < -1 || bad >= long(count)) std::abort();
  if (bad >= 0 && !params.throwOnNonFinite) std::abort();
  return 0;
}
