#!/usr/bin/env node
// Rare-event quality: Kintsugi against the baselines people use, on any CSV with numeric
// features and a 0/1 label, or on built-in data. Same model, steps, batches and splits for every method;
// stratified splits, scaling fitted on the training split only, several seeds, mean ± std.
//
//   npm run bench:rare                                   # built-in: synthetic fraud + breast cancer
//   npm run bench:rare -- --data my.csv --label is_fraud [--positive M] [--drop id,time]
//                         [--seeds 10] [--epochs 20] [--methods adam,'kintsugi unit'] [--out DIR]
//                         [--quick]    (2 seeds, 3 epochs)
//                         [--jobs N]   (runs in N processes at once; default: the CPU count)
//                         [--batch B]  (default 64, doubled while an epoch would exceed 256 steps)
//                         [--first-seed S]   (seeds S, S+1, …; default 1)
//                         [--gilding 0.003,0.03,0.3]   (adds Kintsugi variants at each gilding rate β)
//                         [--study]    (the method variants tried for docs/rare-events.md)
//                         [--only synthetic|cancer]    (one of the built-in data sets)
//   npm run bench:rare -- --redraw DIR                 # draws DIR's charts again from DIR/results.json
//
// Without --out, results go to bench/results/tmp/rare (--study: bench/results/tmp/rare-study),
// which git ignores. The results shipped in the repo change only when named:
// --out bench/results/rare (or bench/results/rare-study, bench/results/rare-gilding/…).
const { fork } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const tf = require('@tensorflow/tfjs');
const k = require('kintsugi-optimizer');
// Internal to the harness, not part of the package's API.
const { pairedComparison } = require('../dist/eval/paired.js');

tf.env().set('PROD', true);

const BREAST_CANCER = path.join(__dirname, '..', 'data', 'breast_cancer.csv');
/** The share of each class that goes to the test split. */
const TEST_FRACTION = 0.3;
/**
 * Each class must have at least this many rows on each side of the split, or the run is refused
 * before any training. Below it AP is not measurable: with no positive in test it is undefined
 * (NaN), with no negative it is 1 whatever the model does, with one positive it is the reciprocal
 * rank of a single example (1, 1/2, 1/3, …). With n test positives, one example changing rank
 * moves AP by up to about 1/n, so 5 keeps that step at 0.2 at most, and the training split
 * needs as many for the class weights and the class stream to have a rare class to learn from.
 * It is a floor, not a recommendation: the built-in sets' test splits hold 30 positives (fraud)
 * and 6 (breast cancer at 5%, the smallest split the harness reports on).
 */
const MIN_PER_CLASS = 5;

function parseArgs(argv) {
  const args = { seeds: 10, epochs: 20, out: null, quick: false, drop: [], jobs: cpuCount(), firstSeed: 1 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--data') args.data = next();
    else if (a === '--label') args.label = next();
    else if (a === '--positive') args.positive = next();
    else if (a === '--drop') args.drop = next().split(',').filter(Boolean);
    else if (a === '--seeds') args.seeds = positiveInt(a, next());
    else if (a === '--epochs') args.epochs = positiveInt(a, next());
    else if (a === '--jobs') args.jobs = positiveInt(a, next());
    else if (a === '--batch') args.batch = positiveInt(a, next());
    else if (a === '--first-seed') args.firstSeed = positiveInt(a, next());
    else if (a === '--worker') args.worker = true;
    else if (a === '--methods') args.methods = next().split(',').filter(Boolean);
    else if (a === '--gilding') args.gilding = next().split(',').map((g) => positiveNumber(a, g));
    else if (a === '--out') args.out = next();
    else if (a === '--redraw') args.redraw = next();
    else if (a === '--quick') args.quick = true;
    else if (a === '--study') args.study = true;
    else if (a === '--only') args.only = next();
    else if (a === '--help' || a === '-h') args.help = true;
    else throw new Error(`unknown argument ${a} (see --help)`);
  }
  if (args.data && !args.label) throw new Error('--data needs --label NAME (the 0/1 label column)');
  // A run never replaces the committed results unless told to: by default it writes where git ignores.
  args.out ??= path.join(__dirname, 'results', 'tmp', args.study ? 'rare-study' : 'rare');
  if (args.quick) Object.assign(args, { seeds: Math.min(args.seeds, 2), epochs: Math.min(args.epochs, 3) });
  return args;
}

function cpuCount() {
  const n = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return Number.isInteger(n) && n >= 1 ? n : 1;
}

function positiveNumber(flag, s) {
  const n = Number(s);
  if (!(n >= 0) || !Number.isFinite(n)) throw new Error(`${flag} takes non-negative numbers; got ${s}`);
  return n;
}

function positiveInt(flag, s) {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} must be a positive integer; got ${s}`);
  return n;
}

/** The data sets of this run: the user's CSV, or the built-in two. */
function datasets(args) {
  if (args.data) {
    const name = path.basename(args.data);
    const parsed = k.parseCsv(fs.readFileSync(args.data, 'utf8'), { label: args.label, positive: args.positive, drop: args.drop });
    checkMeasurable(name, args.label, parsed.y);
    return [{ name, ...parsed, subsample: null }];
  }
  const fraud = k.syntheticFraud({ n: args.quick ? 4000 : 10000, seed: 1 });
  const cancer = k.parseCsv(fs.readFileSync(BREAST_CANCER, 'utf8'), { label: 'label' });
  const sets = [
    { name: 'synthetic fraud', ...fraud, subsample: null },
    // Malignant (label 1) subsampled to 5% of rows, per seed, to make it a rare event.
    { name: 'breast cancer (5% malignant)', ...cancer, subsample: 0.05 },
  ];
  if (!args.only) return sets;
  const picked = sets.filter((d) => d.name.includes(args.only));
  if (picked.length === 0) throw new Error(`--only ${args.only} matches no built-in data set (${sets.map((d) => d.name).join('; ')})`);
  return picked;
}

/**
 * Refuses a label column that cannot give a measurable AP: fewer than MIN_PER_CLASS positives or
 * negatives on either side of the split. The split's class counts do not depend on the seed.
 */
function checkMeasurable(name, label, y) {
  if (y.length === 0) throw new Error(`${name} has no data rows (only a header)`);
  const split = k.stratifiedSplit(y, TEST_FRACTION, 1);
  const count = (idx, cls) => idx.reduce((n, r) => n + (y[r] === cls ? 1 : 0), 0);
  const [trainPos, trainNeg, testPos, testNeg] = [count(split.train, 1), count(split.train, 0), count(split.test, 1), count(split.test, 0)];
  if (Math.min(trainPos, trainNeg, testPos, testNeg) >= MIN_PER_CLASS) return;
  const plural = (n, what) => `${n} ${what}${n === 1 ? '' : 's'}`;
  throw new Error(
    `${name}: label column '${clip(label)}' has ${plural(trainPos + testPos, 'positive')} and ${plural(trainNeg + testNeg, 'negative')}` +
      ` (training gets ${plural(trainPos, 'positive')} and ${plural(trainNeg, 'negative')}, test ${testPos} and ${testNeg});` +
      ` each side of the ${Math.round(100 * (1 - TEST_FRACTION))}/${Math.round(100 * TEST_FRACTION)} split needs at least` +
      ` ${MIN_PER_CLASS} positives and ${MIN_PER_CLASS} negatives for average precision to be measurable`,
  );
}

/** A value as error messages show it: at most 40 characters. */
function clip(s) {
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

/** Rows → tensors for one split. */
function take(x, y, cols, idx) {
  const xs = new Float32Array(idx.length * cols);
  const ys = new Float32Array(idx.length);
  idx.forEach((r, i) => {
    xs.set(x.subarray(r * cols, (r + 1) * cols), i * cols);
    ys[i] = y[r];
  });
  return { x: xs, y: ys };
}

function buildModel(cols, seed) {
  const init = (s) => tf.initializers.glorotUniform({ seed: seed * 100 + s });
  return tf.sequential({
    layers: [
      tf.layers.dense({ units: 32, activation: 'relu', inputShape: [cols], kernelInitializer: init(1) }),
      tf.layers.dense({ units: 16, activation: 'relu', kernelInitializer: init(2) }),
      tf.layers.dense({ units: 1, activation: 'sigmoid', kernelInitializer: init(3) }),
    ],
  });
}

const LR = 0.003;
const BATCH = 64;
/**
 * The batch is BATCH, doubled while an epoch would take more steps than this. At batch 64 most of
 * a step's ~3 ms on tfjs's cpu backend is per-op overhead, so on a large file the step count more
 * than the arithmetic sets the run time (docs/rare-events.md, Run time). 256 steps is 16,384
 * training rows: every built-in and development data set keeps batch 64; a 25,000-row file
 * (17,500 training rows) gets 128.
 */
const MAX_STEPS_PER_EPOCH = 256;

/** The batch size for a training split of `rows` rows (`--batch` overrides the rule). */
function batchFor(rows, args) {
  if (args.batch) return args.batch;
  let batch = BATCH;
  while (Math.ceil(rows / batch) > MAX_STEPS_PER_EPOCH) batch *= 2;
  return batch;
}

const adam = (lr = LR) => () => ({ optimizer: tf.train.adam(lr), loss: 'binaryCrossentropy' });

/** The parameter stream with these options, on the plain loss. */
const param = (options) => () => ({ optimizer: k.kintsugi({ learningRate: LR, ...options }), loss: 'binaryCrossentropy' });

/** The loss-level stream with these class options; the parameter stream off unless options say. */
function lossLevel(classOptions = {}, optimizerOptions = { gildingRate: 0 }) {
  return () => {
    const optimizer = k.kintsugi({ learningRate: LR, ...optimizerOptions });
    return { optimizer, loss: optimizer.valueWeightedLoss('binaryCrossentropy', classOptions) };
  };
}

/**
 * The parameter stream at unit granularity with per-example cracks (optimizer.exampleCracks) in
 * every Dense layer of the run's model. The batches come from exampleDataset (the same batches as
 * fit's), so that the ϕ report can say which examples drove each unit: with `examples`, example
 * pathways weight the loss; without, exampleWeightedLoss with gildingRate 0 only carries the ids
 * (every weight stays 1: the plain mean loss).
 */
function exampleCracks(options = {}, { top = 1, examples = false } = {}) {
  return (ctx) => {
    const optimizer = k.kintsugi({ learningRate: LR, granularity: 'unit', ...options });
    optimizer.exampleCracks(ctx.model, { top });
    const loss = optimizer.exampleWeightedLoss('binaryCrossentropy', { examples: ctx.train.y.length, ...(examples ? {} : { gildingRate: 0 }) });
    return { optimizer, loss, dataset: (x, y) => k.exampleDataset(x, y, { batchSize: ctx.batch, shuffle: false }) };
  };
}

/**
 * JTT ("Just Train Twice", Liu et al. 2021): an identification model (the same model and Adam)
 * trained for `idFraction` of the epochs flags the training rows it misclassifies at threshold
 * 0.5; the final model, from the same initialization, trains on the training rows with each
 * flagged row repeated `upsample` times in all (the paper's upsampling). Values chosen on the
 * development data (docs/rare-events.md).
 */
const JTT = { idFraction: 0.05, upsample: 5 };
/** Random oversampling: positives repeated until they are this many per negative. */
const OVERSAMPLE_RATIO = 1;

function jtt({ idFraction, upsample } = JTT) {
  return (ctx) => ({
    ...adam()(),
    resample: async () => {
      const idEpochs = Math.max(1, Math.round(idFraction * ctx.epochs));
      const errors = await misclassified(ctx, idEpochs);
      return withCopies(ctx.train.y.length, errors, (upsample - 1) * errors.length, ctx.seed);
    },
  });
}

/** The training rows (indices into ctx.train) that Adam, after `epochs` epochs, puts on the wrong side of 0.5. */
async function misclassified(ctx, epochs) {
  const { train, cols, seed, batch } = ctx;
  const n = train.y.length;
  const model = buildModel(cols, seed);
  const optimizer = tf.train.adam(LR);
  model.compile({ optimizer, loss: 'binaryCrossentropy' });
  const xt = tf.tensor2d(train.x, [n, cols]);
  const yt = tf.tensor2d(train.y, [n, 1]);
  await model.fit(xt, yt, { epochs, batchSize: batch, shuffle: false, verbose: 0 });
  const pred = model.predict(xt);
  const p = await pred.data();
  tf.dispose([xt, yt, pred]);
  model.dispose();
  optimizer.dispose();
  const errors = [];
  for (let i = 0; i < n; i++) if ((p[i] >= 0.5 ? 1 : 0) !== train.y[i]) errors.push(i);
  return errors;
}

/** Positives repeated until there are OVERSAMPLE_RATIO of them per negative. */
const oversampling = (ctx) => ({
  ...adam()(),
  resample: async () => {
    const { y } = ctx.train;
    const positives = [];
    for (let i = 0; i < y.length; i++) if (y[i] === 1) positives.push(i);
    const extra = Math.max(0, Math.round(OVERSAMPLE_RATIO * (y.length - positives.length)) - positives.length);
    return withCopies(y.length, positives, extra, ctx.seed);
  },
});

/**
 * Rows 0…n−1 once, plus `extra` copies spread over `rows`: each gets ⌊extra/|rows|⌋, and a
 * seeded draw of `extra mod |rows|` of them one more; then a seeded shuffle of the whole list.
 */
function withCopies(n, rows, extra, seed) {
  const order = Array.from({ length: n }, (_, i) => i);
  if (rows.length > 0) {
    for (const i of rows) for (let c = 0; c < Math.floor(extra / rows.length); c++) order.push(i);
    order.push(...seededShuffle(rows.slice(), seed).slice(0, extra % rows.length));
  }
  return seededShuffle(order, seed);
}

/**
 * Training on a resampled list of training rows at the other methods' budget: each epoch takes
 * the next n rows of `order` (read cyclically; n = the training rows), so every method takes the
 * same number of steps of the same batch size, whatever the size of its resampled set.
 */
async function fitResampled(model, ctx, order, epochs, fitOptions) {
  const n = ctx.train.y.length;
  let next = 0;
  for (let e = 0; e < epochs; e++) {
    const rows = Array.from({ length: n }, () => {
      const r = order[next];
      next = (next + 1) % order.length;
      return r;
    });
    const part = take(ctx.train.x, ctx.train.y, ctx.cols, rows);
    const xt = tf.tensor2d(part.x, [n, ctx.cols]);
    const yt = tf.tensor2d(part.y, [n, 1]);
    await model.fit(xt, yt, { ...fitOptions, epochs: 1 });
    tf.dispose([xt, yt]);
  }
}

/**
 * Each method: how to compile the model, and any fit options; `resample(ctx)`, where given,
 * returns the training rows to train on (fitResampled) instead of the training split as it is;
 * `dataset(x, y)`, where given, makes the batches that model.fitDataset trains on instead of fit.
 */
const METHODS = {
  adam: adam(),
  'adam + classWeight': (ctx) => ({ ...adam()(), fit: { classWeight: ctx.inverseFrequency } }),
  'focal loss': () => ({ optimizer: tf.train.adam(LR), loss: k.focalLoss({ gamma: 2, alpha: 0.25 }) }),
  jtt: jtt(),
  oversampling,
  'kintsugi weight': param({ granularity: 'weight' }),
  'kintsugi unit': param({ granularity: 'unit' }),
  'kintsugi loss-level': lossLevel(),
  'kintsugi both': lossLevel({}, { granularity: 'unit' }),
  // Example pathways (one ϕ per training row, ids through fitDataset), the parameter stream off; the same batches as fit's.
  'kintsugi examples': (ctx) => {
    const optimizer = k.kintsugi({ learningRate: LR, gildingRate: 0 });
    const loss = optimizer.exampleWeightedLoss('binaryCrossentropy', { examples: ctx.train.y.length });
    return { optimizer, loss, dataset: (x, y) => k.exampleDataset(x, y, { batchSize: ctx.batch, shuffle: false }) };
  },
  // Per-example cracks (the largest per-example part of each unit), the optimizer's default β.
  'kintsugi example cracks': exampleCracks(),
  // The recommended configuration, fixed on 2026-12-03 by the rule written beforehand in
  // docs/rare-events.md ("The recommended configuration"), on the development data, seeds 11-15:
  // per-example cracks, the mean of each unit's 8 largest parts, β = 0.1. Not to be tuned again
  // on any data set it is reported on.
  'kintsugi recommended': exampleCracks({ gildingRate: 0.1 }, { top: 8 }),
};

/**
 * `--study`: the variants tried to make Kintsugi win (docs/rare-events.md). Each changes one
 * thing the seeds leave open: granularity, crack measure, constraint, what ϕ ≡ 1 means.
 */
const STUDY = {
  // Control: mean normalization keeps the mean step, but is a faster-moving Kintsugi only a larger learning rate?
  'adam lr×3 (control)': adam(3 * LR),
  'adam lr÷3 (control)': adam(LR / 3),
  'kintsugi unit β=1': param({ gildingRate: 1 }),
  'kintsugi layer': param({ granularity: 'layer' }),
  'kintsugi unit absolute crack': param({ crack: 'absolute', gildingRate: 100 }),
  'kintsugi unit no normalization': param({ normalize: 'none', annealing: 0.5 }),
  'loss-level β=0 (balancing alone)': lossLevel({ gildingRate: 0 }),
  'loss-level absent class zero': lossLevel({ absentClass: 'zero' }),
  'loss-level absolute crack': lossLevel({ crack: 'absolute' }),
  'loss-level frequency': lossLevel({ weighting: 'frequency' }),
  'loss-level frequency β=0.2': lossLevel({ weighting: 'frequency', gildingRate: 0.2 }),
  'loss-level frequency + unit': lossLevel({ weighting: 'frequency' }, { granularity: 'unit' }),
  // Candidates for the recommended configuration (docs/rare-events.md, "The recommended configuration").
  'kintsugi example cracks β=0.1': exampleCracks({ gildingRate: 0.1 }),
  'kintsugi example cracks top 8 β=0.1': exampleCracks({ gildingRate: 0.1 }, { top: 8 }),
  'kintsugi examples + example cracks': exampleCracks({}, { examples: true }),
  'kintsugi examples + example cracks β=0.1': exampleCracks({ gildingRate: 0.1 }, { examples: true }),
  // The JTT grid its defaults were chosen from (docs/rare-events.md): T as a share of the epochs, λ.
  ...Object.fromEntries([0.05, 0.25].flatMap((idFraction) => [5, 20, 50].map((upsample) => [`jtt T=${idFraction} λ=${upsample}`, jtt({ idFraction, upsample })]))),
};

function seededShuffle(a, seed) {
  let s = (seed * 2654435761) >>> 0;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/** `--gilding`: the parameter stream (unit) and the class stream, each at every β given. */
function addGildingSweep(rates) {
  const names = [];
  for (const beta of rates) {
    METHODS[`kintsugi unit β=${beta}`] = param({ granularity: 'unit', gildingRate: beta });
    METHODS[`kintsugi loss-level β=${beta}`] = lossLevel({ gildingRate: beta });
    names.push(`kintsugi unit β=${beta}`, `kintsugi loss-level β=${beta}`);
  }
  return names;
}

function meanStd(xs) {
  const finite = xs.filter(Number.isFinite);
  const mean = finite.reduce((a, b) => a + b, 0) / (finite.length || 1);
  const std = Math.sqrt(finite.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, finite.length - 1));
  return { mean: finite.length ? mean : NaN, std: finite.length > 1 ? std : 0, n: finite.length };
}

function scoreOf(labels, scores) {
  return {
    ap: k.averagePrecision(labels, scores),
    rocAuc: k.rocAuc(labels, scores),
    recallAtPrecision50: k.recallAtPrecision(labels, scores, 0.5),
    recallAtFpr1: k.recallAtFpr(labels, scores, 0.01),
    bestF1: k.bestF1(labels, scores).f1,
  };
}

async function runOne(ds, method, seed, args) {
  let rows = Array.from({ length: ds.y.length }, (_, i) => i);
  if (ds.subsample != null) rows = Array.from(k.subsamplePositives(ds.y, ds.subsample, seed));
  const ySub = Uint8Array.from(rows, (r) => ds.y[r]);
  const split = k.stratifiedSplit(ySub, TEST_FRACTION, seed);
  // A seeded shuffle once, then fit without shuffling: every method sees the same batches.
  const trainRows = seededShuffle(Array.from(split.train, (i) => rows[i]), seed);
  const testRows = Array.from(split.test, (i) => rows[i]);
  const xs = k.standardize(ds.x, ds.cols, Uint32Array.from(trainRows));
  const train = take(xs, ds.y, ds.cols, trainRows);
  const test = take(xs, ds.y, ds.cols, testRows);
  const positives = train.y.reduce((a, b) => a + b, 0);
  const n = train.y.length;
  const ctx = { inverseFrequency: { 0: n / (2 * (n - positives)), 1: n / (2 * Math.max(1, positives)) }, train, cols: ds.cols, seed, epochs: args.epochs, batch: batchFor(n, args) };

  const model = buildModel(ds.cols, seed);
  const spec = METHODS[method]({ ...ctx, model });
  model.compile({ optimizer: spec.optimizer, loss: spec.loss });
  const recorder = spec.optimizer instanceof k.KintsugiOptimizer ? new k.PhiRecorder(spec.optimizer) : null;
  const xt = tf.tensor2d(train.x, [n, ds.cols]);
  const yt = tf.tensor2d(train.y, [n, 1]);
  const xe = tf.tensor2d(test.x, [test.y.length, ds.cols]);
  // Test AP after every epoch, so one run also shows how fast each method learns the rare class.
  const apByEpoch = [];
  const probe = {
    onEpochEnd: async () => {
      const p = model.predict(xe);
      apByEpoch.push(k.averagePrecision(test.y, await p.data()));
      p.dispose();
    },
  };
  const fitOptions = { batchSize: ctx.batch, shuffle: false, verbose: 0, ...(spec.fit ?? {}), callbacks: recorder ? [recorder, probe] : [probe] };
  const order = spec.resample ? await spec.resample(ctx) : null;
  if (order) await fitResampled(model, ctx, order, args.epochs, fitOptions);
  else if (spec.dataset) await model.fitDataset(spec.dataset(xt, yt), { epochs: args.epochs, verbose: 0, callbacks: fitOptions.callbacks });
  else await model.fit(xt, yt, { epochs: args.epochs, ...fitOptions });
  const pred = model.predict(xe);
  const scores = await pred.data();
  const result = { scores: Float32Array.from(scores), labels: test.y, apByEpoch, batch: ctx.batch, ...scoreOf(test.y, scores) };
  // The size of a resampled training list, so that a run shows how much JTT or oversampling added.
  if (order) result.resampledRows = order.length;
  if (recorder && seed === args.firstSeed) {
    const first = model.layers[0].getWeights()[0];
    result.report = k.phiReport(spec.optimizer, {
      title: `ϕ report: ${method} on ${ds.name}`,
      recorder,
      classNames: ['negative', 'positive'],
      exampleLabels: train.y,
      firstLayer: {
        name: spec.optimizer.phiStats().variables[0]?.name,
        kernel: first.dataSync(),
        inputs: ds.cols,
        units: model.layers[0].units,
        featureNames: ds.featureNames,
      },
    });
  }
  tf.dispose([xt, yt, xe, pred]);
  model.dispose();
  spec.optimizer.dispose();
  return result;
}

/** The methods that are not Kintsugi, any of which a user could pick instead. */
const BASELINES = ['adam', 'adam + classWeight', 'focal loss', 'jtt', 'oversampling'];
/** Every paired interval: 10,000 resamples of the seeds, one fixed stream, so reruns agree. */
const BOOTSTRAP = { resamples: 10_000, confidence: 0.95, seed: 1 };

/** The baseline of this run with the highest mean AP on the data set (null when none ran). */
function bestBaseline(perMethod) {
  let best = null;
  for (const name of BASELINES) {
    if (!perMethod.has(name)) continue;
    const ap = meanStd(perMethod.get(name).map((r) => r.ap)).mean;
    if (best === null || ap > best.ap) best = { name, ap };
  }
  return best?.name ?? null;
}

/**
 * Mean ± std of every metric per method, and AP paired, seed by seed, against Adam's and against
 * the best baseline's: mean difference, wins, sign test, bootstrap interval.
 */
function summarize(dataset, perMethod) {
  const ap = (name) => perMethod.get(name).map((r) => r.ap);
  const best = bestBaseline(perMethod);
  return [...perMethod].map(([name, perSeed]) => {
    const summary = { name, dataset };
    for (const key of ['ap', 'rocAuc', 'recallAtPrecision50', 'recallAtFpr1', 'bestF1']) summary[key] = meanStd(perSeed.map((r) => r[key]));
    summary.apByEpoch = perSeed[0].apByEpoch.map((_, e) => meanStd(perSeed.map((r) => r.apByEpoch[e])));
    if (perSeed[0].resampledRows != null) summary.resampledRows = perSeed.map((r) => r.resampledRows);
    if (perMethod.has('adam')) summary.apVsAdam = pairedComparison(ap(name), ap('adam'), BOOTSTRAP);
    if (best) summary.apVsBest = { baseline: best, ...pairedComparison(ap(name), ap(best), BOOTSTRAP) };
    return summary;
  });
}

/** The paired columns of one comparison: ΔAP mean ± std, wins of n, sign-test p, interval. */
function pairedCells(c) {
  const signed = (v) => `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(3)}`;
  const p = c.signTestP < 0.001 ? '<0.001' : c.signTestP.toFixed(3);
  const interval = Number.isFinite(c.interval[0]) ? `[${signed(c.interval[0])}, ${signed(c.interval[1])}]` : 'n/a';
  return [fmtSigned(c), `${c.wins}/${c.n}`, p, interval];
}

function fmtSigned(s) {
  return Number.isFinite(s.mean) ? `${s.mean >= 0 ? '+' : '−'}${Math.abs(s.mean).toFixed(3)} ± ${s.std.toFixed(3)}` : 'n/a';
}

function fmt(s) {
  return Number.isFinite(s.mean) ? `${s.mean.toFixed(3)} ± ${s.std.toFixed(3)}` : 'n/a';
}

function slug(s) {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
}

/** The precision-recall chart of one data set (the first seed's curve per method). */
function prChart(dataset, curves, prevalence, seed = 1) {
  return k.lineChart({
    title: `Precision-recall, ${dataset} (seed ${seed})`,
    xLabel: 'recall',
    yLabel: 'precision',
    series: curves,
    hLines: [{ y: prevalence, label: 'random' }],
    xRange: [0, 1],
    yRange: [0, 1],
    width: 720,
  });
}

/** Test AP after each epoch, mean over seeds, one line per method. */
function apByEpochChart(dataset, rows, seeds, prevalence) {
  return k.lineChart({
    title: `Test AP after each epoch, ${dataset} (mean of ${seeds} seeds)`,
    xLabel: 'epoch',
    yLabel: 'average precision',
    series: rows.map((r) => ({ name: r.name, points: r.apByEpoch.map((a, e) => [e + 1, a.mean]) })),
    hLines: [{ y: prevalence, label: 'random' }],
    yRange: [0, 1],
    width: 720,
  });
}

/** Writes a data set's charts into `dir`: the PR chart when its curves are known, and AP by epoch. */
function writeCharts(dir, dataset, { curves, rows, prevalence, seeds, firstSeed }) {
  if (curves) fs.writeFileSync(path.join(dir, `pr-${slug(dataset)}.svg`), prChart(dataset, curves, prevalence, firstSeed));
  fs.writeFileSync(path.join(dir, `ap-by-epoch-${slug(dataset)}.svg`), apByEpochChart(dataset, rows, seeds, prevalence));
}

/**
 * `--redraw DIR`: the charts of DIR again from DIR/results.json, with this version's lineChart.
 * Results written before prCurves was saved keep their PR charts as drawn.
 */
function redraw(dir) {
  const saved = JSON.parse(fs.readFileSync(path.join(dir, 'results.json'), 'utf8'));
  for (const ds of saved.datasets) {
    const curves = (saved.prCurves ?? []).find((c) => c.dataset === ds.name)?.curves;
    const rows = saved.methods.filter((m) => m.dataset === ds.name);
    writeCharts(dir, ds.name, { curves, rows, prevalence: ds.testPrevalence, seeds: saved.seeds, firstSeed: saved.firstSeed ?? 1 });
    console.log(`redrew ${dir}: ${curves ? 'PR and ' : ''}AP-by-epoch charts of ${ds.name}`);
  }
}

/** The methods of this run; registers in METHODS the ones its flags add. */
function methodsOf(args) {
  const defaults = Object.keys(METHODS);
  const sweep = args.gilding ? addGildingSweep(args.gilding) : [];
  if (args.study) Object.assign(METHODS, STUDY);
  const methods = args.methods ?? (sweep.length ? ['adam', 'adam + classWeight', ...sweep] : args.study ? ['adam', 'adam + classWeight', ...Object.keys(STUDY)] : defaults);
  for (const m of methods) if (!METHODS[m]) throw new Error(`unknown method '${m}'; methods: ${Object.keys(METHODS).join(', ')}`);
  return methods;
}

/** `--worker` (internal): runs the jobs its parent sends, one at a time, and sends each result back. */
async function worker(args) {
  await tf.setBackend('cpu');
  methodsOf(args);
  const sets = datasets(args);
  process.on('message', (job) => {
    const t0 = Date.now();
    runOne(sets[job.d], job.method, job.seed, args).then(
      (result) => process.send({ id: job.id, result, ms: Date.now() - t0 }),
      (err) => process.send({ id: job.id, error: String(err?.message ?? err) }),
    );
  });
  process.on('disconnect', () => process.exit(0));
}

/**
 * Runs every job, here (one job at a time) or in up to `args.jobs` child processes that each
 * take the next job when done: tfjs's cpu backend uses one core. A run depends only on its data
 * set, method and seed, so the results are the same either way; only the progress lines' order
 * changes. `onResult(job, result, ms)` is called in this process, in completion order.
 */
async function runJobs(jobs, sets, args, onResult) {
  const workers = Math.min(args.jobs, jobs.length);
  if (workers <= 1) {
    for (const job of jobs) {
      const t0 = Date.now();
      const result = await runOne(sets[job.d], job.method, job.seed, args);
      onResult(job, result, Date.now() - t0);
    }
    return;
  }
  await new Promise((resolve, reject) => {
    const children = [];
    let next = 0;
    let running = workers;
    let failed = false;
    const fail = (err) => {
      if (failed) return;
      failed = true;
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill();
      reject(err);
    };
    for (let w = 0; w < workers; w++) {
      // Threads of the native kernel give bitwise the same results at any count (docs/native.md); one per process avoids oversubscription.
      const child = fork(__filename, [...process.argv.slice(2), '--worker'], {
        serialization: 'advanced',
        env: { KINTSUGI_THREADS: '1', ...process.env },
        stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      });
      children.push(child);
      const feed = () => (next < jobs.length ? child.send(jobs[next++]) : child.disconnect());
      child.on('message', (msg) => {
        if (failed) return;
        if (msg.error) return fail(new Error(msg.error));
        try {
          onResult(jobs[msg.id], msg.result, msg.ms);
        } catch (err) {
          return fail(err);
        }
        feed();
      });
      child.on('error', fail);
      child.on('exit', (code, signal) => {
        if (code !== 0) return fail(new Error(`a worker process stopped (${signal ?? `exit code ${code}`}) before finishing its runs`));
        if (--running === 0 && !failed) resolve();
      });
      feed();
    }
  });
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.help) {
    const lines = fs.readFileSync(__filename, 'utf8').split('\n');
    const end = lines.findIndex((l, i) => i > 0 && !l.startsWith('//'));
    console.log(lines.slice(1, end).map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
    return;
  }
  if (args.redraw) return redraw(args.redraw);
  if (args.worker) return worker(args);
  await tf.setBackend('cpu');
  const methods = methodsOf(args);
  const sets = datasets(args);
  fs.mkdirSync(args.out, { recursive: true });
  const seeds = Array.from({ length: args.seeds }, (_, i) => args.firstSeed + i);
  // Job id = its index: data set, then method, then seed.
  const jobs = sets.flatMap((_, d) => methods.flatMap((method) => seeds.map((seed) => ({ d, method, seed }))));
  jobs.forEach((job, id) => (job.id = id));
  const results = new Array(jobs.length);
  let done = 0;
  const started = Date.now();
  await runJobs(jobs, sets, args, (job, r, ms) => {
    results[job.id] = r;
    done++;
    const eta = ((Date.now() - started) / done) * (jobs.length - done) / 1000;
    console.log(`[${done}/${jobs.length}] ${sets[job.d].name} · ${job.method} · seed ${job.seed}: AP ${r.ap.toFixed(3)} (${(ms / 1000).toFixed(1)} s, ~${eta.toFixed(0)} s left)`);
    if (r.report) fs.writeFileSync(path.join(args.out, `phi-report-${slug(sets[job.d].name)}-${slug(job.method)}.html`), r.report);
  });

  // prCurves: the first seed's precision-recall curve of each method, so that --redraw can draw them again.
  const out = { date: new Date().toISOString(), node: process.version, epochs: args.epochs, seeds: args.seeds, firstSeed: args.firstSeed, bootstrap: BOOTSTRAP, datasets: [], methods: [], prCurves: [] };
  const seedText = args.firstSeed === 1 ? `${args.seeds} seeds` : `${args.seeds} seeds (${seeds[0]}–${seeds[seeds.length - 1]})`;
  const md = [`# Rare-event quality (${out.date.slice(0, 10)})`, '', `${seedText}, ${args.epochs} epochs, 30% stratified test split, MLP 32-16-1, Adam-family lr ${LR}, batch ${args.batch ?? `${BATCH} (doubled while an epoch would exceed ${MAX_STEPS_PER_EPOCH} steps)`}.`, ''];
  sets.forEach((ds, d) => {
    const perMethod = new Map(methods.map((method, m) => [method, seeds.map((_, s) => results[(d * methods.length + m) * seeds.length + s])]));
    const curves = methods.map((method) => {
      const first = perMethod.get(method)[0];
      const pr = k.precisionRecallCurve(first.labels, first.scores);
      return { name: method, points: pr.recall.map((r, i) => [r, pr.precision[i]]) };
    });
    const labels = perMethod.get(methods[methods.length - 1])[seeds.length - 1].labels;
    const prevalence = labels.reduce((a, b) => a + b, 0) / labels.length;
    const rows = summarize(ds.name, perMethod);
    const best = bestBaseline(perMethod);
    out.methods.push(...rows);
    const batches = [...new Set([...perMethod.values()].flat().map((r) => r.batch))].join(', ');
    out.datasets.push({ name: ds.name, rows: ds.y.length, features: ds.cols, testPrevalence: prevalence, batch: batches, bestBaseline: best });
    md.push(`## ${ds.name}`, '', `Test prevalence ${(100 * prevalence).toFixed(2)}%, so a random ranker's AP is ${prevalence.toFixed(3)}. Batch ${batches}.`, '');
    md.push('| method | AP | ROC-AUC | recall @ precision 0.5 | recall @ FPR 1% | best F1 |', '| --- | --- | --- | --- | --- | --- |');
    for (const r of rows) md.push(`| ${r.name} | ${fmt(r.ap)} | ${fmt(r.rocAuc)} | ${fmt(r.recallAtPrecision50)} | ${fmt(r.recallAtFpr1)} | ${fmt(r.bestF1)} |`);
    md.push('');
    md.push(...pairedTable(rows, perMethod.has('adam'), best, BASELINES.filter((b) => perMethod.has(b))));
    const marks = [1, 2, 5, 10, 20, 50, 100].filter((e) => e < args.epochs).concat(args.epochs);
    md.push('Test AP after each training budget (epochs):', '', `| method | ${marks.map((e) => `${e}`).join(' | ')} |`, `| --- |${marks.map(() => ' --- |').join('')}`);
    for (const r of rows) md.push(`| ${r.name} | ${marks.map((e) => fmt(r.apByEpoch[e - 1])).join(' | ')} |`);
    md.push('');
    // Four decimals: a twentieth of a pixel on the chart, and a results.json a third the size.
    const round = (v) => Math.round(v * 1e4) / 1e4;
    out.prCurves.push({ dataset: ds.name, curves: curves.map((c) => ({ name: c.name, points: c.points.map(([r, p]) => [round(r), round(p)]) })) });
    writeCharts(args.out, ds.name, { curves, rows, prevalence, seeds: args.seeds, firstSeed: args.firstSeed });
  });
  fs.writeFileSync(path.join(args.out, 'results.json'), JSON.stringify(out, null, 2));
  fs.writeFileSync(path.join(args.out, 'results.md'), md.join('\n'));
  console.log(`\n${md.join('\n')}\nwrote ${args.out}/results.json, results.md, pr-*.svg, ap-by-epoch-*.svg, phi-report-*.html in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

/** The markdown of the paired comparisons: against Adam and against the best baseline, where they ran. */
function pairedTable(rows, hasAdam, best, baselines) {
  if (!hasAdam && !best) return [];
  const head = ['method'];
  if (hasAdam) head.push('ΔAP vs Adam', 'wins', 'p', '95% CI');
  if (best) head.push(`ΔAP vs best baseline (${best})`, 'wins', 'p', '95% CI');
  const md = [
    'Paired ΔAP: each seed\'s AP minus the reference method\'s AP on the same split and batches, mean ± std over the seeds;' +
      ' wins: the seeds where the method\'s AP is higher, of the seeds compared; p: two-sided exact sign test over wins and losses (ties left out);' +
      ` 95% CI: bootstrap percentile interval of the mean difference (${BOOTSTRAP.resamples.toLocaleString('en-US')} resamples of the seeds).` +
      (best ? ` Best baseline: the highest mean AP among ${baselines.join(', ')}: **${best}**.` : ''),
    '',
    `| ${head.join(' | ')} |`,
    `|${head.map(() => ' --- |').join('')}`,
  ];
  const none = ['–', '–', '–', '–'];
  for (const r of rows) {
    const cells = [r.name];
    if (hasAdam) cells.push(...(r.name === 'adam' ? none : pairedCells(r.apVsAdam)));
    if (best) cells.push(...(r.name === best ? none : pairedCells(r.apVsBest)));
    md.push(`| ${cells.join(' | ')} |`);
  }
  md.push('');
  return md;
}

if (require.main === module) {
  main().catch((err) => {
    // One line, whatever the error: the first line of its message, clipped.
    const line = String(err && err.message).split('\n')[0];
    console.error(`bench:rare: ${line.length > 500 ? `${line.slice(0, 500)}…` : line}`);
    process.exit(1);
  });
} else {
  // For the tests: where a run writes, the charts it draws, the batch rule and the resampling.
  module.exports = { parseArgs, prChart, apByEpochChart, batchFor, withCopies, fitResampled };
}
