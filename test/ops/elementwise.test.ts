/**
 * Elementwise ops on every backend (test/helpers/backends.ts): PyTorch fixtures, then parity with
 * cpu float64 through ops and autograd for every unary op of the spec table (forward and gradient),
 * broadcasting binary ops, comparisons (with ties), where, maskedFill, fill and cast, for float32
 * and int32, on sizes that exercise the SIMD tails (1..3 lanes), one vector, dims of 1, empty
 * tensors, rank 5, and large ones.
 * Tolerances: arithmetic, comparisons, copies: 1e-6 (single rounding in float32). Transcendentals
 * (SIMD exp/log polynomials, A&S erf in WGSL/AssemblyScript, float32 tanh and pow): atol 1e-5,
 * rtol 1e-4.
 */
import { expect, it } from 'vitest';
import { BINARY_OPS, UNARY_OPS } from '../../backends/spec.js';
import type { DType } from '../../engine/dtype.js';
import { engine } from '../../engine/engine.js';
import { Tensor } from '../../engine/tensor.js';
import { full, zeros, ones } from '../../ops/creation.js';
import * as E from '../../ops/elementwise.js';
import { describeEnvs, env, onEnv, f, fixed, fixture, i32, parity, read, throws, vals } from '../helpers/backends.js';
import { loadFixture } from '../helpers/fixtures.js';
import { fixtureOps, fixtureTol } from '../helpers/op-fixtures.js';

const TIGHT = { atol: 1e-6, rtol: 1e-6 };
const TRANS = { atol: 1e-5, rtol: 1e-4 };
const EXACT = { atol: 0, rtol: 0 };
const core = loadFixture('ops', 'core');

// Inputs per op: domain-safe ranges, away from kinks where the gradient is ambiguous.
const RANGE: Partial<Record<string, [number, number]>> = {
  log: [0.1, 3], sqrt: [0.1, 3], rsqrt: [0.1, 3], reciprocal: [0.2, 3], powScalar: [0.1, 2],
  exp: [-20, 20], tanh: [-8, 8], sigmoid: [-20, 20], silu: [-10, 10], gelu: [-5, 5], geluTanh: [-5, 5], erf: [-3, 3],
  sin: [-6, 6], cos: [-6, 6], elu: [-4, 4], round: [-4, 4], floor: [-4, 4], ceil: [-4, 4],
};
const PARAMS: Partial<Record<string, number[]>> = { leakyRelu: [0.1], elu: [1.3], clamp: [-0.4, 0.6], powScalar: [2.5] };
const EXACTISH = new Set(['copy', 'neg', 'abs', 'sign', 'relu', 'leakyRelu', 'square', 'floor', 'ceil', 'round', 'clamp', 'reciprocal', 'sqrt', 'rsqrt']);

function rawUnary(op: (typeof UNARY_OPS)[number], params: number[]) {
  return (x: Tensor): Tensor => {
    const fn: Record<string, (x: Tensor) => Tensor> = {
      copy: E.clone, neg: E.neg, exp: E.exp, log: E.log, sqrt: E.sqrt, rsqrt: E.rsqrt, abs: E.abs, sign: E.sign, relu: E.relu,
      sigmoid: E.sigmoid, tanh: E.tanh, erf: E.erf, gelu: (t) => E.gelu(t), geluTanh: (t) => E.gelu(t, { approximate: 'tanh' }),
      leakyRelu: (t) => E.leakyRelu(t, params[0]), elu: (t) => E.elu(t, params[0]), silu: E.silu, square: E.square,
      reciprocal: E.reciprocal, sin: E.sin, cos: E.cos, floor: E.floor, ceil: E.ceil, round: E.round,
      clamp: (t) => E.clamp(t, params[0], params[1]), powScalar: (t) => E.pow(t, params[0]!),
    };
    const g = fn[op];
    if (!g) throw new Error(`no op for ${op}`);
    return g(x);
  };
}

/** The backend's cast kernel as a tensor function (there is no public cast op). */
const cast = (x: Tensor, dtype: DType): Tensor => Tensor.fromStorage(x.device, engine.backend(x.device).cast(x.k('cast'), dtype), x.shape, dtype);

describeEnvs('elementwise', () => {
  for (const [op, fn, cases] of fixtureOps(core, 'elementwise')) {
    it(`${op} matches PyTorch`, async () => {
      for (const c of cases) await fixture(core, c, fn, fixtureTol(c));
    });
  }

  for (const op of UNARY_OPS) {
    it(`unary ${op}, forward and gradient`, async () => {
      const [lo, hi] = RANGE[op] ?? [-2, 2];
      const tol = EXACTISH.has(op) ? TIGHT : op === 'erf' || op === 'gelu' ? { atol: 2e-6, rtol: 1e-4 } : TRANS;
      const fn = rawUnary(op, PARAMS[op] ?? []);
      // sizes: tail of 1..3 lanes, one vector, a dim of 1, empty, larger ones
      for (const shape of [[1], [3], [4], [7], [2, 5, 3], [0], [0, 3], [1037], [7, 33], [2, 3, 5, 65]]) {
        // keep inputs off the kinks: |x| ≥ 0.05
        const x = f(shape, shape.length * 31 + shape[0]! + 5, lo, hi);
        x.data = x.data.map((v) => (Math.abs(v) < 0.05 ? v + 0.1 : v));
        await parity(`${op} ${JSON.stringify(shape)}`, fn, [x], tol);
      }
    });
  }
  it('public unary ops together on [300, 257]', async () => {
    await parity('unary ops', (x) => [E.exp(x), E.tanh(x), E.sigmoid(x), E.gelu(x), E.silu(x), E.relu(x), E.clamp(x, -0.3, 0.4)], [f([300, 257], 1, -3, 3)], TRANS);
  });
  it('round is half-to-even; sign/abs/neg/copy work on int32', async () => {
    await parity('round ties', (x) => E.round(x), [vals([6], [0.5, 1.5, 2.5, -0.5, -1.5, 2.4999], true)], EXACT);
    const ints = i32([7], [-3, -1, 0, 1, 5, -2147483647, 2147483647]);
    for (const fn of [E.neg, E.abs, E.sign, E.clone]) await parity(`int32 ${fn.name}`, fn, [ints], EXACT, { grad: false });
  });
  it('special values: exp overflow/underflow, log of 0 and negatives', async () => {
    await parity('exp specials', E.exp, [vals([8], [100, -100, 0, -0, NaN, Infinity, -Infinity, 88], true)], TRANS, { grad: false });
    // WGSL may flush subnormals to zero (lavapipe does): 1e-40 only where IEEE subnormals are kept
    await parity('log specials', E.log, [vals([6], [0, -1, Infinity, NaN, onEnv('webgpu') ? 1e-30 : 1e-40, 1], true)], TRANS, { grad: false });
  });

  const SHAPES: [number[], number[]][] = [
    [[5], [5]], [[2, 3], [2, 3]], [[2, 3, 4], [3, 1]], [[3, 1], [1, 5]], [[2, 3, 5, 7], [3, 1, 1]], [[4, 1, 3], [1, 6, 3]],
    [[7], []], [[], [6]], [[], []], [[1], [9]], [[2, 0, 3], [3]], [[2, 9, 33], [2, 1, 33]], [[64, 130], [130]],
    [[2, 1, 4], [3, 1]], [[3, 1, 5, 1, 2], [1, 4, 1, 6, 2]], [[64, 3, 17, 9], [3, 1, 1]],
  ];
  const fns: Record<string, (a: Tensor, b: Tensor) => Tensor> = {
    add: E.add, sub: E.sub, mul: E.mul, div: E.div, pow: E.pow, maximum: E.maximum, minimum: E.minimum,
    eq: E.eq, ne: E.ne, lt: E.lt, le: E.le, gt: E.gt, ge: E.ge,
  };
  for (const op of BINARY_OPS) {
    it(`binary ${op} with broadcasting`, async () => {
      const fn = fns[op]!;
      const cmp = ['eq', 'ne', 'lt', 'le', 'gt', 'ge'].includes(op);
      for (const [sa, sb] of SHAPES) {
        const lo = op === 'pow' || op === 'div' ? 0.5 : -2;
        const a = f(sa, 3 + sa.length, lo, 2);
        const b = f(sb, 7 + sb.length, lo, 2);
        // quantized values so comparisons see ties
        if (cmp) { a.data = a.data.map((v) => Math.round(v * 2) / 2); b.data = b.data.map((v) => Math.round(v * 2) / 2); }
        // gradients of broadcast operands are sums of float32 products
        await parity(`${op} ${JSON.stringify(sa)}∘${JSON.stringify(sb)}`, fn, [a, b], op === 'pow' ? TRANS : TIGHT, { grad: !cmp, bwd: { atol: 2e-5, rtol: 1e-4 } });
      }
    });
  }
  it('int32 binary ops (add, sub, mul, maximum, minimum, comparisons) are exact', async () => {
    const a = i32([2, 3], [1, -2, 3, 40000, -5, 6]);
    const b = i32([3], [3, -2, 70000]);
    for (const op of ['add', 'sub', 'mul', 'maximum', 'minimum', 'eq', 'lt', 'ge'] as const) await parity(`int32 ${op}`, fns[op]!, [a, b], EXACT, { grad: false });
    // pow has no public int32 op; the kernels' int path is reached directly
    const rawPow = (x: Tensor, y: Tensor): Tensor => Tensor.fromStorage(x.device, engine.backend(x.device).binary('pow', x.k('pow'), y.k('pow'), x.shape, 'int32'), x.shape, 'int32');
    await parity('int pow', rawPow, [i32([4], [2, 3, -2, 5]), i32([4], [3, 2, 3, 0])], EXACT, { grad: false });
  });

  it('where with broadcasting, float and int conditions; maskedFill', async () => {
    await parity('where float cond', (c, a, b) => E.where(c, a, b), [fixed([2, 1, 5], 1), f([3, 1], 2), f([5], 3)], TIGHT);
    await parity('where int cond', (c, a, b) => E.where(E.gt(c, 0), a, b), [fixed([4, 6], 4), f([4, 6], 5), f([], 6)], TIGHT);
    await parity('where 3-way broadcast', (c, a, b) => E.where(E.gt(c, 0), a, b), [fixed([3, 1, 5], 7), f([4, 5], 8), f([3, 4, 1], 9)], TIGHT);
    await parity('where -0 is false', (c, a, b) => E.where(c, a, b), [vals([6], [0, 1, -0, 2, 0, 0.5], true), f([6], 7), f([1], 8)], TIGHT);
    await parity('where empty', (c, a, b) => E.where(c, a, b), [fixed([0, 2], 1), f([2], 2), f([0, 2], 3)], TIGHT);
    await parity('maskedFill', (x, m) => E.maskedFill(x, E.lt(m, 0), -2.5), [f([4, 6], 10), fixed([6], 11)], TIGHT);
  });

  it('fill and cast (float → int32 truncates toward zero)', async () => {
    const e = env();
    for (const [shape, v, dtype] of [[[5], 2.5, 'float32'], [[3, 3], -7.9, 'int32'], [[0], 1, 'float32'], [[], 3, 'int32'], [[3, 5], 2.75, 'float32']] as const) {
      const a = full(shape as unknown as number[], v, { dtype: dtype === 'float32' ? e.dtype : dtype, device: e.device });
      const b = full(shape as unknown as number[], v, { dtype, device: 'cpu' });
      const got = await read(a);
      expect(Array.from(got)).toEqual(Array.from(b.dataSync()));
      expect(got instanceof Int32Array).toBe(dtype === 'int32');
      a.dispose();
      b.dispose();
    }
    await parity('cast f → i32', (x) => cast(x, 'int32'), [vals([8], [-2.7, -0.5, 0, 0.5, 2.7, 123456.9, -1e9, 1.9], true)], EXACT, { grad: false });
    await parity('cast i32 → f', (x) => cast(x, env().dtype), [i32([3], [-5, 0, 77])], EXACT, { grad: false });
  });

  it('size-0 tensors', async () => {
    const e = env();
    const a = zeros([0, 3], { device: e.device, dtype: e.dtype });
    const b = ones([3], { device: e.device, dtype: e.dtype });
    const c = E.add(a, b);
    expect(c.shape).toEqual([0, 3]);
    expect((await read(c)).length).toBe(0);
    const x = E.exp(a);
    expect((await read(x)).length).toBe(0);
    for (const t of [a, b, c, x]) t.dispose();
  });

  it('bad input: the same Error on every backend', () => {
    throws((t) => E.add(t([1, 2, 3], [3]), t([1, 2], [2])), 'add: expected shapes that broadcast together, got [3] and [2]');
    throws((t) => E.div(t([1, 2], [2], 'int32'), t([1, 2], [2], 'int32')), 'div: expected float tensors (int32 true division would truncate), got int32');
    throws((t) => E.add(t([1, 2], [2]), t([1, 2], [2], 'int32')), `add: expected tensors of one dtype, got ${env().dtype} and int32`);
    throws((t) => E.exp(t([1, 2], [2], 'int32')), 'exp: expected input of a float dtype (float32 or float64), got int32');
  });
});
