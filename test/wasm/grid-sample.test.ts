/**
 * wasm vs cpu: gridSample forward, input gradient and grid gradient, through the op and autograd,
 * in all 12 modes (bilinear/nearest × zeros/border/reflection × alignCorners). Grids reach beyond
 * [-1, 1] (points outside the image, clipped, or reflected more than once); shapes include 1-pixel
 * and 1-row images, odd sizes, more than one 256-point chunk with a partial last group of four,
 * grids squeezed into a small patch (many points scatter into the same pixels) or piled onto the
 * border, and infinite / NaN grid values (read as zeros, zero grid gradient, as on cpu).
 *
 * Tolerances: the pixel coordinates are computed in float64 as on cpu; the weights and sums are
 * float32: forward atol 1e-6, rtol 1e-5; gradients atol 2e-5, rtol 1e-4 (dGrid carries the
 * size/2 chain factor; dx sums up to ~400 contributions in float32 in the pile-up cases: 1e-4).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { tensor } from '../../ops/creation.js';
import { gridSample } from '../../ops/resample.js';
import { assertClose } from '../helpers/close.js';
import { f, parity, rand, setupWasm } from './helpers.js';

const TOL = { atol: 1e-6, rtol: 1e-5 };
const BWD = { atol: 2e-5, rtol: 1e-4 };
const MODES = ['bilinear', 'nearest'] as const;
const PADS = ['zeros', 'border', 'reflection'] as const;

beforeAll(async () => {
  await setupWasm();
});

describe('wasm gridSample matches cpu', () => {
  for (const mode of MODES) {
    for (const paddingMode of PADS) {
      for (const alignCorners of [false, true]) {
        it(`${mode} ${paddingMode} alignCorners=${alignCorners}`, () => {
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
            parity(`gridSample ${mode}/${paddingMode}/${alignCorners} x${xs} grid${gs}`, (x, g) => gridSample(x, g, opts), [f(xs, 1), f(gs, 2, -r, r)], TOL, { bwd: BWD });
          }
        });
      }
    }
  }

  it('many points on the same pixels, border pile-up, a larger case', () => {
    const PILE = { atol: 1e-4, rtol: 1e-4 };
    // 40x40 points inside a 2x2-pixel patch: ~400 adds per pixel and channel
    parity('squeezed', (x, g) => gridSample(x, g, { alignCorners: true }), [f([1, 3, 16, 16], 3), f([1, 40, 40, 2], 4, -0.05, 0.08)], TOL, { bwd: PILE });
    // 'border' piles every point beyond the edge onto the edge pixels
    parity('border pile-up', (x, g) => gridSample(x, g, { paddingMode: 'border' }), [f([2, 2, 6, 5], 5), f([2, 30, 30, 2], 6, -4, 4)], TOL, { bwd: PILE });
    parity('larger', (x, g) => gridSample(x, g), [f([2, 8, 33, 25], 7), f([2, 21, 30, 2], 8, -1.1, 1.1)], TOL, { bwd: BWD });
  });

  it('infinite and NaN grid values read zeros and get a zero gradient, as on cpu', () => {
    for (const mode of MODES) {
      for (const paddingMode of PADS) {
        const g = f([1, 2, 5, 2], 9, -1.2, 1.2);
        g.data[0] = Infinity;
        g.data[3] = -Infinity;
        g.data[6] = NaN;
        g.data[9] = 1e30;
        g.data[12] = -1e30;
        parity(`non-finite ${mode}/${paddingMode}`, (x, t) => gridSample(x, t, { mode, paddingMode }), [f([1, 2, 4, 3], 10), g], TOL, { bwd: BWD });
      }
    }
  });

  it('an identity grid reproduces the input exactly (alignCorners)', () => {
    const H = 5;
    const W = 7;
    const g = new Float32Array(H * W * 2);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        g[(y * W + x) * 2] = (2 * x) / (W - 1) - 1;
        g[(y * W + x) * 2 + 1] = (2 * y) / (H - 1) - 1;
      }
    }
    const xv = rand(2 * H * W, 11);
    const x = tensor(xv, { shape: [1, 2, H, W], device: 'wasm' });
    const gt = tensor(g, { shape: [1, H, W, 2], device: 'wasm' });
    const y = gridSample(x, gt, { alignCorners: true });
    expect(y.shape).toEqual([1, 2, H, W]);
    assertClose(y.dataSync(), xv, { atol: 1e-6, rtol: 1e-6 }, 'identity');
    for (const t of [x, gt, y]) t.dispose();
  });

  it('empty grids and channels', () => {
    parity('no points', (x, g) => gridSample(x, g), [f([2, 3, 4, 4], 12), f([2, 0, 3, 2], 13)], TOL);
    parity('no channels', (x, g) => gridSample(x, g), [f([1, 0, 4, 4], 14), f([1, 2, 3, 2], 15)], TOL);
  });
});
