/**
 * scaledDotProductAttention: out = softmax(q·kᵀ·scale + mask)·v, blocked with an online softmax
 * (flash attention on one core), and its backward recomputing the probabilities from the saved
 * row log-sum-exp (see backends/cpu/attention.ts for the math).
 *
 * Every product is one 4x8 register tile (micro below): C[4 rows][8 columns] (+)= Σ_k A_i(k)·B(k),
 * with the four A rows addressed by pointers and B rows of 8 floats: per k, two f32x4 loads of B,
 * four splat-loads of A, eight multiply-adds. The operands are laid out so that every B row is 8
 * contiguous floats:
 *   KP: K packed in panels of 8 keys, [Lk/8][D][8]   (B of S = Q·Kᵀ, and of dP = dO·Vᵀ with VT)
 *   VP: V with rows padded to Dvp = ⌈Dv/8⌉·8           (B of acc += P·V)
 * packed once per (batch, head) and reused by every query block.
 *
 * Forward, per (b, h), query block of BR rows, key tile of BC keys:
 *   1. S[BR][BC] = Q_blk·K_tileᵀ (micro over D), then ·scale + mask; keys past Lk get -Infinity.
 *   2. per row: m' = max(m, max_j S), corr = e^(m - m'), P = e^(S - m') (SIMD exp), l = l·corr + Σ P.
 *      No exp() sees a positive argument, so logits of ±5000 are safe.
 *   3. ACC[BR][Dvp] = corr·ACC + P·V_tile (micro over the tile's keys).
 *   At the end out = ACC / l and lse = m + ln l; a row whose logits are all -Infinity has l = 0
 *   and gives out = 0, lse = -Infinity. Memory: the BR×BC scores and the BR×Dvp accumulator stay in
 *   L1; K and V tiles (BC·(D + Dv) floats) come from L2 once per query block.
 *
 * Backward (key tiles outer, so dK and dV of a tile accumulate in L1), per query block:
 *   S = Q·Kᵀ; P = e^(S·scale + mask - lse); dP = dO·Vᵀ; dS = P∘(dP - Δ)·scale, Δ_i = dO_i·out_i
 *   dV_tile += Pᵀ·dO   dK_tile += dSᵀ·Q   dQ_blk += dS·K_tile
 * The transposed products read A down the columns of P/dS (pointer stride BC floats). Rows with
 * lse = -Infinity (fully masked) contribute nothing. Extra packed copies: VT (V in panels, for dP),
 * KR/QR/GR (K, Q, dO with rows padded to a multiple of 8, as B operands), DQ (float32 accumulator).
 *
 * The mask is additive, element (i, j) of head (b, h) at b·ms0 + h·ms1 + i·ms2 + j·ms3 (strides 0
 * on broadcast dims), strides passed in the args block [ms0, ms1, ms2, ms3].
 *
 * THREADS (../attention.ts splits, each thread with its own work area; scale comes as its f32
 * bits in an i32, since thread jobs pass i32 arguments only):
 * - forward: units are (head bh, query block), u = bh·⌈Lq/BR⌉ + block; a thread takes a range
 *   [u0, u1), packs K/V of each head it touches and writes its own rows of out and lse. Each row
 *   is computed as on one thread: bit-identical.
 * - backward: units are (head bh, key tile), u = bh·⌈Lk/BC⌉ + tile; a thread owns the dK/dV rows
 *   of its tiles. dQ of a head sums over all its key tiles: a head whose tiles all fall in the
 *   thread's range gets dQ written directly; a head split between threads (at most the first and
 *   the last of a range) gets this thread's partial dQ in dqp (slot 0: the range's first head,
 *   slot 1: its last), and attention_dq_sum_f32 adds the partials in thread order. Only that sum
 *   is associated differently from one thread (float32 rounding of a dQ sum: within tolerance);
 *   dK, dV and every other head's dQ are bit-identical.
 */
import { exp_nonpos_v, ldi, madd } from './common';

/** Query rows per block. */
const BR = 16;
/** Keys per tile (a multiple of 8). */
const BC = 32;

@inline function F(p: usize, i: i32): usize {
  return p + ((<usize>i) << 2);
}
@inline function up8(n: i32): i32 {
  return (n + 7) & ~7;
}

/**
 * C[4][8] (+)= Σ_{k<n} A_i(k)·B(k): A_i(k) at a_i + k·sa (bytes), B(k) = 8 floats at b + k·bs,
 * C row i at c + i·ldc. acc: add to C (else overwrite).
 */
@inline function micro(a0: usize, a1: usize, a2: usize, a3: usize, sa: usize, b: usize, bs: usize, n: i32, c: usize, ldc: usize, acc: bool): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  if (acc) {
    c00 = v128.load(c); c01 = v128.load(c, 16);
    c10 = v128.load(c + ldc); c11 = v128.load(c + ldc, 16);
    c20 = v128.load(c + 2 * ldc); c21 = v128.load(c + 2 * ldc, 16);
    c30 = v128.load(c + 3 * ldc); c31 = v128.load(c + 3 * ldc, 16);
  }
  for (let k = 0; k < n; k++) {
    const b0 = v128.load(b);
    const b1 = v128.load(b, 16);
    const x0 = v128.load32_splat(a0);
    c00 = madd(x0, b0, c00); c01 = madd(x0, b1, c01);
    const x1 = v128.load32_splat(a1);
    c10 = madd(x1, b0, c10); c11 = madd(x1, b1, c11);
    const x2 = v128.load32_splat(a2);
    c20 = madd(x2, b0, c20); c21 = madd(x2, b1, c21);
    const x3 = v128.load32_splat(a3);
    c30 = madd(x3, b0, c30); c31 = madd(x3, b1, c31);
    a0 += sa; a1 += sa; a2 += sa; a3 += sa;
    b += bs;
  }
  v128.store(c, c00); v128.store(c, c01, 16);
  v128.store(c + ldc, c10); v128.store(c + ldc, c11, 16);
  v128.store(c + 2 * ldc, c20); v128.store(c + 2 * ldc, c21, 16);
  v128.store(c + 3 * ldc, c30); v128.store(c + 3 * ldc, c31, 16);
}

/** Packs the rows [0, L) of x [L, D] into panels of 8 rows, [⌈L/8⌉][D][8], zero padded. */
function pack_panels(x: usize, L: i32, D: i32, dst: usize): void {
  for (let j0 = 0; j0 < L; j0 += 8) {
    const panel = F(dst, j0 * D);
    for (let jj = 0; jj < 8; jj++) {
      const j = j0 + jj;
      if (j < L) {
        const row = F(x, j * D);
        for (let d = 0; d < D; d++) store<f32>(F(panel, d * 8 + jj), load<f32>(F(row, d)));
      } else {
        for (let d = 0; d < D; d++) store<f32>(F(panel, d * 8 + jj), 0);
      }
    }
  }
}

/** Copies x [L, D] into rows of Dp floats (zero padded). */
function pad_rows(x: usize, L: i32, D: i32, Dp: i32, dst: usize): void {
  for (let j = 0; j < L; j++) {
    memory.copy(F(dst, j * Dp), F(x, j * D), (<usize>D) << 2);
    if (Dp > D) memory.fill(F(dst, j * Dp + D), 0, (<usize>(Dp - D)) << 2);
  }
}

// mask strides (elements) and this head's mask base
let MS2 = 0, MS3 = 0;

/**
 * S[r][c] = S[r][c]·scale + mask(i0 + r, j0 + c) for r < rows, c < cols; c ≥ cols gets -Infinity.
 */
function scale_mask(S: usize, rows: i32, cols: i32, scale: f32, mbase: usize, i0: i32, j0: i32): void {
  const vs = f32x4.splat(scale);
  for (let r = 0; r < rows; r++) {
    const srow = F(S, r * BC);
    let c = 0;
    if (mbase && MS3 == 1) {
      const mrow = F(mbase, (i0 + r) * MS2 + j0);
      for (; c + 4 <= cols; c += 4) v128.store(F(srow, c), f32x4.add(f32x4.mul(v128.load(F(srow, c)), vs), v128.load(F(mrow, c))));
      for (; c < cols; c++) store<f32>(F(srow, c), load<f32>(F(srow, c)) * scale + load<f32>(F(mrow, c)));
    } else if (mbase) {
      const mv = f32x4.splat(load<f32>(F(mbase, (i0 + r) * MS2 + j0 * MS3)));
      if (MS3 == 0) {
        for (; c + 4 <= cols; c += 4) v128.store(F(srow, c), f32x4.add(f32x4.mul(v128.load(F(srow, c)), vs), mv));
      }
      for (; c < cols; c++) store<f32>(F(srow, c), load<f32>(F(srow, c)) * scale + load<f32>(F(mbase, (i0 + r) * MS2 + (j0 + c) * MS3)));
    } else {
      for (; c + 4 <= cols; c += 4) v128.store(F(srow, c), f32x4.mul(v128.load(F(srow, c)), vs));
      for (; c < cols; c++) store<f32>(F(srow, c), load<f32>(F(srow, c)) * scale);
    }
    for (c = cols; c < BC; c++) store<f32>(F(srow, c), -Infinity);
  }
}

/** S[0..rows)[0..BC) = Q rows (i0..)·K panels (tile j0..), D products each; rows past Lq repeat the last. */
function scores(q: usize, Lq: i32, i0: i32, rows: i32, D: i32, KP: usize, j0: i32, cols: i32, S: usize): void {
  for (let r4 = 0; r4 < rows; r4 += 4) {
    const a0 = F(q, (i0 + r4) * D);
    const a1 = F(q, min(i0 + r4 + 1, Lq - 1) * D);
    const a2 = F(q, min(i0 + r4 + 2, Lq - 1) * D);
    const a3 = F(q, min(i0 + r4 + 3, Lq - 1) * D);
    for (let c8 = 0; c8 < cols; c8 += 8) {
      micro(a0, a1, a2, a3, 4, F(KP, (j0 + c8) * D), 32, D, F(S, r4 * BC + c8), BC * 4, false);
    }
  }
}

export function attention_work_bytes(Lq: i32, Lk: i32, D: i32, Dv: i32): i32 {
  return (up8(Lk) * D + Lk * up8(Dv) + BR * BC + BR * up8(Dv) + 3 * BR) * 4 + 64;
}

/**
 * out [B, H, Lq, Dv] and lse [B, H, Lq] from q [B, H, Lq, D], k [B, H, Lk, D], v [B, H, Lk, Dv]
 * and the additive mask at pmask (0: none) with strides in margs.
 */
export function attention_f32(pq: usize, pk: usize, pv: usize, pmask: usize, pout: usize, plse: usize, H: i32, Lq: i32, Lk: i32, D: i32, Dv: i32, scaleBits: i32, work: usize, margs: usize, u0: i32, u1: i32): void {
  const scale = reinterpret<f32>(scaleBits);
  const nqb = (Lq + BR - 1) / BR;
  const Dvp = up8(Dv);
  const KP = work;
  const VP = F(KP, up8(Lk) * D);
  const S = F(VP, Lk * Dvp);
  const ACC = F(S, BR * BC);
  const M = F(ACC, BR * Dvp);
  const L = F(M, BR);
  const CORR = F(L, BR);
  const ms0 = ldi(margs, 0), ms1 = ldi(margs, 1);
  MS2 = ldi(margs, 2);
  MS3 = ldi(margs, 3);
  if (u1 <= u0) return;
  for (let bh = u0 / nqb; bh * nqb < u1; bh++) {
    const b = bh / H, h = bh - b * H;
    const q = F(pq, bh * Lq * D);
    const v = F(pv, bh * Lk * Dv);
    const mbase = pmask ? F(pmask, b * ms0 + h * ms1) : 0;
    pack_panels(F(pk, bh * Lk * D), Lk, D, KP);
    pad_rows(v, Lk, Dv, Dvp, VP);
    const iEnd = min(Lq, (u1 - bh * nqb) * BR);
    for (let i0 = max(0, u0 - bh * nqb) * BR; i0 < iEnd; i0 += BR) {
      const rows = min(BR, Lq - i0);
      for (let r = 0; r < rows; r++) {
        store<f32>(F(M, r), -Infinity);
        store<f32>(F(L, r), 0);
      }
      memory.fill(ACC, 0, (<usize>(BR * Dvp)) << 2);
      for (let j0 = 0; j0 < Lk; j0 += BC) {
        const cols = min(BC, Lk - j0);
        scores(q, Lq, i0, rows, D, KP, j0, cols, S);
        scale_mask(S, rows, cols, scale, mbase, i0, j0);
        // online softmax: P = e^(S - m'), running sums rescaled to the new max
        for (let r = 0; r < rows; r++) {
          const srow = F(S, r * BC);
          // a NaN or +Infinity logit makes the row NaN, as softmax does in PyTorch
          let vbad = i32x4.splat(0);
          const vinf = f32x4.splat(Infinity);
          for (let c = 0; c < BC; c += 4) {
            const x = v128.load(F(srow, c));
            vbad = v128.or(vbad, v128.or(f32x4.ne(x, x), f32x4.eq(x, vinf)));
          }
          if (v128.any_true(vbad)) {
            store<f32>(F(L, r), NaN);
            memory.fill(srow, 0, BC * 4);
            store<f32>(F(CORR, r), 1);
            continue;
          }
          let vm = v128.load(srow);
          for (let c = 4; c < BC; c += 4) vm = f32x4.pmax(vm, v128.load(F(srow, c)));
          const tmax = max(max(f32x4.extract_lane(vm, 0), f32x4.extract_lane(vm, 1)), max(f32x4.extract_lane(vm, 2), f32x4.extract_lane(vm, 3)));
          const mold = load<f32>(F(M, r));
          const mnew = max(mold, tmax);
          if (mnew == -Infinity) {
            // every logit so far is masked: no terms yet
            memory.fill(srow, 0, BC * 4);
            store<f32>(F(CORR, r), 1);
            continue;
          }
          const corr = Mathf.exp(mold - mnew);
          const vmn = f32x4.splat(mnew);
          let vsum = f32x4.splat(0);
          for (let c = 0; c < BC; c += 4) {
            const e = exp_nonpos_v(f32x4.sub(v128.load(F(srow, c)), vmn));
            v128.store(F(srow, c), e);
            vsum = f32x4.add(vsum, e);
          }
          const s = (f32x4.extract_lane(vsum, 0) + f32x4.extract_lane(vsum, 1)) + (f32x4.extract_lane(vsum, 2) + f32x4.extract_lane(vsum, 3));
          store<f32>(F(L, r), load<f32>(F(L, r)) * corr + s);
          store<f32>(F(M, r), mnew);
          store<f32>(F(CORR, r), corr);
        }
        // ACC = corr·ACC + P·V_tile
        for (let r = 0; r < rows; r++) {
          const corr = load<f32>(F(CORR, r));
          if (corr == 1) continue;
          const vc = f32x4.splat(corr);
          const arow = F(ACC, r * Dvp);
          for (let d = 0; d < Dvp; d += 4) v128.store(F(arow, d), f32x4.mul(v128.load(F(arow, d)), vc));
        }
        for (let r4 = 0; r4 < rows; r4 += 4) {
          const a0 = F(S, r4 * BC);
          for (let d0 = 0; d0 < Dvp; d0 += 8) {
            micro(a0, a0 + BC * 4, a0 + 2 * BC * 4, a0 + 3 * BC * 4, 4, F(VP, j0 * Dvp + d0), (<usize>Dvp) << 2, cols, F(ACC, r4 * Dvp + d0), (<usize>Dvp) << 2, true);
          }
        }
      }
      // out = ACC / l, lse = m + ln l (fully masked rows: 0 and -Infinity)
      for (let r = 0; r < rows; r++) {
        const row = bh * Lq + i0 + r;
        const o = F(pout, row * Dv);
        const arow = F(ACC, r * Dvp);
        const l = load<f32>(F(L, r));
        if (l > 0) {
          const inv = <f32>1 / l;
          const vi = f32x4.splat(inv);
          let d = 0;
          for (; d + 4 <= Dv; d += 4) v128.store(F(o, d), f32x4.mul(v128.load(F(arow, d)), vi));
          for (; d < Dv; d++) store<f32>(F(o, d), load<f32>(F(arow, d)) * inv);
          store<f32>(F(plse, row), load<f32>(F(M, r)) + Mathf.log(l));
        } else if (l != l) {
          // a NaN or +Infinity logit (see above): NaN
          for (let d = 0; d < Dv; d++) store<f32>(F(o, d), NaN);
          store<f32>(F(plse, row), NaN);
        } else {
          for (let d = 0; d < Dv; d++) store<f32>(F(o, d), 0);
          store<f32>(F(plse, row), -Infinity);
        }
      }
    }
  }
}

export function attention_backward_work_bytes(Lq: i32, Lk: i32, D: i32, Dv: i32): i32 {
  const Dp = up8(D), Dvp = up8(Dv);
  const Lq16 = (Lq + BR - 1) / BR * BR;
  return (up8(Lk) * D + up8(Lk) * Dv + Lk * Dp + Lq * Dp + Lq * Dvp + Lq16 * Dp + Lq + 2 * BR * BC + BC * Dp + BC * Dvp) * 4 + 64;
}

/**
 * dq, dk, dv from dOut, q, k, v, out, lse (and the mask), as attention_f32, for the units (head,
 * key tile) [u0, u1); partial dQ of split heads into dqp ([2][Lq][D], see THREADS).
 * Pointers and sizes come in the args block: [ms0, ms1, ms2, ms3, pdo, pq, pk, pv, pout, plse,
 * pmask, pdq, pdk, pdv, H, Lq, Lk, D, Dv, scaleBits] (more than a thread job's 18 arguments).
 */
export function attention_backward_f32(margs: usize, work: usize, dqp: usize, u0: i32, u1: i32): void {
  const pdo = <usize>ldi(margs, 4), pq = <usize>ldi(margs, 5), pk = <usize>ldi(margs, 6), pv = <usize>ldi(margs, 7);
  const pout = <usize>ldi(margs, 8), plse = <usize>ldi(margs, 9), pmask = <usize>ldi(margs, 10);
  const pdq = <usize>ldi(margs, 11), pdk = <usize>ldi(margs, 12), pdv = <usize>ldi(margs, 13);
  const H = ldi(margs, 14), Lq = ldi(margs, 15), Lk = ldi(margs, 16), D = ldi(margs, 17), Dv = ldi(margs, 18);
  const scale = reinterpret<f32>(ldi(margs, 19));
  const nkt = (Lk + BC - 1) / BC;
  const Dp = up8(D), Dvp = up8(Dv);
  const Lq16 = (Lq + BR - 1) / BR * BR;
  const KP = work;
  const VT = F(KP, up8(Lk) * D);
  const KR = F(VT, up8(Lk) * Dv);
  const QR = F(KR, Lk * Dp);
  const GR = F(QR, Lq * Dp);
  const DQ = F(GR, Lq * Dvp);
  const S = F(DQ, Lq16 * Dp);
  const DS = F(S, BR * BC);
  const DK = F(DS, BR * BC);
  const DV = F(DK, BC * Dp);
  const DELTA = F(DV, BC * Dvp);
  const ms0 = ldi(margs, 0), ms1 = ldi(margs, 1);
  MS2 = ldi(margs, 2);
  MS3 = ldi(margs, 3);
  const vscale = f32x4.splat(scale);
  if (u1 <= u0) return;
  const first = u0 / nkt, last = (u1 - 1) / nkt;
  for (let bh = first; bh <= last; bh++) {
    const b = bh / H, h = bh - b * H;
    const ta = max(0, u0 - bh * nkt), tb = min(nkt, u1 - bh * nkt);
    const q = F(pq, bh * Lq * D);
    const k = F(pk, bh * Lk * D);
    const g = F(pdo, bh * Lq * Dv);
    const o = F(pout, bh * Lq * Dv);
    const lse = F(plse, bh * Lq);
    const mbase = pmask ? F(pmask, b * ms0 + h * ms1) : 0;
    pack_panels(k, Lk, D, KP);
    pack_panels(F(pv, bh * Lk * Dv), Lk, Dv, VT);
    pad_rows(k, Lk, D, Dp, KR);
    pad_rows(q, Lq, D, Dp, QR);
    pad_rows(g, Lq, Dv, Dvp, GR);
    memory.fill(DQ, 0, (<usize>(Lq16 * Dp)) << 2);
    // Δ_i = dO_i · out_i
    for (let i = 0; i < Lq; i++) {
      let s: f32 = 0;
      for (let d = 0; d < Dv; d++) s += load<f32>(F(g, i * Dv + d)) * load<f32>(F(o, i * Dv + d));
      store<f32>(F(DELTA, i), s);
    }
    for (let j0 = ta * BC; j0 < tb * BC; j0 += BC) {
      const cols = min(BC, Lk - j0);
      memory.fill(DK, 0, (<usize>(BC * Dp)) << 2);
      memory.fill(DV, 0, (<usize>(BC * Dvp)) << 2);
      for (let i0 = 0; i0 < Lq; i0 += BR) {
        const rows = min(BR, Lq - i0);
        scores(q, Lq, i0, rows, D, KP, j0, cols, S);
        scale_mask(S, rows, cols, scale, mbase, i0, j0);
        scores(g, Lq, i0, rows, Dv, VT, j0, cols, DS); // dP = dO·Vᵀ
        let live = false;
        for (let r = 0; r < rows; r++) {
          const srow = F(S, r * BC), drow = F(DS, r * BC);
          const l = load<f32>(F(lse, i0 + r));
          if (l == -Infinity) {
            // fully masked row: no gradient
            memory.fill(srow, 0, BC * 4);
            memory.fill(drow, 0, BC * 4);
            continue;
          }
          live = true;
          const vl = f32x4.splat(l);
          const vd = f32x4.splat(load<f32>(F(DELTA, i0 + r)));
          for (let c = 0; c < BC; c += 4) {
            const p = exp_nonpos_v(f32x4.sub(v128.load(F(srow, c)), vl));
            v128.store(F(srow, c), p);
            v128.store(F(drow, c), f32x4.mul(f32x4.mul(p, f32x4.sub(v128.load(F(drow, c)), vd)), vscale));
          }
        }
        if (!live) continue;
        // dV_tile += Pᵀ·dO_blk and dK_tile += dSᵀ·Q_blk (A read down the columns: stride BC)
        for (let c4 = 0; c4 < cols; c4 += 4) {
          const p0 = F(S, c4), s0 = F(DS, c4);
          for (let d0 = 0; d0 < Dvp; d0 += 8) {
            micro(p0, p0 + 4, p0 + 8, p0 + 12, BC * 4, F(GR, i0 * Dvp + d0), (<usize>Dvp) << 2, rows, F(DV, c4 * Dvp + d0), (<usize>Dvp) << 2, true);
          }
          for (let d0 = 0; d0 < Dp; d0 += 8) {
            micro(s0, s0 + 4, s0 + 8, s0 + 12, BC * 4, F(QR, i0 * Dp + d0), (<usize>Dp) << 2, rows, F(DK, c4 * Dp + d0), (<usize>Dp) << 2, true);
          }
        }
        // dQ_blk += dS·K_tile
        for (let r4 = 0; r4 < rows; r4 += 4) {
          const a0 = F(DS, r4 * BC);
          for (let d0 = 0; d0 < Dp; d0 += 8) {
            micro(a0, a0 + BC * 4, a0 + 2 * BC * 4, a0 + 3 * BC * 4, 4, F(KR, j0 * Dp + d0), (<usize>Dp) << 2, cols, F(DQ, (i0 + r4) * Dp + d0), (<usize>Dp) << 2, true);
          }
        }
      }
      for (let c = 0; c < cols; c++) {
        memory.copy(F(pdk, (bh * Lk + j0 + c) * D), F(DK, c * Dp), (<usize>D) << 2);
        memory.copy(F(pdv, (bh * Lk + j0 + c) * Dv), F(DV, c * Dvp), (<usize>Dv) << 2);
      }
    }
    // the head's dQ, or this thread's part of it (a head split between threads)
    const whole = ta == 0 && tb == nkt;
    const dst = whole ? F(pdq, bh * Lq * D) : F(dqp, (bh == first ? 0 : 1) * Lq * D);
    for (let i = 0; i < Lq; i++) memory.copy(F(dst, i * D), F(DQ, i * Dp), (<usize>D) << 2);
  }
}

/**
 * dst[0..n) = Σ_t src_t[0..n) over the `count` partial dQ blocks whose pointers are the i32 words
 * at srcs, added in that (thread) order.
 */
export function attention_dq_sum_f32(dst: usize, n: i32, srcs: usize, count: i32): void {
  const p0 = <usize>ldi(srcs, 0);
  memory.copy(dst, p0, (<usize>n) << 2);
  for (let t = 1; t < count; t++) {
    const p = <usize>ldi(srcs, t);
    let i = 0;
    for (; i + 4 <= n; i += 4) v128.store(F(dst, i), f32x4.add(v128.load(F(dst, i)), v128.load(F(p, i))));
    for (; i < n; i++) store<f32>(F(dst, i), load<f32>(F(dst, i)) + load<f32>(F(p, i)));
  }
}
