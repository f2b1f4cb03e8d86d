/**
 * The web demo (`npm run web`: cli/web.ts builds web/ against the packed package and serves it) in
 * headless Chromium, against the Node pipeline.
 *
 * 1. `node --import tsx cli/web.ts --port 0 --out <tmp>`: packs the package (its `prepare` rebuilds
 *    dist/), installs the tarball in a fresh project, bundles the page with esbuild and serves it on
 *    127.0.0.1 with COOP/COEP; the test reads the URL from its output.
 * 2. The server: cross-origin isolation headers on every response, the four .wasm builds and the
 *    weights in the manifest, nothing outside the site, the clip and the weights.
 * 3. Headless Chromium (playwright-core, /usr/bin/chromium, --enable-unsafe-webgpu) opens the page
 *    with `?autoplay=0` and runs the bundled clip's frame 0001 through `window.__posegrad.runClipFrame`:
 *    - wasm with 2 threads, MultiPose + Thunder;
 *    - webgpu, MultiPose + Lightning (Chromium's WebGPU here is SwiftShader, on the CPU: MultiPose
 *      at 512 px takes ~20 s there and Thunder ~6 s per person, so this case takes the smaller refiner);
 *    and the people the page publishes (boxes, 17 keypoints each) must equal those of
 *    movenet.MoveNetPipeline run here in Node on wasm, on the same frame with the same settings
 *    (512 px detector, score ≥ 0.2, 1.25 crops), within 1 px.
 *    - wasm again with a paper network (RPSTN, its shipped SynthPose weights), twice: 17 finite
 *      keypoints per person (what they are worth on real frames is said on the page), and the same
 *      number of live tensors after both frames (nothing leaks per frame).
 * 4. A screenshot of the wasm run is saved as out/web-demo.png (printed).
 *
 * Skips: without Chromium (POSEGRAD_CHROMIUM, default /usr/bin/chromium) the suite is skipped with a
 * message; a Chromium without a WebGPU adapter skips the webgpu case. Under CI=true both fail.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { init } from '../../engine/engine.js';
import { moveNetFromSafetensors } from '../../models/movenet/load.js';
import { MoveNetPipeline } from '../../models/movenet/pipeline.js';
import type { MoveNetPose } from '../../models/movenet/decode.js';
import { decodeImage, type RgbaImage } from '../../models/pose/image.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..', '..');
const CI = process.env.CI === 'true';
const CHROMIUM = process.env.POSEGRAD_CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless=new', '--no-sandbox', '--enable-unsafe-webgpu'];
const SCREENSHOT = join(ROOT, 'out', 'web-demo.png');
const FRAME = join(ROOT, 'assets', 'demo', '0001.jpg');
const TOLERANCE_PX = 1;

/** What the page publishes per frame (web/main.ts, DemoFrameResult). */
interface PagePoint {
  x: number;
  y: number;
  score: number;
}
interface PageFrame {
  source: string;
  frame: string;
  width: number;
  height: number;
  device: string;
  threads: number;
  backendInfo: string;
  movenet: string;
  paper: string;
  crossOriginIsolated: boolean;
  ms: { total: number; detect: number; refine: number; paper: number };
  tensors: number;
  persons: { trackId: number; score: number; box: [number, number, number, number]; keypoints: PagePoint[]; paper?: PagePoint[] }[];
}
interface PageApi {
  ready: Promise<void>;
  last: PageFrame | null;
  error: string | null;
  runClipFrame(index: number, settings?: { backend?: string; movenet?: string; paper?: string }): Promise<PageFrame>;
}

declare global {
  interface Window {
    __posegrad?: PageApi;
  }
}

/** Starts cli/web.ts and resolves with its URL once it serves; rejects with its output if it exits first. */
function startServer(out: string, log: string[]): { child: ChildProcess; url: Promise<string> } {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'cli', 'web.ts'), '--port', '0', '--out', out], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, FORCE_COLOR: '0' },
  });
  const url = new Promise<string>((ok, fail) => {
    const onData = (b: Buffer): void => {
      const text = b.toString();
      log.push(...text.split('\n').filter(Boolean));
      const m = /posegrad web demo: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(text);
      if (m) ok(m[1]!);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => fail(new Error(`cli/web.ts exited (code ${code}) before serving:\n${log.join('\n')}`)));
    child.once('error', fail);
  });
  return { child, url };
}

/** MoveNetPipeline in Node, on wasm: MultiPose, then `refiner` on each person's crop (the page's settings). */
async function nodePipeline(frame: RgbaImage, refiner: 'thunder' | 'lightning'): Promise<MoveNetPose[]> {
  const load = (v: string) => moveNetFromSafetensors(new Uint8Array(readFileSync(join(ROOT, 'assets', 'weights', 'movenet', `${v}.safetensors`))), v).to('wasm');
  const detector = load('multipose');
  const ref = load(refiner);
  try {
    const pipeline = new MoveNetPipeline(detector, ref, { detectorMaxSize: 512, minPersonScore: 0.2, cropPadding: 1.25 });
    const people = await pipeline.detect(frame, 'wasm');
    const refined = await pipeline.refine(frame, people.map((p) => p.box!), 'wasm');
    return people.map((p, i) => ({ ...p, keypoints: refined[i]!.keypoints }));
  } finally {
    detector.dispose();
    ref.dispose();
  }
}

/** The largest keypoint distance and box-corner difference, in pixels, person by person (both lists are best-first). */
function agreement(page: PageFrame, node: MoveNetPose[]): { keypointPx: number; boxPx: number; people: number } {
  expect(page.persons.length, `people found by the page (${page.device}) and by Node`).toBe(node.length);
  let keypointPx = 0;
  let boxPx = 0;
  page.persons.forEach((p, i) => {
    const q = node[i]!;
    expect(p.keypoints).toHaveLength(17);
    for (let k = 0; k < 4; k++) boxPx = Math.max(boxPx, Math.abs(p.box[k]! - q.box![k]!));
    p.keypoints.forEach((kp, j) => {
      const d = Math.hypot(kp.x - q.keypoints[j]!.x, kp.y - q.keypoints[j]!.y);
      keypointPx = Number.isNaN(d) ? NaN : Math.max(keypointPx, d);
    });
  });
  return { keypointPx, boxPx, people: node.length };
}

const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && !CI) console.warn(`[web demo test skipped] no Chromium at ${CHROMIUM} (set POSEGRAD_CHROMIUM, or install Debian's chromium)`);

describe.skipIf(!haveChromium && !CI)('npm run web: the demo page in Chromium', () => {
  let work = '';
  let server: ChildProcess | undefined;
  const serverLog: string[] = [];
  let url = '';
  let browser: Browser | undefined;
  let page: Page | undefined;
  const pageLog: string[] = [];
  const node: Partial<Record<'thunder' | 'lightning', MoveNetPose[]>> = {};
  const t: Record<string, number> = {};

  beforeAll(async () => {
    if (!haveChromium) throw new Error(`web demo test: CI=true requires Chromium at ${CHROMIUM}, got no such file`);
    process.env.XDG_RUNTIME_DIR ??= '/tmp';
    const t0 = Date.now();
    work = mkdtempSync(join(tmpdir(), 'posegrad-web-'));
    const started = startServer(work, serverLog);
    server = started.child;
    // the Node reference, while the server builds
    await init('wasm');
    const frame = decodeImage(new Uint8Array(readFileSync(FRAME)));
    node.thunder = await nodePipeline(frame, 'thunder');
    node.lightning = await nodePipeline(frame, 'lightning');
    t.node = Date.now() - t0;
    url = await started.url;
    t.build = Date.now() - t0;
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 30_000 });
    page = await browser.newPage({ viewport: { width: 1200, height: 980 } });
    page.on('console', (m) => pageLog.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => pageLog.push(`pageerror: ${e.message}`));
    await page.goto(`${url}?autoplay=0`);
    await page.waitForFunction(() => window.__posegrad !== undefined, undefined, { timeout: 20_000 }).catch(() => {
      throw new Error(`the demo page did not start; its console:\n${pageLog.join('\n')}`);
    });
    await page.evaluate(() => window.__posegrad!.ready);
    t.setup = Date.now() - t0;
  }, 240_000);

  afterAll(async () => {
    await page?.close();
    await browser?.close();
    if (server && server.exitCode === null) {
      const exited = new Promise((r) => server!.once('exit', r));
      server.kill('SIGTERM');
      await exited;
    }
    if (work) rmSync(work, { recursive: true, force: true });
    console.log(`[web demo] cli/web.ts: ${serverLog.filter((l) => !l.startsWith('npm warn')).join(' | ')}`);
    console.log(`[web demo] timings ms: ${JSON.stringify(t)}`);
  });

  async function run(label: string, settings: { backend: string; movenet: string; paper: string }): Promise<PageFrame> {
    const t0 = Date.now();
    try {
      return await page!.evaluate((s) => window.__posegrad!.runClipFrame(0, s), settings);
    } catch (e) {
      throw new Error(`${label}: the page failed: ${(e as Error).message}\nits console:\n${pageLog.join('\n')}`);
    } finally {
      t[label] = Date.now() - t0;
    }
  }

  it('serves the page cross-origin isolated, with the wasm builds and the weights, and nothing else', async () => {
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(res.headers.get('cross-origin-opener-policy')).toBe('same-origin');
    expect(res.headers.get('cross-origin-embedder-policy')).toBe('require-corp');
    const manifest = (await (await fetch(`${url}manifest.json`)).json()) as { clip: string[]; wasmFiles: string[]; papers: { id: string }[] };
    expect(manifest.clip).toEqual(['0001', '0002', '0003', '0004', '0005'].map((n) => `assets/demo/${n}.jpg`));
    expect(manifest.wasmFiles).toEqual(['posegrad-relaxed-threads.wasm', 'posegrad-relaxed.wasm', 'posegrad-threads.wasm', 'posegrad.wasm']);
    expect(manifest.papers.map((p) => p.id)).toEqual(expect.arrayContaining(['rpstn-tiny', 'fasrnet-tiny', 'vremd-tiny', 'glpose-tiny']));
    const wasm = await fetch(`${url}wasm/posegrad.wasm`);
    expect(wasm.headers.get('content-type')).toBe('application/wasm');
    expect((await fetch(`${url}assets/weights/movenet/thunder.safetensors`, { method: 'HEAD' })).status).toBe(200);
    for (const bad of ['assets/demo/boxes.json', 'package.json', '..%2fpackage.json', 'assets/weights/..%2f..%2fpackage.json', 'app/package.json']) {
      expect((await fetch(`${url}${bad}`)).status, bad).toBe(404);
    }
  });

  it('wasm, 2 threads, MultiPose + Thunder: the keypoints equal the Node pipeline within 1 px', async () => {
    const res = await run('wasm', { backend: 'wasm-2', movenet: 'thunder', paper: 'none' });
    expect(res.crossOriginIsolated).toBe(true);
    expect(res.device).toBe('wasm');
    expect(res.threads).toBe(2);
    expect(res.backendInfo).toMatch(/-threads\.wasm, 2 threads$/);
    expect([res.frame, res.width, res.height]).toEqual(['0001.jpg', 576, 432]);
    expect(res.persons.length).toBeGreaterThanOrEqual(1);
    const a = agreement(res, node.thunder!);
    expect(a.keypointPx).toBeLessThanOrEqual(TOLERANCE_PX);
    expect(a.boxPx).toBeLessThanOrEqual(TOLERANCE_PX);
    mkdirSync(dirname(SCREENSHOT), { recursive: true });
    await page!.screenshot({ path: SCREENSHOT, fullPage: true });
    console.log(`[web demo] wasm (${res.backendInfo}) vs Node wasm, Thunder: ${a.people} people, max keypoint Δ ${a.keypointPx.toExponential(2)} px, max box Δ ${a.boxPx.toExponential(2)} px; ${res.ms.total.toFixed(0)} ms/frame (MultiPose ${res.ms.detect.toFixed(0)}, Thunder ${res.ms.refine.toFixed(0)})`);
    console.log(`[web demo] screenshot: ${SCREENSHOT}`);
  });

  it('webgpu, MultiPose + Lightning: the keypoints equal the Node pipeline within 1 px', async (ctx) => {
    let res: PageFrame;
    try {
      res = await run('webgpu', { backend: 'webgpu', movenet: 'lightning', paper: 'none' });
    } catch (e) {
      if (!CI && /expected a WebGPU adapter/.test((e as Error).message)) {
        console.warn(`[web demo test skipped] webgpu: ${(e as Error).message.split('\n')[0]}`);
        ctx.skip();
      }
      throw e;
    }
    expect(res.device).toBe('webgpu');
    const a = agreement(res, node.lightning!);
    expect(a.keypointPx).toBeLessThanOrEqual(TOLERANCE_PX);
    expect(a.boxPx).toBeLessThanOrEqual(TOLERANCE_PX);
    console.log(`[web demo] webgpu (${res.backendInfo}) vs Node wasm, Lightning: ${a.people} people, max keypoint Δ ${a.keypointPx.toExponential(2)} px, max box Δ ${a.boxPx.toExponential(2)} px; ${res.ms.total.toFixed(0)} ms/frame (MultiPose ${res.ms.detect.toFixed(0)}, Lightning ${res.ms.refine.toFixed(0)})`);
  }, 150_000);

  it('a paper network (RPSTN, shipped SynthPose weights) runs on the tracked people, and frames leave no tensors behind', async () => {
    const res = await run('paper', { backend: 'wasm-2', movenet: 'thunder', paper: 'rpstn-tiny' });
    const again = await run('paper again', { backend: 'wasm-2', movenet: 'thunder', paper: 'rpstn-tiny' });
    expect(again.tensors, 'live tensors after a second identical frame').toBe(res.tensors);
    expect(res.paper).toBe('rpstn-tiny');
    expect(res.persons.length).toBe(node.thunder!.length);
    for (const p of res.persons) {
      expect(p.paper).toHaveLength(17);
      expect(p.paper!.every((k) => Number.isFinite(k.x) && Number.isFinite(k.y) && Number.isFinite(k.score))).toBe(true);
    }
    const note = await page!.locator('#paper-note').innerText();
    expect(note).toMatch(/trained on synthetic SynthPose clips only.*not meaningful/s);
    console.log(`[web demo] RPSTN on wasm: ${res.ms.paper.toFixed(0)} ms for ${res.persons.length} people`);
  });
});
