/**
 * Reductions, arg-reductions, cumsum and top-k over x viewed as [outer, size, inner] (the middle
 * axis is reduced or scanned).
 *
 * - inner == 1 (reducing contiguous rows): SIMD along the row. sum/prod accumulate in float64x2
 *   (two f64x2 accumulators per f32x4 load; the cpu backend sums in float64 too, and a reduction is
 *   memory-bound so the wider accumulators cost nothing), max/min in f32x4, then a horizontal step
 *   and a scalar tail.
 * - inner > 1: SIMD across `inner` (contiguous): the output row is the accumulator and each of the
 *   `size` input rows is combined into it, four lanes at a time, scalar tail.
 * - argmax/argmin: per-lane best value and best index (v128.bitselect), first index wins ties, NaN
 *   wins (as torch).
 * - cumsum: sequential per lane, in float64 (as cpu).
 * - topk: a stable bottom-up merge sort of the row's indices by value (ties: lower index first),
 *   the first k taken. O(size·log size) per row, two index buffers of scratch.
 * int32 tensors go through scalar float64 loops (matching cpu's float64 arithmetic).
 */
import { at, ldf, ldi, stf, sti } from './common';

// op codes shared with backends/wasm/reduce.ts
const SUM = 0;
const PROD = 1;
const MAX = 2;
const MIN = 3;

@inline function combine(op: i32, acc: f64, x: f64): f64 {
  if (op == SUM) return acc + x;
  if (op == PROD) return acc * x;
  if (op == MAX) return x > acc || x != x ? x : acc;
  return x < acc || x != x ? x : acc;
}

@inline function initOf(op: i32): f64 {
  return op == SUM ? 0.0 : op == PROD ? 1.0 : op == MAX ? -Infinity : Infinity;
}

/** Reduces contiguous rows: out[o] = combine over x[o, 0..size). */
function rows_f32(op: i32, px: usize, po: usize, outer: i32, size: i32): void {
  for (let o = 0; o < outer; o++) {
    const row = px + ((<usize>o * <usize>size) << 2);
    let s = 0;
    let r: f64 = initOf(op);
    if (op == SUM || op == PROD) {
      let a0 = f64x2.splat(r);
      let a1 = f64x2.splat(op == SUM ? 0.0 : 1.0);
      for (; s + 4 <= size; s += 4) {
        const v = v128.load(at(row, s));
        const lo = f64x2.promote_low_f32x4(v);
        const hi = f64x2.promote_low_f32x4(i32x4.shuffle(v, v, 2, 3, 0, 1));
        if (op == SUM) { a0 = f64x2.add(a0, lo); a1 = f64x2.add(a1, hi); } else { a0 = f64x2.mul(a0, lo); a1 = f64x2.mul(a1, hi); }
      }
      const t = op == SUM ? f64x2.add(a0, a1) : f64x2.mul(a0, a1);
      r = op == SUM ? f64x2.extract_lane(t, 0) + f64x2.extract_lane(t, 1) : f64x2.extract_lane(t, 0) * f64x2.extract_lane(t, 1);
    } else if (size >= 4) {
      // pmax/pmin are one instruction each; NaNs are tracked apart so they propagate as on cpu
      let a = v128.load(row);
      let nan = f32x4.ne(a, a);
      s = 4;
      for (; s + 4 <= size; s += 4) {
        const v = v128.load(at(row, s));
        a = op == MAX ? f32x4.pmax(a, v) : f32x4.pmin(a, v);
        nan = v128.or(nan, f32x4.ne(v, v));
      }
      a = v128.bitselect(f32x4.splat(NaN), a, nan);
      r = combine(op, combine(op, combine(op, combine(op, r, <f64>f32x4.extract_lane(a, 0)), <f64>f32x4.extract_lane(a, 1)), <f64>f32x4.extract_lane(a, 2)), <f64>f32x4.extract_lane(a, 3));
    }
    for (; s < size; s++) r = combine(op, r, <f64>ldf(row, s));
    stf(po, o, <f32>r);
  }
}

/** Reduces across rows: out[o, i] = combine over s of x[o, s, i], SIMD over i. */
function cols_f32(op: i32, px: usize, po: usize, outer: i32, size: i32, inner: i32): void {
  const init = <f32>initOf(op);
  for (let o = 0; o < outer; o++) {
    const orow = po + ((<usize>o * <usize>inner) << 2);
    const base = px + ((<usize>o * <usize>size * <usize>inner) << 2);
    let i = 0;
    for (; i + 4 <= inner; i += 4) {
      let a = f32x4.splat(init);
      let p = at(base, i);
      const step = (<usize>inner) << 2;
      let nan = i32x4.splat(0);
      for (let s = 0; s < size; s++, p += step) {
        const v = v128.load(p);
        if (op == SUM) a = f32x4.add(a, v);
        else if (op == PROD) a = f32x4.mul(a, v);
        else {
          a = op == MAX ? f32x4.pmax(a, v) : f32x4.pmin(a, v);
          nan = v128.or(nan, f32x4.ne(v, v));
        }
      }
      v128.store(at(orow, i), op >= MAX ? v128.bitselect(f32x4.splat(NaN), a, nan) : a);
    }
    for (; i < inner; i++) {
      let r: f64 = initOf(op);
      for (let s = 0; s < size; s++) r = combine(op, r, <f64>ldf(base, s * inner + i));
      stf(orow, i, <f32>r);
    }
  }
}

export function reduce_f32(op: i32, px: usize, po: usize, outer: i32, size: i32, inner: i32): void {
  if (inner == 1) rows_f32(op, px, po, outer, size);
  else cols_f32(op, px, po, outer, size, inner);
}

export function reduce_i32(op: i32, px: usize, po: usize, outer: i32, size: i32, inner: i32): void {
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let r: f64 = initOf(op);
      const base = o * size * inner + i;
      for (let s = 0; s < size; s++) r = combine(op, r, <f64>ldi(px, base + s * inner));
      sti(po, o * inner + i, isFinite(r) ? <i32><i64>r : 0);
    }
  }
}

/** argmax (isMax = 1) or argmin over the middle axis; first index of the extreme; NaN wins. */
export function arg_reduce_f32(isMax: i32, px: usize, po: usize, outer: i32, size: i32, inner: i32): void {
  for (let o = 0; o < outer; o++) {
    const base = px + ((<usize>o * <usize>size * <usize>inner) << 2);
    const orow = po + ((<usize>o * <usize>inner) << 2);
    let i = 0;
    const step = (<usize>inner) << 2;
    for (; i + 4 <= inner; i += 4) {
      let best = v128.load(at(base, i));
      let bi = i32x4.splat(0);
      let p = at(base, i) + step;
      for (let s = 1; s < size; s++, p += step) {
        const v = v128.load(p);
        const nanNew = v128.and(f32x4.ne(v, v), f32x4.eq(best, best));
        const better = v128.or(isMax ? f32x4.gt(v, best) : f32x4.lt(v, best), nanNew);
        best = v128.bitselect(v, best, better);
        bi = v128.bitselect(i32x4.splat(s), bi, better);
      }
      v128.store(at(orow, i), bi);
    }
    for (; i < inner; i++) {
      let best = ldf(base, i);
      let bi = 0;
      for (let s = 1; s < size; s++) {
        const v = ldf(base, s * inner + i);
        if ((v != v && best == best) || (isMax ? v > best : v < best)) { best = v; bi = s; }
      }
      sti(orow, i, bi);
    }
  }
}

export function arg_reduce_i32(isMax: i32, px: usize, po: usize, outer: i32, size: i32, inner: i32): void {
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * size * inner + i;
      let best = ldi(px, base);
      let bi = 0;
      for (let s = 1; s < size; s++) {
        const v = ldi(px, base + s * inner);
        if (isMax ? v > best : v < best) { best = v; bi = s; }
      }
      sti(po, o * inner + i, bi);
    }
  }
}

/** Inclusive prefix sums along the middle axis, accumulated in float64 (f64x2 across inner). */
export function cumsum_f32(px: usize, po: usize, outer: i32, size: i32, inner: i32): void {
  for (let o = 0; o < outer; o++) {
    const off = o * size * inner;
    let i = 0;
    for (; i + 2 <= inner; i += 2) {
      let acc = f64x2.splat(0);
      for (let s = 0; s < size; s++) {
        const k = off + s * inner + i;
        acc = f64x2.add(acc, f64x2.promote_low_f32x4(v128.load64_zero(at(px, k))));
        v128.store64_lane(at(po, k), f32x4.demote_f64x2_zero(acc), 0);
      }
    }
    for (; i < inner; i++) {
      let acc: f64 = 0;
      for (let s = 0; s < size; s++) {
        const k = off + s * inner + i;
        acc += <f64>ldf(px, k);
        stf(po, k, <f32>acc);
      }
    }
  }
}

export function cumsum_i32(px: usize, po: usize, outer: i32, size: i32, inner: i32): void {
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let acc: i32 = 0;
      for (let s = 0; s < size; s++) {
        const k = o * size * inner + s * inner + i;
        acc += ldi(px, k);
        sti(po, k, acc);
      }
    }
  }
}

/**
 * Whether element i should come before element j (descending when largest; ties by index). NaN
 * orders above +Infinity, as in PyTorch: first when largest, last otherwise.
 */
@inline function before(row: usize, isInt: i32, largest: i32, i: i32, j: i32): bool {
  let a: f64, b: f64;
  if (isInt) { a = <f64>ldi(row, i); b = <f64>ldi(row, j); } else { a = <f64>ldf(row, i); b = <f64>ldf(row, j); }
  const an = a != a;
  const bn = b != b;
  if (a == b || (an && bn)) return i < j;
  const aAbove = an || (!bn && a > b);
  return largest ? aAbove : !aAbove;
}

/**
 * top-k of each row of x [outer, size]: values [outer, k], int32 indices [outer, k].
 * Scratch `tmp` holds 2·size i32 (two index buffers for the merge sort).
 */
export function topk_u32(px: usize, pv: usize, pi: usize, outer: i32, size: i32, k: i32, largest: i32, isInt: i32, tmp: usize): void {
  const bufA = tmp;
  const bufB = tmp + ((<usize>size) << 2);
  for (let o = 0; o < outer; o++) {
    const row = px + ((<usize>o * <usize>size) << 2);
    for (let s = 0; s < size; s++) sti(bufA, s, s);
    let src = bufA;
    let dst = bufB;
    for (let width = 1; width < size; width <<= 1) {
      for (let lo = 0; lo < size; lo += 2 * width) {
        const mid = min(lo + width, size);
        const hi = min(lo + 2 * width, size);
        let i = lo, j = mid, d = lo;
        while (i < mid && j < hi) {
          const a = ldi(src, i);
          const b = ldi(src, j);
          // take from the right run only when it strictly comes first (stability)
          if (before(row, isInt, largest, b, a)) { sti(dst, d++, b); j++; } else { sti(dst, d++, a); i++; }
        }
        while (i < mid) sti(dst, d++, ldi(src, i++));
        while (j < hi) sti(dst, d++, ldi(src, j++));
      }
      const t = src; src = dst; dst = t;
    }
    for (let j = 0; j < k; j++) {
      const idx = ldi(src, j);
      store<i32>(pv + ((<usize>(o * k + j)) << 2), load<i32>(row + ((<usize>idx) << 2)));
      sti(pi, o * k + j, idx);
    }
  }
}
