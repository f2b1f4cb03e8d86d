/** SynthPose: the synthetic video pose benchmark (generator, in-memory loader; writer.ts needs Node). */
export * from './figure.js';
export * from './generator.js';
export * from './loader.js';
