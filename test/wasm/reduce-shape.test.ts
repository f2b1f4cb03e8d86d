/**
 * wasm vs cpu: reductions (sum, mean, max, min, prod over contiguous and non-contiguous dims),
 * argmax/argmin (ties: first index; NaN wins), cumsum, topk/sort (ties: lower index first), and
 * data movement (permute, transpose incl. the tiled path, slice with steps, expand/repeat (step 0),
 * pad incl. negative pads, concat, stack, split, flip, gather, indexSelect), forward and backward.
 * Tolerance: data movement and max/min/arg/topk are exact; sums 1e-6 + 1e-5 relative (cpu sums
 * in float64, wasm sum/prod and cumsum in float64 too along rows, float32 across rows).
 */
import { beforeAll, describe, it } from 'vitest';
import * as R from '../../ops/reduce.js';
import * as SH from '../../ops/shape.js';
import { f, fixed, i32, parity, setupWasm } from './helpers.js';

const EXACT = { atol: 0, rtol: 0 };
const SUM = { atol: 1e-6, rtol: 1e-5 };

beforeAll(async () => {
  await setupWasm();
});

describe('wasm reductions match cpu', () => {
  const cases: [number[], number | number[] | undefined][] = [
    [[7], undefined], [[3, 5], 1], [[3, 5], 0], [[2, 3, 4], [0, 2]], [[2, 3, 9], 1], [[4, 1, 6], [1, 2]], [[2, 5, 7, 3], [1, 2]], [[1, 1], undefined], [[5, 1037], 1], [[300, 6], 0],
  ];
  for (const [shape, dim] of cases) {
    it(`${JSON.stringify(shape)} over ${JSON.stringify(dim)}`, () => {
      parity('sum', (x) => R.sum(x, dim, true), [f(shape, 1)], SUM);
      parity('mean', (x) => R.mean(x, dim), [f(shape, 2)], SUM);
      parity('max', (x) => R.max(x, dim), [f(shape, 3)], EXACT, { bwd: SUM });
      parity('min', (x) => R.min(x, dim, true), [f(shape, 4)], EXACT, { bwd: SUM });
      parity('prod', (x) => R.prod(x, dim), [f(shape, 5, 0.8, 1.2)], { atol: 1e-6, rtol: 2e-5 });
    });
  }
  it('max/min propagate NaN (SIMD pmax/pmin with NaN tracking)', () => {
    const t = fixed([3, 9], 11);
    t.data[4] = NaN; // row 0, in the SIMD body
    t.data[9 + 8] = NaN; // row 1, in the scalar tail
    for (const dim of [0, 1]) {
      parity(`max NaN dim ${dim}`, (x) => R.max(x, dim), [t], EXACT, { grad: false });
      parity(`min NaN dim ${dim}`, (x) => R.min(x, dim), [t], EXACT, { grad: false });
    }
  });
  it('empty and int32 sums', () => {
    parity('sum empty', (x) => R.sum(x, 1), [f([3, 0], 1)], EXACT);
    parity('sum int32', (x) => R.sum(x, 0), [i32([3, 2], [1, 2, 3, 4, -5, 2147483647])], EXACT, { grad: false });
    parity('max int32', (x) => R.max(x, 1), [i32([2, 3], [1, 9, 3, -4, -5, -1])], EXACT, { grad: false });
  });
  it('argmax / argmin: ties take the first index, NaN wins', () => {
    const t = fixed([3, 6], 0);
    t.data.set([1, 3, 3, 2, 0, 3, 5, 5, 5, 5, 5, 5, 1, NaN, 2, NaN, 0, 9]);
    for (const dim of [0, 1, undefined]) {
      parity(`argmax ${dim}`, (x) => R.argmax(x, dim), [t], EXACT, { grad: false });
      parity(`argmin ${dim}`, (x) => R.argmin(x, dim, true), [t], EXACT, { grad: false });
    }
    parity('argmax wide', (x) => R.argmax(x, 1), [fixed([3, 37, 9], 5)], EXACT, { grad: false });
    parity('argmin int', (x) => R.argmin(x, 0), [i32([2, 3], [4, 1, 7, 4, 0, 9])], EXACT, { grad: false });
  });
  it('cumsum along each dim', () => {
    for (const dim of [0, 1, 2]) parity(`cumsum ${dim}`, (x) => R.cumsum(x, dim), [f([3, 7, 5], 6)], SUM);
    parity('cumsum long row', (x) => R.cumsum(x, 0), [f([2000], 7)], { atol: 1e-5, rtol: 1e-5 });
    parity('cumsum int32', (x) => R.cumsum(x, 1), [i32([2, 3], [1, 2, 3, -4, 5, 6])], EXACT, { grad: false });
  });
  it('topk and sort: ties keep the lower index first', () => {
    const t = fixed([2, 9], 0);
    t.data.set([3, 1, 3, 2, 3, 0, 1, 5, 5, 0, 0, 0, 1, 1, 2, 2, 0, 1]);
    for (const largest of [true, false]) {
      parity(`topk ${largest}`, (x) => { const r = SH.topk(x, 4, 1, largest); return [r.values, r.indices]; }, [{ ...t, noGrad: false }], EXACT);
    }
    parity('topk dim 0', (x) => { const r = SH.topk(x, 2, 0); return [r.values, r.indices]; }, [f([5, 4, 3], 8)], EXACT);
    parity('sort', (x) => { const r = SH.sort(x, -1, true); return [r.values, r.indices]; }, [f([3, 257], 9)], EXACT);
    parity('sort asc int', (x) => { const r = SH.sort(x, 0); return [r.values, r.indices]; }, [i32([5], [3, -1, 3, 0, -1])], EXACT, { grad: false });
    parity('topk k=0', (x) => SH.topk(x, 0, 1).values, [f([2, 3], 10)], EXACT);
  });
});

describe('wasm data movement matches cpu (exact)', () => {
  it('permute and transpose (incl. tiled transposes of odd sizes)', () => {
    parity('permute', (x) => SH.permute(x, [2, 0, 1]), [f([2, 3, 4], 1)], EXACT);
    parity('permute 4d', (x) => SH.permute(x, [0, 2, 3, 1]), [f([2, 5, 3, 7], 2)], EXACT);
    parity('transpose big', (x) => SH.transpose(x, 0, 1), [f([37, 53], 3)], EXACT);
    parity('transpose batched', (x) => SH.transpose(x, 1, 2), [f([3, 9, 17], 4)], EXACT);
    parity('transpose int', (x) => SH.transpose(x, 0, 1), [i32([2, 3], [1, 2, 3, 4, 5, 6])], EXACT, { grad: false });
  });
  it('slice with steps, expand, repeat', () => {
    parity('slice step 2', (x) => SH.slice(x, 2, 1, 6, 2), [f([2, 3, 7], 5)], EXACT);
    parity('slice step 3 dim 0', (x) => SH.slice(x, 0, -4, null, 3), [f([9, 5], 6)], EXACT);
    parity('slice empty', (x) => SH.slice(x, 1, 2, 2), [f([2, 4], 7)], EXACT);
    parity('expand', (x) => SH.expand(x, [4, 3, 5]), [f([3, 1], 8)], EXACT, { bwd: SUM });
    parity('repeat', (x) => SH.repeat(x, [2, 1, 3]), [f([2, 3], 9)], EXACT, { bwd: SUM });
  });
  it('pad (incl. negative), concat, stack, split, flip', () => {
    parity('pad', (x) => SH.pad(x, [1, 2, 3, 0], 0.5), [f([2, 3, 4], 10)], EXACT);
    parity('pad crop', (x) => SH.pad(x, [1, -2, -1, 2]), [f([3, 5], 11)], EXACT);
    parity('concat', (a, b) => SH.concat([a, b], 1), [f([2, 3, 5], 12), f([2, 4, 5], 13)], EXACT);
    parity('concat with empty', (a, b) => SH.concat([a, b], 0), [f([0, 3], 14), f([2, 3], 15)], EXACT);
    parity('stack', (a, b) => SH.stack([a, b], 2), [f([2, 3], 16), f([2, 3], 17)], EXACT);
    parity('split', (x) => SH.split(x, [1, 3, 1], 1), [f([2, 5, 3], 18)], EXACT);
    parity('flip', (x) => SH.flip(x, [0, 2]), [f([3, 4, 5], 19)], EXACT);
  });
  it('gather, indexSelect (with repeated indices: scatterAdd backward)', () => {
    const idx = i32([2, 3], [0, 2, 2, 1, 0, 1]);
    parity('gather dim 1', (x, i) => SH.gather(x, 1, i!), [f([2, 4], 20), idx], EXACT, { bwd: SUM });
    parity('gather dim 0', (x, i) => SH.gather(x, 0, i!), [f([3, 3], 21), i32([2, 3], [2, 0, 1, 1, 1, 0])], EXACT, { bwd: SUM });
    parity('indexSelect', (x, i) => SH.indexSelect(x, 1, i!), [f([2, 4, 3], 22), i32([5], [3, 0, 3, 1, 3])], EXACT, { bwd: SUM });
    parity('indexSelect int', (x, i) => SH.indexSelect(x, 0, i!), [i32([3, 2], [1, 2, 3, 4, 5, 6]), i32([2], [2, 2])], EXACT, { grad: false });
  });
});
