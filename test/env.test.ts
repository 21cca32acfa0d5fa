// The four environment variables as a user sets them: each bad value is a clear error at first
// use (naming the variable, the value, clipped, and what it accepts), never a silent fallback;
// KINTSUGI_THREADS is capped at the CPU count unless it ends in '!'. Child processes load the
// built package (npm test builds first), so each sees its own environment at load.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(__dirname, '..');
const CPUS = Math.max(1, typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length);
const NATIVE = existsSync(join(root, 'build', 'Release', 'kintsugi.node'));

/** Runs `script` (CommonJS) with `env` over an environment without any KINTSUGI_* variable. */
function node(script: string, env: Record<string, string>) {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('KINTSUGI_')));
  const r = spawnSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8', env: { ...clean, ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `node(script)` with the built package as `k`. */
const run = (script: string, env: Record<string, string>) => node(`const k = require(${JSON.stringify(root)}); ${script}`, env);

/** Where the variable is first used: kernel selection, or making an optimizer for storage. */
const USE: Record<string, string> = {
  KINTSUGI_KERNEL: 'k.kernelInfo()',
  KINTSUGI_ISA: 'k.kernelInfo()',
  KINTSUGI_THREADS: 'k.kernelInfo()',
  KINTSUGI_STORAGE: 'k.kintsugi()',
};

/** Runs the first use; returns the error it threw as "Name: message", or 'no error'. */
function firstUse(name: string, value: string, extra: Record<string, string> = {}): string {
  const r = run(`try { ${USE[name]}; console.log('no error'); } catch (e) { console.log(e.name + ': ' + e.message); }`, { [name]: value, ...extra });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.trim();
}

describe('environment variables', () => {
  it('has been built (npm test builds first)', () => {
    expect(existsSync(join(root, 'dist', 'env.js')), 'dist/env.js is missing: run npm run build').toBe(true);
  });

  const bad: Array<[string, string, RegExp]> = [
    ['KINTSUGI_THREADS', 'abc', /a whole number ≥ 1, capped at the \d+ CPUs here unless it ends in '!' \(e\.g\. '16!', at most 256\)/],
    ['KINTSUGI_THREADS', '0', /a whole number ≥ 1, capped at the \d+ CPUs here unless it ends in '!' \(e\.g\. '16!', at most 256\)/],
    ['KINTSUGI_THREADS', '-3', /a whole number ≥ 1, capped at the \d+ CPUs here unless it ends in '!' \(e\.g\. '16!', at most 256\)/],
    ['KINTSUGI_THREADS', '4x', /a whole number ≥ 1, capped at the \d+ CPUs here unless it ends in '!' \(e\.g\. '16!', at most 256\)/],
    ['KINTSUGI_THREADS', '257!', /a whole number ≥ 1, capped at the \d+ CPUs here unless it ends in '!' \(e\.g\. '16!', at most 256\)/],
    ['KINTSUGI_THREADS', ' 4', /a whole number ≥ 1, capped at the \d+ CPUs here unless it ends in '!' \(e\.g\. '16!', at most 256\)/],
    ['KINTSUGI_ISA', 'bogus', /'scalar', 'avx2', 'neon' or 'avx512'/],
    ['KINTSUGI_ISA', 'AVX2', /'scalar', 'avx2', 'neon' or 'avx512'/],
    ['KINTSUGI_KERNEL', 'bogus', /'js', 'wasm' or 'native'/],
    ['KINTSUGI_STORAGE', 'bogus', /'auto' or 'copy'/],
  ];
  for (const [name, value, accepted] of bad) {
    it(`${name}=${JSON.stringify(value)} is a RangeError naming the variable, the value and what it accepts`, () => {
      const message = firstUse(name, value);
      expect(message).toMatch(new RegExp(`^RangeError: kintsugi: ${name} is ${JSON.stringify(value).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}; it must be `));
      expect(message).toMatch(accepted);
    });
  }

  it('a bad value is refused whichever kernel runs (the wasm and js kernels ignore threads but still check them)', () => {
    expect(firstUse('KINTSUGI_THREADS', 'abc', { KINTSUGI_KERNEL: 'js' })).toMatch(/^RangeError: kintsugi: KINTSUGI_THREADS is "abc"/);
    expect(firstUse('KINTSUGI_ISA', 'bogus', { KINTSUGI_KERNEL: 'wasm' })).toMatch(/^RangeError: kintsugi: KINTSUGI_ISA is "bogus"/);
  });

  it('making an optimizer checks the kernel variables too, so a bad one fails there and not inside the first step', () => {
    for (const [name, value] of [['KINTSUGI_THREADS', '4x'], ['KINTSUGI_ISA', 'bogus'], ['KINTSUGI_KERNEL', 'bogus']]) {
      const r = run(`try { k.kintsugi(); console.log('no error'); } catch (e) { console.log(e.name + ': ' + e.message); }`, { [name]: value });
      expect(r.stdout.trim(), name).toMatch(new RegExp(`^RangeError: kintsugi: ${name} is "${value}"; it must be `));
    }
  });

  it('clips a long value in the message', () => {
    const message = firstUse('KINTSUGI_ISA', 'x'.repeat(100_000));
    expect(message).toContain(`"${'x'.repeat(40)}…"`);
    expect(message.length).toBeLessThan(300);
  });

  it('an empty value means unset', () => {
    for (const name of Object.keys(USE)) expect(firstUse(name, ''), name).toBe('no error');
  });

  it.runIf(NATIVE)('KINTSUGI_THREADS is capped at the CPU count unless it ends in !, and kernelInfo says so', () => {
    const info = (threads: string) => {
      const r = run('console.log(JSON.stringify(k.kernelInfo()))', { KINTSUGI_THREADS: threads });
      expect(r.status, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as { kernel: string; threads: number; reason: string };
    };
    const capped = info('1000');
    expect(capped.kernel).toBe('native');
    expect(capped.threads).toBe(CPUS);
    expect(capped.reason).toContain(`KINTSUGI_THREADS=1000 capped at the ${CPUS} CPUs`);
    expect(info('3!').threads).toBe(3);
    expect(info('1').threads).toBe(1);
    expect(info('2').threads).toBe(Math.min(2, CPUS));
  });

  it.runIf(NATIVE)('KINTSUGI_ISA is applied through the binding after JS has checked it', () => {
    const r = run('console.log(JSON.stringify(k.kernelInfo()))', { KINTSUGI_ISA: 'scalar' });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ kernel: 'native', isa: 'scalar' });
  });

  it.runIf(NATIVE)('the addon alone (C++ at load) ignores bad values strictly and caps threads the same way', () => {
    const script = `const a = require('node-gyp-build')(${JSON.stringify(root)}); console.log(JSON.stringify(a.info()))`;
    const load = (env: Record<string, string>) => {
      const r = node(script, env);
      expect(r.status, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as { isa: string; threads: number };
    };
    const defaults = load({});
    for (const threads of ['abc', '0', '-3', '4x', '3 ', '+3', '03', '257!', '1e2']) {
      expect(load({ KINTSUGI_THREADS: threads }).threads, threads).toBe(defaults.threads);
    }
    expect(load({ KINTSUGI_THREADS: '3!' }).threads).toBe(3);
    expect(load({ KINTSUGI_THREADS: '1000' }).threads).toBeLessThanOrEqual(Math.max(CPUS, os.cpus().length));
    for (const isa of ['bogus', 'wasm-simd', 'AVX2', 'scalar ']) expect(load({ KINTSUGI_ISA: isa }).isa, isa).toBe(defaults.isa);
    expect(load({ KINTSUGI_ISA: 'scalar' }).isa).toBe('scalar');
  });
});
