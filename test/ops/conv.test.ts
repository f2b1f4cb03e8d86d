/**
 * conv2d and convTranspose2d on every backend (test/helpers/backends.ts): PyTorch fixtures, then
 * parity with cpu float64 for the forward and its input/weight/bias gradients (through ops and
 * autograd). Covers stride, padding, dilation, groups, 1x1 convs (the im2col-free path), depthwise
 * convs (the direct kernels, incl. RPSTN's per-sample 7x7 depthwise with groups = B·C and a weight
 * that is itself a graph tensor), channel multipliers, tiny groups, channel counts that are not
 * multiples of 4 or of a tile, K tails, empty batches, kernels larger than the input, and sizes
 * above the wasm threading threshold.
 * Tolerance: float32 sums of up to Cg·kh·kw (forward), Cout·kh·kw (dx) or N·Ho·Wo (dw) products:
 * atol 5e-5 + rtol 1e-4; 2e-4 for the larger cases.
 */
import { it } from 'vitest';
import { conv2d, convTranspose2d } from '../../ops/conv.js';
import { mul } from '../../ops/elementwise.js';
import { reshape } from '../../ops/shape.js';
import { describeEnvs, f, fixture, parity, throws } from '../helpers/backends.js';
import { loadFixture } from '../helpers/fixtures.js';
import { fixtureOps, fixtureTol } from '../helpers/op-fixtures.js';

const TOL = { atol: 5e-5, rtol: 1e-4 };
const LARGE = { atol: 2e-4, rtol: 2e-4 };
const core = loadFixture('ops', 'core');

interface Case { x: number[]; w: number[]; bias: boolean; opts: Parameters<typeof conv2d>[3]; tol?: typeof TOL }
const CASES: [string, Case][] = [
  ['3x3 pad 1', { x: [2, 3, 7, 9], w: [5, 3, 3, 3], bias: true, opts: { padding: 1 } }],
  ['3x3 stride 2 pad 1', { x: [2, 6, 9, 8], w: [10, 6, 3, 3], bias: true, opts: { stride: 2, padding: 1 } }],
  ['stride 2, pad (2, 1), dilation (2, 1), groups 2', { x: [2, 4, 6, 5], w: [4, 2, 3, 3], bias: true, opts: { stride: [2, 1], padding: [2, 1], dilation: [2, 1], groups: 2 } }],
  ['dilation 3 pad 3', { x: [1, 8, 11, 10], w: [5, 8, 3, 3], bias: false, opts: { padding: 3, dilation: 3 } }],
  ['asymmetric', { x: [1, 4, 9, 7], w: [7, 4, 3, 2], bias: true, opts: { stride: [2, 1], padding: [2, 0], dilation: [1, 2] } }],
  ['1x1 (no im2col)', { x: [2, 6, 5, 3], w: [7, 6, 1, 1], bias: true, opts: {} }],
  ['1x1 stride 2', { x: [1, 4, 5, 5], w: [3, 4, 1, 1], bias: false, opts: { stride: 2 } }],
  ['kernel larger than input with padding', { x: [1, 2, 2, 3], w: [3, 2, 5, 5], bias: true, opts: { padding: 2 } }],
  ['5x5 stride 3', { x: [1, 6, 6, 9], w: [8, 6, 5, 5], bias: true, opts: { stride: 3 } }],
  ['single pixel output', { x: [1, 6, 3, 3], w: [5, 6, 3, 3], bias: false, opts: {} }],
  ['1x1 spatial input, 3x3 pad 1', { x: [3, 5, 1, 1], w: [2, 5, 3, 3], bias: false, opts: { padding: 1 } }],
  ['stride 3 no padding', { x: [1, 3, 10, 11], w: [4, 3, 2, 3], bias: true, opts: { stride: 3 } }],
  ['groups 3 stride 2', { x: [1, 12, 7, 7], w: [9, 4, 3, 3], bias: true, opts: { stride: 2, padding: 1, groups: 3 } }],
  ['Cout 70 (two column tiles)', { x: [1, 5, 5, 6], w: [70, 5, 3, 3], bias: true, opts: { padding: 1 } }],
  ['Cin 13: K = 117 (tail of 21)', { x: [1, 13, 6, 6], w: [6, 13, 3, 3], bias: false, opts: { padding: 1 } }],
  ['depthwise 3x3 pad 1', { x: [2, 6, 9, 7], w: [6, 1, 3, 3], bias: true, opts: { padding: 1, groups: 6 } }],
  ['depthwise 7x7 pad 3 (RPSTN)', { x: [1, 8, 11, 13], w: [8, 1, 7, 7], bias: false, opts: { padding: 3, groups: 8 } }],
  ['depthwise 7x7 stride 2', { x: [1, 5, 13, 11], w: [5, 1, 7, 7], bias: false, opts: { stride: 2, padding: 3, groups: 5 } }],
  ['depthwise stride 2 dilation 2', { x: [2, 3, 12, 9], w: [3, 1, 3, 3], bias: true, opts: { stride: 2, padding: 2, dilation: 2, groups: 3 } }],
  ['empty batch', { x: [0, 3, 5, 5], w: [4, 3, 3, 3], bias: true, opts: { padding: 1 } }],
  ['empty batch depthwise', { x: [0, 3, 5, 5], w: [3, 1, 3, 3], bias: true, opts: { padding: 1, groups: 3 } }],
  ['depthwise 5x5 on 1-wide and 17-wide rows', { x: [1, 4, 6, 17], w: [4, 1, 5, 5], bias: true, opts: { padding: 2, groups: 4 } }],
  ['depthwise on a 1-column input', { x: [2, 2, 7, 1], w: [2, 1, 3, 3], bias: false, opts: { padding: 1, groups: 2 } }],
  ['depthwise multiplier 2 (grouped GEMM path)', { x: [1, 3, 6, 6], w: [6, 1, 3, 3], bias: true, opts: { padding: 1, groups: 3 } }],
  ['groups of 2 -> 3', { x: [1, 4, 5, 7], w: [6, 2, 3, 3], bias: false, opts: { padding: 1, groups: 2 } }],
  ['dense tiny (Cin 3 -> Cout 2)', { x: [2, 3, 5, 5], w: [2, 3, 3, 3], bias: true, opts: { padding: 1 } }],
  ['larger (64 -> 32 channels, 3x3, 24x20)', { x: [1, 64, 24, 20], w: [32, 64, 3, 3], bias: true, opts: { padding: 1 }, tol: LARGE }],
  ['larger (32 -> 40 channels on 2 x 23 x 19)', { x: [2, 32, 23, 19], w: [40, 32, 3, 3], bias: true, opts: { padding: 1 }, tol: LARGE }],
  ['threaded 3x3 (32 -> 24 on 2 x 19 x 23)', { x: [2, 32, 19, 23], w: [24, 32, 3, 3], bias: true, opts: { padding: 1 }, tol: LARGE }],
  ['threaded stride 2 dilation 2', { x: [1, 16, 33, 30], w: [40, 16, 3, 3], bias: false, opts: { padding: 2, stride: 2, dilation: 2 }, tol: LARGE }],
];

describeEnvs('conv', () => {
  for (const [op, fn, cases] of fixtureOps(core, 'conv')) {
    it(`${op} matches PyTorch`, async () => {
      for (const c of cases) await fixture(core, c, fn, fixtureTol(c));
    });
  }
  for (const [name, c] of CASES) {
    it(`conv2d ${name} (forward, dx, dw, dbias)`, async () => {
      const ins = [f(c.x, 1), f(c.w, 2), ...(c.bias ? [f([c.w[0]!], 3)] : [])];
      await parity(name, (x, w, b) => conv2d(x, w, b ?? null, c.opts), ins, c.tol ?? TOL);
    });
  }
  it("RPSTN's per-sample depthwise kernel as a graph tensor (groups = B·C)", async () => {
    await parity('per-sample dw', (x, k) => conv2d(reshape(x, [1, 8, 9, 9]), mul(reshape(k, [8, 1, 7, 7]), 0.5), null, { padding: 3, groups: 8 }), [f([2, 4, 9, 9], 4), f([2, 4, 7, 7], 5)], TOL);
    await parity('per-sample dw [1, 8, 12, 10]', (x, k) => conv2d(x, mul(k, 0.5), null, { padding: 3, groups: 8 }), [f([1, 8, 12, 10], 6), f([8, 1, 7, 7], 7)], TOL);
  });
  it('convTranspose2d (forward = conv2dBackwardInput)', async () => {
    await parity('convT stride 2 outpad 1', (x, w, b) => convTranspose2d(x, w, b, { stride: 2, padding: 1, outputPadding: 1 }), [f([2, 3, 4, 5], 9), f([3, 4, 3, 3], 10), f([4], 11)], TOL);
    await parity('convT groups 2 dilation 2', (x, w) => convTranspose2d(x, w, null, { groups: 2, dilation: 2, padding: 1 }), [f([1, 4, 5, 3], 12), f([4, 3, 3, 3], 13)], TOL);
    await parity('convT dilation 2 groups 2 pad 2', (x, w) => convTranspose2d(x, w, null, { stride: 1, padding: 2, dilation: 2, groups: 2 }), [f([2, 8, 5, 4], 14), f([8, 3, 3, 3], 15)], TOL);
    await parity('convT 1x1', (x, w) => convTranspose2d(x, w, null, {}), [f([2, 5, 3, 3], 14), f([5, 2, 1, 1], 15)], TOL);
    await parity('convT 4x4 stride 2 (upsampling head)', (x, w) => convTranspose2d(x, w, null, { stride: 2, padding: 1 }), [f([1, 7, 5, 5], 16), f([7, 6, 4, 4], 17)], TOL);
    await parity('convT depthwise', (x, w) => convTranspose2d(x, w, null, { stride: 2, padding: 1, groups: 4 }), [f([1, 4, 5, 5], 18), f([4, 1, 3, 3], 19)], TOL);
  });
  it('bad input: the same Error on every backend', () => {
    throws((t) => conv2d(t(new Array(2 * 3 * 4 * 4).fill(1), [2, 3, 4, 4]), t(new Array(2 * 3 * 9).fill(1), [2, 3, 3, 3]), null, { padding: 'bogus' as unknown as number }), "conv2d: expected padding as an integer ≥ 0, a pair of them, 'same' or 'valid', got 'bogus'");
  });
});
