/**
 * The trained weights shipped in `assets/weights/` (Node): which network and preset each file
 * fits, and how to build that network with them. Files are the `weights.safetensors` of the
 * SynthPose experiment (docs/results.md), renamed `<id>-<preset>.safetensors` where id is
 * `baseline-hrnet`, `baseline-vitpose`, `baseline-simplebaseline`, `fasrnet`, `vremd`, `glpose` or
 * `rpstn`. They hold the networks built by `createAdapter` (17 PoseTrack joints), which differ from
 * the models' own presets where those use other joint counts (RPSTN tiny: 13, FaSRnet tiny: 4).
 *
 *   const path = trainedWeightsFor('rpstn', 'tiny');          // absolute path, or null
 *   const { adapter } = await loadTrainedModel('rpstn', 'tiny');
 *   adapter.module.eval();  adapter.predict(batch) / adapter.module.forward(...)
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fail } from '../../engine/shape.js';
import { readSafetensors } from '../nn/safetensors.js';
import type { FrameLoader } from '../pose/data/dataset.js';
import { decodeImage } from '../pose/datasets/io.js';
import { parsePoseTrack } from '../pose/datasets/posetrack.js';
import type { VideoSequence } from '../pose/datasets/types.js';
import { BASELINE_ARCHS, createAdapter, MODEL_NAMES, TRAIN_PRESETS, type Adapter, type BaselineArch, type ModelName, type TrainPreset } from './adapters.js';

/** `<repo>/assets/weights`. */
export const WEIGHTS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'assets', 'weights');

/** The file id of a network: `baseline-<arch>` for the single-frame baselines, else the model name. */
export function weightsId(model: ModelName, arch: BaselineArch = 'hrnet'): string {
  return model === 'baseline' ? `baseline-${arch}` : model;
}

/**
 * The shipped weights of `model` at `preset` (`arch` picks the baseline), or null when none are
 * shipped (for example any `paper` preset, or `small`). Unknown names give null as well, so that
 * a caller can ask for any model of its own registry.
 */
export function trainedWeightsFor(model: string, preset: string, arch: BaselineArch = 'hrnet'): string | null {
  if (!(MODEL_NAMES as readonly string[]).includes(model) || !(TRAIN_PRESETS as readonly string[]).includes(preset)) return null;
  if (!(BASELINE_ARCHS as readonly string[]).includes(arch)) return null;
  const path = join(WEIGHTS_DIR, `${weightsId(model as ModelName, arch)}-${preset}.safetensors`);
  return existsSync(path) ? path : null;
}

/** What a weights file says about itself (written by the trainer). */
export interface WeightsInfo {
  id: string;
  model: ModelName;
  arch: BaselineArch;
  preset: TrainPreset;
  steps: number;
  batchSize: number;
  seed: number;
  /** Validation mAP at the end of training (all, hard, clean, occluded, blurred frames). */
  mAP: Record<string, number>;
}

/**
 * Builds `model` at `preset` (on the engine's default device) and loads its shipped weights
 * (strict: every key must match).
 * @throws Error when no weights are shipped for it, or the file does not fit the network.
 */
export function loadTrainedModel(model: ModelName, preset: TrainPreset, arch: BaselineArch = 'hrnet'): { adapter: Adapter; path: string; info: WeightsInfo } {
  const path = trainedWeightsFor(model, preset, arch);
  if (!path) fail('loadTrainedModel', `shipped weights for ${weightsId(model, arch)} '${preset}' in ${WEIGHTS_DIR}`, 'none');
  const file = readSafetensors(new Uint8Array(readFileSync(path)));
  const info = JSON.parse(file.metadata.posegrad ?? '{}') as WeightsInfo;
  const adapter = createAdapter(model, preset, { arch });
  adapter.module.loadStateDict(file.tensors);
  adapter.module.eval();
  return { adapter, path, info };
}

/** `<repo>/assets/synth`: the held-out SynthPose clip of the demo (models/train/make-synth-clip.ts). */
export const SYNTH_CLIP_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'assets', 'synth');

/**
 * The held-out clip with its ground truth: the video (PoseTrack form with the occluded/blurred
 * flags; its frames are indexed 0…11) and a FrameLoader reading `assets/synth/<position in the
 * original clip, 0008…0019>.jpg`, for evaluating shipped weights or showing ground truth in a demo.
 * @throws Error when the clip's files are missing.
 */
export function loadSynthDemoClip(dir = SYNTH_CLIP_DIR): { video: VideoSequence; loadFrame: FrameLoader } {
  const ann = join(dir, 'annotations.json');
  if (!existsSync(ann)) fail('loadSynthDemoClip', `the held-out clip's annotations.json in ${dir}`, 'no file');
  const videos = parsePoseTrack(JSON.parse(readFileSync(ann, 'utf8')), dir);
  if (videos.length !== 1) fail('loadSynthDemoClip', 'one video in annotations.json', String(videos.length));
  const first = Number(/(\d+)\.png$/.exec(videos[0]!.frames[0]!.file)?.[1] ?? 0);
  const loadFrame: FrameLoader = (_v, frame) => decodeImage(readFileSync(join(dir, `${String(first + frame.index).padStart(4, '0')}.jpg`)));
  return { video: videos[0]!, loadFrame };
}
