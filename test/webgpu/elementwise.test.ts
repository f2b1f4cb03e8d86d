/**
 * webgpu vs cpu: every unary op of the spec table (forward and gradient), binary ops with
 * broadcasting (forward and gradients, which also exercise the sum reductions), comparisons,
 * where, fill, cast, and int32 variants.
 * Tolerances: f32 transcendental functions differ between WGSL and JS's float64-then-round by a
 * few ulps (atol 1e-5, rtol 1e-4); erf/gelu use an approximation (|error| < 1.5e-7, atol 2e-6).
 */
import { describe, expect, it } from 'vitest';
import * as P from '../../index.js';
import { UNARY_OPS, type UnaryOp } from '../../backends/spec.js';
import type { DType } from '../../engine/dtype.js';
import { assertClose } from '../helpers/close.js';
import { gpuAvailable, parity, rnd } from './helpers.js';

/** The backend's cast kernel as a tensor function (there is no public cast op). */
const cast = (x: P.Tensor, dtype: DType): P.Tensor => P.Tensor.fromStorage(x.device, P.engine.backend(x.device).cast(x.k('cast'), dtype), x.shape, dtype);

const TOL = { fwd: { atol: 1e-5, rtol: 1e-4 }, bwd: { atol: 1e-5, rtol: 1e-4 } };

/** Domain of each op's test input, away from kinks and poles. */
function domain(op: UnaryOp): { lo: number; hi: number; params: number[] } {
  switch (op) {
    case 'log': case 'sqrt': case 'rsqrt': case 'reciprocal': return { lo: 0.2, hi: 3, params: [] };
    case 'powScalar': return { lo: 0.2, hi: 2, params: [2.5] };
    case 'leakyRelu': return { lo: -2, hi: 2, params: [0.1] };
    case 'elu': return { lo: -2, hi: 2, params: [1.3] };
    case 'clamp': return { lo: -2, hi: 2, params: [-0.5, 0.7] };
    default: return { lo: -3, hi: 3, params: [] };
  }
}

describe.skipIf(!gpuAvailable)('webgpu elementwise', () => {
  const be = () => P.engine.backend('webgpu');
  for (const op of UNARY_OPS) {
    it(`unary ${op} forward and gradient`, async () => {
      const { lo, hi, params } = domain(op);
      for (const shape of [[1], [7, 33], [2, 3, 5, 65]]) {
        const n = shape.reduce((a, b) => a * b, 1);
        // Keep inputs off kinks: |x| ≥ 0.05 for relu-like ops.
        const values = Array.from(rnd(n, 3, lo, hi), (v) => (Math.abs(v) < 0.05 ? v + 0.1 : v));
        const cpuX = P.tensor(values, { shape });
        const gpuX = P.tensor(values, { shape, device: 'webgpu' });
        const dy = rnd(n, 4);
        // forward through the kernel interface (every op, including those without a public op)
        const kc = be();
        const yG = kc.unary(op, gpuX.k('t'), params);
        const yGT = P.Tensor.fromStorage('webgpu', yG, shape, 'float32');
        const yC = P.engine.backend('cpu').unary(op, cpuX.k('t'), params);
        const tolF = op === 'erf' || op === 'gelu' ? { atol: 2e-6, rtol: 1e-4 } : TOL.fwd;
        assertClose(await yGT.data(), yC as Float32Array, tolF, `${op} forward`);
        // gradient kernel, fed the cpu forward values so both see the same y
        const yCpuOnGpu = P.tensor(Float32Array.from(yC as Float32Array), { shape, device: 'webgpu' });
        const dyG = P.tensor(dy, { shape, device: 'webgpu' });
        const dyC = P.tensor(dy, { shape });
        const gG = P.Tensor.fromStorage('webgpu', kc.unaryGrad(op, gpuX.k('t'), yCpuOnGpu.k('t'), dyG.k('t'), params), shape, 'float32');
        const gC = P.engine.backend('cpu').unaryGrad(op, cpuX.k('t'), P.tensor(Float32Array.from(yC as Float32Array), { shape }).k('t'), dyC.k('t'), params);
        assertClose(await gG.data(), gC as Float32Array, tolF, `${op} gradient`);
        for (const t of [cpuX, gpuX, yGT, yCpuOnGpu, dyG, dyC, gG]) t.dispose();
      }
    });
  }

  it('public unary ops through autograd', async () => {
    for (const shape of [[3, 4], [1, 1], [300, 257]]) {
      await parity(`unary ops ${shape}`, (x) => [P.exp(x), P.tanh(x), P.sigmoid(x), P.gelu(x), P.silu(x), P.relu(x), P.clamp(x, -0.3, 0.4)], [{ shape }], TOL);
    }
  });

  it('binary ops with broadcasting, forward and gradients', async () => {
    const cases: [number[], number[]][] = [
      [[5], [5]], [[2, 3, 4], [3, 1]], [[2, 1, 4], [3, 1]], [[1], [4, 3]], [[4, 3], []], [[2, 3, 4, 5], [1, 3, 1, 5]],
      [[3, 1, 5, 1, 2], [1, 4, 1, 6, 2]], [[64, 3, 17, 9], [3, 1, 1]],
    ];
    for (const [sa, sb] of cases) {
      await parity(`add/sub/mul ${sa} ${sb}`, (a, b) => [P.add(a, b), P.sub(a, b), P.mul(a, b)], [{ shape: sa }, { shape: sb }], TOL);
      await parity(`div/pow ${sa} ${sb}`, (a, b) => [P.div(a, b), P.pow(a, b)], [{ shape: sa, lo: 0.5, hi: 2 }, { shape: sb, lo: 0.5, hi: 2 }], TOL);
      await parity(`max/min ${sa} ${sb}`, (a, b) => [P.maximum(a, b), P.minimum(a, b)], [{ shape: sa }, { shape: sb }], TOL);
    }
  });

  it('comparisons, where and maskedFill', async () => {
    const a = Array.from(rnd(60, 5), (v) => Math.round(v * 3) / 3);
    const b = Array.from(rnd(12, 6), (v) => Math.round(v * 3) / 3);
    await parity('compare', (x, y) => [P.eq(x, y), P.ne(x, y), P.lt(x, y), P.le(x, y), P.gt(x, y), P.ge(x, y)], [{ shape: [5, 12], values: a }, { shape: [12], values: b }], TOL, { noGrad: true });
    await parity('where', (c, x, y) => P.where(P.gt(c, 0), x, y), [{ shape: [3, 1, 5], grad: false }, { shape: [4, 5] }, { shape: [3, 4, 1] }], TOL);
    await parity('where float cond', (c, x, y) => P.where(c, x, y), [{ shape: [6], values: [0, 1, -0, 2, 0, 0.5], grad: false }, { shape: [6] }, { shape: [1] }], TOL);
    await parity('maskedFill', (x, m) => P.maskedFill(x, P.lt(m, 0), -2.5), [{ shape: [4, 6] }, { shape: [6], grad: false }], TOL);
  });

  it('int32: arithmetic, comparisons, cast, fill', async () => {
    const ia = [3, -7, 12, 0, 5, -1, 100000, -2];
    const ib = [2, 3, -4, 9, 5, -1, 3, 7];
    await parity('int add/sub/mul/max/min', (x, y) => [P.add(x, y), P.sub(x, y), P.mul(x, y), P.maximum(x, y), P.minimum(x, y), P.neg(x), P.abs(x), P.sign(x), P.lt(x, y)], [{ shape: [8], values: ia, int: true }, { shape: [8], values: ib, int: true }], TOL);
    // pow has no public int32 op; the kernel's int path (compute in f32, convert back) is reached directly.
    const rawPow = (x: P.Tensor, y: P.Tensor): P.Tensor => P.Tensor.fromStorage(x.device, P.engine.backend(x.device).binary('pow', x.k('pow'), y.k('pow'), x.shape, 'int32'), x.shape, 'int32');
    await parity('int pow (via f32)', rawPow, [{ shape: [4], values: [2, 3, -2, 5], int: true }, { shape: [4], values: [3, 2, 3, 0], int: true }], TOL);
    await parity('cast f32->i32 truncates toward zero', (x) => cast(x, 'int32'), [{ shape: [6], values: [1.9, -1.9, 0.2, -0.7, 1e6, 3], grad: false }], TOL);
    await parity('cast i32->f32', (x) => cast(x, 'float32'), [{ shape: [3], values: [-5, 0, 77], int: true }], TOL);
    const f = P.full([3, 5], 2.75, { device: 'webgpu' });
    expect(Array.from(await f.data())).toEqual(new Array(15).fill(2.75));
    const fi = P.full([4], -3, { device: 'webgpu', dtype: 'int32' });
    expect(Array.from(await fi.data())).toEqual([-3, -3, -3, -3]);
    expect((await fi.data()) instanceof Int32Array).toBe(true);
    f.dispose();
    fi.dispose();
  });

  it('size-0 tensors', async () => {
    const a = P.zeros([0, 3], { device: 'webgpu' });
    const b = P.ones([3], { device: 'webgpu' });
    const c = P.add(a, b);
    expect(c.shape).toEqual([0, 3]);
    expect((await c.data()).length).toBe(0);
    const e = P.exp(a);
    expect((await e.data()).length).toBe(0);
    for (const t of [a, b, c, e]) t.dispose();
  });
});
