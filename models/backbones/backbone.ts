/**
 * The backbone interface: what the four papers' networks read from a single-frame pose network.
 *
 *   backbone.forward(frames [B, 3, H, W]) → { features [B, C, H/4, W/4], heatmaps [B, K, H/4, W/4] }
 *   backbone.forwardFeatures(frames)      → features alone (cheaper when the heatmaps are unused)
 *
 * `frames` are ImageNet-normalized RGB (models/pose/affine.ts `normalizeImagenet`), which is what
 * the data pipeline and the demo produce, whatever the backbone: an adapter whose network wants
 * another input (MoveNet: RGB in 0..255) converts inside.
 *
 * Four adapters implement it; none wraps its network in a new Module, so a paper network registers
 * `backbone.module` under its own (official) name and its state-dict keys do not change:
 *
 * | adapter | features | heatmaps | joint convention of the heatmaps |
 * |---|---|---|---|
 * | `hrnetBackbone(hrnet)` | the highest-resolution branch after stage 4 (or 3: `featureStage`) | `final_layer`, regressed Gaussians (peak ≈ 1) | what it was trained on |
 * | `simpleBaselineBackbone(sb)` | the last deconv's output (256 ch) | `final_layer`, regressed Gaussians | what it was trained on |
 * | `vitPoseBackbone(vitpose)` | `keypoint_head`'s deconv output (256 ch) | `keypoint_head.final_layer`, regressed Gaussians | what it was trained on |
 * | `moveNetBackbone(movenet)` | the FPN's stride-4 output (24 ch) | `keypoint_heatmap` head, sigmoid probabilities | COCO-17 |
 *
 * Joint conventions. A backbone's heatmap channels are in its own joint set (`jointSet`): MoveNet's
 * 17 are COCO's (nose, left/right eye, left/right ear, shoulders, ..., ankles). A paper network
 * predicts in the joint set of its training labels, which its preset names: PoseTrack's 17 slots in
 * COCO order for the SynthPose-trained `tiny`/`small` presets (slot 1 `head_bottom`, slot 2
 * `head_top` where COCO has the eyes; the ears, slots 3-4, never annotated), Penn Action's 13 for
 * RPSTN's `paper`, and COCO-17 for the `real` presets — the labels of the real-video data (its
 * teacher is MoveNet Thunder) and MoveNet's own order, so a residual head that starts as a copy of
 * MoveNet's heatmaps starts right on every joint. Slots 0 and 5-16 (nose, shoulders ... ankles) mean
 * the same in COCO and PoseTrack; only slots 1-4 differ (models/pose/posetrack-json.ts
 * `cocoToPoseTrack` maps COCO keypoints to PoseTrack's slots for scoring on PoseTrack frames).
 *
 * Frozen backbones (`frozen: true`, the default for MoveNet): their parameters have requiresGrad
 * false, the module stays in eval mode, and `forward` runs under `noGrad` inside a `tidy`, so no
 * gradient reaches them and none of their intermediate activations outlives the call.
 *
 * `BackboneSpec` is the JSON form a network's configuration records (weights files rebuild their
 * module from it); `buildBackbone(spec, { movenet })` builds the adapter, reusing a MoveNet instance
 * the caller already has (models/** never read files: pass `moveNetFromSafetensors(bytes)`).
 */
import { noGrad, tidy } from '../../engine/engine.js';
import { fail, fmtShape } from '../../engine/shape.js';
import { Tensor } from '../../engine/tensor.js';
import { tensor } from '../../ops/creation.js';
import { add, div, mul, sqrt, square, sub } from '../../ops/elementwise.js';
import { argmax } from '../../ops/reduce.js';
import { expand, gather, reshape, slice } from '../../ops/shape.js';
import { MOVENET_CONFIGS, type MoveNetConfig } from '../movenet/config.js';
import { MoveNet } from '../movenet/movenet.js';
import type { Module } from '../nn/module.js';
import { HRNet, type HRNetConfig } from './hrnet.js';
import { SimpleBaseline, type SimpleBaselineConfig } from './resnet.js';
import { ViTPose, type ViTPoseConfig } from './vit.js';

/** What a backbone returns for frames [B, 3, H, W]. */
export interface BackboneOutput {
  /** [B, C, H/4, W/4] */
  features: Tensor;
  /** [B, K, H/4, W/4] */
  heatmaps: Tensor;
}

export type BackboneKind = 'hrnet' | 'simplebaseline' | 'vitpose' | 'movenet';

/**
 * What the heatmaps hold: 'gaussian' — regressed Gaussian targets (HRNet, SimpleBaseline, ViTPose:
 * unbounded, peak ≈ 1 on a joint); 'probability' — sigmoid probabilities in [0, 1] (MoveNet).
 */
export type HeatmapKind = 'gaussian' | 'probability';

/** A single-frame pose network seen through the interface (see the file header). */
export interface PoseBackbone {
  readonly kind: BackboneKind;
  /** One line for summaries, e.g. 'MoveNet lightning (frozen)'. */
  readonly name: string;
  /** The network holding the weights; a paper network registers it under its own name. */
  readonly module: Module;
  /** C, the feature channels. */
  readonly featureChannels: number;
  /** K, the heatmap channels (0: no heatmap head, `forward` throws; `forwardFeatures` works). */
  readonly numJoints: number;
  /** The joint set of the heatmap channels (models/pose/joints.ts name), e.g. 'coco17'. */
  readonly jointSet: string;
  readonly heatmapKind: HeatmapKind;
  /** The exact input [H, W] the network needs (MoveNet SinglePose), or null: any multiple of `sizeMultiple`. */
  readonly inputSize: readonly [number, number] | null;
  /**
   * H and W must be multiples of this for maps of exactly H/4 x W/4: 32 (HRNet's four
   * resolutions, MoveNet's FPN), 16 (ViTPose's patches), 1 (SimpleBaseline takes any size; its
   * maps are 8·⌈H/32⌉ then).
   */
  readonly sizeMultiple: number;
  /** Frozen: no gradient reaches it, eval mode, forward under noGrad (see the file header). */
  readonly frozen: boolean;
  /** The JSON form of this backbone (for a network's configuration). */
  readonly spec: BackboneSpec;
  /**
   * Features and heatmaps of ImageNet-normalized frames [B, 3, H, W].
   * `opts.grad` records a frozen backbone too (gradients reach the frames; never its parameters).
   * @throws Error naming the backbone when frames are not [B, 3, H, W] of an accepted size, or it has no heatmap head.
   */
  forward(frames: Tensor, opts?: { grad?: boolean }): BackboneOutput;
  /** The features alone [B, C, H/4, W/4] (see forward). */
  forwardFeatures(frames: Tensor, opts?: { grad?: boolean }): Tensor;
}

/** The JSON form of a backbone, recorded in a network's configuration. */
export type BackboneSpec =
  | { readonly kind: 'hrnet'; readonly config: HRNetConfig; readonly featureStage?: 3 | 4; readonly jointSet?: string }
  | { readonly kind: 'simplebaseline'; readonly config: SimpleBaselineConfig; readonly jointSet?: string }
  | { readonly kind: 'vitpose'; readonly config: ViTPoseConfig; readonly jointSet?: string }
  | {
      readonly kind: 'movenet';
      readonly config: MoveNetConfig;
      /** See MoveNetBackboneOptions.heatmaps (default 'centered'). */
      readonly heatmaps?: 'centered' | 'raw';
    };

/** Whether `v` is a BackboneSpec (rather than, say, a bare HRNetConfig of a `paper` preset). */
export function isBackboneSpec(v: unknown): v is BackboneSpec {
  return typeof v === 'object' && v !== null && typeof (v as { kind?: unknown }).kind === 'string';
}

/** The spec of a pretrained MoveNet SinglePose variant as the `real` presets use it. */
export function moveNetSpec(variant: 'lightning' | 'thunder', heatmaps: 'centered' | 'raw' = 'centered'): BackboneSpec {
  return { kind: 'movenet', config: MOVENET_CONFIGS[variant], heatmaps };
}

export interface BuildBackboneOptions {
  /**
   * A MoveNet to use for a 'movenet' spec (e.g. `moveNetFromSafetensors(bytes)` of
   * assets/weights/movenet/lightning.safetensors). Without it a MoveNet of the spec's configuration
   * is built with random weights, to be loaded afterwards (a weights file that holds them).
   */
  movenet?: MoveNet;
  /** Freeze the backbone (default: true for MoveNet, false for the others). */
  frozen?: boolean;
}

/**
 * Builds the adapter a spec describes, with a new network (or the given MoveNet).
 * @throws Error for an unknown kind, or a MoveNet whose configuration is not the spec's.
 */
export function buildBackbone(spec: BackboneSpec, opts: BuildBackboneOptions = {}): PoseBackbone {
  switch (spec.kind) {
    case 'hrnet':
      return hrnetBackbone(new HRNet(spec.config), { featureStage: spec.featureStage, frozen: opts.frozen, jointSet: spec.jointSet });
    case 'simplebaseline':
      return simpleBaselineBackbone(new SimpleBaseline(spec.config), { frozen: opts.frozen, jointSet: spec.jointSet });
    case 'vitpose':
      return vitPoseBackbone(new ViTPose(spec.config), { frozen: opts.frozen, jointSet: spec.jointSet });
    case 'movenet': {
      let net = opts.movenet;
      if (net) {
        const want = JSON.stringify(moveNetShape(spec.config));
        const got = JSON.stringify(moveNetShape(net.config));
        if (want !== got) fail('buildBackbone', `a MoveNet of the spec's configuration ${want}`, got);
      } else {
        net = new MoveNet(spec.config).eval();
      }
      return moveNetBackbone(net, { heatmaps: spec.heatmaps, frozen: opts.frozen });
    }
    default:
      return fail('buildBackbone', "a spec of kind 'hrnet', 'simplebaseline', 'vitpose' or 'movenet'", JSON.stringify((spec as { kind?: unknown }).kind));
  }
}

/** The fields that decide a MoveNet's weights and outputs. */
function moveNetShape(c: MoveNetConfig): unknown {
  return { inputSize: c.inputSize, alpha: c.alpha, lastChannels: c.lastChannels, stages: c.stages ?? null, fpnChannels: c.fpnChannels, headChannels: c.headChannels, numKeypoints: c.numKeypoints, multiPose: c.multiPose };
}

/** Sets requiresGrad false on every parameter and eval mode. */
export function freezeModule(m: Module): void {
  for (const p of m.parameters()) p.requiresGrad_(false);
  m.eval();
}

/** Shared checks and the frozen-forward plumbing. */
abstract class AdapterBase implements PoseBackbone {
  abstract readonly kind: BackboneKind;
  abstract readonly name: string;
  abstract readonly featureChannels: number;
  abstract readonly numJoints: number;
  abstract readonly jointSet: string;
  abstract readonly heatmapKind: HeatmapKind;
  abstract readonly spec: BackboneSpec;
  readonly inputSize: readonly [number, number] | null = null;
  abstract readonly sizeMultiple: number;

  constructor(
    readonly module: Module,
    readonly frozen: boolean,
  ) {
    if (frozen) freezeModule(module);
  }

  protected abstract compute(frames: Tensor, heatmaps: boolean): { features: Tensor; heatmaps: Tensor | null };

  private check(frames: Tensor): void {
    const op = this.name;
    if (!(frames instanceof Tensor)) fail(op, 'frames as a Tensor [B, 3, H, W]', String(frames));
    if (frames.rank !== 4 || frames.shape[1] !== 3) fail(op, 'frames [B, 3, H, W]', fmtShape(frames.shape));
    const [H, W] = [frames.shape[2]!, frames.shape[3]!];
    if (this.inputSize && (H !== this.inputSize[0] || W !== this.inputSize[1])) fail(op, `frames of ${this.inputSize[0]}x${this.inputSize[1]} (H x W)`, `${H}x${W}`);
    const m = this.sizeMultiple;
    if (H % m !== 0 || W % m !== 0 || H === 0 || W === 0) fail(op, `frames whose H and W are positive multiples of ${m}`, `${H}x${W}`);
  }

  private run<T>(frames: Tensor, grad: boolean | undefined, fn: () => T): T {
    this.check(frames);
    return this.frozen && !grad ? noGrad(() => tidy(fn)) : fn();
  }

  forward(frames: Tensor, opts: { grad?: boolean } = {}): BackboneOutput {
    if (this.numJoints === 0) fail(this.name, 'a backbone with a heatmap head for forward (use forwardFeatures)', 'none');
    return this.run(frames, opts.grad, () => this.compute(frames, true) as BackboneOutput);
  }

  forwardFeatures(frames: Tensor, opts: { grad?: boolean } = {}): Tensor {
    return this.run(frames, opts.grad, () => this.compute(frames, false).features);
  }
}

// ------------------------------------------------------------------------------------ HRNet

class HRNetAdapter extends AdapterBase {
  readonly kind = 'hrnet';
  readonly sizeMultiple = 32;
  readonly name: string;
  readonly featureChannels: number;
  readonly numJoints: number;
  readonly heatmapKind = 'gaussian';
  readonly spec: BackboneSpec;

  constructor(
    readonly net: HRNet,
    readonly featureStage: 3 | 4,
    frozen: boolean,
    readonly jointSet: string,
  ) {
    super(net, frozen);
    this.featureChannels = net.cfg.width;
    this.numJoints = net.cfg.numJoints;
    this.name = `HRNet-W${net.cfg.width}${featureStage === 3 ? ' (stage-3 features)' : ''}${frozen ? ' (frozen)' : ''}`;
    this.spec = { kind: 'hrnet', config: net.cfg, ...(featureStage === 3 ? { featureStage } : {}), jointSet };
  }

  protected compute(x: Tensor, heatmaps: boolean): { features: Tensor; heatmaps: Tensor | null } {
    if (this.featureStage === 4) return this.net.forwardFeatures(x, 4);
    if (!heatmaps) return this.net.forwardFeatures(x, 3);
    const s = this.net.forwardStages(x);
    return { features: s.stage3, heatmaps: s.heatmaps };
  }
}

/**
 * HRNet through the interface: features = the highest-resolution branch after stage 4 (W channels;
 * `featureStage: 3` takes it after stage 3, GLPose's V, and the heatmaps still come from stage 4),
 * heatmaps = final_layer. Not frozen unless asked.
 */
export function hrnetBackbone(net: HRNet, opts: { featureStage?: 3 | 4; frozen?: boolean; jointSet?: string } = {}): PoseBackbone {
  return new HRNetAdapter(net, opts.featureStage ?? 4, opts.frozen ?? false, opts.jointSet ?? 'posetrack');
}

// ------------------------------------------------------------------------------------ SimpleBaseline

class SimpleBaselineAdapter extends AdapterBase {
  readonly kind = 'simplebaseline';
  readonly sizeMultiple = 1;
  readonly name: string;
  readonly featureChannels: number;
  readonly numJoints: number;
  readonly heatmapKind = 'gaussian';
  readonly spec: BackboneSpec;

  constructor(
    readonly net: SimpleBaseline,
    frozen: boolean,
    readonly jointSet: string,
  ) {
    super(net, frozen);
    this.featureChannels = net.deconvChannels;
    this.numJoints = net.numJoints ?? 0;
    this.name = `SimpleBaseline${frozen ? ' (frozen)' : ''}`;
    this.spec = { kind: 'simplebaseline', config: net.spec, jointSet };
  }

  protected compute(x: Tensor, heatmaps: boolean): { features: Tensor; heatmaps: Tensor | null } {
    const features = this.net.forwardDeconv(x);
    return { features, heatmaps: heatmaps && this.net.final_layer ? this.net.final_layer.forward(features) : null };
  }
}

/**
 * SimpleBaseline through the interface: features = the last deconv stage's output (deconvChannels),
 * heatmaps = final_layer (a headless SimpleBaseline gives features only).
 */
export function simpleBaselineBackbone(net: SimpleBaseline, opts: { frozen?: boolean; jointSet?: string } = {}): PoseBackbone {
  return new SimpleBaselineAdapter(net, opts.frozen ?? false, opts.jointSet ?? 'posetrack');
}

// ------------------------------------------------------------------------------------ ViTPose

class ViTPoseAdapter extends AdapterBase {
  readonly kind = 'vitpose';
  readonly sizeMultiple = 16;
  readonly name: string;
  readonly featureChannels: number;
  readonly numJoints: number;
  readonly heatmapKind = 'gaussian';
  readonly spec: BackboneSpec;

  constructor(
    readonly net: ViTPose,
    frozen: boolean,
    readonly jointSet: string,
  ) {
    super(net, frozen);
    this.featureChannels = net.cfg.deconvChannels ?? 256;
    this.numJoints = net.cfg.numJoints;
    this.name = `ViTPose-${net.cfg.embedDim}${frozen ? ' (frozen)' : ''}`;
    this.spec = { kind: 'vitpose', config: net.cfg, jointSet };
    if ((net.cfg.numDeconvLayers ?? 2) !== 2) fail('vitPoseBackbone', 'a ViTPose head of 2 deconvs (stride-4 maps)', String(net.cfg.numDeconvLayers));
  }

  protected compute(x: Tensor, heatmaps: boolean): { features: Tensor; heatmaps: Tensor | null } {
    const features = this.net.keypointHead.deconvLayers.forward(this.net.backbone.forward(x));
    return { features, heatmaps: heatmaps ? this.net.keypointHead.finalLayer.forward(features) : null };
  }
}

/**
 * ViTPose through the interface: features = keypoint_head's deconv output (stride 4,
 * deconvChannels), heatmaps = keypoint_head.final_layer. H and W must be multiples of 16 (the
 * patches, then two ×2 deconvs give H/4).
 */
export function vitPoseBackbone(net: ViTPose, opts: { frozen?: boolean; jointSet?: string } = {}): PoseBackbone {
  return new ViTPoseAdapter(net, opts.frozen ?? false, opts.jointSet ?? 'posetrack');
}

// ------------------------------------------------------------------------------------ MoveNet

export interface MoveNetBackboneOptions {
  /**
   * Which heatmaps the adapter returns:
   * - 'centered' (default): MoveNet's keypoint heatmaps weighted towards the person MoveNet
   *   SinglePose decodes — the one whose centre is nearest the crop centre — as its own decoding
   *   does: heatmap_j · k/(‖(y, x) − r_j‖ + k), r_j the keypoint regressed from that person's centre,
   *   k = keypointDistanceOffset (1.8 cells). The weight is 1 at r_j and falls off with distance, so
   *   the argmax is MoveNet's keypoint cell and the peak keeps its probability; a second person in
   *   the crop no longer wins the argmax. (SinglePose only.)
   * - 'raw': the keypoint heatmaps as the head outputs them (every person in the crop).
   */
  heatmaps?: 'centered' | 'raw';
  /** The frames' encoding: 'imagenet' (default; converted to MoveNet's 0..255) or 'rgb255'. */
  input?: 'imagenet' | 'rgb255';
  /** Default true. */
  frozen?: boolean;
}

const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

class MoveNetAdapter extends AdapterBase {
  readonly kind = 'movenet';
  readonly sizeMultiple = 32;
  readonly name: string;
  readonly featureChannels: number;
  readonly numJoints: number;
  readonly jointSet = 'coco17';
  readonly heatmapKind = 'probability';
  readonly spec: BackboneSpec;
  override readonly inputSize: readonly [number, number] | null;
  readonly heatmapMode: 'centered' | 'raw';

  constructor(
    readonly net: MoveNet,
    opts: MoveNetBackboneOptions,
  ) {
    super(net, opts.frozen ?? true);
    const cfg = net.config;
    this.heatmapMode = opts.heatmaps ?? (cfg.multiPose ? 'raw' : 'centered');
    if (this.heatmapMode === 'centered' && cfg.multiPose) fail('moveNetBackbone', "heatmaps 'raw' for MultiPose (no centre weighting)", "'centered'");
    this.input = opts.input ?? 'imagenet';
    this.featureChannels = cfg.fpnChannels[3];
    this.numJoints = cfg.numKeypoints;
    this.inputSize = cfg.multiPose ? null : [cfg.inputSize[0], cfg.inputSize[1]];
    this.name = `MoveNet ${cfg.variant}${this.frozen ? ' (frozen)' : ''}`;
    this.spec = { kind: 'movenet', config: cfg, heatmaps: this.heatmapMode };
  }

  private readonly input: 'imagenet' | 'rgb255';

  /** ImageNet-normalized → 0..255 RGB: x·(255·std) + 255·mean per channel. */
  private toRgb255(x: Tensor): Tensor {
    if (this.input === 'rgb255') return x;
    const o = { dtype: x.dtype as 'float32' | 'float64', device: x.device, shape: [1, 3, 1, 1] };
    return add(mul(x, tensor(IMAGENET_STD.map((s) => 255 * s), o)), tensor(IMAGENET_MEAN.map((m) => 255 * m), o));
  }

  protected compute(x: Tensor, heatmaps: boolean): { features: Tensor; heatmaps: Tensor | null } {
    const net = this.net;
    const rgb = this.toRgb255(x);
    if (!heatmaps) {
      // the stride-4 features without the heads (MoveNet.forward's first half)
      const cfg = net.config;
      const scaled = add(mul(rgb, cfg.inputScale), cfg.inputOffset);
      return { features: net.fpn.forward(net.backbone.forward(scaled)), heatmaps: null };
    }
    const o = net.forward(rgb);
    if (this.heatmapMode === 'raw') return { features: o.features, heatmaps: o.heatmaps };
    return { features: o.features, heatmaps: centeredHeatmaps(o.heatmaps, o.center, o.regress, net.center_weight!, net.config.decode.keypointDistanceOffset ?? 1.8) };
  }
}

/**
 * MoveNet's keypoint heatmaps weighted towards the person its SinglePose decoding picks (see
 * MoveNetBackboneOptions.heatmaps), in tensor ops on any backend (no read-back).
 * Shapes: heatmaps [B, K, h, w], center [B, 1, h, w], regress [B, 2K, h, w] (channels dy_j, dx_j),
 * centerWeight [h, w] → [B, K, h, w].
 */
export function centeredHeatmaps(heatmaps: Tensor, center: Tensor, regress: Tensor, centerWeight: Tensor, k = 1.8): Tensor {
  const [B, K, h, w] = heatmaps.shape as [number, number, number, number];
  const hw = h * w;
  const o = { dtype: heatmaps.dtype as 'float32' | 'float64', device: heatmaps.device };
  const cw = centerWeight.dtype === heatmaps.dtype ? centerWeight : tensor(centerWeight.dataSync(), { ...o, shape: [h, w] });
  // 1. the centre cell: argmax of center · centerWeight
  const idx = argmax(reshape(mul(center, cw), [B, hw]), 1, true); // [B, 1] int32
  const rows = new Float64Array(hw);
  const cols = new Float64Array(hw);
  for (let i = 0; i < hw; i++) {
    rows[i] = Math.floor(i / w);
    cols[i] = i % w;
  }
  const grid = (v: Float64Array): Tensor => expand(tensor(v, { ...o, shape: [1, hw] }), [B, hw]);
  const cy = gather(grid(rows), 1, idx); // [B, 1]
  const cx = gather(grid(cols), 1, idx);
  // 2. the regressed keypoints r_j = centre + regress_j(centre)
  const reg = gather(reshape(regress, [B, 2 * K, hw]), 2, expand(reshape(idx, [B, 1, 1]), [B, 2 * K, 1])); // [B, 2K, 1]
  const pairs = reshape(reg, [B, K, 2]);
  const ry = reshape(add(reshape(slice(pairs, 2, 0, 1), [B, K]), cy), [B, K, 1, 1]);
  const rx = reshape(add(reshape(slice(pairs, 2, 1, 2), [B, K]), cx), [B, K, 1, 1]);
  // 3. weight k / (distance + k)
  const ys = tensor(Float64Array.from({ length: h }, (_, i) => i), { ...o, shape: [1, 1, h, 1] });
  const xs = tensor(Float64Array.from({ length: w }, (_, i) => i), { ...o, shape: [1, 1, 1, w] });
  const d = sqrt(add(square(sub(ys, ry)), square(sub(xs, rx))));
  return mul(heatmaps, div(k, add(d, k)));
}

/**
 * MoveNet through the interface: features = the FPN's stride-4 output (24 channels), heatmaps =
 * the keypoint head's sigmoid probabilities in COCO-17 order ('centered' by default, see
 * MoveNetBackboneOptions). Frames are ImageNet-normalized unless `input: 'rgb255'`; SinglePose
 * needs exactly its input size (Lightning 192x192, Thunder 256x256). Frozen by default.
 */
export function moveNetBackbone(net: MoveNet, opts: MoveNetBackboneOptions = {}): PoseBackbone {
  return new MoveNetAdapter(net, opts);
}

/** The adapter for a network of any of the four classes (default options). */
export function asBackbone(net: HRNet | SimpleBaseline | ViTPose | MoveNet): PoseBackbone {
  if (net instanceof MoveNet) return moveNetBackbone(net);
  if (net instanceof SimpleBaseline) return simpleBaselineBackbone(net);
  if (net instanceof ViTPose) return vitPoseBackbone(net);
  if (net instanceof HRNet) return hrnetBackbone(net);
  return fail('asBackbone', 'an HRNet, SimpleBaseline, ViTPose or MoveNet', String((net as object)?.constructor?.name));
}
