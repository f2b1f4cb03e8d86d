/**
 * GLPose size and cost: `glposeCost` against the built models (parameters) and against `countMacsOf`
 * over full forward passes (MACs) at the tiny and small presets; the exactness of the H·W scaling
 * used for the backbone; the unused stage-3 fusions; and the paper preset's figures (parameters from
 * a model built under noInit, MACs from the scaled 32x32 measurement plus the analytic modules).
 */
import { describe, expect, it } from 'vitest';
import { manualSeed } from '../../engine/engine.js';
import { randn, zeros } from '../../ops/creation.js';
import { HRNet, HRNET_PRESETS } from '../../models/backbones/hrnet.js';
import { countMacsOf } from '../../models/nn/flops.js';
import { noInit } from '../../models/nn/init.js';
import type { Module } from '../../models/nn/module.js';
import type { TensorModule } from '../../models/nn/layers.js';
import { GLPose, glposeCost, glposePreset, unusedFusionMacs, type GLPoseConfig } from '../../models/glpose/index.js';

function fullForwardMacs(cfg: GLPoseConfig, B = 1): number {
  manualSeed(1);
  const m = noInit(() => new GLPose(cfg)).eval();
  const [W, H] = cfg.inputSize;
  const k = 2 * cfg.localFrames;
  const G = cfg.globalCandidates;
  const r = countMacsOf(() => m.forward({ key: randn([B, 3, H, W]), locals: randn([B, k, 3, H, W]), globals: randn([B, G, 3, H, W]) }));
  m.dispose();
  return r.total;
}

describe('glposeCost against the models', () => {
  it('parameters: total and used equal the built tiny and small models', () => {
    for (const name of ['tiny', 'small']) {
      const cfg = glposePreset(name);
      const m = noInit(() => new GLPose(cfg));
      const c = glposeCost(cfg);
      expect(c.params.total, name).toBe(m.numParameters());
      expect(c.params.used, name).toBe(m.numParametersUsed());
      expect(c.params.backbone, name).toBe(m.backbone.numParameters());
      expect(c.params.head, name).toBe(m.head.numParameters());
      expect(c.params.processing, name).toBe(m.feature_processing.numParameters());
      expect(c.params.enhancement, name).toBe(m.feature_enhancement!.numParameters());
      m.dispose();
    }
  });

  it('MACs: equal countMacsOf over a full forward (tiny at 64x64 and 64x96, small at 64x64, no enhancement, selected-only)', () => {
    const cases: GLPoseConfig[] = [
      glposePreset('tiny'),
      glposePreset('tiny', { inputSize: [96, 64] }),
      glposePreset('small', { inputSize: [64, 64] }),
      glposePreset('tiny', { featureEnhancement: false, headKernel: 5, localFrames: 2 }),
    ];
    for (const cfg of cases) expect(glposeCost(cfg).macs.total, JSON.stringify(cfg.inputSize)).toBe(fullForwardMacs(cfg));
    // B = 2 doubles everything
    expect(fullForwardMacs(cases[0]!, 2)).toBe(2 * glposeCost(cases[0]!).macs.total);
    // With G = n nothing is left out: totalSelectedOnly is the forward's cost
    const gn = glposePreset('tiny', { globalCandidates: 2 });
    const c = glposeCost(gn);
    expect(c.macs.totalSelectedOnly).toBe(c.macs.total);
    expect(glposeCost(glposePreset('tiny')).macs.totalSelectedOnly).toBe(c.macs.total);
  });

  it('the backbone MACs up to stage 3 scale exactly with H·W (inputs divisible by 32)', () => {
    const bb = noInit(() => new HRNet(HRNET_PRESETS.small)).eval();
    const at = (h: number, w: number): number => countMacsOf(() => bb.forwardFeatures(zeros([1, 3, h, w]), 3)).total;
    const base = at(32, 32);
    expect(at(64, 32)).toBe(2 * base);
    expect(at(96, 64)).toBe(6 * base);
    expect(at(128, 96)).toBe(12 * base);
    bb.dispose();
  });

  it('unusedFusionMacs equals the MACs of the last stage-3 module’s fusions into branches 1 and 2', () => {
    for (const cfg of [HRNET_PRESETS.tiny, HRNET_PRESETS.small]) {
      const bb = noInit(() => new HRNet(cfg)).eval();
      const mods = new Map<string, Module>(bb.namedModules());
      const last = (cfg.stageModules?.[1] ?? 4) - 1;
      const [H, W] = [64, 96];
      const ch = [cfg.width, 2 * cfg.width, 4 * cfg.width];
      const measured = countMacsOf(() => {
        for (let i = 1; i < 3; i++) for (let j = 0; j < 3; j++) {
          if (i === j) continue;
          const m = mods.get(`stage3.${last}.fuse_layers.${i}.${j}`) as TensorModule;
          m.forward(zeros([1, ch[j]!, H / 4 / 2 ** j, W / 4 / 2 ** j]));
        }
      }).total;
      expect(unusedFusionMacs(cfg, H, W)).toBe(measured);
      bb.dispose();
    }
  });
});

describe('the paper preset (HRNet-W48 stage 3 at 384x288, k = 4, n = 6 of 20)', () => {
  it('parameters (built under noInit) and MACs per sample', () => {
    const cfg = glposePreset('paper');
    const m = noInit(() => new GLPose(cfg));
    const c = glposeCost(cfg);
    expect(c.params.total).toBe(m.numParameters());
    expect(c.params.used).toBe(m.numParametersUsed());
    // HRNet-W48: 63.6M (Sun et al. 2019)
    expect(Math.abs(c.params.backbone / 63.6e6 - 1)).toBeLessThan(0.001);
    expect(m.feature_processing.inChannels).toBe(720);
    // The modules, independently: Feature Processing 720→48 (3 blocks), Enhancement ψ + 2 blocks
    // from 96 channels, 3x3 head, all at 96x72.
    const hw = 96 * 72;
    expect(c.macs.processing).toBe(hw * (9 * 720 * 48 + 9 * 48 * 48 + 720 * 48 + 4 * 9 * 48 * 48));
    expect(c.macs.enhancement).toBe(hw * (9 * 48 * 48 + 48 + 9 * 96 * 48 + 9 * 48 * 48 + 96 * 48 + 2 * 9 * 48 * 48));
    expect(c.macs.head).toBe(hw * 9 * 48 * 17);
    expect(c.params.head).toBe(9 * 48 * 17 + 17);
    expect(c.macs.crops).toBe(29);
    expect(c.macs.total).toBe(c.macs.backbonePerCrop * 29 + c.macs.processing + c.macs.enhancement + c.macs.head);
    expect(c.macs.totalSelectedOnly).toBe(c.macs.backbonePerCrop * 15 + c.macs.processing + c.macs.enhancement + c.macs.head);
    expect(c.featureSize).toEqual([96, 72]);
    // The stage-3 backbone is most of HRNet-W48's 35.5 GMACs; the last module's unused fusions are small.
    expect(c.macs.backbonePerCrop / 1e9).toBeGreaterThan(19);
    expect(c.macs.backbonePerCrop / 1e9).toBeLessThan(22);
    expect(c.macs.unusedFusionPerCrop / c.macs.backbonePerCrop).toBeLessThan(0.05);
    m.dispose();
  });
});
