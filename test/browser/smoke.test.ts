/**
 * Browser smoke test: RPSTN `tiny` forward and backward on the webgpu backend in headless
 * Chromium (navigator.gpu on its bundled SwiftShader), against the same model on cpu in Node.
 * test/browser/README.md has the flags that work and how to run it by hand.
 *
 * - The library is bundled for the page with esbuild (test/browser/page.ts, node:* left external:
 *   only the wasm backend, never loaded here, imports node modules, and only dynamically).
 * - A node:http server on 127.0.0.1 (a secure context, which navigator.gpu requires) serves
 *   index.html, the bundle and the case: seeded weights, input clip and upstream gradient.
 * - The page runs eval-mode forward, then the backward of Σ heatmaps·r, and returns the heatmaps,
 *   the clip's gradient and every parameter's gradient; the test compares them with cpu.
 * - No silent fallback: the page must report that every tensor lived on 'webgpu'; and two more
 *   pages, whose navigator.gpu is removed or whose requestAdapter() returns null, must report the
 *   library's "expected a WebGPU adapter, got none" error instead of a result.
 *
 * Skips: without Chromium (POSEGRAD_CHROMIUM, default /usr/bin/chromium) the suite is skipped with
 * a message, and a Chromium without a WebGPU adapter skips the parity test; under CI=true both
 * fail instead.
 * Tolerance (float32 on both sides, different summation orders through ~25 conv layers, as the
 * Node device tests test/models-glpose/devices.test.ts use): heatmaps |Δ| ≤ 2e-4 + 2e-3·|cpu|;
 * gradients |Δ| ≤ 2e-4·max|g_cpu| + 2e-3·|g_cpu|.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualSeed, tidy } from '../../engine/engine.js';
import type { Tensor } from '../../engine/tensor.js';
import { randn } from '../../ops/creation.js';
import { mul } from '../../ops/elementwise.js';
import { sum } from '../../ops/reduce.js';
import { RPSTN, rpstnPreset } from '../../models/rpstn/index.js';
import { assertClose, maxAbsDiff, type Tol } from '../helpers/close.js';
import { randomize } from '../helpers/models.js';
import type { CaseEntry, CaseManifest, SmokeResult } from './page.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const CI = process.env.CI === 'true';
const CHROMIUM = process.env.POSEGRAD_CHROMIUM || '/usr/bin/chromium';
/** The flags that give headless Chromium a WebGPU adapter (SwiftShader) here: see README.md. */
const CHROMIUM_ARGS = ['--headless=new', '--no-sandbox', '--enable-unsafe-webgpu'];
const SEED = 5;
const OUT_TOL: Tol = { atol: 2e-4, rtol: 2e-3 };
const gradTol = (g: ArrayLike<number>): Tol => ({ atol: 2e-4 * maxAbs(g), rtol: 2e-3 });

function maxAbs(a: ArrayLike<number>): number {
  let v = 0;
  for (let i = 0; i < a.length; i++) v = Math.max(v, Math.abs(a[i]!));
  return v;
}

interface CpuRun {
  heat: Float32Array;
  clipGrad: Float32Array;
  paramGrads: Map<string, Float32Array | null>;
}

/** The case (seeded weights, clip, upstream gradient) as case.json + case.bin, and the cpu run. */
async function makeCase(): Promise<{ manifest: CaseManifest; bin: Buffer; cpu: CpuRun }> {
  manualSeed(SEED);
  const m = new RPSTN(rpstnPreset('tiny'));
  randomize(m, 'float32');
  m.eval();
  const [H, W] = m.cfg.inputSize;
  const [h, w] = m.heatmapSize;
  const T = m.cfg.numFrames;
  const clip = randn([1, T, 3, H, W]).requiresGrad_(true);
  const r = randn([1, T, m.cfg.numJoints, h, w]);

  const chunks: Float32Array[] = [];
  let offset = 0;
  const put = (t: Tensor): CaseEntry => {
    const v = Float32Array.from(t.dataSync() as ArrayLike<number>);
    const e: CaseEntry = { shape: [...t.shape], offset, ...(t.dtype === 'int32' ? { dtype: 'int32' as const } : {}) };
    chunks.push(v);
    offset += v.length;
    return e;
  };
  const state: Record<string, CaseEntry> = {};
  for (const [k, t] of m.stateDict()) state[k] = put(t);
  const manifest: CaseManifest = { preset: 'tiny', state, clip: put(clip), upstream: put(r) };
  const all = new Float32Array(offset);
  let o = 0;
  for (const c of chunks) {
    all.set(c, o);
    o += c.length;
  }

  // One tidy for both passes: it keeps the graph's intermediates alive until the backward is done.
  const heat = tidy(() => {
    const y = m.forward(clip);
    sum(mul(y, r)).backward();
    return y;
  });
  const cpu: CpuRun = {
    heat: heat.dataSync().slice() as Float32Array,
    clipGrad: clip.grad!.dataSync().slice() as Float32Array,
    paramGrads: new Map(m.namedParameters().map(([k, p]) => [k, p.grad ? (p.grad.dataSync().slice() as Float32Array) : null])),
  };
  for (const t of [heat, clip, r]) t.dispose();
  m.dispose();
  return { manifest, bin: Buffer.from(all.buffer), cpu };
}

async function bundle(): Promise<string> {
  const out = await build({
    entryPoints: [join(HERE, 'page.ts')],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    external: ['node:*'],
    logLevel: 'silent',
  });
  return out.outputFiles[0]!.text;
}

function serve(files: Record<string, { type: string; body: string | Buffer }>): Promise<Server> {
  const server = createServer((req, res) => {
    const f = files[(req.url ?? '/').split('?')[0]!];
    if (!f) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': f.type, 'cache-control': 'no-store' }).end(f.body);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && !CI) console.warn(`[browser smoke test skipped] no Chromium at ${CHROMIUM} (set POSEGRAD_CHROMIUM, or install Debian's chromium)`);

describe.skipIf(!haveChromium && !CI)('webgpu in headless Chromium', () => {
  let browser: Browser | undefined;
  let server: Server | undefined;
  let url = '';
  let cpu: CpuRun;

  beforeAll(async () => {
    if (!haveChromium) throw new Error(`browser smoke test: CI=true requires Chromium at ${CHROMIUM}, got no such file`);
    process.env.XDG_RUNTIME_DIR ??= '/tmp';
    const [c, js, html] = await Promise.all([makeCase(), bundle(), readFile(join(HERE, 'index.html'), 'utf8')]);
    cpu = c.cpu;
    server = await serve({
      '/': { type: 'text/html', body: html },
      '/index.html': { type: 'text/html', body: html },
      '/page.js': { type: 'text/javascript', body: js },
      '/case.json': { type: 'application/json', body: JSON.stringify(c.manifest) },
      '/case.bin': { type: 'application/octet-stream', body: c.bin },
    });
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 30_000 });
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  });

  /** Opens the page (after `initScript`, if any) and waits for its result. */
  async function runPage(initScript?: string): Promise<SmokeResult> {
    const page = await browser!.newPage();
    const logs: string[] = [];
    page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
    try {
      if (initScript) await page.addInitScript(initScript);
      await page.goto(url);
      await page.waitForFunction(() => window.posegradSmoke !== undefined, undefined, { timeout: 10_000 }).catch(() => {
        throw new Error(`the page did not start the smoke run; its console:\n${logs.join('\n')}`);
      });
      return await page.evaluate(() => window.posegradSmoke!);
    } finally {
      await page.close();
    }
  }

  it('RPSTN tiny forward and backward on webgpu match cpu', async (ctx) => {
    const res = await runPage();
    if (!res.ok) {
      const msg = `browser smoke test: expected a WebGPU run, got a failure at '${res.stage}' (navigator.gpu ${res.hasNavigatorGpu ? 'present' : 'absent'}, secure context ${res.secureContext}): ${res.error}`;
      if (!CI && res.stage === 'init') {
        console.warn(`[browser smoke test skipped] ${msg}`);
        ctx.skip();
      }
      throw new Error(msg);
    }
    expect(res.devices).toEqual(['webgpu']);
    expect(res.heatShape).toEqual([1, 3, 13, 32, 32]);
    expect(maxAbs(cpu.heat)).toBeGreaterThan(0);
    assertClose(res.heat, cpu.heat, OUT_TOL, 'heatmaps');
    expect(maxAbs(cpu.clipGrad)).toBeGreaterThan(0);
    assertClose(res.clipGrad, cpu.clipGrad, gradTol(cpu.clipGrad), 'grad of the clip');
    expect(Object.keys(res.paramGrads).sort()).toEqual([...cpu.paramGrads.keys()].sort());
    let worstGrad = 0;
    for (const [name, g] of cpu.paramGrads) {
      const got = res.paramGrads[name]!;
      expect(got === null, `${name}: gradient presence`).toBe(g === null);
      if (g === null || got === null) continue;
      assertClose(got, g, gradTol(g), `grad of ${name}`);
      worstGrad = Math.max(worstGrad, maxAbsDiff(got, g) / Math.max(maxAbs(g), 1e-30));
    }
    console.log(
      `[browser smoke] adapter '${res.adapter}' (software ${res.software}); init ${res.ms.init.toFixed(0)} ms, forward ${res.ms.forward.toFixed(0)} ms, backward ${res.ms.backward.toFixed(0)} ms; ` +
        `max |Δ| heatmaps ${maxAbsDiff(res.heat, cpu.heat).toExponential(2)} (max |cpu| ${maxAbs(cpu.heat).toFixed(3)}), ` +
        `clip grad ${maxAbsDiff(res.clipGrad, cpu.clipGrad).toExponential(2)} (max |cpu| ${maxAbs(cpu.clipGrad).toExponential(2)}), ` +
        `worst parameter grad |Δ|/max|g| ${worstGrad.toExponential(2)}`,
    );
  });

  it('without navigator.gpu the page reports the missing adapter (no fallback)', async () => {
    const res = await runPage(`Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true });`);
    expect(res.ok).toBe(false);
    if (res.ok) return;
    expect(res.stage).toBe('init');
    expect(res.hasNavigatorGpu).toBe(false);
    expect(res.error).toMatch(/^webgpu: expected a WebGPU adapter, got none \(no navigator\.gpu/);
  });

  it('when requestAdapter() returns null the page reports it (no fallback)', async () => {
    const res = await runPage(`if (globalThis.GPU) GPU.prototype.requestAdapter = async function () { return null; };`);
    expect(res.ok).toBe(false);
    if (res.ok) return;
    expect(res.stage).toBe('init');
    expect(res.error).toMatch(/^webgpu: expected a WebGPU adapter, got none \(navigator\.gpu\.requestAdapter\(\) returned null\)/);
  });
});
