/**
 * posegrad: a TypeScript tensor engine with reverse-mode autograd and cpu, wasm and webgpu
 * backends. Import ops and modules from here, in Node and in browsers alike:
 *
 *   import { tensor, conv2d, tidy, init } from 'posegrad';
 *   await init('wasm', { threads: 2 });   // or init('webgpu'); cpu needs no init
 *
 * Nothing reachable from this entry imports a Node module, so it bundles for browsers as is.
 * Reading and writing files (checkpoints, images) is in the Node-only entry `posegrad/node`.
 */
// Registers the built-in backends with the engine: cpu now, wasm and webgpu as `init` factories.
import './backends/index.js';
export type {
  AttentionParams, Backend, BackendMemoryInfo, Conv2dParams, ConvPadding, DeformConv2dParams, DeviceName, GridSampleParams, InterpolateParams,
  KTensor, MatmulParams, Pool2dParams,
} from './backends/backend.js';
export type { DType, TypedArray } from './engine/dtype.js';
export { engine, init, manualSeed, memory, noGrad, setDefaultDevice, tidy } from './engine/engine.js';
export type { BackendOptions, DeviceMemory, Engine, MemoryInfo } from './engine/engine.js';
export type { GradNode } from './engine/autograd.js';
export type { Rng } from './engine/random.js';
export type { NestedArray } from './engine/tensor.js';
export type { TensorLike } from './ops/util.js';
export type { WasmBackend, WasmBackendOptions, WasmBinary, WasmFileName } from './backends/wasm/index.js';
export type { WebGPUBackend, WebGPUBackendOptions } from './backends/webgpu/index.js';
export type { DeviceOptions as WebGPUDeviceOptions } from './backends/webgpu/device.js';
export type { RuntimeOptions as WebGPURuntimeOptions } from './backends/webgpu/runtime.js';
export { Tensor } from './engine/tensor.js';
export * from './ops/index.js';
export * from './models/index.js';
