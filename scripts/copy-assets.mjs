// Completes dist/ after tsc:
// - copies the runtime assets that tsc does not emit (the built .wasm modules) into dist/, next to
//   the compiled loader that finds them with `new URL('./build/...', import.meta.url)`;
// - writes the two small entry files of `posegrad/node` that are not TypeScript: its require()
//   wrapper (dist/node.cjs, like index.cjs) and its browser stub (dist/node-browser.js), which
//   says that this entry is for Node.
import { cpSync, existsSync, writeFileSync } from 'node:fs';

const pairs = [['backends/wasm/build', 'dist/backends/wasm/build']];
for (const [src, dst] of pairs) {
  if (!existsSync(src)) throw new Error(`copy-assets: expected ${src} to exist, got nothing (run npm run build:wasm)`);
  cpSync(src, dst, { recursive: true });
}
if (!existsSync('dist/node.js')) throw new Error('copy-assets: expected dist/node.js (tsc -p tsconfig.build.json) to exist, got nothing');

writeFileSync(
  'dist/node.cjs',
  `'use strict';
// require('posegrad/node'): see index.cjs at the package root.
try {
  module.exports = require('./node.js');
} catch (e) {
  if (e && (e.code === 'ERR_REQUIRE_ESM' || e.code === 'ERR_REQUIRE_ASYNC_MODULE')) {
    throw new Error("posegrad/node: expected to be loaded as an ES module, got a require() that cannot load one (" + e.code + "). Use \`import { loadCheckpointFile } from 'posegrad/node'\` in an ES module, or \`await import('posegrad/node')\` from CommonJS; require() of ES modules needs Node >= 20.19.");
  }
  throw e;
}
`,
);
writeFileSync(
  'dist/node-browser.js',
  `// 'posegrad/node' resolved for a browser: that entry reads and writes files with Node's fs.
throw new Error("posegrad/node: expected Node.js, got a browser bundle. In a browser, import from 'posegrad' and fetch the bytes: nn.loadPthAsync, nn.readSafetensors, nn.readTfjsGraphModel and decodeImage take bytes.");
`,
);
