/**
 * `npm run demo`: top-down video pose estimation on a short clip, on every available backend.
 *
 *   npx tsx cli/demo.ts [--clip bundled] [--frames DIR] [--boxes FILE] [--model rpstn]
 *                       [--preset small|tiny|paper] [--backend cpu|wasm|webgpu|all]
 *                       [--out DIR] [--weights FILE.safetensors] [--seed N]
 *
 * For each window of frames (the model's own grouping: RPSTN reads consecutive, non-overlapping
 * windows of T frames), every person present in the window is cropped with one affine crop shared
 * by all the window's frames: the union of the person's boxes in the window, enlarged by 25% and
 * widened to the input aspect (HRNet's _box2cs). All persons of a window run as one batch. The
 * heatmaps are decoded (RPSTN: plain argmax) and mapped back to image pixels.
 *
 * Writes DIR/keypoints.json (per frame, per person, every joint as x, y in image pixels and a
 * score) and one overlay PNG per frame, from the cpu results when cpu ran (else the first backend
 * that ran). Prints, per backend, the ms per frame (network forward and heatmap read-back, first
 * call included) and the max |Δ| of the heatmaps against cpu.
 *
 * Exit codes: 0 success; 2 a usage or input error (one line on stderr); 1 when no backend could run.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { DeviceName } from '../backends/backend.js';
import { DEVICES } from '../backends/backend.js';
import { engine, init, manualSeed, noGrad, setDefaultDevice, tidy } from '../engine/engine.js';
import { tensor } from '../ops/creation.js';
import { readSafetensors } from '../models/nn/safetensors.js';
import { boxToCenterScale, cropPersonArray, type CenterScale } from '../models/pose/affine.js';
import { decodeArgmax, getFinalPreds, type Keypoint } from '../models/pose/decode.js';
import { drawPose, drawRect } from '../models/pose/draw.js';
import { encodePng, type RgbaImage } from '../models/pose/image.js';
import { CliError, formatTable, loadFrames, parseBoxes, readFileOrFail, runCli, unionBox, type ClipWindow, type FrameBoxes } from './common.js';
import { DEMO_MODELS, type BuiltModel, type DemoModel } from './models.js';

const ROOT = resolve(import.meta.dirname, '..');

/** Clip sources for --clip. A SynthPose source can be added here (frames + boxes from the generator). */
const CLIP_SOURCES: Record<string, { frames: string; boxes: string; note: string }> = {
  bundled: {
    frames: join(ROOT, 'assets', 'demo'),
    boxes: join(ROOT, 'assets', 'demo', 'boxes.json'),
    note: 'OpenCV sample vtest.avi, frames 1-5 (see docs/data.md)',
  },
};

const USAGE = `usage: npx tsx cli/demo.ts [--clip ${Object.keys(CLIP_SOURCES).join('|')}] [--frames DIR] [--boxes FILE] [--model ${Object.keys(DEMO_MODELS).join('|')}] [--preset NAME] [--backend ${DEVICES.join('|')}|all] [--out DIR] [--weights FILE] [--seed N]`;

interface Options {
  framesDir: string;
  boxesFile: string;
  clipNote: string;
  modelName: string;
  model: DemoModel;
  preset: string;
  backends: DeviceName[] | 'all';
  outDir: string;
  weights: string | null;
  seed: number;
}

function parseOptions(argv: string[]): Options | null {
  const { values } = parseArgs({
    args: argv,
    options: {
      clip: { type: 'string' },
      frames: { type: 'string' },
      boxes: { type: 'string' },
      model: { type: 'string', default: 'rpstn' },
      preset: { type: 'string' },
      backend: { type: 'string', default: 'all' },
      out: { type: 'string', default: 'out/demo' },
      weights: { type: 'string' },
      seed: { type: 'string', default: '0' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return null;
  }
  const clipName = values.clip ?? 'bundled';
  const clip = CLIP_SOURCES[clipName];
  if (!clip) throw new CliError(`--clip: expected one of [${Object.keys(CLIP_SOURCES).join(', ')}], got '${clipName}'`);
  const framesDir = resolve(values.frames ?? clip.frames);
  const boxesFile = resolve(values.boxes ?? (values.frames ? join(values.frames, 'boxes.json') : clip.boxes));
  const model = DEMO_MODELS[values.model!];
  if (!model) throw new CliError(`--model: expected one of [${Object.keys(DEMO_MODELS).join(', ')}], got '${values.model}'`);
  const preset = values.preset ?? model.defaultPreset;
  if (!model.presets.includes(preset)) throw new CliError(`--preset: expected one of [${model.presets.join(', ')}] for ${values.model}, got '${preset}'`);
  const b = values.backend!;
  let backends: DeviceName[] | 'all';
  if (b === 'all') backends = 'all';
  else {
    const list = b.split(',');
    for (const d of list) if (!(DEVICES as readonly string[]).includes(d)) throw new CliError(`--backend: expected all or a list of [${DEVICES.join(', ')}], got '${b}'`);
    backends = list as DeviceName[];
  }
  const seed = Number(values.seed);
  if (!Number.isInteger(seed)) throw new CliError(`--seed: expected an integer, got '${values.seed}'`);
  const weights = values.weights ? resolve(values.weights) : null;
  const note = values.frames || values.boxes ? `${framesDir}` : clip.note;
  return { framesDir, boxesFile, clipNote: note, modelName: values.model!, model, preset, backends, outDir: resolve(values.out!), weights, seed };
}

/** One person in one window: the shared crop and the window frames where the person has a box. */
interface Track {
  id: string;
  crop: CenterScale;
  box: [number, number, number, number];
}

interface WindowPlan {
  window: ClipWindow;
  tracks: Track[];
}

/** Persons per window, each with the crop shared by the window's frames. */
function planWindows(boxes: readonly FrameBoxes[], windows: ClipWindow[], built: BuiltModel): WindowPlan[] {
  const aspect = built.inputSize[0] / built.inputSize[1];
  return windows.map((w) => {
    const ids: string[] = [];
    const byId = new Map<string, number[][]>();
    for (const f of w.frames) {
      for (const p of boxes[f]!.persons) {
        if (!byId.has(p.id)) {
          byId.set(p.id, []);
          ids.push(p.id);
        }
        byId.get(p.id)!.push(p.box);
      }
    }
    return {
      window: w,
      tracks: ids.map((id) => {
        const box = unionBox(byId.get(id)!);
        return { id, box, crop: boxToCenterScale(box, aspect, { padding: built.boxPadding }) };
      }),
    };
  });
}

interface BackendRun {
  device: DeviceName;
  /** Heatmaps per window: [persons, outputs, K, h, w] flattened, with the shape. */
  heatmaps: { data: Float32Array; shape: number[] }[];
  msPerFrame: number;
}

async function runOnBackend(device: DeviceName, built: BuiltModel, model: DemoModel, frames: RgbaImage[], plans: WindowPlan[]): Promise<BackendRun> {
  await built.module.toAsync(device);
  setDefaultDevice(device);
  const [W, H] = built.inputSize;
  const heatmaps: BackendRun['heatmaps'] = [];
  let ms = 0;
  let count = 0;
  for (const plan of plans) {
    const P = plan.tracks.length;
    const T = plan.window.frames.length;
    if (P === 0) {
      heatmaps.push({ data: new Float32Array(0), shape: [0] });
      continue;
    }
    // crops on the host (outside the timed section), stacked as [P, T, 3, H, W]
    const plane = 3 * H * W;
    const host = new Float32Array(P * T * plane);
    plan.tracks.forEach((tr, p) => {
      plan.window.frames.forEach((f, t) => host.set(cropPersonArray(frames[f]!, tr.crop, built.inputSize), (p * T + t) * plane));
    });
    const t0 = performance.now();
    const out = noGrad(() => tidy(() => model.run(built, tensor(host, { shape: [P, T, 3, H, W], device }))));
    const data = (await out.data()) as Float32Array;
    ms += performance.now() - t0;
    count += plan.window.outputs.length;
    heatmaps.push({ data: Float32Array.from(data), shape: [...out.shape] });
    out.dispose();
  }
  return { device, heatmaps, msPerFrame: ms / Math.max(1, count) };
}

function maxAbs(a: BackendRun): number {
  let m = 0;
  for (const h of a.heatmaps) for (const v of h.data) m = Math.max(m, Math.abs(v));
  return m;
}

function maxAbsDiff(a: BackendRun, b: BackendRun): number {
  let m = 0;
  a.heatmaps.forEach((h, i) => {
    const o = b.heatmaps[i]!.data;
    for (let j = 0; j < h.data.length; j++) {
      const d = Math.abs(h.data[j]! - o[j]!);
      if (Number.isNaN(d)) m = NaN; // a NaN on either side is reported, never hidden
      else if (d > m) m = d;
    }
  });
  return m;
}

interface PersonResult {
  id: string;
  box: number[];
  keypoints: (Keypoint & { name: string })[];
}

/** Decodes one backend's heatmaps into per-frame, per-person keypoints in image pixels. */
function decodeRun(run: BackendRun, built: BuiltModel, boxes: readonly FrameBoxes[], plans: WindowPlan[]): PersonResult[][] {
  const perFrame: PersonResult[][] = boxes.map(() => []);
  plans.forEach((plan, wi) => {
    const { data, shape } = run.heatmaps[wi]!;
    if (plan.tracks.length === 0) return;
    const [P, O, K, h, w] = shape as [number, number, number, number, number];
    plan.window.outputs.forEach((frame, o) => {
      // the [P, K, h, w] heatmaps of output slot o
      const slice = new Float32Array(P * K * h * w);
      for (let p = 0; p < P; p++) slice.set(data.subarray(((p * O + o) * K) * h * w, ((p * O + o + 1) * K) * h * w), p * K * h * w);
      const crops = plan.tracks.map((t) => t.crop);
      const kps = built.decode === 'argmax' ? decodeArgmax(slice, [P, K, h, w], { crops }) : getFinalPreds(slice, [P, K, h, w], { crops });
      plan.tracks.forEach((t, p) => {
        const own = boxes[frame]!.persons.find((q) => q.id === t.id);
        if (!own) return; // the person has no box in this frame: no prediction reported
        perFrame[frame]!.push({ id: t.id, box: own.box, keypoints: kps[p]!.map((k, j) => ({ name: built.jointSet.names[j]!, x: round(k.x), y: round(k.y), score: Number(k.score.toPrecision(6)) })) });
      });
    });
  });
  return perFrame;
}

/** JSON with one line per person (the joints of a person stay together), valid and diff-friendly. */
function formatKeypointsJson(doc: Record<string, unknown> & { frames: { file: string; persons: PersonResult[] }[] }): string {
  const head = Object.entries(doc).filter(([k]) => k !== 'frames').map(([k, v]) => `  ${JSON.stringify(k)}: ${JSON.stringify(v)}`);
  const frames = doc.frames.map((f) => {
    const persons = f.persons.map((p) => `      ${JSON.stringify(p)}`).join(',\n');
    return `    {"file": ${JSON.stringify(f.file)}, "persons": [${persons ? `\n${persons}\n    ` : ''}]}`;
  });
  return `{\n${head.join(',\n')},\n  "frames": [\n${frames.join(',\n')}\n  ]\n}\n`;
}

function round(v: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  if (!opts) return;
  const boxText = readFileOrFail(opts.boxesFile, 'box file').toString('utf8');
  const boxes = parseBoxes(boxText, opts.boxesFile);
  const frames = loadFrames(opts.framesDir, boxes);

  manualSeed(opts.seed);
  const built = opts.model.build(opts.preset);
  built.module.eval();
  let weightsNote: string;
  if (opts.weights) {
    const bytes = readFileOrFail(opts.weights, 'weights file');
    let file;
    try {
      file = readSafetensors(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    } catch (e) {
      throw new CliError(`${opts.weights}: ${(e as Error).message}`);
    }
    let dropped: string[];
    try {
      dropped = opts.model.loadWeights(built, file.tensors);
    } catch (e) {
      throw new CliError(`${opts.weights}: ${(e as Error).message}`);
    }
    weightsNote = `weights: ${opts.weights}${dropped.length ? ` (${dropped.length} unused official keys dropped)` : ''}`;
  } else {
    weightsNote = `weights: UNTRAINED (random, seed ${opts.seed}); the keypoints it writes are not meaningful. Pass --weights FILE.safetensors for a trained network.`;
  }

  const windows = opts.model.windows(built, frames.length);
  const plans = planWindows(boxes, windows, built);
  const persons = plans.reduce((s, p) => s + p.tracks.length * p.window.frames.length, 0);
  console.log(`clip: ${opts.clipNote}: ${frames.length} frames of ${frames[0]!.width}x${frames[0]!.height}, ${persons} person-frames in ${windows.length} window(s)`);
  console.log(`model: ${built.summary}`);
  console.log(weightsNote);

  const wanted = opts.backends === 'all' ? engine.registeredBackends() : opts.backends;
  const runs: BackendRun[] = [];
  const failures: [DeviceName, string][] = [];
  for (const device of wanted) {
    try {
      await init(device);
    } catch (e) {
      const msg = (e as Error).message;
      console.log(`backend ${device}: cannot start: ${msg}`);
      failures.push([device, msg]);
      continue;
    }
    try {
      runs.push(await runOnBackend(device, built, opts.model, frames, plans));
    } catch (e) {
      const msg = (e as Error).message;
      console.log(`backend ${device}: failed while running: ${msg}`);
      failures.push([device, msg]);
    }
  }
  await built.module.toAsync('cpu');
  setDefaultDevice('cpu');

  const ref = runs.find((r) => r.device === 'cpu');
  // Untrained heatmaps can be tiny (eval-mode BN with fresh statistics), so the relative error is shown too.
  const scale = ref ? maxAbs(ref) : 0;
  const rows = runs.map((r) => {
    if (r === ref) return [r.device, r.msPerFrame.toFixed(1), '0 (reference)', `max |heatmap| ${scale.toExponential(2)}`];
    if (!ref) return [r.device, r.msPerFrame.toFixed(1), 'n/a (cpu did not run)', ''];
    const d = maxAbsDiff(r, ref);
    return [r.device, r.msPerFrame.toFixed(1), d.toExponential(2), scale > 0 ? (d / scale).toExponential(2) : 'n/a'];
  });
  for (const [d, msg] of failures) rows.push([d, 'failed', msg.length > 70 ? `${msg.slice(0, 67)}...` : msg, '']);
  console.log('');
  console.log(formatTable(['backend', 'ms/frame (all persons)', 'max |Δ| heatmaps vs cpu', 'relative to max |heatmap|'], rows));
  if (runs.length === 0) throw new CliError('no backend could run (see the messages above)', 1);

  const source = ref ?? runs[0]!;
  const results = decodeRun(source, built, boxes, plans);
  mkdirSync(opts.outDir, { recursive: true });
  const doc = {
    model: opts.modelName,
    preset: opts.preset,
    weights: opts.weights ?? `untrained (seed ${opts.seed})`,
    backend: source.device,
    jointSet: built.jointSet.name,
    joints: built.jointSet.names,
    decode: built.decode,
    coordinates: 'image pixels of each frame (x right, y down); score = heatmap maximum',
    frames: boxes.map((f, i) => ({ file: f.file, persons: results[i]! })),
  };
  writeFileSync(join(opts.outDir, 'keypoints.json'), formatKeypointsJson(doc));
  frames.forEach((img, i) => {
    const canvas: RgbaImage = { ...img, data: img.data.slice() };
    for (const p of results[i]!) {
      drawRect(canvas, p.box, [255, 255, 0], 1, 0.6);
      drawPose(canvas, p.keypoints, built.jointSet, { thickness: 2, radius: 2 });
    }
    writeFileSync(join(opts.outDir, `${basename(boxes[i]!.file, extname(boxes[i]!.file))}.png`), encodePng(canvas));
  });
  console.log(`\nwrote ${join(opts.outDir, 'keypoints.json')} and ${frames.length} overlay PNGs (from the ${source.device} results)`);
}

await runCli('demo', main);
