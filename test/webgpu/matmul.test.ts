/**
 * webgpu matmul vs cpu: every (transA, transB) case through the kernel interface, batch
 * broadcasting, shapes that are not multiples of the tile (or of 4), dims of 1, K = 0, every tile
 * size the chooser can pick. (matmul/bmm/linear through the ops, on every backend: test/ops/matmul.test.ts.)
 * Tolerance: sums of K products of values in [-1, 1] in f32 with a different summation order from
 * the cpu's float64 accumulation: atol 1e-5·K-ish, expressed as atol 2e-5 + rtol 1e-4 for K ≤ 200
 * and atol 1e-4 for the larger case.
 */
import { describe, it } from 'vitest';
import * as P from '../../index.js';
import type { MatmulParams } from '../../backends/backend.js';
import { matmulWithTile, STREAM_LARGE, TEXTURE_LARGE, TILE_LARGE, type MatmulTile } from '../../backends/webgpu/kernels/matmul.js';
import { assertClose } from '../helpers/close.js';
import { gpu, gpuAvailable, rnd } from './helpers.js';

const TOL = { atol: 2e-5, rtol: 1e-4 };
/** Tests that build many pipelines: minutes with a cold Mesa shader cache on 2 busy cores. */
const COLD = 600_000;

async function direct(ba: number, bb: number, M: number, N: number, K: number, p: MatmulParams, tile?: MatmulTile, tol = TOL): Promise<void> {
  const aShape = [ba, ...(p.transA ? [K, M] : [M, K])];
  const bShape = [bb, ...(p.transB ? [N, K] : [K, N])];
  const av = rnd(aShape.reduce((x, y) => x * y, 1), M * 7 + K);
  const bv = rnd(bShape.reduce((x, y) => x * y, 1), N * 13 + K);
  const cpu = P.engine.backend('cpu');
  const ca = P.tensor(av, { shape: aShape });
  const cb = P.tensor(bv, { shape: bShape });
  const expected = cpu.matmul(ca.k('t'), cb.k('t'), p) as Float32Array;
  const ga = P.tensor(av, { shape: aShape, device: 'webgpu' });
  const gb = P.tensor(bv, { shape: bShape, device: 'webgpu' });
  const be = gpu!;
  const ka = ga.k('t') as Parameters<typeof be.matmul>[0];
  const kb = gb.k('t') as Parameters<typeof be.matmul>[0];
  const s = tile ? matmulWithTile(be.rt, ka, kb, p, tile) : be.matmul(ka, kb, p);
  const out = P.Tensor.fromStorage('webgpu', s, [Math.max(ba, bb), M, N], 'float32');
  const label = `matmul B=${ba}/${bb} M=${M} N=${N} K=${K} tA=${p.transA} tB=${p.transB}${tile ? ` tile ${JSON.stringify(tile)}` : ''}`;
  assertClose(await out.data(), expected, tol, label);
  for (const t of [ca, cb, ga, gb, out]) t.dispose();
}

describe.skipIf(!gpuAvailable)('webgpu matmul', () => {
  it('all transpose cases, odd sizes, dims of 1', async () => {
    const sizes: [number, number, number][] = [[1, 1, 1], [1, 5, 3], [7, 1, 9], [5, 6, 1], [17, 33, 19], [16, 64, 32], [65, 67, 37], [9, 520, 70]];
    for (const [M, N, K] of sizes) {
      for (const transA of [false, true]) for (const transB of [false, true]) await direct(1, 1, M, N, K, { transA, transB });
    }
  }, COLD);

  it('batches and batch broadcasting (Ba = 1 or Bb = 1)', async () => {
    for (const [ba, bb] of [[3, 3], [1, 4], [4, 1]] as const) {
      await direct(ba, bb, 9, 12, 7, { transA: false, transB: false });
      await direct(ba, bb, 9, 10, 7, { transA: true, transB: true });
      await direct(ba, bb, 20, 8, 33, { transA: false, transB: true });
    }
  });

  it('K = 0 gives zeros; empty outputs', async () => {
    await direct(2, 2, 3, 4, 0, { transA: false, transB: false });
    await direct(1, 1, 0, 4, 3, { transA: false, transB: false });
    await direct(1, 1, 3, 0, 3, { transA: false, transB: true });
  });

  it('every tile shape the chooser can pick, on edges of each', async () => {
    // the GPU ('shared') and CPU-adapter ('stream') variants are both tested here, whatever the adapter
    const tiles: MatmulTile[] = [
      TILE_LARGE, { kind: 'shared', BM: 8, CV: 1, WG: 8, BK: 32 }, { kind: 'shared', BM: 4, CV: 1, WG: 64, BK: 32 }, { kind: 'shared', BM: 8, CV: 1, WG: 32, BK: 32 },
      STREAM_LARGE, { kind: 'stream', BM: 8, CV: 1, WG: 8, BK: 4 },
      TEXTURE_LARGE, { kind: 'texture', BM: 8, CV: 1, WG: 8, BK: 4 }, { kind: 'texture', BM: 4, CV: 1, WG: 8, BK: 4 },
    ];
    for (const tile of tiles) {
      const cols = 4 * tile.WG * tile.CV;
      await direct(2, 1, tile.BM + 3, cols + 5, 45, { transA: false, transB: false }, tile);
      await direct(1, 2, tile.BM - 1, cols - 4, 31, { transA: true, transB: false }, tile);
      await direct(3, 3, 2 * tile.BM + 1, cols + 8, 12, { transA: true, transB: true }, tile);
    }
  }, COLD);

  it('a larger product', async () => {
    await direct(1, 1, 160, 300, 260, { transA: false, transB: false }, undefined, { atol: 1e-4, rtol: 1e-4 });
  });
});
