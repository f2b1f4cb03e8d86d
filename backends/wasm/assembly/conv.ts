/**
 * conv2d around the GEMM (assembly/matmul.ts): the forward's implicit im2col and the bias add.
 * The other conv kernels live beside it and are re-exported from here:
 *   conv-backward.ts  the backward passes of the GEMM-based conv (threaded, per-thread col chunks);
 *   depthwise.ts      the direct depthwise kernels (groups = Cin = Cout), forward and backward.
 *
 * Forward (JS drives it, per sample and group): out = W_g·im2col(x[n, g]) is one GEMM whose packed
 * B panels pack_b_conv gathers straight from x (implicit im2col), so the unrolled matrix
 * [Cg·kh·kw, Ho·Wo] never goes through memory; the GEMM splits its columns between threads.
 *
 * The epilogue (bias, then conv2d's fused clamp) runs inside the GEMM's last write-back of each
 * register tile (matmul.ts gemm_conv_f32). bias_clamp_f32 applies the same ops in one pass over a
 * block of the output, for the skinny 1x1 convs that take the unpacked GEMM (and as the tests'
 * unfused reference).
 *
 * Geometry args (i32 words): [C, H, W, kh, kw, Ho, Wo, sh, sw, ph, pw, dh, dw] (C = Cg here; ph,
 * pw are the top and left padding: the bottom/right sides only enter through Ho, Wo).
 */
export * from './conv-backward';
export * from './depthwise';
import { ldi } from './common';
import { clampRow } from './depthwise';

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
 * row r is tap (c, i, j). When the strip's 8 pixels lie in one output row and the tap lands inside
 * the image, the 8 values are contiguous in x (stride 1: two f32x4 loads) or every other value
 * (stride 2: four loads and two even-lane shuffles); otherwise per lane, zero outside the image.
 * LANES: 64 bytes of per-thread scratch for the strip's (oy, ox) pairs.
 */
export function pack_b_conv(px: usize, pc: i32, kc: i32, jc: i32, nc: i32, dst: usize, LANES: usize): void {
  const taps = KH * KW;
  for (let j0 = 0; j0 < nc; j0 += 8) {
    const nr = min(8, nc - j0);
    const strip = dst + ((<usize>j0 * <usize>kc) << 2);
    const p0 = jc + j0;
    const oy0 = p0 / WO;
    const ox0 = p0 - oy0 * WO;
    const fast = SW <= 2 && nr == 8 && ox0 + 8 <= WO;
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
        const ix0 = ox0 * SW - PW + j * DW;
        if (iy < 0 || iy >= H) {
          v128.store(d, i32x4.splat(0));
          v128.store(d, i32x4.splat(0), 16);
        } else if (ix0 >= 0 && ix0 + 7 * SW < W) {
          const src = plane + ((<usize>(iy * W + ix0)) << 2);
          if (SW == 1) {
            v128.store(d, v128.load(src));
            v128.store(d, v128.load(src, 16), 16);
          } else {
            // stride 2: the even lanes of the 15 columns, loaded [0..3] [3..6] and [8..11] [11..14]
            v128.store(d, v128.shuffle<f32>(v128.load(src), v128.load(src, 12), 0, 2, 5, 7));
            v128.store(d, v128.shuffle<f32>(v128.load(src, 32), v128.load(src, 44), 0, 2, 5, 7), 16);
          }
        } else {
          const row = plane + ((<usize>(iy * W)) << 2);
          for (let l = 0; l < 8; l++) {
            const ix = ix0 + l * SW;
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
 * conv2d's epilogue over the rows [r0, r1) and columns [c0, c1) of the output [N·Cc, P] (row
 * r = n·Cc + c): out[r, c0:c1] = min(max(out[r, c0:c1] + bias[c], lo), hi). hasBias = 0: no bias
 * (pb unused); clampOn = 0: no clamp. lo, hi are the bits of two f32 (thread jobs pass i32
 * arguments only).
 */
export function bias_clamp_f32(po: usize, pb: usize, hasBias: i32, Cc: i32, ld: i32, r0: i32, r1: i32, c0: i32, c1: i32, clampOn: i32, loBits: i32, hiBits: i32): void {
  const lo = reinterpret<f32>(loBits);
  const hi = reinterpret<f32>(hiBits);
  const P = c1 - c0;
  if (P <= 0) return;
  for (let r = r0; r < r1; r++) {
    const row = po + ((<usize>r * <usize>ld + <usize>c0) << 2);
    if (!hasBias) {
      if (clampOn) clampRow(row, P, lo, hi);
      continue;
    }
    const bs = load<f32>(pb + ((<usize>(r % Cc)) << 2));
    const b = f32x4.splat(bs);
    let k = 0;
    if (clampOn) {
      // one pass: add, then clamp, per f32x4
      const vl = f32x4.splat(lo);
      const vh = f32x4.splat(hi);
      for (; k + 4 <= P; k += 4) { const p = row + ((<usize>k) << 2); v128.store(p, f32x4.min(f32x4.max(f32x4.add(v128.load(p), b), vl), vh)); }
      for (; k < P; k++) { const p = row + ((<usize>k) << 2); store<f32>(p, min<f32>(max<f32>(load<f32>(p) + bs, lo), hi)); }
    } else {
      for (; k + 4 <= P; k += 4) { const p = row + ((<usize>k) << 2); v128.store(p, f32x4.add(v128.load(p), b)); }
      for (; k < P; k++) { const p = row + ((<usize>k) << 2); store<f32>(p, load<f32>(p) + bs); }
    }
  }
}
