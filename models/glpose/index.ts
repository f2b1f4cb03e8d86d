/** GLPose (Jiao et al., ACM TOMM 2022): similarity weighting and ranking, Feature Processing, Feature Enhancement, the model, presets, costs. */
export * from './weighting.js';
export * from './feature-processing.js';
export * from './feature-enhancement.js';
export * from './model.js';
export * from './presets.js';
export * from './cost.js';
