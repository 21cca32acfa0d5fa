// The rare-event harness as a user runs it on their own CSV: outputs, paired deltas, clear errors.
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
  it('writes results.json (methods, paired ΔAP, AP per epoch), a markdown table and SVG charts', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kintsugi-rare-'));
    const out = join(dir, 'out');
    const run = harness([
      '--data', writeCsv(dir), '--label', 'is_fraud', '--drop', 'id',
      '--seeds', '2', '--epochs', '2', '--methods', 'adam,kintsugi loss-level', '--out', out,
    ]);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/\[4\/4\] mine\.csv · kintsugi loss-level · seed 2: AP /);

    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    expect(results.seeds).toBe(2);
    expect(results.datasets[0]).toMatchObject({ name: 'mine.csv', rows: 300, features: 2 });
    expect(results.methods.map((m: { name: string }) => m.name)).toEqual(['adam', 'kintsugi loss-level']);
    const [adam, level] = results.methods;
    for (const m of results.methods) {
      expect(m.ap.mean).toBeGreaterThan(0);
      expect(m.ap.mean).toBeLessThanOrEqual(1);
      expect(m.apByEpoch).toHaveLength(2);
    }
    expect(adam.apVsAdam).toMatchObject({ mean: 0, wins: 0, n: 2 });
    expect(level.apVsAdam.mean).toBeCloseTo(level.ap.mean - adam.ap.mean, 10);

    const md = readFileSync(join(out, 'results.md'), 'utf8');
    expect(md).toContain('| method | AP | ΔAP vs Adam | wins |');
    expect(md).toMatch(/\| kintsugi loss-level \| \d\.\d{3} ± \d\.\d{3} \| [+−]\d\.\d{3} ± \d\.\d{3} \| \d\/2 \|/);
    for (const svg of ['pr-mine-csv.svg', 'ap-by-epoch-mine-csv.svg']) {
      expect(readFileSync(join(out, svg), 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);
    }
    expect(existsSync(join(out, 'phi-report-mine-csv-kintsugi-loss-level.html'))).toBe(true);

    // --redraw draws the charts again from results.json alone (PR curves included).
    expect(results.prCurves[0].curves.map((c: { name: string }) => c.name)).toEqual(['adam', 'kintsugi loss-level']);
    const epochChart = readFileSync(join(out, 'ap-by-epoch-mine-csv.svg'), 'utf8');
    for (const svg of ['pr-mine-csv.svg', 'ap-by-epoch-mine-csv.svg']) rmSync(join(out, svg));
    const redraw = harness(['--redraw', out]);
    expect(redraw.status, redraw.stderr).toBe(0);
    expect(readFileSync(join(out, 'ap-by-epoch-mine-csv.svg'), 'utf8')).toBe(epochChart);
    expect(readFileSync(join(out, 'pr-mine-csv.svg'), 'utf8')).toMatch(/^<svg[\s\S]*kintsugi loss-level[\s\S]*<\/svg>$/);
  }, 60_000);

  it('exits with one clear line on bad arguments, before training anything', () => {
    const cases: Array<[string[], RegExp]> = [
      [['--data', 'x.csv'], /--data needs --label NAME/],
      [['--seeds', '0'], /--seeds must be a positive integer; got 0/],
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
