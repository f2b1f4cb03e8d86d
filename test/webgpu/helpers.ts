/**
 * Shared setup for the webgpu parity tests.
 *
 * - `gpuAvailable`: registers the webgpu factory and initializes it once per test file. Without an
 *   adapter the suites are skipped with a message, except when CI=true, where the missing adapter
 *   fails the run.
 * Op parity on every backend, webgpu included, lives in the one op suite (test/ops/*,
 * test/helpers/backends.ts); this file serves the webgpu-specific tests (runtime, matmul tiles).
 */
import * as P from '../../index.js';
import { createWebGPUBackend, type WebGPUBackend } from '../../backends/webgpu/index.js';
import type { Tol } from '../helpers/close.js';

process.env.XDG_RUNTIME_DIR ??= '/tmp';

let initError: Error | null = null;
let backend: WebGPUBackend | null = null;
try {
  P.engine.registerBackendFactory('webgpu', createWebGPUBackend);
  backend = (await P.init('webgpu')) as WebGPUBackend;
} catch (e) {
  initError = e as Error;
}

if (initError) {
  if (process.env.CI === 'true') {
    throw new Error(`webgpu tests: CI=true requires a WebGPU adapter. ${initError.message}`);
  }
  console.warn(`[webgpu tests skipped] ${initError.message}`);
}

/** True when the webgpu backend started. */
export const gpuAvailable = backend !== null;
/** The backend (null when unavailable; suites are skipped then). */
export const gpu = backend;
export { initError };

// ------------------------------------------------------------------------------ deterministic data

/** Deterministic pseudo-random floats in [lo, hi) (an LCG: independent of the engine's RNG). */
export function rnd(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const out = new Float32Array(n);
  let s = (seed * 2654435761 + 12345) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = lo + (s / 4294967296) * (hi - lo);
  }
  return out;
}

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Tolerances relative to float32 rounding of short sums. */
export const TIGHT: Tol = { atol: 1e-6, rtol: 1e-5 };
