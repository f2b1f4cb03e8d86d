/**
 * The shipped weights (assets/weights, models/train/weights.ts) and the held-out demo clip
 * (assets/synth): every file is named `<id>-<preset>.safetensors`, loads strictly into the network
 * the trainer builds and says so in its metadata; the files stay small; the clip is validation clip
 * 35 of the experiment's data (regenerated from its seed, not a training clip); and the trained
 * networks predict that clip far better than the same networks with random weights.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { manualSeed } from '../../engine/engine.js';
import { readSafetensors } from '../../models/nn/safetensors.js';
import { parsePoseTrack, toPoseTrack18Json } from '../../models/pose/datasets/posetrack.js';
import { generateClip } from '../../models/synthpose/generator.js';
import { createAdapter, type BaselineArch, type ModelName } from '../../models/train/adapters.js';
import { DEFAULT_SYNTH_SPEC } from '../../models/train/data.js';
import { evaluateAdapter } from '../../models/train/evaluate.js';
import { DEMO_CLIP } from '../../models/train/make-synth-clip.js';
import { loadSynthDemoClip, loadTrainedModel, SYNTH_CLIP_DIR, trainedWeightsFor, WEIGHTS_DIR, weightsId } from '../../models/train/weights.js';

/** The networks of the experiment (docs/results.md), each shipped at `tiny`. */
const NETWORKS: { model: ModelName; arch?: BaselineArch }[] = [
  { model: 'baseline', arch: 'hrnet' },
  { model: 'baseline', arch: 'vitpose' },
  { model: 'baseline', arch: 'simplebaseline' },
  { model: 'fasrnet' },
  { model: 'vremd' },
  { model: 'glpose' },
  { model: 'rpstn' },
];

describe('shipped weights (assets/weights)', () => {
  it('one file per network of the experiment, named <id>-tiny.safetensors, under 5 MB in total', () => {
    const files = readdirSync(WEIGHTS_DIR).filter((f) => f.endsWith('.safetensors')).sort();
    expect(files).toEqual(NETWORKS.map((n) => `${weightsId(n.model, n.arch)}-tiny.safetensors`).sort());
    const bytes = files.reduce((s, f) => s + statSync(join(WEIGHTS_DIR, f)).size, 0);
    expect(bytes).toBeLessThan(5 * 1024 * 1024);
  });

  it('trainedWeightsFor finds each file and nothing for other presets, models or architectures', () => {
    for (const n of NETWORKS) {
      expect(trainedWeightsFor(n.model, 'tiny', n.arch)).toBe(join(WEIGHTS_DIR, `${weightsId(n.model, n.arch)}-tiny.safetensors`));
      expect(trainedWeightsFor(n.model, 'small', n.arch)).toBeNull();
      expect(trainedWeightsFor(n.model, 'paper', n.arch)).toBeNull();
    }
    expect(trainedWeightsFor('hrnet', 'tiny')).toBeNull();
    expect(trainedWeightsFor('baseline', 'tiny', 'resnet' as BaselineArch)).toBeNull();
  });

  it('each file loads strictly into the trainer\'s network, and its metadata names that network and its run', () => {
    for (const n of NETWORKS) {
      const { adapter, path, info } = loadTrainedModel(n.model, 'tiny', n.arch);
      expect(path).toBe(trainedWeightsFor(n.model, 'tiny', n.arch));
      expect(adapter.module.training).toBe(false);
      expect(info.id).toBe(weightsId(n.model, n.arch));
      expect([info.model, info.preset]).toEqual([n.model, 'tiny']);
      expect(info.arch).toBe(adapter.baselineArch);
      expect(info.steps).toBeGreaterThan(0);
      for (const k of ['all', 'hard', 'clean']) expect(info.mAP[k]).toBeGreaterThan(0);
      // every tensor of the file is a tensor of the network (loadStateDict is strict), and no more
      const file = readSafetensors(new Uint8Array(readFileSync(path)));
      expect([...file.tensors.keys()].sort()).toEqual([...adapter.module.stateDict().keys()].sort());
      adapter.module.dispose();
    }
  });
});

describe('the held-out demo clip (assets/synth)', () => {
  it('is validation clip 35 of the experiment\'s data, as its generator writes it today', () => {
    expect(DEMO_CLIP.index).toBeGreaterThanOrEqual(DEFAULT_SYNTH_SPEC.trainClips); // not a training clip
    expect(DEMO_CLIP.index).toBeLessThan(DEFAULT_SYNTH_SPEC.trainClips + DEFAULT_SYNTH_SPEC.valClips);
    const { video } = loadSynthDemoClip();
    expect(video.id).toBe(String(DEMO_CLIP.index).padStart(6, '0'));
    expect(video.frames.map((f) => f.id)).toEqual(Array.from({ length: DEMO_CLIP.count }, (_, i) => Number(`1${video.id}${String(DEMO_CLIP.first + i).padStart(4, '0')}`)));
    const spec = DEFAULT_SYNTH_SPEC;
    const clip = generateClip(DEMO_CLIP.index, { width: spec.size[0], height: spec.size[1], frames: spec.frames, seed: spec.seed });
    const frames = clip.video.frames.slice(DEMO_CLIP.first, DEMO_CLIP.first + DEMO_CLIP.count);
    const expected = `${JSON.stringify(toPoseTrack18Json([{ ...clip.video, frames }], { flags: true }))}\n`;
    expect(readFileSync(join(SYNTH_CLIP_DIR, 'annotations.json'), 'utf8')).toBe(expected);
    expect(parsePoseTrack(JSON.parse(expected), SYNTH_CLIP_DIR)[0]!.frames.some((f) => f.flags?.occluded || f.flags?.blurred)).toBe(true);
  });

  it('every shipped network predicts it far better than the same network with random weights', async () => {
    const { video, loadFrame } = loadSynthDemoClip();
    for (const n of NETWORKS) {
      const trained = loadTrainedModel(n.model, 'tiny', n.arch).adapter;
      manualSeed(0);
      const random = createAdapter(n.model, 'tiny', { arch: n.arch });
      random.module.eval();
      const a = (await evaluateAdapter(trained, [video], { loadFrame })).all.table.mean;
      const b = (await evaluateAdapter(random, [video], { loadFrame })).all.table.mean;
      expect(a, `${weightsId(n.model, n.arch)}: trained ${a.toFixed(1)} vs random ${b.toFixed(1)}`).toBeGreaterThan(b + 5);
      trained.module.dispose();
      random.module.dispose();
    }
  });
});
