/**
 * The GLPose network: shapes at the tiny preset and in the paper's ablation settings, input errors,
 * a float64 gradcheck of the whole network for its input crops, invariance to the candidates' order,
 * one training step lowering the loss, the frozen backbone, memory hygiene, and the split of the data
 * pipeline's frames.
 */
import { describe, expect, it } from 'vitest';
import { engine, manualSeed, noGrad, tidy } from '../../engine/engine.js';
import type { Tensor } from '../../engine/tensor.js';
import { rand, randn, tensor } from '../../ops/creation.js';
import { flip } from '../../ops/shape.js';
import { countMacsOf } from '../../models/nn/flops.js';
import { Adam } from '../../models/nn/optim.js';
import { selectFrames } from '../../models/pose/data/frames.js';
import { GLPOSE_PRESETS, createGLPose, glposeFrameSelection, glposeWindows, glposeInputsFromFrames, glposeLoss, glposePreset, type GLPoseInput } from '../../models/glpose/index.js';
import { assertClose } from '../helpers/close.js';
import { gradcheck } from '../helpers/gradcheck.js';
import { randomize } from './helpers.js';

function crops(B: number, k: number, G: number, H: number, W: number, dtype: 'float32' | 'float64' = 'float32'): GLPoseInput & { key: Tensor; locals: Tensor; globals: Tensor } {
  return { key: randn([B, 3, H, W], { dtype }), locals: randn([B, 2 * k, 3, H, W], { dtype }), globals: randn([B, G, 3, H, W], { dtype }) };
}

describe('GLPose shapes', () => {
  it('tiny: heatmaps [B, 17, H/4, W/4] and every intermediate of Eqs 2-5', () => {
    manualSeed(1);
    tidy(() => {
      const m = createGLPose('tiny');
      const out = m.forwardDetailed(crops(2, 1, 3, 64, 64));
      expect(out.heatmaps.shape).toEqual([2, 17, 16, 16]);
      expect(out.vt.shape).toEqual([2, 4, 16, 16]);
      expect(out.s.shape).toEqual([2, 4, 16, 16]);
      expect(out.f.shape).toEqual([2, 4, 16, 16]);
      expect(out.mask!.shape).toEqual([2, 1, 16, 16]);
      expect(Array.from(out.localWeights)).toEqual([0.5, 0.5, 0.5, 0.5]);
      expect(out.globalScores!.shape).toEqual([2, 3]);
      expect(out.globalIndices!.shape).toEqual([2, 2]);
      expect(out.globalIndices!.dtype).toBe('int32');
      const wg = out.globalWeights!.dataSync();
      expect(wg[0]! + wg[1]!).toBeCloseTo(1, 6);
      expect(m.feature_processing.inChannels).toBe(5 * 4);
      // non-square crops
      expect(m.forward(crops(1, 1, 2, 96, 64)).shape).toEqual([1, 17, 24, 16]);
      m.dispose();
    });
  });

  it("the paper's ablations: k = 0, n = 0, no Feature Enhancement, 1x1 and 5x5 heads", () => {
    manualSeed(2);
    tidy(() => {
      const k0 = createGLPose('tiny', { localFrames: 0 });
      expect(k0.forward({ key: randn([1, 3, 32, 32]), globals: randn([1, 3, 3, 32, 32]) }).shape).toEqual([1, 17, 8, 8]);
      expect(k0.feature_processing.inChannels).toBe(3 * 4);
      const n0 = createGLPose('tiny', { globalFrames: 0 });
      const o = n0.forwardDetailed({ key: randn([1, 3, 32, 32]), locals: randn([1, 2, 3, 32, 32]) });
      expect(o.heatmaps.shape).toEqual([1, 17, 8, 8]);
      expect(o.globalIndices).toBeNull();
      // with n = 0, candidate crops passed anyway are not run through the backbone
      const x0 = { key: randn([1, 3, 32, 32]), locals: randn([1, 2, 3, 32, 32]) };
      expect(countMacsOf(() => n0.forward({ ...x0, globals: randn([1, 3, 3, 32, 32]) })).total).toBe(countMacsOf(() => n0.forward(x0)).total);
      const noFe = createGLPose('tiny', { featureEnhancement: false });
      expect(noFe.feature_enhancement).toBeNull();
      expect([...noFe.stateDict().keys()].some((key) => key.startsWith('feature_enhancement'))).toBe(false);
      const r = noFe.forwardDetailed(crops(1, 1, 3, 32, 32));
      expect(r.mask).toBeNull();
      expect(r.f).toBe(r.s);
      for (const headKernel of [1, 5] as const) {
        const h = createGLPose('tiny', { headKernel });
        expect(h.head.weight.shape).toEqual([17, 4, headKernel, headKernel]);
        expect(h.forward(crops(1, 1, 3, 32, 32)).shape).toEqual([1, 17, 8, 8]);
      }
    });
  });

  it('rejects bad inputs, naming the expected and received values', () => {
    tidy(() => {
      const m = createGLPose('tiny');
      const x = crops(2, 1, 3, 64, 64);
      expect(() => m.forward({ ...x, key: randn([2, 3, 64]) })).toThrow('GLPose: expected key of shape [B, 3, H, W], got shape [2, 3, 64]');
      expect(() => m.forward({ ...x, key: randn([2, 1, 64, 64]) })).toThrow('GLPose: expected key of shape [B, 3, H, W], got shape [2, 1, 64, 64]');
      expect(() => m.forward(crops(1, 1, 3, 48, 64))).toThrow('GLPose: expected crops whose height and width are positive multiples of 32, got 48x64');
      expect(() => m.forward({ ...x, locals: randn([2, 4, 3, 64, 64]) })).toThrow('GLPose: expected locals of shape [2, 2, 3, 64, 64], got shape [2, 4, 3, 64, 64]');
      expect(() => m.forward({ ...x, locals: null })).toThrow('GLPose: expected locals to be a Tensor, got null');
      expect(() => m.forward({ ...x, globals: randn([2, 1, 3, 64, 64]) })).toThrow('GLPose: expected globals of shape [2, G ≥ 2, 3, 64, 64], got shape [2, 1, 3, 64, 64]');
      expect(() => m.forward({ ...x, globals: randn([1, 3, 3, 64, 64]) })).toThrow('GLPose: expected globals of shape [2, G ≥ 2, 3, 64, 64], got shape [1, 3, 3, 64, 64]');
      expect(() => m.forward({ ...x, localOffsets: [-1, 1, 2] })).toThrow('localDistanceWeights: expected 2 local offsets, got 3');
      const gone = randn([2, 3, 64, 64]);
      gone.dispose();
      expect(() => m.forward({ ...x, key: gone })).toThrow(/GLPose: expected key to be a live tensor, got tensor #\d+ float32\[2, 3, 64, 64\], which was disposed/);
      expect(() => m.forward({ ...x, key: randn([2, 3, 64, 64], { dtype: 'float64' }) })).toThrow('concat: expected tensors of one dtype, got float64 and float32');
    });
  });

  it('rejects invalid configurations', () => {
    expect(() => createGLPose('tiny', { globalCandidates: 1 })).toThrow('GLPose: expected globalCandidates as an integer ≥ 2, got 1');
    expect(() => createGLPose('tiny', { localFrames: -1 })).toThrow('GLPose: expected localFrames as an integer ≥ 0, got -1');
    expect(() => createGLPose('tiny', { inputSize: [64, 60] })).toThrow('GLPose: expected inputSize [width, height] of positive multiples of 32, got [64, 60]');
    expect(() => createGLPose('tiny', { headKernel: 7 as 3 })).toThrow('GLPose: expected headKernel 1, 3 or 5, got 7');
    expect(() => createGLPose('tiny', { processingBlocks: 0 })).toThrow('GLPose: expected processingBlocks as an integer ≥ 1, got 0');
    expect(() => glposePreset('huge')).toThrow("glposePreset: expected one of [paper, small, tiny, real], got 'huge'");
  });
});

describe('GLPose gradients and training', () => {
  it('passes a float64 gradcheck of the whole network for the key, local and global crops (training mode)', () => {
    manualSeed(3);
    tidy(() => {
      const m = createGLPose('tiny');
      randomize(m);
      m.train();
      const x = crops(1, 1, 3, 32, 32, 'float64');
      const offsets = [[-1, 2]];
      gradcheck((key, locals, globals) => m.forward({ key, locals, globals, localOffsets: offsets }), [x.key, x.locals, x.globals], { atol: 1e-7, rtol: 1e-5, maxPerInput: 10 });
      m.dispose();
    });
  });

  it('does not depend on the order of the global candidates (the ranking sorts them)', () => {
    manualSeed(4);
    tidy(() => {
      const m = createGLPose('tiny');
      randomize(m, 'float32');
      m.eval();
      const x = crops(2, 1, 3, 32, 32);
      const a = m.forwardDetailed(x);
      const b = m.forwardDetailed({ ...x, globals: flip(x.globals, [1]) });
      assertClose(b.heatmaps.dataSync(), a.heatmaps.dataSync(), { atol: 1e-6, rtol: 1e-5 }, 'heatmaps');
      expect(Array.from(b.globalIndices!.dataSync())).toEqual(Array.from(a.globalIndices!.dataSync()).map((i) => 2 - i));
    });
  });

  it('one Adam step (lr 1e-3, the paper init) lowers the loss; unused backbone parameters get no gradient', () => {
    manualSeed(5);
    const m = createGLPose('tiny');
    m.train();
    const x = crops(2, 1, 3, 64, 64);
    x.globals.requiresGrad_(true);
    const target = rand([2, 17, 16, 16]);
    const weight = tensor(new Float32Array(34).fill(1), { shape: [2, 17, 1] });
    const opt = new Adam(m.trainableParameters(), { lr: 1e-3 });
    const lossOf = (): number => tidy(() => glposeLoss(m.forward(x), target, weight).item());
    const before = tidy(() => {
      const loss = glposeLoss(m.forward(x), target, weight);
      loss.backward();
      return loss.item();
    });
    // Exactly the parameters the model declares unused get no gradient (stage 4, and the last
    // stage-3 module's fusions into branches 1 and 2).
    let unused = 0;
    for (const [name, p] of m.namedParameters()) {
      expect(p.grad === null, name).toBe(!m.usesParameter(name));
      if (!m.usesParameter(name)) unused++;
    }
    expect(m.usesParameter('backbone.stage3.0.fuse_layers.1.0.0.0.weight')).toBe(false);
    expect(m.usesParameter('backbone.stage3.0.fuse_layers.0.1.0.weight')).toBe(true);
    expect(unused).toBeGreaterThan(0);
    // (The global candidates all get gradients here: in training mode the backbone's BatchNorm
    // couples every crop of the batch through its statistics. In eval mode an unselected candidate
    // gets exactly zero: see the parity test.)
    expect(x.globals.grad).not.toBeNull();
    opt.step();
    m.zeroGrad();
    const after = lossOf();
    expect(after).toBeLessThan(before);
    m.dispose();
  });

  it('a frozen backbone gets no gradients, stays in eval mode, and the head still learns', () => {
    manualSeed(6);
    const m = createGLPose('tiny', { freezeBackbone: true });
    m.train();
    expect(m.backbone.training).toBe(false);
    expect(m.feature_processing.training).toBe(true);
    expect(m.trainableParameters().length).toBe(m.parameters().length - m.backbone.parameters().length);
    tidy(() => {
      const x = crops(1, 1, 3, 32, 32);
      glposeLoss(m.forward(x), rand([1, 17, 8, 8]), tensor(new Float32Array(17).fill(1), { shape: [1, 17, 1] })).backward();
    });
    expect(m.backbone.parameters().every((p) => p.grad === null)).toBe(true);
    expect(m.trainableParameters().every((p) => p.grad !== null)).toBe(true);
    const bnStats = m.backbone.bn1.runningMean!.dataSync().slice();
    tidy(() => m.forward(crops(1, 1, 3, 32, 32)));
    expect(Array.from(m.backbone.bn1.runningMean!.dataSync())).toEqual(Array.from(bnStats));
    expect(GLPOSE_PRESETS.paper.freezeBackbone).toBe(true);
    m.dispose();
  });

  it('a forward and backward pass inside tidy() leaves engine.memory() where it started', () => {
    manualSeed(7);
    const m = createGLPose('tiny');
    m.train();
    const x = crops(1, 1, 3, 32, 32);
    const target = rand([1, 17, 8, 8]);
    const w = tensor(new Float32Array(17).fill(1), { shape: [1, 17, 1] });
    const step = (): void => tidy(() => {
      glposeLoss(m.forward(x), target, w).backward();
    });
    step();
    const before = engine.memory();
    step();
    noGrad(() => tidy(() => {
      m.forwardDetailed(x);
    }));
    step();
    const after = engine.memory();
    expect(after.numTensors).toBe(before.numTensors);
    expect(after.numBytes).toBe(before.numBytes);
    m.zeroGrad();
    m.dispose();
  });
});

describe('GLPose and the data pipeline', () => {
  it('splits frames.ts GLPose samples into key, locals (with their true offsets) and global candidates', () => {
    tidy(() => {
      const cfg = glposePreset('paper');
      expect(glposeFrameSelection(cfg)).toEqual({ kind: 'localGlobal', local: 4, global: 20 });
      // key frame 2 of a 60-frame video: t−3 and t−4 are clamped to frame 0
      const sel = selectFrames(glposeFrameSelection(cfg), 2, 60, false);
      expect(sel.positions.length).toBe(1 + 8 + 20);
      const T = sel.positions.length;
      const images = tensor(Float32Array.from({ length: T * 3 * 32 * 32 }, (_, i) => Math.floor(i / (3 * 32 * 32))), { shape: [1, T, 3, 32, 32] });
      const x = glposeInputsFromFrames(images, cfg, [sel.positions]);
      expect(x.key.shape).toEqual([1, 3, 32, 32]);
      expect(x.locals!.shape).toEqual([1, 8, 3, 32, 32]);
      expect(x.globals!.shape).toEqual([1, 20, 3, 32, 32]);
      expect(x.key.dataSync()[0]).toBe(0);
      expect(x.locals!.dataSync()[0]).toBe(1);
      expect(x.globals!.dataSync()[0]).toBe(9);
      expect(x.localOffsets).toEqual([[-1, 1, -2, 2, -2, 3, -2, 4]]);
      // without positions the nominal offsets apply
      expect(glposeInputsFromFrames(images, cfg).localOffsets).toBeUndefined();
      expect(() => glposeInputsFromFrames(images, { localFrames: 4, globalFrames: 21 })).toThrow('glposeInputsFromFrames: expected images of shape [B, T ≥ 30, 3, H, W], got shape [1, 29, 3, 32, 32]');
      expect(() => glposeInputsFromFrames(images, cfg, [[1, 2]])).toThrow('glposeInputsFromFrames: expected 1 position lists of 29 frames, got 1 lists of [2]');
    });
  });

  it('windows over a clip (for the demo) and forwardFrames', () => {
    manualSeed(8);
    tidy(() => {
      const cfg = glposePreset('tiny');
      const w = glposeWindows(5, cfg);
      expect(w.length).toBe(5);
      expect(w[0]).toEqual({ frames: [0, 0, 1, 2, 3, 4], outputs: [0] });
      expect(w[2]).toEqual({ frames: [2, 1, 3, 0, 4, 4], outputs: [2] });
      expect(() => glposeWindows(0, cfg)).toThrow('glposeWindows: expected numFrames as an integer ≥ 1, got 0');
      const m = createGLPose(cfg).eval();
      const images = randn([1, 6, 3, 32, 32]);
      const positions = [w[0]!.frames];
      const a = m.forwardFrames(images, positions);
      const b = m.forward(glposeInputsFromFrames(images, cfg, positions));
      expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
      expect(a.shape).toEqual([1, 17, 8, 8]);
      m.dispose();
    });
  });
});
