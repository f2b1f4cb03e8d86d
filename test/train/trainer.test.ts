/**
 * The training loop (models/train/trainer.ts) and the per-model adapters on a tiny SynthPose set
 * written to a temporary folder (2 training clips, 1 validation clip, 6 frames of 96x96):
 * a 2-step run lowers the loss on its own first batch and writes a checkpoint, the weights and the
 * metrics; a run stopped at step 2 and resumed computes exactly the losses and weights of the
 * uninterrupted run; every temporal adapter trains one step (the loss of that batch goes down),
 * predicts the frames it claims, loads its baseline and keeps its frozen backbone frozen.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { manualSeed, noGrad, tidy } from '../../engine/engine.js';
import { Rng } from '../../engine/random.js';
import { readSafetensors } from '../../models/nn/safetensors.js';
import { TopDownDataset } from '../../models/pose/data/dataset.js';
import { createAdapter, staticBatch, type ModelName } from '../../models/train/adapters.js';
import { cachedFrameLoader, ensureSynthPose, loadSplit, type DataSplit } from '../../models/train/data.js';
import { RECIPES, TRAIN_AUGMENT } from '../../models/train/recipes.js';
import { defaultConfig, epochOrder, mixSeed, readInitWeights, train, trainingSamples, type TrainData } from '../../models/train/trainer.js';
import { Adam } from '../../models/nn/optim.js';

const root = mkdtempSync(join(tmpdir(), 'posegrad-train-'));
const dataDir = join(root, 'data');
let split: DataSplit;
let data: TrainData;

beforeAll(() => {
  ensureSynthPose(dataDir, { trainClips: 2, valClips: 1, frames: 6, size: [96, 96], seed: 5 });
  split = loadSplit(dataDir);
  data = { train: split.train, val: split.val, loadFrame: cachedFrameLoader(), dir: dataDir };
});

describe('SynthPose data folder', () => {
  it('writes split.json and splits by clip', () => {
    const s = JSON.parse(readFileSync(join(dataDir, 'split.json'), 'utf8'));
    expect(s.train).toEqual(['000000', '000001']);
    expect(s.val).toEqual(['000002']);
    expect(split.train.map((v) => v.id)).toEqual(['000000', '000001']);
    expect(split.val.map((v) => v.id)).toEqual(['000002']);
    expect(split.val[0]!.frames.every((f) => f.flags !== undefined)).toBe(true);
  });

  it('generates nothing the second time, and refuses another spec in the same folder', () => {
    expect(ensureSynthPose(dataDir, { trainClips: 2, valClips: 1, frames: 6, size: [96, 96], seed: 5 })).toBe(0);
    expect(() => ensureSynthPose(dataDir, { trainClips: 3, valClips: 1, frames: 6, size: [96, 96], seed: 5 })).toThrow(/^ensureSynthPose: expected a folder generated with .*"trainClips":3.*, got .* holding .*"trainClips":2/);
  });
});

describe('train (baseline, tiny)', () => {
  it('a 2-step run lowers the loss of its first batch and writes a checkpoint, the weights and the metrics', async () => {
    const out = join(root, 'two-steps');
    const config = defaultConfig('baseline', { steps: 2, batchSize: 4, outDir: out, evalStride: 1 });
    // the loss of step 1's batch, before and after training, in training mode (batch statistics)
    const firstBatchLoss = (r: { adapter: ReturnType<typeof createAdapter> } | null): number => {
      const a = r ? r.adapter : (manualSeed(config.seed), createAdapter('baseline', 'tiny'));
      const ds = new TopDownDataset(data.train, { jointSet: a.jointSet, loadFrame: data.loadFrame, inputSize: a.inputSize, frames: a.frames, train: true, augment: TRAIN_AUGMENT, supervise: 'annotated' });
      const rng = new Rng(mixSeed(config.seed, 2, 0));
      const samples = epochOrder(ds.length, config.seed, 0).slice(0, 4).map((i) => ds.sample(i, rng));
      a.module.train();
      return noGrad(() => tidy(() => a.loss(ds.collate(samples)).item()));
    };
    const before = firstBatchLoss(null);
    const r = await train(config, data);
    expect(r.history.map((h) => h.step)).toEqual([1, 2]);
    expect(r.history[0]!.loss).toBe(before); // the run's step 1 saw exactly this batch, from the same weights
    const after = firstBatchLoss(r);
    expect(after).toBeLessThan(before);
    for (const f of ['last.safetensors', 'weights.safetensors', 'metrics.json']) expect(existsSync(join(out, f))).toBe(true);
    const ck = readSafetensors(new Uint8Array(readFileSync(join(out, 'last.safetensors'))));
    expect(JSON.parse(ck.metadata.posegrad!).epoch).toBe(2);
    expect([...ck.tensors.keys()].some((k) => k.startsWith('optimizer.'))).toBe(true);
    const m = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
    expect(m.final.step).toBe(2);
    expect(m.final.stride).toBe(1);
    expect(m.history).toHaveLength(2);
  });
});

describe('train --resume', () => {
  for (const model of ['baseline', 'vremd'] as const) {
    it(`${model}: stopped after step 2 and resumed, it computes exactly the uninterrupted run`, async () => {
      const base = { steps: 4, batchSize: 2, evalStride: 1, seed: 3 };
      const full = await train(defaultConfig(model, { ...base, outDir: join(root, `${model}-full`) }), data);
      const partDir = join(root, `${model}-part`);
      const part = await train(defaultConfig(model, { ...base, outDir: partDir, stopAfter: 2 }), data);
      expect(part.step).toBe(2);
      expect(part.final).toBeNull();
      expect(existsSync(join(partDir, 'weights.safetensors'))).toBe(false);
      const resumed = await train(defaultConfig(model, { ...base, outDir: partDir }), data, {}, join(partDir, 'last.safetensors'));
      expect(resumed.history.map((h) => h.step)).toEqual([1, 2, 3, 4]);
      // steps 3 and 4 ran after the restore: same losses and learning rates, bit for bit
      expect(resumed.history.map((h) => [h.loss, h.lr])).toEqual(full.history.map((h) => [h.loss, h.lr]));
      const a = full.adapter.module.stateDict();
      const b = resumed.adapter.module.stateDict();
      expect([...b.keys()]).toEqual([...a.keys()]);
      for (const [k, t] of a) expect(Array.from(b.get(k)!.dataSync()), k).toEqual(Array.from(t.dataSync()));
      expect(resumed.final!.mAP).toEqual(full.final!.mAP);
    });
  }

  it('refuses a checkpoint of another configuration', async () => {
    const dir = join(root, 'baseline-part');
    await expect(train(defaultConfig('baseline', { steps: 5, batchSize: 2, seed: 3, outDir: join(root, 'other') }), data, {}, join(dir, 'last.safetensors'))).rejects.toThrow(
      /^train --resume: expected a checkpoint of this configuration .*"steps":5.*, got .*"steps":4/,
    );
  });
});

describe('adapters: one training step of each temporal network', () => {
  /** A plain (unaugmented) batch of 2 samples for the adapter's frame selection. */
  const batchFor = (a: ReturnType<typeof createAdapter>) => {
    const ds = new TopDownDataset(data.train, { jointSet: a.jointSet, loadFrame: data.loadFrame, inputSize: a.inputSize, frames: a.frames, train: false, supervise: 'annotated' });
    return ds.collate([ds.sample(0), ds.sample(5)]);
  };

  // `at`: where the baseline's keys live inside the temporal network
  const cases: { model: ModelName; arch: 'hrnet' | 'vitpose' | 'simplebaseline'; at: string[]; frozen: string | null; frames: number; outputs: number[]; heatmap: [number, number] }[] = [
    { model: 'fasrnet', arch: 'hrnet', at: ['rough_pose_estimation_net.'], frozen: 'rough_pose_estimation_net.', frames: 3, outputs: [0], heatmap: [16, 16] },
    { model: 'vremd', arch: 'vitpose', at: [''], frozen: 'backbone.', frames: 3, outputs: [1], heatmap: [16, 12] },
    { model: 'glpose', arch: 'hrnet', at: ['backbone.'], frozen: null, frames: 6, outputs: [0], heatmap: [16, 16] },
    { model: 'rpstn', arch: 'simplebaseline', at: ['pose_net.', 'fea_ext.'], frozen: null, frames: 3, outputs: [0, 1, 2], heatmap: [32, 32] },
  ];
  for (const c of cases) {
    it(`${c.model}: loads its ${c.arch} baseline, lowers the loss of a batch in one step, predicts its frames`, () => {
      manualSeed(1);
      const baseline = createAdapter('baseline', 'tiny', { arch: c.arch });
      const a = createAdapter(c.model, 'tiny');
      expect(a.baselineArch).toBe(c.arch);
      a.initFromBaseline(baseline.module.stateDict());
      // the baseline's weights are now inside the temporal network
      const own = a.module.stateDict();
      for (const [name, w] of baseline.module.namedParameters()) {
        for (const prefix of c.at) {
          if (prefix === 'fea_ext.' && name.startsWith('final_layer.')) continue; // the extractor has no joint head
          const key = prefix + name.replace(/^keypoint_head\./, 'motion_head.'); // VREMD's H_m is ViTPose's head
          expect(own.has(key), key).toBe(true);
          expect(Array.from(own.get(key)!.dataSync()), key).toEqual(Array.from(w.dataSync()));
        }
      }
      const trainable = new Set(a.trainableParameters());
      const frozen = a.module.namedParameters().filter(([k]) => c.frozen !== null && k.startsWith(c.frozen));
      if (c.frozen) {
        expect(frozen.length).toBeGreaterThan(0);
        for (const [, p] of frozen) expect(trainable.has(p)).toBe(false);
      } else {
        expect(trainable.size).toBe(a.module.parameters().length);
      }
      const frozenBefore = frozen.map(([, p]) => Float32Array.from(p.dataSync()));

      const batch = batchFor(a);
      expect(batch.images.shape[1]).toBe(c.frames);
      a.module.train();
      const opt = new Adam(a.trainableParameters(), { lr: RECIPES[c.model].lr });
      const l0 = tidy(() => {
        const l = a.loss(batch);
        l.backward();
        return l.item();
      });
      expect(Number.isFinite(l0)).toBe(true);
      opt.step();
      opt.zeroGrad();
      const l1 = noGrad(() => tidy(() => a.loss(batch).item()));
      expect(l1).toBeLessThan(l0);
      frozen.forEach(([k, p], i) => expect(Array.from(p.dataSync()), k).toEqual(Array.from(frozenBefore[i]!)));

      a.module.eval();
      tidy(() => {
        const preds = noGrad(() => a.predict(batch));
        expect(preds.map((p) => p.t)).toEqual(c.outputs);
        for (const p of preds) {
          expect(p.heatmaps.shape).toEqual([2, 17, ...c.heatmap]);
          expect(p.priority).toHaveLength(2);
        }
      });
      a.clearCache();
      a.module.dispose();
      baseline.module.dispose();
    });
  }

  it('the frozen backbones\' cache returns the features it stored (no recomputation on a second pass)', () => {
    manualSeed(2);
    const a = createAdapter('fasrnet', 'tiny');
    const batch = batchFor(a);
    a.module.eval();
    const first = noGrad(() => tidy(() => Array.from(a.predict(batch)[0]!.heatmaps.dataSync())));
    const s1 = a.cacheStats()!;
    expect(s1.hits + s1.misses).toBe(6);
    const second = noGrad(() => tidy(() => Array.from(a.predict(batch)[0]!.heatmaps.dataSync())));
    const s2 = a.cacheStats()!;
    expect(s2.misses).toBe(s1.misses);
    expect(s2.hits).toBe(s1.hits + 6);
    expect(second).toEqual(first);
    const plain = createAdapter('fasrnet', 'tiny', { cacheFeatures: false });
    plain.module.loadStateDict(a.module.stateDict());
    plain.module.eval();
    expect(noGrad(() => tidy(() => Array.from(plain.predict(batch)[0]!.heatmaps.dataSync())))).toEqual(first);
    expect(plain.cacheStats()).toBeNull();
    a.clearCache();
  });
});

describe('--init weights', () => {
  it('reads a baseline of the right architecture and refuses another', async () => {
    const w = join(root, 'two-steps', 'weights.safetensors');
    const sd = await readInitWeights(w, 'hrnet');
    expect(sd.has('final_layer.weight')).toBe(true);
    await expect(readInitWeights(w, 'vitpose')).rejects.toThrow(/^train --init: expected weights of the single-frame vitpose baseline, got baseline \(hrnet\) in /);
    const ck = await readInitWeights(join(root, 'two-steps', 'last.safetensors'), 'hrnet');
    expect([...ck.keys()]).toEqual([...sd.keys()]);
  });

  it('counts the training samples of a split', () => {
    expect(trainingSamples(split.train)).toBeGreaterThan(10);
  });
});

describe('staticBatch (the no-temporal-input control)', () => {
  it('replaces every frame, target and crop of a sample by its key frame\'s', () => {
    for (const model of ['rpstn', 'vremd', 'fasrnet'] as const) {
      manualSeed(4);
      const a = createAdapter(model, 'tiny');
      const ds = new TopDownDataset(data.train, { jointSet: a.jointSet, loadFrame: data.loadFrame, inputSize: a.inputSize, frames: a.frames, train: false, supervise: 'annotated' });
      tidy(() => {
        const b = ds.collate([ds.sample(2), ds.sample(7)]);
        const s = staticBatch(b);
        const k = b.meta[0]!.key;
        const T = b.images.shape[1]!;
        expect(s.images.shape).toEqual(b.images.shape);
        const img = b.images.toArray() as number[][][];
        const simg = s.images.toArray() as number[][][];
        const tgt = b.targets.toArray() as number[][][];
        const stgt = s.targets.toArray() as number[][][];
        for (let i = 0; i < 2; i++) {
          for (let t = 0; t < T; t++) {
            expect(simg[i]![t]).toEqual(img[i]![k]);
            expect(stgt[i]![t]).toEqual(tgt[i]![k]);
          }
          const m = s.meta[i]!;
          expect(new Set(m.frameIds)).toEqual(new Set([b.meta[i]!.frameIds[k]]));
          expect(new Set(m.positions)).toEqual(new Set([b.meta[i]!.positions[k]]));
          if (model === 'fasrnet') expect(m.margins).toEqual({ dPrev: 0, dNext: 0, wPrev: 0.5, wNext: 0.5 });
        }
        // the original batch had distinct frames
        expect(new Set(b.meta[0]!.positions).size).toBeGreaterThan(1);
      });
      a.module.dispose();
    }
  });
});
