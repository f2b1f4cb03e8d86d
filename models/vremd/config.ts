/**
 * VREMD configuration and presets (Jiao et al., "Optimizing Human Pose Estimation Through Focused
 * Human and Joint Regions"; no public code).
 *
 * The paper fixes: a frozen ViT-L backbone (ViTPose, COCO) at 256x192, giving N = 192 tokens of
 * D = 1024 per frame; 3 frames (t-1, t, t+1); 17 joints (PoseTrack in COCO order); heatmaps of 64x48.
 * Everything else (block counts, heads, MLP sizes, DCA heads/points/offset range) is unstated and
 * chosen here; `docs/models/vremd.md` lists each choice and why.
 *
 * Every VREMD module works at the backbone width D (the paper writes F, M_f, M_b, F_c, F_f all as
 * N×D), so no projection sits between the backbone and HKME/BMD.
 */
import { fail } from '../../engine/shape.js';
import { isBackboneSpec, moveNetSpec, type BackboneSpec } from '../backbones/backbone.js';
import { VIT_PRESETS, vitGrid, type ViTConfig } from '../backbones/vit.js';

/** Deformable cross attention (DCA, Eqs 3-4) sizes. */
export interface DCAConfig {
  /** Attention heads; each head has its own sampling points (Deformable-DETR style). */
  heads: number;
  /** Sampling points N_pts per head and query (the N of Eq 4). */
  points: number;
  /**
   * Soft bound on the offsets Δp, in tokens of the Hp×Wp map: Δp = r·tanh(θ(·)/r), which is
   * ≈ θ(·) for small offsets and never exceeds r. null: unbounded (Deformable DETR).
   */
  offsetRange: number | null;
  /** Kernel of ψ, the depthwise conv over the token map of q ⊕ z (odd; padding k//2). */
  kernelSize: number;
}

export interface VREMDConfig {
  /**
   * The token backbone, a ViT (ViTPose keys); its grid Hp×Wp gives N = Hp·Wp tokens of
   * D = embedDim. Without `featureBackbone` (the paper): the frozen ViT-L over the frames. With
   * `featureBackbone`: a trainable ViT over that backbone's stride-4 feature map, i.e. the patch
   * tokenizer (imgSize = the feature map [H/4, W/4], inChannels = its channels, patchSize 4 = 16
   * input pixels as ViTPose's patches, patchPadding 0; depth 0 = conv + position embedding +
   * LayerNorm, no blocks).
   */
  backbone: ViTConfig;
  /**
   * A frozen single-frame backbone under the token ViT (models/backbones/backbone.ts; the `real`
   * preset: MoveNet Lightning). Its features feed the tokenizer; its heatmaps of the key frame are
   * the base of a residual head (`residual`).
   */
  featureBackbone?: BackboneSpec;
  /**
   * Residual heads (needs `featureBackbone`; the `real` preset): H_t = H_bb + H_k + H_m with the
   * last layers of H_k and H_m zero-initialized, so the untrained network outputs the backbone's
   * heatmaps of the key frame.
   */
  residual?: boolean;
  /** Frames per sample, ordered [t-1, t, t+1]; BMD needs exactly 3 (M_f and M_b). */
  numFrames: 3;
  /** Joints J (keypoint tokens per frame and heatmap channels). */
  numJoints: number;
  /** Heads of every transformer block and of the plain cross attention. */
  numHeads: number;
  /** MLP ratio of the transformer blocks. */
  mlpRatio: number;
  /** Spatial blocks of the human-mask stage (per frame, N+1 tokens). */
  humanDepth: number;
  /** Blocks of the keypoint-mask stage (3 frames linked: 3(N+J) tokens). */
  keypointDepth: number;
  /** Spatial blocks after the masks (per frame, N tokens). */
  spatialDepth: number;
  /** Temporal blocks after the spatial ones (per token position, 3 tokens). */
  temporalDepth: number;
  /** Hidden width of the token-reduction MLP 3N → hidden → N (default N). */
  reductionHidden?: number;
  /** ADC blocks in BMD. */
  adcDepth: number;
  /** Hidden width of each ADC MLP = adcMlpRatio·D (its input is the 2D concat of both branches). */
  adcMlpRatio: number;
  dca: DCAConfig;
  /** One set of ADC weights for both directions (false: each direction has its own; the default). */
  shareDirections?: boolean;
  /** H_m's deconv head (ViTPose's TopdownHeatmapSimpleHead): channels and layers (2 → heatmaps 4Hp×4Wp). */
  headChannels: number;
  headLayers?: number;
  /** Ablation switches (paper Tables 4-5); all default true. */
  hkme?: boolean;
  bmd?: boolean;
  humanMask?: boolean;
  keypointMask?: boolean;
}

export type VREMDPresetName = 'paper' | 'small' | 'tiny' | 'real';

function backboneOf(v: { imgSize: readonly [number, number]; embedDim: number; depth: number; numHeads: number }): ViTConfig {
  // dropPathRate 0: the backbone is frozen and always runs in eval mode.
  return { imgSize: v.imgSize, embedDim: v.embedDim, depth: v.depth, numHeads: v.numHeads, dropPathRate: 0 };
}

/**
 * - `paper`: ViT-L (1024 wide, 24 blocks, 16 heads) at 256x192, 3 frames, 17 joints, 64x48 heatmaps.
 *   Chosen: 16 heads (head dim 64, as ViT-L), MLP ratio 4; human-mask 2 blocks, keypoint-mask 2,
 *   spatial 1, temporal 1; token-reduction hidden N = 192; 2 ADC blocks with MLP ratio 2; DCA with
 *   8 heads × 4 points (Deformable DETR's defaults), offsets softly bounded to 4 tokens (64 px),
 *   ψ a 3x3 depthwise conv; H_m = ViTPose's head (2 deconvs of 256 channels).
 * - `small`: the CPU demo: ViT `small` (96 wide, 4 blocks, 128x96 input, 8x6 tokens), one block per
 *   stage, 3 heads, MLP ratio 2, 1 ADC block, DCA 3 heads × 4 points, head 64 channels.
 * - `tiny`: tests: ViT `tiny` (16 wide, 2 blocks, 64x48 input, 4x3 tokens), one block per stage,
 *   2 heads, MLP ratio 2, 1 ADC block, DCA 2 heads × 3 points, head 8 channels.
 * - `real`: the frozen pretrained MoveNet SinglePose Lightning (192x192 crops) under a patch
 *   tokenizer: a depth-0 ViT over MoveNet's 24-channel 48x48 FPN features, patches of 4x4 cells
 *   (16 pixels, as ViTPose's) → 12x12 = 144 tokens of D = 96 with a learned position embedding;
 *   one block per HKME stage, 4 heads, MLP ratio 2, 1 ADC block, DCA 4 heads × 4 points (range 3
 *   tokens), H_m 64 channels (48x48 heatmaps); residual heads that start as a copy of MoveNet's
 *   key-frame heatmaps. Build it with `createVREMD('real', { movenet })`. 17 COCO joints.
 */
export const VREMD_PRESETS: Readonly<Record<VREMDPresetName, VREMDConfig>> = Object.freeze({
  paper: {
    backbone: backboneOf(VIT_PRESETS.l),
    numFrames: 3,
    numJoints: 17,
    numHeads: 16,
    mlpRatio: 4,
    humanDepth: 2,
    keypointDepth: 2,
    spatialDepth: 1,
    temporalDepth: 1,
    adcDepth: 2,
    adcMlpRatio: 2,
    dca: { heads: 8, points: 4, offsetRange: 4, kernelSize: 3 },
    headChannels: 256,
  },
  small: {
    backbone: backboneOf(VIT_PRESETS.small),
    numFrames: 3,
    numJoints: 17,
    numHeads: 3,
    mlpRatio: 2,
    humanDepth: 1,
    keypointDepth: 1,
    spatialDepth: 1,
    temporalDepth: 1,
    adcDepth: 1,
    adcMlpRatio: 2,
    dca: { heads: 3, points: 4, offsetRange: 3, kernelSize: 3 },
    headChannels: 64,
  },
  tiny: {
    backbone: backboneOf(VIT_PRESETS.tiny),
    numFrames: 3,
    numJoints: 17,
    numHeads: 2,
    mlpRatio: 2,
    humanDepth: 1,
    keypointDepth: 1,
    spatialDepth: 1,
    temporalDepth: 1,
    adcDepth: 1,
    adcMlpRatio: 2,
    dca: { heads: 2, points: 3, offsetRange: 2, kernelSize: 3 },
    headChannels: 8,
  },
  real: {
    backbone: { imgSize: [48, 48], inChannels: 24, patchSize: 4, patchPadding: 0, embedDim: 96, depth: 0, numHeads: 4, dropPathRate: 0 },
    featureBackbone: moveNetSpec('lightning'),
    numFrames: 3,
    numJoints: 17,
    numHeads: 4,
    mlpRatio: 2,
    humanDepth: 1,
    keypointDepth: 1,
    spatialDepth: 1,
    temporalDepth: 1,
    adcDepth: 1,
    adcMlpRatio: 2,
    dca: { heads: 4, points: 4, offsetRange: 3, kernelSize: 3 },
    headChannels: 64,
    residual: true,
  },
});

/**
 * A preset's configuration with fields overridden (`dca` is merged field by field).
 * @throws Error for an unknown preset name.
 */
export function vremdPreset(name: string, overrides: Partial<Omit<VREMDConfig, 'dca'>> & { dca?: Partial<DCAConfig> } = {}): VREMDConfig {
  const base = (VREMD_PRESETS as Record<string, VREMDConfig>)[name];
  if (!base) fail('vremdPreset', `one of [${Object.keys(VREMD_PRESETS).join(', ')}]`, `'${name}'`);
  const { dca, ...rest } = overrides;
  return { ...base, ...rest, dca: { ...base.dca, ...(dca ?? {}) } };
}

/** Derived sizes of a configuration: token grid, N, D, heatmap size. */
export interface VREMDSizes {
  grid: [number, number];
  N: number;
  D: number;
  T: 3;
  J: number;
  heatmap: [number, number];
}

export function vremdSizes(cfg: VREMDConfig): VREMDSizes {
  const grid = vitGrid(cfg.backbone);
  const up = 2 ** (cfg.headLayers ?? 2);
  return { grid, N: grid[0] * grid[1], D: cfg.backbone.embedDim, T: 3, J: cfg.numJoints, heatmap: [grid[0] * up, grid[1] * up] };
}

/**
 * Checks a configuration.
 * @throws Error (naming `VREMD`) on non-positive or non-integer sizes, numFrames other than 3, a
 *   width not divisible by the heads, an even ψ kernel, or a negative offset range.
 */
export function validateVREMDConfig(cfg: VREMDConfig): void {
  const op = 'VREMD';
  const posInt = (name: string, v: unknown, min = 1): void => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) fail(op, `${name} as an integer ≥ ${min}`, String(v));
  };
  if (!cfg || typeof cfg !== 'object' || !cfg.backbone) fail(op, 'a VREMDConfig with a backbone', String(cfg));
  if (cfg.numFrames !== 3) fail(op, 'numFrames 3 (frames t-1, t, t+1: BMD takes M_f and M_b)', String(cfg.numFrames));
  posInt('numJoints', cfg.numJoints);
  posInt('numHeads', cfg.numHeads);
  for (const k of ['humanDepth', 'keypointDepth', 'spatialDepth', 'temporalDepth', 'adcDepth'] as const) posInt(k, cfg[k], 0);
  if (cfg.reductionHidden !== undefined) posInt('reductionHidden', cfg.reductionHidden);
  posInt('headChannels', cfg.headChannels);
  if (cfg.headLayers !== undefined) posInt('headLayers', cfg.headLayers, 0);
  if (!(cfg.mlpRatio > 0)) fail(op, 'mlpRatio > 0', String(cfg.mlpRatio));
  if (!(cfg.adcMlpRatio > 0)) fail(op, 'adcMlpRatio > 0', String(cfg.adcMlpRatio));
  const D = cfg.backbone.embedDim;
  if (D % cfg.numHeads !== 0) fail(op, `numHeads dividing the width D = ${D}`, String(cfg.numHeads));
  posInt('dca.heads', cfg.dca.heads);
  posInt('dca.points', cfg.dca.points);
  if (D % cfg.dca.heads !== 0) fail(op, `dca.heads dividing the width D = ${D}`, String(cfg.dca.heads));
  posInt('dca.kernelSize', cfg.dca.kernelSize);
  if (cfg.dca.kernelSize % 2 !== 1) fail(op, 'an odd dca.kernelSize', String(cfg.dca.kernelSize));
  if (cfg.dca.offsetRange !== null && !(cfg.dca.offsetRange > 0)) fail(op, 'dca.offsetRange > 0 or null', String(cfg.dca.offsetRange));
  if (cfg.featureBackbone !== undefined && !isBackboneSpec(cfg.featureBackbone)) fail(op, 'featureBackbone as a BackboneSpec ({ kind, config })', JSON.stringify(cfg.featureBackbone));
  if (cfg.residual && !cfg.featureBackbone) fail(op, 'residual only with a featureBackbone (its heatmaps are the base)', 'residual without one');
}
