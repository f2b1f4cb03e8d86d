/**
 * FaSRnet's two deformable convolutions (DCNv2, Zhu et al. 2019, Eq. 3), with the official module
 * and parameter names (Elvis-Aron/FaSRnet, built on CharlesShang's DCNv2 "latest" extension):
 *
 * - `DCNv2Pack`: the official `DCN_2` (posetimation/layers/pcda.py), used by the FRM alignment. It
 *   owns `conv_offset_mask`, a 3x3 conv that predicts 2·9 offsets and 9 mask logits per offset group
 *   from a separate "offset feature"; the mask goes through a sigmoid. Keys: `weight`, `bias`,
 *   `conv_offset_mask.weight`, `conv_offset_mask.bias`. Same computation as
 *   `models/nn/deform.ts` `ModulatedDeformConv2dPack` (whose child is named `conv_offset`, mmcv's
 *   name); this class exists so that the official keys load unchanged, and to reproduce the
 *   official forward's batch-flat offset read (`offsetPaddingQuirk: 'batch'`, below).
 * - `PCNDeformConv`: the official `DeformableCONV` (posetimation/layers/basic_model.py), used by the
 *   SRM's PCN: a K→K modulated deformable conv with K offset groups whose offsets and mask are
 *   inputs (the mask is used raw, without a sigmoid). Key: `deform_conv.weight`, `deform_conv.bias`.
 *
 * Offsets use torchvision's layout (see ops/deform-conv.ts), which is also DCNv2's: for offset
 * group g and tap t = i·3 + j, channel g·18 + 2t is dy and g·18 + 2t + 1 is dx. The official DCN_2
 * splits conv_offset_mask's 27·G channels with torch.chunk(·, 3) into o1, o2, m and passes
 * cat(o1, o2) as the offsets: that is just channels [0, 18·G) in order.
 */
import { fail, fmtShape } from '../../engine/shape.js';
import type { Tensor } from '../../engine/tensor.js';
import { convOutSize } from '../../ops/conv.js';
import { tensor, zeros } from '../../ops/creation.js';
import { deformConv2d } from '../../ops/deform-conv.js';
import { sigmoid } from '../../ops/elementwise.js';
import { reshape, slice } from '../../ops/shape.js';
import { DeformConv2d } from '../nn/deform.js';
import { uniform_, zeros_ } from '../nn/init.js';
import { Conv2d } from '../nn/layers.js';
import { Module } from '../nn/module.js';

/**
 * How `DCNv2Pack` treats the official padding quirk of its offset conv.
 *
 * The official DCN_2 builds `conv_offset_mask` with padding d (the deformable conv's padding) but
 * dilation 1, so for d > 1 its output is (H + 2d − 2) x (W + 2d − 2), larger than the deformable
 * conv's H x W output (for the paper's 96x72 features and d = 5: 104x80). The CUDA extension
 * never checks the size; it reads the buffers with H·W strides.
 * - `'off'` (default): the offset conv is padded by 1, so that its output is H x W, and nothing is
 *   reinterpreted. This is the architecture the paper describes.
 * - `'batch'`: padding d, and the offset and mask buffers of the whole batch are read, flat and
 *   contiguous, as if they were [B, C, H, W] (the first B·C·H·W values, row-major). This is exactly
 *   what the official forward does (`modulated_deformable_im2col_cuda` is called once for the
 *   batch with `offset.data_ptr()`), so sample b reads values computed for sample b' ≤ b.
 * - `'sample'`: padding d, and each sample's buffer is read as [C, H, W] (its first C·H·W values).
 *   This is how the official *backward* indexes (it loops over samples with `offset.select(0, b)`),
 *   and what `ModulatedDeformConv2dPack`'s `legacyOffsetReinterpret` does; for B = 1 it equals
 *   `'batch'`.
 * Gradients are always the exact gradients of the chosen forward.
 */
export type OffsetPaddingQuirk = 'off' | 'batch' | 'sample';

/**
 * Sets a deformable-conv weight [Cout, Cin/groups, kh, kw] to the official "identity" start:
 * every element 0 except w[k, k, ⌊kh/2⌋, ⌊kw/2⌋] = 1 for k < min(Cout, Cin/groups). With zero offsets
 * and mask m this makes the layer output m·x (channel k copies input channel k at the kernel
 * centre). Source: FaSRnet.init_weights, the `ModulatedDeformConv` branch.
 */
export function identityKernel_(w: Tensor): Tensor {
  if (w.rank !== 4) fail('identityKernel_', 'a weight of rank 4 [Cout, Cin/groups, kh, kw]', `shape ${fmtShape(w.shape)}`);
  const [co, ci, kh, kw] = w.shape as [number, number, number, number];
  const v = new Float64Array(w.size);
  const ch = Math.floor(kh / 2);
  const cw = Math.floor(kw / 2);
  for (let k = 0; k < Math.min(co, ci); k++) v[((k * ci + k) * kh + ch) * kw + cw] = 1;
  const src = tensor(v, { dtype: w.dtype, shape: w.shape, device: w.device });
  w.assign(src);
  src.dispose();
  return w;
}

/** Reads t [B, C, Hf, Wf] as [B, C, Ho, Wo] per `quirk` (see OffsetPaddingQuirk). */
function reinterpret(t: Tensor, Ho: number, Wo: number, quirk: 'batch' | 'sample'): Tensor {
  const [B, C, Hf, Wf] = t.shape as [number, number, number, number];
  if (quirk === 'batch') return reshape(slice(reshape(t, [B * C * Hf * Wf]), 0, 0, B * C * Ho * Wo), [B, C, Ho, Wo]);
  return reshape(slice(reshape(t, [B, C * Hf * Wf]), 1, 0, C * Ho * Wo), [B, C, Ho, Wo]);
}

export interface DCNv2PackConfig {
  /** Dilation d of the deformable conv; its padding is d (the official int(3/2)·d). Default 1. */
  dilation?: number;
  /** Offset groups (the official `deformable_groups`, 1 in FaSRnet). Default 1. */
  deformableGroups?: number;
  /** Default 'off'. */
  offsetPaddingQuirk?: OffsetPaddingQuirk;
}

/**
 * The official `DCN_2`: a 3x3 modulated deformable conv (stride 1, padding d, dilation d, bias)
 * whose offsets and mask come from `conv_offset_mask(feat)` (3x3, dilation 1, bias; padding 1, or d
 * with the quirk), mask = sigmoid. Paper: Eqs 3, 5 and 7 (the DCN steps of the FRM alignment).
 *
 * Parameters: `weight` [Cout, Cin, 3, 3] and `bias` [Cout] (DCNv2's reset_parameters: uniform
 * ±1/√(Cin·9) and zeros; FaSRnet's init then sets the identity kernel), `conv_offset_mask.weight`
 * [27·G, Cf, 3, 3] and `.bias` [27·G] (zeros, as DCN_2.init_offset).
 *
 * forward(x [B, Cin, H, W], feat [B, Cf, H, W]) → [B, Cout, H, W].
 * @throws Error (naming `DCNv2Pack` or the op) on bad shapes, e.g. when feat's spatial size differs
 *   from x's, or when the offset map is too small to reinterpret.
 */
export class DCNv2Pack extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  readonly conv_offset_mask: Conv2d;
  readonly dilation: number;
  readonly deformableGroups: number;
  private _quirk: OffsetPaddingQuirk;

  constructor(readonly inChannels: number, readonly outChannels: number, offsetChannels: number, cfg: DCNv2PackConfig = {}) {
    super();
    const op = 'DCNv2Pack';
    this.dilation = cfg.dilation ?? 1;
    this.deformableGroups = cfg.deformableGroups ?? 1;
    this._quirk = cfg.offsetPaddingQuirk ?? 'off';
    if (!Number.isInteger(this.dilation) || this.dilation < 1) fail(op, 'dilation as an integer ≥ 1', String(cfg.dilation));
    if (!['off', 'batch', 'sample'].includes(this._quirk)) fail(op, "offsetPaddingQuirk 'off', 'batch' or 'sample'", String(cfg.offsetPaddingQuirk));
    if (!Number.isInteger(this.deformableGroups) || this.deformableGroups < 1 || inChannels % this.deformableGroups !== 0) fail(op, `deformableGroups dividing inChannels = ${inChannels}`, String(cfg.deformableGroups));
    const stdv = 1 / Math.sqrt(inChannels * 9);
    this.weight = this.param('weight', uniform_(zeros([outChannels, inChannels, 3, 3]), -stdv, stdv));
    this.bias = this.param('bias', zeros([outChannels]));
    const pad = this._quirk === 'off' ? 1 : this.dilation;
    this.conv_offset_mask = this.module('conv_offset_mask', new Conv2d(offsetChannels, 27 * this.deformableGroups, 3, { padding: pad }));
    zeros_(this.conv_offset_mask.weight);
    zeros_(this.conv_offset_mask.bias!);
  }

  /** The offset-conv padding quirk in use (see OffsetPaddingQuirk). */
  get quirk(): OffsetPaddingQuirk {
    return this._quirk;
  }

  /**
   * Switches the quirk in place: the offset conv's padding (1 when 'off', d otherwise) and how its
   * output is read. Parameters are unchanged (the padding does not change their shapes). FaSRnet's
   * `useVariant` calls this.
   * @throws Error for a value other than 'off', 'batch' or 'sample'.
   */
  setOffsetPaddingQuirk(quirk: OffsetPaddingQuirk): this {
    if (!['off', 'batch', 'sample'].includes(quirk)) fail('DCNv2Pack', "offsetPaddingQuirk 'off', 'batch' or 'sample'", String(quirk));
    this._quirk = quirk;
    this.conv_offset_mask.opts.padding = quirk === 'off' ? 1 : this.dilation;
    return this;
  }

  /** Offsets [B, 18·G, H, W] and mask [B, 9·G, H, W] (after the sigmoid) predicted from `feat`. */
  offsetAndMask(x: Tensor, feat: Tensor): { offset: Tensor; mask: Tensor } {
    const op = 'DCNv2Pack';
    if (x.rank !== 4) fail(op, 'x of rank 4 [B, Cin, H, W]', `shape ${fmtShape(x.shape)}`);
    if (feat.rank !== 4 || feat.shape[0] !== x.shape[0] || feat.shape[2] !== x.shape[2] || feat.shape[3] !== x.shape[3]) {
      fail(op, `an offset feature [${x.shape[0]}, C, ${x.shape[2]}, ${x.shape[3]}] (x's batch and size)`, fmtShape(feat.shape));
    }
    const d = this.dilation;
    const Ho = convOutSize(x.shape[2]!, 3, 1, d, d);
    const Wo = convOutSize(x.shape[3]!, 3, 1, d, d);
    const G = this.deformableGroups;
    const out = this.conv_offset_mask.forward(feat);
    let offset = slice(out, 1, 0, 18 * G);
    let m = slice(out, 1, 18 * G, 27 * G);
    const [, , Hf, Wf] = out.shape as [number, number, number, number];
    if (Hf !== Ho || Wf !== Wo) {
      // Only reachable with the quirk on (padding d, dilation 1): Hf = Ho + 2d - 2 ≥ Ho.
      if (this._quirk === 'off' || Hf * Wf < Ho * Wo) fail(op, `an offset map of the output size ${Ho}x${Wo}`, `${Hf}x${Wf}`);
      offset = reinterpret(offset, Ho, Wo, this._quirk);
      m = reinterpret(m, Ho, Wo, this._quirk);
    }
    return { offset, mask: sigmoid(m) };
  }

  forward(x: Tensor, feat: Tensor): Tensor {
    const { offset, mask } = this.offsetAndMask(x, feat);
    const d = this.dilation;
    return deformConv2d(x, offset, this.weight, this.bias, { padding: d, dilation: d, mask });
  }
}

/**
 * The official `DeformableCONV` of the SRM's PCN (Eq. 16): DCNv2(K, K, 3x3, stride 1, padding d,
 * dilation d, deformable_groups K) held as `deform_conv` (keys `deform_conv.weight` [K, K, 3, 3]
 * and `deform_conv.bias` [K]). forward(x [B, K, H, W], offsets [B, 18·K, H, W], mask [B, 9·K, H, W])
 * → [B, K, H, W]; the mask is used as given (the official PCN applies no sigmoid).
 * @throws Error from deformConv2d on bad shapes.
 */
export class PCNDeformConv extends Module {
  readonly deform_conv: DeformConv2d;
  constructor(readonly numJoints: number, readonly dilation = 1) {
    super();
    this.deform_conv = this.module('deform_conv', new DeformConv2d(numJoints, numJoints, 3, { padding: dilation, dilation }));
    // DCNv2.reset_parameters (uniform ±1/√(K·9), zero bias); FaSRnet's init then sets the identity.
    const stdv = 1 / Math.sqrt(numJoints * 9);
    uniform_(this.deform_conv.weight, -stdv, stdv);
    zeros_(this.deform_conv.bias!);
  }

  forward(x: Tensor, offsets: Tensor, mask: Tensor): Tensor {
    return this.deform_conv.forward(x, offsets, mask);
  }
}
