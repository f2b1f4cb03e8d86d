/**
 * The demo's default: real pose estimation with Google's pretrained MoveNet on real frames.
 *
 * For every frame, MoveNet MultiPose finds the people (whole frame resized so that its longer side
 * is `detectorSize` pixels), a greedy OKS tracker (models/pose/track.ts) gives each person an id
 * across frames, and a SinglePose network (Thunder by default, or Lightning) re-estimates each
 * tracked person's keypoints on a square crop around its box (`--model multipose` keeps MultiPose's
 * own keypoints). With `--boxes FILE` the file's boxes and ids replace detection and tracking.
 *
 * Every requested backend runs the same networks on the same inputs, frame by frame: the detector on
 * the same resized frame, the SinglePose network on the crops chosen from the reference backend's
 * detections (wasm when it runs, else the first backend that starts), `batch` crops per forward
 * (--batch, default 8): a frame's persons run in batches that are prepared, run, read back, compared
 * and decoded one after the other, so host and device memory hold one batch whatever the number of
 * persons, and the keypoints do not depend on the batch size. The cpu backend, plain
 * TypeScript and the oracle the others are tested against, runs at about 1 GFLOP/s, so it checks
 * only the first `cpuFrames` frames (default 1). The printed table gives each backend's ms per frame
 * (forward + read-back of all networks of a frame; the first frame, which compiles kernels, is left
 * out when there are more) and how far its maps and keypoints are from the reference's. The outputs
 * come from the reference backend:
 *   OUT/keypoints.json      tracked keypoints in PoseTrack 2018 JSON (COCO keypoint names, image pixels)
 *   OUT/frames/NAME.png     one overlay per frame, one colour per track
 *   OUT/contact-sheet.png   the first 48 overlays on one page
 *   OUT/demo.gif            the first ANIMATION_MAX_FRAMES (100) overlays animated (only when ffmpeg
 *                           is on PATH; cli/video.ts encodeAnimation takes its frames in memory)
 *
 * Memory stays flat on long clips (docs/memory.md): frames come from a FrameSource one at a time
 * and are dropped once their overlay is written; the tracker keeps only its live tracks; what grows
 * with the clip is the keypoints (packed, about 460 bytes per person and frame, for keypoints.json) and,
 * up to ANIMATION_MAX_FRAMES, the overlays kept for the contact sheet and the GIF.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, extname, join, relative, resolve } from 'node:path';
import cliProgress from 'cli-progress';
import type { DeviceName } from '../backends/backend.js';
import { init } from '../engine/engine.js';
import type { MoveNetVariant } from '../models/movenet/config.js';
import type { MoveNetHostOutput, MoveNetPose } from '../models/movenet/decode.js';
import { moveNetFromSafetensors } from '../models/movenet/load.js';
import type { MoveNet } from '../models/movenet/movenet.js';
import { batchRanges, decodeDetections, decodeRefined, prepareCrops, prepareDetectorInput, runMoveNet, type Box, type PreparedInput } from '../models/movenet/pipeline.js';
import { contactSheet, drawText } from '../models/pose/contact-sheet.js';
import { drawPose, drawRect, trackColour } from '../models/pose/draw.js';
import { encodePng, type RgbaImage } from '../models/pose/image.js';
import { COCO17 } from '../models/pose/joints.js';
import { formatPoseTrackJson, toPoseTrackJson } from '../models/pose/posetrack-json.js';
import { PoseTracker, type TrackedPerson } from '../models/pose/track.js';
import { CliError, formatTable, type FrameBoxes } from './common.js';
import { encodeAnimation } from './video.js';

const ROOT = resolve(import.meta.dirname, '..');
export const MOVENET_WEIGHTS_DIR = join(ROOT, 'assets', 'weights', 'movenet');

/** The overlays kept for demo.gif (and the first 48 for the contact sheet); later frames are only written as PNGs. */
export const ANIMATION_MAX_FRAMES = 100;

/**
 * The frames of a clip, decoded on demand (cli/demo.ts builds one over a frames folder or over a
 * video streamed by ffmpeg, cli/video.ts streamVideo), so that a long clip is never held in memory
 * whole. Sources keep a small cache of recent frames: reading forward (or within a window of recent
 * frames) is cheap; a video source re-decodes from the start to go further back.
 */
export interface FrameSource {
  /** Number of frames. */
  readonly length: number;
  /** Size of every frame in pixels. */
  readonly width: number;
  readonly height: number;
  /**
   * Frame `i` (0-based) as RGBA. The image may be shared with a small cache: draw on a copy.
   * @throws CliError when the frame cannot be read, cannot be decoded or has another size than the first.
   */
  get(i: number): Promise<RgbaImage>;
  /** Releases what the source holds open (a video's ffmpeg process); get() may reopen it. */
  close?(): Promise<void>;
}

export interface MoveNetDemoOptions {
  /** 'thunder' | 'lightning': MultiPose + this SinglePose network; 'multipose': MultiPose alone. */
  model: 'thunder' | 'lightning' | 'multipose';
  frames: FrameSource;
  /** Output name of each frame (for overlays and the JSON's file_name). */
  names: string[];
  /** Boxes and ids per frame (replaces detection and tracking), or null. */
  boxes: FrameBoxes[] | null;
  backends: DeviceName[];
  outDir: string;
  /** Longer side of MultiPose's input, a multiple of 32. */
  detectorSize: number;
  /** MultiPose people scoring below this are dropped. */
  minScore: number;
  /** Frames per second of the animation. */
  fps: number;
  /** The cpu backend (plain TypeScript, the oracle, ~1 GFLOP/s) checks only the first this-many frames; 0 = all. */
  cpuFrames: number;
  /** The tracker's similarity. */
  track: 'oks' | 'iou';
  /** SinglePose crops per forward (--batch), a positive integer. */
  batch: number;
  /** What the clip is, for the first printed line. */
  clipNote: string;
  videoName: string;
}

/** Loads a shipped MoveNet (assets/weights/movenet/VARIANT.safetensors). */
export function loadShippedMoveNet(variant: MoveNetVariant): MoveNet {
  const path = join(MOVENET_WEIGHTS_DIR, `${variant}.safetensors`);
  return moveNetFromSafetensors(new Uint8Array(readFileSync(path)), relative(ROOT, path));
}

interface BackendModels {
  device: DeviceName;
  detector: MoveNet | null;
  refiner: MoveNet | null;
  ms: number[];
  /** Largest |Δ| of the maps and keypoint distance in pixels against the reference. */
  mapDiff: number;
  keypointDiff: number;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (Number.isNaN(d)) return NaN; // a NaN on either side is reported, never hidden
    if (d > m) m = d;
  }
  return m;
}

function compareMaps(a: MoveNetHostOutput, b: MoveNetHostOutput): number {
  return Math.max(maxAbsDiff(a.heatmaps, b.heatmaps), maxAbsDiff(a.center, b.center), maxAbsDiff(a.regress, b.regress), maxAbsDiff(a.offsets, b.offsets));
}

function keypointDistance(a: MoveNetPose[], b: MoveNetPose[]): number {
  let m = 0;
  a.forEach((p, i) => p.keypoints.forEach((k, j) => {
    const q = b[i]?.keypoints[j];
    const d = q ? Math.hypot(k.x - q.x, k.y - q.y) : Infinity;
    m = Number.isNaN(d) ? NaN : Math.max(m, d);
  }));
  return m;
}

/** Runs the MoveNet pipeline on every backend; writes the outputs; returns nothing (prints). */
export async function runMoveNetDemo(o: MoveNetDemoOptions): Promise<void> {
  const n = o.frames.length;
  const { width: fw, height: fh } = o.frames;
  if (!(Number.isInteger(o.batch) && o.batch >= 1)) throw new Error(`runMoveNetDemo: expected batch as a positive integer (crops per forward), got ${o.batch}`);
  console.log(`clip: ${o.clipNote}: ${n} frame${n === 1 ? '' : 's'} of ${fw}x${fh}`);
  const useDetector = o.boxes === null;
  const refinerVariant = o.model === 'multipose' ? null : o.model;
  console.log(
    `model: ${useDetector ? `MoveNet MultiPose Lightning finds the people (input ${o.detectorSize} px on the longer side, score >= ${o.minScore}), tracked by ${o.track.toUpperCase()}` : `persons from the box file (${o.boxes!.reduce((s, f) => s + f.persons.length, 0)} boxes)`}${refinerVariant ? `; MoveNet SinglePose ${refinerVariant[0]!.toUpperCase()}${refinerVariant.slice(1)} estimates each person on a square crop` : '; MultiPose keypoints'}`,
  );
  console.log(`weights: assets/weights/movenet/ (Google's MoveNet, pretrained on COCO and Google's Active set, Apache-2.0; see assets/weights/movenet/NOTICE)`);
  if (!useDetector && !refinerVariant) throw new CliError('--model multipose finds people itself: it does not take --boxes (use --model thunder or lightning to estimate the boxes of a box file)');

  // models per backend (each backend holds its own copy of the weights)
  const runs: BackendModels[] = [];
  const failures: [DeviceName, string][] = [];
  for (const device of o.backends) {
    try {
      await init(device);
      const detector = useDetector ? await loadShippedMoveNet('multipose').toAsync(device) : null;
      const refiner = refinerVariant ? await loadShippedMoveNet(refinerVariant).toAsync(device) : null;
      runs.push({ device, detector, refiner, ms: [], mapDiff: 0, keypointDiff: 0 });
    } catch (e) {
      const msg = (e as Error).message;
      console.log(`backend ${device}: cannot start: ${msg}`);
      failures.push([device, msg]);
    }
  }
  if (runs.length === 0) throw new CliError('no backend could run (see the messages above)', 1);
  const ref = runs.find((r) => r.device === 'wasm') ?? runs[0]!;
  const othersAt = (i: number): BackendModels[] => runs.filter((r) => r !== ref && !(r.device === 'cpu' && o.cpuFrames > 0 && i >= o.cpuFrames));

  const tracker = new PoseTracker({ metric: o.track });
  /** Per frame, its tracked persons packed (packFrame). */
  const results: Float64Array[] = [];
  // overlays: each is written as soon as its frame is tracked; only the first ANIMATION_MAX_FRAMES are kept
  mkdirSync(join(o.outDir, 'frames'), { recursive: true });
  const kept: RgbaImage[] = [];
  const thick = Math.max(1, Math.round(Math.max(fw, fh) / 400));
  const tty = process.stderr.isTTY === true;
  const bar = tty ? new cliProgress.SingleBar({ format: 'frames |{bar}| {value}/{total} | {people} people | eta {eta_formatted}', hideCursor: true, stream: process.stderr }, cliProgress.Presets.shades_classic) : null;
  bar?.start(n, 0, { people: 0 });
  try {
    for (let i = 0; i < n; i++) {
      const frame = await o.frames.get(i);
      const others = othersAt(i);
      const times = new Map<BackendModels, number>([ref, ...others].map((r) => [r, 0]));
      const timed = async <T>(r: BackendModels, f: () => Promise<T>): Promise<T> => {
        const t0 = performance.now();
        const v = await f();
        times.set(r, times.get(r)! + performance.now() - t0);
        return v;
      };
      // 1. people: detection on every backend (the same resized frame), decoded from the reference
      let persons: { box: Box; score: number; keypoints: MoveNetPose['keypoints']; id?: string }[];
      if (useDetector) {
        const input = prepareDetectorInput(frame, o.detectorSize);
        const refMaps = await timed(ref, () => runMoveNet(ref.detector!, input, ref.device));
        const detected = decodeDetections(refMaps, ref.detector!, input.transforms[0]!, o.minScore);
        for (const r of others) {
          const maps = await timed(r, () => runMoveNet(r.detector!, input, r.device));
          r.mapDiff = Math.max(r.mapDiff, compareMaps(refMaps, maps));
          r.keypointDiff = Math.max(r.keypointDiff, keypointDistance(detected, decodeDetections(maps, r.detector!, input.transforms[0]!, o.minScore)));
        }
        persons = detected.map((p) => ({ box: p.box!, score: p.score, keypoints: p.keypoints }));
      } else {
        persons = o.boxes![i]!.persons.map((p) => ({ box: p.box, score: 1, keypoints: [], id: p.id }));
      }
      // 2. SinglePose on a crop around each person, the same crops on every backend, o.batch crops
      //    per forward: each batch is run, read back, compared and decoded before the next one
      if (ref.refiner && persons.length > 0) {
        const refined: MoveNetPose[] = [];
        for (const [s, e] of batchRanges(persons.length, o.batch)) {
          const crops: PreparedInput = prepareCrops(frame, persons.slice(s, e).map((p) => p.box), ref.refiner.config.inputSize, 1.25);
          const refMaps = await timed(ref, () => runMoveNet(ref.refiner!, crops, ref.device));
          const part = decodeRefined(refMaps, ref.refiner, crops.transforms);
          for (const r of others) {
            const maps = await timed(r, () => runMoveNet(r.refiner!, crops, r.device));
            r.mapDiff = Math.max(r.mapDiff, compareMaps(refMaps, maps));
            r.keypointDiff = Math.max(r.keypointDiff, keypointDistance(part, decodeRefined(maps, r.refiner!, crops.transforms)));
          }
          refined.push(...part);
        }
        persons = persons.map((p, k) => ({ ...p, keypoints: refined[k]!.keypoints, score: useDetector ? p.score : refined[k]!.score }));
      }
      for (const [r, ms] of times) r.ms.push(ms);
      // 3. tracking (or the box file's ids)
      const tracked: TrackedPerson[] = useDetector
        ? tracker.update(persons.map((p) => ({ keypoints: p.keypoints, box: p.box, score: p.score })), i)
        : persons.map((p) => ({ keypoints: p.keypoints, box: p.box, score: p.score, trackId: trackIdOf(p.id!) }));
      results.push(packFrame(tracked));
      // 4. the overlay, written now; the frame and (past ANIMATION_MAX_FRAMES) the overlay are dropped
      const canvas: RgbaImage = { ...frame, data: frame.data.slice() };
      for (const p of tracked) {
        const c = trackColour(p.trackId);
        drawRect(canvas, p.box, c, 1, 0.8);
        drawPose(canvas, p.keypoints, COCO17, { colour: c, minScore: 0.3, thickness: thick, radius: thick + 1 });
        drawText(canvas, `#${p.trackId}`, Math.round(p.box[0]), Math.max(0, Math.round(p.box[1]) - 9), { colour: c });
      }
      writeFileSync(join(o.outDir, 'frames', `${basename(o.names[i]!, extname(o.names[i]!))}.png`), encodePng(canvas));
      if (kept.length < ANIMATION_MAX_FRAMES) kept.push(canvas);
      bar?.update(i + 1, { people: tracked.length });
    }
  } finally {
    bar?.stop();
    for (const r of runs) {
      r.detector?.dispose();
      r.refiner?.dispose();
    }
  }

  // the table
  const msPerFrame = (r: BackendModels): number => {
    const xs = r.ms.length > 1 ? r.ms.slice(1) : r.ms;
    return xs.reduce((a, b) => a + b, 0) / xs.length;
  };
  const rows = runs.map((r) =>
    r === ref
      ? [r.device, String(r.ms.length), msPerFrame(r).toFixed(1), `${(r.ms[0] ?? 0).toFixed(0)}`, '0 (reference)', '0 (reference)']
      : [r.device, String(r.ms.length), msPerFrame(r).toFixed(1), `${(r.ms[0] ?? 0).toFixed(0)}`, r.mapDiff.toExponential(2), `${r.keypointDiff.toFixed(4)} px`],
  );
  for (const [d, msg] of failures) rows.push([d, '0', 'failed', '', msg.length > 60 ? `${msg.slice(0, 57)}...` : msg, '']);
  console.log('');
  console.log(formatTable(['backend', 'frames', 'ms/frame', 'first frame ms', `max |Δ| maps vs ${ref.device}`, `max keypoint Δ vs ${ref.device}`], rows));
  if (runs.some((r) => r.device === 'cpu' && r !== ref && r.ms.length < n)) console.log(`(cpu, the plain-TypeScript oracle, checked the first ${o.cpuFrames} frame${o.cpuFrames === 1 ? '' : 's'}; --cpu-frames 0 runs it on all)`);

  // tracks
  const frameCount = new Map<number, number>();
  for (const f of results) for (let o = 0; o < f.length; o += PACKED) frameCount.set(f[o]!, (frameCount.get(f[o]!) ?? 0) + 1);
  const ids = [...frameCount.keys()].sort((a, b) => a - b);
  console.log(`\n${ids.length} track${ids.length === 1 ? '' : 's'}: ${ids.map((id) => `#${id} (${frameCount.get(id)} frame${frameCount.get(id) === 1 ? '' : 's'})`).join(', ') || 'none (no person found)'}`);

  // outputs (the overlays are written already)
  const doc = toPoseTrackJson(
    o.names.map((file, i) => ({ file, persons: unpackFrame(results[i]!) })),
    { videoName: o.videoName, imageSize: [fw, fh] },
  );
  writeFileSync(join(o.outDir, 'keypoints.json'), formatPoseTrackJson(doc));
  const sheet = contactSheet(kept.slice(0, 48), { columns: Math.min(4, kept.length), cellWidth: Math.min(480, fw), labels: o.names.slice(0, 48).map((f, i) => `${f}  ${results[i]!.length / PACKED} people`) });
  writeFileSync(join(o.outDir, 'contact-sheet.png'), encodePng(sheet));
  const gif = await encodeAnimation(kept, join(o.outDir, 'demo.gif'), o.fps);
  const gifNote = gif ? ` and demo.gif${kept.length < n ? ` (the first ${kept.length} frames)` : ''}` : ' (demo.gif skipped: ffmpeg not on PATH)';
  console.log(`\nwrote ${relative(process.cwd(), join(o.outDir, 'keypoints.json'))} (PoseTrack JSON), ${n} overlays in ${relative(process.cwd(), join(o.outDir, 'frames'))}/, contact-sheet.png${gifNote} (from the ${ref.device} results)`);
}

/** Floats per tracked person in the kept results: trackId, score, box [x, y, w, h], then x, y, score of each of the 17 keypoints. */
const PACKED = 6 + 3 * COCO17.numJoints;

/**
 * A frame's tracked persons packed into one Float64Array (exact), for keypoints.json at the end:
 * about 460 bytes per person instead of about 1.3 KB as objects, which is what a long clip keeps.
 * @throws Error when a person does not have the 17 COCO keypoints.
 */
function packFrame(persons: readonly TrackedPerson[]): Float64Array {
  const a = new Float64Array(persons.length * PACKED);
  persons.forEach((p, i) => {
    if (p.keypoints.length !== COCO17.numJoints) throw new Error(`packFrame: expected ${COCO17.numJoints} keypoints per person, got ${p.keypoints.length}`);
    const o = i * PACKED;
    a.set([p.trackId, p.score, ...p.box], o);
    p.keypoints.forEach((k, j) => a.set([k.x, k.y, k.score], o + 6 + 3 * j));
  });
  return a;
}

/** The persons of packFrame, as TrackedPerson objects again (keypoints named in COCO order). */
function unpackFrame(a: Float64Array): TrackedPerson[] {
  const out: TrackedPerson[] = [];
  for (let o = 0; o < a.length; o += PACKED) {
    out.push({
      trackId: a[o]!,
      score: a[o + 1]!,
      box: [a[o + 2]!, a[o + 3]!, a[o + 4]!, a[o + 5]!],
      keypoints: COCO17.names.map((name, j) => ({ name, x: a[o + 6 + 3 * j]!, y: a[o + 7 + 3 * j]!, score: a[o + 8 + 3 * j]! })),
    });
  }
  return out;
}

/** A box file's id as a PoseTrack track id: numeric ids keep their value, others are numbered in order of appearance. */
const stringIds = new Map<string, number>();
function trackIdOf(id: string): number {
  const v = Number(id);
  if (Number.isInteger(v) && v >= 0) return v;
  if (!stringIds.has(id)) stringIds.set(id, 1000 + stringIds.size);
  return stringIds.get(id)!;
}
