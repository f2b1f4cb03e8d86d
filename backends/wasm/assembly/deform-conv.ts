/**
 * Deformable convolution (torchvision.ops.deform_conv2d, v1 and v2): the deformable im2col, its
 * adjoint, and the drivers that run them around the shared GEMM (matmul.ts gemm_f32), per sample b
 * (JS: backends/wasm/deform-conv.ts), weight group g and chunk of output pixels [p0, p1):
 *   forward:  col = deform_im2col(x[b]);   out[b, g, :, p0:p1] = W_g · col           (GEMM)
 *   backward: col as above;                dW_g += dy[b, g, :, p0:p1] · colᵀ         (GEMM)
 *             dcol = W_gᵀ · dy[b, g, :, p0:p1]                                       (GEMM)
 *             deform_col2im(dcol) -> dx[b], dOffset[b], dMask[b]
 * The chunk keeps col ([Cg·kh·kw, p1-p0], row stride ldcol) near L2 size.
 *
 * SAMPLING PLAN. Tap t = i·kw + j of output pixel p = (oy, ox), in offset group og, samples
 *   y = oy·sh - ph + i·dh + Δy,   x = ox·sw - pw + j·dw + Δx
 * with (Δy, Δx) = offset[b, og·2K + 2t (+1), p] and modulation m = mask[b, og·K + t, p] (1 without
 * a mask). The integer part is taken from the offset alone, y0 = base + ⌊Δy⌋ and ly = Δy - ⌊Δy⌋, so
 * the cell is the exact one (as in float64 on cpu) even where base + Δy would round in float32.
 * The plan of a (og, t, 256-point sub-chunk) is built with f32x4 lanes over four points: the
 * neighbour offset in the zero-bordered plane (bilinear.ts), and the weights
 * [(1-ly)(1-lx), (1-ly)lx, ly(1-lx), ly·lx]·m, transposed to one f32x4 per point. A point with
 * y ≤ -1, y ≥ H, x ≤ -1 or x ≥ W reads 0 (torchvision's rule): weights 0, the zero block.
 * The plan is shared by the Cin/OG channels of the offset group, whose col rows are then gathered
 * four points at a time (bilinear.ts gather4).
 *
 * ADJOINT (deform_col2im). With gc = dcol[c·K + t, p], for every channel of the offset group:
 *   dx:  the four neighbours in a zero-bordered dx plane get gc·m·w (the border absorbs the
 *        out-of-image ones; the interior is copied out by JS);
 *   G_p += gc·V with V = [v00, v01, v10, v11] (one f32x4 per point).
 * After the channels, with Wy = [-(1-lx), -lx, 1-lx, lx] and Wx = [-(1-ly), 1-ly, -ly, ly]:
 *   dOffset_y += m·(G·Wy), dOffset_x += m·(G·Wx), dMask += G·w
 * (the sums over channels of gc·∂bilinear/∂y etc., factored since they are linear in V). For the
 * offset derivative the actual four neighbours are read even for a point outside the image (as
 * torchvision's coordinate kernel and the cpu do); only all-outside neighbourhoods use the zero
 * block. dOffset and dMask accumulate (+=) over weight groups; JS zeroes them first.
 *
 * THREADS. The work of one sample is cut into items (chunk, weight group), u = chunk·G + g, and
 * each thread runs deform_forward_f32 / deform_backward_f32 over a contiguous range of items with
 * its own scratch: plan work area, col (and dcol) chunk, packed GEMM panels (the GEMM of
 * matmul.ts runs single-threaded inside the job), so one sample costs one dispatch and no lock.
 * Items are split on multiples of G (../deform-conv.ts), so all weight groups of a chunk run on one
 * thread, in order: dOffset/dMask of a pixel are added by one thread in the same order as on one
 * thread. Forward: every out element is one GEMM dot product over the same K blocks whatever the
 * chunking, so the result is bit-identical at any thread count. Backward: dx goes into each
 * thread's own zero-bordered planes, added up per sample by deform_unpad_sum_f32, and dW into each
 * thread's own [Cout, Cg·kh·kw] accumulator (thread 0: dWeight itself), added by deform_sum_f32:
 * those two sums are associated differently than on one thread (float32 rounding; within the
 * op's tolerance). dOffset and dMask are bit-identical.
 *
 * Args block (i32 words): [C, H, W, kh, kw, Ho, Wo, sh, sw, ph, pw, dh, dw, OG, Cg, c0, p0, p1,
 * ldcol, hasMask] (the geometry; c0 is the weight group's first channel, Cg its channel count; c0,
 * p0, p1 and ldcol are set per item by the drivers), then the drivers' words
 * [xpad, offB, maskB, w, outB | dyB, G, Coutg, chunk, doffB, dmaskB] (see DRV below).
 * work: deform_work_bytes(chunk) bytes of scratch.
 */
import { dot4, gather4, pad_planes, quad, scatter, store_aos, unpad_planes } from './bilinear';
import { ldi } from './common';
import { gemm_f32 } from './matmul';

const SUB = 256;

let C = 0, H = 0, W = 0, KH = 0, KW = 0, HO = 0, WO = 0, SH = 0, SW = 0, PH = 0, PW = 0, DH = 0, DW = 0;
let OG = 0, CG = 0, C0 = 0, P0 = 0, P1 = 0, LDCOL = 0, HAS_MASK = 0;
let K = 0, P = 0, COG = 0, WP = 0, PLANE = 0, ZB = 0;

function geometry(args: usize): void {
  C = ldi(args, 0); H = ldi(args, 1); W = ldi(args, 2); KH = ldi(args, 3); KW = ldi(args, 4);
  HO = ldi(args, 5); WO = ldi(args, 6); SH = ldi(args, 7); SW = ldi(args, 8); PH = ldi(args, 9);
  PW = ldi(args, 10); DH = ldi(args, 11); DW = ldi(args, 12); OG = ldi(args, 13); CG = ldi(args, 14);
  C0 = ldi(args, 15); P0 = ldi(args, 16); P1 = ldi(args, 17); LDCOL = ldi(args, 18); HAS_MASK = ldi(args, 19);
  K = KH * KW;
  P = HO * WO;
  COG = C / OG;
  WP = W + 2;
  PLANE = (H + 3) * WP;
  ZB = (H + 1) * WP;
}

// scratch layout (work): BASEY, BASEX i32[chunk + 4] | OFFS i32[SUB] | WTS, WB, WY, WX, GACC v128[SUB] | M f32[SUB]
let BASEY: usize = 0, BASEX: usize = 0, OFFS: usize = 0, WTS: usize = 0, WB: usize = 0, WY: usize = 0, WX: usize = 0, GACC: usize = 0, MM: usize = 0;

/** Scratch bytes for a chunk of n output pixels. */
export function deform_work_bytes(n: i32): i32 {
  return 2 * ((n + 8) << 2) + SUB * (4 + 16 * 5 + 4) + 64;
}

function layout(work: usize): void {
  const n = P1 - P0 + 8;
  BASEY = work;
  BASEX = BASEY + ((<usize>n) << 2);
  OFFS = (BASEX + ((<usize>n) << 2) + 15) & ~15;
  WTS = OFFS + SUB * 4;
  WB = WTS + SUB * 16;
  WY = WB + SUB * 16;
  WX = WY + SUB * 16;
  GACC = WX + SUB * 16;
  MM = GACC + SUB * 16;
  // oy·sh - ph and ox·sw - pw of the chunk's pixels (and of three more, for the last lanes)
  let oy = P0 / WO;
  let ox = P0 - oy * WO;
  for (let k = 0; k < P1 - P0 + 4; k++) {
    store<i32>(BASEY + ((<usize>k) << 2), oy * SH - PH);
    store<i32>(BASEX + ((<usize>k) << 2), ox * SW - PW);
    if (++ox == WO) { ox = 0; oy++; }
  }
}

/**
 * Plans tap t of offset group og for the points [s0, s0 + count) of the chunk (rounded up to a
 * multiple of 4). backward: also the unmasked weights WB, derivative weights WY/WX and m, and the
 * true neighbourhood (not the zero block) for points outside the image whose neighbours are near.
 */
function plan(offB: usize, maskB: usize, og: i32, t: i32, s0: i32, count: i32, backward: bool): void {
  const i = t / KW;
  const j = t - i * KW;
  const rowY = offB + ((<usize>((og * 2 * K + 2 * t) * P)) << 2);
  const rowX = rowY + ((<usize>P) << 2);
  const rowM = HAS_MASK ? maskB + ((<usize>((og * K + t) * P)) << 2) : 0;
  const iy = i32x4.splat(i * DH), ix = i32x4.splat(j * DW);
  const one = f32x4.splat(1), zero = f32x4.splat(0);
  const big = f32x4.splat(16777216.0);
  const nbig = f32x4.splat(-16777216.0);
  const m1 = i32x4.splat(-1);
  const hm1 = i32x4.splat(H - 1), wm1 = i32x4.splat(W - 1);
  const hh = i32x4.splat(H), ww = i32x4.splat(W);
  const wp = i32x4.splat(WP), zb = i32x4.splat(ZB);
  for (let q = 0; q < count; q += 4) {
    const p = s0 + q; // the point's index within the chunk; q: within the sub-chunk (plan entry)
    const a = (<usize>(P0 + p)) << 2; // byte offset of the point in a [P] row
    const dy = v128.load(rowY + a);
    const dx = v128.load(rowX + a);
    const m = rowM ? v128.load(rowM + a) : one;
    const fy = f32x4.floor(dy), fx = f32x4.floor(dx);
    const ly = f32x4.sub(dy, fy), lx = f32x4.sub(dx, fx);
    const bad = v128.or(f32x4.ne(dy, dy), f32x4.ne(dx, dx)); // NaN offsets read 0
    const y0 = i32x4.add(i32x4.add(v128.load(BASEY + ((<usize>p) << 2)), iy), i32x4.trunc_sat_f32x4_s(f32x4.pmin(f32x4.pmax(fy, nbig), big)));
    const x0 = i32x4.add(i32x4.add(v128.load(BASEX + ((<usize>p) << 2)), ix), i32x4.trunc_sat_f32x4_s(f32x4.pmin(f32x4.pmax(fx, nbig), big)));
    // neighbours within the zero border
    const near = v128.andnot(v128.and(v128.and(i32x4.ge_s(y0, m1), i32x4.le_s(y0, hm1)), v128.and(i32x4.ge_s(x0, m1), i32x4.le_s(x0, wm1))), bad);
    // y ≤ -1 (y0 < -1, or y0 = -1 with ly = 0), y ≥ H, and likewise for x: the sample is 0
    const outY = v128.or(v128.or(i32x4.lt_s(y0, m1), i32x4.ge_s(y0, hh)), v128.and(i32x4.eq(y0, m1), f32x4.eq(ly, zero)));
    const outX = v128.or(v128.or(i32x4.lt_s(x0, m1), i32x4.ge_s(x0, ww)), v128.and(i32x4.eq(x0, m1), f32x4.eq(lx, zero)));
    const out = v128.or(v128.or(outY, outX), bad);
    const idx = i32x4.add(i32x4.mul(i32x4.add(y0, i32x4.splat(1)), wp), i32x4.add(x0, i32x4.splat(1)));
    v128.store(OFFS + ((<usize>q) << 2), v128.bitselect(zb, idx, backward ? v128.not(near) : out));
    const hy = f32x4.sub(one, ly), hx = f32x4.sub(one, lx);
    let w00 = f32x4.mul(hy, hx), w01 = f32x4.mul(hy, lx), w10 = f32x4.mul(ly, hx), w11 = f32x4.mul(ly, lx);
    w00 = v128.bitselect(zero, w00, out);
    w01 = v128.bitselect(zero, w01, out);
    w10 = v128.bitselect(zero, w10, out);
    w11 = v128.bitselect(zero, w11, out);
    const pw = (<usize>q) << 4;
    store_aos(WTS + pw, f32x4.mul(w00, m), f32x4.mul(w01, m), f32x4.mul(w10, m), f32x4.mul(w11, m));
    if (backward) {
      store_aos(WB + pw, w00, w01, w10, w11);
      // derivative weights, zero where every neighbour is outside (G is 0 there; no 0·NaN)
      const lyz = v128.and(ly, near), lxz = v128.and(lx, near);
      const hyz = v128.and(hy, near), hxz = v128.and(hx, near);
      store_aos(WY + pw, f32x4.neg(hxz), f32x4.neg(lxz), hxz, lxz);
      store_aos(WX + pw, f32x4.neg(hyz), hyz, f32x4.neg(lyz), lyz);
      v128.store(MM + ((<usize>q) << 2), m);
    }
  }
}

/** Copies the `planes` H×W planes at src into zero-bordered planes at dst (bilinear.ts). */
export function deform_pad_f32(src: usize, dst: usize, planes: i32, h: i32, w: i32): void {
  pad_planes(src, dst, planes, h, w);
}


/**
 * col[(c - c0)·K + t, p - p0] = m·bilinear(x[b, c], y, x) for the weight group's channels and the
 * chunk's pixels (geometry and layout set). xpad: the C zero-bordered planes of x[b]; offB/maskB:
 * offset[b] and mask[b] (or 0). Only the chunk's columns j0 ≤ j < j1.
 */
function im2col(xpad: usize, offB: usize, maskB: usize, col: usize, j0: i32, j1: i32): void {
  const wpB = (<usize>WP) << 2;
  for (let og = C0 / COG; og <= (C0 + CG - 1) / COG; og++) {
    const cA = max(C0, og * COG), cB = min(C0 + CG, (og + 1) * COG);
    for (let t = 0; t < K; t++) {
      for (let s0 = j0; s0 < j1; s0 += SUB) {
        const count = min(SUB, j1 - s0);
        plan(offB, maskB, og, t, s0, count, false);
        for (let c = cA; c < cB; c++) {
          const xp = xpad + ((<usize>(c * PLANE)) << 2);
          const row = col + ((<usize>(((c - C0) * K + t) * LDCOL + s0)) << 2);
          for (let k = 0; k < count; k += 4) {
            v128.store(row + ((<usize>k) << 2), gather4(xp, OFFS + ((<usize>k) << 2), WTS + ((<usize>k) << 4), wpB));
          }
        }
      }
    }
  }
}

/**
 * The adjoint of im2col for dcol [Cg·K, ldcol] (the chunk's columns): adds into the zero-bordered
 * dx planes dxpad (C planes of sample b), doffB (offset grads of sample b) and dmaskB (mask grads,
 * when hasMask). xpad: the zero-bordered planes of x[b]. Only the chunk's columns j0 ≤ j < j1.
 */
function col2im(xpad: usize, dxpad: usize, offB: usize, maskB: usize, dcol: usize, doffB: usize, dmaskB: usize, j0: i32, j1: i32): void {
  const wpB = (<usize>WP) << 2;
  for (let og = C0 / COG; og <= (C0 + CG - 1) / COG; og++) {
    const cA = max(C0, og * COG), cB = min(C0 + CG, (og + 1) * COG);
    for (let t = 0; t < K; t++) {
      const rowY = doffB + ((<usize>((og * 2 * K + 2 * t) * P + P0)) << 2);
      const rowX = rowY + ((<usize>P) << 2);
      const rowM = HAS_MASK ? dmaskB + ((<usize>((og * K + t) * P + P0)) << 2) : 0;
      for (let s0 = j0; s0 < j1; s0 += SUB) {
        const count = min(SUB, j1 - s0);
        plan(offB, maskB, og, t, s0, count, true);
        memory.fill(GACC, 0, (<usize>count) << 4);
        for (let c = cA; c < cB; c++) {
          const xp = xpad + ((<usize>(c * PLANE)) << 2);
          const dp = dxpad + ((<usize>(c * PLANE)) << 2);
          const g = dcol + ((<usize>(((c - C0) * K + t) * LDCOL + s0)) << 2);
          for (let k = 0; k < count; k++) {
            const gc = load<f32>(g + ((<usize>k) << 2));
            if (gc == 0) continue;
            const o = (<usize>load<i32>(OFFS + ((<usize>k) << 2))) << 2;
            const gv = f32x4.splat(gc);
            const ga = GACC + ((<usize>k) << 4);
            v128.store(ga, f32x4.add(v128.load(ga), f32x4.mul(gv, quad(xp + o, wpB))));
            scatter(dp + o, wpB, f32x4.mul(gv, v128.load(WTS + ((<usize>k) << 4))));
          }
        }
        for (let k = 0; k < count; k++) {
          const G = v128.load(GACC + ((<usize>k) << 4));
          const m = load<f32>(MM + ((<usize>k) << 2));
          const a = (<usize>(s0 + k)) << 2;
          store<f32>(rowY + a, load<f32>(rowY + a) + m * dot4(G, v128.load(WY + ((<usize>k) << 4))));
          store<f32>(rowX + a, load<f32>(rowX + a) + m * dot4(G, v128.load(WX + ((<usize>k) << 4))));
          if (rowM) store<f32>(rowM + a, load<f32>(rowM + a) + dot4(G, v128.load(WB + ((<usize>k) << 4))));
        }
      }
    }
  }
}

// ------------------------------------------------------------------ drivers (one call per thread)
/** Index of the drivers' first word in the args block. */
const DRV = 20;
let XPAD: usize = 0, OFFB: usize = 0, MASKB: usize = 0, WPTR: usize = 0, YB: usize = 0, DOFFB: usize = 0, DMASKB: usize = 0;
let NG = 0, COUTG = 0, CHUNK = 0;

function drivers(args: usize): void {
  geometry(args);
  XPAD = <usize>ldi(args, DRV); OFFB = <usize>ldi(args, DRV + 1); MASKB = <usize>ldi(args, DRV + 2);
  WPTR = <usize>ldi(args, DRV + 3); YB = <usize>ldi(args, DRV + 4); NG = ldi(args, DRV + 5);
  COUTG = ldi(args, DRV + 6); CHUNK = ldi(args, DRV + 7); DOFFB = <usize>ldi(args, DRV + 8); DMASKB = <usize>ldi(args, DRV + 9);
}

/** Sets the item's group and pixel range (and the plan's layout); false when the chunk is empty. */
function item(u: i32, work: usize): bool {
  const ch = u / NG;
  const g = u - ch * NG;
  P0 = ch * CHUNK;
  P1 = min(P, P0 + CHUNK);
  if (P1 <= P0) return false;
  C0 = g * CG;
  LDCOL = (P1 - P0 + 3) & ~3;
  layout(work);
  return true;
}

/**
 * Forward of the items [u0, u1) of one sample: col = im2col, then out[b, g, :, p0:p1] = W_g·col
 * (GEMM M = Coutg, N = p1 - p0, K = Cg·kh·kw). col: R·ldcol(chunk) floats; packA/packB/tile: the
 * GEMM's scratch (matmul.ts gemm_f32).
 */
export function deform_forward_f32(args: usize, work: usize, col: usize, packA: usize, packB: usize, tile: usize, u0: i32, u1: i32): void {
  drivers(args);
  const R = CG * K;
  for (let u = u0; u < u1; u++) {
    if (!item(u, work)) continue;
    const n = P1 - P0;
    const g = C0 / CG;
    im2col(XPAD, OFFB, MASKB, col, 0, n);
    const wg = WPTR + ((<usize>(g * COUTG * R)) << 2);
    const outp = YB + ((<usize>(g * COUTG * P + P0)) << 2);
    gemm_f32(COUTG, n, R, wg, R, 1, col, LDCOL, 1, outp, P, 0, packA, packB, tile, 0, 0, n);
  }
}

/**
 * Backward of the items [u0, u1) of one sample (dyB = dy[b] in the args block):
 *   col = im2col;  dW_g += dy_g[:, p0:p1]·colᵀ  (into dw: this thread's [Cout, R] accumulator)
 *   dcol = W_gᵀ·dy_g[:, p0:p1];  col2im(dcol) into dxpad (this thread's C zero-bordered planes,
 *   zeroed here first), dOffset[b] and dMask[b] (the pixels of the items: disjoint between threads).
 */
export function deform_backward_f32(args: usize, work: usize, col: usize, dcol: usize, packA: usize, packB: usize, tile: usize, dw: usize, dxpad: usize, u0: i32, u1: i32): void {
  drivers(args);
  const R = CG * K;
  memory.fill(dxpad, 0, (<usize>C * <usize>PLANE) << 2);
  for (let u = u0; u < u1; u++) {
    if (!item(u, work)) continue;
    const n = P1 - P0;
    const g = C0 / CG;
    const wg = WPTR + ((<usize>(g * COUTG * R)) << 2);
    const dyg = YB + ((<usize>(g * COUTG * P + P0)) << 2);
    im2col(XPAD, OFFB, MASKB, col, 0, n);
    // dW_g += dy_g·colᵀ (B(k, j) = col[j, k])
    gemm_f32(COUTG, R, n, dyg, P, 1, col, 1, LDCOL, dw + ((<usize>(g * COUTG * R)) << 2), R, 1, packA, packB, tile, 0, 0, R);
    // dcol = W_gᵀ·dy_g (A(i, k) = W_g[k, i])
    gemm_f32(R, n, COUTG, wg, 1, R, dyg, P, 1, dcol, LDCOL, 0, packA, packB, tile, 0, 0, n);
    col2im(XPAD, dxpad, OFFB, MASKB, dcol, DOFFB, DMASKB, 0, n);
  }
}

/**
 * dst[b, c] for the planes c0 ≤ c < c1: the sum of the interiors of the `count` threads'
 * zero-bordered dx planes, whose base pointers are the i32 words at bufs (added in that order).
 */
export function deform_unpad_sum_f32(bufs: usize, count: i32, dst: usize, h: i32, w: i32, c0: i32, c1: i32): void {
  const plane = (h + 3) * (w + 2);
  for (let t = 0; t < count; t++) {
    const src = (<usize>ldi(bufs, t)) + ((<usize>(c0 * plane)) << 2);
    unpad_planes(src, dst + ((<usize>(c0 * h * w)) << 2), c1 - c0, h, w, t == 0 ? 0 : 1);
  }
}

/** dst[0..n) += Σ src_t[0..n) over the `count` buffers whose pointers are the i32 words at srcs. */
export function deform_sum_f32(dst: usize, n: i32, srcs: usize, count: i32): void {
  for (let t = 0; t < count; t++) {
    const p = <usize>ldi(srcs, t);
    let i = 0;
    for (; i + 4 <= n; i += 4) {
      const d = dst + ((<usize>i) << 2);
      v128.store(d, f32x4.add(v128.load(d), v128.load(p + ((<usize>i) << 2))));
    }
    for (; i < n; i++) {
      const d = dst + ((<usize>i) << 2);
      store<f32>(d, load<f32>(d) + load<f32>(p + ((<usize>i) << 2)));
    }
  }
}
