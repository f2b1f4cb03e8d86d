/**
 * BMD, VREMD's Bidirectional Motion Disentanglement module.
 *
 * From the raw backbone features {F_{t-1}, F_t, F_{t+1}} [B, 3, N, D]:
 *   M_f = F_{t+1} − F_t,   M_b = F_{t−1} − F_t                                   (motion features)
 * Adaptive Deformable Cross (ADC) blocks take both motions and the enhanced feature F [B, N, D] from
 * HKME. The paper concatenates M_f and M_b and splits them again inside each block; here they are
 * carried as a pair, which is the same thing. Inside a block each direction (bidirectional
 * separation, BS) runs its own dual branch, `ADCBranch`:
 *   x̂ = LN(x), F̂ = LN(F)
 *   a = DCA(x̂, F̂)                                   deformable cross attention (dca.ts, Eqs 3-4)
 *   c = CrossAttention(query = x̂, key = value = F̂)  plain multi-head cross attention
 *   x ← x + MLP(LN(a ⊕ c))                           concat (2D) + MLP 2D → r·D → D (GELU)
 * Unless `shareDirections` is set, the forward and backward branches have separate weights. After the
 * last block a fusion layer integrates both directions: M = Linear_{2D→D}(LN(M_f ⊕ M_b)).
 *
 * The norms and the residual connection are not described in the paper; they are the pre-norm
 * transformer convention of the rest of the network (LayerNorm eps 1e-6).
 */
import { fail, fmtShape } from '../../engine/shape.js';
import type { Tensor } from '../../engine/tensor.js';
import { add, sub } from '../../ops/elementwise.js';
import { concat, reshape, slice } from '../../ops/shape.js';
import { MultiheadAttention, Mlp } from '../nn/attention.js';
import { LayerNorm } from '../nn/extra-layers.js';
import { Linear, ModuleList } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import type { DCAConfig } from './config.js';
import { DCA } from './dca.js';

export interface ADCConfig {
  dim: number;
  grid: readonly [number, number];
  /** Heads of the plain cross attention. */
  numHeads: number;
  /** MLP hidden width = mlpRatio·dim. */
  mlpRatio: number;
  dca: DCAConfig;
}

export interface ADCBranchOutput {
  /** The updated motion feature, [B, N, D]. */
  out: Tensor;
  /** DCA's sampling locations in tokens, [B, N, heads, points, 2]. */
  points: Tensor;
}

/** One direction of an ADC block: dual branch (DCA + cross attention), concat, MLP, residual. */
export class ADCBranch extends Module {
  readonly norm_x: LayerNorm;
  readonly norm_f: LayerNorm;
  readonly dca: DCA;
  readonly cross_attn: MultiheadAttention;
  readonly norm_mlp: LayerNorm;
  readonly mlp: Mlp;

  constructor(readonly cfg: ADCConfig) {
    super();
    const D = cfg.dim;
    this.norm_x = this.module('norm_x', new LayerNorm(D, 1e-6));
    this.norm_f = this.module('norm_f', new LayerNorm(D, 1e-6));
    this.dca = this.module('dca', new DCA(D, cfg.grid, cfg.dca));
    this.cross_attn = this.module('cross_attn', new MultiheadAttention(D, cfg.numHeads, { batchFirst: true }));
    this.norm_mlp = this.module('norm_mlp', new LayerNorm(2 * D, 1e-6));
    this.mlp = this.module('mlp', new Mlp(2 * D, Math.round(cfg.mlpRatio * D), D));
  }

  /**
   * x (a motion feature) and f (the enhanced feature F), both [B, N, D] → x' [B, N, D].
   * @throws Error (naming `ADCBranch`, or DCA) when the shapes are not [B, Hp·Wp, D].
   */
  forward(x: Tensor, f: Tensor): ADCBranchOutput {
    const N = this.cfg.grid[0] * this.cfg.grid[1];
    if (x.rank !== 3 || x.shape[1] !== N || x.shape[2] !== this.cfg.dim) fail('ADCBranch', `x of shape [B, ${N}, ${this.cfg.dim}]`, fmtShape(x.shape));
    const xn = this.norm_x.forward(x);
    const fn = this.norm_f.forward(f);
    const a = this.dca.forward(xn, fn);
    const [c] = this.cross_attn.forward(xn, fn, fn, { needWeights: false });
    const y = this.mlp.forward(this.norm_mlp.forward(concat([a.out, c], 2)));
    return { out: add(x, y), points: a.points };
  }
}

export interface ADCBlockOutput {
  mf: Tensor;
  mb: Tensor;
  /** Sampling locations of the forward and backward DCA, [B, N, heads, points, 2] each. */
  pointsF: Tensor;
  pointsB: Tensor;
}

/** An ADC block: the forward motion through `fwd`, the backward motion through `bwd` (separately). */
export class ADCBlock extends Module {
  readonly fwd: ADCBranch;
  readonly bwd: ADCBranch;
  constructor(readonly cfg: ADCConfig & { shareDirections?: boolean }) {
    super();
    this.fwd = this.module('fwd', new ADCBranch(cfg));
    this.bwd = cfg.shareDirections ? this.fwd : this.module('bwd', new ADCBranch(cfg));
  }
  /** M_f, M_b and F, each [B, N, D] → updated M_f, M_b. */
  forward(mf: Tensor, mb: Tensor, f: Tensor): ADCBlockOutput {
    const a = this.fwd.forward(mf, f);
    const b = this.bwd.forward(mb, f);
    return { mf: a.out, mb: b.out, pointsF: a.points, pointsB: b.points };
  }
}

export interface BMDConfig extends ADCConfig {
  depth: number;
  shareDirections?: boolean;
}

export interface BMDOutput {
  /** The aggregated motion representation M, [B, N, D]. */
  M: Tensor;
  /** The last block's DCA sampling locations (forward, backward), or null with depth 0. */
  pointsF: Tensor | null;
  pointsB: Tensor | null;
}

/**
 * BMD: raw frame features [B, 3, N, D] (frames t-1, t, t+1) and F [B, N, D] → M [B, N, D].
 */
export class BMD extends Module {
  readonly blocks: ModuleList<ADCBlock>;
  readonly fusion_norm: LayerNorm;
  readonly fusion: Linear;

  constructor(readonly cfg: BMDConfig) {
    super();
    this.blocks = this.module('blocks', new ModuleList(Array.from({ length: cfg.depth }, () => new ADCBlock(cfg))));
    this.fusion_norm = this.module('fusion_norm', new LayerNorm(2 * cfg.dim, 1e-6));
    this.fusion = this.module('fusion', new Linear(2 * cfg.dim, cfg.dim));
  }

  /** M_f = F_{t+1} − F_t and M_b = F_{t−1} − F_t from frame features [B, 3, N, D]. */
  static motions(frames: Tensor): { mf: Tensor; mb: Tensor } {
    if (frames.rank !== 4 || frames.shape[1] !== 3) fail('BMD', 'frame features of shape [B, 3, N, D] (t-1, t, t+1)', fmtShape(frames.shape));
    const [B, , N, D] = frames.shape as [number, number, number, number];
    const at = (i: number): Tensor => reshape(slice(frames, 1, i, i + 1), [B, N, D]);
    const ft = at(1);
    return { mf: sub(at(2), ft), mb: sub(at(0), ft) };
  }

  /** @throws Error (naming `BMD`) when the shapes do not match [B, 3, Hp·Wp, D] and [B, Hp·Wp, D]. */
  forward(frames: Tensor, f: Tensor): BMDOutput {
    const N = this.cfg.grid[0] * this.cfg.grid[1];
    const D = this.cfg.dim;
    if (frames.rank !== 4 || frames.shape[1] !== 3 || frames.shape[2] !== N || frames.shape[3] !== D) fail('BMD', `frame features of shape [B, 3, ${N}, ${D}]`, fmtShape(frames.shape));
    if (f.rank !== 3 || f.shape[0] !== frames.shape[0] || f.shape[1] !== N || f.shape[2] !== D) fail('BMD', `F of shape [${frames.shape[0]}, ${N}, ${D}]`, fmtShape(f.shape));
    let { mf, mb } = BMD.motions(frames);
    let pointsF: Tensor | null = null;
    let pointsB: Tensor | null = null;
    for (const blk of this.blocks.items) {
      const r = blk.forward(mf, mb, f);
      mf = r.mf;
      mb = r.mb;
      pointsF = r.pointsF;
      pointsB = r.pointsB;
    }
    const M = this.fusion.forward(this.fusion_norm.forward(concat([mf, mb], 2)));
    return { M, pointsF, pointsB };
  }
}
