/**
 * deformConv2d (torchvision.ops.deform_conv2d, v1 and v2) on every backend
 * (test/helpers/backends.ts): PyTorch fixtures (test/reference/ops_deform.py, in deform.test.ts),
 * then parity with cpu float64: the output and the gradients of input, offset, mask, weight and
 * bias, through the op and autograd.
 *
 * Covers: with and without mask and bias; stride 2; dilation 1 and 3; weight groups; offset groups
 * that do not line up with the weight groups (one offset group spanning two weight groups);
 * FaSRnet's 17 offset groups on 17 channels; non-square kernels; 1-pixel dims; output sizes that
 * are not multiples of 4 or of the GEMM tiles; offsets reaching far outside the image; integer
 * offsets (samples on pixels, on the border y = -1 / x = -1, and at the kinks, where the derivative
 * is taken from the right as on cpu and torchvision); a finite output next to an infinite pixel
 * that no sample touches; a case above the wasm threading threshold (columns split between
 * threads); and a larger case whose columns take two chunks.
 * Tolerances: forward atol 1e-4, rtol 1e-4; gradients atol 2e-4, rtol 2e-4 (float32 sums of up to
 * Cg·kh·kw products, and webgpu's compare-and-swap adds in an unspecified order); larger cases
 * 2e-4 / 5e-4.
 */
import { it } from 'vitest';
import { deformConv2d } from '../../ops/deform-conv.js';
import { f, fixed, parity, type In , describeEnvs } from '../helpers/backends.js';

const TOL = { atol: 1e-4, rtol: 1e-4 };
const BWD = { atol: 2e-4, rtol: 2e-4 };


interface Case {
  x: number[];
  /** weight [Cout, Cin/groups, kh, kw] */
  w: number[];
  og: number;
  stride?: number;
  padding?: number | [number, number];
  dilation?: number | [number, number];
  mask: boolean;
  bias: boolean;
  /** offsets are drawn from [-range, range) */
  range?: number;
}

function outSize(n: number, k: number, s: number, p: number, d: number): number {
  return Math.floor((n + 2 * p - d * (k - 1) - 1) / s) + 1;
}

function inputs(c: Case, seed: number): { ins: In[]; opts: Parameters<typeof deformConv2d>[4] } {
  const [B, , H, W] = c.x as [number, number, number, number];
  const [Cout, , kh, kw] = c.w as [number, number, number, number];
  const s = c.stride ?? 1;
  const pad = typeof c.padding === 'number' || c.padding === undefined ? [c.padding ?? 0, c.padding ?? 0] : c.padding;
  const dil = typeof c.dilation === 'number' || c.dilation === undefined ? [c.dilation ?? 1, c.dilation ?? 1] : c.dilation;
  const Ho = outSize(H, kh, s, pad[0]!, dil[0]!);
  const Wo = outSize(W, kw, s, pad[1]!, dil[1]!);
  const r = c.range ?? 1.5;
  const ins = [f(c.x, seed), f([B, 2 * c.og * kh * kw, Ho, Wo], seed + 1, -r, r), f(c.w, seed + 2)];
  if (c.bias) ins.push(f([Cout], seed + 3));
  if (c.mask) ins.push(f([B, c.og * kh * kw, Ho, Wo], seed + 4, 0, 1));
  return { ins, opts: { stride: s, padding: c.padding, dilation: c.dilation } };
}

async function run(name: string, c: Case, seed: number, fwd = TOL, bwd = BWD): Promise<void> {
  const { ins, opts } = inputs(c, seed);
  await parity(name, (...t) => {
    const [x, off, w] = t as [typeof t[0], typeof t[0], typeof t[0]];
    const b = c.bias ? t[3]! : null;
    const m = c.mask ? t[c.bias ? 4 : 3]! : null;
    return deformConv2d(x, off, w, b, { ...opts, mask: m });
  }, ins, fwd, { bwd });
}

const CASES: [string, Case][] = [
  ['3x3 pad 1, mask, bias', { x: [2, 3, 7, 9], w: [5, 3, 3, 3], og: 1, padding: 1, mask: true, bias: true }],
  ['v1 (no mask), no bias', { x: [2, 3, 7, 9], w: [5, 3, 3, 3], og: 1, padding: 1, mask: false, bias: false }],
  ['dilation 3, padding 3', { x: [1, 4, 10, 9], w: [3, 4, 3, 3], og: 2, padding: 3, dilation: 3, mask: true, bias: true }],
  ['stride 2', { x: [2, 2, 9, 8], w: [4, 2, 3, 3], og: 1, stride: 2, padding: 1, mask: true, bias: false }],
  ['weight groups 2, offset groups 3 (one spans both)', { x: [1, 6, 6, 7], w: [4, 3, 3, 3], og: 3, padding: 1, mask: true, bias: true }],
  ['weight groups 3, offset groups 1', { x: [2, 6, 5, 5], w: [6, 2, 3, 3], og: 1, padding: 1, mask: false, bias: true }],
  ['FaSRnet: 17 offset groups on 17 channels', { x: [1, 17, 8, 6], w: [17, 17, 3, 3], og: 17, padding: 1, mask: true, bias: true }],
  ['non-square 2x3 kernel, dilation (2, 1), padding (1, 2)', { x: [1, 3, 6, 7], w: [2, 3, 2, 3], og: 1, padding: [1, 2], dilation: [2, 1], mask: true, bias: false }],
  ['1x1 kernel, 1x1 output', { x: [3, 2, 1, 1], w: [3, 2, 1, 1], og: 2, mask: true, bias: true }],
  ['offsets far outside the image', { x: [1, 2, 5, 6], w: [3, 2, 3, 3], og: 1, padding: 1, mask: true, bias: true, range: 9 }],
];

describeEnvs('deformConv2d', () => {
  for (const [name, c] of CASES) {
    it(name, async () => run(name, c, 1));
  }

  it('integer offsets: samples on pixels, on the border (y = -1, x = -1) and at the kinks', async () => {
    const c: Case = { x: [1, 3, 6, 5], w: [2, 3, 3, 3], og: 1, padding: 1, mask: true, bias: false };
    const { ins, opts } = inputs(c, 5);
    // offsets in {-2, -1, 0, 1, 2}, and zero offsets: with padding 1 the first row/column of taps
    // then sits exactly at y = -1 / x = -1 (reads 0, but its derivative sees row/column 0)
    ins[1]!.data = ins[1]!.data.map((v, i) => (i % 3 === 0 ? 0 : Math.round(v * 1.4)));
    await parity('integer offsets', (x, off, w, m) => deformConv2d(x, off, w, null, { ...opts, mask: m }), ins, TOL, { bwd: BWD });
  });

  it('an infinite input pixel that no sample touches leaves the output finite', async () => {
    const x = fixed([1, 1, 6, 6], 6);
    x.data[35] = Infinity; // bottom-right pixel
    // every tap shifted up-left by 2.5 pixels: nothing reads x[5, 5]
    await parity('inf pixel', (xx, off, w) => deformConv2d(xx, off, w, null), [x, fixed([1, 18, 4, 4], 7, -2.6, -2.5), fixed([2, 1, 3, 3], 8)], TOL, { grad: false });
  });

  it('threaded: R·columns above the threading threshold (columns split between the threads)', async () => {
    // R·columns = (8·9)·(24·30) = 51840 per chunk: above the threading threshold (2^15)
    await parity('deform 3x3 dil 2', (x, off, w, m) => deformConv2d(x, off, w, null, { padding: 2, dilation: 2, mask: m }), [f([2, 8, 24, 30], 12), f([2, 36, 24, 30], 13, -2.3, 2.3), f([6, 8, 3, 3], 14), f([2, 18, 24, 30], 15, 0, 1)], TOL, { bwd: { atol: 2e-4, rtol: 5e-4 } });
  });

  it('webgpu tile shapes: Cout above the small tile, 1-pixel and 1-row inputs', async () => {
    await run('larger Cout 40', { x: [2, 8, 21, 19], w: [40, 8, 3, 3], og: 1, padding: 1, mask: true, bias: true, range: 2 }, 11, TOL, { atol: 2e-4, rtol: 5e-4 });
    await run('1-pixel', { x: [1, 1, 1, 1], w: [1, 1, 1, 1], og: 1, mask: false, bias: false, range: 0.8 }, 12);
    await run('H = 1', { x: [2, 2, 1, 9], w: [2, 2, 1, 3], og: 1, padding: 1, mask: false, bias: false }, 13);
    await run('zero offsets', { x: [1, 3, 6, 7], w: [5, 3, 3, 3], og: 1, padding: 1, mask: false, bias: false, range: 0 }, 14);
  });

  it('a larger case: 64 -> 32 channels, dilation 2, 24x20 (two column chunks)', async () => {
    await run('large', { x: [1, 64, 24, 20], w: [32, 64, 3, 3], og: 4, padding: 2, dilation: 2, mask: true, bias: true }, 9, { atol: 2e-4, rtol: 2e-4 }, { atol: 2e-4, rtol: 5e-4 });
  });
});
