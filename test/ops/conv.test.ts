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
import { describeEnvs, f, fixed, fixture, parity, rand, throws, vals } from '../helpers/backends.js';
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
  // the direct depthwise kernels (assembly/depthwise.ts): SIMD groups of 8 and 4 outputs, the
  // scalar borders and tails, stride 1, 2 (even-lane shuffles) and 3 (scalar), dilation, odd sizes
  ['depthwise 3x3 pad 0 on 3 x 7 x 29 (groups of 8, 4 and a tail)', { x: [3, 4, 7, 29], w: [4, 1, 3, 3], bias: true, opts: { groups: 4 } }],
  ['depthwise 3x3 stride 2 pad 0 on odd 13x27', { x: [2, 5, 13, 27], w: [5, 1, 3, 3], bias: true, opts: { stride: 2, groups: 5 } }],
  ['depthwise 3x3 stride 2 pad 1 on even 16x34 (MobileNet)', { x: [2, 3, 16, 34], w: [3, 1, 3, 3], bias: false, opts: { stride: 2, padding: 1, groups: 3 } }],
  ['depthwise 3x3 dilation 2 pad 2 on 9x23', { x: [2, 3, 9, 23], w: [3, 1, 3, 3], bias: true, opts: { padding: 2, dilation: 2, groups: 3 } }],
  ['depthwise 3x3 stride 2 dilation (1, 3) pad (1, 3) on 11x41', { x: [1, 4, 11, 41], w: [4, 1, 3, 3], bias: true, opts: { stride: 2, padding: [1, 3], dilation: [1, 3], groups: 4 } }],
  ['depthwise 5x5 stride 2 pad 2 (general kw) on 15x37', { x: [2, 3, 15, 37], w: [3, 1, 5, 5], bias: true, opts: { stride: 2, padding: 2, groups: 3 } }],
  ['depthwise 4x2 stride (1, 2) pad (2, 1) on 8x31', { x: [2, 3, 8, 31], w: [3, 1, 4, 2], bias: false, opts: { stride: [1, 2], padding: [2, 1], groups: 3 } }],
  ['depthwise 3x3 stride 2 pad 1 on 9x75 (masked border groups)', { x: [2, 3, 9, 75], w: [3, 1, 3, 3], bias: true, opts: { stride: 2, padding: 1, groups: 3 } }],
  ['depthwise 3x3 stride 2 pad 6 on 7x70 (scalar borders)', { x: [1, 2, 7, 70], w: [2, 1, 3, 3], bias: true, opts: { stride: 2, padding: 6, groups: 2 } }],
  ['depthwise 3x3 stride 3 pad 1 (scalar) on 10x17', { x: [1, 3, 10, 17], w: [3, 1, 3, 3], bias: true, opts: { stride: 3, padding: 1, groups: 3 } }],
  ['depthwise 3x3 pad 3 (rows with no tap inside)', { x: [1, 2, 2, 9], w: [2, 1, 3, 3], bias: true, opts: { padding: 3, groups: 2 } }],
  ['threaded depthwise 3x3 pad 1 (2 x 24 x 21 x 37)', { x: [2, 24, 21, 37], w: [24, 1, 3, 3], bias: true, opts: { padding: 1, groups: 24 }, tol: LARGE }],
  ['threaded depthwise 3x3 stride 2 pad 1 (2 x 40 x 40 x 46)', { x: [2, 40, 40, 46], w: [40, 1, 3, 3], bias: true, opts: { stride: 2, padding: 1, groups: 40 }, tol: LARGE }],
  ['threaded depthwise 3x3 stride 2 pad 1 (2 x 24 x 28 x 90, masked borders)', { x: [2, 24, 28, 90], w: [24, 1, 3, 3], bias: false, opts: { stride: 2, padding: 1, groups: 24 }, tol: LARGE }],
  // the threaded backward kernels (assembly/conv-backward.ts): thread ranges that cross samples and
  // groups, the 1x1 path without col, stride 2
  ['threaded groups 2, 3x3, batch 3 (dx planes and dW columns across groups)', { x: [3, 20, 17, 21], w: [24, 10, 3, 3], bias: true, opts: { padding: 1, groups: 2 }, tol: LARGE }],
  ['threaded 1x1 groups 2, batch 2 (no col)', { x: [2, 64, 29, 31], w: [48, 32, 1, 1], bias: true, opts: { groups: 2 }, tol: LARGE }],
  ['threaded 3x3 stride 2 on 81 x 79 (Cin 3: the stem)', { x: [2, 3, 81, 79], w: [32, 3, 3, 3], bias: true, opts: { stride: 2, padding: 1 }, tol: LARGE }],
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
  it('depthwise with an infinite weight: padded taps give Infinity·0 = NaN, as PyTorch', async () => {
    // channel 1 has +Infinity at its top-left tap: outputs whose tap lands in the padding are NaN,
    // the others ±Infinity; channel 0 stays finite (the SIMD path)
    const w = Array.from(rand(2 * 9, 31));
    w[9] = Infinity;
    await parity('depthwise inf weight', (x, k) => conv2d(x, k, null, { padding: 1, groups: 2 }), [fixed([1, 2, 6, 9], 30, 0.5, 1), vals([2, 1, 3, 3], w, true)], TOL, { grad: false });
    await parity('depthwise inf weight stride 2', (x, k) => conv2d(x, k, null, { stride: 2, padding: 1, groups: 2 }), [fixed([2, 2, 7, 10], 32, 0.5, 1), vals([2, 1, 3, 3], w, true)], TOL, { grad: false });
  });
  it('convTranspose2d (forward = conv2dBackwardInput)', async () => {
    await parity('convT stride 2 outpad 1', (x, w, b) => convTranspose2d(x, w, b, { stride: 2, padding: 1, outputPadding: 1 }), [f([2, 3, 4, 5], 9), f([3, 4, 3, 3], 10), f([4], 11)], TOL);
    await parity('convT groups 2 dilation 2', (x, w) => convTranspose2d(x, w, null, { groups: 2, dilation: 2, padding: 1 }), [f([1, 4, 5, 3], 12), f([4, 3, 3, 3], 13)], TOL);
    await parity('convT dilation 2 groups 2 pad 2', (x, w) => convTranspose2d(x, w, null, { stride: 1, padding: 2, dilation: 2, groups: 2 }), [f([2, 8, 5, 4], 14), f([8, 3, 3, 3], 15)], TOL);
    await parity('convT 1x1', (x, w) => convTranspose2d(x, w, null, {}), [f([2, 5, 3, 3], 14), f([5, 2, 1, 1], 15)], TOL);
    await parity('convT 4x4 stride 2 (upsampling head)', (x, w) => convTranspose2d(x, w, null, { stride: 2, padding: 1 }), [f([1, 7, 5, 5], 16), f([7, 6, 4, 4], 17)], TOL);
    await parity('convT depthwise', (x, w) => convTranspose2d(x, w, null, { stride: 2, padding: 1, groups: 4 }), [f([1, 4, 5, 5], 18), f([4, 1, 3, 3], 19)], TOL);
    await parity('convT 4x4 stride 2, threaded (24 -> 16 on 2 x 16 x 17)', (x, w, b) => convTranspose2d(x, w, b, { stride: 2, padding: 1 }), [f([2, 24, 16, 17], 20), f([24, 16, 4, 4], 21), f([16], 22)], LARGE);
  });
  it('bad input: the same Error on every backend', () => {
    throws((t) => conv2d(t(new Array(2 * 3 * 4 * 4).fill(1), [2, 3, 4, 4]), t(new Array(2 * 3 * 9).fill(1), [2, 3, 3, 3]), null, { padding: 'bogus' as unknown as number }), "conv2d: expected padding as an integer ≥ 0, a pair of them, 'same' or 'valid', got 'bogus'");
  });
});
