/**
 * DCA, VREMD's deformable cross attention (paper Eqs 3-4):
 *
 *   q = W_q·x,   z = W_z·F,   Δp = θ(ψ(q ⊕ z)),   x̄ = φ(p_z + Δp)                      (Eq 3)
 *   DCA(x, z, p_z) = Σ_n σ_n( q·(W_k·x̄_n)ᵀ / √d ) · (W_v·x̄_n)                          (Eq 4)
 *
 * x is a motion feature (M_f or M_b) and F the enhanced feature from HKME, both [B, N, D] on the
 * Hp×Wp token grid. Deformable-DETR-like, with dot-product attention over the sampled points:
 * - heads: D is split into `heads` heads of d = D/heads; each head has its own `points` sampling
 *   points per query, and σ is a softmax over those points (per head, per query);
 * - ψ: a depthwise k×k conv (groups = 2D, padding k//2) over the token map of q ⊕ z, then GELU;
 * - θ: a Linear 2D → heads·points·2 giving (Δx, Δy) per head and point, in tokens (grid cells).
 *   Initialized as Deformable DETR: zero weight, and a bias that points head h along angle 2πh/H
 *   at distances 1..points (so the initial sampling pattern is a ring of rays around each query);
 *   with `offsetRange` r the offsets are softly bounded, Δp = r·tanh(θ(·)/r);
 * - p_z: the reference point of query i is token i's own cell in z's grid (x and F share the grid),
 *   i.e. (col, row) = (i mod Wp, ⌊i / Wp⌋) in token units;
 * - φ: bilinear sampling (`gridSample`, zeros outside the map). W_k and W_v are applied to x before
 *   sampling (Deformable DETR's value projection): bilinear sampling is linear, so W_k·x̄_n equals
 *   the sample of W_k·x wherever the sample lies inside the map; outside it, zeros padding drops the
 *   bias term as well as the feature. This costs N·D² MACs instead of N·heads·points·D² per projection.
 *   There is no output projection: Eq 4 has none, and the ADC MLP that follows mixes the heads.
 *
 * Coordinates: a point at (cx, cy) in tokens (cell centres at integers) is passed to gridSample with
 * alignCorners = false as gx = (2·cx + 1)/Wp − 1, gy = (2·cy + 1)/Hp − 1, so −1 and 1 are the outer
 * edges of the map and token centres sit at (2i+1)/W − 1. Gradients flow through gridSample's grid
 * into Δp, hence into θ, ψ, W_q, W_z and F; bilinear sampling has kinks where a point crosses a cell
 * centre (integer coordinates).
 */
import { fail, fmtShape } from '../../engine/shape.js';
import type { Tensor } from '../../engine/tensor.js';
import { tensor } from '../../ops/creation.js';
import { add, gelu, mul, tanh } from '../../ops/elementwise.js';
import { matmul } from '../../ops/matmul.js';
import { gridSample } from '../../ops/resample.js';
import { concat, permute, reshape, slice } from '../../ops/shape.js';
import { softmax } from '../../ops/softmax.js';
import { constant_ } from '../nn/init.js';
import { Conv2d, Linear } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import type { DCAConfig } from './config.js';

export interface DCAOutput {
  /** [B, N, D]. */
  out: Tensor;
  /** Sampling locations p_z + Δp in tokens (x = column, y = row), [B, N, heads, points, 2]. */
  points: Tensor;
}

/** Deformable cross attention over a Hp×Wp token map (see the file comment). */
export class DCA extends Module {
  readonly q_proj: Linear;
  readonly z_proj: Linear;
  /** ψ: depthwise conv over the 2D channels of q ⊕ z. */
  readonly offset_conv: Conv2d;
  /** θ: 2D → heads·points·2 offsets. */
  readonly sampling_offsets: Linear;
  readonly k_proj: Linear;
  readonly v_proj: Linear;
  readonly headDim: number;

  constructor(readonly dim: number, readonly grid: readonly [number, number], readonly cfg: DCAConfig) {
    super();
    const op = 'DCA';
    if (dim % cfg.heads !== 0) fail(op, `heads dividing dim ${dim}`, String(cfg.heads));
    if (cfg.kernelSize % 2 !== 1) fail(op, 'an odd kernelSize', String(cfg.kernelSize));
    this.headDim = dim / cfg.heads;
    this.q_proj = this.module('q_proj', new Linear(dim, dim));
    this.z_proj = this.module('z_proj', new Linear(dim, dim));
    this.offset_conv = this.module('offset_conv', new Conv2d(2 * dim, 2 * dim, cfg.kernelSize, { padding: (cfg.kernelSize - 1) / 2, groups: 2 * dim }));
    this.sampling_offsets = this.module('sampling_offsets', new Linear(2 * dim, cfg.heads * cfg.points * 2));
    this.k_proj = this.module('k_proj', new Linear(dim, dim));
    this.v_proj = this.module('v_proj', new Linear(dim, dim));
  }

  /** Deformable DETR's offset init: zero weight, bias = ray of head h (angle 2πh/H) at distances 1..P. */
  resetOffsets(): void {
    const { heads: H, points: P } = this.cfg;
    constant_(this.sampling_offsets.weight, 0);
    const b = new Float64Array(H * P * 2);
    for (let h = 0; h < H; h++) {
      const a = (2 * Math.PI * h) / H;
      const cx = Math.cos(a);
      const cy = Math.sin(a);
      const m = Math.max(Math.abs(cx), Math.abs(cy));
      for (let p = 0; p < P; p++) {
        b[(h * P + p) * 2] = (cx / m) * (p + 1);
        b[(h * P + p) * 2 + 1] = (cy / m) * (p + 1);
      }
    }
    const src = tensor(b, { dtype: this.sampling_offsets.bias!.dtype, device: this.sampling_offsets.bias!.device });
    this.sampling_offsets.bias!.assign(src);
    src.dispose();
  }

  /**
   * x (motion, queries and sampled values) and f (the constraint F), both [B, N, D] with
   * N = Hp·Wp → { out [B, N, D], points [B, N, heads, points, 2] }.
   * @throws Error (naming `DCA`) when x or f is not [B, Hp·Wp, dim] or their shapes differ.
   */
  forward(x: Tensor, f: Tensor): DCAOutput {
    const op = 'DCA';
    const [Hp, Wp] = this.grid;
    const N = Hp * Wp;
    const D = this.dim;
    if (x.rank !== 3 || x.shape[1] !== N || x.shape[2] !== D) fail(op, `x of shape [B, ${N}, ${D}] (grid ${Hp}x${Wp})`, fmtShape(x.shape));
    if (f.rank !== 3 || f.shape[0] !== x.shape[0] || f.shape[1] !== N || f.shape[2] !== D) fail(op, `f of shape [${x.shape[0]}, ${N}, ${D}]`, fmtShape(f.shape));
    const B = x.shape[0]!;
    const { heads: H, points: P, offsetRange } = this.cfg;
    const d = this.headDim;

    // Eq 3: q, z, and the offsets from ψ over the token map of q ⊕ z.
    const q = this.q_proj.forward(x);
    const z = this.z_proj.forward(f);
    const qz = reshape(permute(concat([q, z], 2), [0, 2, 1]), [B, 2 * D, Hp, Wp]);
    const psi = permute(reshape(gelu(this.offset_conv.forward(qz)), [B, 2 * D, N]), [0, 2, 1]);
    let off = this.sampling_offsets.forward(psi); // [B, N, H·P·2]
    if (offsetRange !== null) off = mul(tanh(mul(off, 1 / offsetRange)), offsetRange);
    off = reshape(off, [B, N, H, P, 2]);
    const ref = referencePoints(this.grid, x);
    const points = add(off, ref); // tokens

    // To gridSample's normalized coordinates (alignCorners false): g = (2p + 1)/size − 1.
    const scale = tensor([2 / Wp, 2 / Hp], { dtype: x.dtype, device: x.device });
    const shift = tensor([1 / Wp - 1, 1 / Hp - 1], { dtype: x.dtype, device: x.device });
    const g = add(mul(points, scale), shift);
    const gridHeads = reshape(permute(g, [0, 2, 1, 3, 4]), [B * H, N, P, 2]);

    // Keys and values per head as [B·H, 2d, Hp, Wp] maps, sampled at every (query, point).
    const heads = (t: Tensor): Tensor => reshape(permute(reshape(t, [B, N, H, d]), [0, 2, 3, 1]), [B * H, d, Hp, Wp]);
    const kv = concat([heads(this.k_proj.forward(x)), heads(this.v_proj.forward(x))], 1);
    const sampled = gridSample(kv, gridHeads, { mode: 'bilinear', paddingMode: 'zeros', alignCorners: false }); // [B·H, 2d, N, P]
    const ks = permute(slice(sampled, 1, 0, d), [0, 2, 1, 3]); // [B·H, N, d, P]
    const vs = permute(slice(sampled, 1, d, 2 * d), [0, 2, 3, 1]); // [B·H, N, P, d]

    // Eq 4: softmax over the P points of q·kᵀ/√d, then the weighted sum of values.
    const qh = reshape(permute(reshape(q, [B, N, H, d]), [0, 2, 1, 3]), [B * H, N, 1, d]);
    const attn = softmax(mul(matmul(qh, ks), 1 / Math.sqrt(d)), 3); // [B·H, N, 1, P]
    const o = reshape(matmul(attn, vs), [B, H, N, d]);
    const out = reshape(permute(o, [0, 2, 1, 3]), [B, N, D]);
    return { out, points };
  }
}

/** Token cell centres (col, row) of a Hp×Wp grid as [N, 1, 1, 2] (broadcast over heads and points). */
function referencePoints(grid: readonly [number, number], like: Tensor): Tensor {
  const [Hp, Wp] = grid;
  const v = new Float64Array(Hp * Wp * 2);
  for (let i = 0; i < Hp * Wp; i++) {
    v[2 * i] = i % Wp;
    v[2 * i + 1] = Math.floor(i / Wp);
  }
  return tensor(v, { dtype: like.dtype, device: like.device, shape: [Hp * Wp, 1, 1, 2] });
}

