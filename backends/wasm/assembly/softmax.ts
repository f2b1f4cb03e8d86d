/**
 * softmax / logSoftmax over the middle axis of [outer, size, inner], and their backward passes.
 *
 * Two passes over each row, max subtracted (so logits in the thousands cannot overflow exp):
 *   1. m = max(x) (f32x4.max over the row),
 *   2. s = Σ exp(x - m), with the SIMD exp of common.ts; softmax stores e = exp(x - m) on the way,
 *   then softmax scales by 1/s, logSoftmax writes x - (m + ln s).
 * inner == 1: the row is contiguous and the lanes run along it (horizontal sums at the end, scalar
 * tails). inner > 1: the lanes run across four neighbouring rows (x[o, s, i..i+4]), so each pass
 * is vertical and needs no horizontal step; a scalar loop takes the last inner % 4 rows.
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

function row_f32(px: usize, po: usize, n: i32, log: bool): void {
  // pass 1: max
  // pmax is one instruction; NaNs are tracked separately so that they still propagate (as on cpu)
  let vm = f32x4.splat(-Infinity);
  let vnan = i32x4.splat(0);
  let k = 0;
  for (; k + 4 <= n; k += 4) {
    const v = v128.load(P(px, k));
    vm = f32x4.pmax(vm, v);
    vnan = v128.or(vnan, f32x4.ne(v, v));
  }
  let m = max(max(f32x4.extract_lane(vm, 0), f32x4.extract_lane(vm, 1)), max(f32x4.extract_lane(vm, 2), f32x4.extract_lane(vm, 3)));
  if (v128.any_true(vnan)) m = NaN;
  for (; k < n; k++) m = max(m, load<f32>(P(px, k)));
  if (m == -Infinity) {
    const z: f32 = log ? -Infinity : 0;
    for (k = 0; k < n; k++) store<f32>(P(po, k), z);
    return;
  }
  // pass 2: sum of exp(x - m)
  const vmax = f32x4.splat(m);
  let vs = f32x4.splat(0);
  k = 0;
  for (; k + 4 <= n; k += 4) {
    const e = exp_nonpos_v(f32x4.sub(v128.load(P(px, k)), vmax));
    if (!log) v128.store(P(po, k), e);
    vs = f32x4.add(vs, e);
  }
  let s = hsum(vs);
  for (; k < n; k++) {
    const e = Mathf.exp(load<f32>(P(px, k)) - m);
    if (!log) store<f32>(P(po, k), e);
    s += e;
  }
  // pass 3: normalize
  k = 0;
  if (log) {
    const lse = f32x4.splat(m + Mathf.log(s));
    for (; k + 4 <= n; k += 4) v128.store(P(po, k), f32x4.sub(v128.load(P(px, k)), lse));
    for (; k < n; k++) store<f32>(P(po, k), load<f32>(P(px, k)) - f32x4.extract_lane(lse, 0));
  } else {
    const inv = f32x4.splat(<f32>1.0 / s);
    for (; k + 4 <= n; k += 4) v128.store(P(po, k), f32x4.mul(v128.load(P(po, k)), inv));
    for (; k < n; k++) store<f32>(P(po, k), load<f32>(P(po, k)) * f32x4.extract_lane(inv, 0));
  }
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
