/**
 * Pooling over N·C independent planes (NCHW): maxPool2d (+ indices), avgPool2d, adaptiveAvgPool2d
 * and their backward passes, with PyTorch's window rules (see backends/cpu/pooling.ts).
 *
 * Layout: for stride 1 or 2, four neighbouring output columns form one f32x4 wherever their
 * windows lie inside the row (stride 2: two loads and an even-lane shuffle per tap); max pooling
 * keeps a per-lane best value and index, taking the taps in the same row-major order as the scalar
 * loop, so ties and NaNs resolve as on cpu. Border columns, other strides and the backward passes
 * are scalar per output pixel. (A separable max would be faster but cannot return PyTorch's index:
 * the first maximum of the 2-D window in row-major tap order.) adaptiveAvgPool2d (global pooling in the heads) sums
 * each window row with f32x4. Backward passes scatter-add into a zeroed dx (single-threaded, no
 * races). Accumulation is float32.
 *
 * Pool args (i32): [H, W, kh, kw, sh, sw, ph, pw, dh, dw, outH, outW, countIncludePad].
 */
import { ldi } from './common';

let H = 0, W = 0, KH = 0, KW = 0, SH = 0, SW = 0, PH = 0, PW = 0, DH = 0, DW = 0, OH = 0, OW = 0, CIP = 0;

function geometry(args: usize): void {
  H = ldi(args, 0); W = ldi(args, 1); KH = ldi(args, 2); KW = ldi(args, 3); SH = ldi(args, 4); SW = ldi(args, 5);
  PH = ldi(args, 6); PW = ldi(args, 7); DH = ldi(args, 8); DW = ldi(args, 9); OH = ldi(args, 10); OW = ldi(args, 11); CIP = ldi(args, 12);
}

@inline function F(p: usize, i: i32): usize {
  return p + ((<usize>i) << 2);
}

/** Four inputs at columns ix, ix+s, ix+2s, ix+3s of a row (s = 1 or 2): one load, or two and a shuffle. */
@inline function load4(row: usize, ix: i32, s: i32): v128 {
  const p = F(row, ix);
  if (s == 1) return v128.load(p);
  return i32x4.shuffle(v128.load(p), v128.load(p, 16), 0, 2, 4, 6);
}

/** First output column from which 4 outputs have every tap inside the row, and the end of that run. */
@inline function interiorBegin(): i32 {
  return PW <= 0 ? 0 : (PW + SW - 1) / SW;
}
@inline function interiorEnd(): i32 {
  // (ox + 3)·sw - pw + (kw - 1)·dw ≤ W - 1 (and a stride-2 load4 reads one more column: +1)
  const last = W - 1 + PW - (KW - 1) * DW - (SW == 2 ? 1 : 0);
  return last < 0 ? 0 : min(OW, last / SW + 1);
}

/**
 * Max pool: the first strict maximum of the window (a NaN replaces it, so the last NaN wins).
 * Stride 1 or 2: four output columns at a time where the whole window is inside the row (per-lane
 * best value and index by v128.bitselect, taps in the same row-major order as the scalar loop).
 */
export function max_pool_f32(px: usize, po: usize, pidx: usize, planes: i32, args: usize): void {
  geometry(args);
  for (let nc = 0; nc < planes; nc++) {
    const x = F(px, nc * H * W);
    const o = nc * OH * OW;
    for (let oy = 0; oy < OH; oy++) {
      let y0 = oy * SH - PH;
      while (y0 < 0) y0 += DH;
      const simd = SW <= 2;
      const i0 = simd ? interiorBegin() : OW;
      const i1 = simd ? interiorEnd() : 0;
      for (let ox = 0; ox < OW; ox++) {
        if (ox >= i0 && ox + 4 <= i1) {
          let best = f32x4.splat(-Infinity);
          const lanes = i32x4(0, SW, 2 * SW, 3 * SW);
          let bi = i32x4.add(i32x4.splat(y0 * W + ox * SW - PW), lanes);
          for (let i = 0; i < KH; i++) {
            const iy = oy * SH - PH + i * DH;
            if (iy < 0 || iy >= H) continue;
            const row = F(x, iy * W);
            for (let j = 0; j < KW; j++) {
              const ix = ox * SW - PW + j * DW;
              const v = load4(row, ix, SW);
              const better = v128.or(f32x4.gt(v, best), f32x4.ne(v, v));
              best = v128.bitselect(v, best, better);
              bi = v128.bitselect(i32x4.add(i32x4.splat(iy * W + ix), lanes), bi, better);
            }
          }
          v128.store(F(po, o + oy * OW + ox), best);
          v128.store(F(pidx, o + oy * OW + ox), bi);
          ox += 3;
          continue;
        }
        let x0 = ox * SW - PW;
        while (x0 < 0) x0 += DW;
        let best: f32 = -Infinity;
        let bi = y0 * W + x0;
        for (let i = 0; i < KH; i++) {
          const iy = oy * SH - PH + i * DH;
          if (iy < 0 || iy >= H) continue;
          for (let j = 0; j < KW; j++) {
            const ix = ox * SW - PW + j * DW;
            if (ix < 0 || ix >= W) continue;
            const v = load<f32>(F(x, iy * W + ix));
            if (v > best || v != v) { best = v; bi = iy * W + ix; }
          }
        }
        store<f32>(F(po, o + oy * OW + ox), best);
        store<i32>(F(pidx, o + oy * OW + ox), bi);
      }
    }
  }
}

/** dx[plane, indices[o]] += dy[o]; dx is zeroed here. */
export function max_pool_backward_f32(pdy: usize, pidx: usize, pdx: usize, planes: i32, inPlane: i32, outPlane: i32): void {
  memory.fill(pdx, 0, (<usize>(planes * inPlane)) << 2);
  for (let nc = 0; nc < planes; nc++) {
    const dx = F(pdx, nc * inPlane);
    for (let o = nc * outPlane, e = o + outPlane; o < e; o++) {
      const p = F(dx, load<i32>(F(pidx, o)));
      store<f32>(p, load<f32>(p) + load<f32>(F(pdy, o)));
    }
  }
}

/** PyTorch's avg-pool window along one axis: [lo, hi) clipped to the input, and the padded length. */
@inline function winLo(o: i32, s: i32, pad: i32): i32 { return max(o * s - pad, 0); }
@inline function winHi(o: i32, s: i32, pad: i32, k: i32, size: i32): i32 { return min(min(o * s - pad + k, size + pad), size); }
@inline function winPadded(o: i32, s: i32, pad: i32, k: i32, size: i32): i32 { return min(o * s - pad + k, size + pad) - (o * s - pad); }

/**
 * forward (backward = 0): out = mean of the window; backward (1): dx[window] += dy / divisor.
 * Forward with stride 1 or 2: four output columns at a time where the windows lie inside the row
 * (then all four share one divisor).
 */
export function avg_pool_f32(pin: usize, pout: usize, planes: i32, backward: i32, args: usize): void {
  geometry(args);
  if (backward) memory.fill(pout, 0, (<usize>(planes * H * W)) << 2);
  DW = 1;
  const simd = !backward && SW <= 2;
  const i0 = simd ? interiorBegin() : OW;
  const i1 = simd ? interiorEnd() : 0;
  for (let oy = 0; oy < OH; oy++) {
    const y0 = winLo(oy, SH, PH), y1 = winHi(oy, SH, PH, KH, H), py = winPadded(oy, SH, PH, KH, H);
    for (let ox = 0; ox < OW; ox++) {
      if (ox >= i0 && ox + 4 <= i1) {
        // interior: every window spans kw columns inside the row
        const divisor = CIP ? py * KW : (y1 - y0) * KW;
        const inv = f32x4.splat(divisor > 0 ? <f32>1.0 / <f32>divisor : 0);
        const vdiv = f32x4.splat(<f32>divisor);
        for (let nc = 0; nc < planes; nc++) {
          const plane = nc * H * W;
          let acc = f32x4.splat(0);
          for (let iy = y0; iy < y1; iy++) {
            const row = F(pin, plane + iy * W);
            for (let j = 0; j < KW; j++) acc = f32x4.add(acc, load4(row, ox * SW - PW + j, SW));
          }
          v128.store(F(pout, (nc * OH + oy) * OW + ox), divisor > 0 ? f32x4.div(acc, vdiv) : f32x4.mul(acc, inv));
        }
        ox += 3;
        continue;
      }
      const x0 = winLo(ox, SW, PW), x1 = winHi(ox, SW, PW, KW, W), pxw = winPadded(ox, SW, PW, KW, W);
      const divisor = CIP ? py * pxw : (y1 - y0) * (x1 - x0);
      for (let nc = 0; nc < planes; nc++) {
        const plane = nc * H * W;
        const o = (nc * OH + oy) * OW + ox;
        if (!backward) {
          let s: f32 = 0;
          for (let iy = y0; iy < y1; iy++) for (let ix = x0; ix < x1; ix++) s += load<f32>(F(pin, plane + iy * W + ix));
          store<f32>(F(pout, o), divisor > 0 ? s / <f32>divisor : 0);
        } else if (divisor > 0) {
          const g = load<f32>(F(pin, o)) / <f32>divisor;
          for (let iy = y0; iy < y1; iy++) for (let ix = x0; ix < x1; ix++) {
            const p = F(pout, plane + iy * W + ix);
            store<f32>(p, load<f32>(p) + g);
          }
        }
      }
    }
  }
}

/** Adaptive average pool: window [⌊i·H/oh⌋, ⌈(i+1)·H/oh⌉). backward = 1 scatters dy/area into a zeroed dx. */
export function adaptive_avg_pool_f32(pin: usize, pout: usize, planes: i32, h: i32, w: i32, oh: i32, ow: i32, backward: i32): void {
  if (backward) memory.fill(pout, 0, (<usize>(planes * h * w)) << 2);
  for (let oy = 0; oy < oh; oy++) {
    const y0 = (oy * h) / oh;
    const y1 = ((oy + 1) * h + oh - 1) / oh;
    for (let ox = 0; ox < ow; ox++) {
      const x0 = (ox * w) / ow;
      const x1 = ((ox + 1) * w + ow - 1) / ow;
      const area = <f32>((y1 - y0) * (x1 - x0));
      for (let nc = 0; nc < planes; nc++) {
        const plane = nc * h * w;
        const o = (nc * oh + oy) * ow + ox;
        if (!backward) {
          // rows of the window are contiguous: SIMD sum along each
          let acc = f32x4.splat(0);
          let s: f32 = 0;
          for (let iy = y0; iy < y1; iy++) {
            const row = F(pin, plane + iy * w);
            let ix = x0;
            for (; ix + 4 <= x1; ix += 4) acc = f32x4.add(acc, v128.load(F(row, ix)));
            for (; ix < x1; ix++) s += load<f32>(F(row, ix));
          }
          s += (f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1)) + (f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3));
          store<f32>(F(pout, o), s / area);
        } else {
          const g = load<f32>(F(pin, o)) / area;
          for (let iy = y0; iy < y1; iy++) for (let ix = x0; ix < x1; ix++) {
            const p = F(pout, plane + iy * w + ix);
            store<f32>(p, load<f32>(p) + g);
          }
        }
      }
    }
  }
}
