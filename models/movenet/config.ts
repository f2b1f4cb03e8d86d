/**
 * MoveNet configurations: SinglePose Lightning, SinglePose Thunder and MultiPose Lightning, as
 * Google published them on TF Hub (movenet/singlepose/lightning/4, movenet/singlepose/thunder/4,
 * movenet/multipose/lightning/1). Every number here was read off the TF.js graph models (weight
 * shapes and graph constants); `scripts/movenet/convert.ts` checks each against the graph again
 * when it converts the weights, and stores the configuration in the weights file's metadata.
 *
 * Architecture (docs/models/movenet.md): a MobileNetV2 (Sandler et al., CVPR 2018) with width
 * multiplier `alpha`, an FPN decoder (Lin et al., CVPR 2017) from stride 32 to stride 4, and
 * CenterNet heads (Zhou et al., "Objects as Points", 2019): person centre, keypoint regression
 * from the centre, keypoint heatmaps, keypoint offsets, and for MultiPose the box size and offset.
 */

export type MoveNetVariant = 'lightning' | 'thunder' | 'multipose';

export interface MoveNetConfig {
  readonly variant: MoveNetVariant | 'custom';
  /** Input size [H, W] in pixels. SinglePose models take exactly this; MultiPose takes any multiple of 32. */
  readonly inputSize: readonly [number, number];
  /** MobileNetV2 width multiplier (1.0 Lightning, 1.75 Thunder, 1.5 MultiPose). */
  readonly alpha: number;
  /** Channels of MobileNetV2's last 1x1 conv (1280 for all three, whatever alpha). */
  readonly lastChannels: number;
  /**
   * MobileNetV2's inverted-residual stages as [expansion t, channels c, repeats n, stride s], before
   * the width multiplier (Sandler et al., Table 2). Default: the paper's seven stages.
   */
  readonly stages?: readonly (readonly [number, number, number, number])[];
  /**
   * FPN channels [top, out16, out8, out4]: the 1x1 conv on the stride-32 map gives `top`; each
   * level's separable 3x3 conv gives the next (64, 32, 24, 24 in all three models).
   */
  readonly fpnChannels: readonly [number, number, number, number];
  /** Hidden channels of every head's separable conv (96). */
  readonly headChannels: number;
  readonly numKeypoints: number;
  /** MultiPose: adds the box-size and box-offset heads and decodes several people. */
  readonly multiPose: boolean;
  /** Input normalization as the graph does it: x · inputScale + inputOffset (x in 0..255). */
  readonly inputScale: number;
  readonly inputOffset: number;
  /** Post-processing constants read from the graph (see decode.ts). */
  readonly decode: MoveNetDecodeConfig;
}

export interface MoveNetDecodeConfig {
  /** SinglePose: the centre map is weighted by 1/(distance to the map centre + this), in heatmap cells. */
  readonly centerDistanceOffset?: number;
  /** SinglePose: each keypoint heatmap is divided by (distance to the regressed keypoint + this). */
  readonly keypointDistanceOffset?: number;
  /** MultiPose: max-pool window of the centre NMS (5). */
  readonly nmsKernel?: number;
  /** MultiPose: a centre survives NMS when |centre − maxpool(centre)| < this. */
  readonly nmsTolerance?: number;
  /** MultiPose: people decoded per image (6). */
  readonly maxPersons?: number;
  /** MultiPose: Gaussian weight exp(−d² / (sigmaFactor · min(h, w))) around each regressed keypoint. */
  readonly sigmaFactor?: number;
  /** MultiPose: keypoints above this score count in the person score. */
  readonly keypointScoreThreshold?: number;
}

/** MobileNetV2's stages (Sandler et al. 2018, Table 2): [t, c, n, s]. */
export const MOBILENET_V2_STAGES: readonly (readonly [number, number, number, number])[] = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

/** Keras/TF's `_make_divisible(v, 8)`: round to a multiple of `divisor`, never down by more than 10%. */
export function makeDivisible(v: number, divisor = 8): number {
  let n = Math.max(divisor, Math.floor((v + divisor / 2) / divisor) * divisor);
  if (n < 0.9 * v) n += divisor;
  return n;
}

/** float16 rounding of the graph's constants (TF.js stores them as float16). */
const ONE_OVER_127_5_F16 = 0.0078430176;

const SINGLE_DECODE: MoveNetDecodeConfig = { centerDistanceOffset: 1.8, keypointDistanceOffset: 1.7998047 };

const LIGHTNING: MoveNetConfig = {
  variant: 'lightning',
  inputSize: [192, 192],
  alpha: 1.0,
  lastChannels: 1280,
  fpnChannels: [64, 32, 24, 24],
  headChannels: 96,
  numKeypoints: 17,
  multiPose: false,
  inputScale: ONE_OVER_127_5_F16,
  inputOffset: -1,
  decode: SINGLE_DECODE,
};

/** The three published models differ in input size, width and (MultiPose) heads and decoding. */
export const MOVENET_CONFIGS: Record<MoveNetVariant, MoveNetConfig> = {
  lightning: LIGHTNING,
  thunder: { ...LIGHTNING, variant: 'thunder', inputSize: [256, 256], alpha: 1.75 },
  multipose: {
    ...LIGHTNING,
    variant: 'multipose',
    inputSize: [256, 256],
    alpha: 1.5,
    multiPose: true,
    decode: { nmsKernel: 5, nmsTolerance: 1.013279e-6, maxPersons: 6, sigmaFactor: 0.30004883, keypointScoreThreshold: 0.12695312 },
  },
};

/** One inverted-residual block: input, expanded and output channels, stride, residual or not. */
export interface BlockSpec {
  readonly inChannels: number;
  readonly expandChannels: number;
  readonly outChannels: number;
  readonly stride: number;
  /** The expansion factor is 1 (block 0: no expand conv). */
  readonly noExpand: boolean;
  readonly residual: boolean;
}

/** The blocks of MobileNetV2 at width `alpha`, in order (block 0 is Keras's `expanded_conv`). */
export function mobileNetV2Blocks(alpha: number, stages = MOBILENET_V2_STAGES): { stem: number; blocks: BlockSpec[] } {
  const stem = makeDivisible(32 * alpha);
  const blocks: BlockSpec[] = [];
  let cin = stem;
  for (const [t, c, n, s] of stages) {
    const cout = makeDivisible(c * alpha);
    for (let i = 0; i < n; i++) {
      const stride = i === 0 ? s : 1;
      blocks.push({ inChannels: cin, expandChannels: cin * t, outChannels: cout, stride, noExpand: t === 1, residual: stride === 1 && cin === cout });
      cin = cout;
    }
  }
  return { stem, blocks };
}

/**
 * The blocks whose outputs feed the FPN's lateral convs: the last block at stride 4, 8 and 16
 * (blocks 2, 5 and 9 of the paper's stages: the graph's block_2_add, block_5_add, block_9_add).
 * Stride 16 taps the 64·alpha stage, not the later 96·alpha one, as in the graph.
 */
export const FPN_TAPS = { stride4: 2, stride8: 5, stride16: 9 } as const;

/** Validates a configuration. @throws Error naming the field, what was expected and what was given. */
export function checkMoveNetConfig(cfg: MoveNetConfig): void {
  const bad = (field: string, expected: string, got: unknown): never => {
    throw new Error(`MoveNet: expected ${field} ${expected}, got ${JSON.stringify(got)}`);
  };
  const [h, w] = cfg.inputSize;
  if (!(Number.isInteger(h) && Number.isInteger(w) && h >= 32 && w >= 32 && h % 32 === 0 && w % 32 === 0)) bad('inputSize', 'two multiples of 32 (>= 32)', cfg.inputSize);
  if (!(cfg.alpha > 0)) bad('alpha', '> 0', cfg.alpha);
  if (!(Number.isInteger(cfg.numKeypoints) && cfg.numKeypoints > 0)) bad('numKeypoints', 'a positive integer', cfg.numKeypoints);
  if (cfg.fpnChannels.length !== 4 || !cfg.fpnChannels.every((c) => Number.isInteger(c) && c > 0)) bad('fpnChannels', 'four positive integers', cfg.fpnChannels);
  if (!(Number.isInteger(cfg.headChannels) && cfg.headChannels > 0)) bad('headChannels', 'a positive integer', cfg.headChannels);
  const { blocks } = mobileNetV2Blocks(cfg.alpha, cfg.stages);
  if (blocks.length <= FPN_TAPS.stride16) bad('stages', `at least ${FPN_TAPS.stride16 + 1} blocks`, blocks.length);
}
