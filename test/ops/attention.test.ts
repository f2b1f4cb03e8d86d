/**
 * scaledDotProductAttention against the explicit formula in PyTorch, MultiheadAttention against
 * torch.nn.MultiheadAttention, and TransformerBlock against a ViTPose/timm block
 * (test/reference/ops_attention.py): forward and gradients in float64 and float32, float64
 * gradchecks, numerical safety with logits in the thousands, and bad input.
 */
import { describe, expect, it } from 'vitest';
import { scaledDotProductAttention as sdpa } from '../../ops/attention.js';
import * as P from '../../index.js';
import type { Tensor } from '../../index.js';
import { LayerNorm } from '../../models/nn/extra-layers.js';
import { MultiheadAttention, TransformerBlock } from '../../models/nn/attention.js';
import type { Module } from '../../models/nn/module.js';
import { assertClose, type Tol } from '../helpers/close.js';
import { checkCase, F32, F64, loadFixture, toTensor, type FixtureCase } from '../helpers/fixtures.js';
import { describeEnvs, f, fixed, fixture, i32, parity, rand } from '../helpers/backends.js';
import { gradcheck } from '../helpers/gradcheck.js';

const fx = loadFixture('ops', 'attention');
const sdpaFx = ({ q, k, v, mask }: Record<string, Tensor>, p: Record<string, any>): Tensor =>
  P.scaledDotProductAttention(q!, k!, v!, { attnMask: mask ?? null, scale: p.scale, isCausal: p.isCausal });

describe('scaledDotProductAttention matches softmax(q·kᵀ·scale + mask)·v (PyTorch)', () => {
  for (const c of fx.casesOf('sdpa')) {
    it(c.name, () => {
      checkCase(fx, c, sdpaFx, { dtype: 'float64', fwd: F64 });
      checkCase(fx, c, sdpaFx, { dtype: 'float32', fwd: F32 }); // sdpa/huge included: no looser tolerance needed
    });
  }
});

describe('scaledDotProductAttention numerical safety', () => {
  it('logits of ±5000 match the float64 reference without Inf or NaN', () => {
    P.tidy(() => {
      // One query, keys whose logits are ±5000 apart: naive exp() would overflow.
      const q = P.tensor([[[[1, 0]]]], { dtype: 'float32' });
      const k = P.tensor([[[[5000, 0], [-5000, 0], [4999, 0], [4990, 1]]]], { dtype: 'float32' });
      const v = P.tensor([[[[1, 2], [3, 4], [5, 6], [7, 8]]]], { dtype: 'float32' });
      for (const dtype of ['float32', 'float64'] as const) {
        const [qq, kk, vv] = [q, k, v].map((t) => P.tensor(t.dataSync(), { dtype, shape: t.shape }).requiresGrad_());
        const out = P.scaledDotProductAttention(qq!, kk!, vv!, { scale: 1 });
        // float64 reference: weights e^0, e^-10000, e^-1, e^-10 over their sum
        const w = [1, 0, Math.exp(-1), Math.exp(-10)];
        const z = w.reduce((a, b) => a + b, 0);
        const ref = [0, 1].map((d) => w.reduce((a, wi, j) => a + (wi / z) * v.dataSync()[j * 2 + d]!, 0));
        assertClose(out.dataSync(), ref, dtype === 'float64' ? F64 : F32, `${dtype} out`);
        P.sum(out).backward();
        for (const t of [qq!, kk!, vv!]) expect(Array.from(t.grad!.dataSync()).every(Number.isFinite)).toBe(true);
      }
    });
  });
  it('a fully masked row gives zeros and zero gradients (no NaN)', () => {
    P.tidy(() => {
      const q = P.randn([1, 1, 3, 2], { dtype: 'float64' }).requiresGrad_();
      const k = P.randn([1, 1, 4, 2], { dtype: 'float64' }).requiresGrad_();
      const v = P.randn([1, 1, 4, 2], { dtype: 'float64' }).requiresGrad_();
      const mask = P.tensor([[1, 1, 0, 0], [0, 0, 0, 0], [0, 1, 0, 1]], { dtype: 'int32' });
      const out = P.scaledDotProductAttention(q, k, v, { attnMask: mask });
      const o = out.dataSync();
      expect([o[2], o[3]]).toEqual([0, 0]);
      expect(Array.from(o).every(Number.isFinite)).toBe(true);
      P.sum(P.mul(out, out)).backward();
      expect(Array.from(q.grad!.dataSync()).slice(2, 4)).toEqual([0, 0]);
      for (const t of [q, k, v]) expect(Array.from(t.grad!.dataSync()).every(Number.isFinite)).toBe(true);
    });
  });
});

describe('scaledDotProductAttention gradcheck (float64, central differences)', () => {
  const r = (shape: number[], seed: number, scale = 1): Tensor => {
    P.manualSeed(seed);
    return P.mul(P.randn(shape, { dtype: 'float64' }), scale);
  };
  it('q, k, v without a mask (two key tiles, Dv ≠ D)', () => {
    gradcheck((q, k, v) => P.scaledDotProductAttention(q, k, v), [r([1, 2, 3, 4], 1), r([1, 2, 40, 4], 2), r([1, 2, 40, 3], 3)], { maxPerInput: 60 });
  });
  it('q, k, v with a boolean mask and a custom scale, rank 3', () => {
    const mask = P.tensor([[1, 0, 1, 1, 0], [0, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 0, 0, 0, 1]], { dtype: 'int32' });
    gradcheck((q, k, v) => P.scaledDotProductAttention(q, k, v, { attnMask: mask, scale: 0.7 }), [r([2, 4, 3], 4), r([2, 5, 3], 5), r([2, 5, 2], 6)]);
  });
  it('q, k, v and a broadcast float mask', () => {
    gradcheck((q, k, v, m) => P.scaledDotProductAttention(q, k, v, { attnMask: m }), [r([2, 2, 3, 2], 7), r([2, 2, 4, 2], 8), r([2, 2, 4, 2], 9), r([2, 1, 1, 4], 10)]);
  });
  it('causal', () => {
    gradcheck((q, k, v) => P.scaledDotProductAttention(q, k, v, { isCausal: true }), [r([1, 1, 4, 2], 11), r([1, 1, 5, 2], 12), r([1, 1, 5, 2], 13)]);
  });
});

describe('scaledDotProductAttention semantics', () => {
  it('an int32 mask keeps the keys where it is 1, like a -Infinity float mask where it is 0', () => {
    P.tidy(() => {
      const q = P.randn([2, 3, 4]);
      const k = P.randn([2, 5, 4]);
      const v = P.randn([2, 5, 2]);
      const m = P.tensor([1, 0, 1, 1, 0], { dtype: 'int32' });
      const f = P.tensor([0, -Infinity, 0, 0, -Infinity]);
      assertClose(P.scaledDotProductAttention(q, k, v, { attnMask: m }).dataSync(), P.scaledDotProductAttention(q, k, v, { attnMask: f }).dataSync(), F32, 'bool vs float');
    });
  });
  it('dropoutP drops attention weights and rescales by 1/(1-p)', () => {
    P.tidy(() => {
      const q = P.randn([1, 2, 3, 4], { dtype: 'float64' });
      const k = P.randn([1, 2, 5, 4], { dtype: 'float64' });
      const v = P.randn([1, 2, 5, 3], { dtype: 'float64' });
      P.manualSeed(42);
      const out = P.scaledDotProductAttention(q, k, v, { dropoutP: 0.4 });
      P.manualSeed(42);
      const keep = P.ge(P.rand([1, 2, 3, 5], { dtype: 'float64' }), 0.4);
      const w = P.softmax(P.mul(P.matmul(q, P.transpose(k, 2, 3)), 0.5), 3);
      const ref = P.matmul(P.mul(P.where(keep, w, 0), 1 / 0.6), v);
      assertClose(out.dataSync(), ref.dataSync(), F64, 'dropout');
      const full = P.scaledDotProductAttention(q, k, v);
      expect(Array.from(out.dataSync())).not.toEqual(Array.from(full.dataSync()));
    });
  });
  it('frees every intermediate of a forward/backward step', () => {
    const q = P.randn([1, 2, 3, 4]).requiresGrad_();
    const k = P.randn([1, 2, 5, 4]).requiresGrad_();
    const v = P.randn([1, 2, 5, 4]).requiresGrad_();
    const m = P.randn([1, 1, 3, 5]).requiresGrad_();
    const before = P.memory().numTensors;
    P.tidy(() => P.sum(P.scaledDotProductAttention(q, k, v, { attnMask: m })).backward());
    expect(P.memory().numTensors).toBe(before + 4);
    for (const t of [q, k, v, m]) t.dispose();
  });
});

describe('scaledDotProductAttention rejects bad input', () => {
  const q = P.zeros([2, 3, 4, 8]);
  const k = P.zeros([2, 3, 6, 8]);
  const v = P.zeros([2, 3, 6, 5]);
  it('query and key head dims that differ', () => {
    expect(() => P.scaledDotProductAttention(q, P.zeros([2, 3, 6, 7]), v)).toThrow('scaledDotProductAttention: expected key\'s last dim equal to query\'s (D = 8), got 7 (query [2, 3, 4, 8], key [2, 3, 6, 7])');
  });
  it('a mask that does not broadcast to [B, H, Lq, Lk]', () => {
    expect(() => P.scaledDotProductAttention(q, k, v, { attnMask: P.zeros([4, 5]) })).toThrow('scaledDotProductAttention: expected attnMask broadcastable to [2, 3, 4, 6], got [4, 5]');
    expect(() => P.scaledDotProductAttention(q, k, v, { attnMask: P.zeros([3, 2, 3, 4, 6]) })).toThrow('scaledDotProductAttention: expected attnMask broadcastable to [2, 3, 4, 6], got [3, 2, 3, 4, 6]');
    expect(() => P.scaledDotProductAttention(q, k, v, { attnMask: P.zeros([2, 1, 4, 6], { dtype: 'float64' }) })).toThrow('scaledDotProductAttention: expected attnMask as int32 (boolean) or float32 (additive), got float64');
  });
  it('other shape errors', () => {
    expect(() => P.scaledDotProductAttention(q, k, P.zeros([2, 3, 5, 5]))).toThrow("scaledDotProductAttention: expected value's length equal to key's (Lk = 6), got 5");
    expect(() => P.scaledDotProductAttention(q, P.zeros([1, 3, 6, 8]), v)).toThrow("scaledDotProductAttention: expected key and value with query's batch dims [2, 3], got key [1, 3, 6, 8], value [2, 3, 6, 5]");
    expect(() => P.scaledDotProductAttention(P.zeros([4, 8]), k, v)).toThrow('scaledDotProductAttention: expected query of rank 4 [B, H, Lq, D] or rank 3 [B, Lq, D], got shape [4, 8]');
    expect(() => P.scaledDotProductAttention(q, P.zeros([3, 6, 8]), v)).toThrow(/^scaledDotProductAttention: expected query, key and value of one rank \(4\)/);
    expect(() => P.scaledDotProductAttention(q, k, v, { isCausal: true, attnMask: P.zeros([4, 6]) })).toThrow('scaledDotProductAttention: expected either attnMask or isCausal, got both');
    expect(() => P.scaledDotProductAttention(q, k, v, { dropoutP: 1 })).toThrow('scaledDotProductAttention: expected dropoutP in [0, 1), got 1');
    expect(() => P.scaledDotProductAttention(q, k, P.zeros([2, 3, 6, 5], { dtype: 'float64' }))).toThrow('scaledDotProductAttention: expected tensors of one dtype, got float32 and float64');
  });
});

// ------------------------------------------------------------------------------------------ modules
/** Runs a module case: loads the parameters, checks outputs and all gradients against torch. */
function checkModule<M extends Module>(c: FixtureCase, m: M, fwd: (m: M, ins: Record<string, Tensor>) => (Tensor | null)[], dtype: 'float64' | 'float32', tol: Tol): void {
  const keys: string[] = c.params.keys;
  expect([...m.stateDict().keys()]).toEqual(keys);
  m.toDtype(dtype);
  m.loadStateDict(new Map(keys.map((k) => [k, fx.get(`${c.name}/${k}`)])));
  P.tidy(() => {
    const ins: Record<string, Tensor> = {};
    for (const k of Object.keys(c.inputs)) if (!keys.includes(k)) ins[k] = toTensor(fx.get(`${c.name}/${k}`), dtype, 'cpu', c.grads.includes(k));
    const outs = fwd(m, ins);
    expect(outs.filter((o) => o !== null).length).toBe(c.outputs);
    outs.forEach((o, i) => {
      if (!o) return;
      const exp = fx.get(`${c.name}/${i === 0 ? 'out' : `out${i}`}`);
      expect(o.shape).toEqual(exp.shape);
      assertClose(o.dataSync(), exp.data, tol, `${c.name} (${dtype}) output ${i}`);
    });
    outs[0]!.backward(toTensor(fx.get(`${c.name}/gout`), dtype));
    const sd = m.stateDict();
    for (const k of c.grads) {
      const t = ins[k] ?? sd.get(k)!;
      if (!t.grad) throw new Error(`${c.name}: no gradient for ${k}`);
      assertClose(t.grad.dataSync(), fx.get(`${c.name}/grad_${k}`).data, tol, `${c.name} (${dtype}) grad of ${k}`);
    }
  });
  m.zeroGrad();
}

const mhaOf = (c: FixtureCase): MultiheadAttention => {
  const E = c.name === 'mha/self' ? 8 : c.name === 'mha/cross' ? 6 : 4;
  const H = { 'mha/self': 2, 'mha/cross': 3, 'mha/perHead': 2, 'mha/unbatched': 1 }[c.name]!;
  return new MultiheadAttention(E, H, { kdim: c.params.kdim, vdim: c.params.vdim, batchFirst: c.params.batchFirst, bias: c.name !== 'mha/unbatched' });
};
const mhaRun = (c: FixtureCase) => (m: MultiheadAttention, x: Record<string, Tensor>): (Tensor | null)[] => {
  switch (c.name) {
    case 'mha/self': return m.forward(x.x!, x.x!, x.x!);
    case 'mha/cross': return [m.forward(x.q!, x.k!, x.v!, { keyPaddingMask: x.kpm!, attnMask: x.am!, needWeights: false })[0]];
    case 'mha/perHead': return m.forward(x.q!, x.k!, x.v!, { attnMask: x.am!, averageAttnWeights: false });
    case 'mha/unbatched': return [m.forward(x.x!, x.y!, x.y!, { needWeights: false })[0]];
    default: throw new Error(`unmapped case ${c.name}`);
  }
};

describe('MultiheadAttention matches torch.nn.MultiheadAttention', () => {
  for (const c of fx.casesOf('mha')) {
    it(`${c.name}: outputs, input and parameter gradients`, () => {
      const m = mhaOf(c);
      checkModule(c, m, mhaRun(c), 'float64', F64);
      checkModule(c, m, mhaRun(c), 'float32', F32);
      m.dispose();
    });
  }
  it('has PyTorch parameter names, shapes and init', () => {
    P.manualSeed(5);
    const a = new MultiheadAttention(8, 2);
    expect([...a.stateDict().entries()].map(([k, v]) => [k, v.shape])).toEqual([['in_proj_weight', [24, 8]], ['in_proj_bias', [24]], ['out_proj.weight', [8, 8]], ['out_proj.bias', [8]]]);
    const bound = Math.sqrt(6 / (24 + 8)); // xavier-uniform over [3E, E]
    expect(Math.max(...Array.from(a.in_proj_weight!.dataSync(), Math.abs))).toBeLessThanOrEqual(bound);
    expect(Array.from(a.in_proj_bias!.dataSync()).every((x) => x === 0)).toBe(true);
    expect(Array.from(a.out_proj.bias!.dataSync()).every((x) => x === 0)).toBe(true);
    const b = new MultiheadAttention(6, 3, { kdim: 4, vdim: 3, bias: false });
    expect([...b.stateDict().entries()].map(([k, v]) => [k, v.shape])).toEqual([['q_proj_weight', [6, 6]], ['k_proj_weight', [6, 4]], ['v_proj_weight', [6, 3]], ['out_proj.weight', [6, 6]]]);
    a.dispose();
    b.dispose();
  });
  it('rejects bad shapes and masks', () => {
    const m = new MultiheadAttention(4, 2);
    const x = P.zeros([3, 2, 4]);
    expect(() => new MultiheadAttention(6, 4)).toThrow('MultiheadAttention: expected embedDim divisible by numHeads, got embedDim 6, numHeads 4');
    expect(() => m.forward(P.zeros([3, 2, 5]), x, x)).toThrow('MultiheadAttention: expected query features = embedDim 4, got shape [3, 2, 5]');
    expect(() => m.forward(x, x, x, { attnMask: P.zeros([3, 4]) })).toThrow('MultiheadAttention: expected attnMask of shape [3, 3] or [4, 3, 3], got [3, 4]');
    expect(() => m.forward(x, x, x, { keyPaddingMask: P.zeros([3, 2]) })).toThrow('MultiheadAttention: expected keyPaddingMask of shape [2, 3], got [3, 2]');
    m.dispose();
  });
});

describe('TransformerBlock (ViTPose/timm) matches the PyTorch block', () => {
  for (const c of fx.casesOf('block')) {
    it(`${c.name}: output, input and parameter gradients`, () => {
      const cfg = { eps: c.params.eps ?? 1e-6, qkvBias: c.params.qkv_bias ?? true, mlpRatio: c.params.mlp_ratio ?? 4 };
      const m = new TransformerBlock(c.params.dim, c.params.heads, cfg);
      m.eval();
      const run = (b: TransformerBlock, x: Record<string, Tensor>): Tensor[] => [b.forward(x.x!)];
      checkModule(c, m, run, 'float64', F64);
      checkModule(c, m, run, 'float32', F32);
      m.dispose();
    });
  }
  it('has ViTPose state-dict keys', () => {
    const b = new TransformerBlock(12, 3);
    expect([...b.stateDict().entries()].map(([k, v]) => [k, v.shape])).toEqual([
      ['norm1.weight', [12]], ['norm1.bias', [12]], ['attn.qkv.weight', [36, 12]], ['attn.qkv.bias', [36]], ['attn.proj.weight', [12, 12]], ['attn.proj.bias', [12]],
      ['norm2.weight', [12]], ['norm2.bias', [12]], ['mlp.fc1.weight', [48, 12]], ['mlp.fc1.bias', [48]], ['mlp.fc2.weight', [12, 48]], ['mlp.fc2.bias', [12]],
    ]);
    expect(b.norm1.eps).toBe(1e-6);
    b.dispose();
  });
  it('drop path is the identity in eval mode and drops whole samples in training', () => {
    P.tidy(() => {
      const b = new TransformerBlock(4, 2, { dropPath: 0.5 });
      const x = P.randn([8, 3, 4]);
      b.eval();
      const y1 = b.forward(x);
      const y2 = b.forward(x);
      expect(Array.from(y1.dataSync())).toEqual(Array.from(y2.dataSync()));
      b.train();
      // With p = 0.5 over 8 samples and 2 residual branches, some branch is dropped or doubled:
      // the training output differs from the eval output.
      P.manualSeed(3);
      const y3 = b.forward(x).dataSync();
      expect(Array.from(y3)).not.toEqual(Array.from(y1.dataSync()));
      b.dispose();
    });
  });
  it('LayerNorm module: weight ones, bias zeros, normalizes the last dims', () => {
    P.tidy(() => {
      const ln = new LayerNorm([2, 3], 1e-5);
      expect([...ln.stateDict().keys()]).toEqual(['weight', 'bias']);
      const y = ln.forward(P.tensor([[[1, 2, 3], [4, 5, 6]]]));
      const mean = P.mean(y).item();
      expect(Math.abs(mean)).toBeLessThan(1e-6);
      ln.dispose();
    });
  });
});

// ------------------------------------------------------------------------ every backend
/*
 * scaledDotProductAttention on every backend (test/helpers/backends.ts): the PyTorch fixtures,
 * then parity with cpu float64 through the fused attention kernels (forward: out and, through the
 * backward, lse; backward: dq, dk, dv, and dMask for a float mask).
 * Covers: Lq ≠ Lk; head dims D and Dv that are not multiples of 4 or 8 (and D ≠ Dv); 1-token
 * sequences; sequences spanning several query blocks and key tiles with partial last ones, and the
 * webgpu 2- and 4-rows-per-invocation variants; rank-3 inputs; boolean masks broadcast from
 * [Lq, Lk], [B, 1, 1, Lk], [1, H, Lq, 1] and [B, H, Lq, Lk]; float masks with their gradient;
 * fully masked rows (zeros, zero gradients) incl. rows whose first key tiles are fully masked;
 * isCausal; a custom scale; logits of ±5000 (integer inputs: exact in float32); a larger case.
 * Tolerances: forward atol 1e-5, rtol 1e-4; gradients atol 3e-5, rtol 2e-4 (1e-4 for long rows).
 */
const TOL = { atol: 1e-5, rtol: 1e-4 };
const BWD = { atol: 3e-5, rtol: 2e-4 };

/** [B, H, Lq, Lk, D, Dv] */
const SHAPES: [number, number, number, number, number, number][] = [
  [1, 1, 1, 1, 1, 1],
  [2, 3, 5, 7, 3, 3],
  [1, 2, 17, 33, 8, 8],
  [2, 1, 40, 19, 6, 5],
  [1, 2, 33, 65, 16, 13],
  [1, 1, 3, 100, 2, 9],
];

describeEnvs('scaledDotProductAttention', () => {
  for (const c of fx.casesOf('sdpa')) {
    it(`${c.name} matches PyTorch`, async () => {
      await fixture(fx, c, sdpaFx, { f64: F64, f32: F32 });
    });
  }
  for (const [B, H, Lq, Lk, D, Dv] of SHAPES) {
    it(`B${B} H${H} Lq${Lq} Lk${Lk} D${D} Dv${Dv}`, async () => {
      await parity('sdpa', (q, k, v) => sdpa(q, k, v), [f([B, H, Lq, D], 1, -2, 2), f([B, H, Lk, D], 2, -2, 2), f([B, H, Lk, Dv], 3)], TOL, { bwd: BWD });
    });
  }

  it('threaded: query blocks and key tiles split between wasm threads, a head cut between two', async () => {
    // 3·90·100·(24 + 20) = 1.2M multiply-adds: above 2 x 2^18 (backends/wasm/attention.ts
    // THREAD_MIN_MACS); the backward's 12 (head, key tile) units split 6/6 at 2 threads, cutting
    // head 1, whose partial dQ are added after the threads
    const keep = Array.from(rand(90 * 100, 64), (x) => (x > -0.6 ? 1 : 0));
    const ins = [f([1, 3, 90, 24], 61, -2, 2), f([1, 3, 100, 24], 62, -2, 2), f([1, 3, 100, 20], 63), i32([90, 100], keep)];
    await parity('sdpa threaded', (q, k, v, m) => sdpa(q, k, v, { attnMask: m }), ins, TOL, { bwd: BWD });
  });

  it('rank-3 inputs and a custom scale', async () => {
    await parity('rank 3', (q, k, v) => sdpa(q, k, v, { scale: 0.7 }), [f([3, 9, 5], 4), f([3, 11, 5], 5), f([3, 11, 6], 6)], TOL, { bwd: BWD });
  });

  it('boolean masks broadcast from [Lq, Lk], [B, 1, 1, Lk] and [1, H, Lq, 1]', async () => {
    const [B, H, Lq, Lk, D] = [2, 2, 19, 37, 5];
    const ins = [f([B, H, Lq, D], 7, -2, 2), f([B, H, Lk, D], 8, -2, 2), f([B, H, Lk, D], 9)];
    const rnd = rand(Lq * Lk, 10);
    await parity('mask [Lq, Lk]', (q, k, v, m) => sdpa(q, k, v, { attnMask: m }), [...ins, i32([Lq, Lk], Array.from(rnd, (x) => (x > -0.4 ? 1 : 0)))], TOL, { bwd: BWD });
    // key padding: the last keys of sample 1 masked (all three tiles of sample 0 live)
    const kp = Array.from({ length: B * Lk }, (_, e) => (e >= Lk && e % Lk >= 20 ? 0 : 1));
    await parity('mask [B, 1, 1, Lk]', (q, k, v, m) => sdpa(q, k, v, { attnMask: m }), [...ins, i32([B, 1, 1, Lk], kp)], TOL, { bwd: BWD });
    // whole query rows masked: rows 2 and 17 of head 1 (zeros, no gradient)
    const rows = Array.from({ length: H * Lq }, (_, e) => (e === Lq + 2 || e === Lq + 17 ? 0 : 1));
    await parity('mask [1, H, Lq, 1] with fully masked rows', (q, k, v, m) => sdpa(q, k, v, { attnMask: m }), [...ins, i32([1, H, Lq, 1], rows)], TOL, { bwd: BWD });
  });

  it('rows whose first key tiles are fully masked, and fully masked rows, give no NaN', async () => {
    const [Lq, Lk, D] = [6, 70, 4];
    // row r sees only keys ≥ 10·r (row 0: all; row 5: keys 50..69, the first tile entirely masked)
    const m = Array.from({ length: Lq * Lk }, (_, e) => (e % Lk >= 10 * Math.floor(e / Lk) ? 1 : 0));
    // row 3 sees nothing at all
    for (let j = 0; j < Lk; j++) m[3 * Lk + j] = 0;
    // the parity check compares with the float64 truth: row 3 gives zeros there too (no NaN)
    await parity('staggered mask', (q, k, v, mk) => sdpa(q, k, v, { attnMask: mk }), [f([1, 1, Lq, D], 11), f([1, 1, Lk, D], 12), f([1, 1, Lk, D], 13), i32([Lq, Lk], m)], TOL, { bwd: BWD });
  });

  it('a float mask, with its gradient', async () => {
    const [B, H, Lq, Lk, D] = [2, 3, 9, 21, 7];
    const mask = f([B, H, Lq, Lk], 16, -3, 1);
    mask.data[5] = -Infinity;
    await parity('float mask', (q, k, v, m) => sdpa(q, k, v, { attnMask: m }), [f([B, H, Lq, D], 17), f([B, H, Lk, D], 18), f([B, H, Lk, D], 19), mask], TOL, { bwd: BWD });
    await parity('float mask [Lk] broadcast', (q, k, v, m) => sdpa(q, k, v, { attnMask: m }), [f([B, H, Lq, D], 20), f([B, H, Lk, D], 21), f([B, H, Lk, D], 22), f([Lk], 23, -2, 2)], TOL, { bwd: BWD });
  });

  it('isCausal, Lq < Lk and Lq > Lk', async () => {
    await parity('causal', (q, k, v) => sdpa(q, k, v, { isCausal: true }), [f([1, 2, 20, 6], 24), f([1, 2, 20, 6], 25), f([1, 2, 20, 6], 26)], TOL, { bwd: BWD });
    await parity('causal Lq > Lk', (q, k, v) => sdpa(q, k, v, { isCausal: true }), [f([1, 1, 40, 5], 27), f([1, 1, 35, 5], 28), f([1, 1, 35, 3], 29)], TOL, { bwd: BWD });
  });

  it('logits of ±5000: exact in float32, max-subtracted, no NaN or Infinity', async () => {
    const [B, H, Lq, Lk, D] = [1, 2, 7, 45, 4];
    // integers: q ∈ [-50, 50], k ∈ [-25, 25], so q·k (≤ 5000 in size) is exact in float32
    const q = fixed([B, H, Lq, D], 30, -50, 50);
    q.data = q.data.map(Math.round);
    const k = fixed([B, H, Lk, D], 31, -25, 25);
    k.data = k.data.map(Math.round);
    const v = f([B, H, Lk, D], 32);
    await parity('large logits', (a, b, c) => sdpa(a, b, c, { scale: 1 }), [q, k, v], TOL, { bwd: BWD });
  });

  it('webgpu layouts: 2 and 4 rows per invocation (Lq or Lk ≥ 256 / ≥ 1024), key tiles, masks of rank 2-4', async () => {
    await parity('Lq 300', (q, k, v) => sdpa(q, k, v), [f([1, 2, 300, 16], 40), f([1, 2, 70, 16], 41), f([1, 2, 70, 16], 42)], TOL, { bwd: { atol: 1e-4, rtol: 1e-4 } });
    await parity('Lq 1100', (q, k, v) => sdpa(q, k, v), [f([1, 1, 1100, 8], 43), f([1, 1, 40, 8], 44), f([1, 1, 40, 12], 45)], TOL, { bwd: { atol: 1e-4, rtol: 1e-4 } });
    await parity('Lk 1100', (q, k, v) => sdpa(q, k, v, { scale: 0.3 }), [f([1, 1, 40, 8], 46), f([1, 1, 1100, 8], 47), f([1, 1, 1100, 5], 48)], TOL, { bwd: { atol: 1e-4, rtol: 1e-4 } });
    const [B, H, Lq, Lk, D] = [2, 3, 11, 9, 6];
    const bm = Array.from(rand(B * H * Lq * Lk, 23, 0, 1), (u) => (u < 0.4 ? 1 : 0));
    await parity('bool mask [B, H, Lq, Lk]', (q, k, v, m) => sdpa(q, k, v, { attnMask: m }), [f([B, H, Lq, D], 49), f([B, H, Lk, D], 50), f([B, H, Lk, D], 51), i32([B, H, Lq, Lk], bm)], TOL, { bwd: BWD });
    await parity('Lq 70, rows 64..69 past the 64-row tile', (q, k, v) => sdpa(q, k, v, { scale: 0.5 }), [f([2, 1, 70, 13], 52), f([2, 1, 65, 13], 53), f([2, 1, 65, 7], 54)], TOL, { bwd: BWD });
  });

  it('a larger case: B1 H2 Lq100 Lk130 D64', async () => {
    await parity('large', (q, k, v) => sdpa(q, k, v), [f([1, 2, 100, 64], 33), f([1, 2, 130, 64], 34), f([1, 2, 130, 64], 35)], TOL, { bwd: BWD });
  });
});
