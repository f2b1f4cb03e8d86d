/**
 * The four networks on any backbone through the backbone interface, and their `real` presets (the
 * frozen pretrained MoveNet Lightning under a residual head):
 * - with a small random SinglePose MoveNet (fast on cpu): the untrained network outputs exactly the
 *   backbone's heatmaps (the residual start), nothing reaches or changes the frozen MoveNet, a few
 *   Adam steps lower the loss and then reach the whole head, keys keep the papers' names, and a
 *   weights file rebuilds the network (MoveNet included) from its own metadata; the same on HRNet,
 *   SimpleBaseline and ViTPose backbones;
 * - with the shipped Lightning (on wasm when it starts): each preset's parameter split, and its
 *   untrained output on real crops of the bundled clip equals MoveNet's own heatmaps.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DeviceName } from '../../backends/backend.js';
import { manualSeed, noGrad, tidy } from '../../engine/engine.js';
import type { Tensor } from '../../engine/tensor.js';
import { rand, randn, tensor } from '../../ops/creation.js';
import { add, mul } from '../../ops/elementwise.js';
import { jointsMseLoss } from '../../ops/loss.js';
import { reshape, slice, stack } from '../../ops/shape.js';
import { moveNetBackbone, type BackboneSpec } from '../../models/backbones/backbone.js';
import { HRNET_PRESETS } from '../../models/backbones/hrnet.js';
import { VIT_PRESETS } from '../../models/backbones/vit.js';
import { FaSRnet, fasrnetLoss, fasrnetPreset } from '../../models/fasrnet/index.js';
import { GLPose, glposePreset } from '../../models/glpose/index.js';
import { MOVENET_CONFIGS, type MoveNetConfig } from '../../models/movenet/config.js';
import { moveNetFromSafetensors } from '../../models/movenet/load.js';
import type { MoveNet } from '../../models/movenet/movenet.js';
import { Adam } from '../../models/nn/optim.js';
import type { Module } from '../../models/nn/module.js';
import { writeSafetensors, type HostTensor } from '../../models/nn/safetensors.js';
import { boxToCenterScale, cropPersonArray } from '../../models/pose/affine.js';
import { decodeImage } from '../../models/pose/image.js';
import { RPSTN, rpstnLoss } from '../../models/rpstn/model.js';
import { rpstnPreset } from '../../models/rpstn/presets.js';
import { createVREMD, vremdPreset, type VREMD } from '../../models/vremd/index.js';
import { moduleFromSafetensors, moduleMetadata } from '../../models/weights-file.js';
import { availableDevices } from '../helpers/devices.js';

const ROOT = join(import.meta.dirname, '..', '..');

/** A SinglePose MoveNet small enough for the cpu backend: 64x64 input (16x16 maps), width 0.25, 8 FPN channels. */
const TINY_MOVENET: MoveNetConfig = { ...MOVENET_CONFIGS.lightning, variant: 'custom', inputSize: [64, 64], alpha: 0.25, lastChannels: 16, fpnChannels: [8, 8, 8, 8], headChannels: 4 };
const TINY_SPEC: BackboneSpec = { kind: 'movenet', config: TINY_MOVENET, heatmaps: 'centered' };

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

const frozenKeys = (m: Module, prefix: string): [string, Tensor][] => m.namedParameters().filter(([k]) => k.startsWith(prefix));

/** One network on the tiny MoveNet: how to build it, run it and what its backbone says. */
interface Case {
  name: string;
  /** The state-dict prefix of the frozen MoveNet. */
  prefix: string;
  build(): Module & { trainableParameters(): Tensor[] };
  /** Inputs for one batch: frames [B, T, 3, 64, 64]. */
  frames: number;
  /** The network's output [B, (T,) K, 16, 16] for frames [B, T, 3, H, W]. */
  run(m: Module, x: Tensor): Tensor;
  /** The backbone heatmaps the output starts as: [B, (T,) K, 16, 16]. */
  base(m: Module, x: Tensor): Tensor;
  loss(m: Module, x: Tensor, target: Tensor): Tensor;
}

const frame = (x: Tensor, t: number): Tensor => {
  const [B, , C, H, W] = x.shape as [number, number, number, number, number];
  return reshape(slice(x, 1, t, t + 1), [B, C, H, W]);
};
const weights17 = (B: number): Tensor => tensor(new Float32Array(B * 17).fill(1), { shape: [B, 17, 1] });

const CASES: Case[] = [
  {
    name: 'FaSRnet',
    prefix: 'rough_pose_estimation_net.',
    build: () => new FaSRnet(fasrnetPreset('real', { backbone: TINY_SPEC, inputSize: [64, 64] })),
    frames: 3,
    run: (m, x) => (m as FaSRnet).forward({ cur: frame(x, 0), prev: frame(x, 1), next: frame(x, 2) }).hFinal,
    base: (m, x) => (m as FaSRnet).poseBackbone.forward(frame(x, 0)).heatmaps,
    loss: (m, x, t) => fasrnetLoss((m as FaSRnet).forward({ cur: frame(x, 0), prev: frame(x, 1), next: frame(x, 2) }), t, weights17(t.shape[0]!)),
  },
  {
    name: 'VREMD',
    prefix: 'feature_backbone.',
    build: () =>
      createVREMD(vremdPreset('real', { backbone: { imgSize: [16, 16], inChannels: 8, patchSize: 4, patchPadding: 0, embedDim: 16, depth: 0, numHeads: 2 }, featureBackbone: TINY_SPEC, numHeads: 2, headChannels: 8, dca: { heads: 2 } }), { cacheSize: 16 }),
    frames: 3,
    run: (m, x) => (m as VREMD).forward({ frames: x }),
    base: (m, x) => (m as VREMD).poseBackbone!.forward(frame(x, 1)).heatmaps,
    loss: (m, x, t) => jointsMseLoss((m as VREMD).forward({ frames: x }), t, weights17(t.shape[0]!)),
  },
  {
    name: 'GLPose',
    prefix: 'backbone.',
    build: () => new GLPose(glposePreset('real', { backbone: TINY_SPEC, inputSize: [64, 64], localFrames: 1, globalFrames: 2, globalCandidates: 3 })),
    frames: 6,
    run: (m, x) => (m as GLPose<Module>).forwardFrames(x),
    base: (m, x) => (m as GLPose<Module>).poseBackbone.forward(frame(x, 0)).heatmaps,
    loss: (m, x, t) => jointsMseLoss((m as GLPose<Module>).forwardFrames(x), t, weights17(t.shape[0]!)),
  },
  {
    name: 'RPSTN',
    prefix: 'backbone.',
    build: () => new RPSTN(rpstnPreset('real', { backbone: TINY_SPEC, inputSize: [64, 64], numFrames: 3 })),
    frames: 3,
    run: (m, x) => (m as RPSTN).forward(x),
    base: (m, x) => stack([0, 1, 2].map((t) => (m as RPSTN).initializerBackbone.forward(frame(x, t)).heatmaps), 1),
    loss: (m, x, t) => rpstnLoss((m as RPSTN).forward(x), stack([t, t, t], 1)),
  },
];

describe('the networks on a MoveNet backbone (small random MoveNet)', () => {
  for (const c of CASES) {
    it(`${c.name}: starts as a copy of the backbone's heatmaps, in eval and training mode`, () => {
      manualSeed(1);
      const m = c.build();
      const x = randn([2, c.frames, 3, 64, 64]);
      for (const mode of ['eval', 'train'] as const) {
        m.train(mode === 'train');
        tidy(() => {
          const out = noGrad(() => c.run(m, x));
          const base = noGrad(() => c.base(m, x));
          expect(out.shape).toEqual(base.shape);
          expect(maxAbsDiff(out.dataSync(), base.dataSync()), mode).toBe(0);
        });
      }
      m.dispose();
    });

    it(`${c.name}: the MoveNet stays frozen (no gradient, unchanged, eval mode); Adam lowers the loss and then reaches the whole head`, () => {
      manualSeed(2);
      const m = c.build();
      m.train();
      const frozen = frozenKeys(m, c.prefix);
      expect(frozen.length).toBeGreaterThan(100);
      const trainable = new Set(m.trainableParameters());
      for (const [, p] of frozen) expect(trainable.has(p)).toBe(false);
      expect(trainable.size).toBe(m.parameters().length - frozen.length);
      const before = frozen.map(([, p]) => Float32Array.from(p.dataSync()));
      const x = randn([2, c.frames, 3, 64, 64]);
      const target = rand([2, 17, 16, 16]);
      const opt = new Adam([...trainable], { lr: 1e-3 });
      const losses: number[] = [];
      for (let step = 0; step < 4; step++) {
        const l = tidy(() => {
          const loss = c.loss(m, x, target);
          loss.backward();
          return loss.dataSync()[0]!;
        });
        losses.push(l);
        for (const [, p] of frozen) expect(p.grad).toBeNull();
        if (step === 1) {
          // after the first step moved the zero-initialized last layers, gradients reach (almost) every trainable tensor
          const got = [...trainable].filter((p) => p.grad && p.grad.dataSync().some((v) => v !== 0)).length;
          expect(got / trainable.size, `${got} of ${trainable.size}`).toBeGreaterThan(0.8);
        }
        opt.step();
        m.zeroGrad();
      }
      expect(losses[3]!, losses.join(' → ')).toBeLessThan(losses[0]!);
      frozen.forEach(([k, p], i) => expect(Array.from(p.dataSync()), k).toEqual(Array.from(before[i]!)));
      expect(m.namedModules().find(([n]) => n === c.prefix.slice(0, -1))![1].training).toBe(false);
      m.dispose();
    });

    it(`${c.name}: a weights file rebuilds it, MoveNet included, from its own metadata`, () => {
      manualSeed(3);
      const m = c.build();
      m.eval();
      const x = randn([1, c.frames, 3, 64, 64]);
      // move the output away from the copy first, so that the whole head is compared
      for (const p of m.parameters()) {
        if (!p.requiresGrad) continue;
        const moved = noGrad(() => add(mul(randn([...p.shape]), 0.05), p));
        p.assign(moved);
        moved.dispose();
      }
      const host = new Map<string, HostTensor>([...m.stateDict()].map(([k, t]) => [k, { dtype: t.dtype === 'int32' ? 'int32' : 'float32', shape: [...t.shape], data: Float32Array.from(t.dataSync()) } as HostTensor]));
      const { module } = moduleFromSafetensors(writeSafetensors(host, moduleMetadata(m)));
      tidy(() => {
        expect(maxAbsDiff(noGrad(() => c.run(module, x)).dataSync(), noGrad(() => c.run(m, x)).dataSync())).toBeLessThan(1e-5);
      });
      m.dispose();
      module.dispose();
    });
  }

  it('keys: the papers\' head names beside the MoveNet under the network\'s backbone name', () => {
    const f = CASES[0]!.build();
    const keys = [...f.stateDict().keys()];
    for (const k of ['rough_pose_estimation_net.backbone.conv1.weight', 'rough_pose_estimation_net.head.keypoint_heatmap.out.weight', 'rough_pose_estimation_net.center_weight', 'pcda_p.offset_conv1.l3.weight', 'TSA_Fusion.feat_fusion.weight', 'final_layer.weight', 'hm_improve.masks_list.0.0.weight']) expect(keys, k).toContain(k);
    const r = CASES[3]!.build();
    const rk = [...r.stateDict().keys()];
    expect(rk.some((k) => k.startsWith('pose_net.') || k.startsWith('fea_ext.') || k.startsWith('bn_u.'))).toBe(false);
    for (const k of ['backbone.fpn.smooth4.depthwise.weight', 'conv1x1_reduce_dim.weight', 'pose_conv1x1_U.weight', 'bn.running_mean', 'dkd_param_adapter.0.weight', 'non_local_conv2d.g.weight']) expect(rk, k).toContain(k);
    f.dispose();
    r.dispose();
  });

  it('any backbone: FaSRnet on ViTPose, GLPose on SimpleBaseline, RPSTN and VREMD on HRNet (residual starts are copies)', () => {
    manualSeed(4);
    const vit: BackboneSpec = { kind: 'vitpose', config: { ...VIT_PRESETS.tiny, imgSize: [64, 64] } };
    const sbl: BackboneSpec = { kind: 'simplebaseline', config: { block: 'basic', layers: [1, 1, 1, 1], widths: [4, 4, 8, 8], stemChannels: 4, deconvChannels: 8, numJoints: 17 } };
    const hr: BackboneSpec = { kind: 'hrnet', config: HRNET_PRESETS.tiny };
    const x = randn([1, 6, 3, 64, 64]);
    const cases: [string, Module, () => Tensor, () => Tensor][] = [];
    const f = new FaSRnet(fasrnetPreset('real', { backbone: vit, inputSize: [64, 64] }));
    cases.push(['FaSRnet/ViTPose', f, () => f.forward({ cur: frame(x, 0), prev: frame(x, 1), next: frame(x, 2) }).hFinal, () => f.poseBackbone.forward(frame(x, 0)).heatmaps]);
    const g = new GLPose(glposePreset('real', { backbone: sbl, inputSize: [64, 64], localFrames: 1, globalFrames: 2, globalCandidates: 3 }));
    cases.push(['GLPose/SimpleBaseline', g, () => g.forwardFrames(x), () => g.poseBackbone.forward(frame(x, 0)).heatmaps]);
    const r = new RPSTN(rpstnPreset('real', { backbone: hr, inputSize: [64, 64], numFrames: 3 }));
    const clip3 = slice(x, 1, 0, 3);
    cases.push(['RPSTN/HRNet', r, () => r.forward(clip3), () => stack([0, 1, 2].map((t) => r.initializerBackbone.forward(frame(x, t)).heatmaps), 1)]);
    const v = createVREMD(vremdPreset('real', { backbone: { imgSize: [16, 16], inChannels: 4, patchSize: 4, patchPadding: 0, embedDim: 16, depth: 1, numHeads: 2 }, featureBackbone: hr, numHeads: 2, headChannels: 8, dca: { heads: 2 } }));
    cases.push(['VREMD/HRNet', v, () => v.forward({ frames: clip3 }), () => v.poseBackbone!.forward(frame(x, 1)).heatmaps]);
    for (const [name, m, run, base] of cases) {
      m.eval();
      tidy(() => {
        const a = noGrad(run);
        const b = noGrad(base);
        expect(a.shape, name).toEqual(b.shape);
        expect(maxAbsDiff(a.dataSync(), b.dataSync()), name).toBe(0);
      });
      expect(m.parameters().filter((p) => !p.requiresGrad).length, `${name}: a frozen backbone`).toBeGreaterThan(0);
      m.dispose();
    }
  });

  it('configurations that cannot work are refused, naming what was expected', () => {
    expect(() => new FaSRnet(fasrnetPreset('real', { backbone: TINY_SPEC }))).toThrow(/^FaSRnet: expected inputSize \[64, 64\] \(what MoveNet custom \(frozen\) takes\), got \[192, 192\]$/);
    expect(() => new RPSTN({ ...rpstnPreset('tiny'), residual: true })).toThrow(/^RPSTN: expected residual only with a backbone/);
    expect(() => new RPSTN({ ...rpstnPreset('real'), initializer: rpstnPreset('tiny').initializer })).toThrow(/^RPSTN: expected either backbone or initializer \+ extractor, got both$/);
    expect(() => createVREMD({ ...vremdPreset('tiny'), residual: true })).toThrow(/^VREMD: expected residual only with a featureBackbone/);
    expect(() => createVREMD(vremdPreset('real', { featureBackbone: TINY_SPEC }))).toThrow(/^VREMD: expected a token ViT over MoveNet custom \(frozen\)'s features \(imgSize \[16, 16\], inChannels 8\), got imgSize \[48, 48\], inChannels 24$/);
  });
});

describe('the `real` presets on the shipped MoveNet Lightning', async () => {
  const device: DeviceName = (await availableDevices('real presets')).includes('wasm') ? 'wasm' : 'cpu';
  const movenet: MoveNet = moveNetFromSafetensors(new Uint8Array(readFileSync(join(ROOT, 'assets', 'weights', 'movenet', 'lightning.safetensors'))));

  /** Crops [1, T, 3, 192, 192] of person 1 of the bundled clip, frames 1..T (ImageNet-normalized). */
  const clip = (T: number): Tensor => {
    const boxes = JSON.parse(readFileSync(join(ROOT, 'assets', 'demo', 'boxes.json'), 'utf8')) as { frames: { file: string; persons: { box: number[] }[] }[] };
    const cs = boxToCenterScale(boxes.frames[2]!.persons[0]!.box, 1, { padding: 1.6 });
    const data = new Float32Array(T * 3 * 192 * 192);
    for (let t = 0; t < T; t++) {
      const f = boxes.frames[Math.min(t, 4)]!;
      data.set(cropPersonArray(decodeImage(new Uint8Array(readFileSync(join(ROOT, 'assets', 'demo', f.file)))), cs, [192, 192]), t * 3 * 192 * 192);
    }
    return tensor(data, { shape: [1, T, 3, 192, 192], device });
  };

  it('parameters: trainable head vs frozen MoveNet, and the untrained output is MoveNet\'s heatmaps on real crops', () => {
    const bb = moveNetBackbone(movenet.to(device));
    const nets: [string, Module & { trainableParameters(): Tensor[] }, number, (m: Module, x: Tensor) => Tensor, (x: Tensor) => Tensor][] = [
      ['fasrnet', new FaSRnet(fasrnetPreset('real'), { movenet }), 3, (m, x) => (m as FaSRnet).forward({ cur: frame(x, 1), prev: frame(x, 0), next: frame(x, 2) }).hFinal, (x) => bb.forward(frame(x, 1)).heatmaps],
      ['vremd', createVREMD('real', { movenet }), 3, (m, x) => (m as VREMD).forward({ frames: x }), (x) => bb.forward(frame(x, 1)).heatmaps],
      ['glpose', new GLPose(glposePreset('real'), { movenet }), 11, (m, x) => (m as GLPose<Module>).forwardFrames(x), (x) => bb.forward(frame(x, 0)).heatmaps],
      ['rpstn', new RPSTN(rpstnPreset('real'), { movenet }), 5, (m, x) => (m as RPSTN).forward(x), (x) => stack([0, 1, 2, 3, 4].map((t) => bb.forward(frame(x, t)).heatmaps), 1)],
    ];
    const rows: string[] = [];
    for (const [name, m, T, run, base] of nets) {
      m.to(device).eval();
      const trainable = m.trainableParameters().reduce((s, p) => s + p.size, 0);
      const frozen = m.numParameters() - trainable;
      expect(frozen, name).toBe(movenet.numParameters());
      rows.push(`${name}: ${trainable} trainable + ${frozen} frozen (MoveNet Lightning) = ${m.numParameters()}`);
      const x = clip(T);
      tidy(() => {
        const out = noGrad(() => run(m, x)).dataSync();
        const ref = noGrad(() => base(x)).dataSync();
        expect(maxAbsDiff(out, ref), name).toBe(0);
        expect(Array.from(ref).reduce((a, b) => Math.max(a, b), 0), name).toBeGreaterThan(0.3); // a person is there
      });
      x.dispose();
    }
    console.log(`real presets on ${device}:\n  ${rows.join('\n  ')}`);
  });
});
