/**
 * VREMD's heatmap heads ("Heatmap generation"):
 * - H_k, `TokenHead`: an MLP on the key-frame keypoint tokens T_t [B, J, D], reshaped to heatmaps
 *   [B, J, h, w]. TokenPose's head (Li et al., ICCV 2021, `mlp_head`): LayerNorm(D) then
 *   Linear(D → h·w) when D > h·w/16, otherwise LayerNorm(D), Linear(D → h·w/8), LayerNorm(h·w/8),
 *   Linear(h·w/8 → h·w) (TokenPose's `dim <= hidden_heatmap_dim·0.5` rule with hidden = h·w/8).
 * - H_m: ViTPose's deconv head (`HeatmapHead` from backbones/vit.ts: deconvs 4x4/2 + BN + ReLU, then a
 *   1x1 conv) applied to the aggregate of M and F_t. The aggregation is a sum, F_t + M, on the
 *   Hp×Wp token map: with M = 0 the head sees exactly what ViTPose's head sees, so the COCO ViTPose
 *   head can initialize H_m (`VREMD.loadViTPose`).
 * - H_t = H_k + H_m (equal weights).
 */
import { fail, fmtShape } from '../../engine/shape.js';
import type { Tensor } from '../../engine/tensor.js';
import { reshape } from '../../ops/shape.js';
import { LayerNorm } from '../nn/extra-layers.js';
import { Linear, Sequential } from '../nn/layers.js';
import { Module } from '../nn/module.js';

/** H_k: T_t [B, J, D] → heatmaps [B, J, h, w] (TokenPose's mlp_head, see the file comment). */
export class TokenHead extends Module {
  readonly mlp_head: Sequential;
  /** True when the two-layer form was chosen (D ≤ h·w/16). */
  readonly twoLayer: boolean;

  constructor(readonly dim: number, readonly heatmap: readonly [number, number]) {
    super();
    const hw = heatmap[0] * heatmap[1];
    const hidden = Math.floor(hw / 8);
    this.twoLayer = dim <= hidden * 0.5;
    this.mlp_head = this.module(
      'mlp_head',
      this.twoLayer
        ? new Sequential(new LayerNorm(dim), new Linear(dim, hidden), new LayerNorm(hidden), new Linear(hidden, hw))
        : new Sequential(new LayerNorm(dim), new Linear(dim, hw)),
    );
  }

  /** @throws Error (naming `TokenHead`) when tokens is not [B, J, D]. */
  forward(tokens: Tensor): Tensor {
    if (tokens.rank !== 3 || tokens.shape[2] !== this.dim) fail('TokenHead', `tokens of shape [B, J, ${this.dim}]`, fmtShape(tokens.shape));
    const [B, J] = tokens.shape as [number, number];
    return reshape(this.mlp_head.forward(tokens), [B, J, this.heatmap[0], this.heatmap[1]]);
  }
}
