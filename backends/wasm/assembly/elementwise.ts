/**
 * Elementwise kernels that are not generated from the spec table: fill, cast, where, and the
 * broadcast driver that the generated binary kernels (generated/elementwise.ts) run on.
 *
 * Broadcasting: JS collapses the output shape into [outer dims..., inner] where, along `inner`, each
 * operand has a stride of 0 (broadcast) or 1 (contiguous). broadcast_rows walks the outer dims with
 * an odometer (per-operand strides, read from the args block) and calls a row kernel per row; the
 * row kernel is SIMD along the contiguous inner run. args: [R, shape[R], strideA[R], strideB[R],
 * counters[R] (scratch)].
 */
import { at, ldi, sti } from './common';

export type RowFn = (pa: usize, pb: usize, po: usize, n: i32, sa: i32, sb: i32) => void;

export function broadcast_rows(row: RowFn, pa: usize, pb: usize, po: usize, inner: i32, sa: i32, sb: i32, args: usize): void {
  const R = ldi(args, 0);
  const shape = at(args, 1);
  const stA = at(args, 1 + R);
  const stB = at(args, 1 + 2 * R);
  const idx = at(args, 1 + 3 * R);
  let rows = 1;
  for (let d = 0; d < R; d++) { rows *= ldi(shape, d); sti(idx, d, 0); }
  let oa = 0;
  let ob = 0;
  const rowBytes = (<usize>inner) << 2;
  let o = po;
  for (let r = 0; r < rows; r++) {
    row(pa + ((<usize>oa) << 2), pb + ((<usize>ob) << 2), o, inner, sa, sb);
    o += rowBytes;
    for (let d = R - 1; d >= 0; d--) {
      const v = ldi(idx, d) + 1;
      oa += ldi(stA, d);
      ob += ldi(stB, d);
      if (v < ldi(shape, d)) { sti(idx, d, v); break; }
      sti(idx, d, 0);
      oa -= ldi(stA, d) * ldi(shape, d);
      ob -= ldi(stB, d) * ldi(shape, d);
    }
  }
}

/** Fills n 32-bit words with `bits` (a float32 or int32 bit pattern), whole block. */
export function fill_u32(po: usize, n: i32, bits: i32): void {
  const s = i32x4.splat(bits);
  const end = po + ((<usize>n) << 2);
  for (let q = po; q < end; q += 16) v128.store(q, s);
}

/** float32 -> int32, truncating toward zero (NaN -> 0, saturating out of range). */
export function cast_f32_i32(px: usize, po: usize, n: i32): void {
  const end = px + ((<usize>n) << 2);
  for (let q = px, o = po; q < end; q += 16, o += 16) v128.store(o, i32x4.trunc_sat_f32x4_s(v128.load(q)));
}

/** int32 -> float32 (rounded to nearest). */
export function cast_i32_f32(px: usize, po: usize, n: i32): void {
  const end = px + ((<usize>n) << 2);
  for (let q = px, o = po; q < end; q += 16, o += 16) v128.store(o, f32x4.convert_i32x4_s(v128.load(q)));
}

/** Copies n 32-bit words (memory.copy). */
export function copy_u32(px: usize, po: usize, n: i32): void {
  memory.copy(po, px, (<usize>n) << 2);
}

/**
 * where: out = cond != 0 ? a : b over R broadcast dims. args: [R, shape[R], sC[R], sA[R], sB[R],
 * counters[R]]. condFloat = 1 tests cond as float32 (so -0.0 is false), else as int32 bits.
 */
export function where_u32(pc: usize, pa: usize, pb: usize, po: usize, condFloat: i32, args: usize): void {
  const R = ldi(args, 0);
  const shape = at(args, 1);
  const sC = at(args, 1 + R);
  const sA = at(args, 1 + 2 * R);
  const sB = at(args, 1 + 3 * R);
  const idx = at(args, 1 + 4 * R);
  let n = 1;
  for (let d = 0; d < R; d++) { n *= ldi(shape, d); sti(idx, d, 0); }
  if (n == 0) return;
  const last = R - 1;
  const L = R > 0 ? ldi(shape, last) : 1;
  const lc = R > 0 ? ldi(sC, last) : 0;
  const la = R > 0 ? ldi(sA, last) : 0;
  const lb = R > 0 ? ldi(sB, last) : 0;
  let oc = 0, oa = 0, ob = 0, o = 0;
  for (;;) {
    for (let j = 0; j < L; j++) {
      const c = condFloat ? load<f32>(pc + (<usize>(oc + j * lc) << 2)) != 0 : load<i32>(pc + (<usize>(oc + j * lc) << 2)) != 0;
      const v = c ? load<i32>(pa + (<usize>(oa + j * la) << 2)) : load<i32>(pb + (<usize>(ob + j * lb) << 2));
      store<i32>(po + (<usize>o << 2), v);
      o++;
    }
    let d = last - 1;
    for (; d >= 0; d--) {
      const v = ldi(idx, d) + 1;
      oc += ldi(sC, d); oa += ldi(sA, d); ob += ldi(sB, d);
      if (v < ldi(shape, d)) { sti(idx, d, v); break; }
      sti(idx, d, 0);
      const s = ldi(shape, d);
      oc -= ldi(sC, d) * s; oa -= ldi(sA, d) * s; ob -= ldi(sB, d) * s;
    }
    if (d < 0) return;
  }
}
