/**
 * Shared conventions and helpers for every posegrad AssemblyScript kernel.
 *
 * MEMORY. One linear memory, imported from JS (`env.memory`). The allocator lives on the JS side
 * (backends/wasm/memory.ts): kernels never allocate. Every pointer a kernel receives is
 *   - 16-byte aligned, and
 *   - followed by at least 16 readable/writable bytes past its last element (each block is rounded
 *     up to a multiple of 16 bytes, plus a 16-byte tail guard).
 * So a loop over a whole contiguous buffer may run ceil(n/4) full f32x4 iterations with no scalar
 * tail: the extra lanes land in the block's own padding. A loop over one row *inside* a buffer must
 * not store past the row (the next row follows), so row kernels keep a scalar tail for stores; they
 * may still over-read up to 16 bytes.
 *
 * DTYPES. float32 and int32 only; both are 4 bytes, so data movement kernels (permute, slice, pad,
 * gather, ...) copy 32-bit words and serve both.
 *
 * DISPATCH. Kernels are plain exported functions of (pointers, sizes, scalar parameters). A kernel
 * that needs a variable-length list (shapes, strides of a rank-R tensor) reads it as i32 words from
 * the "args" block whose pointer JS passes as `args` (see WasmContext.args in backends/wasm/memory.ts).
 * Scratch space (im2col columns, packed GEMM panels) is allocated by JS from reusable scratch slots
 * and passed in as pointers. Outputs are allocated by JS and passed in; kernels write every output
 * element (no pre-zeroed memory may be assumed unless the kernel's comment says so).
 *
 * THREADS. In the -threads builds, worker threads instantiate the same module over the same shared
 * memory; every split kernel runs on them (gemm_f32, the conv passes, depthwise, deformConv2d,
 * attention, softmax, the norms, gridSample: backends/wasm/threads.ts), with integer-only job
 * arguments (floats travel as their bits). Module globals are per
 * instance (per thread); static data (memory.data) is shared by all threads, so it must stay
 * read-only; per-call working space comes in through scratch pointers, one set per thread.
 *
 * NAMING. Exported kernels are snake_case `<family>_<what>[_<dtype>]`, e.g. `matmul_f32`,
 * `softmax_f32`, `copy_permute_u32`. The JS wrapper for assembly/<family>.ts is backends/wasm/<family>.ts.
 */

// ------------------------------------------------------------------ pointer helpers
/** Byte offset of element i of a 4-byte-element array. */
@inline export function at(p: usize, i: i32): usize {
  return p + ((<usize>i) << 2);
}
@inline export function ldf(p: usize, i: i32): f32 {
  return load<f32>(p + ((<usize>i) << 2));
}
@inline export function stf(p: usize, i: i32, v: f32): void {
  store<f32>(p + ((<usize>i) << 2), v);
}
@inline export function ldi(p: usize, i: i32): i32 {
  return load<i32>(p + ((<usize>i) << 2));
}
@inline export function sti(p: usize, i: i32, v: i32): void {
  store<i32>(p + ((<usize>i) << 2), v);
}

/** Fills n f32 words with v, vectorized (writes into the block's padding past n). */
export function fill_f32_block(p: usize, n: i32, v: f32): void {
  const s = f32x4.splat(v);
  const end = p + ((<usize>n) << 2);
  for (let q = p; q < end; q += 16) v128.store(q, s);
}

/** Fills a row of n f32 words with v exactly (no write past the row). */
export function fill_f32_row(p: usize, n: i32, v: f32): void {
  const s = f32x4.splat(v);
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(at(p, i), s);
  for (; i < n; i++) stf(p, i, v);
}

// ------------------------------------------------------------------ SIMD math
/** Multiply-add a·b + c: fused (relaxed SIMD) in the relaxed build, mul then add otherwise. */
@inline export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/**
 * The SIMD math constants, as f32 words in a static table. Loaded with v128.load32_splat where they
 * are used: V8 materializes each v128.const with several instructions on every use (it does not
 * hoist them out of loops), while a splat-load is one.
 */
const MATH_K = memory.data<f32>([
  88.72283935546875,
  -87.33654022216797,
  12582912.0,
  1.4426950408889634,
  0.693359375,
  -2.12194440e-4,
  1.9875691500e-4,
  1.3981999507e-3,
  8.3334519073e-3,
  4.1665795894e-2,
  1.6666665459e-1,
  5.0000001201e-1,
  1.0,
  Infinity,
  0.0,
  1.17549435e-38,
  8388608.0,
  23.0,
  0.707106781186547524,
  7.0376836292e-2,
  -1.1514610310e-1,
  1.1676998740e-1,
  -1.2420140846e-1,
  1.4249322787e-1,
  -1.6668057665e-1,
  2.0000714765e-1,
  -2.4999993993e-1,
  3.3333331174e-1,
  0.5,
  -Infinity,
  NaN,
  reinterpret<f32>(<i32>0x4b400000),
  reinterpret<f32>(<i32>127),
  reinterpret<f32>(<i32>126),
  reinterpret<f32>(<i32>0x807fffff),
  reinterpret<f32>(<i32>0x3f000000),
  // 36..: exp_nonpos_v (see there)
  -88.0,
  reinterpret<f32>(<i32>0x4b40007f),
  -0.693359375,
  2.12194440e-4,
  1.3843592023476958e-3,
  8.374207653105259e-3,
  4.166800528764725e-2,
  1.6666430234909058e-1,
  4.999999403953552e-1,
  1.0,
]);
@inline function K(i: i32): v128 {
  return v128.load32_splat(MATH_K + ((<usize>i) << 2));
}
@inline function KI(i: i32): v128 {
  return v128.load32_splat(MATH_K + ((<usize>i) << 2));
}

/**
 * e^x on four lanes (Cephes expf): x = n·ln2 + r with n = round(x·log2e), e^r by a degree-6
 * polynomial on |r| ≤ ln2/2, and 2^n built in the exponent bits. Max error about 1 ulp on
 * [-87.3, 88.7]; +Infinity above, 0 below (no denormals), NaN propagates.
 */
@inline export function exp_v(x: v128): v128 {
  const hi = K(0);
  const lo = K(1);
  // pmin/pmax are single instructions (min/max with IEEE NaN rules are not, on x86); a NaN x
  // passes through both and propagates to the result
  const xc = f32x4.pmax(f32x4.pmin(x, hi), lo);
  // n = round(x·log2e) by the 1.5·2^23 trick: after the add, n sits in the low mantissa bits
  const magic = K(2);
  const t = madd(xc, K(3), magic);
  const fx = f32x4.sub(t, magic);
  let r = f32x4.sub(xc, f32x4.mul(fx, K(4)));
  r = f32x4.sub(r, f32x4.mul(fx, K(5)));
  let y = K(6);
  y = madd(y, r, K(7));
  y = madd(y, r, K(8));
  y = madd(y, r, K(9));
  y = madd(y, r, K(10));
  y = madd(y, r, K(11));
  y = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(y, r), r), r), K(12));
  // 2^n: (n + 127) << 23, with n = bits(t) - bits(magic)
  const scale = i32x4.shl(i32x4.add(i32x4.sub(t, KI(31)), KI(32)), 23);
  let out = f32x4.mul(y, scale);
  out = v128.bitselect(K(13), out, f32x4.gt(x, hi));
  out = v128.bitselect(K(14), out, f32x4.lt(x, lo));
  return out;
}

/**
 * e^x on four lanes for x ≤ 0 (softmax and attention, after subtracting the row max); correct up
 * to x = 88, undefined above (no overflow handling). Cody-Waite range reduction x = n·ln2 + r:
 *   - x is clamped below at -88 (pmax keeps a NaN x, so NaN propagates);
 *   - t = x·log2e + M with M = 1.5·2^23 + 127: t's low mantissa bits hold n + 127 with
 *     n = round(x·log2e), so s = 2^n is just bits(t) << 23 (no integer add), and n = t - M exactly;
 *   - r = x - n·ln2hi - n·ln2lo (ln2hi has 9 significant bits, so n·ln2hi is exact), |r| ≤ ln2/2;
 *   - e^x = s + (r·s)·p(r), p a degree-5 polynomial fitted to (e^r - 1)/r on |r| ≤ 0.3468
 *     (minimax in relative error by iteratively reweighted least squares, coefficients rounded to
 *     float32: relative error 1.8e-8 of e^r), evaluated by Horner.
 * At the clamp n = -127 gives s = +0 and the result exactly 0: e^x flushes to 0 below about -87.68
 * (between -87.68 and -87.34, the smallest normal float32, it gives the subnormal). Measured against
 * Math.exp on every 97th float32 in [-88.72, 0] (11.5M points): at most 1.30 ulp, relative error
 * 1.1e-7 (relaxed build, fused madd: 1.00 ulp); test/wasm/exp.test.ts checks 1.5 ulp on 373k of
 * them. 22 SIMD operations, 10 constants loaded by splat, and a dependency chain of 19 of them, so
 * hot loops should keep several calls in flight (softmax.ts runs 8 at a time).
 */
@inline export function exp_nonpos_v(x0: v128): v128 {
  const x = f32x4.pmax(x0, K(36));
  const magic = K(37);
  const t = madd(x, K(3), magic);
  const s = i32x4.shl(t, 23);
  const n = f32x4.sub(t, magic);
  let r = madd(n, K(38), x);
  r = madd(n, K(39), r);
  let p = madd(K(40), r, K(41));
  p = madd(p, r, K(42));
  p = madd(p, r, K(43));
  p = madd(p, r, K(44));
  p = madd(p, r, K(45));
  return madd(f32x4.mul(r, s), p, s);
}

/**
 * ln x on four lanes (Cephes logf): x = m·2^e with m in [√½, √2), ln m by a degree-8 polynomial
 * in (m - 1). About 1 ulp. Denormals are rescaled; ln 0 = -Infinity, ln(<0) = NaN, ln ∞ = ∞.
 */
@inline export function log_v(x0: v128): v128 {
  const den = f32x4.lt(x0, K(15));
  const x = v128.bitselect(f32x4.mul(x0, K(16)), x0, den);
  const bits = x;
  let e = f32x4.convert_i32x4_s(i32x4.sub(i32x4.shr_u(bits, 23), KI(33)));
  e = f32x4.sub(e, v128.and(den, K(17)));
  let m = v128.or(v128.and(bits, KI(34)), KI(35));
  const small = f32x4.lt(m, K(18));
  e = f32x4.sub(e, v128.and(small, K(12)));
  m = f32x4.sub(f32x4.add(m, v128.and(small, m)), K(12));
  const z = f32x4.mul(m, m);
  let y = K(19);
  y = f32x4.add(f32x4.mul(y, m), K(20));
  y = f32x4.add(f32x4.mul(y, m), K(21));
  y = f32x4.add(f32x4.mul(y, m), K(22));
  y = f32x4.add(f32x4.mul(y, m), K(23));
  y = f32x4.add(f32x4.mul(y, m), K(24));
  y = f32x4.add(f32x4.mul(y, m), K(25));
  y = f32x4.add(f32x4.mul(y, m), K(26));
  y = f32x4.add(f32x4.mul(y, m), K(27));
  y = f32x4.mul(f32x4.mul(y, m), z);
  y = f32x4.add(y, f32x4.mul(e, K(5)));
  y = f32x4.sub(y, f32x4.mul(z, K(28)));
  let out = f32x4.add(f32x4.add(m, y), f32x4.mul(e, K(4)));
  out = v128.bitselect(K(29), out, f32x4.eq(x0, K(14)));
  out = v128.bitselect(K(13), out, f32x4.eq(x0, K(13)));
  out = v128.bitselect(K(30), out, v128.or(f32x4.lt(x0, K(14)), f32x4.ne(x0, x0)));
  return out;
}

/** sign(x) on four lanes: 1, -1, or x itself for ±0 and NaN (as Mathf.sign). */
@inline export function sign_v(x: v128): v128 {
  const one = f32x4.splat(1.0);
  let out = v128.bitselect(one, x, f32x4.gt(x, f32x4.splat(0.0)));
  out = v128.bitselect(f32x4.neg(one), out, f32x4.lt(x, f32x4.splat(0.0)));
  return out;
}

/** Horizontal sum of the four lanes. */
@inline export function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

/** Which build this is (1 = relaxed SIMD), for the loader's report. */
export function build_features(): i32 {
  return ASC_FEATURE_RELAXED_SIMD ? 1 : 0;
}

/** First byte after the module's static data: the JS allocator starts here. */
export function heap_base(): usize {
  return __heap_base;
}
