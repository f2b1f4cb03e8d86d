/**
 * wasm vs cpu: scaledDotProductAttention through the fused attention kernels (forward: out and,
 * through the backward, lse; backward: dq, dk, dv, and dMask for a float mask), from the same
 * float32 inputs.
 *
 * Covers: Lq ≠ Lk; head dims D and Dv that are not multiples of 4 or 8 (and D ≠ Dv); 1-token
 * sequences; sequences spanning several 16-query blocks and 32-key tiles with partial last ones;
 * rank-3 inputs; boolean masks (int32 → -Infinity) broadcast from [Lq, Lk], [B, 1, 1, Lk] (key
 * padding: mask stride 0 on the query dim) and [1, H, Lq, 1]; a float mask [B, H, Lq, Lk] with its
 * gradient; fully masked rows (zeros, zero gradients, no NaN) including rows whose first key tiles
 * are fully masked (the running max stays -Infinity there); isCausal; a custom scale; logits of
 * ±5000 (integer inputs, so the logits are exact in float32 and the comparison stays tight: no NaN
 * or Infinity, max-subtracted); and a larger case.
 * Tolerances: forward atol 1e-5, rtol 1e-4 (float32 dot products and exp vs cpu's float64);
 * gradients atol 3e-5, rtol 2e-4 (sums over Lq or Lk terms of products of those).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { scaledDotProductAttention as sdpa } from '../../ops/attention.js';
import { tensor } from '../../ops/creation.js';
import { f, fixed, i32, parity, rand, setupWasm } from './helpers.js';

const TOL = { atol: 1e-5, rtol: 1e-4 };
const BWD = { atol: 3e-5, rtol: 2e-4 };

beforeAll(async () => {
  await setupWasm();
});

/** [B, H, Lq, Lk, D, Dv] */
const SHAPES: [number, number, number, number, number, number][] = [
  [1, 1, 1, 1, 1, 1],
  [2, 3, 5, 7, 3, 3],
  [1, 2, 17, 33, 8, 8],
  [2, 1, 40, 19, 6, 5],
  [1, 2, 33, 65, 16, 13],
  [1, 1, 3, 100, 2, 9],
];

describe('wasm scaledDotProductAttention matches cpu', () => {
  for (const [B, H, Lq, Lk, D, Dv] of SHAPES) {
    it(`B${B} H${H} Lq${Lq} Lk${Lk} D${D} Dv${Dv}`, () => {
      parity('sdpa', (q, k, v) => sdpa(q, k, v), [f([B, H, Lq, D], 1, -2, 2), f([B, H, Lk, D], 2, -2, 2), f([B, H, Lk, Dv], 3)], TOL, { bwd: BWD });
    });
  }

  it('rank-3 inputs and a custom scale', () => {
    parity('rank 3', (q, k, v) => sdpa(q, k, v, { scale: 0.7 }), [f([3, 9, 5], 4), f([3, 11, 5], 5), f([3, 11, 6], 6)], TOL, { bwd: BWD });
  });

  it('boolean masks broadcast from [Lq, Lk], [B, 1, 1, Lk] and [1, H, Lq, 1]', () => {
    const [B, H, Lq, Lk, D] = [2, 2, 19, 37, 5];
    const ins = [f([B, H, Lq, D], 7, -2, 2), f([B, H, Lk, D], 8, -2, 2), f([B, H, Lk, D], 9)];
    const rnd = rand(Lq * Lk, 10);
    parity('mask [Lq, Lk]', (q, k, v, m) => sdpa(q, k, v, { attnMask: m }), [...ins, i32([Lq, Lk], Array.from(rnd, (x) => (x > -0.4 ? 1 : 0)))], TOL, { bwd: BWD });
    // key padding: the last keys of sample 1 masked (all three tiles of sample 0 live)
    const kp = Array.from({ length: B * Lk }, (_, e) => (e >= Lk && e % Lk >= 20 ? 0 : 1));
    parity('mask [B, 1, 1, Lk]', (q, k, v, m) => sdpa(q, k, v, { attnMask: m }), [...ins, i32([B, 1, 1, Lk], kp)], TOL, { bwd: BWD });
    // whole query rows masked: rows 2 and 17 of head 1 (zeros, no gradient)
    const rows = Array.from({ length: H * Lq }, (_, e) => (e === Lq + 2 || e === Lq + 17 ? 0 : 1));
    parity('mask [1, H, Lq, 1] with fully masked rows', (q, k, v, m) => sdpa(q, k, v, { attnMask: m }), [...ins, i32([1, H, Lq, 1], rows)], TOL, { bwd: BWD });
  });

  it('rows whose first key tiles are fully masked, and fully masked rows, give no NaN', () => {
    const [Lq, Lk, D] = [6, 70, 4];
    // row r sees only keys ≥ 10·r (row 0: all; row 5: keys 50..69, the first tile entirely masked)
    const m = Array.from({ length: Lq * Lk }, (_, e) => (e % Lk >= 10 * Math.floor(e / Lk) ? 1 : 0));
    // row 3 sees nothing at all
    for (let j = 0; j < Lk; j++) m[3 * Lk + j] = 0;
    const run = (): void => parity('staggered mask', (q, k, v, mk) => sdpa(q, k, v, { attnMask: mk }), [f([1, 1, Lq, D], 11), f([1, 1, Lk, D], 12), f([1, 1, Lk, D], 13), i32([Lq, Lk], m)], TOL, { bwd: BWD });
    run();
    const q = tensor(rand(Lq * D, 14), { shape: [1, 1, Lq, D], device: 'wasm' });
    const k = tensor(rand(Lk * D, 15), { shape: [1, 1, Lk, D], device: 'wasm' });
    const mk = tensor(Int32Array.from(m), { shape: [Lq, Lk], dtype: 'int32', device: 'wasm' });
    const y = sdpa(q, k, k, { attnMask: mk });
    const out = y.dataSync();
    expect(Array.from(out).every(Number.isFinite)).toBe(true);
    expect(Array.from(out.subarray(3 * D, 4 * D))).toEqual([0, 0, 0, 0]);
    for (const t of [q, k, mk, y]) t.dispose();
  });

  it('a float mask, with its gradient', () => {
    const [B, H, Lq, Lk, D] = [2, 3, 9, 21, 7];
    const mask = f([B, H, Lq, Lk], 16, -3, 1);
    mask.data[5] = -Infinity;
    parity('float mask', (q, k, v, m) => sdpa(q, k, v, { attnMask: m }), [f([B, H, Lq, D], 17), f([B, H, Lk, D], 18), f([B, H, Lk, D], 19), mask], TOL, { bwd: BWD });
    parity('float mask [Lk] broadcast', (q, k, v, m) => sdpa(q, k, v, { attnMask: m }), [f([B, H, Lq, D], 20), f([B, H, Lk, D], 21), f([B, H, Lk, D], 22), f([Lk], 23, -2, 2)], TOL, { bwd: BWD });
  });

  it('isCausal, Lq < Lk and Lq > Lk', () => {
    parity('causal', (q, k, v) => sdpa(q, k, v, { isCausal: true }), [f([1, 2, 20, 6], 24), f([1, 2, 20, 6], 25), f([1, 2, 20, 6], 26)], TOL, { bwd: BWD });
    parity('causal Lq > Lk', (q, k, v) => sdpa(q, k, v, { isCausal: true }), [f([1, 1, 40, 5], 27), f([1, 1, 35, 5], 28), f([1, 1, 35, 3], 29)], TOL, { bwd: BWD });
  });

  it('logits of ±5000: exact in float32, max-subtracted, no NaN or Infinity', () => {
    const [B, H, Lq, Lk, D] = [1, 2, 7, 45, 4];
    // integers: q ∈ [-50, 50], k ∈ [-25, 25], so q·k (≤ 5000 in size) is exact in float32
    const q = fixed([B, H, Lq, D], 30, -50, 50);
    q.data = q.data.map(Math.round);
    const k = fixed([B, H, Lk, D], 31, -25, 25);
    k.data = k.data.map(Math.round);
    const v = f([B, H, Lk, D], 32);
    parity('large logits', (a, b, c) => sdpa(a, b, c, { scale: 1 }), [q, k, v], TOL, { bwd: BWD });
    const t = [q, k, v].map((i) => tensor(i.data, { shape: i.shape, device: 'wasm' }));
    const y = sdpa(t[0]!, t[1]!, t[2]!, { scale: 1 });
    expect(Array.from(y.dataSync()).every(Number.isFinite)).toBe(true);
    for (const s of [...t, y]) s.dispose();
  });

  it('a larger case: B1 H2 Lq100 Lk130 D64', () => {
    parity('large', (q, k, v) => sdpa(q, k, v), [f([1, 2, 100, 64], 33), f([1, 2, 130, 64], 34), f([1, 2, 130, 64], 35)], TOL, { bwd: BWD });
  });
});
