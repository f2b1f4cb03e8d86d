/**
 * JS side of deformConv2d (torchvision.ops.deform_conv2d, v1 and v2) on wasm; the kernels are in
 * assembly/deform-conv.ts (sampling plan, deformable im2col, its adjoint) and the GEMM in
 * assembly/matmul.ts. Contract: backends/backend.ts; reference: backends/cpu/deform-conv.ts.
 *
 * Per sample b, the C planes of x[b] are copied into zero-bordered planes (the bilinear reads need
 * no bounds checks). Then per weight group g and chunk of output pixels [p0, p1) (R = Cg·kh·kw
 * rows, chunk width chosen so that col [R, chunk] stays around 1 MiB, near L2):
 *   forward:  col = deform_im2col;  out[b, g, :, p0:p1] = W_g·col          (GEMM M=Cout/G N=chunk K=R)
 *   backward: col = deform_im2col;  dW_g += dy[b, g, :, p0:p1]·colᵀ         (GEMM M=Cout/G N=R K=chunk)
 *             dcol = W_gᵀ·dy[b, g, :, p0:p1]                                (GEMM M=R N=chunk K=Cout/G)
 *             deform_col2im(dcol): dx (into zero-bordered planes), dOffset, dMask
 * With worker threads, the GEMM splits its columns (gemmInto), and so do the im2col and its adjoint
 * (each thread plans its own columns; for the adjoint each also scatters into its own dx planes,
 * added up at the end of the sample, since neighbouring points share input pixels).
 * Scratch (scratch.ts): 'col' (shared with conv.ts: both are im2col column buffers), 'dcol',
 * 'deformPad' (x, and dx for the backward), 'deformWork' (the plan, per thread) and 'deformDx'
 * (thread t ≥ 1's own dx planes).
 */
import type { DeformConv2dParams } from '../backend.js';
import { checkDtype, kernel, type WasmContext, type WT } from './context.js';
import { gemmInto } from './matmul.js';
import { scratch } from './scratch.js';
import type { WasmStorage } from './memory.js';

/** Below this many sampled values per chunk, the plan/gather stays on one thread. */
const THREAD_MIN_SAMPLES = 2 ** 15;

/** Target size of one col chunk in floats (1 MiB). */
const CHUNK_FLOATS = 1 << 18;

interface DGeo {
  B: number; C: number; H: number; W: number; Cout: number; Cg: number; Coutg: number; G: number;
  kh: number; kw: number; K: number; Ho: number; Wo: number; P: number; R: number; OG: number;
  /** Output pixels per chunk (a multiple of 8 unless it is all of P). */
  chunk: number;
  plane: number;
  words: (g: number, p0: number, p1: number, hasMask: boolean) => number[];
}

function geometry(x: WT, offset: WT, w: WT, p: DeformConv2dParams): DGeo {
  const [B, C, H, W] = x.shape as [number, number, number, number];
  const [Cout, Cg, kh, kw] = w.shape as [number, number, number, number];
  const [Ho, Wo] = offset.shape.slice(2) as [number, number];
  const G = p.groups;
  const K = kh * kw;
  const P = Ho * Wo;
  const R = Cg * K;
  const chunk = Math.min(P, Math.max(64, Math.floor(CHUNK_FLOATS / Math.max(R, 1) / 8) * 8));
  const head = [C, H, W, kh, kw, Ho, Wo, p.stride[0], p.stride[1], p.padding[0], p.padding[1], p.dilation[0], p.dilation[1], p.offsetGroups, Cg];
  return {
    B, C, H, W, Cout, Cg, Coutg: Cout / G, G, kh, kw, K, Ho, Wo, P, R, OG: p.offsetGroups, chunk, plane: (H + 3) * (W + 2),
    words: (g, p0, p1, hasMask) => [...head, g * Cg, p0, p1, ldcol(p1 - p0), hasMask ? 1 : 0],
  };
}

/** Threads for the chunk's columns (1 without a pool or for small chunks). */
function threadsFor(ctx: WasmContext, g: DGeo, n: number): number {
  if (!ctx.pool || g.R * n < THREAD_MIN_SAMPLES) return 1;
  return Math.max(1, Math.min(ctx.pool.size, Math.floor(n / 64)));
}

/** Column ranges [bounds[t], bounds[t+1]) of a chunk of n columns, multiples of 4 but the last. */
function bounds(n: number, T: number): number[] {
  return Array.from({ length: T + 1 }, (_, t) => (t === T ? n : Math.round((t * n) / T / 4) * 4));
}

/** Per-thread plan work areas. */
function works(ctx: WasmContext, T: number, chunk: number, op: string): number[] {
  const bytes = kernel(ctx, 'deform_work_bytes')(chunk);
  return Array.from({ length: T }, (_, t) => scratch(ctx.mem, 'deformWork', bytes, op, t));
}

/** deform_im2col_f32 over the chunk's columns, split between T threads. */
function im2colChunk(ctx: WasmContext, T: number, wk: readonly number[], args: number[], n: number): void {
  if (T === 1) {
    kernel(ctx, 'deform_im2col_f32')(...args.slice(0, 4), wk[0]!, args[4]!, 0, n);
    return;
  }
  const b = bounds(n, T);
  ctx.pool!.run(ctx.exports, 'deform_im2col_f32', (t) => (t < T ? [...args.slice(0, 4), wk[t]!, args[4]!, b[t]!, b[t + 1]!] : null));
}

/** Row stride of a col chunk of n columns: a multiple of 4, so the kernel's f32x4 stores stay in the row. */
const ldcol = (n: number): number => Math.ceil(n / 4) * 4;

export function deformConv2d(ctx: WasmContext, x: WT, offset: WT, mask: WT | null, w: WT, bias: WT | null, p: DeformConv2dParams): WasmStorage {
  checkDtype('deformConv2d', x.dtype);
  const g = geometry(x, offset, w, p);
  const { B, C, H, W, Cout, Coutg, G, P, R, chunk, plane } = g;
  const out = ctx.mem.alloc('deformConv2d', B * Cout * P * 4);
  if (B * Cout * P === 0) return out;
  if (R === 0) {
    kernel(ctx, 'fill_u32')(out.ptr, B * Cout * P, 0);
  } else {
    const xpad = scratch(ctx.mem, 'deformPad', C * plane * 4, 'deformConv2d');
    const col = scratch(ctx.mem, 'col', R * ldcol(chunk) * 4, 'deformConv2d');
    const T = threadsFor(ctx, g, chunk);
    const wk = works(ctx, T, chunk, 'deformConv2d');
    for (let b = 0; b < B; b++) {
      kernel(ctx, 'deform_pad_f32')(x.storage.ptr + 4 * b * C * H * W, xpad, C, H, W);
      const offB = offset.storage.ptr + 4 * b * offset.shape[1]! * P;
      const maskB = mask ? mask.storage.ptr + 4 * b * mask.shape[1]! * P : 0;
      for (let gi = 0; gi < G; gi++) {
        for (let p0 = 0; p0 < P; p0 += chunk) {
          const p1 = Math.min(P, p0 + chunk);
          im2colChunk(ctx, Math.min(T, threadsFor(ctx, g, p1 - p0)), wk, [xpad, offB, maskB, col, ctx.mem.args(g.words(gi, p0, p1, mask !== null))], p1 - p0);
          gemmInto(ctx, Coutg, p1 - p0, R, w.storage.ptr + 4 * gi * Coutg * R, R, 1, col, ldcol(p1 - p0), 1, out.ptr + 4 * ((b * Cout + gi * Coutg) * P + p0), P, false);
        }
      }
    }
  }
  if (bias) kernel(ctx, 'bias_add_f32')(out.ptr, bias.storage.ptr, B, Cout, P);
  return out;
}

export function deformConv2dBackward(ctx: WasmContext, dy: WT, x: WT, offset: WT, mask: WT | null, w: WT, p: DeformConv2dParams): { dx: WasmStorage; dOffset: WasmStorage; dMask: WasmStorage | null; dWeight: WasmStorage } {
  checkDtype('deformConv2dBackward', x.dtype);
  const g = geometry(x, offset, w, p);
  const { B, C, H, W, Cout, Coutg, G, P, R, chunk, plane } = g;
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
  const pad = scratch(ctx.mem, 'deformPad', 2 * C * plane * 4, 'deformConv2dBackward');
  const xpad = pad;
  const dxpad = pad + C * plane * 4;
  const col = scratch(ctx.mem, 'col', R * ldcol(chunk) * 4, 'deformConv2dBackward');
  const dcol = scratch(ctx.mem, 'dcol', R * ldcol(chunk) * 4, 'deformConv2dBackward');
  const T = threadsFor(ctx, g, chunk);
  const wk = works(ctx, T, chunk, 'deformConv2dBackward');
  // dx planes per thread (two threads' points may share neighbours): thread 0 uses dxpad
  const dxp = Array.from({ length: T }, (_, t) => (t === 0 ? dxpad : scratch(ctx.mem, 'deformDx', C * plane * 4, 'deformConv2dBackward', t)));
  for (let b = 0; b < B; b++) {
    kernel(ctx, 'deform_pad_f32')(x.storage.ptr + 4 * b * C * H * W, xpad, C, H, W);
    for (const d of dxp) fill(d, C * plane, 0);
    const offB = offset.storage.ptr + 4 * b * offset.shape[1]! * P;
    const maskB = mask ? mask.storage.ptr + 4 * b * mask.shape[1]! * P : 0;
    const dOffB = dOffset.ptr + 4 * b * offset.shape[1]! * P;
    const dMaskB = dMask ? dMask.ptr + 4 * b * mask!.shape[1]! * P : 0;
    for (let gi = 0; gi < G; gi++) {
      const wg = w.storage.ptr + 4 * gi * Coutg * R;
      const dyg = dy.storage.ptr + 4 * (b * Cout + gi * Coutg) * P;
      for (let p0 = 0; p0 < P; p0 += chunk) {
        const p1 = Math.min(P, p0 + chunk);
        const ld = ldcol(p1 - p0);
        const Tc = Math.min(T, threadsFor(ctx, g, p1 - p0));
        im2colChunk(ctx, Tc, wk, [xpad, offB, maskB, col, ctx.mem.args(g.words(gi, p0, p1, mask !== null))], p1 - p0);
        // dW_g += dy_g[:, p0:p1]·colᵀ (B(k, j) = col[j, k])
        gemmInto(ctx, Coutg, R, p1 - p0, dyg + 4 * p0, P, 1, col, 1, ld, dWeight.ptr + 4 * gi * Coutg * R, R, true);
        // dcol = W_gᵀ·dy_g[:, p0:p1] (A(i, k) = W_g[k, i])
        gemmInto(ctx, R, p1 - p0, Coutg, wg, 1, R, dyg + 4 * p0, P, 1, dcol, ld, false);
        const args = ctx.mem.args(g.words(gi, p0, p1, mask !== null));
        const bd = bounds(p1 - p0, Tc);
        const job = (t: number): number[] => [xpad, dxp[t]!, offB, maskB, dcol, dOffB, dMaskB, wk[t]!, args, bd[t]!, bd[t + 1]!];
        if (Tc === 1) kernel(ctx, 'deform_col2im_f32')(...job(0));
        else ctx.pool!.run(ctx.exports, 'deform_col2im_f32', (t) => (t < Tc ? job(t) : null));
      }
    }
    dxp.forEach((d, t) => kernel(ctx, 'deform_unpad_f32')(d, dx.ptr + 4 * b * C * H * W, C, H, W, t === 0 ? 0 : 1));
  }
  return { dx, dOffset, dMask, dWeight };
}
