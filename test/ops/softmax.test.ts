/**
 * softmax and logSoftmax on every backend (test/helpers/backends.ts): PyTorch fixtures, then parity
 * with cpu float64, forward and backward, along every dim: rows that are not multiples of 4, inner
 * sizes with a remainder (column paths), dims of 1, empty tensors, the webgpu layouts (contiguous
 * rows in registers or streamed, strided rows with a workgroup or an invocation per row), fully
 * masked rows (-Infinity → zeros / -Infinity), NaN logits, logits in the thousands.
 * Tolerance: atol 1e-6 + rtol 1e-4 (float32 exp and sums); logSoftmax of logits in the thousands
 * atol 2e-3 (float32 spacing at 3000 is 2.4e-4).
 */
import { it } from 'vitest';
import { mul } from '../../ops/elementwise.js';
import { logSoftmax, softmax } from '../../ops/softmax.js';
import { describeEnvs, f, fixed, fixture, parity } from '../helpers/backends.js';
import { loadFixture } from '../helpers/fixtures.js';
import { fixtureOps, fixtureTol } from '../helpers/op-fixtures.js';

const TOL = { atol: 1e-6, rtol: 1e-4 };
const core = loadFixture('ops', 'core');

describeEnvs('softmax', () => {
  for (const [op, fn, cases] of fixtureOps(core, 'softmax')) {
    it(`${op} matches PyTorch`, async () => {
      for (const c of cases) await fixture(core, c, fn, fixtureTol(c));
    });
  }
  const shapes: [number[], number[]][] = [
    [[7], [0, -1]], [[3, 5], [0, 1]], [[2, 9, 6], [0, 1, 2]], [[2, 3, 4, 5], [1, 3]], [[4, 1, 3], [1]], [[1], [0]], [[0, 4], [1]], [[3, 1000], [1]], [[17, 13], [0]],
    [[5, 17], [1]], [[2, 64], [1]], [[2, 1024], [1]], [[3, 4099], [1]], [[2, 8192], [1]], [[300, 3], [0]], [[2, 7, 600], [1]], [[1, 17, 48, 32], [1]], [[16, 2048], [1]], [[4, 64, 96], [1]],
  ];
  for (const [shape, dims] of shapes) {
    for (const dim of dims) {
      it(`${JSON.stringify(shape)} dim ${dim}`, async () => {
        await parity('softmax', (x) => softmax(x, dim), [f(shape, shape.length + dim + 3, -4, 4)], TOL);
        await parity('logSoftmax', (x) => logSoftmax(x, dim), [f(shape, shape.length + dim + 5, -4, 4)], TOL);
      });
    }
  }
  it('threaded: rows, and 16-column groups of strided rows, split between wasm threads', async () => {
    // 268k and 264k elements: above 2 x 2^17 (backends/wasm/softmax.ts THREAD_MIN_ELEMENTS)
    await parity('softmax rows [260, 1030]', (x) => softmax(x, 1), [f([260, 1030], 31, -4, 4)], TOL);
    await parity('logSoftmax rows [260, 1030]', (x) => logSoftmax(x, 1), [f([260, 1030], 32, -4, 4)], TOL);
    await parity('softmax strided [2, 40, 3301] dim 1', (x) => softmax(x, 1), [f([2, 40, 3301], 33, -4, 4)], TOL);
    await parity('logSoftmax strided [2, 40, 3301] dim 1', (x) => logSoftmax(x, 1), [f([2, 40, 3301], 34, -4, 4)], TOL);
  });
  it('large logits and fully masked rows', async () => {
    const big = f([3, 6], 1, -1, 1);
    big.data = big.data.map((v) => v * 3000);
    await parity('softmax big', (x) => softmax(x, 1), [big], { atol: 1e-6, rtol: 1e-4 }, { grad: false });
    await parity('logSoftmax big', (x) => logSoftmax(x, 1), [big], { atol: 2e-3, rtol: 1e-6 }, { grad: false });
    await parity('big logits [4, 50]', (x) => softmax(x, -1), [f([4, 50], 2, 2000, 3000)], TOL);
    await parity('big logits (log) [4, 50]', (x) => logSoftmax(x, -1), [f([4, 50], 3, 2000, 3000)], { atol: 2e-3, rtol: 1e-6 }, { bwd: { atol: 1e-3, rtol: 1e-4 } });
    for (const dim of [0, 1]) {
      const m = fixed([5, 6], 2);
      for (let i = 0; i < 6; i++) m.data[6 + i] = -Infinity; // row 1 masked (dim 1)
      for (let r = 0; r < 5; r++) m.data[r * 6 + 2] = -Infinity; // column 2 masked (dim 0)
      await parity(`masked softmax dim ${dim}`, (x) => softmax(x, dim), [m], TOL, { grad: false });
      await parity(`masked logSoftmax dim ${dim}`, (x) => logSoftmax(x, dim), [m], TOL, { grad: false });
    }
  });
  it('a NaN logit makes its row NaN, as in PyTorch', async () => {
    const t = fixed([3, 9], 3);
    t.data[2] = NaN;
    t.data[9 + 8] = NaN;
    for (const dim of [0, 1]) await parity(`softmax NaN dim ${dim}`, (x) => softmax(x, dim), [t], TOL, { grad: false });
    const c = fixed([2, 9, 5], 4);
    c.data[7] = NaN;
    await parity('softmax NaN across rows', (x) => softmax(x, 1), [c], TOL, { grad: false });
  });
  it('strided rows in whole 16-column groups (wasm cols16): masked and NaN columns', async () => {
    // dim 0 of [5, 20]: columns 0-15 form a full group, 16-19 the 4-column tail
    const m = fixed([5, 20], 5);
    for (let r = 0; r < 5; r++) m.data[r * 20 + 3] = m.data[r * 20 + 18] = -Infinity;
    m.data[2 * 20 + 7] = -Infinity; // one masked logit in a live column
    await parity('masked softmax cols16', (x) => softmax(x, 0), [m], TOL, { grad: false });
    await parity('masked logSoftmax cols16', (x) => logSoftmax(x, 0), [m], TOL, { grad: false });
    const t = fixed([4, 20], 6);
    t.data[20 + 5] = NaN; // column 5 (inside the full group) becomes NaN, the others not
    await parity('softmax NaN cols16', (x) => softmax(x, 0), [t], TOL, { grad: false });
    await parity('logSoftmax NaN cols16', (x) => logSoftmax(x, 0), [t], TOL, { grad: false });
  });
  it('backward through a weighted output (softmax then mul)', async () => {
    await parity('softmax·w', (x, w) => mul(softmax(x, 2), w), [f([2, 3, 11], 7), f([2, 3, 11], 8)], TOL);
  });
});
