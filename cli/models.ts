/**
 * The demo's model registry: how to build each network and how it consumes a clip. To plug in
 * another network (FaSRnet, VREMD, GLPose), add an entry to DEMO_MODELS:
 * - `build(preset)` returns the module (weights from the current seed) and its input geometry;
 * - `windows(n)` says which frames each call reads and which frames it outputs
 *   (recurrentWindows for RPSTN; keyframeWindows for key-frame models);
 * - `run(module, clip)` maps a clip [B, T, 3, H, W] to heatmaps [B, outputs, K, h, w];
 * - `loadWeights` maps a checkpoint's tensors onto the module (official key conversions go here),
 *   and switches the module to the computation the checkpoint was trained for: the official
 *   variant for an official checkpoint, the recorded one for a posegrad weights file.
 * `buildShipped` builds a model instead as the trainer built it, with the SynthPose weights shipped
 * in assets/weights (models/train/weights.ts); `windows` and `run` apply to it unchanged.
 *
 * Every network has a `real` preset: the frozen pretrained MoveNet SinglePose Lightning (the shipped
 * assets/weights/movenet/lightning.safetensors) under the paper's head in residual form, which
 * starts as a copy of MoveNet's heatmaps (COCO-17), so that even untrained it draws MoveNet's poses.
 * `runDemoModel` runs a model with or without the flip test (the demo's --flip).
 */
import type { Tensor } from '../engine/tensor.js';
import { add, mul } from '../ops/elementwise.js';
import { flip } from '../ops/shape.js';
import { flipBack } from '../models/pose/data/flip.js';
import { flipPermutation } from '../models/pose/joints.js';
import type { Module } from '../models/nn/module.js';
import type { HostTensor } from '../models/nn/safetensors.js';
import { getJointSet, type JointSet } from '../models/pose/joints.js';
import type { DecodeMethod } from '../models/pose/decode.js';
import { RPSTN, fromOfficialStateDict as rpstnFromOfficial, rpstnVariant } from '../models/rpstn/model.js';
import { RPSTN_PRESETS, rpstnPreset } from '../models/rpstn/presets.js';
import { FaSRnet, fasrnetBehaviour, fasrnetPreset, fromOfficialStateDict as fasrnetFromOfficial } from '../models/fasrnet/index.js';
import { CONFIG_METADATA_KEY, MODULE_METADATA_KEY } from '../models/movenet/load.js';
import { createVREMD, VREMD_PRESETS, type VREMD } from '../models/vremd/index.js';
import { GLPose, GLPOSE_PRESETS, glposePreset, glposeWindows } from '../models/glpose/index.js';
import type { Module as NnModule } from '../models/nn/module.js';
import type { MoveNet } from '../models/movenet/movenet.js';
import { loadShippedMoveNet } from './demo-movenet.js';
import { stripPrefix } from '../models/nn/checkpoint/index.js';
import { reshape, slice, unsqueeze } from '../ops/shape.js';
import { TRAIN_PRESETS, type ModelName, type TrainPreset } from '../models/train/adapters.js';
import { loadTrainedModel, trainedWeightsFor, type WeightsInfo } from '../models/train/weights.js';
import { keyframeWindows, recurrentWindows, type ClipWindow } from './common.js';

export interface BuiltModel {
  module: Module;
  /** Network input [width, height]. */
  inputSize: readonly [number, number];
  jointSet: JointSet;
  /** How heatmaps become keypoints. */
  decode: DecodeMethod;
  /** Enlargement of the person box for the crop (HRNet: 1.25). */
  boxPadding: number;
  /** One line describing the network, printed by the demo. */
  summary: string;
}

export interface DemoModel {
  /** Presets accepted by --preset. */
  presets: readonly string[];
  defaultPreset: string;
  build(preset: string): BuiltModel;
  windows(built: BuiltModel, numFrames: number): ClipWindow[];
  run(built: BuiltModel, clip: Tensor): Tensor;
  /**
   * Loads checkpoint tensors into the module (strict: every key must match). `metadata` is the
   * file's safetensors metadata, if any: a posegrad weights file (metadata `posegrad.module` naming
   * this network) is loaded with the variant its `posegrad.config` records; anything else is taken
   * as an official checkpoint and switches the module to variant 'official' (RPSTN: only when the
   * keys have the official layout).
   * Returns the keys that were dropped by a conversion, with `notes` saying what the load did to the
   * module (the variant it now computes), for the demo's `weights:` line.
   */
  loadWeights(built: BuiltModel, tensors: Map<string, HostTensor>, metadata?: Readonly<Record<string, string>>): LoadedWeights;
}

/** What `loadWeights` returns: the dropped checkpoint keys, and notes for the demo's `weights:` line. */
export type LoadedWeights = string[] & { notes: string[] };

function loaded(dropped: readonly string[], notes: readonly string[]): LoadedWeights {
  return Object.assign([...dropped], { notes: [...notes] });
}

/**
 * The configuration a posegrad weights file records for module class `name` (models/weights-file.ts),
 * or null when the metadata does not name that class.
 * @throws Error when it names the class but its configuration is not a JSON object.
 */
function recordedConfig(metadata: Readonly<Record<string, string>> | undefined, name: string): Record<string, unknown> | null {
  if (!metadata || metadata[MODULE_METADATA_KEY] !== name) return null;
  let cfg: unknown;
  try {
    cfg = JSON.parse(metadata[CONFIG_METADATA_KEY] ?? '');
  } catch {
    cfg = null;
  }
  if (!cfg || typeof cfg !== 'object') throw new Error(`expected a ${name} configuration as JSON in metadata ${CONFIG_METADATA_KEY}, got ${JSON.stringify(metadata[CONFIG_METADATA_KEY] ?? null)}`);
  return cfg as Record<string, unknown>;
}

const switchedNote = (variant: string, switched: readonly string[]): string => `variant '${variant}'${switched.length ? ` (switched: ${switched.join(', ')})` : ''}`;

/** The pretrained MoveNet Lightning of the `real` presets, loaded once (assets/weights/movenet/lightning.safetensors). */
let lightning: MoveNet | null = null;
function realMoveNet(): MoveNet {
  return (lightning ??= loadShippedMoveNet('lightning'));
}

/** "1.23M trainable + 2.32M frozen" for a module whose frozen parameters have requiresGrad false. */
function paramSplit(m: NnModule): string {
  const ps = m.parameters();
  const trainable = ps.filter((p) => p.requiresGrad).reduce((s, p) => s + p.size, 0);
  const frozen = ps.reduce((s, p) => s + p.size, 0) - trainable;
  return `${(trainable / 1e6).toFixed(2)}M trainable + ${(frozen / 1e6).toFixed(2)}M frozen parameters`;
}

/** The summary tail of a `real` network. */
const REAL_NOTE = 'frozen pretrained MoveNet Lightning under a residual head that starts as a copy of its heatmaps';

/**
 * Runs a demo model on a clip [P, T, 3, H, W] → heatmaps [P, outputs, K, h, w]; with `flip`, HRNet's
 * flip test: the mirrored clip's heatmaps, mirrored back with left/right swapped and shifted one
 * pixel (models/pose/data/flip.ts), are averaged with the plain ones.
 */
export function runDemoModel(model: DemoModel, built: BuiltModel, clip: Tensor, opts: { flip?: boolean } = {}): Tensor {
  const out = model.run(built, clip);
  if (!opts.flip) return out;
  const mirrored = model.run(built, flip(clip, clip.rank - 1));
  return mul(add(out, flipBack(mirrored, { flipPerm: flipPermutation(built.jointSet), channelDim: 2 })), 0.5);
}

export const DEMO_MODELS: Readonly<Record<string, DemoModel>> = {
  rpstn: {
    presets: Object.keys(RPSTN_PRESETS),
    defaultPreset: 'small',
    build(preset) {
      const cfg = rpstnPreset(preset);
      const real = preset === 'real';
      const module = new RPSTN(cfg, real ? { movenet: realMoveNet() } : {});
      const n = module.numParameters();
      return {
        module,
        inputSize: cfg.inputSize,
        jointSet: getJointSet(cfg.jointSet ?? 'pennAction'),
        decode: real ? 'hrnet' : 'argmax',
        boxPadding: 1.25,
        summary: real
          ? `RPSTN 'real': ${paramSplit(module)}, input ${cfg.inputSize[0]}x${cfg.inputSize[1]}, T=${cfg.numFrames}, K=${cfg.numJoints} (${REAL_NOTE})`
          : `RPSTN '${preset}': ${(n / 1e6).toFixed(2)}M parameters, input ${cfg.inputSize[0]}x${cfg.inputSize[1]}, T=${cfg.numFrames}, K=${cfg.numJoints}`,
      };
    },
    windows(built, n) {
      return recurrentWindows(n, (built.module as RPSTN).cfg.numFrames);
    },
    run(built, clip) {
      return (built.module as RPSTN).forward(clip);
    },
    loadWeights(built, tensors, metadata) {
      const m = built.module as RPSTN;
      const own = recordedConfig(metadata, 'RPSTN');
      if (own) {
        const switched = m.useVariant(rpstnVariant(own));
        m.loadStateDict(tensors);
        return loaded([], [`posegrad weights file: ${switchedNote(m.variant, switched)}`]);
      }
      const r = rpstnFromOfficial(tensors, m);
      m.loadStateDict(r.state);
      return loaded(r.dropped, r.layout === 'official' ? [`official checkpoint: ${r.renamed} numbered fea_ext keys renamed; ${switchedNote(m.variant, r.switched)}`] : []);
    },
  },
  fasrnet: {
    presets: ['paper', 'small', 'real'],
    defaultPreset: 'small',
    build(preset) {
      const cfg = fasrnetPreset(preset);
      const real = preset === 'real';
      const module = new FaSRnet(cfg, real ? { movenet: realMoveNet() } : {}).eval();
      const n = module.numParameters();
      return {
        module,
        inputSize: cfg.inputSize,
        jointSet: getJointSet(cfg.jointSet ?? 'posetrack'),
        decode: 'hrnet',
        boxPadding: 1.25,
        summary: real
          ? `FaSRnet 'real': ${paramSplit(module)}, input ${cfg.inputSize[0]}x${cfg.inputSize[1]}, K=${cfg.numJoints} (${REAL_NOTE})`
          : `FaSRnet '${preset}': ${(n / 1e6).toFixed(2)}M parameters, input ${cfg.inputSize[0]}x${cfg.inputSize[1]}, K=${cfg.numJoints}`,
      };
    },
    // Frames [k-1, k, k+1], clamped at the clip's edges (margin weights 0.5/0.5).
    windows(_built, n) {
      return keyframeWindows(n, 1, 1);
    },
    run(built, clip) {
      const [B, , , H, W] = clip.shape as [number, number, number, number, number];
      const f = (t: number): Tensor => reshape(slice(clip, 1, t, t + 1), [B, 3, H, W]);
      return unsqueeze((built.module as FaSRnet).forward({ prev: f(0), cur: f(1), next: f(2) }).hFinal, 1);
    },
    loadWeights(built, tensors, metadata) {
      const m = built.module as FaSRnet;
      const own = recordedConfig(metadata, 'FaSRnet');
      if (own) {
        const b = fasrnetBehaviour(own);
        if (b.variant === 'custom') throw new Error(`expected a FaSRnet of variant 'paper' or 'official', got a weights file recording alignmentInputOrder '${b.alignmentInputOrder}' and offsetPaddingQuirk '${b.offsetPaddingQuirk}'`);
        const switched = m.useVariant(b.variant);
        m.loadStateDict(stripPrefix(tensors, 'module.'));
        return loaded([], [`posegrad weights file: ${switchedNote(b.variant, switched)}`]);
      }
      // FaSRnet's official keys are posegrad's: without posegrad metadata, the file is taken as official.
      const r = fasrnetFromOfficial(tensors, m);
      m.loadStateDict(r.state);
      return loaded(r.dropped, [`official checkpoint (no posegrad metadata): ${switchedNote('official', r.switched)}`]);
    },
  },
  vremd: {
    presets: ['paper', 'small', 'tiny', 'real'].filter((p) => p in VREMD_PRESETS),
    defaultPreset: 'small',
    build(preset) {
      const real = preset === 'real';
      const module = createVREMD(preset, { cacheSize: 8, ...(real ? { movenet: realMoveNet() } : {}) }).eval();
      const [h, w] = module.inputSize;
      const c = module.parameterCounts();
      return {
        module,
        inputSize: [w, h],
        jointSet: getJointSet(real ? 'coco17' : 'posetrack'),
        decode: 'hrnet',
        boxPadding: 1.25,
        summary: real
          ? `VREMD 'real': ${paramSplit(module)}, input ${w}x${h} (${REAL_NOTE}; a patch tokenizer over its stride-4 features)`
          : `VREMD '${preset}': ${(c.total / 1e6).toFixed(2)}M parameters (${(c.frozen / 1e6).toFixed(2)}M frozen backbone), input ${w}x${h}`,
      };
    },
    windows(_built, n) {
      return keyframeWindows(n, 1, 1);
    },
    // clip [B, 3, 3, H, W] in order [t-1, t, t+1] -> [B, 1, K, H/4, W/4]
    run(built, clip) {
      return unsqueeze((built.module as VREMD).forward({ frames: clip }), 1);
    },
    // No official code exists (the paper's only variant): nothing to switch.
    loadWeights(built, tensors) {
      built.module.loadStateDict(stripPrefix(tensors, 'module.'));
      return loaded([], []);
    },
  },
  glpose: {
    presets: Object.keys(GLPOSE_PRESETS),
    defaultPreset: 'small',
    build(preset) {
      const cfg = glposePreset(preset);
      const real = preset === 'real';
      const module = new GLPose<NnModule>(cfg, real ? { movenet: realMoveNet() } : {}).eval();
      return {
        module,
        inputSize: cfg.inputSize,
        jointSet: getJointSet(cfg.jointSet ?? 'posetrack'),
        decode: 'hrnet',
        boxPadding: 1.25,
        summary: real
          ? `GLPose 'real': ${paramSplit(module)}, input ${cfg.inputSize[0]}x${cfg.inputSize[1]}, k=${cfg.localFrames}, n=${cfg.globalFrames} of ${cfg.globalCandidates} (${REAL_NOTE})`
          : `GLPose '${preset}': ${(module.numParameters() / 1e6).toFixed(2)}M parameters, k=${cfg.localFrames}, n=${cfg.globalFrames} of ${cfg.globalCandidates}`,
      };
    },
    // Each window is [key, t-1, t+1, ..., t-k, t+k, global candidates]; the output is the key frame.
    windows(built, n) {
      return glposeWindows(n, (built.module as GLPose<NnModule>).cfg);
    },
    run(built, clip) {
      return unsqueeze((built.module as GLPose<NnModule>).forwardFrames(clip), 1);
    },
    // No official code exists (the paper's only variant): nothing to switch.
    loadWeights(built, tensors) {
      built.module.loadStateDict(stripPrefix(tensors, 'module.'));
      return loaded([], []);
    },
  },
};

const LABELS: Readonly<Record<string, string>> = { rpstn: 'RPSTN', fasrnet: 'FaSRnet', vremd: 'VREMD', glpose: 'GLPose' };

/** The presets of demo model `name` whose trained weights are shipped in assets/weights (models/train/weights.ts). */
export function shippedPresets(name: string): string[] {
  return TRAIN_PRESETS.filter((p) => trainedWeightsFor(name, p) !== null);
}

/** A demo network built as the trainer built it, with its shipped weights loaded. */
export interface ShippedModel {
  built: BuiltModel;
  /** The weights file (assets/weights/<id>-<preset>.safetensors). */
  path: string;
  /** What the file says about its training run. */
  info: WeightsInfo;
}

/**
 * Demo model `name` at `preset` with the shipped SynthPose weights, or null when none are shipped.
 * The network is the trainer's (models/train/adapters.ts: 17 PoseTrack joints, the training input
 * size), which can differ from the demo's own preset of the same name (RPSTN tiny: 13 Penn Action
 * joints), and its heatmaps are decoded as in the training evaluation (HRNet's get_final_preds).
 * The demo's `windows` and `run` of the same model apply to it unchanged.
 * @throws Error when the file does not fit the network.
 */
export function buildShipped(name: string, preset: string): ShippedModel | null {
  if (!(name in LABELS) || trainedWeightsFor(name, preset) === null) return null;
  const { adapter, path, info } = loadTrainedModel(name as ModelName, preset as TrainPreset);
  const [w, h] = adapter.inputSize;
  const n = adapter.module.numParameters();
  return {
    built: {
      module: adapter.module,
      inputSize: adapter.inputSize,
      jointSet: adapter.jointSet,
      decode: 'hrnet',
      boxPadding: 1.25,
      summary: `${LABELS[name]} '${preset}' as trained on ${preset === 'real' ? 'real video (on the frozen MoveNet Lightning)' : 'SynthPose'}: ${n} parameters, input ${w}x${h}, K=${adapter.jointSet.numJoints} (${adapter.jointSet.name})`,
    },
    path,
    info,
  };
}
