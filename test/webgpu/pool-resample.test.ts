/**
 * webgpu pooling and interpolate vs cpu, forward and backward (through autograd): maxPool2d with
 * stride, padding, dilation, ceilMode, ties, NaN and returned indices; avgPool2d with and without
 * countIncludePad, ceilMode, divisorOverride; adaptiveAvgPool2d with uneven windows;
 * interpolate nearest / bilinear (alignCorners or not, size or scaleFactor, up and down).
 * Tolerance: max pooling moves values (exact forward); averages and the gathered backward sums
 * differ from the cpu's float64 accumulation by f32 rounding: atol 1e-6, rtol 1e-5.
 */
import { describe, it } from 'vitest';
import * as P from '../../index.js';
import { gpuAvailable, parity, rnd } from './helpers.js';

const TOL = { fwd: { atol: 1e-6, rtol: 1e-5 }, bwd: { atol: 1e-6, rtol: 1e-5 } };

describe.skipIf(!gpuAvailable)('webgpu pooling', () => {
  it('maxPool2d: stride, padding, dilation, ceilMode, indices, ties', async () => {
    const mp = (k: number, o: P.MaxPool2dOptions) => (x: P.Tensor) => {
      const [out, idx] = P.maxPool2d(x, k, { ...o, returnIndices: true });
      return [out, idx];
    };
    await parity('3x3 s2 p1', mp(3, { stride: 2, padding: 1 }), [{ shape: [2, 3, 9, 8] }], TOL);
    await parity('2x2', mp(2, {}), [{ shape: [1, 2, 7, 6] }], TOL);
    await parity('3x3 dilation 2 ceil', mp(3, { stride: 2, padding: 1, dilation: 2, ceilMode: true }), [{ shape: [1, 2, 11, 10] }], TOL);
    await parity('ceilMode', mp(3, { stride: 2, ceilMode: true }), [{ shape: [1, 1, 8, 8] }], TOL);
    const ties = Array.from(rnd(2 * 36, 3), (v) => Math.round(v));
    await parity('ties', mp(2, { stride: 1 }), [{ shape: [2, 1, 6, 6], values: ties }], TOL);
    const nan = Array.from(rnd(36, 4));
    nan[7] = NaN;
    nan[20] = NaN;
    await parity('NaN', mp(3, { stride: 2, padding: 1 }), [{ shape: [1, 1, 6, 6], values: nan, grad: false }], TOL, { noGrad: true });
    await parity('unbatched [C, H, W]', mp(2, { stride: 2 }), [{ shape: [3, 5, 4] }], TOL);
  });

  it('avgPool2d: countIncludePad, ceilMode, divisorOverride', async () => {
    await parity('3x3 s2 p1 include pad', (x) => P.avgPool2d(x, 3, { stride: 2, padding: 1 }), [{ shape: [2, 3, 9, 8] }], TOL);
    await parity('3x3 s2 p1 exclude pad', (x) => P.avgPool2d(x, 3, { stride: 2, padding: 1, countIncludePad: false }), [{ shape: [2, 3, 9, 8] }], TOL);
    await parity('ceil', (x) => P.avgPool2d(x, [3, 2], { stride: [2, 3], padding: [1, 1], ceilMode: true }), [{ shape: [1, 2, 8, 9] }], TOL);
    await parity('divisorOverride', (x) => P.avgPool2d(x, 2, { divisorOverride: 3 }), [{ shape: [1, 2, 6, 6] }], TOL);
    await parity('global 7x7', (x) => P.avgPool2d(x, 7), [{ shape: [2, 5, 7, 7] }], TOL);
  });

  it('adaptiveAvgPool2d: uneven windows, 1x1, upsampling sizes', async () => {
    await parity('7x5 -> 3x2', (x) => P.adaptiveAvgPool2d(x, [3, 2]), [{ shape: [2, 3, 7, 5] }], TOL);
    await parity('-> 1x1', (x) => P.adaptiveAvgPool2d(x, 1), [{ shape: [2, 4, 6, 9] }], TOL);
    await parity('4x3 -> 6x5 (overlapping)', (x) => P.adaptiveAvgPool2d(x, [6, 5]), [{ shape: [1, 2, 4, 3] }], TOL);
  });

  it('a larger case: max and avg pool on [2, 16, 48, 36]', async () => {
    await parity('larger max', (x) => P.maxPool2d(x, 3, { stride: 2, padding: 1 }), [{ shape: [2, 16, 48, 36] }], TOL);
    await parity('larger avg', (x) => P.avgPool2d(x, 2), [{ shape: [2, 16, 48, 36] }], TOL);
  });
});

describe.skipIf(!gpuAvailable)('webgpu interpolate', () => {
  const cases: [string, P.InterpolateOptions, number[]][] = [
    ['nearest x2', { scaleFactor: 2 }, [1, 2, 5, 4]],
    ['nearest size 7x11', { size: [7, 11] }, [2, 2, 5, 4]],
    ['nearest down 3x2', { size: [3, 2] }, [1, 3, 8, 7]],
    ['nearest scale 1.7', { scaleFactor: 1.7 }, [1, 1, 6, 5]],
    ['bilinear x2', { scaleFactor: 2, mode: 'bilinear' }, [1, 2, 5, 4]],
    ['bilinear alignCorners size', { size: [9, 7], mode: 'bilinear', alignCorners: true }, [2, 2, 5, 4]],
    ['bilinear down', { size: [3, 5], mode: 'bilinear' }, [1, 2, 8, 9]],
    ['bilinear alignCorners down', { size: [3, 2], mode: 'bilinear', alignCorners: true }, [1, 1, 7, 6]],
    ['bilinear to 1x1', { size: [1, 1], mode: 'bilinear', alignCorners: true }, [1, 2, 4, 4]],
    ['bilinear scale 2.5 recompute', { scaleFactor: 2.5, mode: 'bilinear', recomputeScaleFactor: true }, [1, 1, 4, 3]],
  ];
  for (const [label, o, shape] of cases) {
    it(label, async () => {
      await parity(label, (x) => P.interpolate(x, o), [{ shape }], TOL);
    });
  }
  it('a larger case: bilinear 4x up of [1, 17, 24, 18] (heatmaps)', async () => {
    await parity('larger', (x) => P.interpolate(x, { scaleFactor: 4, mode: 'bilinear', alignCorners: false }), [{ shape: [1, 17, 24, 18] }], { fwd: TOL.fwd, bwd: { atol: 2e-6, rtol: 1e-5 } });
  });
});
