/** nn: modules, layers, init and checkpoint I/O. */
export * from './module.js';
export * from './layers.js';
export * from './extra-layers.js';
export * from './deform.js';
export * from './attention.js';
export * as init from './init.js';
export * from './safetensors.js';
export * from './optim.js';
export * from './checkpoint/index.js';
export * from './flops.js';
