/**
 * JS side of scaledDotProductAttention on wasm; the kernels are in assembly/attention.ts (blocked
 * attention with an online softmax over 16-query × 32-key tiles and 4x8 register micro-tiles;
 * backward recomputing the probabilities from lse, key tiles outer). Contract: backends/backend.ts
 * `attention`/`attentionBackward`; reference: backends/cpu/attention.ts.
 * The kernels take one scratch region per thread ('attnWork': packed K/V panels, padded rows, score
 * tiles, accumulators; sized by the module) and the mask strides in the args block.
 *
 * Threads (see assembly/attention.ts THREADS): the forward splits the (head, 16-query block) units
 * into contiguous ranges, one per thread (bit-identical to one thread); the backward splits the
 * (head, 32-key tile) units, each thread owning its tiles' dK/dV rows, and the partial dQ of the
 * (at most T - 1) heads split between threads are added in thread order afterwards. Below
 * THREAD_MIN_MACS multiply-adds per thread the kernels stay on the calling thread.
 */
import type { AttentionParams } from '../backend.js';
import { broadcastStrides } from '../../engine/shape.js';
import { checkDtype, kernel, type WasmContext, type WT } from './context.js';
import type { WasmStorage } from './memory.js';
import { scratch } from './scratch.js';
import { f32Bits, splitRange, threadsFor } from './threads.js';

/** Multiply-adds (of Q·Kᵀ and P·V) per thread below which attention uses fewer threads. */
export const THREAD_MIN_MACS = 2 ** 18;

/** Query rows per forward unit and keys per backward unit (BR and BC of assembly/attention.ts). */
const BR = 16;
const BC = 32;

interface AGeo { B: number; H: number; Lq: number; Lk: number; D: number; Dv: number }

function geometry(q: WT, k: WT, v: WT): AGeo {
  const [B, H, Lq, D] = q.shape as [number, number, number, number];
  return { B, H, Lq, Lk: k.shape[2]!, D, Dv: v.shape[3]! };
}

/** The mask's element strides over [B, H, Lq, Lk] (0 on broadcast dims). */
function maskStrides(mask: WT | null, g: AGeo): number[] {
  return mask ? broadcastStrides(mask.shape, [g.B, g.H, g.Lq, g.Lk]) : [0, 0, 0, 0];
}

export function attention(ctx: WasmContext, q: WT, k: WT, v: WT, mask: WT | null, p: AttentionParams): { out: WasmStorage; lse: WasmStorage } {
  checkDtype('attention', q.dtype);
  const g = geometry(q, k, v);
  const { B, H, Lq, Lk, D, Dv } = g;
  const out = ctx.mem.alloc('attention', B * H * Lq * Dv * 4);
  const lse = ctx.mem.alloc('attention', B * H * Lq * 4);
  if (B * H * Lq === 0) return { out, lse };
  const units = B * H * Math.ceil(Lq / BR);
  const T = threadsFor(ctx.pool, B * H * Lq * Lk * (D + Dv), THREAD_MIN_MACS, units);
  const bytes = kernel(ctx, 'attention_work_bytes')(Lq, Lk, D, Dv);
  const work = Array.from({ length: T }, (_, t) => scratch(ctx.mem, 'attnWork', bytes, 'attention', t));
  const margs = ctx.mem.args(maskStrides(mask, g));
  const job = (t: number, u0: number, u1: number): number[] => [
    q.storage.ptr, k.storage.ptr, v.storage.ptr, mask ? mask.storage.ptr : 0, out.ptr, lse.ptr, H, Lq, Lk, D, Dv, f32Bits(p.scale), work[t]!, margs, u0, u1,
  ];
  if (T === 1) kernel(ctx, 'attention_f32')(...job(0, 0, units));
  else {
    const b = splitRange(units, T);
    ctx.pool!.run(ctx.exports, 'attention_f32', (t) => (t < T ? job(t, b[t]!, b[t + 1]!) : null));
  }
  return { out, lse };
}

export function attentionBackward(ctx: WasmContext, dOut: WT, q: WT, k: WT, v: WT, out: WT, lse: WT, mask: WT | null, p: AttentionParams): { dq: WasmStorage; dk: WasmStorage; dv: WasmStorage } {
  checkDtype('attentionBackward', q.dtype);
  const g = geometry(q, k, v);
  const { B, H, Lq, Lk, D, Dv } = g;
  const dq = ctx.mem.alloc('attentionBackward', B * H * Lq * D * 4);
  const dk = ctx.mem.alloc('attentionBackward', B * H * Lk * D * 4);
  const dv = ctx.mem.alloc('attentionBackward', B * H * Lk * Dv * 4);
  if (B * H === 0) return { dq, dk, dv };
  if (Lq === 0 || Lk === 0) {
    // no query attends (or nothing to attend to): the other gradients are zero
    const fill = kernel(ctx, 'fill_u32');
    if (Lk * D > 0) fill(dk.ptr, B * H * Lk * D, 0);
    if (Lk * Dv > 0) fill(dv.ptr, B * H * Lk * Dv, 0);
    if (Lq * D > 0) fill(dq.ptr, B * H * Lq * D, 0);
    return { dq, dk, dv };
  }
  const nkt = Math.ceil(Lk / BC);
  const units = B * H * nkt;
  const T = threadsFor(ctx.pool, B * H * Lq * Lk * (D + Dv), THREAD_MIN_MACS, units);
  // per thread: the work area, then room for two partial dQ heads [2][Lq][D]
  const bytes = Math.ceil(kernel(ctx, 'attention_backward_work_bytes')(Lq, Lk, D, Dv) / 16) * 16;
  const work = Array.from({ length: T }, (_, t) => scratch(ctx.mem, 'attnWork', bytes + 2 * Lq * D * 4 + 16, 'attentionBackward', t));
  const margs = ctx.mem.args([
    ...maskStrides(mask, g), dOut.storage.ptr, q.storage.ptr, k.storage.ptr, v.storage.ptr, out.storage.ptr, lse.storage.ptr,
    mask ? mask.storage.ptr : 0, dq.ptr, dk.ptr, dv.ptr, H, Lq, Lk, D, Dv, f32Bits(p.scale),
  ]);
  const b = splitRange(units, T);
  const job = (t: number): number[] => [margs, work[t]!, work[t]! + bytes, b[t]!, b[t + 1]!];
  if (T === 1) {
    kernel(ctx, 'attention_backward_f32')(...job(0));
    return { dq, dk, dv };
  }
  ctx.pool!.run(ctx.exports, 'attention_backward_f32', (t) => (t < T ? job(t) : null));
  // heads split between threads: add their partial dQ (slot 0: a range's first head, 1: its last)
  const parts = new Map<number, number[]>();
  for (let t = 0; t < T; t++) {
    if (b[t + 1]! <= b[t]!) continue;
    const first = Math.floor(b[t]! / nkt);
    const last = Math.floor((b[t + 1]! - 1) / nkt);
    for (const bh of first === last ? [first] : [first, last]) {
      const whole = b[t]! <= bh * nkt && b[t + 1]! >= (bh + 1) * nkt;
      if (whole) continue;
      const list = parts.get(bh) ?? [];
      list.push(work[t]! + bytes + (bh === first ? 0 : Lq * D * 4));
      parts.set(bh, list);
    }
  }
  const sum = kernel(ctx, 'attention_dq_sum_f32');
  for (const [bh, list] of parts) sum(dq.ptr + 4 * bh * Lq * D, Lq * D, ctx.mem.args(list), list.length);
  return { dq, dk, dv };
}
