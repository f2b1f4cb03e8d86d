/**
 * JS side of conv2d and its backward passes (assembly/conv.ts + the GEMM of assembly/matmul.ts).
 * Per sample n and group g (weights W_g [Coutg, R], R = Cg·kh·kw, P = Ho·Wo):
 *   forward:         out[n, g] = W_g·im2col(x[n, g])   (GEMM M=Coutg N=P K=R, B packed from x directly)
 *   backward input:  dcol = W_gᵀ·dy[n, g];  dx[n, g] += col2im(dcol)            (GEMM M=R N=P K=Coutg)
 *   backward weight: dW_g += dy[n, g]·colᵀ                                       (GEMM M=Coutg N=R K=P)
 * A 1x1 conv with stride 1 and no padding skips im2col/col2im (col is x itself). Depthwise convs
 * (groups = Cin = Cout) use the direct kernels. The backward passes materialize col in a reused
 * scratch slot.
 */
import type { Conv2dParams } from '../backend.js';
import { checkDtype, kernel, type WasmContext, type WT } from './context.js';
import { gemmInto } from './matmul.js';
import type { WasmStorage } from './memory.js';
import { scratch } from './scratch.js';

type S = WasmStorage;

interface Geo {
  N: number; C: number; H: number; W: number; Cout: number; Cg: number; Coutg: number; kh: number; kw: number;
  Ho: number; Wo: number; G: number; R: number; P: number; args: number[];
}

function geometry(xShape: readonly number[], wShape: readonly number[], p: Conv2dParams, outHW?: readonly number[]): Geo {
  const [N, C, H, W] = xShape as [number, number, number, number];
  const [Cout, Cg, kh, kw] = wShape as [number, number, number, number];
  const [sh, sw] = p.stride;
  const [ph, pw] = p.padding;
  const [dh, dw] = p.dilation;
  const Ho = outHW ? outHW[0]! : Math.floor((H + 2 * ph - dh * (kh - 1) - 1) / sh) + 1;
  const Wo = outHW ? outHW[1]! : Math.floor((W + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
  const G = p.groups;
  return {
    N, C, H, W, Cout, Cg, Coutg: Cout / G, kh, kw, Ho, Wo, G, R: Cg * kh * kw, P: Ho * Wo,
    args: [Cg, H, W, kh, kw, Ho, Wo, sh, sw, ph, pw, dh, dw],
  };
}

const isDepthwise = (g: Geo): boolean => g.Cg === 1 && g.Coutg === 1 && g.G > 1;
const isPointwise = (g: Geo, p: Conv2dParams): boolean =>
  g.kh === 1 && g.kw === 1 && p.stride[0] === 1 && p.stride[1] === 1 && p.padding[0] === 0 && p.padding[1] === 0;

export function conv2d(ctx: WasmContext, x: WT, w: WT, bias: WT | null, p: Conv2dParams): S {
  checkDtype('conv2d', x.dtype);
  const g = geometry(x.shape, w.shape, p);
  const { N, C, H, W, Cout, Cg, Coutg, G, R, P } = g;
  const out = ctx.mem.alloc('conv2d', N * Cout * P * 4);
  if (N * Cout * P === 0) return out;
  if (isDepthwise(g)) {
    const pad = scratch(ctx.mem, 'col', (H + 2 * p.padding[0]) * (W + 2 * p.padding[1]) * 4 + 64, 'conv2d');
    const args = ctx.mem.args([C, ...g.args.slice(1)]);
    kernel(ctx, 'depthwise_f32')(x.storage.ptr, w.storage.ptr, bias ? bias.storage.ptr : 0, bias ? 1 : 0, out.ptr, N, args, pad);
    return out;
  }
  const direct = isPointwise(g, p);
  // implicit im2col: the GEMM packs its B panels straight from x (no col buffer)
  const convArgs = direct ? 0 : ctx.mem.args(g.args);
  for (let n = 0; n < N; n++) {
    for (let gi = 0; gi < G; gi++) {
      const xg = x.storage.ptr + 4 * (n * C + gi * Cg) * H * W;
      gemmInto(ctx, Coutg, P, R, w.storage.ptr + 4 * gi * Coutg * R, R, 1, xg, P, 1, out.ptr + 4 * (n * Cout + gi * Coutg) * P, P, false, convArgs);
    }
  }
  if (bias) kernel(ctx, 'bias_add_f32')(out.ptr, bias.storage.ptr, N, Cout, P);
  return out;
}

export function conv2dBackwardInput(ctx: WasmContext, dy: WT, w: WT, xShape: readonly number[], p: Conv2dParams): S {
  checkDtype('conv2dBackwardInput', dy.dtype);
  const g = geometry(xShape, w.shape, p, dy.shape.slice(2));
  const { N, C, H, W, Cout, Cg, Coutg, G, R, P } = g;
  const out = ctx.mem.alloc('conv2dBackwardInput', N * C * H * W * 4);
  if (N * C * H * W === 0) return out;
  if (isDepthwise(g)) {
    kernel(ctx, 'depthwise_bwd_input_f32')(dy.storage.ptr, w.storage.ptr, out.ptr, N, ctx.mem.args([C, ...g.args.slice(1)]));
    return out;
  }
  const direct = isPointwise(g, p);
  if (!direct || P === 0 || Coutg === 0) kernel(ctx, 'fill_u32')(out.ptr, N * C * H * W, 0);
  if (P === 0 || Coutg === 0) return out;
  const col = direct ? 0 : scratch(ctx.mem, 'col', R * P * 4, 'conv2dBackwardInput');
  for (let n = 0; n < N; n++) {
    for (let gi = 0; gi < G; gi++) {
      const dxg = out.ptr + 4 * (n * C + gi * Cg) * H * W;
      // A(i, k) = W_g[k, i]: W_g is [Coutg, R], read transposed
      gemmInto(ctx, R, P, Coutg, w.storage.ptr + 4 * gi * Coutg * R, 1, R, dy.storage.ptr + 4 * (n * Cout + gi * Coutg) * P, P, 1, direct ? dxg : col, P, false);
      if (!direct) kernel(ctx, 'col2im_f32')(col, dxg, ctx.mem.args(g.args));
    }
  }
  return out;
}

export function conv2dBackwardWeight(ctx: WasmContext, x: WT, dy: WT, wShape: readonly number[], p: Conv2dParams): S {
  checkDtype('conv2dBackwardWeight', x.dtype);
  const g = geometry(x.shape, wShape, p, dy.shape.slice(2));
  const { N, C, H, W, Cout, Cg, Coutg, G, R, P } = g;
  const out = ctx.mem.alloc('conv2dBackwardWeight', Cout * R * 4);
  if (Cout * R === 0) return out;
  if (isDepthwise(g)) {
    kernel(ctx, 'depthwise_bwd_weight_f32')(x.storage.ptr, dy.storage.ptr, out.ptr, N, ctx.mem.args([C, ...g.args.slice(1)]));
    return out;
  }
  if (N === 0 || P === 0) {
    kernel(ctx, 'fill_u32')(out.ptr, Cout * R, 0);
    return out;
  }
  const direct = isPointwise(g, p);
  const col = direct ? 0 : scratch(ctx.mem, 'col', R * P * 4, 'conv2dBackwardWeight');
  for (let n = 0; n < N; n++) {
    for (let gi = 0; gi < G; gi++) {
      const xg = x.storage.ptr + 4 * (n * C + gi * Cg) * H * W;
      if (!direct) kernel(ctx, 'im2col_f32')(xg, col, ctx.mem.args(g.args));
      // B(k, j) = col[j, k]: col is [R, P], read transposed
      gemmInto(ctx, Coutg, R, P, dy.storage.ptr + 4 * (n * Cout + gi * Coutg) * P, P, 1, direct ? xg : col, 1, P, out.ptr + 4 * gi * Coutg * R, R, n > 0);
    }
  }
  return out;
}
