/**
 * Scaled dot-product attention (Vaswani et al., "Attention Is All You Need", 2017, Eq. 1), with the
 * arguments of torch.nn.functional.scaled_dot_product_attention (PyTorch ≥ 2.0; torch 1.13, used for
 * the fixtures, has none, so they are computed with the explicit formula).
 */
import type { AttentionParams } from '../backends/backend.js';
import { broadcastShapes, fmtShape, shapesEqual } from '../engine/shape.js';
import type { Tensor } from '../engine/tensor.js';
import { full, rand } from './creation.js';
import { add, ge, mul, sub, where } from './elementwise.js';
import { matmul } from './matmul.js';
import { sum, sumTo } from './reduce.js';
import { reshape, transpose } from './shape.js';
import { softmax } from './softmax.js';
import { backendOf, check, countMacs, fail, kt, needsGrad, record, requireFloat, sameDeviceDtype, wrap } from './util.js';

export interface ScaledDotProductAttentionOptions {
  /**
   * A mask broadcastable to [B, H, Lq, Lk] ([B, Lq, Lk] for rank-3 inputs):
   * - int32: boolean, as torch's bool mask: non-zero (1) = the key takes part in the attention,
   *   0 = masked out (its logit becomes -Infinity);
   * - float (the inputs' dtype): added to the logits (use -Infinity to mask). Differentiable.
   */
  attnMask?: Tensor | null;
  /** Dropout probability on the attention weights, in [0, 1); applied whenever > 0, as torch. */
  dropoutP?: number;
  /** Causal mask: query i attends to keys j ≤ i (top-left aligned, as torch). Excludes attnMask. */
  isCausal?: boolean;
  /** Multiplies q·kᵀ; default 1/√D. */
  scale?: number;
}

const OP = 'scaledDotProductAttention';

/**
 * softmax(q·kᵀ·scale + mask)·v, matching torch.nn.functional.scaled_dot_product_attention
 * (PyTorch 2.x) except that a fully masked row gives zeros where torch gives NaN.
 *
 * Shapes: query [B, H, Lq, D], key [B, H, Lk, D], value [B, H, Lk, Dv] -> [B, H, Lq, Dv]; or the
 * same without the head dim ([B, L, D], as torch). Batch and head dims must be equal (no
 * broadcasting). Gradients flow to query, key, value and a float mask. Without dropout the forward
 * and backward run in the backend's fused `attention` kernels (online softmax, max-subtracted, so
 * logits in the thousands are safe); with dropoutP > 0 the weights are materialized.
 * @throws Error (naming `scaledDotProductAttention`) on ranks other than 3 or 4, differing ranks or
 *   batch/head dims, query and key head dims (D) that differ, key and value lengths that differ,
 *   a mask that does not broadcast to [..., Lq, Lk] or has another float dtype, attnMask together
 *   with isCausal, a dropoutP outside [0, 1), a non-finite scale, or a disposed tensor.
 */
export function scaledDotProductAttention(query: Tensor, key: Tensor, value: Tensor, opts: ScaledDotProductAttentionOptions = {}): Tensor {
  check(OP, 'query', query);
  check(OP, 'key', key);
  check(OP, 'value', value);
  requireFloat(OP, 'query', query);
  sameDeviceDtype(OP, query, key, value);
  const rank = query.rank;
  if (rank !== 3 && rank !== 4) fail(OP, 'query of rank 4 [B, H, Lq, D] or rank 3 [B, Lq, D]', `shape ${fmtShape(query.shape)}`);
  if (key.rank !== rank || value.rank !== rank) fail(OP, `query, key and value of one rank (${rank})`, `key ${fmtShape(key.shape)}, value ${fmtShape(value.shape)}`);
  const batch = query.shape.slice(0, rank - 2);
  const [Lq, D] = query.shape.slice(rank - 2) as [number, number];
  const [Lk, Dk] = key.shape.slice(rank - 2) as [number, number];
  const [Lv, Dv] = value.shape.slice(rank - 2) as [number, number];
  if (Dk !== D) fail(OP, `key's last dim equal to query's (D = ${D})`, `${Dk} (query ${fmtShape(query.shape)}, key ${fmtShape(key.shape)})`);
  if (!shapesEqual(key.shape.slice(0, rank - 2), batch) || !shapesEqual(value.shape.slice(0, rank - 2), batch)) {
    fail(OP, `key and value with query's batch dims ${fmtShape(batch)}`, `key ${fmtShape(key.shape)}, value ${fmtShape(value.shape)}`);
  }
  if (Lv !== Lk) fail(OP, `value's length equal to key's (Lk = ${Lk})`, `${Lv} (key ${fmtShape(key.shape)}, value ${fmtShape(value.shape)})`);
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  if (typeof scale !== 'number' || !Number.isFinite(scale)) fail(OP, 'a finite scale', String(opts.scale));
  const dropoutP = opts.dropoutP ?? 0;
  if (typeof dropoutP !== 'number' || !(dropoutP >= 0 && dropoutP < 1)) fail(OP, 'dropoutP in [0, 1)', String(opts.dropoutP));
  const userMask = opts.attnMask ?? null;
  if (userMask && opts.isCausal) fail(OP, 'either attnMask or isCausal', 'both');

  // Everything below works on rank 4: [B, L, D] becomes [B, 1, L, D].
  const to4 = (t: Tensor): Tensor => (rank === 4 ? t : reshape(t, [t.shape[0]!, 1, ...t.shape.slice(1)]));
  const q = to4(query);
  const k = to4(key);
  const v = to4(value);

  // The additive float mask, rank 4, broadcastable to [B, H, Lq, Lk].
  let mask: Tensor | null = null;
  if (userMask) {
    check(OP, 'attnMask', userMask);
    const target = [...batch, Lq, Lk];
    if (userMask.rank > rank || !shapesEqual(tryBroadcast(userMask.shape, target), target)) {
      fail(OP, `attnMask broadcastable to ${fmtShape(target)}`, fmtShape(userMask.shape));
    }
    if (userMask.device !== query.device) fail(OP, `attnMask on ${query.device}`, userMask.device);
    let m = userMask;
    if (m.dtype === 'int32') m = where(m, full([], 0, { dtype: query.dtype, device: query.device }), full([], -Infinity, { dtype: query.dtype, device: query.device }));
    else if (m.dtype !== query.dtype) fail(OP, `attnMask as int32 (boolean) or ${query.dtype} (additive)`, m.dtype);
    const padded = [...new Array<number>(rank - m.rank).fill(1), ...m.shape];
    mask = reshape(m, rank === 4 ? padded : [padded[0]!, 1, padded[1]!, padded[2]!]);
  } else if (opts.isCausal) {
    const c = new Float64Array(Lq * Lk);
    for (let i = 0; i < Lq; i++) for (let j = i + 1; j < Lk; j++) c[i * Lk + j] = -Infinity;
    mask = wrap(query.device, backendOf(query).upload(c, query.dtype), [1, 1, Lq, Lk], query.dtype);
  }

  const out = dropoutP > 0 ? explicitAttention(q, k, v, mask, scale, dropoutP) : fusedAttention(q, k, v, mask, scale);
  return rank === 4 ? out : reshape(out, [query.shape[0]!, Lq, Dv]);
}

/** The broadcast of `a` and `b`, or `a` itself when they do not broadcast (so the caller's check fails). */
function tryBroadcast(a: readonly number[], b: readonly number[]): readonly number[] {
  try {
    return broadcastShapes(OP, a, b);
  } catch {
    return a;
  }
}

/** Through the backend's attention kernels: out, and lse saved for the backward. */
function fusedAttention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | null, scale: number): Tensor {
  const be = backendOf(q);
  const p: AttentionParams = { scale };
  const [B, H, Lq] = q.shape as [number, number, number];
  const Dv = v.shape[3]!;
  countMacs(OP, B * H * Lq * k.shape[2]! * (q.shape[3]! + Dv));
  const r = be.attention(kt(OP, q), kt(OP, k), kt(OP, v), mask ? kt(OP, mask) : null, p);
  const out = wrap(q.device, r.out, [B, H, Lq, Dv], q.dtype);
  const lse = wrap(q.device, r.lse, [B, H, Lq], q.dtype);
  if (!needsGrad([q, k, v, mask])) {
    lse.dispose();
    return out;
  }
  return record(OP, out, [q, k, v, mask], (g) => {
    const b = be.attentionBackward(kt(OP, g), kt(OP, q), kt(OP, k), kt(OP, v), kt(OP, out), kt(OP, lse), mask ? kt(OP, mask) : null, p);
    const dq = wrap(g.device, b.dq, q.shape, g.dtype);
    const dk = wrap(g.device, b.dk, k.shape, g.dtype);
    const dv = wrap(g.device, b.dv, v.shape, g.dtype);
    let dMask: Tensor | null = null;
    if (mask?.requiresGrad) {
      // d(logits) = P ∘ (dOut·vᵀ - rowsum(dOut ∘ out)); the mask is added to the logits, so its
      // gradient is that, summed over the dims it was broadcast along.
      const probs = softmax(add(mul(matmul(q, transpose(k, 2, 3)), scale), mask), 3);
      const dP = matmul(g, transpose(v, 2, 3));
      const delta = sum(mul(g, out), 3, true);
      dMask = sumTo(mul(probs, sub(dP, delta)), mask.shape);
    }
    return [dq, dk, dv, dMask];
  });
}

/** softmax(q·kᵀ·scale + mask), dropout, then ·v, with ops (differentiable through autograd). */
function explicitAttention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | null, scale: number, dropoutP: number): Tensor {
  let logits = mul(matmul(q, transpose(k, 2, 3)), scale);
  if (mask) logits = add(logits, mask);
  let w = softmax(logits, 3);
  const keep = ge(rand(w.shape, { dtype: w.dtype, device: w.device }), dropoutP);
  w = mul(where(keep, w, 0), 1 / (1 - dropoutP));
  return matmul(w, v);
}
