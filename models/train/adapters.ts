/**
 * Per-model training adapters: how a `TopDownDataset` batch (images [B, T, 3, H, W], targets
 * [B, T, K, h, w], targetWeights [B, T, K, 1]) becomes each network's input, which loss it trains
 * with, which output is decoded for which frame, and how a trained single-frame network
 * initializes it.
 *
 * | model | frames (models/pose/data/frames.ts) | loss | decoded |
 * |---|---|---|---|
 * | baseline `hrnet` / `vitpose` / `simplebaseline` | single | JointsMSE (HRNet) | the frame |
 * | fasrnet | curPrevNext, gap 1, margin weights | α·MSE(H^r) + (1−α)·MSE(H^final), α = 0.4 (Eqs 17-19) | H^final of cur |
 * | vremd | prevCurNext, gap 1 | JointsMSE on H_t (Eq 5) | H_t of the middle frame |
 * | glpose | localGlobal, k local per side, G global candidates | JointsMSE (Eq 6) | H of the key frame |
 * | rpstn | consecutive, T frames from the key frame | MSE over all T frames (Eq 5) | every frame, the latest position wins |
 *
 * The comparison pairs each temporal network with the single-frame network that is its own
 * backbone and head (`baselineArch`): FaSRnet and GLPose with HRNet, VREMD with ViTPose, RPSTN with
 * SimpleBaseline (its pose initializer). `initFromBaseline` copies a trained baseline into the
 * temporal network (frozen backbones for FaSRnet and VREMD, as their papers freeze a pretrained
 * one). The frozen backbones' outputs are cached per crop (`cacheFeatures`), so each crop goes
 * through the backbone once per run.
 *
 * Preset `real` (real video, COCO-17 labels from a MoveNet Thunder teacher): every network is its
 * `real` preset, the frozen pretrained MoveNet Lightning under a residual head that starts as a copy
 * of MoveNet's heatmaps (docs/models/*.md), at 192x192; `baselineArch` is 'movenet' and the
 * baseline itself (`createAdapter('baseline', 'real')`) is MoveNet alone (its heatmaps, decoded as
 * the others'; nothing to train). Pass the pretrained MoveNet as `opts.movenet`
 * (`moveNetFromSafetensors` of assets/weights/movenet/lightning.safetensors); without it a MoveNet
 * with random weights is built, for loading a weights file that holds it or for `initFromBaseline`
 * with a MoveNet state dict (`train --init assets/weights/movenet/lightning.safetensors`).
 */
import { noGrad } from '../../engine/engine.js';
import { fail } from '../../engine/shape.js';
import type { Tensor } from '../../engine/tensor.js';
import { tensor } from '../../ops/creation.js';
import { jointsMseLoss } from '../../ops/loss.js';
import { concat, reshape, slice, split, stack } from '../../ops/shape.js';
import { moveNetBackbone, type PoseBackbone } from '../backbones/backbone.js';
import { HRNET_PRESETS, HRNet, type HRNetConfig } from '../backbones/hrnet.js';
import { SimpleBaseline, type SimpleBaselineConfig } from '../backbones/resnet.js';
import { VIT_PRESETS, ViTPose, type ViTPoseConfig } from '../backbones/vit.js';
import { fasrnetLoss, type FaSRnet } from '../fasrnet/model.js';
import { createFaSRnet } from '../fasrnet/presets.js';
import { glposeInputsFromFrames, glposeLoss, type GLPose } from '../glpose/model.js';
import { createGLPose, glposeFrameSelection } from '../glpose/presets.js';
import { MOVENET_CONFIGS } from '../movenet/config.js';
import { MoveNet } from '../movenet/movenet.js';
import type { Module } from '../nn/module.js';
import type { HostTensor } from '../nn/safetensors.js';
import type { PoseBatch, SampleMeta } from '../pose/data/dataset.js';
import type { FrameSelection } from '../pose/data/frames.js';
import { COCO17, POSETRACK, type JointSet } from '../pose/joints.js';
import { RPSTN, rpstnLoss } from '../rpstn/model.js';
import { rpstnPreset } from '../rpstn/presets.js';
import { createVREMD, vremdLoss, type VREMD } from '../vremd/model.js';
import { vremdPreset } from '../vremd/config.js';

export const MODEL_NAMES = ['baseline', 'rpstn', 'fasrnet', 'vremd', 'glpose'] as const;
export type ModelName = (typeof MODEL_NAMES)[number];
export const BASELINE_ARCHS = ['hrnet', 'vitpose', 'simplebaseline'] as const;
/**
 * The single-frame networks: HRNet (FaSRnet's and GLPose's backbone), ViTPose (VREMD's),
 * SimpleBaseline (RPSTN's pose initializer), trained by `train --model baseline --arch`; and, for
 * the `real` preset, the pretrained MoveNet under all four (not trainable, so not in BASELINE_ARCHS).
 */
export type BaselineArch = (typeof BASELINE_ARCHS)[number] | 'movenet';
export const TRAIN_PRESETS = ['tiny', 'small', 'real'] as const;
export type TrainPreset = (typeof TRAIN_PRESETS)[number];
/** The SynthPose presets (networks built from scratch at a few channels). */
export type SynthPreset = Exclude<TrainPreset, 'real'>;

/** One decoded output: heatmaps [B, K, h, w] for frame `t` of every sample (an index into meta.frameIds). */
export interface Prediction {
  t: number;
  heatmaps: Tensor;
  /**
   * Per sample: when several windows predict the same frame and person, the highest priority is
   * kept (RPSTN: the number of distinct frames seen up to t).
   */
  priority: readonly number[];
}

/** What the trainer needs from a network. */
export interface Adapter {
  /** 'baseline-hrnet', 'fasrnet', ... */
  readonly id: string;
  readonly model: ModelName;
  readonly preset: TrainPreset;
  readonly module: Module;
  /** Network input [width, height]. */
  readonly inputSize: readonly [number, number];
  readonly frames: FrameSelection;
  readonly jointSet: JointSet;
  /** The single-frame network this one is compared with (and initialized from). */
  readonly baselineArch: BaselineArch;
  /** The parameters the optimizer updates (frozen backbones excluded). */
  trainableParameters(): Tensor[];
  /** Training-mode forward and the paper's loss → a scalar. */
  loss(batch: PoseBatch): Tensor;
  /** Eval-mode forward (the caller sets eval mode and noGrad) → heatmaps to decode. */
  predict(batch: PoseBatch): Prediction[];
  /**
   * Copies a trained single-frame network of `baselineArch` (its state dict) into this network.
   * @returns a one-line description of what was loaded.
   * @throws Error when the keys or shapes do not match.
   */
  initFromBaseline(state: Map<string, HostTensor | Tensor>): string;
  /** Drops cached backbone features (after the weights or the device change). */
  clearCache(): void;
  /** Cache statistics, when the adapter caches frozen features. */
  cacheStats(): { hits: number; misses: number; size: number } | null;
}

export interface AdapterOptions {
  /** The baseline's architecture (model 'baseline' only; default 'hrnet'). */
  arch?: BaselineArch;
  /** Cache frozen-backbone outputs per crop (FaSRnet, VREMD). Default true. */
  cacheFeatures?: boolean;
  /**
   * Also use the cache in training mode (default false: only in eval mode). Turn it on when the
   * training crops repeat, i.e. without augmentation; augmented crops never repeat and would only
   * evict the evaluation crops.
   */
  cacheTraining?: boolean;
  /** Cache capacity in crops (default 8000). */
  cacheSize?: number;
  /**
   * The pretrained MoveNet of the `real` preset (SinglePose Lightning). Without it, a MoveNet with
   * random weights is built (see the file header).
   */
  movenet?: MoveNet;
}

/** Joints of SynthPose (PoseTrack's 17 slots; the ears are never annotated) and of the real data (COCO-17). */
const K = POSETRACK.numJoints;

/** The joint set a preset's labels use: COCO-17 for `real`, PoseTrack for SynthPose. */
export function presetJointSet(preset: TrainPreset): JointSet {
  return preset === 'real' ? COCO17 : POSETRACK;
}

/** The MoveNet of a `real` adapter: the given one, or Lightning with random weights (to be loaded). */
function realMoveNet(opts: AdapterOptions): MoveNet {
  return opts.movenet ?? new MoveNet(MOVENET_CONFIGS.lightning).eval();
}

/** Loads a MoveNet state dict (a weights file's tensors) into a `real` network's backbone. */
function loadMoveNet(net: Module | null, state: Map<string, HostTensor | Tensor>): string {
  if (!net) fail('initFromBaseline', 'a network with a MoveNet backbone', 'none');
  net.loadStateDict(state);
  return `MoveNet (${state.size} tensors) → the frozen backbone`;
}

// ------------------------------------------------------------------------------------ configs

/** HRNet of a preset with a 17-joint head: tiny (width 4) at 64x64, small (width 16) at 96x128. */
export function hrnetConfig(preset: SynthPreset): { cfg: HRNetConfig; inputSize: [number, number] } {
  return preset === 'tiny' ? { cfg: { ...HRNET_PRESETS.tiny, numJoints: K }, inputSize: [64, 64] } : { cfg: { ...HRNET_PRESETS.small, numJoints: K }, inputSize: [96, 128] };
}

/** ViTPose of a preset (ViT tiny at 64x48, small at 128x96). */
export function vitposeConfig(preset: SynthPreset): { cfg: ViTPoseConfig; inputSize: [number, number] } {
  const v = preset === 'tiny' ? VIT_PRESETS.tiny : VIT_PRESETS.small;
  return { cfg: { ...v, numJoints: K }, inputSize: [v.imgSize[1], v.imgSize[0]] };
}

/** RPSTN's pose initializer of a preset as a SimpleBaseline with a 17-joint head. */
export function simpleBaselineConfig(preset: SynthPreset): { cfg: SimpleBaselineConfig; inputSize: [number, number] } {
  const r = rpstnPreset(preset);
  return { cfg: { ...r.initializer!, numJoints: K }, inputSize: [r.inputSize[0], r.inputSize[1]] };
}

// ------------------------------------------------------------------------------------ helpers

/** Frame `t` of [B, T, ...] as [B, ...]. */
function frameOf(x: Tensor, t: number): Tensor {
  const [B, , ...rest] = x.shape;
  return reshape(slice(x, 1, t, t + 1), [B!, ...rest]);
}

/** A stable id of one crop: the frame and the exact affine that cut it. */
export function cropId(meta: SampleMeta, t: number): string {
  return `${meta.videoId}/${meta.frameIds[t]}/${meta.transforms[t]!.map((v) => v.toPrecision(12)).join(',')}`;
}

function keyOf(batch: PoseBatch): number {
  const k = batch.meta[0]!.key;
  for (const m of batch.meta) if (m.key !== k) fail('Adapter', `one key-frame index for the batch (${k})`, String(m.key));
  return k;
}

function stripPrefix(state: Map<string, HostTensor | Tensor>, prefix: string): Map<string, HostTensor | Tensor> {
  const out = new Map<string, HostTensor | Tensor>();
  for (const [k, v] of state) if (k.startsWith(prefix)) out.set(k.slice(prefix.length), v);
  return out;
}

function hasPrefix(state: Map<string, unknown>, prefix: string): boolean {
  for (const k of state.keys()) if (k.startsWith(prefix)) return true;
  return false;
}

/** A small LRU of per-crop tensors (kept, so that they survive tidy). */
class CropCache {
  private readonly map = new Map<string, Tensor[]>();
  hits = 0;
  misses = 0;
  constructor(readonly capacity: number) {}
  get(id: string): Tensor[] | undefined {
    const v = this.map.get(id);
    if (!v) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.map.delete(id);
    this.map.set(id, v);
    return v;
  }
  /** The entry of `id` without counting a hit or a miss. */
  peek(id: string): Tensor[] | undefined {
    return this.map.get(id);
  }
  set(id: string, v: Tensor[]): void {
    for (const t of v) t.keep();
    this.map.set(id, v);
    while (this.map.size > this.capacity) {
      const [oldest, ts] = this.map.entries().next().value!;
      this.map.delete(oldest);
      for (const t of ts) t.dispose();
    }
  }
  clear(): void {
    for (const ts of this.map.values()) for (const t of ts) t.dispose();
    this.map.clear();
    this.hits = 0;
    this.misses = 0;
  }
  get size(): number {
    return this.map.size;
  }
}

// ------------------------------------------------------------------------------------ baselines

class BaselineAdapter implements Adapter {
  readonly model = 'baseline' as const;
  readonly id: string;
  readonly module: Module & { forward(x: Tensor): Tensor };
  readonly inputSize: readonly [number, number];
  readonly frames: FrameSelection = { kind: 'single' };
  readonly jointSet = POSETRACK;

  constructor(
    readonly preset: SynthPreset,
    readonly baselineArch: BaselineArch,
  ) {
    this.id = `baseline-${baselineArch}`;
    if (baselineArch === 'hrnet') {
      const c = hrnetConfig(preset);
      this.module = new HRNet(c.cfg);
      this.inputSize = c.inputSize;
    } else if (baselineArch === 'vitpose') {
      const c = vitposeConfig(preset);
      this.module = new ViTPose(c.cfg);
      this.inputSize = c.inputSize;
    } else {
      const c = simpleBaselineConfig(preset);
      this.module = new SimpleBaseline(c.cfg);
      this.inputSize = c.inputSize;
    }
  }

  trainableParameters(): Tensor[] {
    return this.module.parameters();
  }

  loss(batch: PoseBatch): Tensor {
    const pred = this.module.forward(frameOf(batch.images, 0));
    return jointsMseLoss(pred, frameOf(batch.targets, 0), frameOf(batch.targetWeights, 0));
  }

  predict(batch: PoseBatch): Prediction[] {
    return [{ t: 0, heatmaps: this.module.forward(frameOf(batch.images, 0)), priority: batch.meta.map(() => 0) }];
  }

  initFromBaseline(state: Map<string, HostTensor | Tensor>): string {
    this.module.loadStateDict(state);
    return `all ${state.size} tensors of ${this.id}`;
  }

  clearCache(): void {}
  cacheStats(): null {
    return null;
  }
}

/**
 * MoveNet alone (the `real` preset's baseline): the frozen pretrained MoveNet Lightning's heatmaps
 * (the backbone interface's 'centered' heatmaps, COCO-17) on each crop, decoded as every network's.
 * Nothing trains: `loss` throws.
 */
class MoveNetBaselineAdapter implements Adapter {
  readonly model = 'baseline' as const;
  readonly id = 'baseline-movenet';
  readonly preset = 'real' as const;
  readonly baselineArch = 'movenet' as const;
  readonly module: MoveNet;
  readonly backbone: PoseBackbone;
  readonly inputSize: readonly [number, number] = [192, 192];
  readonly frames: FrameSelection = { kind: 'single' };
  readonly jointSet = COCO17;

  constructor(opts: AdapterOptions) {
    this.module = realMoveNet(opts);
    this.backbone = moveNetBackbone(this.module);
    const [h, w] = this.module.config.inputSize;
    this.inputSize = [w, h];
  }

  trainableParameters(): Tensor[] {
    return [];
  }

  loss(): Tensor {
    return fail('MoveNet baseline', 'a trainable network', 'the frozen pretrained MoveNet (evaluate it; nothing trains)');
  }

  predict(batch: PoseBatch): Prediction[] {
    return [{ t: 0, heatmaps: this.backbone.forward(frameOf(batch.images, 0)).heatmaps, priority: batch.meta.map(() => 0) }];
  }

  initFromBaseline(state: Map<string, HostTensor | Tensor>): string {
    return loadMoveNet(this.module, state);
  }

  clearCache(): void {}
  cacheStats(): null {
    return null;
  }
}

// ------------------------------------------------------------------------------------ FaSRnet

class FaSRnetAdapter implements Adapter {
  readonly model = 'fasrnet' as const;
  readonly id = 'fasrnet';
  readonly baselineArch: BaselineArch;
  readonly module: FaSRnet;
  readonly inputSize: readonly [number, number];
  readonly frames: FrameSelection = { kind: 'curPrevNext', maxGap: 1 };
  readonly jointSet: JointSet;
  private readonly cache: CropCache | null;

  constructor(readonly preset: TrainPreset, opts: AdapterOptions) {
    this.jointSet = presetJointSet(preset);
    if (preset === 'real') {
      this.module = createFaSRnet('real', {}, { movenet: realMoveNet(opts) });
      this.inputSize = [this.module.cfg.inputSize[0], this.module.cfg.inputSize[1]];
      this.baselineArch = 'movenet';
    } else {
      const hr = hrnetConfig(preset);
      // The preset's head at 17 joints, on the same HRNet (and input size) as the HRNet baseline.
      this.module = createFaSRnet(preset, { numJoints: K, backbone: hr.cfg, inputSize: hr.inputSize });
      this.inputSize = hr.inputSize;
      this.baselineArch = 'hrnet';
    }
    this.cache = (opts.cacheFeatures ?? true) ? new CropCache(opts.cacheSize ?? 8000) : null;
    this.cacheTraining = opts.cacheTraining ?? false;
  }
  private readonly cacheTraining: boolean;

  trainableParameters(): Tensor[] {
    return this.module.trainableParameters();
  }

  /** Backbone features and heatmaps of frames [cur, prev, next] (batch order 0, 1, 2), from the cache when possible. */
  private features(batch: PoseBatch): { fCur: Tensor; fPrev: Tensor; fNext: Tensor; hCur: Tensor; hPrev: Tensor; hNext: Tensor } {
    const B = batch.meta.length;
    const bb = this.module.poseBackbone;
    if (!this.cache || (this.module.training && !this.cacheTraining)) {
      const f = this.module.backbone({ cur: frameOf(batch.images, 0), prev: frameOf(batch.images, 1), next: frameOf(batch.images, 2) });
      return { fCur: f.fCur, fPrev: f.fPrev, fNext: f.fNext, hCur: f.hCur, hPrev: f.hPrev, hNext: f.hNext };
    }
    const cache = this.cache;
    const entries: Tensor[][][] = [0, 1, 2].map(() => new Array<Tensor[]>(B));
    const missing: { t: number; b: number; id: string }[] = [];
    for (let t = 0; t < 3; t++) {
      for (let b = 0; b < B; b++) {
        const id = cropId(batch.meta[b]!, t);
        const hit = cache.get(id);
        if (hit) entries[t]![b] = hit;
        else missing.push({ t, b, id });
      }
    }
    if (missing.length) {
      noGrad(() => {
        const crops = missing.map(({ t, b }) => slice(frameOf(batch.images, t), 0, b, b + 1));
        const r = bb.forward(crops.length === 1 ? crops[0]! : concat(crops, 0));
        const fs = split(r.features, 1, 0);
        const hs = split(r.heatmaps, 1, 0);
        missing.forEach((m, i) => {
          const e = [reshape(fs[i]!, fs[i]!.shape.slice(1)), reshape(hs[i]!, hs[i]!.shape.slice(1))];
          // identical crops inside one batch (clip borders repeat a frame) share one entry
          const again = cache.peek(m.id);
          if (again) {
            entries[m.t]![m.b] = again;
          } else {
            cache.set(m.id, e);
            entries[m.t]![m.b] = e;
          }
        });
      });
    }
    const part = (t: number, j: number): Tensor => stack(entries[t]!.map((e) => e[j]!), 0);
    return { fCur: part(0, 0), fPrev: part(1, 0), fNext: part(2, 0), hCur: part(0, 1), hPrev: part(1, 1), hNext: part(2, 1) };
  }

  private margins(batch: PoseBatch): { wPrev: Tensor; wNext: Tensor } {
    const dev = batch.images.device;
    const wp = batch.meta.map((m) => m.margins?.wPrev ?? 0.5);
    const wn = batch.meta.map((m) => m.margins?.wNext ?? 0.5);
    return { wPrev: tensor(Float32Array.from(wp), { device: dev }), wNext: tensor(Float32Array.from(wn), { device: dev }) };
  }

  loss(batch: PoseBatch): Tensor {
    const { wPrev, wNext } = this.margins(batch);
    const out = this.module.forwardHead(this.features(batch), wPrev, wNext);
    return fasrnetLoss(out, frameOf(batch.targets, 0), frameOf(batch.targetWeights, 0), this.module.cfg.lossAlpha ?? 0.4);
  }

  predict(batch: PoseBatch): Prediction[] {
    const { wPrev, wNext } = this.margins(batch);
    return [{ t: 0, heatmaps: this.module.forwardHead(this.features(batch), wPrev, wNext).hFinal, priority: batch.meta.map(() => 0) }];
  }

  initFromBaseline(state: Map<string, HostTensor | Tensor>): string {
    this.module.rough_pose_estimation_net.loadStateDict(state);
    this.clearCache();
    return this.preset === 'real' ? `MoveNet (${state.size} tensors) → rough_pose_estimation_net (frozen)` : `HRNet baseline (${state.size} tensors) → rough_pose_estimation_net (frozen)`;
  }

  clearCache(): void {
    this.cache?.clear();
  }

  cacheStats(): { hits: number; misses: number; size: number } | null {
    return this.cache ? { hits: this.cache.hits, misses: this.cache.misses, size: this.cache.size } : null;
  }
}

// ------------------------------------------------------------------------------------ VREMD

class VREMDAdapter implements Adapter {
  readonly model = 'vremd' as const;
  readonly id = 'vremd';
  readonly baselineArch: BaselineArch;
  readonly module: VREMD;
  readonly inputSize: readonly [number, number];
  readonly frames: FrameSelection = { kind: 'prevCurNext', gap: 1 };
  readonly jointSet: JointSet;
  private readonly useCache: boolean;
  private readonly cacheTraining: boolean;

  constructor(readonly preset: TrainPreset, opts: AdapterOptions) {
    this.jointSet = presetJointSet(preset);
    this.useCache = opts.cacheFeatures ?? true;
    this.cacheTraining = opts.cacheTraining ?? false;
    const cache = this.useCache ? { cacheSize: opts.cacheSize ?? 8000 } : {};
    if (preset === 'real') {
      this.module = createVREMD(vremdPreset('real'), { ...cache, movenet: realMoveNet(opts) });
      const [h, w] = this.module.inputSize;
      this.inputSize = [w, h];
      this.baselineArch = 'movenet';
    } else {
      const v = vitposeConfig(preset);
      this.module = createVREMD(vremdPreset(preset, { numJoints: K }), cache);
      this.inputSize = v.inputSize;
      this.baselineArch = 'vitpose';
    }
  }

  trainableParameters(): Tensor[] {
    return this.module.trainableParameters();
  }

  private forward(batch: PoseBatch): Tensor {
    if (!this.useCache || (this.module.training && !this.cacheTraining)) return this.module.forward({ frames: batch.images });
    const frameIds = [0, 1, 2].map((t) => batch.meta.map((m) => cropId(m, t)));
    return this.module.forward({ frames: batch.images, frameIds });
  }

  loss(batch: PoseBatch): Tensor {
    const k = keyOf(batch);
    return vremdLoss(this.forward(batch), frameOf(batch.targets, k), frameOf(batch.targetWeights, k));
  }

  predict(batch: PoseBatch): Prediction[] {
    return [{ t: keyOf(batch), heatmaps: this.forward(batch), priority: batch.meta.map(() => 0) }];
  }

  initFromBaseline(state: Map<string, HostTensor | Tensor>): string {
    if (this.preset === 'real') {
      const note = loadMoveNet(this.module.feature_backbone, state);
      this.clearCache();
      return note;
    }
    const r = this.module.loadViTPose(state);
    this.clearCache();
    return `ViTPose baseline → backbone (frozen, ${r.backbone.missingKeys.length} missing) and keypoint_head → motion_head (H_m)`;
  }

  clearCache(): void {
    this.module.featureCache?.clear();
  }

  cacheStats(): { hits: number; misses: number; size: number } | null {
    const c = this.module.featureCache;
    return c ? { hits: c.hits, misses: c.misses, size: c.size } : null;
  }
}

// ------------------------------------------------------------------------------------ GLPose

class GLPoseAdapter implements Adapter {
  readonly model = 'glpose' as const;
  readonly id = 'glpose';
  readonly baselineArch: BaselineArch;
  readonly module: GLPose<Module>;
  readonly inputSize: readonly [number, number];
  readonly frames: FrameSelection;
  readonly jointSet: JointSet;

  constructor(readonly preset: TrainPreset, opts: AdapterOptions = {}) {
    this.jointSet = presetJointSet(preset);
    if (preset === 'real') {
      this.module = createGLPose('real', {}, { movenet: realMoveNet(opts) });
      this.inputSize = [this.module.cfg.inputSize[0], this.module.cfg.inputSize[1]];
      this.baselineArch = 'movenet';
    } else {
      const hr = hrnetConfig(preset);
      this.module = createGLPose(preset, { numJoints: K, backbone: hr.cfg, inputSize: hr.inputSize });
      this.inputSize = hr.inputSize;
      this.baselineArch = 'hrnet';
    }
    this.frames = glposeFrameSelection(this.module.cfg);
  }

  trainableParameters(): Tensor[] {
    return this.module.trainableParameters();
  }

  private forward(batch: PoseBatch): Tensor {
    return this.module.forward(glposeInputsFromFrames(batch.images, this.module.cfg, batch.meta.map((m) => m.positions)));
  }

  loss(batch: PoseBatch): Tensor {
    return glposeLoss(this.forward(batch), frameOf(batch.targets, 0), frameOf(batch.targetWeights, 0));
  }

  predict(batch: PoseBatch): Prediction[] {
    return [{ t: 0, heatmaps: this.forward(batch), priority: batch.meta.map(() => 0) }];
  }

  initFromBaseline(state: Map<string, HostTensor | Tensor>): string {
    if (this.preset === 'real') return loadMoveNet(this.module.backbone, state);
    this.module.backbone.loadStateDict(state);
    return `HRNet baseline (${state.size} tensors) → backbone (stages 1-3 used, ${this.module.cfg.freezeBackbone ? 'frozen' : 'trained'})`;
  }

  clearCache(): void {}
  cacheStats(): null {
    return null;
  }
}

// ------------------------------------------------------------------------------------ RPSTN

class RPSTNAdapter implements Adapter {
  readonly model = 'rpstn' as const;
  readonly id = 'rpstn';
  readonly baselineArch: BaselineArch;
  readonly module: RPSTN;
  readonly inputSize: readonly [number, number];
  readonly frames: FrameSelection;
  readonly jointSet: JointSet;

  constructor(readonly preset: TrainPreset, opts: AdapterOptions = {}) {
    this.jointSet = presetJointSet(preset);
    const real = preset === 'real';
    const cfg = real ? rpstnPreset('real') : rpstnPreset(preset, { numJoints: K, jointSet: 'posetrack' });
    this.module = new RPSTN(cfg, real ? { movenet: realMoveNet(opts) } : {});
    this.baselineArch = real ? 'movenet' : 'simplebaseline';
    this.inputSize = [cfg.inputSize[0], cfg.inputSize[1]];
    this.frames = { kind: 'consecutive', length: cfg.numFrames };
  }

  trainableParameters(): Tensor[] {
    return this.module.trainableParameters();
  }

  loss(batch: PoseBatch): Tensor {
    const pred = this.module.forward(batch.images);
    const [B, T] = batch.targetWeights.shape as [number, number];
    return rpstnLoss(pred, batch.targets, { weights: reshape(batch.targetWeights, [B, T, K]) });
  }

  /** Every frame of the window; a frame seen later in a window has more context (priority = distinct frames up to it). */
  predict(batch: PoseBatch): Prediction[] {
    const out = this.module.forward(batch.images);
    const T = out.shape[1]!;
    return Array.from({ length: T }, (_, t) => ({ t, heatmaps: frameOf(out, t), priority: batch.meta.map((m) => new Set(m.positions.slice(0, t + 1)).size) }));
  }

  initFromBaseline(state: Map<string, HostTensor | Tensor>): string {
    if (this.preset === 'real') return loadMoveNet(this.module.backbone, state);
    this.module.pose_net!.loadStateDict(state);
    // the feature extractor has the same trunk and deconvs, without the joint head
    const trunk = new Map([...state].filter(([k]) => !k.startsWith('final_layer.')));
    const sameShape = JSON.stringify(this.module.cfg.initializer) === JSON.stringify(this.module.cfg.extractor);
    if (sameShape) this.module.fea_ext!.loadStateDict(trunk);
    return `SimpleBaseline baseline → pose_net${sameShape ? ' and fea_ext (without final_layer)' : ''}`;
  }

  clearCache(): void {}
  cacheStats(): null {
    return null;
  }
}

// ------------------------------------------------------------------------------------ factory

/**
 * Builds the adapter (and its network, on the engine's default device) for `model` at `preset`.
 * @throws Error for an unknown model, preset or baseline architecture.
 */
export function createAdapter(model: ModelName, preset: TrainPreset, opts: AdapterOptions = {}): Adapter {
  const op = 'createAdapter';
  if (!TRAIN_PRESETS.includes(preset)) fail(op, `a preset in [${TRAIN_PRESETS.join(', ')}]`, `'${preset}'`);
  switch (model) {
    case 'baseline': {
      if (preset === 'real') {
        if (opts.arch !== undefined && opts.arch !== 'movenet' && opts.arch !== 'hrnet') fail(op, "no baseline architecture for preset 'real' (its baseline is MoveNet alone)", `'${opts.arch}'`);
        return new MoveNetBaselineAdapter(opts);
      }
      const arch = opts.arch ?? 'hrnet';
      if (!(BASELINE_ARCHS as readonly string[]).includes(arch)) fail(op, `a baseline architecture in [${BASELINE_ARCHS.join(', ')}]`, `'${arch}'`);
      return new BaselineAdapter(preset, arch);
    }
    case 'fasrnet':
      return new FaSRnetAdapter(preset, opts);
    case 'vremd':
      return new VREMDAdapter(preset, opts);
    case 'glpose':
      return new GLPoseAdapter(preset, opts);
    case 'rpstn':
      return new RPSTNAdapter(preset, opts);
    default:
      return fail(op, `a model in [${MODEL_NAMES.join(', ')}]`, `'${String(model)}'`);
  }
}

/**
 * The control input of the experiment: every frame of each sample replaced by its key frame
 * (images, targets, weights, and meta: positions, image ids, crops; FaSRnet's margins become
 * 0.5/0.5 as for equal gaps). A temporal network trained and evaluated on such batches has its
 * full architecture and budget but no temporal information, which separates what its extra
 * capacity brings from what its neighbouring frames bring.
 * Shapes: images [B, T, 3, H, W], targets [B, T, K, h, w], targetWeights [B, T, K, 1] → the same.
 */
export function staticBatch(batch: PoseBatch): PoseBatch {
  const k = keyOf(batch);
  const T = batch.images.shape[1]!;
  const rep = (x: Tensor): Tensor => {
    const key = slice(x, 1, k, k + 1);
    return T === 1 ? key : concat(Array.from({ length: T }, () => key), 1);
  };
  const meta = batch.meta.map((m): SampleMeta => ({
    ...m,
    frameIds: m.frameIds.map(() => m.frameIds[k]!),
    positions: m.positions.map(() => m.positions[k]!),
    transforms: m.transforms.map(() => m.transforms[k]!),
    ...(m.margins ? { margins: { dPrev: 0, dNext: 0, wPrev: 0.5, wNext: 0.5 } } : {}),
  }));
  return { images: rep(batch.images), targets: rep(batch.targets), targetWeights: rep(batch.targetWeights), meta };
}

/** The baseline architecture that `model` is compared with (and initialized from); 'movenet' for every model at `real`. */
export function baselineArchOf(model: ModelName, arch: BaselineArch = 'hrnet', preset?: TrainPreset): BaselineArch {
  if (preset === 'real') return 'movenet';
  switch (model) {
    case 'baseline':
      return arch;
    case 'fasrnet':
    case 'glpose':
      return 'hrnet';
    case 'vremd':
      return 'vitpose';
    case 'rpstn':
      return 'simplebaseline';
  }
}

/**
 * The tensors of a single-frame network inside a saved state: a baseline's own state dict, or the
 * `model.` entries of a training checkpoint.
 */
export function baselineStateFrom(tensors: Map<string, HostTensor>): Map<string, HostTensor> {
  return hasPrefix(tensors, 'model.') ? (stripPrefix(tensors, 'model.') as Map<string, HostTensor>) : tensors;
}
