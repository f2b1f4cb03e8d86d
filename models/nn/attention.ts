/**
 * Attention modules:
 * - `MultiheadAttention`: torch.nn.MultiheadAttention, parameter for parameter;
 * - `TransformerBlock`: the pre-norm ViT block of timm and ViTPose (norm1, attn.qkv, attn.proj,
 *   norm2, mlp.fc1, mlp.fc2), so that ViTPose checkpoints load key for key;
 * - `DropPath` (timm's stochastic depth), which the block uses (LayerNorm lives in extra-layers.ts).
 */
import { fail, fmtShape } from '../../engine/shape.js';
import type { Tensor } from '../../engine/tensor.js';
import { scaledDotProductAttention } from '../../ops/attention.js';
import { full, rand, zeros } from '../../ops/creation.js';
import { add, ge, gelu, mul, where } from '../../ops/elementwise.js';
import { linear, matmul } from '../../ops/matmul.js';
import { mean } from '../../ops/reduce.js';
import { permute, reshape, slice, squeeze, transpose, unsqueeze } from '../../ops/shape.js';
import { softmax } from '../../ops/softmax.js';
import { xavierUniform_, zeros_ } from './init.js';
import { LayerNorm } from './extra-layers.js';
import { Linear } from './layers.js';
import { Module } from './module.js';

// ------------------------------------------------------------------------------------------ DropPath
/**
 * Stochastic depth (timm's DropPath; Huang et al. 2016): in training, each sample's residual branch
 * is zeroed with probability p and the others scaled by 1/(1-p); the identity in eval mode or at p = 0.
 */
export class DropPath extends Module {
  constructor(readonly p = 0) {
    super();
    if (!(p >= 0 && p < 1)) fail('DropPath', 'p in [0, 1)', String(p));
  }

  forward(x: Tensor): Tensor {
    if (!this.training || this.p === 0) return x;
    const shape = [x.shape[0]!, ...x.shape.slice(1).map(() => 1)];
    const keep = ge(rand(shape, { dtype: x.dtype, device: x.device }), this.p);
    return mul(where(keep, x, 0), 1 / (1 - this.p));
  }
}

// ------------------------------------------------------------------------------------------ MultiheadAttention
export interface MultiheadAttentionConfig {
  /** Dropout on the attention weights in training mode (default 0). */
  dropout?: number;
  /** in_proj_bias and out_proj.bias (default true). */
  bias?: boolean;
  /** Key features (default embedDim); ≠ embedDim gives separate q/k/v projection weights. */
  kdim?: number;
  /** Value features (default embedDim). */
  vdim?: number;
  /** Inputs and output as [N, L, E] instead of [L, N, E] (default false, as PyTorch). */
  batchFirst?: boolean;
}

export interface MultiheadAttentionForwardOptions {
  /**
   * [N, S] ([S] unbatched): int32, non-zero = this key is padding and is ignored (torch's bool
   * True); or float, added to the logits.
   */
  keyPaddingMask?: Tensor | null;
  /** Return the attention weights (default true, as PyTorch). */
  needWeights?: boolean;
  /**
   * [L, S] or [N·numHeads, L, S]: int32, non-zero = NOT allowed to attend (torch's bool True, the
   * opposite of scaledDotProductAttention's boolean mask); or float, added to the logits.
   */
  attnMask?: Tensor | null;
  /** Average the returned weights over the heads (default true). */
  averageAttnWeights?: boolean;
}

/**
 * torch.nn.MultiheadAttention(embed_dim, num_heads, dropout, bias, kdim=, vdim=, batch_first=)
 * (Vaswani et al. 2017, §3.2.2), without add_bias_kv / add_zero_attn.
 *
 * Parameters, keys and init as PyTorch: `in_proj_weight` [3E, E] (xavier-uniform) when
 * kdim = vdim = E, else `q_proj_weight` [E, E], `k_proj_weight` [E, kdim], `v_proj_weight`
 * [E, vdim]; `in_proj_bias` [3E] (zeros); `out_proj.weight` [E, E] (Linear's init) and
 * `out_proj.bias` [E] (zeros).
 *
 * forward(query [L, N, E], key [S, N, kdim], value [S, N, vdim], opts) → [output [L, N, E],
 * weights [N, L, S] (averaged) or [N, H, L, S] or null]; [N, L, E] etc. with batchFirst; [L, E]
 * unbatched (weights [L, S] / [H, L, S]). A query whose keys are all masked gets zero weights and
 * a zero attention output (PyTorch gives NaN).
 * @throws Error (naming `MultiheadAttention`) when embedDim is not divisible by numHeads, on
 *   inputs whose rank or feature sizes do not match, or masks of the wrong shape.
 */
export class MultiheadAttention extends Module {
  readonly in_proj_weight: Tensor | null;
  readonly q_proj_weight: Tensor | null;
  readonly k_proj_weight: Tensor | null;
  readonly v_proj_weight: Tensor | null;
  readonly in_proj_bias: Tensor | null;
  readonly out_proj: Linear;
  readonly headDim: number;
  readonly kdim: number;
  readonly vdim: number;
  readonly dropout: number;
  readonly batchFirst: boolean;

  constructor(readonly embedDim: number, readonly numHeads: number, cfg: MultiheadAttentionConfig = {}) {
    super();
    const op = 'MultiheadAttention';
    if (!Number.isInteger(numHeads) || numHeads < 1 || embedDim % numHeads !== 0) fail(op, `embedDim divisible by numHeads`, `embedDim ${embedDim}, numHeads ${numHeads}`);
    this.headDim = embedDim / numHeads;
    this.kdim = cfg.kdim ?? embedDim;
    this.vdim = cfg.vdim ?? embedDim;
    this.dropout = cfg.dropout ?? 0;
    if (!(this.dropout >= 0 && this.dropout < 1)) fail(op, 'dropout in [0, 1)', String(cfg.dropout));
    this.batchFirst = cfg.batchFirst ?? false;
    const same = this.kdim === embedDim && this.vdim === embedDim;
    const E = embedDim;
    // Registration order = PyTorch's state-dict order.
    this.in_proj_weight = this.param('in_proj_weight', same ? xavierUniform_(zeros([3 * E, E])) : null);
    this.q_proj_weight = this.param('q_proj_weight', same ? null : xavierUniform_(zeros([E, E])));
    this.k_proj_weight = this.param('k_proj_weight', same ? null : xavierUniform_(zeros([E, this.kdim])));
    this.v_proj_weight = this.param('v_proj_weight', same ? null : xavierUniform_(zeros([E, this.vdim])));
    this.in_proj_bias = this.param('in_proj_bias', cfg.bias === false ? null : zeros([3 * E]));
    this.out_proj = this.module('out_proj', new Linear(E, E, { bias: cfg.bias !== false }));
    if (this.out_proj.bias) zeros_(this.out_proj.bias);
  }

  /** The q, k or v projection weight ([E, in]) and bias ([E] or null): slices of the packed ones. */
  private projection(i: 0 | 1 | 2): { w: Tensor; b: Tensor | null } {
    const E = this.embedDim;
    const w = this.in_proj_weight ? slice(this.in_proj_weight, 0, i * E, (i + 1) * E) : [this.q_proj_weight, this.k_proj_weight, this.v_proj_weight][i]!;
    const b = this.in_proj_bias ? slice(this.in_proj_bias, 0, i * E, (i + 1) * E) : null;
    return { w, b };
  }

  forward(query: Tensor, key: Tensor, value: Tensor, opts: MultiheadAttentionForwardOptions = {}): [Tensor, Tensor | null] {
    const op = 'MultiheadAttention';
    const E = this.embedDim;
    const H = this.numHeads;
    const hd = this.headDim;
    const batched = query.rank === 3;
    if (query.rank !== 2 && query.rank !== 3) fail(op, `query of rank 3 (${this.batchFirst ? '[N, L, E]' : '[L, N, E]'}) or 2 ([L, E])`, `shape ${fmtShape(query.shape)}`);
    if (key.rank !== query.rank || value.rank !== query.rank) fail(op, `query, key and value of one rank (${query.rank})`, `key ${fmtShape(key.shape)}, value ${fmtShape(value.shape)}`);
    if (query.shape[query.rank - 1] !== E) fail(op, `query features = embedDim ${E}`, `shape ${fmtShape(query.shape)}`);
    if (key.shape[key.rank - 1] !== this.kdim) fail(op, `key features = kdim ${this.kdim}`, `shape ${fmtShape(key.shape)}`);
    if (value.shape[value.rank - 1] !== this.vdim) fail(op, `value features = vdim ${this.vdim}`, `shape ${fmtShape(value.shape)}`);
    // To [N, L, E].
    const toNLE = (t: Tensor): Tensor => (!batched ? unsqueeze(t, 0) : this.batchFirst ? t : transpose(t, 0, 1));
    const q0 = toNLE(query);
    const k0 = toNLE(key);
    const v0 = toNLE(value);
    const [N, L] = q0.shape as [number, number];
    const S = k0.shape[1]!;
    if (k0.shape[0] !== N || v0.shape[0] !== N || v0.shape[1] !== S) fail(op, `key and value of batch ${N} and one length`, `key ${fmtShape(key.shape)}, value ${fmtShape(value.shape)}`);

    // Projections, split into heads: [N, H, L, hd].
    const heads = (t: Tensor, len: number): Tensor => permute(reshape(t, [N, len, H, hd]), [0, 2, 1, 3]);
    const pq = this.projection(0);
    const pk = this.projection(1);
    const pv = this.projection(2);
    const q = heads(linear(q0, pq.w, pq.b), L);
    const k = heads(linear(k0, pk.w, pk.b), S);
    const v = heads(linear(v0, pv.w, pv.b), S);

    const mask = this.additiveMask(opts, N, L, S, query);
    const dropoutP = this.training ? this.dropout : 0;
    const needWeights = opts.needWeights ?? true;
    let attn: Tensor;
    let weights: Tensor | null = null;
    if (needWeights) {
      // The weights are an output: compute them explicitly (after dropout, as PyTorch returns them).
      let logits = mul(matmul(q, transpose(k, 2, 3)), 1 / Math.sqrt(hd));
      if (mask) logits = add(logits, mask);
      let w = softmax(logits, 3);
      if (dropoutP > 0) w = mul(where(ge(rand(w.shape, { dtype: w.dtype, device: w.device }), dropoutP), w, 0), 1 / (1 - dropoutP));
      attn = matmul(w, v);
      weights = (opts.averageAttnWeights ?? true) ? mean(w, 1) : w;
      if (!batched) weights = squeeze(weights, 0);
    } else {
      attn = scaledDotProductAttention(q, k, v, { attnMask: mask, dropoutP });
    }
    // [N, H, L, hd] → [N, L, E] → out_proj → the input layout.
    let out = this.out_proj.forward(reshape(permute(attn, [0, 2, 1, 3]), [N, L, E]));
    out = !batched ? squeeze(out, 0) : this.batchFirst ? out : transpose(out, 0, 1);
    return [out, weights];
  }

  /** attnMask and keyPaddingMask combined into one additive float mask, [N|1, H|1, L, S]. */
  private additiveMask(opts: MultiheadAttentionForwardOptions, N: number, L: number, S: number, like: Tensor): Tensor | null {
    const op = 'MultiheadAttention';
    const H = this.numHeads;
    const asFloat = (m: Tensor, name: string): Tensor => {
      if (m.dtype === 'int32') return where(m, full([], -Infinity, { dtype: like.dtype, device: like.device }), full([], 0, { dtype: like.dtype, device: like.device }));
      if (m.dtype !== like.dtype) fail(op, `${name} as int32 (boolean) or ${like.dtype}`, m.dtype);
      return m;
    };
    let mask: Tensor | null = null;
    const am = opts.attnMask ?? null;
    if (am) {
      if (am.rank === 2 && am.shape[0] === L && am.shape[1] === S) mask = reshape(asFloat(am, 'attnMask'), [1, 1, L, S]);
      else if (am.rank === 3 && am.shape[0] === N * H && am.shape[1] === L && am.shape[2] === S) mask = reshape(asFloat(am, 'attnMask'), [N, H, L, S]);
      else fail(op, `attnMask of shape [${L}, ${S}] or [${N * H}, ${L}, ${S}]`, fmtShape(am.shape));
    }
    const kpm = opts.keyPaddingMask ?? null;
    if (kpm) {
      const ok = like.rank === 3 ? kpm.rank === 2 && kpm.shape[0] === N && kpm.shape[1] === S : kpm.rank === 1 && kpm.shape[0] === S;
      if (!ok) fail(op, `keyPaddingMask of shape ${like.rank === 3 ? `[${N}, ${S}]` : `[${S}]`}`, fmtShape(kpm.shape));
      const k4 = reshape(asFloat(kpm, 'keyPaddingMask'), [N, 1, 1, S]);
      mask = mask ? add(mask, k4) : k4;
    }
    return mask;
  }
}

// ------------------------------------------------------------------------------------------ TransformerBlock
export interface TransformerBlockConfig {
  /** Hidden size of the MLP = dim · mlpRatio (default 4). */
  mlpRatio?: number;
  /** Bias in attn.qkv (default true, as ViTPose). */
  qkvBias?: boolean;
  /** Multiplies q·kᵀ; default headDim^-0.5 (timm's qk_scale). */
  qkScale?: number;
  /** Per-head size (ViTPose's attn_head_dim); default dim / numHeads. */
  headDim?: number;
  /** LayerNorm eps (default 1e-6, ViTPose's norm_layer). */
  eps?: number;
  /** Stochastic depth rate (training only; default 0). */
  dropPath?: number;
}

/** timm/ViTPose Attention: `qkv` Linear(dim → 3·H·hd), softmax(q·kᵀ·scale)·v per head, `proj` Linear(H·hd → dim). */
export class ViTAttention extends Module {
  readonly qkv: Linear;
  readonly proj: Linear;
  readonly headDim: number;
  readonly scale: number;

  constructor(readonly dim: number, readonly numHeads: number, cfg: TransformerBlockConfig = {}) {
    super();
    this.headDim = cfg.headDim ?? dim / numHeads;
    if (!Number.isInteger(this.headDim) || this.headDim < 1) fail('ViTAttention', `dim divisible by numHeads (or an integer headDim)`, `dim ${dim}, numHeads ${numHeads}, headDim ${cfg.headDim}`);
    this.scale = cfg.qkScale ?? this.headDim ** -0.5;
    const all = this.headDim * numHeads;
    this.qkv = this.module('qkv', new Linear(dim, 3 * all, { bias: cfg.qkvBias ?? true }));
    this.proj = this.module('proj', new Linear(all, dim));
  }

  /** x [B, N, dim] → [B, N, dim]. */
  forward(x: Tensor): Tensor {
    if (x.rank !== 3 || x.shape[2] !== this.dim) fail('ViTAttention', `x of shape [B, N, ${this.dim}]`, fmtShape(x.shape));
    const [B, N] = x.shape as [number, number];
    // [B, N, 3·H·hd] → [3, B, H, N, hd], as timm's reshape(B, N, 3, H, hd).permute(2, 0, 3, 1, 4).
    const qkv = permute(reshape(this.qkv.forward(x), [B, N, 3, this.numHeads, this.headDim]), [2, 0, 3, 1, 4]);
    const part = (i: number): Tensor => squeeze(slice(qkv, 0, i, i + 1), 0);
    const o = scaledDotProductAttention(part(0), part(1), part(2), { scale: this.scale });
    return this.proj.forward(reshape(permute(o, [0, 2, 1, 3]), [B, N, this.numHeads * this.headDim]));
  }
}

/** timm/ViTPose Mlp: `fc1` Linear(dim → hidden), GELU (erf), `fc2` Linear(hidden → dim). */
export class Mlp extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;
  constructor(inFeatures: number, hiddenFeatures: number, outFeatures = inFeatures) {
    super();
    this.fc1 = this.module('fc1', new Linear(inFeatures, hiddenFeatures));
    this.fc2 = this.module('fc2', new Linear(hiddenFeatures, outFeatures));
  }
  forward(x: Tensor): Tensor {
    return this.fc2.forward(gelu(this.fc1.forward(x)));
  }
}

/**
 * The pre-norm ViT encoder block of timm and ViTPose (Dosovitskiy et al. 2021, Eqs. 2-3):
 *   x = x + dropPath(attn(norm1(x)));  x = x + dropPath(mlp(norm2(x)))
 * State-dict keys: norm1.{weight,bias}, attn.qkv.{weight,bias}, attn.proj.{weight,bias},
 * norm2.{weight,bias}, mlp.fc1.{weight,bias}, mlp.fc2.{weight,bias}.
 * forward(x [B, N, dim]) → [B, N, dim]. Dropout-free (ViTPose uses none); drop path only in training.
 */
export class TransformerBlock extends Module {
  readonly norm1: LayerNorm;
  readonly attn: ViTAttention;
  readonly dropPath: DropPath;
  readonly norm2: LayerNorm;
  readonly mlp: Mlp;

  constructor(readonly dim: number, readonly numHeads: number, cfg: TransformerBlockConfig = {}) {
    super();
    const eps = cfg.eps ?? 1e-6;
    this.norm1 = this.module('norm1', new LayerNorm(dim, eps));
    this.attn = this.module('attn', new ViTAttention(dim, numHeads, cfg));
    this.dropPath = this.module('drop_path', new DropPath(cfg.dropPath ?? 0));
    this.norm2 = this.module('norm2', new LayerNorm(dim, eps));
    this.mlp = this.module('mlp', new Mlp(dim, Math.floor(dim * (cfg.mlpRatio ?? 4))));
  }

  forward(x: Tensor): Tensor {
    const y = add(x, this.dropPath.forward(this.attn.forward(this.norm1.forward(x))));
    return add(y, this.dropPath.forward(this.mlp.forward(this.norm2.forward(y))));
  }
}
