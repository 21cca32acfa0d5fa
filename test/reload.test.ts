// Save → tf.loadLayersModel → continue, as a user does it: the README's own reload snippet,
// type-checked under `strict` against the built package and run, must continue bitwise as if
// training had never stopped; the class stream's loss comes back from the optimizer's config;
// a forgotten recompile, or a function base not passed again, gets an error that says what to do.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import { beforeAll, describe, expect, it } from 'vitest';
import { focalLoss, KintsugiOptimizer, kintsugi } from '../src';
import { saveToMemory, smallClassifier, tf, useBackend } from './helpers';

const root = join(__dirname, '..');

/** The README's ```ts block that reloads a model: its import lines, and the rest. */
function readmeSnippet(): { imports: string[]; body: string[] } {
  const blocks = [...readFileSync(join(root, 'README.md'), 'utf8').matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
  const reload = blocks.filter((b) => b.includes('tf.loadLayersModel'));
  expect(reload, 'README.md must hold one ```ts block with tf.loadLayersModel').toHaveLength(1);
  const lines = reload[0].split('\n').filter((l) => l.trim() !== '');
  return { imports: lines.filter((l) => l.startsWith('import ')), body: lines.filter((l) => !l.startsWith('import ')) };
}

/**
 * A folder where `kintsugi-optimizer` is the built package and `@tensorflow/*` this checkout's,
 * as in an app that installed them. The snippet becomes a module: its imports, then its body as
 * a function of the names it leaves free (`handler`, `xs`, `ys`), returning `loaded`.
 */
function snippetApp(): string {
  const dir = mkdtempSync(join(tmpdir(), 'kintsugi-readme-'));
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(root, join(dir, 'node_modules', 'kintsugi-optimizer'), 'dir');
  symlinkSync(join(root, 'node_modules', '@tensorflow'), join(dir, 'node_modules', '@tensorflow'), 'dir');
  const { imports, body } = readmeSnippet();
  writeFileSync(
    join(dir, 'snippet.ts'),
    [
      ...imports,
      '',
      'export async function reload(handler: tf.io.IOHandler, xs: tf.Tensor, ys: tf.Tensor): Promise<tf.LayersModel> {',
      ...body.map((l) => `  ${l}`),
      '  return loaded;',
      '}',
      '',
    ].join('\n'),
  );
  return dir;
}

/** Type-checks snippet.ts under strict (the package's shipped .d.ts included) and emits CommonJS; the diagnostics, as text. */
function compileStrict(dir: string): string[] {
  const program = ts.createProgram([join(dir, 'snippet.ts')], {
    strict: true,
    target: ts.ScriptTarget.ES2020,
    module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10,
    esModuleInterop: true,
    types: [],
    lib: ['lib.es2020.d.ts', 'lib.dom.d.ts'],
    outDir: dir,
    // tfjs's own declarations are not this package's to check; ours (dist/*.d.ts) are, below.
    skipLibCheck: true,
  });
  const emitted = program.emit();
  const ours = program.getSourceFiles().filter((f) => f.fileName.startsWith(join(root, 'dist')) || f.fileName.startsWith(dir));
  const diagnostics = [...ts.getPreEmitDiagnostics(program), ...emitted.diagnostics, ...ours.flatMap((f) => program.getSemanticDiagnostics(f))];
  return diagnostics.map((d) => `${d.file?.fileName ?? ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
}

/**
 * Trains a classifier with the class stream (options not the defaults, so a reload that lost
 * them would train differently), saves it, then continues it two ways with the same shuffling:
 * the model itself, and the README snippet's reload of what was saved. Prints both states as
 * the hex of their float32 bytes.
 */
const DRIVER = `
const tf = require('@tensorflow/tfjs');
const k = require('kintsugi-optimizer');
const { reload } = require('./snippet.js');
const hex = (values) => Buffer.from(Float32Array.from(values).buffer).toString('hex');
/** tfjs shuffles with Math.random: a seeded one, reset before each run, shuffles both alike. */
function seedRandom(seed) {
  let s = seed >>> 0;
  Math.random = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
}
async function state(model) {
  const optimizer = await model.optimizer.getWeights();
  return {
    weights: model.getWeights().map((w) => hex(w.dataSync())),
    // By position, as tfjs restores them: the loaded model's variables carry other names in this process.
    optimizer: optimizer.map((w) => hex(w.tensor.dataSync())),
    classes: hex(model.optimizer.classValueWeights()),
    config: model.optimizer.getConfig(),
  };
}
(async () => {
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
  const init = (seed) => tf.initializers.glorotUniform({ seed });
  const model = tf.sequential({ layers: [
    tf.layers.dense({ units: 8, activation: 'relu', inputShape: [4], kernelInitializer: init(1) }),
    tf.layers.dense({ units: 1, activation: 'sigmoid', kernelInitializer: init(2) }),
  ] });
  const optimizer = k.kintsugi({ learningRate: 0.01 });
  model.compile({ optimizer, loss: optimizer.valueWeightedLoss('binaryCrossentropy', { gildingRate: 0.3, phiMin: 0.2, weighting: 'frequency' }) });
  const n = 200;
  const x = new Float32Array(n * 4).map((_, i) => Math.sin(i * 12.9898) * 2);
  const y = new Float32Array(n).map((_, r) => (x[r * 4] + x[r * 4 + 1] > 2.2 ? 1 : 0));
  const xs = tf.tensor2d(x, [n, 4]);
  const ys = tf.tensor2d(y, [n, 1]);
  seedRandom(1);
  await model.fit(xs, ys, { epochs: 2, verbose: 0 });
  let artifacts;
  await model.save(tf.io.withSaveHandler(async (a) => { artifacts = a; return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }; }), { includeOptimizer: true });
  seedRandom(2);
  const loaded = await reload(tf.io.fromMemory(artifacts), xs, ys);
  seedRandom(2);
  await model.fit(xs, ys, { epochs: 5, verbose: 0 });
  const positives = y.reduce((a, b) => a + b, 0);
  console.log(JSON.stringify({ positives, continued: await state(model), reloaded: await state(loaded) }));
})().catch((e) => { console.error(e); process.exit(1); });
`;

describe("the README's reload snippet", () => {
  it('type-checks under strict against the built package, runs, and continues bitwise as if never saved', () => {
    expect(existsSync(join(root, 'dist', 'index.d.ts')), 'dist/ is missing: run npm run build').toBe(true);
    const dir = snippetApp();
    expect(compileStrict(dir)).toEqual([]);
    writeFileSync(join(dir, 'run.cjs'), DRIVER);
    const out = execFileSync(process.execPath, [join(dir, 'run.cjs')], { cwd: dir, encoding: 'utf8', env: { ...process.env, KINTSUGI_KERNEL: 'js' } });
    const { positives, continued, reloaded } = JSON.parse(out.trim().split('\n').pop() as string);
    expect(positives).toBeGreaterThan(10); // both classes present: the class stream has work to do
    expect(positives).toBeLessThan(190);
    expect(reloaded.weights).toEqual(continued.weights);
    expect(reloaded.optimizer).toEqual(continued.optimizer);
    expect(reloaded.classes).toBe(continued.classes);
    expect(reloaded.config).toEqual(continued.config);
    expect(continued.config.classStream.options).toMatchObject({ gildingRate: 0.3, phiMin: 0.2, weighting: 'frequency' });
  }, 120_000);
});

const bits = (ts_: tf.Tensor[]) => ts_.map((t) => Array.from(new Uint32Array(Float32Array.from(t.dataSync()).buffer)));
const fitOnce = { epochs: 1, batchSize: 32, shuffle: false, verbose: 0 } as const;

describe('a loaded model whose loss was a function', () => {
  beforeAll(() => useBackend('cpu'));

  it('forgotten recompile: the class stream says to compile with valueWeightedLoss()', async () => {
    const { model, x, y } = smallClassifier(11);
    const opt = kintsugi({ learningRate: 0.01 });
    model.compile({ optimizer: opt, loss: opt.valueWeightedLoss() });
    await model.fit(x, y, fitOnce);
    const loaded = await tf.loadLayersModel(tf.io.fromMemory(await saveToMemory(model)));
    const before = bits(loaded.getWeights());
    await expect(loaded.fit(x, y, fitOnce)).rejects.toThrow(
      /^kintsugi: the model has no loss\. tfjs cannot save a function loss, so a model from tf\.loadLayersModel must be compiled again before it trains: model\.compile\(\{ optimizer, loss: optimizer\.valueWeightedLoss\(\), which takes the saved base and options \}\) \(tfjs said: .*is not a function\)$/,
    );
    expect(bits(loaded.getWeights())).toEqual(before);
    tf.dispose([x, y]);
  });

  it('focal loss: a forgotten recompile says so; compiled again with the same options, it continues bitwise', async () => {
    const { model, x, y } = smallClassifier(12);
    const opt = kintsugi({ learningRate: 0.01 });
    model.compile({ optimizer: opt, loss: focalLoss({ gamma: 1.5, alpha: 0.4 }) });
    await model.fit(x, y, fitOnce);
    const loaded = await tf.loadLayersModel(tf.io.fromMemory(await saveToMemory(model)));
    await expect(loaded.fit(x, y, fitOnce)).rejects.toThrow(/kintsugi: the model has no loss.*loss: the loss it was compiled with, e\.g\. focalLoss\(\{ \.\.\.the same options \}\)/);
    loaded.compile({ optimizer: loaded.optimizer, loss: focalLoss({ gamma: 1.5, alpha: 0.4 }) });
    await model.fit(x, y, { ...fitOnce, epochs: 2 });
    await loaded.fit(x, y, { ...fitOnce, epochs: 2 });
    expect(bits(loaded.getWeights())).toEqual(bits(model.getWeights()));
    expect(bits((await loaded.optimizer.getWeights()).map((w) => w.tensor))).toEqual(bits((await model.optimizer.getWeights()).map((w) => w.tensor)));
    tf.dispose([x, y]);
  });

  it('a function base must be passed again, and keeps the saved options', async () => {
    const { model, x, y } = smallClassifier(13);
    const opt = kintsugi({ learningRate: 0.01 });
    const mine = (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.losses.logLoss(yTrue, yPred, undefined, undefined, tf.Reduction.NONE);
    model.compile({ optimizer: opt, loss: opt.valueWeightedLoss(mine, { gildingRate: 0.2, absentClass: 'zero' }) });
    await model.fit(x, y, fitOnce);
    expect(opt.getConfig().classStream).toMatchObject({ base: 'custom', options: { gildingRate: 0.2, absentClass: 'zero' } });
    const loaded = await tf.loadLayersModel(tf.io.fromMemory(await saveToMemory(model)));
    const restored = loaded.optimizer as KintsugiOptimizer;
    await expect(loaded.fit(x, y, fitOnce)).rejects.toThrow(/loss: optimizer\.valueWeightedLoss\(yourLoss\), which keeps the saved options/);
    expect(() => restored.valueWeightedLoss()).toThrow(
      "kintsugi: this optimizer was saved with valueWeightedLoss(<your per-sample loss function>), and tfjs cannot save a function: pass it again, optimizer.valueWeightedLoss(yourLoss) (the saved options are kept)",
    );
    loaded.compile({ optimizer: restored, loss: restored.valueWeightedLoss(mine) });
    expect(restored.getConfig()).toEqual(opt.getConfig());
    await model.fit(x, y, fitOnce);
    await loaded.fit(x, y, fitOnce);
    expect(bits(loaded.getWeights())).toEqual(bits(model.getWeights()));
    tf.dispose([x, y]);
  });

  it('the class stream keeps its state across fit calls: two fits of one epoch are one fit of two', async () => {
    const run = async (split: boolean) => {
      const { model, x, y } = smallClassifier(14);
      const opt = kintsugi({ learningRate: 0.01 });
      model.compile({ optimizer: opt, loss: opt.valueWeightedLoss('binaryCrossentropy', { gildingRate: 0.4 }) });
      if (split) {
        await model.fit(x, y, fitOnce);
        await model.fit(x, y, fitOnce);
      } else {
        await model.fit(x, y, { ...fitOnce, epochs: 2 });
      }
      tf.dispose([x, y]);
      return { weights: bits(model.getWeights()), classes: Array.from(opt.classValueWeights() as Float32Array) };
    };
    expect(await run(true)).toEqual(await run(false));
  });
});

describe("the class stream's recipe in the optimizer config", () => {
  it('is absent until the stream has a loss, and round-trips through JSON and tf.serialization (phiMax Infinity too)', () => {
    const opt = kintsugi();
    expect(opt.getConfig().classStream).toBeUndefined();
    opt.valueWeightedLoss('categoricalCrossentropy', { phiMax: Infinity, crack: 'absolute' });
    const config = JSON.parse(JSON.stringify(opt.getConfig()));
    expect(config.classStream).toMatchObject({ base: 'categoricalCrossentropy', options: { phiMax: 'Infinity', crack: 'absolute' } });
    const back = KintsugiOptimizer.fromConfig(KintsugiOptimizer, config);
    expect(back.getConfig()).toEqual(opt.getConfig());
  });

  it('refuses a bad saved recipe with a clear error, making nothing', () => {
    const base = kintsugi().getConfig();
    const cases: Array<[unknown, RegExp]> = [
      ['x', /^kintsugi: the saved config's classStream must be \{base, options\}; got "x"$/],
      [{ base: 'hinge', options: {} }, /^kintsugi: the saved config's classStream base must be one of 'binaryCrossentropy', 'categoricalCrossentropy', 'custom'; got "hinge"$/],
      [{ base: 'binaryCrossentropy', options: { gildingRate: -1 } }, /option 'gildingRate' must be .*; got -1/],
      [{ base: 'binaryCrossentropy', options: { beta: 1 } }, /unknown valueWeightedLoss option 'beta'/],
    ];
    for (const [classStream, message] of cases) {
      expect(() => KintsugiOptimizer.fromConfig(KintsugiOptimizer, { ...base, classStream } as tf.serialization.ConfigDict)).toThrow(message);
    }
  });
});
