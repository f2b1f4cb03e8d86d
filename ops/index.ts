/** Every public op, one file per family. */
export * from './creation.js';
export * from './elementwise.js';
export * from './reduce.js';
export * from './matmul.js';
export * from './shape.js';
export * from './softmax.js';
export * from './conv.js';
export * from './deform-conv.js';
export * from './pooling.js';
export * from './resample.js';
export * from './normalization.js';
export * from './attention.js';
export * from './loss.js';
export * from './dropout.js';
