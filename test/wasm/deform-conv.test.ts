/**
 * wasm vs cpu: deformConv2d (torchvision.ops.deform_conv2d, v1 and v2) forward and the gradients of
 * input, offset, mask, weight and bias, through the op and autograd, from the same float32 inputs.
 *
 * Covers: with and without mask and bias; stride 2; dilation 1 and 3; weight groups; offset groups
 * that do not line up with the weight groups (one offset group spanning two weight groups, so its
 * offset gradient adds up over both); FaSRnet's 17 offset groups on 17 channels; non-square
 * kernels; output sizes that are not multiples of 4 (the plan's last lanes) or of the 4x8 GEMM
 * tile; offsets reaching far outside the image; integer offsets (samples exactly on pixels, on the
 * image border y = -1 / x = -1, and at the cells' kinks, where the derivative is taken from the
 * right as on cpu and torchvision); NaN-free output for a non-finite x far away from every sample;
 * and a larger case whose columns take two chunks (R = 64·9 = 576 rows).
 * Tolerances: forward atol 1e-5, rtol 1e-4 and gradients atol 2e-5, rtol 1e-4 (float32 sums of up
 * to Cg·kh·kw products in the GEMM and of Cout/G·Ho·Wo terms in dW, vs cpu's float64);
 * the larger case 5e-5 / 2e-4.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { tensor } from '../../ops/creation.js';
import { deformConv2d } from '../../ops/deform-conv.js';
import { assertClose } from '../helpers/close.js';
import { f, fixed, parity, setupWasm, type In } from './helpers.js';

const TOL = { atol: 1e-5, rtol: 1e-4 };
const BWD = { atol: 2e-5, rtol: 1e-4 };

beforeAll(async () => {
  await setupWasm();
});

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

function run(name: string, c: Case, seed: number, fwd = TOL, bwd = BWD): void {
  const { ins, opts } = inputs(c, seed);
  parity(name, (...t) => {
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

describe('wasm deformConv2d matches cpu (output, dx, dOffset, dMask, dW, dBias)', () => {
  for (const [name, c] of CASES) {
    it(name, () => run(name, c, 1));
  }

  it('integer offsets: samples on pixels, on the border (y = -1, x = -1) and at the kinks', () => {
    const c: Case = { x: [1, 3, 6, 5], w: [2, 3, 3, 3], og: 1, padding: 1, mask: true, bias: false };
    const { ins, opts } = inputs(c, 5);
    // offsets in {-2, -1, 0, 1, 2}, and zero offsets: with padding 1 the first row/column of taps
    // then sits exactly at y = -1 / x = -1 (reads 0, but its derivative sees row/column 0)
    ins[1]!.data = ins[1]!.data.map((v, i) => (i % 3 === 0 ? 0 : Math.round(v * 1.4)));
    parity('integer offsets', (x, off, w, m) => deformConv2d(x, off, w, null, { ...opts, mask: m }), ins, TOL, { bwd: BWD });
  });

  it('an infinite input pixel that no sample touches leaves the output finite', () => {
    const x = fixed([1, 1, 6, 6], 6);
    x.data[35] = Infinity; // bottom-right pixel
    // every tap shifted up-left by 2.5 pixels: nothing reads x[5, 5]
    const off = fixed([1, 18, 4, 4], 7, -2.6, -2.5);
    const w = fixed([2, 1, 3, 3], 8);
    const res = (['cpu', 'wasm'] as const).map((device) => {
      const t = [x, off, w].map((i) => tensor(i.data, { shape: i.shape, device }));
      const y = deformConv2d(t[0]!, t[1]!, t[2]!, null);
      const d = y.dataSync();
      for (const s of [...t, y]) s.dispose();
      return d;
    });
    expect(res[1]!.every(Number.isFinite)).toBe(true);
    assertClose(res[1]!, res[0]!, TOL, 'output');
  });

  it('a larger case: 64 -> 32 channels, dilation 2, 24x20 (two column chunks)', () => {
    run('large', { x: [1, 64, 24, 20], w: [32, 64, 3, 3], og: 4, padding: 2, dilation: 2, mask: true, bias: true }, 9, { atol: 5e-5, rtol: 2e-4 }, { atol: 5e-5, rtol: 2e-4 });
  });
});
