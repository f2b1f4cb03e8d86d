/**
 * Data movement, for float32 and int32 alike (4-byte words): one strided copy serves permute,
 * slice (any step ≥ 0, a step of 0 repeats), flip, pad, concat and expand; plus gather,
 * scatterAdd and indexSelect.
 *
 * copy_nd walks R dims in row-major order of `shape` with an odometer; the input and the output
 * each have their own strides (in elements, possibly 0 or negative), so the same loop copies
 * "strided in, contiguous out" (permute/slice/flip) or "contiguous in, strided out" (pad, concat).
 * JS merges adjacent dims first, so the innermost run is as long as possible; when both sides are
 * contiguous along it the run is one memory.copy, when the input stride is 0 it is a SIMD fill.
 * Transposes (input stride ≠ 1 along the output's last dim) use 8x8 blocks when the input's
 * contiguous dim is the output's second-to-last, so that both reads and writes touch whole cache
 * lines.
 */
import { at, ldi, sti } from './common';

/** args: [R, shape[R], inStride[R], outStride[R], counters[R]]. */
export function copy_nd_u32(px: usize, po: usize, args: usize): void {
  const R = ldi(args, 0);
  const shape = at(args, 1);
  const sIn = at(args, 1 + R);
  const sOut = at(args, 1 + 2 * R);
  const idx = at(args, 1 + 3 * R);
  let n = 1;
  for (let d = 0; d < R; d++) { n *= ldi(shape, d); sti(idx, d, 0); }
  if (n == 0) return;
  if (R == 0) { store<i32>(po, load<i32>(px)); return; }
  const last = R - 1;
  const L = ldi(shape, last);
  const li = ldi(sIn, last);
  const lo = ldi(sOut, last);
  // 8x8 tiled transpose: output dim last-1 is the input's contiguous one, and the output is contiguous along last
  if (R >= 2 && lo == 1 && li != 1 && ldi(sIn, last - 1) == 1 && ldi(sOut, last - 1) == L && L >= 8 && ldi(shape, last - 1) >= 8) {
    transpose_tiles(px, po, R, shape, sIn, sOut, idx);
    return;
  }
  let oi = 0, oo = 0;
  for (;;) {
    const src = px + (<usize>oi << 2);
    const dst = po + (<usize>oo << 2);
    if (li == 1 && lo == 1) memory.copy(dst, src, (<usize>L) << 2);
    else if (li == 0 && lo == 1) {
      const v = load<i32>(src);
      const s = i32x4.splat(v);
      let j = 0;
      for (; j + 4 <= L; j += 4) v128.store(dst + (<usize>j << 2), s);
      for (; j < L; j++) store<i32>(dst + (<usize>j << 2), v);
    } else {
      for (let j = 0; j < L; j++) store<i32>(dst + (<usize>(j * lo) << 2), load<i32>(src + (<usize>(j * li) << 2)));
    }
    let d = last - 1;
    for (; d >= 0; d--) {
      const v = ldi(idx, d) + 1;
      oi += ldi(sIn, d);
      oo += ldi(sOut, d);
      if (v < ldi(shape, d)) { sti(idx, d, v); break; }
      sti(idx, d, 0);
      oi -= ldi(sIn, d) * ldi(shape, d);
      oo -= ldi(sOut, d) * ldi(shape, d);
    }
    if (d < 0) return;
  }
}

/** The last two dims as a 2-D transpose in 8x8 blocks; the outer R-2 dims by odometer. */
function transpose_tiles(px: usize, po: usize, R: i32, shape: usize, sIn: usize, sOut: usize, idx: usize): void {
  const last = R - 1;
  const A = ldi(shape, last - 1); // output rows = input's contiguous dim
  const B = ldi(shape, last); // output cols
  const si = ldi(sIn, last); // input stride along output cols
  let oi = 0, oo = 0;
  for (;;) {
    const src = px + (<usize>oi << 2);
    const dst = po + (<usize>oo << 2);
    for (let r0 = 0; r0 < A; r0 += 8) {
      const r1 = min(r0 + 8, A);
      for (let c0 = 0; c0 < B; c0 += 8) {
        const c1 = min(c0 + 8, B);
        for (let r = r0; r < r1; r++) {
          for (let c = c0; c < c1; c++) store<i32>(dst + (<usize>(r * B + c) << 2), load<i32>(src + (<usize>(c * si + r) << 2)));
        }
      }
    }
    let d = last - 2;
    for (; d >= 0; d--) {
      const v = ldi(idx, d) + 1;
      oi += ldi(sIn, d);
      oo += ldi(sOut, d);
      if (v < ldi(shape, d)) { sti(idx, d, v); break; }
      sti(idx, d, 0);
      oi -= ldi(sIn, d) * ldi(shape, d);
      oo -= ldi(sOut, d) * ldi(shape, d);
    }
    if (d < 0) return;
  }
}

/**
 * torch.gather / scatter_add offsets: for each element i of index (row-major over ishape), the
 * x offset is Σ_d (d == axis ? index[i] : i_d)·xStride[d]. args: [R, ishape[R], xStride[R], counters[R]].
 * mode 0: out[i] = x[off] (gather); 1: out[off] += src[i] as f32; 2: as i32 (scatterAdd; out pre-zeroed).
 */
export function gather_scatter_u32(mode: i32, px: usize, pidx: usize, po: usize, axis: i32, args: usize): void {
  const R = ldi(args, 0);
  const shape = at(args, 1);
  const xs = at(args, 1 + R);
  const cnt = at(args, 1 + 2 * R);
  let n = 1;
  for (let d = 0; d < R; d++) { n *= ldi(shape, d); sti(cnt, d, 0); }
  const sAxis = ldi(xs, axis);
  let base = 0; // Σ over d != axis of i_d·xStride[d]
  for (let i = 0; i < n; i++) {
    const off = base + ldi(pidx, i) * sAxis;
    if (mode == 0) store<i32>(po + (<usize>i << 2), load<i32>(px + (<usize>off << 2)));
    else if (mode == 1) { const p = po + (<usize>off << 2); store<f32>(p, load<f32>(p) + load<f32>(px + (<usize>i << 2))); }
    else { const p = po + (<usize>off << 2); store<i32>(p, load<i32>(p) + load<i32>(px + (<usize>i << 2))); }
    for (let d = R - 1; d >= 0; d--) {
      const v = ldi(cnt, d) + 1;
      const st = d == axis ? 0 : ldi(xs, d);
      base += st;
      if (v < ldi(shape, d)) { sti(cnt, d, v); break; }
      sti(cnt, d, 0);
      base -= st * ldi(shape, d);
    }
  }
}

/** torch.index_select on x viewed as [outer, n, inner] with k indices: memory.copy per block. */
export function index_select_u32(px: usize, pidx: usize, po: usize, outer: i32, n: i32, k: i32, inner: i32): void {
  const blk = (<usize>inner) << 2;
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < k; j++) {
      const src = px + (<usize>(o * n + ldi(pidx, j)) * blk);
      memory.copy(po + (<usize>(o * k + j)) * blk, src, blk);
    }
  }
}
