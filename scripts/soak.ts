/**
 * Soak run (issue 14, item 6): long runs must not degrade. Three parts, each sampling memory every
 * `--every` steps or frames, judged by the slope of the last half of the run against the first:
 *
 *   train     `--steps` (1,000) optimizer steps of RPSTN `tiny` with the project's trainer
 *             (models/train/trainer.ts `train`: dataset, augmentation, collate, loss, backward, Adam,
 *             LR schedule) on a small SynthPose set generated once into /tmp/posegrad-soak/synth.
 *   pipeline  a `--frames` (1,000) frame clip through MoveNetPipeline (MultiPose finds the people at
 *             512 px, SinglePose Lightning, or Thunder with `--refiner thunder`, on their crops,
 *             `--batch` crops per forward; an IoU PoseTracker): OpenCV's Megamind.avi (its first 205
 *             frames, 720x528) then vtest.avi (795 frames, 768x576), decoded by ffmpeg as a stream,
 *             one frame in memory at a time. The size change happens in the first half on purpose.
 *   demo      the demo CLI itself (`cli/demo.ts --frames DIR --model lightning`) on the same 1,000
 *             frames extracted as JPEG (Megamind scaled to 768x576: the demo wants one size), in a
 *             child process whose RSS is read from /proc every 0.5 s against the overlays written,
 *             and whose V8 heap is read after every mark-compact GC (node --trace-gc).
 *
 * Samples: posegrad's `memory()` (numTensors, numBytes, per device bytes, pooledBytes, peakBytes)
 * and the process's RSS and V8 heap (in-process parts; after a GC when node runs with --expose-gc),
 * the child's RSS and post-GC V8 heap (demo part). Verdict per part (docs/memory.md):
 *   - engine: numTensors and numBytes exactly constant over the last half (any change is a leak);
 *   - device pools (wasm/webgpu pooledBytes), V8 heap and RSS: the least-squares slope over the last
 *     half, projected over the whole run, at most POOL_TOLERANCE_MIB, HEAP_TOLERANCE_MIB and
 *     TOLERANCE_MIB. The first half's slope is printed beside it (warm-up: caches, pools and the JIT
 *     fill up there).
 * Writes DIR/soak.json (config, machine, samples, verdicts), DIR/soak.md and one SVG chart per part.
 *
 *   npx tsx scripts/soak.ts [--parts train,pipeline,demo] [--steps 1000] [--frames 1000]
 *                           [--refiner lightning|thunder] [--backend wasm|cpu|webgpu] [--batch 8]
 *                           [--every 10] [--out bench/results/<date>-soak] [--work /tmp/posegrad-soak]
 *   npx tsx scripts/soak.ts --rejudge DIR/soak.json     (the verdicts again, from saved samples)
 *
 * Prefer `node --expose-gc --import tsx scripts/soak.ts ...` (less RSS noise). Exit code 0 when every
 * part shows no growth, 1 when one grows, 2 for bad options.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { DeviceName } from '../backends/backend.js';
import { DEVICES } from '../backends/backend.js';
import { init, memory, setDefaultDevice, type MemoryInfo } from '../engine/engine.js';
import { loadShippedMoveNet } from '../cli/demo-movenet.js';
import { streamVideo } from '../cli/video.js';
import { DEFAULT_BATCH_SIZE, MoveNetPipeline } from '../models/movenet/pipeline.js';
import { PoseTracker } from '../models/pose/track.js';
import { cachedFrameLoader, ensureSynthPose, loadSplit, type SynthPoseSpec } from '../models/train/data.js';
import { defaultConfig, train } from '../models/train/trainer.js';
import { escapeXml } from '../bench/report/svg.js';

const ROOT = resolve(import.meta.dirname, '..');
const DATA = '/usr/share/doc/opencv-doc/examples/data';
/** The clip of the pipeline and demo parts: [file, frames taken], in order. */
const CLIP: readonly (readonly [string, number])[] = [
  [join(DATA, 'Megamind.avi'), 205],
  [join(DATA, 'vtest.avi'), 795],
];
/** The training set of the train part: small, so that generating it takes seconds. */
const SYNTH: SynthPoseSpec = { trainClips: 8, valClips: 2, frames: 20, size: [128, 128], seed: 11 };
/** Scratch folder (--work): the SynthPose set, the demo's frames and outputs. */
let WORK = '/tmp/posegrad-soak';
/** RSS may grow by at most this over a whole run, at the last half's rate. */
const TOLERANCE_MIB = 32;
/** A device pool may grow by at most this over a whole run, at the last half's rate. */
const POOL_TOLERANCE_MIB = 4;
/** The V8 heap (live JS objects after a GC) may grow by at most this over a whole run, at the last half's rate. */
const HEAP_TOLERANCE_MIB = 8;
const MIB = 1024 * 1024;

type Part = 'train' | 'pipeline' | 'demo';
const PARTS: readonly Part[] = ['train', 'pipeline', 'demo'];

interface Sample {
  /** Step or frame number (completed). */
  x: number;
  /** Seconds since the part started. */
  t: number;
  /** Resident set size in bytes (absent from the demo part's GC samples). */
  rss?: number;
  heapUsed?: number;
  external?: number;
  engine?: MemoryInfo;
}

interface Series {
  name: string;
  /** Bytes or a count. */
  unit: 'bytes' | 'count';
  /** Exact: any change over the last half is growth (engine counters). */
  exact: boolean;
  toleranceBytes?: number;
  value(s: Sample): number | undefined;
}

interface SeriesVerdict {
  name: string;
  unit: 'bytes' | 'count';
  first: number;
  last: number;
  min: number;
  max: number;
  /** Least-squares slope per 1,000 steps or frames over the first and the last half of the samples. */
  slopeFirstPer1000: number;
  slopeLastPer1000: number;
  /** Change over the last half (max − min) for exact series. */
  lastHalfRange: number;
  /** The criterion, in words. */
  criterion: string;
  ok: boolean;
}

interface PartResult {
  part: Part;
  unit: 'steps' | 'frames';
  count: number;
  seconds: number;
  /** ms per step or frame (noisy on a shared machine). */
  msPer: number;
  notes: string[];
  samples: Sample[];
  verdicts: SeriesVerdict[];
  ok: boolean;
}

function fail(msg: string): never {
  process.stderr.write(`soak: ${msg}\n`);
  process.exit(2);
}

function positiveInt(flag: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const x = Number(v);
  if (!(Number.isInteger(x) && x > 0)) fail(`${flag}: expected a positive integer, got '${v}'`);
  return x;
}

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

function sampleSelf(x: number, t0: number): Sample {
  gc();
  const m = process.memoryUsage();
  return { x, t: (performance.now() - t0) / 1000, rss: m.rss, heapUsed: m.heapUsed, external: m.external, engine: memory() };
}

// ------------------------------------------------------------------------------------ analysis

/** Least-squares slope of y over x; 0 with fewer than two points. */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i]! - mx) * (ys[i]! - my);
    sxx += (xs[i]! - mx) ** 2;
  }
  return sxx === 0 ? 0 : sxy / sxx;
}

function judge(samples: readonly Sample[], series: readonly Series[], total: number): SeriesVerdict[] {
  const out: SeriesVerdict[] = [];
  for (const s of series) {
    const pts = samples.map((p) => [p.x, s.value(p)] as const).filter((p): p is readonly [number, number] => p[1] !== undefined);
    if (pts.length < 4) continue;
    const half = Math.floor(pts.length / 2);
    const a = pts.slice(0, half);
    const b = pts.slice(half);
    const ys = pts.map((p) => p[1]);
    const lastYs = b.map((p) => p[1]);
    const slopeFirst = slope(a.map((p) => p[0]), a.map((p) => p[1])) * 1000;
    const slopeLast = slope(b.map((p) => p[0]), b.map((p) => p[1])) * 1000;
    const range = Math.max(...lastYs) - Math.min(...lastYs);
    let ok: boolean;
    let criterion: string;
    if (s.exact) {
      ok = range === 0;
      criterion = 'constant over the last half';
    } else {
      const tol = s.toleranceBytes!;
      ok = (slopeLast * total) / 1000 <= tol;
      criterion = `last-half slope × ${total} ≤ ${tol / MIB} MiB`;
    }
    out.push({ name: s.name, unit: s.unit, first: ys[0]!, last: ys[ys.length - 1]!, min: Math.min(...ys), max: Math.max(...ys), slopeFirstPer1000: slopeFirst, slopeLastPer1000: slopeLast, lastHalfRange: range, criterion, ok });
  }
  return out;
}

function engineSeries(device: DeviceName): Series[] {
  const dev = (s: Sample): MemoryInfo['devices'][DeviceName] => s.engine?.devices[device];
  return [
    { name: 'engine numTensors', unit: 'count', exact: true, value: (s) => s.engine?.numTensors },
    { name: 'engine numBytes', unit: 'bytes', exact: true, value: (s) => s.engine?.numBytes },
    ...(device === 'cpu' ? [] : [{ name: `${device} pooledBytes`, unit: 'bytes' as const, exact: false, toleranceBytes: POOL_TOLERANCE_MIB * MIB, value: (s: Sample) => dev(s)?.pooledBytes }]),
    { name: 'V8 heap used', unit: 'bytes', exact: false, toleranceBytes: HEAP_TOLERANCE_MIB * MIB, value: (s) => s.heapUsed },
    { name: 'process RSS', unit: 'bytes', exact: false, toleranceBytes: TOLERANCE_MIB * MIB, value: (s) => s.rss },
  ];
}

/** The judged series of a part (the demo part has only its child's RSS). */
function seriesFor(part: Part, device: DeviceName): Series[] {
  return part === 'demo'
    ? [
        { name: 'demo V8 heap after mark-compact', unit: 'bytes', exact: false, toleranceBytes: HEAP_TOLERANCE_MIB * MIB, value: (s) => s.heapUsed },
        { name: 'demo process RSS', unit: 'bytes', exact: false, toleranceBytes: TOLERANCE_MIB * MIB, value: (s) => s.rss },
      ]
    : engineSeries(device);
}

// ------------------------------------------------------------------------------------ parts

async function soakTrain(device: DeviceName, steps: number, every: number): Promise<PartResult> {
  const dir = join(WORK, 'synth');
  const t = performance.now();
  const made = ensureSynthPose(dir, SYNTH);
  const notes = [`data: SynthPose ${SYNTH.trainClips}+${SYNTH.valClips} clips of ${SYNTH.frames} frames, ${SYNTH.size.join('x')} (${dir}${made > 0 ? `, generated in ${((performance.now() - t) / 1000).toFixed(1)} s` : ''})`];
  const split = loadSplit(dir);
  const outDir = join(WORK, 'train-out');
  rmSync(outDir, { recursive: true, force: true });
  // steps far beyond stopAfter: the LR schedule stays at its first value, no final evaluation runs
  const cfg = defaultConfig('rpstn', { preset: 'tiny', device, steps: steps * 100, stopAfter: steps, batchSize: 8, evalEvery: 0, checkpointEvery: 0, outDir });
  notes.push(`model: RPSTN tiny, batch ${cfg.batchSize}, ${cfg.recipe.optimizer ?? 'recipe'} lr ${cfg.recipe.lr}, augmentation on, seed ${cfg.seed}`);
  const samples: Sample[] = [];
  let t0 = 0;
  let lastLoss = NaN;
  await train(cfg, { train: split.train, val: split.val, loadFrame: cachedFrameLoader(), dir }, {
    onStart: (info) => {
      notes.push(`${info.samples} training samples, ${info.stepsPerEpoch} steps per epoch (${(steps / info.stepsPerEpoch).toFixed(1)} epochs)`);
      t0 = performance.now();
      samples.push(sampleSelf(0, t0));
    },
    onStep: (s) => {
      lastLoss = s.loss;
      if (s.step % every === 0 || s.step === steps) {
        samples.push(sampleSelf(s.step, t0));
        if (s.step % (every * 10) === 0) progress('train', s.step, steps, samples[samples.length - 1]!, `loss ${s.loss.toFixed(5)}`);
      }
    },
  });
  const seconds = (performance.now() - t0) / 1000;
  notes.push(`final loss ${lastLoss.toFixed(5)}`);
  rmSync(outDir, { recursive: true, force: true });
  return finish('train', 'steps', steps, seconds, notes, samples, seriesFor('train', device));
}

async function soakPipeline(device: DeviceName, frames: number, every: number, refinerName: 'lightning' | 'thunder', batch: number): Promise<PartResult> {
  const detector = await loadShippedMoveNet('multipose').toAsync(device);
  const refiner = await loadShippedMoveNet(refinerName).toAsync(device);
  const pipeline = new MoveNetPipeline(detector, refiner, { detectorMaxSize: 512, minPersonScore: 0.2, cropPadding: 1.25, batchSize: batch });
  const tracker = new PoseTracker({ metric: 'iou' });
  const notes = [`MoveNet MultiPose at 512 px, SinglePose ${refinerName} on 1.25x crops, ${batch} crops per forward, IoU tracker`];
  const samples: Sample[] = [];
  const t0 = performance.now();
  samples.push(sampleSelf(0, t0));
  let i = 0;
  let people = 0;
  let maxPeople = 0;
  const tracks = new Set<number>();
  try {
    for (const [file, take] of clipParts(frames)) {
      notes.push(`${relative(DATA, file)}: ${take} frames`);
      for await (const frame of streamVideo(file, { maxFrames: take })) {
        const found = await pipeline.detect(frame, device);
        const refined = await pipeline.refine(frame, found.map((p) => p.box!), device);
        const tracked = tracker.update(refined.map((p, k) => ({ keypoints: p.keypoints, box: p.box!, score: found[k]!.score })), i);
        for (const p of tracked) tracks.add(p.trackId);
        people += tracked.length;
        maxPeople = Math.max(maxPeople, tracked.length);
        i++;
        if (i % every === 0 || i === frames) {
          samples.push(sampleSelf(i, t0));
          if (i % (every * 10) === 0) progress('pipeline', i, frames, samples[samples.length - 1]!, `${tracked.length} people`);
        }
      }
    }
  } finally {
    detector.dispose();
    refiner.dispose();
  }
  if (i !== frames) throw new Error(`soak: expected ${frames} frames from the clip, got ${i}`);
  const seconds = (performance.now() - t0) / 1000;
  notes.push(`${people} person-frames (at most ${maxPeople} in a frame), ${tracks.size} track ids`);
  return finish('pipeline', 'frames', frames, seconds, notes, samples, seriesFor('pipeline', device));
}

/** The clip's files and how many frames of each, for `frames` frames in all. */
function clipParts(frames: number): [string, number][] {
  const out: [string, number][] = [];
  let left = frames;
  for (const [file, n] of CLIP) {
    if (left === 0) break;
    if (!existsSync(file)) fail(`expected the OpenCV sample video ${file} (apt-get install opencv-doc), got no file`);
    const take = Math.min(n, left);
    out.push([file, take]);
    left -= take;
  }
  if (left > 0) fail(`--frames: expected at most ${frames - left} (the clip's length), got ${frames}`);
  return out;
}

async function soakDemo(device: DeviceName, frames: number, refinerName: 'lightning' | 'thunder', batch: number): Promise<PartResult> {
  const dir = join(WORK, 'demo-frames');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  let start = 1;
  const notes: string[] = [];
  for (const [file, take] of clipParts(frames)) {
    const r = spawnSync('ffmpeg', ['-hide_banner', '-nostdin', '-v', 'error', '-i', file, '-frames:v', String(take), '-vf', 'scale=768:576', '-q:v', '2', '-start_number', String(start), join(dir, '%06d.jpg')], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`soak: ffmpeg could not extract ${file}: ${r.stderr}`);
    notes.push(`${relative(DATA, file)}: ${take} frames, as JPEG at 768x576`);
    start += take;
  }
  const out = join(WORK, 'demo-out');
  rmSync(out, { recursive: true, force: true });
  // --trace-gc: every mark-compact prints the V8 heap it leaves ("Mark-Compact 40.1 (52.3) -> 31.2 (50.8) MB"),
  // the child's live JS heap, free of the garbage its RSS also holds
  const args = ['--trace-gc', '--import', 'tsx', 'cli/demo.ts', '--frames', dir, '--max-frames', String(frames), '--model', refinerName, '--backend', device, '--batch', String(batch), '--out', out];
  notes.push(`node ${args.join(' ')}`);
  const t0 = performance.now();
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' } });
  const samples: Sample[] = [];
  const framesDir = join(out, 'frames');
  const framesDone = (): number => (existsSync(framesDir) ? readdirSync(framesDir).length : 0);
  let stdout = '';
  let pending = '';
  let gcs = 0;
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => {
    pending += c.toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const l of lines) {
      const m = /Mark-Compact(?: \(reduce\))? [\d.]+ \([\d.]+\) -> ([\d.]+) \([\d.]+\) MB/.exec(l);
      if (m) {
        gcs++;
        samples.push({ x: framesDone(), t: (performance.now() - t0) / 1000, heapUsed: Number(m[1]) * 1e6 });
      } else if (!/^\[\d+:0x[0-9a-f]+\]/.test(l)) stdout += `${l}\n`;
    }
  });
  child.stderr.on('data', (c: Buffer) => (stderr = (stderr + c.toString('utf8')).slice(-8192)));
  let peakRss = 0;
  let lastShown = 0;
  const poll = (): void => {
    let status: string;
    try {
      status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
    } catch {
      return; // exited
    }
    const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) * 1024;
    peakRss = Math.max(peakRss, Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024);
    const done = framesDone();
    if (!Number.isFinite(rss)) return;
    const s: Sample = { x: done, t: (performance.now() - t0) / 1000, rss };
    samples.push(s);
    if (done - lastShown >= 100) {
      lastShown = done - (done % 100);
      progress('demo', done, frames, s, '');
    }
  };
  const timer = setInterval(poll, 500);
  const code = await new Promise<number | null>((res) => child.on('close', (c) => res(c)));
  clearInterval(timer);
  const seconds = (performance.now() - t0) / 1000;
  if (code !== 0) throw new Error(`soak: the demo exited with code ${code}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
  const row = stdout.split('\n').find((l) => l.startsWith(device));
  if (row) notes.push(`demo table row: ${row.replace(/\s{2,}/g, ' | ')}`);
  const tracksLine = stdout.split('\n').find((l) => /^\d+ tracks?:/.test(l));
  if (tracksLine) notes.push(`demo: ${tracksLine.split(':')[0]}`);
  notes.push(`child peak RSS (VmHWM) ${(peakRss / MIB).toFixed(0)} MiB, over the whole run including contact sheet and GIF`);
  notes.push(`${gcs} mark-compact GCs in the child (--trace-gc); their heap-after values are the V8 heap series`);
  if (process.env.MALLOC_MMAP_THRESHOLD_) notes.push(`MALLOC_MMAP_THRESHOLD_=${process.env.MALLOC_MMAP_THRESHOLD_} (glibc: large buffers always mmapped, returned at free)`);
  // only the frame loop: samples after the last overlay (contact sheet, GIF) are left out
  const loop = samples.filter((s) => s.x > 0 && s.x < frames);
  rmSync(out, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
  return finish('demo', 'frames', frames, seconds, notes, loop, seriesFor('demo', device));
}

function finish(part: Part, unit: 'steps' | 'frames', count: number, seconds: number, notes: string[], samples: Sample[], series: Series[]): PartResult {
  const verdicts = judge(samples, series, count);
  return { part, unit, count, seconds, msPer: (seconds * 1000) / count, notes, samples, verdicts, ok: verdicts.length > 0 && verdicts.every((v) => v.ok) };
}

function progress(part: string, i: number, n: number, s: Sample, extra: string): void {
  const e = s.engine;
  const pool = e ? Object.entries(e.devices).map(([d, m]) => `${d} pool ${(m!.pooledBytes / MIB).toFixed(1)} MiB`).join(', ') : '';
  console.log(`[${part}] ${i}/${n}  ${s.t.toFixed(0)} s  rss ${((s.rss ?? NaN) / MIB).toFixed(0)} MiB${e ? `  tensors ${e.numTensors}  bytes ${e.numBytes}  ${pool}` : ''}${extra ? `  ${extra}` : ''}`);
}

// ------------------------------------------------------------------------------------ output

function fmtValue(v: number, unit: 'bytes' | 'count'): string {
  return unit === 'bytes' ? `${(v / MIB).toFixed(2)} MiB` : String(Number.isInteger(v) ? v : Number(v.toFixed(2)));
}

function verdictLine(r: PartResult): string {
  const parts = r.verdicts.map((v) => (v.name.startsWith('engine') ? `${v.name} ${v.ok ? `flat at ${fmtValue(v.last, v.unit)}` : `CHANGED by ${fmtValue(v.lastHalfRange, v.unit)} over the last half`}` : `${v.name} ${v.slopeLastPer1000 >= 0 ? '+' : ''}${(v.slopeLastPer1000 / MIB).toFixed(2)} MiB/1000 ${r.unit} (first half ${(v.slopeFirstPer1000 / MIB).toFixed(2)})${v.ok ? '' : ' GROWS'}`));
  return `${r.part}: ${r.ok ? 'no growth' : 'GROWTH'} — ${parts.join('; ')}`;
}

/** A line chart of the MiB series (RSS, V8 heap, engine bytes, device pools) over steps or frames, as SVG. */
function chart(r: PartResult): string {
  const W = 760;
  const H = 420;
  const m = { l: 70, r: 180, t: 30, b: 40 };
  const series: { name: string; colour: string; ys: (number | undefined)[] }[] = [];
  const xs = r.samples.map((s) => s.x);
  const add = (name: string, colour: string, f: (s: Sample) => number | undefined): void => {
    const ys = r.samples.map(f);
    if (ys.some((y) => y !== undefined)) series.push({ name, colour, ys });
  };
  add('RSS', '#d62728', (s) => (s.rss === undefined ? undefined : s.rss / MIB));
  add('V8 heap used', '#1f77b4', (s) => (s.heapUsed === undefined ? undefined : s.heapUsed / MIB));
  add('engine numBytes', '#2ca02c', (s) => (s.engine ? s.engine.numBytes / MIB : undefined));
  for (const d of DEVICES) add(`${d} pooledBytes`, d === 'wasm' ? '#9467bd' : d === 'webgpu' ? '#8c564b' : '#7f7f7f', (s) => (s.engine?.devices[d] && d !== 'cpu' ? s.engine.devices[d]!.pooledBytes / MIB : undefined));
  const all = series.flatMap((s) => s.ys.filter((y): y is number => y !== undefined));
  const yMax = Math.max(1, ...all) * 1.05;
  const xMax = Math.max(1, ...xs);
  const px = (x: number): number => m.l + (x / xMax) * (W - m.l - m.r);
  const py = (y: number): number => H - m.b - (y / yMax) * (H - m.t - m.b);
  const lines: string[] = [];
  lines.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`);
  lines.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  lines.push(`<text x="${m.l}" y="18" font-size="14">${escapeXml(`soak ${r.part}: memory over ${r.count} ${r.unit} (MiB) — ${r.ok ? 'no growth' : 'GROWTH'}`)}</text>`);
  for (let k = 0; k <= 5; k++) {
    const y = (yMax * k) / 5;
    lines.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${py(y).toFixed(1)}" y2="${py(y).toFixed(1)}" stroke="#ddd"/>`);
    lines.push(`<text x="${m.l - 6}" y="${(py(y) + 4).toFixed(1)}" text-anchor="end">${y.toFixed(0)}</text>`);
    const x = (xMax * k) / 5;
    lines.push(`<text x="${px(x).toFixed(1)}" y="${H - m.b + 16}" text-anchor="middle">${x.toFixed(0)}</text>`);
  }
  lines.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 6}" text-anchor="middle">${r.unit}</text>`);
  lines.push(`<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${H - m.b}" stroke="black"/><line x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}" stroke="black"/>`);
  series.forEach((s, k) => {
    const pts = s.ys.map((y, i) => (y === undefined ? null : `${px(xs[i]!).toFixed(1)},${py(y).toFixed(1)}`)).filter(Boolean);
    lines.push(`<polyline fill="none" stroke="${s.colour}" stroke-width="1.5" points="${pts.join(' ')}"/>`);
    lines.push(`<line x1="${W - m.r + 10}" x2="${W - m.r + 30}" y1="${m.t + 10 + k * 18}" y2="${m.t + 10 + k * 18}" stroke="${s.colour}" stroke-width="2"/>`);
    lines.push(`<text x="${W - m.r + 36}" y="${m.t + 14 + k * 18}">${escapeXml(s.name)}</text>`);
  });
  lines.push('</svg>');
  return `${lines.join('\n')}\n`;
}

function markdown(results: readonly PartResult[], config: Record<string, unknown>, machine: Record<string, unknown>): string {
  const out: string[] = ['# Soak run', '', `Config: \`${JSON.stringify(config)}\``, '', `Machine: \`${JSON.stringify(machine)}\` (shared and noisy: timings are indicative only)`, ''];
  out.push('## Verdicts', '');
  for (const r of results) out.push(`- ${verdictLine(r)}`);
  out.push('', `Criteria: engine numTensors and numBytes constant over the last half of the samples; device pools: last-half least-squares slope × run length ≤ ${POOL_TOLERANCE_MIB} MiB; V8 heap: ≤ ${HEAP_TOLERANCE_MIB} MiB; RSS: ≤ ${TOLERANCE_MIB} MiB (docs/memory.md).`, '');
  for (const r of results) {
    out.push(`## ${r.part}`, '', `${r.count} ${r.unit} in ${r.seconds.toFixed(0)} s (${r.msPer.toFixed(0)} ms per ${r.unit === 'steps' ? 'step' : 'frame'}, noisy), ${r.samples.length} samples.`, '');
    for (const n of r.notes) out.push(`- ${n}`);
    out.push('', `![${r.part}](soak-${r.part}.svg)`, '');
    out.push('| series | first | last | min | max | slope first half (/1000) | slope last half (/1000) | criterion | ok |', '|---|---|---|---|---|---|---|---|---|');
    for (const v of r.verdicts) out.push(`| ${v.name} | ${fmtValue(v.first, v.unit)} | ${fmtValue(v.last, v.unit)} | ${fmtValue(v.min, v.unit)} | ${fmtValue(v.max, v.unit)} | ${fmtValue(v.slopeFirstPer1000, v.unit)} | ${fmtValue(v.slopeLastPer1000, v.unit)} | ${v.criterion} | ${v.ok ? 'yes' : '**no**'} |`);
    out.push('');
  }
  return out.join('\n');
}

// ------------------------------------------------------------------------------------ main

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      parts: { type: 'string', default: PARTS.join(',') },
      steps: { type: 'string' },
      frames: { type: 'string' },
      refiner: { type: 'string', default: 'lightning' },
      backend: { type: 'string', default: 'wasm' },
      batch: { type: 'string' },
      every: { type: 'string' },
      out: { type: 'string' },
      rejudge: { type: 'string' },
      work: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log('usage: npx tsx scripts/soak.ts [--parts train,pipeline,demo] [--steps 1000] [--frames 1000] [--refiner lightning|thunder] [--backend wasm|cpu|webgpu] [--batch 8] [--every 10] [--out DIR] [--work DIR]\n       npx tsx scripts/soak.ts --rejudge DIR/soak.json   (recompute the verdicts, soak.md and the charts from saved samples)');
    return;
  }
  if (values.rejudge !== undefined) {
    rejudge(resolve(values.rejudge));
    return;
  }
  const parts = values.parts!.split(',') as Part[];
  for (const p of parts) if (!PARTS.includes(p)) fail(`--parts: expected a list of [${PARTS.join(', ')}], got '${values.parts}'`);
  const device = values.backend as DeviceName;
  if (!(DEVICES as readonly string[]).includes(device)) fail(`--backend: expected one of [${DEVICES.join(', ')}], got '${values.backend}'`);
  const refiner = values.refiner as 'lightning' | 'thunder';
  if (refiner !== 'lightning' && refiner !== 'thunder') fail(`--refiner: expected lightning or thunder, got '${values.refiner}'`);
  const steps = positiveInt('--steps', values.steps, 1000);
  const frames = positiveInt('--frames', values.frames, 1000);
  const batch = positiveInt('--batch', values.batch, DEFAULT_BATCH_SIZE);
  const every = positiveInt('--every', values.every, 10);
  const date = new Date().toISOString().slice(0, 10);
  const outDir = resolve(values.out ?? join(ROOT, 'bench', 'results', `${date}-soak`));
  if (values.work !== undefined) WORK = resolve(values.work);
  mkdirSync(WORK, { recursive: true });
  mkdirSync(outDir, { recursive: true });
  const config = { parts, device, steps, frames, refiner, batch, every, exposeGc: typeof (globalThis as { gc?: unknown }).gc === 'function' };
  const machine = { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', memoryGiB: Number((totalmem() / 1024 ** 3).toFixed(1)), loadavgAtStart: loadavg().map((l) => Number(l.toFixed(2))), node: process.version, date: new Date().toISOString() };
  console.log(`soak: ${JSON.stringify(config)}`);
  if (parts.some((p) => p !== 'demo')) {
    await init(device);
    setDefaultDevice(device);
  }
  const results: PartResult[] = [];
  const write = (): void => {
    writeFileSync(join(outDir, 'soak.json'), `${JSON.stringify({ config, machine: { ...machine, loadavgAtEnd: loadavg().map((l) => Number(l.toFixed(2))) }, results }, null, 1)}\n`);
    for (const r of results) writeFileSync(join(outDir, `soak-${r.part}.svg`), chart(r));
    writeFileSync(join(outDir, 'soak.md'), markdown(results, config, machine));
  };
  for (const p of parts) {
    const r = p === 'train' ? await soakTrain(device, steps, every) : p === 'pipeline' ? await soakPipeline(device, frames, every, refiner, batch) : await soakDemo(device, frames, refiner, batch);
    results.push(r);
    console.log(verdictLine(r));
    write();
  }
  console.log(`\nwrote ${relative(process.cwd(), outDir)}/soak.json, soak.md and ${results.map((r) => `soak-${r.part}.svg`).join(', ')}`);
  for (const r of results) console.log(verdictLine(r));
  process.exitCode = results.every((r) => r.ok) ? 0 : 1;
}

/** Recomputes the verdicts of a saved soak.json with this script's criteria and rewrites it, soak.md and the charts. */
function rejudge(file: string): void {
  if (!existsSync(file)) fail(`--rejudge: expected a soak.json, got no file ${file}`);
  const doc = JSON.parse(readFileSync(file, 'utf8')) as { config: Record<string, unknown> & { device: DeviceName }; machine: Record<string, unknown>; results: PartResult[] };
  const results = doc.results.map((r) => {
    const verdicts = judge(r.samples, seriesFor(r.part, doc.config.device), r.count);
    return { ...r, verdicts, ok: verdicts.length > 0 && verdicts.every((v) => v.ok) };
  });
  const dir = dirname(file);
  writeFileSync(file, `${JSON.stringify({ ...doc, results }, null, 1)}\n`);
  for (const r of results) writeFileSync(join(dir, `soak-${r.part}.svg`), chart(r));
  writeFileSync(join(dir, 'soak.md'), markdown(results, doc.config, doc.machine));
  for (const r of results) console.log(verdictLine(r));
  process.exitCode = results.every((r) => r.ok) ? 0 : 1;
}

await main();
