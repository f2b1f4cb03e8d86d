/**
 * conv2d's epilogue fused into the GEMM's write-back (assembly/matmul.ts gemm_conv_f32): the bias
 * add and the clamp run on the register tile of the last K block, and must give the very same bits
 * as the unfused composition they replace: the GEMM alone (conv2d without bias or clamp), then
 * bias_clamp_f32 over the whole output (sum, then + bias, then min(max(·, lo), hi)).
 * Checked on the plain and relaxed-SIMD builds at 1 and 2 threads, with K split into 2-3 blocks
 * (an epilogue on an early block would add the bias twice or clamp a partial sum), edge tiles
 * (Cout/groups not a multiple of 4, Ho·Wo not a multiple of 8), groups, bias only, clamp only,
 * NaN in the input and the bias (propagated, not clamped away), and signed zeros: the full tiles
 * clamp with f32x4.pmin/pmax, equal to min/max because no output sum is -0 and hi = -0 takes the
 * exact path (zero pixels give +0 sums: clamp [-1, -0] must give -0, as min(+0, -0) does).
 * For 1x1 convs the GEMM alone is also checked against matmul (the plain gemm_f32, no epilogue).
 * Values against cpu/PyTorch: test/ops/conv-fused.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Conv2dParams, KTensor } from '../../backends/backend.js';
import { kernel, type WasmContext } from '../../backends/wasm/context.js';
import { createWasmBackend, type WasmBackend, type WasmStorage } from '../../backends/wasm/index.js';
import { f32Bits } from '../../backends/wasm/threads.js';
import { rand } from './helpers.js';

const SETUPS = [
  { label: 'simd 1t', threads: 1, relaxedSimd: false as const },
  { label: 'simd 2t', threads: 2, relaxedSimd: false as const },
  { label: 'relaxed 1t', threads: 1, relaxedSimd: 'v8-flag' as const },
  { label: 'relaxed 2t', threads: 2, relaxedSimd: 'v8-flag' as const },
];
const backends: WasmBackend[] = [];

beforeAll(async () => {
  for (const s of SETUPS) backends.push(await createWasmBackend({ threads: s.threads, relaxedSimd: s.relaxedSimd }));
});
afterAll(() => {
  for (const be of backends) be.terminate();
});

interface Case {
  x: [number, number, number, number];
  w: [number, number, number, number];
  bias: boolean;
  p: Partial<Conv2dParams>;
  /** flat indices of x and of the bias set to NaN */
  nanX?: number[];
  nanBias?: number[];
  /** pixels (flat h·W + w) set to 0 in every channel of x: their GEMM sums are exactly +0 */
  zeroPixels?: number[];
}
const CASES: [string, Case][] = [
  // K = 600: three K blocks of 200; 22 rows (edge tiles), 13·11 = 143 columns (edge tiles)
  ['1x1, K = 600 in 3 blocks, 22 x 143 edges, bias + ReLU6', { x: [1, 600, 13, 11], w: [22, 600, 1, 1], bias: true, p: { clamp: [0, 6] } }],
  // 64·1600·96 multiply-adds: the column split over threads; NaN in one pixel and one bias
  ['1x1 96 -> 64 on 2 x 40 x 40 (threaded), NaN in x and bias, ReLU6', { x: [2, 96, 40, 40], w: [64, 96, 1, 1], bias: true, p: { clamp: [0, 6] }, nanX: [5 * 1600 + 77, 96 * 1600 + 1234], nanBias: [9] }],
  ['1x1 300 -> 32 on 1 x 48 x 48 (2 K blocks, threaded), bias only', { x: [1, 300, 48, 48], w: [32, 300, 1, 1], bias: true, p: {} }],
  ['1x1 48 -> 20 on 1 x 30 x 31, upper clamp only, no bias', { x: [1, 48, 30, 31], w: [20, 48, 1, 1], bias: false, p: { clamp: [-Infinity, 0.5] } }],
  // signed zeros: min(+0, -0) = -0 (hi = -0 takes the exact f32x4.min), max(v < 0, -0) = -0
  ['1x1 32 -> 12, clamp [-1, -0], zero pixels (sums +0 -> -0)', { x: [1, 32, 9, 10], w: [12, 32, 1, 1], bias: false, p: { clamp: [-1, -0] }, zeroPixels: [0, 7, 45, 89] }],
  ['1x1 32 -> 12, clamp [-0, 6], zero pixels', { x: [1, 32, 9, 10], w: [12, 32, 1, 1], bias: false, p: { clamp: [-0, 6] }, zeroPixels: [0, 7, 45, 89] }],
  // implicit im2col: K = 20·9 = 180 per group; 40·9 = 360 (2 K blocks) without groups
  ['3x3 s2 SAME, groups 2 (Coutg 18), 2 x 40 x 20 x 23, clamp only', { x: [2, 40, 20, 23], w: [36, 20, 3, 3], bias: false, p: { stride: [2, 2], padding: [0, 1, 0, 1], groups: 2, clamp: [-0.25, Infinity] } }],
  ['3x3 pad 1, K = 360 in 2 blocks, 1 x 40 x 36 x 37 (threaded), bias + clamp, NaN in x', { x: [1, 40, 36, 37], w: [44, 40, 3, 3], bias: true, p: { padding: [1, 1], clamp: [-1, 1] }, nanX: [3 * 36 * 37 + 500] }],
];

const numel = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

/** [fused conv2d, GEMM alone then bias_clamp_f32, the GEMM alone, matmul (1x1 with N = 1 only) or null]. */
function run(be: WasmBackend, c: Case): [Float32Array, Float32Array, Float32Array, Float32Array | null] {
  const ctx = (be as unknown as { ctx: WasmContext }).ctx;
  const p: Conv2dParams = { stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1, ...c.p };
  const noEpi: Conv2dParams = { ...p, clamp: undefined };
  const [N, Cin, H, W] = c.x;
  const [Cout, , kh, kw] = c.w;
  const [sh, sw] = p.stride;
  const pads = p.padding.length === 4 ? p.padding : [p.padding[0], p.padding[0], p.padding[1], p.padding[1]];
  const Ho = Math.floor((H + pads[0]! + pads[1]! - (kh - 1) - 1) / sh) + 1;
  const Wo = Math.floor((W + pads[2]! + pads[3]! - (kw - 1) - 1) / sw) + 1;
  const P = Ho * Wo;
  const owned: WasmStorage[] = [];
  const up = (values: Float32Array, shape: number[]): KTensor<WasmStorage> => {
    const s = be.upload(values, 'float32') as WasmStorage;
    owned.push(s);
    return { storage: s, shape, dtype: 'float32' };
  };
  const read = (s: WasmStorage, n: number): Float32Array => (be.readSync({ storage: s, shape: [n], dtype: 'float32' }) as Float32Array).slice();
  try {
    const xv = rand(numel(c.x), 21);
    for (const i of c.nanX ?? []) xv[i] = NaN;
    for (const j of c.zeroPixels ?? []) for (let k = 0; k < N * Cin; k++) xv[k * H * W + j] = 0;
    const bv = rand(Cout, 23);
    for (const i of c.nanBias ?? []) bv[i] = NaN;
    const x = up(xv, c.x);
    const w = up(rand(numel(c.w), 22, -0.3, 0.3), c.w);
    const b = c.bias ? up(bv, [Cout]) : null;
    const fused = be.conv2d(x, w, b, p);
    owned.push(fused);
    const gemm = be.conv2d(x, w, null, noEpi);
    owned.push(gemm);
    const gemmOnly = read(gemm, N * Cout * P);
    const cl = p.clamp ? [1, f32Bits(p.clamp[0]), f32Bits(p.clamp[1])] : [0, 0, 0];
    kernel(ctx, 'bias_clamp_f32')(gemm.ptr, b ? b.storage.ptr : 0, b ? 1 : 0, Cout, P, 0, N * Cout, 0, P, ...cl);
    let mm: Float32Array | null = null;
    if (kh === 1 && kw === 1 && N === 1 && p.groups === 1 && P === H * W) {
      const wm = { ...w, shape: [1, Cout, Cin] };
      const xm = { ...x, shape: [1, Cin, P] };
      const o = be.matmul(wm, xm, { transA: false, transB: false });
      owned.push(o);
      mm = read(o, Cout * P);
    }
    return [read(fused, N * Cout * P), read(gemm, N * Cout * P), gemmOnly, mm];
  } finally {
    for (const s of owned) be.release(s);
  }
}

function firstDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  return a.findIndex((v, i) => !Object.is(v, b[i]));
}

describe('wasm conv2d: the fused GEMM epilogue equals GEMM then bias_clamp_f32, bit for bit', () => {
  for (const [name, c] of CASES) {
    it(name, () => {
      expect(backends.map((be) => [be.threads, be.relaxedSimd])).toEqual(SETUPS.map((s) => [s.threads, s.relaxedSimd !== false]));
      const results = backends.map((be) => run(be, c));
      for (const [k, [fused, unfused, gemmOnly, mm]] of results.entries()) {
        const label = SETUPS[k]!.label;
        expect(firstDiff(fused, unfused), `${label}: fused vs unfused, first difference at`).toBe(-1);
        if (mm) expect(firstDiff(gemmOnly, mm), `${label}: conv GEMM vs matmul, first difference at`).toBe(-1);
        // the epilogue did something (not a no-op on both sides)
        if (c.bias || c.p.clamp) expect(firstDiff(fused, gemmOnly), `${label}: epilogue changes the output`).not.toBe(-1);
        const nans = fused.reduce((n, v) => n + (Number.isNaN(v) ? 1 : 0), 0);
        if (c.nanX || c.nanBias) expect(nans, `${label}: NaN propagated through bias and clamp`).toBeGreaterThan(0);
        else expect(nans, `${label}: no NaN without NaN inputs`).toBe(0);
        const zeros = (c.zeroPixels ?? []).map((j) => fused[j]!);
        // a +0 sum: max(+0, lo) = +0 for lo ≤ 0, then min(+0, -0) = -0 when hi is -0
        const zeroWant = Object.is(c.p.clamp?.[1], -0) ? -0 : 0;
        if (c.zeroPixels) expect(zeros.every((v) => Object.is(v, zeroWant)), `${label}: zero sums clamped with the right sign`).toBe(true);
        if (c.p.clamp) {
          const [lo, hi] = c.p.clamp;
          expect(fused.every((v) => Number.isNaN(v) || (v >= lo && v <= hi)), `${label}: clamped to [${lo}, ${hi}]`).toBe(true);
        }
      }
      // the plain and relaxed builds agree with themselves across thread counts
      for (const [a, b2] of [[0, 1], [2, 3]] as const) {
        expect(firstDiff(results[a]![0], results[b2]![0]), `${SETUPS[a]!.label} vs ${SETUPS[b2]!.label}`).toBe(-1);
      }
    });
  }

  it('the NaN pattern is exact: a NaN pixel poisons its column, a NaN bias its row', () => {
    const c = CASES[1]![1];
    const [fused] = run(backends[1]!, c);
    const P = 1600;
    const Cout = 64;
    for (let n = 0; n < 2; n++) {
      for (let co = 0; co < Cout; co++) {
        for (let j = 0; j < P; j++) {
          // x[n, ci, j] NaN: flat index (n·96 + ci)·1600 + j
          const nanPixel = (c.nanX ?? []).some((i) => Math.floor(i / (96 * P)) === n && i % P === j);
          const want = nanPixel || co === 9;
          const got = Number.isNaN(fused[(n * Cout + co) * P + j]!);
          if (got !== want) expect({ n, co, j, got }).toEqual({ n, co, j, got: want });
        }
      }
    }
  });
});
