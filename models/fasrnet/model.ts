/**
 * FaSRnet (Zhong, Xu, Zhong, Yang, Wang, "FaSRnet: a feature and semantics refinement network for
 * human pose estimation", FITEE 25(4):513-526, 2024), assembled as the official `FaSRnet` class
 * (Elvis-Aron/FaSRnet, posetimation/zoo/FaSRnet/FaSRnet.py) with the same module names, so that an
 * official state dict loads key for key:
 *
 *   rough_pose_estimation_net   HRNet (frozen): F_i [B, C, h, w] and H_i [B, K, h, w] per frame
 *   pcda_p, pcda_n              FRM (a) alignment of F_prev and F_next to F_cur   (Eqs 1-7)
 *   TSA_Fusion                  FRM (b) attention fusion of [F_prev^a, F_cur, F_next^a] (Eqs 8-10)
 *   final_layer                 1x1 conv C→K: H^r                                 (Eq 10)
 *   hm_improve                  SRM: H^r, H_prev, H_next → H^final                (Eqs 11-16)
 *
 * Input: three frames [cur, prev, next], each [B, 3, H, W] (H, W divisible by 32; heatmaps are
 * h x w = H/4 x W/4). Output: { hr: H^r, hFinal: H^final }, both [B, K, h, w]. Loss (Eqs 17-19):
 * `fasrnetLoss` = α·JointsMSE(H^r) + (1−α)·JointsMSE(H^final), α = 0.4.
 *
 * The backbone is read through the backbone interface (models/backbones/backbone.ts): an
 * HRNetConfig builds the paper's HRNet (official keys `rough_pose_estimation_net.*`); a
 * BackboneSpec puts any backbone there (the `real` preset: the frozen pretrained MoveNet Lightning,
 * passed in as `new FaSRnet(cfg, { movenet })`). `residual: true` (the `real` preset) starts the head
 * as a copy of the backbone's heatmaps: H^r = H_t + final_layer(F_t^final) and H^final = H^r + PCN(…),
 * with final_layer and the PCN's mask convs zero-initialized (docs/models/fasrnet.md).
 *
 * Variants (`variant`, see FaSRnetVariant): 'paper' (the default) computes the architecture the paper
 * describes; 'official' computes as the released code, which official checkpoints need.
 * `fromOfficialStateDict(sd, model)` switches a built model to 'official'.
 */
import { noGrad } from '../../engine/engine.js';
import { fail, fmtShape } from '../../engine/shape.js';
import type { Tensor } from '../../engine/tensor.js';
import { add, mul } from '../../ops/elementwise.js';
import { jointsMseLoss } from '../../ops/loss.js';
import { concat, split } from '../../ops/shape.js';
import { buildBackbone, hrnetBackbone, isBackboneSpec, type BackboneSpec, type PoseBackbone } from '../backbones/backbone.js';
import { HRNet, initHRNet, type HRNetConfig } from '../backbones/hrnet.js';
import type { MoveNet } from '../movenet/movenet.js';
import { zeros_ } from '../nn/init.js';
import { Conv2d } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import type { HostTensor } from '../nn/safetensors.js';
import { DCNv2Pack, PCNDeformConv, identityKernel_, type OffsetPaddingQuirk } from './dcn.js';
import { FRMAlignment, FRMFusion } from './frm.js';
import { SRM, type MarginWeight } from './srm.js';

/**
 * Which computation FaSRnet runs where the paper and the official code differ (two behaviours, see
 * `alignmentInputOrder` and `offsetPaddingQuirk`):
 * - 'paper' (the default): the FRM alignment deforms the neighbour's features towards the current
 *   frame's (Eqs 3/5, Fig. 3), and the dilated DCNs' offset convs are padded by 1 so that their
 *   output has the feature size (`alignmentInputOrder: 'paper'`, `offsetPaddingQuirk: 'off'`).
 * - 'official': as the released code's forward: pcda_p(F_cur, F_prev) deforms the current features
 *   towards the neighbour's, and the offset convs are padded by d and their buffers read batch-flat
 *   (`alignmentInputOrder: 'official'`, `offsetPaddingQuirk: 'batch'`). Official checkpoints need
 *   this: under 'paper' they load (the keys and shapes are the same) but compute something else
 *   (the aligned features differ, by ‖Δ‖/‖x‖ = 0.17 at the tiny preset of the parity test).
 * Neither changes a parameter. `backboneTrainMode` (training only) is a separate choice.
 */
export type FaSRnetVariant = 'paper' | 'official';

/** The behaviours each variant sets. */
export const FASRNET_VARIANTS: Readonly<Record<FaSRnetVariant, { readonly alignmentInputOrder: 'paper' | 'official'; readonly offsetPaddingQuirk: OffsetPaddingQuirk }>> = Object.freeze({
  paper: Object.freeze({ alignmentInputOrder: 'paper', offsetPaddingQuirk: 'off' }),
  official: Object.freeze({ alignmentInputOrder: 'official', offsetPaddingQuirk: 'batch' }),
});

export interface FaSRnetConfig {
  /**
   * The rough pose estimation network: an HRNetConfig (the paper: W48; keys as the official HRNet)
   * or any backbone as a BackboneSpec (models/backbones/backbone.ts; the `real` preset: MoveNet
   * Lightning). Frozen either way. Its heatmap channels must equal `numJoints`.
   */
  backbone: HRNetConfig | BackboneSpec;
  /** Network input [width, height] (the paper: 288x384); divisible by 32. */
  inputSize: readonly [number, number];
  /** Joints K (17: COCO order; PoseTrack's 15 annotated joints are stored as 17). */
  numJoints: number;
  /** FRM alignment dilations, branches 1..n (the paper: [5, 3, 1]). */
  alignDilations?: readonly number[];
  /** SRM PRF output channels (official PRF_INNER_CH 34). */
  prfInnerCh: number;
  /** SRM PRF RSB blocks (official 2). */
  prfBlocks: number;
  /** SRM PTM RSB blocks (official 1; the PTM outputs K channels). */
  ptmBlocks: number;
  /** SRM PRF+PTM combination channels (official 64). */
  combineInnerCh: number;
  /** SRM combination RSB blocks (official 2). */
  combineBlocks: number;
  /** PCN dilations (the paper: [1]). */
  pcnDilations?: readonly number[];
  /** Loss weight α of H^r (Eq 19; the paper: 0.4). */
  lossAlpha?: number;
  /**
   * 'paper' or 'official' (see FaSRnetVariant): sets `alignmentInputOrder` and `offsetPaddingQuirk`
   * (given with it, they must agree). Unset: 'paper', unless those two fields say otherwise.
   */
  variant?: FaSRnetVariant;
  /**
   * The official offset-conv padding quirk of the FRM's dilated DCNs (see OffsetPaddingQuirk).
   * Default: the variant's ('off' for 'paper'); 'batch' reproduces the official forward with
   * official weights ('sample' reads as the official backward, for the parity tests).
   */
  offsetPaddingQuirk?: OffsetPaddingQuirk;
  /**
   * Which features the FRM alignment deforms. 'paper' (default): the neighbour's, aligned to the
   * current frame (pcda_p(F_prev, ref = F_cur)), as Eqs 3/5 and Fig. 3 describe. 'official': the
   * official forward's argument order, pcda_p(F_cur, ref = F_prev), which deforms the current
   * frame's features towards the neighbour's (PCDAlignment_3.forward(nbr_feat, ref_feat) is called
   * with the current features first). Use 'official' to reproduce official weights. Default: the
   * variant's ('paper' for 'paper').
   */
  alignmentInputOrder?: 'paper' | 'official';
  /**
   * Keep the frozen backbone's BatchNorm in training mode when the model trains (the official code
   * calls model.train() on everything, so HRNet normalizes with the 3B-sample batch statistics and
   * updates its running statistics although its weights are frozen). Default false: the backbone
   * always runs in eval mode.
   */
  backboneTrainMode?: boolean;
  /** Joint-set name for decoding and drawing (models/pose/joints.ts). */
  jointSet?: string;
  /**
   * Residual heads (default false; the `real` preset: true): H^r = H_t + final_layer(F_t^final)
   * and H^final = H^r + PCN(H_a), with final_layer and the PCN's mask convs zero-initialized, so
   * that the untrained network outputs the backbone's heatmaps of the current frame.
   */
  residual?: boolean;
}

/** Construction options that are not configuration (they do not go into a weights file). */
export interface FaSRnetOptions {
  /**
   * The MoveNet a 'movenet' backbone spec runs (e.g. `moveNetFromSafetensors(bytes)`); without it
   * a MoveNet of the spec's configuration is built with random weights (to be loaded).
   */
  movenet?: MoveNet;
}

/** What `forward` returns. */
export interface FaSRnetOutput {
  /** H^r = final_layer(F_t^final), the FRM-refined heatmaps [B, K, h, w] (Eq 10). */
  hr: Tensor;
  /** H^final, the SRM output [B, K, h, w] (Eq 16): the prediction. */
  hFinal: Tensor;
}

/** The backbone outputs for the three frames (each [B, C, h, w] or [B, K, h, w]). */
export interface FaSRnetFeatures {
  fCur: Tensor;
  fPrev: Tensor;
  fNext: Tensor;
  /** Backbone heatmaps of the neighbours (the SRM's auxiliary heatmaps). */
  hPrev: Tensor;
  hNext: Tensor;
  /** The current frame's backbone heatmaps (needed by a residual head; otherwise unused). */
  hCur?: Tensor;
}

export interface FaSRnetInput {
  /** Current (key) frame [B, 3, H, W]. */
  cur: Tensor;
  /** Previous frame [B, 3, H, W] (the current frame at a clip start). */
  prev: Tensor;
  /** Next frame [B, 3, H, W] (the current frame at a clip end). */
  next: Tensor;
  /** Margin weight of the previous frame (number or [B]; default 0.5). See `marginWeights`. */
  wPrev?: MarginWeight;
  /** Margin weight of the next frame (number or [B]; default 0.5). */
  wNext?: MarginWeight;
}

export interface FaSRnetForwardOptions {
  /**
   * Run the backbone under noGrad (default true: it is frozen, so nothing upstream needs its
   * gradient). false records it, so that gradients reach the input frames (parity tests); its
   * parameters still never receive gradients (requiresGrad false).
   */
  backboneNoGrad?: boolean;
}

/**
 * The FaSRnet network (see the file header).
 * @throws Error on an invalid configuration; forward throws on frames of the wrong shape.
 */
export class FaSRnet extends Module {
  /** The configuration; `useVariant` replaces it when it switches the variant. */
  readonly cfg: FaSRnetConfig;
  /** The backbone's network (HRNet in the paper presets, MoveNet in `real`), frozen. */
  readonly rough_pose_estimation_net: Module;
  /** The backbone seen through the interface (features + heatmaps). */
  readonly poseBackbone: PoseBackbone;
  readonly pcda_p: FRMAlignment;
  readonly pcda_n: FRMAlignment;
  readonly TSA_Fusion: FRMFusion;
  readonly final_layer: Conv2d;
  readonly hm_improve: SRM;
  /** Backbone feature channels C (the HRNet width). */
  readonly numFeat: number;

  constructor(cfg: FaSRnetConfig, opts: FaSRnetOptions = {}) {
    super();
    validateConfig(cfg);
    this.cfg = cfg;
    const K = cfg.numJoints;
    // The backbone, frozen (paper: "fixed its weights"); an HRNetConfig keeps the official keys.
    const bb = isBackboneSpec(cfg.backbone) ? buildBackbone(cfg.backbone, { movenet: opts.movenet, frozen: true }) : hrnetBackbone(new HRNet(cfg.backbone), { frozen: true, jointSet: cfg.jointSet });
    checkBackbone(cfg, bb);
    this.poseBackbone = bb;
    const C = bb.featureChannels;
    this.numFeat = C;
    const quirk = fasrnetBehaviour(cfg).offsetPaddingQuirk;
    // Registration order as FaSRnet.__init__ (so that stateDict() lists keys as PyTorch does).
    this.rough_pose_estimation_net = this.module('rough_pose_estimation_net', bb.module);
    const align = { dilations: cfg.alignDilations ?? [5, 3, 1], deformableGroups: 1, offsetPaddingQuirk: quirk };
    this.pcda_p = this.module('pcda_p', new FRMAlignment(C, align));
    this.pcda_n = this.module('pcda_n', new FRMAlignment(C, align));
    this.TSA_Fusion = this.module('TSA_Fusion', new FRMFusion(C, 3, 1));
    this.final_layer = this.module('final_layer', new Conv2d(C, K, 1));
    this.hm_improve = this.module('hm_improve', new SRM({ numJoints: K, prfInnerCh: cfg.prfInnerCh, prfBlocks: cfg.prfBlocks, ptmBlocks: cfg.ptmBlocks, combineInnerCh: cfg.combineInnerCh, combineBlocks: cfg.combineBlocks, dilations: cfg.pcnDilations ?? [1] }));
    for (const p of this.rough_pose_estimation_net.parameters()) p.requiresGrad_(false);
    this.rough_pose_estimation_net.eval();
    initFaSRnetHead(this);
    if (cfg.residual) zeroResidualHead(this);
  }

  /** What the model computes now: its variant ('custom' for a mix) and the two behaviours. */
  get behaviour(): FaSRnetBehaviour {
    return fasrnetBehaviour(this.cfg);
  }

  /**
   * Switches the model to `variant` in place (no parameter changes: the alignment argument order and
   * the offset convs' padding) and records it in `cfg`.
   * @returns what changed, e.g. ["alignmentInputOrder 'paper' → 'official'", "offsetPaddingQuirk 'off' → 'batch'"].
   * @throws Error for a variant other than 'paper' or 'official'.
   */
  useVariant(variant: FaSRnetVariant): string[] {
    if (variant !== 'paper' && variant !== 'official') fail('FaSRnet', "variant 'paper' or 'official'", String(variant));
    const want = FASRNET_VARIANTS[variant];
    const have = this.behaviour;
    const changes: string[] = [];
    if (have.alignmentInputOrder !== want.alignmentInputOrder) changes.push(`alignmentInputOrder '${have.alignmentInputOrder}' → '${want.alignmentInputOrder}'`);
    if (have.offsetPaddingQuirk !== want.offsetPaddingQuirk) changes.push(`offsetPaddingQuirk '${have.offsetPaddingQuirk}' → '${want.offsetPaddingQuirk}'`);
    for (const align of [this.pcda_p, this.pcda_n]) {
      for (const [, m] of align.namedModules()) if (m instanceof DCNv2Pack) m.setOffsetPaddingQuirk(want.offsetPaddingQuirk);
    }
    if (changes.length > 0 || this.cfg.variant !== variant) {
      const { alignmentInputOrder: _a, offsetPaddingQuirk: _q, ...rest } = this.cfg;
      (this as { cfg: FaSRnetConfig }).cfg = { ...rest, variant };
    }
    return changes;
  }

  /** The refinement head (every module but the backbone), in registration order. */
  headModules(): [string, Module][] {
    return this.children().filter(([n]) => n !== 'rough_pose_estimation_net');
  }

  /** The parameters that train (the head's); the backbone's are frozen. */
  trainableParameters(): Tensor[] {
    return this.headModules().flatMap(([, m]) => m.parameters());
  }

  /** Heatmap size [h, w] = inputSize / 4. */
  get heatmapSize(): [number, number] {
    return [this.cfg.inputSize[1] / 4, this.cfg.inputSize[0] / 4];
  }

  override train(mode = true): this {
    super.train(mode);
    // The frozen backbone stays in eval mode unless the official quirk is asked for.
    this.rough_pose_estimation_net?.train(mode && (this.cfg?.backboneTrainMode ?? false));
    return this;
  }

  /**
   * The backbone on the three frames, batched as one [3B, 3, H, W] pass (as the official code).
   * @throws Error when the frames are not [B, 3, H, W] of one shape with H, W divisible by 32.
   */
  backbone(input: Pick<FaSRnetInput, 'cur' | 'prev' | 'next'>, opts: FaSRnetForwardOptions = {}): Required<FaSRnetFeatures> {
    const { cur, prev, next } = input;
    const op = 'FaSRnet';
    for (const [n, t] of [['cur', cur], ['prev', prev], ['next', next]] as const) {
      if (!t || t.rank !== 4 || t.shape[1] !== 3) fail(op, `${n} as a frame [B, 3, H, W]`, t ? fmtShape(t.shape) : String(t));
      if (t.shape.join() !== cur.shape.join()) fail(op, `${n} of cur's shape ${fmtShape(cur.shape)}`, fmtShape(t.shape));
    }
    const [B, , H, W] = cur.shape as [number, number, number, number];
    if (H % 32 !== 0 || W % 32 !== 0) fail(op, 'frames whose H and W are divisible by 32', `${H}x${W}`);
    const grad = !(opts.backboneNoGrad ?? true);
    const run = (): { features: Tensor; heatmaps: Tensor } => this.poseBackbone.forward(concat([cur, prev, next], 0), { grad });
    const r = grad ? run() : noGrad(run);
    const [fCur, fPrev, fNext] = split(r.features, B, 0) as [Tensor, Tensor, Tensor];
    const [hCur, hPrev, hNext] = split(r.heatmaps, B, 0) as [Tensor, Tensor, Tensor];
    return { fCur, fPrev, fNext, hCur, hPrev, hNext };
  }

  /**
   * The refinement head on backbone outputs (e.g. cached features): FRM → H^r, SRM → H^final.
   * @throws Error on mismatched shapes.
   */
  forwardHead(f: FaSRnetFeatures, wPrev: MarginWeight = 0.5, wNext: MarginWeight = 0.5): FaSRnetOutput {
    const C = this.numFeat;
    const op = 'FaSRnet';
    for (const [n, t] of [['fCur', f.fCur], ['fPrev', f.fPrev], ['fNext', f.fNext]] as const) {
      if (!t || t.rank !== 4 || t.shape[1] !== C) fail(op, `${n} as features [B, ${C}, h, w]`, t ? fmtShape(t.shape) : String(t));
    }
    const residual = this.cfg.residual ?? false;
    if (residual && !f.hCur) fail(op, 'hCur (the current frame\'s backbone heatmaps) for a residual head', 'none');
    const official = this.behaviour.alignmentInputOrder === 'official';
    const prevA = official ? this.pcda_p.forward(f.fCur, f.fPrev) : this.pcda_p.forward(f.fPrev, f.fCur);
    const nextA = official ? this.pcda_n.forward(f.fCur, f.fNext) : this.pcda_n.forward(f.fNext, f.fCur);
    const fused = this.TSA_Fusion.forward([prevA, f.fCur, nextA]);
    const delta = this.final_layer.forward(fused);
    const hr = residual ? add(f.hCur!, delta) : delta;
    const refined = this.hm_improve.forward(hr, f.hPrev, f.hNext, wPrev, wNext);
    return { hr, hFinal: residual ? add(hr, refined) : refined };
  }

  /** The whole model: frames → { hr, hFinal } (see the file header). */
  forward(input: FaSRnetInput, opts: FaSRnetForwardOptions = {}): FaSRnetOutput {
    const f = this.backbone(input, opts);
    return this.forwardHead(f, input.wPrev ?? 0.5, input.wNext ?? 0.5);
  }
}

/**
 * The official init of the refinement head (FaSRnet.init_weights; the backbone is left alone, it
 * is loaded from a checkpoint): every Conv2d (including the DCNs' offset convs) N(0, 0.001) with
 * zero bias, BatchNorm weight 1 and bias 0, and every deformable conv's weight set to the
 * identity kernel (`identityKernel_`) with zero bias.
 */
export function initFaSRnetHead(model: FaSRnet): void {
  for (const [, m] of model.headModules()) {
    initHRNet(m); // conv N(0, 0.001) + zero bias, BN 1/0: the same rule as HRNet's
    for (const [, sub] of m.namedModules()) {
      if (sub instanceof DCNv2Pack) {
        identityKernel_(sub.weight);
        zeros_(sub.bias);
      } else if (sub instanceof PCNDeformConv) {
        identityKernel_(sub.deform_conv.weight);
        zeros_(sub.deform_conv.bias!);
      }
    }
  }
}

/**
 * The residual form's start (FaSRnetConfig.residual): final_layer's weight and bias and the PCN's
 * mask convs set to 0, so that H^r = H_t and H^final = H^r exactly at initialization. Gradients
 * still reach everything: ∂H^r/∂final_layer is the fused features, and ∂H^final/∂mask is the
 * (identity-initialized) deformable conv of H_a, after which the offsets train too.
 */
export function zeroResidualHead(model: FaSRnet): void {
  zeros_(model.final_layer.weight);
  zeros_(model.final_layer.bias!);
  for (const seq of model.hm_improve.masks_list.items) for (const p of seq.parameters()) zeros_(p);
}

/** Checks that the backbone fits the configuration (joints, input size). */
function checkBackbone(cfg: FaSRnetConfig, bb: PoseBackbone): void {
  const op = 'FaSRnet';
  if (bb.numJoints !== cfg.numJoints) fail(op, `a backbone with numJoints = numJoints = ${cfg.numJoints} heatmaps`, String(bb.numJoints));
  const [w, h] = cfg.inputSize;
  if (bb.inputSize && (bb.inputSize[0] !== h || bb.inputSize[1] !== w)) fail(op, `inputSize [${bb.inputSize[1]}, ${bb.inputSize[0]}] (what ${bb.name} takes)`, `[${w}, ${h}]`);
}

/**
 * The FaSRnet loss (paper Eqs 17-19): α·L(H^r) + (1−α)·L(H^final), L = HRNet's JointsMSELoss with
 * per-joint visibility weights (`jointsMseLoss`), α = 0.4 by default (as the official
 * `LOSS.L1_WEIGHT`).
 * Shapes: out.hr, out.hFinal and target [B, K, h, w]; targetWeight [B, K, 1] or [B, K] → [].
 * @throws Error from jointsMseLoss on mismatched shapes, or when α is outside [0, 1].
 */
export function fasrnetLoss(out: FaSRnetOutput, target: Tensor, targetWeight: Tensor | null, alpha = 0.4): Tensor {
  if (!(alpha >= 0 && alpha <= 1)) fail('fasrnetLoss', 'alpha in [0, 1]', String(alpha));
  const useW = targetWeight !== null;
  const l1 = jointsMseLoss(out.hr, target, targetWeight, { useTargetWeight: useW });
  const l2 = jointsMseLoss(out.hFinal, target, targetWeight, { useTargetWeight: useW });
  return add(mul(l1, alpha), mul(l2, 1 - alpha));
}

/** What a configuration computes: its variant ('custom' when the two behaviours are of neither) and the behaviours. */
export interface FaSRnetBehaviour {
  variant: FaSRnetVariant | 'custom';
  alignmentInputOrder: 'paper' | 'official';
  offsetPaddingQuirk: OffsetPaddingQuirk;
}

/**
 * The behaviours a configuration selects: `variant`'s (default 'paper'), with `alignmentInputOrder`
 * and `offsetPaddingQuirk` when given.
 * @throws Error for an unknown variant, or a field that contradicts the given `variant`.
 */
export function fasrnetBehaviour(cfg: Pick<FaSRnetConfig, 'variant' | 'alignmentInputOrder' | 'offsetPaddingQuirk'>): FaSRnetBehaviour {
  const op = 'FaSRnet';
  const v = cfg.variant;
  if (v !== undefined && v !== 'paper' && v !== 'official') fail(op, "variant 'paper' or 'official'", String(v));
  const base = FASRNET_VARIANTS[v ?? 'paper'];
  if (v !== undefined) {
    for (const f of ['alignmentInputOrder', 'offsetPaddingQuirk'] as const) {
      if (cfg[f] !== undefined && cfg[f] !== base[f]) fail(op, `${f} '${base[f]}' with variant '${v}' (or leave ${f} unset)`, `'${cfg[f]}'`);
    }
  }
  const alignmentInputOrder = cfg.alignmentInputOrder ?? base.alignmentInputOrder;
  const offsetPaddingQuirk = cfg.offsetPaddingQuirk ?? base.offsetPaddingQuirk;
  const named = (Object.keys(FASRNET_VARIANTS) as FaSRnetVariant[]).find((n) => FASRNET_VARIANTS[n].alignmentInputOrder === alignmentInputOrder && FASRNET_VARIANTS[n].offsetPaddingQuirk === offsetPaddingQuirk);
  return { variant: named ?? 'custom', alignmentInputOrder, offsetPaddingQuirk };
}

/** What `fromOfficialStateDict` returns. */
export interface OfficialFaSRnetState<T> {
  /** The state dict under posegrad's keys (the official names; DataParallel's `module.` removed). */
  state: Map<string, T>;
  /** Checkpoint keys dropped (none: every official key has a posegrad counterpart). */
  dropped: string[];
  /** What `model` changed to compute as the official code (see FaSRnet.useVariant); empty if nothing. */
  switched: string[];
  /** One line per fact worth logging: the prefix, the variant the model now computes. */
  notes: string[];
}

/**
 * Prepares an official FaSRnet state dict (Elvis-Aron/FaSRnet, read with `loadPth` +
 * `extractStateDict`) for posegrad and, given the model, switches it to the official computation.
 * The official keys and shapes are posegrad's, so the state dict would load into either variant;
 * only 'official' computes what the checkpoint was trained for, so `model.useVariant('official')`
 * runs here and `switched` / `notes` say what changed. Without `model`, nothing is switched and the
 * notes say to build the model with `variant: 'official'`.
 *
 *   const sd = extractStateDict(loadPth(bytes));            // models/nn/checkpoint
 *   const { state, notes } = fromOfficialStateDict(sd, model);
 *   model.loadStateDict(state);                               // strict
 *
 * @throws Error when stripping `module.` makes two keys equal.
 */
export function fromOfficialStateDict<T extends Tensor | HostTensor>(sd: Map<string, T> | Record<string, T>, model?: FaSRnet): OfficialFaSRnetState<T> {
  const entries = sd instanceof Map ? [...sd.entries()] : Object.entries(sd);
  const state = new Map<string, T>();
  let stripped = 0;
  for (const [k0, v] of entries) {
    const k = k0.startsWith('module.') ? k0.slice(7) : k0;
    if (k !== k0) stripped++;
    if (state.has(k)) fail('fromOfficialStateDict', `distinct keys after removing 'module.'`, `'${k}' twice`);
    state.set(k, v);
  }
  const notes: string[] = [];
  if (stripped) notes.push(`DataParallel's 'module.' prefix removed from ${stripped} keys`);
  let switched: string[] = [];
  if (model) {
    switched = model.useVariant('official');
    notes.push(switched.length ? `switched to variant 'official' (${switched.join(', ')})` : `variant 'official' (as the official code)`);
  } else {
    notes.push(`pass the model to switch it to variant 'official', or build it with variant: 'official'`);
  }
  return { state, dropped: [], switched, notes };
}

function validateConfig(cfg: FaSRnetConfig): void {
  const op = 'FaSRnet';
  if (!cfg || typeof cfg !== 'object') fail(op, 'a FaSRnetConfig', String(cfg));
  const K = cfg.numJoints;
  if (!Number.isInteger(K) || K < 1) fail(op, 'numJoints as an integer ≥ 1', String(K));
  if (!cfg.backbone || typeof cfg.backbone !== 'object') fail(op, 'a backbone (an HRNetConfig or a BackboneSpec)', String(cfg.backbone));
  if (!isBackboneSpec(cfg.backbone) && cfg.backbone.numJoints !== K) fail(op, `backbone.numJoints = numJoints = ${K}`, String(cfg.backbone.numJoints));
  const [w, h] = cfg.inputSize;
  if (!(w > 0 && h > 0 && w % 32 === 0 && h % 32 === 0)) fail(op, 'inputSize [width, height] divisible by 32', `[${cfg.inputSize.join(', ')}]`);
  if (((h / 4) % 4) !== 0 || ((w / 4) % 4) !== 0) fail(op, 'heatmap sizes divisible by 4 (TSA pyramid)', `${h / 4}x${w / 4}`);
  if (cfg.alignmentInputOrder && cfg.alignmentInputOrder !== 'paper' && cfg.alignmentInputOrder !== 'official') fail(op, "alignmentInputOrder 'paper' or 'official'", String(cfg.alignmentInputOrder));
  fasrnetBehaviour(cfg);
  const a = cfg.lossAlpha ?? 0.4;
  if (!(a >= 0 && a <= 1)) fail(op, 'lossAlpha in [0, 1]', String(a));
}
