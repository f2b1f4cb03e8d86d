/** RPSTN (Dang, Yin, Zhang, IEEE TIP 2022): JRE, JRPSP, the T-frame model, presets. */
export * from './jre.js';
export * from './jrpsp.js';
export * from './model.js';
export * from './presets.js';
