/**
 * Depthwise conv2d (groups = Cin = Cout: one kh x kw filter per channel; MobileNet/MoveNet's 3x3
 * blocks, RPSTN's 7x7) on NCHW planes, forward and both backward passes, threaded by JS
 * (backends/wasm/conv.ts) over disjoint ranges of work units.
 *
 * Forward (depthwise_fwd_f32). SIMD over output x in NCHW (the tensors' own layout, so no
 * transposes; 4 output channels per f32x4 would need NHWC blocks in and out): a group of 8 (then
 * 4) consecutive outputs of one output row accumulates all taps in two (one) f32x4 registers,
 * starting from the bias, and is stored once. Per tap, the input values under the group are
 *   - stride 1: one unaligned f32x4 load per 4 outputs, at the shifted column;
 *   - stride 2: the even lanes of x[b..b+6]: two loads, [b..b+3] and [b+3..b+6], and one shuffle
 *     (lanes 0, 2 of the first and 1, 3 of the second; a single shufps on x64), so nothing past
 *     the last needed column is read;
 *   - stride ≥ 3: a scalar loop (no network here uses it).
 * The 3x3 case unrolls the column taps. Padding, two ways (JS picks, conv.ts depthwisePadded):
 *   - in place (no copy): per output row, only the kernel rows inside the image are visited
 *     ([i0, i1)); the columns split into a left border, an interior where every tap lands inside
 *     the row (unmasked groups) and a right border. Border groups use the same loads with each
 *     lane and-masked to zero where its tap falls outside the row; those loads may touch a few
 *     floats of the neighbouring row or past the plane, within the allocator's 16-byte tail guard
 *     (more right padding than that falls back to a scalar loop with per-tap checks);
 *   - padded plane: each plane is first copied into a zero-bordered per-thread scratch plane and
 *     computed there as one big interior. Cheaper for stride 1 and narrow rows, where masked border
 *     groups would be a large share of the work (the copy is a read and write of a plane that the
 *     taps then read from L1/L2).
 * A row whose width is not a multiple of 4 ends with a group overlapping the previous one (the
 * same values written again). Rows narrower than 4 are scalar. Only the top/left padding (ph, pw)
 * and the output size (Ho, Wo) enter, so asymmetric padding (TF's 'SAME' at stride 2: 0 before,
 * 1 after) is just ph/pw = 0 with the same Ho/Wo. Skipping a padded tap equals adding w·0 only for
 * a finite w: a channel with a non-finite weight takes a scalar loop over the zero-padded input
 * (w·0 = NaN there, as in PyTorch). Memory traffic: each input row is read by kh output rows
 * from L1/L2, each output written once.
 * Work units: (plane, output row) pairs, u = (n·C + c)·Ho + oy; a thread computes [u0, u1).
 * Epilogue: the accumulators start from the bias; with a clamp (conv2d's fused ReLU/ReLU6), each
 * finished output row is clamped in place while it is in L1 (f32x4.min/max, NaN propagating).
 *
 * Backward input (depthwise_bwd_input_f32): for each output row and tap, a row of dx (in L1) gets
 * w·(dy row) added over the span of columns where the tap lands inside the image, f32x4; for
 * stride s > 1 the dy row is first spread out with s − 1 zeros between values (a per-thread
 * scratch row), which turns the strided scatter into the same contiguous update. Units: dx planes
 * (n·C + c), [p0, p1); each plane is zeroed then accumulated, so threads write disjoint planes.
 * Backward weight (depthwise_bwd_weight_f32): dw[c, i, j] = Σ_n Σ_oy dy row · x row over the same
 * spans (f32x4 dot products; for stride 2 with the forward's even-lane loads, scalar for stride
 * ≥ 3). Units: channels [c0, c1), each summed over the whole batch in a fixed order, so the result
 * does not depend on the thread count (no cross-thread reduction). Like the old kernels, padded
 * taps are skipped here (dy·0 is not added), so a non-finite dy does not spread NaN into dw
 * through the padding the way PyTorch's im2col does.
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

/** Output (oy, ox) of one plane with per-tap column checks, over the kernel rows [i0, i1). */
@inline function outChecked(x: usize, wc: usize, b: f32, iy0: i32, ox: i32, i0: i32, i1: i32): f32 {
  let a = b;
  const ix0 = ox * SW - PW;
  for (let i = i0; i < i1; i++) {
    const row = x + ((<usize>((iy0 + i * DH) * W)) << 2);
    const wr = wc + ((<usize>(i * KW)) << 2);
    for (let j = 0; j < KW; j++) {
      const ix = ix0 + j * DW;
      if (ix >= 0 && ix < W) a += load<f32>(wr + ((<usize>j) << 2)) * load<f32>(row + ((<usize>ix) << 2));
    }
  }
  return a;
}

/**
 * Output (oy, ox) as PyTorch computes it over the zero-padded input: every tap contributes,
 * w·0 for taps in the padding (NaN when w is ±Infinity or NaN). For channels with a non-finite
 * weight only; elsewhere w·0 = 0 and skipping those taps gives the same sum.
 */
function outPadded(x: usize, wc: usize, b: f32, oy: i32, ox: i32): f32 {
  let a = b;
  const iy0 = oy * SH - PH;
  const ix0 = ox * SW - PW;
  for (let i = 0; i < KH; i++) {
    const iy = iy0 + i * DH;
    for (let j = 0; j < KW; j++) {
      const ix = ix0 + j * DW;
      const v: f32 = iy >= 0 && iy < H && ix >= 0 && ix < W ? load<f32>(x + ((<usize>(iy * W + ix)) << 2)) : 0;
      a += load<f32>(wc + ((<usize>(i * KW + j)) << 2)) * v;
    }
  }
  return a;
}

/** True when all n floats at p are finite. */
function allFinite(p: usize, n: i32): bool {
  for (let k = 0; k < n; k++) {
    const v = load<f32>(p + ((<usize>k) << 2));
    if (v - v != 0) return false;
  }
  return true;
}

/** The even lanes of the 7 floats at q: [q0, q2, q4, q6] (loads q[0..3] and q[3..6]). */
@inline function even4(q: usize): v128 {
  return v128.shuffle<f32>(v128.load(q), v128.load(q, 12), 0, 2, 5, 7);
}

/**
 * Four outputs ox..ox+3 (stride 1 or 2) near a border: the same loads as the interior groups, each
 * lane zeroed (v128.and with a column mask) where its tap lands outside the row. Loads may touch
 * the previous/next row or up to RIGHT_MAX floats past the plane (the block's tail guard); those
 * lanes are masked out.
 */
@inline function groupChecked(x: usize, wc: usize, vb: v128, iy0: i32, ox: i32, i0: i32, i1: i32): v128 {
  let a = vb;
  const lanes = SW == 1 ? i32x4(0, 1, 2, 3) : i32x4(0, 2, 4, 6);
  const base = ox * SW - PW;
  const wv = i32x4.splat(W);
  for (let j = 0; j < KW; j++) {
    const col = base + j * DW;
    const cv = i32x4.add(i32x4.splat(col), lanes);
    const m = v128.and(i32x4.ge_s(cv, i32x4.splat(0)), i32x4.lt_s(cv, wv));
    for (let i = i0; i < i1; i++) {
      // (iy·W + col) may be negative on the first row: the u32 address arithmetic wraps to x − 4·|…|
      const q = x + ((<usize>((iy0 + i * DH) * W + col)) << 2);
      const v = SW == 1 ? v128.load(q) : even4(q);
      a = madd(v128.load32_splat(wc + ((<usize>(i * KW + j)) << 2)), v128.and(v, m), a);
    }
  }
  return a;
}

/** Four interior outputs ox..ox+3 (stride 1 or 2; every tap inside the row): one f32x4. */
@inline function group4(x: usize, wc: usize, vb: v128, iy0: i32, ox: i32, i0: i32, i1: i32): v128 {
  let a0 = vb;
  const dw4 = (<usize>DW) << 2;
  for (let i = i0; i < i1; i++) {
    const row = x + ((<usize>((iy0 + i * DH) * W + ox * SW - PW)) << 2);
    const wr = wc + ((<usize>(i * KW)) << 2);
    if (SW == 1) for (let j = 0; j < KW; j++) a0 = madd(v128.load32_splat(wr + ((<usize>j) << 2)), v128.load(row + (<usize>j) * dw4), a0);
    else for (let j = 0; j < KW; j++) a0 = madd(v128.load32_splat(wr + ((<usize>j) << 2)), even4(row + (<usize>j) * dw4), a0);
  }
  return a0;
}

/** Floats a border group may read past the end of a plane row: the 16-byte tail guard of a block. */
const RIGHT_MAX = 4;

/**
 * One output row of one plane: the left border and the right end in masked groups of 4 (the last
 * one overlapping the interior when Wo is not a multiple of 4: it recomputes the same values), the
 * interior [oxA, oxB) in unmasked groups of 8 then 4. The borders are scalar when the right
 * padding exceeds RIGHT_MAX columns; whole rows are scalar when narrower than 4 or for stride ≥ 3.
 */
function fwdRow(x: usize, wc: usize, b: f32, orow: usize, oy: i32, oxA: i32, oxB: i32, simdBorders: bool): void {
  const iy0 = oy * SH - PH;
  // kernel rows inside the image: iy0 + i·DH in [0, H) (no integer division for DH = 1)
  let i0 = 0;
  let i1 = KH;
  if (DH == 1) {
    i0 = max(0, -iy0);
    i1 = min(KH, H - iy0);
  } else {
    if (iy0 < 0) i0 = (-iy0 + DH - 1) / DH;
    i1 = H - 1 - iy0 < 0 ? 0 : min(KH, (H - 1 - iy0) / DH + 1);
  }
  if (i1 <= i0) {
    // no kernel row inside the image: the bias alone
    for (let ox = 0; ox < WO; ox++) store<f32>(orow + ((<usize>ox) << 2), b);
    return;
  }
  if (WO < 4 || SW > 2) {
    for (let ox = 0; ox < WO; ox++) store<f32>(orow + ((<usize>ox) << 2), outChecked(x, wc, b, iy0, ox, i0, i1));
    return;
  }
  const vb = f32x4.splat(b);
  let ox = 0;
  if (simdBorders) {
    for (; ox < oxA; ox += 4) {
      const g = min(ox, WO - 4);
      v128.store(orow + ((<usize>g) << 2), groupChecked(x, wc, vb, iy0, g, i0, i1));
    }
  } else {
    for (; ox < oxA; ox++) store<f32>(orow + ((<usize>ox) << 2), outChecked(x, wc, b, iy0, ox, i0, i1));
  }
  const dw4 = (<usize>DW) << 2;
  if (SW == 1) {
    if (KW == 3) {
      for (; ox + 8 <= oxB; ox += 8) {
        let a0 = vb, a1 = vb;
        for (let i = i0; i < i1; i++) {
          const q = x + ((<usize>((iy0 + i * DH) * W + ox - PW)) << 2);
          const wr = wc + ((<usize>(i * 3)) << 2);
          const w0 = v128.load32_splat(wr), w1 = v128.load32_splat(wr, 4), w2 = v128.load32_splat(wr, 8);
          a0 = madd(w0, v128.load(q), a0); a1 = madd(w0, v128.load(q, 16), a1);
          a0 = madd(w1, v128.load(q + dw4), a0); a1 = madd(w1, v128.load(q + dw4, 16), a1);
          a0 = madd(w2, v128.load(q + 2 * dw4), a0); a1 = madd(w2, v128.load(q + 2 * dw4, 16), a1);
        }
        v128.store(orow + ((<usize>ox) << 2), a0);
        v128.store(orow + ((<usize>ox) << 2), a1, 16);
      }
    } else {
      for (; ox + 8 <= oxB; ox += 8) {
        let a0 = vb, a1 = vb;
        for (let i = i0; i < i1; i++) {
          const row = x + ((<usize>((iy0 + i * DH) * W + ox - PW)) << 2);
          const wr = wc + ((<usize>(i * KW)) << 2);
          for (let j = 0; j < KW; j++) {
            const wv = v128.load32_splat(wr + ((<usize>j) << 2));
            const q = row + (<usize>j) * dw4;
            a0 = madd(wv, v128.load(q), a0);
            a1 = madd(wv, v128.load(q, 16), a1);
          }
        }
        v128.store(orow + ((<usize>ox) << 2), a0);
        v128.store(orow + ((<usize>ox) << 2), a1, 16);
      }
    }
  } else {
    if (KW == 3) {
      for (; ox + 8 <= oxB; ox += 8) {
        let a0 = vb, a1 = vb;
        for (let i = i0; i < i1; i++) {
          const q = x + ((<usize>((iy0 + i * DH) * W + 2 * ox - PW)) << 2);
          const wr = wc + ((<usize>(i * 3)) << 2);
          const w0 = v128.load32_splat(wr), w1 = v128.load32_splat(wr, 4), w2 = v128.load32_splat(wr, 8);
          a0 = madd(w0, even4(q), a0); a1 = madd(w0, even4(q + 32), a1);
          a0 = madd(w1, even4(q + dw4), a0); a1 = madd(w1, even4(q + dw4 + 32), a1);
          a0 = madd(w2, even4(q + 2 * dw4), a0); a1 = madd(w2, even4(q + 2 * dw4 + 32), a1);
        }
        v128.store(orow + ((<usize>ox) << 2), a0);
        v128.store(orow + ((<usize>ox) << 2), a1, 16);
      }
    }
  }
  for (; ox + 4 <= oxB; ox += 4) v128.store(orow + ((<usize>ox) << 2), group4(x, wc, vb, iy0, ox, i0, i1));
  // the interior's last 1-3 outputs and the right border: when the interior reaches the row's
  // end, one unmasked group overlapping the previous one (the same values written again)
  if (ox < WO && oxB >= WO && WO - 4 >= oxA) {
    v128.store(orow + ((<usize>(WO - 4)) << 2), group4(x, wc, vb, iy0, WO - 4, i0, i1));
  } else if (simdBorders) {
    while (ox < WO) {
      const g = min(ox, WO - 4);
      v128.store(orow + ((<usize>g) << 2), groupChecked(x, wc, vb, iy0, g, i0, i1));
      ox = g + 4;
    }
  } else {
    for (; ox < WO; ox++) store<f32>(orow + ((<usize>ox) << 2), outChecked(x, wc, b, iy0, ox, i0, i1));
  }
}

/** p[0..n) = min(max(p[k], lo), hi) in place, NaN propagating (f32x4.min/max, f32.min/max). */
export function clampRow(p: usize, n: i32, lo: f32, hi: f32): void {
  const vl = f32x4.splat(lo);
  const vh = f32x4.splat(hi);
  let k = 0;
  for (; k + 4 <= n; k += 4) {
    const q = p + ((<usize>k) << 2);
    v128.store(q, f32x4.min(f32x4.max(v128.load(q), vl), vh));
  }
  for (; k < n; k++) {
    const q = p + ((<usize>k) << 2);
    store<f32>(q, min<f32>(max<f32>(load<f32>(q), lo), hi));
  }
}

/**
 * Depthwise forward over the units [u0, u1) of u = (n·C + c)·Ho + oy (output rows of every
 * plane): out[n, c, oy, :] = bias[c] + Σ_taps w[c, i, j]·x[n, c, oy·sh − ph + i·dh, ox·sw − pw + j·dw]
 * (zero outside the image). hasBias = 0: no bias (pbias unused). pad ≠ 0: scratch of
 * depthwise_pad_floats(args) floats; each plane is first copied into it with a zero border and
 * computed there without border groups (for narrow rows, where the masked border groups would
 * be a large share of the work). clampOn ≠ 0: every output is then clamped to [lo, hi], given as
 * the bits of two f32 (loBits, hiBits; thread jobs pass i32 arguments only).
 */
export function depthwise_fwd_f32(px: usize, pw: usize, pbias: usize, hasBias: i32, po: usize, args: usize, u0: i32, u1: i32, pad: usize, clampOn: i32, loBits: i32, hiBits: i32): void {
  const lo = reinterpret<f32>(loBits);
  const hi = reinterpret<f32>(hiBits);
  geometry(args);
  if (HO <= 0 || WO <= 0) return;
  const h = H, w = W, ph = PH, pwl = PW;
  // the padded plane: ph rows above, pb below, pw columns left, pr right
  const pb = max(0, (HO - 1) * SH + (KH - 1) * DH + 1 - PH - H);
  const pr = max(0, (WO - 1) * SW + (KW - 1) * DW + 1 - PW - W);
  const Hp = PH + H + pb;
  const Wp = PW + W + pr;
  if (pad) memory.fill(pad, 0, ((<usize>Hp * <usize>Wp) << 2) + 16);
  const planeIn = H * W;
  // the first unit's plane and row; later planes start at row 0 (no divisions per plane)
  let p = u0 / HO;
  let oyBegin = u0 - p * HO;
  let c = p % C;
  let u = u0;
  while (u < u1) {
    const oyEnd = min(HO, oyBegin + (u1 - u));
    let x = px + ((<usize>p * <usize>planeIn) << 2);
    const out = po + ((<usize>p * <usize>(HO * WO)) << 2);
    const wc = pw + ((<usize>(c * KH * KW)) << 2);
    const b: f32 = hasBias ? load<f32>(pbias + ((<usize>c) << 2)) : 0;
    if (!allFinite(wc, KH * KW)) {
      for (let oy = oyBegin; oy < oyEnd; oy++) {
        for (let ox = 0; ox < WO; ox++) store<f32>(out + ((<usize>(oy * WO + ox)) << 2), outPadded(x, wc, b, oy, ox));
        if (clampOn) clampRow(out + ((<usize>(oy * WO)) << 2), WO, lo, hi);
      }
    } else {
      if (pad) {
        for (let y = 0; y < h; y++) copyRow(pad + ((<usize>((y + ph) * Wp + pwl)) << 2), x + ((<usize>(y * w)) << 2), w);
        x = pad;
        H = Hp; W = Wp; PH = 0; PW = 0;
      }
      // the interior: output columns where every tap lands inside the row
      const oxA = oxBegin(0);
      const oxB = max(oxA, oxEnd(KW - 1));
      // columns the last output's taps reach past the row end (the right padding)
      const simdBorders = (WO - 1) * SW - PW + (KW - 1) * DW - (W - 1) <= RIGHT_MAX;
      for (let oy = oyBegin; oy < oyEnd; oy++) {
        const orow = out + ((<usize>(oy * WO)) << 2);
        fwdRow(x, wc, b, orow, oy, oxA, oxB, simdBorders);
        if (clampOn) clampRow(orow, WO, lo, hi);
      }
      H = h; W = w; PH = ph; PW = pwl;
    }
    u += oyEnd - oyBegin;
    oyBegin = 0;
    p++;
    if (++c == C) c = 0;
  }
}

/** dst[0..n) = src[0..n): f32x4 copies and a scalar tail (no write past n). */
@inline function copyRow(dst: usize, src: usize, n: i32): void {
  let k = 0;
  for (; k + 4 <= n; k += 4) v128.store(dst + ((<usize>k) << 2), v128.load(src + ((<usize>k) << 2)));
  for (; k < n; k++) store<f32>(dst + ((<usize>k) << 2), load<f32>(src + ((<usize>k) << 2)));
}

/** Floats of the padded-plane scratch of depthwise_fwd_f32 for geometry args. */
export function depthwise_pad_floats(args: usize): i32 {
  geometry(args);
  const pb = max(0, (HO - 1) * SH + (KH - 1) * DH + 1 - PH - H);
  const pr = max(0, (WO - 1) * SW + (KW - 1) * DW + 1 - PW - W);
  return (PH + H + pb) * (PW + W + pr) + 4;
}

/** dst[0..n) += a·src[0..n), SIMD with a scalar tail (no write past n). */
@inline function addRow(dst: usize, src: usize, n: i32, a: f32): void {
  const va = f32x4.splat(a);
  let k = 0;
  for (; k + 4 <= n; k += 4) {
    const p = dst + ((<usize>k) << 2);
    v128.store(p, madd(va, v128.load(src + ((<usize>k) << 2)), v128.load(p)));
  }
  for (; k < n; k++) {
    const p = dst + ((<usize>k) << 2);
    store<f32>(p, load<f32>(p) + a * load<f32>(src + ((<usize>k) << 2)));
  }
}

/** Floats of the row scratch of depthwise_bwd_input_f32 (stride > 1) for geometry args. */
export function depthwise_row_floats(args: usize): i32 {
  geometry(args);
  return max(SW * WO, W + PW) + 8;
}

/**
 * Depthwise input gradient over the dx planes [p0, p1) (plane = n·C + c):
 * dx[n, c, oy·sh − ph + i·dh, ox·sw − pw + j·dw] += w[c, i, j]·dy[n, c, oy, ox]. Each plane is
 * zeroed here first. Stride 1: per dy row and tap, dx row += w·(dy row) over the columns where the
 * tap lands inside the image (f32x4). Stride s > 1: the dy row is first spread into `row` (scratch
 * of depthwise_row_floats(args) floats) with s − 1 zeros between values, after which every tap is
 * the same contiguous f32x4 update as for stride 1 (twice the multiply-adds for s = 2, all of
 * them SIMD, instead of a strided scalar scatter).
 */
export function depthwise_bwd_input_f32(pdy: usize, pw: usize, pdx: usize, args: usize, p0: i32, p1: i32, row: usize): void {
  geometry(args);
  const planeIn = H * W;
  const planeOut = HO * WO;
  // spread row length: every read index ix + pw − j·dw (0 ≤ ix < W) below L is defined
  const L = max(SW * WO, W + PW);
  if (SW > 1) memory.fill(row, 0, (<usize>L) << 2);
  for (let p = p0; p < p1; p++) {
    const c = p % C;
    const dx = pdx + ((<usize>p * <usize>planeIn) << 2);
    // zeroed plane by plane: it is still in cache when the updates come
    memory.fill(dx, 0, (<usize>planeIn) << 2);
    const dy = pdy + ((<usize>p * <usize>planeOut) << 2);
    const wc = pw + ((<usize>(c * KH * KW)) << 2);
    for (let oy = 0; oy < HO; oy++) {
      let grow = dy + ((<usize>(oy * WO)) << 2);
      if (SW > 1) {
        // row[ox·s] = dy[oy, ox]; the zeros between stay from the fill
        for (let ox = 0; ox < WO; ox++) store<f32>(row + ((<usize>(ox * SW)) << 2), load<f32>(grow + ((<usize>ox) << 2)));
        grow = row;
      }
      for (let i = 0; i < KH; i++) {
        const iy = oy * SH - PH + i * DH;
        if (iy < 0 || iy >= H) continue;
        const xrow = dx + ((<usize>(iy * W)) << 2);
        for (let j = 0; j < KW; j++) {
          const wv = load<f32>(wc + ((<usize>(i * KW + j)) << 2));
          if (SW == 1) {
            const o0 = oxBegin(j);
            const o1 = oxEnd(j);
            if (o1 > o0) addRow(xrow + ((<usize>(o0 - PW + j * DW)) << 2), grow + ((<usize>o0) << 2), o1 - o0, wv);
          } else {
            // dx[ix] += w·row[ix + pw − j·dw] for 0 ≤ ix < W and 0 ≤ ix + pw − j·dw < L
            const shift = PW - j * DW;
            const ix0 = max(0, -shift);
            const ix1 = min(W, L - shift);
            if (ix1 > ix0) addRow(xrow + ((<usize>ix0) << 2), grow + ((<usize>(ix0 + shift)) << 2), ix1 - ix0, wv);
          }
        }
      }
    }
  }
}

/**
 * Depthwise weight gradient for the channels [c0, c1), over a batch of N:
 * dw[c, i, j] = Σ_n Σ_oy Σ_ox dy[n, c, oy, ox]·x[n, c, oy·sh − ph + i·dh, ox·sw − pw + j·dw].
 */
export function depthwise_bwd_weight_f32(px: usize, pdy: usize, pdw: usize, N: i32, args: usize, c0: i32, c1: i32): void {
  geometry(args);
  const planeIn = H * W;
  const planeOut = HO * WO;
  for (let c = c0; c < c1; c++) {
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
              for (; k + 4 <= len; k += 4) acc = madd(v128.load(gs + ((<usize>k) << 2)), v128.load(xs + ((<usize>k) << 2)), acc);
              for (; k < len; k++) s += load<f32>(gs + ((<usize>k) << 2)) * load<f32>(xs + ((<usize>k) << 2));
            } else if (SW == 2) {
              // the even lanes of x from column 2·ox − pw + j·dw: exactly the columns the taps read
              const xs = xr + ((<usize>(2 * o0 - PW + j * DW)) << 2);
              const gs = g + ((<usize>o0) << 2);
              const len = o1 - o0;
              let k = 0;
              for (; k + 4 <= len; k += 4) acc = madd(v128.load(gs + ((<usize>k) << 2)), even4(xs + ((<usize>(2 * k)) << 2)), acc);
              for (; k < len; k++) s += load<f32>(gs + ((<usize>k) << 2)) * load<f32>(xs + ((<usize>(2 * k)) << 2));
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
