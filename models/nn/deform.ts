/**
 * Deformable convolution modules.
 * - `DeformConv2d`: torchvision.ops.DeformConv2d. Holds the weights only; offset and mask are
 *   inputs of `forward`.
 * - `ModulatedDeformConv2dPack`: mmcv's ModulatedDeformConv2dPack / EDVR's (BasicSR's) DCNv2Pack,
 *   which owns the convolution predicting its offsets and mask (`conv_offset`).
 */
import type { Tensor } from '../../engine/tensor.js';
import { fail, fmtShape, pair } from '../../engine/shape.js';
import { convOutSize, type IntOrPair } from '../../ops/conv.js';
import { zeros } from '../../ops/creation.js';
import { deformConv2d } from '../../ops/deform-conv.js';
import { sigmoid } from '../../ops/elementwise.js';
import { reshape, slice } from '../../ops/shape.js';
import { fans, kaimingUniform_, uniform_, zeros_ } from './init.js';
import { Conv2d } from './layers.js';
import { Module } from './module.js';

export interface DeformConv2dConfig {
  stride?: IntOrPair;
  padding?: IntOrPair;
  dilation?: IntOrPair;
  /** Weight groups (the offset groups come from the offset's channel count). Default 1. */
  groups?: number;
  /** Learnable bias (default true). */
  bias?: boolean;
}

/**
 * torchvision.ops.DeformConv2d(in_channels, out_channels, kernel_size, stride, padding, dilation,
 * groups, bias). Parameters: `weight` [Cout, Cin/groups, kh, kw] (kaiming-uniform, a = √5) and
 * `bias` [Cout] (uniform ±1/√fan_in), as torchvision initializes them.
 * forward(x [B, Cin, H, W], offset [B, 2·OG·kh·kw, Ho, Wo], mask? [B, OG·kh·kw, Ho, Wo]) →
 * [B, Cout, Ho, Wo]; see `deformConv2d` for the layouts and the errors thrown.
 */
export class DeformConv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly dilation: [number, number];

  constructor(readonly inChannels: number, readonly outChannels: number, kernelSize: IntOrPair, cfg: DeformConv2dConfig = {}) {
    super();
    const op = 'DeformConv2d';
    const groups = cfg.groups ?? 1;
    if (inChannels % groups !== 0 || outChannels % groups !== 0) fail(op, `in and out channels divisible by groups=${groups}`, `${inChannels} and ${outChannels}`);
    const [kh, kw] = pair(op, 'kernelSize', kernelSize, 1);
    this.stride = pair(op, 'stride', cfg.stride, 1);
    this.padding = pair(op, 'padding', cfg.padding, 0);
    this.dilation = pair(op, 'dilation', cfg.dilation, 1);
    this.weight = this.param('weight', kaimingUniform_(zeros([outChannels, inChannels / groups, kh, kw]), Math.sqrt(5)));
    const b = 1 / Math.sqrt(fans(this.weight).fanIn);
    this.bias = this.param('bias', cfg.bias === false ? null : uniform_(zeros([outChannels]), -b, b));
  }

  forward(x: Tensor, offset: Tensor, mask?: Tensor | null): Tensor {
    return deformConv2d(x, offset, this.weight, this.bias, { stride: this.stride, padding: this.padding, dilation: this.dilation, mask: mask ?? null });
  }
}

export interface ModulatedDeformConv2dPackConfig extends DeformConv2dConfig {
  /** Offset groups (mmcv's deform_groups, EDVR's deformable_groups). Default 1. */
  offsetGroups?: number;
  /**
   * Pass the mask channels through a sigmoid (default true, as mmcv/EDVR and FaSRnet's FRM).
   * false uses them as they are (FaSRnet's SRM/PCN).
   */
  maskSigmoid?: boolean;
  /** conv_offset's own padding; default `padding` (mmcv/EDVR). */
  offsetPadding?: IntOrPair;
  /**
   * conv_offset's own dilation; default `dilation` (mmcv, BasicSR). The original EDVR code, and
   * FaSRnet's, leave it at 1 while padding by `padding` (see `legacyOffsetReinterpret`).
   */
  offsetDilation?: IntOrPair;
  /**
   * When conv_offset's output is larger than the deformable conv's output (FaSRnet's FRM: padding
   * d, dilation 1, for d > 1), read each sample's offset and mask buffers, flat and contiguous, as
   * if they were [C, Ho, Wo]: the first C·Ho·Wo values, row-major. This is what the CUDA kernels of
   * the original mmdet/EDVR DCN do (they index `offset[b]` with Ho×Wo strides and never check its
   * size), so it is needed to reproduce official weights. Default false: a size mismatch throws.
   */
  legacyOffsetReinterpret?: boolean;
}

/**
 * Modulated deformable conv that predicts its own offsets and mask: mmcv's
 * ModulatedDeformConv2dPack / EDVR's DCNv2Pack (DCNv2, Zhu et al. 2019, Eq. 3).
 *
 * Parameters (state-dict keys as in the official code): `weight` [Cout, Cin/groups, kh, kw]
 * (uniform ±1/√(Cin·kh·kw), mmcv's init), `bias` [Cout] (zeros), `conv_offset.weight`
 * [3·OG·kh·kw, Cin, kh, kw] and `conv_offset.bias` [3·OG·kh·kw] (both zeros, as mmcv: the layer
 * starts as a plain convolution with mask sigmoid(0) = 0.5).
 *
 * forward(x [B, Cin, H, W], feat = x [B, Cin, H, W]) → [B, Cout, Ho, Wo]. conv_offset(feat) gives
 * 3·OG·kh·kw channels; the official code splits them with torch.chunk(·, 3) into o1, o2 and m and
 * passes offset = cat(o1, o2), mask = sigmoid(m). cat(o1, o2) is just channels [0, 2·OG·kh·kw) in
 * their original order, already torchvision's interleaved layout: channel g·2·kh·kw + 2t is dy and
 * g·2·kh·kw + 2t + 1 is dx of tap t = i·kw + j in offset group g. (So o1 and o2 are not "the y
 * offsets" and "the x offsets": for one 3x3 group, o1 = dy0, dx0, ..., dy4 and o2 = dx4, ..., dx8.)
 * The mask is channels [2·OG·kh·kw, 3·OG·kh·kw), channel g·kh·kw + t.
 * @throws Error (naming `ModulatedDeformConv2dPack` or `deformConv2d`) on bad shapes, including an
 *   offset map whose size differs from the output's without `legacyOffsetReinterpret`.
 */
export class ModulatedDeformConv2dPack extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly conv_offset: Conv2d;
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly dilation: [number, number];
  readonly offsetGroups: number;
  readonly maskSigmoid: boolean;
  readonly legacyOffsetReinterpret: boolean;
  private readonly kernel: [number, number];

  constructor(readonly inChannels: number, readonly outChannels: number, kernelSize: IntOrPair, cfg: ModulatedDeformConv2dPackConfig = {}) {
    super();
    const op = 'ModulatedDeformConv2dPack';
    const groups = cfg.groups ?? 1;
    if (inChannels % groups !== 0 || outChannels % groups !== 0) fail(op, `in and out channels divisible by groups=${groups}`, `${inChannels} and ${outChannels}`);
    this.offsetGroups = cfg.offsetGroups ?? 1;
    if (!Number.isInteger(this.offsetGroups) || this.offsetGroups < 1 || inChannels % this.offsetGroups !== 0) fail(op, `offsetGroups dividing inChannels = ${inChannels}`, String(cfg.offsetGroups));
    this.kernel = pair(op, 'kernelSize', kernelSize, 1);
    const [kh, kw] = this.kernel;
    this.stride = pair(op, 'stride', cfg.stride, 1);
    this.padding = pair(op, 'padding', cfg.padding, 0);
    this.dilation = pair(op, 'dilation', cfg.dilation, 1);
    this.maskSigmoid = cfg.maskSigmoid ?? true;
    this.legacyOffsetReinterpret = cfg.legacyOffsetReinterpret ?? false;
    const stdv = 1 / Math.sqrt(inChannels * kh * kw);
    this.weight = this.param('weight', uniform_(zeros([outChannels, inChannels / groups, kh, kw]), -stdv, stdv));
    this.bias = this.param('bias', cfg.bias === false ? null : zeros([outChannels]));
    this.conv_offset = this.module('conv_offset', new Conv2d(inChannels, 3 * this.offsetGroups * kh * kw, this.kernel, {
      stride: this.stride,
      padding: cfg.offsetPadding ?? this.padding,
      dilation: cfg.offsetDilation ?? this.dilation,
    }));
    // mmcv's init_weights: the offset/mask conv starts at zero.
    zeros_(this.conv_offset.weight);
    zeros_(this.conv_offset.bias!);
  }

  /** Offsets [B, 2·OG·kh·kw, Ho, Wo] and mask [B, OG·kh·kw, Ho, Wo] predicted from `feat`. */
  offsetAndMask(x: Tensor, feat: Tensor): { offset: Tensor; mask: Tensor } {
    const op = 'ModulatedDeformConv2dPack';
    const [kh, kw] = this.kernel;
    const K = this.offsetGroups * kh * kw;
    const out = this.conv_offset.forward(feat);
    if (x.rank !== 4) fail(op, 'x of rank 4 [B, Cin, H, W]', `shape ${fmtShape(x.shape)}`);
    const Ho = convOutSize(x.shape[2]!, kh, this.stride[0], this.padding[0], this.dilation[0]);
    const Wo = convOutSize(x.shape[3]!, kw, this.stride[1], this.padding[1], this.dilation[1]);
    const [B, , Hf, Wf] = out.shape as [number, number, number, number];
    let offset = slice(out, 1, 0, 2 * K);
    let m = slice(out, 1, 2 * K, 3 * K);
    if ((Hf !== Ho || Wf !== Wo) && this.legacyOffsetReinterpret) {
      if (Hf * Wf < Ho * Wo) fail(op, `an offset map with at least Ho·Wo = ${Ho * Wo} positions to reinterpret`, `${Hf}x${Wf}`);
      const view = (t: Tensor, c: number): Tensor => reshape(slice(reshape(t, [B, c * Hf * Wf]), 1, 0, c * Ho * Wo), [B, c, Ho, Wo]);
      offset = view(offset, 2 * K);
      m = view(m, K);
    }
    return { offset, mask: this.maskSigmoid ? sigmoid(m) : m };
  }

  forward(x: Tensor, feat: Tensor = x): Tensor {
    const { offset, mask } = this.offsetAndMask(x, feat);
    return deformConv2d(x, offset, this.weight, this.bias, { stride: this.stride, padding: this.padding, dilation: this.dilation, mask });
  }
}
