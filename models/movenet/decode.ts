/**
 * MoveNet's post-processing, written from the TF.js graphs' own decoding subgraphs (the part after
 * the heads in movenet/singlepose/*\/4 and movenet/multipose/lightning/1; TF Object Detection API's
 * CenterNet keypoint decoding). It runs on the host, on maps read back from any backend, and gives
 * keypoints in input pixels.
 *
 * SinglePose (one person, the one nearest the image centre):
 *  1. centre = argmax over cells of center(y, x) · 1/(‖(y, x) − (h/2, w/2)‖ + 1.8);
 *  2. regressed keypoints r_j = centre + regress_j(centre);
 *  3. for each keypoint j, cell k_j = argmax of heatmap_j(y, x) / (‖(y, x) − r_j‖ + 1.8);
 *  4. position (k_j + offset_j(k_j)) · 4 pixels; score heatmap_j(k_j).
 *
 * MultiPose (up to 6 people):
 *  1. centre NMS: a cell survives when center equals its 5x5 max-pool (within 1e-6); top 6 cells;
 *  2. per candidate i: box from boxScale and boxOffset at its centre (clipped to the map),
 *     regressed keypoints r_ij = centre_i + regress_j(centre_i);
 *  3. per (i, j): k_ij = argmax of heatmap_j · exp(−‖(y, x) − r_ij‖² / (0.3 · min(h, w))) inside box i;
 *  4. position (k_ij + offset_j(k_ij)) · 4 pixels; score = the largest such weighted value of any
 *     candidate at k_ij (as the graph computes it);
 *  5. person score = centre score · mean of the keypoint scores above 0.127.
 * Ties in an argmax go to the first cell in row-major order, as tf.argMax / tf.topk do.
 */
import type { Tensor } from '../../engine/tensor.js';
import { float16BitsToNumber, numberToFloat16Bits } from '../nn/safetensors.js';
import { COCO17 } from '../pose/joints.js';
import type { MoveNetConfig } from './config.js';
import type { MoveNetOutput } from './movenet.js';

/** One keypoint in input pixels (x right, y down) with its score in [0, 1]. */
export interface MoveNetKeypoint {
  name: string;
  x: number;
  y: number;
  score: number;
}

/** One person: 17 keypoints (MoveNet/COCO order), a score, and for MultiPose its box. */
export interface MoveNetPose {
  keypoints: MoveNetKeypoint[];
  score: number;
  /** [x, y, w, h] in input pixels (MultiPose). */
  box?: [number, number, number, number];
}

/** The head maps of one forward on the host, [B, C, h, w] row-major, plus the input size. */
export interface MoveNetHostOutput {
  batch: number;
  h: number;
  w: number;
  inputSize: [number, number];
  center: Float32Array;
  heatmaps: Float32Array;
  regress: Float32Array;
  offsets: Float32Array;
  boxScale?: Float32Array;
  boxOffset?: Float32Array;
  numKeypoints: number;
  /** SinglePose: the model's centre weighting [h·w] (its `center_weight` buffer). */
  centerWeight?: Float32Array;
}

/**
 * Reads a forward's maps back to the host (async: works on every backend). Does not dispose them.
 * `centerWeight`: the model's `center_weight` buffer (SinglePose), or null to recompute it.
 */
export async function readMoveNetOutput(o: MoveNetOutput, inputSize: [number, number], centerWeight: Tensor | null = null): Promise<MoveNetHostOutput> {
  const rd = async (t: Tensor | undefined): Promise<Float32Array | undefined> => (t ? Float32Array.from((await t.data()) as ArrayLike<number>) : undefined);
  const [B, K, h, w] = o.heatmaps.shape as [number, number, number, number];
  return {
    batch: B,
    h,
    w,
    inputSize,
    numKeypoints: K,
    center: (await rd(o.center))!,
    heatmaps: (await rd(o.heatmaps))!,
    regress: (await rd(o.regress))!,
    offsets: (await rd(o.offsets))!,
    boxScale: await rd(o.boxScale),
    boxOffset: await rd(o.boxOffset),
    centerWeight: centerWeight ? await rd(centerWeight) : undefined,
  };
}

/** Rounds to the nearest float16 value (the graph stores its constant maps in float16). */
export function roundToFloat16(v: number): number {
  return float16BitsToNumber(numberToFloat16Bits(v));
}

/**
 * The SinglePose centre weighting 1/(‖(y, x) − (h/2, w/2)‖ + offset) per cell, rounded to float16
 * as the graph stores it (ConstantFolding/.../truediv_2_recip). [h·w] row-major. The converted
 * weights carry the graph's own map (MoveNet's `center_weight` buffer), which differs from this one
 * by one float16 ulp at the few cells where the float32 value sits on a rounding tie (8 of 4096 in
 * Thunder, 0 in Lightning); this is the initial value for a model built without weights.
 */
export function centerWeights(h: number, w: number, offset: number): Float32Array {
  const out = new Float32Array(h * w);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[y * w + x] = roundToFloat16(Math.fround(1 / Math.fround(Math.fround(Math.hypot(y - h / 2, x - w / 2)) + Math.fround(offset))));
  return out;
}

function argmax(n: number, f: (i: number) => number): number {
  let best = -Infinity;
  let at = 0;
  for (let i = 0; i < n; i++) {
    const v = f(i);
    if (v > best) {
      best = v;
      at = i;
    }
  }
  return at;
}

function checkBatch(op: string, o: MoveNetHostOutput, b: number): void {
  if (!(Number.isInteger(b) && b >= 0 && b < o.batch)) throw new Error(`${op}: expected a batch index in [0, ${o.batch}), got ${b}`);
}

/**
 * Decodes one image of a SinglePose forward (tf.js's movenet/singlepose graph, in-graph decoding).
 * @returns 17 keypoints in input pixels; the pose score is the mean keypoint score.
 * @throws Error when `b` is out of range or the maps lack a MultiPose-only field they need.
 */
export function decodeSinglePose(o: MoveNetHostOutput, cfg: MoveNetConfig, b = 0): MoveNetPose {
  const op = 'decodeSinglePose';
  checkBatch(op, o, b);
  const { h, w, numKeypoints: K } = o;
  const hw = h * w;
  const cw = o.centerWeight ?? centerWeights(h, w, cfg.decode.centerDistanceOffset ?? 1.8);
  if (cw.length !== hw) throw new Error(`${op}: expected a centre weighting of ${h}x${w} = ${hw} cells, got ${cw.length}`);
  const c0 = b * hw;
  const ci = argmax(hw, (i) => Math.fround(o.center[c0 + i]! * cw[i]!));
  const cy = Math.floor(ci / w);
  const cx = ci - cy * w;
  const kOff = Math.fround(cfg.decode.keypointDistanceOffset ?? 1.8);
  const [H, W] = o.inputSize;
  const keypoints: MoveNetKeypoint[] = [];
  for (let j = 0; j < K; j++) {
    const rg = (b * 2 * K + 2 * j) * hw;
    const ry = Math.fround(cy + o.regress[rg + ci]!);
    const rx = Math.fround(cx + o.regress[rg + hw + ci]!);
    const hm = (b * K + j) * hw;
    const ki = argmax(hw, (i) => {
      const y = Math.floor(i / w);
      const x = i - y * w;
      const d = Math.fround(Math.sqrt(Math.fround(Math.fround((y - ry) ** 2) + Math.fround((x - rx) ** 2))));
      return Math.fround(o.heatmaps[hm + i]! / Math.fround(d + kOff));
    });
    const ky = Math.floor(ki / w);
    const kx = ki - ky * w;
    const oy = o.offsets[rg + ki]!;
    const ox = o.offsets[rg + hw + ki]!;
    keypoints.push({ name: COCO17.names[j] ?? `keypoint_${j}`, y: ((ky + oy) / h) * H, x: ((kx + ox) / w) * W, score: o.heatmaps[hm + ki]! });
  }
  return { keypoints, score: keypoints.reduce((s, k) => s + k.score, 0) / Math.max(1, K) };
}

/**
 * Decodes one image of a MultiPose forward (tf.js's movenet/multipose graph, in-graph decoding).
 * @returns up to `maxPersons` people (6), best centre first, every candidate the graph outputs
 *   (filter by `score` yourself: tfjs-models' pose-detection keeps score > 0.25 by default).
 * @throws Error when `b` is out of range or the box maps are missing (not a MultiPose output).
 */
export function decodeMultiPose(o: MoveNetHostOutput, cfg: MoveNetConfig, b = 0): MoveNetPose[] {
  const op = 'decodeMultiPose';
  checkBatch(op, o, b);
  if (!o.boxScale || !o.boxOffset) throw new Error(`${op}: expected boxScale and boxOffset maps (a MultiPose model), got none`);
  const { h, w, numKeypoints: K } = o;
  const hw = h * w;
  const d = cfg.decode;
  const kernel = d.nmsKernel ?? 5;
  const tol = Math.fround(d.nmsTolerance ?? 1e-6);
  const P = d.maxPersons ?? 6;
  const thr = Math.fround(d.keypointScoreThreshold ?? 0.127);
  const [H, W] = o.inputSize;
  const center = o.center.subarray(b * hw, (b + 1) * hw);
  // 1. NMS by max-pool (TF 'SAME', stride 1: windows clipped at the border) and top-P
  const r = Math.floor(kernel / 2);
  const kept = new Float32Array(hw);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let m = -Infinity;
      for (let yy = Math.max(0, y - r); yy <= Math.min(h - 1, y + r); yy++) for (let xx = Math.max(0, x - r); xx <= Math.min(w - 1, x + r); xx++) m = Math.max(m, center[yy * w + xx]!);
      const c = center[y * w + x]!;
      kept[y * w + x] = Math.fround(Math.abs(Math.fround(c - m))) < tol ? c : 0;
    }
  }
  const order = Array.from({ length: hw }, (_, i) => i).sort((a, bb) => kept[bb]! - kept[a]! || a - bb).slice(0, P);
  // 2. boxes (cells) and regressed keypoints
  const cand = order.map((idx) => {
    const cy = Math.floor(idx / w);
    const cx = idx - cy * w;
    const sh = Math.max(o.boxScale![(b * 2) * hw + idx]!, 0);
    const sw = Math.max(o.boxScale![(b * 2 + 1) * hw + idx]!, 0);
    const oy = o.boxOffset![(b * 2) * hw + idx]!;
    const ox = o.boxOffset![(b * 2 + 1) * hw + idx]!;
    const clip = (v: number, hi: number): number => Math.max(Math.min(Math.fround(v), hi), 0);
    const box = [clip(cy + oy - sh * 0.5, h), clip(cx + ox - sw * 0.5, w), clip(cy + oy + sh * 0.5, h), clip(cx + ox + sw * 0.5, w)] as const;
    const reg: [number, number][] = [];
    for (let j = 0; j < K; j++) reg.push([Math.fround(cy + o.regress[(b * 2 * K + 2 * j) * hw + idx]!), Math.fround(cx + o.regress[(b * 2 * K + 2 * j + 1) * hw + idx]!)]);
    return { score: kept[idx]!, box, reg };
  });
  // 3. weighted heatmaps per (candidate, keypoint): argmax inside the box, score = max over candidates
  const denom = Math.fround(Math.min(h, w) * Math.fround(d.sigmaFactor ?? 0.3));
  const weighted = (i: number, j: number, cell: number): number => {
    const y = Math.floor(cell / w);
    const x = cell - y * w;
    const c = cand[i]!;
    if (!(y >= c.box[0] && y < c.box[2] && x >= c.box[1] && x < c.box[3])) return 0;
    const [ry, rx] = c.reg[j]!;
    const d2 = Math.fround(Math.fround((y - ry) ** 2) + Math.fround((x - rx) ** 2));
    return Math.fround(o.heatmaps[(b * K + j) * hw + cell]! * Math.fround(Math.exp(Math.fround(-d2 / denom))));
  };
  const people: MoveNetPose[] = cand.map((c, i) => {
    const keypoints: MoveNetKeypoint[] = [];
    let sum = 0;
    let count = 0;
    for (let j = 0; j < K; j++) {
      const k = argmax(hw, (cell) => weighted(i, j, cell));
      let s = -Infinity;
      for (let i2 = 0; i2 < cand.length; i2++) s = Math.max(s, weighted(i2, j, k));
      const ky = Math.floor(k / w);
      const kx = k - ky * w;
      const oy = o.offsets[(b * 2 * K + 2 * j) * hw + k]!;
      const ox = o.offsets[(b * 2 * K + 2 * j + 1) * hw + k]!;
      keypoints.push({ name: COCO17.names[j] ?? `keypoint_${j}`, y: ((ky + oy) / h) * H, x: ((kx + ox) / w) * W, score: s });
      if (s > thr) {
        sum += Math.fround(c.score * s);
        count++;
      }
    }
    const [y0, x0, y1, x1] = c.box.map((v, q) => Math.min(Math.max((v * 4) / (q % 2 === 0 ? H : W), 0), 1) * (q % 2 === 0 ? H : W)) as [number, number, number, number];
    return { keypoints, score: sum / Math.max(count, 1), box: [x0, y0, x1 - x0, y1 - y0] };
  });
  return people;
}
