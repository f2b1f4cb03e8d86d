/**
 * webgpu reductions, arg-reductions, cumsum and top-k vs cpu: both kernel layouts (invocation per
 * output, workgroup per output), the chunked two-pass path for a huge reduction, ties (lower index
 * wins), NaN propagation, int32, sizes of 1 and 0, and gradients through the public ops.
 * Tolerances: f32 sums in a different order than the cpu's float64 accumulation:
 * atol 1e-5 + rtol 1e-5 for short rows, scaled (atol 2e-4 / 1e-3) for rows of 10^4..10^5 terms.
 */
import { describe, expect, it } from 'vitest';
import * as P from '../../index.js';
import type { ReduceOp } from '../../backends/spec.js';
import { assertClose } from '../helpers/close.js';
import { gpu, gpuAvailable, parity, rnd } from './helpers.js';

const TOL = { fwd: { atol: 1e-5, rtol: 1e-5 }, bwd: { atol: 1e-5, rtol: 1e-5 } };

/** Runs a kernel-interface reduction on both backends for x viewed as [outer, size, inner]. */
async function rawReduce(op: ReduceOp, outer: number, size: number, inner: number, values?: Float32Array | Int32Array, tol = TOL.fwd): Promise<void> {
  const n = outer * size * inner;
  const v = values ?? rnd(n, outer + size * 3 + inner * 7, op === 'prod' ? 0.9 : -1, op === 'prod' ? 1.1 : 1);
  const dtype = v instanceof Int32Array ? 'int32' : 'float32';
  const c = P.tensor(v, { shape: [n], dtype });
  const g = P.tensor(v, { shape: [n], dtype, device: 'webgpu' });
  const exp = P.engine.backend('cpu').reduce(op, c.k('t'), outer, size, inner);
  const out = P.Tensor.fromStorage('webgpu', gpu!.reduce(op, g.k('t') as never, outer, size, inner), [outer * inner], dtype);
  assertClose(await out.data(), exp as Float32Array, tol, `reduce ${op} [${outer}, ${size}, ${inner}] ${dtype}`);
  for (const t of [c, g, out]) t.dispose();
}

describe.skipIf(!gpuAvailable)('webgpu reductions', () => {
  it('sum/prod/max/min on both layouts and odd shapes', async () => {
    const shapes: [number, number, number][] = [[1, 1, 1], [3, 1, 5], [2, 7, 3], [5, 63, 1], [4, 64, 1], [3, 300, 2], [1, 1000, 1], [700, 40, 3], [1, 5, 3000]];
    for (const op of ['sum', 'prod', 'max', 'min'] as const) for (const [o, s, i] of shapes) await rawReduce(op, o, s, i);
  });

  it('a huge reduction takes the chunked two-pass path', async () => {
    await rawReduce('sum', 1, 70000, 1, undefined, { atol: 2e-4, rtol: 1e-5 });
    await rawReduce('max', 2, 20000, 1);
    await rawReduce('sum', 1, 20000, 3, undefined, { atol: 1e-3, rtol: 1e-5 });
  });

  it('int32 sums and extremes; empty reductions give the identity', async () => {
    const iv = Int32Array.from({ length: 600 }, (_, i) => ((i * 7919) % 201) - 100);
    for (const op of ['sum', 'max', 'min'] as const) {
      await rawReduce(op, 2, 300, 1, iv);
      await rawReduce(op, 3, 20, 10, iv);
    }
    await rawReduce('sum', 3, 0, 2, new Float32Array(0));
    await rawReduce('prod', 2, 0, 1, new Float32Array(0));
  });

  it('NaN propagates through sum and max as on cpu', async () => {
    const v = rnd(200, 9);
    v[37] = NaN;
    await rawReduce('max', 2, 100, 1, v);
    await rawReduce('sum', 1, 200, 1, v);
    await rawReduce('min', 1, 2, 100, v);
  });

  it('public reductions with gradients', async () => {
    await parity('sum/mean dims', (x) => [P.sum(x), P.sum(x, [0, 2], true), P.mean(x, 1), P.max(x, 2), P.min(x, [0, 1]), P.logSumExp(x, 1), P.variance(x, 1)], [{ shape: [3, 70, 5] }], TOL);
    await parity('prod', (x) => P.prod(x, 1), [{ shape: [4, 9], lo: 0.5, hi: 1.5 }], TOL);
  });

  it('argmax/argmin: ties keep the lower index, both layouts, NaN wins', async () => {
    const ties = Array.from(rnd(3 * 300, 4), (v) => Math.round(v * 2));
    await parity('argmax ties', (x) => [P.argmax(x, 1), P.argmin(x, 1), P.argmax(x, 0), P.argmin(x, 0)], [{ shape: [3, 300], values: ties }], TOL, { noGrad: true });
    await parity('argmax small', (x) => [P.argmax(x, 2), P.argmax(x, 1), P.argmin(x)], [{ shape: [2, 5, 7], values: Array.from(rnd(70, 5), (v) => Math.round(v * 3)) }], TOL, { noGrad: true });
    const nan = Array.from(rnd(2 * 100, 6));
    nan[40] = NaN;
    nan[60] = NaN;
    nan[150] = NaN;
    await parity('argmax NaN', (x) => [P.argmax(x, 1), P.argmin(x, 1)], [{ shape: [2, 100], values: nan }], TOL, { noGrad: true });
    await parity('argmax int', (x) => P.argmax(x, 1), [{ shape: [4, 80], values: Array.from({ length: 320 }, (_, i) => (i * 37) % 11), int: true }], TOL, { noGrad: true });
  });

  it('cumsum: sequential lines and the workgroup scan, with gradients', async () => {
    for (const [shape, dim] of [[[3, 4], 1], [[3, 4], 0], [[2, 5, 3], 1], [[2, 600], 1], [[1, 5000], 1], [[3, 1], 1]] as const) {
      await parity(`cumsum ${shape} dim ${dim}`, (x) => P.cumsum(x, dim), [{ shape }], { fwd: { atol: 1e-4, rtol: 1e-5 }, bwd: { atol: 1e-4, rtol: 1e-5 } });
    }
    await parity('cumsum int', (x) => P.cumsum(x, 1), [{ shape: [2, 700], values: Array.from({ length: 1400 }, (_, i) => (i % 7) - 3), int: true }], TOL);
  });

  it('topk and sort: bitonic rows and the selection path, ties by lower index', async () => {
    const tie = Array.from(rnd(4 * 50, 7), (v) => Math.round(v * 4));
    await parity('topk ties', (x) => { const r = P.topk(x, 7, 1); const s = P.topk(x, 5, 1, false); return [r.values, r.indices, s.values, s.indices]; }, [{ shape: [4, 50], values: tie }], TOL);
    await parity('sort', (x) => { const r = P.sort(x, 1, true); const a = P.sort(x, 0); return [r.values, r.indices, a.values, a.indices]; }, [{ shape: [5, 33] }], TOL);
    await parity('topk k = size, 1 and 0', (x) => [P.topk(x, 64, 1).indices, P.topk(x, 1, 1).indices, P.topk(x, 0, 1).values], [{ shape: [3, 64] }], TOL, { noGrad: true });
    await parity('topk 2048', (x) => { const r = P.topk(x, 10, 1); return [r.values, r.indices]; }, [{ shape: [2, 2048], values: Array.from(rnd(4096, 8), (v) => Math.round(v * 50)) }], TOL);
    await parity('topk selection (3000)', (x) => { const r = P.topk(x, 6, 1, false); return [r.values, r.indices]; }, [{ shape: [2, 3000], values: Array.from(rnd(6000, 9), (v) => Math.round(v * 50)) }], TOL);
  });

  it('int32 topk', async () => {
    await parity('topk int', (x) => { const r = P.topk(x, 3, 1); return [r.values, r.indices]; }, [{ shape: [2, 9], values: [5, 1, 5, 9, -2, 9, 0, 3, 3, 1, 1, 1, 7, 7, -7, 2, 2, 8], int: true }], TOL);
    expect(true).toBe(true);
  });
});
