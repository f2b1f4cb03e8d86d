/**
 * JS side of deformConv2d (torchvision.ops.deform_conv2d, v1 and v2) on wasm; the kernels are in
 * assembly/deform-conv.ts (sampling plan, deformable im2col, its adjoint, and the per-thread
 * drivers that run them around the GEMM of assembly/matmul.ts). Contract: backends/backend.ts;
 * reference: backends/cpu/deform-conv.ts.
 *
 * Per sample b, the C planes of x[b] are copied into zero-bordered planes (the bilinear reads need
 * no bounds checks; the planes are split between the threads). Then the output pixels are cut into
 * chunks (R = Cg·kh·kw rows; the chunk width keeps col [R, chunk] around 1 MiB, near L2, and the
 * number of chunks is a multiple of the thread count so that the threads get equal shares), and
 * every (chunk, weight group) item is:
 *   forward:  col = deform_im2col;  out[b, g, :, p0:p1] = W_g·col          (GEMM M=Cout/G N=chunk K=R)
 *   backward: col = deform_im2col;  dW_g += dy[b, g, :, p0:p1]·colᵀ         (GEMM M=Cout/G N=R K=chunk)
 *             dcol = W_gᵀ·dy[b, g, :, p0:p1]                                (GEMM M=R N=chunk K=Cout/G)
 *             deform_col2im(dcol): dx (into zero-bordered planes), dOffset, dMask
 * Threads: each thread runs one driver call per sample over a contiguous range of items (split on
 * multiples of G), with its own col/dcol chunk, plan and GEMM panels, and in the backward its own
 * dx planes and dW accumulator; the dx planes are added up per sample (split by planes), the dW
 * accumulators once at the end. See assembly/deform-conv.ts THREADS for what is bit-identical.
 * Scratch (scratch.ts): 'col', 'dcol', 'deformWork', 'packA'/'packB'/'tile' (per thread),
 * 'deformPad' (x, and thread 0's dx in the backward), 'deformDx' and 'deformDw' (threads t ≥ 1).
 */
import type { DeformConv2dParams } from '../backend.js';
import { checkDtype, kernel, type WasmContext, type WT } from './context.js';
import { GEMM_BLOCKS } from './matmul.js';
import { scratch } from './scratch.js';
import type { WasmStorage } from './memory.js';
import { splitRange, threadsFor } from './threads.js';

/**
 * Work per thread (multiply-adds of the GEMMs plus 8 per bilinear sample) below which deformConv2d
 * uses fewer threads: about 50 µs.
 */
export const THREAD_MIN_WORK = 2 ** 18;

/** Floats per plane for which padding x is worth splitting between threads. */
const PAD_MIN_FLOATS = 2 ** 16;

/** Target size of one col chunk in floats (1 MiB). */
const CHUNK_FLOATS = 1 << 18;

interface DGeo {
  B: number; C: number; H: number; W: number; Cout: number; Cg: number; Coutg: number; G: number;
  P: number; R: number; plane: number;
  /** Threads, output pixels per chunk (a multiple of 8 unless it is all of P), chunks. */
  T: number; chunk: number; nch: number;
  /** The args block's geometry words (c0, p0, p1, ldcol are set per item by the kernels). */
  head: number[];
}

function geometry(ctx: WasmContext, x: WT, offset: WT, mask: WT | null, w: WT, p: DeformConv2dParams, backward: boolean): DGeo {
  const [B, C, H, W] = x.shape as [number, number, number, number];
  const [Cout, Cg, kh, kw] = w.shape as [number, number, number, number];
  const [Ho, Wo] = offset.shape.slice(2) as [number, number];
  const G = p.groups;
  const Coutg = Cout / G;
  const P = Ho * Wo;
  const R = Cg * kh * kw;
  const maxChunk = Math.min(P, Math.max(64, Math.floor(CHUNK_FLOATS / Math.max(R, 1) / 8) * 8));
  let nch = Math.ceil(P / Math.max(1, maxChunk));
  // the backward does two GEMMs (dW and dcol) and the adjoint
  const work = G * P * R * ((backward ? 2 : 1) * Coutg + 8);
  let T = threadsFor(ctx.pool, work, THREAD_MIN_WORK, G * Math.ceil(P / 8));
  if (T > 1) nch = Math.min(Math.ceil(P / 8), Math.ceil(nch / T) * T);
  const chunk = nch <= 1 ? P : Math.ceil(P / nch / 8) * 8;
  nch = Math.max(1, Math.ceil(P / Math.max(1, chunk)));
  T = Math.min(T, G * nch);
  const head = [C, H, W, kh, kw, Ho, Wo, p.stride[0], p.stride[1], p.padding[0], p.padding[1], p.dilation[0], p.dilation[1], p.offsetGroups, Cg, 0, 0, 0, 0, mask ? 1 : 0];
  return { B, C, H, W, Cout, Cg, Coutg, G, P, R, plane: (H + 3) * (W + 2), T, chunk, nch, head };
}

/** Row stride of a col chunk of n columns: a multiple of 4, so the kernel's f32x4 stores stay in the row. */
const ldcol = (n: number): number => Math.ceil(n / 4) * 4;

/** Bytes of the packed GEMM panels for any thread (the caller's block sizes may have been tuned). */
function packBytes(ctx: WasmContext): { packA: number; packB: number } {
  const { kc, mc, nc } = GEMM_BLOCKS;
  return {
    packA: Math.max(kernel(ctx, 'gemm_pack_a_bytes')(), mc * kc * 4 + 64),
    packB: Math.max(kernel(ctx, 'gemm_pack_b_bytes')(), kc * (nc + 8) * 4 + 64),
  };
}

/** Per-thread scratch of the drivers: [work, col, (dcol), packA, packB, tile]. */
function threadScratch(ctx: WasmContext, g: DGeo, op: string, backward: boolean): number[][] {
  const sizes = packBytes(ctx);
  const colBytes = g.R * ldcol(g.chunk) * 4;
  const workBytes = kernel(ctx, 'deform_work_bytes')(g.chunk);
  return Array.from({ length: g.T }, (_, t) => [
    scratch(ctx.mem, 'deformWork', workBytes, op, t),
    scratch(ctx.mem, 'col', colBytes, op, t),
    ...(backward ? [scratch(ctx.mem, 'dcol', colBytes, op, t)] : []),
    scratch(ctx.mem, 'packA', sizes.packA, op, t),
    scratch(ctx.mem, 'packB', sizes.packB, op, t),
    scratch(ctx.mem, 'tile', 256, op, t),
  ]);
}

/** Runs `name` with args(t) on threads 0..T-1 (T = 1: the calling thread only). */
function runThreads(ctx: WasmContext, name: string, T: number, args: (t: number) => number[]): void {
  if (T === 1) kernel(ctx, name)(...args(0));
  else ctx.pool!.run(ctx.exports, name, (t) => (t < T ? args(t) : null));
}

/** Copies the C planes of x[b] (at src) into the zero-bordered planes at dst, split between threads. */
function pad(ctx: WasmContext, g: DGeo, src: number, dst: number): void {
  const T = Math.min(g.T, g.C, Math.max(1, Math.floor((g.C * g.plane) / PAD_MIN_FLOATS)));
  const b = splitRange(g.C, T);
  runThreads(ctx, 'deform_pad_f32', T, (t) => [src + 4 * b[t]! * g.H * g.W, dst + 4 * b[t]! * g.plane, b[t + 1]! - b[t]!, g.H, g.W]);
}

export function deformConv2d(ctx: WasmContext, x: WT, offset: WT, mask: WT | null, w: WT, bias: WT | null, p: DeformConv2dParams): WasmStorage {
  checkDtype('deformConv2d', x.dtype);
  const g = geometry(ctx, x, offset, mask, w, p, false);
  const { B, C, H, W, Cout, G, P, R, plane, T, nch } = g;
  const out = ctx.mem.alloc('deformConv2d', B * Cout * P * 4);
  if (B * Cout * P === 0) return out;
  if (R === 0) {
    kernel(ctx, 'fill_u32')(out.ptr, B * Cout * P, 0);
  } else {
    const xpad = scratch(ctx.mem, 'deformPad', C * plane * 4, 'deformConv2d');
    const ts = threadScratch(ctx, g, 'deformConv2d', false);
    const items = splitRange(nch * G, T, G);
    for (let b = 0; b < B; b++) {
      pad(ctx, g, x.storage.ptr + 4 * b * C * H * W, xpad);
      const args = ctx.mem.args([
        ...g.head, xpad, offset.storage.ptr + 4 * b * offset.shape[1]! * P, mask ? mask.storage.ptr + 4 * b * mask.shape[1]! * P : 0,
        w.storage.ptr, out.ptr + 4 * b * Cout * P, G, g.Coutg, g.chunk, 0, 0,
      ]);
      runThreads(ctx, 'deform_forward_f32', T, (t) => [args, ...ts[t]!, items[t]!, items[t + 1]!]);
    }
  }
  if (bias) kernel(ctx, 'bias_add_f32')(out.ptr, bias.storage.ptr, B, Cout, P);
  return out;
}

export function deformConv2dBackward(ctx: WasmContext, dy: WT, x: WT, offset: WT, mask: WT | null, w: WT, p: DeformConv2dParams): { dx: WasmStorage; dOffset: WasmStorage; dMask: WasmStorage | null; dWeight: WasmStorage } {
  checkDtype('deformConv2dBackward', x.dtype);
  const g = geometry(ctx, x, offset, mask, w, p, true);
  const { B, C, H, W, Coutg, G, P, R, plane, T, nch } = g;
  const nx = B * C * H * W;
  const nOff = offset.shape.reduce((a, d) => a * d, 1);
  const nMask = mask ? mask.shape.reduce((a, d) => a * d, 1) : 0;
  const nW = w.shape.reduce((a, d) => a * d, 1);
  const dx = ctx.mem.alloc('deformConv2dBackward', nx * 4);
  const dOffset = ctx.mem.alloc('deformConv2dBackward', nOff * 4);
  const dMask = mask ? ctx.mem.alloc('deformConv2dBackward', nMask * 4) : null;
  const dWeight = ctx.mem.alloc('deformConv2dBackward', nW * 4);
  const fill = kernel(ctx, 'fill_u32');
  for (const [s, n] of [[dx, nx], [dOffset, nOff], [dMask, nMask], [dWeight, nW]] as const) if (s && n > 0) fill(s.ptr, n, 0);
  if (B * P === 0 || R === 0 || Coutg === 0) return { dx, dOffset, dMask, dWeight };
  const pads = scratch(ctx.mem, 'deformPad', 2 * C * plane * 4, 'deformConv2dBackward');
  const xpad = pads;
  // thread t's dx planes (two threads' points may share neighbours) and dW accumulator
  const dxp = Array.from({ length: T }, (_, t) => (t === 0 ? pads + C * plane * 4 : scratch(ctx.mem, 'deformDx', C * plane * 4, 'deformConv2dBackward', t)));
  const dwp = Array.from({ length: T }, (_, t) => (t === 0 ? dWeight.ptr : scratch(ctx.mem, 'deformDw', nW * 4, 'deformConv2dBackward', t)));
  for (let t = 1; t < T; t++) fill(dwp[t]!, nW, 0);
  const ts = threadScratch(ctx, g, 'deformConv2dBackward', true);
  const items = splitRange(nch * G, T, G);
  const planes = splitRange(C, Math.min(T, C));
  for (let b = 0; b < B; b++) {
    pad(ctx, g, x.storage.ptr + 4 * b * C * H * W, xpad);
    const args = ctx.mem.args([
      ...g.head, xpad, offset.storage.ptr + 4 * b * offset.shape[1]! * P, mask ? mask.storage.ptr + 4 * b * mask.shape[1]! * P : 0,
      w.storage.ptr, dy.storage.ptr + 4 * b * g.Cout * P, G, Coutg, g.chunk,
      dOffset.ptr + 4 * b * offset.shape[1]! * P, dMask ? dMask.ptr + 4 * b * mask!.shape[1]! * P : 0,
    ]);
    runThreads(ctx, 'deform_backward_f32', T, (t) => [args, ...ts[t]!, dwp[t]!, dxp[t]!, items[t]!, items[t + 1]!]);
    // dx[b] = Σ_t the threads' planes, split by planes
    const bufs = ctx.mem.args(dxp);
    runThreads(ctx, 'deform_unpad_sum_f32', planes.length - 1, (t) => [bufs, T, dx.ptr + 4 * b * C * H * W, H, W, planes[t]!, planes[t + 1]!]);
  }
  if (T > 1) kernel(ctx, 'deform_sum_f32')(dWeight.ptr, nW, ctx.mem.args(dwp.slice(1)), T - 1);
  return { dx, dOffset, dMask, dWeight };
}
