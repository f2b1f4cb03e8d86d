/** VREMD (Jiao et al.): HKME, BMD with DCA, heads, the model, presets, feature cache, cost model. */
export * from './config.js';
export * from './hkme.js';
export * from './dca.js';
export * from './bmd.js';
export * from './heads.js';
export * from './cache.js';
export * from './model.js';
export * from './cost.js';
