/**
 * FaSRnet's semantics refinement module (SRM, paper Sec. 3.2, Eqs 11-16): DCPose's PRF/PTM/PCN
 * (Liu et al., CVPR 2021) with RSB blocks and a single dilation, as the official `net2`
 * (Elvis-Aron/FaSRnet, posetimation/zoo/FaSRnet/FaSRnet.py; the model holds it as `hm_improve`).
 *
 * For K joints, the refined heatmaps H^r [B, K, h, w] (the FRM's output), the neighbours'
 * backbone heatmaps H_prev, H_next and the margin weights w_prev, w_next:
 *
 *   PRF (Eqs 11-13): dA = H^r − H_prev, dB = H^r − H_next; per joint j the channels
 *        [dA_j, dA_j·w_prev, dB_j, dB_j·w_next] (4K) → diff_temporal_fuse (RSB chain) → D [prfInner]
 *   PTM (Eq 14):     per joint j [H^r_j, H_prev_j·w_prev, H_next_j·w_next] (3K)
 *                    → support_temporal_fuse (RSB chain) → H_a [K]
 *   (Eq 15)          f = offset_mask_combine_conv(D ⧺ H_a) (RSB chain) [combineInner]
 *   PCN (Eq 16):     for each dilation d: offsets = offsets_list[i](f) (3x3 conv → 18K, no bias),
 *                    mask = masks_list[i](f) (3x3 conv → 9K, no bias, NO sigmoid),
 *                    warped_d = DCN_d(H_a, offsets, mask) with K offset groups;
 *                    H^final = mean_d warped_d  (the official "weighted_sum"; FaSRnet: d = 1 only).
 *
 * The paper's Eq 13 lists H^r among the inputs of D_a; the official code feeds H^r only through
 * the differences (and the PTM), as above.
 */
import { fail, fmtShape } from '../../engine/shape.js';
import type { Tensor } from '../../engine/tensor.js';
import { add, mul, sub } from '../../ops/elementwise.js';
import { concat, reshape, stack } from '../../ops/shape.js';
import { Conv2d, ModuleList, Sequential } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { PCNDeformConv } from './dcn.js';
import { ChainRSBBlocks } from './rsb.js';

/**
 * A margin weight: one number for the whole batch, or a [B] tensor (one weight per sample, as the
 * official `margin` input).
 */
export type MarginWeight = number | Tensor;

/**
 * DCPose's margin weights from the frame distances: w_prev = d_next/(d_prev + d_next),
 * w_next = d_prev/(d_prev + d_next) (the nearer neighbour weighs more; 0.5 each for equal gaps).
 * A missing neighbour at a clip border is replaced by the current frame with distance 0, so that
 * the other weight is 0. Both distances 0 give 0.5 each.
 * @throws Error on negative or non-finite distances.
 */
export function marginWeights(dPrev: number, dNext: number): { wPrev: number; wNext: number } {
  if (!(dPrev >= 0) || !(dNext >= 0) || !Number.isFinite(dPrev) || !Number.isFinite(dNext)) fail('marginWeights', 'distances ≥ 0', `${dPrev} and ${dNext}`);
  const tot = dPrev + dNext;
  return tot > 0 ? { wPrev: dNext / tot, wNext: dPrev / tot } : { wPrev: 0.5, wNext: 0.5 };
}

export interface SRMConfig {
  numJoints: number;
  /** PRF output channels (official PRF_INNER_CH: 34 = 2K). */
  prfInnerCh: number;
  /** RSB blocks of the PRF (official PRF_BASICBLOCK_NUM: 2). */
  prfBlocks: number;
  /** PTM RSB blocks (official PTM_BASICBLOCK_NUM: 1); 0 uses the official fallback, a 3x3 conv with K groups. */
  ptmBlocks: number;
  /** Channels of the PRF+PTM combination (official PRF_PTM_COMBINE_INNER_CH: 64). */
  combineInnerCh: number;
  /** RSB blocks of the combination (official PRF_PTM_COMBINE_BASICBLOCK_NUM: 2). */
  combineBlocks: number;
  /** PCN dilations (FaSRnet: [1]; DCPose: [3, 6, 9, 12, 15]). */
  dilations?: readonly number[];
}

interface TensorFn {
  forward(x: Tensor): Tensor;
}

/**
 * The SRM (official `net2`): see the file header. Keys: `diff_temporal_fuse.layers.*`,
 * `support_temporal_fuse.layers.*`, `offset_mask_combine_conv.layers.*`, `offsets_list.<i>.0.weight`,
 * `masks_list.<i>.0.weight`, `modulated_deform_conv_list.<i>.deform_conv.{weight,bias}`.
 *
 * forward(hr, hPrev, hNext [B, K, h, w], wPrev, wNext: number or [B]) → H^final [B, K, h, w].
 * @throws Error on an invalid configuration, or heatmaps or weights of the wrong shape.
 */
export class SRM extends Module {
  readonly diff_temporal_fuse: ChainRSBBlocks;
  readonly support_temporal_fuse: ChainRSBBlocks | Conv2d;
  readonly offset_mask_combine_conv: ChainRSBBlocks;
  readonly offsets_list: ModuleList<Sequential>;
  readonly masks_list: ModuleList<Sequential>;
  readonly modulated_deform_conv_list: ModuleList<PCNDeformConv>;
  readonly numJoints: number;
  readonly dilations: readonly number[];

  constructor(readonly cfg: SRMConfig) {
    super();
    const K = cfg.numJoints;
    this.numJoints = K;
    this.dilations = cfg.dilations ?? [1];
    if (this.dilations.length < 1) fail('SRM', 'at least one PCN dilation', '[]');
    const ptmInner = K; // the PCN deforms the PTM output with K groups of one channel
    this.diff_temporal_fuse = this.module('diff_temporal_fuse', new ChainRSBBlocks(4 * K, cfg.prfInnerCh, cfg.prfBlocks));
    this.support_temporal_fuse = this.module(
      'support_temporal_fuse',
      cfg.ptmBlocks > 0 ? new ChainRSBBlocks(3 * K, ptmInner, cfg.ptmBlocks) : new Conv2d(3 * K, ptmInner, 3, { padding: 1, groups: K }),
    );
    this.offset_mask_combine_conv = this.module('offset_mask_combine_conv', new ChainRSBBlocks(cfg.prfInnerCh + ptmInner, cfg.combineInnerCh, cfg.combineBlocks));
    const c = cfg.combineInnerCh;
    const conv = (cout: number, d: number): Sequential => new Sequential(new Conv2d(c, cout, 3, { padding: d, dilation: d, bias: false }));
    this.offsets_list = this.module('offsets_list', new ModuleList(this.dilations.map((d) => conv(18 * K, d))));
    this.masks_list = this.module('masks_list', new ModuleList(this.dilations.map((d) => conv(9 * K, d))));
    this.modulated_deform_conv_list = this.module('modulated_deform_conv_list', new ModuleList(this.dilations.map((d) => new PCNDeformConv(K, d))));
  }

  /** Per-joint interleaving: parts [B, K, h, w] each → [B, P·K, h, w] with channel P·j + p = parts[p]_j. */
  static perJoint(parts: readonly Tensor[]): Tensor {
    const [B, K, h, w] = parts[0]!.shape as [number, number, number, number];
    return reshape(stack(parts, 2), [B, parts.length * K, h, w]);
  }

  /** PRF input (Eqs 11-12): [dA, dA·w_prev, dB, dB·w_next] per joint, [B, 4K, h, w]. */
  prfInput(hr: Tensor, hPrev: Tensor, hNext: Tensor, wPrev: MarginWeight, wNext: MarginWeight): Tensor {
    const [wp, wn] = this.weights(hr, wPrev, wNext);
    const dA = sub(hr, hPrev);
    const dB = sub(hr, hNext);
    return SRM.perJoint([dA, mul(dA, wp), dB, mul(dB, wn)]);
  }

  /** PTM input (Eq 14): [H^r, H_prev·w_prev, H_next·w_next] per joint, [B, 3K, h, w]. */
  ptmInput(hr: Tensor, hPrev: Tensor, hNext: Tensor, wPrev: MarginWeight, wNext: MarginWeight): Tensor {
    const [wp, wn] = this.weights(hr, wPrev, wNext);
    return SRM.perJoint([hr, mul(hPrev, wp), mul(hNext, wn)]);
  }

  forward(hr: Tensor, hPrev: Tensor, hNext: Tensor, wPrev: MarginWeight = 0.5, wNext: MarginWeight = 0.5): Tensor {
    this.checkHeatmaps(hr, hPrev, hNext);
    const diff = this.diff_temporal_fuse.forward(this.prfInput(hr, hPrev, hNext, wPrev, wNext));
    const support = (this.support_temporal_fuse as TensorFn).forward(this.ptmInput(hr, hPrev, hNext, wPrev, wNext));
    const f = this.offset_mask_combine_conv.forward(concat([diff, support], 1));
    let out: Tensor | null = null;
    const n = this.dilations.length;
    for (let i = 0; i < n; i++) {
      const offsets = this.offsets_list.at(i).forward(f);
      const masks = this.masks_list.at(i).forward(f);
      const warped = this.modulated_deform_conv_list.at(i).forward(support, offsets, masks);
      const term = n === 1 ? warped : mul(warped, 1 / n);
      out = out ? add(out, term) : term;
    }
    return out!;
  }

  private checkHeatmaps(hr: Tensor, hPrev: Tensor, hNext: Tensor): void {
    const K = this.numJoints;
    if (hr.rank !== 4 || hr.shape[1] !== K) fail('SRM', `refined heatmaps [B, ${K}, h, w]`, fmtShape(hr.shape));
    for (const [n, t] of [['hPrev', hPrev], ['hNext', hNext]] as const) {
      if (t.shape.join() !== hr.shape.join()) fail('SRM', `${n} of the refined heatmaps' shape ${fmtShape(hr.shape)}`, fmtShape(t.shape));
    }
  }

  /** Margin weights as numbers or [B, 1, 1, 1] tensors. */
  private weights(hr: Tensor, wPrev: MarginWeight, wNext: MarginWeight): [MarginWeight, MarginWeight] {
    const B = hr.shape[0]!;
    const one = (name: string, w: MarginWeight): MarginWeight => {
      if (typeof w === 'number') {
        if (!Number.isFinite(w)) fail('SRM', `${name} as a finite number or a [${B}] tensor`, String(w));
        return w;
      }
      if (w.size !== B || w.rank > 2) fail('SRM', `${name} as a number or a [${B}] tensor`, fmtShape(w.shape));
      return reshape(w, [B, 1, 1, 1]);
    };
    return [one('wPrev', wPrev), one('wNext', wNext)];
  }
}
