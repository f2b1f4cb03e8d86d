/**
 * The FaSRnet model: forward shapes at `tiny`, a short training run that lowers the loss (with
 * cached backbone features, as the frozen backbone allows) without leaking tensors, the loss's α
 * weighting, parameter counts and MACs of every preset set beside the paper's Table 5, and the
 * analytic MAC count checked against the convolutions a real forward runs.
 */
import { describe, expect, it } from 'vitest';
import { manualSeed, memory, noGrad, tidy } from '../../engine/engine.js';
import type { Tensor } from '../../engine/tensor.js';
import { rand, randn } from '../../ops/creation.js';
import { jointsMseLoss } from '../../ops/loss.js';
import { HRNet, HRNET_PRESETS } from '../../models/backbones/hrnet.js';
import { Adam } from '../../models/nn/optim.js';
import { noInit } from '../../models/nn/init.js';
import { Conv2d } from '../../models/nn/layers.js';
import { DCNv2Pack, FASRNET_PRESETS, FaSRnet, PCNDeformConv, createFaSRnet, fasrnetCost, fasrnetLoss, fasrnetPreset, hrnetCost, type FaSRnetConfig } from '../../models/fasrnet/index.js';
import { fromFormula } from './helpers.js';

/** Gaussian heatmaps (σ = 2) at joint-dependent positions: [B, K, h, w]. */
function gaussianTargets(B: number, K: number, h: number, w: number): Tensor {
  return fromFormula([B, K, h, w], ([b, k, i, j]) => {
    const cy = 3 + ((k! * 5 + b! * 3) % (h - 6));
    const cx = 3 + ((k! * 7 + b! * 2) % (w - 6));
    return Math.exp(-((i! - cy) ** 2 + (j! - cx) ** 2) / 8);
  }, 'float32');
}

describe('FaSRnet forward and training', () => {
  it('tiny: frames [2, 3, 64, 64] → H^r and H^final [2, 4, 16, 16]; the current frame can be its own neighbour', () => {
    manualSeed(1);
    tidy(() => {
      const m = createFaSRnet('tiny').eval();
      const cur = rand([2, 3, 64, 64]);
      const out = noGrad(() => m.forward({ cur, prev: rand([2, 3, 64, 64]), next: rand([2, 3, 64, 64]), wPrev: 0.5, wNext: 0.5 }));
      expect(out.hr.shape).toEqual([2, 4, 16, 16]);
      expect(out.hFinal.shape).toEqual([2, 4, 16, 16]);
      expect(m.heatmapSize).toEqual([16, 16]);
      // clip border: prev = cur with w_prev 0 (marginWeights(0, 1)); still finite
      const b = noGrad(() => m.forward({ cur, prev: cur, next: rand([2, 3, 64, 64]), wPrev: 0, wNext: 1 }));
      expect(Array.from(b.hFinal.dataSync()).every(Number.isFinite)).toBe(true);
      m.dispose();
    });
  });

  it('four Adam steps on cached backbone features lower the loss at every step, and a step leaks no tensor', () => {
    manualSeed(2);
    const m = createFaSRnet('tiny').train();
    const B = 2;
    const feats = tidy(() => {
      const f = m.backbone({ cur: rand([B, 3, 64, 64]), prev: rand([B, 3, 64, 64]), next: rand([B, 3, 64, 64]) });
      return { fCur: f.fCur, fPrev: f.fPrev, fNext: f.fNext, hPrev: f.hPrev, hNext: f.hNext };
    });
    const target = gaussianTargets(B, 4, 16, 16);
    const tw = fromFormula([B, 4, 1], ([b, k]) => (b === 1 && k === 3 ? 0 : 1), 'float32');
    const opt = new Adam(m.trainableParameters(), { lr: 1e-3 });
    const losses: number[] = [];
    const live: number[] = [];
    for (let step = 0; step < 4; step++) {
      tidy(() => {
        opt.zeroGrad();
        const loss = fasrnetLoss(m.forwardHead(feats, 0.5, 0.5), target, tw);
        losses.push(loss.item());
        loss.backward();
        opt.step();
      });
      live.push(memory().numTensors);
    }
    console.log(`FaSRnet tiny: loss over 4 Adam steps (lr 1e-3): ${losses.map((l) => l.toExponential(4)).join(' → ')}`);
    // Every step lowers the loss (the official init starts the head near zero output, so the first
    // steps move it slowly: about 0.4% per step at lr 1e-3).
    for (let i = 1; i < losses.length; i++) expect(losses[i]!).toBeLessThan(losses[i - 1]!);
    expect(losses[3]!).toBeLessThan(losses[0]! * 0.995);
    // After the optimizer state exists (step 1 on), the live tensor count is constant.
    expect(live.slice(1).every((n) => n === live[1])).toBe(true);
    for (const t of [target, tw, ...Object.values(feats)]) t.dispose();
    m.dispose();
  });

  it('the loss is α·JointsMSE(H^r) + (1−α)·JointsMSE(H^final) (Eq 19)', () => {
    tidy(() => {
      const hr = randn([2, 3, 4, 4]);
      const hFinal = randn([2, 3, 4, 4]);
      const t = rand([2, 3, 4, 4]);
      const w = rand([2, 3, 1]);
      const a = jointsMseLoss(hr, t, w).item();
      const b = jointsMseLoss(hFinal, t, w).item();
      expect(fasrnetLoss({ hr, hFinal }, t, w).item()).toBeCloseTo(0.4 * a + 0.6 * b, 6);
      expect(fasrnetLoss({ hr, hFinal }, t, w, 1).item()).toBeCloseTo(a, 6);
      expect(fasrnetLoss({ hr, hFinal }, t, null, 0).item()).toBeCloseTo(jointsMseLoss(hFinal, t, null, { useTargetWeight: false }).item(), 6);
      expect(() => fasrnetLoss({ hr, hFinal }, t, w, 1.5)).toThrow(/^fasrnetLoss: expected alpha in \[0, 1\], got 1.5$/);
    });
  });
});

describe('FaSRnet size and cost (paper Table 5: HRNet 63.6M / 35.54 GFLOPs, FaSRnet 65.23M / 117.66 GFLOPs)', () => {
  it('paper preset: 65.40M parameters; the paper\'s 65.23M is this count without the FRM DCNs\' own weights', () => {
    const cfg = FASRNET_PRESETS.paper;
    const m = noInit(() => new FaSRnet(cfg));
    const n = m.numParameters();
    const c = fasrnetCost(cfg);
    expect(c.params.total).toBe(n);
    const backbone = m.rough_pose_estimation_net.numParameters();
    expect(c.params.backbone).toBe(backbone);
    // The DCN_2 weight and bias sit on a module with a child (conv_offset_mask): a counter that
    // visits leaf modules only (thop's profile) skips them. 8 of them: 4 per alignment instance.
    const dcnOwn = m.namedModules().filter(([, x]) => x instanceof DCNv2Pack).reduce((s, [, x]) => s + (x as DCNv2Pack).weight.size + (x as DCNv2Pack).bias.size, 0);
    console.log(
      `FaSRnet paper: ${n} parameters (${(n / 1e6).toFixed(2)}M; paper 65.23M): backbone ${(backbone / 1e6).toFixed(2)}M (paper 63.6M), ` +
        `FRM alignment ${c.params.frm}, TSA fusion ${c.params.fusion}, final layer ${c.params.finalLayer}, SRM ${c.params.srm}; ` +
        `without the DCN_2 weights (leaf-module count, as thop): ${((n - dcnOwn) / 1e6).toFixed(3)}M`,
    );
    expect(Math.abs(n / 65.23e6 - 1)).toBeLessThan(0.005); // within 0.5% of the paper
    expect(Math.abs(backbone / 63.6e6 - 1)).toBeLessThan(0.001);
    expect(dcnOwn).toBe(8 * (48 * 48 * 9 + 48));
    expect(((n - dcnOwn) / 1e6).toFixed(2)).toBe('65.23');
    m.dispose();
  });

  it('MACs of every preset; HRNet-W48 and the whole model within 1% of the paper', () => {
    const rows: string[] = [];
    for (const name of ['paper', 'small', 'tiny'] as const) {
      const c = fasrnetCost(FASRNET_PRESETS[name]);
      const g = (v: number): string => (v / 1e9).toFixed(name === 'tiny' ? 4 : 2);
      rows.push(`${name}: ${(c.params.total / 1e6).toFixed(3)}M params, ${g(c.macs.total)} GMACs (backbone ${g(c.macs.backbonePerFrame)} per frame ×3, FRM ${g(c.macs.frm)}, fusion ${g(c.macs.fusion)}, SRM ${g(c.macs.srm)})`);
    }
    console.log(`FaSRnet cost (conv MACs, one sample of 3 frames):\n  ${rows.join('\n  ')}`);
    const p = fasrnetCost(FASRNET_PRESETS.paper);
    expect(Math.abs(p.macs.backbonePerFrame / 35.54e9 - 1)).toBeLessThan(0.01);
    expect(Math.abs(p.macs.total / 117.66e9 - 1)).toBeLessThan(0.01);
    // the official quirk enlarges the dilated offset convs (27 x 104 x 80 instead of 96 x 72)
    const q = fasrnetCost({ ...FASRNET_PRESETS.paper, offsetPaddingQuirk: 'batch' });
    expect(q.macs.frm).toBeGreaterThan(p.macs.frm);
    expect(q.params.total).toBe(p.params.total);
    // ... which the official variant turns on
    expect(fasrnetCost({ ...FASRNET_PRESETS.paper, variant: 'official' })).toEqual(q);
    expect(fasrnetCost({ ...FASRNET_PRESETS.paper, variant: 'paper' })).toEqual(p);
  });

  it('hrnetCost counts exactly the parameters of the HRNet module (tiny, small, W32)', () => {
    for (const cfg of [HRNET_PRESETS.tiny, HRNET_PRESETS.small, HRNET_PRESETS.w32]) {
      const m = noInit(() => new HRNet(cfg));
      expect(hrnetCost(cfg, 256, 192).params).toBe(m.numParameters());
      m.dispose();
    }
  });

  it('the analytic MACs equal those of the convolutions a real forward runs (tiny and small configs, quirk off and on)', () => {
    const configs: [string, FaSRnetConfig][] = [
      ['tiny', FASRNET_PRESETS.tiny],
      ['tiny + quirk', { ...FASRNET_PRESETS.tiny, offsetPaddingQuirk: 'batch' }],
      ['tiny 17 joints, ptm conv', fasrnetPreset('tiny', { numJoints: 17, ptmBlocks: 0, combineBlocks: 1, inputSize: [32, 64] })],
    ];
    for (const [label, cfg] of configs) {
      const m = createFaSRnet(cfg).eval();
      const [w, h] = cfg.inputSize;
      expect(countForwardMacs(m, h, w), label).toBe(fasrnetCost(cfg).macs.total);
      m.dispose();
    }
    // switching a built model to the official variant pads its offset convs as the quirk does, and back
    const m = createFaSRnet('tiny').eval();
    const [w, h] = FASRNET_PRESETS.tiny.inputSize;
    expect(m.useVariant('official')).toEqual(["alignmentInputOrder 'paper' → 'official'", "offsetPaddingQuirk 'off' → 'batch'"]);
    expect(countForwardMacs(m, h, w)).toBe(fasrnetCost({ ...FASRNET_PRESETS.tiny, offsetPaddingQuirk: 'batch' }).macs.total);
    expect(fasrnetCost(m.cfg)).toEqual(fasrnetCost({ ...FASRNET_PRESETS.tiny, offsetPaddingQuirk: 'batch' }));
    expect(m.useVariant('paper')).toEqual(["alignmentInputOrder 'official' → 'paper'", "offsetPaddingQuirk 'batch' → 'off'"]);
    expect(countForwardMacs(m, h, w)).toBe(fasrnetCost(FASRNET_PRESETS.tiny).macs.total);
    m.dispose();
  });
});

/**
 * MACs of one sample's forward, measured: Conv2d, DCNv2Pack and PCNDeformConv forwards are
 * wrapped (for the duration of the call) to add Cout·(Cin/groups)·kh·kw·Ho·Wo from the shapes that
 * actually flow. The batch of 3 frames counts 3× the backbone, as the analytic count.
 */
function countForwardMacs(m: FaSRnet, H: number, W: number): number {
  let macs = 0;
  const conv = Conv2d.prototype.forward;
  const dcn = DCNv2Pack.prototype.forward;
  const pcn = PCNDeformConv.prototype.forward;
  Conv2d.prototype.forward = function (this: Conv2d, x: Tensor): Tensor {
    const y = conv.call(this, x);
    const [co, cig, kh, kw] = this.weight.shape as [number, number, number, number];
    macs += co * cig * kh * kw * y.shape[2]! * y.shape[3]! * y.shape[0]!;
    return y;
  };
  DCNv2Pack.prototype.forward = function (this: DCNv2Pack, x: Tensor, feat: Tensor): Tensor {
    const y = dcn.call(this, x, feat);
    macs += this.weight.size * y.shape[2]! * y.shape[3]! * y.shape[0]!;
    return y;
  };
  PCNDeformConv.prototype.forward = function (this: PCNDeformConv, x: Tensor, o: Tensor, k: Tensor): Tensor {
    const y = pcn.call(this, x, o, k);
    macs += this.deform_conv.weight.size * y.shape[2]! * y.shape[3]! * y.shape[0]!;
    return y;
  };
  try {
    noGrad(() => tidy(() => void m.forward({ cur: rand([1, 3, H, W]), prev: rand([1, 3, H, W]), next: rand([1, 3, H, W]) })));
  } finally {
    Conv2d.prototype.forward = conv;
    DCNv2Pack.prototype.forward = dcn;
    PCNDeformConv.prototype.forward = pcn;
  }
  return macs;
}

