// Writes dist/browser.mjs, the browser entry as one ES module (package.json `exports`, condition
// "browser"): src/browser.ts and what it reaches, the wasm kernel's bytes included, bundled by
// esbuild, with @tensorflow/tfjs-core left as an `import`. An `import` (not the CommonJS build's
// `require`) makes a bundler pick tfjs-core's ES build, the copy @tensorflow/tfjs itself imports:
// a second copy would keep a second serialization registry, which would not know 'Kintsugi'.
// Fails if the entry reaches a Node built-in. Run after write-wasm-bytes.cjs.
const esbuild = require('esbuild');
const { builtinModules } = require('module');
const path = require('path');

const root = path.join(__dirname, '..');
const builtins = new Set(builtinModules);

/** Any import of a Node built-in is an error naming the importer. */
const noNodeBuiltins = {
  name: 'no-node-builtins',
  setup(build) {
    build.onResolve({ filter: /.*/ }, (args) => {
      const bare = args.path.replace(/^node:/, '').split('/')[0];
      if (args.path.startsWith('node:') || builtins.has(bare)) {
        return { errors: [{ text: `the browser entry reaches the Node built-in '${args.path}' (from ${path.relative(root, args.importer)})` }] };
      }
      return undefined;
    });
  },
};

/** src/kernel/wasm.ts requires './wasm-bytes', which the build writes into dist/kernel only. */
const wasmBytes = {
  name: 'wasm-bytes',
  setup(build) {
    build.onResolve({ filter: /^\.\/wasm-bytes$/ }, () => ({ path: path.join(root, 'dist', 'kernel', 'wasm-bytes.js') }));
  },
};

esbuild
  .build({
    entryPoints: [path.join(root, 'src', 'browser.ts')],
    outfile: path.join(root, 'dist', 'browser.mjs'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2020',
    external: ['@tensorflow/tfjs-core'],
    plugins: [noNodeBuiltins, wasmBytes],
    logLevel: 'warning',
    legalComments: 'none',
  })
  .then(() => console.log('write-browser-entry: dist/browser.mjs'))
  .catch(() => process.exit(1));
