/** Numeric comparison for tests: |actual - expected| ≤ atol + rtol·|expected|, elementwise. */
import type { TypedArray } from '../../engine/dtype.js';

export interface Tol {
  atol: number;
  rtol: number;
}

/** The largest |a - b| over all elements (NaN if any element is NaN in only one of them). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (Number.isNaN(x) !== Number.isNaN(y)) return NaN;
    if (x === y) continue; // covers equal infinities
    m = Math.max(m, Math.abs(x - y));
  }
  return m;
}

/** Throws an Error describing the worst element when the arrays differ beyond the tolerance. */
export function assertClose(actual: ArrayLike<number> | TypedArray, expected: ArrayLike<number> | TypedArray, tol: Tol, label = 'value'): void {
  if (actual.length !== expected.length) throw new Error(`${label}: expected ${expected.length} elements, got ${actual.length}`);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(a) || Number.isNaN(e)) {
      if (Number.isNaN(a) && Number.isNaN(e)) continue;
      throw new Error(`${label}: element ${i}: expected ${e}, got ${a}`);
    }
    if (a === e) continue;
    const excess = Math.abs(a - e) - (tol.atol + tol.rtol * Math.abs(e));
    if (excess > worstExcess || (excess > 0 && worst < 0)) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    throw new Error(`${label}: element ${worst}: expected ${expected[worst]}, got ${actual[worst]} (|Δ| = ${Math.abs(actual[worst]! - expected[worst]!)}, atol ${tol.atol}, rtol ${tol.rtol}; max |Δ| over all ${maxAbsDiff(actual, expected)})`);
  }
}
