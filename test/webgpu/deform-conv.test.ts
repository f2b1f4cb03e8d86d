/**
 * webgpu vs cpu: deformConv2d (DCNv1 and DCNv2) through the op and autograd: the output and the
 * gradients of input (compare-and-swap adds), offset, mask, weight and bias.
 *
 * Cases: padding/stride/dilation 1 and 3 (FaSRnet's FDA branches use dilation 5, 3, 1), stride 2,
 * weight groups, several offset groups and FaSRnet's SRM layout (17 offset groups on 17 channels),
 * with and without mask and bias, Cout both below and above the 32-row GEMM tile (Coutg ≤ 32 uses
 * the small tile), sizes that are not multiples of the tiles, 1-pixel dims, offsets large enough
 * to push samples outside the image (the torchvision border rules), integer offsets (the kinks of
 * the bilinear read, where the cpu takes the derivative from the right), and one larger case.
 *
 * Tolerances: output atol 1e-4, rtol 1e-4 (float32 sums of Cg·kh·kw products against float64);
 * gradients atol 2e-4, rtol 2e-4 (dx sums up to ~100 contributions in an unspecified order, the
 * offset gradient multiplies differences of neighbouring pixels by sums over channels).
 */
import { describe, expect, it } from 'vitest';
import * as P from '../../index.js';
import { assertClose } from '../helpers/close.js';
import { gpuAvailable, parity, rnd, type InputSpec } from './helpers.js';

/**
 * Lavapipe compiles WGSL through LLVM on the CPU: a GEMM or attention pipeline with register
 * blocking takes 5-60 s of CPU the first time (Mesa caches it on disk afterwards), so the suites
 * allow 15 minutes per test. The kernels themselves run in milliseconds at these sizes.
 */
const COMPILE_TIMEOUT = 900_000;

const TOL = { fwd: { atol: 1e-4, rtol: 1e-4 }, bwd: { atol: 2e-4, rtol: 2e-4 } };

interface Case {
  label: string;
  B: number; C: number; H: number; W: number;
  Cout: number; kh: number; kw: number;
  groups?: number; og?: number;
  stride?: number; padding?: number; dilation?: number;
  mask?: boolean; bias?: boolean;
  /** Offsets drawn from [-range, range]. */
  range?: number;
  /** Round the offsets to integers (the kinks). */
  integer?: boolean;
}

function outSize(n: number, k: number, s: number, p: number, d: number): number {
  return Math.floor((n + 2 * p - d * (k - 1) - 1) / s) + 1;
}

async function run(c: Case): Promise<void> {
  const { B, C, H, W, Cout, kh, kw } = c;
  const groups = c.groups ?? 1;
  const og = c.og ?? 1;
  const stride = c.stride ?? 1;
  const padding = c.padding ?? 0;
  const dilation = c.dilation ?? 1;
  const Ho = outSize(H, kh, stride, padding, dilation);
  const Wo = outSize(W, kw, stride, padding, dilation);
  const K = kh * kw;
  const r = c.range ?? 1.5;
  const offN = B * 2 * og * K * Ho * Wo;
  const offValues = Array.from(rnd(offN, 77, -r, r), (v) => (c.integer ? Math.round(v) : v));
  const inputs: InputSpec[] = [
    { shape: [B, C, H, W] },
    { shape: [B, 2 * og * K, Ho, Wo], values: offValues },
    { shape: [Cout, C / groups, kh, kw], lo: -0.5, hi: 0.5 },
  ];
  if (c.bias) inputs.push({ shape: [Cout] });
  if (c.mask) inputs.push({ shape: [B, og * K, Ho, Wo], lo: 0, hi: 1 });
  const opts = { stride, padding, dilation };
  await parity(c.label, (x, off, w, ...rest) => {
    const bias = c.bias ? rest[0]! : null;
    const mask = c.mask ? rest[c.bias ? 1 : 0]! : null;
    return P.deformConv2d(x, off, w, bias, { ...opts, mask });
  }, inputs, TOL);
}

describe.skipIf(!gpuAvailable)('webgpu deformConv2d', { timeout: COMPILE_TIMEOUT }, () => {
  it('v1: padding, odd sizes, 1-pixel dims', async () => {
    await run({ label: 'v1 basic', B: 1, C: 3, H: 7, W: 6, Cout: 4, kh: 3, kw: 3, padding: 1 });
    await run({ label: 'v1 1x1 kernel', B: 2, C: 2, H: 5, W: 4, Cout: 3, kh: 1, kw: 1 });
    await run({ label: 'v1 1-pixel', B: 1, C: 1, H: 1, W: 1, Cout: 1, kh: 1, kw: 1, range: 0.8 });
    await run({ label: 'v1 H=1', B: 2, C: 2, H: 1, W: 9, Cout: 2, kh: 1, kw: 3, padding: 1 });
    await run({ label: 'v1 non-square kernel', B: 1, C: 4, H: 6, W: 9, Cout: 5, kh: 2, kw: 3, padding: 1 });
  });

  it('v2: mask and bias; stride 2; dilation 3', async () => {
    await run({ label: 'v2 mask+bias', B: 2, C: 3, H: 6, W: 7, Cout: 5, kh: 3, kw: 3, padding: 1, mask: true, bias: true });
    await run({ label: 'v2 stride 2', B: 1, C: 4, H: 9, W: 8, Cout: 6, kh: 3, kw: 3, padding: 1, stride: 2, mask: true });
    await run({ label: 'v1 stride 2 bias', B: 2, C: 2, H: 7, W: 7, Cout: 3, kh: 3, kw: 3, stride: 2, bias: true });
    await run({ label: 'v2 dilation 3', B: 1, C: 4, H: 10, W: 9, Cout: 4, kh: 3, kw: 3, padding: 3, dilation: 3, mask: true, bias: true });
  });

  it('weight groups and offset groups; FaSRnet SRM (17 offset groups on 17 channels)', async () => {
    await run({ label: 'groups 2, og 2', B: 1, C: 4, H: 6, W: 5, Cout: 6, kh: 3, kw: 3, padding: 1, groups: 2, og: 2, mask: true });
    await run({ label: 'groups 1, og 3', B: 2, C: 6, H: 5, W: 6, Cout: 4, kh: 3, kw: 3, padding: 1, og: 3, bias: true });
    await run({ label: 'FaSRnet SRM 17/17', B: 1, C: 17, H: 12, W: 9, Cout: 17, kh: 3, kw: 3, padding: 1, og: 17, mask: true, bias: true });
  });

  it('samples outside the image and on integer positions (border rules, kinks)', async () => {
    await run({ label: 'far offsets', B: 1, C: 2, H: 5, W: 5, Cout: 3, kh: 3, kw: 3, padding: 1, range: 6, mask: true });
    await run({ label: 'integer offsets', B: 1, C: 2, H: 6, W: 5, Cout: 2, kh: 3, kw: 3, padding: 2, range: 2.5, integer: true, bias: true });
  });

  it('larger: Cout above the small tile, many pixels', async () => {
    await run({ label: 'larger', B: 2, C: 8, H: 21, W: 19, Cout: 40, kh: 3, kw: 3, padding: 1, mask: true, bias: true, range: 2 });
  });

  it('zero offsets reproduce conv2d', async () => {
    const [B, C, H, W, Cout] = [1, 3, 6, 7, 5];
    const xv = rnd(B * C * H * W, 1);
    const wv = rnd(Cout * C * 9, 2);
    const x = P.tensor(xv, { shape: [B, C, H, W], device: 'webgpu' });
    const w = P.tensor(wv, { shape: [Cout, C, 3, 3], device: 'webgpu' });
    const off = P.zeros([B, 18, H, W], { device: 'webgpu' });
    const y = P.deformConv2d(x, off, w, null, { padding: 1 });
    const xc = P.tensor(xv, { shape: [B, C, H, W] });
    const wc = P.tensor(wv, { shape: [Cout, C, 3, 3] });
    const yc = P.conv2d(xc, wc, null, { padding: 1 });
    assertClose(await y.data(), yc.dataSync(), TOL.fwd, 'deformConv2d with zero offsets vs conv2d');
    expect(y.shape).toEqual([B, Cout, H, W]);
    for (const t of [x, w, off, y, xc, wc, yc]) t.dispose();
  });
});
