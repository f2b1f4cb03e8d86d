/** The top-down data pipeline: dataset and batches, frame selections, augmentation, targets, flip test. */
export * from './augment.js';
export * from './dataset.js';
export * from './flip.js';
export * from './frames.js';
export * from './targets.js';
