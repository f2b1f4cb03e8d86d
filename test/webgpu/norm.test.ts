/**
 * webgpu vs cpu: layerNorm, groupNorm (built on the layerNorm kernels) and batchNorm2d (stats,
 * forward, backward in training and eval mode), through the ops and autograd: outputs and every
 * input gradient, from the same float32 inputs.
 *
 * Shapes: odd row lengths (1, 7, 33, 300), single rows and channels, rows/cols that are not
 * multiples of the workgroup size, batchNorm channels longer than one 4096-value chunk (the
 * two-pass Welford merge), and a layerNormBackward with more than 256 rows (two-pass column sums).
 *
 * Tolerances: the GPU accumulates in float32 (Welford / tree sums), the cpu in float64:
 * forward atol 2e-5, rtol 1e-4; gradients atol 1e-4, rtol 1e-4 (sums over up to ~10⁴ terms).
 * The offset-data cases (values 1000 + U(-1, 1)) check that the statistics do not cancel
 * catastrophically (a float32 E[x²] - E[x]² would be off by tens of percent there); their
 * tolerance (atol 2e-3) is set by float32's resolution of x itself near 1000 (6e-5) divided by
 * the standard deviation (0.58).
 */
import { describe, expect, it } from 'vitest';
import * as P from '../../index.js';
import { assertClose } from '../helpers/close.js';
import { gpuAvailable, parity, rnd } from './helpers.js';

/**
 * Lavapipe compiles WGSL through LLVM on the CPU: a GEMM or attention pipeline with register
 * blocking takes 5-60 s of CPU the first time (Mesa caches it on disk afterwards), so the suites
 * allow 15 minutes per test. The kernels themselves run in milliseconds at these sizes.
 */
const COMPILE_TIMEOUT = 900_000;

const TOL = { fwd: { atol: 2e-5, rtol: 1e-4 }, bwd: { atol: 1e-4, rtol: 1e-4 } };

describe.skipIf(!gpuAvailable)('webgpu layerNorm', { timeout: COMPILE_TIMEOUT }, () => {
  it('with and without weight/bias, odd sizes', async () => {
    const cases: [number[], number[]][] = [
      [[1, 1], [1]], [[3, 7], [7]], [[2, 5, 33], [33]], [[4, 300], [300]], [[2, 3, 4, 5], [4, 5]], [[1, 1029], [1029]],
    ];
    for (const [xs, ns] of cases) {
      await parity(`layerNorm affine ${xs}`, (x, w, b) => P.layerNorm(x, ns, w, b), [{ shape: xs, lo: -2, hi: 3 }, { shape: ns, lo: 0.5, hi: 1.5 }, { shape: ns }], TOL);
      await parity(`layerNorm plain ${xs}`, (x) => P.layerNorm(x, ns), [{ shape: xs, lo: -2, hi: 3 }], TOL);
      await parity(`layerNorm weight only ${xs}`, (x, w) => P.layerNorm(x, ns, w, null), [{ shape: xs }, { shape: ns, lo: 0.5, hi: 1.5 }], TOL);
    }
  });

  it('many rows: the two-pass column sums of dGamma/dBeta', async () => {
    await parity('layerNorm 600 rows', (x, w, b) => P.layerNorm(x, 24, w, b), [{ shape: [600, 24] }, { shape: [24] }, { shape: [24] }], TOL);
  });

  it('large mean, small spread: Welford does not cancel', async () => {
    const n = 3 * 257;
    const values = Array.from(rnd(n, 5), (v) => 1000 + v);
    await parity('layerNorm offset data', (x) => P.layerNorm(x, 257), [{ shape: [3, 257], values }], { fwd: { atol: 2e-3, rtol: 1e-3 }, bwd: { atol: 2e-3, rtol: 1e-3 } });
  });

  it('groupNorm (layerNorm kernels on [N·G, C/G·S])', async () => {
    await parity('groupNorm', (x, w, b) => P.groupNorm(x, 3, w, b), [{ shape: [2, 6, 5, 7] }, { shape: [6] }, { shape: [6] }], TOL);
  });

  it('returns mean and rstd from the kernel', async () => {
    const x = rnd(5 * 19, 9, -3, 3);
    const xc = P.tensor(x, { shape: [5, 19] });
    const cpu = P.engine.backend('cpu').layerNorm(xc.k('t'), null, null, 5, 19, 1e-5) as { y: Float32Array; mean: Float32Array; rstd: Float32Array };
    const xg = P.tensor(x, { shape: [5, 19], device: 'webgpu' });
    const g = P.engine.backend('webgpu').layerNorm(xg.k('t'), null, null, 5, 19, 1e-5);
    const mean = P.Tensor.fromStorage('webgpu', g.mean, [5], 'float32');
    const rstd = P.Tensor.fromStorage('webgpu', g.rstd, [5], 'float32');
    const y = P.Tensor.fromStorage('webgpu', g.y, [5, 19], 'float32');
    assertClose(await mean.data(), cpu.mean, TOL.fwd, 'mean');
    assertClose(await rstd.data(), cpu.rstd, TOL.fwd, 'rstd');
    assertClose(await y.data(), cpu.y, TOL.fwd, 'y');
    for (const t of [xc, xg, mean, rstd, y]) t.dispose();
  });
});

describe.skipIf(!gpuAvailable)('webgpu batchNorm', { timeout: COMPILE_TIMEOUT }, () => {
  const shapes = [[2, 3, 4, 5], [1, 1, 3, 3], [5, 7, 1, 1], [3, 2, 17, 9], [2, 3, 50, 50]];
  it('training: batch statistics, gradients through them', async () => {
    for (const shape of shapes) {
      const C = shape[1]!;
      await parity(`batchNorm2d train ${shape}`, (x, w, b) => P.batchNorm2d(x, null, null, w, b, { training: true }), [{ shape, lo: -1, hi: 2 }, { shape: [C], lo: 0.5, hi: 1.5 }, { shape: [C] }], TOL);
      await parity(`batchNorm2d train no affine ${shape}`, (x) => P.batchNorm2d(x, null, null, null, null, { training: true }), [{ shape, lo: -1, hi: 2 }], TOL);
    }
  });

  it('eval: running statistics are constants', async () => {
    for (const shape of shapes) {
      const C = shape[1]!;
      const rm = Array.from(rnd(C, 7, -0.5, 0.5));
      const rv = Array.from(rnd(C, 8, 0.5, 2));
      await parity(`batchNorm2d eval ${shape}`, (x, w, b, m, v) => P.batchNorm2d(x, m!, v!, w, b, { training: false }), [
        { shape }, { shape: [C], lo: 0.5, hi: 1.5 }, { shape: [C] }, { shape: [C], values: rm, grad: false }, { shape: [C], values: rv, grad: false },
      ], TOL);
      await parity(`batchNorm2d eval no affine ${shape}`, (x, m, v) => P.batchNorm2d(x, m!, v!, null, null, { training: false }), [
        { shape }, { shape: [C], values: rm, grad: false }, { shape: [C], values: rv, grad: false },
      ], TOL);
    }
  });

  it('running statistics update identically', async () => {
    const shape = [4, 3, 33, 40]; // 5280 values per channel: two chunks
    // Each sample shifted by 2·i, so the two chunks of a channel have different means and the
    // δ²·na·nb/n term of the merge matters.
    const x = Float32Array.from(rnd(4 * 3 * 33 * 40, 11, -1, 3), (v, e) => v + 2 * Math.floor(e / (3 * 33 * 40)));
    const res: Float32Array[][] = [];
    for (const device of ['cpu', 'webgpu'] as const) {
      const xt = P.tensor(x, { shape, device });
      const rm = P.zeros([3], { device });
      const rv = P.ones([3], { device });
      const y = P.batchNorm2d(xt, rm, rv, null, null, { training: true, momentum: 0.3 });
      res.push([(await rm.data()) as Float32Array, (await rv.data()) as Float32Array, (await y.data()) as Float32Array]);
      for (const t of [xt, rm, rv, y]) t.dispose();
    }
    assertClose(res[1]![0]!, res[0]![0]!, TOL.fwd, 'running mean');
    assertClose(res[1]![1]!, res[0]![1]!, TOL.fwd, 'running var');
    assertClose(res[1]![2]!, res[0]![2]!, TOL.fwd, 'y');
  });

  it('large mean, small spread: the chunked Welford merge does not cancel', async () => {
    // [2, 2, 3000]: 2 chunks per channel. [1, 1, 300000]: 74 chunks, more than the 64 invocations
    // of the merge pass, so the merge loop itself combines triples too.
    for (const [N, C, S] of [[2, 2, 3000], [1, 1, 300000]] as const) {
      // the second half of each channel sits 2 above the first: the chunks' means differ
      const values = Float32Array.from(rnd(N * C * S, 13), (v, e) => 1000 + v + 2 * Math.floor((2 * (e % S)) / S));
      const stats = async (device: 'cpu' | 'webgpu'): Promise<Float32Array> => {
        const xt = P.tensor(values, { shape: [N, C, S], device });
        const r = P.engine.backend(device).batchNormStats(xt.k('t'), N, C, S);
        const v = P.Tensor.fromStorage(device, r.variance, [C], 'float32');
        const m = P.Tensor.fromStorage(device, r.mean, [C], 'float32');
        const out = Float32Array.from([...(await m.data()), ...(await v.data())]);
        for (const t of [xt, v, m]) t.dispose();
        return out;
      };
      const c = await stats('cpu');
      const g = await stats('webgpu');
      // mean to float32 resolution at 1000; variance (≈ 1.33) to 1e-4 relative
      assertClose(g.subarray(0, C), c.subarray(0, C), { atol: 1e-4, rtol: 0 }, `mean ${N}x${C}x${S}`);
      assertClose(g.subarray(C), c.subarray(C), { atol: 0, rtol: 1e-4 }, `variance ${N}x${C}x${S}`);
      expect(c[C]).toBeGreaterThan(1);
    }
  });
});
