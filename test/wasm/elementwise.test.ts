/**
 * wasm vs cpu: every unary op of the spec table (forward and gradient), broadcasting binary ops,
 * comparisons, where, fill and cast, for float32 and int32.
 * Tolerances: arithmetic, comparisons, copies: exact or 1e-6 relative (single rounding in float32
 * vs float64 then rounded). Transcendentals (SIMD exp/log polynomials, A&S erf, float32 tanh and
 * pow): atol 1e-5, rtol 1e-5 (erf/gelu: atol 3e-7 from the A&S approximation, within 1e-5).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { UNARY_OPS, BINARY_OPS } from '../../backends/spec.js';
import { full, tensor } from '../../ops/creation.js';
import * as E from '../../ops/elementwise.js';
import type { Tensor } from '../../engine/tensor.js';
import { engine } from '../../engine/engine.js';
import { f, fixed, i32, parity, setupWasm } from './helpers.js';

const TIGHT = { atol: 1e-6, rtol: 1e-6 };
const TRANS = { atol: 1e-5, rtol: 1e-5 };

beforeAll(async () => {
  await setupWasm();
});

// Inputs per op: domain-safe ranges, away from kinks where the gradient is ambiguous.
const RANGE: Partial<Record<string, [number, number]>> = {
  log: [0.1, 3], sqrt: [0.1, 3], rsqrt: [0.1, 3], reciprocal: [0.2, 3], powScalar: [0.1, 2],
  exp: [-20, 20], tanh: [-8, 8], sigmoid: [-20, 20], silu: [-10, 10], gelu: [-5, 5], geluTanh: [-5, 5], erf: [-3, 3],
  sin: [-6, 6], cos: [-6, 6], elu: [-4, 4], round: [-4, 4], floor: [-4, 4], ceil: [-4, 4],
};
const PARAMS: Partial<Record<string, number[]>> = { leakyRelu: [0.1], elu: [1.3], clamp: [-0.4, 0.6], powScalar: [2.5] };
const EXACT = new Set(['copy', 'neg', 'abs', 'sign', 'relu', 'leakyRelu', 'square', 'floor', 'ceil', 'round', 'clamp', 'reciprocal', 'sqrt', 'rsqrt']);

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

describe('wasm unary ops (spec table) match cpu', () => {
  for (const op of UNARY_OPS) {
    it(op, () => {
      const [lo, hi] = RANGE[op] ?? [-2, 2];
      const tol = EXACT.has(op) ? TIGHT : TRANS;
      const fn = rawUnary(op, PARAMS[op] ?? []);
      // sizes: tail of 1..3 lanes, one vector, a dim of 1, empty, a larger one
      for (const shape of [[1], [3], [4], [7], [2, 5, 3], [0], [0, 3], [1037]]) {
        parity(`${op} ${JSON.stringify(shape)}`, fn, [f(shape, shape.length * 31 + shape[0]! + 5, lo, hi)], tol);
      }
    });
  }
  it('round is half-to-even and sign/abs/neg/copy work on int32', () => {
    parity('round ties', (x) => E.round(x), [{ shape: [6], data: Float32Array.from([0.5, 1.5, 2.5, -0.5, -1.5, 2.4999]), noGrad: true }], { atol: 0, rtol: 0 });
    const ints = i32([7], [-3, -1, 0, 1, 5, -2147483647, 2147483647]);
    for (const fn of [E.neg, E.abs, E.sign, E.clone]) parity(`int32 ${fn.name}`, fn, [ints], { atol: 0, rtol: 0 }, { grad: false });
  });
  it('special values: exp overflow/underflow, log of 0 and negatives, NaN', () => {
    const x = fixed([8], 0);
    x.data.set([100, -100, 0, -0, NaN, Infinity, -Infinity, 88]);
    parity('exp specials', E.exp, [x], TRANS, { grad: false });
    const y = fixed([6], 0);
    y.data.set([0, -1, Infinity, NaN, 1e-40, 1]);
    parity('log specials', E.log, [y], TRANS, { grad: false });
  });
});

const SHAPES: [number[], number[]][] = [
  [[5], [5]], [[2, 3], [2, 3]], [[2, 3, 4], [3, 1]], [[3, 1], [1, 5]], [[2, 3, 5, 7], [3, 1, 1]], [[4, 1, 3], [1, 6, 3]],
  [[7], []], [[], [6]], [[], []], [[1], [9]], [[2, 0, 3], [3]], [[2, 9, 33], [2, 1, 33]], [[64, 130], [130]],
];

describe('wasm binary ops with broadcasting match cpu', () => {
  const fns: Record<string, (a: Tensor, b: Tensor) => Tensor> = {
    add: E.add, sub: E.sub, mul: E.mul, div: E.div, pow: E.pow, maximum: E.maximum, minimum: E.minimum,
    eq: E.eq, ne: E.ne, lt: E.lt, le: E.le, gt: E.gt, ge: E.ge,
  };
  for (const op of BINARY_OPS) {
    it(op, () => {
      const fn = fns[op]!;
      const cmp = ['eq', 'ne', 'lt', 'le', 'gt', 'ge'].includes(op);
      for (const [sa, sb] of SHAPES) {
        const lo = op === 'pow' || op === 'div' ? 0.5 : -2;
        const a = f(sa, 3 + sa.length, lo, 2);
        // quantized values so comparisons see ties
        const b = f(sb, 7 + sb.length, lo, 2);
        if (cmp) { a.data = a.data.map((v) => Math.round(v * 2) / 2); b.data = b.data.map((v) => Math.round(v * 2) / 2); }
        // gradients of broadcast operands are sums of float32 products: 1e-5
        parity(`${op} ${JSON.stringify(sa)}∘${JSON.stringify(sb)}`, fn, [a, b], op === 'pow' ? TRANS : TIGHT, { grad: !cmp, bwd: TRANS });
      }
    });
  }
  it('int32 binary ops (add, sub, mul, maximum, comparisons) are exact', () => {
    const a = i32([2, 3], [1, -2, 3, 40000, -5, 6]);
    const b = i32([3], [3, -2, 70000]);
    for (const op of ['add', 'sub', 'mul', 'maximum', 'minimum', 'eq', 'lt', 'ge'] as const) parity(`int32 ${op}`, fns[op]!, [a, b], { atol: 0, rtol: 0 }, { grad: false });
  });
});

describe('wasm where, fill, cast match cpu', () => {
  it('where with broadcasting, float and int conditions', () => {
    parity('where float cond', (c, a, b) => E.where(c, a, b), [fixed([2, 1, 5], 1), f([3, 1], 2), f([5], 3)], TIGHT);
    parity('where int cond', (c, a, b) => E.where(E.gt(c, 0), a, b), [fixed([4, 6], 4), f([4, 6], 5), f([], 6)], TIGHT);
    const negZero = fixed([3], 0);
    negZero.data.set([-0, 0, 1]);
    parity('where -0 is false', (c, a, b) => E.where(c, a, b), [negZero, f([3], 7), f([3], 8)], TIGHT);
    parity('where empty', (c, a, b) => E.where(c, a, b), [fixed([0, 2], 1), f([2], 2), f([0, 2], 3)], TIGHT);
  });
  it('fill and cast', () => {
    for (const [shape, v, dtype] of [[[5], 2.5, 'float32'], [[3, 3], -7.9, 'int32'], [[0], 1, 'float32'], [[], 3, 'int32']] as const) {
      const a = full(shape as unknown as number[], v, { dtype, device: 'wasm' });
      const b = full(shape as unknown as number[], v, { dtype, device: 'cpu' });
      expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
      a.dispose();
      b.dispose();
    }
    const vals = Float32Array.from([-2.7, -0.5, 0, 0.5, 2.7, 123456.9, -1e9]);
    const c = tensor(vals, { device: 'wasm' });
    const toInt = engine.backend('wasm').cast(c.k('cast'), 'int32');
    const back = engine.backend('wasm').cast({ storage: toInt, shape: c.shape, dtype: 'int32' }, 'float32');
    const cpuInt = engine.backend('cpu').cast({ storage: vals, shape: [7], dtype: 'float32' }, 'int32');
    expect(Array.from(engine.backend('wasm').readSync({ storage: toInt, shape: [7], dtype: 'int32' }) as Int32Array)).toEqual(Array.from(cpuInt as Int32Array));
    expect(Array.from(engine.backend('wasm').readSync({ storage: back, shape: [7], dtype: 'float32' }) as Float32Array)).toEqual(Array.from(cpuInt as Int32Array));
    engine.backend('wasm').release(toInt);
    engine.backend('wasm').release(back);
    c.dispose();
  });
});
