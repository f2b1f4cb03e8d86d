/**
 * What every JS-side kernel wrapper receives: the memory (allocator + views) and the module's
 * exports. Wrappers (one file per kernel family, mirroring assembly/<family>.ts) validate nothing:
 * ops/ has checked shapes and dtypes. They allocate outputs, call the kernel, and return storages.
 */
import type { KTensor } from '../backend.js';
import type { DType } from '../../engine/dtype.js';
import { fail } from '../../engine/shape.js';
import type { WasmMemory, WasmStorage } from './memory.js';
import type { ThreadPool } from './threads.js';

export type WT = KTensor<WasmStorage>;
export type KernelFn = (...args: number[]) => number;

export interface WasmContext {
  readonly mem: WasmMemory;
  readonly exports: WebAssembly.Exports;
  /** True when the module was built with relaxed SIMD (fused multiply-add in the GEMM). */
  readonly relaxed: boolean;
  /** Worker threads for the split kernels (threads.ts), or null (single-threaded). */
  readonly pool: ThreadPool | null;
}

/** The exported kernel `name`; throws when the module lacks it (a stale build). */
export function kernel(ctx: WasmContext, name: string): KernelFn {
  const f = ctx.exports[name];
  if (typeof f !== 'function') throw new Error(`wasm: expected kernel '${name}' in the module, got none (rebuild with \`npm run build:wasm\`)`);
  return f as KernelFn;
}

/** Throws unless dtype is one the wasm backend holds (float32, int32). */
export function checkDtype(op: string, dtype: DType): void {
  if (dtype !== 'float32' && dtype !== 'int32') fail(`wasm ${op}`, "dtype 'float32' or 'int32' (the wasm backend has no float64)", `'${dtype}'`);
}

/** 'f32' or 'i32': the kernel-name suffix for a dtype. */
export function sfx(dtype: DType): 'f32' | 'i32' {
  return dtype === 'int32' ? 'i32' : 'f32';
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}
