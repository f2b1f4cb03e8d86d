/**
 * layerNorm and batchNorm: statistics, forward, backward (see backends/cpu/normalization.ts).
 *
 * Both are reductions of contiguous runs followed by an elementwise map:
 * - layerNorm: one run per row of [rows, cols] (the row stays in L1 between the passes);
 * - batchNorm: the N runs (planes of S values) of each channel of [N, C, S].
 * Statistics take two passes over the run: the mean, then the mean of squared deviations (no
 * cancellation, unlike E[x²] - E[x]²). Each pass sums eight lanes (two f32x4 accumulators, for two
 * independent add chains) over blocks of 512 values, and adds each block's total into a float64
 * sum, so rounding does not grow with the run length (a plane of 100k values sums as well as 512).
 * The elementwise pass (y, or dx) is one f32x4 multiply-add chain per four values, with a scalar
 * tail: runs are adjacent in memory, so a row kernel must not store past its run.
 *
 * Backward, with x̂ = (x - mean)·rstd and g = dy·gamma (see the cpu file for the derivation):
 *   dx = rstd·(g - mean(g) - x̂·mean(g·x̂))   (layerNorm; batchNorm in training)
 *   dx = g·rstd                               (batchNorm in eval)
 * layerNorm's dGamma = Σ_rows dy·x̂ and dBeta = Σ_rows dy are column sums: each row adds its
 * products into float64 accumulators (f64x2, two lanes per f32x4 half), converted at the end.
 *
 * Pointers: gamma/beta (and the dGamma/dBeta outputs) may be 0 (absent). eps arrives as the two i32
 * halves of its float64 bits (epsLo, epsHi): worker threads pass i32 arguments only.
 *
 * THREADS. Every kernel takes a range of independent units, so that worker threads (../norm.ts)
 * split the work: rows [r0, r1) for layerNorm, channels [c0, c1) for batchNorm. Each unit is
 * computed exactly as on one thread, so y, dx, mean, rstd and the batchNorm statistics and
 * parameter gradients are bit-identical at any thread count. layerNorm's dGamma/dBeta are sums
 * over rows: each thread adds its rows into its own float64 accumulators (acc), and
 * layer_norm_param_grads_f32 adds the threads' accumulators in thread order and rounds once to
 * float32; that changes only the float64 rounding of the sum (about 1e-16 of the summed
 * magnitudes), so the float32 results match one thread's or differ in the last bit.
 */
import { hsum } from './common';

const BLOCK = 512;

/**
 * The float64 whose bits are (hi, lo): eps comes as two i32 words, since worker threads pass only
 * i32 arguments (../threads.ts).
 */
@inline function f64_of(lo: i32, hi: i32): f64 {
  return reinterpret<f64>((<u64>(<u32>hi) << 32) | <u64>(<u32>lo));
}

@inline function P(p: usize, i: i32): usize {
  return p + ((<usize>i) << 2);
}

/** Σ p[0..n) in float64, from float32 blocks of BLOCK values. */
function sum_f64(p: usize, n: i32): f64 {
  let total: f64 = 0;
  let i = 0;
  while (i < n) {
    const end = min(n, i + BLOCK);
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
    for (; i + 8 <= end; i += 8) {
      a0 = f32x4.add(a0, v128.load(P(p, i)));
      a1 = f32x4.add(a1, v128.load(P(p, i), 16));
    }
    let s = <f64>hsum(f32x4.add(a0, a1));
    for (; i < end; i++) s += <f64>load<f32>(P(p, i));
    total += s;
  }
  return total;
}

/** Σ (p[i] - mu)² over [0, n) in float64, from float32 blocks. */
function sqdev_f64(p: usize, n: i32, mu: f32): f64 {
  const vm = f32x4.splat(mu);
  let total: f64 = 0;
  let i = 0;
  while (i < n) {
    const end = min(n, i + BLOCK);
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
    for (; i + 8 <= end; i += 8) {
      const d0 = f32x4.sub(v128.load(P(p, i)), vm);
      const d1 = f32x4.sub(v128.load(P(p, i), 16), vm);
      a0 = f32x4.add(a0, f32x4.mul(d0, d0));
      a1 = f32x4.add(a1, f32x4.mul(d1, d1));
    }
    let s = <f64>hsum(f32x4.add(a0, a1));
    for (; i < end; i++) {
      const d = load<f32>(P(p, i)) - mu;
      s += <f64>(d * d);
    }
    total += s;
  }
  return total;
}

/** Σ dy and Σ dy·(x - mu) over a run of n values, in float64; `gamma` scales dy per element when ≠ 0. */
let SUM_G: f64 = 0;
let SUM_GX: f64 = 0;
function sums_dy(pdy: usize, px: usize, pg: usize, n: i32, mu: f32): void {
  const vm = f32x4.splat(mu);
  let tg: f64 = 0, tgx: f64 = 0;
  let i = 0;
  while (i < n) {
    const end = min(n, i + BLOCK);
    let ag = f32x4.splat(0), agx = f32x4.splat(0);
    for (; i + 4 <= end; i += 4) {
      let g = v128.load(P(pdy, i));
      if (pg) g = f32x4.mul(g, v128.load(P(pg, i)));
      ag = f32x4.add(ag, g);
      agx = f32x4.add(agx, f32x4.mul(g, f32x4.sub(v128.load(P(px, i)), vm)));
    }
    let sg = <f64>hsum(ag), sgx = <f64>hsum(agx);
    for (; i < end; i++) {
      let g = load<f32>(P(pdy, i));
      if (pg) g *= load<f32>(P(pg, i));
      sg += <f64>g;
      sgx += <f64>(g * (load<f32>(P(px, i)) - mu));
    }
    tg += sg;
    tgx += sgx;
  }
  SUM_G = tg;
  SUM_GX = tgx;
}

// ------------------------------------------------------------------ layerNorm

/**
 * y = (x - mean)·rstd·gamma + beta per row of [rows, cols]; also writes mean[rows] and rstd[rows].
 * Only the rows [r0, r1).
 */
export function layer_norm_f32(px: usize, pg: usize, pb: usize, py: usize, pmean: usize, prstd: usize, cols: i32, epsLo: i32, epsHi: i32, r0: i32, r1: i32): void {
  const eps = f64_of(epsLo, epsHi);
  for (let r = r0; r < r1; r++) {
    const x = P(px, r * cols);
    const y = P(py, r * cols);
    const mu64 = sum_f64(x, cols) / <f64>cols;
    const mu = <f32>mu64;
    const rs64 = 1.0 / Math.sqrt(sqdev_f64(x, cols, mu) / <f64>cols + eps);
    const rs = <f32>rs64;
    store<f32>(P(pmean, r), mu);
    store<f32>(P(prstd, r), rs);
    const vm = f32x4.splat(mu), vr = f32x4.splat(rs);
    let j = 0;
    for (; j + 4 <= cols; j += 4) {
      let t = f32x4.mul(f32x4.sub(v128.load(P(x, j)), vm), vr);
      if (pg) t = f32x4.mul(t, v128.load(P(pg, j)));
      if (pb) t = f32x4.add(t, v128.load(P(pb, j)));
      v128.store(P(y, j), t);
    }
    for (; j < cols; j++) {
      let t = (load<f32>(P(x, j)) - mu) * rs;
      if (pg) t *= load<f32>(P(pg, j));
      if (pb) t += load<f32>(P(pb, j));
      store<f32>(P(y, j), t);
    }
  }
}

/**
 * dx for the rows [r0, r1); with gamma (pg ≠ 0) also this range's Σ dy·x̂ and Σ dy per column, into
 * the float64 accumulators acc (2·cols f64, 16-byte aligned: [Σ dy·x̂ | Σ dy], zeroed here) that
 * layer_norm_param_grads_f32 turns into dGamma and dBeta.
 */
export function layer_norm_backward_f32(pdy: usize, px: usize, pmean: usize, prstd: usize, pg: usize, pdx: usize, acc: usize, cols: i32, r0: i32, r1: i32): void {
  const accG = acc;
  const accB = acc + ((<usize>cols) << 3);
  if (pg) memory.fill(acc, 0, (<usize>cols) << 4);
  const inv = <f64>1.0 / <f64>cols;
  for (let r = r0; r < r1; r++) {
    const x = P(px, r * cols);
    const dy = P(pdy, r * cols);
    const dx = P(pdx, r * cols);
    const mu = load<f32>(P(pmean, r));
    const rs = load<f32>(P(prstd, r));
    sums_dy(dy, x, pg, cols, mu);
    // mean(g) and mean(g·x̂): the x̂ sum was taken over (x - mean), so it gets one factor rstd
    const mg = <f32>(SUM_G * inv);
    const mgx = <f32>(SUM_GX * inv * <f64>rs);
    const vm = f32x4.splat(mu), vr = f32x4.splat(rs), vmg = f32x4.splat(mg), vmgx = f32x4.splat(mgx);
    let j = 0;
    for (; j + 4 <= cols; j += 4) {
      const d = v128.load(P(dy, j));
      const xh = f32x4.mul(f32x4.sub(v128.load(P(x, j)), vm), vr);
      const g = pg ? f32x4.mul(d, v128.load(P(pg, j))) : d;
      v128.store(P(dx, j), f32x4.mul(vr, f32x4.sub(f32x4.sub(g, vmg), f32x4.mul(xh, vmgx))));
      if (pg) {
        // column sums in float64: lanes 0-1 and 2-3 of dy·x̂ and dy
        const dxh = f32x4.mul(d, xh);
        const ga = accG + ((<usize>j) << 3);
        const ba = accB + ((<usize>j) << 3);
        v128.store(ga, f64x2.add(v128.load(ga), f64x2.promote_low_f32x4(dxh)));
        v128.store(ga, f64x2.add(v128.load(ga, 16), f64x2.promote_low_f32x4(v128.shuffle<f32>(dxh, dxh, 2, 3, 2, 3))), 16);
        v128.store(ba, f64x2.add(v128.load(ba), f64x2.promote_low_f32x4(d)));
        v128.store(ba, f64x2.add(v128.load(ba, 16), f64x2.promote_low_f32x4(v128.shuffle<f32>(d, d, 2, 3, 2, 3))), 16);
      }
    }
    for (; j < cols; j++) {
      const d = load<f32>(P(dy, j));
      const xh = (load<f32>(P(x, j)) - mu) * rs;
      const g = pg ? d * load<f32>(P(pg, j)) : d;
      store<f32>(P(dx, j), rs * (g - mg - xh * mgx));
      if (pg) {
        const ga = accG + ((<usize>j) << 3);
        const ba = accB + ((<usize>j) << 3);
        store<f64>(ga, load<f64>(ga) + <f64>(d * xh));
        store<f64>(ba, load<f64>(ba) + <f64>d);
      }
    }
  }
}

/**
 * dGamma[j] = Σ_t accG_t[j] and dBeta[j] = Σ_t accB_t[j] over the `count` accumulators whose
 * pointers are the i32 words at accs (in thread order), rounded once to float32.
 */
export function layer_norm_param_grads_f32(pdg: usize, pdb: usize, accs: usize, count: i32, cols: i32): void {
  for (let j = 0; j < cols; j++) {
    let g: f64 = 0, b: f64 = 0;
    for (let t = 0; t < count; t++) {
      const a = <usize>load<i32>(accs + ((<usize>t) << 2));
      g += load<f64>(a + ((<usize>j) << 3));
      b += load<f64>(a + ((<usize>(cols + j)) << 3));
    }
    store<f32>(P(pdg, j), <f32>g);
    store<f32>(P(pdb, j), <f32>b);
  }
}

// ------------------------------------------------------------------ batchNorm

/** Per-channel mean and biased variance of x viewed as [N, C, S], for the channels [c0, c1). */
export function batch_norm_stats_f32(px: usize, pmean: usize, pvar: usize, N: i32, C: i32, S: i32, c0: i32, c1: i32): void {
  const count = <f64>N * <f64>S;
  for (let c = c0; c < c1; c++) {
    let s: f64 = 0;
    for (let n = 0; n < N; n++) s += sum_f64(P(px, (n * C + c) * S), S);
    const mu = <f32>(s / count);
    let v: f64 = 0;
    for (let n = 0; n < N; n++) v += sqdev_f64(P(px, (n * C + c) * S), S, mu);
    store<f32>(P(pmean, c), mu);
    store<f32>(P(pvar, c), <f32>(v / count));
  }
}

@inline function rstd_of(pvar: usize, c: i32, eps: f64): f64 {
  return 1.0 / Math.sqrt(<f64>load<f32>(P(pvar, c)) + eps);
}

/** y = (x - mean[c])·rstd[c]·gamma[c] + beta[c] over [N, C, S], for the channels [c0, c1). */
export function batch_norm_forward_f32(px: usize, pmean: usize, pvar: usize, pg: usize, pb: usize, py: usize, N: i32, C: i32, S: i32, epsLo: i32, epsHi: i32, c0: i32, c1: i32): void {
  const eps = f64_of(epsLo, epsHi);
  for (let c = c0; c < c1; c++) {
    const rs = rstd_of(pvar, c, eps);
    const scale = <f32>(pg ? <f64>load<f32>(P(pg, c)) * rs : rs);
    const shift: f32 = pb ? load<f32>(P(pb, c)) : 0;
    const mu = load<f32>(P(pmean, c));
    const vm = f32x4.splat(mu), vs = f32x4.splat(scale), vb = f32x4.splat(shift);
    for (let n = 0; n < N; n++) {
      const x = P(px, (n * C + c) * S);
      const y = P(py, (n * C + c) * S);
      let k = 0;
      for (; k + 4 <= S; k += 4) v128.store(P(y, k), f32x4.add(f32x4.mul(f32x4.sub(v128.load(P(x, k)), vm), vs), vb));
      for (; k < S; k++) store<f32>(P(y, k), (load<f32>(P(x, k)) - mu) * scale + shift);
    }
  }
}

/**
 * dx over [N, C, S] and, with gamma (pg ≠ 0), dGamma[c] = Σ dy·x̂ and dBeta[c] = Σ dy, for the
 * channels [c0, c1). training ≠ 0: dx includes the batch statistics' dependence on x.
 */
export function batch_norm_backward_f32(pdy: usize, px: usize, pmean: usize, pvar: usize, pg: usize, pdx: usize, pdg: usize, pdb: usize, N: i32, C: i32, S: i32, epsLo: i32, epsHi: i32, training: i32, c0: i32, c1: i32): void {
  const eps = f64_of(epsLo, epsHi);
  const count = <f64>N * <f64>S;
  for (let c = c0; c < c1; c++) {
    const rs = rstd_of(pvar, c, eps);
    const gm: f64 = pg ? <f64>load<f32>(P(pg, c)) : 1.0;
    const mu = load<f32>(P(pmean, c));
    let sdy: f64 = 0, sdyx: f64 = 0;
    for (let n = 0; n < N; n++) {
      const o = (n * C + c) * S;
      sums_dy(P(pdy, o), P(px, o), 0, S, mu);
      sdy += SUM_G;
      sdyx += SUM_GX;
    }
    sdyx *= rs;
    if (pg) {
      store<f32>(P(pdg, c), <f32>sdyx);
      store<f32>(P(pdb, c), <f32>sdy);
    }
    // dx = a·dy + b·(x - mean) + d  (training), or a·dy (eval)
    const a = <f32>(gm * rs);
    const b = training ? <f32>(-gm * rs * rs * (sdyx / count)) : <f32>0;
    const d = training ? <f32>(-gm * rs * (sdy / count)) : <f32>0;
    const va = f32x4.splat(a), vb = f32x4.splat(b), vd = f32x4.splat(d), vm = f32x4.splat(mu);
    for (let n = 0; n < N; n++) {
      const o = (n * C + c) * S;
      const dy = P(pdy, o), x = P(px, o), dx = P(pdx, o);
      let k = 0;
      for (; k + 4 <= S; k += 4) {
        const t = f32x4.add(f32x4.mul(va, v128.load(P(dy, k))), f32x4.add(f32x4.mul(vb, f32x4.sub(v128.load(P(x, k)), vm)), vd));
        v128.store(P(dx, k), t);
      }
      for (; k < S; k++) store<f32>(P(dx, k), a * load<f32>(P(dy, k)) + (b * (load<f32>(P(x, k)) - mu) + d));
    }
  }
}
