/**
 * JS side of conv2d and its backward passes (assembly/conv.ts, conv-backward.ts, depthwise.ts and
 * the GEMM of assembly/matmul.ts). Per sample n and group g (weights W_g [Coutg, R],
 * R = Cg·kh·kw, P = Ho·Wo):
 *   forward:         out[n, g] = W_g·im2col(x[n, g])   (GEMM M=Coutg N=P K=R, B packed from x directly;
 *                    the GEMM splits its columns between threads)
 *   backward input:  dcol = W_gᵀ·dy[n, g];  dx[n, g] += col2im(dcol)            (GEMM M=R N=P K=Coutg)
 *   backward weight: dW_g += dy[n, g]·colᵀ                                       (GEMM M=Coutg N=R K=P)
 * The backward passes run as one kernel call per thread (conv_bwd_input_f32 / conv_bwd_weight_f32):
 * threads own disjoint dx planes (n, g, c), resp. disjoint dW columns (g, c, i, j), each with its
 * own column chunk and GEMM panels, so there is no lock and no cross-thread reduction, and the
 * results do not depend on the thread count. A 1x1 conv with stride 1 and no padding skips
 * im2col/col2im (col is x itself).
 * Depthwise convs (groups = Cin = Cout) take the direct kernels of depthwise.ts (padding handled
 * in the kernel, or on a per-thread zero-bordered copy of one plane at a time; never a padded copy
 * of the tensor), split over output rows (forward), dx planes or channels (backward).
 * Scratch (scratch.ts): 'col' (per thread: the column chunk, the depthwise padded plane or spread
 * row), 'packA'/'packB'/'tile' (per thread: the GEMM panels, shared with matmul.ts).
 * Padding: every kernel here uses only the top/left padding and the output size (Ho, Wo), so
 * per-side padding (Conv2dParams: [top, bottom, left, right]) needs no kernel change, only Ho/Wo
 * from both sides in `geometry`.
 * Epilogue (forward): the bias and p.clamp. The depthwise kernel starts from the bias and clamps
 * each output row while it is in L1; the GEMM path runs gemm_conv_f32, which adds the bias and
 * clamps in the register tile's write-back of its last K block (no pass over the output, at any
 * thread count; bit-identical to the GEMM followed by bias_clamp_f32). Only a skinny 1x1 conv
 * (fewer than 4 output channels per group or 4 pixels: the unpacked skinny kernel) keeps the
 * separate bias_clamp_f32 pass, split over (n, c) rows. Either replaces a separate clamp op that
 * allocated a new tensor and read and wrote it again.
 */
import { convOutLength, convPads, type Conv2dParams } from '../backend.js';
import { checkDtype, kernel, type WasmContext, type WT } from './context.js';
import { GEMM_BLOCKS, gemmInto, packSizes, THREAD_MIN_MACS } from './matmul.js';
import type { WasmStorage } from './memory.js';
import { scratch } from './scratch.js';
import { f32Bits, splitRange, threadsFor } from './threads.js';

type S = WasmStorage;

interface Geo {
  N: number; C: number; H: number; W: number; Cout: number; Cg: number; Coutg: number; kh: number; kw: number;
  Ho: number; Wo: number; G: number; R: number; P: number; args: number[];
}

function geometry(xShape: readonly number[], wShape: readonly number[], p: Conv2dParams, outHW?: readonly number[]): Geo {
  const [N, C, H, W] = xShape as [number, number, number, number];
  const [Cout, Cg, kh, kw] = wShape as [number, number, number, number];
  const [sh, sw] = p.stride;
  const [ph, pb, pw, pr] = convPads(p.padding);
  const [dh, dw] = p.dilation;
  const Ho = outHW ? outHW[0]! : convOutLength(H, kh, sh, ph, pb, dh);
  const Wo = outHW ? outHW[1]! : convOutLength(W, kw, sw, pw, pr, dw);
  const G = p.groups;
  return {
    N, C, H, W, Cout, Cg, Coutg: Cout / G, kh, kw, Ho, Wo, G, R: Cg * kh * kw, P: Ho * Wo,
    args: [Cg, H, W, kh, kw, Ho, Wo, sh, sw, ph, pw, dh, dw],
  };
}

const isDepthwise = (g: Geo): boolean => g.Cg === 1 && g.Coutg === 1 && g.G > 1;
const isPointwise = (g: Geo, p: Conv2dParams): boolean =>
  g.kh === 1 && g.kw === 1 && p.stride[0] === 1 && p.stride[1] === 1 && convPads(p.padding).every((e) => e === 0);

/**
 * Minimum multiply-adds per thread for the depthwise kernels (about 25-50 µs of work: waking a
 * worker costs 1-20 µs).
 */
const DEPTHWISE_MIN_MACS = 2 ** 17;

/**
 * Whether the depthwise forward copies each plane into a zero-bordered scratch plane first: when
 * the conv pads at all, for stride 1 or rows of at most 32 outputs. Measured (2-core EPYC, 3x3,
 * GFLOP/s without → with the copy): 64x64 s1 12 → 15, 16x16 s1 6 → 10, 8x8 s1 3.5 → 7,
 * 32x32 s2 5.8 → 6.4, 96x96 s2 8.9 → 7.7; the masked border groups cost more than the copy on
 * narrow rows, and stride 2 reads each input once anyway.
 */
function depthwisePadded(g: Geo, p: Conv2dParams): boolean {
  const [sh, sw] = p.stride;
  const [ph, , pw] = convPads(p.padding);
  const [dh, dw] = p.dilation;
  const pb = (g.Ho - 1) * sh + (g.kh - 1) * dh + 1 - ph - g.H;
  const pr = (g.Wo - 1) * sw + (g.kw - 1) * dw + 1 - pw - g.W;
  return (ph > 0 || pw > 0 || pb > 0 || pr > 0) && (sw === 1 || g.Wo <= 32);
}

/** Output rows per column chunk of the backward passes: about 256 columns, at least one row. */
const chunkRows = (g: Geo): number => Math.max(1, Math.round(256 / Math.max(1, g.Wo)));

/** Bytes of the packed GEMM panels for any thread (the caller's block sizes may have been tuned). */
function packBytes(ctx: WasmContext): { packA: number; packB: number } {
  const { kc, mc, nc } = GEMM_BLOCKS;
  packSizes(ctx); // the main instance's block sizes set as the workers' (GEMM_BLOCKS)
  return {
    packA: Math.max(kernel(ctx, 'gemm_pack_a_bytes')(), mc * kc * 4 + 64),
    packB: Math.max(kernel(ctx, 'gemm_pack_b_bytes')(), kc * (nc + 8) * 4 + 64),
  };
}

/** Runs `name` with args(t) on T threads (T = 1: the calling thread only). */
function runThreads(ctx: WasmContext, name: string, T: number, args: (t: number) => number[]): void {
  if (T === 1) kernel(ctx, name)(...args(0));
  else ctx.pool!.run(ctx.exports, name, (t) => (t < T ? args(t) : null));
}

export function conv2d(ctx: WasmContext, x: WT, w: WT, bias: WT | null, p: Conv2dParams): S {
  checkDtype('conv2d', x.dtype);
  const g = geometry(x.shape, w.shape, p);
  const { N, C, H, W, Cout, Cg, Coutg, G, R, P } = g;
  const out = ctx.mem.alloc('conv2d', N * Cout * P * 4);
  if (N * Cout * P === 0) return out;
  const cl = clampArgs(p);
  if (isDepthwise(g)) {
    const units = N * C * g.Ho;
    const T = threadsFor(ctx.pool, N * C * P * g.kh * g.kw, DEPTHWISE_MIN_MACS, units);
    const b = splitRange(units, T);
    const args = ctx.mem.args([C, ...g.args.slice(1)]);
    const padFloats = depthwisePadded(g, p) ? kernel(ctx, 'depthwise_pad_floats')(args) : 0;
    const pads = Array.from({ length: T }, (_, t) => (padFloats ? scratch(ctx.mem, 'col', padFloats * 4 + 64, 'conv2d', t) : 0));
    runThreads(ctx, 'depthwise_fwd_f32', T, (t) => [x.storage.ptr, w.storage.ptr, bias ? bias.storage.ptr : 0, bias ? 1 : 0, out.ptr, args, b[t]!, b[t + 1]!, pads[t]!, ...cl]);
    return out;
  }
  const direct = isPointwise(g, p);
  const epilogue = bias !== null || p.clamp !== undefined;
  if (direct && (Coutg < 4 || P < 4)) {
    // skinny 1x1 (a 1- or 2-channel head): gemmInto's unpacked kernel, then the epilogue pass
    for (let n = 0; n < N; n++) {
      for (let gi = 0; gi < G; gi++) {
        const xg = x.storage.ptr + 4 * (n * C + gi * Cg) * H * W;
        gemmInto(ctx, Coutg, P, R, w.storage.ptr + 4 * gi * Coutg * R, R, 1, xg, P, 1, out.ptr + 4 * (n * Cout + gi * Coutg) * P, P, false);
      }
    }
    if (epilogue) {
      const rows = N * Cout;
      const T = threadsFor(ctx.pool, rows * P, EPILOGUE_MIN_FLOATS, rows);
      const b = splitRange(rows, T);
      runThreads(ctx, 'bias_clamp_f32', T, (t) => [out.ptr, bias ? bias.storage.ptr : 0, bias ? 1 : 0, Cout, P, b[t]!, b[t + 1]!, 0, P, ...cl]);
    }
    return out;
  }
  // one GEMM per (sample, group), the bias and clamp in its last K block's write-back
  // (gemm_conv_f32); implicit im2col unless 1x1: the GEMM packs its B panels straight from x
  const args = ctx.mem.args([direct ? 0 : 1, bias ? 1 : 0, ...cl, ...(direct ? [] : g.args)]);
  const T = ctx.pool && Coutg * P * R >= THREAD_MIN_MACS && P >= 16 * ctx.pool.size ? ctx.pool.size : 1;
  // column ranges aligned to the 8-column micro-tile
  const bounds = splitRange(P, T, 8);
  const scr = Array.from({ length: T }, (_, t) => gemmScratch(ctx, 'conv2d', t));
  for (let n = 0; n < N; n++) {
    for (let gi = 0; gi < G; gi++) {
      const xg = x.storage.ptr + 4 * (n * C + gi * Cg) * H * W;
      const lead = [Coutg, P, R, w.storage.ptr + 4 * gi * Coutg * R, xg, out.ptr + 4 * (n * Cout + gi * Coutg) * P, bias ? bias.storage.ptr + 4 * gi * Coutg : 0, args];
      runThreads(ctx, 'gemm_conv_f32', T, (t) => [...lead, ...scr[t]!, bounds[t]!, bounds[t + 1]!]);
    }
  }
  return out;
}

/** Minimum output floats per thread for the skinny 1x1 forward's bias/clamp pass (about 30 µs of work). */
const EPILOGUE_MIN_FLOATS = 2 ** 16;

/** [clampOn, lo bits, hi bits] for the kernels: the clamp's bounds travel as f32 bits (i32 arguments only). */
function clampArgs(p: Conv2dParams): [number, number, number] {
  return p.clamp ? [1, f32Bits(p.clamp[0]), f32Bits(p.clamp[1])] : [0, 0, 0];
}

/** The GEMM scratch of thread t: [packA, packB, tile]. */
function gemmScratch(ctx: WasmContext, op: string, t: number): number[] {
  const sizes = packBytes(ctx);
  return [scratch(ctx.mem, 'packA', sizes.packA, op, t), scratch(ctx.mem, 'packB', sizes.packB, op, t), scratch(ctx.mem, 'tile', 256, op, t)];
}

export function conv2dBackwardInput(ctx: WasmContext, dy: WT, w: WT, xShape: readonly number[], p: Conv2dParams): S {
  checkDtype('conv2dBackwardInput', dy.dtype);
  const g = geometry(xShape, w.shape, p, dy.shape.slice(2));
  const { N, C, H, W, Cout, Coutg, G, R, P } = g;
  const out = ctx.mem.alloc('conv2dBackwardInput', N * C * H * W * 4);
  if (N * C * H * W === 0) return out;
  if (P === 0 || Coutg === 0) {
    kernel(ctx, 'fill_u32')(out.ptr, N * C * H * W, 0);
    return out;
  }
  if (isDepthwise(g)) {
    const units = N * C;
    const T = threadsFor(ctx.pool, N * C * P * g.kh * g.kw, DEPTHWISE_MIN_MACS, units);
    const b = splitRange(units, T);
    const args = ctx.mem.args([C, ...g.args.slice(1)]);
    // stride > 1: a row of scratch per thread for the zero-spread dy row
    const rowFloats = p.stride[1] > 1 ? kernel(ctx, 'depthwise_row_floats')(args) : 0;
    const rows = Array.from({ length: T }, (_, t) => (rowFloats ? scratch(ctx.mem, 'col', rowFloats * 4 + 64, 'conv2dBackwardInput', t) : 0));
    runThreads(ctx, 'depthwise_bwd_input_f32', T, (t) => [dy.storage.ptr, w.storage.ptr, out.ptr, args, b[t]!, b[t + 1]!, rows[t]!]);
    return out;
  }
  const direct = isPointwise(g, p);
  const chunk = chunkRows(g);
  const units = N * C;
  const T = threadsFor(ctx.pool, N * G * R * Coutg * P, THREAD_MIN_MACS, units);
  const b = splitRange(units, T);
  const args = ctx.mem.args([...g.args, C, Cout, G, chunk, direct ? 1 : 0]);
  const jobs: number[][] = [];
  for (let t = 0; t < T; t++) {
    // this thread's dcol chunk: at most its planes' rows (and never more than a group's R)
    const rows = Math.min(R, (b[t + 1]! - b[t]!) * g.kh * g.kw);
    const dcol = direct || rows === 0 ? 0 : scratch(ctx.mem, 'col', rows * chunk * g.Wo * 4, 'conv2dBackwardInput', t);
    jobs.push([w.storage.ptr, dy.storage.ptr, out.ptr, args, b[t]!, b[t + 1]!, dcol, ...gemmScratch(ctx, 'conv2dBackwardInput', t)]);
  }
  runThreads(ctx, 'conv_bwd_input_f32', T, (t) => jobs[t]!);
  return out;
}

export function conv2dBackwardWeight(ctx: WasmContext, x: WT, dy: WT, wShape: readonly number[], p: Conv2dParams): S {
  checkDtype('conv2dBackwardWeight', x.dtype);
  const g = geometry(x.shape, wShape, p, dy.shape.slice(2));
  const { N, C, Cout, Coutg, G, R, P } = g;
  const out = ctx.mem.alloc('conv2dBackwardWeight', Cout * R * 4);
  if (Cout * R === 0) return out;
  if (N === 0 || P === 0) {
    kernel(ctx, 'fill_u32')(out.ptr, Cout * R, 0);
    return out;
  }
  if (isDepthwise(g)) {
    const T = threadsFor(ctx.pool, N * C * P * g.kh * g.kw, DEPTHWISE_MIN_MACS, C);
    const b = splitRange(C, T);
    const args = ctx.mem.args([C, ...g.args.slice(1)]);
    runThreads(ctx, 'depthwise_bwd_weight_f32', T, (t) => [x.storage.ptr, dy.storage.ptr, out.ptr, N, args, b[t]!, b[t + 1]!]);
    return out;
  }
  const direct = isPointwise(g, p);
  const chunk = chunkRows(g);
  const units = G * R;
  const T = threadsFor(ctx.pool, N * G * R * Coutg * P, THREAD_MIN_MACS, Math.ceil(units / 8));
  // column ranges on multiples of the GEMM's 8-column micro-tile
  const b = splitRange(units, T, 8);
  const args = ctx.mem.args([...g.args, C, Cout, G, chunk, direct ? 1 : 0]);
  const jobs: number[][] = [];
  for (let t = 0; t < T; t++) {
    const cols = Math.min(R, b[t + 1]! - b[t]!);
    const col = direct || cols === 0 ? 0 : scratch(ctx.mem, 'col', cols * chunk * g.Wo * 4, 'conv2dBackwardWeight', t);
    jobs.push([x.storage.ptr, dy.storage.ptr, out.ptr, args, N, b[t]!, b[t + 1]!, col, ...gemmScratch(ctx, 'conv2dBackwardWeight', t)]);
  }
  runThreads(ctx, 'conv_bwd_weight_f32', T, (t) => jobs[t]!);
  return out;
}
