/**
 * Long runs leave engine memory flat (issue 14, items 5 and 6; the long version is scripts/soak.ts):
 * after a few warm-up iterations, every later iteration ends with exactly the same number of live
 * tensors and bytes (`memory()`), for
 *   - 30 frames of the MoveNet pipeline on wasm (MultiPose at 160 px, SinglePose Lightning on the
 *     bundled clip's boxes, 2 crops per forward, an IoU tracker), and
 *   - 50 training steps of RPSTN tiny on wasm with the project's trainer (augmentation, backward,
 *     Adam) on a small SynthPose set.
 * One tensor left behind per frame or step fails the test (it was checked against a deliberate
 * leak in runMoveNet and in the training step).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { init, memory, setDefaultDevice } from '../../engine/engine.js';
import { moveNetFromSafetensors } from '../../models/movenet/load.js';
import type { MoveNet } from '../../models/movenet/movenet.js';
import { MoveNetPipeline, type Box } from '../../models/movenet/pipeline.js';
import { decodeImage, type RgbaImage } from '../../models/pose/image.js';
import { PoseTracker } from '../../models/pose/track.js';
import { cachedFrameLoader, ensureSynthPose, loadSplit } from '../../models/train/data.js';
import { defaultConfig, train } from '../../models/train/trainer.js';

const ROOT = join(import.meta.dirname, '..', '..');
const WARMUP = 5;

/** Live tensors and bytes now. */
const live = (): [number, number] => {
  const m = memory();
  return [m.numTensors, m.numBytes];
};

describe('engine memory stays flat over a loop', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'posegrad-memory-flat-'));
  const models: MoveNet[] = [];
  beforeAll(async () => {
    await init('wasm');
    setDefaultDevice('wasm');
  });
  afterAll(() => {
    for (const m of models) m.dispose();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('30 MoveNet pipeline frames: detection, batched refinement and tracking', async () => {
    const load = async (v: string): Promise<MoveNet> => {
      const m = await moveNetFromSafetensors(new Uint8Array(readFileSync(join(ROOT, 'assets/weights/movenet', `${v}.safetensors`))), v).toAsync('wasm');
      models.push(m);
      return m;
    };
    const pipeline = new MoveNetPipeline(await load('multipose'), await load('lightning'), { detectorMaxSize: 160, batchSize: 2 });
    const doc = JSON.parse(readFileSync(join(ROOT, 'assets/demo/boxes.json'), 'utf8')) as { frames: { file: string; persons: { box: Box }[] }[] };
    const frames: RgbaImage[] = doc.frames.map((f) => decodeImage(new Uint8Array(readFileSync(join(ROOT, 'assets/demo', f.file)))));
    const tracker = new PoseTracker({ metric: 'iou' });
    let after: [number, number] | null = null;
    let refined = 0;
    for (let i = 0; i < 30; i++) {
      const k = i % frames.length;
      const found = await pipeline.detect(frames[k]!, 'wasm');
      const poses = await pipeline.refine(frames[k]!, doc.frames[k]!.persons.map((p) => p.box), 'wasm');
      refined += poses.length;
      tracker.update(poses.map((p) => ({ keypoints: p.keypoints, box: p.box!, score: p.score })), i);
      expect(found.every((p) => p.keypoints.length === 17)).toBe(true);
      if (i + 1 === WARMUP) after = live();
      else if (i + 1 > WARMUP) expect(live(), `frame ${i + 1}: live [tensors, bytes] against frame ${WARMUP}`).toEqual(after);
    }
    expect(refined).toBe(90); // 3 persons per frame, in batches of 2 and 1
  });

  it('50 training steps of RPSTN tiny (trainer, backward, Adam)', async () => {
    const dir = join(tmp, 'synth');
    ensureSynthPose(dir, { trainClips: 2, valClips: 1, frames: 8, size: [96, 96], seed: 5 });
    const split = loadSplit(dir);
    const cfg = defaultConfig('rpstn', { preset: 'tiny', device: 'wasm', steps: 5000, stopAfter: 50, batchSize: 2, evalEvery: 0, checkpointEvery: 0, outDir: join(tmp, 'train') });
    let after: [number, number] | null = null;
    const seen: number[] = [];
    const changed: string[] = [];
    const r = await train(cfg, { train: split.train, val: split.val, loadFrame: cachedFrameLoader(), dir }, {
      onStep: (s) => {
        seen.push(s.step);
        if (s.step === WARMUP) after = live();
        else if (s.step > WARMUP) {
          const now = live();
          if (now[0] !== after![0] || now[1] !== after![1]) changed.push(`step ${s.step}: [${now.join(', ')}] against [${after!.join(', ')}] at step ${WARMUP}`);
        }
      },
    });
    r.adapter.module.dispose();
    expect(seen.length).toBe(50);
    expect(changed).toEqual([]);
  });
});
