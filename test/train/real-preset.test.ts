/**
 * The trainer's view of the `real` preset (models/train/adapters.ts): every network on the frozen
 * pretrained MoveNet Lightning, COCO-17 joints at 192x192, compared with MoveNet alone
 * ('baseline' at 'real'); untrained, each predicts MoveNet's heatmaps of its key frame(s); without
 * the MoveNet instance, `initFromBaseline` with the MoveNet weights file gives the same network.
 * Runs on wasm when it starts (cpu otherwise).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DeviceName } from '../../backends/backend.js';
import { noGrad, setDefaultDevice, tidy } from '../../engine/engine.js';
import type { Tensor } from '../../engine/tensor.js';
import { slice } from '../../ops/shape.js';
import { moveNetFromSafetensors } from '../../models/movenet/load.js';
import { readSafetensors } from '../../models/nn/safetensors.js';
import { TopDownDataset } from '../../models/pose/data/dataset.js';
import type { VideoSequence } from '../../models/pose/datasets/types.js';
import { COCO17 } from '../../models/pose/joints.js';
import { generateClip } from '../../models/synthpose/generator.js';
import { synthFrameLoader } from '../../models/synthpose/loader.js';
import { createAdapter, MODEL_NAMES, TRAIN_PRESETS, type Adapter, type ModelName } from '../../models/train/adapters.js';
import { availableDevices } from '../helpers/devices.js';

const ROOT = join(import.meta.dirname, '..', '..');
const LIGHTNING = join(ROOT, 'assets', 'weights', 'movenet', 'lightning.safetensors');

describe('adapters at preset real', async () => {
  const device: DeviceName = (await availableDevices('real adapters')).includes('wasm') ? 'wasm' : 'cpu';
  const movenet = moveNetFromSafetensors(new Uint8Array(readFileSync(LIGHTNING))).to(device);
  // SynthPose clips relabelled as COCO-17 (the real data's joint names; the slots' meaning does not matter here)
  const clips = [0, 1].map((i) => generateClip(i, { seed: 3, frames: 12, width: 160, height: 160, maxPeople: 1 }));
  const videos: VideoSequence[] = clips.map((c) => ({ ...c.video, keypointNames: [...COCO17.names] }));
  const loadFrame = synthFrameLoader(clips);
  const batchOf = (a: Adapter) => {
    const ds = new TopDownDataset(videos, { jointSet: a.jointSet, loadFrame, inputSize: a.inputSize, frames: a.frames, supervise: 'annotated' });
    return ds.collate([ds.sample(1), ds.sample(6)], device);
  };

  it("is a training preset; every adapter is the network's real preset: COCO-17, 192x192, MoveNet frozen, compared with MoveNet", () => {
    expect(TRAIN_PRESETS).toContain('real');
    for (const model of MODEL_NAMES) {
      const a = createAdapter(model, 'real', { movenet });
      expect([a.jointSet.name, a.inputSize.join('x'), a.baselineArch, a.preset], model).toEqual(['coco17', '192x192', 'movenet', 'real']);
      const trainable = new Set(a.trainableParameters());
      expect(movenet.parameters().some((p) => trainable.has(p)), model).toBe(false);
      expect(movenet.parameters().every((p) => !p.requiresGrad), model).toBe(true);
      if (model !== 'baseline') expect(trainable.size, model).toBeGreaterThan(0);
    }
    expect(() => createAdapter('baseline', 'real', { movenet }).loss({} as never)).toThrow(/^MoveNet baseline: expected a trainable network, got the frozen pretrained MoveNet/);
    expect(() => createAdapter('baseline', 'real', { arch: 'vitpose' })).toThrow(/^createAdapter: expected no baseline architecture for preset 'real'/);
  });

  it('untrained, each network predicts what MoveNet alone predicts, frame for frame', () => {
    setDefaultDevice(device);
    try {
      const alone = createAdapter('baseline', 'real', { movenet });
      for (const model of MODEL_NAMES.filter((m): m is Exclude<ModelName, 'baseline'> => m !== 'baseline')) {
        const a = createAdapter(model, 'real', { movenet, cacheFeatures: false });
        a.module.to(device).eval();
        tidy(() => {
          const batch = batchOf(a);
          const preds = noGrad(() => a.predict(batch));
          for (const p of preds) {
            // MoveNet alone on the same crops of frame p.t
            const single = noGrad(() => alone.predict({ ...batch, images: sliceFrame(batch.images, p.t) }))[0]!;
            const got = p.heatmaps.dataSync();
            const want = single.heatmaps.dataSync();
            let d = 0;
            for (let i = 0; i < got.length; i++) d = Math.max(d, Math.abs(got[i]! - want[i]!));
            expect(d, `${model} frame ${p.t}`).toBe(0);
          }
        });
      }
    } finally {
      setDefaultDevice('cpu');
    }
  });

  it('without the MoveNet instance, initFromBaseline with the MoveNet weights file gives the same network', () => {
    setDefaultDevice(device);
    try {
      const state = readSafetensors(new Uint8Array(readFileSync(LIGHTNING))).tensors;
      const a = createAdapter('rpstn', 'real', { movenet });
      const b = createAdapter('rpstn', 'real');
      b.module.loadStateDict(new Map([...a.module.stateDict()].filter(([k]) => !k.startsWith('backbone.'))), { strict: false });
      expect(b.initFromBaseline(state)).toMatch(/^MoveNet \(\d+ tensors\) → the frozen backbone$/);
      a.module.to(device).eval();
      b.module.to(device).eval();
      tidy(() => {
        const batch = batchOf(a);
        const x = noGrad(() => a.predict(batch)).map((p) => p.heatmaps.dataSync());
        const y = noGrad(() => b.predict(batch)).map((p) => p.heatmaps.dataSync());
        x.forEach((v, t) => {
          let d = 0;
          for (let i = 0; i < v.length; i++) d = Math.max(d, Math.abs(v[i]! - y[t]![i]!));
          expect(d, `frame ${t}`).toBe(0);
        });
      });
    } finally {
      setDefaultDevice('cpu');
    }
  });
});

/** Frame t of [B, T, 3, H, W] as a one-frame batch [B, 1, 3, H, W]. */
function sliceFrame(images: Tensor, t: number): Tensor {
  return slice(images, 1, t, t + 1);
}
