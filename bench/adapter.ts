/**
 * What every engine adapter (posegrad's backends, tfjs, onnxruntime) provides to the worker, and
 * the deterministic input data they share.
 */
import type { KernelSpec, Mode } from './formulas.js';

/** A workload ready to time: its inputs live on the engine's device already. */
export interface Prepared {
  /** Runs one iteration; resolves once the work is complete (GPU work included). */
  run(): unknown;
  /** Frees the inputs. */
  dispose(): void;
  /** A remark shown beside the number (e.g. "composed from matMul + softmax"). */
  note?: string;
}

/** Either a prepared workload or the reason this engine cannot run it ("no op", "inference only"). */
export type PrepareResult = Prepared | { na: string };

export interface EngineStart {
  /** Version string(s) of the engine. */
  version: string;
  /** Free-form details: thread count actually used, SIMD, adapter, shims applied. */
  details: Record<string, string | number | boolean>;
}

export interface KernelAdapter {
  /** Starts the engine. Throws (with the engine's own Error) when it cannot start. */
  start(): Promise<EngineStart>;
  /** Uploads inputs for one workload in one mode. */
  prepare(spec: KernelSpec, mode: Mode, engineId: string): Promise<PrepareResult>;
}

/**
 * Deterministic pseudo-random floats in [lo, hi) (a 32-bit LCG): engines get the same kind of
 * data without sharing a generator. The values only need to be realistic (finite, in range).
 */
export function randomFloats(n: number, seed: number, lo = -1, hi = 1): Float32Array<ArrayBuffer> {
  const out = new Float32Array(n);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = lo + ((s >>> 8) / 16777216) * (hi - lo);
  }
  return out;
}

/** Value ranges per input: offsets of a few pixels, masks in [0, 1], grid a bit beyond [-1, 1]. */
export const RANGES = {
  data: [-1, 1],
  offset: [-2, 2],
  mask: [0, 1],
  grid: [-1.1, 1.1],
} as const satisfies Record<string, readonly [number, number]>;
