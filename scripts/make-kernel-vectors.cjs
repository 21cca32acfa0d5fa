#!/usr/bin/env node
// Writes test/vectors/kernel-vectors.json: shared test vectors (inputs, params, expected outputs)
// for every Kintsugi kernel (the TypeScript reference, the native addon on each instruction set,
// WebAssembly, CUDA).
//
//   node scripts/make-kernel-vectors.cjs           regenerate the file
//   node scripts/make-kernel-vectors.cjs --check   exit 1 unless the committed file is what this writes
//
// Expected outputs come from two places, never from a kernel under test:
//  - hand cases: values worked out by hand from ALGORITHM.md (carried over from
//    test/reference-kernel.test.ts and native/test/kernel_test.cpp, with their derivations).
//    The oracle below must agree with each within the file's tolerance, or generation fails.
//  - generated cases: the small float64 oracle below, written straight from
//    ../shared/design/ALGORITHM.md and docs/algorithm.md: float64 arithmetic, rounded to float32
//    on every store to θ, ϕ, m and v, later arithmetic reading the stored float32 values.
'use strict';
const fs = require('fs');
const path = require('path');

const OUT = path.join(__dirname, '..', 'test', 'vectors', 'kernel-vectors.json');
const f = Math.fround;
const GRAN = { weight: 0, unit: 1, layer: 2 };
const BASE = { sgd: 0, momentum: 1, adam: 2 };
const GNAME = ['weight', 'unit', 'layer'];
const BNAME = ['sgd', 'momentum', 'adam'];

const TOLERANCE = {
  rtol: 1e-5,
  floorFraction: 1e-3,
  floorMin: 1e-30,
  meanAbsDeltaPhi: { atol: 1e-6, rtol: 1e-3 },
};

// ---------------------------------------------------------------------------------------------
// The file's header: the format, precisely, for every runner.

const SPEC = {
  cases:
    'A list; each case has: name (unique), origin ("hand": expected values worked out by hand; "oracle": computed by the ' +
    'float64 oracle in the generator), from (hand cases only: the test it was carried over from), derivation (how the ' +
    'expected values follow from ALGORITHM.md, or what the case covers), params, steps, variables, checks.',
  params:
    'Exactly the fields of KernelParams (src/kernel/types.ts): granularity (0 weight, 1 unit, 2 layer), base (0 sgd, 1 momentum, ' +
    '2 adam), learningRate, gildingRate, annealing, relativeCrack (bool), normalizeMean (bool), phiMin, phiMax, momentum, beta1, ' +
    'beta2, epsilon, weightDecay, throwOnNonFinite (bool), step. params.step is t of the first step; step k (1-based) runs with ' +
    't = params.step + k - 1, every other field unchanged.',
  variables:
    'The variables of every step, in order: name, n (elements of theta and grad), P (pathways: phi has P elements; n for weight, ' +
    'the last axis for unit with n a multiple of P, 1 for layer), theta, grad, phi, m, v (m has n elements for momentum and adam, ' +
    'else 0; v has n elements for adam, else 0), and optionally laterGrads. grad is the gradient of step 1; laterGrads[k] is the ' +
    'gradient of step k + 2 (steps - 1 entries); without laterGrads, grad is used at every step. Optionally crack (unit ' +
    'granularity only, P finite values >= 0): the caller-supplied crack of each pathway (KernelVariable.crack), passed at every ' +
    'step in place of the mean |g| over the pathway; the non-finite check still reads grad.',
  numbers:
    'A numeric value is a JSON number or one of the strings "NaN", "Infinity", "-Infinity". Float32 arrays are written as the ' +
    'shortest decimal that reads back to the same float32: read each as a float64, then round to float32 (nearest, ties to even).',
  fill:
    'An input array (theta, grad, laterGrads[k], phi, m, v) may be written as {"fill": {"length": L, "seed": s, "scale": a, ' +
    '"shift": b}} or with an extra "set": [[i, x], ...]. Expand it with this LCG: state = s (a uint32); for k = 0 .. L-1: ' +
    'state = (1664525 * state + 1013904223) mod 2^32; u = floor(state / 256) / 2^24 (exact, in [0, 1)); ' +
    'y = (2u - 1) * a, rounded to float64; x = y + b, rounded to float64 (two roundings, never a fused multiply-add); ' +
    'element k = float32(x). Then element i = float32(x) for each [i, x] in set (x may be "NaN", "Infinity", "-Infinity").',
  checks:
    'A list of checks, in step order; the last one is after the last step. Each check: afterStep (1-based), throwIndex ' +
    '(-1, or the index of the first variable with a non-finite gradient that the kernel must report under throwOnNonFinite, ' +
    'having written nothing at all in that step), skipped and meanAbsDeltaPhi (one per variable, the kernel outputs of that step; ' +
    'absent when throwIndex >= 0), and variables: one {theta, phi, m, v} per variable, the state after that step. ' +
    'An expected array is either a plain array or {"stride": S, "tail": T, "values": [...]}: the values at the indices i of ' +
    'the array (length L) with i mod S = 0 or i >= L - T, in increasing order. A runner that meets a throw records ' +
    'the index and goes on with the next step.',
  tolerance:
    'Per expected float array E and actual float32 array A (only the listed indices for a sampled array): F = max(floorFraction * ' +
    'max_i |E_i|, floorMin); element i passes when |A_i - E_i| <= rtol * max(|A_i|, |E_i|, T_i, F). T_i is 0 except for m: ' +
    'T_i starts at |m_i| of the input and, at every step, for every element whose gradient g is finite, becomes b * T_i + c * |g| ' +
    'with (b, c) = (momentum, 1) for base momentum and (beta1, 1 - beta1) for adam (m = b m + c g can cancel far below its ' +
    'terms, and float32 rounds the terms). meanAbsDeltaPhi: |A - E| <= meanAbsDeltaPhi.atol + meanAbsDeltaPhi.rtol * |E|. ' +
    'throwIndex and skipped: exact. A variable with skipped = 1, and every variable when throwIndex >= 0, must in addition ' +
    'be bitwise unchanged by that step (E is then its state before the step, within the tolerance above like any other ' +
    'expected state, since earlier steps may round differently). This is the rule of test/native.test.ts (native ' +
    'against the reference kernel), here applied to each kernel against the expected values. In addition, one kernel at ' +
    'different thread counts must give bitwise equal results (ALGORITHM.md, Numerics).',
};

// ---------------------------------------------------------------------------------------------
// Fill: the seeded LCG of SPEC.fill.

function expandFill(spec) {
  const out = new Float32Array(spec.length);
  let state = spec.seed >>> 0;
  for (let k = 0; k < spec.length; k++) {
    state = (Math.imul(1664525, state) + 1013904223) >>> 0;
    const u = Math.floor(state / 256) / 16777216;
    const y = (2 * u - 1) * spec.scale;
    out[k] = y + spec.shift;
  }
  for (const [i, x] of spec.set ?? []) out[i] = numberOf(x);
  return out;
}

function numberOf(x) {
  if (typeof x === 'number') return x;
  if (x === 'NaN') return NaN;
  if (x === 'Infinity') return Infinity;
  if (x === '-Infinity') return -Infinity;
  throw new Error(`not a number: ${JSON.stringify(x)}`);
}

/** A JSON array field (plain or fill) as a Float32Array. */
function arrayOf(field) {
  if (Array.isArray(field)) return Float32Array.from(field.map(numberOf));
  if (field && field.fill) return expandFill(field.fill);
  throw new Error(`not an array field: ${JSON.stringify(field)}`);
}

/** A float32 as its shortest round-tripping decimal (a JSON number), or a string when not finite. */
function f32json(x) {
  const v = Math.fround(x);
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return 'Infinity';
  if (v === -Infinity) return '-Infinity';
  if (v === 0) return 0;
  for (let p = 1; p <= 9; p++) {
    const d = Number(v.toPrecision(p));
    if (Math.fround(d) === v) return d;
  }
  throw new Error(`no 9-digit form for ${v}`);
}

function numberJson(x) {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  return x;
}

// ---------------------------------------------------------------------------------------------
// The oracle: ALGORITHM.md, "One step, one variable", steps 1-4, with the choices of
// docs/algorithm.md (layer group = the variables of the step that are not skipped; a relative
// layer crack is divided by the group's mean crack; all gradients checked before any write).
// float64 arithmetic; θ, ϕ, m, v live in Float32Arrays, so every store rounds to float32.

function pathwayOf(granularity, e, P) {
  if (granularity === GRAN.weight) return e;
  if (granularity === GRAN.unit) return e % P;
  return 0;
}

/** One step over `state` (variables with Float32Array theta, phi, m, v) with gradients `grads`. */
function oracleStep(state, grads, p, t) {
  const finite = grads.map((g) => g.every((x) => Number.isFinite(x)));
  if (p.throwOnNonFinite) {
    const bad = finite.indexOf(false);
    if (bad >= 0) return { throwIndex: bad };
  }
  const skipped = finite.map((ok) => (ok ? 0 : 1));
  const meanAbsDeltaPhi = state.map(() => 0);
  const live = state.map((_, i) => i).filter((i) => finite[i]);

  // 1. Crack: l_p = mean over the elements e of pathway p of |g_e| (a pathway without elements: 0),
  // or the caller's crack (unit granularity).
  const cracks = [];
  for (const i of live) {
    const v = state[i];
    if (v.crack) {
      cracks[i] = Array.from(v.crack);
      continue;
    }
    const sum = new Array(v.P).fill(0);
    const count = new Array(v.P).fill(0);
    for (let e = 0; e < v.n; e++) {
      const q = pathwayOf(p.granularity, e, v.P);
      sum[q] += Math.abs(grads[i][e]);
      count[q] += 1;
    }
    cracks[i] = sum.map((s, q) => (count[q] > 0 ? s / count[q] : 0));
  }

  // The normalization groups: a variable's own pathways, or for layer one pathway per live variable.
  const groups =
    p.granularity === GRAN.layer
      ? [live.map((i) => [i, 0])]
      : live.map((i) => Array.from({ length: state[i].P }, (_, q) => [i, q]));

  for (const group of groups) {
    const size = group.length;
    let l = group.map(([i, q]) => cracks[i][q]);
    // crack: relative: l_p <- l_p / mean_q l_q; all zero stays zero.
    if (p.relativeCrack) {
      const mean = l.reduce((a, b) => a + b, 0) / size;
      if (mean > 0) l = l.map((x) => x / mean);
    }
    // 2. Gild: a_p = max(0, 1 - γ ϕ_p); ϕ̂_p = ϕ_p + β a_p l_p.
    const old = group.map(([i, q]) => state[i].phi[q]);
    const hat = old.map((phi, k) => phi + p.gildingRate * Math.max(0, 1 - p.annealing * phi) * l[k]);
    // 3. Constrain: normalize mean: ϕ_p = ϕ̂_p P / Σ ϕ̂ (left as is when Σ ϕ̂ is 0); clamp.
    let next = hat;
    if (p.normalizeMean) {
      const total = hat.reduce((a, b) => a + b, 0);
      if (total > 0) next = hat.map((h) => (h * size) / total);
    }
    next = next.map((x) => Math.min(p.phiMax, Math.max(p.phiMin, x)));
    group.forEach(([i, q], k) => {
      state[i].phi[q] = next[k];
      meanAbsDeltaPhi[i] += Math.abs(state[i].phi[q] - old[k]);
    });
  }
  for (const i of live) if (state[i].P > 0) meanAbsDeltaPhi[i] /= state[i].P;

  // 4. Sculpt: θ_e <- θ_e - α (ϕ_{p(e)} d_e + λ θ_e).
  const bc1 = 1 - Math.pow(p.beta1, t);
  const bc2 = 1 - Math.pow(p.beta2, t);
  for (const i of live) {
    const v = state[i];
    const g = grads[i];
    for (let e = 0; e < v.n; e++) {
      let d;
      if (p.base === BASE.sgd) {
        d = g[e];
      } else if (p.base === BASE.momentum) {
        v.m[e] = p.momentum * v.m[e] + g[e];
        d = v.m[e];
      } else {
        v.m[e] = p.beta1 * v.m[e] + (1 - p.beta1) * g[e];
        v.v[e] = p.beta2 * v.v[e] + (1 - p.beta2) * g[e] * g[e];
        const mHat = v.m[e] / bc1;
        const vHat = v.v[e] / bc2;
        d = mHat / (Math.sqrt(vHat) + p.epsilon);
      }
      const phi = v.phi[pathwayOf(p.granularity, e, v.P)];
      v.theta[e] = v.theta[e] - p.learningRate * (phi * d + p.weightDecay * v.theta[e]);
    }
  }
  return { throwIndex: -1, skipped, meanAbsDeltaPhi };
}

/** Inputs of a JSON case as mutable state plus the gradient of each step. */
function stateOf(c) {
  const state = c.variables.map((v) => ({
    n: v.n,
    P: v.P,
    theta: arrayOf(v.theta),
    phi: arrayOf(v.phi),
    m: arrayOf(v.m),
    v: arrayOf(v.v),
    crack: v.crack ? arrayOf(v.crack) : null,
  }));
  const grads = [];
  for (let s = 0; s < c.steps; s++) {
    grads.push(c.variables.map((v) => arrayOf(s === 0 || !v.laterGrads ? v.grad : v.laterGrads[s - 1])));
  }
  return { state, grads };
}

/** Runs the oracle on a case; returns {afterStep: result with a copy of the state}. */
function runOracle(c) {
  const { state, grads } = stateOf(c);
  const results = [];
  for (let s = 0; s < c.steps; s++) {
    const r = oracleStep(state, grads[s], c.params, c.params.step + s);
    results.push({
      ...r,
      variables: state.map((v) => ({ theta: v.theta.slice(), phi: v.phi.slice(), m: v.m.slice(), v: v.v.slice() })),
    });
  }
  return { results, grads };
}

// ---------------------------------------------------------------------------------------------
// The tolerance rule of SPEC.tolerance, used here to hold the oracle to the hand derivations.

function sampleIndices(length, stride, tail) {
  const idx = [];
  for (let i = 0; i < length; i++) if (i % stride === 0 || i >= length - tail) idx.push(i);
  return idx;
}

function worstViolation(actual, expected, terms) {
  let max = 0;
  for (const e of expected) max = Math.max(max, Math.abs(e));
  const floor = Math.max(TOLERANCE.floorFraction * max, TOLERANCE.floorMin);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const scale = Math.max(Math.abs(actual[i]), Math.abs(expected[i]), terms ? terms[i] : 0, floor);
    const err = Math.abs(actual[i] - expected[i]) / scale;
    worst = Math.max(worst, Number.isNaN(err) ? Infinity : err / TOLERANCE.rtol);
  }
  return worst; // <= 1 passes
}

function compareToOracle(c, oracle) {
  const { results, grads } = oracle;
  const p = c.params;
  const [b, k] = p.base === BASE.momentum ? [p.momentum, 1] : [p.beta1, 1 - p.beta1];
  const terms = stateOf(c).state.map((v) => Float64Array.from(v.m, Math.abs));
  let worst = 0;
  let check = 0;
  for (let s = 0; s < c.steps; s++) {
    grads[s].forEach((g, i) => g.forEach((x, e) => {
      if (Number.isFinite(x) && terms[i].length) terms[i][e] = b * terms[i][e] + k * Math.abs(x);
    }));
    const want = c.checks[check];
    if (!want || want.afterStep !== s + 1) continue;
    check++;
    const got = results[s];
    const at = `${c.name} after step ${s + 1}`;
    if (got.throwIndex !== want.throwIndex) throw new Error(`${at}: oracle throwIndex ${got.throwIndex}, hand ${want.throwIndex}`);
    if (want.throwIndex < 0) {
      want.skipped.forEach((x, i) => {
        if (got.skipped[i] !== x) throw new Error(`${at}: oracle skipped[${i}] ${got.skipped[i]}, hand ${x}`);
      });
      want.meanAbsDeltaPhi.forEach((x, i) => {
        const d = Math.abs(got.meanAbsDeltaPhi[i] - x);
        if (!(d <= TOLERANCE.meanAbsDeltaPhi.atol + TOLERANCE.meanAbsDeltaPhi.rtol * Math.abs(x))) {
          throw new Error(`${at}: oracle meanAbsDeltaPhi[${i}] ${got.meanAbsDeltaPhi[i]}, hand ${x}`);
        }
      });
    }
    want.variables.forEach((wv, i) => {
      for (const key of ['theta', 'phi', 'm', 'v']) {
        const e = wv[key].map(numberOf);
        const a = Array.from(got.variables[i][key]);
        if (a.length !== e.length) throw new Error(`${at}: ${key} of variable ${i} has ${a.length} elements, hand ${e.length}`);
        const v = worstViolation(a, e, key === 'm' ? terms[i] : undefined);
        if (!(v <= 1)) throw new Error(`${at}: oracle ${key} of variable ${i} = [${a}] vs hand [${e}] (${v} x tolerance)`);
        worst = Math.max(worst, v);
      }
    });
  }
  return worst;
}

// ---------------------------------------------------------------------------------------------
// Case builders.

const DEFAULTS = {
  granularity: GRAN.unit,
  base: BASE.adam,
  learningRate: 0.001,
  gildingRate: 0.01,
  annealing: 0,
  relativeCrack: true,
  normalizeMean: true,
  phiMin: 0,
  phiMax: 10,
  momentum: 0.9,
  beta1: 0.9,
  beta2: 0.999,
  epsilon: 1e-7,
  weightDecay: 0,
  throwOnNonFinite: false,
  step: 1,
};
const PARAM_KEYS = Object.keys(DEFAULTS);

function paramsOf(overrides) {
  for (const key of Object.keys(overrides)) if (!PARAM_KEYS.includes(key)) throw new Error(`unknown param ${key}`);
  const p = { ...DEFAULTS, ...overrides };
  const out = {};
  for (const key of PARAM_KEYS) out[key] = typeof p[key] === 'number' ? numberJson(p[key]) : p[key];
  return out;
}

const runtimeParams = (json) => ({ ...json, phiMax: numberOf(json.phiMax) });
const f32list = (xs) => Array.from(xs, f32json);
const usesM = (base) => base !== BASE.sgd;
const usesV = (base) => base === BASE.adam;

const cases = [];
// A sampled expected array keeps its last 20 elements: the remainder after the widest vector (16).
const SAMPLE_TAIL = 20;
let worstHand = { v: 0, name: '' };

/**
 * A hand-derived case. vars: {name, theta, grad, P, phi?, m?, v?, laterGrads?}; checks: expected
 * values as numbers (already float32 roundings of the derivation, or rounded here).
 */
function hand(name, from, derivation, overrides, steps, vars, checks) {
  const params = paramsOf(overrides);
  const variables = vars.map((v) => {
    const n = v.theta.length;
    const out = {
      name: v.name,
      n,
      P: v.P,
      theta: f32list(v.theta),
      grad: f32list(v.grad),
      phi: f32list(v.phi ?? new Array(v.P).fill(1)),
      m: f32list(v.m ?? new Array(usesM(params.base) ? n : 0).fill(0)),
      v: f32list(v.v ?? new Array(usesV(params.base) ? n : 0).fill(0)),
    };
    if (v.laterGrads) out.laterGrads = v.laterGrads.map(f32list);
    return out;
  });
  const c = {
    name,
    origin: 'hand',
    from,
    derivation,
    params,
    steps,
    variables,
    checks: checks.map((k) => {
      const check = { afterStep: k.afterStep, throwIndex: k.throwIndex ?? -1 };
      if (check.throwIndex < 0) {
        check.skipped = k.skipped ?? vars.map(() => 0);
        check.meanAbsDeltaPhi = k.meanAbsDeltaPhi.map((x) => x);
      }
      check.variables = k.variables.map((v) => ({
        theta: f32list(v.theta),
        phi: f32list(v.phi),
        m: f32list(v.m ?? []),
        v: f32list(v.v ?? []),
      }));
      return check;
    }),
  };
  const worst = compareToOracle({ ...c, params: runtimeParams(params) }, runOracle({ ...c, params: runtimeParams(params) }));
  if (worst > worstHand.v) worstHand = { v: worst, name };
  cases.push(c);
}

let seedCounter = 1;
const nextSeed = () => {
  seedCounter = (Math.imul(seedCounter, 747796405) + 2891336453) >>> 0;
  return seedCounter;
};
/** A seeded fill, or the literal array when that is shorter (tiny arrays). */
const fill = (length, scale, shift = 0, set) => {
  const spec = { fill: set ? { length, seed: nextSeed(), scale, shift, set } : { length, seed: nextSeed(), scale, shift } };
  if (length > 16) return spec; // a fill is at most ~100 characters
  const literal = f32list(expandFill(spec.fill));
  return JSON.stringify(literal).length <= JSON.stringify(spec).length ? literal : spec;
};

/**
 * A generated case: shapes [rows, lastAxis] per variable; inputs as fills; expected values from
 * the oracle. opts: steps, checksAt (steps to check; default the last), stride (sample expected
 * arrays longer than this many elements), gradScale, bad (per step: {varIndex: [[i, x]]}),
 * expectThrow (step -> index), assert (a function of the oracle's results that must hold).
 */
function generated(name, derivation, overrides, shapes, opts = {}) {
  const params = paramsOf(overrides);
  const steps = opts.steps ?? 3;
  const bad = opts.bad ?? {};
  const variables = shapes.map(([rows, last], k) => {
    const n = rows * last;
    const P = params.granularity === GRAN.weight ? n : params.granularity === GRAN.unit ? last : 1;
    const gScale = (opts.gradScale ?? 0.1) * (1 + (k % 5));
    const gradOf = (s) => fill(n, gScale, 0, bad[s + 1]?.[k]);
    const v = {
      name: opts.names ? opts.names[k] : `v${k}`,
      n,
      P,
      theta: fill(n, 1),
      grad: gradOf(0),
      phi: fill(P, opts.phiSpread ?? 0.2, opts.phiShift ?? 1),
      m: fill(usesM(params.base) ? n : 0, opts.mScale ?? 0.01),
      v: fill(usesV(params.base) ? n : 0, 0.001, 0.001),
    };
    if (steps > 1) v.laterGrads = Array.from({ length: steps - 1 }, (_, s) => gradOf(s + 1));
    if (opts.crack) v.crack = opts.crack(k, P);
    return v;
  });
  const c = { name, origin: 'oracle', derivation, params, steps, variables };
  const { results } = runOracle({ ...c, params: runtimeParams(params) });
  if (opts.assert) opts.assert(results, c);
  const checksAt = opts.checksAt ?? [steps];
  const stride = opts.stride;
  const expectArray = (a) => {
    if (!stride || a.length <= stride) return f32list(a);
    return { stride, tail: SAMPLE_TAIL, values: sampleIndices(a.length, stride, SAMPLE_TAIL).map((i) => f32json(a[i])) };
  };
  c.checks = checksAt.map((s) => {
    const r = results[s - 1];
    const check = { afterStep: s, throwIndex: r.throwIndex };
    if (r.throwIndex < 0) {
      check.skipped = r.skipped;
      check.meanAbsDeltaPhi = r.meanAbsDeltaPhi.map((x) => x);
    }
    check.variables = r.variables.map((v) => ({
      theta: expectArray(v.theta),
      phi: expectArray(v.phi),
      m: expectArray(v.m),
      v: expectArray(v.v),
    }));
    return check;
  });
  cases.push(c);
}

// Assertions that a generated case covers what its name says.
function assertBinds(results, c) {
  const p = runtimeParams(c.params);
  let low = 0;
  let high = 0;
  for (const r of results) for (const v of r.variables) for (const x of v.phi) {
    if (x === f(p.phiMin)) low++;
    if (x === f(p.phiMax)) high++;
  }
  if (low === 0 || high === 0) throw new Error(`${c.name}: the clamps do not bind (${low} at phiMin, ${high} at phiMax)`);
}
function assertAnnealingStops(results, c) {
  const { state } = stateOf({ ...c, params: runtimeParams(c.params) });
  const p = runtimeParams(c.params);
  let stopped = 0;
  let moving = 0;
  for (const v of state) for (const x of v.phi) (1 - p.annealing * x <= 0 ? stopped++ : moving++);
  if (stopped === 0 || moving === 0) throw new Error(`${c.name}: annealing does not stop some pathways and slow others`);
}
function assertSkips(want) {
  return (results, c) => {
    for (const [step, skipped] of Object.entries(want)) {
      const got = results[step - 1].skipped;
      if (JSON.stringify(got) !== JSON.stringify(skipped)) throw new Error(`${c.name}: step ${step} skipped ${got}, meant ${skipped}`);
    }
  };
}
function assertThrows(step, index) {
  return (results, c) => {
    if (results[step - 1].throwIndex !== index) throw new Error(`${c.name}: step ${step} throws ${results[step - 1].throwIndex}, meant ${index}`);
  };
}

// ---------------------------------------------------------------------------------------------
// Hand cases from test/reference-kernel.test.ts. Its SGD params: weight, sgd, learningRate 0.1,
// gildingRate 0.5, absolute crack, mean normalization, everything else the options' defaults.

const REF = 'test/reference-kernel.test.ts';
const SGD = { granularity: GRAN.weight, base: BASE.sgd, learningRate: 0.1, gildingRate: 0.5, relativeCrack: false };
const ADAM1 = (g) => -g / (Math.abs(g) + 1e-7); // the first Adam direction: m̂ = g, v̂ = g², d = g / (|g| + ε)

hand('hand/ref/weight-absolute-mean', `${REF}: weight granularity, absolute crack, mean normalization`,
  'g = [1, 3] -> l = [1, 3]; phi_hat = 1 + 0.5 l = [1.5, 2.5]; sum 4, P = 2 -> phi = [0.75, 1.25]. ' +
  'theta = 1 - 0.1 phi g = [0.925, 0.625]; mean |dphi| = 0.25.',
  SGD, 1, [{ name: 'a', theta: [1, 1], grad: [1, 3], P: 2 }],
  [{ afterStep: 1, meanAbsDeltaPhi: [0.25], variables: [{ theta: [0.925, 0.625], phi: [0.75, 1.25] }] }]);

hand('hand/ref/normalize-none', `${REF}: normalize none keeps the raw gilded phi`,
  'phi = phi_hat = [1.5, 2.5]; theta = [1 - 0.1*1.5*1, 1 - 0.1*2.5*3] = [0.85, 0.25]; mean |dphi| = (0.5 + 1.5)/2 = 1.',
  { ...SGD, normalizeMean: false }, 1, [{ name: 'a', theta: [1, 1], grad: [1, 3], P: 2 }],
  [{ afterStep: 1, meanAbsDeltaPhi: [1], variables: [{ theta: [0.85, 0.25], phi: [1.5, 2.5] }] }]);

hand('hand/ref/relative-crack', `${REF}: relative crack divides by the mean crack`,
  'a: l = [1, 3] / 2 = [0.5, 1.5]; phi_hat = [1.25, 1.75]; sum 3 -> phi = [2.5/3, 3.5/3]; theta = -0.1 phi g ' +
  '(phi as stored); mean |dphi| = 1/6. b: every gradient times 1000 leaves the relative crack, and so phi, unchanged.',
  { ...SGD, relativeCrack: true }, 1,
  [{ name: 'a', theta: [0, 0], grad: [1, 3], P: 2 }, { name: 'b', theta: [0, 0], grad: [1000, 3000], P: 2 }],
  [{
    afterStep: 1, meanAbsDeltaPhi: [1 / 6, 1 / 6], variables: [
      { theta: [-0.1 * f(2.5 / 3), -0.1 * f(3.5 / 3) * 3], phi: [2.5 / 3, 3.5 / 3] },
      { theta: [-0.1 * f(2.5 / 3) * 1000, -0.1 * f(3.5 / 3) * 3000], phi: [2.5 / 3, 3.5 / 3] },
    ],
  }]);

hand('hand/ref/unit', `${REF}: unit granularity, one phi per output unit (last axis)`,
  'shape [2, 2], g = [[1, 2], [3, 6]]: l_0 = (1 + 3)/2 = 2, l_1 = (2 + 6)/2 = 4. beta = 0.25: phi_hat = [1.5, 2]; ' +
  'sum 3.5 -> phi = [3/3.5, 4/3.5]; theta_e = -0.1 phi_(e mod 2) g_e (phi as stored); mean |dphi| = 1/7.',
  { ...SGD, granularity: GRAN.unit, gildingRate: 0.25 }, 1, [{ name: 'k', theta: [0, 0, 0, 0], grad: [1, 2, 3, 6], P: 2 }],
  [{
    afterStep: 1, meanAbsDeltaPhi: [1 / 7], variables: [{
      theta: [-0.1 * f(3 / 3.5) * 1, -0.1 * f(4 / 3.5) * 2, -0.1 * f(3 / 3.5) * 3, -0.1 * f(4 / 3.5) * 6],
      phi: [3 / 3.5, 4 / 3.5],
    }],
  }]);

hand('hand/ref/layer', `${REF}: layer granularity, one phi per variable, normalized across the variables of the step`,
  'a: g = [1, 1] -> l = 1; b: g = [3] -> l = 3. phi_hat = [1.5, 2.5] over the group -> phi = [0.75, 1.25]. ' +
  'theta_a = 1 - 0.1*0.75 = 0.925, theta_b = 1 - 0.1*1.25*3 = 0.625; mean |dphi| = 0.25 each.',
  { ...SGD, granularity: GRAN.layer }, 1,
  [{ name: 'a', theta: [1, 1], grad: [1, 1], P: 1 }, { name: 'b', theta: [1], grad: [3], P: 1 }],
  [{
    afterStep: 1, meanAbsDeltaPhi: [0.25, 0.25],
    variables: [{ theta: [0.925, 0.925], phi: [0.75] }, { theta: [1 - 0.1 * 1.25 * 3], phi: [1.25] }],
  }]);

hand('hand/ref/clamp', `${REF}: clamps phi into [phiMin, phiMax] after normalization`,
  'beta = 1, g = [0, 0, 0, 9]: phi_hat = [1, 1, 1, 10]; sum 13, P = 4 -> [4/13, 4/13, 4/13, 40/13] -> clamp to ' +
  '[0.5, 2] -> [0.5, 0.5, 0.5, 2]. theta_3 = -0.1*2*9 = -1.8; g = 0 leaves theta_0..2 at 0. mean |dphi| = (3*0.5 + 1)/4 = 0.625.',
  { ...SGD, gildingRate: 1, phiMin: 0.5, phiMax: 2 }, 1, [{ name: 'a', theta: [0, 0, 0, 0], grad: [0, 0, 0, 9], P: 4 }],
  [{ afterStep: 1, meanAbsDeltaPhi: [0.625], variables: [{ theta: [0, 0, 0, -1.8], phi: [0.5, 0.5, 0.5, 2] }] }]);

hand('hand/ref/annealing-stops', `${REF}: annealing slows gilding of gilded pathways and stops it at phi = 1/gamma`,
  'gamma = 0.5, beta = 1, no normalization, g = [2, 4] at both steps. Step 1: a = 1 - 0.5*1 = 0.5, phi = 1 + 0.5 [2, 4] = ' +
  '[2, 3], theta = -0.1 [2*2, 3*4] = [-0.4, -1.2], mean |dphi| = 1.5. Step 2: a = max(0, 1 - 0.5 [2, 3]) = [0, 0], ' +
  'phi stays [2, 3], mean |dphi| = 0, theta = [-0.8, -2.4].',
  { ...SGD, annealing: 0.5, gildingRate: 1, normalizeMean: false }, 2, [{ name: 'a', theta: [0, 0], grad: [2, 4], P: 2 }],
  [
    { afterStep: 1, meanAbsDeltaPhi: [1.5], variables: [{ theta: [-0.4, -1.2], phi: [2, 3] }] },
    { afterStep: 2, meanAbsDeltaPhi: [0], variables: [{ theta: [f(-0.4) - 0.4, f(-1.2) - 1.2], phi: [2, 3] }] },
  ]);

hand('hand/ref/weight-decay', `${REF}: decoupled weight decay, theta <- theta - alpha (phi d + lambda theta)`,
  'beta = 0 (phi = 1), lambda = 0.5, theta = 2, g = 1: theta = 2 - 0.1 (1 + 0.5*2) = 1.8.',
  { ...SGD, gildingRate: 0, weightDecay: 0.5 }, 1, [{ name: 'a', theta: [2], grad: [1], P: 1 }],
  [{ afterStep: 1, meanAbsDeltaPhi: [0], variables: [{ theta: [1.8], phi: [1] }] }]);

hand('hand/ref/momentum', `${REF}: momentum, u <- mu u + g, d = u`,
  'g = 1 at both steps, mu = 0.9, beta = 0: u1 = 1, theta1 = -0.1; u2 = 0.9 + 1 = 1.9, theta2 = -0.1 - 0.19 = -0.29.',
  { ...SGD, base: BASE.momentum, gildingRate: 0 }, 2, [{ name: 'a', theta: [0], grad: [1], P: 1 }],
  [
    { afterStep: 1, meanAbsDeltaPhi: [0], variables: [{ theta: [-0.1], phi: [1], m: [1] }] },
    { afterStep: 2, meanAbsDeltaPhi: [0], variables: [{ theta: [f(-0.1) - 0.1 * f(1.9)], phi: [1], m: [1.9] }] },
  ]);

hand('hand/ref/adam-gilding', `${REF}: adam with gilding, the bias-corrected direction is about sign(g), scaled by phi`,
  'Step 1: m = 0.1 g = [0.1, 0.3], v = 0.001 g^2 = [0.001, 0.009]; m_hat = g, v_hat = g^2, d = g / (|g| + 1e-7). ' +
  'phi as in weight-absolute-mean: [0.75, 1.25] -> theta = -0.1 phi d = [-0.075/(1 + 1e-7), -0.125*3/(3 + 1e-7)].',
  { ...SGD, base: BASE.adam }, 1, [{ name: 'a', theta: [0, 0], grad: [1, 3], P: 2 }],
  [{
    afterStep: 1, meanAbsDeltaPhi: [0.25], variables: [{
      theta: [0.1 * 0.75 * ADAM1(1), 0.1 * 1.25 * ADAM1(3)], phi: [0.75, 1.25], m: [0.1, 0.3], v: [0.001, 0.009],
    }],
  }]);

hand('hand/ref/skip', `${REF}: skips a variable with a non-finite gradient and leaves everything of it untouched`,
  'bad: g = [NaN, 1] -> skipped = 1, theta, phi, m, v exactly as given. good: as adam-gilding from theta = [1, 2]: ' +
  'phi = [0.75, 1.25], m = [0.1, 0.3], v = [0.001, 0.009], theta = [1 - 0.075/(1 + 1e-7), 2 - 0.125*3/(3 + 1e-7)].',
  { ...SGD, base: BASE.adam }, 1,
  [{ name: 'bad', theta: [1, 2], grad: [NaN, 1], P: 2 }, { name: 'good', theta: [1, 2], grad: [1, 3], P: 2 }],
  [{
    afterStep: 1, skipped: [1, 0], meanAbsDeltaPhi: [0, 0.25], variables: [
      { theta: [1, 2], phi: [1, 1], m: [0, 0], v: [0, 0] },
      { theta: [1 + 0.1 * 0.75 * ADAM1(1), 2 + 0.1 * 1.25 * ADAM1(3)], phi: [0.75, 1.25], m: [0.1, 0.3], v: [0.001, 0.009] },
    ],
  }]);

hand('hand/ref/throw', `${REF}: throws on a non-finite gradient before changing any variable of the call`,
  'dense/kernel (index 1) has g = [1, Infinity]: the kernel reports index 1, and neither variable changes, though ' +
  "'first' comes before it and is finite.",
  { ...SGD, throwOnNonFinite: true }, 1,
  [{ name: 'first', theta: [1, 2], grad: [1, 3], P: 2 }, { name: 'dense/kernel', theta: [1, 2], grad: [1, Infinity], P: 2 }],
  [{ afterStep: 1, throwIndex: 1, variables: [{ theta: [1, 2], phi: [1, 1] }, { theta: [1, 2], phi: [1, 1] }] }]);

hand('hand/ref/zero-gilding', `${REF}: with a zero gilding rate phi stays 1 and the step is the base optimizer`,
  'beta = 0: phi_hat = phi = [1, 1], normalized stays [1, 1]; theta = 1 - 0.1 g = [0.9, 0.7].',
  { ...SGD, gildingRate: 0 }, 1, [{ name: 'a', theta: [1, 1], grad: [1, 3], P: 2 }],
  [{ afterStep: 1, meanAbsDeltaPhi: [0], variables: [{ theta: [0.9, 0.7], phi: [1, 1] }] }]);

hand('hand/ref/empty-and-zero', `${REF}: handles empty variables and all-zero gradients`,
  'relative crack. empty: n = 0, P = 0, nothing to do, mean |dphi| = 0. zero: g = [0, 0] -> l = [0, 0], all zero stays ' +
  'zero; phi_hat = [1, 1], normalized [1, 1]; theta = 1 - 0.1*1*0 = [1, 1].',
  { ...SGD, relativeCrack: true }, 1,
  [{ name: 'empty', theta: [], grad: [], P: 0 }, { name: 'zero', theta: [1, 1], grad: [0, 0], P: 2 }],
  [{ afterStep: 1, meanAbsDeltaPhi: [0, 0], variables: [{ theta: [], phi: [] }, { theta: [1, 1], phi: [1, 1] }] }]);

// Hand cases from native/test/kernel_test.cpp. Its sgd(): weight, sgd, learningRate 0.1,
// gildingRate 0.5, absolute crack, mean normalization, the C++ Params defaults otherwise.

const CPP = 'native/test/kernel_test.cpp';

hand('hand/cpp/weight-sgd', `${CPP}: handCases, weight sgd`,
  'cracks [1, 3]; phi_hat [1.5, 2.5]; mean-normalized phi [0.75, 1.25]; theta = [1 - 0.1*0.75*1, 2 - 0.1*1.25*3] = ' +
  '[0.925, 1.625]; mean |dphi| = 0.25.',
  SGD, 1, [{ name: 'a', theta: [1, 2], grad: [1, 3], P: 2 }],
  [{ afterStep: 1, meanAbsDeltaPhi: [0.25], variables: [{ theta: [0.925, 1.625], phi: [0.75, 1.25] }] }]);

hand('hand/cpp/unit-adam-zero-gilding', `${CPP}: handCases, unit [2, 2], adam step 1, beta 0`,
  'beta = 0: phi stays [1, 1]. g = [1, -2, 3, 4]: m = 0.1 g, v = 0.001 g^2, the first Adam step is ' +
  '-0.1 g / (|g| + 1e-7), about -0.1 sign(g).',
  { ...SGD, granularity: GRAN.unit, base: BASE.adam, gildingRate: 0 }, 1,
  [{ name: 'a', theta: [0, 0, 0, 0], grad: [1, -2, 3, 4], P: 2 }],
  [{
    afterStep: 1, meanAbsDeltaPhi: [0], variables: [{
      theta: [1, -2, 3, 4].map((g) => 0.1 * ADAM1(g)), phi: [1, 1],
      m: [0.1, -0.2, 0.3, 0.4], v: [0.001, 0.004, 0.009, 0.016],
    }],
  }]);

hand('hand/cpp/unit-relative', `${CPP}: handCases, unit relative`,
  'shape [2, 2], g = [[1, 2], [3, 4]]: cracks [2, 3] -> relative [0.8, 1.2]; phi_hat [1.4, 1.6]; sum 3 -> phi = ' +
  '[14/15, 16/15]; theta_e = -0.1 phi_(e mod 2) g_e (phi as stored); mean |dphi| = 1/15.',
  { ...SGD, granularity: GRAN.unit, relativeCrack: true }, 1, [{ name: 'a', theta: [0, 0, 0, 0], grad: [1, 2, 3, 4], P: 2 }],
  [{
    afterStep: 1, meanAbsDeltaPhi: [1 / 15], variables: [{
      theta: [-0.1 * f(14 / 15), -0.1 * f(16 / 15) * 2, -0.1 * f(14 / 15) * 3, -0.1 * f(16 / 15) * 4], phi: [14 / 15, 16 / 15],
    }],
  }]);

hand('hand/cpp/layer-relative', `${CPP}: handCases, layer relative`,
  'a: g = [1, -1] -> l = 1; b: g = [3] -> l = 3; relative over the group: [0.5, 1.5]; beta 1: phi_hat [1.5, 2.5] -> ' +
  'phi [0.75, 1.25]. learningRate 1: theta_a = -0.75 g = [-0.75, 0.75], theta_b = -1.25*3 = -3.75; mean |dphi| 0.25 each.',
  { ...SGD, granularity: GRAN.layer, relativeCrack: true, gildingRate: 1, learningRate: 1 }, 1,
  [{ name: 'a', theta: [0, 0], grad: [1, -1], P: 1 }, { name: 'b', theta: [0], grad: [3], P: 1 }],
  [{
    afterStep: 1, meanAbsDeltaPhi: [0.25, 0.25],
    variables: [{ theta: [-0.75, 0.75], phi: [0.75] }, { theta: [-3.75], phi: [1.25] }],
  }]);

hand('hand/cpp/momentum-decay-clamp', `${CPP}: handCases, momentum, weight decay, clamp`,
  'theta = [1, 1], u = [1, 1], g = [0, 10], beta 1, normalize none, phiMax 5, lambda 0.1: phi_hat = [1, 11] -> clamp ' +
  '[1, 5]; u = 0.9 u + g = [0.9, 10.9]; theta = 1 - 0.1 (phi u + 0.1*1) = [0.9, 1 - 0.1*(54.5 + 0.1)] = [0.9, -4.46]; ' +
  'mean |dphi| = (0 + 4)/2 = 2.',
  { ...SGD, base: BASE.momentum, gildingRate: 1, normalizeMean: false, phiMax: 5, weightDecay: 0.1 }, 1,
  [{ name: 'a', theta: [1, 1], grad: [0, 10], P: 2, m: [1, 1] }],
  [{ afterStep: 1, meanAbsDeltaPhi: [2], variables: [{ theta: [0.9, -4.46], phi: [1, 5], m: [0.9, 10.9] }] }]);

hand('hand/cpp/annealing', `${CPP}: handCases, annealing 0.5 on phi 1`,
  'gamma 0.5, beta 1, normalize none, g = [2, 0]: a = 1 - 0.5*1 = 0.5, so phi_hat = [1 + 0.5*2, 1] = [2, 1]; ' +
  'theta = -0.1 phi g = [-0.4, 0]; mean |dphi| = 0.5.',
  { ...SGD, gildingRate: 1, normalizeMean: false, annealing: 0.5 }, 1, [{ name: 'a', theta: [0, 0], grad: [2, 0], P: 2 }],
  [{ afterStep: 1, meanAbsDeltaPhi: [0.5], variables: [{ theta: [-0.4, 0], phi: [2, 1] }] }]);

hand('hand/cpp/throw', `${CPP}: handCases, non-finite, throw changes nothing`,
  'b (index 1) has g = [1, NaN]: the kernel reports 1 and changes neither a nor b.',
  { ...SGD, throwOnNonFinite: true }, 1,
  [{ name: 'a', theta: [1], grad: [1], P: 1 }, { name: 'b', theta: [1, 1], grad: [1, NaN], P: 2 }],
  [{ afterStep: 1, throwIndex: 1, variables: [{ theta: [1], phi: [1] }, { theta: [1, 1], phi: [1, 1] }] }]);

hand('hand/cpp/skip', `${CPP}: handCases, non-finite, skip leaves only that variable untouched`,
  'b has g = [1, NaN]: skipped, untouched. a: one weight pathway, l = 1, phi_hat = 1.5, normalized 1.5*1/1.5 = 1; ' +
  'theta = 1 - 0.1*1*1 = 0.9; mean |dphi| = 0.',
  SGD, 1, [{ name: 'a', theta: [1], grad: [1], P: 1 }, { name: 'b', theta: [1, 1], grad: [1, NaN], P: 2 }],
  [{ afterStep: 1, skipped: [0, 1], meanAbsDeltaPhi: [0, 0], variables: [{ theta: [0.9], phi: [1] }, { theta: [1, 1], phi: [1, 1] }] }]);

// ---------------------------------------------------------------------------------------------
// Generated cases: expected values from the oracle.

const GEN = { learningRate: 0.01, gildingRate: 0.3, relativeCrack: false };
// Sizes 0, 1, 3, 7 and 33 as [rows, last axis]; for unit the first has 3 pathways and no rows.
const SMALL = [[0, 3], [1, 1], [3, 1], [1, 7], [3, 11]];
// Sizes 0, 1, 3, 7 and 6 (unit: 3 pathways of 2 rows), for the cases about something else.
const TINY = [[0, 3], [1, 1], [3, 1], [1, 7], [2, 3]];
// For layer granularity a group of more variables, so that clamps bind and annealing stops some.
const LAYER_GROUP = [...TINY, [2, 2], [4, 1], [1, 9], [1, 5]];

// Granularity x base, each with two of the four crack x normalization combinations, so that each
// granularity and each base meets all four.
const COMBOS = [[false, true], [true, false], [true, true], [false, false]];
for (const granularity of [0, 1, 2]) {
  for (const base of [0, 1, 2]) {
    const k = (granularity + base) % 2;
    for (const [relativeCrack, normalizeMean] of [COMBOS[2 * k], COMBOS[2 * k + 1]]) {
      generated(`gen/grid/${GNAME[granularity]}-${BNAME[base]}-${relativeCrack ? 'relative' : 'absolute'}-${normalizeMean ? 'mean' : 'none'}`,
        `Granularity x base x crack x normalization over sizes 0, 1, 3, 7, 33 ([0,3], [1,1], [3,1], [1,7], [3,11]); ` +
        `3 steps with new gradients; phi starts in [0.8, 1.2), not normalized; m and v start nonzero.`,
        { ...GEN, granularity, base, relativeCrack, normalizeMean }, SMALL);
    }
  }
}

for (const granularity of [0, 1, 2]) {
  generated(`gen/clamp-anneal-decay/${GNAME[granularity]}-adam-mean`,
    'Clamps that bind at both ends (gildingRate 5, phi in [0.55, 1.45)), annealing 0.7, weight decay 0.05, relative crack, ' +
    'mean normalization, adam from t = 5 (params.step 5).',
    { ...GEN, granularity, base: BASE.adam, gildingRate: 5, phiMin: 0.5, phiMax: 1.5, annealing: 0.7, weightDecay: 0.05, relativeCrack: true, step: 5 },
    granularity === GRAN.layer ? LAYER_GROUP : TINY, { phiSpread: 0.45, assert: assertBinds });
  generated(`gen/clamp-anneal-decay/${GNAME[granularity]}-momentum-none`,
    'Clamps that bind (phiMin 0.9, phiMax 1.1) without normalization, annealing 0.3, weight decay 0.05, absolute crack, momentum.',
    { ...GEN, granularity, base: BASE.momentum, gildingRate: 0.5, phiMin: 0.9, phiMax: 1.1, annealing: 0.3, weightDecay: 0.05, normalizeMean: false },
    granularity === GRAN.layer ? LAYER_GROUP : TINY, { phiSpread: 0.3, assert: assertBinds });
}

for (const granularity of [0, 1, 2]) {
  const base = [BASE.sgd, BASE.adam, BASE.momentum][granularity];
  generated(`gen/annealing-stops/${GNAME[granularity]}-${BNAME[base]}`,
    'annealing 1.25 with phi in [0.5, 1.3): pathways with phi >= 0.8 stop gilding (a = 0), the rest slow down; ' +
    'normalize none, phiMax Infinity, weight decay 0.01.',
    { ...GEN, granularity, base, annealing: 1.25, gildingRate: 1, normalizeMean: false, phiMax: Infinity, weightDecay: 0.01 },
    granularity === GRAN.layer ? LAYER_GROUP : TINY, { phiSpread: 0.4, phiShift: 0.9, assert: assertAnnealingStops });
}

const SIX = [[1, 3], [2, 3], [3, 1], [1, 7], [1, 9], [1, 1]];
for (const granularity of [0, 1, 2]) {
  generated(`gen/nonfinite-skip/${GNAME[granularity]}-adam`,
    'Skip: step 1 all finite; step 2: v1 has NaN, v3 +Infinity; step 3: v4 -Infinity. A skipped variable keeps ' +
    'theta, phi, m, v and leaves the layer group; the others step. Checked after steps 2 and 3.',
    { ...GEN, granularity, base: BASE.adam, relativeCrack: true }, SIX,
    {
      checksAt: [2, 3],
      bad: { 2: { 1: [[4, 'NaN']], 3: [[6, 'Infinity']] }, 3: { 4: [[8, '-Infinity']] } },
      assert: assertSkips({ 1: [0, 0, 0, 0, 0, 0], 2: [0, 1, 0, 1, 0, 0], 3: [0, 0, 0, 0, 1, 0] }),
    });
}

for (const granularity of [0, 1, 2]) {
  const base = [BASE.momentum, BASE.sgd, BASE.adam][granularity];
  generated(`gen/nonfinite-throw/${GNAME[granularity]}-${BNAME[base]}`,
    'Throw: step 1 all finite; step 2: v2 has NaN and v4 -Infinity -> index 2, and nothing of any variable (v0 and v1 ' +
    'included) changes in step 2: the state after step 2 is the state after step 1.',
    { ...GEN, granularity, base, throwOnNonFinite: true }, SIX,
    { steps: 2, checksAt: [1, 2], bad: { 2: { 2: [[1, 'NaN']], 4: [[0, '-Infinity']] } }, assert: assertThrows(2, 2) });
}

// Larger than every SIMD width, with a remainder for each (515 = 32*16 + 3), stored in full.
generated('gen/simd-remainder/weight-adam-515',
  'One variable of 515 elements (515 mod 4, 8, 16 = 3): weight, adam, relative crack, annealing 0.2, weight decay 0.01, ' +
  '2 steps; expected values in full.',
  { ...GEN, granularity: GRAN.weight, base: BASE.adam, relativeCrack: true, annealing: 0.2, weightDecay: 0.01 },
  [[1, 515]], { steps: 2 });
generated('gen/simd-remainder/unit-momentum-4099',
  'Unit [4099, 1] plus [13, 79] (1027 elements, 79 units): momentum, absolute crack, clamp phiMax 1.05, 2 steps; ' +
  'expected values sampled every 37 elements and the last 20.',
  { ...GEN, granularity: GRAN.unit, base: BASE.momentum, phiMax: 1.05 },
  [[4099, 1], [13, 79]], { steps: 2, stride: 37 });
generated('gen/simd-remainder/layer-sgd-4099',
  'Layer over [4099], [1027, 1] and [3]: sgd, relative crack, weight decay 0.02, 2 steps; sampled every 37 and the last 20.',
  { ...GEN, granularity: GRAN.layer, base: BASE.sgd, relativeCrack: true, weightDecay: 0.02 },
  [[1, 4099], [1027, 1], [1, 3]], { steps: 2, stride: 37 });

// Larger than two pool chunks (2 * 65536 elements), so the native kernels use their threads:
// expected values sampled.
generated('gen/multi-chunk/weight-adam-140003',
  'One variable of 140003 elements (over two 65536-element chunks, odd tail): weight, adam, mean normalization, ' +
  'annealing 0.1, relative crack, 2 steps; expected values sampled every 997 elements and the last 20.',
  { ...GEN, granularity: GRAN.weight, base: BASE.adam, annealing: 0.1, relativeCrack: true },
  [[1, 140003]], { steps: 2, stride: 997 });
generated('gen/multi-chunk/unit-adam-131000',
  'Unit [1000, 131] plus [3, 7]: adam, relative crack, weight decay 0.01, 2 steps; sampled every 997 and the last 20.',
  { ...GEN, granularity: GRAN.unit, base: BASE.adam, relativeCrack: true, weightDecay: 0.01 },
  [[1000, 131], [3, 7]], { steps: 2, stride: 997 });
generated('gen/multi-chunk/layer-momentum-3vars',
  'Layer over [65537], [40000, 2] and [1, 1] (145538 elements): momentum, absolute crack, 2 steps; sampled every 997 ' +
  'and the last 20.',
  { ...GEN, granularity: GRAN.layer, base: BASE.momentum },
  [[1, 65537], [40000, 2], [1, 1]], { steps: 2, stride: 997 });

// Many small variables in one step.
const MANY = Array.from({ length: 24 }, (_, k) => [1 + (k % 3), 1 + ((k * 7) % 4)]);
generated('gen/many-small/layer-adam-24',
  '24 variables of 1 to 12 elements in one layer group: adam, relative crack, clamp phiMax 1.2, 2 steps.',
  { ...GEN, granularity: GRAN.layer, base: BASE.adam, relativeCrack: true, phiMax: 1.2 }, MANY, { steps: 2 });
generated('gen/many-small/unit-momentum-24',
  '24 variables of 1 to 12 elements, one phi per last-axis unit: momentum, absolute crack, mean normalization, 1 step.',
  { ...GEN, granularity: GRAN.unit, base: BASE.momentum }, MANY, { steps: 1 });

// All-zero gradients with a relative crack: the cracks stay zero; phi (not normalized on input)
// is still normalized.
for (const granularity of [0, 1, 2]) {
  generated(`gen/zero-gradients/${GNAME[granularity]}-adam-relative`,
    'Every gradient 0 with a relative crack: all cracks zero stay zero, phi_hat = phi, mean normalization still rescales ' +
    'phi (it starts in [0.8, 1.2)); adam with g = 0 decays m and v.',
    { ...GEN, granularity, base: BASE.adam, relativeCrack: true }, [[0, 3], [1, 1], [3, 5], [1, 7]],
    { steps: 1, gradScale: 0 });
}

// Caller-supplied cracks (per-example cracks, KernelVariable.crack): unit granularity, every base,
// relative and absolute; some variables without one; a zero crack; a NaN gradient still skips.
const CRACKED = [[0, 3], [1, 1], [2, 1], [2, 4], [2, 5], [3, 2]];
const crackOf = (k, P) => (k % 3 === 2 ? undefined : k === 4 ? fill(P, 0.5, 0.5, [[2, 0]]) : fill(P, 2, 2));
for (const base of [0, 1, 2]) {
  for (const relativeCrack of [false, true]) {
    generated(`gen/given-crack/unit-${BNAME[base]}-${relativeCrack ? 'relative' : 'absolute'}`,
      'Unit granularity with a crack array supplied for variables 0, 1, 3, 4 (values in [0, 4), one 0), none for 2 and 5, ' +
      'whose cracks come from g; mean normalization, annealing 0.2, 2 steps with new gradients.',
      { ...GEN, granularity: GRAN.unit, base, relativeCrack, annealing: 0.2 }, CRACKED, { crack: crackOf, steps: 2 });
  }
}
generated('gen/given-crack/unit-adam-nonfinite-skip',
  'A supplied crack does not bypass the finite check: step 2 puts NaN in the gradient of v3 (which has a crack), so v3 is ' +
  'skipped and unchanged; the others step.',
  { ...GEN, granularity: GRAN.unit, base: BASE.adam, relativeCrack: true }, CRACKED,
  { crack: crackOf, checksAt: [2, 3], bad: { 2: { 3: [[3, 'NaN']] } }, assert: assertSkips({ 2: [0, 0, 0, 1, 0, 0] }) });

// ---------------------------------------------------------------------------------------------
// Output.

function names() {
  const seen = new Set();
  for (const c of cases) {
    if (seen.has(c.name)) throw new Error(`duplicate case name ${c.name}`);
    seen.add(c.name);
  }
}
names();

const doc = {
  format: 'kintsugi-kernel-vectors/1',
  about:
    'Shared test vectors for every Kintsugi kernel (TypeScript reference, native on each instruction set, WebAssembly, ' +
    'CUDA): inputs, params and the expected state after each checked step. Written by scripts/make-kernel-vectors.cjs ' +
    '(do not edit by hand; regenerate, and check with --check). Run by test/kernel-vectors.test.ts and ' +
    'native/test/vectors_test.cpp. The rule: ../shared/design/ALGORITHM.md and docs/algorithm.md.',
  spec: SPEC,
  tolerance: TOLERANCE,
  cases,
};

/** JSON with one line per array of numbers and per fill; two-space indentation otherwise. */
function format(value, indent) {
  const pad = '  '.repeat(indent);
  const inner = '  '.repeat(indent + 1);
  const flat = (v) => v === null || typeof v !== 'object' || (Array.isArray(v) && v.every((x) => x === null || typeof x !== 'object'));
  if (flat(value)) return JSON.stringify(value);
  // One line each: a fill, a sampled array, a variable (inputs, or expected state), params.
  if (!Array.isArray(value) && ('fill' in value || 'stride' in value || 'theta' in value || 'beta1' in value)) {
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return `[\n${value.map((v) => inner + format(v, indent + 1)).join(',\n')}\n${pad}]`;
  }
  const keys = Object.keys(value);
  return `{\n${keys.map((k) => `${inner}${JSON.stringify(k)}: ${format(value[k], indent + 1)}`).join(',\n')}\n${pad}}`;
}

const text = format(doc, 0) + '\n';
// Every runner reads the whole file; keep it small (the shared vectors are not a data set).
if (text.length > 300_000) throw new Error(`the vectors take ${text.length} bytes; keep them under 300 KB`);
const summary =
  `${cases.length} cases (${cases.filter((c) => c.origin === 'hand').length} hand-derived, ` +
  `${cases.filter((c) => c.origin === 'oracle').length} from the oracle), ${text.length} bytes; ` +
  `oracle vs hand derivations: worst ${worstHand.v.toFixed(3)} x tolerance (${worstHand.name})`;

if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = fs.readFileSync(OUT, 'utf8');
  } catch (e) {
    console.error(`make-kernel-vectors --check: cannot read ${path.relative(process.cwd(), OUT)}: ${e.message}`);
    process.exit(1);
  }
  if (current !== text) {
    const a = current.split('\n');
    const b = text.split('\n');
    let line = 0;
    while (line < Math.max(a.length, b.length) && a[line] === b[line]) line++;
    console.error(`make-kernel-vectors --check: ${path.relative(process.cwd(), OUT)} differs from what the generator writes, ` +
      `first at line ${line + 1}:\n  file:      ${(a[line] ?? '<end>').slice(0, 200)}\n  generated: ${(b[line] ?? '<end>').slice(0, 200)}\n` +
      'Regenerate with: node scripts/make-kernel-vectors.cjs');
    process.exit(1);
  }
  console.log(`make-kernel-vectors --check: up to date; ${summary}`);
} else {
  fs.mkdirSync(path.dirname(OUT), { recursive: true });
  fs.writeFileSync(OUT, text);
  console.log(`wrote ${path.relative(process.cwd(), OUT)}: ${summary}`);
}
