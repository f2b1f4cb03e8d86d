/**
 * Setup for the wasm-specific tests (allocator, memory, loader, threads; the network tests): the
 * shared backend and deterministic inputs. Op parity on every backend, wasm at 1, 2 and 16 threads
 * included, lives in the one op suite (test/ops/*, test/helpers/backends.ts).
 */
import { createWasmBackend, type WasmBackend, type WasmBackendOptions } from '../../backends/wasm/index.js';
import { engine, init } from '../../engine/engine.js';

let backend: WasmBackend | null = null;

/** Registers and initializes the wasm backend once per test file (vitest runs each file in its own process). */
export async function setupWasm(opts: WasmBackendOptions = {}): Promise<WasmBackend> {
  if (!backend) {
    engine.registerBackendFactory('wasm', () => createWasmBackend(opts));
    backend = (await init('wasm')) as WasmBackend;
  }
  return backend;
}

/** Deterministic pseudo-random values in [lo, hi). */
export function rand(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = new Float32Array(n);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    r[i] = lo + (s / 4294967296) * (hi - lo);
  }
  return r;
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** An input: float32 values (requiresGrad unless `noGrad`) or int32 values. */
export interface In {
  shape: number[];
  data: Float32Array | Int32Array;
  noGrad?: boolean;
}

export const f = (shape: number[], seed: number, lo = -1, hi = 1): In => ({ shape, data: rand(numel(shape), seed, lo, hi) });
export const i32 = (shape: number[], values: ArrayLike<number>): In => ({ shape, data: Int32Array.from(values) });
export const fixed = (shape: number[], seed: number, lo = -1, hi = 1): In => ({ ...f(shape, seed, lo, hi), noGrad: true });
