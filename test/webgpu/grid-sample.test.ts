/**
 * webgpu vs cpu: gridSample forward, input gradient (compare-and-swap float adds) and grid
 * gradient, through the op and autograd, in every mode: bilinear/nearest × zeros/border/reflection
 * × alignCorners. Grids reach beyond [-1, 1] (points outside the image, clipped or reflected more
 * than once); shapes include 1-pixel images, odd sizes, and a grid squeezed into a small patch
 * so that many points add into the same pixels at once (contention in the CAS loop).
 *
 * Tolerances: forward atol 1e-5, rtol 1e-4 (the pixel position is computed in float32 on the GPU,
 * float64 on the cpu); gradients atol 1e-4, rtol 1e-4 (dGrid carries the size/2 chain factor, dx
 * sums up to ~100 contributions in an unspecified order).
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

const TOL = { fwd: { atol: 1e-5, rtol: 1e-4 }, bwd: { atol: 1e-4, rtol: 1e-4 } };
const MODES = ['bilinear', 'nearest'] as const;
const PADS = ['zeros', 'border', 'reflection'] as const;

describe.skipIf(!gpuAvailable)('webgpu gridSample', { timeout: COMPILE_TIMEOUT }, () => {
  for (const mode of MODES) {
    for (const paddingMode of PADS) {
      for (const alignCorners of [false, true]) {
        it(`${mode} ${paddingMode} alignCorners=${alignCorners}`, async () => {
          const opts = { mode, paddingMode, alignCorners };
          const cases: [number[], number[], number][] = [
            // x shape, grid shape, grid range (±)
            [[2, 3, 5, 7], [2, 4, 6, 2], 1.6],
            [[1, 1, 1, 1], [1, 2, 3, 2], 1.5],
            [[1, 2, 1, 6], [1, 3, 2, 2], 1.2],
            [[2, 2, 9, 4], [2, 5, 5, 2], 3.5], // beyond two reflections
            [[1, 4, 13, 11], [1, 17, 19, 2], 1.1],
          ];
          for (const [xs, gs, r] of cases) {
            await parity(`gridSample ${mode}/${paddingMode}/${alignCorners} x${xs} grid${gs}`, (x, g) => P.gridSample(x, g, opts), [{ shape: xs }, { shape: gs, lo: -r, hi: r }], TOL);
          }
        });
      }
    }
  }

  it('many points on the same pixels (CAS contention), larger case', async () => {
    // 40x40 points inside a 2x2-pixel patch: every pixel of the patch receives ~400 adds per channel
    await parity('gridSample squeezed', (x, g) => P.gridSample(x, g, { alignCorners: true }), [{ shape: [1, 3, 16, 16] }, { shape: [1, 40, 40, 2], lo: -0.05, hi: 0.08 }], { fwd: TOL.fwd, bwd: { atol: 5e-4, rtol: 1e-4 } });
    // 'border' piles every point beyond the edge onto the edge pixels
    await parity('gridSample border pile-up', (x, g) => P.gridSample(x, g, { paddingMode: 'border' }), [{ shape: [2, 2, 6, 5] }, { shape: [2, 30, 30, 2], lo: -4, hi: 4 }], { fwd: TOL.fwd, bwd: { atol: 5e-4, rtol: 1e-4 } });
    await parity('gridSample larger', (x, g) => P.gridSample(x, g), [{ shape: [2, 8, 33, 25] }, { shape: [2, 21, 30, 2], lo: -1.1, hi: 1.1 }], TOL);
  });

  it('identity grid reproduces the input exactly (alignCorners)', async () => {
    const H = 5;
    const W = 7;
    const g = new Float32Array(H * W * 2);
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
      g[(y * W + x) * 2] = (2 * x) / (W - 1) - 1;
      g[(y * W + x) * 2 + 1] = (2 * y) / (H - 1) - 1;
    }
    const xv = rnd(2 * H * W, 3);
    const x = P.tensor(xv, { shape: [1, 2, H, W], device: 'webgpu' });
    const gt = P.tensor(g, { shape: [1, H, W, 2], device: 'webgpu' });
    const y = P.gridSample(x, gt, { alignCorners: true });
    assertClose(await y.data(), xv, { atol: 1e-6, rtol: 1e-6 }, 'identity');
    expect(y.shape).toEqual([1, 2, H, W]);
    for (const t of [x, gt, y]) t.dispose();
  });
});
