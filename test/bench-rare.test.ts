// The rare-event harness as a user runs it on their own CSV: outputs, the baselines (JTT,
// oversampling), paired deltas against Adam and the best baseline, the same results in one or two
// processes, the batch rule, clear errors.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createRng } from '../src/eval/data/synthetic-fraud';

const root = join(__dirname, '..');

function harness(args: string[]) {
  return spawnSync(process.execPath, [join(root, 'bench', 'rare.cjs'), ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, KINTSUGI_KERNEL: 'js' },
  });
}

/** 300 rows, an id column to drop, two features of which one carries the label (overlapping classes), 10% positives. */
function writeCsv(dir: string): string {
  const rand = createRng(7);
  const lines = ['id,signal,noise,is_fraud'];
  for (let i = 0; i < 300; i++) {
    const y = i % 10 === 0 ? 1 : 0;
    lines.push(`${i},${(0.7 * y + rand()).toFixed(4)},${rand().toFixed(4)},${y}`);
  }
  const file = join(dir, 'mine.csv');
  writeFileSync(file, lines.join('\n'));
  return file;
}

describe('npm run bench:rare on a user CSV', () => {
  it('writes results.json (methods, paired ΔAP against Adam and the best baseline, AP per epoch), markdown tables and SVG charts', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kintsugi-rare-'));
    const out = join(dir, 'out');
    const methods = ['adam', 'jtt', 'oversampling', 'kintsugi loss-level'];
    const args = ['--data', writeCsv(dir), '--label', 'is_fraud', '--drop', 'id', '--seeds', '2', '--epochs', '2', '--methods', methods.join(',')];
    const run = harness([...args, '--jobs', '2', '--out', out]);
    expect(run.status, run.stderr).toBe(0);
    for (const m of methods) for (const seed of [1, 2]) expect(run.stdout).toContain(`mine.csv · ${m} · seed ${seed}: AP `);
    expect(run.stdout).toMatch(/\[8\/8\] mine\.csv · /);

    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    expect(results.seeds).toBe(2);
    expect(results.datasets[0]).toMatchObject({ name: 'mine.csv', rows: 300, features: 2, batch: '64' });
    expect(results.methods.map((m: { name: string }) => m.name)).toEqual(methods);
    type Paired = { mean: number; n: number; wins: number; losses: number; ties: number; signTestP: number; interval: [number, number] };
    type Row = { name: string; ap: { mean: number }; apByEpoch: unknown[]; apVsAdam: Paired; apVsBest: Paired & { baseline: string }; resampledRows?: number[] };
    const rows: Row[] = results.methods;
    const byName = new Map(rows.map((m) => [m.name, m]));
    const adam = byName.get('adam')!;
    for (const m of rows) {
      expect(m.ap.mean).toBeGreaterThan(0);
      expect(m.ap.mean).toBeLessThanOrEqual(1);
      expect(m.apByEpoch).toHaveLength(2);
      expect(m.apVsAdam.mean).toBeCloseTo(m.ap.mean - adam.ap.mean, 10);
      expect(m.apVsAdam.wins + m.apVsAdam.losses + m.apVsAdam.ties).toBe(2);
      expect(m.apVsAdam.interval[0]).toBeLessThanOrEqual(m.apVsAdam.mean + 1e-12);
      expect(m.apVsAdam.interval[1]).toBeGreaterThanOrEqual(m.apVsAdam.mean - 1e-12);
    }
    expect(adam.apVsAdam).toMatchObject({ mean: 0, wins: 0, losses: 0, ties: 2, n: 2, signTestP: 1, interval: [0, 0] });

    // The best baseline: the highest mean AP among the non-Kintsugi methods that ran.
    const best = ['adam', 'jtt', 'oversampling'].reduce((a, b) => (byName.get(b)!.ap.mean > byName.get(a)!.ap.mean ? b : a));
    expect(results.datasets[0].bestBaseline).toBe(best);
    for (const m of rows) {
      expect(m.apVsBest.baseline).toBe(best);
      expect(m.apVsBest.mean).toBeCloseTo(m.ap.mean - byName.get(best)!.ap.mean, 10);
    }
    expect(byName.get(best)!.apVsBest).toMatchObject({ mean: 0, ties: 2 });

    // 210 training rows, 21 positives: oversampling adds 189 − 21 positives (1:1); JTT adds
    // λ − 1 = 4 copies of each misclassified row; the other methods train on the rows as they are.
    expect(byName.get('oversampling')!.resampledRows).toEqual([378, 378]);
    for (const r of byName.get('jtt')!.resampledRows!) {
      expect((r - 210) % 4).toBe(0);
      expect(r).toBeGreaterThan(210);
    }
    expect(adam.resampledRows).toBeUndefined();

    const md = readFileSync(join(out, 'results.md'), 'utf8');
    expect(md).toContain('| method | AP | ROC-AUC | recall @ precision 0.5 | recall @ FPR 1% | best F1 |');
    expect(md).toContain(`| method | ΔAP vs Adam | wins | p | 95% CI | ΔAP vs best baseline (${best}) | wins | p | 95% CI |`);
    const cells = String.raw`[+−]\d\.\d{3} ± \d\.\d{3} \| \d\/2 \| \d\.\d{3} \| \[[+−]\d\.\d{3}, [+−]\d\.\d{3}\]`;
    expect(md).toMatch(new RegExp(String.raw`\| kintsugi loss-level \| ${cells} \| ${cells} \|`));
    expect(md).toMatch(new RegExp(String.raw`\| adam \| – \| – \| – \| – \| ${best === 'adam' ? '– \\| – \\| – \\| –' : cells} \|`));
    expect(md).toMatch(/Best baseline: the highest mean AP among adam, jtt, oversampling: \*\*/);
    for (const svg of ['pr-mine-csv.svg', 'ap-by-epoch-mine-csv.svg']) {
      expect(readFileSync(join(out, svg), 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);
    }
    expect(existsSync(join(out, 'phi-report-mine-csv-kintsugi-loss-level.html'))).toBe(true);

    // One process gives the same results as two: a run depends only on its data, method and seed.
    const alone = harness([...args, '--jobs', '1', '--out', join(dir, 'alone')]);
    expect(alone.status, alone.stderr).toBe(0);
    const single = JSON.parse(readFileSync(join(dir, 'alone', 'results.json'), 'utf8'));
    expect({ ...single, date: null }).toEqual({ ...results, date: null });

    // --redraw draws the charts again from results.json alone (PR curves included).
    expect(results.prCurves[0].curves.map((c: { name: string }) => c.name)).toEqual(methods);
    const epochChart = readFileSync(join(out, 'ap-by-epoch-mine-csv.svg'), 'utf8');
    for (const svg of ['pr-mine-csv.svg', 'ap-by-epoch-mine-csv.svg']) rmSync(join(out, svg));
    const redraw = harness(['--redraw', out]);
    expect(redraw.status, redraw.stderr).toBe(0);
    expect(readFileSync(join(out, 'ap-by-epoch-mine-csv.svg'), 'utf8')).toBe(epochChart);
    expect(readFileSync(join(out, 'pr-mine-csv.svg'), 'utf8')).toMatch(/^<svg[\s\S]*kintsugi loss-level[\s\S]*<\/svg>$/);
  }, 120_000);

  it('exits with one clear line on bad arguments, before training anything', () => {
    const cases: Array<[string[], RegExp]> = [
      [['--data', 'x.csv'], /--data needs --label NAME/],
      [['--seeds', '0'], /--seeds must be a positive integer; got 0/],
      [['--jobs', '0'], /--jobs must be a positive integer; got 0/],
      [['--batch', '-64'], /--batch must be a positive integer; got -64/],
      [['--first-seed', 'x'], /--first-seed must be a positive integer; got x/],
      [['--methods', 'adam,sgd'], /unknown method 'sgd'/],
      [['--only', 'mnist'], /--only mnist matches no built-in data set/],
      [['--frobnicate'], /unknown argument --frobnicate/],
    ];
    for (const [args, message] of cases) {
      const run = harness(args);
      expect(run.status).toBe(1);
      expect(run.stderr).toMatch(message);
      expect(run.stdout).not.toMatch(/\[1\//);
    }
  });

  /** A CSV of `rows` rows (columns a, b, y) whose label is `label(i)` and column a's cell `a(i)`. */
  function customCsv(dir: string, name: string, rows: number, label: (i: number) => number, a: (i: number) => string = (i) => `${i % 7}`): string {
    const lines = ['a,b,y'];
    for (let i = 0; i < rows; i++) lines.push(`${a(i)},${(i * 0.37) % 1},${label(i)}`);
    const file = join(dir, name);
    writeFileSync(file, lines.join('\n') + '\n');
    return file;
  }

  it('refuses, in one line and before training, a file or label it cannot measure average precision on', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kintsugi-rare-bad-'));
    const need = /each side of the 70\/30 split needs at least 5 positives and 5 negatives/;
    const cases: Array<[string, RegExp]> = [
      [customCsv(dir, 'none.csv', 60, () => 0), /none\.csv: label column 'y' has 0 positives and 60 negatives \(training gets 0 positives and 42 negatives, test 0 and 18\)/],
      [customCsv(dir, 'single.csv', 60, (i) => (i === 5 ? 1 : 0)), /label column 'y' has 1 positive and 59 negatives/],
      [customCsv(dir, 'all.csv', 60, () => 1), /label column 'y' has 60 positives and 0 negatives/],
      [customCsv(dir, 'few.csv', 60, (i) => (i < 14 ? 1 : 0)), /has 14 positives and 46 negatives \(training gets 10 positives and 32 negatives, test 4 and 14\)/],
      [customCsv(dir, 'header.csv', 0, () => 0), /header\.csv has no data rows/],
      [customCsv(dir, 'one.csv', 1, () => 1), /label column 'y' has 1 positive and 0 negatives/],
      [customCsv(dir, 'overflow.csv', 60, (i) => i % 2, (i) => (i === 9 ? '1e39' : '1')), /line 11, column 'a': 1e39 is outside the float32 range/],
      [customCsv(dir, 'hex.csv', 60, (i) => i % 2, (i) => (i === 9 ? '0x10' : '1')), /line 11, column 'a': the cell is "0x10", not a decimal number/],
      [customCsv(dir, 'binary.csv', 60, (i) => i % 2, (i) => (i === 9 ? '0b11' : '1')), /"0b11", not a decimal number/],
      [customCsv(dir, 'octal.csv', 60, (i) => i % 2, (i) => (i === 9 ? '0o7' : '1')), /"0o7", not a decimal number/],
      [customCsv(dir, 'huge.csv', 3, (i) => i % 2, (i) => (i === 1 ? 'x'.repeat(5_000_000) : '1')), new RegExp(`line 3, column 'a': the cell is "${'x'.repeat(40)}…", not a decimal number`)],
    ];
    for (const [file, message] of cases) {
      const run = harness(['--data', file, '--label', 'y', '--seeds', '1', '--epochs', '1', '--methods', 'adam', '--out', join(dir, 'out')]);
      expect(run.status, file).toBe(1);
      expect(run.stderr, file).toMatch(message);
      if (/none|single|all|few|one\.csv/.test(file)) expect(run.stderr, file).toMatch(need);
      expect(run.stderr.trimEnd().split('\n'), file).toHaveLength(1);
      expect(run.stderr.length, file).toBeLessThan(400);
      expect(run.stdout, file).not.toMatch(/\[1\//);
    }
  }, 120_000);
});

describe('where npm run bench:rare writes', () => {
  const load = createRequire(__filename);
  /** Whether git would track a file written in `dir` (outside a git checkout: null). */
  function tracked(dir: string): boolean | null {
    const probe = spawnSync('git', ['check-ignore', '-q', join(relative(root, dir), 'results.json')], { cwd: root });
    return probe.status === 0 ? false : probe.status === 1 ? true : null;
  }

  it('without --out, never into the results shipped in the repo: into bench/results/tmp, which git ignores', () => {
    const { parseArgs } = load('../bench/rare.cjs');
    const shipped = ['rare', 'rare-study', 'rare-gilding'].map((d) => join(root, 'bench', 'results', d));
    for (const args of [[], ['--quick'], ['--study'], ['--gilding', '0.1'], ['--data', 'x.csv', '--label', 'y']]) {
      const { out } = parseArgs(args);
      expect(out.startsWith(join(root, 'bench', 'results', 'tmp')), `${args.join(' ')} → ${out}`).toBe(true);
      for (const d of shipped) expect(out.startsWith(d)).toBe(false);
      const git = tracked(out);
      if (git == null) console.warn('[bench-rare.test] not a git checkout: .gitignore not checked');
      else expect(git, `${out} is tracked by git`).toBe(false);
    }
    // Named, the shipped folder is written: that is how its results are refreshed.
    expect(parseArgs(['--out', shipped[0]]).out).toBe(shipped[0]);
    expect(tracked(shipped[0])).not.toBe(false);
  });
});

describe('the harness rules', () => {
  const load = createRequire(__filename);
  const { batchFor, withCopies, fitResampled } = load('../bench/rare.cjs');

  it('batch 64, doubled while an epoch would take more than 256 steps; --batch overrides', () => {
    expect(batchFor(7000, {})).toBe(64); // synthetic fraud's training split
    expect(batchFor(16384, {})).toBe(64);
    expect(batchFor(16385, {})).toBe(128);
    expect(batchFor(17500, {})).toBe(128); // a 25,000-row file
    expect(batchFor(65537, {})).toBe(512);
    expect(batchFor(17500, { batch: 32 })).toBe(32);
  });

  it('withCopies: every row once, the extra copies spread evenly over the chosen rows, shuffled by seed', () => {
    const order: number[] = withCopies(13, [0, 1, 2], 7, 1);
    const count = (i: number) => order.filter((r) => r === i).length;
    expect(order).toHaveLength(20);
    expect([count(0), count(1), count(2)].sort()).toEqual([3, 3, 4]);
    for (let i = 3; i < 13; i++) expect(count(i)).toBe(1);
    expect(order.slice(0, 13)).not.toEqual(Array.from({ length: 13 }, (_, i) => i));
    expect(withCopies(13, [0, 1, 2], 7, 1)).toEqual(order);
    expect(withCopies(13, [0, 1, 2], 7, 2)).not.toEqual(order);
    // JTT's rule: λ = 5 puts each misclassified row in 5 times.
    const jtt: number[] = withCopies(10, [4, 7], 2 * 4, 3);
    expect(jtt.filter((r) => r === 4)).toHaveLength(5);
    expect(jtt.filter((r) => r === 7)).toHaveLength(5);
    expect(withCopies(4, [], 0, 1).sort()).toEqual([0, 1, 2, 3]);
  });

  it('fitResampled: each epoch trains on the next n rows of the list, read cyclically, in one fit of one epoch', async () => {
    const n = 10;
    const train = { x: Float32Array.from({ length: n }, (_, i) => i), y: new Float32Array(n) };
    const seen: number[][] = [];
    const model = {
      fit: async (x: { dataSync(): Float32Array; shape: number[] }, _y: unknown, options: { epochs: number; batchSize: number }) => {
        expect(options).toMatchObject({ epochs: 1, batchSize: 4 });
        expect(x.shape).toEqual([n, 1]);
        seen.push(Array.from(x.dataSync()));
      },
    };
    const order = Array.from({ length: 25 }, (_, i) => (i * 7) % n);
    await fitResampled(model, { train, cols: 1 }, order, 3, { batchSize: 4 });
    expect(seen).toEqual([0, 1, 2].map((e) => Array.from({ length: n }, (_, i) => order[(e * n + i) % 25])));
  });
});
