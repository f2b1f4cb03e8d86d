/**
 * GLPose Feature Enhancement module (Jiao et al., ACM TOMM 2022, Sec. 3.2, Eq. 5):
 *     F = 𝒜((1 − σ(ψ(V_t))) ⊙ S, V_t).
 * The paper names the parts — a feature encoder ψ giving a "weight matrix which reveals the
 * activeness of each pixel location" of V_t, used as a mask on S "to mine the information that is
 * overlooked by the key frame", and an aggregation transformation 𝒜 — without their layers. Ours
 * (recorded in docs/models/glpose.md):
 *   ψ  = conv3x3(C→C, no bias) → BN → ReLU → conv1x1(C→1, bias): one activeness logit per pixel,
 *        so the mask M = 1 − σ(ψ(V_t)) is [B, 1, h, w], broadcast over S's channels (a spatial map,
 *        as "activeness of each pixel location" reads). The 3x3 gives the encoder some context.
 *   𝒜  = concatenation [M ⊙ S, V_t] → `numBlocks` BasicBlocks (the first with a 1x1 conv + BN
 *        projection to `outChannels`), the same residual blocks as Eq. 4.
 */
import type { Tensor } from '../../engine/tensor.js';
import { mul, sigmoid, sub } from '../../ops/elementwise.js';
import { concat } from '../../ops/shape.js';
import { check, fail, fmtShape } from '../../ops/util.js';
import { BatchNorm2d, Conv2d, ReLU, Sequential } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { basicBlockStack } from './feature-processing.js';

export interface FeatureEnhancementOutput {
  /** F, the enhanced key-frame features [B, outChannels, h, w]. */
  enhanced: Tensor;
  /** M = 1 − σ(ψ(V_t)), the inverted activeness mask [B, 1, h, w] (values in (0, 1)). */
  mask: Tensor;
}

/**
 * Eq. 5. forward(s [B, Cs, h, w], vt [B, C, h, w]) → { enhanced [B, outChannels, h, w], mask }.
 * Parameters: `psi.0` (conv), `psi.1` (BN), `psi.3` (conv to 1 channel), `aggregation.{i}.*`.
 */
export class FeatureEnhancement extends Module {
  readonly psi: Sequential;
  readonly aggregation: Sequential;

  /**
   * @param sChannels Cs, the channels of S.
   * @param channels C, the backbone feature width (V_t).
   */
  constructor(readonly sChannels: number, readonly channels: number, readonly outChannels: number, numBlocks = 2) {
    super();
    this.psi = this.module('psi', new Sequential(new Conv2d(channels, channels, 3, { padding: 1, bias: false }), new BatchNorm2d(channels), new ReLU(), new Conv2d(channels, 1, 1)));
    this.aggregation = this.module('aggregation', basicBlockStack(sChannels + channels, outChannels, numBlocks));
  }

  /** The inverted activeness mask 1 − σ(ψ(V_t)) [B, 1, h, w]. */
  mask(vt: Tensor): Tensor {
    return sub(1, sigmoid(this.psi.forward(vt)));
  }

  forward(s: Tensor, vt: Tensor): FeatureEnhancementOutput {
    const op = 'FeatureEnhancement';
    check(op, 'S', s);
    check(op, 'key features', vt);
    if (vt.rank !== 4 || vt.shape[1] !== this.channels) fail(op, `key features [B, ${this.channels}, h, w]`, `shape ${fmtShape(vt.shape)}`);
    const [B, , h, w] = vt.shape as [number, number, number, number];
    if (s.rank !== 4 || s.shape[0] !== B || s.shape[1] !== this.sChannels || s.shape[2] !== h || s.shape[3] !== w) fail(op, `S of shape [${B}, ${this.sChannels}, ${h}, ${w}]`, `shape ${fmtShape(s.shape)}`);
    const mask = this.mask(vt);
    const enhanced = this.aggregation.forward(concat([mul(mask, s), vt], 1));
    return { enhanced, mask };
  }
}
