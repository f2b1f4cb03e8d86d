/**
 * webgpu softmax / logSoftmax vs cpu, forward and backward, over the layouts the kernel picks:
 * contiguous rows (vec4 and scalar, rows kept in registers or streamed), strided rows with a
 * workgroup per row, and strided rows with an invocation per row; fully masked rows; huge logits.
 * Tolerance: f32 exp/log and a different summation order: atol 1e-6, rtol 1e-4 (values ≤ 1);
 * logSoftmax of logits in the thousands: atol 2e-3 (f32 spacing at 3000 is 2.4e-4), and its
 * gradient dy - exp(y)·Σdy inherits that absolute error of y as a relative one (atol 1e-3).
 */
import { describe, expect, it } from 'vitest';
import * as P from '../../index.js';
import { gpuAvailable, parity } from './helpers.js';

const TOL = { fwd: { atol: 1e-6, rtol: 1e-4 }, bwd: { atol: 1e-6, rtol: 1e-4 } };

describe.skipIf(!gpuAvailable)('webgpu softmax', () => {
  const both = (dim: number) => (x: P.Tensor) => [P.softmax(x, dim), P.logSoftmax(x, dim)];

  it('contiguous rows: vec4 and scalar, in registers and streamed', async () => {
    for (const shape of [[1, 1], [3, 4], [5, 17], [2, 64], [7, 1000], [2, 1024], [3, 4099], [2, 8192]]) {
      await parity(`softmax last dim ${shape}`, both(-1), [{ shape, lo: -4, hi: 4 }], TOL);
    }
  });

  it('strided rows: workgroup per row (few rows) and invocation per row (many rows)', async () => {
    await parity('dim 1 of [2, 5, 3]', both(1), [{ shape: [2, 5, 3] }], TOL);
    await parity('dim 0 of [300, 3]', both(0), [{ shape: [300, 3] }], TOL);
    await parity('dim 1 of [2, 7, 600] (1200 rows)', both(1), [{ shape: [2, 7, 600] }], TOL);
    await parity('dim 1 of [1, 17, 48, 32] (heatmap channels)', both(1), [{ shape: [1, 17, 48, 32] }], TOL);
  });

  it('fully masked rows give zeros (logSoftmax: -inf), partially masked rows ignore -inf', async () => {
    const v = [-Infinity, -Infinity, -Infinity, -Infinity, 1, -Infinity, 2, 3, 0.5, 0.5, 0.5, 0.5];
    for (const dev of ['webgpu'] as const) {
      const x = P.tensor(v, { shape: [3, 4], device: dev });
      const y = await P.softmax(x, 1).data();
      const ly = await P.logSoftmax(x, 1).data();
      const cx = P.tensor(v, { shape: [3, 4] });
      expect(Array.from(y)).toEqual(Array.from(P.softmax(cx, 1).dataSync()).map((t) => expect.closeTo(t, 6)));
      expect(Array.from(y.slice(0, 4))).toEqual([0, 0, 0, 0]);
      expect(Array.from(ly.slice(0, 4))).toEqual([-Infinity, -Infinity, -Infinity, -Infinity]);
      expect(ly[5]).toBe(-Infinity);
      // strided layouts too
      const xt = P.tensor([-Infinity, 1, -Infinity, 2], { shape: [2, 2], device: dev });
      expect(Array.from(await P.softmax(xt, 0).data())).toEqual([0, expect.closeTo(0.2689414, 6), 0, expect.closeTo(0.7310586, 6)]);
    }
  });

  it('logits in the thousands do not overflow', async () => {
    await parity('big logits', (x) => P.softmax(x, -1), [{ shape: [4, 50], lo: 2000, hi: 3000 }], TOL);
    await parity('big logits (log)', (x) => P.logSoftmax(x, -1), [{ shape: [4, 50], lo: 2000, hi: 3000 }], { fwd: { atol: 2e-3, rtol: 1e-6 }, bwd: { atol: 1e-3, rtol: 1e-4 } });
  });

  it('a larger case: [16, 2048] and dim 1 of [4, 64, 96]', async () => {
    await parity('[16, 2048]', both(-1), [{ shape: [16, 2048], lo: -6, hi: 6 }], TOL);
    await parity('dim 1 of [4, 64, 96]', both(1), [{ shape: [4, 64, 96] }], TOL);
  });
});
