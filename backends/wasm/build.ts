/**
 * Builds the wasm backend: generates assembly/generated/elementwise.ts from the spec table, then
 * compiles assembly/index.ts with asc four times:
 *   build/posegrad.wasm                  --enable simd                     (every runtime with wasm SIMD)
 *   build/posegrad-relaxed.wasm          --enable simd --enable relaxed-simd (f32x4.relaxed_madd)
 *   build/posegrad[-relaxed]-threads.wasm  the same, importing a shared memory (worker threads)
 * All are committed, so `npm install` users need no compiler. The build is deterministic (same
 * sources, same asc version -> same bytes); `--check` rebuilds in memory and exits 1 when the
 * committed generated source or either .wasm differs from a fresh build (CI runs this).
 *
 *   npx tsx backends/wasm/build.ts [--check]
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import asc from 'assemblyscript/asc';
import { generateSources } from './codegen.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ASSEMBLY = join(HERE, 'assembly');
const OUT = join(HERE, 'build');

const SHARED = ['--enable', 'threads', '--sharedMemory', '--maximumMemory', '65536'];
export const VARIANTS = [
  { file: 'posegrad.wasm', flags: ['--enable', 'simd'] },
  { file: 'posegrad-relaxed.wasm', flags: ['--enable', 'simd', '--enable', 'relaxed-simd'] },
  { file: 'posegrad-threads.wasm', flags: ['--enable', 'simd', ...SHARED] },
  { file: 'posegrad-relaxed-threads.wasm', flags: ['--enable', 'simd', '--enable', 'relaxed-simd', ...SHARED] },
] as const;

const COMMON = [
  '-O3', '--noAssert', '--runtime', 'stub', '--importMemory', '--initialMemory', '1',
  '--use', 'abort=', '--noExportMemory',
];

async function compile(flags: readonly string[], generated: Record<string, string>): Promise<Uint8Array> {
  let binary: Uint8Array | null = null;
  let stderrText = '';
  const { error } = await asc.main([join(ASSEMBLY, 'index.ts'), ...COMMON, ...flags, '--outFile', 'out.wasm'], {
    readFile: (name: string, baseDir: string) => {
      const path = join(baseDir, name);
      for (const [rel, src] of Object.entries(generated)) if (path === join(ASSEMBLY, rel)) return src;
      try { return readFileSync(path, 'utf8'); } catch { return null; }
    },
    writeFile: (name: string, contents: Uint8Array | string) => {
      if (name.endsWith('.wasm')) binary = contents as Uint8Array;
    },
    listFiles: () => [],
    stderr: { write: (s: string | Uint8Array) => { stderrText += String(s); return true; } } as never,
    stdout: { write: () => true } as never,
  });
  if (error) throw new Error(`build:wasm: asc failed: ${error.message}\n${stderrText}`);
  if (!binary) throw new Error(`build:wasm: asc produced no binary\n${stderrText}`);
  return binary;
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

async function main(): Promise<void> {
  const check = process.argv.includes('--check');
  const generated = generateSources();
  const stale: string[] = [];
  for (const [rel, src] of Object.entries(generated)) {
    const path = join(ASSEMBLY, rel);
    if (check) {
      let committed = '';
      try { committed = readFileSync(path, 'utf8'); } catch { /* missing */ }
      if (committed !== src) stale.push(`assembly/${rel}`);
    } else {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, src);
    }
  }
  mkdirSync(OUT, { recursive: true });
  for (const v of VARIANTS) {
    const bin = await compile(v.flags, generated);
    const path = join(OUT, v.file);
    if (check) {
      let old = new Uint8Array();
      try { old = new Uint8Array(readFileSync(path)); } catch { /* missing */ }
      if (!same(old, bin)) stale.push(`build/${v.file}`);
    } else {
      writeFileSync(path, bin);
      console.log(`build:wasm: wrote ${path} (${bin.length} bytes)`);
    }
  }
  if (check) {
    if (stale.length) {
      console.error(`build:wasm --check: out of date: ${stale.join(', ')}. Run \`npm run build:wasm\` and commit the result.`);
      process.exit(1);
    }
    console.log('build:wasm --check: committed wasm and generated sources are current');
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
