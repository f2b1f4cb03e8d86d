/**
 * The MoveNet race's models and inputs: which network at which input size, and the real frames
 * each one sees (assets/demo/0001.jpg..0005.jpg, 576x432). Every engine gets the very same
 * integers: the frame is cropped/resized once on the host (posegrad's own bilinear warp), rounded
 * and clamped to 0..255, and stored as interleaved RGB bytes; posegrad receives them as float32
 * NCHW, TF.js as int32 NHWC (the graph's `input:0`), both built before the timed region.
 *
 * - SinglePose (Lightning 192x192, Thunder 256x256): the square crop (side 1.25 x max(w, h),
 *   centred on the box, zero outside the frame) of the biggest person box of the frame in
 *   assets/demo/boxes.json, resized to the model's input, as models/movenet/pipeline.ts crops.
 * - MultiPose Lightning at 256x256 and 512x384 (width x height): the whole frame stretched to the
 *   input (512x384 keeps the frames' 4:3; 256x256 squeezes them).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeImage, type RgbaImage } from '../../models/pose/image.js';
import { warpAffineRgb, type Affine } from '../../models/pose/affine.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export type MoveNetModelId = 'lightning' | 'thunder' | 'multipose-256' | 'multipose-512x384';

export interface MoveNetModelDef {
  id: MoveNetModelId;
  label: string;
  /** The weights file (assets/weights/movenet/<variant>.safetensors) and the TF.js graph (movenet-<variant>.json). */
  variant: 'lightning' | 'thunder' | 'multipose';
  multiPose: boolean;
  /** Input [H, W] in pixels. */
  size: [number, number];
}

export const MOVENET_MODELS: readonly MoveNetModelDef[] = [
  { id: 'lightning', label: 'SinglePose Lightning 192x192', variant: 'lightning', multiPose: false, size: [192, 192] },
  { id: 'thunder', label: 'SinglePose Thunder 256x256', variant: 'thunder', multiPose: false, size: [256, 256] },
  { id: 'multipose-256', label: 'MultiPose Lightning 256x256', variant: 'multipose', multiPose: true, size: [256, 256] },
  { id: 'multipose-512x384', label: 'MultiPose Lightning 512x384', variant: 'multipose', multiPose: true, size: [384, 512] },
];

export const FRAME_FILES = ['0001.jpg', '0002.jpg', '0003.jpg', '0004.jpg', '0005.jpg'] as const;

/** One model input: interleaved RGB bytes [H, W, 3] (0..255) and where it came from. */
export interface MoveNetInput {
  frame: string;
  /** [H, W]. */
  size: [number, number];
  rgb: Uint8Array;
  /** How the input was made (the crop box, or "whole frame"). */
  source: string;
}

type Box = [number, number, number, number];

interface BoxesJson {
  frames: { file: string; persons: { id: number; box: Box }[] }[];
}

/** The affine (pixel-centre coordinates) taking the frame region [x0, x0 + sw] × [y0, y0 + sh] onto outW × outH pixels. */
function regionTransform(x0: number, y0: number, sw: number, sh: number, outW: number, outH: number): Affine {
  const kx = outW / sw;
  const ky = outH / sh;
  return [kx, 0, (0.5 - x0) * kx - 0.5, 0, ky, (0.5 - y0) * ky - 0.5];
}

/** CHW float RGB (0..255, from the bilinear warp) → interleaved RGB bytes, rounded and clamped. */
function toBytes(chw: Float32Array, H: number, W: number): Uint8Array {
  const plane = H * W;
  const out = new Uint8Array(3 * plane);
  for (let i = 0; i < plane; i++) for (let c = 0; c < 3; c++) out[i * 3 + c] = Math.min(255, Math.max(0, Math.round(chw[c * plane + i]!)));
  return out;
}

/** The biggest person box of `file` in assets/demo/boxes.json. */
export function biggestBox(boxes: BoxesJson, file: string): Box {
  const frame = boxes.frames.find((f) => f.file === file);
  if (!frame || frame.persons.length === 0) throw new Error(`movenet bench: expected person boxes for ${file} in assets/demo/boxes.json, got none`);
  return [...frame.persons].sort((a, b) => b.box[2] * b.box[3] - a.box[2] * a.box[3])[0]!.box;
}

/** The input of `model` for one decoded frame. */
export function makeInput(model: MoveNetModelDef, frame: RgbaImage, file: string, boxes: BoxesJson): MoveNetInput {
  const [H, W] = model.size;
  if (model.multiPose) {
    const t = regionTransform(0, 0, frame.width, frame.height, W, H);
    return { frame: file, size: [H, W], rgb: toBytes(warpAffineRgb(frame, t, W, H), H, W), source: `whole ${frame.width}x${frame.height} frame resized to ${W}x${H}` };
  }
  const [x, y, w, h] = biggestBox(boxes, file);
  const side = 1.25 * Math.max(w, h, 1);
  const t = regionTransform(x + w / 2 - side / 2, y + h / 2 - side / 2, side, side, W, H);
  return { frame: file, size: [H, W], rgb: toBytes(warpAffineRgb(frame, t, W, H), H, W), source: `square crop (1.25 x max side) of the biggest person box [${x}, ${y}, ${w}, ${h}]` };
}

/** The inputs of `model` for the first `count` demo frames (default all five). */
export function loadInputs(model: MoveNetModelDef, count: number = FRAME_FILES.length): MoveNetInput[] {
  const boxes = JSON.parse(readFileSync(path.join(ROOT, 'assets', 'demo', 'boxes.json'), 'utf8')) as BoxesJson;
  return FRAME_FILES.slice(0, count).map((file) => makeInput(model, decodeImage(new Uint8Array(readFileSync(path.join(ROOT, 'assets', 'demo', file)))), file, boxes));
}

/** Interleaved RGB bytes [H, W, 3] → float32 NCHW [1, 3, H, W] (posegrad's input). */
export function toNchwFloat(rgb: Uint8Array, H: number, W: number): Float32Array {
  const plane = H * W;
  const out = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) for (let c = 0; c < 3; c++) out[c * plane + i] = rgb[i * 3 + c]!;
  return out;
}

/** Interleaved RGB bytes [H, W, 3] → int32 NHWC [1, H, W, 3] (the TF.js graph's input). */
export function toNhwcInt32(rgb: Uint8Array): Int32Array {
  return Int32Array.from(rgb);
}

export function weightsPath(model: MoveNetModelDef): string {
  return path.join(ROOT, 'assets', 'weights', 'movenet', `${model.variant}.safetensors`);
}
