// Writes dist/index.mjs, an ES-module face over the CommonJS build. One copy of the code serves
// both `import` and `require`, so the optimizer class is registered with tfjs exactly once.
const fs = require('fs');
const path = require('path');
const dist = path.join(__dirname, '..', 'dist');
const names = Object.keys(require(path.join(dist, 'index.js'))).filter((n) => n !== '__esModule');
const body =
  "import cjs from './index.js';\n" +
  names.map((n) => `export const ${n} = cjs.${n};`).join('\n') +
  '\nexport default cjs;\n';
fs.writeFileSync(path.join(dist, 'index.mjs'), body);
