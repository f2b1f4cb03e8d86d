/**
 * conv2d helpers around the GEMM (assembly/matmul.ts), and a direct depthwise convolution.
 *
 * General conv (JS drives it, per sample and group): im2col unrolls the receptive fields into a
 * reused scratch buffer col [Cg·kh·kw, Ho·Wo], then out = W_g·col is one GEMM. For stride-1 rows the
 * unrolling is a memory.copy of the valid span plus zero fills at the borders. The backward input
 * pass is dcol = W_gᵀ·dy (GEMM) followed by col2im, which adds each column row back onto the input
 * rows it came from (SIMD adds for stride 1). The backward weight pass is dW += dy·colᵀ (GEMM).
 *
 * The forward pass skips the col buffer altogether: pack_b_conv gathers the GEMM's packed B
 * panels straight from x (implicit im2col), so the unrolled matrix never goes through memory.
 *
 * Depthwise (groups = Cin = Cout, one input channel per filter; RPSTN's per-sample 7x7 kernels):
 * im2col would multiply the memory traffic by kh·kw for a GEMM of inner size kh·kw, so it is done
 * directly. Forward: on a zero-bordered copy of each plane, 8 outputs accumulate all taps in
 * registers (see depthwise_f32). Backward: for each output row and each tap, a row of dx (kept in
 * L1) gets w·(dy row) added over the span of columns where the tap lands inside the image, four
 * per f32x4 for stride 1; the weight gradient takes SIMD dot products over the same spans.
 *
 * Geometry args (i32 words): [C, H, W, kh, kw, Ho, Wo, sh, sw, ph, pw, dh, dw].
 */
import { ldi, madd } from './common';

let C = 0, H = 0, W = 0, KH = 0, KW = 0, HO = 0, WO = 0, SH = 0, SW = 0, PH = 0, PW = 0, DH = 0, DW = 0;

function geometry(args: usize): void {
  C = ldi(args, 0); H = ldi(args, 1); W = ldi(args, 2); KH = ldi(args, 3); KW = ldi(args, 4);
  HO = ldi(args, 5); WO = ldi(args, 6); SH = ldi(args, 7); SW = ldi(args, 8); PH = ldi(args, 9);
  PW = ldi(args, 10); DH = ldi(args, 11); DW = ldi(args, 12);
}

/** Sets the geometry for the implicit-im2col GEMM packing (pack_b_conv). args as above, C = Cg. */
export function conv_geometry(args: usize): void {
  geometry(args);
}

/**
 * Implicit im2col: packs B = col[pc..pc+kc, jc..jc+nc] straight from the input planes at px into
 * the GEMM's NR=8-column strips, without materializing col. Column p is output pixel (oy, ox);
 * row r is tap (c, i, j). When the strip's 8 pixels lie in one output row (stride 1) and the tap
 * lands inside the image, the 8 values are contiguous in x: two f32x4 loads; otherwise per lane,
 * zero outside the image. LANES: 64 bytes of per-thread scratch for the strip's (oy, ox) pairs.
 */
export function pack_b_conv(px: usize, pc: i32, kc: i32, jc: i32, nc: i32, dst: usize, LANES: usize): void {
  const taps = KH * KW;
  for (let j0 = 0; j0 < nc; j0 += 8) {
    const nr = min(8, nc - j0);
    const strip = dst + ((<usize>j0 * <usize>kc) << 2);
    const p0 = jc + j0;
    const oy0 = p0 / WO;
    const ox0 = p0 - oy0 * WO;
    const fast = SW == 1 && nr == 8 && ox0 + 8 <= WO;
    for (let l = 0; l < 8; l++) {
      const p = p0 + l;
      const oy = p / WO;
      store<i32>(LANES + ((<usize>l) << 2), l < nr ? oy : -1000000);
      store<i32>(LANES + 32 + ((<usize>l) << 2), p - oy * WO);
    }
    let c = pc / taps;
    let rem = pc - c * taps;
    let i = rem / KW;
    let j = rem - i * KW;
    for (let k = 0; k < kc; k++) {
      const d = strip + ((<usize>k) << 5);
      const plane = px + ((<usize>(c * H * W)) << 2);
      if (fast) {
        const iy = oy0 * SH - PH + i * DH;
        const ix0 = ox0 - PW + j * DW;
        if (iy < 0 || iy >= H) {
          v128.store(d, i32x4.splat(0));
          v128.store(d, i32x4.splat(0), 16);
        } else if (ix0 >= 0 && ix0 + 8 <= W) {
          const src = plane + ((<usize>(iy * W + ix0)) << 2);
          v128.store(d, v128.load(src));
          v128.store(d, v128.load(src, 16), 16);
        } else {
          const row = plane + ((<usize>(iy * W)) << 2);
          for (let l = 0; l < 8; l++) {
            const ix = ix0 + l;
            store<f32>(d + ((<usize>l) << 2), ix >= 0 && ix < W ? load<f32>(row + ((<usize>ix) << 2)) : 0);
          }
        }
      } else {
        for (let l = 0; l < 8; l++) {
          const iy = load<i32>(LANES + ((<usize>l) << 2)) * SH - PH + i * DH;
          const ix = load<i32>(LANES + 32 + ((<usize>l) << 2)) * SW - PW + j * DW;
          store<f32>(d + ((<usize>l) << 2), iy >= 0 && iy < H && ix >= 0 && ix < W ? load<f32>(plane + ((<usize>(iy * W + ix)) << 2)) : 0);
        }
      }
      if (++j == KW) { j = 0; if (++i == KH) { i = 0; c++; } }
    }
  }
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

/** col[(c·kh + i)·kw + j, oy·Wo + ox] = x[c, oy·sh - ph + i·dh, ox·sw - pw + j·dw] (0 outside), for C channels at px. */
export function im2col_f32(px: usize, col: usize, args: usize): void {
  geometry(args);
  const P = HO * WO;
  for (let c = 0; c < C; c++) {
    for (let i = 0; i < KH; i++) {
      for (let j = 0; j < KW; j++) {
        const row = col + ((<usize>(((c * KH + i) * KW + j) * P)) << 2);
        const o0 = oxBegin(j);
        const o1 = max(o0, oxEnd(j));
        for (let oy = 0; oy < HO; oy++) {
          const iy = oy * SH - PH + i * DH;
          const dst = row + ((<usize>(oy * WO)) << 2);
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
  }
}

/** dx[c, iy, ix] += col[...] for every tap that read it (the adjoint of im2col). dx must be initialized. */
export function col2im_f32(col: usize, pdx: usize, args: usize): void {
  geometry(args);
  const P = HO * WO;
  for (let c = 0; c < C; c++) {
    for (let i = 0; i < KH; i++) {
      for (let j = 0; j < KW; j++) {
        const row = col + ((<usize>(((c * KH + i) * KW + j) * P)) << 2);
        const o0 = oxBegin(j);
        const o1 = max(o0, oxEnd(j));
        for (let oy = 0; oy < HO; oy++) {
          const iy = oy * SH - PH + i * DH;
          if (iy < 0 || iy >= H) continue;
          const src = row + ((<usize>(oy * WO)) << 2);
          const dst = pdx + ((<usize>((c * H + iy) * W)) << 2);
          if (SW == 1) addRow(dst + ((<usize>(o0 - PW + j * DW)) << 2), src + ((<usize>o0) << 2), o1 - o0, 1.0);
          else for (let ox = o0; ox < o1; ox++) {
            const p = dst + ((<usize>(ox * SW - PW + j * DW)) << 2);
            store<f32>(p, load<f32>(p) + load<f32>(src + ((<usize>ox) << 2)));
          }
        }
      }
    }
  }
}

/** dst[0..n) += a·src[0..n), SIMD with a scalar tail (no write past n). */
@inline function addRow(dst: usize, src: usize, n: i32, a: f32): void {
  const va = f32x4.splat(a);
  let k = 0;
  for (; k + 4 <= n; k += 4) {
    const p = dst + ((<usize>k) << 2);
    v128.store(p, f32x4.add(v128.load(p), f32x4.mul(va, v128.load(src + ((<usize>k) << 2)))));
  }
  for (; k < n; k++) {
    const p = dst + ((<usize>k) << 2);
    store<f32>(p, load<f32>(p) + a * load<f32>(src + ((<usize>k) << 2)));
  }
}

/** out[n, c, :] += bias[c] over [N, C, P]. */
export function bias_add_f32(po: usize, pb: usize, N: i32, Cc: i32, P: i32): void {
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < Cc; c++) {
      const b = f32x4.splat(load<f32>(pb + ((<usize>c) << 2)));
      const row = po + ((<usize>((n * Cc + c) * P)) << 2);
      let k = 0;
      for (; k + 4 <= P; k += 4) { const p = row + ((<usize>k) << 2); v128.store(p, f32x4.add(v128.load(p), b)); }
      for (; k < P; k++) { const p = row + ((<usize>k) << 2); store<f32>(p, load<f32>(p) + f32x4.extract_lane(b, 0)); }
    }
  }
}

/**
 * Depthwise forward over N·C planes: out[n, c] = Σ_taps w[c, i, j]·x[n, c, shifted] (+ bias[c]).
 * Each plane is first copied into a zero-bordered scratch plane `pad` (H + 2·ph rows of W + 2·pw),
 * so no tap needs a bounds check. Stride 1: eight outputs of a row (two f32x4) are accumulated over
 * all kh·kw taps in registers (unaligned loads of the shifted input row), then four, then one.
 * Other strides: a scalar loop over the padded plane.
 */
export function depthwise_f32(px: usize, pw: usize, pbias: usize, hasBias: i32, po: usize, N: i32, args: usize, pad: usize): void {
  geometry(args);
  const planeIn = H * W;
  const planeOut = HO * WO;
  const Hp = H + 2 * PH;
  const Wp = W + 2 * PW;
  memory.fill(pad, 0, (<usize>(Hp * Wp)) << 2);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const x = px + ((<usize>((n * C + c) * planeIn)) << 2);
      for (let y = 0; y < H; y++) memory.copy(pad + ((<usize>((y + PH) * Wp + PW)) << 2), x + ((<usize>(y * W)) << 2), (<usize>W) << 2);
      const out = po + ((<usize>((n * C + c) * planeOut)) << 2);
      const wc = pw + ((<usize>(c * KH * KW)) << 2);
      const b: f32 = hasBias ? load<f32>(pbias + ((<usize>c) << 2)) : 0;
      const vb = f32x4.splat(b);
      for (let oy = 0; oy < HO; oy++) {
        const orow = out + ((<usize>(oy * WO)) << 2);
        const top = pad + ((<usize>(oy * SH * Wp)) << 2);
        if (SW == 1) {
          let ox = 0;
          for (; ox + 8 <= WO; ox += 8) {
            let a0 = vb, a1 = vb;
            for (let i = 0; i < KH; i++) {
              const row = top + ((<usize>(i * DH * Wp + ox)) << 2);
              const wr = wc + ((<usize>(i * KW)) << 2);
              for (let j = 0; j < KW; j++) {
                const wv = v128.load32_splat(wr + ((<usize>j) << 2));
                const q = row + ((<usize>(j * DW)) << 2);
                a0 = madd(wv, v128.load(q), a0);
                a1 = madd(wv, v128.load(q, 16), a1);
              }
            }
            v128.store(orow + ((<usize>ox) << 2), a0);
            v128.store(orow + ((<usize>ox) << 2), a1, 16);
          }
          for (; ox + 4 <= WO; ox += 4) {
            let a0 = vb;
            for (let i = 0; i < KH; i++) {
              const row = top + ((<usize>(i * DH * Wp + ox)) << 2);
              const wr = wc + ((<usize>(i * KW)) << 2);
              for (let j = 0; j < KW; j++) a0 = madd(v128.load32_splat(wr + ((<usize>j) << 2)), v128.load(row + ((<usize>(j * DW)) << 2)), a0);
            }
            v128.store(orow + ((<usize>ox) << 2), a0);
          }
          if (ox < WO) {
            // the last 1-3 outputs: one f32x4 (reads up to 3 floats past the padded row, into the
            // next row or the scratch's slack), stored lane by lane
            let a0 = vb;
            for (let i = 0; i < KH; i++) {
              const row = top + ((<usize>(i * DH * Wp + ox)) << 2);
              const wr = wc + ((<usize>(i * KW)) << 2);
              for (let j = 0; j < KW; j++) a0 = madd(v128.load32_splat(wr + ((<usize>j) << 2)), v128.load(row + ((<usize>(j * DW)) << 2)), a0);
            }
            const q = orow + ((<usize>ox) << 2);
            const rem = WO - ox;
            v128.store32_lane(q, a0, 0);
            if (rem > 1) v128.store32_lane(q, a0, 1, 4);
            if (rem > 2) v128.store32_lane(q, a0, 2, 8);
          }
        } else {
          for (let ox = 0; ox < WO; ox++) {
            let a: f32 = b;
            for (let i = 0; i < KH; i++) for (let j = 0; j < KW; j++) a += load<f32>(wc + ((<usize>(i * KW + j)) << 2)) * load<f32>(top + ((<usize>(i * DH * Wp + ox * SW + j * DW)) << 2));
            store<f32>(orow + ((<usize>ox) << 2), a);
          }
        }
      }
    }
  }
}

/** Depthwise input gradient: dx[n, c, shifted] += w[c, i, j]·dy[n, c, oy, :]. dx is zeroed here. */
export function depthwise_bwd_input_f32(pdy: usize, pw: usize, pdx: usize, N: i32, args: usize): void {
  geometry(args);
  const planeIn = H * W;
  const planeOut = HO * WO;
  memory.fill(pdx, 0, (<usize>(N * C * planeIn)) << 2);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const dx = pdx + ((<usize>((n * C + c) * planeIn)) << 2);
      const dy = pdy + ((<usize>((n * C + c) * planeOut)) << 2);
      const wc = pw + ((<usize>(c * KH * KW)) << 2);
      for (let oy = 0; oy < HO; oy++) {
        const grow = dy + ((<usize>(oy * WO)) << 2);
        for (let i = 0; i < KH; i++) {
          const iy = oy * SH - PH + i * DH;
          if (iy < 0 || iy >= H) continue;
          const xrow = dx + ((<usize>(iy * W)) << 2);
          for (let j = 0; j < KW; j++) {
            const wv = load<f32>(wc + ((<usize>(i * KW + j)) << 2));
            const o0 = oxBegin(j);
            const o1 = oxEnd(j);
            if (o1 <= o0) continue;
            if (SW == 1) addRow(xrow + ((<usize>(o0 - PW + j * DW)) << 2), grow + ((<usize>o0) << 2), o1 - o0, wv);
            else for (let ox = o0; ox < o1; ox++) {
              const p = xrow + ((<usize>(ox * SW - PW + j * DW)) << 2);
              store<f32>(p, load<f32>(p) + wv * load<f32>(grow + ((<usize>ox) << 2)));
            }
          }
        }
      }
    }
  }
}

/** Depthwise weight gradient: dw[c, i, j] = Σ_n Σ_oy Σ_ox dy[n, c, oy, ox]·x[n, c, shifted] (SIMD dots). */
export function depthwise_bwd_weight_f32(px: usize, pdy: usize, pdw: usize, N: i32, args: usize): void {
  geometry(args);
  const planeIn = H * W;
  const planeOut = HO * WO;
  for (let c = 0; c < C; c++) {
    for (let i = 0; i < KH; i++) {
      for (let j = 0; j < KW; j++) {
        const o0 = oxBegin(j);
        const o1 = oxEnd(j);
        let acc = f32x4.splat(0);
        let s: f32 = 0;
        for (let n = 0; n < N; n++) {
          const x = px + ((<usize>((n * C + c) * planeIn)) << 2);
          const dy = pdy + ((<usize>((n * C + c) * planeOut)) << 2);
          for (let oy = 0; oy < HO; oy++) {
            const iy = oy * SH - PH + i * DH;
            if (iy < 0 || iy >= H || o1 <= o0) continue;
            const g = dy + ((<usize>(oy * WO)) << 2);
            const xr = x + ((<usize>(iy * W)) << 2);
            if (SW == 1) {
              const xs = xr + ((<usize>(o0 - PW + j * DW)) << 2);
              const gs = g + ((<usize>o0) << 2);
              const len = o1 - o0;
              let k = 0;
              for (; k + 4 <= len; k += 4) acc = f32x4.add(acc, f32x4.mul(v128.load(gs + ((<usize>k) << 2)), v128.load(xs + ((<usize>k) << 2))));
              for (; k < len; k++) s += load<f32>(gs + ((<usize>k) << 2)) * load<f32>(xs + ((<usize>k) << 2));
            } else {
              for (let ox = o0; ox < o1; ox++) s += load<f32>(g + ((<usize>ox) << 2)) * load<f32>(xr + ((<usize>(ox * SW - PW + j * DW)) << 2));
            }
          }
        }
        const total = s + (f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1)) + (f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3));
        store<f32>(pdw + ((<usize>((c * KH + i) * KW + j)) << 2), total);
      }
    }
  }
}
