/**
 * JS side of scaledDotProductAttention on wasm; the kernels are in assembly/attention.ts (blocked
 * attention with an online softmax over 16-query × 32-key tiles and 4x8 register micro-tiles;
 * backward recomputing the probabilities from lse, key tiles outer). Contract: backends/backend.ts
 * `attention`/`attentionBackward`; reference: backends/cpu/attention.ts.
 * The kernels take one scratch region (packed K/V panels, padded rows, score tiles, accumulators;
 * sized by the module) and the mask strides in the args block. Attention runs on the calling
 * thread even when the backend has worker threads (only the GEMM-based kernels split).
 */
import type { AttentionParams } from '../backend.js';
import { broadcastStrides } from '../../engine/shape.js';
import { checkDtype, kernel, type WasmContext, type WT } from './context.js';
import type { WasmStorage } from './memory.js';
import { scratch } from './scratch.js';


interface AGeo { B: number; H: number; Lq: number; Lk: number; D: number; Dv: number }

function geometry(q: WT, k: WT, v: WT): AGeo {
  const [B, H, Lq, D] = q.shape as [number, number, number, number];
  return { B, H, Lq, Lk: k.shape[2]!, D, Dv: v.shape[3]! };
}

/** The args block: the mask's element strides over [B, H, Lq, Lk] (0 on broadcast dims). */
function maskArgs(ctx: WasmContext, mask: WT | null, g: AGeo): number {
  const strides = mask ? broadcastStrides(mask.shape, [g.B, g.H, g.Lq, g.Lk]) : [0, 0, 0, 0];
  return ctx.mem.args(strides);
}

export function attention(ctx: WasmContext, q: WT, k: WT, v: WT, mask: WT | null, p: AttentionParams): { out: WasmStorage; lse: WasmStorage } {
  checkDtype('attention', q.dtype);
  const g = geometry(q, k, v);
  const { B, H, Lq, Lk, D, Dv } = g;
  const out = ctx.mem.alloc('attention', B * H * Lq * Dv * 4);
  const lse = ctx.mem.alloc('attention', B * H * Lq * 4);
  if (B * H * Lq === 0) return { out, lse };
  const work = scratch(ctx.mem, 'attnWork', kernel(ctx, 'attention_work_bytes')(Lq, Lk, D, Dv), 'attention');
  const margs = maskArgs(ctx, mask, g);
  kernel(ctx, 'attention_f32')(q.storage.ptr, k.storage.ptr, v.storage.ptr, mask ? mask.storage.ptr : 0, out.ptr, lse.ptr, B, H, Lq, Lk, D, Dv, p.scale, work, margs);
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
  if (Lq === 0) {
    // no query attends: the key and value gradients are zero
    const fill = kernel(ctx, 'fill_u32');
    if (Lk * D > 0) fill(dk.ptr, B * H * Lk * D, 0);
    if (Lk * Dv > 0) fill(dv.ptr, B * H * Lk * Dv, 0);
    return { dq, dk, dv };
  }
  const work = scratch(ctx.mem, 'attnWork', kernel(ctx, 'attention_backward_work_bytes')(Lq, Lk, D, Dv), 'attentionBackward');
  const margs = maskArgs(ctx, mask, g);
  kernel(ctx, 'attention_backward_f32')(dOut.storage.ptr, q.storage.ptr, k.storage.ptr, v.storage.ptr, out.storage.ptr, lse.storage.ptr, mask ? mask.storage.ptr : 0, dq.ptr, dk.ptr, dv.ptr, B, H, Lq, Lk, D, Dv, p.scale, work, margs);
  return { dq, dk, dv };
}
