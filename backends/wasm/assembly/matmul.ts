/**
 * GEMM: C[M, N] (+)= op(A)[M, K] · op(B)[K, N], the one routine behind matmul/bmm, conv2d (im2col)
 * and its backward passes. Operands are addressed by strides, so transposes cost nothing:
 * A(i, k) = A[i·rsA + k·csA], B(k, j) = B[k·rsB + j·csB], C(i, j) = C[i·ldc + j].
 *
 * Blocking (Goto/BLIS):
 *   for jc in N step NC:            B block  [KC x NC]  -> packed into panels of NR columns (L2)
 *     for pc in K step KC:
 *       pack B[pc.., jc..]          layout: per NR-strip, KC rows of NR floats (zero padded)
 *       for ic in M step MC:        A block  [MC x KC]  -> packed into panels of MR rows (L2/L1)
 *         pack A[ic.., pc..]        layout: per MR-strip, KC columns of MR floats (zero padded)
 *         for jr, ir: micro-kernel  C[MR x NR] += Ap[MR x KC] · Bp[KC x NR]
 * Micro-kernel: MR = 4 rows x NR = 8 columns = 8 f32x4 accumulators held in registers. Each k step
 * loads two f32x4 of B, splats four A values (v128.load32_splat), and does 8 multiply-adds
 * (f32x4.relaxed_madd, a fused multiply-add, in the relaxed build; mul + add otherwise). The packed
 * panels make every load in the inner loop sequential. Tiles at the right/bottom edges are computed
 * whole into a small tile buffer and the valid part added to C.
 * The first K block stores (or, with `accumulate`, adds to) C; later K blocks add.
 * Epilogue (gemm_conv_f32, conv2d's forward): on the last K block only, the register tile's
 * write-back also adds bias[row] and clamps to [lo, hi] before the store: C = min(max((C_prev +
 * Σ) + bias, lo), hi), the same float ops in the same order as a separate pass after the GEMM, so
 * the result is bit-identical to it, without reading and writing C again. Full tiles clamp with
 * f32x4.pmin/pmax (1 x64 instruction each, against ~8 for min/max), equal to min/max on these
 * sums (micro4x8e). Measured (1 thread, 2-core EPYC, busy machine): a 1x1 conv 24 -> 144 on 64x64
 * with bias and ReLU6 took 34% longer than its bare GEMM with the separate pass, 5% fused.
 * gemmCore is inlined into each caller, so gemm_f32 (matmul, the backward passes) keeps the
 * unchanged tile loop without any epilogue code.
 * (Tried and measured slower on V8/x64: 6x8 (12 accumulators spill: V8 keeps one of the 16 xmm
 * registers as scratch), 5x8, and unrolling the k loop by two: 4x8 was 37 GFLOP/s, the others
 * 22-27 at 1024³ with relaxed SIMD.)
 */
import { ldi, madd } from './common';
import { conv_geometry, pack_b_conv } from './conv';

const MR = 4;
const NR = 8;

/** Block sizes (elements); set by JS (gemm_config) so they can be tuned without a rebuild. */
let KC = 256;
let MC = 128;
let NC = 1024;

export function gemm_config(kc: i32, mc: i32, nc: i32): void {
  KC = kc;
  MC = mc;
  NC = nc;
}

/** Bytes of scratch the packed A and B panels need (JS allocates them). */
export function gemm_pack_a_bytes(): i32 { return MC * KC * 4 + 64; }
export function gemm_pack_b_bytes(): i32 { return KC * (NC + NR) * 4 + 64; }

/** Packs B(pc..pc+kc, jc..jc+nc) into NR-column strips: dst[strip][k][0..NR). */
function packB(pb: usize, rsB: i32, csB: i32, pc: i32, kc: i32, jc: i32, nc: i32, dst: usize): void {
  for (let j0 = 0; j0 < nc; j0 += NR) {
    const nr = min(NR, nc - j0);
    const strip = dst + ((<usize>j0 * <usize>kc) << 2);
    if (csB == 1 && nr == NR) {
      let src = pb + ((<usize>(pc * rsB + jc + j0)) << 2);
      const step = (<usize>rsB) << 2;
      for (let k = 0; k < kc; k++, src += step) {
        const d = strip + ((<usize>k * NR) << 2);
        v128.store(d, v128.load(src));
        v128.store(d + 16, v128.load(src + 16));
      }
    } else {
      for (let jj = 0; jj < NR; jj++) {
        if (jj < nr) {
          let src = pb + ((<usize>((jc + j0 + jj) * csB + pc * rsB)) << 2);
          const step = (<usize>rsB) << 2;
          for (let k = 0; k < kc; k++, src += step) store<f32>(strip + ((<usize>(k * NR + jj)) << 2), load<f32>(src));
        } else {
          for (let k = 0; k < kc; k++) store<f32>(strip + ((<usize>(k * NR + jj)) << 2), 0);
        }
      }
    }
  }
}

/** Packs A(ic..ic+mc, pc..pc+kc) into MR-row strips: dst[strip][k][0..MR). */
function packA(pa: usize, rsA: i32, csA: i32, ic: i32, mc: i32, pc: i32, kc: i32, dst: usize): void {
  for (let i0 = 0; i0 < mc; i0 += MR) {
    const mr = min(MR, mc - i0);
    const strip = dst + ((<usize>i0 * <usize>kc) << 2);
    if (rsA == 1 && mr == MR) {
      // A transposed: the MR values of one k are contiguous
      let src = pa + ((<usize>(ic + i0 + pc * csA)) << 2);
      const step = (<usize>csA) << 2;
      for (let k = 0; k < kc; k++, src += step) v128.store(strip + ((<usize>k * MR) << 2), v128.load(src));
    } else {
      for (let ii = 0; ii < MR; ii++) {
        if (ii < mr) {
          let src = pa + ((<usize>((ic + i0 + ii) * rsA + pc * csA)) << 2);
          const step = (<usize>csA) << 2;
          for (let k = 0; k < kc; k++, src += step) store<f32>(strip + ((<usize>(k * MR + ii)) << 2), load<f32>(src));
        } else {
          for (let k = 0; k < kc; k++) store<f32>(strip + ((<usize>(k * MR + ii)) << 2), 0);
        }
      }
    }
  }
}

/** C[4 x 8] at pc (row stride ldc floats) = (add ? C : 0) + Ap[4 x kc] · Bp[kc x 8]. */
@inline function micro4x8(kc: i32, ap: usize, bp: usize, pc: usize, ldc: i32, add: bool): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  for (let k = 0; k < kc; k++) {
    const b0 = v128.load(bp);
    const b1 = v128.load(bp, 16);
    const a0 = v128.load32_splat(ap);
    c00 = madd(a0, b0, c00); c01 = madd(a0, b1, c01);
    const a1 = v128.load32_splat(ap, 4);
    c10 = madd(a1, b0, c10); c11 = madd(a1, b1, c11);
    const a2 = v128.load32_splat(ap, 8);
    c20 = madd(a2, b0, c20); c21 = madd(a2, b1, c21);
    const a3 = v128.load32_splat(ap, 12);
    c30 = madd(a3, b0, c30); c31 = madd(a3, b1, c31);
    ap += 16;
    bp += 32;
  }
  const ld = (<usize>ldc) << 2;
  if (add) {
    c00 = f32x4.add(c00, v128.load(pc)); c01 = f32x4.add(c01, v128.load(pc, 16));
    c10 = f32x4.add(c10, v128.load(pc + ld)); c11 = f32x4.add(c11, v128.load(pc + ld, 16));
    c20 = f32x4.add(c20, v128.load(pc + 2 * ld)); c21 = f32x4.add(c21, v128.load(pc + 2 * ld, 16));
    c30 = f32x4.add(c30, v128.load(pc + 3 * ld)); c31 = f32x4.add(c31, v128.load(pc + 3 * ld, 16));
  }
  v128.store(pc, c00); v128.store(pc, c01, 16);
  v128.store(pc + ld, c10); v128.store(pc + ld, c11, 16);
  v128.store(pc + 2 * ld, c20); v128.store(pc + 2 * ld, c21, 16);
  v128.store(pc + 3 * ld, c30); v128.store(pc + 3 * ld, c31, 16);
}

/**
 * micro4x8 with conv2d's epilogue on the write-back (the last K block only): per row i of the tile,
 * C = (add ? C + Σ : Σ), then + bias[i] (hasBias; pbias points at the tile's first row's bias),
 * then min(max(·, vl), vh) (clampOn). The same ops in the same order as bias_clamp_f32 after the
 * plain kernel, so bit-identical to it (f32x4.min/max propagate NaN like f32.min/max).
 * pclamp: the clamp as pmin(pmax(v, lo), hi) instead, which gives the same values as
 * min(max(v, lo), hi) whenever v is never -0 and lo, hi are not NaN and hi is not -0 (gemm_conv_f32
 * checks the bounds): the two differ only on NaN operands and on zeros of opposite signs. v is
 * never -0 here: the sums start from +0 (splat 0) and x + y is -0 in round-to-nearest only when
 * both are -0, so no sum, (C + Σ) or + bias is -0 (by induction; also for the fused madd). A NaN
 * v stays NaN (pmax(NaN, lo) = NaN, pmin(NaN, hi) = NaN); only its payload bits may differ, which
 * wasm leaves unspecified for f32x4.min/max as well. u = max(v, lo) may be -0 only when lo = -0,
 * and pmin(-0, hi) = min(-0, hi) for every hi.
 */
@inline function micro4x8e(kc: i32, ap: usize, bp: usize, pc: usize, ldc: i32, add: bool, pbias: usize, hasBias: bool, clampOn: bool, pclamp: bool, vl: v128, vh: v128): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  for (let k = 0; k < kc; k++) {
    const b0 = v128.load(bp);
    const b1 = v128.load(bp, 16);
    const a0 = v128.load32_splat(ap);
    c00 = madd(a0, b0, c00); c01 = madd(a0, b1, c01);
    const a1 = v128.load32_splat(ap, 4);
    c10 = madd(a1, b0, c10); c11 = madd(a1, b1, c11);
    const a2 = v128.load32_splat(ap, 8);
    c20 = madd(a2, b0, c20); c21 = madd(a2, b1, c21);
    const a3 = v128.load32_splat(ap, 12);
    c30 = madd(a3, b0, c30); c31 = madd(a3, b1, c31);
    ap += 16;
    bp += 32;
  }
  const ld = (<usize>ldc) << 2;
  if (add) {
    c00 = f32x4.add(c00, v128.load(pc)); c01 = f32x4.add(c01, v128.load(pc, 16));
    c10 = f32x4.add(c10, v128.load(pc + ld)); c11 = f32x4.add(c11, v128.load(pc + ld, 16));
    c20 = f32x4.add(c20, v128.load(pc + 2 * ld)); c21 = f32x4.add(c21, v128.load(pc + 2 * ld, 16));
    c30 = f32x4.add(c30, v128.load(pc + 3 * ld)); c31 = f32x4.add(c31, v128.load(pc + 3 * ld, 16));
  }
  if (hasBias) {
    const b0 = v128.load32_splat(pbias);
    const b1 = v128.load32_splat(pbias, 4);
    const b2 = v128.load32_splat(pbias, 8);
    const b3 = v128.load32_splat(pbias, 12);
    c00 = f32x4.add(c00, b0); c01 = f32x4.add(c01, b0);
    c10 = f32x4.add(c10, b1); c11 = f32x4.add(c11, b1);
    c20 = f32x4.add(c20, b2); c21 = f32x4.add(c21, b2);
    c30 = f32x4.add(c30, b3); c31 = f32x4.add(c31, b3);
  }
  if (clampOn && pclamp) {
    // pmax(c, lo) = c < lo ? lo : c, pmin(u, hi) = hi < u ? hi : u: one instruction each on x64
    // (f32x4.min/max take ~8 for their NaN and signed-zero rules); equal to them here, see pclamp
    c00 = f32x4.pmin(f32x4.pmax(c00, vl), vh); c01 = f32x4.pmin(f32x4.pmax(c01, vl), vh);
    c10 = f32x4.pmin(f32x4.pmax(c10, vl), vh); c11 = f32x4.pmin(f32x4.pmax(c11, vl), vh);
    c20 = f32x4.pmin(f32x4.pmax(c20, vl), vh); c21 = f32x4.pmin(f32x4.pmax(c21, vl), vh);
    c30 = f32x4.pmin(f32x4.pmax(c30, vl), vh); c31 = f32x4.pmin(f32x4.pmax(c31, vl), vh);
  } else if (clampOn) {
    c00 = f32x4.min(f32x4.max(c00, vl), vh); c01 = f32x4.min(f32x4.max(c01, vl), vh);
    c10 = f32x4.min(f32x4.max(c10, vl), vh); c11 = f32x4.min(f32x4.max(c11, vl), vh);
    c20 = f32x4.min(f32x4.max(c20, vl), vh); c21 = f32x4.min(f32x4.max(c21, vl), vh);
    c30 = f32x4.min(f32x4.max(c30, vl), vh); c31 = f32x4.min(f32x4.max(c31, vl), vh);
  }
  v128.store(pc, c00); v128.store(pc, c01, 16);
  v128.store(pc + ld, c10); v128.store(pc + ld, c11, 16);
  v128.store(pc + 2 * ld, c20); v128.store(pc + 2 * ld, c21, 16);
  v128.store(pc + 3 * ld, c30); v128.store(pc + 3 * ld, c31, 16);
}

/**
 * Skinny products (M < 4 or N < 4: a linear layer on one sample, a matrix-vector product), where
 * packing would copy a whole operand to use a fraction of the 4x8 tile. Each output row (or column)
 * is computed directly:
 *  - B contiguous along j (csB == 1) and N ≥ 4: C[i, :] += A(i, k)·B[k, :], f32x4 along j;
 *  - otherwise C(i, j) = dot(A(i, :), B(:, j)), f32x4 along k when both are contiguous in k,
 *    after gathering a strided A row (or B column) into `tmp` (K floats of scratch).
 * Rows of C are written in column order [jBegin, jEnd) like gemm_f32.
 */
export function gemm_skinny_f32(
  M: i32, N: i32, K: i32,
  pa: usize, rsA: i32, csA: i32,
  pb: usize, rsB: i32, csB: i32,
  pc: usize, ldc: i32, accumulate: i32, tmp: usize, tmp2: usize,
): void {
  for (let i = 0; i < M; i++) {
    const crow = pc + ((<usize>(i * ldc)) << 2);
    if (!accumulate) memory.fill(crow, 0, (<usize>N) << 2);
    if (csB == 1 && N >= 4) {
      for (let k = 0; k < K; k++) {
        const a = f32x4.splat(load<f32>(pa + ((<usize>(i * rsA + k * csA)) << 2)));
        const brow = pb + ((<usize>(k * rsB)) << 2);
        let j = 0;
        for (; j + 4 <= N; j += 4) {
          const q = crow + ((<usize>j) << 2);
          v128.store(q, madd(a, v128.load(brow + ((<usize>j) << 2)), v128.load(q)));
        }
        for (; j < N; j++) {
          const q = crow + ((<usize>j) << 2);
          store<f32>(q, load<f32>(q) + f32x4.extract_lane(a, 0) * load<f32>(brow + ((<usize>j) << 2)));
        }
      }
      continue;
    }
    // A row i, contiguous in k
    let arow = pa + ((<usize>(i * rsA)) << 2);
    if (csA != 1) {
      for (let k = 0; k < K; k++) store<f32>(tmp + ((<usize>k) << 2), load<f32>(pa + ((<usize>(i * rsA + k * csA)) << 2)));
      arow = tmp;
    }
    for (let j = 0; j < N; j++) {
      let bcol = pb + ((<usize>(j * csB)) << 2);
      if (rsB != 1) {
        for (let k = 0; k < K; k++) store<f32>(tmp2 + ((<usize>k) << 2), load<f32>(pb + ((<usize>(k * rsB + j * csB)) << 2)));
        bcol = tmp2;
      }
      let acc = f32x4.splat(0);
      let k = 0;
      for (; k + 4 <= K; k += 4) acc = madd(v128.load(arow + ((<usize>k) << 2)), v128.load(bcol + ((<usize>k) << 2)), acc);
      let sum: f32 = (f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1)) + (f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3));
      for (; k < K; k++) sum += load<f32>(arow + ((<usize>k) << 2)) * load<f32>(bcol + ((<usize>k) << 2));
      const q = crow + ((<usize>j) << 2);
      store<f32>(q, load<f32>(q) + sum);
    }
  }
}

/**
 * C (+)= op(A)·op(B). `accumulate` = 1 adds to C, 0 overwrites it. packA/packB: scratch of
 * gemm_pack_a_bytes()/gemm_pack_b_bytes(); tile: 256 bytes of scratch. bConv = 1: B is the implicit
 * im2col matrix of the input planes at pb (geometry set by conv_geometry; rsB/csB unused).
 * Only the columns [jBegin, jEnd) of C are computed: threads split the columns between them,
 * each with its own scratch (the module keeps no shared mutable state besides its block sizes and
 * conv geometry, which are per instance).
 */
export function gemm_f32(
  M: i32, N: i32, K: i32,
  pa: usize, rsA: i32, csA: i32,
  pb: usize, rsB: i32, csB: i32,
  pc: usize, ldc: i32, accumulate: i32,
  packedA: usize, packedB: usize, tile: usize, bConv: i32, jBegin: i32, jEnd: i32,
): void {
  gemmCore(M, N, K, pa, rsA, csA, pb, rsB, csB, pc, ldc, accumulate, packedA, packedB, tile, bConv, jBegin, jEnd, false, 0, false, false, false, 0, 0);
}

/**
 * conv2d's forward GEMM with its epilogue fused into the last K block's write-back (see the top):
 * out[i, j] = min(max(Σ_k W[i, k]·B[k, j] + bias[i], lo), hi) for the columns [jBegin, jEnd)
 * (threads split the columns, each with its own scratch), i < M = Cout/groups, j < N = Ho·Wo.
 * W [M, K] row-major at pa; out [M, N] row-major at pc; pbias: M floats (this group's bias).
 * args (i32 words): [bConv, hasBias, clampOn, lo bits, hi bits, then with bConv = 1 the conv
 * geometry of conv_geometry (B is the implicit im2col of the input planes at pb); bConv = 0:
 * B = the [K, N] row-major matrix at pb (a 1x1 conv, stride 1, no padding)]. hasBias = 0: no
 * add (pbias unused); clampOn = 0: no clamp.
 */
export function gemm_conv_f32(
  M: i32, N: i32, K: i32, pa: usize, pb: usize, pc: usize, pbias: usize, args: usize,
  packedA: usize, packedB: usize, tile: usize, jBegin: i32, jEnd: i32,
): void {
  const bConv = ldi(args, 0);
  const hasBias = ldi(args, 1) != 0;
  const clampOn = ldi(args, 2) != 0;
  if (bConv) conv_geometry(args + 20);
  const lo = reinterpret<f32>(ldi(args, 3));
  const hi = reinterpret<f32>(ldi(args, 4));
  // pmin/pmax equal min/max on these outputs unless a bound is NaN or hi is -0 (see micro4x8e)
  const pclamp = !isNaN(lo) && !isNaN(hi) && ldi(args, 4) != 0x80000000;
  gemmCore(M, N, K, pa, K, 1, pb, N, 1, pc, N, 0, packedA, packedB, tile, bConv, jBegin, jEnd,
    hasBias || clampOn, pbias, hasBias, clampOn, pclamp, lo, hi);
}

/** out = min(max(v + bias, lo), hi), each step only when on: the epilogue of one element. */
@inline function epilogue1(v: f32, b: f32, hasBias: bool, clampOn: bool, lo: f32, hi: f32): f32 {
  if (hasBias) v = v + b;
  if (clampOn) v = min<f32>(max<f32>(v, lo), hi);
  return v;
}

// inlined into each caller, so gemm_f32 (epi = false) compiles to the unchanged tile loop
@inline function gemmCore(
  M: i32, N: i32, K: i32,
  pa: usize, rsA: i32, csA: i32,
  pb: usize, rsB: i32, csB: i32,
  pc: usize, ldc: i32, accumulate: i32,
  packedA: usize, packedB: usize, tile: usize, bConv: i32, jBegin: i32, jEnd: i32,
  epi: bool, pbias: usize, hasBias: bool, clampOn: bool, pclamp: bool, lo: f32, hi: f32,
): void {
  if (M <= 0 || N <= 0 || jEnd <= jBegin) return;
  if (K <= 0) {
    if (!accumulate) for (let i = 0; i < M; i++) memory.fill(pc + ((<usize>(i * ldc + jBegin)) << 2), 0, (<usize>(jEnd - jBegin)) << 2);
    if (epi) {
      for (let i = 0; i < M; i++) {
        const b = hasBias ? load<f32>(pbias + ((<usize>i) << 2)) : 0;
        for (let j = jBegin; j < jEnd; j++) {
          const p = pc + ((<usize>(i * ldc + j)) << 2);
          store<f32>(p, epilogue1(load<f32>(p), b, hasBias, clampOn, lo, hi));
        }
      }
    }
    return;
  }
  const vl = f32x4.splat(lo);
  const vh = f32x4.splat(hi);
  // K blocks of equal size (576 = 3 x 192 rather than 256 + 256 + 64), so no block is short
  const nk = (K + KC - 1) / KC;
  const kcb = (K + nk - 1) / nk;
  for (let jc = jBegin; jc < jEnd; jc += NC) {
    const nc = min(NC, jEnd - jc);
    for (let pcb = 0; pcb < K; pcb += kcb) {
      const kc = min(kcb, K - pcb);
      const add = accumulate != 0 || pcb > 0;
      // the epilogue runs on the last K block's write-back only
      const last = epi && pcb + kc >= K;
      if (bConv) pack_b_conv(pb, pcb, kc, jc, nc, packedB, tile + 128);
      else packB(pb, rsB, csB, pcb, kc, jc, nc, packedB);
      for (let ic = 0; ic < M; ic += MC) {
        const mc = min(MC, M - ic);
        packA(pa, rsA, csA, ic, mc, pcb, kc, packedA);
        for (let jr = 0; jr < nc; jr += NR) {
          const nr = min(NR, nc - jr);
          const bp = packedB + ((<usize>jr * <usize>kc) << 2);
          for (let ir = 0; ir < mc; ir += MR) {
            const mr = min(MR, mc - ir);
            const ap = packedA + ((<usize>ir * <usize>kc) << 2);
            const c = pc + ((<usize>((ic + ir) * ldc + jc + jr)) << 2);
            if (mr == MR && nr == NR) {
              if (last) micro4x8e(kc, ap, bp, c, ldc, add, pbias + ((<usize>(ic + ir)) << 2), hasBias, clampOn, pclamp, vl, vh);
              else micro4x8(kc, ap, bp, c, ldc, add);
            } else {
              micro4x8(kc, ap, bp, tile, NR, false);
              for (let i = 0; i < mr; i++) {
                const b = last && hasBias ? load<f32>(pbias + ((<usize>(ic + ir + i)) << 2)) : 0;
                for (let j = 0; j < nr; j++) {
                  const p = c + ((<usize>(i * ldc + j)) << 2);
                  const v = load<f32>(tile + ((<usize>(i * NR + j)) << 2));
                  const s = add ? load<f32>(p) + v : v;
                  store<f32>(p, last ? epilogue1(s, b, hasBias, clampOn, lo, hi) : s);
                }
              }
            }
          }
        }
      }
    }
  }
}

/**
 * A batch of independent products (bmm, attention-sized matmuls) in one call: C_b (+)= op(A_b)·op(B_b)
 * with element strides sA/sB/sC between batch members (0 broadcasts an operand). Skinny members
 * take gemm_skinny_f32. Saves one JS→wasm call and its set-up per member.
 */
export function gemm_batch_f32(
  batch: i32, sA: i32, sB: i32, sC: i32,
  M: i32, N: i32, K: i32,
  pa: usize, rsA: i32, csA: i32,
  pb: usize, rsB: i32, csB: i32,
  pc: usize, ldc: i32, accumulate: i32,
  packedA: usize, packedB: usize, tile: usize, tmp: usize,
): void {
  const skinny = M < 4 || N < 4;
  for (let b = 0; b < batch; b++) {
    const a = pa + ((<usize>(b * sA)) << 2);
    const bb = pb + ((<usize>(b * sB)) << 2);
    const c = pc + ((<usize>(b * sC)) << 2);
    if (skinny) gemm_skinny_f32(M, N, K, a, rsA, csA, bb, rsB, csB, c, ldc, accumulate, tmp, tmp + ((<usize>K) << 2) + 32);
    else gemm_f32(M, N, K, a, rsA, csA, bb, rsB, csB, c, ldc, accumulate, packedA, packedB, tile, 0, 0, N);
  }
}
