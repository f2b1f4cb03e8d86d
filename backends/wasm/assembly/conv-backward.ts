/**
 * conv2d's backward passes (also convTranspose2d's forward and weight gradient) for the general,
 * GEMM-based conv, one call per thread over a disjoint range of work units (JS splits them,
 * backends/wasm/conv.ts), each thread with its own scratch (columns, packed GEMM panels).
 * Per sample n and group g (W_g [Coutg, R], R = Cg·kh·kw, P = Ho·Wo):
 *
 * Input gradient (conv_bwd_input_f32). Units: the dx planes (n, g, c), u = n·C + g·Cg + c. A thread
 * owning channels [c0, c1) of (n, g) needs only the rows [c0·kh·kw, c1·kh·kw) of
 * dcol = W_gᵀ·dy[n, g] (a GEMM with M = (c1 − c0)·kh·kw, K = Coutg), and col2im of those rows
 * writes only its own planes: no two threads touch the same dx element, nothing is reduced across
 * threads. dcol is computed in chunks of `chunk` output rows (a few hundred columns, so the chunk
 * stays in L2 between the GEMM that writes it and the col2im that adds it onto dx), and col2im
 * adds each column row back onto the input rows it came from (f32x4 adds for stride 1). A 1x1
 * conv with stride 1 and no padding skips dcol: the GEMM writes dx directly.
 *
 * Weight gradient (conv_bwd_weight_f32). Units: the columns of dW over all groups, u = g·R + r
 * (r = (c·kh + i)·kw + j). A thread owning columns [ra, rb) of group g needs only the rows [ra, rb)
 * of col = im2col(x[n, g]), which it unrolls itself (chunk by chunk of output rows into its own
 * scratch), then dW_g[:, ra:rb] += dy[n, g][:, chunk]·col[ra:rb, chunk]ᵀ (GEMM M = Coutg,
 * N = rb − ra, K = the chunk's columns), for n = 0..N−1 and the chunks in order. Every dW element is
 * summed by one thread in an order fixed by the geometry and the chunk size (which JS derives from
 * the shapes, never from the thread count), so the result is the same for any thread count. A 1x1
 * conv with stride 1 and no padding reads x itself as col.
 *
 * Geometry args (i32 words): [Cg, H, W, kh, kw, Ho, Wo, sh, sw, ph, pw, dh, dw, C, Cout, G, chunk, direct].
 */
import { ldi } from './common';
import { gemm_f32 } from './matmul';

let CG = 0, H = 0, W = 0, KH = 0, KW = 0, HO = 0, WO = 0, SH = 0, SW = 0, PH = 0, PW = 0, DH = 0, DW = 0;
let C = 0, COUT = 0, G = 0, CHUNK = 1, DIRECT = 0;

function geometry(args: usize): void {
  CG = ldi(args, 0); H = ldi(args, 1); W = ldi(args, 2); KH = ldi(args, 3); KW = ldi(args, 4);
  HO = ldi(args, 5); WO = ldi(args, 6); SH = ldi(args, 7); SW = ldi(args, 8); PH = ldi(args, 9);
  PW = ldi(args, 10); DH = ldi(args, 11); DW = ldi(args, 12); C = ldi(args, 13); COUT = ldi(args, 14);
  G = ldi(args, 15); CHUNK = max(1, ldi(args, 16)); DIRECT = ldi(args, 17);
}

/** First output column whose tap j lands at ix ≥ 0. */
@inline function oxBegin(j: i32): i32 {
  const t = PW - j * DW;
  return t <= 0 ? 0 : min(WO, (t + SW - 1) / SW);
}
/** One past the last output column whose tap j lands at ix < W. */
@inline function oxEnd(j: i32): i32 {
  const t = W - 1 + PW - j * DW;
  return t < 0 ? 0 : min(WO, t / SW + 1);
}

/** dst[0..n) += src[0..n), SIMD with a scalar tail (no write past n). */
@inline function addRow(dst: usize, src: usize, n: i32): void {
  let k = 0;
  for (; k + 4 <= n; k += 4) {
    const p = dst + ((<usize>k) << 2);
    v128.store(p, f32x4.add(v128.load(p), v128.load(src + ((<usize>k) << 2))));
  }
  for (; k < n; k++) {
    const p = dst + ((<usize>k) << 2);
    store<f32>(p, load<f32>(p) + load<f32>(src + ((<usize>k) << 2)));
  }
}

/**
 * col[r − ra, (oy − oy0)·Wo + ox] = x[c, oy·sh − ph + i·dh, ox·sw − pw + j·dw] (0 outside) for the
 * col rows r = (c·kh + i)·kw + j in [ra, rb) and the output rows [oy0, oy1); ld = the row length.
 */
function im2colRows(px: usize, col: usize, ld: i32, ra: i32, rb: i32, oy0: i32, oy1: i32): void {
  const taps = KH * KW;
  for (let r = ra; r < rb; r++) {
    const c = r / taps;
    const t = r - c * taps;
    const i = t / KW;
    const j = t - i * KW;
    const row = col + ((<usize>((r - ra) * ld)) << 2);
    const o0 = oxBegin(j);
    const o1 = max(o0, oxEnd(j));
    for (let oy = oy0; oy < oy1; oy++) {
      const iy = oy * SH - PH + i * DH;
      const dst = row + ((<usize>((oy - oy0) * WO)) << 2);
      if (iy < 0 || iy >= H) {
        memory.fill(dst, 0, (<usize>WO) << 2);
        continue;
      }
      const src = px + ((<usize>((c * H + iy) * W)) << 2);
      if (o0 > 0) memory.fill(dst, 0, (<usize>o0) << 2);
      if (SW == 1) {
        memory.copy(dst + ((<usize>o0) << 2), src + ((<usize>(o0 - PW + j * DW)) << 2), (<usize>(o1 - o0)) << 2);
      } else {
        for (let ox = o0; ox < o1; ox++) store<f32>(dst + ((<usize>ox) << 2), load<f32>(src + ((<usize>(ox * SW - PW + j * DW)) << 2)));
      }
      if (o1 < WO) memory.fill(dst + ((<usize>o1) << 2), 0, (<usize>(WO - o1)) << 2);
    }
  }
}

/**
 * The adjoint of im2colRows for nc whole channels: dx[c, iy, ix] += dcol[(c·kh + i)·kw + j,
 * (oy − oy0)·Wo + ox] for every tap of the output rows [oy0, oy1) that lands inside the image.
 */
function col2imRows(dcol: usize, ld: i32, pdx: usize, nc: i32, oy0: i32, oy1: i32): void {
  for (let c = 0; c < nc; c++) {
    for (let i = 0; i < KH; i++) {
      for (let j = 0; j < KW; j++) {
        const row = dcol + ((<usize>(((c * KH + i) * KW + j) * ld)) << 2);
        const o0 = oxBegin(j);
        const o1 = max(o0, oxEnd(j));
        for (let oy = oy0; oy < oy1; oy++) {
          const iy = oy * SH - PH + i * DH;
          if (iy < 0 || iy >= H) continue;
          const src = row + ((<usize>((oy - oy0) * WO)) << 2);
          const dst = pdx + ((<usize>((c * H + iy) * W)) << 2);
          if (SW == 1) addRow(dst + ((<usize>(o0 - PW + j * DW)) << 2), src + ((<usize>o0) << 2), o1 - o0);
          else for (let ox = o0; ox < o1; ox++) {
            const p = dst + ((<usize>(ox * SW - PW + j * DW)) << 2);
            store<f32>(p, load<f32>(p) + load<f32>(src + ((<usize>ox) << 2)));
          }
        }
      }
    }
  }
}

/**
 * dx (= dL/dx of conv2d, [N, C, H, W]) for the planes [u0, u1) of u = n·C + g·Cg + c, from
 * dy [N, Cout, Ho, Wo] and w [Cout, Cg, kh, kw]. dcol: scratch of (Cg·kh·kw)·chunk·Wo floats
 * (unused when direct); packA/packB/tile: this thread's GEMM scratch. Coutg ≥ 1 and Ho·Wo ≥ 1.
 */
export function conv_bwd_input_f32(pw: usize, pdy: usize, pdx: usize, args: usize, u0: i32, u1: i32, dcol: usize, packA: usize, packB: usize, tile: usize): void {
  geometry(args);
  const taps = KH * KW;
  const R = CG * taps;
  const P = HO * WO;
  const COUTG = COUT / G;
  const plane = H * W;
  let u = u0;
  while (u < u1) {
    const n = u / C;
    const rem = u - n * C;
    const g = rem / CG;
    const c0 = rem - g * CG;
    const nc = min(CG - c0, u1 - u);
    const dxp = pdx + ((<usize>(n * C + g * CG + c0) * <usize>plane) << 2);
    // A(i, k) = W[g·Coutg + k, c0·taps + i]
    const pa = pw + ((<usize>(g * COUTG * R + c0 * taps)) << 2);
    const dyg = pdy + ((<usize>(n * COUT + g * COUTG) * <usize>P) << 2);
    if (DIRECT) {
      gemm_f32(nc, P, COUTG, pa, 1, R, dyg, P, 1, dxp, P, 0, packA, packB, tile, 0, 0, P);
    } else {
      memory.fill(dxp, 0, (<usize>nc * <usize>plane) << 2);
      for (let oy0 = 0; oy0 < HO; oy0 += CHUNK) {
        const oy1 = min(HO, oy0 + CHUNK);
        const cols = (oy1 - oy0) * WO;
        gemm_f32(nc * taps, cols, COUTG, pa, 1, R, dyg + ((<usize>(oy0 * WO)) << 2), P, 1, dcol, cols, 0, packA, packB, tile, 0, 0, cols);
        col2imRows(dcol, cols, dxp, nc, oy0, oy1);
      }
    }
    u += nc;
  }
}

/**
 * dW (= dL/dw of conv2d, [Cout, Cg, kh, kw]) for the columns [u0, u1) of u = g·R + r, from
 * x [N, C, H, W] and dy [N, Cout, Ho, Wo]. col: scratch of (rb − ra)·chunk·Wo floats (unused when
 * direct); packA/packB/tile: this thread's GEMM scratch. N ≥ 1 and Ho·Wo ≥ 1.
 */
export function conv_bwd_weight_f32(px: usize, pdy: usize, pdw: usize, args: usize, N: i32, u0: i32, u1: i32, col: usize, packA: usize, packB: usize, tile: usize): void {
  geometry(args);
  const R = CG * KH * KW;
  const P = HO * WO;
  const COUTG = COUT / G;
  const plane = H * W;
  let u = u0;
  while (u < u1) {
    const g = u / R;
    const ra = u - g * R;
    const rb = min(R, ra + (u1 - u));
    const nr = rb - ra;
    const dwp = pdw + ((<usize>(g * COUTG * R + ra)) << 2);
    for (let n = 0; n < N; n++) {
      const dyg = pdy + ((<usize>(n * COUT + g * COUTG) * <usize>P) << 2);
      const xg = px + ((<usize>(n * C + g * CG) * <usize>plane) << 2);
      if (DIRECT) {
        // B(k, j) = x[n, g·Cg + ra + j, k]
        gemm_f32(COUTG, nr, P, dyg, P, 1, xg + ((<usize>ra * <usize>P) << 2), 1, P, dwp, R, n > 0 ? 1 : 0, packA, packB, tile, 0, 0, nr);
        continue;
      }
      for (let oy0 = 0; oy0 < HO; oy0 += CHUNK) {
        const oy1 = min(HO, oy0 + CHUNK);
        const cols = (oy1 - oy0) * WO;
        im2colRows(xg, col, cols, ra, rb, oy0, oy1);
        // A(i, k) = dy[n, g·Coutg + i, oy0·Wo + k]; B(k, j) = col[j, k]
        gemm_f32(COUTG, nr, cols, dyg + ((<usize>(oy0 * WO)) << 2), P, 1, col, 1, cols, dwp, R, n > 0 || oy0 > 0 ? 1 : 0, packA, packB, tile, 0, 0, nr);
      }
    }
    u += nr;
  }
}
