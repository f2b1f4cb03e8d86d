/**
 * Consumer test: posegrad as a user gets it, from the packed tarball, bundled for a browser.
 *
 * 1. `npm pack` (its `prepare` builds dist/ with tsc) into a temporary folder; the tarball must
 *    hold no source maps, no models/train, and the .wasm builds, LICENSE, CHANGELOG.md, index.cjs
 *    and scripts/install-lavapipe.sh; every relative link of its Markdown files must resolve
 *    inside it.
 * 2. A fresh project installs the tarball (`npm install --prefer-offline`: its dependencies come
 *    from npm's cache when they are there). `webgpu` (an optional peer) is not installed.
 * 3. Node, in that project: `require('posegrad')` works (Node ≥ 20.19 loads ES modules from
 *    require); `posegrad/node` writes and reads a PNG and runs a conv on wasm from the installed
 *    files; `init('webgpu')` without the `webgpu` package says to install it.
 * 4. The page (test/browser/consumer/: main.js, imports only from 'posegrad') is bundled twice:
 *    with esbuild (which copies no .wasm by itself: the page imports their URLs through
 *    `posegrad/wasm/*` and passes them as `wasmPaths`) and with Vite (no options at all). Neither
 *    may report an error, and esbuild's graph must contain no Node module.
 * 5. A node:http server on 127.0.0.1 serves both with COOP/COEP (cross-origin isolation, which
 *    wasm threads need), and once more without them. Headless Chromium (playwright-core,
 *    /usr/bin/chromium, --enable-unsafe-webgpu) opens each page: a seeded network (conv, batch
 *    norm, relu, max pool, bilinear upsampling, conv, linear, softmax, matmul) runs on cpu and on
 *    wasm with 1 thread, wasm with 2 threads, and webgpu, in the page, and the results must agree.
 *    The page also round-trips PNG and JPEG bytes (browser-safe codecs). Without isolation,
 *    `threads: 2` must fail with the error that names the two headers.
 *    Vite's dev server, configured as the README says (posegrad left out of its dependency
 *    pre-bundling, which would move the loader away from its .wasm files), runs wasm with 2 threads.
 * 6. One screenshot (Vite page, webgpu) is saved as out/browser-consumer.png (a CI artifact).
 *
 * Skips: without Chromium (POSEGRAD_CHROMIUM, default /usr/bin/chromium) the suite is skipped with
 * a message; a Chromium without a WebGPU adapter skips the webgpu cases. Under CI=true both fail.
 * Tolerance: float32 on both sides, different summation orders: |Δ| ≤ 1e-4·max(1, max|cpu|).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build as esbuild } from 'esbuild';
import { chromium, type Browser } from 'playwright-core';
import { build as viteBuild, createServer as viteServer, type ViteDevServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokenLinks, describeBroken, markdownFiles, pathsWithFolders } from '../docs/links.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..', '..');
const PAGE_SRC = join(HERE, 'consumer');
const CI = process.env.CI === 'true';
const CHROMIUM = process.env.POSEGRAD_CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless=new', '--no-sandbox', '--enable-unsafe-webgpu'];
const SCREENSHOT = join(ROOT, 'out', 'browser-consumer.png');
const BUNDLERS = ['esbuild', 'vite'] as const;
type Bundler = (typeof BUNDLERS)[number];

/** What the page publishes as window.posegradConsumer (test/browser/consumer/main.js). */
type PageResult =
  | { ok: false; stage: string; error: string; bundler: Bundler; device: string; threads: number; crossOriginIsolated: boolean }
  | {
      ok: true;
      bundler: Bundler;
      device: string;
      threads: number;
      crossOriginIsolated: boolean;
      moduleFile: string | null;
      backendThreads: number | null;
      adapter: string | null;
      devices: string[];
      scale: { map: number; probs: number; mm: number };
      diff: { map: number; probs: number; mm: number };
      sizes: { map: number; probs: number; mm: number };
      codecs: { pngExact: boolean; jpegMaxDiff: number; bufferLeftUndefined: boolean };
      registered: string[];
      ms: { init: number; forward: number };
    };

declare global {
  interface Window {
    posegradConsumer?: Promise<PageResult>;
  }
}

const MIME: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css', '.json': 'application/json' };

/** Serves /<bundler>/... from out/<bundler>; /isolated/... adds COOP/COEP, /plain/... does not. */
function serve(outDir: string): Promise<Server> {
  const server = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]!);
    const m = /^\/(isolated|plain)\/(.*)$/.exec(path);
    const file = m ? normalize(join(outDir, m[2]!.endsWith('/') || m[2] === '' ? `${m[2]}index.html` : m[2]!)) : '';
    if (!m || !file.startsWith(outDir) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    const headers: Record<string, string> = { 'content-type': MIME[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' };
    if (m[1] === 'isolated') {
      headers['cross-origin-opener-policy'] = 'same-origin';
      headers['cross-origin-embedder-policy'] = 'require-corp';
    }
    res.writeHead(200, headers).end(readFileSync(file));
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => ok(server));
  });
}

function run(cmd: string, args: string[], cwd: string): string {
  try {
    return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_fund: 'false', npm_config_audit: 'false', npm_config_update_notifier: 'false' } });
  } catch (e) {
    const x = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) failed: ${x.message}\n${x.stdout ?? ''}\n${x.stderr ?? ''}`);
  }
}

function filesUnder(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? filesUnder(join(dir, d.name), `${prefix}${d.name}/`) : [`${prefix}${d.name}`]));
}

const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && !CI) console.warn(`[consumer test skipped] no Chromium at ${CHROMIUM} (set POSEGRAD_CHROMIUM, or install Debian's chromium)`);

describe.skipIf(!haveChromium && !CI)('the packed package in a fresh project, bundled for Chromium', () => {
  let work = '';
  let project = '';
  let tarball = '';
  let packed: { size: number; unpackedSize: number; files: string[] } = { size: 0, unpackedSize: 0, files: [] };
  let server: Server | undefined;
  let browser: Browser | undefined;
  let origin = '';
  const t: Record<string, number> = {};
  const bundleLogs: Record<Bundler, string[]> = { esbuild: [], vite: [] };
  let esbuildInputs: string[] = [];
  let devServer: ViteDevServer | undefined;
  let devUrl = '';

  beforeAll(async () => {
    if (!haveChromium) throw new Error(`consumer test: CI=true requires Chromium at ${CHROMIUM}, got no such file`);
    process.env.XDG_RUNTIME_DIR ??= '/tmp';
    const t0 = Date.now();
    work = mkdtempSync(join(tmpdir(), 'posegrad-consumer-'));

    // 1. pack (prepare builds dist/)
    const info = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', work], ROOT).replace(/^[^[]*/s, '')) as { filename: string; size: number; unpackedSize: number; files: { path: string }[] }[];
    tarball = join(work, info[0]!.filename);
    packed = { size: info[0]!.size, unpackedSize: info[0]!.unpackedSize, files: info[0]!.files.map((f) => f.path) };
    t.pack = Date.now() - t0;

    // 2. a fresh project that installs the tarball
    project = join(work, 'app');
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'posegrad-consumer', private: true, type: 'module' }, null, 2));
    run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], project);
    t.install = Date.now() - t0 - t.pack;

    // 4. the two bundles
    const t1 = Date.now();
    for (const b of BUNDLERS) {
      const src = join(project, `${b}-src`);
      mkdirSync(src);
      copyFileSync(join(PAGE_SRC, 'index.html'), join(src, 'index.html'));
      copyFileSync(join(PAGE_SRC, 'main.js'), join(src, 'main.js'));
      copyFileSync(join(PAGE_SRC, `entry-${b}.js`), join(src, 'entry.js'));
    }
    const out = join(project, 'out');
    const es = await esbuild({
      absWorkingDir: project,
      entryPoints: [join(project, 'esbuild-src', 'entry.js')],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      outdir: join(out, 'esbuild'),
      loader: { '.wasm': 'file' },
      metafile: true,
      logLevel: 'silent',
    });
    bundleLogs.esbuild = [...es.errors, ...es.warnings].map((m) => `${m.location?.file ?? ''}: ${m.text}`);
    esbuildInputs = Object.keys(es.metafile.inputs);
    copyFileSync(join(project, 'esbuild-src', 'index.html'), join(out, 'esbuild', 'index.html'));
    t.esbuild = Date.now() - t1;
    const t2 = Date.now();
    await viteBuild({
      root: join(project, 'vite-src'),
      base: './',
      configFile: false,
      logLevel: 'silent',
      customLogger: {
        info: () => {},
        warn: (msg: string) => bundleLogs.vite.push(`warn: ${msg}`),
        warnOnce: (msg: string) => bundleLogs.vite.push(`warn: ${msg}`),
        error: (msg: string) => bundleLogs.vite.push(`error: ${msg}`),
        clearScreen: () => {},
        hasErrorLogged: () => false,
        hasWarned: false,
      },
      build: { outDir: join(out, 'vite'), emptyOutDir: true, reportCompressedSize: false },
    });
    t.vite = Date.now() - t2;

    // 5. serve and start Chromium; Vite's dev server too, configured as the README says
    server = await serve(out);
    devServer = await viteServer({
      root: join(project, 'vite-src'),
      configFile: false,
      logLevel: 'silent',
      cacheDir: join(project, '.vite'),
      optimizeDeps: { exclude: ['posegrad'], include: ['posegrad > jpeg-js'] },
      server: { host: '127.0.0.1', port: 0, strictPort: false, headers: { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' } },
    });
    await devServer.listen();
    devUrl = devServer.resolvedUrls!.local[0]!;
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 30_000 });
    t.setup = Date.now() - t0;
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await devServer?.close();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    if (work) rmSync(work, { recursive: true, force: true });
    console.log(`[consumer] timings ms: ${JSON.stringify(t)}`);
  });

  async function openPage(path: string, screenshot?: string, at = origin): Promise<PageResult> {
    const page = await browser!.newPage({ viewport: { width: 720, height: 640 } });
    const logs: string[] = [];
    page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
    try {
      await page.goto(`${at}${path}`);
      await page.waitForFunction(() => window.posegradConsumer !== undefined, undefined, { timeout: 20_000 }).catch(() => {
        throw new Error(`the page ${path} did not start; its console:\n${logs.join('\n')}`);
      });
      const res = await page.evaluate(() => window.posegradConsumer!);
      if (screenshot) {
        mkdirSync(dirname(screenshot), { recursive: true });
        await page.screenshot({ path: screenshot });
      }
      return res;
    } finally {
      await page.close();
    }
  }

  it('the tarball holds what the package needs and nothing it should not ship', () => {
    const f = packed.files;
    for (const need of ['dist/index.js', 'dist/index.d.ts', 'dist/node.js', 'dist/node.cjs', 'dist/node-browser.js', 'index.cjs', 'LICENSE', 'CHANGELOG.md', 'README.md', 'scripts/install-lavapipe.sh',
      'dist/backends/wasm/build/posegrad.wasm', 'dist/backends/wasm/build/posegrad-relaxed.wasm', 'dist/backends/wasm/build/posegrad-threads.wasm', 'dist/backends/wasm/build/posegrad-relaxed-threads.wasm']) {
      expect(f, need).toContain(need);
    }
    expect(f.filter((p) => p.endsWith('.map'))).toEqual([]);
    expect(f.filter((p) => p.startsWith('dist/models/train/'))).toEqual([]);
    // TypeScript sources ship only where the docs walk through them (docs/ops.md, docs/kernels/).
    expect(f.filter((p) => /\.ts$/.test(p) && !p.endsWith('.d.ts') && !/^(ops|backends\/webgpu\/kernels)\/[^/]+\.ts$/.test(p))).toEqual([]);
    expect(readFileSync(join(ROOT, 'LICENSE'), 'utf8')).toMatch(/TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION[\s\S]*END OF TERMS AND CONDITIONS/);
    const installed = JSON.parse(readFileSync(join(project, 'node_modules', 'posegrad', 'package.json'), 'utf8')) as { peerDependenciesMeta?: Record<string, { optional?: boolean }> };
    expect(installed.peerDependenciesMeta?.webgpu?.optional).toBe(true);
    expect(existsSync(join(project, 'node_modules', 'webgpu')), 'webgpu (an optional peer) is not installed for consumers').toBe(false);
    expect(existsSync(join(project, 'node_modules', 'pngjs')), 'pngjs is no longer a dependency').toBe(false);
    // every relative link of a Markdown file in the tarball resolves inside the tarball
    const shippedMd = markdownFiles(ROOT).filter((p) => f.includes(p));
    expect(shippedMd).toContain('docs/ops.md');
    const inTarball = pathsWithFolders(f);
    const broken = brokenLinks(ROOT, shippedMd, (p) => inTarball.has(p));
    if (broken.length) throw new Error(`links of the shipped docs that point outside the tarball:\n${describeBroken(broken)}`);
    console.log(`[consumer] tarball ${(packed.size / 1e3).toFixed(1)} kB packed, ${(packed.unpackedSize / 1e6).toFixed(2)} MB unpacked, ${f.length} files`);
  });

  it('Node: require(), posegrad/node file I/O, wasm from the installed files, and the missing-webgpu message', () => {
    const cjs = run('node', ['-e', "const p = require('posegrad'); const n = require('posegrad/node'); console.log(typeof p.tensor, typeof p.init, typeof n.readImageFile)"], project);
    expect(cjs.trim()).toBe('function function function');
    const script = `
      import { createImage, conv2d, init, ones, readImageFile, writeImageFile, wasmFilesDir, WASM_FILES } from 'posegrad/node';
      import { existsSync } from 'node:fs';
      const img = createImage(3, 2, [1, 2, 3, 255]);
      await writeImageFile('img.png', img);
      const back = await readImageFile('img.png');
      const be = await init('wasm');
      const y = conv2d(ones([1, 2, 4, 4], { device: 'wasm' }), ones([3, 2, 3, 3], { device: 'wasm' }), null, { padding: 1 });
      const err = await init('webgpu').then(() => 'started', (e) => e.message);
      console.log(JSON.stringify({ same: Buffer.compare(Buffer.from(back.data), Buffer.from(img.data)) === 0, file: be.moduleFile, y: Array.from(y.dataSync()).slice(0, 5), files: WASM_FILES.every((f) => existsSync(wasmFilesDir + f)), err }));
    `;
    writeFileSync(join(project, 'node-check.mjs'), script);
    const res = JSON.parse(run('node', ['node-check.mjs'], project).trim().split('\n').pop()!) as { same: boolean; file: string; y: number[]; files: boolean; err: string };
    expect(res.same).toBe(true);
    expect(res.file).toMatch(/^posegrad(-relaxed)?\.wasm$/);
    expect(res.y).toEqual([8, 12, 12, 8, 12]); // 3x3 ones over 2 channels of ones, zero padding: corner 8, edge 12
    expect(res.files).toBe(true);
    expect(res.err).toMatch(/^webgpu: expected a WebGPU adapter, got none \(no navigator\.gpu, and the 'webgpu' package .* is not installed: run `npm install webgpu`/);
  });

  it('esbuild and Vite bundle the page without errors, and no Node module enters the browser graph', () => {
    expect(bundleLogs.esbuild, 'esbuild errors and warnings').toEqual([]);
    expect(bundleLogs.vite.filter((l) => l.startsWith('error')), 'Vite errors').toEqual([]);
    const packages = new Set(esbuildInputs.map((p) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(p)?.[1]).filter((p): p is string => !!p));
    expect([...packages].sort()).toEqual(['fast-png', 'fflate', 'iobuffer', 'jpeg-js', 'posegrad']);
    // The two Node-only dynamic imports left in posegrad's code are mapped off by its "browser" field.
    expect(esbuildInputs.filter((p) => /(^|:)node:|^(fs|path|stream|util|zlib)$/.test(p)).every((p) => p.startsWith('(disabled):'))).toBe(true);
    const viteAssets = readdirSync(join(project, 'out', 'vite', 'assets'));
    expect(viteAssets.filter((f) => f.endsWith('.wasm')).length, 'Vite emits the four .wasm builds by itself').toBe(4);
    expect(filesUnder(join(project, 'out', 'esbuild')).filter((f) => f.endsWith('.wasm')).length).toBe(4);
  });

  const cases = [
    { device: 'wasm', threads: 1 },
    { device: 'wasm', threads: 2 },
    { device: 'webgpu', threads: 1 },
  ] as const;
  for (const bundler of BUNDLERS) {
    for (const c of cases) {
      const label = c.device === 'wasm' ? `wasm, ${c.threads} thread${c.threads > 1 ? 's' : ''}` : 'webgpu';
      it(`${bundler} page: ${label} matches cpu in the page`, async (ctx) => {
        const shot = bundler === 'vite' && c.device === 'webgpu' ? SCREENSHOT : undefined;
        const res = await openPage(`/isolated/${bundler}/?device=${c.device}&threads=${c.threads}`, shot);
        if (!res.ok) {
          const msg = `consumer test (${bundler}, ${label}): expected a run, got a failure at '${res.stage}': ${res.error}`;
          if (!CI && c.device === 'webgpu' && res.stage === 'init' && /expected a WebGPU adapter/.test(res.error)) {
            console.warn(`[consumer test skipped] ${msg}`);
            ctx.skip();
          }
          throw new Error(msg);
        }
        expect(res.crossOriginIsolated).toBe(true);
        expect(res.devices).toEqual([c.device]);
        expect(res.sizes).toEqual({ map: 2 * 4 * 32 * 32, probs: 20, mm: 33 * 29 });
        if (c.device === 'wasm') {
          expect(res.backendThreads).toBe(c.threads);
          expect(res.moduleFile).toMatch(c.threads > 1 ? /-threads\.wasm$/ : /^posegrad(-relaxed)?\.wasm$/);
        }
        for (const k of ['map', 'probs', 'mm'] as const) {
          expect(res.scale[k], `${k} is not all zeros`).toBeGreaterThan(0);
          expect(res.diff[k], `max |Δ| of ${k} (max |cpu| ${res.scale[k]})`).toBeLessThanOrEqual(1e-4 * Math.max(1, res.scale[k]));
        }
        expect(res.codecs.pngExact).toBe(true);
        expect(res.codecs.jpegMaxDiff).toBeLessThan(64);
        expect(res.codecs.bufferLeftUndefined).toBe(true);
        console.log(`[consumer] ${bundler} ${label}: ${res.moduleFile ?? res.adapter}; init ${res.ms.init.toFixed(0)} ms, forward ${res.ms.forward.toFixed(0)} ms; max |Δ| map ${res.diff.map.toExponential(2)}, probs ${res.diff.probs.toExponential(2)}, matmul ${res.diff.mm.toExponential(2)}`);
        if (shot) console.log(`[consumer] screenshot: ${shot}`);
      });
    }
  }

  it("Vite's dev server (optimizeDeps as in the README): wasm with 2 threads", async () => {
    const res = await openPage('?device=wasm&threads=2', undefined, devUrl);
    if (!res.ok) throw new Error(`Vite dev server: expected a run, got a failure at '${res.stage}': ${res.error}`);
    expect(res.crossOriginIsolated).toBe(true);
    expect(res.moduleFile).toMatch(/-threads\.wasm$/);
    expect(res.diff.map).toBeLessThanOrEqual(1e-4 * Math.max(1, res.scale.map));
  });

  it('without cross-origin isolation, wasm threads fail with the headers to set', async () => {
    const res = await openPage('/plain/vite/?device=wasm&threads=2');
    expect(res.ok).toBe(false);
    if (res.ok) return;
    expect(res.crossOriginIsolated).toBe(false);
    expect(res.stage).toBe('init');
    expect(res.error).toMatch(/^wasm: expected SharedArrayBuffer for threads: 2, got none \(this page is not cross-origin isolated/);
    expect(res.error).toContain('Cross-Origin-Opener-Policy: same-origin');
    expect(res.error).toContain('Cross-Origin-Embedder-Policy: require-corp');
  });
});
