// The rare-event harness as a user runs it on their own CSV: outputs, paired deltas, clear errors.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
});
