/**
 * RPSTN, the Relation-based Pose Semantics Transfer Network (Dang, Yin, Zhang, IEEE TIP 2022),
 * assembled as the official `DKD_Network` (YHDang/pose-estimation) with the same module names, so
 * that an official state dict loads after `fromOfficialStateDict` renames the numbered feature
 * extractor (the official `fea_ext` is `nn.Sequential(*list(PoseResNet.children())[:-1])`, so its
 * keys are `fea_ext.0.*` ... `fea_ext.8.*`; posegrad's are `fea_ext.conv1.*` ... `fea_ext.deconv_layers.*`).
 *
 * For a clip I_1..I_T [B, T, 3, H, W] (K joints, C feature channels, heatmaps h x w = H/4 x W/4):
 *
 *   frame 1 (Eq 1):  M'_1 = bn_u(JRE(P(I_1)))                P = pose_net (SimpleBaseline with head)
 *                    f_1  = F(I_1)                            F = fea_ext (SimpleBaseline, no head)
 *   frame t+1:       f_{t+1} = bn(conv_V(F(I_{t+1})))
 *       (Eq 2)       X_t^a   = bn(conv_a(cat[M'_t, f_t]))     conv_a = conv1x1_reduce_dim, (C+K)→C
 *       (Eq 3)       M_{t+1} = bn_u(conv_d(S(X_t^a) ⊗ f_{t+1}))   S = JRPSP (dkd_param_adapter),
 *                                                             ⊗ = dynamicConv, conv_d = pose_conv1x1_U
 *       (Eq 4)       M'_{t+1} = bn_u(JRE(M_{t+1}))
 *   output: stack(M'_1..M'_T) [B, T, K, h, w];  loss (Eq 5): MSE over all T frames (rpstnLoss).
 *
 * `bn` is one BatchNorm2d(C) shared by every use, `bn_u` one BatchNorm2d(K), as the official code
 * (in training mode each call normalizes with its own batch statistics and updates the shared
 * running statistics). Note the official asymmetry kept here: f_1 is F(I_1) without conv_V and bn.
 *
 * Variants (`variant`): 'official' (the default) computes as the released code; 'paper' reads
 * Eqs 7-9 without the code's JRE reshape scramble (see RPSTNVariant).
 *
 * Backbones (models/backbones/backbone.ts). The `paper`, `small` and `tiny` presets build P and F
 * as the official SimpleBaselines (`initializer`, `extractor`; keys `pose_net.*`, `fea_ext.*`) and
 * read them through the backbone interface. `backbone` (a BackboneSpec) replaces both by one
 * network (keys `backbone.*`): P = its heatmaps of frame 1, F = its features of every frame, one
 * batched pass over the T frames. The `real` preset puts the frozen pretrained MoveNet Lightning
 * there (`new RPSTN(cfg, { movenet })`) with `residual: true`:
 *   M'_1 = JRE(H_1),   M'_{t+1} = JRE(H_{t+1} + conv_d(S(X_t^a) ⊗ f_{t+1}))   (no bn_u)
 * with conv_d (pose_conv1x1_U) zero-initialized and JRE the identity at init, so the untrained
 * network outputs the backbone's heatmaps of every frame.
 */
import { freeIntermediates } from '../../engine/engine.js';
import type { Tensor } from '../../engine/tensor.js';
import { mean } from '../../ops/reduce.js';
import { mul, square, sub } from '../../ops/elementwise.js';
import { add } from '../../ops/elementwise.js';
import { concat, reshape, slice, split, stack, unsqueeze } from '../../ops/shape.js';
import { fail, fmtShape } from '../../engine/shape.js';
import { buildBackbone, isBackboneSpec, simpleBaselineBackbone, type BackboneSpec, type PoseBackbone } from '../backbones/backbone.js';
import type { MoveNet } from '../movenet/movenet.js';
import { constant_, kaimingNormal_, zeros_ } from '../nn/init.js';
import { BatchNorm2d, Conv2d } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import type { HostTensor } from '../nn/safetensors.js';
import { applyAndFree, SimpleBaseline, simpleBaselineCost, type SimpleBaselineConfig } from '../backbones/resnet.js';
import { JRE, type JREReshape } from './jre.js';
import { JRPSP, dynamicConv, jrpspKernelSize } from './jrpsp.js';

/** A SimpleBaseline configuration without its head size (RPSTN sets it). */
export type BackboneConfig = Omit<SimpleBaselineConfig, 'numJoints'>;

/**
 * Which computation RPSTN runs where the paper and the official code differ.
 * - 'official' (the default): as the released code (YHDang/pose-estimation): the JRE's
 *   `permute(0, 2, 1).contiguous().view(B, K, H, W)` reshape (`jreReshape: 'official'`). Official
 *   checkpoints were trained with it, and the shipped posegrad weights too.
 * - 'paper': Eqs 7-9 read without that scramble (`jreReshape: 'clean'`, channel k = joint k).
 * Both keep the code's extra BatchNorms (they carry parameters, so the official keys load); the
 * Sub-JHMDB code's extra `bn` after the dynamic conv is the separate `bnAfterMatch`, which a
 * checkpoint cannot reveal (no parameters).
 */
export type RPSTNVariant = 'paper' | 'official';

/** The JRE reshape each variant uses. */
export const RPSTN_VARIANT_JRE_RESHAPE: Readonly<Record<RPSTNVariant, JREReshape>> = Object.freeze({ paper: 'clean', official: 'official' });

export interface RPSTNConfig {
  /** Joints K (13 for Penn Action, 15 for Sub-JHMDB). */
  numJoints: number;
  /** Training clip length T (the paper: 5). forward accepts any T ≥ 1. */
  numFrames: number;
  /** Network input [width, height] (the paper: 256x256); heatmaps are a quarter of it. */
  inputSize: readonly [number, number];
  /** Pose initializer P: SimpleBaseline with a K-joint head (the official code: ResNet-101). Not with `backbone`. */
  initializer?: BackboneConfig;
  /** Feature extractor F: SimpleBaseline without a head (the paper: ResNet-50, 256 channels). Not with `backbone`. */
  extractor?: BackboneConfig;
  /**
   * One backbone for P (its heatmaps of frame 1) and F (its features), instead of `initializer`
   * and `extractor` (the `real` preset: MoveNet Lightning). Its heatmap channels must equal numJoints.
   */
  backbone?: BackboneSpec;
  /** Freeze `backbone` (default true): no gradients, eval mode, run under noGrad. */
  freezeBackbone?: boolean;
  /**
   * Residual form (needs `backbone`; the `real` preset): M'_1 = JRE(H_1) and
   * M'_{t+1} = JRE(H_{t+1} + conv_d(m)), without bn_u, conv_d zero-initialized (see the file header).
   */
  residual?: boolean;
  /**
   * 'paper' or 'official' (see RPSTNVariant). Unset: 'official', unless `jreReshape: 'clean'`
   * says 'paper'. `fromOfficialStateDict(sd, model)` switches a built model to 'official'.
   */
  variant?: RPSTNVariant;
  /** JRE's reshape (default: the variant's; 'official' without one). Must agree with `variant` when both are given. */
  jreReshape?: JREReshape;
  /**
   * Apply the shared `bn` to the dynamic-convolution output before conv_d, as the official
   * Sub-JHMDB variant (hmdb_pose_resnet) does; the Penn Action code does not (default false).
   */
  bnAfterMatch?: boolean;
  /** Joint-set name for decoding and drawing (models/pose/joints.ts). */
  jointSet?: string;
}

/**
 * The RPSTN network. forward: clip [B, T, 3, H, W] → heatmaps [B, T, K, H/4, W/4].
 * @throws Error on an invalid configuration, and from forward on a clip of the wrong shape.
 */
export class RPSTN extends Module {
  /** The configuration; `useVariant` replaces it when it switches the variant. */
  readonly cfg: RPSTNConfig;
  /** Feature channels C (the extractor's deconv channels). */
  readonly featDim: number;
  /** P (SimpleBaseline with a K-joint head), or null with `cfg.backbone`. */
  readonly pose_net: SimpleBaseline | null;
  /** F (SimpleBaseline without a head), or null with `cfg.backbone`. */
  readonly fea_ext: SimpleBaseline | null;
  /** The network of `cfg.backbone` (P and F in one), or null. */
  readonly backbone: Module | null;
  /** P and F seen through the backbone interface (the same adapter with `cfg.backbone`). */
  readonly initializerBackbone: PoseBackbone;
  readonly extractorBackbone: PoseBackbone;
  readonly conv1x1_reduce_dim: Conv2d;
  readonly pose_conv1x1_V: Conv2d;
  readonly pose_conv1x1_U: Conv2d;
  /** The shared BatchNorm2d(K); null in the residual form. */
  readonly bn_u: BatchNorm2d | null;
  readonly bn: BatchNorm2d;
  readonly dkd_param_adapter: JRPSP;
  readonly non_local_conv2d: JRE;

  constructor(cfg: RPSTNConfig, opts: { movenet?: MoveNet } = {}) {
    super();
    validateConfig(cfg);
    this.cfg = cfg;
    const K = cfg.numJoints;
    // Registration order follows DKD_Network.__init__, so stateDict() lists keys as PyTorch does.
    if (cfg.backbone) {
      const bb = buildBackbone(cfg.backbone, { movenet: opts.movenet, frozen: cfg.freezeBackbone ?? true });
      if (bb.numJoints !== K) throw new Error(`RPSTN: expected a backbone with numJoints = ${K} heatmaps, got ${bb.numJoints}`);
      const [w, h] = cfg.inputSize;
      if (bb.inputSize && (bb.inputSize[0] !== h || bb.inputSize[1] !== w)) throw new Error(`RPSTN: expected inputSize [${bb.inputSize[1]}, ${bb.inputSize[0]}] (what ${bb.name} takes), got [${w}, ${h}]`);
      this.pose_net = null;
      this.fea_ext = null;
      this.backbone = this.module('backbone', bb.module);
      this.initializerBackbone = bb;
      this.extractorBackbone = bb;
    } else {
      this.pose_net = this.module('pose_net', new SimpleBaseline({ ...cfg.initializer!, numJoints: K }));
      this.fea_ext = this.module('fea_ext', new SimpleBaseline({ ...cfg.extractor!, numJoints: null }));
      this.backbone = null;
      this.initializerBackbone = simpleBaselineBackbone(this.pose_net);
      this.extractorBackbone = simpleBaselineBackbone(this.fea_ext);
    }
    const C = this.extractorBackbone.featureChannels;
    this.featDim = C;
    this.conv1x1_reduce_dim = this.module('conv1x1_reduce_dim', new Conv2d(C + K, C, 1));
    this.pose_conv1x1_V = this.module('pose_conv1x1_V', new Conv2d(C, C, 1));
    this.pose_conv1x1_U = this.module('pose_conv1x1_U', new Conv2d(C, K, 1));
    this.bn_u = this.module('bn_u', cfg.residual ? null : new BatchNorm2d(K));
    this.bn = this.module('bn', new BatchNorm2d(C));
    this.dkd_param_adapter = this.module('dkd_param_adapter', new JRPSP(C));
    this.non_local_conv2d = this.module('non_local_conv2d', new JRE({ numJoints: K, reshape: RPSTN_VARIANT_JRE_RESHAPE[rpstnVariant(cfg)] }));
    // The official init_weights for the 1x1 convs: kaiming-normal (fan_out, ReLU gain), zero bias.
    for (const c of [this.conv1x1_reduce_dim, this.pose_conv1x1_U, this.pose_conv1x1_V]) {
      kaimingNormal_(c.weight, 'fanOut');
      constant_(c.bias!, 0);
    }
    // The residual form starts as the backbone's heatmaps: conv_d = 0 (and JRE = identity).
    if (cfg.residual) zeros_(this.pose_conv1x1_U.weight);
  }

  /** The parameters that train: all but a frozen `backbone`'s. */
  trainableParameters(): Tensor[] {
    return this.parameters().filter((p) => p.requiresGrad);
  }

  /** Training mode; a frozen backbone stays in eval mode. */
  override train(mode = true): this {
    super.train(mode);
    if (this.cfg?.backbone && (this.cfg.freezeBackbone ?? true)) this.backbone?.eval();
    return this;
  }

  /** bn_u, or the identity in the residual form. */
  private bnU(x: Tensor): Tensor {
    return this.bn_u ? this.bn_u.forward(x) : x;
  }

  /** The variant the model computes now ('paper' or 'official', see RPSTNVariant). */
  get variant(): RPSTNVariant {
    return this.non_local_conv2d.reshapeMode === 'official' ? 'official' : 'paper';
  }

  /**
   * Switches the model to `variant` in place (weights are kept: the variants differ in parameter-free
   * steps only) and records it in `cfg`.
   * @returns what changed, e.g. ["jreReshape 'clean' → 'official'"]; empty when nothing did.
   * @throws Error for a variant other than 'paper' or 'official'.
   */
  useVariant(variant: RPSTNVariant): string[] {
    if (variant !== 'paper' && variant !== 'official') throw new Error(`RPSTN: expected variant 'paper' or 'official', got '${String(variant)}'`);
    const want = RPSTN_VARIANT_JRE_RESHAPE[variant];
    const have = this.non_local_conv2d.reshapeMode;
    if (have === want && rpstnVariant(this.cfg) === variant) return [];
    this.non_local_conv2d.setReshape(want);
    const { jreReshape: _r, ...rest } = this.cfg;
    (this as { cfg: RPSTNConfig }).cfg = { ...rest, variant };
    return have === want ? [] : [`jreReshape '${have}' → '${want}'`];
  }

  /** Heatmap size [h, w] for the configured input. */
  get heatmapSize(): [number, number] {
    if (this.cfg.backbone) return [this.cfg.inputSize[1] / 4, this.cfg.inputSize[0] / 4];
    const c = simpleBaselineCost({ ...this.cfg.extractor!, numJoints: null }, this.cfg.inputSize[1], this.cfg.inputSize[0]);
    return [c.outShape[1], c.outShape[2]];
  }

  /** Eq 1: M'_1 = bn_u(JRE(P(I_1))) for frame [B, 3, H, W] (residual form: JRE(P(I_1))). */
  initialPose(frame: Tensor): Tensor {
    const o = this.initializerBackbone.forward(frame);
    freeIntermediates(o.features);
    return applyAndFree(o.heatmaps, (p) => this.initialPoseFrom(p));
  }

  /** Eq 1 from P's heatmaps [B, K, h, w]. */
  private initialPoseFrom(p: Tensor): Tensor {
    return applyAndFree(this.non_local_conv2d.forward(p), (t) => this.bnU(t));
  }

  /**
   * Eqs 2-4 for one step: the previous heatmaps M'_t [B, K, h, w] and features f_t [B, C, h, w],
   * and the next frame [B, 3, H, W] → { heatmaps M'_{t+1}, features f_{t+1} }.
   */
  step(hPrev: Tensor, fPrev: Tensor, frame: Tensor): { heatmaps: Tensor; features: Tensor } {
    if (this.cfg.residual) {
      const o = this.extractorBackbone.forward(frame);
      return this.stepFrom(hPrev, fPrev, o.features, o.heatmaps, true);
    }
    return this.stepFrom(hPrev, fPrev, this.extractorBackbone.forwardFeatures(frame), null, true);
  }

  /**
   * Eqs 2-4 from F(I_{t+1}) (and, in the residual form, the backbone's heatmaps H_{t+1}). With
   * `freeInputs`, feat and heat are intermediates of the caller that this step may free (under
   * noGrad, as every intermediate here once read: freeIntermediates).
   */
  private stepFrom(hPrev: Tensor, fPrev: Tensor, feat: Tensor, heat: Tensor | null, freeInputs = false): { heatmaps: Tensor; features: Tensor } {
    const v = this.pose_conv1x1_V.forward(feat);
    if (freeInputs) freeIntermediates(feat);
    const f = applyAndFree(v, (t) => this.bn.forward(t));
    let xa = applyAndFree(concat([hPrev, fPrev], 1), (t) => this.conv1x1_reduce_dim.forward(t));
    xa = applyAndFree(xa, (t) => this.bn.forward(t));
    const kernels = applyAndFree(xa, (t) => this.dkd_param_adapter.forward(t));
    let m = dynamicConv(f, kernels);
    freeIntermediates(kernels);
    if (this.cfg.bnAfterMatch) m = applyAndFree(m, (t) => this.bn.forward(t));
    const u = applyAndFree(m, (t) => this.pose_conv1x1_U.forward(t));
    if (this.cfg.residual) {
      const sum = add(heat!, u);
      freeIntermediates(u, freeInputs ? heat : null);
      return { heatmaps: applyAndFree(sum, (t) => this.non_local_conv2d.forward(t)), features: f };
    }
    const pseudo = applyAndFree(u, (t) => this.bnU(t));
    const h = applyAndFree(pseudo, (t) => this.non_local_conv2d.forward(t));
    return { heatmaps: applyAndFree(h, (t) => this.bnU(t)), features: f };
  }

  /**
   * The recurrence on backbone outputs (a `backbone` configuration; e.g. cached outputs of the
   * frozen backbone): features [B, T, C, h, w] and heatmaps [B, T, K, h, w] → [B, T, K, h, w].
   * @throws Error without `cfg.backbone`, or on shapes other than these.
   */
  forwardFromBackbone(features: Tensor, heatmaps: Tensor): Tensor {
    const op = 'RPSTN.forwardFromBackbone';
    if (!this.cfg.backbone) fail(op, 'a configuration with a backbone', 'initializer + extractor');
    const [h0, w0] = this.heatmapSize;
    const C = this.featDim;
    const K = this.cfg.numJoints;
    const [B, T] = features.shape as [number, number];
    if (features.rank !== 5 || features.shape[2] !== C || features.shape[3] !== h0 || features.shape[4] !== w0) fail(op, `features [B, T, ${C}, ${h0}, ${w0}]`, fmtShape(features.shape));
    if (heatmaps.rank !== 5 || heatmaps.shape[0] !== B || heatmaps.shape[1] !== T || heatmaps.shape[2] !== K || heatmaps.shape[3] !== h0 || heatmaps.shape[4] !== w0) fail(op, `heatmaps [${B}, ${T}, ${K}, ${h0}, ${w0}]`, fmtShape(heatmaps.shape));
    const feats = split(features, 1, 1).map((x) => reshape(x, [B, C, h0, w0]));
    const heats = split(heatmaps, 1, 1).map((x) => reshape(x, [B, K, h0, w0]));
    let h = this.initialPoseFrom(heats[0]!);
    let f = feats[0]!;
    const beliefs = [h];
    for (let t = 1; t < T; t++) {
      const r = this.stepFrom(h, f, feats[t]!, this.cfg.residual ? heats[t]! : null);
      h = r.heatmaps;
      f = r.features;
      beliefs.push(h);
    }
    return stack(beliefs, 1);
  }

  forward(clip: Tensor): Tensor {
    if (clip.rank !== 5 || clip.shape[2] !== 3 || clip.shape[1]! < 1) {
      throw new Error(`RPSTN: expected a clip [B, T, 3, H, W] with T ≥ 1, got [${clip.shape.join(', ')}]`);
    }
    const [B, T, , H, W] = clip.shape as [number, number, number, number, number];
    if (this.cfg.backbone) {
      // one backbone pass over the B·T frames gives P (frame 1's heatmaps) and F (every frame)
      const o = this.initializerBackbone.forward(reshape(clip, [B * T, 3, H, W]));
      const [h0, w0] = this.heatmapSize;
      return this.forwardFromBackbone(reshape(o.features, [B, T, this.featDim, h0, w0]), reshape(o.heatmaps, [B, T, this.cfg.numJoints, h0, w0]));
    }
    // Under noGrad each frame, feature map and step intermediate is freed once read (PyTorch frees
    // them as their references go); the beliefs are kept for the output.
    const frame = (t: number): Tensor => {
      const s = slice(clip, 1, t, t + 1);
      return applyAndFree(s, (x) => reshape(x, [B, 3, H, W]));
    };
    const x0 = frame(0);
    let h = this.initialPose(x0);
    let f = applyAndFree(x0, (x) => this.extractorBackbone.forwardFeatures(x));
    const beliefs = [h];
    for (let t = 1; t < T; t++) {
      const xt = frame(t);
      const r = this.step(h, f, xt);
      freeIntermediates(f, xt);
      h = r.heatmaps;
      f = r.features;
      beliefs.push(h);
    }
    freeIntermediates(f);
    const out = stack(beliefs, 1);
    freeIntermediates(...beliefs);
    return out;
  }
}

/**
 * The variant a configuration selects: `variant` if given, else 'paper' for `jreReshape: 'clean'`
 * and 'official' otherwise.
 * @throws Error for an unknown variant, or a `jreReshape` that contradicts `variant`.
 */
export function rpstnVariant(cfg: Pick<RPSTNConfig, 'variant' | 'jreReshape'>): RPSTNVariant {
  const op = 'RPSTN';
  const v = cfg.variant;
  if (v !== undefined && v !== 'paper' && v !== 'official') throw new Error(`${op}: expected variant 'paper' or 'official', got '${String(v)}'`);
  const r = cfg.jreReshape;
  if (r !== undefined && r !== 'official' && r !== 'clean') throw new Error(`${op}: expected jreReshape 'official' or 'clean', got '${String(r)}'`);
  if (v !== undefined && r !== undefined && r !== RPSTN_VARIANT_JRE_RESHAPE[v]) {
    throw new Error(`${op}: expected jreReshape '${RPSTN_VARIANT_JRE_RESHAPE[v]}' with variant '${v}' (or leave jreReshape unset), got '${r}'`);
  }
  return v ?? (r === 'clean' ? 'paper' : 'official');
}

function validateConfig(cfg: RPSTNConfig): void {
  const op = 'RPSTN';
  rpstnVariant(cfg);
  if (!Number.isInteger(cfg.numJoints) || cfg.numJoints <= 0) throw new Error(`${op}: expected numJoints as a positive integer, got ${cfg.numJoints}`);
  if (!Number.isInteger(cfg.numFrames) || cfg.numFrames < 1) throw new Error(`${op}: expected numFrames as an integer ≥ 1, got ${cfg.numFrames}`);
  const [w, h] = cfg.inputSize;
  if (!(Number.isInteger(w) && Number.isInteger(h) && w > 0 && h > 0)) throw new Error(`${op}: expected inputSize [width, height] of positive integers, got [${cfg.inputSize.join(', ')}]`);
  if (cfg.backbone !== undefined) {
    if (!isBackboneSpec(cfg.backbone)) throw new Error(`${op}: expected backbone as a BackboneSpec ({ kind, config }), got ${JSON.stringify(cfg.backbone)}`);
    if (cfg.initializer || cfg.extractor) throw new Error(`${op}: expected either backbone or initializer + extractor, got both`);
    if (w % 32 !== 0 || h % 32 !== 0) throw new Error(`${op}: expected inputSize [width, height] of multiples of 32 with a backbone, got [${cfg.inputSize.join(', ')}]`);
    if (jrpspKernelSize(Math.min(h / 4, w / 4)) < 1) throw new Error(`${op}: expected heatmaps of at least 16x16 for JRPSP, got ${h / 4}x${w / 4} (input ${w}x${h})`);
    return;
  }
  if (cfg.residual) throw new Error(`${op}: expected residual only with a backbone (its heatmaps are the residual's base), got initializer + extractor`);
  if (!cfg.initializer || !cfg.extractor) throw new Error(`${op}: expected initializer and extractor (SimpleBaseline configurations), or a backbone`);
  const hm = simpleBaselineCost({ ...cfg.extractor, numJoints: null }, h, w).outShape;
  const hmP = simpleBaselineCost({ ...cfg.initializer, numJoints: cfg.numJoints }, h, w).outShape;
  if (hm[1] !== hmP[1] || hm[2] !== hmP[2]) throw new Error(`${op}: expected the initializer and extractor to give the same heatmap size, got ${hmP[1]}x${hmP[2]} and ${hm[1]}x${hm[2]}`);
  if (jrpspKernelSize(Math.min(hm[1], hm[2])) < 1) throw new Error(`${op}: expected heatmaps of at least 16x16 for JRPSP, got ${hm[1]}x${hm[2]} (input ${w}x${h})`);
}

export interface RPSTNLossOptions {
  /** Per-joint weights [B, T, K] (visibility), multiplying both prediction and target (HRNet's use_target_weight). */
  weights?: Tensor | null;
}

/**
 * Eq 5: loss = (1/T) Σ_t l2(M'_t − M̂'_t), with l2 the mean squared error over B, K, h, w; i.e. the
 * mean of (pred − target)² over every element of [B, T, K, h, w]. With `weights`, each joint's
 * difference is multiplied by its weight first.
 * @throws Error when the shapes differ.
 */
export function rpstnLoss(pred: Tensor, target: Tensor, opts: RPSTNLossOptions = {}): Tensor {
  if (pred.rank !== 5 || pred.shape.join() !== target.shape.join()) {
    throw new Error(`rpstnLoss: expected prediction and target of one shape [B, T, K, h, w], got [${pred.shape.join(', ')}] and [${target.shape.join(', ')}]`);
  }
  let d = sub(pred, target);
  const w = opts.weights;
  if (w) {
    if (w.shape.join() !== pred.shape.slice(0, 3).join()) throw new Error(`rpstnLoss: expected weights [${pred.shape.slice(0, 3).join(', ')}], got [${w.shape.join(', ')}]`);
    d = mul(d, unsqueeze(unsqueeze(w, 3), 4));
  }
  return mean(square(d));
}

// ------------------------------------------------------------------------------------ official checkpoints

/**
 * The official feature extractor's children, by index: `get_pose_net(cfg, 'fea_ext')` returns
 * `nn.Sequential(*list(PoseResNet.children())[:-1])`, and PoseResNet registers conv1, bn1, relu,
 * maxpool, layer1..4, deconv_layers, final_layer, so the Sequential holds 0 conv1, 1 bn1, 2 relu,
 * 3 maxpool, 4..7 layer1..4, 8 deconv_layers (final_layer is cut). 2 and 3 have no parameters.
 */
export const OFFICIAL_FEA_EXT_CHILDREN: Readonly<Record<string, string>> = Object.freeze({ 0: 'conv1', 1: 'bn1', 4: 'layer1', 5: 'layer2', 6: 'layer3', 7: 'layer4', 8: 'deconv_layers' });

/** What `fromOfficialStateDict` returns. */
export interface OfficialRPSTNState<T> {
  /** The state dict under posegrad's keys, for `loadStateDict` (strict). */
  state: Map<string, T>;
  /** Checkpoint keys dropped: the JRE's never-called `theta`/`phi` convs. */
  dropped: string[];
  /** How many keys were renamed from the numbered `fea_ext.<i>.*` to posegrad's names. */
  renamed: number;
  /**
   * 'official': the official DKD_Network layout (a numbered `fea_ext`, or the JRE's theta/phi);
   * 'posegrad': posegrad's own names (kept as they are).
   */
  layout: 'official' | 'posegrad';
  /** What `model` changed to compute as the official code (see RPSTN.useVariant); empty if nothing. */
  switched: string[];
  /** One line per fact worth logging: the layout, the renaming, the variant the model now computes. */
  notes: string[];
}

/**
 * Maps an official RPSTN state dict (`DKD_Network.state_dict()`, as read from the official `.pth`
 * with `loadPth` + `extractStateDict`, or converted to safetensors) to posegrad's keys, and, given
 * the model, switches it to the official computation:
 * - strips DataParallel's `module.` prefix (the official training saves `{'state_dict':
 *   DataParallel(model).state_dict()}`);
 * - renames the numbered feature extractor: `fea_ext.0.*` → `fea_ext.conv1.*`, `.1` → `bn1`,
 *   `.4`-`.7` → `layer1`-`layer4`, `.8.*` → `deconv_layers.*` (OFFICIAL_FEA_EXT_CHILDREN; for
 *   SBL-R50, 336 keys). `pose_net` is a plain PoseResNet in the official code, so its names match;
 * - drops the JRE's `non_local_conv2d.theta.*` / `.phi.*`, which the official joint mode never calls.
 * Every other key is kept, so that `loadStateDict` (strict) names anything unexpected. A state dict
 * in posegrad's own layout passes through unchanged (layout 'posegrad', nothing switched).
 *
 * With `model`, an official layout also switches the model to variant 'official'
 * (`model.useVariant('official')`: the JRE reshape), and `switched` / `notes` say what changed.
 *
 *   const sd = extractStateDict(loadPth(bytes));                 // models/nn/checkpoint
 *   const { state, notes } = fromOfficialStateDict(sd, net);      // net: new RPSTN(rpstnPreset('paper'))
 *   net.loadStateDict(state);                                     // strict
 *
 * @throws Error when two checkpoint keys map to one posegrad key (e.g. a mixed layout).
 */
export function fromOfficialStateDict<T extends Tensor | HostTensor>(sd: Map<string, T> | Record<string, T>, model?: RPSTN): OfficialRPSTNState<T> {
  const entries = sd instanceof Map ? [...sd.entries()] : Object.entries(sd);
  const stripped = entries.filter(([k]) => k.startsWith('module.')).length;
  const unprefixed = entries.map(([k, v]): [string, string, T] => [k, k.startsWith('module.') ? k.slice(7) : k, v]);
  const official = unprefixed.some(([, k]) => /^fea_ext\.\d+\./.test(k) || /^non_local_conv2d\.(theta|phi)\./.test(k));
  const state = new Map<string, T>();
  const from = new Map<string, string>();
  const dropped: string[] = [];
  let renamed = 0;
  for (const [k0, k1, v] of unprefixed) {
    if (/^non_local_conv2d\.(theta|phi)\./.test(k1)) {
      dropped.push(k0);
      continue;
    }
    let k = k1;
    const m = /^fea_ext\.(\d+)\.(.*)$/.exec(k1);
    const child = m ? OFFICIAL_FEA_EXT_CHILDREN[m[1]!] : undefined;
    if (m && child) {
      k = `fea_ext.${child}.${m[2]}`;
      renamed++;
    }
    if (state.has(k)) throw new Error(`fromOfficialStateDict: expected distinct keys, got '${from.get(k)}' and '${k0}' both mapped to '${k}'`);
    state.set(k, v);
    from.set(k, k0);
  }
  const notes: string[] = [];
  let switched: string[] = [];
  if (official) {
    notes.push(
      `official DKD_Network state dict: ${renamed} fea_ext keys renamed from the numbered Sequential, ${dropped.length} unused JRE keys (theta, phi) dropped` +
        (stripped ? `, DataParallel's 'module.' prefix removed from ${stripped} keys` : ''),
    );
    if (model) {
      switched = model.useVariant('official');
      notes.push(switched.length ? `switched to variant 'official' (${switched.join(', ')})` : `variant 'official' (as the official code)`);
      const K = (state.get('bn_u.weight') as { shape?: readonly number[] } | undefined)?.shape?.[0];
      if (K === 15 && !model.cfg.bnAfterMatch) notes.push(`15 joints: if this is the official Sub-JHMDB model (hmdb_dkd_net), build it with bnAfterMatch: true`);
    } else {
      notes.push(`pass the model to switch it to variant 'official', or build it with variant 'official'`);
    }
  } else if (stripped) {
    notes.push(`DataParallel's 'module.' prefix removed from ${stripped} keys`);
  }
  return { state, dropped, renamed, layout: official ? 'official' : 'posegrad', switched, notes };
}

// ------------------------------------------------------------------------------------ cost model

export interface RPSTNCost {
  /** Parameters of the module (each counted once). */
  params: number;
  /** Parameters counted once per call over a T-frame clip: P + T·F + (T−1)·(the per-step modules) + T·JRE. */
  paramsPerCall: number;
  /** Multiply-accumulates for one T-frame clip (batch 1), convs, deconvs and the JRE matmuls. */
  macs: number;
  /** The same MACs with transposed convs counted as weight size × output pixels (thop's convention). */
  macsThopDeconv: number;
  heatmap: [number, number];
  kernel: number;
}

/**
 * Analytic parameters and MACs of RPSTN for one clip of `T` frames (default cfg.numFrames).
 * Everything is computed from the configuration; the module need not be built.
 */
export function rpstnCost(cfg: RPSTNConfig, T = cfg.numFrames): RPSTNCost {
  validateConfig(cfg);
  if (!cfg.initializer || !cfg.extractor) throw new Error(`rpstnCost: expected SimpleBaseline initializer and extractor, got a '${cfg.backbone?.kind}' backbone (count the built model instead)`);
  const K = cfg.numJoints;
  const [Wi, Hi] = cfg.inputSize;
  const P = simpleBaselineCost({ ...cfg.initializer, numJoints: K }, Hi, Wi);
  const F = simpleBaselineCost({ ...cfg.extractor, numJoints: null }, Hi, Wi);
  const C = F.outShape[0];
  const [h, w] = [F.outShape[1], F.outShape[2]];
  const hw = h * w;
  /** A SimpleBaseline's MACs with its transposed convs counted as weight size × output pixels. */
  const thop = (c: BackboneConfig, joints: number | null): number => {
    const trunk = simpleBaselineCost({ ...c, numJoints: null, numDeconvLayers: 0 }, Hi, Wi);
    const k = c.deconvKernel ?? 4;
    let [cin, hh, ww] = trunk.outShape;
    let macs = trunk.macs;
    for (let i = 0; i < (c.numDeconvLayers ?? 3); i++) {
      const cout = c.deconvChannels ?? 256;
      hh *= 2;
      ww *= 2;
      macs += cin * cout * k * k * hh * ww;
      cin = cout;
    }
    return macs + (joints !== null ? cin * joints * hh * ww : 0);
  };
  // per-step modules
  const convV = { params: C * C + C, macs: C * C * hw };
  const convA = { params: (C + K) * C + C, macs: (C + K) * C * hw };
  const convU = { params: C * K + K, macs: C * K * hw };
  let s = h;
  let t2 = w;
  let jrpspMacs = 0;
  const jrpspParams = 4 * (C * C * 9 + C) + 4 * 2 * C;
  s -= 2; t2 -= 2;
  jrpspMacs += C * C * 9 * s * t2;
  for (let i = 0; i < 3; i++) {
    s = Math.floor(s / 2);
    t2 = Math.floor(t2 / 2);
    jrpspMacs += C * C * 9 * s * t2;
  }
  const kernel = Math.min(s, t2);
  const dyn = C * hw * s * t2;
  const jre = { params: 2 * K * K + 4 * K, macs: 4 * K * K * hw };
  const bnParams = 2 * C + 2 * K;
  const stepMacs = convV.macs + convA.macs + jrpspMacs + dyn + convU.macs;
  const params = P.params + F.params + convV.params + convA.params + convU.params + jrpspParams + jre.params + bnParams;
  const paramsPerCall = P.params + T * F.params + (T - 1) * (convV.params + convA.params + convU.params + jrpspParams) + T * jre.params + bnParams;
  const macs = P.macs + T * F.macs + (T - 1) * stepMacs + T * jre.macs;
  const macsThopDeconv = thop(cfg.initializer, K) + T * thop(cfg.extractor, null) + (T - 1) * stepMacs + T * jre.macs;
  return { params, paramsPerCall, macs, macsThopDeconv, heatmap: [h, w], kernel };
}
