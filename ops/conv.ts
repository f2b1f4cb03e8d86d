/**
 * conv2d and convTranspose2d (torch.nn.functional.conv2d / conv_transpose2d), NCHW.
 * The weight may itself be a graph tensor (RPSTN builds a per-sample depthwise kernel): gradients
 * flow to input, weight and bias. convTranspose2d is the adjoint of conv2d, so its forward is
 * conv2d's input-gradient kernel and its backward reuses conv2d and the weight-gradient kernel.
 */
import type { Conv2dParams } from '../backends/backend.js';
import { fmtShape } from '../engine/shape.js';
import type { Tensor } from '../engine/tensor.js';
import { intPair } from './internal/args.js';
import { sum } from './reduce.js';
import { pad as padOp } from './shape.js';
import { backendOf, check, countMacs, fail, kt, record, requireFloat, requireInt, sameDeviceDtype, wrap } from './util.js';

export type IntOrPair = number | readonly [number, number];

export interface Conv2dOptions {
  stride?: IntOrPair;
  /** A number, a pair, or 'valid' (0) / 'same' (stride 1 only; odd totals pad one more after). */
  padding?: IntOrPair | 'same' | 'valid';
  dilation?: IntOrPair;
  groups?: number;
}

function positivePair(op: string, name: string, v: IntOrPair | undefined, dflt: number, min: number, alternatives = ''): [number, number] {
  return intPair(op, name, v, dflt, min, alternatives);
}

/** Output size of a conv along one axis (PyTorch's formula). */
export function convOutSize(inSize: number, k: number, stride: number, pad: number, dilation: number): number {
  return Math.floor((inSize + 2 * pad - dilation * (k - 1) - 1) / stride) + 1;
}

/**
 * 2-D convolution (torch.nn.functional.conv2d).
 * Shapes: input [N, Cin, H, W], weight [Cout, Cin/groups, kh, kw], bias [Cout] -> [N, Cout, Ho, Wo]
 * with Ho = ⌊(H + 2·pad - dilation·(kh-1) - 1)/stride⌋ + 1.
 * @throws Error on a wrong rank, a channel count that does not match groups, a bias of the wrong
 *   size, or an empty output.
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
  let x = input;
  let padding: [number, number];
  if (opts.padding === 'valid') padding = [0, 0];
  else if (opts.padding === 'same') {
    if (stride[0] !== 1 || stride[1] !== 1) fail(op, "stride 1 with padding='same'", `stride ${fmtShape(stride)}`);
    const th = dilation[0] * (kh - 1);
    const tw = dilation[1] * (kw - 1);
    padding = [Math.floor(th / 2), Math.floor(tw / 2)];
    if (th % 2 || tw % 2) x = padOp(input, [0, tw % 2, 0, th % 2]);
  } else padding = positivePair(op, 'padding', opts.padding as IntOrPair | undefined, 0, 0, "'same' or 'valid'");
  const [H, W] = x.shape.slice(2) as [number, number];
  const Ho = convOutSize(H, kh, stride[0], padding[0], dilation[0]);
  const Wo = convOutSize(W, kw, stride[1], padding[1], dilation[1]);
  if (Ho <= 0 || Wo <= 0) fail(op, 'a kernel that fits the padded input', `input ${fmtShape(input.shape)}, kernel ${kh}x${kw}, padding ${fmtShape(padding)}, dilation ${fmtShape(dilation)}`);
  const p: Conv2dParams = { stride, padding, dilation, groups };
  countMacs(op, N * Cout * Ho * Wo * Cg * kh * kw);
  const be = backendOf(x);
  const out = wrap(x.device, be.conv2d(kt(op, x), kt(op, weight), bias ? kt(op, bias) : null, p), [N, Cout, Ho, Wo], x.dtype);
  return record(op, out, [x, weight, bias], (g) => [
    x.requiresGrad ? wrap(g.device, be.conv2dBackwardInput(kt(op, g), kt(op, weight), x.shape, p), x.shape, g.dtype) : null,
    weight.requiresGrad ? wrap(g.device, be.conv2dBackwardWeight(kt(op, x), kt(op, g), weight.shape, p), weight.shape, g.dtype) : null,
    bias?.requiresGrad ? sum(g, [0, 2, 3]) : null,
  ]);
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
  const p: Conv2dParams = { stride, padding, dilation, groups };
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
