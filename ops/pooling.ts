/**
 * 2-D pooling (NCHW): maxPool2d, avgPool2d and adaptiveAvgPool2d, as torch.nn.functional's
 * max_pool2d, avg_pool2d and adaptive_avg_pool2d. Each takes [N, C, H, W] or an unbatched
 * [C, H, W]. Forward and backward run dedicated kernels.
 */
import type { Pool2dParams } from '../backends/backend.js';
import type { Tensor } from '../engine/tensor.js';
import type { IntOrPair } from './conv.js';
import { intPair } from './internal/args.js';
import { tensor } from './creation.js';
import { mul } from './elementwise.js';
import { reshape } from './shape.js';
import { backendOf, check, fail, fmtShape, kt, record, requireFloat, requireInt, wrap } from './util.js';

/**
 * PyTorch's pooling output size along one axis: ⌊(in + 2·pad - dilation·(k-1) - 1 + (ceil ? stride-1 : 0))/stride⌋ + 1,
 * and with ceilMode one less when the last window would start beyond the input and its left
 * padding (PyTorch's pooling_output_shape).
 */
export function poolOutSize(inSize: number, k: number, stride: number, pad: number, dilation: number, ceilMode: boolean): number {
  let out = Math.floor((inSize + 2 * pad - dilation * (k - 1) - 1 + (ceilMode ? stride - 1 : 0)) / stride) + 1;
  if (ceilMode && (out - 1) * stride >= inSize + pad) out--;
  return out;
}

interface PoolSetup {
  x4: Tensor;
  batched: boolean;
  p: Pool2dParams;
}


/** Checks shared by max and avg pooling; returns the 4-D input and the kernel parameters. */
function setup(op: string, x: Tensor, kernelSize: IntOrPair, stride: IntOrPair | null | undefined, padding: IntOrPair | undefined, dilation: IntOrPair | undefined, ceilMode: boolean, countIncludePad: boolean): PoolSetup {
  check(op, 'input', x);
  requireFloat(op, 'input', x);
  if (x.rank !== 3 && x.rank !== 4) fail(op, 'input of rank 4 [N, C, H, W] or 3 [C, H, W]', `shape ${fmtShape(x.shape)}`);
  const kernel = intPair(op, 'kernelSize', kernelSize, 1, 1);
  const s = stride === undefined || stride === null ? kernel : intPair(op, 'stride', stride, 1, 1);
  const pad = intPair(op, 'padding', padding, 0, 0);
  const dil = intPair(op, 'dilation', dilation, 1, 1);
  if (pad[0] > kernel[0] / 2 || pad[1] > kernel[1] / 2) fail(op, `padding at most half the kernel size ${fmtShape(kernel)}`, fmtShape(pad));
  const batched = x.rank === 4;
  const x4 = batched ? x : reshape(x, [1, ...x.shape]);
  const [H, W] = x4.shape.slice(2) as [number, number];
  const outH = poolOutSize(H, kernel[0], s[0], pad[0], dil[0], ceilMode);
  const outW = poolOutSize(W, kernel[1], s[1], pad[1], dil[1], ceilMode);
  if (outH < 1 || outW < 1) fail(op, 'an output of at least 1x1', `${outH}x${outW} for input ${fmtShape(x.shape)}, kernel ${fmtShape(kernel)}, stride ${fmtShape(s)}, padding ${fmtShape(pad)}, dilation ${fmtShape(dil)}`);
  return { x4, batched, p: { kernel, stride: s, padding: pad, dilation: dil, ceilMode, countIncludePad, outH, outW } };
}

function unbatch(t: Tensor, batched: boolean): Tensor {
  return batched ? t : reshape(t, t.shape.slice(1));
}

export interface MaxPool2dOptions {
  /** Default: kernelSize. */
  stride?: IntOrPair | null;
  /** Implicit -Infinity padding on both sides; at most half the kernel. Default 0. */
  padding?: IntOrPair;
  /** Spacing between kernel taps. Default 1. */
  dilation?: IntOrPair;
  /** Round the output size up (PyTorch's ceil_mode). Default false. */
  ceilMode?: boolean;
  /** Also return the argmax indices. Default false. */
  returnIndices?: boolean;
}

/**
 * Max pooling (torch.nn.functional.max_pool2d).
 * Shapes: x [N, C, H, W] (or [C, H, W]) -> [N, C, Ho, Wo] with
 * Ho = ⌊(H + 2·padding - dilation·(k-1) - 1)/stride⌋ + 1 (see poolOutSize for ceilMode).
 * With `returnIndices`, also returns int32 indices: the flat offset iy·W + ix of each maximum in its
 * [H, W] plane (PyTorch's return_indices, int64 there). Ties keep the first maximum in scan order.
 * The gradient goes to the selected element of each window.
 * @throws Error on a rank other than 3 or 4, an int32 input, non-positive kernel/stride/dilation,
 *   padding over half the kernel, or an empty output.
 */
export function maxPool2d(x: Tensor, kernelSize: IntOrPair, opts: MaxPool2dOptions & { returnIndices: true }): [Tensor, Tensor];
export function maxPool2d(x: Tensor, kernelSize: IntOrPair, opts?: MaxPool2dOptions & { returnIndices?: false }): Tensor;
export function maxPool2d(x: Tensor, kernelSize: IntOrPair, opts?: MaxPool2dOptions): Tensor | [Tensor, Tensor];
export function maxPool2d(x: Tensor, kernelSize: IntOrPair, opts: MaxPool2dOptions = {}): Tensor | [Tensor, Tensor] {
  const op = 'maxPool2d';
  const { x4, batched, p } = setup(op, x, kernelSize, opts.stride, opts.padding, opts.dilation, opts.ceilMode ?? false, true);
  const be = backendOf(x4);
  const [N, C] = x4.shape as [number, number];
  const shape = [N, C, p.outH, p.outW];
  const r = be.maxPool2d(kt(op, x4), p);
  const indices = wrap(x4.device, r.indices, shape, 'int32');
  const out = record(op, wrap(x4.device, r.out, shape, x4.dtype), [x4], (g) => [wrap(g.device, be.maxPool2dBackward(kt(op, g), kt(op, indices), x4.shape, p), x4.shape, g.dtype)]);
  if (opts.returnIndices) return [unbatch(out, batched), unbatch(indices, batched)];
  if (!out.requiresGrad) indices.dispose();
  return unbatch(out, batched);
}

export interface AvgPool2dOptions {
  /** Default: kernelSize. */
  stride?: IntOrPair | null;
  /** Implicit zero padding on both sides; at most half the kernel. Default 0. */
  padding?: IntOrPair;
  /** Round the output size up (PyTorch's ceil_mode). Default false. */
  ceilMode?: boolean;
  /** Count the padded zeros in the divisor (PyTorch's count_include_pad). Default true. */
  countIncludePad?: boolean;
  /** When given, every window's sum is divided by this instead (PyTorch's divisor_override). */
  divisorOverride?: number | null;
}

/**
 * Average pooling (torch.nn.functional.avg_pool2d).
 * Shapes: x [N, C, H, W] (or [C, H, W]) -> [N, C, Ho, Wo], Ho as maxPool2d with dilation 1.
 * The divisor is the window size clipped to the padded input (countIncludePad), the number of
 * input elements in the window (countIncludePad false), or divisorOverride.
 * @throws Error as maxPool2d, and when divisorOverride is not a non-zero integer.
 */
export function avgPool2d(x: Tensor, kernelSize: IntOrPair, opts: AvgPool2dOptions = {}): Tensor {
  const op = 'avgPool2d';
  const div = opts.divisorOverride ?? null;
  if (div !== null && (!Number.isInteger(div) || div === 0)) fail(op, 'divisorOverride as a non-zero integer', String(div));
  const include = div !== null ? false : (opts.countIncludePad ?? true);
  const { x4, batched, p } = setup(op, x, kernelSize, opts.stride, opts.padding, 1, opts.ceilMode ?? false, include);
  const be = backendOf(x4);
  const [N, C] = x4.shape as [number, number];
  const shape = [N, C, p.outH, p.outW];
  let out = record(op, wrap(x4.device, be.avgPool2d(kt(op, x4), p), shape, x4.dtype), [x4], (g) => [wrap(g.device, be.avgPool2dBackward(kt(op, g), x4.shape, p), x4.shape, g.dtype)]);
  if (div !== null) {
    // mean over the window's input elements × (their count / divisorOverride)
    const [H, W] = x4.shape.slice(2) as [number, number];
    const count = (o: number, s: number, pad: number, k: number, size: number): number => Math.min(o * s - pad + k, size) - Math.max(o * s - pad, 0);
    const f = new Float64Array(p.outH * p.outW);
    for (let oy = 0; oy < p.outH; oy++) {
      for (let ox = 0; ox < p.outW; ox++) f[oy * p.outW + ox] = (count(oy, p.stride[0], p.padding[0], p.kernel[0], H) * count(ox, p.stride[1], p.padding[1], p.kernel[1], W)) / div;
    }
    out = mul(out, tensor(f, { dtype: x4.dtype, device: x4.device, shape: [p.outH, p.outW] }));
  }
  return unbatch(out, batched);
}

/**
 * Adaptive average pooling (torch.nn.functional.adaptive_avg_pool2d): output (i, j) averages rows
 * [⌊i·H/oh⌋, ⌈(i+1)·H/oh⌉) and columns [⌊j·W/ow⌋, ⌈(j+1)·W/ow⌉).
 * Shapes: x [N, C, H, W] (or [C, H, W]) -> [N, C, oh, ow]. `outputSize` is a number, or a pair
 * whose null entries keep the input size.
 * @throws Error on a rank other than 3 or 4, an int32 input, or a non-positive output size.
 */
export function adaptiveAvgPool2d(x: Tensor, outputSize: number | readonly [number | null, number | null]): Tensor {
  const op = 'adaptiveAvgPool2d';
  check(op, 'input', x);
  requireFloat(op, 'input', x);
  if (x.rank !== 3 && x.rank !== 4) fail(op, 'input of rank 4 [N, C, H, W] or 3 [C, H, W]', `shape ${fmtShape(x.shape)}`);
  const batched = x.rank === 4;
  const x4 = batched ? x : reshape(x, [1, ...x.shape]);
  const [N, C, H, W] = x4.shape as [number, number, number, number];
  if (typeof outputSize !== 'number' && (!Array.isArray(outputSize) || outputSize.length !== 2)) fail(op, 'outputSize as a number or a pair', String(outputSize));
  const [oh0, ow0] = typeof outputSize === 'number' ? [outputSize, outputSize] : outputSize;
  const oh = requireInt(op, 'outputSize', oh0 ?? H, 1);
  const ow = requireInt(op, 'outputSize', ow0 ?? W, 1);
  if (H < 1 || W < 1) fail(op, 'a non-empty input plane', `shape ${fmtShape(x.shape)}`);
  const be = backendOf(x4);
  const shape = [N, C, oh, ow];
  const out = record(op, wrap(x4.device, be.adaptiveAvgPool2d(kt(op, x4), oh, ow), shape, x4.dtype), [x4], (g) => [wrap(g.device, be.adaptiveAvgPool2dBackward(kt(op, g), x4.shape), x4.shape, g.dtype)]);
  return unbatch(out, batched);
}
