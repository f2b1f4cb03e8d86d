/**
 * webgpu conv2d vs cpu, forward and both backward kernels (through autograd: dx, dw, dbias), for
 * the implicit-GEMM path and the direct (depthwise / tiny-group) path: stride, padding, dilation,
 * groups, bias, channel counts that are not multiples of 4 or of the tile, K tails, batch > 1,
 * 1x1 kernels, RPSTN's per-sample depthwise weight, convTranspose2d (whose forward is
 * conv2dBackwardInput), and one larger case.
 * Tolerance: sums of Cg·kh·kw (forward), Cout·kh·kw (dx) or N·Ho·Wo (dw) products of values in
 * [-1, 1], f32 with another summation order than the cpu's float64: atol 5e-5, rtol 1e-4
 * (atol 2e-4 for the larger case, whose weight gradient sums ~1000 products).
 */
import { describe, it } from 'vitest';
import * as P from '../../index.js';
import { gpuAvailable, parity } from './helpers.js';

/** The first test builds the GEMM pipelines: ~2 minutes with a cold Mesa shader cache on 2 busy cores. */
const COLD = 600_000;

const TOL = { fwd: { atol: 5e-5, rtol: 1e-4 }, bwd: { atol: 5e-5, rtol: 1e-4 } };

type Opts = { stride?: number | [number, number]; padding?: number | [number, number]; dilation?: number | [number, number]; groups?: number };

async function conv(label: string, x: number[], w: number[], bias: boolean, o: Opts, tol = TOL): Promise<void> {
  const inputs = [{ shape: x }, { shape: w }, ...(bias ? [{ shape: [w[0]!] }] : [])];
  await parity(label, (xx, ww, bb) => P.conv2d(xx, ww, bb ?? null, o), inputs, tol);
}

describe.skipIf(!gpuAvailable)('webgpu conv2d', () => {
  it('implicit GEMM: stride, padding, dilation, bias, odd sizes', async () => {
    await conv('3x3 pad 1', [1, 5, 7, 6], [6, 5, 3, 3], true, { padding: 1 });
    await conv('3x3 stride 2 pad 1', [2, 6, 9, 8], [10, 6, 3, 3], true, { stride: 2, padding: 1 });
    await conv('dilation 3 pad 3', [1, 8, 11, 10], [5, 8, 3, 3], false, { padding: 3, dilation: 3 });
    await conv('asymmetric', [1, 4, 9, 7], [7, 4, 3, 2], true, { stride: [2, 1], padding: [2, 0], dilation: [1, 2] });
    await conv('1x1', [2, 9, 5, 4], [13, 9, 1, 1], true, {});
    await conv('5x5 no pad, H < kernel after stride', [1, 6, 6, 9], [8, 6, 5, 5], true, { stride: 3 });
    await conv('single pixel output', [1, 6, 3, 3], [5, 6, 3, 3], false, {});
  }, COLD);

  it('groups, channel tiles wider than one workgroup, K tails', async () => {
    await conv('groups 2', [2, 8, 6, 5], [10, 4, 3, 3], true, { padding: 1, groups: 2 });
    await conv('groups 3 stride 2', [1, 12, 7, 7], [9, 4, 3, 3], true, { stride: 2, padding: 1, groups: 3 });
    await conv('Cout 70 (two column tiles)', [1, 5, 5, 6], [70, 5, 3, 3], true, { padding: 1 });
    await conv('Cin 13: K = 117 (tail of 21)', [1, 13, 6, 6], [6, 13, 3, 3], false, { padding: 1 });
  });

  it('direct kernels: depthwise, channel multiplier, tiny groups', async () => {
    await conv('depthwise 3x3', [2, 6, 7, 8], [6, 1, 3, 3], true, { padding: 1, groups: 6 });
    await conv('depthwise 7x7 stride 2', [1, 5, 13, 11], [5, 1, 7, 7], false, { stride: 2, padding: 3, groups: 5 });
    await conv('depthwise dilation 2', [1, 4, 9, 9], [4, 1, 3, 3], true, { padding: 2, dilation: 2, groups: 4 });
    await conv('multiplier 2', [1, 3, 6, 6], [6, 1, 3, 3], true, { padding: 1, groups: 3 });
    await conv('groups of 2 -> 3', [1, 4, 5, 7], [6, 2, 3, 3], false, { padding: 1, groups: 2 });
    await conv('dense tiny (Cin 3 -> Cout 2)', [2, 3, 5, 5], [2, 3, 3, 3], true, { padding: 1 });
  });

  it("RPSTN: a per-sample depthwise 7x7 kernel built from the graph", async () => {
    // x [1, B·C, H, W], weight [B·C, 1, 7, 7] computed from another tensor: gradients reach both
    await parity('per-sample depthwise', (x, k) => P.conv2d(x, P.mul(k, 0.5), null, { padding: 3, groups: 8 }), [{ shape: [1, 8, 12, 10] }, { shape: [8, 1, 7, 7] }], TOL);
  });

  it('convTranspose2d (forward = conv2dBackwardInput)', async () => {
    await parity('convT stride 2', (x, w, b) => P.convTranspose2d(x, w, b, { stride: 2, padding: 1, outputPadding: 1 }), [{ shape: [1, 6, 4, 5] }, { shape: [6, 5, 3, 3] }, { shape: [5] }], TOL);
    await parity('convT dilation 2 groups 2', (x, w) => P.convTranspose2d(x, w, null, { stride: 1, padding: 2, dilation: 2, groups: 2 }), [{ shape: [2, 8, 5, 4] }, { shape: [8, 3, 3, 3] }], TOL);
    await parity('convT 4x4 stride 2 (upsampling head)', (x, w) => P.convTranspose2d(x, w, null, { stride: 2, padding: 1 }), [{ shape: [1, 7, 5, 5] }, { shape: [7, 6, 4, 4] }], TOL);
    await parity('convT depthwise', (x, w) => P.convTranspose2d(x, w, null, { stride: 2, padding: 1, groups: 4 }), [{ shape: [1, 4, 5, 5] }, { shape: [4, 1, 3, 3] }], TOL);
  });

  it('a larger case: 32 -> 40 channels 3x3 on 2 x 23 x 19', async () => {
    await conv('larger', [2, 32, 23, 19], [40, 32, 3, 3], true, { padding: 1 }, { fwd: { atol: 2e-4, rtol: 1e-4 }, bwd: { atol: 2e-4, rtol: 1e-4 } });
  });
});
