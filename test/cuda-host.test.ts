// The host test of the CUDA path, part of `npm test`: native/test/cuda_host_test.cpp runs the
// shared kernel vectors (test/vectors/kernel-vectors.json) through the CUDA kernels' bodies
// (native/cuda/pipeline.h) and the arithmetic they share with the CPU kernels
// (native/src/element.h), compiled for the CPU with the host's C++ compiler alone: no nvcc, no
// GPU, no CUDA addon. Compiled here (into build/cuda-host, again only when a source is newer),
// warnings being errors; `npm run test:native` runs the same program as a ctest target. Skips,
// saying why, without a C++ compiler; fails under CI.
import { spawnSync } from 'child_process';
import { existsSync, mkdirSync, statSync } from 'fs';
import { join } from 'path';
import { describe, expect, it } from 'vitest';

const root = join(__dirname, '..');
const cxx = process.env.CXX || 'c++';
const probe = spawnSync(cxx, ['--version'], { encoding: 'utf8' });
const whyNot = probe.error || probe.status !== 0 ? `no C++ compiler (${cxx}) to build the host test` : '';
if (whyNot && !process.env.CI) console.warn(`[cuda-host.test] SKIPPED: ${whyNot}`);

const SOURCES = ['native/test/cuda_host_test.cpp', 'native/cuda/host_step.cpp'];
const HEADERS = [
  'native/cuda/pipeline.h', 'native/cuda/host_step.h', 'native/src/element.h', 'native/src/table.h', 'native/src/scalar_ops.h',
  'native/include/kintsugi/kernel.h', 'native/test/vectors.h', 'native/test/json_lite.h',
];
const binary = join(root, 'build', 'cuda-host', 'kintsugi_cuda_host_tests');

/** Builds the host test unless it is newer than every source; returns the compiler's output. */
function build(): string {
  const newest = Math.max(...[...SOURCES, ...HEADERS].map((f) => statSync(join(root, f)).mtimeMs));
  if (existsSync(binary) && statSync(binary).mtimeMs > newest) return '';
  mkdirSync(join(root, 'build', 'cuda-host'), { recursive: true });
  const args = ['-std=c++17', '-O2', '-ffp-contract=off', '-Wall', '-Wextra', '-Werror', '-Inative/include', '-Inative/src', ...SOURCES, '-o', binary];
  const r = spawnSync(cxx, args, { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cxx} ${args.join(' ')} failed:\n${r.stderr}${r.stdout}`);
  return r.stderr + r.stdout;
}

describe.runIf(!!whyNot && !!process.env.CI)('the host test of the CUDA kernels under CI', () => {
  it('has a C++ compiler', () => {
    throw new Error(`CI needs it: ${whyNot}`);
  });
});

describe.skipIf(!!whyNot)('the CUDA kernels run on the host', () => {
  it('compile without a warning and pass every shared kernel vector, bitwise equal run to run', () => {
    expect(build()).toBe('');
    const r = spawnSync(binary, [join(root, 'test', 'vectors', 'kernel-vectors.json')], { encoding: 'utf8' });
    const summary = r.stdout.split('\n').find((l) => l.startsWith('cuda (host):')) ?? '';
    console.log(`[cuda-host.test] ${summary}`);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/all vector tests passed/);
    expect(summary).toMatch(/^cuda \(host\): (\d+) of \1 cases passed/);
  }, 180_000);
});
