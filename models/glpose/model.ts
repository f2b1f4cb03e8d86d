/**
 * GLPose (Jiao, Chen, Feng, Chen, Wu, Yin, Liu, "GLPose: Global-Local Representation Learning for
 * Human Pose Estimation", ACM TOMM 2022). No public code; the structure follows the paper, and the
 * layers it leaves unstated are recorded (with the reasons) in docs/models/glpose.md.
 *
 *   backbone             HRNet up to the stage-3 highest-resolution branch: V = φ(F)  [N, C, h, w] (Eq. 1)
 *   weighting.ts         W_l (Eq. 2, normalized inverse temporal distance); ranking of the G global
 *                        candidates, top-n selection and W_g = softmax(GAP(V_g)·GAP(V_t)) (Eq. 3)
 *   feature_processing   S = BasicBlocks(V_t ⊕ W_l·V_l ⊕ W_g·V_g)                     (Eq. 4)
 *   feature_enhancement  F = 𝒜((1 − σ(ψ(V_t))) ⊙ S, V_t)                              (Eq. 5)
 *   head                 a 3x3 conv C → K: H                                          (Sec. 3.2)
 *
 * Input (one key-frame person per batch row; all crops [3, H, W] with H, W divisible by 32):
 *   key [B, 3, H, W]; locals [B, 2k, 3, H, W] (cropped with the key box, order [t−1, t+1, t−2,
 *   t+2, ...] as models/pose/data/frames.ts), with their temporal offsets; globals [B, G, 3, H, W]
 *   (G ≥ n candidate proposals, each cropped with its own box). Output: heatmaps [B, K, H/4, W/4].
 * All 1 + 2k + G crops run through the backbone as one batch (so BatchNorm in training mode sees
 * them together). Training loss (Eq. 6): `glposeLoss`, HRNet's JointsMSELoss.
 *
 * The backbone is read through the backbone interface (models/backbones/backbone.ts): an
 * HRNetConfig builds the paper's HRNet (stage-3 features, keys `backbone.*` as the official HRNet);
 * a BackboneSpec puts any backbone there (the `real` preset: the frozen pretrained MoveNet, passed
 * as `new GLPose(cfg, { movenet })`). `residual: true` (`real`) adds the backbone's key-frame
 * heatmaps to a zero-initialized head: H = H_t + head(F), so the untrained network copies them.
 */
import { freeIntermediates } from '../../engine/engine.js';
import { fail, fmtShape } from '../../engine/shape.js';
import type { Tensor } from '../../engine/tensor.js';
import { jointsMseLoss } from '../../ops/loss.js';
import { add } from '../../ops/elementwise.js';
import { concat, reshape, slice } from '../../ops/shape.js';
import { check } from '../../ops/util.js';
import { buildBackbone, hrnetBackbone, isBackboneSpec, type BackboneSpec, type PoseBackbone } from '../backbones/backbone.js';
import { HRNet, initHRNet, type HRNetConfig } from '../backbones/hrnet.js';
import type { MoveNet } from '../movenet/movenet.js';
import { zeros_ } from '../nn/init.js';
import { Conv2d } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { FeatureEnhancement } from './feature-enhancement.js';
import { FeatureProcessing } from './feature-processing.js';
import { defaultLocalOffsets, localDistanceWeights, rankGlobalProposals, weightLocalFeatures, type GlobalRanking } from './weighting.js';

export interface GLPoseConfig {
  /**
   * The backbone: an HRNetConfig (the paper: W48; only stages 1-3 run, stage 4 stays for checkpoint
   * compatibility) or any backbone as a BackboneSpec (models/backbones/backbone.ts; the `real`
   * preset: MoveNet Lightning, whose stride-4 FPN features are V).
   */
  backbone: HRNetConfig | BackboneSpec;
  /** Network input [width, height] (the paper: 288x384); divisible by 32. */
  inputSize: readonly [number, number];
  /** Heatmaps K (17: COCO order; PoseTrack's 15 annotated joints are stored as 17). */
  numJoints: number;
  /** k, local frames on each side of the key frame (the paper: 4, so 8 local frames). */
  localFrames: number;
  /** n, global proposals kept after ranking (the paper: 6). */
  globalFrames: number;
  /** G, global candidate proposals sampled over the video and ranked (the paper: 20). */
  globalCandidates: number;
  /** BasicBlocks of the Feature Processing module (the paper: 3). */
  processingBlocks?: number;
  /** Channels of S (default: the backbone width C). */
  processingChannels?: number;
  /** BasicBlocks of the aggregation 𝒜 in the Feature Enhancement module (default 2; unstated). */
  aggregationBlocks?: number;
  /** Feature Enhancement on (default). Off: H = head(S), the paper's "r/m Feature Enhancement" ablation. */
  featureEnhancement?: boolean;
  /** Head kernel (the paper: 3; its ablations: 5, and a channel-wise MLP, which 1 approximates). */
  headKernel?: 1 | 3 | 5;
  /** Similarity that ranks the global candidates (default 'dot', the score of Eq. 3). See weighting.ts. */
  rankBy?: GlobalRanking;
  /**
   * Freeze the backbone (no gradients to its parameters, kept in eval mode when the model trains),
   * as DCPose does with its pretrained HRNet. Default false.
   */
  freezeBackbone?: boolean;
  /** Joint-set name for decoding and drawing (models/pose/joints.ts). */
  jointSet?: string;
  /**
   * Residual head (default false; the `real` preset: true): H = H_t + head(F), H_t the backbone's
   * heatmaps of the key crop, with the head zero-initialized so that the untrained network outputs
   * H_t. The backbone needs numJoints heatmap channels.
   */
  residual?: boolean;
}

/** Construction options that are not configuration. */
export interface GLPoseOptions {
  /** The MoveNet a 'movenet' backbone spec runs (random weights without it, to be loaded). */
  movenet?: MoveNet;
}

/** What `forward` takes. */
export interface GLPoseInput {
  /** The key-frame crop F_t [B, 3, H, W]. */
  key: Tensor;
  /** The 2k local crops F_l [B, 2k, 3, H, W] (may be omitted when k = 0). */
  locals?: Tensor | null;
  /**
   * Signed temporal offsets Δt of the local frames: one list of 2k numbers for the batch, or one
   * list per sample (clip borders). Default [-1, +1, -2, +2, ..., -k, +k].
   */
  localOffsets?: readonly number[] | readonly (readonly number[])[];
  /** The G ≥ n global candidate crops [B, G, 3, H, W] (may be omitted when n = 0). */
  globals?: Tensor | null;
}

/** Everything `forwardDetailed` computes, for inspection and tests. */
export interface GLPoseOutput {
  /** H [B, K, h, w], h = H/4, w = W/4. */
  heatmaps: Tensor;
  /** V_t, the key frame's stage-3 features [B, C, h, w]. */
  vt: Tensor;
  /** S, the Feature Processing output [B, Cs, h, w] (Eq. 4). */
  s: Tensor;
  /** F, the enhanced features [B, C, h, w] (Eq. 5); equals S when featureEnhancement is off. */
  f: Tensor;
  /** 1 − σ(ψ(V_t)) [B, 1, h, w], or null when featureEnhancement is off. */
  mask: Tensor | null;
  /** W_l [B, 2k] (host values, constants). */
  localWeights: Float64Array;
  /** Dot-product scores of all G candidates [B, G] (null when n = 0). */
  globalScores: Tensor | null;
  /** Indices (int32) of the kept candidates, best first [B, n] (null when n = 0). */
  globalIndices: Tensor | null;
  /** W_g [B, n] (null when n = 0). */
  globalWeights: Tensor | null;
}

/**
 * The GLPose network. See the file comment for the structure. `B` is the backbone network's class:
 * HRNet for an HRNetConfig (the default), e.g. MoveNet for the `real` preset.
 */
export class GLPose<B extends Module = HRNet> extends Module {
  readonly cfg: GLPoseConfig;
  readonly backbone: B;
  /** The backbone seen through the interface (V = its features; H_t = its heatmaps). */
  readonly poseBackbone: PoseBackbone;
  readonly feature_processing: FeatureProcessing;
  readonly feature_enhancement: FeatureEnhancement | null;
  readonly head: Conv2d;

  /** @throws Error on an invalid configuration. */
  constructor(cfg: GLPoseConfig, opts: GLPoseOptions = {}) {
    super();
    const op = 'GLPose';
    const int = (name: string, v: unknown, min: number): number => {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < min) fail(op, `${name} as an integer ≥ ${min}`, String(v));
      return v;
    };
    int('localFrames', cfg.localFrames, 0);
    int('globalFrames', cfg.globalFrames, 0);
    int('globalCandidates', cfg.globalCandidates, cfg.globalFrames);
    int('numJoints', cfg.numJoints, 1);
    const [iw, ih] = cfg.inputSize;
    if (!(Number.isInteger(iw) && Number.isInteger(ih) && iw > 0 && ih > 0 && iw % 32 === 0 && ih % 32 === 0)) fail(op, 'inputSize [width, height] of positive multiples of 32', `[${cfg.inputSize.join(', ')}]`);
    const k = cfg.headKernel ?? 3;
    if (k !== 1 && k !== 3 && k !== 5) fail(op, 'headKernel 1, 3 or 5', String(k));
    this.cfg = cfg;
    if (!cfg.backbone || typeof cfg.backbone !== 'object') fail(op, 'a backbone (an HRNetConfig or a BackboneSpec)', String(cfg.backbone));
    // An HRNetConfig keeps the paper's behaviour (a frozen HRNet is still recorded, so gradients
    // reach the crops); a spec backbone frozen by freezeBackbone runs under noGrad.
    const bb = isBackboneSpec(cfg.backbone)
      ? buildBackbone(cfg.backbone, { movenet: opts.movenet, frozen: cfg.freezeBackbone ?? false })
      : hrnetBackbone(new HRNet(cfg.backbone), { featureStage: 3, frozen: false, jointSet: cfg.jointSet });
    this.poseBackbone = bb;
    if (cfg.residual && bb.numJoints !== cfg.numJoints) fail(op, `a backbone with numJoints = ${cfg.numJoints} heatmaps for the residual head`, String(bb.numJoints));
    if (bb.inputSize && (bb.inputSize[0] !== ih || bb.inputSize[1] !== iw)) fail(op, `inputSize [${bb.inputSize[1]}, ${bb.inputSize[0]}] (what ${bb.name} takes)`, `[${iw}, ${ih}]`);
    const C = bb.featureChannels;
    const Cs = int('processingChannels', cfg.processingChannels ?? C, 1);
    const frames = 1 + 2 * cfg.localFrames + cfg.globalFrames;
    this.backbone = this.module('backbone', bb.module as B);
    this.feature_processing = this.module('feature_processing', new FeatureProcessing(C, frames, Cs, int('processingBlocks', cfg.processingBlocks ?? 3, 1)));
    const fe = cfg.featureEnhancement ?? true;
    this.feature_enhancement = this.module('feature_enhancement', fe ? new FeatureEnhancement(Cs, C, C, int('aggregationBlocks', cfg.aggregationBlocks ?? 2, 1)) : null);
    this.head = this.module('head', new Conv2d(fe ? C : Cs, cfg.numJoints, k, { padding: (k - 1) / 2 }));
    // Sec. 4.1: "All subsequent weight parameters are randomly initialized from N(0, 0.001), biases 0."
    // (BN: weight 1, bias 0.) The backbone keeps HRNet's own init (the same rule) until
    // pretrained weights are loaded into it.
    initHRNet(this.feature_processing);
    if (this.feature_enhancement) initHRNet(this.feature_enhancement);
    initHRNet(this.head);
    if (cfg.residual) {
      // H = H_t + head(F) starts at H_t exactly; ∂H/∂head.weight = F is not zero, so the head trains.
      zeros_(this.head.weight);
      zeros_(this.head.bias!);
    }
    if (cfg.freezeBackbone) {
      for (const p of this.backbone.parameters()) p.requiresGrad_(false);
      this.backbone.eval();
    }
  }

  /** Training mode; a frozen backbone stays in eval mode (running statistics). */
  override train(mode = true): this {
    super.train(mode);
    if (this.cfg.freezeBackbone) this.backbone.eval();
    return this;
  }

  /** The parameters that receive gradients (all but a frozen backbone's): give these to the optimizer. */
  trainableParameters(): Tensor[] {
    return this.parameters().filter((p) => p.requiresGrad);
  }

  /**
   * Whether the forward pass uses a parameter (by its state-dict name). Unused: the backbone's
   * transition3, stage4 and final_layer (kept so that an official HRNet checkpoint loads into
   * `backbone` key for key), and the lower-resolution outputs (fuse_layers rows 1, 2) of the last
   * stage-3 module, which only feed stage 4. Those fusions still run (HRNet.forwardFeatures computes
   * the whole stage), so their MACs are counted; they receive no gradient.
   */
  usesParameter(name: string): boolean {
    const b = this.cfg.backbone;
    if (isBackboneSpec(b)) return true; // another backbone: counted as used (it is frozen in `real`)
    return hrnetStage3Uses(b, name.startsWith('backbone.') ? name.slice('backbone.'.length) : null);
  }

  /** Number of parameter elements the forward pass uses (see `usesParameter`). */
  numParametersUsed(): number {
    return this.namedParameters().filter(([n]) => this.usesParameter(n)).reduce((s, [, p]) => s + p.size, 0);
  }

  /** Checks the input and returns B, the crop size and G. */
  private checkInput(input: GLPoseInput): { B: number; H: number; W: number; G: number } {
    const op = 'GLPose';
    const { localFrames: k, globalFrames: n } = this.cfg;
    const key = check(op, 'key', input.key);
    if (key.rank !== 4 || key.shape[1] !== 3) fail(op, 'key of shape [B, 3, H, W]', `shape ${fmtShape(key.shape)}`);
    const [B, , H, W] = key.shape as [number, number, number, number];
    if (H % 32 !== 0 || W % 32 !== 0 || H === 0 || W === 0) fail(op, 'crops whose height and width are positive multiples of 32', `${H}x${W}`);
    const frames = (name: 'locals' | 'globals', t: Tensor | null | undefined, count: number | null, needed: number): number => {
      if (needed === 0 && (t === undefined || t === null)) return 0;
      check(op, name, t);
      const ok = t!.rank === 5 && t!.shape[0] === B && t!.shape[2] === 3 && t!.shape[3] === H && t!.shape[4] === W && (count === null ? t!.shape[1]! >= needed : t!.shape[1] === count);
      if (!ok) fail(op, `${name} of shape [${B}, ${count ?? `G ≥ ${needed}`}, 3, ${H}, ${W}]`, `shape ${fmtShape(t!.shape)}`);
      return t!.shape[1]!;
    };
    frames('locals', input.locals, 2 * k, 2 * k);
    const G = frames('globals', input.globals, null, n);
    return { B, H, W, G };
  }

  /**
   * Runs the network and returns every intermediate of the paper's equations (see GLPoseOutput).
   * @throws Error naming the input when a crop tensor has the wrong shape (key [B, 3, H, W] with H, W
   *   positive multiples of 32, locals [B, 2k, 3, H, W], globals [B, G ≥ n, 3, H, W]) or was
   *   disposed, when localOffsets has the wrong length, or (from concat) when dtypes or devices differ.
   */
  forwardDetailed(input: GLPoseInput): GLPoseOutput {
    const { localFrames: k, globalFrames: n } = this.cfg;
    const { B, H, W, G: given } = this.checkInput(input);
    const L = 2 * k;
    const G = n > 0 ? given : 0; // with n = 0 the candidates are not needed
    // Eq. 1: one backbone pass over [key (B), locals (B·2k), globals (B·G)].
    const crops: Tensor[] = [input.key];
    if (L > 0) crops.push(reshape(input.locals!, [B * L, 3, H, W]));
    if (G > 0) crops.push(reshape(input.globals!, [B * G, 3, H, W]));
    const all = crops.length === 1 ? input.key : concat(crops, 0);
    freeIntermediates(...crops.slice(1)); // the reshaped views (their storage is the caller's)
    return this.backboneAndHead(all, B, G, input.localOffsets);
  }

  /**
   * Eq. 1 on the crop batch `all` [B·(1 + 2k + G), 3, H, W] (forwardDetailed's order), then the
   * head. Frees `all` and the backbone outputs as soon as they are dead (under noGrad; see
   * freeIntermediates): the 29-crop batch is the largest tensor of a paper-size forward after the
   * backbone's own activations.
   */
  private backboneAndHead(all: Tensor, B: number, G: number, localOffsets?: GLPoseInput['localOffsets']): GLPoseOutput {
    const residual = this.cfg.residual ?? false;
    const o = residual ? this.poseBackbone.forward(all) : { features: this.poseBackbone.forwardFeatures(all), heatmaps: null };
    freeIntermediates(all);
    const out = this.headDetailed(o.features, o.heatmaps, B, G, localOffsets);
    freeIntermediates(...[o.features, o.heatmaps].filter((t) => t !== out.vt && t !== out.heatmaps));
    return out;
  }

  /**
   * Eqs. 2-5 and the head on backbone outputs of the crops in forwardDetailed's order (key (B),
   * locals (B·2k), globals (B·G)): features [B·(1 + 2k + G), C, h, w] and, for a residual head,
   * heatmaps [B·(1 + 2k + G), K, h, w] (only the key frames' are read; e.g. cached outputs of a
   * frozen backbone). `localOffsets` as in GLPoseInput.
   * @throws Error when the row count is not B·(1 + 2k + G), or a residual head gets no heatmaps.
   */
  forwardFromBackbone(features: Tensor, heatmaps: Tensor | null, B: number, G: number, localOffsets?: GLPoseInput['localOffsets']): GLPoseOutput {
    const L = 2 * this.cfg.localFrames;
    const rows = B * (1 + L + (this.cfg.globalFrames > 0 ? G : 0));
    if (features.rank !== 4 || features.shape[0] !== rows) fail('GLPose.forwardFromBackbone', `features [${rows}, C, h, w] (B = ${B}, 2k = ${L}, G = ${G})`, fmtShape(features.shape));
    if ((this.cfg.residual ?? false) && !heatmaps) fail('GLPose.forwardFromBackbone', 'the backbone heatmaps for a residual head', 'null');
    return this.headDetailed(features, heatmaps, B, G, localOffsets);
  }

  private headDetailed(v: Tensor, heatmaps: Tensor | null, B: number, given: number, localOffsets?: GLPoseInput['localOffsets']): GLPoseOutput {
    const { localFrames: k, globalFrames: n } = this.cfg;
    const L = 2 * k;
    const G = n > 0 ? given : 0;
    const rows = B * (1 + L + G);
    const keyHeatmaps = heatmaps && (this.cfg.residual ?? false) ? (rows === B ? heatmaps : slice(heatmaps, 0, 0, B)) : null;
    const [, C, h, w] = v.shape as [number, number, number, number];
    const vt = rows === B ? v : slice(v, 0, 0, B);
    // Eq. 2: W_l·V_l.
    const localWeights = localDistanceWeights(localOffsets ?? defaultLocalOffsets(k), B, L);
    const locals = L > 0 ? weightLocalFeatures(reshape(slice(v, 0, B, B + B * L), [B, L, C, h, w]), localWeights) : null;
    // Eq. 3 and the top-n selection.
    const sel = n > 0 ? rankGlobalProposals(vt, reshape(slice(v, 0, B + B * L, B + B * L + B * G), [B, G, C, h, w]), n, this.cfg.rankBy ?? 'dot') : null;
    // Eq. 4, Eq. 5, head.
    const s = this.feature_processing.forward(vt, locals, sel ? sel.weighted : null);
    const fe = this.feature_enhancement ? this.feature_enhancement.forward(s, vt) : null;
    const f = fe ? fe.enhanced : s;
    const delta = this.head.forward(f);
    const out = keyHeatmaps ? add(keyHeatmaps, delta) : delta;
    return { heatmaps: out, vt, s, f, mask: fe ? fe.mask : null, localWeights, globalScores: sel?.scores ?? null, globalIndices: sel?.indices ?? null, globalWeights: sel?.weights ?? null };
  }

  /** Heatmaps [B, K, H/4, W/4] of the key-frame persons. See GLPoseInput for the input shapes and forwardDetailed for the errors. */
  forward(input: GLPoseInput): Tensor {
    return this.forwardDetailed(input).heatmaps;
  }

  /**
   * Heatmaps [B, K, H/4, W/4] from frames in the data pipeline's order, images [B, 1 + 2k + G, 3, H, W]
   * (see `glposeInputsFromFrames`; `positions` give the true local offsets).
   */
  forwardFrames(images: Tensor, positions?: readonly (readonly number[])[]): Tensor {
    const layout = framesLayout(images, this.cfg, positions);
    const { B, T, H, W } = layout;
    const L = 2 * this.cfg.localFrames;
    if (B !== 1) return this.forward(glposeInputsFromFrames(images, this.cfg, positions));
    // One sample: its frames [key, locals, globals] are already the backbone's crop batch in
    // forwardDetailed's order, so a view replaces the copies (the slices and their concatenation).
    if (H % 32 !== 0 || W % 32 !== 0 || H === 0 || W === 0) fail('GLPose', 'crops whose height and width are positive multiples of 32', `${H}x${W}`);
    const G = this.cfg.globalFrames > 0 ? T - 1 - L : 0;
    const frames = reshape(images, [T, 3, H, W]);
    const all = 1 + L + G === T ? frames : slice(frames, 0, 0, 1 + L + G);
    if (all !== frames) freeIntermediates(frames);
    return this.backboneAndHead(all, 1, G, layout.localOffsets).heatmaps;
  }
}

/**
 * Whether HRNet's stage-3 branch 0 (what GLPose reads) depends on the backbone parameter `name`
 * (a key of HRNet's state dict; null: not a backbone parameter, always used).
 */
export function hrnetStage3Uses(cfg: HRNetConfig, name: string | null): boolean {
  if (name === null) return true;
  if (/^(transition3|stage4|final_layer)\./.test(name)) return false;
  const last = (cfg.stageModules?.[1] ?? 4) - 1;
  return !new RegExp(`^stage3\\.${last}\\.fuse_layers\\.[1-9]`).test(name);
}

/**
 * Eq. 6: L = (1/M) Σ_m v_m ‖G(m) − P(m)‖², as HRNet's JointsMSELoss (ops/loss.ts `jointsMseLoss`,
 * which also carries its constant factor 0.5 and averages over pixels).
 * Shapes: heatmaps and target [B, K, h, w], targetWeight (visibility) [B, K, 1] or [B, K] → [].
 */
export function glposeLoss(heatmaps: Tensor, target: Tensor, targetWeight: Tensor): Tensor {
  return jointsMseLoss(heatmaps, target, targetWeight, { useTargetWeight: true });
}

/** Checks frames [B, T ≥ 1 + 2k + n, 3, H, W] and positions (see glposeInputsFromFrames); their sizes and local offsets. */
function framesLayout(images: Tensor, cfg: Pick<GLPoseConfig, 'localFrames' | 'globalFrames'>, positions?: readonly (readonly number[])[]): { B: number; T: number; H: number; W: number; localOffsets: number[][] | undefined } {
  const op = 'glposeInputsFromFrames';
  check(op, 'images', images);
  const L = 2 * cfg.localFrames;
  if (images.rank !== 5 || images.shape[2] !== 3 || images.shape[1]! < 1 + L + cfg.globalFrames) {
    fail(op, `images of shape [B, T ≥ ${1 + L + cfg.globalFrames}, 3, H, W]`, `shape ${fmtShape(images.shape)}`);
  }
  const [B, T, , H, W] = images.shape as [number, number, number, number, number];
  let localOffsets: number[][] | undefined;
  if (positions) {
    if (positions.length !== B || positions.some((p) => p.length !== T)) fail(op, `${B} position lists of ${T} frames`, `${positions.length} lists of [${positions.map((p) => p.length).join(', ')}]`);
    localOffsets = positions.map((p) => p.slice(1, 1 + L).map((x) => x - p[0]!));
  }
  return { B, T, H, W, localOffsets };
}

/**
 * Splits frames in the data pipeline's GLPose order (models/pose/data/frames.ts 'localGlobal':
 * [key, t−1, t+1, ..., t−k, t+k, g_1, ..., g_G]) into a GLPoseInput.
 * Shapes: images [B, 1 + 2k + G, 3, H, W]. `positions` (SampleMeta.positions, per sample) give the
 * true local offsets (they shrink at clip borders); without them the nominal offsets are used.
 * @throws Error when the frame count is below 1 + 2k + n.
 */
export function glposeInputsFromFrames(images: Tensor, cfg: Pick<GLPoseConfig, 'localFrames' | 'globalFrames'>, positions?: readonly (readonly number[])[]): GLPoseInput {
  const { B, T, H, W, localOffsets } = framesLayout(images, cfg, positions);
  const L = 2 * cfg.localFrames;
  const G = T - 1 - L;
  const part = (start: number, count: number): Tensor => slice(images, 1, start, start + count);
  return {
    key: reshape(part(0, 1), [B, 3, H, W]),
    locals: L > 0 ? part(1, L) : null,
    localOffsets,
    globals: G > 0 ? part(1 + L, G) : null,
  };
}
