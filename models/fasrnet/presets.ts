/**
 * FaSRnet presets.
 * - `paper`: the paper's setting (Sec. 4.1) and the official config (configs/posetrack17/
 *   model_FaSRnet.yaml): HRNet-W48 at 384x288 (48-channel 96x72 features), K = 17, FRM dilations
 *   5/3/1, SRM with PRF 68→34 (2 RSB blocks), PTM 51→17 (1 block), combination 51→64 (2 blocks),
 *   PCN dilation 1, α = 0.4. About 65.0M parameters (see docs/models/fasrnet.md).
 * - `small`: for the CPU demo: HRNet `small` (width 16, one module per stage, one block per branch)
 *   at 128x96 (16-channel 32x24 features), K = 17 (PoseTrack order), one RSB block per chain and a
 *   32-channel combination. The PRF/PTM widths follow from K (4K → 2K, 3K → K).
 * - `tiny`: for tests and parity fixtures: HRNet `tiny` (width 4) at 64x64 (4-channel 16x16
 *   features), K = 4 joints (so that the SRM's 4K-channel RSB blocks stay a few thousand
 *   parameters), PRF 16→8 (2 blocks), PTM 12→4 (1 block), combination 12→8 (2 blocks): the paper's
 *   block structure at a few channels. Use `fasrnetPreset('tiny', { numJoints: 17 })` to train it on
 *   17-joint data.
 * - `real`: the frozen pretrained MoveNet SinglePose Lightning (192x192 crops: 24-channel 48x48
 *   features and 17 COCO-order heatmaps) as the rough pose estimation network; the paper's head at
 *   C = 24 (FRM dilations 5/3/1, TSA, SRM with PRF 68→34 in 2 RSB blocks, PTM 51→17, combination
 *   51→64 in 2 blocks), in residual form so that it starts as a copy of MoveNet's heatmaps. Build it
 *   with the pretrained MoveNet: `createFaSRnet('real', {}, { movenet })`. 17 COCO joints (MoveNet's,
 *   and the real-video teacher's labels). docs/models/fasrnet.md, "The `real` preset", says why each choice.
 * `paper` and `small` decode with the PoseTrack joint set, `real` with COCO-17.
 */
import { moveNetSpec } from '../backbones/backbone.js';
import { HRNET_PRESETS } from '../backbones/hrnet.js';
import { FaSRnet, type FaSRnetConfig, type FaSRnetOptions } from './model.js';

export type FaSRnetPresetName = 'paper' | 'small' | 'tiny' | 'real';

export const FASRNET_PRESETS: Readonly<Record<FaSRnetPresetName, FaSRnetConfig>> = Object.freeze({
  paper: {
    backbone: HRNET_PRESETS.w48,
    inputSize: [288, 384],
    numJoints: 17,
    alignDilations: [5, 3, 1],
    prfInnerCh: 34,
    prfBlocks: 2,
    ptmBlocks: 1,
    combineInnerCh: 64,
    combineBlocks: 2,
    pcnDilations: [1],
    lossAlpha: 0.4,
    jointSet: 'posetrack',
  },
  small: {
    backbone: HRNET_PRESETS.small,
    inputSize: [96, 128],
    numJoints: 17,
    alignDilations: [5, 3, 1],
    prfInnerCh: 34,
    prfBlocks: 1,
    ptmBlocks: 1,
    combineInnerCh: 32,
    combineBlocks: 1,
    pcnDilations: [1],
    lossAlpha: 0.4,
    jointSet: 'posetrack',
  },
  tiny: {
    backbone: { ...HRNET_PRESETS.tiny, numJoints: 4 },
    inputSize: [64, 64],
    numJoints: 4,
    alignDilations: [5, 3, 1],
    prfInnerCh: 8,
    prfBlocks: 2,
    ptmBlocks: 1,
    combineInnerCh: 8,
    combineBlocks: 2,
    pcnDilations: [1],
    lossAlpha: 0.4,
  },
  real: {
    backbone: moveNetSpec('lightning'),
    inputSize: [192, 192],
    numJoints: 17,
    alignDilations: [5, 3, 1],
    prfInnerCh: 34,
    prfBlocks: 2,
    ptmBlocks: 1,
    combineInnerCh: 64,
    combineBlocks: 2,
    pcnDilations: [1],
    lossAlpha: 0.4,
    jointSet: 'coco17',
    residual: true,
  },
});

/**
 * The configuration of a preset with fields overridden. Overriding `numJoints` also sets the
 * preset backbone's head to K joints (unless `backbone` is overridden too) and, unless given,
 * prfInnerCh to 2K (the official ratio).
 * @throws Error for an unknown preset name.
 */
export function fasrnetPreset(name: string, overrides: Partial<FaSRnetConfig> = {}): FaSRnetConfig {
  const base = (FASRNET_PRESETS as Record<string, FaSRnetConfig>)[name];
  if (!base) throw new Error(`fasrnetPreset: expected one of [${Object.keys(FASRNET_PRESETS).join(', ')}], got '${name}'`);
  const cfg: FaSRnetConfig = { ...base, ...overrides };
  if (overrides.numJoints !== undefined && overrides.numJoints !== base.numJoints) {
    if (overrides.backbone === undefined && !('kind' in base.backbone)) cfg.backbone = { ...base.backbone, numJoints: overrides.numJoints };
    if (overrides.prfInnerCh === undefined) cfg.prfInnerCh = 2 * overrides.numJoints;
  }
  return cfg;
}

/**
 * Builds FaSRnet from a preset name (with overrides) or a full configuration, for the demo and the
 * trainer. The head starts with the official init (see initFaSRnetHead; `real`: in residual form);
 * the backbone with HRNet's (load a COCO-trained HRNet checkpoint into `rough_pose_estimation_net`
 * before training) or, for `real`, the MoveNet given in `opts.movenet` (random without it).
 * @throws Error for an unknown preset or an invalid configuration.
 */
export function createFaSRnet(preset: FaSRnetPresetName | FaSRnetConfig, overrides: Partial<FaSRnetConfig> = {}, opts: FaSRnetOptions = {}): FaSRnet {
  return new FaSRnet(typeof preset === 'string' ? fasrnetPreset(preset, overrides) : { ...preset, ...overrides }, opts);
}
