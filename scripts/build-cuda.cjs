// npm run build:cuda: builds the CUDA addon, build/cuda/kintsugi_cuda.node, with CMake's CUDA
// language (native/cuda/CMakeLists.txt). Needs nvcc (CUDA 12 or newer) and cmake >= 3.18, not a
// GPU: the addon links cudart statically and reports at run time whether a GPU can be used.
//
//   npm run build:cuda                      # sm_90 code + compute_90 PTX
//   KINTSUGI_CUDA_ARCHITECTURES="80-real;90-real;90-virtual" npm run build:cuda
//
// nvcc is looked for in $CUDACXX, on PATH, then in /usr/local/cuda/bin and /usr/local/cuda-*/bin
// (newest first). Exits non-zero, saying what is missing, when it cannot build.
'use strict';

const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const buildDir = path.join(root, 'build', 'cuda');
const output = path.join(buildDir, 'kintsugi_cuda.node');

function fail(message) {
  console.error(`build:cuda: ${message}`);
  process.exit(1);
}

function executable(file) {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** The nvcc to use, or null, and where it was looked for. */
function findNvcc() {
  const tried = [];
  const candidates = [];
  if (process.env.CUDACXX) candidates.push(process.env.CUDACXX);
  for (const dir of (process.env.PATH || '').split(path.delimiter)) if (dir) candidates.push(path.join(dir, 'nvcc'));
  candidates.push('/usr/local/cuda/bin/nvcc');
  try {
    const versions = fs.readdirSync('/usr/local').filter((d) => /^cuda-\d+(\.\d+)*$/.test(d));
    versions.sort((a, b) => b.slice(5).localeCompare(a.slice(5), 'en', { numeric: true }));
    for (const d of versions) candidates.push(path.join('/usr/local', d, 'bin', 'nvcc'));
  } catch {
    // no /usr/local: nothing more to try
  }
  for (const c of candidates) {
    tried.push(c);
    if (executable(c)) return { nvcc: c, tried };
  }
  return { nvcc: null, tried };
}

function run(cmd, args) {
  console.log(`$ ${[cmd, ...args].join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root });
  if (r.error) fail(`${cmd} could not run: ${r.error.message}`);
  if (r.status !== 0) fail(`${cmd} exited with status ${r.status}`);
}

/**
 * node_api.h and friends: from node-api-headers in a clone (a devDependency), else, in an
 * installed package, from the headers of the Node that runs this script (Debian's nodejs-dev,
 * the official tarballs), so `npm run build:cuda` works inside node_modules too.
 */
function nodeApiHeaders() {
  try {
    return require('node-api-headers').include_dir;
  } catch {
    const own = path.join(path.dirname(process.execPath), '..', 'include', 'node');
    for (const dir of [own, '/usr/include/node', '/usr/local/include/node']) {
      if (fs.existsSync(path.join(dir, 'node_api.h'))) return dir;
    }
    fail(`no Node-API headers: install node-api-headers (npm i -D node-api-headers) or Node's headers (looked in ${own}, /usr/include/node)`);
  }
}

function main() {
  const { nvcc, tried } = findNvcc();
  if (!nvcc) {
    fail(
      'nvcc (the CUDA compiler) was not found; install the CUDA toolkit (12 or newer) or set CUDACXX to its nvcc. ' +
        `Looked in: ${tried.slice(0, 8).join(', ')}${tried.length > 8 ? `, … (${tried.length} in all)` : ''}`,
    );
  }
  const cmake = spawnSync('cmake', ['--version'], { encoding: 'utf8' });
  if (cmake.error || cmake.status !== 0) fail('cmake (3.18 or newer) was not found on PATH');
  const nvccVersion = execFileSync(nvcc, ['--version'], { encoding: 'utf8' }).match(/release [\d.]+/)?.[0] ?? 'unknown release';
  console.log(`build:cuda: ${nvcc} (${nvccVersion}), ${cmake.stdout.split('\n')[0]}`);

  const napiHeaders = nodeApiHeaders();
  // node-addon-api gives its folder relative to the package root (and quoted in older versions).
  const addonApi = path.resolve(root, require('node-addon-api').include_dir.replace(/^"|"$/g, ''));
  const archs = process.env.KINTSUGI_CUDA_ARCHITECTURES || '90-real;90-virtual';
  const jobs = String(Math.max(1, Math.min(require('node:os').availableParallelism?.() ?? 2, 16)));
  run('cmake', [
    '-S', path.join(root, 'native', 'cuda'), '-B', buildDir,
    '-DCMAKE_BUILD_TYPE=Release',
    `-DCMAKE_CUDA_COMPILER=${nvcc}`,
    `-DKINTSUGI_CUDA_ARCHITECTURES=${archs}`,
    `-DNODE_API_HEADERS_DIR=${napiHeaders}`,
    `-DNODE_ADDON_API_DIR=${addonApi}`,
  ]);
  run('cmake', ['--build', buildDir, '-j', jobs]);
  if (!fs.existsSync(output)) fail(`the build finished but ${path.relative(root, output)} is missing`);
  console.log(`build:cuda: wrote ${path.relative(root, output)} (${archs})`);
}

module.exports = { findNvcc };

if (require.main === module) main();
