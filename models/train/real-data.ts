/**
 * Real training data for the temporal heads (issue 12, item 2): clips of person crops cut from real
 * video of people, labelled by a teacher on the clean frames, and shown to the student with
 * SynthPose-style occluders and motion blur. docs/training.md ("Real video data") and docs/data.md
 * ("Real training data") describe the sources, the split and the format.
 *
 * Two stages, each cached:
 *
 * 1. **Labelling** (per source; the expensive part). MoveNet MultiPose finds the people of every
 *    frame of the source, a greedy IoU tracker (models/pose/track.ts `PoseTracker`) links them into
 *    tracks, gaps of up to `maxAge` frames are filled by linear interpolation of the box, and the
 *    boxes are smoothed over time (centred moving average). A track is cut into *clips*: maximal runs
 *    of frames inside one time block of the split (below) where the person is at least
 *    `minBoxHeight` pixels tall with its box centre in the frame, at least `minClipFrames` long. The
 *    teacher (real-teacher.ts: MoveNet Thunder with the flip test) labels every `stride`-th frame of
 *    every clip on the clean frame. The result goes to `labels/<source>.json` with a key (sha256 of
 *    the source file(s), the frame range, stride, blocks, all detector/tracker/teacher settings, the
 *    weights files' sha256 and the backend); a later run with the same key reuses the file.
 * 2. **Writing** (cheap). Each clip becomes one PoseTrack-layout video of square crops around the
 *    smoothed box (side `cropScale` · max(w, h), `cropSize` pixels, JPEG), corrupted by
 *    real-corrupt.ts (seeded per clip), with the clean crops beside them. `manifest.json` records
 *    everything with a build key; a run whose build key and files are unchanged writes nothing.
 *
 * Layout of the output folder (what models/train/data.ts `loadSplit` reads, subset 'real'):
 *
 *   split.json                          { format: 1, subset: 'real', jointSet: 'coco17', train: [ids], val: [ids] }
 *   manifest.json                       sources, licences, hashes, settings, versions, clips, statistics
 *   labels/<source>.json                the label cache: per track, per frame boxes and teacher keypoints with scores
 *   annotations/real/<vid>.json         PoseTrack 2018 layout, COCO-17 keypoint names, per-image flags
 *   images/real/<vid>/<frame>.jpg       what the student sees (corrupted crops)
 *   clean/real/<vid>/<frame>.jpg        the same crops, clean (what the teacher saw)
 *
 * Keypoints are COCO's 17 in MoveNet order (`categories[0].keypoints` = joints.ts COCO17.names), in
 * crop pixels, with the visibility value as SynthPose writes it: 1 = the teacher is confident
 * (score ≥ `minScore`) and the joint is not covered; 0 with coordinates kept = confident but covered
 * by an occluder (the trainer's `supervise: 'annotated'` still supervises it, as SynthPose's hidden
 * joints); (0, 0, 0) = the teacher is not confident (never supervised). `scores` holds the teacher's
 * 17 scores. Each image carries SynthPose's `synthpose: { occluded, blurred }` flags (read by
 * datasets/posetrack.ts, so `frameCounts` / `isHardFrame` split hard and clean frames) and a
 * `real` object with the source frame, the occluder count, the blur and whether the box was
 * interpolated. Frames between labelled ones (stride > 1) are in the clip with `is_labeled: false`
 * and the person's box but no keypoints, so temporal models see neighbours at the video's frame rate.
 *
 * Split by time block: each source lists blocks of frames, each wholly 'train' or 'val'; a clip
 * never crosses a block, so no clip (video id) is in both halves. The default for vtest.avi is
 * train = frames 0–589, held out = frames 600–794 (the 10 frames between are dropped, so that no
 * held-out frame has a near-duplicate neighbour in training).
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { DeviceName } from '../../backends/backend.js';
import { fail } from '../../engine/shape.js';
import { affinePoint, warpAffineRgb, type Affine } from '../pose/affine.js';
import { decodeImage, encodeJpeg, type RgbaImage } from '../pose/image.js';
import { COCO17 } from '../pose/joints.js';
import { PoseTracker } from '../pose/track.js';
import { moveNetFromSafetensors } from '../movenet/load.js';
import type { MoveNet } from '../movenet/movenet.js';
import { MoveNetPipeline, type Box } from '../movenet/pipeline.js';
import { corruptFrame, isCovered, planCorruption, resolveCorruption, type CorruptionOptions, type ResolvedCorruption } from './real-corrupt.js';
import { DEFAULT_TEACHER, teacherLabels, type TeacherOptions } from './real-teacher.js';

/** Bump when the meaning of the labels or of the written files changes (invalidates every cache). */
export const REAL_DATA_FORMAT = 1;
/** The folder name under annotations/, images/ and clean/ (split.json `subset`). */
export const REAL_SUBSET = 'real';

const ROOT = resolve(import.meta.dirname, '..', '..');
export const DEFAULT_WEIGHTS = Object.freeze({
  detector: join(ROOT, 'assets', 'weights', 'movenet', 'multipose.safetensors'),
  teacher: join(ROOT, 'assets', 'weights', 'movenet', 'thunder.safetensors'),
});

export type SplitName = 'train' | 'val';

/** Frames [start, end) of a source (0-based source frame numbers), all in one half of the split. */
export interface TimeBlock {
  readonly split: SplitName;
  readonly start: number;
  readonly end: number;
}

/** One source of real frames. */
export interface RealSourceSpec {
  /** Short id, [a-z0-9-]: prefixes the video ids and names the label file. */
  readonly name: string;
  /** A video file (decoded with the `decodeVideo` option) or a folder of .jpg/.png frames (natural order). */
  readonly kind: 'video' | 'frames';
  readonly path: string;
  /** Where it comes from and its licence (recorded in the manifest). */
  readonly licence: string;
  /** The split, by time blocks; frames outside every block are tracked but never labelled or written. */
  readonly blocks: readonly TimeBlock[];
  /** The teacher labels frames whose number is a multiple of this (default 1: every frame). */
  readonly stride?: number;
  /** A clip holds at least this many frames (default: the options' minClipFrames). */
  readonly minClipFrames?: number;
  /** Frames per second, when known (recorded). */
  readonly fps?: number | null;
}

/** Detection, tracking and clip settings (part of the label key). */
export interface LabelSettings {
  /** MultiPose input: longer side in pixels (default 512, the pipeline's). */
  readonly detectorMaxSize?: number;
  /** MultiPose people scoring below this are dropped (default 0.2, the pipeline's). */
  readonly minPersonScore?: number;
  /** IoU tracker: match threshold (default 0.3) and frames a track survives unmatched (default 3). */
  readonly trackThreshold?: number;
  readonly maxAge?: number;
  /** Box smoothing: centred moving average over this many frames (odd; default 5; 1 = none). */
  readonly smoothWindow?: number;
  /** A clip frame shows the person at least this tall, in frame pixels (default 48). */
  readonly minBoxHeight?: number;
  /** A clip holds at least this many frames (default 8). */
  readonly minClipFrames?: number;
  readonly teacher?: TeacherOptions;
}

/** What the written crops look like (part of the build key). */
export interface OutputSettings {
  /** Crop size in pixels (default 256, MoveNet Thunder's input). */
  readonly cropSize?: number;
  /** Crop side as a multiple of the box's longer side (default 1.6: room for the loader's 1.25 padding and scale/rotation augmentation). */
  readonly cropScale?: number;
  /** JPEG quality (default 90). */
  readonly jpegQuality?: number;
  /** A joint is supervised when the teacher's score is at least this (default 0.3, MoveNet's usual threshold). */
  readonly minScore?: number;
  /** Master seed of the corruption (default 0). */
  readonly seed?: number;
  readonly corruption?: CorruptionOptions;
}

export interface RealDataOptions {
  readonly outDir: string;
  readonly sources: readonly RealSourceSpec[];
  /** The backend the networks run on (initialized by the caller). */
  readonly device: DeviceName;
  readonly label?: LabelSettings;
  readonly output?: OutputSettings;
  /** MoveNet weights files (default assets/weights/movenet/{multipose,thunder}.safetensors). */
  readonly weights?: { readonly detector?: string; readonly teacher?: string };
  /** Decodes a video file to RGBA frames (cli/video.ts `decodeVideo`); needed for 'video' sources. */
  readonly decodeVideo?: (file: string) => Promise<RgbaImage[]>;
  /** Relabel even when the label cache matches. */
  readonly force?: boolean;
  readonly onProgress?: (e: { stage: 'detect' | 'teacher' | 'write'; source: string; done: number; total: number }) => void;
  readonly log?: (line: string) => void;
}

type ResolvedLabel = Required<Omit<LabelSettings, 'teacher'>> & { teacher: Required<TeacherOptions> };
type ResolvedOutput = Required<Omit<OutputSettings, 'corruption'>> & { corruption: ResolvedCorruption };

export const DEFAULT_LABEL_SETTINGS: Readonly<Omit<ResolvedLabel, 'teacher'>> = Object.freeze({
  detectorMaxSize: 512,
  minPersonScore: 0.2,
  trackThreshold: 0.3,
  maxAge: 3,
  smoothWindow: 5,
  minBoxHeight: 48,
  minClipFrames: 8,
});

export const DEFAULT_OUTPUT_SETTINGS: Readonly<Omit<ResolvedOutput, 'corruption'>> = Object.freeze({ cropSize: 256, cropScale: 1.6, jpegQuality: 90, minScore: 0.3, seed: 0 });

// ------------------------------------------------------------------------------------ the label cache

/** One frame of a clip in the label cache (frame pixels). */
export interface ClipFrameLabel {
  /** Source frame number. */
  readonly frame: number;
  /** The smoothed box [x, y, w, h] (the crop and the teacher use it). */
  readonly box: Box;
  /** MultiPose's own box that frame, or null when the frame was a gap filled by interpolation. */
  readonly detected: Box | null;
  /** MultiPose's person score (0 for an interpolated frame). */
  readonly score: number;
  /** Teacher keypoints [x, y, score] × 17 (COCO order), or null on a frame the teacher did not label (stride). */
  readonly keypoints: number[] | null;
  /** Per joint: the flip test's two views agreed (1) or not (0). */
  readonly agreed?: number[];
}

export interface ClipLabels {
  readonly id: string;
  readonly track: number;
  readonly split: SplitName;
  readonly frames: ClipFrameLabel[];
}

export interface SourceLabels {
  readonly format: number;
  readonly key: string;
  readonly source: { name: string; kind: string; path: string; sha256: string; frames: number; width: number; height: number };
  readonly settings: unknown;
  /** Seconds spent: detection + tracking, teacher. */
  readonly seconds: { detect: number; teacher: number };
  /** Tracks found in the whole source (before clip selection), and their lengths. */
  readonly tracks: { id: number; first: number; last: number; detections: number }[];
  readonly clips: ClipLabels[];
}

// ------------------------------------------------------------------------------------ helpers

function sha256(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

function naturalSort(names: string[]): string[] {
  return names.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
}

function frameFiles(dir: string): string[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) fail('realData', 'a folder of frames', dir);
  const files = naturalSort(readdirSync(dir).filter((f) => /\.(jpe?g|png)$/i.test(f)));
  if (files.length === 0) fail('realData', `.jpg or .png frames in ${dir}`, 'none');
  return files;
}

/** sha256 of the source: the video file's bytes, or of the frame folder's (name, file sha256) list. */
export function sourceHash(spec: RealSourceSpec): string {
  if (spec.kind === 'video') {
    if (!existsSync(spec.path)) fail('realData', `the video ${spec.path}`, 'no such file');
    return sha256(readFileSync(spec.path));
  }
  const h = createHash('sha256');
  for (const f of frameFiles(spec.path)) h.update(`${f}\n${sha256(readFileSync(join(spec.path, f)))}\n`);
  return h.digest('hex');
}

async function loadFrames(spec: RealSourceSpec, decodeVideo: RealDataOptions['decodeVideo']): Promise<RgbaImage[]> {
  if (spec.kind === 'frames') return frameFiles(spec.path).map((f) => decodeImage(new Uint8Array(readFileSync(join(spec.path, f)))));
  if (!decodeVideo) fail('realData', `a decodeVideo function for the video source ${spec.name}`, 'none');
  return decodeVideo!(spec.path);
}

/**
 * posegrad's version (package.json), git commit (null outside a git checkout) and whether tracked
 * files differed from that commit (the labels were then made by uncommitted code).
 */
export function posegradVersion(): { version: string; commit: string | null; dirty: boolean | null } {
  let version = 'unknown';
  try {
    version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    // not in the source tree
  }
  const git = (args: string[]): string | null => {
    try {
      return execFileSync('git', args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    } catch {
      return null;
    }
  };
  const commit = git(['rev-parse', 'HEAD']) || null;
  const status = commit ? git(['status', '--porcelain', '--untracked-files=no']) : null;
  return { version, commit, dirty: status === null ? null : status.length > 0 };
}

function resolveLabel(l: LabelSettings = {}): ResolvedLabel {
  const r = { ...DEFAULT_LABEL_SETTINGS, ...l, teacher: { ...DEFAULT_TEACHER, ...(l.teacher ?? {}) } };
  const op = 'realData';
  if (!(Number.isInteger(r.smoothWindow) && r.smoothWindow >= 1 && r.smoothWindow % 2 === 1)) fail(op, 'smoothWindow as an odd integer ≥ 1', String(r.smoothWindow));
  if (!(Number.isInteger(r.minClipFrames) && r.minClipFrames >= 1)) fail(op, 'minClipFrames as an integer ≥ 1', String(r.minClipFrames));
  if (!(r.minBoxHeight >= 0)) fail(op, 'minBoxHeight ≥ 0', String(r.minBoxHeight));
  return r;
}

function resolveOutput(o: OutputSettings = {}): ResolvedOutput {
  const r = { ...DEFAULT_OUTPUT_SETTINGS, ...o, corruption: resolveCorruption(o.corruption) };
  const op = 'realData';
  if (!(Number.isInteger(r.cropSize) && r.cropSize >= 32)) fail(op, 'cropSize as an integer ≥ 32', String(r.cropSize));
  if (!(r.cropScale >= 1)) fail(op, 'cropScale ≥ 1', String(r.cropScale));
  if (!(Number.isInteger(r.jpegQuality) && r.jpegQuality >= 1 && r.jpegQuality <= 100)) fail(op, 'jpegQuality in 1..100', String(r.jpegQuality));
  if (!(Number.isInteger(r.seed) && r.seed >= 0)) fail(op, 'seed as an integer ≥ 0', String(r.seed));
  return r;
}

function checkSource(s: RealSourceSpec): void {
  const op = 'realData';
  if (!/^[a-z0-9][a-z0-9-]*$/.test(s.name)) fail(op, 'a source name of [a-z0-9-]', s.name);
  if (s.kind !== 'video' && s.kind !== 'frames') fail(op, "a source kind 'video' or 'frames'", String(s.kind));
  if (s.stride !== undefined && !(Number.isInteger(s.stride) && s.stride >= 1)) fail(op, `stride as an integer ≥ 1 for ${s.name}`, String(s.stride));
  if (s.blocks.length === 0) fail(op, `at least one time block for ${s.name}`, 'none');
  const sorted = [...s.blocks].sort((a, b) => a.start - b.start);
  sorted.forEach((b, i) => {
    if (!(Number.isInteger(b.start) && Number.isInteger(b.end) && b.start >= 0 && b.end > b.start)) fail(op, `blocks with integer 0 ≤ start < end for ${s.name}`, `[${b.start}, ${b.end})`);
    if (b.split !== 'train' && b.split !== 'val') fail(op, "block split 'train' or 'val'", String(b.split));
    if (i > 0 && b.start < sorted[i - 1]!.end) fail(op, `non-overlapping blocks for ${s.name}`, `[${sorted[i - 1]!.start}, ${sorted[i - 1]!.end}) and [${b.start}, ${b.end})`);
  });
}

const lerp = (a: number, b: number, t: number): number => a + (b - a) * t;
const round2 = (v: number): number => Math.round(v * 100) / 100;
const round4 = (v: number): number => Math.round(v * 1e4) / 1e4;

/** Tracks as contiguous per-frame boxes: gaps filled by interpolation, then a centred moving average of centre and size. */
function buildTrackBoxes(dets: { frame: number; box: Box; score: number }[], window: number): { frame: number; box: Box; detected: Box | null; score: number }[] {
  const out: { frame: number; raw: Box; detected: Box | null; score: number }[] = [];
  for (let i = 0; i < dets.length; i++) {
    const d = dets[i]!;
    if (i > 0) {
      const p = dets[i - 1]!;
      for (let f = p.frame + 1; f < d.frame; f++) {
        const t = (f - p.frame) / (d.frame - p.frame);
        out.push({ frame: f, raw: p.box.map((v, k) => lerp(v, d.box[k]!, t)) as unknown as Box, detected: null, score: 0 });
      }
    }
    out.push({ frame: d.frame, raw: d.box, detected: d.box, score: d.score });
  }
  const h = (window - 1) / 2;
  const cs = out.map((o) => [o.raw[0] + o.raw[2] / 2, o.raw[1] + o.raw[3] / 2, o.raw[2], o.raw[3]] as const);
  return out.map((o, i) => {
    const lo = Math.max(0, i - h);
    const hi = Math.min(out.length - 1, i + h);
    const m = [0, 0, 0, 0];
    for (let j = lo; j <= hi; j++) for (let k = 0; k < 4; k++) m[k]! += cs[j]![k]!;
    const n = hi - lo + 1;
    const [cx, cy, w, hh] = m.map((v) => v / n) as [number, number, number, number];
    // rounded as stored, so that the teacher's crops are reproducible from the label file
    return { frame: o.frame, box: [round2(cx - w / 2), round2(cy - hh / 2), round2(w), round2(hh)] as Box, detected: o.detected, score: o.score };
  });
}

// ------------------------------------------------------------------------------------ stage 1: labels

interface Models {
  detector: MoveNet;
  teacher: MoveNet;
}

async function labelSource(spec: RealSourceSpec, frames: RgbaImage[], models: Models, key: string, hash: string, s: ResolvedLabel, settings: unknown, o: RealDataOptions): Promise<SourceLabels> {
  const n = frames.length;
  const { width, height } = frames[0]!;
  const pipeline = new MoveNetPipeline(models.detector, null, { detectorMaxSize: s.detectorMaxSize, minPersonScore: s.minPersonScore });
  const tracker = new PoseTracker({ metric: 'iou', threshold: s.trackThreshold, maxAge: s.maxAge });
  const byTrack = new Map<number, { frame: number; box: Box; score: number }[]>();
  const t0 = performance.now();
  for (let f = 0; f < n; f++) {
    const people = await pipeline.detect(frames[f]!, o.device);
    const tracked = tracker.update(people.map((p) => ({ keypoints: p.keypoints, box: p.box!, score: p.score })), f);
    for (const p of tracked) {
      let list = byTrack.get(p.trackId);
      if (!list) byTrack.set(p.trackId, (list = []));
      list.push({ frame: f, box: [...p.box] as Box, score: p.score });
    }
    o.onProgress?.({ stage: 'detect', source: spec.name, done: f + 1, total: n });
  }
  const detectSeconds = (performance.now() - t0) / 1000;

  // clips: runs of eligible frames inside one block
  const stride = spec.stride ?? 1;
  const minLen = spec.minClipFrames ?? s.minClipFrames;
  const blockOf = (f: number): TimeBlock | undefined => spec.blocks.find((b) => f >= b.start && f < b.end);
  const clips: { id: string; track: number; split: SplitName; frames: { frame: number; box: Box; detected: Box | null; score: number }[] }[] = [];
  const tracks: SourceLabels['tracks'] = [];
  for (const [id, dets] of [...byTrack.entries()].sort((a, b) => a[0] - b[0])) {
    tracks.push({ id, first: dets[0]!.frame, last: dets[dets.length - 1]!.frame, detections: dets.length });
    const boxes = buildTrackBoxes(dets, s.smoothWindow);
    const ok = (b: (typeof boxes)[number]): boolean => {
      const [x, y, w, h] = b.box;
      return h >= s.minBoxHeight && w > 1 && x + w / 2 >= 0 && x + w / 2 < width && y + h / 2 >= 0 && y + h / 2 < height;
    };
    let run: typeof boxes = [];
    let runBlock: TimeBlock | undefined;
    const perSplit = new Map<string, number>();
    const close = (): void => {
      if (runBlock && run.length >= minLen && run.some((r) => r.frame % stride === 0)) {
        const base = `${spec.name}-t${String(id).padStart(3, '0')}-${runBlock.split}`;
        const k = (perSplit.get(base) ?? 0) + 1;
        perSplit.set(base, k);
        clips.push({ id: k === 1 ? base : `${base}-${k}`, track: id, split: runBlock.split, frames: run });
      }
      run = [];
      runBlock = undefined;
    };
    for (const b of boxes) {
      const blk = blockOf(b.frame);
      if (!blk || !ok(b) || (runBlock && blk !== runBlock)) close();
      if (blk && ok(b)) {
        runBlock = blk;
        run.push(b);
      }
    }
    close();
  }

  // the teacher, frame by frame, on every clip's labelled frames
  const t1 = performance.now();
  const need = new Map<number, { clip: number; pos: number }[]>();
  clips.forEach((c, ci) => c.frames.forEach((fr, pos) => {
    if (fr.frame % stride !== 0) return;
    let l = need.get(fr.frame);
    if (!l) need.set(fr.frame, (l = []));
    l.push({ clip: ci, pos });
  }));
  const labels = clips.map((c) => c.frames.map(() => null as { kp: number[]; agreed: number[] } | null));
  const todo = [...need.keys()].sort((a, b) => a - b);
  let done = 0;
  for (const f of todo) {
    const items = need.get(f)!;
    const poses = await teacherLabels(models.teacher, frames[f]!, items.map((it) => clips[it.clip]!.frames[it.pos]!.box), o.device, s.teacher);
    items.forEach((it, i) => {
      const p = poses[i]!;
      labels[it.clip]![it.pos] = { kp: p.keypoints.flatMap((k) => [round2(k.x), round2(k.y), round4(k.score)]), agreed: p.agreed.map((a) => (a ? 1 : 0)) };
    });
    o.onProgress?.({ stage: 'teacher', source: spec.name, done: ++done, total: todo.length });
  }
  const teacherSeconds = (performance.now() - t1) / 1000;
  return {
    format: REAL_DATA_FORMAT,
    key,
    source: { name: spec.name, kind: spec.kind, path: spec.path, sha256: hash, frames: n, width, height },
    settings,
    seconds: { detect: round2(detectSeconds), teacher: round2(teacherSeconds) },
    tracks,
    clips: clips.map((c, ci) => ({
      id: c.id,
      track: c.track,
      split: c.split,
      frames: c.frames.map((fr, pos) => {
        const l = labels[ci]![pos];
        return {
          frame: fr.frame,
          box: fr.box.map(round2) as unknown as Box,
          detected: fr.detected ? (fr.detected.map(round2) as unknown as Box) : null,
          score: round4(fr.score),
          keypoints: l ? l.kp : null,
          ...(l ? { agreed: l.agreed } : {}),
        };
      }),
    })),
  };
}

// ------------------------------------------------------------------------------------ stage 2: writing

/** Per-clip statistics, as the manifest records them. */
export interface ClipStats {
  readonly id: string;
  readonly source: string;
  readonly track: number;
  readonly split: SplitName;
  /** First and last source frame. */
  readonly frames: readonly [number, number];
  readonly length: number;
  /** Teacher-labelled frames; of those, occluded, blurred, hard (either) and clean. */
  readonly labelled: number;
  readonly occluded: number;
  readonly blurred: number;
  readonly hard: number;
  readonly clean: number;
  /** Labelled frames whose box was interpolated (the detector missed the person). */
  readonly interpolated: number;
  /** Supervised joints (score ≥ minScore) over the labelled frames, and how many were covered. */
  readonly joints: number;
  readonly coveredJoints: number;
}

/** A stable 32-bit index for a clip id (so one clip's corruption does not depend on the others). */
export function clipIndexOf(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193) >>> 0;
  return h % 1_000_000_000;
}

/** The pixel-centre affine mapping the square [x0, x0 + side]² of the frame onto size × size pixels. */
function cropAffine(box: Box, scale: number, size: number): Affine {
  const side = scale * Math.max(box[2], box[3], 1);
  const x0 = box[0] + box[2] / 2 - side / 2;
  const y0 = box[1] + box[3] / 2 - side / 2;
  const k = size / side;
  return [k, 0, (0.5 - x0) * k - 0.5, 0, k, (0.5 - y0) * k - 0.5];
}

function rgbToRgba(rgb: Uint8Array, size: number): RgbaImage {
  const n = size * size;
  const data = new Uint8Array(4 * n);
  for (let i = 0; i < n; i++) {
    data[4 * i] = rgb[3 * i]!;
    data[4 * i + 1] = rgb[3 * i + 1]!;
    data[4 * i + 2] = rgb[3 * i + 2]!;
    data[4 * i + 3] = 255;
  }
  return { width: size, height: size, channels: 4, data };
}

const SKELETON_1BASED = COCO17.skeleton.map(([a, b]) => [a + 1, b + 1]);

function writeClip(clip: ClipLabels, videoIndex: number, source: string, frames: RgbaImage[], root: string, out: ResolvedOutput): ClipStats {
  const S = out.cropSize;
  const vid = clip.id;
  const imgDir = join(root, 'images', REAL_SUBSET, vid);
  const cleanDir = join(root, 'clean', REAL_SUBSET, vid);
  mkdirSync(imgDir, { recursive: true });
  mkdirSync(cleanDir, { recursive: true });
  const plan = planCorruption(clip.frames.length, S, out.seed, clipIndexOf(vid), out.corruption);
  const images: unknown[] = [];
  const annotations: unknown[] = [];
  let labelled = 0;
  let occluded = 0;
  let blurred = 0;
  let hard = 0;
  let interpolated = 0;
  let joints = 0;
  let covered = 0;
  const K = COCO17.numJoints;
  clip.frames.forEach((fr, t) => {
    const frame = frames[fr.frame]!;
    const tr = cropAffine(fr.box, out.cropScale, S);
    const c = corruptFrame(plan, t, (dx, dy) => warpAffineRgb(frame, [tr[0], tr[1], tr[2] + dx, tr[3], tr[4], tr[5] + dy], S, S));
    const name = `${String(fr.frame).padStart(6, '0')}.jpg`;
    const cleanJpeg = encodeJpeg(rgbToRgba(c.clean, S), out.jpegQuality);
    const same = !c.blurred && c.occluders === 0;
    writeFileSync(join(cleanDir, name), cleanJpeg);
    writeFileSync(join(imgDir, name), same ? cleanJpeg : encodeJpeg(rgbToRgba(c.rgb, S), out.jpegQuality));
    const id = (videoIndex + 1) * 100000 + fr.frame;
    const p0 = affinePoint(tr, [fr.box[0], fr.box[1]]);
    const p1 = affinePoint(tr, [fr.box[0] + fr.box[2], fr.box[1] + fr.box[3]]);
    const bbox = [round2(p0[0]), round2(p0[1]), round2(p1[0] - p0[0]), round2(p1[1] - p0[1])];
    const isLabeled = fr.keypoints !== null;
    let frameOccluded = false;
    const kp = new Array<number>(3 * K).fill(0);
    const scores = new Array<number>(K).fill(0);
    if (fr.keypoints) {
      labelled++;
      if (!fr.detected) interpolated++;
      for (let j = 0; j < K; j++) {
        const s = fr.keypoints[3 * j + 2]!;
        scores[j] = s;
        if (s < out.minScore) continue;
        const [x, y] = affinePoint(tr, [fr.keypoints[3 * j]!, fr.keypoints[3 * j + 1]!]);
        const hidden = isCovered(c.mask, S, x, y);
        joints++;
        if (hidden) {
          covered++;
          frameOccluded = true;
        }
        kp[3 * j] = round2(x);
        kp[3 * j + 1] = round2(y);
        kp[3 * j + 2] = hidden ? 0 : 1;
      }
      if (frameOccluded) occluded++;
      if (c.blurred) blurred++;
      if (frameOccluded || c.blurred) hard++;
    } else {
      // not labelled by the teacher (stride): occluded when an occluder covers part of the person's box
      const [bx, by, bw, bh] = bbox as [number, number, number, number];
      for (let y = Math.max(0, Math.floor(by)); y < Math.min(S, Math.ceil(by + bh)) && !frameOccluded; y++) {
        for (let x = Math.max(0, Math.floor(bx)); x < Math.min(S, Math.ceil(bx + bw)); x++) {
          if (c.mask[y * S + x] === 1) {
            frameOccluded = true;
            break;
          }
        }
      }
    }
    const blur = plan.blur[t];
    images.push({
      id,
      file_name: `images/${REAL_SUBSET}/${vid}/${name}`,
      frame_id: id,
      vid_id: vid,
      nframes: clip.frames.length,
      is_labeled: isLabeled,
      width: S,
      height: S,
      ignore_regions_x: [],
      ignore_regions_y: [],
      synthpose: { occluded: frameOccluded, blurred: c.blurred },
      real: {
        source,
        source_frame: fr.frame,
        clean_file: `clean/${REAL_SUBSET}/${vid}/${name}`,
        occluders: c.occluders,
        blur: blur ? { length: round2(blur.length), angle: round4(blur.angle) } : null,
        interpolated: fr.detected === null,
        crop: tr.map((v) => Number(v.toPrecision(8))),
      },
    });
    annotations.push({
      id: id * 100,
      image_id: id,
      track_id: clip.track,
      category_id: 1,
      keypoints: kp,
      scores: isLabeled ? scores : [],
      num_keypoints: Array.from({ length: K }, (_, j) => kp[3 * j]! !== 0 || kp[3 * j + 1]! !== 0 || kp[3 * j + 2]! > 0).filter(Boolean).length,
      bbox,
    });
  });
  const doc = {
    categories: [{ supercategory: 'person', id: 1, name: 'person', keypoints: [...COCO17.names], skeleton: SKELETON_1BASED }],
    images,
    annotations,
  };
  writeFileSync(join(root, 'annotations', REAL_SUBSET, `${vid}.json`), JSON.stringify(doc));
  return {
    id: vid,
    source,
    track: clip.track,
    split: clip.split,
    frames: [clip.frames[0]!.frame, clip.frames[clip.frames.length - 1]!.frame],
    length: clip.frames.length,
    labelled,
    occluded,
    blurred,
    hard,
    clean: labelled - hard,
    interpolated,
    joints,
    coveredJoints: covered,
  };
}

// ------------------------------------------------------------------------------------ the build

export interface RealDataResult {
  readonly outDir: string;
  /** Sources labelled now, and sources whose label cache was reused. */
  readonly labelled: string[];
  readonly reused: string[];
  /** Whether the crops and annotations were (re)written (false: the build key matched). */
  readonly written: boolean;
  readonly manifest: RealManifest;
}

export interface SplitStats {
  clips: number;
  tracks: number;
  frames: number;
  labelled: number;
  hard: number;
  occluded: number;
  blurred: number;
  clean: number;
}

export interface RealManifest {
  readonly format: number;
  readonly buildKey: string;
  readonly created: string;
  readonly posegrad: { version: string; commit: string | null; dirty: boolean | null };
  readonly backend: DeviceName;
  readonly teacher: unknown;
  readonly label: unknown;
  readonly output: unknown;
  readonly sources: unknown[];
  readonly split: { readonly train: string[]; readonly val: string[] };
  readonly stats: { readonly train: SplitStats; readonly val: SplitStats; readonly labelSeconds: number };
  readonly clips: ClipStats[];
}

function splitStats(clips: readonly ClipStats[]): SplitStats {
  const s: SplitStats = { clips: clips.length, tracks: new Set(clips.map((c) => `${c.source}/${c.track}`)).size, frames: 0, labelled: 0, hard: 0, occluded: 0, blurred: 0, clean: 0 };
  for (const c of clips) {
    s.frames += c.length;
    s.labelled += c.labelled;
    s.hard += c.hard;
    s.occluded += c.occluded;
    s.blurred += c.blurred;
    s.clean += c.clean;
  }
  return s;
}

/**
 * Builds (or brings up to date) a real-data folder; see the module documentation.
 * @throws Error for bad options, a missing source, or a video source without `decodeVideo`.
 */
export async function buildRealData(o: RealDataOptions): Promise<RealDataResult> {
  const root = resolve(o.outDir);
  const log = o.log ?? ((): void => {});
  o.sources.forEach(checkSource);
  if (new Set(o.sources.map((s) => s.name)).size !== o.sources.length) fail('realData', 'distinct source names', o.sources.map((s) => s.name).join(', '));
  const ls = resolveLabel(o.label);
  const os = resolveOutput(o.output);
  const weights = { detector: resolve(o.weights?.detector ?? DEFAULT_WEIGHTS.detector), teacher: resolve(o.weights?.teacher ?? DEFAULT_WEIGHTS.teacher) };
  const weightHash = { detector: sha256(readFileSync(weights.detector)), teacher: sha256(readFileSync(weights.teacher)) };
  const version = posegradVersion();
  mkdirSync(join(root, 'labels'), { recursive: true });

  // stage 1: labels (cached per source)
  let models: Models | null = null;
  const getModels = async (): Promise<Models> => {
    if (models) return models;
    const load = async (path: string): Promise<MoveNet> => moveNetFromSafetensors(new Uint8Array(readFileSync(path)), path).toAsync(o.device);
    models = { detector: await load(weights.detector), teacher: await load(weights.teacher) };
    if (!models.detector.config.multiPose) fail('realData', `a MultiPose detector in ${weights.detector}`, models.detector.config.variant);
    return models;
  };
  const frameCache = new Map<string, RgbaImage[]>();
  const framesOf = async (spec: RealSourceSpec): Promise<RgbaImage[]> => {
    let f = frameCache.get(spec.name);
    if (!f) {
      f = await loadFrames(spec, o.decodeVideo);
      if (f.length === 0) fail('realData', `frames in ${spec.path}`, 'none');
      frameCache.set(spec.name, f);
    }
    return f;
  };
  const labelled: string[] = [];
  const reused: string[] = [];
  const all: { spec: RealSourceSpec; labels: SourceLabels; file: string }[] = [];
  try {
    for (const spec of o.sources) {
      const hash = sourceHash(spec);
      const settings = {
        format: REAL_DATA_FORMAT,
        source: { kind: spec.kind, sha256: hash, stride: spec.stride ?? 1, blocks: spec.blocks, minClipFrames: spec.minClipFrames ?? ls.minClipFrames },
        detector: { weights: weightHash.detector, maxSize: ls.detectorMaxSize, minPersonScore: ls.minPersonScore },
        tracker: { metric: 'iou', threshold: ls.trackThreshold, maxAge: ls.maxAge, smoothWindow: ls.smoothWindow, minBoxHeight: ls.minBoxHeight },
        teacher: { weights: weightHash.teacher, ...ls.teacher },
        backend: o.device,
      };
      const key = sha256(JSON.stringify(settings));
      const file = join(root, 'labels', `${spec.name}.json`);
      let labels: SourceLabels | null = null;
      if (!o.force && existsSync(file)) {
        try {
          const old = JSON.parse(readFileSync(file, 'utf8')) as SourceLabels;
          if (old.key === key && old.format === REAL_DATA_FORMAT) labels = old;
        } catch {
          labels = null; // unreadable: relabel
        }
      }
      if (labels) {
        reused.push(spec.name);
        log(`${spec.name}: labels unchanged (key ${key.slice(0, 12)}), reusing ${file}`);
      } else {
        const frames = await framesOf(spec);
        log(`${spec.name}: labelling ${frames.length} frames of ${frames[0]!.width}x${frames[0]!.height} (stride ${spec.stride ?? 1}) on ${o.device}`);
        labels = await labelSource(spec, frames, await getModels(), key, hash, ls, settings, o);
        writeFileSync(file, `${JSON.stringify(labels)}\n`);
        labelled.push(spec.name);
        log(`${spec.name}: ${labels.tracks.length} tracks, ${labels.clips.length} clips; detection ${labels.seconds.detect.toFixed(0)} s, teacher ${labels.seconds.teacher.toFixed(0)} s`);
      }
      all.push({ spec, labels, file });
    }
  } finally {
    const m = models as Models | null;
    m?.detector.dispose();
    m?.teacher.dispose();
  }

  // stage 2: the written dataset (skipped when nothing changed)
  const outputSettings = { ...os, writer: REAL_DATA_FORMAT };
  const buildKey = sha256(JSON.stringify({ labels: all.map((a) => [a.spec.name, a.labels.key]), output: outputSettings }));
  const manifestPath = join(root, 'manifest.json');
  if (existsSync(manifestPath) && existsSync(join(root, 'split.json'))) {
    try {
      const old = JSON.parse(readFileSync(manifestPath, 'utf8')) as RealManifest;
      const ids = [...old.split.train, ...old.split.val];
      if (old.buildKey === buildKey && ids.every((id) => existsSync(join(root, 'annotations', REAL_SUBSET, `${id}.json`)))) {
        log(`dataset unchanged (build key ${buildKey.slice(0, 12)}): nothing written`);
        return { outDir: root, labelled, reused, written: false, manifest: old };
      }
    } catch {
      // rebuild
    }
  }
  for (const d of ['annotations', 'images', 'clean']) rmSync(join(root, d, REAL_SUBSET), { recursive: true, force: true });
  mkdirSync(join(root, 'annotations', REAL_SUBSET), { recursive: true });
  const clipStats: ClipStats[] = [];
  let videoIndex = 0;
  for (const { spec, labels } of all) {
    if (labels.clips.length === 0) continue;
    const frames = await framesOf(spec);
    labels.clips.forEach((clip, i) => {
      clipStats.push(writeClip(clip, videoIndex++, spec.name, frames, root, os));
      o.onProgress?.({ stage: 'write', source: spec.name, done: i + 1, total: labels.clips.length });
    });
    frameCache.delete(spec.name);
  }
  const train = clipStats.filter((c) => c.split === 'train').map((c) => c.id);
  const val = clipStats.filter((c) => c.split === 'val').map((c) => c.id);
  writeFileSync(join(root, 'split.json'), `${JSON.stringify({ format: 1, subset: REAL_SUBSET, jointSet: COCO17.name, train, val }, null, 1)}\n`);
  const manifest: RealManifest = {
    format: REAL_DATA_FORMAT,
    buildKey,
    created: new Date().toISOString(),
    posegrad: version,
    backend: o.device,
    teacher: {
      model: 'MoveNet SinglePose Thunder (Google, Apache-2.0; assets/weights/movenet/NOTICE)',
      weights: { file: weights.teacher, sha256: weightHash.teacher },
      detector: { model: 'MoveNet MultiPose Lightning', file: weights.detector, sha256: weightHash.detector },
      flipTest: ls.teacher.flip ? 'keypoint-level: mean of the two views where they agree within agreeRadius · crop side, else the higher-scoring view with the lower score' : 'off',
      ...ls.teacher,
    },
    label: { ...ls, teacher: undefined, tracker: 'PoseTracker IoU' },
    output: { ...os, format: 'PoseTrack 2018 layout, COCO-17 keypoint names, JPEG crops', jointSet: COCO17.name },
    sources: all.map(({ spec, labels, file }) => ({
      name: spec.name,
      kind: spec.kind,
      path: spec.path,
      licence: spec.licence,
      sha256: labels.source.sha256,
      frames: labels.source.frames,
      size: [labels.source.width, labels.source.height],
      fps: spec.fps ?? null,
      stride: spec.stride ?? 1,
      blocks: spec.blocks,
      labelKey: labels.key,
      labels: `labels/${spec.name}.json`,
      labelsSha256: sha256(readFileSync(file)),
      labelSeconds: labels.seconds,
      relabelled: labelled.includes(spec.name),
      tracks: labels.tracks.length,
      clips: labels.clips.length,
    })),
    split: { train, val },
    stats: {
      train: splitStats(clipStats.filter((c) => c.split === 'train')),
      val: splitStats(clipStats.filter((c) => c.split === 'val')),
      labelSeconds: round2(all.reduce((s, a) => s + a.labels.seconds.detect + a.labels.seconds.teacher, 0)),
    },
    clips: clipStats,
  };
  writeFileSync(manifestPath, `${JSON.stringify(manifest, null, 1)}\n`);
  log(`wrote ${clipStats.length} clips (${train.length} train, ${val.length} held out) to ${root}`);
  return { outDir: root, labelled, reused, written: true, manifest };
}

// ------------------------------------------------------------------------------------ default sources

/** Debian's opencv-doc sample video of pedestrians (795 frames, 768x576, 10 fps). */
export const VTEST_AVI = '/usr/share/doc/opencv-doc/examples/data/vtest.avi';
/** The shared sample data beside the repository (../shared/data). */
export const SHARED_DATA = resolve(ROOT, '..', 'shared', 'data');

/**
 * The sources of the real training data (docs/data.md, "Real training data"), those present on
 * this machine: vtest.avi (train = frames 0–589, held out = 600–794) and the two basketball frames
 * of ../shared/data/opencv-samples (training only). `stride`: the teacher labels every stride-th
 * vtest frame.
 */
export function defaultRealSources(stride = 2): RealSourceSpec[] {
  const out: RealSourceSpec[] = [];
  if (existsSync(VTEST_AVI)) {
    out.push({
      name: 'vtest',
      kind: 'video',
      path: VTEST_AVI,
      licence: "OpenCV sample data (samples/data/vtest.avi), Debian package opencv-doc; Debian's copyright file puts it under 'Files: *': Apache-2.0 AND BSD-3-Clause",
      blocks: [
        { split: 'train', start: 0, end: 590 },
        { split: 'val', start: 600, end: 795 },
      ],
      stride,
      fps: 10,
    });
  }
  const bb = join(SHARED_DATA, 'opencv-samples');
  if (existsSync(join(bb, 'basketball1.png')) && existsSync(join(bb, 'basketball2.png'))) {
    out.push({
      name: 'basketball',
      kind: 'frames',
      path: bb,
      licence: 'OpenCV sample data (samples/data/basketball1.png, basketball2.png) via ../shared/data/opencv-samples: Apache-2.0 AND BSD-3-Clause',
      blocks: [{ split: 'train', start: 0, end: 2 }],
      stride: 1,
      minClipFrames: 2,
      fps: null,
    });
  }
  return out;
}
