/**
 * conv2d's per-side padding ([[top, bottom], [left, right]]) and its fused clamp (`clamp: [lo, hi]`),
 * on every backend (test/helpers/backends.ts):
 * - PyTorch fixtures (test/reference/ops_conv_fused.py): clamp(conv2d(F.pad(x, ...), w, b), lo, hi),
 *   each case with gradients (posegrad composes conv2d and clamp: autograd exact) and without
 *   (posegrad fuses the clamp into the conv kernel's epilogue);
 * - parity with cpu float64 for shapes that reach the wasm kernels' other paths: the threaded
 *   bias/clamp pass after the GEMM, the depthwise kernel's padded-plane and in-place paths with
 *   per-row clamping, and NaN propagation through the fused clamp;
 * - which path runs (the backend's conv2d sees the clamp only when no gradient is recorded);
 * - bad padding / clamp: the same Error on every backend.
 * Tolerance: float32 sums of Cg·kh·kw products, then a clamp (1-Lipschitz): atol 5e-5 + rtol 1e-4.
 */
import { describe, expect, it, vi } from 'vitest';
import type { Conv2dParams } from '../../backends/backend.js';
import { engine, noGrad } from '../../engine/engine.js';
import type { Tensor } from '../../engine/tensor.js';
import { tensor } from '../../ops/creation.js';
import { conv2d, type Conv2dOptions } from '../../ops/conv.js';
import { clamp as clampOp } from '../../ops/elementwise.js';
import { sum } from '../../ops/reduce.js';
import { pad } from '../../ops/shape.js';
import { describeEnvs, f, fixture, onEnv, parity, throws, vals, type EnvName } from '../helpers/backends.js';
import { loadFixture } from '../helpers/fixtures.js';

const TOL = { atol: 5e-5, rtol: 1e-4 };
const FX_TOL = { f64: { atol: 1e-10, rtol: 1e-10 }, f32: { atol: 5e-5, rtol: 5e-4 } };
const fx = loadFixture('ops', 'conv-fused');

/** The fixture's params as conv2d options (JSON has no Infinity: an open clamp side is null). */
function optionsOf(p: Record<string, any>): Conv2dOptions {
  const clamp = p.clamp ? ([p.clamp[0] ?? -Infinity, p.clamp[1] ?? Infinity] as const) : undefined;
  return { stride: p.stride, padding: p.padding, dilation: p.dilation, groups: p.groups, clamp };
}

interface Case { x: number[]; w: number[]; bias: boolean; opts: Conv2dOptions; envs?: readonly EnvName[]; scale?: number }
const NO_WEBGPU: readonly EnvName[] = ['cpu-f64', 'cpu-f32', 'wasm-1', 'wasm-2', 'wasm-16'];
const CASES: [string, Case][] = [
  // MoveNet's blocks: 1x1 expand + ReLU6, depthwise 3x3 stride 2 with TF 'SAME' (0 before, 1 after)
  ['1x1 + ReLU6', { x: [1, 8, 12, 10], w: [16, 8, 1, 1], bias: true, opts: { clamp: [0, 6] }, scale: 3 }],
  ['depthwise 3x3 s2 SAME [[0, 1], [0, 1]] + ReLU6', { x: [2, 6, 12, 18], w: [6, 1, 3, 3], bias: true, opts: { stride: 2, padding: [[0, 1], [0, 1]], groups: 6, clamp: [0, 6] }, scale: 3 }],
  ['depthwise 3x3 s1 [[1, 1], [1, 1]] + ReLU6 (padded-plane path)', { x: [1, 5, 9, 11], w: [5, 1, 3, 3], bias: false, opts: { padding: [[1, 1], [1, 1]], groups: 5, clamp: [0, 6] }, scale: 3 }],
  ['depthwise 3x3 s2 on a wide row (in-place borders), lopsided pads', { x: [1, 3, 7, 75], w: [3, 1, 3, 3], bias: true, opts: { stride: 2, padding: [[2, 0], [0, 2]], groups: 3, clamp: [-0.5, 0.5] } }],
  ['3x3 s2 SAME + ReLU (implicit-im2col GEMM)', { x: [1, 5, 10, 12], w: [9, 5, 3, 3], bias: true, opts: { stride: 2, padding: [[0, 1], [0, 1]], clamp: [0, Infinity] } }],
  ['3x3 with a lower-only clamp, no bias', { x: [2, 4, 6, 7], w: [5, 4, 3, 3], bias: false, opts: { padding: [[1, 2], [2, 1]], clamp: [-0.25, Infinity] } }],
  // above the wasm epilogue's threading threshold (2·65,536 output floats): split over (n, c) rows
  ['1x1 + ReLU6 on 2 x 32 x 64 x 72 (threaded epilogue)', { x: [2, 16, 64, 72], w: [32, 16, 1, 1], bias: true, opts: { clamp: [0, 6] }, envs: NO_WEBGPU, scale: 3 }],
  ['depthwise s1 + ReLU6 on 1 x 24 x 48 x 52 (threaded)', { x: [1, 24, 48, 52], w: [24, 1, 3, 3], bias: true, opts: { padding: [[1, 1], [1, 1]], groups: 24, clamp: [0, 6] }, envs: NO_WEBGPU, scale: 3 }],
];

describeEnvs('conv2d per-side padding and fused clamp', () => {
  it('matches PyTorch (pad, conv2d, clamp): fused without gradients, composed with', async () => {
    const cases = fx.cases;
    expect(cases.length).toBeGreaterThan(0);
    for (const c of cases) await fixture(fx, c, ({ x, w, b }, p) => conv2d(x!, w!, b ?? null, optionsOf(p)), FX_TOL);
  });
  for (const [name, c] of CASES) {
    it(`${name}: forward (fused) and gradients (composed) against cpu float64`, async (ctx) => {
      if (c.envs && !onEnv(...c.envs)) ctx.skip();
      const ins = [f(c.x, 11, -(c.scale ?? 1), c.scale ?? 1), f(c.w, 12), ...(c.bias ? [f([c.w[0]!], 13)] : [])];
      const fn = (x: Tensor, w: Tensor, b?: Tensor): Tensor => conv2d(x, w, b ?? null, c.opts);
      await parity(`${name} fused`, fn, ins, TOL, { grad: false });
      await parity(`${name} composed`, fn, ins, TOL);
    });
  }
  it('NaN propagates through the fused clamp (torch.clamp)', async (ctx) => {
    // WGSL leaves min/max of NaN to the implementation
    if (onEnv('webgpu')) ctx.skip();
    const x = Array.from({ length: 2 * 9 * 8 }, (_, i) => (i === 20 ? NaN : ((i * 37) % 17) / 4 - 2));
    const w = Array.from({ length: 3 * 2 * 9 }, (_, i) => ((i * 13) % 7) / 7 - 0.5);
    await parity('nan 3x3', (a, k) => conv2d(a, k, null, { padding: [[1, 0], [0, 1]], clamp: [0, 6] }), [vals([1, 2, 9, 8], x, true), vals([3, 2, 3, 3], w, true)], TOL, { grad: false });
    const wd = Array.from({ length: 2 * 9 }, (_, i) => ((i * 5) % 9) / 9 - 0.4);
    await parity('nan depthwise', (a, k) => conv2d(a, k, null, { padding: [[1, 1], [1, 1]], groups: 2, clamp: [0, 6] }), [vals([1, 2, 9, 8], x, true), vals([2, 1, 3, 3], wd, true)], TOL, { grad: false });
  });
  it('bad padding or clamp: the same Error on every backend', () => {
    const x = (t: (v: ArrayLike<number>, s: number[]) => Tensor): Tensor => t(new Array(2 * 3 * 4 * 4).fill(1), [2, 3, 4, 4]);
    const w = (t: (v: ArrayLike<number>, s: number[]) => Tensor): Tensor => t(new Array(2 * 3 * 9).fill(1), [2, 3, 3, 3]);
    const padMsg = (got: string): string => `conv2d: expected padding as [[top, bottom], [left, right]] of integers ≥ 0, got ${got}`;
    throws((t) => conv2d(x(t), w(t), null, { padding: [[1, -1], [0, 0]] }), padMsg('[[1, -1], [0, 0]]'));
    throws((t) => conv2d(x(t), w(t), null, { padding: [[1, 1], [0]] as unknown as [[number, number], [number, number]] }), padMsg('[[1, 1], [0]]'));
    throws((t) => conv2d(x(t), w(t), null, { padding: [1, [0, 1]] as unknown as [[number, number], [number, number]] }), padMsg('[1, [0, 1]]'));
    throws((t) => conv2d(x(t), w(t), null, { padding: [[0.5, 1], [0, 1]] }), padMsg('[[0.5, 1], [0, 1]]'));
    const clampMsg = (got: string): string => `conv2d: expected clamp as [lo, hi] with numbers lo ≤ hi (±Infinity for an open side), got ${got}`;
    throws((t) => conv2d(x(t), w(t), null, { clamp: [6, 0] }), clampMsg('[6, 0]'));
    throws((t) => conv2d(x(t), w(t), null, { clamp: [NaN, 1] }), clampMsg('[NaN, 1]'));
    throws((t) => conv2d(x(t), w(t), null, { clamp: [0] as unknown as [number, number] }), clampMsg('[0]'));
    throws((t) => conv2d(x(t), w(t), null, { clamp: 'relu6' as unknown as [number, number] }), clampMsg("'relu6'"));
    // the padding must leave room for the kernel: 1 + 0 + 0 < 3
    throws((t) => conv2d(t([1, 2, 3], [1, 1, 1, 3]), t(new Array(9).fill(1), [1, 1, 3, 3]), null, { padding: [[0, 1], [0, 0]] }), /^conv2d: expected a kernel that fits the padded input, got input \[1, 1, 1, 3\], kernel 3x3, padding \[0, 1, 0, 0\]/);
  });
});

describe('conv2d clamp: fused only when no gradient is recorded (cpu)', () => {
  const x = (): Tensor => tensor(Float64Array.from({ length: 2 * 3 * 5 * 6 }, (_, i) => Math.sin(i) * 8), { shape: [2, 3, 5, 6], dtype: 'float64' });
  const w = (): Tensor => tensor(Float64Array.from({ length: 4 * 3 * 9 }, (_, i) => Math.cos(i)), { shape: [4, 3, 3, 3], dtype: 'float64' });
  const opts: Conv2dOptions = { stride: 2, padding: [[0, 1], [1, 0]], clamp: [0, 6] };

  function spyParams(run: () => void): { params: Conv2dParams[]; unary: string[] } {
    const be = engine.backend('cpu');
    const conv = vi.spyOn(be, 'conv2d');
    const unary = vi.spyOn(be, 'unary');
    try {
      run();
      return { params: conv.mock.calls.map((c) => c[3]), unary: unary.mock.calls.map((c) => c[0]) };
    } finally {
      conv.mockRestore();
      unary.mockRestore();
    }
  }

  it('noGrad: one conv2d kernel call carrying the clamp and the four pad sides, no clamp kernel', () => {
    const a = x();
    const k = w();
    a.requiresGrad_(true);
    let y: Tensor | null = null;
    const seen = spyParams(() => {
      y = noGrad(() => conv2d(a, k, null, opts));
    });
    expect(seen.params).toEqual([{ stride: [2, 2], padding: [0, 1, 1, 0], dilation: [1, 1], groups: 1, clamp: [0, 6] }]);
    expect(seen.unary).toEqual([]);
    expect(y!.requiresGrad).toBe(false);
    y!.dispose();
    a.dispose();
    k.dispose();
  });

  it('with a gradient: conv2d without the clamp, then the clamp op (its node is the output)', () => {
    const a = x();
    const k = w();
    a.requiresGrad_(true);
    let y: Tensor | null = null;
    const seen = spyParams(() => {
      y = conv2d(a, k, null, opts);
    });
    expect(seen.params.map((p) => p.clamp)).toEqual([undefined]);
    expect(seen.unary).toEqual(['clamp']);
    expect(y!.gradFn?.op).toBe('clamp');
    // and equal to the explicit composition: pad, conv2d, clamp
    const ref = clampOp(conv2d(pad(a, [1, 0, 0, 1]), k, null, { stride: 2 }), 0, 6);
    expect(Array.from(y!.dataSync())).toEqual(Array.from(ref.dataSync()));
    sum(y!).backward();
    const g1 = Array.from(a.grad!.dataSync());
    a.grad!.dispose();
    a.grad = null;
    sum(ref).backward();
    expect(Array.from(a.grad!.dataSync())).toEqual(g1);
    a.grad!.dispose();
    for (const t of [y!, ref, a, k]) t.dispose();
  });
});
