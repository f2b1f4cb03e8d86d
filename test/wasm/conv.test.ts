/**
 * wasm vs cpu: conv2d forward and its input/weight/bias gradients (through ops and autograd), and
 * convTranspose2d (whose forward is conv2dBackwardInput). Covers stride, padding, dilation, groups,
 * 1x1 convs (the im2col-free path), depthwise convs (the direct kernel, including RPSTN's
 * per-sample 7x7 depthwise with groups = B·C and a weight that is itself a graph tensor), odd sizes
 * that are not multiples of the SIMD width or the 4x8 GEMM tile, and one larger case.
 * Tolerance: atol 1e-5 + rtol 1e-4 (float32 sums of up to Cg·kh·kw or N·Ho·Wo products);
 * 5e-5/2e-4 for the larger case.
 */
import { beforeAll, describe, it } from 'vitest';
import { conv2d, convTranspose2d } from '../../ops/conv.js';
import { mul } from '../../ops/elementwise.js';
import { reshape } from '../../ops/shape.js';
import { f, parity, setupWasm } from './helpers.js';

const TOL = { atol: 1e-5, rtol: 1e-4 };

beforeAll(async () => {
  await setupWasm();
});

interface Case { x: number[]; w: number[]; bias: boolean; opts: Parameters<typeof conv2d>[3] }
const CASES: [string, Case][] = [
  ['3x3 pad 1', { x: [2, 3, 7, 9], w: [5, 3, 3, 3], bias: true, opts: { padding: 1 } }],
  ['stride 2, pad (2, 1), dilation (2, 1), groups 2', { x: [2, 4, 6, 5], w: [4, 2, 3, 3], bias: true, opts: { stride: [2, 1], padding: [2, 1], dilation: [2, 1], groups: 2 } }],
  ['1x1 (no im2col)', { x: [2, 6, 5, 3], w: [7, 6, 1, 1], bias: true, opts: {} }],
  ['1x1 stride 2', { x: [1, 4, 5, 5], w: [3, 4, 1, 1], bias: false, opts: { stride: 2 } }],
  ['kernel larger than input with padding', { x: [1, 2, 2, 3], w: [3, 2, 5, 5], bias: true, opts: { padding: 2 } }],
  ['1x1 spatial input, 3x3 pad 1', { x: [3, 5, 1, 1], w: [2, 5, 3, 3], bias: false, opts: { padding: 1 } }],
  ['stride 3 no padding', { x: [1, 3, 10, 11], w: [4, 3, 2, 3], bias: true, opts: { stride: 3 } }],
  ['depthwise 3x3 pad 1', { x: [2, 6, 9, 7], w: [6, 1, 3, 3], bias: true, opts: { padding: 1, groups: 6 } }],
  ['depthwise 7x7 pad 3 (RPSTN)', { x: [1, 8, 11, 13], w: [8, 1, 7, 7], bias: false, opts: { padding: 3, groups: 8 } }],
  ['depthwise stride 2 dilation 2', { x: [2, 3, 12, 9], w: [3, 1, 3, 3], bias: true, opts: { stride: 2, padding: 2, dilation: 2, groups: 3 } }],
  ['empty batch', { x: [0, 3, 5, 5], w: [4, 3, 3, 3], bias: true, opts: { padding: 1 } }],
  ['empty batch depthwise', { x: [0, 3, 5, 5], w: [3, 1, 3, 3], bias: true, opts: { padding: 1, groups: 3 } }],
  ['depthwise 5x5 on 1-wide and 17-wide rows', { x: [1, 4, 6, 17], w: [4, 1, 5, 5], bias: true, opts: { padding: 2, groups: 4 } }],
  ['depthwise on a 1-column input', { x: [2, 2, 7, 1], w: [2, 1, 3, 3], bias: false, opts: { padding: 1, groups: 2 } }],
  ['depthwise multiplier 2 (grouped GEMM path)', { x: [1, 3, 6, 6], w: [6, 1, 3, 3], bias: true, opts: { padding: 1, groups: 3 } }],
];

describe('wasm conv2d matches cpu (forward, dx, dw, dbias)', () => {
  for (const [name, c] of CASES) {
    it(name, () => {
      const ins = [f(c.x, 1), f(c.w, 2), ...(c.bias ? [f([c.w[0]!], 3)] : [])];
      parity(name, (x, w, b) => conv2d(x, w, b ?? null, c.opts), ins, TOL);
    });
  }
  it("RPSTN's per-sample depthwise kernel as a graph tensor (groups = B·C)", () => {
    // B = 2 samples of C = 4 channels folded into one sample of 8 channels, weights computed in the graph
    parity('per-sample dw', (x, k) => conv2d(reshape(x, [1, 8, 9, 9]), mul(reshape(k, [8, 1, 7, 7]), 0.5), null, { padding: 3, groups: 8 }), [f([2, 4, 9, 9], 4), f([2, 4, 7, 7], 5)], TOL);
  });
  it('a larger case (64 -> 32 channels, 3x3, 24x20)', () => {
    parity('large', (x, w, b) => conv2d(x, w, b, { padding: 1 }), [f([1, 64, 24, 20], 6), f([32, 64, 3, 3], 7), f([32], 8)], { atol: 5e-5, rtol: 2e-4 });
  });
});

describe('wasm convTranspose2d matches cpu', () => {
  it('stride 2, pad 1, output padding 1', () => {
    parity('convT', (x, w, b) => convTranspose2d(x, w, b, { stride: 2, padding: 1, outputPadding: 1 }), [f([2, 3, 4, 5], 9), f([3, 4, 3, 3], 10), f([4], 11)], TOL);
  });
  it('groups 2, dilation 2', () => {
    parity('convT groups', (x, w) => convTranspose2d(x, w, null, { groups: 2, dilation: 2, padding: 1 }), [f([1, 4, 5, 3], 12), f([4, 3, 3, 3], 13)], TOL);
  });
  it('1x1', () => {
    parity('convT 1x1', (x, w) => convTranspose2d(x, w, null, {}), [f([2, 5, 3, 3], 14), f([5, 2, 1, 1], 15)], TOL);
  });
});
