/**
 * VREMD as a whole: output shapes, the frozen backbone, training steps, the feature cache, the
 * ablation variants, ViTPose loading, errors on bad input, parameter counts (paper preset built
 * under noInit) and FLOPs (countMacsOf against the cost model).
 */
import { describe, expect, it } from 'vitest';
import { memory, noGrad, tidy } from '../../engine/engine.js';
import type { Tensor } from '../../engine/tensor.js';
import * as P from '../../index.js';
import { ViTPose, VIT_PRESETS } from '../../models/backbones/vit.js';
import { countMacsOf } from '../../models/nn/flops.js';
import { noInit } from '../../models/nn/init.js';
import { AdamW } from '../../models/nn/optim.js';
import { generateTarget } from '../../models/pose/data/targets.js';
import { FeatureCache, VREMD, createVREMD, vremdLoss, vremdMacs, vremdParamCount, vremdPreset, VREMD_PRESETS, type VREMDConfig } from '../../models/vremd/index.js';
import { assertClose } from '../helpers/close.js';

function targets(B: number, J: number, img: readonly [number, number], hm: readonly [number, number], seed: number): { target: Tensor; weight: Tensor } {
  let s = seed;
  const rnd = (): number => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
  const t = new Float32Array(B * J * hm[0] * hm[1]);
  const w = new Float32Array(B * J);
  for (let b = 0; b < B; b++) {
    const joints = Array.from({ length: J }, () => [rnd() * img[1], rnd() * img[0]]).flat();
    const vis = Array.from({ length: J }, (_, j) => (j % 5 === 4 ? 0 : 1));
    const g = generateTarget(joints, vis, { imageSize: [img[1], img[0]], heatmapSize: [hm[1], hm[0]], sigma: 1 });
    t.set(g.target, b * J * hm[0] * hm[1]);
    w.set(g.weight, b * J);
  }
  return { target: P.tensor(t, { shape: [B, J, hm[0], hm[1]] }), weight: P.tensor(w, { shape: [B, J, 1] }) };
}

describe('VREMD model', () => {
  it('tiny: frames [B, 3, 3, 64, 48] or a frame triple → heatmaps [B, 17, 16, 12], with every intermediate', () => {
    P.manualSeed(1);
    const m = createVREMD('tiny');
    tidy(() => {
      const x = P.randn([2, 3, 3, 64, 48]);
      const o = m.forwardDetailed({ frames: x });
      expect(o.heatmaps.shape).toEqual([2, 17, 16, 12]);
      expect(o.hk!.shape).toEqual([2, 17, 16, 12]);
      expect(o.hm.shape).toEqual([2, 17, 16, 12]);
      expect(o.features.shape).toEqual([2, 3, 12, 16]);
      expect(o.F!.shape).toEqual([2, 12, 16]);
      expect(o.M!.shape).toEqual([2, 12, 16]);
      expect(o.keyTokens!.shape).toEqual([2, 17, 16]);
      expect(o.humanMask!.shape).toEqual([2, 3, 12, 1]);
      expect(o.keypointMask!.shape).toEqual([2, 36, 1]);
      expect(o.pointsF!.shape).toEqual([2, 12, 2, 3, 2]);
      assertClose(o.heatmaps.dataSync(), P.add(o.hk!, o.hm).dataSync(), { atol: 0, rtol: 0 }, 'H_t = H_k + H_m');
      // Mask_k: each of the 3J keypoint tokens' softmax sums to 1 over the 3N tokens.
      expect(P.sum(o.keypointMask!, [1, 2]).dataSync().every((v) => Math.abs(v - 51) < 1e-3)).toBe(true);
      const frames = [0, 1, 2].map((i) => P.reshape(P.slice(x, 1, i, i + 1), [2, 3, 64, 48])) as [Tensor, Tensor, Tensor];
      assertClose(m.forward({ frames }).dataSync(), o.heatmaps.dataSync(), { atol: 0, rtol: 0 }, 'triple = stacked');
      assertClose(m.forward({ tokens: o.features }).dataSync(), o.heatmaps.dataSync(), { atol: 0, rtol: 0 }, 'from tokens');
    });
    m.dispose();
  });

  it('small: [1, 3, 3, 128, 96] → [1, 17, 32, 24]', () => {
    const m = createVREMD('small');
    tidy(() => {
      expect(m.forward({ frames: P.randn([1, 3, 3, 128, 96]) }).shape).toEqual([1, 17, 32, 24]);
    });
    m.dispose();
  });

  it('keeps the backbone frozen: no grad, eval mode in training, unchanged by optimizer steps; training lowers the loss', () => {
    P.manualSeed(2);
    const m = createVREMD('tiny').train();
    expect(m.training).toBe(true);
    expect(m.backbone.training).toBe(false);
    expect(m.backbone.parameters().every((p) => !p.requiresGrad)).toBe(true);
    const trainable = m.trainableParameters();
    expect(trainable.length + m.backbone.parameters().length).toBe(m.parameters().length);
    const frozenBefore = m.backbone.parameters().map((p) => p.dataSync().slice());
    const opt = new AdamW(trainable, { lr: 2e-3 });
    const x = P.randn([2, 3, 3, 64, 48]);
    const { target, weight } = targets(2, 17, [64, 48], [16, 12], 9);
    const losses: number[] = [];
    for (let step = 0; step < 6; step++) {
      const before = memory().numTensors;
      losses.push(
        tidy(() => {
          opt.zeroGrad();
          const loss = vremdLoss(m.forward({ frames: x }), target, weight);
          loss.backward();
          if (step === 0) {
            for (const p of m.backbone.parameters()) expect(p.grad).toBeNull();
            const named = m.namedParameters().filter(([k]) => !k.startsWith('backbone.'));
            for (const [k, p] of named) expect(p.grad, k).not.toBeNull();
            // With Deformable DETR's init (θ's weight 0) no gradient reaches ψ and W_z at the first
            // step; every other trainable tensor gets a non-zero gradient.
            const zero = named.filter(([, p]) => p.grad!.dataSync().every((v) => v === 0)).map(([k]) => k);
            expect(zero.every((k) => /dca\.(offset_conv|z_proj)\./.test(k)), zero.join(', ')).toBe(true);
          }
          opt.step();
          return loss.item();
        }),
      );
      if (step > 0) expect(memory().numTensors, `tensors leaked at step ${step}`).toBe(before);
    }
    console.log(`VREMD tiny, 6 AdamW steps (lr 2e-3) on one batch: loss ${losses.map((l) => l.toExponential(3)).join(' → ')}`);
    expect(losses[1]!).toBeLessThan(losses[0]!); // one step lowers the loss
    for (let i = 1; i < losses.length; i++) expect(losses[i]!, `step ${i}`).toBeLessThan(losses[i - 1]!); // and every later one
    m.backbone.parameters().forEach((p, i) => expect(Array.from(p.dataSync())).toEqual(Array.from(frozenBefore[i]!)));
    opt.zeroGrad();
    m.dispose();
  });

  it('caches backbone features by frame id (LRU), giving the same heatmaps with fewer backbone runs', () => {
    P.manualSeed(3);
    const m = createVREMD('tiny', { cacheSize: 4 }).eval();
    const clip = [0, 1, 2, 3].map(() => P.randn([1, 3, 64, 48]));
    const ids = ['v/0', 'v/1', 'v/2', 'v/3'];
    const win = (k: number) => ({ frames: [clip[k - 1]!, clip[k]!, clip[k + 1]!] as const, frameIds: [[ids[k - 1]!], [ids[k]!], [ids[k + 1]!]] });
    const plain = (k: number) => m.forward({ frames: [clip[k - 1]!, clip[k]!, clip[k + 1]!] });
    tidy(() => {
      const a = m.forward(win(1));
      expect(m.featureCache!.misses).toBe(3);
      assertClose(a.dataSync(), plain(1).dataSync(), { atol: 0, rtol: 0 }, 'window 1');
      const b = m.forward(win(2)); // frames 1 and 2 come from the cache
      expect(m.featureCache!.hits).toBe(2);
      expect(m.featureCache!.misses).toBe(4);
      assertClose(b.dataSync(), plain(2).dataSync(), { atol: 0, rtol: 0 }, 'window 2');
      const macs = countMacsOf(() => m.forward(win(2)));
      expect(macs.byOp.conv2d ?? 0).toBeLessThan(vremdMacs(m.cfg).backbone / 10); // no patch embedding ran
    });
    expect(m.featureCache!.size).toBe(4);
    const before = memory().numTensors;
    tidy(() => {
      m.forward({ frames: [clip[0]!, clip[0]!, clip[0]!], frameIds: [['w/0'], ['w/1'], ['w/2']] });
    });
    expect(m.featureCache!.size).toBe(4); // capacity kept: 3 evicted (and disposed), 3 added
    expect(memory().numTensors).toBe(before);
    m.featureCache!.clear();
    expect(memory().numTensors).toBe(before - 4);
    // A batch with some ids cached: only the missing rows are encoded.
    const x = P.randn([2, 3, 64, 48]);
    tidy(() => {
      const ref = m.forward({ frames: [x, x, x] });
      m.forward({ frames: [x, x, x], frameIds: [['a', 'b'], ['c', 'd'], ['e', 'f']] });
      const c = m.featureCache!;
      c.delete('b');
      c.delete('e');
      const out = m.forward({ frames: [x, x, x], frameIds: [['a', 'b'], ['c', 'd'], ['e', 'f']] });
      assertClose(out.dataSync(), ref.dataSync(), { atol: 0, rtol: 0 }, 'partly cached batch');
    });
    m.dispose();
  });

  it('FeatureCache rejects bad entries', () => {
    expect(() => new FeatureCache(0)).toThrow(/FeatureCache: expected a capacity as an integer ≥ 1, got 0/);
    const c = new FeatureCache(2);
    expect(() => c.set('a', P.zeros([1, 2, 3]))).toThrow(/FeatureCache.set: expected tokens of shape \[N, D\], got \[1, 2, 3\]/);
    expect(() => c.set('a', P.zeros([2, 3]).requiresGrad_())).toThrow(/frozen features/);
    const t = P.zeros([2, 3]);
    t.dispose();
    expect(() => c.set('a', t)).toThrow(/FeatureCache.set: expected a live tensor/);
  });

  it('ablation variants (paper Tables 4-5) build, run, and count as the cost model says', () => {
    const variants: [string, Partial<VREMDConfig>][] = [
      ['baseline (no HKME, no BMD)', { hkme: false, bmd: false }],
      ['HKME only', { bmd: false }],
      ['BMD only', { hkme: false }],
      ['no human mask', { humanMask: false }],
      ['no keypoint mask', { keypointMask: false }],
      ['shared directions', { shareDirections: true }],
    ];
    P.manualSeed(4);
    const x = P.randn([1, 3, 3, 64, 48]);
    for (const [name, v] of variants) {
      const m = createVREMD(vremdPreset('tiny', v)).eval();
      expect(m.numParameters(), name).toBe(vremdParamCount(m.cfg).total);
      tidy(() => {
        const o = m.forwardDetailed({ frames: x });
        expect(o.heatmaps.shape, name).toEqual([1, 17, 16, 12]);
        if (v.hkme === false) {
          expect(o.hk).toBeNull();
          assertClose(o.heatmaps.dataSync(), o.hm.dataSync(), { atol: 0, rtol: 0 }, `${name}: H_t = H_m`);
        }
        if (v.bmd === false) expect(o.M).toBeNull();
        if (v.humanMask === false) expect(o.humanMask).toBeNull();
        expect(countMacsOf(() => m.forward({ frames: x })).total, name).toBe(vremdMacs(m.cfg).total);
      });
      m.dispose();
    }
  });

  it('loads ViTPose weights: the backbone gives ViTPose tokens, and the baseline variant gives ViTPose heatmaps', () => {
    P.manualSeed(5);
    const vp = new ViTPose(VIT_PRESETS.tiny).eval();
    // Make the head's BN statistics non-trivial, so that copying them matters.
    for (const [k, b] of vp.namedBuffers()) if (k.endsWith('running_var')) b.assign(P.add(P.rand([...b.shape]), 0.5));
    const m = createVREMD(vremdPreset('tiny', { hkme: false, bmd: false })).eval();
    const r = m.loadViTPose(vp.stateDict());
    expect(r.backbone.missingKeys).toEqual([]);
    expect(r.head!.missingKeys).toEqual([]);
    tidy(() => {
      const x = P.randn([1, 3, 64, 48]);
      const o = m.forwardDetailed({ frames: [x, x, x] });
      assertClose(o.features.dataSync().slice(0, 12 * 16), vp.backbone.forwardTokens(x).dataSync(), { atol: 0, rtol: 0 }, 'tokens');
      assertClose(o.heatmaps.dataSync(), vp.forward(x).dataSync(), { atol: 1e-6, rtol: 1e-5 }, 'baseline = ViTPose');
    });
    const full = createVREMD('tiny');
    expect(() => full.loadViTPose(new Map([...vp.stateDict()].filter(([k]) => !k.includes('last_norm'))))).toThrow(/loadStateDict: expected the model's keys, got 2 missing \[last_norm.weight, last_norm.bias\]/);
    vp.dispose();
    m.dispose();
    full.dispose();
  });

  it('throws named errors on bad input and bad configurations', () => {
    const m = createVREMD('tiny');
    const f = P.zeros([1, 3, 64, 48]);
    expect(() => m.forward({ frames: [f, f] as never })).toThrow(/VREMD: expected frames as 3 tensors \(frames t-1, t, t\+1\) or one tensor, got 2 tensors/);
    expect(() => m.forward({ frames: [f, f, P.zeros([1, 3, 32, 48])] })).toThrow(/VREMD: expected frames of shape \[B, 3, 64, 48\], got \[1, 3, 32, 48\]/);
    expect(() => m.forward({ frames: [f, f, P.zeros([2, 3, 64, 48])] })).toThrow(/VREMD: expected frames of one batch size 1, got \[2, 3, 64, 48\]/);
    expect(() => m.forward({ frames: P.zeros([1, 2, 3, 64, 48]) })).toThrow(/VREMD: expected frames of shape \[B, 3, 3, H, W\]/);
    expect(() => m.forward({ tokens: P.zeros([1, 3, 12, 8]) })).toThrow(/VREMD: expected tokens of shape \[B, 3, 12, 16\], got \[1, 3, 12, 8\]/);
    expect(() => m.forward({ tokens: [P.zeros([1, 12, 16]), P.zeros([1, 12, 16]), P.zeros([1, 11, 16])] })).toThrow(/VREMD: expected tokens of shape \[B, 12, 16\] per frame, got \[1, 11, 16\]/);
    expect(() => m.forward({ frames: [f, f, f], frameIds: [['a'], ['b'], ['c']] })).toThrow(/VREMD: expected a feature cache .* when frameIds are given, got none/);
    expect(() => m.forward({} as never)).toThrow(/VREMD: expected an input \{ frames \} or \{ tokens \}, got an object with keys \[\]/);
    const d = P.zeros([1, 3, 64, 48]);
    d.dispose();
    expect(() => m.forward({ frames: [f, d, f] })).toThrow(/VREMD: expected frames\[1\] to be a live tensor/);
    expect(() => m.forward({ tokens: P.zeros([1, 3, 12, 16], { dtype: 'float64' }) })).toThrow(/VREMD: expected tokens as float32 on cpu \(the model's\), got float64 on cpu/);
    expect(() => m.forward({ frames: [f, f, P.zeros([1, 3, 64, 48], { dtype: 'float64' })] })).toThrow(/VREMD: expected frames as float32 on cpu \(the model's\), got float64 on cpu/);
    const dt = P.zeros([1, 3, 12, 16]);
    dt.dispose();
    expect(() => m.forward({ tokens: dt })).toThrow(/VREMD: expected tokens to be a live tensor, got tensor #\d+ \[1, 3, 12, 16\], which was disposed/);
    const c = createVREMD('tiny', { cacheSize: 2 });
    expect(() => c.forward({ frames: [f, f, f], frameIds: [['a'], ['b']] })).toThrow(/VREMD: expected frameIds as 3 arrays of 1 strings, got an array of length 2/);
    expect(() => createVREMD('huge')).toThrow(/vremdPreset: expected one of \[paper, small, tiny, real\], got 'huge'/);
    expect(() => createVREMD(vremdPreset('tiny', { numFrames: 5 as 3 }))).toThrow(/VREMD: expected numFrames 3/);
    expect(() => createVREMD(vremdPreset('tiny', { numHeads: 3 }))).toThrow(/VREMD: expected numHeads dividing the width D = 16, got 3/);
    expect(() => createVREMD(vremdPreset('tiny', { dca: { kernelSize: 2 } }))).toThrow(/VREMD: expected an odd dca.kernelSize, got 2/);
    expect(() => createVREMD(vremdPreset('tiny', { dca: { offsetRange: -1 } }))).toThrow(/VREMD: expected dca.offsetRange > 0 or null, got -1/);
    m.dispose();
    c.dispose();
  });

  it('paper preset: parameters (built under noInit) split into the frozen ViT-L and the trainable VREMD parts', () => {
    const cfg = VREMD_PRESETS.paper;
    const m = noInit(() => new VREMD(cfg));
    expect(m.sizes).toEqual({ grid: [16, 12], N: 192, D: 1024, T: 3, J: 17, heatmap: [64, 48] });
    const c = m.parameterCounts();
    const f = vremdParamCount(cfg);
    expect(c.frozen).toBe(f.frozen);
    expect(c.trainable).toBe(f.trainable);
    expect(m.trainableParameters().reduce((s, p) => s + p.size, 0)).toBe(c.trainable);
    // The frozen part is ViTPose-L without its head (308.5M with the 5.2M head, see vit.test.ts).
    expect(c.frozen).toBe(303_296_512);
    console.log(`VREMD paper: frozen ${c.frozen} (ViT-L), trainable ${c.trainable} (HKME ${f.humanMask + f.keypointMask + f.spatioTemporal + f.tokenReduction}, BMD ${f.bmd}, H_k ${f.tokenHead}, H_m ${f.motionHead}), total ${c.total}`);
    for (const name of ['small', 'tiny'] as const) {
      const s = createVREMD(name);
      expect(s.parameterCounts().trainable).toBe(vremdParamCount(s.cfg).trainable);
      expect(s.parameterCounts().frozen).toBe(vremdParamCount(s.cfg).frozen);
      s.dispose();
    }
    m.dispose();
  });

  it('FLOPs: countMacsOf on tiny and small equals the cost model, which gives the paper preset', () => {
    for (const name of ['tiny', 'small'] as const) {
      const m = createVREMD(name).eval();
      const [H, W] = m.cfg.backbone.imgSize;
      const x = P.randn([2, 3, 3, H, W]);
      const measured = countMacsOf(() => m.forward({ frames: x }));
      const model = vremdMacs(m.cfg, 2);
      expect(measured.total, name).toBe(model.total);
      const feats = noGrad(() => m.tokensOf({ frames: x }));
      expect(countMacsOf(() => m.forward({ tokens: feats })).total, `${name} from tokens`).toBe(vremdMacs(m.cfg, 2, { fromTokens: true }).total);
      console.log(`VREMD ${name}: ${(model.total / 2 / 1e9).toFixed(4)} GMACs per sample (backbone ${(model.backbone / 2 / 1e9).toFixed(4)}, VREMD ${(model.vremd / 2 / 1e9).toFixed(4)})`);
      feats.dispose();
      x.dispose();
      m.dispose();
    }
    const p = vremdMacs(VREMD_PRESETS.paper);
    console.log(`VREMD paper (cost model): ${(p.total / 1e9).toFixed(2)} GMACs per sample: backbone ${(p.backbone / 1e9).toFixed(2)} (3 frames), HKME ${(p.hkme / 1e9).toFixed(2)}, BMD ${(p.bmd / 1e9).toFixed(2)}, heads ${(p.heads / 1e9).toFixed(2)}`);
    expect(p.total).toBe(p.backbone + p.hkme + p.bmd + p.heads);
  });
});
