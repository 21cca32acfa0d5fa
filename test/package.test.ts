// The built package as a user loads it: `require` and `import` by name, one class for both.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(__dirname, '..');

function node(args: string[]): string {
  return execFileSync(process.execPath, args, { cwd: root, encoding: 'utf8', env: { ...process.env, KINTSUGI_KERNEL: 'js' } });
}

describe('package entry points', () => {
  it('has been built (npm test builds first)', () => {
    for (const file of ['dist/index.js', 'dist/index.mjs', 'dist/index.d.ts']) {
      expect(existsSync(join(root, file)), `${file} is missing: run npm run build`).toBe(true);
    }
  });

  it('loads with require', () => {
    const out = node(['-e', "const k = require('kintsugi-optimizer'); console.log(typeof k.kintsugi, k.KintsugiOptimizer.className)"]);
    expect(out.trim()).toBe('function Kintsugi');
  });

  it('loads with import, and import and require share one class', () => {
    const script = [
      "import { kintsugi, KintsugiOptimizer } from 'kintsugi-optimizer';",
      "import { createRequire } from 'node:module';",
      "const cjs = createRequire(import.meta.url)('kintsugi-optimizer');",
      "console.log(typeof kintsugi, KintsugiOptimizer === cjs.KintsugiOptimizer);",
    ].join('\n');
    const out = node(['--input-type=module', '-e', script]);
    expect(out.trim()).toBe('function true');
  });
});
