// The package in a browser, as a user's bundler builds it: test/browser/train-script.mjs (imports
// '@tensorflow/tfjs' and 'kintsugi-optimizer' by name) bundled by esbuild for the browser, which
// must pick the package's "browser" entry and reach no Node built-in, then run in headless
// Chromium on the tfjs cpu backend. Its trained weights must match the same script run in Node
// with the reference kernel (KINTSUGI_KERNEL=js) within float32 tolerance, and bitwise the same
// script in Node with the WebAssembly kernel, which is what the browser runs.
//
// Skips, saying why, without Chromium (Debian's `chromium`) or a built dist/; fails under CI.
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { builtinModules } from 'node:module';
import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import * as esbuild from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { expectCloseToScale } from './helpers';

const ROOT = join(__dirname, '..');
const SCRIPT_DIR = join(__dirname, 'browser');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

interface Trained {
  kernel: string;
  backend: string;
  loss: number[];
  weights: number[][];
  phi: number[];
  error?: string;
}

const built = existsSync(join(ROOT, 'dist', 'index.js'));

function missing(): string | null {
  if (!built) return 'dist/ not built (npm run build)';
  if (!existsSync(CHROMIUM)) return `${CHROMIUM} not found (apt-get install chromium, or set CHROMIUM)`;
  return null;
}
const why = missing();
if (why && !process.env.CI) console.warn(`[browser.test] SKIPPED: ${why}`);

describe.runIf(why && !!process.env.CI)('browser test under CI', () => {
  it('has Chromium and the browser entry', () => {
    throw new Error(`CI needs them: ${why}`);
  });
});

/** Any Node built-in that one of this package's files (not a dependency's) imports fails the bundle. */
const noNodeBuiltins: esbuild.Plugin = {
  name: 'no-node-builtins',
  setup(build) {
    const builtins = new Set(builtinModules);
    build.onResolve({ filter: /.*/ }, (args) => {
      const ours = args.importer.startsWith(ROOT + sep) && !relative(ROOT, args.importer).split(sep).includes('node_modules');
      const builtin = args.path.startsWith('node:') || builtins.has(args.path.split('/')[0]);
      if (ours && builtin) return { errors: [{ text: `Node built-in '${args.path}' imported by ${relative(ROOT, args.importer)}` }] };
      return undefined;
    });
  },
};

const PAGE_SCRIPT = `
import { train } from './train-script.mjs';
const post = (body) => fetch('/result', { method: 'POST', body: JSON.stringify(body) });
train().then(post, (e) => post({ error: String(e && e.stack || e) }));
`;

async function bundle(): Promise<{ code: string; inputs: string[] }> {
  const built = await esbuild.build({
    stdin: { contents: PAGE_SCRIPT, resolveDir: SCRIPT_DIR, sourcefile: 'page.mjs', loader: 'js' },
    bundle: true, platform: 'browser', format: 'iife', target: 'es2020', write: false, metafile: true, logLevel: 'silent',
    plugins: [noNodeBuiltins],
  });
  return { code: built.outputFiles[0].text, inputs: Object.keys(built.metafile!.inputs) };
}

/** Serves the page and the bundle on loopback, resolves with what the page posts back. */
function servePage(code: string): Promise<{ url: string; result: Promise<Trained>; close: () => void }> {
  let deliver: (r: Trained) => void = () => {};
  const result = new Promise<Trained>((resolve) => (deliver = resolve));
  const server = http.createServer((req, res) => {
    if (req.method === 'POST' && req.url === '/result') {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        res.end('ok');
        deliver(JSON.parse(body) as Trained);
      });
    } else if (req.url === '/bundle.js') {
      res.setHeader('content-type', 'text/javascript');
      res.end(code);
    } else if (req.url === '/') {
      res.setHeader('content-type', 'text/html');
      res.end('<!doctype html><meta charset="utf-8"><title>kintsugi</title><script src="/bundle.js"></script>');
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({ url: `http://127.0.0.1:${port}/`, result, close: () => server.close() });
    });
  });
}

/** The same script in Node, with the kernel KINTSUGI_KERNEL names. */
function runInNode(kernel: 'js' | 'wasm'): Trained {
  const out = execFileSync(
    process.execPath,
    ['--input-type=module', '-e', "import { train } from './test/browser/train-script.mjs'; console.log(JSON.stringify(await train()));"],
    { cwd: ROOT, encoding: 'utf8', env: { ...process.env, KINTSUGI_KERNEL: kernel } },
  );
  return JSON.parse(out.trim().split('\n').pop()!) as Trained;
}

describe.runIf(built)('the browser entry as Node loads it', () => {
  it('exports what the Node entry exports but the trainer, through require and import, and never picks the native kernel', () => {
    const script = [
      "import { createRequire } from 'node:module';",
      'const require = createRequire(import.meta.url);',
      "const esm = await import('kintsugi-optimizer/browser');",
      "const names = (m) => Object.keys(m).filter((k) => k !== 'default' && k !== '__esModule').sort();",
      "console.log(JSON.stringify({ node: names(require('kintsugi-optimizer')), cjs: names(require('kintsugi-optimizer/browser')), esm: names(esm), kernel: esm.kernelInfo().kernel }));",
    ].join('\n');
    const env = { ...process.env };
    delete env.KINTSUGI_KERNEL;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', env });
    const got = JSON.parse(out.trim().split('\n').pop()!) as { node: string[]; cjs: string[]; esm: string[]; kernel: string };
    const nodeOnly = ['CHECKPOINT_FILE', 'Trainer', 'TrainerError', 'createTrainer', 'readCheckpoint'];
    expect(got.cjs).toEqual(got.node.filter((n) => !nodeOnly.includes(n)));
    expect(got.esm).toEqual(got.cjs);
    expect(got.cjs).toContain('prepareWasmKernel');
    expect(got.kernel).not.toBe('native');
  });
});

describe.runIf(!why)('in headless Chromium, through the browser entry', () => {
  let chromium: ChildProcess | null = null;
  let profile = '';
  afterAll(() => {
    // Chromium forks helpers; they share its process group, so end the group it leads.
    if (chromium?.pid && chromium.exitCode === null) process.kill(-chromium.pid, 'SIGKILL');
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it('bundles with no Node built-in, trains on the cpu backend and matches the same script in Node', async () => {
    const { code, inputs } = await bundle();
    // The browser entry alone: not the CommonJS build, the native loader or the trainer.
    expect(inputs.filter((p) => p.startsWith('dist/') || p.startsWith('src/'))).toEqual(['dist/browser.mjs']);
    // One copy of tfjs-core (its ES build): a second would keep a second registry of classes.
    expect(inputs.filter((p) => p.includes('tf-core.node'))).toEqual([]);

    const page = await servePage(code);
    profile = mkdtempSync(join(tmpdir(), 'kintsugi-chromium-'));
    const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`];
    chromium = spawn(CHROMIUM, [...flags, page.url], { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    chromium.stderr!.on('data', (c) => (stderr = (stderr + c).slice(-4000)));
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no result from Chromium in 90 s; its stderr:\n${stderr}`)), 90_000));
    const exited = new Promise<never>((_, reject) => chromium!.on('exit', (c) => reject(new Error(`Chromium exited (${c}):\n${stderr}`))));
    const browser = await Promise.race([page.result, timeout, exited]);
    page.close();

    expect(browser.error).toBeUndefined();
    expect(browser.backend).toBe('cpu');
    expect(browser.kernel).toBe('wasm');
    expect(browser.loss[browser.loss.length - 1]).toBeLessThan(browser.loss[0] * 0.5);

    const reference = runInNode('js');
    expect(reference.kernel).toBe('js');
    expect(browser.weights.length).toBe(reference.weights.length);
    browser.weights.forEach((w, i) => expectCloseToScale(w, reference.weights[i], 1e-4));
    expectCloseToScale(browser.phi, reference.phi, 1e-4);

    const wasm = runInNode('wasm');
    expect(wasm.kernel).toBe('wasm');
    expect(browser.weights).toEqual(wasm.weights);
    expect(browser.phi).toEqual(wasm.phi);
  });
});
