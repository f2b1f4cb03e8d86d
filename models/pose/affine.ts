/**
 * Top-down crops: person box → (center, scale), the affine transform between an image and the
 * network input (or heatmap), and a bilinear warp that cuts the crop out of an RGB image.
 *
 * Conventions follow HRNet / SimpleBaseline / DCPose (`lib/utils/transforms.py` and the dataset
 * `_box2cs`):
 * - `scale` is the box size in units of `PIXEL_STD` = 200 pixels, as [sw, sh];
 * - `center` and points are in pixel coordinates where pixel (i, j) has its center at x = i, y = j
 *   (OpenCV's convention, no half-pixel shift);
 * - sizes are given as [width, height] (HRNet's `image_size`), shapes as [H, W].
 */
import { tensor } from '../../ops/creation.js';
import type { Tensor } from '../../engine/tensor.js';

/** HRNet's `pixel_std`: scale is measured in units of 200 pixels. */
export const PIXEL_STD = 200;
/** ImageNet statistics used by torchvision's `Normalize` in every pose codebase (RGB order). */
export const IMAGENET_MEAN: readonly [number, number, number] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: readonly [number, number, number] = [0.229, 0.224, 0.225];

export type Vec2 = readonly [number, number];
/** A 2x3 affine matrix [[a, b, c], [d, e, f]] stored row-major: (x, y) ↦ (a·x + b·y + c, d·x + e·y + f). */
export type Affine = readonly [number, number, number, number, number, number];

export interface CenterScale {
  /** Box center in image pixels [cx, cy]. */
  center: [number, number];
  /** Box size / PIXEL_STD, after the aspect fix and padding: [sw, sh]. */
  scale: [number, number];
}

export interface BoxToCSOptions {
  /** Enlargement factor applied to the scale (HRNet: 1.25, i.e. 25% padding). */
  padding?: number;
  /** Pixels per scale unit (default 200). */
  pixelStd?: number;
}

/**
 * HRNet's `_box2cs` / `_xywh2cs`: the center of an [x, y, w, h] box (top-left corner, size in
 * pixels), and its scale after widening or heightening the box to `aspectRatio` = inputW/inputH,
 * dividing by 200 and enlarging by 1.25.
 * @throws Error when the box is not four finite numbers with w, h ≥ 0, or aspectRatio ≤ 0.
 */
export function boxToCenterScale(box: readonly number[], aspectRatio: number, opts: BoxToCSOptions = {}): CenterScale {
  const op = 'boxToCenterScale';
  if (box.length < 4 || !box.slice(0, 4).every((v) => Number.isFinite(v))) throw new Error(`${op}: expected a box [x, y, w, h] of finite numbers, got [${box.join(', ')}]`);
  const [x, y] = box as [number, number];
  let w = box[2]!;
  let h = box[3]!;
  if (w < 0 || h < 0) throw new Error(`${op}: expected a box with w ≥ 0 and h ≥ 0, got w=${w}, h=${h}`);
  if (!(aspectRatio > 0) || !Number.isFinite(aspectRatio)) throw new Error(`${op}: expected a positive aspect ratio (input width / height), got ${aspectRatio}`);
  const pad = opts.padding ?? 1.25;
  const std = opts.pixelStd ?? PIXEL_STD;
  const center: [number, number] = [x + w * 0.5, y + h * 0.5];
  if (w > aspectRatio * h) h = w / aspectRatio;
  else if (w < aspectRatio * h) w = h * aspectRatio;
  // HRNet skips the enlargement when center[0] == -1 (its marker for "no box"); we keep that rule.
  const f = center[0] !== -1 ? pad : 1;
  return { center, scale: [(w / std) * f, (h / std) * f] };
}

/**
 * The box [x, y, w, h] that a (center, scale) pair covers: the inverse of boxToCenterScale's last
 * steps (the aspect fix is not undone). Handy for drawing crops.
 */
export function centerScaleToBox(cs: CenterScale, pixelStd = PIXEL_STD): [number, number, number, number] {
  const w = cs.scale[0] * pixelStd;
  const h = cs.scale[1] * pixelStd;
  return [cs.center[0] - w / 2, cs.center[1] - h / 2, w, h];
}

/**
 * HRNet's `get_affine_transform(center, scale, rot, output_size, shift, inv)`: the 2x3 matrix that
 * maps the image region (center, scale·200, rotated by `rot` degrees) onto an output of
 * `outputSize` = [width, height]; with `inv`, the matrix mapping output pixels back to the image.
 * Built, as in HRNet, from three point pairs: the center, a point half a width above it, and the
 * point perpendicular to those (`get_3rd_point`). Only scale[0] sets the zoom (the aspect ratio was
 * fixed by boxToCenterScale).
 * @throws Error when scale[0] or an output size is not positive.
 */
export function getAffineTransform(center: Vec2, scale: Vec2 | number, rot: number, outputSize: Vec2, inv = false, shift: Vec2 = [0, 0]): Affine {
  const op = 'getAffineTransform';
  const s: Vec2 = typeof scale === 'number' ? [scale, scale] : scale;
  if (!(s[0] > 0)) throw new Error(`${op}: expected a positive scale, got [${s.join(', ')}]`);
  if (!(outputSize[0] > 0 && outputSize[1] > 0)) throw new Error(`${op}: expected a positive output size [width, height], got [${outputSize.join(', ')}]`);
  const scaleTmp: Vec2 = [s[0] * PIXEL_STD, s[1] * PIXEL_STD];
  const srcW = scaleTmp[0];
  const [dstW, dstH] = outputSize;
  const rad = (Math.PI * rot) / 180;
  const srcDir = rotate([0, srcW * -0.5], rad);
  const dstDir: Vec2 = [0, dstW * -0.5];
  const src0: Vec2 = [center[0] + scaleTmp[0] * shift[0], center[1] + scaleTmp[1] * shift[1]];
  const src1: Vec2 = [src0[0] + srcDir[0], src0[1] + srcDir[1]];
  const dst0: Vec2 = [dstW * 0.5, dstH * 0.5];
  const dst1: Vec2 = [dst0[0] + dstDir[0], dst0[1] + dstDir[1]];
  const src = [src0, src1, thirdPoint(src0, src1)];
  const dst = [dst0, dst1, thirdPoint(dst0, dst1)];
  return inv ? affineFromPoints(dst, src) : affineFromPoints(src, dst);
}

/** HRNet's `affine_transform`: applies a 2x3 matrix to a point. */
export function affinePoint(t: Affine, p: Vec2): [number, number] {
  return [t[0] * p[0] + t[1] * p[1] + t[2], t[3] * p[0] + t[4] * p[1] + t[5]];
}

/**
 * The inverse of an affine map (cv2.invertAffineTransform).
 * @throws Error when the matrix is singular.
 */
export function invertAffine(t: Affine): Affine {
  const [a, b, c, d, e, f] = t;
  const det = a * e - b * d;
  if (det === 0 || !Number.isFinite(det)) throw new Error(`invertAffine: expected an invertible matrix, got determinant ${det}`);
  const ia = e / det;
  const ib = -b / det;
  const id = -d / det;
  const ie = a / det;
  return [ia, ib, -(ia * c + ib * f), id, ie, -(id * c + ie * f)];
}

/**
 * cv2.getAffineTransform: the affine map taking the three points `src` to `dst`, found by solving
 * the 6x6 linear system (two independent 3x3 systems) with Cramer's rule.
 * @throws Error when the source points are collinear.
 */
export function affineFromPoints(src: readonly Vec2[], dst: readonly Vec2[]): Affine {
  if (src.length !== 3 || dst.length !== 3) throw new Error(`affineFromPoints: expected 3 source and 3 destination points, got ${src.length} and ${dst.length}`);
  const [p0, p1, p2] = src as [Vec2, Vec2, Vec2];
  // Rows [x, y, 1] of the source points.
  const det = det3(p0[0], p0[1], 1, p1[0], p1[1], 1, p2[0], p2[1], 1);
  if (Math.abs(det) < 1e-12) throw new Error(`affineFromPoints: expected non-collinear source points, got [${src.map((p) => `(${p[0]}, ${p[1]})`).join(', ')}]`);
  const solve = (v0: number, v1: number, v2: number): [number, number, number] => [
    det3(v0, p0[1], 1, v1, p1[1], 1, v2, p2[1], 1) / det,
    det3(p0[0], v0, 1, p1[0], v1, 1, p2[0], v2, 1) / det,
    det3(p0[0], p0[1], v0, p1[0], p1[1], v1, p2[0], p2[1], v2) / det,
  ];
  const [a, b, c] = solve(dst[0]![0], dst[1]![0], dst[2]![0]);
  const [d, e, f] = solve(dst[0]![1], dst[1]![1], dst[2]![1]);
  return [a, b, c, d, e, f];
}

/** An RGB(A) image: `channels` interleaved values per pixel (HWC, row-major), 0..255. */
export interface ImageHWC {
  readonly width: number;
  readonly height: number;
  /** 3 (RGB) or 4 (RGBA; alpha is ignored). */
  readonly channels: number;
  readonly data: ArrayLike<number>;
}

/**
 * cv2.warpAffine(img, t, (outW, outH), flags=INTER_LINEAR, borderValue=0) for the first three
 * channels: output pixel (x, y) reads the image at t⁻¹·(x, y) with bilinear interpolation, and taps
 * outside the image read 0. Differences from OpenCV: coordinates are not quantized to 1/32 pixel and
 * values are not rounded to uint8 (the result stays float, 0..255).
 *
 * Returns a Float32Array of shape [3, outH, outW] (CHW, RGB).
 * @throws Error when the image data is shorter than width·height·channels or channels < 3.
 */
export function warpAffineRgb(img: ImageHWC, t: Affine, outW: number, outH: number): Float32Array {
  const op = 'warpAffineRgb';
  const { width: W, height: H, channels: C, data } = img;
  if (C < 3) throw new Error(`${op}: expected an image with 3 or 4 channels, got ${C}`);
  if (data.length < W * H * C) throw new Error(`${op}: expected ${W}x${H}x${C} = ${W * H * C} values, got ${data.length}`);
  if (!(Number.isInteger(outW) && Number.isInteger(outH) && outW > 0 && outH > 0)) throw new Error(`${op}: expected a positive integer output size, got ${outW}x${outH}`);
  const inv = invertAffine(t);
  const out = new Float32Array(3 * outH * outW);
  const plane = outH * outW;
  const px = (x: number, y: number, c: number): number => (x < 0 || y < 0 || x >= W || y >= H ? 0 : data[(y * W + x) * C + c]!);
  for (let oy = 0; oy < outH; oy++) {
    for (let ox = 0; ox < outW; ox++) {
      const sx = inv[0] * ox + inv[1] * oy + inv[2];
      const sy = inv[3] * ox + inv[4] * oy + inv[5];
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      const o = oy * outW + ox;
      if (x0 < -1 || y0 < -1 || x0 >= W || y0 >= H) continue; // all four taps outside: 0
      for (let c = 0; c < 3; c++) {
        const v = (1 - fy) * ((1 - fx) * px(x0, y0, c) + fx * px(x0 + 1, y0, c)) + fy * ((1 - fx) * px(x0, y0 + 1, c) + fx * px(x0 + 1, y0 + 1, c));
        out[c * plane + o] = v;
      }
    }
  }
  return out;
}

/**
 * torchvision's ToTensor + Normalize(IMAGENET_MEAN, IMAGENET_STD) on a CHW RGB array of 0..255
 * values, in place: v ← (v/255 - mean[c]) / std[c]. Returns the same array.
 */
export function normalizeImagenet(chw: Float32Array, mean: readonly number[] = IMAGENET_MEAN, std: readonly number[] = IMAGENET_STD): Float32Array {
  const plane = chw.length / 3;
  if (!Number.isInteger(plane)) throw new Error(`normalizeImagenet: expected a [3, H, W] array, got ${chw.length} values`);
  for (let c = 0; c < 3; c++) {
    const m = mean[c]!;
    const s = std[c]!;
    for (let i = c * plane; i < (c + 1) * plane; i++) chw[i] = (chw[i]! / 255 - m) / s;
  }
  return chw;
}

export interface CropOptions {
  /** Rotation in degrees (augmentation); default 0. */
  rot?: number;
  /** Skip ImageNet normalization (keeps 0..255 values). */
  raw?: boolean;
}

/**
 * The network input for one person: the region (center, scale) warped to `inputSize` = [width,
 * height] by getAffineTransform + warpAffineRgb, then ImageNet-normalized. Returns the CHW array
 * ([3, H, W], float32) so that callers can stack crops into one batch tensor.
 */
export function cropPersonArray(img: ImageHWC, cs: CenterScale, inputSize: Vec2, opts: CropOptions = {}): Float32Array {
  const t = getAffineTransform(cs.center, cs.scale, opts.rot ?? 0, inputSize);
  const chw = warpAffineRgb(img, t, inputSize[0], inputSize[1]);
  return opts.raw ? chw : normalizeImagenet(chw);
}

/** cropPersonArray as a float32 tensor of shape [3, H, W] on the default device. */
export function cropPerson(img: ImageHWC, cs: CenterScale, inputSize: Vec2, opts: CropOptions = {}): Tensor {
  return tensor(cropPersonArray(img, cs, inputSize, opts), { shape: [3, inputSize[1], inputSize[0]] });
}

function rotate(p: Vec2, rad: number): [number, number] {
  const sn = Math.sin(rad);
  const cs = Math.cos(rad);
  return [p[0] * cs - p[1] * sn, p[0] * sn + p[1] * cs];
}

/** HRNet's get_3rd_point: b + (a - b) rotated by 90°. */
function thirdPoint(a: Vec2, b: Vec2): Vec2 {
  const dx = a[0] - b[0];
  const dy = a[1] - b[1];
  return [b[0] - dy, b[1] + dx];
}

function det3(a: number, b: number, c: number, d: number, e: number, f: number, g: number, h: number, i: number): number {
  return a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
}
