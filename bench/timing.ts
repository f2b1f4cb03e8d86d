/**
 * Timing one workload with tinybench: one untimed first call (pipeline compilation, JIT, first
 * allocations), then tinybench's warm-up, then N timed runs. The plan (warm-up count, N, time
 * budget) adapts to how long the first call took, so a 3-second cpu matmul is timed 3 times and a
 * 50-µs layerNorm a few hundred times within a second.
 *
 * The function timed must return only once its work is complete: GPU adapters await the device
 * (`backend.sync()`, `queue.onSubmittedWorkDone()`) inside it.
 */
import { Bench } from 'tinybench';

export interface TimingPlan {
  warmupIterations: number;
  /** Minimum timed runs. */
  iterations: number;
  /** Minimum total timed duration in ms (tinybench runs until both minimums are met). */
  timeMs: number;
}

/**
 * The timing plan for a workload whose first call took `firstMs`. Under --quick: 1 warm-up and 3
 * runs, or with `minimal` (whole networks, where one call is already long) no warm-up and 1 run.
 */
export function planTiming(firstMs: number, quick: boolean, minimal = false): TimingPlan {
  if (quick) return minimal ? { warmupIterations: 0, iterations: 1, timeMs: 0 } : { warmupIterations: 1, iterations: 3, timeMs: 0 };
  // A first call over 10 s served as the warm-up; one more call is the measurement (N = 1).
  if (firstMs > 10_000) return { warmupIterations: 0, iterations: 1, timeMs: 0 };
  if (firstMs > 2000) return { warmupIterations: 1, iterations: 3, timeMs: 0 };
  if (firstMs > 300) return { warmupIterations: 1, iterations: 5, timeMs: 0 };
  if (firstMs > 30) return { warmupIterations: 3, iterations: 10, timeMs: 1000 };
  return { warmupIterations: 10, iterations: 20, timeMs: 1000 };
}

export interface Measurement {
  /** Timed samples in ms (tinybench returns them sorted ascending). */
  samples: number[];
  /** Duration of the untimed first call in ms. */
  firstMs: number;
  plan: TimingPlan;
}

/** Times `fn` (see the file comment). Errors from `fn` propagate. */
export async function measure(fn: () => unknown, quick: boolean, minimal = false): Promise<Measurement> {
  const t0 = performance.now();
  await fn();
  const firstMs = performance.now() - t0;
  const plan = planTiming(firstMs, quick, minimal);
  const bench = new Bench({
    iterations: plan.iterations,
    time: plan.timeMs,
    warmup: plan.warmupIterations > 0,
    warmupIterations: plan.warmupIterations,
    warmupTime: 0,
    retainSamples: true,
    throws: true,
  });
  bench.add('w', async () => {
    await fn();
  }, { async: true });
  await bench.run();
  const task = bench.tasks[0];
  if (!task) throw new Error('measure: expected a tinybench task, got none');
  const r = task.result;
  if (r.state !== 'completed') throw new Error(`measure: expected a completed tinybench task, got state '${r.state}'${'error' in r ? `: ${r.error.message}` : ''}`);
  const samples = r.latency.samples;
  if (!samples || samples.length === 0) throw new Error('measure: expected retained samples, got none');
  return { samples: [...samples], firstMs, plan };
}
