/**
 * The posegrad wasm module: every kernel family, one file each. Built by backends/wasm/build.ts
 * into backends/wasm/build/posegrad.wasm (SIMD), posegrad-relaxed.wasm (+ relaxed SIMD) and their
 * -threads twins (importing a shared memory).
 * Conventions (memory, dtypes, dispatch, naming): see common.ts.
 */
export { build_features, heap_base } from './common';
export { fill_u32, cast_f32_i32, cast_i32_f32, copy_u32, where_u32 } from './elementwise';
export * from './generated/elementwise';
export * from './reduce';
export * from './shape';
export * from './matmul';
export * from './conv';
export * from './softmax';
export * from './pooling';
export * from './resample';
export * from './norm';
export * from './deform-conv';
export * from './grid-sample';
export * from './attention';
