/**
 * JS side of scaledDotProductAttention on wasm; the kernels are in assembly/attention.ts (blocked
 * attention with an online softmax over 16-query × 32-key tiles and 4x8 register micro-tiles;
 * backward recomputing the probabilities from lse, key tiles outer). Contract: backends/backend.ts
 * `attention`/`attentionBackward`; reference: backends/cpu/attention.ts.
 * The kernels take one scratch region per thread (packed K/V panels, padded rows, score tiles,
 * accumulators; sized by the module) and the mask strides, scale and sizes in the args block.
 * With worker threads, the forward splits the (head, 16-query block) pairs and the backward the
 * heads between the threads (threads.ts run).
 */
import type { AttentionParams } from '../backend.js';
import { broadcastStrides } from '../../engine/shape.js';
import { checkDtype, kernel, type WasmContext, type WT } from './context.js';
import type { WasmStorage } from './memory.js';

/** Scratch slot for attention's packed operands and tiles (thread t > 0: SLOT_ATTN_WORK_T + t). */
const SLOT_ATTN_WORK = 13;
const SLOT_ATTN_WORK_T = 60;
/** Query rows per block in the kernel (assembly/attention.ts BR). */
const BR = 16;
/** Below this many multiply-adds, attention stays on one thread (waking a worker costs ~10-50 µs). */
const THREAD_MIN_MACS = 2 ** 20;

interface AGeo { B: number; H: number; Lq: number; Lk: number; D: number; Dv: number }

function geometry(q: WT, k: WT, v: WT): AGeo {
  const [B, H, Lq, D] = q.shape as [number, number, number, number];
  return { B, H, Lq, Lk: k.shape[2]!, D, Dv: v.shape[3]! };
}

const f32bits = new Int32Array(1);
const f32view = new Float32Array(f32bits.buffer);

/** The args block: the mask's element strides over [B, H, Lq, Lk] (0 on broadcast dims), the scale's bits, H, Lq, Lk, D, Dv. */
function attnArgs(ctx: WasmContext, mask: WT | null, g: AGeo, scale: number): number {
  f32view[0] = scale;
  const strides = mask ? broadcastStrides(mask.shape, [g.B, g.H, g.Lq, g.Lk]) : [0, 0, 0, 0];
  return ctx.mem.args([...strides, f32bits[0]!, g.H, g.Lq, g.Lk, g.D, g.Dv]);
}

/** Splits [0, units) into `parts` near-equal ranges; the bounds. */
function split(units: number, parts: number): number[] {
  return Array.from({ length: parts + 1 }, (_, t) => Math.round((t * units) / parts));
}

/**
 * Runs `name` over [0, units) on the pool's threads (or on this one): args(work, u0, u1) are the
 * kernel's arguments for one thread with its own work area of `bytes`.
 */
function runSplit(ctx: WasmContext, name: string, units: number, macs: number, bytes: number, op: string, args: (work: number, u0: number, u1: number) => number[]): void {
  const T = ctx.pool && macs >= THREAD_MIN_MACS ? Math.min(ctx.pool.size, units) : 1;
  const workOf = (t: number): number => ctx.mem.scratch(t === 0 ? SLOT_ATTN_WORK : SLOT_ATTN_WORK_T + t, bytes, op);
  if (T <= 1) {
    kernel(ctx, name)(...args(workOf(0), 0, units));
    return;
  }
  const bounds = split(units, T);
  const works = Array.from({ length: T }, (_, t) => workOf(t));
  ctx.pool!.run(ctx.exports, name, (t) => (t < T ? args(works[t]!, bounds[t]!, bounds[t + 1]!) : null));
}

export function attention(ctx: WasmContext, q: WT, k: WT, v: WT, mask: WT | null, p: AttentionParams): { out: WasmStorage; lse: WasmStorage } {
  checkDtype('attention', q.dtype);
  const g = geometry(q, k, v);
  const { B, H, Lq, Lk, D, Dv } = g;
  const out = ctx.mem.alloc('attention', B * H * Lq * Dv * 4);
  const lse = ctx.mem.alloc('attention', B * H * Lq * 4);
  if (B * H * Lq === 0) return { out, lse };
  const bytes = kernel(ctx, 'attention_work_bytes')(Lq, Lk, D, Dv);
  const margs = attnArgs(ctx, mask, g, p.scale);
  const units = B * H * Math.ceil(Lq / BR);
  runSplit(ctx, 'attention_f32', units, B * H * Lq * Lk * (D + Dv), bytes, 'attention', (work, u0, u1) => [
    q.storage.ptr, k.storage.ptr, v.storage.ptr, mask ? mask.storage.ptr : 0, out.ptr, lse.ptr, work, margs, u0, u1,
  ]);
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
  const bytes = kernel(ctx, 'attention_backward_work_bytes')(Lq, Lk, D, Dv);
  const margs = attnArgs(ctx, mask, g, p.scale);
  runSplit(ctx, 'attention_backward_f32', B * H, 2 * B * H * Lq * Lk * (D + Dv), bytes, 'attentionBackward', (work, u0, u1) => [
    dOut.storage.ptr, q.storage.ptr, k.storage.ptr, v.storage.ptr, out.storage.ptr, lse.storage.ptr, mask ? mask.storage.ptr : 0, dq.ptr, dk.ptr, dv.ptr, work, margs, u0, u1,
  ]);
  return { dq, dk, dv };
}
