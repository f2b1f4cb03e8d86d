/**
 * interpolate and gridSample on every backend (test/helpers/backends.ts): PyTorch fixtures, then
 * parity with cpu float64.
 *
 * interpolate: nearest (x2, x4, shuffle path, sizes up and down, scale 1.7) and bilinear (with and
 * without alignCorners, size or scaleFactor, recomputeScaleFactor, up and down, from and to 1x1, a
 * heatmap-sized case), forward and backward; tolerance 1e-6 + 1e-5 relative, gradients 1e-5.
 *
 * gridSample: forward, input
 * gradient and grid gradient, through the op and autograd, in all 12 modes (bilinear/nearest ×
 * zeros/border/reflection × alignCorners). Grids reach beyond [-1, 1] (points outside the image,
 * clipped, or reflected more than once); shapes include 1-pixel and 1-row images, odd sizes, more
 * than one 256-point chunk with a partial last group of four, grids squeezed into a small patch
 * (many points scatter into the same pixels: webgpu's compare-and-swap contention) or piled onto
 * the border, infinite / NaN grid values (read as zeros, zero grid gradient), an identity grid,
 * sizes above the wasm threading threshold, and empty grids and channels.
 * Tolerances: forward atol 1e-5, rtol 1e-4 (webgpu computes the pixel position in float32);
 * gradients atol 1e-4, rtol 1e-4 (dGrid carries the size/2 chain factor); pile-ups 5e-4.
 */
import { expect, it } from 'vitest';
import { tensor } from '../../ops/creation.js';
import { gridSample, interpolate } from '../../ops/resample.js';
import { assertClose } from '../helpers/close.js';
import { describeEnvs, env, f, fixture, parity, rand, read } from '../helpers/backends.js';
import { loadFixture } from '../helpers/fixtures.js';
import { fixtureOps, fixtureTol } from '../helpers/op-fixtures.js';

const nn = loadFixture('ops', 'nn');
const TOL = { atol: 1e-5, rtol: 1e-4 };
const BWD = { atol: 1e-4, rtol: 1e-4 };
const MODES = ['bilinear', 'nearest'] as const;
const PADS = ['zeros', 'border', 'reflection'] as const;


describeEnvs('gridSample', () => {
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
            [[1, 4, 13, 11], [1, 17, 19, 2], 1.1], // 323 points: two chunks, a partial group
          ];
          for (const [xs, gs, r] of cases) {
            await parity(`gridSample ${mode}/${paddingMode}/${alignCorners} x${xs} grid${gs}`, (x, g) => gridSample(x, g, opts), [f(xs, 1), f(gs, 2, -r, r)], TOL, { bwd: BWD });
          }
        });
      }
    }
  }

  it('many points on the same pixels, border pile-up, a larger case', async () => {
    const PILE = { atol: 5e-4, rtol: 1e-4 };
    // 40x40 points inside a 2x2-pixel patch: ~400 adds per pixel and channel
    await parity('squeezed', (x, g) => gridSample(x, g, { alignCorners: true }), [f([1, 3, 16, 16], 3), f([1, 40, 40, 2], 4, -0.05, 0.08)], TOL, { bwd: PILE });
    // 'border' piles every point beyond the edge onto the edge pixels
    await parity('border pile-up', (x, g) => gridSample(x, g, { paddingMode: 'border' }), [f([2, 2, 6, 5], 5), f([2, 30, 30, 2], 6, -4, 4)], TOL, { bwd: PILE });
    await parity('larger', (x, g) => gridSample(x, g), [f([2, 8, 33, 25], 7), f([2, 21, 30, 2], 8, -1.1, 1.1)], TOL, { bwd: BWD });
  });

  it('infinite and NaN grid values read zeros and get a zero gradient, as on cpu', async () => {
    for (const mode of MODES) {
      for (const paddingMode of PADS) {
        const g = f([1, 2, 5, 2], 9, -1.2, 1.2);
        g.data[0] = Infinity;
        g.data[3] = -Infinity;
        g.data[6] = NaN;
        g.data[9] = 1e30;
        g.data[12] = -1e30;
        await parity(`non-finite ${mode}/${paddingMode}`, (x, t) => gridSample(x, t, { mode, paddingMode }), [f([1, 2, 4, 3], 10), g], TOL, { bwd: BWD });
      }
    }
  });

  it('an identity grid reproduces the input (alignCorners)', async () => {
    const H = 5;
    const W = 7;
    const g = new Float32Array(H * W * 2);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        g[(y * W + x) * 2] = (2 * x) / (W - 1) - 1;
        g[(y * W + x) * 2 + 1] = (2 * y) / (H - 1) - 1;
      }
    }
    const e = env();
    const xv = rand(2 * H * W, 11);
    const x = tensor(xv, { shape: [1, 2, H, W], device: e.device, dtype: e.dtype });
    const gt = tensor(g, { shape: [1, H, W, 2], device: e.device, dtype: e.dtype });
    const y = gridSample(x, gt, { alignCorners: true });
    expect(y.shape).toEqual([1, 2, H, W]);
    assertClose(await read(y), xv, { atol: 1e-6, rtol: 1e-6 }, 'identity');
    for (const t of [x, gt, y]) t.dispose();
  });

  it('threaded: split by samples, and by points for one sample', async () => {
    const bwd = { atol: 1e-4, rtol: 1e-4 };
    await parity('gridSample N=3', (x, g) => gridSample(x, g, { alignCorners: false }), [f([3, 16, 12, 14], 16), f([3, 40, 30, 2], 17, -1.1, 1.1)], TOL, { bwd });
    await parity('gridSample N=1', (x, g) => gridSample(x, g, { paddingMode: 'border' }), [f([1, 32, 12, 14], 18), f([1, 50, 41, 2], 19, -1.1, 1.1)], TOL, { bwd });
  });

  it('empty grids and channels', async () => {
    await parity('no points', (x, g) => gridSample(x, g), [f([2, 3, 4, 4], 12), f([2, 0, 3, 2], 13)], TOL);
    await parity('no channels', (x, g) => gridSample(x, g), [f([1, 0, 4, 4], 14), f([1, 2, 3, 2], 15)], TOL);
  });
});

describeEnvs('interpolate', () => {
  const TOL = { atol: 1e-6, rtol: 1e-5 };
  for (const [op, fn, cases] of fixtureOps(nn, 'resample')) {
    it(`${op} matches PyTorch`, async () => {
      for (const c of cases) await fixture(nn, c, fn, fixtureTol(c));
    });
  }
  const cases: [string, number[], Parameters<typeof interpolate>[1]][] = [
    ['nearest x2', [2, 3, 5, 7], { scaleFactor: 2, mode: 'nearest' }],
    ['nearest x2, 8+ columns (shuffle path)', [1, 3, 6, 13], { scaleFactor: 2, mode: 'nearest' }],
    ['nearest x4 (HRNet fuse)', [1, 2, 4, 9], { scaleFactor: 4, mode: 'nearest' }],
    ['nearest x2 rows, x3 columns', [1, 2, 5, 4], { size: [10, 12], mode: 'nearest' }],
    ['nearest down to size', [1, 2, 9, 8], { size: [4, 5], mode: 'nearest' }],
    ['nearest scale 1.7', [1, 1, 5, 6], { scaleFactor: 1.7, mode: 'nearest' }],
    ['bilinear x2', [2, 3, 5, 7], { scaleFactor: 2, mode: 'bilinear' }],
    ['bilinear alignCorners', [1, 2, 5, 4], { size: [9, 11], mode: 'bilinear', alignCorners: true }],
    ['bilinear down', [1, 2, 11, 9], { size: [4, 3], mode: 'bilinear' }],
    ['bilinear from 1x1', [1, 2, 1, 1], { size: [3, 4], mode: 'bilinear' }],
    ['bilinear alignCorners to 1x1', [1, 1, 4, 5], { size: [1, 1], mode: 'bilinear', alignCorners: true }],
    ['bilinear larger (64x48 -> 96x72)', [1, 4, 48, 64], { size: [72, 96], mode: 'bilinear' }],
    ['nearest size 7x11', [2, 2, 5, 4], { size: [7, 11] }],
    ['nearest down 3x2', [1, 3, 8, 7], { size: [3, 2] }],
    ['bilinear alignCorners down', [1, 1, 7, 6], { size: [3, 2], mode: 'bilinear', alignCorners: true }],
    ['bilinear scale 2.5 recompute', [1, 1, 4, 3], { scaleFactor: 2.5, mode: 'bilinear', recomputeScaleFactor: true }],
    ['bilinear 4x up of heatmaps [1, 17, 24, 18]', [1, 17, 24, 18], { scaleFactor: 4, mode: 'bilinear', alignCorners: false }],
  ];
  for (const [name, shape, opts] of cases) {
    it(name, async () => {
      await parity(name, (x) => interpolate(x, opts), [f(shape, 4)], TOL, { bwd: { atol: 2e-6, rtol: 1e-5 } });
    });
  }
});
