/**
 * `npm run demo`: pose estimation on real video, on every available backend.
 *
 *   npx tsx cli/demo.ts [--clip bundled|synth | --frames DIR | --video FILE] [--boxes FILE]
 *                       [--model thunder|lightning|multipose|rpstn|fasrnet|vremd|glpose]
 *                       [--backend cpu|wasm|webgpu|all] [--out DIR] [--max-frames N]
 *                       [--detector-size PX] [--min-score S] [--fps N]
 *                       [--track iou|oks] [--cpu-frames N] [--batch N]
 *                       [--preset small|tiny|paper|real] [--weights FILE|none] [--seed N] [--flip]
 *
 * Default (`--model thunder`): Google's pretrained MoveNet. MultiPose finds the people of each frame
 * (input 512 px on the longer side: at 384 a 57-px pedestrian of the bundled clip scores 0.18 in one
 * frame and is lost; at 512 every pedestrian scores >= 0.32), a greedy IoU tracker gives them ids
 * (`--track oks` for OKS: at 10 fps a walker's scissoring legs drop OKS between frames to 0.19, under
 * its 0.2 threshold, and the track splits; box IoU stays above 0.5), and SinglePose Thunder estimates each person on a crop
 * (cli/demo-movenet.ts). `--model lightning` uses SinglePose Lightning instead, `--model multipose`
 * MultiPose's own keypoints. No box file is needed; `--boxes FILE` replaces detection and tracking.
 *
 * Frames: the bundled clip (OpenCV's vtest pedestrians, assets/demo), `--frames DIR` (every .jpg,
 * .jpeg and .png of the folder, in natural order) or `--video FILE` (decoded with ffmpeg, at most
 * `--max-frames` frames, default 48, downscaled to at most 960 px wide).
 *
 * `--model rpstn|fasrnet|vremd|glpose` runs one of the four papers' networks instead, top-down on
 * the person boxes: the box file's (the bundled clip has one) or, without one, MultiPose's tracked
 * detections. Their weights: `--weights FILE` loads a checkpoint into the model's own preset; without
 * --weights the demo loads the SynthPose weights shipped in assets/weights when there are some for
 * the model and preset (models/train/weights.ts), else the network keeps its random initialization
 * (`--weights none` forces that) and the demo says that its keypoints are not meaningful. `--clip
 * synth` is a held-out SynthPose clip (assets/synth) whose keypoints are scored against its ground
 * truth (poseval mAP on all, hard = occluded or blurred, and clean frames). For each window of frames
 * every person is cropped with one affine crop shared by the window's frames (the union of the
 * person's boxes, enlarged by 25% and widened to the input aspect, HRNet's _box2cs); the heatmaps are
 * decoded and mapped back to image pixels; keypoints.json and one overlay PNG per frame are written.
 * `--flip` adds the flip test to a paper network (HRNet's: the mirrored crops' heatmaps, mirrored
 * back with left/right swapped and shifted one pixel, averaged with the plain ones; cli/models.ts
 * `runDemoModel`).
 *
 * Memory (docs/memory.md): `--batch N` (default 8) runs at most N persons per forward, MoveNet's
 * SinglePose crops of a frame as the papers' networks' persons of a window; each batch runs in its
 * own `tidy` and is read back before the next, so device memory is bounded by one batch (2,000
 * boxes in one window once took 13.9 GB when they ran as one batch). The keypoints do not depend on
 * N. Frames are decoded when needed (a small cache) and dropped, never held for the whole clip
 * (a `--video` is streamed by ffmpeg, cli/video.ts streamVideo, and read again from the start when
 * an older frame is needed); a paper
 * network's heatmaps are compared across backends and decoded in segments of at most
 * SEGMENT_PERSON_OUTPUTS person-frames, then dropped; overlays are written one at a time.
 *
 * Exit codes: 0 success; 2 a usage or input error (one line on stderr); 1 when no backend could run.
 */
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, extname, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { DeviceName } from '../backends/backend.js';
import { DEVICES } from '../backends/backend.js';
import { engine, init, manualSeed, noGrad, setDefaultDevice, tidy } from '../engine/engine.js';
import { tensor } from '../ops/creation.js';
import { readSafetensors, type HostTensor } from '../models/nn/safetensors.js';
import { detectFormat, extractStateDict, loadPth } from '../models/nn/checkpoint/index.js';
import { boxToCenterScale, cropPersonArray, type CenterScale } from '../models/pose/affine.js';
import { decodeArgmax, getFinalPreds, type Keypoint } from '../models/pose/decode.js';
import { drawPose, drawRect } from '../models/pose/draw.js';
import { decodeImage, encodePng, type RgbaImage } from '../models/pose/image.js';
import type { PosevalPredPerson } from '../models/pose/metrics/poseval.js';
import { scorePredictions, type EvalResult } from '../models/train/evaluate.js';
import { loadSynthDemoClip } from '../models/train/weights.js';
import { CliError, formatTable, parseBoxes, readFileOrFail, runCli, unionBox, type ClipWindow, type FrameBoxes } from './common.js';
import { loadShippedMoveNet, runMoveNetDemo, type FrameSource } from './demo-movenet.js';
import { listFrameFiles, streamVideo, type VideoFrame } from './video.js';
import { batchRanges, DEFAULT_BATCH_SIZE, MoveNetPipeline } from '../models/movenet/pipeline.js';
import { PoseTracker } from '../models/pose/track.js';
import { buildShipped, DEMO_MODELS, runDemoModel, shippedPresets, type BuiltModel, type DemoModel } from './models.js';
import { loadShippedRealHeadInto, type RealHeadName } from '../models/real-weights.js';

const ROOT = resolve(import.meta.dirname, '..');

/**
 * Clip sources for --clip. `groundTruth`: a folder with the clip's PoseTrack annotations.json
 * (read by loadSynthDemoClip), whose frames are the box file's frames in the same order.
 */
const CLIP_SOURCES: Record<string, { frames: string; boxes: string; note: string; groundTruth?: string }> = {
  bundled: {
    frames: join(ROOT, 'assets', 'demo'),
    boxes: join(ROOT, 'assets', 'demo', 'boxes.json'),
    note: 'OpenCV sample vtest.avi, frames 1-5 (see docs/data.md)',
  },
  synth: {
    frames: join(ROOT, 'assets', 'synth'),
    boxes: join(ROOT, 'assets', 'synth', 'boxes.json'),
    note: 'SynthPose validation clip 35, frames 8-19, held out from training (models/train/make-synth-clip.ts)',
    groundTruth: join(ROOT, 'assets', 'synth'),
  },
};

const MOVENET_MODELS = ['thunder', 'lightning', 'multipose'] as const;
type MoveNetModel = (typeof MOVENET_MODELS)[number];
const ALL_MODELS = [...MOVENET_MODELS, ...Object.keys(DEMO_MODELS)];

const USAGE = `usage: npx tsx cli/demo.ts [--clip ${Object.keys(CLIP_SOURCES).join('|')} | --frames DIR | --video FILE] [--boxes FILE] [--model ${ALL_MODELS.join('|')}] [--backend ${DEVICES.join('|')}|all] [--out DIR] [--max-frames N] [--detector-size PX] [--min-score S] [--fps N] [--track iou|oks] [--cpu-frames N] [--batch N] [--preset NAME] [--weights FILE|none] [--seed N] [--flip]

Default: MoveNet MultiPose finds and tracks the people, SinglePose Thunder estimates each one (pretrained, Apache-2.0).
--model rpstn|fasrnet|vremd|glpose: one of the papers' networks on the person boxes; by default --preset real: the frozen pretrained MoveNet Lightning with the network's head trained on real video (assets/weights/<model>-real); --clip synth defaults to the shipped SynthPose weights; --weights FILE loads others; --weights none keeps the initialization (real: a copy of MoveNet's heatmaps).
--batch N: persons per forward (default ${DEFAULT_BATCH_SIZE}): the persons of a frame (MoveNet) or of a window (the papers' networks) run in batches of at most N, each freed before the next, so memory is bounded by one batch; the keypoints do not depend on N.`;

interface Options {
  /** Where the frames come from. */
  source: { kind: 'clip'; name: string } | { kind: 'frames'; dir: string } | { kind: 'video'; file: string };
  /** The frames folder of a clip or of --frames. */
  framesDir: string | null;
  /** A box file: --boxes, a clip's own (paper networks), or DIR/boxes.json (paper networks); null: detect. */
  boxesFile: string | null;
  clipNote: string;
  modelName: string;
  /** The paper network's registry entry; null for MoveNet. */
  model: DemoModel | null;
  preset: string;
  backends: DeviceName[] | 'all';
  outDir: string;
  /** A checkpoint for the model's own preset (--weights FILE). */
  weights: string | null;
  /** Load the shipped SynthPose weights (no --weights, and some are shipped for the model and preset). */
  shipped: boolean;
  /** `--preset real` with the shipped trained head (assets/weights/<model>-real), not `--weights none`. */
  realHead?: boolean;
  seed: number;
  /** The folder of the clip's ground truth, when the clip has one and --frames/--boxes did not replace it. */
  groundTruth: string | null;
  /** The flip test for a paper network (--flip). */
  flip: boolean;
  maxFrames: number;
  cpuFrames: number;
  track: 'oks' | 'iou';
  detectorSize: number;
  minScore: number;
  fps: number;
  /** Persons per forward (--batch). */
  batch: number;
}

function positive(flag: string, v: string | undefined, dflt: number, integer: boolean): number {
  if (v === undefined) return dflt;
  const x = Number(v);
  if (!(Number.isFinite(x) && x > 0 && (!integer || Number.isInteger(x)))) throw new CliError(`${flag}: expected a positive ${integer ? 'integer' : 'number'}, got '${v}'`);
  return x;
}

function parseOptions(argv: string[]): Options | null {
  const { values } = parseArgs({
    args: argv,
    options: {
      clip: { type: 'string' },
      frames: { type: 'string' },
      video: { type: 'string' },
      boxes: { type: 'string' },
      model: { type: 'string', default: 'thunder' },
      preset: { type: 'string' },
      backend: { type: 'string', default: 'all' },
      out: { type: 'string', default: 'out/demo' },
      weights: { type: 'string' },
      seed: { type: 'string', default: '0' },
      'max-frames': { type: 'string' },
      'detector-size': { type: 'string' },
      'min-score': { type: 'string' },
      fps: { type: 'string' },
      'cpu-frames': { type: 'string' },
      batch: { type: 'string' },
      track: { type: 'string' },
      flip: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return null;
  }
  const sources = [values.clip !== undefined, values.frames !== undefined, values.video !== undefined].filter(Boolean).length;
  if (sources > 1) throw new CliError('expected at most one of --clip, --frames and --video, got several');
  const modelName = values.model!;
  const isMoveNet = (MOVENET_MODELS as readonly string[]).includes(modelName);
  const model = isMoveNet ? null : DEMO_MODELS[modelName];
  if (!isMoveNet && !model) throw new CliError(`--model: expected one of [${ALL_MODELS.join(', ')}], got '${modelName}'`);

  let source: Options['source'];
  let framesDir: string | null = null;
  let boxesFile: string | null = values.boxes ? resolve(values.boxes) : null;
  let clipNote: string;
  let groundTruth: string | null = null;
  const clipName = values.clip ?? 'bundled';
  if (values.video !== undefined) {
    source = { kind: 'video', file: resolve(values.video) };
    clipNote = resolve(values.video);
  } else if (values.frames !== undefined) {
    framesDir = resolve(values.frames);
    source = { kind: 'frames', dir: framesDir };
    clipNote = framesDir;
    // a paper network keeps reading DIR/boxes.json when there is one (MoveNet detects unless --boxes)
    if (!boxesFile && !isMoveNet && existsSync(join(framesDir, 'boxes.json'))) boxesFile = join(framesDir, 'boxes.json');
  } else {
    const clip = CLIP_SOURCES[clipName];
    if (!clip) throw new CliError(`--clip: expected one of [${Object.keys(CLIP_SOURCES).join(', ')}], got '${clipName}'`);
    source = { kind: 'clip', name: clipName };
    framesDir = clip.frames;
    clipNote = clip.note;
    if (!boxesFile && !isMoveNet) boxesFile = clip.boxes;
    if (values.boxes === undefined && !isMoveNet && clip.groundTruth) groundTruth = clip.groundTruth;
  }

  const untrained = values.weights === 'none';
  const weights = values.weights && !untrained ? resolve(values.weights) : null;
  if (isMoveNet && (values.weights !== undefined || values.preset !== undefined)) throw new CliError(`--weights and --preset are for the papers' networks; MoveNet ${modelName} uses its pretrained weights (assets/weights/movenet)`);
  if (isMoveNet && values.flip) throw new CliError(`--flip is for the papers' networks (--model ${Object.keys(DEMO_MODELS).join('|')}), not MoveNet ${modelName}`);
  const shipped = !isMoveNet && weights === null && !untrained ? shippedPresets(modelName) : [];
  let preset = '';
  if (model) {
    // the held-out SynthPose clip defaults to the preset that has trained weights
    // real frames default to the `real` preset (MoveNet backbone + the shipped trained head)
    preset = values.preset ?? (source.kind === 'clip' && clipName === 'synth' && shipped.length > 0 ? shipped[0]! : weights === null && !untrained && model.presets.includes('real') ? 'real' : model.defaultPreset);
    const presets = [...new Set([...model.presets, ...shipped])];
    if (!presets.includes(preset)) throw new CliError(`--preset: expected one of [${presets.join(', ')}] for ${modelName}${untrained || weights ? ' (own presets; the shipped weights are not used with --weights)' : ''}, got '${preset}'`);
  }
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
  const detectorSize = positive('--detector-size', values['detector-size'], 512, true);
  const cpuFrames = values['cpu-frames'] === '0' ? 0 : positive('--cpu-frames', values['cpu-frames'], 1, true);
  const track = values.track ?? 'iou';
  if (track !== 'iou' && track !== 'oks') throw new CliError(`--track: expected iou or oks, got '${track}'`);
  if (detectorSize % 32 !== 0) throw new CliError(`--detector-size: expected a multiple of 32 (MultiPose's input), got ${detectorSize}`);
  const minScore = positive('--min-score', values['min-score'], 0.2, false);
  return {
    source,
    framesDir,
    boxesFile,
    clipNote,
    modelName,
    model: model ?? null,
    preset,
    backends,
    outDir: resolve(values.out!),
    weights,
    shipped: shipped.includes(preset),
    realHead: preset === 'real' && weights === null && !untrained,
    seed,
    groundTruth,
    flip: values.flip ?? false,
    maxFrames: positive('--max-frames', values['max-frames'], 48, true),
    cpuFrames,
    track,
    detectorSize,
    minScore,
    fps: positive('--fps', values.fps, 10, false),
    batch: positive('--batch', values.batch, DEFAULT_BATCH_SIZE, true),
  };
}

/** Decoded frames kept by a FrameSource over files (least recently used out): windows and backends re-read a few. */
const FRAME_CACHE = 16;

/** The widest video frame the demo decodes, in pixels: wider videos are downscaled (keeping the aspect ratio). */
const VIDEO_MAX_WIDTH = 960;

/**
 * A FrameSource over a video decoded by ffmpeg as a stream (cli/video.ts streamVideo: at most
 * `maxFrames` frames, at most VIDEO_MAX_WIDTH pixels wide) that holds at most FRAME_CACHE decoded
 * frames, however long the clip. A first decoding pass counts the frames (keeping the first
 * FRAME_CACHE, dropping the others as they come); get(i) then reads the stream forward to frame i,
 * keeping the last FRAME_CACHE frames read, and starts a new ffmpeg from the beginning when asked
 * for an older frame than those (the overlay pass after detection; a window network's next backend):
 * decoding costs about 2 ms per 768x576 frame, little next to the networks. Calls to get() are
 * served one at a time, in call order.
 * @throws CliError from streamVideo (no ffmpeg, not a video, ffmpeg failing), or when decoding again
 *   gives fewer frames than the first pass.
 */
async function videoSource(file: string, maxFrames: number): Promise<FrameSource> {
  const opts = { maxFrames, scale: VIDEO_MAX_WIDTH };
  const cache = new Map<number, RgbaImage>();
  const keep = (f: VideoFrame): RgbaImage => {
    const img: RgbaImage = { width: f.width, height: f.height, channels: 4, data: f.data };
    cache.delete(f.index);
    cache.set(f.index, img);
    if (cache.size > FRAME_CACHE) cache.delete(cache.keys().next().value!);
    return img;
  };
  let length = 0;
  let width = 0;
  let height = 0;
  for await (const f of streamVideo(file, opts)) {
    if (f.index === 0) [width, height] = [f.width, f.height];
    if (f.index < FRAME_CACHE) keep(f);
    length++;
  }
  let stream: AsyncGenerator<VideoFrame, void, undefined> | null = null;
  /** The index of the frame `stream` yields next. */
  let next = 0;
  const stop = async (): Promise<void> => {
    const s = stream;
    stream = null;
    await s?.return(); // kills ffmpeg and waits for it
  };
  const read = async (i: number): Promise<RgbaImage> => {
    if (!(Number.isInteger(i) && i >= 0 && i < length)) throw new Error(`FrameSource.get: expected a frame index in [0, ${length}), got ${i}`);
    const hit = cache.get(i);
    if (hit) {
      cache.delete(i);
      cache.set(i, hit);
      return hit;
    }
    if (stream === null || next > i) {
      await stop();
      stream = streamVideo(file, opts);
      next = 0;
    }
    try {
      for (;;) {
        const r = await stream.next();
        if (r.done) throw new CliError(`${file}: expected ${length} frames (counted by the first decoding pass), got ${next} when decoding it again`);
        next = r.value.index + 1;
        if (r.value.index === i) return keep(r.value);
        if (r.value.index > i - FRAME_CACHE) keep(r.value); // frames skipped on the way are dropped
      }
    } catch (e) {
      await stop();
      throw e;
    }
  };
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(f: () => Promise<T>): Promise<T> => {
    const p = queue.then(f);
    queue = p.catch(() => undefined);
    return p;
  };
  return { length, width, height, get: (i) => serial(() => read(i)), close: () => serial(stop) };
}

/**
 * A FrameSource over image files (`paths`), decoded when asked for and kept in a FRAME_CACHE-frame
 * LRU cache. The first frame is decoded now: its size is every frame's.
 * @throws CliError "frame not found: PATH" now for any missing file; "PATH: <decoder message>" or
 *   "PATH: expected a frame of WxH (the size of the first frame), got ..." when a frame is read.
 */
function fileSource(paths: readonly string[]): FrameSource {
  for (const p of paths) if (!existsSync(p)) throw new CliError(`frame not found: ${p}`);
  const cache = new Map<number, RgbaImage>();
  const decode = (i: number): RgbaImage => {
    const path = paths[i];
    if (path === undefined) throw new Error(`FrameSource.get: expected a frame index in [0, ${paths.length}), got ${i}`);
    const bytes = readFileOrFail(path, 'frame');
    try {
      return decodeImage(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    } catch (e) {
      throw new CliError(`${path}: ${(e as Error).message}`);
    }
  };
  const first = decode(0);
  const source: FrameSource = {
    length: paths.length,
    width: first.width,
    height: first.height,
    async get(i) {
      const hit = cache.get(i);
      if (hit) {
        cache.delete(i);
        cache.set(i, hit);
        return hit;
      }
      const img = i === 0 ? first : decode(i);
      if (img.width !== source.width || img.height !== source.height) throw new CliError(`${paths[i]}: expected a frame of ${source.width}x${source.height} (the size of the first frame), got ${img.width}x${img.height}`);
      cache.set(i, img);
      if (cache.size > FRAME_CACHE) cache.delete(cache.keys().next().value!);
      return img;
    },
  };
  return source;
}

/** The frames and their names: the box file's frames when there is one, else the folder's or the video's. */
async function loadInput(opts: Options): Promise<{ frames: FrameSource; names: string[]; boxes: FrameBoxes[] | null; videoName: string }> {
  if (opts.boxesFile) {
    if (opts.source.kind === 'video') throw new CliError('--boxes with --video: expected the boxes of a frames folder (--frames DIR), got a video; drop --boxes to detect the people');
    const boxes = parseBoxes(readFileOrFail(opts.boxesFile, 'box file').toString('utf8'), opts.boxesFile);
    const dir = opts.framesDir!;
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new CliError(`frames directory not found: ${dir}`);
    if (boxes.length === 0) throw new CliError(`${opts.boxesFile}: expected at least one frame, got none`);
    return { frames: fileSource(boxes.map((f) => join(dir, f.file))), names: boxes.map((f) => f.file), boxes, videoName: basename(dir) };
  }
  if (opts.source.kind === 'video') {
    const frames = await videoSource(opts.source.file, opts.maxFrames);
    return { frames, names: Array.from({ length: frames.length }, (_, i) => `${String(i + 1).padStart(6, '0')}.png`), boxes: null, videoName: basename(opts.source.file, extname(opts.source.file)) };
  }
  const dir = opts.framesDir!;
  const names = listFrameFiles(dir).filter((f) => f !== 'boxes.json').slice(0, opts.maxFrames);
  return { frames: fileSource(names.map((f) => join(dir, f))), names, boxes: null, videoName: basename(dir) };
}

/**
 * Person boxes for a paper network when no box file is given: MoveNet MultiPose's detections,
 * tracked by OKS (on the first backend that starts).
 */
async function detectBoxes(frames: FrameSource, names: string[], opts: Options, devices: DeviceName[]): Promise<FrameBoxes[]> {
  let device: DeviceName | null = null;
  for (const d of devices) {
    try {
      await init(d);
      device = d;
      break;
    } catch {
      /* the next one */
    }
  }
  if (!device) throw new CliError('no backend could run MoveNet MultiPose to find the people', 1);
  const detector = await loadShippedMoveNet('multipose').toAsync(device);
  try {
    const pipeline = new MoveNetPipeline(detector, null, { detectorMaxSize: opts.detectorSize, minPersonScore: opts.minScore });
    const tracker = new PoseTracker({ metric: opts.track });
    const out: FrameBoxes[] = [];
    for (let i = 0; i < frames.length; i++) {
      const people = await pipeline.detect(await frames.get(i), device);
      const tracked = tracker.update(people.map((p) => ({ keypoints: p.keypoints, box: p.box!, score: p.score })), i);
      out.push({ file: names[i]!, persons: tracked.map((p) => ({ id: String(p.trackId), box: [...p.box] as [number, number, number, number] })) });
    }
    console.log(`persons: MoveNet MultiPose (${device}), tracked: ${out.reduce((s, f) => s + f.persons.length, 0)} boxes in ${frames.length} frames`);
    return out;
  } finally {
    detector.dispose();
  }
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

/**
 * Person-frames (the heatmaps of one person in one output frame) per segment: the papers' networks
 * run a segment of batches on every backend, compare and decode its heatmaps, and drop them before
 * the next segment, so the host holds at most about this many heatmaps per backend, however long
 * the clip. With several backends the network moves between them once per segment.
 */
const SEGMENT_PERSON_OUTPUTS = 256;

/** One forward: the persons [p0, p1) of a window's tracks (at most --batch of them). */
interface BatchItem {
  plan: WindowPlan;
  p0: number;
  p1: number;
}

/**
 * Every window's persons in batches of at most `batch`, in window order, grouped into segments of
 * at most SEGMENT_PERSON_OUTPUTS person-frames (a segment has at least one batch).
 */
function planSegments(plans: readonly WindowPlan[], batch: number): BatchItem[][] {
  const segments: BatchItem[][] = [];
  let cur: BatchItem[] = [];
  let size = 0;
  for (const plan of plans) {
    for (const [p0, p1] of batchRanges(plan.tracks.length, batch)) {
      const n = (p1 - p0) * plan.window.outputs.length;
      if (cur.length > 0 && size + n > SEGMENT_PERSON_OUTPUTS) {
        segments.push(cur);
        cur = [];
        size = 0;
      }
      cur.push({ plan, p0, p1 });
      size += n;
    }
  }
  if (cur.length > 0) segments.push(cur);
  return segments;
}

/** What one backend did over the clip. */
interface BackendStats {
  device: DeviceName;
  /** Forward + read-back time in ms, and the output frames it covered. */
  ms: number;
  outputs: number;
  /** Largest |heatmap| (used for the cpu reference's scale) and largest |Δ| against the cpu heatmaps. */
  maxAbs: number;
  maxDiff: number;
  /** The message when the backend failed while running; it then takes no further part. */
  failed: string | null;
}

/** The heatmaps of one batch, [b, outputs, K, h, w] flattened, with the shape. */
interface BatchHeatmaps {
  data: Float32Array;
  shape: number[];
}

/**
 * Runs one batch (persons p0..p1 of a window) on `device`: the host crops [b, T, 3, H, W], the
 * forward under noGrad in its own tidy, the heatmaps read back. Every device tensor of the batch is
 * freed before it returns (also when the forward throws).
 * @returns the heatmaps and the forward + read-back time in ms.
 */
async function runBatch(device: DeviceName, built: BuiltModel, model: DemoModel, frames: FrameSource, item: BatchItem, flip: boolean): Promise<{ heatmaps: BatchHeatmaps; ms: number }> {
  const [W, H] = built.inputSize;
  const { plan, p0, p1 } = item;
  const b = p1 - p0;
  const T = plan.window.frames.length;
  const plane = 3 * H * W;
  // crops on the host (outside the timed section)
  const host = new Float32Array(b * T * plane);
  const imgs: RgbaImage[] = [];
  for (const f of plan.window.frames) imgs.push(await frames.get(f));
  for (let p = p0; p < p1; p++) imgs.forEach((img, t) => host.set(cropPersonArray(img, plan.tracks[p]!.crop, built.inputSize), ((p - p0) * T + t) * plane));
  const t0 = performance.now();
  const out = noGrad(() => tidy(() => runDemoModel(model, built, tensor(host, { shape: [b, T, 3, H, W], device }), { flip })));
  try {
    if (out.rank !== 5 || out.shape[0] !== b || out.shape[1] !== plan.window.outputs.length) {
      throw new Error(`runDemoModel: expected heatmaps [${b}, ${plan.window.outputs.length}, K, h, w] from the network, got [${out.shape.join(', ')}]`);
    }
    const data = Float32Array.from((await out.data()) as Float32Array);
    return { heatmaps: { data, shape: [...out.shape] }, ms: performance.now() - t0 };
  } finally {
    out.dispose();
  }
}

/** max(m, max |a[i]|); NaN (in a or m) gives NaN, never hidden. */
function maxAbs(a: Float32Array, m: number): number {
  for (const v of a) m = Math.max(m, Math.abs(v));
  return m;
}

/** max(m, max |a[i] − b[i]|); a NaN on either side (or in m) gives NaN, never hidden. */
function maxAbsDiff(a: Float32Array, b: Float32Array, m: number): number {
  for (let j = 0; j < a.length; j++) {
    const d = Math.abs(a[j]! - b[j]!);
    if (Number.isNaN(d) || Number.isNaN(m)) m = NaN;
    else if (d > m) m = d;
  }
  return m;
}

interface PersonResult {
  id: string;
  box: number[];
  keypoints: (Keypoint & { name: string })[];
}

/**
 * Decodes one batch's heatmaps [b, O, K, h, w] into keypoints in image pixels, appended to
 * perFrame[frame] for every output frame of the window where the person has a box.
 */
function decodeBatch(h: BatchHeatmaps, item: BatchItem, built: BuiltModel, boxes: readonly FrameBoxes[], perFrame: PersonResult[][]): void {
  const { data, shape } = h;
  const [P, O, K, hh, ww] = shape as [number, number, number, number, number];
  const tracks = item.plan.tracks.slice(item.p0, item.p1);
  const crops = tracks.map((t) => t.crop);
  const map = K * hh * ww;
  item.plan.window.outputs.forEach((frame, o) => {
    // the [P, K, h, w] heatmaps of output slot o
    const slice = new Float32Array(P * map);
    for (let p = 0; p < P; p++) slice.set(data.subarray((p * O + o) * map, (p * O + o + 1) * map), p * map);
    const kps = built.decode === 'argmax' ? decodeArgmax(slice, [P, K, hh, ww], { crops }) : getFinalPreds(slice, [P, K, hh, ww], { crops });
    tracks.forEach((t, p) => {
      const own = boxes[frame]!.persons.find((q) => q.id === t.id);
      if (!own) return; // the person has no box in this frame: no prediction reported
      perFrame[frame]!.push({ id: t.id, box: own.box, keypoints: kps[p]!.map((k, j) => ({ name: built.jointSet.names[j]!, x: round(k.x), y: round(k.y), score: Number(k.score.toPrecision(6)) })) });
    });
  });
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

/** The network with the weights the options ask for, the `weights:` line and keypoints.json's `weights` field. */
function buildWithWeights(opts: Options, model: DemoModel): { built: BuiltModel; weightsNote: string; weightsField: string } {
  const ship = opts.shipped ? buildShipped(opts.modelName, opts.preset) : null;
  if (ship) {
    const m = ship.info.mAP ?? {};
    const fmt = (k: string): string => (typeof m[k] === 'number' ? m[k]!.toFixed(1) : '?');
    const path = relative(ROOT, ship.path);
    return {
      built: ship.built,
      weightsNote: `weights: ${path} (shipped: trained on SynthPose, ${ship.info.steps} steps of batch ${ship.info.batchSize} from its stage-1 baseline; validation mAP ${fmt('all')}, hard ${fmt('hard')}, clean ${fmt('clean')}; docs/results.md)`,
      weightsField: path,
    };
  }
  const built = model.build(opts.preset);
  built.module.eval();
  if (opts.weights) {
    const path = opts.weights;
    const buf = readFileOrFail(path, 'weights file');
    const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    // The format comes from the bytes (a .pth may hold safetensors and the other way round).
    const fmt = detectFormat(bytes);
    let tensors: Map<string, HostTensor>;
    let metadata: Record<string, string> | undefined;
    try {
      const text = fmt === 'unknown' ? new TextDecoder().decode(bytes.subarray(0, 64)) : '';
      const lfs = text.startsWith('version https://git-lfs');
      const html = /^\s*</.test(text);
      if (fmt === 'safetensors' || (fmt === 'unknown' && !lfs && !html && path.toLowerCase().endsWith('.safetensors'))) {
        // (A damaged .safetensors file gets the safetensors reader's own, precise error.)
        const file = readSafetensors(bytes);
        tensors = file.tensors;
        metadata = file.metadata;
      } else if (fmt === 'zip' || fmt === 'legacy' || fmt === 'tar') {
        // Bounded (docs/checkpoints.md): a hostile file fails with an Error, it cannot exhaust memory.
        tensors = extractStateDict(loadPth(bytes)); // (the CliError below names the file)
      } else {
        const what = lfs
          ? 'a Git LFS pointer (fetch the file itself: git lfs pull)'
          : html
            ? 'an HTML or XML page (a failed download?)'
            : `neither: ${bytes.length} bytes starting with [${[...bytes.subarray(0, 8)].map((b) => '0x' + b.toString(16).padStart(2, '0')).join(', ')}]`;
        throw new Error(`expected a safetensors file or a PyTorch checkpoint (.pth/.pt/.tar: a zip archive, a legacy pickle stream or a tar), got ${what}`);
      }
    } catch (e) {
      throw new CliError(`${path}: ${(e as Error).message}`);
    }
    let res: string[] & { notes?: readonly string[] };
    try {
      res = model.loadWeights(built, tensors, metadata);
    } catch (e) {
      throw new CliError(`${path}: ${(e as Error).message}`);
    }
    const notes = [...(fmt === 'safetensors' ? [] : [`PyTorch ${fmt} checkpoint`]), ...(res.notes ?? []), ...(res.length ? [`${res.length} unused official keys dropped`] : [])];
    return { built, weightsNote: `weights: ${path}${notes.length ? ` (${notes.join('; ')})` : ''}`, weightsField: path };
  }
  const avail = shippedPresets(opts.modelName);
  const hint = avail.length ? `trained weights are shipped for --preset ${avail.join('|')}` : 'pass --weights FILE (.safetensors or a PyTorch .pth) for a trained network';
  if (opts.preset === 'real' && opts.realHead) {
    let head: ReturnType<typeof loadShippedRealHeadInto>;
    try {
      head = loadShippedRealHeadInto(opts.modelName as RealHeadName, built.module);
    } catch (e) {
      throw new CliError((e as Error).message);
    }
    const path = relative(ROOT, head.path);
    return { built, weightsNote: `weights: ${path} (${head.note})`, weightsField: path };
  }
  if (opts.preset === 'real') {
    // --weights none: the real presets sit on the pretrained MoveNet and their heads start as a copy of its heatmaps
    return { built, weightsNote: `weights: frozen pretrained MoveNet Lightning backbone (assets/weights/movenet); --weights none: the ${opts.modelName} head is untrained and starts as an exact copy of MoveNet's heatmaps, so the keypoints are MoveNet's (docs/models/backbone.md)`, weightsField: 'movenet-lightning backbone, untrained head (copy of the backbone heatmaps)' };
  }
  return { built, weightsNote: `weights: UNTRAINED (random, seed ${opts.seed}); the keypoints it writes are not meaningful (${hint}).`, weightsField: `untrained (seed ${opts.seed})` };
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  if (!opts) return;
  const input = await loadInput(opts);
  try {
    await runDemo(opts, input);
  } finally {
    await input.frames.close?.(); // a video's ffmpeg, also when the demo fails part-way
  }
}

async function runDemo(opts: Options, input: Awaited<ReturnType<typeof loadInput>>): Promise<void> {
  const wanted = opts.backends === 'all' ? engine.registeredBackends() : opts.backends;
  if (!opts.model) {
    await runMoveNetDemo({
      model: opts.modelName as MoveNetModel,
      frames: input.frames,
      names: input.names,
      boxes: input.boxes,
      backends: wanted,
      outDir: opts.outDir,
      detectorSize: opts.detectorSize,
      minScore: opts.minScore,
      fps: opts.fps,
      cpuFrames: opts.cpuFrames,
      track: opts.track,
      batch: opts.batch,
      clipNote: opts.clipNote,
      videoName: input.videoName,
    });
    return;
  }
  const frames = input.frames;
  const boxes = input.boxes ?? (await detectBoxes(frames, input.names, opts, wanted));
  const model = opts.model;

  manualSeed(opts.seed);
  const { built, weightsNote, weightsField } = buildWithWeights(opts, model);

  const windows = model.windows(built, frames.length);
  const plans = planWindows(boxes, windows, built);
  const persons = plans.reduce((s, p) => s + p.tracks.length * p.window.frames.length, 0);
  console.log(`clip: ${opts.clipNote}: ${frames.length} frames of ${frames.width}x${frames.height}, ${persons} person-frames in ${windows.length} window(s)`);
  console.log(`model: ${built.summary}${opts.flip ? '; flip test on' : ''}`);
  console.log(weightsNote);

  const stats: BackendStats[] = [];
  const failures: [DeviceName, string][] = [];
  for (const device of wanted) {
    try {
      await init(device);
      stats.push({ device, ms: 0, outputs: 0, maxAbs: 0, maxDiff: 0, failed: null });
    } catch (e) {
      const msg = (e as Error).message;
      console.log(`backend ${device}: cannot start: ${msg}`);
      failures.push([device, msg]);
    }
  }
  // Segment by segment: every backend runs the segment's batches (--batch persons per forward, each
  // in its own tidy), the heatmaps are compared with the cpu's and decoded from the cpu's (else the
  // first backend's), then dropped.
  const results: PersonResult[][] = boxes.map(() => []);
  const sources = new Set<DeviceName>();
  for (const segment of planSegments(plans, opts.batch)) {
    const maps = new Map<BackendStats, BatchHeatmaps[]>();
    for (const st of stats) {
      if (st.failed !== null) continue;
      try {
        await built.module.toAsync(st.device);
        setDefaultDevice(st.device);
        const hs: BatchHeatmaps[] = [];
        for (const item of segment) {
          const r = await runBatch(st.device, built, model, frames, item, opts.flip);
          hs.push(r.heatmaps);
          st.ms += r.ms;
          if (item.p0 === 0) st.outputs += item.plan.window.outputs.length;
        }
        maps.set(st, hs);
      } catch (e) {
        if (e instanceof CliError) throw e; // a frame that cannot be read is the input's fault, not the backend's
        const msg = (e as Error).message;
        console.log(`backend ${st.device}: failed while running: ${msg}`);
        st.failed = msg;
        failures.push([st.device, msg]);
      }
    }
    const alive = stats.filter((st) => maps.has(st));
    if (alive.length === 0) break;
    const cpu = alive.find((st) => st.device === 'cpu');
    for (const st of alive) {
      const hs = maps.get(st)!;
      hs.forEach((h, i) => {
        if (st === cpu) st.maxAbs = maxAbs(h.data, st.maxAbs);
        else if (cpu) st.maxDiff = maxAbsDiff(h.data, maps.get(cpu)![i]!.data, st.maxDiff);
      });
    }
    const source = cpu ?? alive[0]!;
    sources.add(source.device);
    maps.get(source)!.forEach((h, i) => decodeBatch(h, segment[i]!, built, boxes, results));
  }
  await built.module.toAsync('cpu');
  setDefaultDevice('cpu');

  const runs = stats.filter((st) => st.failed === null);
  const ref = runs.find((r) => r.device === 'cpu');
  // Untrained heatmaps can be tiny (eval-mode BN with fresh statistics), so the relative error is shown too.
  const scale = ref ? ref.maxAbs : 0;
  const rows = runs.map((r) => {
    const ms = (r.ms / Math.max(1, r.outputs)).toFixed(1);
    if (r === ref) return [r.device, ms, '0 (reference)', `max |heatmap| ${scale.toExponential(2)}`];
    if (!ref) return [r.device, ms, 'n/a (cpu did not run)', ''];
    return [r.device, ms, r.maxDiff.toExponential(2), scale > 0 ? (r.maxDiff / scale).toExponential(2) : 'n/a'];
  });
  for (const [d, msg] of failures) rows.push([d, 'failed', msg.length > 70 ? `${msg.slice(0, 67)}...` : msg, '']);
  console.log('');
  console.log(formatTable(['backend', 'ms/frame (all persons)', 'max |Δ| heatmaps vs cpu', 'relative to max |heatmap|'], rows));
  if (runs.length === 0) throw new CliError('no backend could run (see the messages above)', 1);

  // the backend the keypoints come from (several only when the first one failed part-way)
  const sourceDevice = sources.size > 0 ? [...sources].join(', then ') : (ref ?? runs[0]!).device;
  let groundTruth: { mAP: Record<string, number>; frames: Record<string, number> } | null = null;
  if (opts.groundTruth) {
    const scored = scoreAgainstGroundTruth(opts.groundTruth, built, boxes, results);
    if (typeof scored === 'string') console.log(`\nground truth: not scored (${scored})`);
    else {
      const f = (k: keyof EvalResult): string => `${scored[k].table.mean.toFixed(1)} (${scored[k].numFrames} frames)`;
      console.log(`\nground truth (${relative(ROOT, join(opts.groundTruth, 'annotations.json'))}, ${sourceDevice} keypoints): mAP all ${f('all')} | hard ${f('hard')} | clean ${f('clean')}`);
      const keys = ['all', 'hard', 'clean'] as const;
      groundTruth = { mAP: Object.fromEntries(keys.map((k) => [k, Number(scored[k].table.mean.toFixed(2))])), frames: Object.fromEntries(keys.map((k) => [k, scored[k].numFrames])) };
    }
  }
  mkdirSync(opts.outDir, { recursive: true });
  const doc = {
    model: opts.modelName,
    preset: opts.preset,
    weights: weightsField,
    backend: sourceDevice,
    jointSet: built.jointSet.name,
    joints: built.jointSet.names,
    decode: built.decode,
    coordinates: 'image pixels of each frame (x right, y down); score = heatmap maximum',
    ...(groundTruth ? { groundTruth } : {}),
    frames: boxes.map((f, i) => ({ file: f.file, persons: results[i]! })),
  };
  writeFileSync(join(opts.outDir, 'keypoints.json'), formatKeypointsJson(doc));
  // overlays one at a time: decoded, drawn, written, dropped
  for (let i = 0; i < frames.length; i++) {
    const img = await frames.get(i);
    const canvas: RgbaImage = { ...img, data: img.data.slice() };
    for (const p of results[i]!) {
      drawRect(canvas, p.box, [255, 255, 0], 1, 0.6);
      drawPose(canvas, p.keypoints, built.jointSet, { thickness: 2, radius: 2 });
    }
    writeFileSync(join(opts.outDir, `${basename(boxes[i]!.file, extname(boxes[i]!.file))}.png`), encodePng(canvas));
  }
  console.log(`\nwrote ${join(opts.outDir, 'keypoints.json')} and ${frames.length} overlay PNGs (from the ${sourceDevice} results)`);
}

/**
 * Poseval mAP of the demo's keypoints against the clip's ground truth (frame i of the box file =
 * frame i of the annotations), on all, hard (occluded or blurred) and clean frames; or why not.
 */
function scoreAgainstGroundTruth(dir: string, built: BuiltModel, boxes: readonly FrameBoxes[], results: PersonResult[][]): EvalResult | string {
  const { video } = loadSynthDemoClip(dir);
  if (video.frames.length !== boxes.length) return `annotations.json has ${video.frames.length} frames, the box file ${boxes.length}`;
  const names = built.jointSet.names;
  if (names.length !== video.keypointNames.length || names.some((n, j) => n !== video.keypointNames[j])) {
    return `the network predicts ${built.jointSet.name} joints, the ground truth is PoseTrack`;
  }
  const preds = new Map<number, PosevalPredPerson[]>();
  video.frames.forEach((fr, i) => {
    preds.set(fr.id, results[i]!.map((p) => ({ keypoints: Float64Array.from(p.keypoints.flatMap((k) => [k.x, k.y, k.score])) })));
  });
  return scorePredictions([video], preds);
}

await runCli('demo', main);
