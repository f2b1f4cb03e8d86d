// Copies the runtime assets that tsc does not emit (the built .wasm modules) into dist/, next to
// the compiled loader that finds them with `new URL('./build/...', import.meta.url)`.
import { cpSync, existsSync } from 'node:fs';

const pairs = [['backends/wasm/build', 'dist/backends/wasm/build']];
for (const [src, dst] of pairs) {
  if (!existsSync(src)) throw new Error(`copy-assets: expected ${src} to exist, got nothing (run npm run build:wasm)`);
  cpSync(src, dst, { recursive: true });
}
