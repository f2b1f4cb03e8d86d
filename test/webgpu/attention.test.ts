/**
 * webgpu vs cpu: scaledDotProductAttention through the op and autograd (the fused `attention`
 * kernel, and `attentionBackward`'s three passes), comparing out and the gradients of q, k, v.
 *
 * Shapes: dims of 1; Lq ≠ Lk; head dims that are not multiples of 4 (the vec4 padding) and differ
 * between q/k (D) and v (Dv); lengths that cross the 64-row workgroup tile and the key tile; the
 * 2- and 4-rows-per-invocation variants (Lq or Lk ≥ 256 / ≥ 1024); masks: boolean of rank 2, 3 and 4
 * (broadcast with stride 0), additive float with -∞ entries, causal, and fully masked rows (zeros,
 * lse = -∞); logits of ±5000; rank-3 inputs.
 *
 * Tolerances: out atol 1e-5, rtol 1e-4; gradients atol 1e-4, rtol 1e-4 (float32 dot products and
 * running sums over up to 1100 keys against the cpu's float64). The ±5000-logit case: atol 2e-3,
 * rtol 2e-3, because a logit of 5000 is only known to float32's resolution there (5000·2⁻²⁴·√D ≈
 * 1e-3 after a D-term dot product), and that error enters the exponent of every probability.
 */
import { describe, expect, it } from 'vitest';
import * as P from '../../index.js';
import { assertClose } from '../helpers/close.js';
import { gpuAvailable, parity, rnd } from './helpers.js';

/**
 * Lavapipe compiles WGSL through LLVM on the CPU: a GEMM or attention pipeline with register
 * blocking takes 5-60 s of CPU the first time (Mesa caches it on disk afterwards), so the suites
 * allow 15 minutes per test. The kernels themselves run in milliseconds at these sizes.
 */
const COMPILE_TIMEOUT = 900_000;

const TOL = { fwd: { atol: 1e-5, rtol: 1e-4 }, bwd: { atol: 1e-4, rtol: 1e-4 } };
const sdpa = P.scaledDotProductAttention;

/** A deterministic boolean (int32 0/1) mask with about `keep` of the entries 1. */
function boolMask(n: number, seed: number, keep = 0.7): number[] {
  return Array.from(rnd(n, seed, 0, 1), (u) => (u < keep ? 1 : 0));
}

describe.skipIf(!gpuAvailable)('webgpu attention', { timeout: COMPILE_TIMEOUT }, () => {
  it('unmasked: shapes, Lq ≠ Lk, odd head dims', async () => {
    const cases: [number, number, number, number, number, number][] = [
      // B, H, Lq, Lk, D, Dv
      [1, 1, 1, 1, 1, 1],
      [2, 3, 5, 7, 8, 8],
      [1, 2, 9, 4, 5, 3],
      [2, 1, 70, 65, 13, 7],
      [1, 2, 33, 130, 64, 64],
      [1, 1, 3, 2, 4, 17],
    ];
    for (const [B, H, Lq, Lk, D, Dv] of cases) {
      await parity(`attention ${[B, H, Lq, Lk, D, Dv]}`, (q, k, v) => sdpa(q, k, v), [{ shape: [B, H, Lq, D] }, { shape: [B, H, Lk, D] }, { shape: [B, H, Lk, Dv] }], TOL);
    }
  });

  it('long sequences: 2 and 4 rows per invocation, many key tiles', async () => {
    await parity('attention Lq 300', (q, k, v) => sdpa(q, k, v), [{ shape: [1, 2, 300, 16] }, { shape: [1, 2, 70, 16] }, { shape: [1, 2, 70, 16] }], TOL);
    await parity('attention Lq 1100', (q, k, v) => sdpa(q, k, v), [{ shape: [1, 1, 1100, 8] }, { shape: [1, 1, 40, 8] }, { shape: [1, 1, 40, 12] }], TOL);
    await parity('attention Lk 1100', (q, k, v) => sdpa(q, k, v, { scale: 0.3 }), [{ shape: [1, 1, 40, 8] }, { shape: [1, 1, 1100, 8] }, { shape: [1, 1, 1100, 5] }], TOL);
  });

  it('boolean masks broadcast from rank 2, 3 and 4, with fully masked rows', async () => {
    const [B, H, Lq, Lk, D] = [2, 3, 11, 9, 6];
    // rank 2 [Lq, Lk] with row 3 fully masked
    const m2 = boolMask(Lq * Lk, 21);
    for (let j = 0; j < Lk; j++) m2[3 * Lk + j] = 0;
    await parity('attention bool mask [Lq, Lk]', (q, k, v, m) => sdpa(q, k, v, { attnMask: m }), [
      { shape: [B, H, Lq, D] }, { shape: [B, H, Lk, D] }, { shape: [B, H, Lk, D] }, { shape: [Lq, Lk], values: m2, int: true },
    ], TOL);
    // [B, 1, 1, Lk]: key padding, one sample with every key masked
    const mk = boolMask(B * Lk, 22);
    for (let j = 0; j < Lk; j++) mk[Lk + j] = 0;
    await parity('attention bool mask [B, 1, 1, Lk]', (q, k, v, m) => sdpa(q, k, v, { attnMask: m }), [
      { shape: [B, H, Lq, D] }, { shape: [B, H, Lk, D] }, { shape: [B, H, Lk, D] }, { shape: [B, 1, 1, Lk], values: mk, int: true },
    ], TOL);
    // full rank 4
    await parity('attention bool mask [B, H, Lq, Lk]', (q, k, v, m) => sdpa(q, k, v, { attnMask: m }), [
      { shape: [B, H, Lq, D] }, { shape: [B, H, Lk, D] }, { shape: [B, H, Lk, D] }, { shape: [B, H, Lq, Lk], values: boolMask(B * H * Lq * Lk, 23, 0.4), int: true },
    ], TOL);
  });

  it('fully masked rows give zeros and lse = -Infinity', async () => {
    const [B, H, Lq, Lk, D] = [1, 2, 70, 5, 4];
    const m = boolMask(Lq * Lk, 24);
    for (const row of [0, 1, 64, 69]) for (let j = 0; j < Lk; j++) m[row * Lk + j] = 0;
    const q = P.tensor(rnd(B * H * Lq * D, 1), { shape: [B, H, Lq, D], device: 'webgpu' });
    const k = P.tensor(rnd(B * H * Lk * D, 2), { shape: [B, H, Lk, D], device: 'webgpu' });
    const v = P.tensor(rnd(B * H * Lk * D, 3), { shape: [B, H, Lk, D], device: 'webgpu' });
    const mask = P.tensor(m.map((b) => (b ? 0 : -Infinity)), { shape: [1, 1, Lq, Lk], device: 'webgpu' });
    const r = P.engine.backend('webgpu').attention(q.k('t'), k.k('t'), v.k('t'), mask.k('t'), { scale: 0.5 });
    const out = P.Tensor.fromStorage('webgpu', r.out, [B, H, Lq, D], 'float32');
    const lse = P.Tensor.fromStorage('webgpu', r.lse, [B, H, Lq], 'float32');
    const o = await out.data();
    const l = await lse.data();
    for (const h of [0, 1]) for (const row of [0, 1, 64, 69]) {
      expect(l[h * Lq + row]).toBe(-Infinity);
      for (let d = 0; d < D; d++) expect(o[(h * Lq + row) * D + d]).toBe(0);
    }
    expect(Number.isFinite(l[2])).toBe(true);
    for (const t of [q, k, v, mask, out, lse]) t.dispose();
  });

  it('additive float masks (with -Infinity entries) and causal', async () => {
    const [B, H, Lq, Lk, D] = [2, 2, 13, 10, 7];
    const fm = Array.from(rnd(H * Lq * Lk, 31, -2, 2), (x, i) => (i % 7 === 3 ? -Infinity : x));
    // The mask's own gradient is computed by ops (softmax, matmul), not by these kernels: grad off.
    await parity('attention float mask [1, H, Lq, Lk]', (q, k, v, m) => sdpa(q, k, v, { attnMask: m }), [
      { shape: [B, H, Lq, D] }, { shape: [B, H, Lk, D] }, { shape: [B, H, Lk, D] }, { shape: [1, H, Lq, Lk], values: fm, grad: false },
    ], TOL);
    await parity('attention float mask [Lk]', (q, k, v, m) => sdpa(q, k, v, { attnMask: m }), [
      { shape: [B, H, Lq, D] }, { shape: [B, H, Lk, D] }, { shape: [B, H, Lk, D] }, { shape: [Lk], lo: -3, hi: 1, grad: false },
    ], TOL);
    await parity('attention causal', (q, k, v) => sdpa(q, k, v, { isCausal: true }), [{ shape: [B, H, Lq, D] }, { shape: [B, H, Lq, D] }, { shape: [B, H, Lq, 5] }], TOL);
  });

  it('rank-3 inputs', async () => {
    await parity('attention rank 3', (q, k, v) => sdpa(q, k, v), [{ shape: [3, 6, 10] }, { shape: [3, 4, 10] }, { shape: [3, 4, 2] }], TOL);
  });

  it('logits of ±5000: finite, and equal to the cpu within float32 logit resolution', async () => {
    const [B, H, Lq, Lk, D] = [1, 2, 20, 24, 8];
    // q, k in [-50, 50], scale 1: |logits| up to ~9000
    await parity('attention large logits', (q, k, v) => sdpa(q, k, v, { scale: 1 }), [
      { shape: [B, H, Lq, D], lo: -50, hi: 50 }, { shape: [B, H, Lk, D], lo: -50, hi: 50 }, { shape: [B, H, Lk, D] },
    ], { fwd: { atol: 2e-3, rtol: 2e-3 }, bwd: { atol: 2e-3, rtol: 2e-3 } });
    const q = P.tensor(rnd(B * H * Lq * D, 41, -50, 50), { shape: [B, H, Lq, D], device: 'webgpu', requiresGrad: true });
    const k = P.tensor(rnd(B * H * Lk * D, 42, -50, 50), { shape: [B, H, Lk, D], device: 'webgpu', requiresGrad: true });
    const v = P.tensor(rnd(B * H * Lk * D, 43), { shape: [B, H, Lk, D], device: 'webgpu', requiresGrad: true });
    const out = sdpa(q, k, v, { scale: 1 });
    const loss = P.sum(P.mul(out, out));
    loss.backward();
    for (const [name, t] of [['out', out], ['dq', q.grad!], ['dk', k.grad!], ['dv', v.grad!]] as const) {
      const d = await t.data();
      expect(d.every((x) => Number.isFinite(x)), `${name} finite`).toBe(true);
    }
    // the logits really are that large
    const logits = P.matmul(q, P.transpose(k, 2, 3));
    const lv = await logits.data();
    expect(Math.max(...Array.from(lv, Math.abs))).toBeGreaterThan(5000);
    for (const t of [q, k, v, out, loss, logits]) t.dispose();
  });

  it('matches the cpu on a forward-only call with a [B, H, Lq, Lk] float mask', async () => {
    const [B, H, Lq, Lk, D] = [1, 1, 6, 66, 3];
    const mv = rnd(B * H * Lq * Lk, 51, -1, 1);
    const data = [rnd(Lq * D, 52), rnd(Lk * D, 53), rnd(Lk * D, 54)];
    const run = async (device: 'cpu' | 'webgpu'): Promise<Float32Array> => {
      const [q, k, v] = [[B, H, Lq, D], [B, H, Lk, D], [B, H, Lk, D]].map((s, i) => P.tensor(data[i]!, { shape: s, device }));
      const m = P.tensor(mv, { shape: [B, H, Lq, Lk], device });
      const o = sdpa(q!, k!, v!, { attnMask: m });
      const r = (await o.data()) as Float32Array;
      for (const t of [q!, k!, v!, m, o]) t.dispose();
      return r;
    };
    assertClose(await run('webgpu'), await run('cpu'), TOL.fwd, 'out');
  });
});
