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

/** The tolerance of assertCloseToTruth. */
export interface TruthTol extends Tol {
  /** When true, atol is relative to the scale max(1, max |truth|). */
  atolScaled?: boolean;
  /** The float32 reference may be at most this fraction of the scale off the truth. */
  maxRef32: number;
  /** Said when the float32 reference itself is off (what to do about it). */
  ref32Hint?: string;
}

/**
 * A float32 run against the float64 truth, allowing a few times the error of the cpu float32 run:
 * |actual - truth| ≤ atol + rtol·|truth| + 4·e32, e32 = max |ref32 - truth| (cpu float32 sums in
 * doubles, the other backends in float32). First checks e32 ≤ maxRef32·scale: a reference that is
 * itself off (a kink, an ill-conditioned point) would make the bound meaningless.
 */
export function assertCloseToTruth(actual: ArrayLike<number>, truth: ArrayLike<number>, ref32: ArrayLike<number>, tol: TruthTol, label = 'value'): void {
  const e32 = maxAbsDiff(ref32, truth);
  let scale = 1;
  for (let i = 0; i < truth.length; i++) scale = Math.max(scale, Math.abs(truth[i]!));
  if (!(e32 <= tol.maxRef32 * scale)) {
    throw new Error(`${label}: expected the cpu float32 reference within ${tol.maxRef32}·scale of the float64 truth, got ${e32} (scale ${scale})${tol.ref32Hint ? `: ${tol.ref32Hint}` : ''}`);
  }
  const atol = (tol.atolScaled ? tol.atol * scale : tol.atol) + 4 * e32;
  assertClose(actual, truth, { atol, rtol: tol.rtol }, `${label} (cpu float32 is ${e32.toExponential(2)} off the float64 truth, scale ${scale.toPrecision(3)})`);
}
