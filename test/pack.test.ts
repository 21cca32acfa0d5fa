// What `npm pack` would put in the tarball, from `npm pack --dry-run --json`: the license, the
// README and what it links to, the build and the 8 prebuilt binaries; no tests, test data, build
// folder or benchmark results. scripts/pack-check.sh packs for real (prepack builds everything),
// installs the tarball and measures its size; the listing is checked here alone.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(__dirname, '..');

const PREBUILDS = [
  'linux-x64/node.napi.glibc.node', 'linux-x64/node.napi.musl.node', 'linux-arm64/node.napi.glibc.node',
  'linux-arm64/node.napi.musl.node', 'darwin-x64/node.napi.node', 'darwin-arm64/node.napi.node',
  'win32-x64/node.napi.node', 'win32-arm64/node.napi.node',
].map((f) => `prebuilds/${f}`);

/** Paths that must never ship: tests and their data, build output, benchmarks and their results, CI, scripts (but build-cuda.cjs, for `npm run build:cuda` in an installed package). */
const NEVER = [/^test\//, /^native\/test\//, /(^|\/)fixtures?\//, /\.csv$/, /^data\//, /^build\//, /^bench\//, /^examples\//, /^\.ci\//, /^scripts\/(?!build-cuda\.cjs$)/, /\.tgz$/, /^node_modules\//];

function packList(): string[] {
  // --ignore-scripts: the listing of the tree as it is, without prepack's builds.
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return (JSON.parse(out)[0].files as Array<{ path: string }>).map((f) => f.path);
}

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s-]/gu, '').replace(/\s/g, '-');
}

describe('npm pack', () => {
  const files = packList();

  it('ships the license, the README, the package manifest and the build', () => {
    for (const f of ['LICENSE', 'README.md', 'package.json', 'dist/index.js', 'dist/index.mjs', 'dist/index.d.ts']) {
      expect(files, `${f} is not in the tarball`).toContain(f);
    }
    const license = readFileSync(join(root, 'LICENSE'), 'utf8');
    expect(license).toMatch(/^MIT License\n\nCopyright \(c\) 2026 kintsugi-optimizer contributors\n/);
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    expect(pkg.license).toBe('MIT');
    expect(pkg.repository).toEqual({ type: 'git', url: 'git+https://github.com/kintsugi-optimizer/kintsugi-optimizer.git' });
    expect(pkg.homepage).toBe('https://github.com/kintsugi-optimizer/kintsugi-optimizer#readme');
    expect(pkg.bugs).toEqual({ url: 'https://github.com/kintsugi-optimizer/kintsugi-optimizer/issues' });
  });

  it('ships all 8 prebuilt binaries', () => {
    if (!existsSync(join(root, 'prebuilds'))) {
      // CI cross-builds them before npm test (.ci/run), so there they must be present.
      if (process.env.CI) throw new Error('CI needs prebuilds/: npm run build:prebuilds:all');
      console.warn('[pack.test] SKIPPED the prebuilds: no prebuilds/ here (npm run build:prebuilds:all makes them)');
      return;
    }
    for (const f of PREBUILDS) expect(files, `${f} is not in the tarball`).toContain(f);
  });

  it('ships no tests, test data, build folder, benchmarks or their results', () => {
    expect(files.filter((f) => NEVER.some((re) => re.test(f)))).toEqual([]);
  });

  it('every link in README.md is an absolute URL, a heading of the README, or a file in the tarball', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const prose = readme.replace(/```[\s\S]*?```/g, '');
    const headings = new Set([...prose.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1])));
    const links = [...prose.matchAll(/!?\[[^\]]*\]\(([^)\s]+)\)/g)].map((m) => m[1]);
    expect(links.length).toBeGreaterThan(10);
    const broken = links.filter((link) => {
      if (/^https:\/\//.test(link)) return false;
      if (link.startsWith('#')) return !headings.has(link.slice(1));
      return !files.includes(link.split('#')[0]);
    });
    expect(broken, 'README links that resolve to nothing in the tarball').toEqual([]);
  });
});
