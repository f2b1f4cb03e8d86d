/**
 * What an elementwise op returns for NaN operands, as PyTorch does: the one rule that the cpu
 * backend (the reference) applies, and that the wasm code generator (backends/wasm/codegen.ts) and
 * the WGSL kernels (backends/webgpu/kernels/elementwise.ts) emit. The spec table's expressions
 * (backends/spec.ts) are written for finite numbers; NaN is handled here, once, because the same
 * expression erases NaN differently in each language (`x > 0 ? x : 0`, WGSL's max/min/clamp,
 * which may drop NaN, comparisons that a GPU compiler may assume NaN-free).
 *
 * Unary: a NaN input gives NaN, except sign (torch.sign(NaN) = 0) and pow with exponent 0 (1, as
 * C's pow). Binary: maximum/minimum give NaN when either operand is NaN; comparisons are false
 * for NaN except ne (true); pow follows C's pow: pow(1, y) = 1 and pow(x, 0) = 1 for every x and
 * y, NaN included, and pow(-1, ±Infinity) = 1.
 */
import type { UnaryOp } from '../spec.js';

/** The result for a NaN input of unary `op`: 'nan', 'zero', or 'one' (given the params). */
export function unaryNaN(op: UnaryOp, params: readonly number[]): 'nan' | 'zero' | 'one' {
  if (op === 'sign') return 'zero';
  if (op === 'powScalar' && params[0] === 0) return 'one';
  return 'nan';
}

/** C's pow (what torch.pow computes), which JS's Math.pow is not for a base of ±1. */
export function cPow(a: number, b: number): number {
  if (a === 1 || b === 0) return 1;
  if (a === -1 && (b === Infinity || b === -Infinity)) return 1;
  return Math.pow(a, b);
}
