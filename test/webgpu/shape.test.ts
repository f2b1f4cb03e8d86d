/**
 * webgpu data movement vs cpu: permute, slice (steps, including the step-0 repeats behind
 * expand), flip, pad, concat, gather, indexSelect and scatterAdd, on float32 and int32, with dims
 * of 1, size-0 edges, a rank-8 case and gradients through the public ops (which exercise
 * scatterAdd, pad-as-slice-backward and the strided reductions).
 * Tolerance: exact for pure data movement (values are copied bit for bit); gradients that sum
 * (expand, repeat, gather, indexSelect backward) use atol 1e-6, rtol 1e-6.
 */
import { describe, expect, it } from 'vitest';
import * as P from '../../index.js';
import { gpuAvailable, parity, rnd } from './helpers.js';

const EXACT = { fwd: { atol: 0, rtol: 0 }, bwd: { atol: 1e-6, rtol: 1e-6 } };

describe.skipIf(!gpuAvailable)('webgpu data movement', () => {
  it('permute / transpose, including a rank-8 tensor', async () => {
    await parity('permute', (x) => [P.permute(x, [2, 0, 1]), P.transpose(x, 0, 1), P.permute(x, [0, 2, 1])], [{ shape: [3, 4, 5] }], EXACT);
    await parity('permute 4d', (x) => [P.permute(x, [0, 2, 3, 1]), P.permute(x, [3, 1, 0, 2])], [{ shape: [2, 3, 1, 7] }], EXACT);
    await parity('permute rank 8', (x) => P.permute(x, [7, 6, 5, 4, 3, 2, 1, 0]), [{ shape: [2, 1, 3, 2, 1, 2, 3, 2] }], EXACT);
    await parity('permute int', (x) => P.permute(x, [1, 0]), [{ shape: [3, 5], values: Array.from({ length: 15 }, (_, i) => i * 1000 - 7000), int: true }], EXACT);
    await parity('transpose large', (x) => P.transpose(x, 1, 2), [{ shape: [2, 130, 257] }], EXACT);
  });

  it('slice with steps, expand (step 0), repeat, split, chunk', async () => {
    await parity('slice', (x) => [P.slice(x, 1, 1, 4), P.slice(x, 2, 0, null, 2), P.slice(x, 0, -1), P.slice(x, 2, 3, 3)], [{ shape: [2, 5, 7] }], EXACT);
    await parity('expand/repeat', (x) => [P.expand(x, [4, 3, 5]), P.repeat(x, [2, 1, 3]), P.expand(x, [2, 3, 5])], [{ shape: [3, 1] }], EXACT);
    await parity('split/chunk', (x) => [...P.split(x, 2, 1), ...P.chunk(x, 3, 0)], [{ shape: [6, 5] }], EXACT);
    await parity('slice int', (x) => P.slice(x, 0, 1, 5, 3), [{ shape: [7], values: [1, 2, 3, 4, 5, 6, 7], int: true }], EXACT);
  });

  it('flip and pad (constant value, negative pads crop)', async () => {
    await parity('flip', (x) => [P.flip(x, [0]), P.flip(x, [1, 2]), P.flip(x, [0, 1, 2])], [{ shape: [2, 3, 4] }], EXACT);
    await parity('flip dim of 1', (x) => P.flip(x, [1]), [{ shape: [3, 1] }], EXACT);
    await parity('pad', (x) => [P.pad(x, [1, 2]), P.pad(x, [0, 1, 2, 0], -3.5), P.pad(x, [1, 2, 2, -1]), P.pad(x, [2, 2, 2, 2, 1, 0])], [{ shape: [2, 3, 4] }], EXACT);
    await parity('pad int', (x) => P.pad(x, [1, 1], 9), [{ shape: [2, 2], values: [1, 2, 3, 4], int: true }], EXACT);
  });

  it('concat and stack (buffer copies and block kernels)', async () => {
    await parity('concat dim 0', (a, b) => P.concat([a, b], 0), [{ shape: [2, 3] }, { shape: [4, 3] }], EXACT);
    await parity('concat dim 1', (a, b, c) => P.concat([a, b, c], 1), [{ shape: [2, 3, 2] }, { shape: [2, 1, 2] }, { shape: [2, 5, 2] }], EXACT);
    await parity('concat last', (a, b) => P.concat([a, b], -1), [{ shape: [3, 4] }, { shape: [3, 1] }], EXACT);
    await parity('stack', (a, b) => P.stack([a, b], 1), [{ shape: [3, 4] }, { shape: [3, 4] }], EXACT);
    await parity('concat with an empty piece', (a, b) => P.concat([a, b], 1), [{ shape: [2, 0] }, { shape: [2, 3] }], EXACT);
  });

  it('gather, indexSelect and scatterAdd (through their gradients)', async () => {
    const idx = [0, 2, 2, 1, 0, 1, 2, 2, 0];
    await parity('gather dim 1', (x, i) => P.gather(x, 1, i), [{ shape: [3, 4] }, { shape: [3, 3], values: idx, int: true }], EXACT);
    await parity('gather dim 0 (smaller index)', (x, i) => P.gather(x, 0, i), [{ shape: [4, 5] }, { shape: [2, 3], values: [3, 0, 1, 1, 1, 3], int: true }], EXACT);
    await parity('indexSelect', (x, i) => [P.indexSelect(x, 1, i), P.indexSelect(x, 0, P.slice(i, 0, 1, 3))], [{ shape: [3, 5, 2] }, { shape: [6], values: [4, 0, 0, 3, 4, 1], int: true }], EXACT);
    await parity('indexSelect int', (x, i) => P.indexSelect(x, 0, i), [{ shape: [3, 2], values: [1, 2, 3, 4, 5, 6], int: true }, { shape: [4], values: [2, 2, 0, 1], int: true }], EXACT);
    await parity('strided slice backward (scatterAdd)', (x) => P.slice(x, 1, 1, 9, 3), [{ shape: [4, 10] }], EXACT);
  });

  it('scatterAdd directly: duplicates accumulate, lines beyond the index stay zero', async () => {
    const be = P.engine.backend('webgpu');
    const cpu = P.engine.backend('cpu');
    const idxV = [0, 0, 1, 3, 3, 3];
    const srcV = Array.from(rnd(6, 3));
    for (const [dev, b] of [['webgpu', be], ['cpu', cpu]] as const) {
      const idx = P.tensor(idxV, { shape: [2, 3], dtype: 'int32', device: dev });
      const src = P.tensor(srcV, { shape: [2, 3], device: dev });
      const out = P.Tensor.fromStorage(dev, b.scatterAdd([3, 4], idx.k('t'), src.k('t'), 1), [3, 4], 'float32');
      const v = dev === 'webgpu' ? await out.data() : out.dataSync();
      expect(Array.from(v)).toEqual([srcV[0]! + srcV[1]!, srcV[2]!, 0, 0, 0, 0, 0, srcV[3]! + srcV[4]! + srcV[5]!, 0, 0, 0, 0].map((x) => Math.fround(x)).map((x) => expect.closeTo(x, 6)));
      for (const t of [idx, src, out]) t.dispose();
    }
  });
});
