/**
 * posegrad: a TypeScript tensor engine with reverse-mode autograd and cpu, wasm and webgpu
 * backends. Import ops and modules from here:
 *
 *   import { tensor, conv2d, tidy, init } from 'posegrad';
 */
export type { DeviceName } from './backends/backend.js';
export type { DType, TypedArray } from './engine/dtype.js';
export { engine, init, manualSeed, memory, noGrad, setDefaultDevice, tidy } from './engine/engine.js';
export type { MemoryInfo } from './engine/engine.js';
export { Tensor } from './engine/tensor.js';
export * from './ops/index.js';
export * from './models/index.js';
