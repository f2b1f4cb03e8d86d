/**
 * softmax / logSoftmax over the middle axis of [outer, size, inner], and their backward passes.
 *
 * Three passes over each row, max subtracted (so logits in the thousands cannot overflow exp):
 *   1. m = max(x) (f32x4.pmax, four accumulators),
 *   2. s = Σ exp(x - m), each exp computed once (exp_nonpos_v of common.ts); softmax stores
 *      e = exp(x - m) on the way,
 *   3. softmax scales e by 1/s in place, logSoftmax writes x - (m + ln s).
 * inner == 1: the row is contiguous and the lanes run along it. Pass 1 reads the row from memory;
 * passes 2 and 3 find it in L1 for rows up to several thousand floats (1024 floats are 4 KB).
 * Pass 2 is the cost (the exp is 22 SIMD operations per four values, in a dependency chain of 19):
 * it keeps eight exps (32 values) in flight per iteration, so that the CPU overlaps their chains,
 * and reloads the exp's constants by splat (cheaper in V8 than holding them in registers: there
 * are 16, and spilled accumulators cost more). Row tails: a 4-value loop, then scalar Mathf.exp.
 * pmax skips NaNs, so pass 1 finds the max of the other values; a NaN logit then makes s, and so
 * its whole row, NaN (as on cpu); a row of only NaNs and -Infinity is caught with the fully masked
 * rows. On the 2-core VM (one thread, [8192, 1024]): 7.1 ms, against 16.1 ms with the former
 * Cephes exp one vector at a time and 8.4 ms for tfjs-wasm (XNNPACK), in CPU time.
 * inner > 1: the lanes run across neighbouring rows (x[o, s, i..i+4]), so each pass is vertical
 * and needs no horizontal step: a full 16-column unit runs as four f32x4 (cols16_f32: every
 * 64-byte line read whole in each pass, four exps in flight), a partial one four columns at a time
 * (cols4_f32), and a scalar loop takes the last inner % 4 rows. Both compute each column the same
 * way, so results do not depend on which of them ran.
 * A fully masked row (every logit -Infinity) gives zeros (logSoftmax: -Infinity), as on cpu.
 * Backward: softmax dx = y·(dy - Σ dy·y); logSoftmax dx = dy - exp(y)·Σ dy.
 *
 * THREADS. Both kernels take a range [u0, u1) of independent units, so that worker threads
 * (../softmax.ts) split the rows: a unit is one row when inner == 1, else one (o, 16-column group)
 * pair, o·G + g with G = ⌈inner/16⌉, covering x[o, :, 16g .. 16g+16) (one 64-byte cache line per
 * element of the row, so two threads never write the same line but at a row's ends). Every row is
 * computed the same way whatever the split (the groups of 4 fall on the same columns), so the
 * results are bit-identical at any thread count.
 */
import { exp_nonpos_v, exp_v, hsum } from './common';

@inline function P(base: usize, k: i32): usize {
  return base + ((<usize>k) << 2);
}

/** max of the n floats at px, NaNs skipped (see the file comment); -Infinity when n == 0. */
function row_max(px: usize, n: i32): f32 {
  let m0 = f32x4.splat(-Infinity), m1 = m0, m2 = m0, m3 = m0;
  let k = 0;
  for (; k + 16 <= n; k += 16) {
    const p = P(px, k);
    m0 = f32x4.pmax(m0, v128.load(p));
    m1 = f32x4.pmax(m1, v128.load(p, 16));
    m2 = f32x4.pmax(m2, v128.load(p, 32));
    m3 = f32x4.pmax(m3, v128.load(p, 48));
  }
  for (; k + 4 <= n; k += 4) m0 = f32x4.pmax(m0, v128.load(P(px, k)));
  const vm = f32x4.pmax(f32x4.pmax(m0, m1), f32x4.pmax(m2, m3));
  let m = max(max(f32x4.extract_lane(vm, 0), f32x4.extract_lane(vm, 1)), max(f32x4.extract_lane(vm, 2), f32x4.extract_lane(vm, 3)));
  for (; k < n; k++) m = max(m, load<f32>(P(px, k)));
  return m;
}

/**
 * Σ exp(x - m) over the n floats at px; with `save` (a literal, folded at compile time) also
 * stores each exp(x - m) at po. Eight exps per iteration (see the file comment).
 */
@inline function exp_sum(px: usize, po: usize, n: i32, m: f32, save: bool): f32 {
  const vm = f32x4.splat(m);
  let vs = f32x4.splat(0);
  let k = 0;
  for (; k + 32 <= n; k += 32) {
    const a = P(px, k);
    const e0 = exp_nonpos_v(f32x4.sub(v128.load(a), vm));
    const e1 = exp_nonpos_v(f32x4.sub(v128.load(a, 16), vm));
    const e2 = exp_nonpos_v(f32x4.sub(v128.load(a, 32), vm));
    const e3 = exp_nonpos_v(f32x4.sub(v128.load(a, 48), vm));
    const e4 = exp_nonpos_v(f32x4.sub(v128.load(a, 64), vm));
    const e5 = exp_nonpos_v(f32x4.sub(v128.load(a, 80), vm));
    const e6 = exp_nonpos_v(f32x4.sub(v128.load(a, 96), vm));
    const e7 = exp_nonpos_v(f32x4.sub(v128.load(a, 112), vm));
    if (save) {
      const b = P(po, k);
      v128.store(b, e0);
      v128.store(b, e1, 16);
      v128.store(b, e2, 32);
      v128.store(b, e3, 48);
      v128.store(b, e4, 64);
      v128.store(b, e5, 80);
      v128.store(b, e6, 96);
      v128.store(b, e7, 112);
    }
    vs = f32x4.add(vs, f32x4.add(f32x4.add(f32x4.add(e0, e1), f32x4.add(e2, e3)), f32x4.add(f32x4.add(e4, e5), f32x4.add(e6, e7))));
  }
  for (; k + 4 <= n; k += 4) {
    const e = exp_nonpos_v(f32x4.sub(v128.load(P(px, k)), vm));
    if (save) v128.store(P(po, k), e);
    vs = f32x4.add(vs, e);
  }
  let s = hsum(vs);
  for (; k < n; k++) {
    const e = Mathf.exp(load<f32>(P(px, k)) - m);
    if (save) store<f32>(P(po, k), e);
    s += e;
  }
  return s;
}

function row_f32(px: usize, po: usize, n: i32, log: bool): void {
  // pass 1: max
  const m = row_max(px, n);
  if (m == -Infinity) {
    // every logit -Infinity or NaN: zeros (logSoftmax -Infinity), or NaNs if there is a NaN
    let z: f32 = log ? -Infinity : 0;
    for (let k = 0; k < n; k++) if (isNaN(load<f32>(P(px, k)))) z = NaN;
    for (let k = 0; k < n; k++) store<f32>(P(po, k), z);
    return;
  }
  // pass 2: s = Σ exp(x - m) (softmax: storing the exps), pass 3: normalize
  let k = 0;
  if (log) {
    const lse = f32x4.splat(m + Mathf.log(exp_sum(px, po, n, m, false)));
    for (; k + 16 <= n; k += 16) {
      const a = P(px, k), b = P(po, k);
      v128.store(b, f32x4.sub(v128.load(a), lse));
      v128.store(b, f32x4.sub(v128.load(a, 16), lse), 16);
      v128.store(b, f32x4.sub(v128.load(a, 32), lse), 32);
      v128.store(b, f32x4.sub(v128.load(a, 48), lse), 48);
    }
    for (; k + 4 <= n; k += 4) v128.store(P(po, k), f32x4.sub(v128.load(P(px, k)), lse));
    for (; k < n; k++) store<f32>(P(po, k), load<f32>(P(px, k)) - f32x4.extract_lane(lse, 0));
  } else {
    const inv = f32x4.splat(<f32>1.0 / exp_sum(px, po, n, m, true));
    for (; k + 16 <= n; k += 16) {
      const b = P(po, k);
      v128.store(b, f32x4.mul(v128.load(b), inv));
      v128.store(b, f32x4.mul(v128.load(b, 16), inv), 16);
      v128.store(b, f32x4.mul(v128.load(b, 32), inv), 32);
      v128.store(b, f32x4.mul(v128.load(b, 48), inv), 48);
    }
    for (; k + 4 <= n; k += 4) v128.store(P(po, k), f32x4.mul(v128.load(P(po, k)), inv));
    for (; k < n; k++) store<f32>(P(po, k), load<f32>(P(po, k)) * f32x4.extract_lane(inv, 0));
  }
}

/**
 * Sixteen neighbouring rows at once (a whole unit, one 64-byte line per element): four f32x4 of
 * lanes i..i+15, stepping `stride` floats per element; as cols4_f32 on each group of four, with
 * four exps in flight and each line read whole in every pass.
 */
function cols16_f32(px: usize, po: usize, n: i32, stride: i32, log: bool): void {
  const step = (<usize>stride) << 2;
  const ninf = f32x4.splat(-Infinity);
  let m0 = ninf, m1 = ninf, m2 = ninf, m3 = ninf;
  let nan = i32x4.splat(0);
  for (let k = 0, p = px; k < n; k++, p += step) {
    const a = v128.load(p), b = v128.load(p, 16), c = v128.load(p, 32), d = v128.load(p, 48);
    m0 = f32x4.pmax(m0, a);
    m1 = f32x4.pmax(m1, b);
    m2 = f32x4.pmax(m2, c);
    m3 = f32x4.pmax(m3, d);
    nan = v128.or(nan, v128.or(v128.or(f32x4.ne(a, a), f32x4.ne(b, b)), v128.or(f32x4.ne(c, c), f32x4.ne(d, d))));
  }
  if (v128.any_true(nan)) {
    // rare: let the 4-column kernel propagate each column's NaN
    for (let g = 0; g < 4; g++) cols4_f32(px + (<usize>g << 4), po + (<usize>g << 4), n, stride, log);
    return;
  }
  const z = f32x4.splat(0);
  const k0 = f32x4.eq(m0, ninf), k1 = f32x4.eq(m1, ninf), k2 = f32x4.eq(m2, ninf), k3 = f32x4.eq(m3, ninf);
  m0 = v128.bitselect(z, m0, k0);
  m1 = v128.bitselect(z, m1, k1);
  m2 = v128.bitselect(z, m2, k2);
  m3 = v128.bitselect(z, m3, k3);
  let s0 = z, s1 = z, s2 = z, s3 = z;
  for (let k = 0, p = px, q = po; k < n; k++, p += step, q += step) {
    const e0 = exp_nonpos_v(f32x4.sub(v128.load(p), m0));
    const e1 = exp_nonpos_v(f32x4.sub(v128.load(p, 16), m1));
    const e2 = exp_nonpos_v(f32x4.sub(v128.load(p, 32), m2));
    const e3 = exp_nonpos_v(f32x4.sub(v128.load(p, 48), m3));
    if (!log) {
      v128.store(q, e0);
      v128.store(q, e1, 16);
      v128.store(q, e2, 32);
      v128.store(q, e3, 48);
    }
    s0 = f32x4.add(s0, e0);
    s1 = f32x4.add(s1, e1);
    s2 = f32x4.add(s2, e2);
    s3 = f32x4.add(s3, e3);
  }
  if (log) {
    const l0 = f32x4.add(m0, log4(s0)), l1 = f32x4.add(m1, log4(s1)), l2 = f32x4.add(m2, log4(s2)), l3 = f32x4.add(m3, log4(s3));
    for (let k = 0, p = px, q = po; k < n; k++, p += step, q += step) {
      v128.store(q, v128.bitselect(ninf, f32x4.sub(v128.load(p), l0), k0));
      v128.store(q, v128.bitselect(ninf, f32x4.sub(v128.load(p, 16), l1), k1), 16);
      v128.store(q, v128.bitselect(ninf, f32x4.sub(v128.load(p, 32), l2), k2), 32);
      v128.store(q, v128.bitselect(ninf, f32x4.sub(v128.load(p, 48), l3), k3), 48);
    }
  } else {
    const one = f32x4.splat(1.0);
    const i0 = f32x4.div(one, s0), i1 = f32x4.div(one, s1), i2 = f32x4.div(one, s2), i3 = f32x4.div(one, s3);
    for (let k = 0, q = po; k < n; k++, q += step) {
      v128.store(q, v128.bitselect(z, f32x4.mul(v128.load(q), i0), k0));
      v128.store(q, v128.bitselect(z, f32x4.mul(v128.load(q, 16), i1), k1), 16);
      v128.store(q, v128.bitselect(z, f32x4.mul(v128.load(q, 32), i2), k2), 32);
      v128.store(q, v128.bitselect(z, f32x4.mul(v128.load(q, 48), i3), k3), 48);
    }
  }
}

/** ln of each lane (scalar Mathf.log: four per column group, not per element). */
@inline function log4(v: v128): v128 {
  return f32x4(Mathf.log(f32x4.extract_lane(v, 0)), Mathf.log(f32x4.extract_lane(v, 1)), Mathf.log(f32x4.extract_lane(v, 2)), Mathf.log(f32x4.extract_lane(v, 3)));
}

/** Four neighbouring rows at once: lanes = inner index i..i+3, stepping `stride` floats per element. */
function cols4_f32(px: usize, po: usize, n: i32, stride: i32, log: bool): void {
  const step = (<usize>stride) << 2;
  let vm = f32x4.splat(-Infinity);
  let vnan = i32x4.splat(0);
  for (let k = 0, p = px; k < n; k++, p += step) {
    const v = v128.load(p);
    vm = f32x4.pmax(vm, v);
    vnan = v128.or(vnan, f32x4.ne(v, v));
  }
  vm = v128.bitselect(f32x4.splat(NaN), vm, vnan);
  const masked = f32x4.eq(vm, f32x4.splat(-Infinity));
  const safeM = v128.bitselect(f32x4.splat(0), vm, masked);
  let vs = f32x4.splat(0);
  for (let k = 0, p = px, q = po; k < n; k++, p += step, q += step) {
    const e = exp_nonpos_v(f32x4.sub(v128.load(p), safeM));
    if (!log) v128.store(q, e);
    vs = f32x4.add(vs, e);
  }
  if (log) {
    const lse = f32x4.add(safeM, f32x4(Mathf.log(f32x4.extract_lane(vs, 0)), Mathf.log(f32x4.extract_lane(vs, 1)), Mathf.log(f32x4.extract_lane(vs, 2)), Mathf.log(f32x4.extract_lane(vs, 3))));
    for (let k = 0, p = px, q = po; k < n; k++, p += step, q += step) {
      v128.store(q, v128.bitselect(f32x4.splat(-Infinity), f32x4.sub(v128.load(p), lse), masked));
    }
  } else {
    const inv = f32x4.div(f32x4.splat(1.0), vs);
    for (let k = 0, q = po; k < n; k++, q += step) v128.store(q, v128.bitselect(f32x4.splat(0), f32x4.mul(v128.load(q), inv), masked));
  }
}

/** One strided row (scalar), for the inner % 4 leftovers. */
function col1_f32(px: usize, po: usize, n: i32, stride: i32, log: bool): void {
  const step = (<usize>stride) << 2;
  let m: f32 = -Infinity;
  for (let k = 0, p = px; k < n; k++, p += step) m = max(m, load<f32>(p));
  if (m == -Infinity) {
    for (let k = 0, q = po; k < n; k++, q += step) store<f32>(q, log ? -Infinity : 0);
    return;
  }
  let s: f32 = 0;
  for (let k = 0, p = px; k < n; k++, p += step) s += Mathf.exp(load<f32>(p) - m);
  const lse = m + Mathf.log(s);
  for (let k = 0, p = px, q = po; k < n; k++, p += step, q += step) {
    const x = load<f32>(p);
    store<f32>(q, log ? x - lse : Mathf.exp(x - m) / s);
  }
}

/**
 * e^x of the n floats x ≤ 0 at px into po by exp_nonpos_v, whole f32x4s (a whole buffer: the last
 * one runs into its padding). Not used by the ops: it exposes softmax's exp to test/wasm/exp.test.ts.
 */
export function softmax_exp_f32(px: usize, po: usize, n: i32): void {
  for (let k = 0; k < n; k += 4) v128.store(P(po, k), exp_nonpos_v(v128.load(P(px, k))));
}

/** Columns per unit when inner > 1 (see THREADS). */
const GROUP = 16;

/** softmax (log ≠ 0: logSoftmax) of the units [u0, u1) of x [outer, size, inner] into o. */
export function softmax_f32(px: usize, po: usize, outer: i32, size: i32, inner: i32, log: i32, u0: i32, u1: i32): void {
  if (inner == 1) {
    for (let o = u0; o < u1; o++) {
      const base = (<usize>o * <usize>size) << 2;
      row_f32(px + base, po + base, size, log != 0);
    }
    return;
  }
  const G = (inner + GROUP - 1) / GROUP;
  for (let u = u0; u < u1; u++) {
    const o = u / G;
    const i0 = (u - o * G) * GROUP;
    const i1 = min(inner, i0 + GROUP);
    const base = (<usize>o * <usize>size * <usize>inner) << 2;
    let i = i0;
    if (i1 - i0 == GROUP) {
      cols16_f32(P(px + base, i), P(po + base, i), size, inner, log != 0);
      continue;
    }
    for (; i + 4 <= i1; i += 4) cols4_f32(P(px + base, i), P(po + base, i), size, inner, log != 0);
    for (; i < i1; i++) col1_f32(P(px + base, i), P(po + base, i), size, inner, log != 0);
  }
}

/** Backward of softmax_f32 over the units [u0, u1): dx at po from y and dy. */
export function softmax_backward_f32(py: usize, pdy: usize, po: usize, outer: i32, size: i32, inner: i32, log: i32, u0: i32, u1: i32): void {
  const step = (<usize>inner) << 2;
  const G = inner == 1 ? 1 : (inner + GROUP - 1) / GROUP;
  for (let u = u0; u < u1; u++) {
    const o = u / G;
    const base = (<usize>o * <usize>size * <usize>inner) << 2;
    // runs along the row (inner == 1), or four columns at a time
    if (inner == 1) {
      const y = py + base, g = pdy + base, d = po + base;
      let vdot = f32x4.splat(0);
      let k = 0;
      for (; k + 4 <= size; k += 4) {
        const gv = v128.load(P(g, k));
        vdot = f32x4.add(vdot, log ? gv : f32x4.mul(gv, v128.load(P(y, k))));
      }
      let dot = hsum(vdot);
      for (; k < size; k++) dot += log ? load<f32>(P(g, k)) : load<f32>(P(g, k)) * load<f32>(P(y, k));
      const vd = f32x4.splat(dot);
      k = 0;
      for (; k + 4 <= size; k += 4) {
        const yv = v128.load(P(y, k));
        const gv = v128.load(P(g, k));
        v128.store(P(d, k), log ? f32x4.sub(gv, f32x4.mul(exp_v(yv), vd)) : f32x4.mul(yv, f32x4.sub(gv, vd)));
      }
      for (; k < size; k++) {
        const yv = load<f32>(P(y, k));
        const gv = load<f32>(P(g, k));
        store<f32>(P(d, k), log ? gv - Mathf.exp(yv) * dot : yv * (gv - dot));
      }
      continue;
    }
    const i1 = min(inner, (u - o * G) * GROUP + GROUP);
    let i = (u - o * G) * GROUP;
    for (; i + 4 <= i1; i += 4) {
      const y = P(py + base, i), g = P(pdy + base, i), d = P(po + base, i);
      let vdot = f32x4.splat(0);
      for (let k = 0, q: usize = 0; k < size; k++, q += step) {
        const gv = v128.load(g + q);
        vdot = f32x4.add(vdot, log ? gv : f32x4.mul(gv, v128.load(y + q)));
      }
      for (let k = 0, q: usize = 0; k < size; k++, q += step) {
        const yv = v128.load(y + q);
        const gv = v128.load(g + q);
        v128.store(d + q, log ? f32x4.sub(gv, f32x4.mul(exp_v(yv), vdot)) : f32x4.mul(yv, f32x4.sub(gv, vdot)));
      }
    }
    for (; i < i1; i++) {
      const y = P(py + base, i), g = P(pdy + base, i), d = P(po + base, i);
      let dot: f32 = 0;
      for (let k = 0, q: usize = 0; k < size; k++, q += step) dot += log ? load<f32>(g + q) : load<f32>(g + q) * load<f32>(y + q);
      for (let k = 0, q: usize = 0; k < size; k++, q += step) {
        const yv = load<f32>(y + q);
        const gv = load<f32>(g + q);
        store<f32>(d + q, log ? gv - Mathf.exp(yv) * dot : yv * (gv - dot));
      }
    }
  }
}
