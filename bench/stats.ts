/**
 * Summary statistics of timing samples. Every engine (JS through tinybench, Python through its own
 * loop) returns its raw samples, and this one function summarizes them, so that all columns of a
 * table are computed the same way.
 */

export interface Stats {
  /** Number of timed runs (after warm-up). */
  n: number;
  /** All in milliseconds. */
  median: number;
  p25: number;
  p75: number;
  min: number;
  max: number;
  mean: number;
}

/** Quantile q ∈ [0, 1] of sorted values, linearly interpolated (NumPy's default, "type 7"). */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) throw new Error('quantile: expected at least one sample, got none');
  if (!(q >= 0 && q <= 1)) throw new Error(`quantile: expected q in [0, 1], got ${q}`);
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  return a + (b - a) * (pos - lo);
}

export function summarize(samples: readonly number[]): Stats {
  if (samples.length === 0) throw new Error('summarize: expected at least one sample, got none');
  for (const s of samples) if (!Number.isFinite(s) || s < 0) throw new Error(`summarize: expected finite non-negative times, got ${s}`);
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    n: sorted.length,
    median: quantile(sorted, 0.5),
    p25: quantile(sorted, 0.25),
    p75: quantile(sorted, 0.75),
    min: sorted[0]!,
    max: sorted[sorted.length - 1]!,
    mean: sorted.reduce((a, b) => a + b, 0) / sorted.length,
  };
}

/** Throughput in G-units per second for `work` units done in `ms` milliseconds. */
export function perSecondG(work: number, ms: number): number {
  if (!(ms > 0)) return NaN;
  return work / (ms * 1e-3) / 1e9;
}
