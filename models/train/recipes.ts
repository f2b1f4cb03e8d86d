/**
 * The training recipes: each paper's optimizer, learning rate and step schedule, scaled down to a
 * budget counted in optimizer steps. A paper's epoch milestones become fractions of the total
 * number of steps (milestone / total epochs), and the scheduler (MultiStepLR) steps once per
 * optimizer step. docs/training.md lists the sources.
 */
import { GLPOSE_TRAINING } from '../glpose/presets.js';
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
  /**
   * The training augmentation of this recipe, when the paper gives its own (GLPose); absent: the
   * shared TRAIN_AUGMENT. `recipeAugment(recipe)` resolves it.
   */
  augment?: AugmentOptions;
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
    optimizer: GLPOSE_TRAINING.optimizer,
    lr: GLPOSE_TRAINING.lr,
    weightDecay: 0,
    milestones: GLPOSE_TRAINING.milestones.map((m) => m / GLPOSE_TRAINING.epochs),
    gamma: GLPOSE_TRAINING.gamma,
    augment: GLPOSE_TRAINING.augment,
    source: 'GLPose Sec. 4.1 (models/glpose/presets.ts GLPOSE_TRAINING): Adam 1e-3, ÷10 at epochs 6, 12, 18 of 20; rotation ±45°, scale [0.65, 1.35], half body 0.3, flip 0.5',
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
 * The augmentation shared by the networks whose recipe has none of its own (one setting, so that
 * they see equally easy or hard crops): scale jitter ±25%, rotation clip(N(0,1)·15°, ±30°) with
 * probability 0.6, horizontal flip (left/right swapped) with probability 0.5, no half-body crops.
 * One draw per sample applies to all its frames (DCPose's rule). GLPose uses its paper's own
 * (`RECIPES.glpose.augment`, stronger: ±45°, ±35% scale, half body).
 */
export const TRAIN_AUGMENT: AugmentOptions = Object.freeze({ scaleFactor: 0.25, rotationFactor: 15, rotationProb: 0.6, flipProb: 0.5, halfBodyProb: 0 });

/** The augmentation a recipe trains with: its own (GLPose's paper recipe), else TRAIN_AUGMENT. */
export function recipeAugment(recipe: Recipe): AugmentOptions {
  return recipe.augment ?? TRAIN_AUGMENT;
}
