/** FaSRnet (Zhong et al., FITEE 2024): FRM (alignment + attention fusion), SRM, RSB, the model, presets, costs. */
export * from './dcn.js';
export * from './rsb.js';
export * from './frm.js';
export * from './srm.js';
export * from './model.js';
export * from './presets.js';
export * from './cost.js';
