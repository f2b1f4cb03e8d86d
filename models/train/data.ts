/**
 * The SynthPose data of the training experiment: generation on disk (seeded, in the PoseTrack
 * layout of `cli/synthpose.ts`), a fixed train/validation split by clip, and a frame loader that
 * decodes each PNG once.
 *
 * Layout of a data folder:
 *
 *   <dir>/split.json                         { format: 1, spec, train: [video ids], val: [video ids] }
 *   <dir>/annotations/synthpose/<vid>.json   PoseTrack 2018 layout + per-frame synthpose flags
 *   <dir>/images/synthpose/<vid>/<frame>.png
 *
 * Train clips are SynthPose clip indices 0 … trainClips−1, validation clips trainClips …
 * trainClips+valClips−1 of the same master seed: every clip has its own generator seed, so the two
 * sets share no scene, figure, occluder or background.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fail } from '../../engine/shape.js';
import type { ImageHWC } from '../pose/affine.js';
import type { FrameLoader } from '../pose/data/dataset.js';
import { readFrame, readPoseTrackFile } from '../pose/datasets/io.js';
import type { VideoFrame, VideoSequence } from '../pose/datasets/types.js';
import { generateClip, type SynthPoseOptions } from '../synthpose/generator.js';
import { writeClip } from '../synthpose/writer.js';

/** What to generate: clip counts, clip length, frame size and the master seed. */
export interface SynthPoseSpec {
  readonly trainClips: number;
  readonly valClips: number;
  /** Frames per clip. */
  readonly frames: number;
  /** Frame [width, height] in pixels. */
  readonly size: readonly [number, number];
  readonly seed: number;
}

/** The experiment's data (docs/results.md): 32 training and 8 validation clips of 40 frames, 256x256. */
export const DEFAULT_SYNTH_SPEC: SynthPoseSpec = Object.freeze({ trainClips: 32, valClips: 8, frames: 40, size: [256, 256] as const, seed: 7 });

/** The default folder for a spec: /tmp/synthpose/s<seed>-<train>+<val>x<frames>-<w>x<h>. */
export function defaultDataDir(spec: SynthPoseSpec = DEFAULT_SYNTH_SPEC): string {
  return join('/tmp', 'synthpose', `s${spec.seed}-${spec.trainClips}+${spec.valClips}x${spec.frames}-${spec.size[0]}x${spec.size[1]}`);
}

/** Video id of SynthPose clip `index` (cli/synthpose.ts: six digits). */
export function clipVideoId(index: number): string {
  return String(index).padStart(6, '0');
}

interface SplitFile {
  format: 1;
  spec?: SynthPoseSpec;
  train: string[];
  val: string[];
  /** The folder under annotations/ (default 'synthpose'; models/train/real-data.ts writes 'real'). */
  subset?: string;
  /** The joint set of the keypoints (joints.ts name; absent: SynthPose's 'posetrack'). */
  jointSet?: string;
}

function checkSpec(spec: SynthPoseSpec): void {
  const op = 'ensureSynthPose';
  const int = (name: string, v: number, min: number): void => {
    if (!Number.isInteger(v) || v < min) fail(op, `${name} as an integer ≥ ${min}`, String(v));
  };
  int('trainClips', spec.trainClips, 1);
  int('valClips', spec.valClips, 1);
  int('frames', spec.frames, 3);
  int('width', spec.size[0], 32);
  int('height', spec.size[1], 32);
  int('seed', spec.seed, 0);
}

/**
 * Generates the clips of `spec` that `dir` does not hold yet and writes `split.json`. An existing
 * split.json with another spec is an error (the folder belongs to another experiment).
 * @param onClip called after each generated clip (index, seconds).
 * @returns the number of clips generated now.
 * @throws Error on an invalid spec or a folder whose split.json records a different spec.
 */
export function ensureSynthPose(dir: string, spec: SynthPoseSpec = DEFAULT_SYNTH_SPEC, onClip?: (index: number, total: number, seconds: number) => void): number {
  checkSpec(spec);
  const root = resolve(dir);
  const splitPath = join(root, 'split.json');
  if (existsSync(splitPath)) {
    const old = JSON.parse(readFileSync(splitPath, 'utf8')) as SplitFile;
    if (JSON.stringify(old.spec) !== JSON.stringify(normalizeSpec(spec))) {
      fail('ensureSynthPose', `a folder generated with ${JSON.stringify(normalizeSpec(spec))}`, `${root} holding ${JSON.stringify(old.spec)}`);
    }
  }
  mkdirSync(root, { recursive: true });
  const total = spec.trainClips + spec.valClips;
  const opts: SynthPoseOptions = { width: spec.size[0], height: spec.size[1], frames: spec.frames, seed: spec.seed };
  let made = 0;
  for (let i = 0; i < total; i++) {
    if (existsSync(join(root, 'annotations', 'synthpose', `${clipVideoId(i)}.json`))) continue;
    const t0 = performance.now();
    writeClip(generateClip(i, opts), root);
    made++;
    onClip?.(i, total, (performance.now() - t0) / 1000);
  }
  const split: SplitFile = {
    format: 1,
    spec: normalizeSpec(spec),
    train: Array.from({ length: spec.trainClips }, (_, i) => clipVideoId(i)),
    val: Array.from({ length: spec.valClips }, (_, i) => clipVideoId(spec.trainClips + i)),
  };
  writeFileSync(splitPath, `${JSON.stringify(split, null, 1)}\n`);
  return made;
}

function normalizeSpec(s: SynthPoseSpec): SynthPoseSpec {
  return { trainClips: s.trainClips, valClips: s.valClips, frames: s.frames, size: [s.size[0], s.size[1]], seed: s.seed };
}

/** The two halves of a data folder. */
export interface DataSplit {
  readonly dir: string;
  readonly train: readonly VideoSequence[];
  readonly val: readonly VideoSequence[];
  /** The generating spec, when split.json records one. */
  readonly spec: SynthPoseSpec | null;
  /** The joint set split.json names ('coco17' for real-data.ts folders), or undefined (SynthPose: 'posetrack'). */
  readonly jointSet?: string;
}

/**
 * Reads a data folder: the clips listed in split.json. A PoseTrack-layout folder without split.json
 * (for example one written by `npm run synthpose`) is split by sorted video id: the last
 * max(1, ⌊n/5⌋) videos are the validation set.
 * @throws Error when the folder has no annotations, or split.json names a missing clip.
 */
export function loadSplit(dir: string): DataSplit {
  const root = resolve(dir);
  const splitPath = join(root, 'split.json');
  const subset = existsSync(splitPath) ? ((JSON.parse(readFileSync(splitPath, 'utf8')) as SplitFile).subset ?? 'synthpose') : 'synthpose';
  const annDir = join(root, 'annotations', subset);
  if (!existsSync(annDir)) fail('loadSplit', `a SynthPose folder with annotations/${subset}/*.json`, root);
  const read = (vid: string): VideoSequence => {
    const p = join(annDir, `${vid}.json`);
    if (!existsSync(p)) fail('loadSplit', `the clip ${vid} listed in split.json`, `no file ${p}`);
    const v = readPoseTrackFile(p, root);
    if (v.length !== 1) fail('loadSplit', `one video in ${p}`, `${v.length}`);
    return v[0]!;
  };
  if (existsSync(splitPath)) {
    const s = JSON.parse(readFileSync(splitPath, 'utf8')) as SplitFile;
    if (s.format !== 1 || !Array.isArray(s.train) || !Array.isArray(s.val)) fail('loadSplit', 'split.json with format 1, train and val lists', splitPath);
    return { dir: root, train: s.train.map(read), val: s.val.map(read), spec: s.spec ?? null, ...(s.jointSet ? { jointSet: s.jointSet } : {}) };
  }
  const ids = readdirSync(annDir).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort();
  if (ids.length < 2) fail('loadSplit', 'at least 2 clips (training and validation)', `${ids.length} in ${annDir}`);
  const nVal = Math.max(1, Math.floor(ids.length / 5));
  return { dir: root, train: ids.slice(0, ids.length - nVal).map(read), val: ids.slice(ids.length - nVal).map(read), spec: null };
}

/**
 * A FrameLoader that decodes each frame file once and keeps the decoded pixels (a SynthPose frame
 * of 256x256 is 256 KB as RGBA; the experiment's 40 clips of 40 frames hold about 400 MB at most,
 * and only the frames actually visited are kept). `capacity` bounds the number of frames (least
 * recently used first out).
 */
export function cachedFrameLoader(capacity = 4096): FrameLoader {
  const cache = new Map<string, ImageHWC>();
  return (video: VideoSequence, frame: VideoFrame): ImageHWC => {
    const key = `${video.root}/${frame.file}`;
    const hit = cache.get(key);
    if (hit) {
      cache.delete(key);
      cache.set(key, hit);
      return hit;
    }
    const img = readFrame(video, frame);
    cache.set(key, img);
    if (cache.size > capacity) cache.delete(cache.keys().next().value!);
    return img;
  };
}

/** Frames of `videos` by category, for reporting: all labeled, occluded or blurred ("hard"), clean. */
export function frameCounts(videos: readonly VideoSequence[]): { frames: number; people: number; occluded: number; blurred: number; hard: number; clean: number } {
  let frames = 0;
  let people = 0;
  let occluded = 0;
  let blurred = 0;
  let hard = 0;
  for (const v of videos) {
    for (const f of v.frames) {
      if (!f.isLabeled) continue;
      frames++;
      people += f.people.length;
      if (f.flags?.occluded) occluded++;
      if (f.flags?.blurred) blurred++;
      if (isHardFrame(f)) hard++;
    }
  }
  return { frames, people, occluded, blurred, hard, clean: frames - hard };
}

/** A frame with some joint hidden (occluder or another figure) or rendered with motion blur. */
export function isHardFrame(f: VideoFrame): boolean {
  return f.flags?.occluded === true || f.flags?.blurred === true;
}
