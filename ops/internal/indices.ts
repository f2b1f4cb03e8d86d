/**
 * Index validation shared by gather, indexSelect and crossEntropy: every backend raises the same
 * Error, "<op>: expected <range>, got <first bad index>", before (cpu, wasm) or, for indices
 * computed on the GPU, at the next read or sync (webgpu; see Runtime.checkIndices and
 * docs/architecture.md). Not part of the public API.
 */
import type { Tensor } from '../../engine/tensor.js';
import { backendOf, fail } from '../util.js';

/** The part of the webgpu runtime that checks indices (reached through the backend's `rt`). */
interface IndexChecker {
  checkIndices(op: string, expected: string, index: unknown, count: number, n: number, ignore: number | null): void;
}

let trusted = 0;

/** Runs `fn` without index checks: for indices that the calling op has already validated. @internal */
export function trustedIndices<T>(fn: () => T): T {
  trusted++;
  try {
    return fn();
  } finally {
    trusted--;
  }
}

/**
 * Throws (or, on webgpu for device-computed indices, arranges to throw at the next sync) unless
 * every int32 value of `index` is in [0, n) or equals `ignore`. `expected` describes the range.
 * @internal
 */
export function checkIndices(op: string, expected: string, index: Tensor, n: number, ignore: number | null = null): void {
  if (trusted > 0) return;
  if (index.device === 'webgpu') {
    const rt = (backendOf(index) as { rt?: IndexChecker }).rt;
    if (!rt) throw new Error(`${op}: expected the webgpu backend to expose its runtime (rt.checkIndices), got none`);
    rt.checkIndices(op, expected, index.storage(op), index.size, n, ignore);
    return;
  }
  const v = index.dataSync();
  for (let i = 0; i < v.length; i++) {
    const x = v[i]!;
    if ((x < 0 || x >= n) && x !== ignore) fail(op, expected, String(x));
  }
}
