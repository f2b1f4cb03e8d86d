/**
 * Which frames of a video make up one sample around a key frame, for each of the four networks:
 *
 * - FaSRnet / DCPose: [cur, prev, next], with prev and next at random gaps (1 by default) and
 *   DCPose's margin weights w_prev = d_next / (d_prev + d_next), w_next = d_prev / (d_prev + d_next).
 *   At a clip border the missing neighbour is the current frame (NOTES.md).
 * - VREMD: 3 frames [prev, cur, next] at gap 1.
 * - RPSTN: T consecutive frames starting at the key frame (the last frame repeats at the clip end).
 * - GLPose: the key frame, k local frames on each side (clamped at the borders) and n global frames
 *   drawn uniformly from the rest of the video; global frames are cropped with their own box. The
 *   dataset (dataset.ts) draws GLPose's global proposals itself, as boxes of any person over those
 *   frames (never by track id); these positions serve callers without boxes (glposeWindows).
 */
import { engine } from '../../../engine/engine.js';
import type { Rng } from '../../../engine/random.js';
import { fail } from '../../../engine/shape.js';

export type FrameSelection =
  | { readonly kind: 'single' }
  | { readonly kind: 'curPrevNext'; readonly maxGap?: number }
  | { readonly kind: 'prevCurNext'; readonly gap?: number }
  | { readonly kind: 'consecutive'; readonly length: number }
  | { readonly kind: 'localGlobal'; readonly local: number; readonly global: number };

export interface SelectedFrames {
  /** Frame positions in the video, in the order the network takes them. */
  readonly positions: readonly number[];
  /** Index of the key frame within `positions`. */
  readonly key: number;
  /** Per position: crop with the key frame's box (true) or with that frame's own box of the same person (false). */
  readonly sharedCrop: readonly boolean[];
  /** For curPrevNext: the gaps [d_prev, d_next] actually used (0 when clamped to the key frame) and the margin weights. */
  readonly margins?: { readonly dPrev: number; readonly dNext: number; readonly wPrev: number; readonly wNext: number };
}

/** Number of frames a selection yields. */
export function selectionLength(sel: FrameSelection): number {
  switch (sel.kind) {
    case 'single':
      return 1;
    case 'curPrevNext':
    case 'prevCurNext':
      return 3;
    case 'consecutive':
      return sel.length;
    case 'localGlobal':
      return 1 + 2 * sel.local + sel.global;
  }
}

/**
 * The frames of one sample. Random gaps (curPrevNext with maxGap > 1, global frames) use `rng` when
 * `random` is true, else the deterministic choice (gap 1; global frames evenly spaced).
 * @throws Error on an invalid selection or an empty video.
 */
export function selectFrames(sel: FrameSelection, key: number, numFrames: number, random: boolean, rng: Rng = engine.rng): SelectedFrames {
  const op = 'selectFrames';
  if (!(numFrames > 0) || !Number.isInteger(key) || key < 0 || key >= numFrames) fail(op, `a key frame in [0, ${numFrames})`, String(key));
  const clampPos = (p: number): number => Math.min(numFrames - 1, Math.max(0, p));
  switch (sel.kind) {
    case 'single':
      return { positions: [key], key: 0, sharedCrop: [true] };
    case 'curPrevNext': {
      const maxGap = sel.maxGap ?? 1;
      if (!Number.isInteger(maxGap) || maxGap < 1) fail(op, 'maxGap as an integer ≥ 1', String(maxGap));
      const gp = random && maxGap > 1 ? 1 + rng.int(maxGap) : 1;
      const gn = random && maxGap > 1 ? 1 + rng.int(maxGap) : 1;
      const prev = key - gp >= 0 ? key - gp : key;
      const next = key + gn < numFrames ? key + gn : key;
      const dPrev = key - prev;
      const dNext = next - key;
      const tot = dPrev + dNext;
      const margins = tot > 0 ? { dPrev, dNext, wPrev: dNext / tot, wNext: dPrev / tot } : { dPrev, dNext, wPrev: 0.5, wNext: 0.5 };
      return { positions: [key, prev, next], key: 0, sharedCrop: [true, true, true], margins };
    }
    case 'prevCurNext': {
      const gap = sel.gap ?? 1;
      if (!Number.isInteger(gap) || gap < 1) fail(op, 'gap as an integer ≥ 1', String(gap));
      return { positions: [clampPos(key - gap), key, clampPos(key + gap)], key: 1, sharedCrop: [true, true, true] };
    }
    case 'consecutive': {
      if (!Number.isInteger(sel.length) || sel.length < 1) fail(op, 'length as an integer ≥ 1', String(sel.length));
      return { positions: Array.from({ length: sel.length }, (_, i) => clampPos(key + i)), key: 0, sharedCrop: new Array<boolean>(sel.length).fill(true) };
    }
    case 'localGlobal': {
      const { local, global } = sel;
      if (!Number.isInteger(local) || local < 0 || !Number.isInteger(global) || global < 0) fail(op, 'local and global as integers ≥ 0', `${local}, ${global}`);
      const positions = [key];
      for (let d = 1; d <= local; d++) positions.push(clampPos(key - d), clampPos(key + d));
      const outside: number[] = [];
      for (let p = 0; p < numFrames; p++) if (Math.abs(p - key) > local) outside.push(p);
      const pool = outside.length > 0 ? outside : [key];
      for (let g = 0; g < global; g++) {
        positions.push(random ? pool[rng.int(pool.length)]! : pool[Math.floor(((g + 0.5) * pool.length) / global)]!);
      }
      return { positions, key: 0, sharedCrop: positions.map((_, i) => i <= 2 * local) };
    }
  }
}
