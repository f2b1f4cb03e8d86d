/**
 * wasm vs cpu: softmax and logSoftmax (forward and backward) along every dim, with rows that are
 * not multiples of 4, inner sizes with a remainder (the scalar column path), dims of 1, empty
 * tensors, fully masked rows (-Infinity -> zeros / -Infinity), logits in the thousands, and a large
 * row. Tolerance: atol 1e-6 + rtol 1e-5 (SIMD exp polynomial ~1 ulp, float32 sums).
 */
import { beforeAll, describe, it } from 'vitest';
import { mul } from '../../ops/elementwise.js';
import { logSoftmax, softmax } from '../../ops/softmax.js';
import { f, fixed, parity, setupWasm } from './helpers.js';

const TOL = { atol: 1e-6, rtol: 1e-5 };

beforeAll(async () => {
  await setupWasm();
});

describe('wasm softmax / logSoftmax match cpu', () => {
  const shapes: [number[], number[]][] = [
    [[7], [0, -1]], [[3, 5], [0, 1]], [[2, 9, 6], [0, 1, 2]], [[2, 3, 4, 5], [1, 3]], [[4, 1, 3], [1]], [[1], [0]], [[0, 4], [1]], [[3, 1000], [1]], [[17, 13], [0]],
  ];
  for (const [shape, dims] of shapes) {
    for (const dim of dims) {
      it(`${JSON.stringify(shape)} dim ${dim}`, () => {
        parity('softmax', (x) => softmax(x, dim), [f(shape, shape.length + dim + 3, -4, 4)], TOL);
        parity('logSoftmax', (x) => logSoftmax(x, dim), [f(shape, shape.length + dim + 5, -4, 4)], TOL);
      });
    }
  }
  it('large logits and fully masked rows', () => {
    const big = f([3, 6], 1, -1, 1);
    big.data = big.data.map((v) => v * 3000);
    parity('softmax big', (x) => softmax(x, 1), [big], { atol: 1e-6, rtol: 1e-4 }, { grad: false });
    parity('logSoftmax big', (x) => logSoftmax(x, 1), [big], { atol: 1e-3, rtol: 1e-6 }, { grad: false });
    for (const dim of [0, 1]) {
      const m = fixed([5, 6], 2);
      for (let i = 0; i < 6; i++) m.data[6 + i] = -Infinity; // row 1 masked (dim 1)
      for (let r = 0; r < 5; r++) m.data[r * 6 + 2] = -Infinity; // column 2 masked (dim 0)
      parity(`masked softmax dim ${dim}`, (x) => softmax(x, dim), [m], TOL, { grad: false });
      parity(`masked logSoftmax dim ${dim}`, (x) => logSoftmax(x, dim), [m], TOL, { grad: false });
    }
  });
  it('a NaN logit makes its row NaN, as on cpu', () => {
    const t = fixed([3, 9], 3);
    t.data[2] = NaN;
    t.data[9 + 8] = NaN;
    for (const dim of [0, 1]) parity(`softmax NaN dim ${dim}`, (x) => softmax(x, dim), [t], TOL, { grad: false });
    const c = fixed([2, 9, 5], 4);
    c.data[7] = NaN;
    parity('softmax NaN across rows', (x) => softmax(x, 1), [c], TOL, { grad: false });
  });
  it('backward through a weighted output (softmax then mul)', () => {
    parity('softmax·w', (x, w) => mul(softmax(x, 2), w), [f([2, 3, 11], 7), f([2, 3, 11], 8)], TOL);
  });
});
