/**
 * The training recipes: each paper's optimizer, learning rate and step schedule, scaled down to a
 * budget counted in optimizer steps. A paper's epoch milestones become fractions of the total
 * number of steps (milestone / total epochs), and the scheduler (MultiStepLR) steps once per
 * optimizer step. docs/training.md lists the sources.
 */
import type { AugmentOptions } from '../pose/data/augment.js';
import type { ModelName } from './adapters.js';

export interface Recipe {
  optimizer: 'adam' | 'adamw';
  lr: number;
  /** Adam: L2 added to the gradient; AdamW: decoupled decay. */
  weightDecay: number;
  /** Learning-rate drops as fractions of the total steps (each multiplies the lr by gamma). */
  milestones: readonly number[];
  gamma: number;
  /** Where the numbers come from. */
  source: string;
}

export const RECIPES: Readonly<Record<ModelName, Recipe>> = Object.freeze({
  baseline: {
    optimizer: 'adam',
    lr: 1e-3,
    weightDecay: 0,
    milestones: [170 / 210, 200 / 210],
    gamma: 0.1,
    source: 'HRNet / SimpleBaseline (and the papers\' backbones): Adam 1e-3, ÷10 at epochs 170 and 200 of 210',
  },
  fasrnet: {
    optimizer: 'adam',
    lr: 1e-4,
    weightDecay: 0,
    milestones: [8 / 30, 16 / 30, 20 / 30, 25 / 30],
    gamma: 0.1,
    source: 'FaSRnet Sec. 4.1: Adam 1e-4, ×0.1 at epochs 8, 16, 20, 25 of 30',
  },
  vremd: {
    optimizer: 'adamw',
    lr: 2e-3,
    weightDecay: 1e-2,
    milestones: [16 / 20],
    gamma: 0.1,
    source: 'VREMD: AdamW 2e-3, ÷10 at epoch 16 of 20 (weight decay unstated: PyTorch\'s default 0.01)',
  },
  glpose: {
    optimizer: 'adam',
    lr: 1e-3,
    weightDecay: 0,
    milestones: [6 / 20, 12 / 20, 18 / 20],
    gamma: 0.1,
    source: 'GLPose Sec. 4.1: Adam 1e-3, ÷10 at epochs 6, 12, 18 of 20',
  },
  rpstn: {
    optimizer: 'adam',
    lr: 5e-4,
    weightDecay: 0,
    milestones: [0.8],
    gamma: 0.1,
    source: 'RPSTN Sec. IV: Adam 5e-4 (its drops at epochs 8, 15, 25, 40, 80 have no stated total, so they cannot be scaled; one ÷10 drop at 80% instead)',
  },
});

/** Milestones in steps: round(fraction · steps), kept in [1, steps − 1]; duplicates stay (MultiStepLR multiplies by gammaᵏ). */
export function milestoneSteps(fractions: readonly number[], steps: number): number[] {
  return fractions.map((f) => Math.min(Math.max(1, Math.round(f * steps)), Math.max(1, steps - 1)));
}

/**
 * The augmentation shared by every network in the experiment (one setting, so that no network
 * sees easier or harder crops): scale jitter ±25%, rotation clip(N(0,1)·15°, ±30°) with
 * probability 0.6, horizontal flip (left/right swapped) with probability 0.5, no half-body crops.
 * One draw per sample applies to all its frames (DCPose's rule).
 */
export const TRAIN_AUGMENT: AugmentOptions = Object.freeze({ scaleFactor: 0.25, rotationFactor: 15, rotationProb: 0.6, flipProb: 0.5, halfBodyProb: 0 });
