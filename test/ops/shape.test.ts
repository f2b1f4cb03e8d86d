/**
 * Shape and indexing ops on every backend (test/helpers/backends.ts): PyTorch fixtures, then parity
 * with cpu float64 (exact for data movement: values are copied bit for bit; gradients that sum
 * 1e-6): permute/transpose (incl. the tiled paths, odd sizes, rank 8), slice with steps, expand and
 * repeat (step 0), split/chunk, pad (incl. negative pads), concat/stack (incl. empty pieces), flip,
 * gather, indexSelect and scatterAdd (through their gradients, repeated indices), topk and sort
 * (ties: lower index first; the bitonic rows, selection for long rows, k = 0, 1, size), float32
 * and int32; out-of-range indices raise the same Error on every backend.
 */
import { expect, it } from 'vitest';
import { engine } from '../../engine/engine.js';
import { Tensor } from '../../engine/tensor.js';
import { tensor } from '../../ops/creation.js';
import * as SH from '../../ops/shape.js';
import { crossEntropy } from '../../ops/loss.js';
import { describeEnvs, env, f, fixed, fixture, i32, parity, rand, read, throws, vals } from '../helpers/backends.js';
import { loadFixture } from '../helpers/fixtures.js';
import { fixtureOps, fixtureTol } from '../helpers/op-fixtures.js';

const EXACT = { atol: 0, rtol: 0 };
const SUM = { atol: 1e-6, rtol: 1e-5 };
const core = loadFixture('ops', 'core');

describeEnvs('shape', () => {
  for (const [op, fn, cases] of fixtureOps(core, 'shape')) {
    it(`${op} matches PyTorch`, async () => {
      for (const c of cases) await fixture(core, c, fn, fixtureTol(c));
    });
  }

  it('permute and transpose (incl. tiled transposes of odd sizes, rank 8, int32)', async () => {
    await parity('permute', (x) => [SH.permute(x, [2, 0, 1]), SH.transpose(x, 0, 1), SH.permute(x, [0, 2, 1])], [f([3, 4, 5], 1)], EXACT);
    await parity('permute 4d', (x) => [SH.permute(x, [0, 2, 3, 1]), SH.permute(x, [3, 1, 0, 2])], [f([2, 5, 3, 7], 2)], EXACT);
    await parity('permute 4d dim 1', (x) => SH.permute(x, [0, 2, 3, 1]), [f([2, 3, 1, 7], 2)], EXACT);
    await parity('permute rank 8', (x) => SH.permute(x, [7, 6, 5, 4, 3, 2, 1, 0]), [f([2, 1, 3, 2, 1, 2, 3, 2], 3)], EXACT);
    await parity('transpose big', (x) => SH.transpose(x, 0, 1), [f([37, 53], 3)], EXACT);
    await parity('transpose batched', (x) => SH.transpose(x, 1, 2), [f([3, 9, 17], 4)], EXACT);
    await parity('transpose large', (x) => SH.transpose(x, 1, 2), [f([2, 130, 257], 4)], EXACT);
    await parity('transpose int', (x) => SH.transpose(x, 0, 1), [i32([3, 5], Array.from({ length: 15 }, (_, i) => i * 1000 - 7000))], EXACT, { grad: false });
  });
  it('slice with steps, expand, repeat, split, chunk', async () => {
    await parity('slice step 2', (x) => SH.slice(x, 2, 1, 6, 2), [f([2, 3, 7], 5)], EXACT);
    await parity('slice step 3 dim 0', (x) => SH.slice(x, 0, -4, null, 3), [f([9, 5], 6)], EXACT);
    await parity('slice empty', (x) => SH.slice(x, 1, 2, 2), [f([2, 4], 7)], EXACT);
    await parity('slices', (x) => [SH.slice(x, 1, 1, 4), SH.slice(x, 2, 0, null, 2), SH.slice(x, 0, -1), SH.slice(x, 2, 3, 3)], [f([2, 5, 7], 8)], EXACT);
    await parity('strided slice backward (scatterAdd)', (x) => SH.slice(x, 1, 1, 9, 3), [f([4, 10], 9)], EXACT);
    await parity('slice int', (x) => SH.slice(x, 0, 1, 5, 3), [i32([7], [1, 2, 3, 4, 5, 6, 7])], EXACT, { grad: false });
    await parity('expand', (x) => SH.expand(x, [4, 3, 5]), [f([3, 1], 8)], EXACT, { bwd: SUM });
    await parity('repeat', (x) => SH.repeat(x, [2, 1, 3]), [f([2, 3], 9)], EXACT, { bwd: SUM });
    await parity('expand/repeat', (x) => [SH.expand(x, [4, 3, 5]), SH.repeat(x, [2, 1, 3]), SH.expand(x, [2, 3, 5])], [f([3, 1], 10)], EXACT, { bwd: SUM });
    await parity('split', (x) => SH.split(x, [1, 3, 1], 1), [f([2, 5, 3], 18)], EXACT);
    await parity('split/chunk', (x) => [...SH.split(x, 2, 1), ...SH.chunk(x, 3, 0)], [f([6, 5], 19)], EXACT);
  });
  it('pad (constant value, negative pads crop), concat, stack, flip', async () => {
    await parity('pad', (x) => SH.pad(x, [1, 2, 3, 0], 0.5), [f([2, 3, 4], 10)], EXACT);
    await parity('pad crop', (x) => SH.pad(x, [1, -2, -1, 2]), [f([3, 5], 11)], EXACT);
    await parity('pads', (x) => [SH.pad(x, [1, 2]), SH.pad(x, [0, 1, 2, 0], -3.5), SH.pad(x, [1, 2, 2, -1]), SH.pad(x, [2, 2, 2, 2, 1, 0])], [f([2, 3, 4], 12)], EXACT);
    await parity('pad int', (x) => SH.pad(x, [1, 1], 9), [i32([2, 2], [1, 2, 3, 4])], EXACT, { grad: false });
    await parity('concat', (a, b) => SH.concat([a, b], 1), [f([2, 3, 5], 12), f([2, 4, 5], 13)], EXACT);
    await parity('concat dim 0', (a, b) => SH.concat([a, b], 0), [f([2, 3], 12), f([4, 3], 13)], EXACT);
    await parity('concat three', (a, b, c) => SH.concat([a, b, c], 1), [f([2, 3, 2], 14), f([2, 1, 2], 15), f([2, 5, 2], 16)], EXACT);
    await parity('concat last', (a, b) => SH.concat([a, b], -1), [f([3, 4], 17), f([3, 1], 18)], EXACT);
    await parity('concat with empty', (a, b) => SH.concat([a, b], 0), [f([0, 3], 14), f([2, 3], 15)], EXACT);
    await parity('concat with an empty piece', (a, b) => SH.concat([a, b], 1), [f([2, 0], 14), f([2, 3], 15)], EXACT);
    await parity('stack', (a, b) => SH.stack([a, b], 2), [f([2, 3], 16), f([2, 3], 17)], EXACT);
    await parity('flip', (x) => SH.flip(x, [0, 2]), [f([3, 4, 5], 19)], EXACT);
    await parity('flips', (x) => [SH.flip(x, [0]), SH.flip(x, [1, 2]), SH.flip(x, [0, 1, 2])], [f([2, 3, 4], 20)], EXACT);
    await parity('flip dim of 1', (x) => SH.flip(x, [1]), [f([3, 1], 21)], EXACT);
  });
  it('gather, indexSelect (repeated indices: scatterAdd backward)', async () => {
    const idx = i32([2, 3], [0, 2, 2, 1, 0, 1]);
    await parity('gather dim 1', (x, i) => SH.gather(x, 1, i!), [f([2, 4], 20), idx], EXACT, { bwd: SUM });
    await parity('gather dim 0', (x, i) => SH.gather(x, 0, i!), [f([3, 3], 21), i32([2, 3], [2, 0, 1, 1, 1, 0])], EXACT, { bwd: SUM });
    await parity('gather dim 1 [3, 4]', (x, i) => SH.gather(x, 1, i), [f([3, 4], 22), i32([3, 3], [0, 2, 2, 1, 0, 1, 2, 2, 0])], EXACT, { bwd: SUM });
    await parity('gather dim 0 (smaller index)', (x, i) => SH.gather(x, 0, i), [f([4, 5], 23), i32([2, 3], [3, 0, 1, 1, 1, 3])], EXACT, { bwd: SUM });
    await parity('indexSelect', (x, i) => SH.indexSelect(x, 1, i!), [f([2, 4, 3], 22), i32([5], [3, 0, 3, 1, 3])], EXACT, { bwd: SUM });
    await parity('indexSelect two', (x, i) => [SH.indexSelect(x, 1, i), SH.indexSelect(x, 0, SH.slice(i, 0, 1, 3))], [f([3, 5, 2], 24), i32([6], [4, 0, 0, 3, 4, 1])], EXACT, { bwd: SUM });
    await parity('indexSelect int', (x, i) => SH.indexSelect(x, 0, i!), [i32([3, 2], [1, 2, 3, 4, 5, 6]), i32([4], [2, 2, 0, 1])], EXACT, { grad: false });
  });
  it('scatterAdd directly: duplicates accumulate, lines beyond the index stay zero', async () => {
    const srcV = rand(6, 3);
    await parity('scatterAdd', (i, s) => Tensor.fromStorage(s.device, engine.backend(s.device).scatterAdd([3, 4], i.k('t'), s.k('t'), 1), [3, 4], s.dtype), [i32([2, 3], [0, 0, 1, 3, 3, 3]), vals([2, 3], srcV, true)], SUM, { grad: false });
  });
  it('topk and sort: ties keep the lower index first', async () => {
    const t = vals([2, 9], [3, 1, 3, 2, 3, 0, 1, 5, 5, 0, 0, 0, 1, 1, 2, 2, 0, 1]);
    for (const largest of [true, false]) await parity(`topk ${largest}`, (x) => { const r = SH.topk(x, 4, 1, largest); return [r.values, r.indices]; }, [t], EXACT);
    await parity('topk dim 0', (x) => { const r = SH.topk(x, 2, 0); return [r.values, r.indices]; }, [f([5, 4, 3], 8)], EXACT);
    await parity('sort', (x) => { const r = SH.sort(x, -1, true); return [r.values, r.indices]; }, [f([3, 257], 9)], EXACT);
    await parity('sort both dims', (x) => { const r = SH.sort(x, 1, true); const a = SH.sort(x, 0); return [r.values, r.indices, a.values, a.indices]; }, [f([5, 33], 10)], EXACT);
    await parity('sort asc int', (x) => { const r = SH.sort(x, 0); return [r.values, r.indices]; }, [i32([5], [3, -1, 3, 0, -1])], EXACT, { grad: false });
    await parity('topk k=0', (x) => SH.topk(x, 0, 1).values, [f([2, 3], 10)], EXACT);
    const tie = vals([4, 50], Array.from(rand(200, 7), (v) => Math.round(v * 4)));
    await parity('topk ties [4, 50]', (x) => { const r = SH.topk(x, 7, 1); const s = SH.topk(x, 5, 1, false); return [r.values, r.indices, s.values, s.indices]; }, [tie], EXACT);
    await parity('topk k = size, 1 and 0', (x) => [SH.topk(x, 64, 1).indices, SH.topk(x, 1, 1).indices, SH.topk(x, 0, 1).values], [fixed([3, 64], 11)], EXACT, { grad: false });
    await parity('topk 2048', (x) => { const r = SH.topk(x, 10, 1); return [r.values, r.indices]; }, [vals([2, 2048], Array.from(rand(4096, 8), (v) => Math.round(v * 50)))], EXACT);
    await parity('topk selection (3000)', (x) => { const r = SH.topk(x, 6, 1, false); return [r.values, r.indices]; }, [vals([2, 3000], Array.from(rand(6000, 9), (v) => Math.round(v * 50)))], EXACT);
    await parity('topk int', (x) => { const r = SH.topk(x, 3, 1); return [r.values, r.indices]; }, [i32([2, 9], [5, 1, 5, 9, -2, 9, 0, 3, 3, 1, 1, 1, 7, 7, -7, 2, 2, 8])], EXACT, { grad: false });
  });

  it('out-of-range indices: the same Error, naming the op, the index and the range, on every backend', async () => {
    throws((t) => SH.gather(t([1, 2, 3, 4, 5, 6], [2, 3]), 1, t([0, 3], [2, 1], 'int32')), 'gather: expected indices in [0, 2], got 3');
    throws((t) => SH.gather(t([1, 2, 3, 4, 5, 6], [2, 3]), 0, t([-1, 0], [1, 2], 'int32')), 'gather: expected indices in [0, 1], got -1');
    throws((t) => SH.indexSelect(t([1, 2, 3, 4, 5, 6], [2, 3]), 1, t([2, 0, 7], [3], 'int32')), 'indexSelect: expected indices in [0, 2], got 7');
    throws((t) => crossEntropy(t([1, 2, 3, 4, 5, 6], [2, 3]), t([0, 3], [2], 'int32')), 'crossEntropy: expected class indices in [0, 2] or ignoreIndex -100, got 3');
    // indices computed on the device (no host copy): on webgpu a bounds-check kernel raises the
    // same Error at the next read or sync (see docs/architecture.md)
    const e = env();
    const x = tensor(rand(6, 1), { shape: [2, 3], dtype: e.dtype, device: e.device });
    const base = tensor(Int32Array.from([0, 1]), { shape: [2, 1], device: e.device });
    let err: unknown = null;
    try {
      const bad = SH.flip(SH.concat([base, SH.pad(base, [0, 0], 0)], 0), [0]); // computed: [1, 0, 1, 0]... then shifted
      const idx = SH.slice(SH.gather(tensor(Int32Array.from([0, 5]), { device: e.device }), 0, SH.reshape(bad, [4])), 0, 0, 2);
      const y = SH.gather(x, 1, SH.reshape(idx, [2, 1]));
      await read(y);
      y.dispose();
    } catch (er) {
      err = er;
    }
    expect((err as Error | null)?.message).toBe('gather: expected indices in [0, 2], got 5');
    for (const t of [x, base]) t.dispose();
  });
});
