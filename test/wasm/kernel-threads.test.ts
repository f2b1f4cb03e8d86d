/**
 * The threaded wasm kernels besides conv2d (backends/wasm/{softmax,norm,attention,deform-conv,
 * grid-sample}.ts): each splits independent units (rows, channels, query blocks, key tiles, pixel
 * chunks, point chunks) between the threads, so at 2, 3 and 16 threads (and at 2 threads that spin
 * before sleeping, POSEGRAD_WASM_SPIN_US) every output is checked against the same call at 1 thread:
 * - bit for bit where each output element is computed by one thread exactly as on one thread
 *   (softmax, layerNorm's y/mean/rstd/dx, batchNorm, attention's out/lse/dK/dV, deformConv2d's
 *   output/dOffset/dMask, gridSample's output/dGrid);
 * - within a float32 summation tolerance (atol 1e-5·max|ref| + rtol 1e-5) where per-thread partial
 *   sums are added at the end (layerNorm's dGamma/dBeta, attention's dQ of a head split between
 *   threads, deformConv2d's dx and dWeight, gridSample's dx of a sample split between threads).
 * Every case is large enough that 16 threads really take the threaded path (asserted against the
 * wrappers' thresholds; softmax and the norms, whose thresholds are 2^17 and 2^18 elements per
 * thread, split 4 ways at 16 threads), and the shapes are chosen so that ranges cut through
 * heads, samples and weight groups. Values against cpu/PyTorch are checked in the op suite (test/ops/*).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeformConv2dParams, GridSampleParams, KTensor } from '../../backends/backend.js';
import { THREAD_MIN_MACS as ATTN_MIN } from '../../backends/wasm/attention.js';
import { THREAD_MIN_WORK as DEFORM_MIN } from '../../backends/wasm/deform-conv.js';
import { THREAD_MIN_SAMPLES as GRID_MIN } from '../../backends/wasm/grid-sample.js';
import { createWasmBackend, type WasmBackend, type WasmStorage } from '../../backends/wasm/index.js';
import { THREAD_MIN_ELEMENTS as NORM_MIN } from '../../backends/wasm/norm.js';
import { THREAD_MIN_ELEMENTS as SOFTMAX_MIN } from '../../backends/wasm/softmax.js';
import { spinMicros, splitRange, threadsFor } from '../../backends/wasm/threads.js';
import { rand } from './helpers.js';

/** Thread counts compared with 1 thread; the last 2 spins before sleeping (POSEGRAD_WASM_SPIN_US). */
const THREADS = [1, 2, 3, 16, 2];
const LABELS = ['1', '2', '3', '16', '2 (spinning 200 µs)'];
const backends: WasmBackend[] = [];

beforeAll(async () => {
  for (const threads of THREADS.slice(0, -1)) backends.push(await createWasmBackend({ threads }));
  const prev = process.env.POSEGRAD_WASM_SPIN_US;
  process.env.POSEGRAD_WASM_SPIN_US = '200';
  try {
    backends.push(await createWasmBackend({ threads: 2 }));
  } finally {
    if (prev === undefined) delete process.env.POSEGRAD_WASM_SPIN_US;
    else process.env.POSEGRAD_WASM_SPIN_US = prev;
  }
});
afterAll(() => {
  for (const be of backends) be.terminate();
});

type T = KTensor<WasmStorage>;

/** Uploads inputs, keeps every storage, reads outputs; release() frees them all. */
class Run {
  private readonly owned: WasmStorage[] = [];
  readonly outs: [string, Float32Array, boolean][] = [];
  constructor(readonly be: WasmBackend) {}
  up(shape: number[], seed: number, lo = -1, hi = 1): T {
    const s = this.be.upload(rand(shape.reduce((a, b) => a * b, 1), seed, lo, hi), 'float32') as WasmStorage;
    this.owned.push(s);
    return { storage: s, shape, dtype: 'float32' };
  }
  /** Records output `name` of n elements; exact: compared bit for bit. */
  out(name: string, s: WasmStorage | null, n: number, exact = true): T {
    if (!s) throw new Error(`kernel-threads: expected output ${name}, got null`);
    this.owned.push(s);
    const t: T = { storage: s, shape: [n], dtype: 'float32' };
    this.outs.push([name, this.be.readSync(t) as Float32Array, exact]);
    return t;
  }
  release(): void {
    for (const s of this.owned) this.be.release(s);
  }
}

interface Case {
  name: string;
  /** The work measure of the wrapper's threshold and that threshold: 16 threads must be used. */
  work: number;
  min: number;
  /** Units the kernel splits. */
  units: number;
  /** Threads the 16-thread backend must use at least (default 16). */
  minThreads?: number;
  run(r: Run): void;
}

const n = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

function softmaxCase(name: string, outer: number, size: number, inner: number, minThreads = 16): Case {
  return {
    name, work: outer * size * inner, min: SOFTMAX_MIN, units: inner === 1 ? outer : outer * Math.ceil(inner / 16), minThreads,
    run(r) {
      const N = outer * size * inner;
      const x = r.up([N], 1, -4, 4);
      const dy = r.up([N], 2);
      for (const log of [false, true]) {
        const y = r.out(`${log ? 'logSoftmax' : 'softmax'} y`, r.be.softmax(x, outer, size, inner, log), N);
        r.out(`${log ? 'logSoftmax' : 'softmax'} dx`, r.be.softmaxBackward({ ...y, shape: [outer, size, inner] }, dy, outer, size, inner, log), N);
      }
    },
  };
}

function attentionCase(name: string, B: number, H: number, Lq: number, Lk: number, D: number, Dv: number, masked: boolean, minThreads = 16): Case {
  return {
    name, work: B * H * Lq * Lk * (D + Dv), min: ATTN_MIN, units: B * H * Math.ceil(Lk / 32), minThreads,
    run(r) {
      const q = r.up([B, H, Lq, D], 1);
      const k = r.up([B, H, Lk, D], 2);
      const v = r.up([B, H, Lk, Dv], 3);
      const g = r.up([B, H, Lq, Dv], 4);
      const mask = masked ? r.up([Lq, Lk], 5, -3, 1) : null;
      const p = { scale: 1 / Math.sqrt(D) };
      const f = r.be.attention(q, k, v, mask, p);
      const out = r.out('out', f.out, B * H * Lq * Dv);
      const lse = r.out('lse', f.lse, B * H * Lq);
      const b = r.be.attentionBackward(g, q, k, v, { ...out, shape: [B, H, Lq, Dv] }, { ...lse, shape: [B, H, Lq] }, mask, p);
      r.out('dq', b.dq, B * H * Lq * D, false);
      r.out('dk', b.dk, B * H * Lk * D);
      r.out('dv', b.dv, B * H * Lk * Dv);
    },
  };
}

function gridCase(name: string, x: number[], P: [number, number], p: GridSampleParams, minThreads = 16): Case {
  const [N, C, H, W] = x as [number, number, number, number];
  return {
    name, work: N * C * P[0] * P[1], min: GRID_MIN, units: N * Math.ceil((P[0] * P[1]) / 256), minThreads,
    run(r) {
      const xs = r.up(x, 1);
      const grid = r.up([N, P[0], P[1], 2], 2, -1.1, 1.1);
      const dy = r.up([N, C, P[0], P[1]], 3);
      r.out('out', r.be.gridSample(xs, grid, p), N * C * P[0] * P[1]);
      const b = r.be.gridSampleBackward(dy, xs, grid, p);
      r.out('dx', b.dx, N * C * H * W, false);
      r.out('dGrid', b.dGrid, N * P[0] * P[1] * 2);
    },
  };
}

const CASES: Case[] = [
  softmaxCase('softmax rows [520, 1030] (4 threads at 16)', 520, 1030, 1, 4),
  softmaxCase('softmax strided [3, 70, 2503] dim 1 (4 threads at 16)', 3, 70, 2503, 4),
  {
    name: 'layerNorm [1400, 750] with and without weight/bias (4 threads at 16)', work: 1400 * 750, min: NORM_MIN, units: 1400, minThreads: 4,
    run(r) {
      const [rows, cols] = [1400, 750];
      const x = r.up([rows, cols], 1, -3, 5);
      const gamma = r.up([cols], 2);
      const beta = r.up([cols], 3);
      const dy = r.up([rows, cols], 4);
      for (const affine of [true, false]) {
        const f = r.be.layerNorm(x, affine ? gamma : null, affine ? beta : null, rows, cols, 1e-5);
        r.out('y', f.y, rows * cols);
        const mean = r.out('mean', f.mean, rows);
        const rstd = r.out('rstd', f.rstd, rows);
        const b = r.be.layerNormBackward(dy, x, { ...mean, shape: [rows] }, { ...rstd, shape: [rows] }, affine ? gamma : null, rows, cols);
        r.out('dx', b.dx, rows * cols);
        if (affine) {
          r.out('dGamma', b.dGamma, cols, false);
          r.out('dBeta', b.dBeta, cols, false);
        }
      }
    },
  },
  {
    name: 'batchNorm [4, 40, 6600]: statistics, forward, backward (training and eval; 4 threads at 16)', work: 4 * 40 * 6600, min: NORM_MIN, units: 40, minThreads: 4,
    run(r) {
      const [N, C, S] = [4, 40, 6600];
      const x = r.up([N, C, S], 1, -2, 3);
      const gamma = r.up([C], 2);
      const beta = r.up([C], 3);
      const dy = r.up([N, C, S], 4);
      const st = r.be.batchNormStats(x, N, C, S);
      const mean = r.out('mean', st.mean, C);
      const variance = r.out('variance', st.variance, C);
      r.out('y', r.be.batchNormForward(x, mean, variance, gamma, beta, N, C, S, 1e-5), N * C * S);
      for (const training of [true, false]) {
        const b = r.be.batchNormBackward(dy, x, mean, variance, gamma, N, C, S, 1e-5, training);
        r.out(`dx (training ${training})`, b.dx, N * C * S);
        r.out('dGamma', b.dGamma, C);
        r.out('dBeta', b.dBeta, C);
      }
    },
  },
  attentionCase('attention B1 H2 L300x260 D32 Dv24, [Lq, Lk] mask (heads split many ways)', 1, 2, 300, 260, 32, 24, true),
  attentionCase('attention B2 H3 L70x100 D20 Dv12 (3 threads cut through a head)', 2, 3, 70, 100, 20, 12, false, 5),
  {
    name: 'deformConv2d [2, 32, 24, 30], groups 2, offset groups 4, mask, bias', work: 2 * 720 * 144 * (16 + 8), min: DEFORM_MIN, units: 2 * 90,
    run(r) {
      const p: DeformConv2dParams = { stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 2, offsetGroups: 4 };
      const [B, C, H, W, Cout] = [2, 32, 24, 30, 32];
      const x = r.up([B, C, H, W], 1);
      const off = r.up([B, 2 * 4 * 9, H, W], 2, -2.5, 2.5);
      const mask = r.up([B, 4 * 9, H, W], 3, 0, 1);
      const w = r.up([Cout, C / 2, 3, 3], 4);
      const bias = r.up([Cout], 5);
      const dy = r.up([B, Cout, H, W], 6);
      r.out('out', r.be.deformConv2d(x, off, mask, w, bias, p), B * Cout * H * W);
      const g = r.be.deformConv2dBackward(dy, x, off, mask, w, p);
      r.out('dx', g.dx, n([B, C, H, W]), false);
      r.out('dOffset', g.dOffset, n(off.shape as number[]));
      r.out('dMask', g.dMask, n(mask.shape as number[]));
      r.out('dWeight', g.dWeight, n(w.shape as number[]), false);
    },
  },
  gridCase('gridSample N=1 [1, 32, 20, 22] at 100x90 (points split)', [1, 32, 20, 22], [100, 90], { mode: 'bilinear', paddingMode: 'zeros', alignCorners: false }),
  gridCase('gridSample N=3 border, alignCorners (samples split, or cut at 16 threads)', [3, 16, 12, 14], [60, 60], { mode: 'bilinear', paddingMode: 'border', alignCorners: true }, 10),
  gridCase('gridSample N=2 nearest, reflection', [2, 24, 15, 17], [70, 50], { mode: 'nearest', paddingMode: 'reflection', alignCorners: false }, 10),
];

describe('wasm kernels split between threads give the 1-thread results at 2, 3 and 16 threads', () => {
  for (const c of CASES) {
    it(c.name, () => {
      // the shapes stay above the wrappers' thresholds: 16 threads really split the work
      expect(Math.min(16, Math.floor(c.work / c.min), c.units), 'threads used at 16').toBeGreaterThanOrEqual(c.minThreads ?? 16);
      const results = backends.map((be) => {
        const r = new Run(be);
        try {
          c.run(r);
          return r.outs;
        } finally {
          r.release();
        }
      });
      const ref = results[0]!;
      for (const [k, got] of results.slice(1).entries()) {
        for (const [j, [name, a, exact]] of ref.entries()) {
          const b = got[j]![1];
          const where = `${name} at ${LABELS[k + 1]} threads`;
          expect(a.every((v) => Number.isFinite(v)), `${name} finite`).toBe(true);
          if (exact) {
            const diff = a.findIndex((v, i) => !Object.is(v, b[i]));
            expect(diff, `${where}: first element that differs`).toBe(-1);
          } else {
            const scale = a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
            const bad = a.findIndex((v, i) => !(Math.abs(v - b[i]!) <= 1e-5 * scale + 1e-5 * Math.abs(v)));
            expect(bad, `${where}: first element off by more than 1e-5·max + 1e-5·|ref| (${a[bad]} vs ${b[bad]})`).toBe(-1);
          }
        }
      }
    });
  }
});

describe('thread partitioning helpers', () => {
  it('splitRange: contiguous, covering, aligned ranges', () => {
    expect(splitRange(10, 3)).toEqual([0, 3, 7, 10]);
    expect(splitRange(30, 4, 2)).toEqual([0, 8, 16, 22, 30]);
    expect(splitRange(3, 5)).toEqual([0, 1, 1, 2, 2, 3]);
    for (const [units, T, align] of [[471, 16, 1], [180, 16, 2], [24, 5, 1], [5, 16, 4]] as const) {
      const b = splitRange(units, T, align);
      expect(b.length).toBe(T + 1);
      expect(b[0]).toBe(0);
      expect(b[T]).toBe(units);
      for (let t = 0; t < T; t++) {
        expect(b[t + 1]!).toBeGreaterThanOrEqual(b[t]!);
        if (t > 0) expect(b[t]! % align === 0 || b[t] === units).toBe(true);
      }
    }
  });
  it('POSEGRAD_WASM_SPIN_US: microseconds, 0 when unset, a clear error otherwise', () => {
    const prev = process.env.POSEGRAD_WASM_SPIN_US;
    try {
      delete process.env.POSEGRAD_WASM_SPIN_US;
      expect(spinMicros()).toBe(0);
      process.env.POSEGRAD_WASM_SPIN_US = '75';
      expect(spinMicros()).toBe(75);
      for (const bad of ['abc', '-1', '2.5', '20000']) {
        process.env.POSEGRAD_WASM_SPIN_US = bad;
        expect(() => spinMicros()).toThrow(`wasm: expected POSEGRAD_WASM_SPIN_US as an integer from 0 to 10000 (microseconds), got '${bad}'`);
      }
    } finally {
      if (prev === undefined) delete process.env.POSEGRAD_WASM_SPIN_US;
      else process.env.POSEGRAD_WASM_SPIN_US = prev;
    }
  });
  it('threadsFor: 1 without a pool, bounded by the work and the units', () => {
    expect(threadsFor(null, 1e9, 1)).toBe(1);
    const pool = { size: 16 } as Parameters<typeof threadsFor>[0];
    expect(threadsFor(pool, 100, 1000)).toBe(1);
    expect(threadsFor(pool, 5000, 1000)).toBe(5);
    expect(threadsFor(pool, 1e9, 1000)).toBe(16);
    expect(threadsFor(pool, 1e9, 1000, 3)).toBe(3);
  });
});
