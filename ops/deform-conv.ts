/**
 * Deformable convolution, v1 and v2 (torchvision.ops.deform_conv2d): the heart of FaSRnet's FRM
 * (feature alignment, EDVR's PCD) and of its SRM (DCPose's PCN).
 * Papers: Dai et al., "Deformable Convolutional Networks" (2017), Eq. 2 (v1); Zhu et al.,
 * "Deformable ConvNets v2" (2019), Eq. 3 (modulation mask).
 */
import type { DeformConv2dParams } from '../backends/backend.js';
import { fmtShape } from '../engine/shape.js';
import type { Tensor } from '../engine/tensor.js';
import { convOutSize, type IntOrPair } from './conv.js';
import { intPair } from './internal/args.js';
import { sum } from './reduce.js';
import { backendOf, check, countMacs, fail, kt, record, requireFloat, sameDeviceDtype, wrap } from './util.js';

export interface DeformConv2dOptions {
  stride?: IntOrPair;
  padding?: IntOrPair;
  dilation?: IntOrPair;
  /**
   * DCNv2 modulation mask [B, OG·kh·kw, Ho, Wo], multiplying each sampled value; omit (or null)
   * for DCNv1. torchvision applies no sigmoid: pass sigmoid(m) yourself where the model does.
   */
  mask?: Tensor | null;
}


/**
 * Deformable 2-D convolution, matching torchvision.ops.deform_conv2d(input, offset, weight, bias,
 * stride, padding, dilation, mask).
 *
 * Shapes:
 * - input  [B, Cin, H, W]
 * - offset [B, 2·OG·kh·kw, Ho, Wo]: for offset group g and kernel tap t = i·kw + j, channel
 *   g·2·kh·kw + 2t holds dy and channel g·2·kh·kw + 2t + 1 holds dx (in input pixels), so tap (i, j)
 *   of output pixel (oy, ox) samples input position (oy·stride - pad + i·dilation + dy,
 *   ox·stride - pad + j·dilation + dx) bilinearly, reading 0 outside the image. The number of
 *   offset groups OG is inferred from the channel count; channel c uses group ⌊c / (Cin/OG)⌋.
 * - mask   [B, OG·kh·kw, Ho, Wo] (optional, `opts.mask`)
 * - weight [Cout, Cin/groups, kh, kw]; the weight groups are inferred as Cin / weight.shape[1].
 * - bias   [Cout] (optional)
 * - output [B, Cout, Ho, Wo], Ho = ⌊(H + 2·pad - dilation·(kh-1) - 1)/stride⌋ + 1.
 *
 * Differentiable with respect to input, offset, mask, weight and bias.
 * @throws Error (naming `deformConv2d`) on wrong ranks or dtypes; an offset channel count that is
 *   not a positive multiple of 2·kh·kw, or whose offset groups do not divide Cin; a mask whose
 *   channel count is not OG·kh·kw; offset/mask batch or spatial sizes that differ from [B, ·, Ho, Wo];
 *   a weight whose in-channels do not divide Cin, or Cout not divisible by the groups; a bias that
 *   is not [Cout]; an empty output.
 */
export function deformConv2d(input: Tensor, offset: Tensor, weight: Tensor, bias?: Tensor | null, opts: DeformConv2dOptions = {}): Tensor {
  const op = 'deformConv2d';
  check(op, 'input', input);
  check(op, 'offset', offset);
  check(op, 'weight', weight);
  if (bias) check(op, 'bias', bias);
  const mask = opts.mask ?? null;
  if (mask) check(op, 'mask', mask);
  requireFloat(op, 'input', input);
  sameDeviceDtype(op, input, offset, weight, bias, mask);
  if (input.rank !== 4) fail(op, 'input of rank 4 [B, Cin, H, W]', `shape ${fmtShape(input.shape)}`);
  if (offset.rank !== 4) fail(op, 'offset of rank 4 [B, 2·OG·kh·kw, Ho, Wo]', `shape ${fmtShape(offset.shape)}`);
  if (weight.rank !== 4) fail(op, 'weight of rank 4 [Cout, Cin/groups, kh, kw]', `shape ${fmtShape(weight.shape)}`);
  if (mask && mask.rank !== 4) fail(op, 'mask of rank 4 [B, OG·kh·kw, Ho, Wo]', `shape ${fmtShape(mask.shape)}`);
  const [B, C, H, W] = input.shape as [number, number, number, number];
  const [Cout, Cg, kh, kw] = weight.shape as [number, number, number, number];
  if (Cg <= 0 || C % Cg !== 0) fail(op, `weight.shape[1] (Cin/groups) dividing Cin = ${C}`, `${Cg} (weight ${fmtShape(weight.shape)}, input ${fmtShape(input.shape)})`);
  const groups = C / Cg;
  if (Cout % groups !== 0) fail(op, `Cout divisible by the weight groups (${groups} = Cin ${C} / weight.shape[1] ${Cg})`, `Cout = ${Cout}`);
  if (bias && (bias.rank !== 1 || bias.shape[0] !== Cout)) fail(op, `bias of shape [${Cout}]`, fmtShape(bias.shape));
  const stride = intPair(op, 'stride', opts.stride, 1, 1);
  const padding = intPair(op, 'padding', opts.padding, 0, 0);
  const dilation = intPair(op, 'dilation', opts.dilation, 1, 1);
  const Ho = convOutSize(H, kh, stride[0], padding[0], dilation[0]);
  const Wo = convOutSize(W, kw, stride[1], padding[1], dilation[1]);
  if (Ho <= 0 || Wo <= 0) fail(op, 'a kernel that fits the padded input', `input ${fmtShape(input.shape)}, kernel ${kh}x${kw}, padding ${fmtShape(padding)}, dilation ${fmtShape(dilation)}`);
  const K = kh * kw;
  const offC = offset.shape[1]!;
  if (offC === 0 || offC % (2 * K) !== 0) fail(op, `offset channels a positive multiple of 2·kh·kw = ${2 * K}`, `${offC} (offset ${fmtShape(offset.shape)})`);
  const OG = offC / (2 * K);
  if (C % OG !== 0) fail(op, `offset groups (offset channels / ${2 * K}) dividing Cin = ${C}`, `${OG} offset groups (offset ${fmtShape(offset.shape)})`);
  const want = (ch: number): string => fmtShape([B, ch, Ho, Wo]);
  if (offset.shape[0] !== B || offset.shape[2] !== Ho || offset.shape[3] !== Wo) fail(op, `offset of shape ${want(offC)} (batch and output size)`, fmtShape(offset.shape));
  if (mask) {
    if (mask.shape[1] !== OG * K) fail(op, `mask channels = offset groups · kh·kw = ${OG}·${K} = ${OG * K} (offset ${fmtShape(offset.shape)})`, `${mask.shape[1]} (mask ${fmtShape(mask.shape)})`);
    if (mask.shape[0] !== B || mask.shape[2] !== Ho || mask.shape[3] !== Wo) fail(op, `mask of shape ${want(OG * K)} (batch and output size)`, fmtShape(mask.shape));
  }

  const p: DeformConv2dParams = { stride, padding, dilation, groups, offsetGroups: OG };
  const be = backendOf(input);
  countMacs(op, B * Cout * Ho * Wo * weight.shape[1]! * K);
  const km = mask ? kt(op, mask) : null;
  const out = wrap(input.device, be.deformConv2d(kt(op, input), kt(op, offset), km, kt(op, weight), bias ? kt(op, bias) : null, p), [B, Cout, Ho, Wo], input.dtype);
  return record(op, out, [input, offset, weight, bias, mask], (g) => {
    const r = be.deformConv2dBackward(kt(op, g), kt(op, input), kt(op, offset), mask ? kt(op, mask) : null, kt(op, weight), p);
    const dx = wrap(g.device, r.dx, input.shape, g.dtype);
    const dOff = wrap(g.device, r.dOffset, offset.shape, g.dtype);
    const dW = wrap(g.device, r.dWeight, weight.shape, g.dtype);
    const dM = mask && r.dMask ? wrap(g.device, r.dMask, mask.shape, g.dtype) : null;
    return [dx, dOff, dW, bias?.requiresGrad ? sum(g, [0, 2, 3]) : null, dM];
  });
}
