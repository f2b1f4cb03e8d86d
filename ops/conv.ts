/**
 * conv2d and convTranspose2d (torch.nn.functional.conv2d / conv_transpose2d), NCHW.
 * The weight may itself be a graph tensor (RPSTN builds a per-sample depthwise kernel): gradients
 * flow to input, weight and bias. convTranspose2d is the adjoint of conv2d, so its forward is
 * conv2d's input-gradient kernel and its backward reuses conv2d and the weight-gradient kernel.
 * conv2d also takes per-side padding (TF's explicit padding, e.g. its 'SAME' with an odd total) and
 * an output clamp (ReLU, ReLU6) that the kernels apply in their epilogue when no gradient is
 * recorded: one kernel instead of pad, conv and clamp (Conv2dParams in backends/backend.ts).
 */
import { convOutLength, type Conv2dParams } from '../backends/backend.js';
import { fmtShape } from '../engine/shape.js';
import type { Tensor } from '../engine/tensor.js';
import { clamp as clampOp, relu } from './elementwise.js';
import { intPair, show } from './internal/args.js';
import { sum } from './reduce.js';
import { pad as padOp } from './shape.js';
import { backendOf, check, countMacs, fail, kt, needsGrad, record, requireFloat, requireInt, sameDeviceDtype, wrap } from './util.js';

export type IntOrPair = number | readonly [number, number];

/** Explicit per-side padding, as TF's explicit padding: [[top, bottom], [left, right]]. */
export type ExplicitPadding = readonly [readonly [number, number], readonly [number, number]];

export interface Conv2dOptions {
  stride?: IntOrPair;
  /**
   * Zeros around the input, in pixels: a number (all sides), a pair [h, w] (PyTorch: h above and
   * below, w left and right), explicit sides [[top, bottom], [left, right]] (TF's explicit
   * padding; e.g. TF's 'SAME' at stride 2 on an even size is [[0, 1], [0, 1]] for a 3x3 kernel),
   * or 'valid' (0) / 'same' (stride 1 only; odd totals pad one more after, as an explicit pad op).
   */
  padding?: IntOrPair | ExplicitPadding | 'same' | 'valid';
  dilation?: IntOrPair;
  groups?: number;
  /**
   * Clamps the output (after the bias) to [lo, hi], as torch.clamp(conv2d(...), lo, hi): ReLU is
   * [0, Infinity], ReLU6 [0, 6] (±Infinity leaves a side open; NaN propagates). Fused into the
   * conv kernel's epilogue when no gradient is recorded (inference); with autograd it is conv2d
   * followed by the clamp op ([0, Infinity]: the relu op, whose gradient at exactly 0 is 0 as
   * F.relu's), so gradients are exactly those of the composition.
   */
  clamp?: readonly [number, number];
}

/** Validates `clamp` ([lo, hi], numbers, lo ≤ hi; ±Infinity allowed). @internal */
function clampOption(op: string, v: unknown): [number, number] | undefined {
  if (v === undefined) return undefined;
  const ok = Array.isArray(v) && v.length === 2 && v.every((e) => typeof e === 'number' && !Number.isNaN(e)) && v[0] <= v[1];
  if (!ok) fail(op, 'clamp as [lo, hi] with numbers lo ≤ hi (±Infinity for an open side)', show(v));
  return [v[0] as number, v[1] as number];
}

/** Parses `padding` (number, [h, w] or [[top, bottom], [left, right]]) into [top, bottom, left, right]. @internal */
function explicitPadding(op: string, v: unknown): [number, number, number, number] {
  if (Array.isArray(v) && v.length === 2 && (Array.isArray(v[0]) || Array.isArray(v[1]))) {
    const sides = v as unknown[];
    const ok = sides.every((s) => Array.isArray(s) && s.length === 2 && s.every((e) => Number.isInteger(e) && (e as number) >= 0));
    if (!ok) fail(op, 'padding as [[top, bottom], [left, right]] of integers ≥ 0', show(v));
    const [[t, b], [l, r]] = sides as [[number, number], [number, number]];
    return [t, b, l, r];
  }
  const [ph, pw] = positivePair(op, 'padding', v as IntOrPair | undefined, 0, 0, "'same' or 'valid'");
  return [ph, ph, pw, pw];
}

function positivePair(op: string, name: string, v: IntOrPair | undefined, dflt: number, min: number, alternatives = ''): [number, number] {
  return intPair(op, name, v, dflt, min, alternatives);
}

/** Output size of a conv along one axis (PyTorch's formula). */
export function convOutSize(inSize: number, k: number, stride: number, pad: number, dilation: number): number {
  return Math.floor((inSize + 2 * pad - dilation * (k - 1) - 1) / stride) + 1;
}

/**
 * 2-D convolution (torch.nn.functional.conv2d; with explicit per-side padding, TF's tf.nn.conv2d
 * with explicit paddings), optionally clamped (`opts.clamp`).
 * Shapes: input [N, Cin, H, W], weight [Cout, Cin/groups, kh, kw], bias [Cout] -> [N, Cout, Ho, Wo]
 * with Ho = ⌊(H + top + bottom - dilation·(kh-1) - 1)/stride⌋ + 1 (top = bottom = pad for a
 * number or a pair), Wo likewise with left + right.
 * @throws Error on a wrong rank, a channel count that does not match groups, a bias of the wrong
 *   size, a malformed padding or clamp, or an empty output.
 */
export function conv2d(input: Tensor, weight: Tensor, bias?: Tensor | null, opts: Conv2dOptions = {}): Tensor {
  const op = 'conv2d';
  check(op, 'input', input);
  check(op, 'weight', weight);
  if (bias) check(op, 'bias', bias);
  sameDeviceDtype(op, input, weight, bias);
  requireFloat(op, 'input', input);
  if (input.rank !== 4) fail(op, 'input of rank 4 [N, C, H, W]', `shape ${fmtShape(input.shape)}`);
  if (weight.rank !== 4) fail(op, 'weight of rank 4 [Cout, Cin/groups, kh, kw]', `shape ${fmtShape(weight.shape)}`);
  const groups = requireInt(op, 'groups', opts.groups ?? 1, 1);
  const [N, C] = input.shape as [number, number];
  const [Cout, Cg, kh, kw] = weight.shape as [number, number, number, number];
  if (C % groups !== 0 || Cout % groups !== 0) fail(op, `in and out channels divisible by groups=${groups}`, `Cin=${C}, Cout=${Cout}`);
  if (Cg * groups !== C) fail(op, `weight.shape[1] = Cin/groups = ${C / groups}`, `${Cg} (weight ${fmtShape(weight.shape)}, input ${fmtShape(input.shape)})`);
  if (bias && (bias.rank !== 1 || bias.shape[0] !== Cout)) fail(op, `bias of shape [${Cout}]`, fmtShape(bias.shape));
  const stride = positivePair(op, 'stride', opts.stride, 1, 1);
  const dilation = positivePair(op, 'dilation', opts.dilation, 1, 1);
  const clamp = clampOption(op, opts.clamp);
  let x = input;
  let padding: [number, number, number, number];
  if (opts.padding === 'valid') padding = [0, 0, 0, 0];
  else if (opts.padding === 'same') {
    if (stride[0] !== 1 || stride[1] !== 1) fail(op, "stride 1 with padding='same'", `stride ${fmtShape(stride)}`);
    const th = dilation[0] * (kh - 1);
    const tw = dilation[1] * (kw - 1);
    padding = [Math.floor(th / 2), Math.floor(th / 2), Math.floor(tw / 2), Math.floor(tw / 2)];
    if (th % 2 || tw % 2) x = padOp(input, [0, tw % 2, 0, th % 2]);
  } else padding = explicitPadding(op, opts.padding);
  const [H, W] = x.shape.slice(2) as [number, number];
  const Ho = convOutLength(H, kh, stride[0], padding[0], padding[1], dilation[0]);
  const Wo = convOutLength(W, kw, stride[1], padding[2], padding[3], dilation[1]);
  if (Ho <= 0 || Wo <= 0) fail(op, 'a kernel that fits the padded input', `input ${fmtShape(input.shape)}, kernel ${kh}x${kw}, padding ${fmtShape(padding)}, dilation ${fmtShape(dilation)}`);
  // The clamp is fused only when nothing is recorded: with autograd, conv2d then clamp (exact gradients).
  const fuse = clamp !== undefined && !needsGrad([x, weight, bias]);
  const p: Conv2dParams = { stride, padding, dilation, groups };
  countMacs(op, N * Cout * Ho * Wo * Cg * kh * kw);
  const be = backendOf(x);
  const out = wrap(x.device, be.conv2d(kt(op, x), kt(op, weight), bias ? kt(op, bias) : null, fuse ? { ...p, clamp } : p), [N, Cout, Ho, Wo], x.dtype);
  const y = record(op, out, [x, weight, bias], (g) => [
    x.requiresGrad ? wrap(g.device, be.conv2dBackwardInput(kt(op, g), kt(op, weight), x.shape, p), x.shape, g.dtype) : null,
    weight.requiresGrad ? wrap(g.device, be.conv2dBackwardWeight(kt(op, x), kt(op, g), weight.shape, p), weight.shape, g.dtype) : null,
    bias?.requiresGrad ? sum(g, [0, 2, 3]) : null,
  ]);
  // unfused (a gradient is recorded): the graph keeps y for the clamp's backward
  if (clamp === undefined || fuse) return y;
  // [0, ∞) is a ReLU: its backward passes no gradient at exactly 0, as F.relu (torch.clamp's does)
  return clamp[0] === 0 && clamp[1] === Infinity ? relu(y) : clampOp(y, clamp[0], clamp[1]);
}

export interface ConvTranspose2dOptions {
  stride?: IntOrPair;
  padding?: IntOrPair;
  outputPadding?: IntOrPair;
  dilation?: IntOrPair;
  groups?: number;
}

/**
 * Transposed 2-D convolution (torch.nn.functional.conv_transpose2d).
 * Shapes: input [N, Cin, H, W], weight [Cin, Cout/groups, kh, kw], bias [Cout] -> [N, Cout, Ho, Wo]
 * with Ho = (H-1)·stride - 2·pad + dilation·(kh-1) + outputPadding + 1.
 * @throws Error on wrong ranks, mismatched channels, or outputPadding ≥ stride.
 */
export function convTranspose2d(input: Tensor, weight: Tensor, bias?: Tensor | null, opts: ConvTranspose2dOptions = {}): Tensor {
  const op = 'convTranspose2d';
  check(op, 'input', input);
  check(op, 'weight', weight);
  if (bias) check(op, 'bias', bias);
  sameDeviceDtype(op, input, weight, bias);
  requireFloat(op, 'input', input);
  if (input.rank !== 4) fail(op, 'input of rank 4 [N, C, H, W]', `shape ${fmtShape(input.shape)}`);
  if (weight.rank !== 4) fail(op, 'weight of rank 4 [Cin, Cout/groups, kh, kw]', `shape ${fmtShape(weight.shape)}`);
  const groups = requireInt(op, 'groups', opts.groups ?? 1, 1);
  const [N, Cin, H, W] = input.shape as [number, number, number, number];
  const [wCin, Coutg, kh, kw] = weight.shape as [number, number, number, number];
  if (wCin !== Cin) fail(op, `weight.shape[0] = Cin = ${Cin}`, `${wCin}`);
  if (Cin % groups !== 0) fail(op, `Cin divisible by groups=${groups}`, `${Cin}`);
  const Cout = Coutg * groups;
  if (bias && (bias.rank !== 1 || bias.shape[0] !== Cout)) fail(op, `bias of shape [${Cout}]`, fmtShape(bias.shape));
  const stride = positivePair(op, 'stride', opts.stride, 1, 1);
  const padding = positivePair(op, 'padding', opts.padding, 0, 0);
  const dilation = positivePair(op, 'dilation', opts.dilation, 1, 1);
  const outPad = positivePair(op, 'outputPadding', opts.outputPadding, 0, 0);
  if (outPad[0] >= stride[0] || outPad[1] >= stride[1]) fail(op, 'outputPadding smaller than stride', fmtShape(outPad));
  const Ho = (H - 1) * stride[0] - 2 * padding[0] + dilation[0] * (kh - 1) + outPad[0] + 1;
  const Wo = (W - 1) * stride[1] - 2 * padding[1] + dilation[1] * (kw - 1) + outPad[1] + 1;
  if (Ho <= 0 || Wo <= 0) fail(op, 'a positive output size', `${Ho}x${Wo}`);
  // As a conv2d, the output [N, Cout, Ho, Wo] is the "input" and our input is its "output".
  const p: Conv2dParams = { stride, padding: [padding[0], padding[0], padding[1], padding[1]], dilation, groups };
  const outShape = [N, Cout, Ho, Wo];
  countMacs(op, N * Cin * H * W * Coutg * kh * kw);
  const be = backendOf(input);
  let out = wrap(input.device, be.conv2dBackwardInput(kt(op, input), kt(op, weight), outShape, p), outShape, input.dtype);
  if (bias) {
    const biased = wrap(input.device, be.binary('add', kt(op, out), { storage: bias.storage(op), shape: [Cout, 1, 1], dtype: bias.dtype }, outShape, out.dtype), outShape, out.dtype);
    out.dispose();
    out = biased;
  }
  return record(op, out, [input, weight, bias], (g) => [
    input.requiresGrad ? wrap(g.device, be.conv2d(kt(op, g), kt(op, weight), null, p), input.shape, g.dtype) : null,
    weight.requiresGrad ? wrap(g.device, be.conv2dBackwardWeight(kt(op, g), kt(op, input), weight.shape, p), weight.shape, g.dtype) : null,
    bias?.requiresGrad ? sum(g, [0, 2, 3]) : null,
  ]);
}
