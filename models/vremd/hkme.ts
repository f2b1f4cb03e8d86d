/**
 * HKME, VREMD's Human-Keypoint Mask Enhanced module: coarse-to-fine token refinement of the three
 * frames' backbone features {F_{t-1}, F_t, F_{t+1}} [B, 3, N, D] into the enhanced feature F [B, N, D]
 * and the key-frame keypoint tokens T_t [B, J, D].
 *
 * 1. Human mask (Eq 1), `HumanMask`: a learnable human token per frame (T_h ∈ R^{3×1×D}) is appended
 *    to that frame's N tokens; spatial transformer blocks run per frame; the output splits into F̄_δ
 *    [N, D] and T_hδ [1, D]; Mask_hδ = F̄_δ·T_hδᵀ [N, 1] (a raw dot product: no sigmoid, no scale,
 *    no threshold) and F_c = ⊕_δ F̄_δ ⊙ Mask_hδ.
 * 2. Keypoint mask (Eq 2), `KeypointMask`: J learnable keypoint tokens per frame (T_k ∈ R^{3×J×D})
 *    are appended to each frame's F_c; the three frames are linked into one sequence of 3(N+J)
 *    tokens, ordered [F_c,t-1, T_k,t-1, F_c,t, T_k,t, F_c,t+1, T_k,t+1], and run through transformer
 *    blocks; the output splits into F̂ [3N, D] and T̂_k [3J, D]; Map = T̂_k·F̂ᵀ [3J, 3N], softmax over
 *    the 3N tokens, summed over all 3J keypoint tokens (the paper's "sum along the second-to-last
 *    dimension") and transposed: Mask_k [3N, 1]; F_f = F̂ ⊙ Mask_k.
 * 3. Spatio-temporal aggregation, `SpatioTemporal`: spatial blocks per frame (N tokens), then
 *    temporal blocks per token position (a sequence of the 3 frames' tokens at that position).
 * 4. Token reduction, `TokenReduction`: an MLP over the token axis, 3N → hidden → N (GELU), giving F.
 *
 * The blocks are the pre-norm ViT block (`TransformerBlock`, timm/ViTPose names). No position
 * embedding is added: the backbone tokens already carry ViTPose's, and the token-reduction MLP
 * tells the frames apart by their position in the 3N axis.
 */
import { fail, fmtShape } from '../../engine/shape.js';
import type { Tensor } from '../../engine/tensor.js';
import { zeros } from '../../ops/creation.js';
import { mul } from '../../ops/elementwise.js';
import { matmul } from '../../ops/matmul.js';
import { sum } from '../../ops/reduce.js';
import { concat, expand, permute, reshape, slice, transpose, unsqueeze } from '../../ops/shape.js';
import { softmax } from '../../ops/softmax.js';
import { Mlp, TransformerBlock } from '../nn/attention.js';
import { truncNormal_ } from '../nn/init.js';
import { ModuleList } from '../nn/layers.js';
import { Module } from '../nn/module.js';

export interface BlockStackConfig {
  dim: number;
  numHeads: number;
  mlpRatio: number;
  depth: number;
}

/** `depth` TransformerBlocks applied in order, registered as '0', '1', ... */
export class BlockStack extends ModuleList<TransformerBlock> {
  constructor(cfg: BlockStackConfig) {
    super(Array.from({ length: cfg.depth }, () => new TransformerBlock(cfg.dim, cfg.numHeads, { mlpRatio: cfg.mlpRatio, eps: 1e-6 })));
  }
  forward(x: Tensor): Tensor {
    let y = x;
    for (const b of this.items) y = b.forward(y);
    return y;
  }
}

function checkFrames(op: string, f: Tensor, T: number, N: number, D: number): [number] {
  if (f.rank !== 4 || f.shape[1] !== T || f.shape[2] !== N || f.shape[3] !== D) fail(op, `frame features of shape [B, ${T}, ${N}, ${D}]`, fmtShape(f.shape));
  return [f.shape[0]!];
}

export interface HumanMaskOutput {
  /** F_c = F̄ ⊙ Mask_h, [B, T, N, D]. */
  fc: Tensor;
  /** Mask_h, [B, T, N, 1]. */
  mask: Tensor;
}

/** Step 1 (Eq 1). forward(F [B, T, N, D]) → F_c [B, T, N, D] and Mask_h [B, T, N, 1]. */
export class HumanMask extends Module {
  /** T_h, one learnable token per frame: [T, 1, D]. */
  readonly human_token: Tensor;
  readonly blocks: BlockStack;

  constructor(readonly cfg: BlockStackConfig & { numFrames: number; numTokens: number }) {
    super();
    this.human_token = this.param('human_token', truncNormal_(zeros([cfg.numFrames, 1, cfg.dim]), 0.02));
    this.blocks = this.module('blocks', new BlockStack(cfg));
  }

  /** @throws Error (naming `HumanMask`) when f is not [B, T, N, D]. */
  forward(f: Tensor): HumanMaskOutput {
    const { numFrames: T, numTokens: N, dim: D } = this.cfg;
    const [B] = checkFrames('HumanMask', f, T, N, D);
    const tok = reshape(expand(unsqueeze(this.human_token, 0), [B, T, 1, D]), [B * T, 1, D]);
    const y = this.blocks.forward(concat([reshape(f, [B * T, N, D]), tok], 1)); // [B·T, N+1, D]
    const fbar = slice(y, 1, 0, N);
    const th = slice(y, 1, N, N + 1);
    const mask = matmul(fbar, transpose(th, 1, 2)); // [B·T, N, 1]
    return { fc: reshape(mul(fbar, mask), [B, T, N, D]), mask: reshape(mask, [B, T, N, 1]) };
  }
}

export interface KeypointMaskOutput {
  /** F_f = F̂ ⊙ Mask_k (or F̂ when the mask is disabled), [B, T·N, D]. */
  ff: Tensor;
  /** T̂_k, [B, T·J, D] (frame-major: frame δ's joints at rows δJ..δJ+J-1). */
  tokens: Tensor;
  /** Mask_k, [B, T·N, 1]. */
  mask: Tensor;
}

/** Step 2 (Eq 2). forward(F_c [B, T, N, D]) → F_f [B, T·N, D], T̂_k [B, T·J, D], Mask_k [B, T·N, 1]. */
export class KeypointMask extends Module {
  /** T_k, J learnable keypoint tokens per frame: [T, J, D]. */
  readonly keypoint_tokens: Tensor;
  readonly blocks: BlockStack;

  constructor(readonly cfg: BlockStackConfig & { numFrames: number; numTokens: number; numJoints: number; applyMask?: boolean }) {
    super();
    this.keypoint_tokens = this.param('keypoint_tokens', truncNormal_(zeros([cfg.numFrames, cfg.numJoints, cfg.dim]), 0.02));
    this.blocks = this.module('blocks', new BlockStack(cfg));
  }

  /** @throws Error (naming `KeypointMask`) when fc is not [B, T, N, D]. */
  forward(fc: Tensor): KeypointMaskOutput {
    const { numFrames: T, numTokens: N, numJoints: J, dim: D } = this.cfg;
    const [B] = checkFrames('KeypointMask', fc, T, N, D);
    const tok = expand(unsqueeze(this.keypoint_tokens, 0), [B, T, J, D]);
    const seq = reshape(concat([fc, tok], 2), [B, T * (N + J), D]);
    const y = reshape(this.blocks.forward(seq), [B, T, N + J, D]);
    const fhat = reshape(slice(y, 2, 0, N), [B, T * N, D]);
    const tk = reshape(slice(y, 2, N, N + J), [B, T * J, D]);
    const map = softmax(matmul(tk, transpose(fhat, 1, 2)), 2); // [B, 3J, 3N], softmax over tokens
    const mask = transpose(sum(map, 1, true), 1, 2); // [B, 3N, 1]
    const ff = this.cfg.applyMask === false ? fhat : mul(fhat, mask);
    return { ff, tokens: tk, mask };
  }
}

/** Step 3: spatial blocks per frame, then temporal blocks per token position. [B, T·N, D] → [B, T·N, D]. */
export class SpatioTemporal extends Module {
  readonly spatial_blocks: BlockStack;
  readonly temporal_blocks: BlockStack;

  constructor(readonly cfg: { dim: number; numHeads: number; mlpRatio: number; spatialDepth: number; temporalDepth: number; numFrames: number; numTokens: number }) {
    super();
    const base = { dim: cfg.dim, numHeads: cfg.numHeads, mlpRatio: cfg.mlpRatio };
    this.spatial_blocks = this.module('spatial_blocks', new BlockStack({ ...base, depth: cfg.spatialDepth }));
    this.temporal_blocks = this.module('temporal_blocks', new BlockStack({ ...base, depth: cfg.temporalDepth }));
  }

  /** @throws Error (naming `SpatioTemporal`) when x is not [B, T·N, D]. */
  forward(x: Tensor): Tensor {
    const { numFrames: T, numTokens: N, dim: D } = this.cfg;
    if (x.rank !== 3 || x.shape[1] !== T * N || x.shape[2] !== D) fail('SpatioTemporal', `x of shape [B, ${T * N}, ${D}]`, fmtShape(x.shape));
    const B = x.shape[0]!;
    const s = this.spatial_blocks.forward(reshape(x, [B * T, N, D]));
    const perPos = reshape(permute(reshape(s, [B, T, N, D]), [0, 2, 1, 3]), [B * N, T, D]);
    const t = this.temporal_blocks.forward(perPos);
    return reshape(permute(reshape(t, [B, N, T, D]), [0, 2, 1, 3]), [B, T * N, D]);
  }
}

/** Step 4: an MLP over the token axis, fc1 3N → hidden, GELU, fc2 hidden → N. [B, 3N, D] → [B, N, D]. */
export class TokenReduction extends Module {
  readonly mlp: Mlp;
  constructor(readonly inTokens: number, readonly outTokens: number, hidden = outTokens) {
    super();
    this.mlp = this.module('mlp', new Mlp(inTokens, hidden, outTokens));
  }
  /** @throws Error (naming `TokenReduction`) when x is not [B, inTokens, D]. */
  forward(x: Tensor): Tensor {
    if (x.rank !== 3 || x.shape[1] !== this.inTokens) fail('TokenReduction', `x of shape [B, ${this.inTokens}, D]`, fmtShape(x.shape));
    return transpose(this.mlp.forward(transpose(x, 1, 2)), 1, 2);
  }
}

export interface HKMEConfig {
  dim: number;
  numHeads: number;
  mlpRatio: number;
  numFrames: number;
  numTokens: number;
  numJoints: number;
  humanDepth: number;
  keypointDepth: number;
  spatialDepth: number;
  temporalDepth: number;
  reductionHidden?: number;
  /** Table 5 ablations: without the human mask the stage is skipped (F_c = F); without the
   * keypoint mask its blocks still run (they give T̂_k for H_k) but F_f = F̂. Default true. */
  humanMask?: boolean;
  keypointMask?: boolean;
}

export interface HKMEOutput {
  /** The enhanced feature F, [B, N, D]. */
  F: Tensor;
  /** All keypoint tokens T̂_k, [B, T·J, D]. */
  keypointTokens: Tensor;
  /** The key frame's keypoint tokens T_t (frame index 1 of [t-1, t, t+1]), [B, J, D]. */
  keyTokens: Tensor;
  /** Mask_h [B, T, N, 1], or null without the human mask. */
  humanMask: Tensor | null;
  /** Mask_k [B, T·N, 1]. */
  keypointMask: Tensor;
}

/** HKME: frames' features [B, T, N, D] → F [B, N, D], T_t [B, J, D] and both masks. */
export class HKME extends Module {
  readonly human_mask: HumanMask | null;
  readonly keypoint_mask: KeypointMask;
  readonly spatio_temporal: SpatioTemporal;
  readonly token_reduction: TokenReduction;

  constructor(readonly cfg: HKMEConfig) {
    super();
    const base = { dim: cfg.dim, numHeads: cfg.numHeads, mlpRatio: cfg.mlpRatio, numFrames: cfg.numFrames, numTokens: cfg.numTokens };
    this.human_mask = this.module('human_mask', cfg.humanMask === false ? null : new HumanMask({ ...base, depth: cfg.humanDepth }));
    this.keypoint_mask = this.module('keypoint_mask', new KeypointMask({ ...base, depth: cfg.keypointDepth, numJoints: cfg.numJoints, applyMask: cfg.keypointMask !== false }));
    this.spatio_temporal = this.module('spatio_temporal', new SpatioTemporal({ ...base, spatialDepth: cfg.spatialDepth, temporalDepth: cfg.temporalDepth }));
    this.token_reduction = this.module('token_reduction', new TokenReduction(cfg.numFrames * cfg.numTokens, cfg.numTokens, cfg.reductionHidden ?? cfg.numTokens));
  }

  /** @throws Error (naming the step) when f is not [B, T, N, D]. */
  forward(f: Tensor): HKMEOutput {
    const { numFrames: T, numTokens: N, dim: D, numJoints: J } = this.cfg;
    checkFrames('HKME', f, T, N, D);
    const hm = this.human_mask ? this.human_mask.forward(f) : null;
    const km = this.keypoint_mask.forward(hm ? hm.fc : f);
    const st = this.spatio_temporal.forward(km.ff);
    const F = this.token_reduction.forward(st);
    const key = Math.floor(T / 2);
    return { F, keypointTokens: km.tokens, keyTokens: slice(km.tokens, 1, key * J, (key + 1) * J), humanMask: hm ? hm.mask : null, keypointMask: km.mask };
  }
}
