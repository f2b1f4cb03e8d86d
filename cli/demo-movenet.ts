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
 * detections (wasm when it runs, else the first backend that starts). The cpu backend, plain
 * TypeScript and the oracle the others are tested against, runs at about 1 GFLOP/s, so it checks
 * only the first `cpuFrames` frames (default 1). The printed table gives each backend's ms per frame
 * (forward + read-back of all networks of a frame; the first frame, which compiles kernels, is left
 * out when there are more) and how far its maps and keypoints are from the reference's. The outputs
 * come from the reference backend:
 *   OUT/keypoints.json      tracked keypoints in PoseTrack 2018 JSON (COCO keypoint names, image pixels)
 *   OUT/frames/NAME.png     one overlay per frame, one colour per track
 *   OUT/contact-sheet.png   the overlays on one page
 *   OUT/demo.gif            the overlays animated (only when ffmpeg is on PATH)
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
import { decodeDetections, decodeRefined, prepareCrops, prepareDetectorInput, runMoveNet, type Box, type PreparedInput } from '../models/movenet/pipeline.js';
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

export interface MoveNetDemoOptions {
  /** 'thunder' | 'lightning': MultiPose + this SinglePose network; 'multipose': MultiPose alone. */
  model: 'thunder' | 'lightning' | 'multipose';
  frames: RgbaImage[];
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
  const { width: fw, height: fh } = o.frames[0]!;
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
  const results: TrackedPerson[][] = [];
  const tty = process.stderr.isTTY === true;
  const bar = tty ? new cliProgress.SingleBar({ format: 'frames |{bar}| {value}/{total} | {people} people | eta {eta_formatted}', hideCursor: true, stream: process.stderr }, cliProgress.Presets.shades_classic) : null;
  bar?.start(n, 0, { people: 0 });
  try {
    for (let i = 0; i < n; i++) {
      const frame = o.frames[i]!;
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
      // 2. SinglePose on a crop around each person, the same crops on every backend
      if (ref.refiner && persons.length > 0) {
        const crops: PreparedInput = prepareCrops(frame, persons.map((p) => p.box), ref.refiner.config.inputSize, 1.25);
        const refMaps = await timed(ref, () => runMoveNet(ref.refiner!, crops, ref.device));
        const refined = decodeRefined(refMaps, ref.refiner, crops.transforms);
        for (const r of others) {
          const maps = await timed(r, () => runMoveNet(r.refiner!, crops, r.device));
          r.mapDiff = Math.max(r.mapDiff, compareMaps(refMaps, maps));
          r.keypointDiff = Math.max(r.keypointDiff, keypointDistance(refined, decodeRefined(maps, r.refiner!, crops.transforms)));
        }
        persons = persons.map((p, k) => ({ ...p, keypoints: refined[k]!.keypoints, score: useDetector ? p.score : refined[k]!.score }));
      }
      for (const [r, ms] of times) r.ms.push(ms);
      // 3. tracking (or the box file's ids)
      const tracked: TrackedPerson[] = useDetector
        ? tracker.update(persons.map((p) => ({ keypoints: p.keypoints, box: p.box, score: p.score })), i)
        : persons.map((p) => ({ keypoints: p.keypoints, box: p.box, score: p.score, trackId: trackIdOf(p.id!) }));
      results.push(tracked);
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
  for (const f of results) for (const p of f) frameCount.set(p.trackId, (frameCount.get(p.trackId) ?? 0) + 1);
  const ids = [...frameCount.keys()].sort((a, b) => a - b);
  console.log(`\n${ids.length} track${ids.length === 1 ? '' : 's'}: ${ids.map((id) => `#${id} (${frameCount.get(id)} frame${frameCount.get(id) === 1 ? '' : 's'})`).join(', ') || 'none (no person found)'}`);

  // outputs
  mkdirSync(join(o.outDir, 'frames'), { recursive: true });
  const doc = toPoseTrackJson(
    o.names.map((file, i) => ({ file, persons: results[i]! })),
    { videoName: o.videoName, imageSize: [fw, fh] },
  );
  writeFileSync(join(o.outDir, 'keypoints.json'), formatPoseTrackJson(doc));
  const overlays = o.frames.map((img, i) => {
    const canvas: RgbaImage = { ...img, data: img.data.slice() };
    const thick = Math.max(1, Math.round(Math.max(fw, fh) / 400));
    for (const p of results[i]!) {
      const c = trackColour(p.trackId);
      drawRect(canvas, p.box, c, 1, 0.8);
      drawPose(canvas, p.keypoints, COCO17, { colour: c, minScore: 0.3, thickness: thick, radius: thick + 1 });
      drawText(canvas, `#${p.trackId}`, Math.round(p.box[0]), Math.max(0, Math.round(p.box[1]) - 9), { colour: c });
    }
    writeFileSync(join(o.outDir, 'frames', `${basename(o.names[i]!, extname(o.names[i]!))}.png`), encodePng(canvas));
    return canvas;
  });
  const sheet = contactSheet(overlays.slice(0, 48), { columns: Math.min(4, overlays.length), cellWidth: Math.min(480, fw), labels: o.names.slice(0, 48).map((f, i) => `${f}  ${results[i]!.length} people`) });
  writeFileSync(join(o.outDir, 'contact-sheet.png'), encodePng(sheet));
  const gif = await encodeAnimation(overlays, join(o.outDir, 'demo.gif'), o.fps);
  console.log(`\nwrote ${relative(process.cwd(), join(o.outDir, 'keypoints.json'))} (PoseTrack JSON), ${n} overlays in ${relative(process.cwd(), join(o.outDir, 'frames'))}/, contact-sheet.png${gif ? ' and demo.gif' : ' (demo.gif skipped: ffmpeg not on PATH)'} (from the ${ref.device} results)`);
}

/** A box file's id as a PoseTrack track id: numeric ids keep their value, others are numbered in order of appearance. */
const stringIds = new Map<string, number>();
function trackIdOf(id: string): number {
  const v = Number(id);
  if (Number.isInteger(v) && v >= 0) return v;
  if (!stringIds.has(id)) stringIds.set(id, 1000 + stringIds.size);
  return stringIds.get(id)!;
}
