/**
 * The network suite, run inside a posegrad worker process on one backend:
 * - infer (presets `small` and `real`): ms per forward, reported per frame (forward /
 *   framesPerForward);
 * - train (preset tiny): ms per training step;
 * - paper (preset paper): one timed inference, in a process of its own, with its memory, measured
 *   as test/reference/torch_peak_memory.py measures PyTorch's (issue 14 item 6):
 *   1. the model code is loaded (`preload`) and the backend started; the RSS then is the
 *      pre-model baseline, and the process's peak-RSS mark is reset there (bench/memory.ts);
 *   2. the network is built with its input; `buildPeakAboveBaselineBytes` is the peak RSS so far
 *      above the baseline;
 *   3. the peak marks are reset again (RSS, and posegrad's `resetPeakMemory()`), one inference runs
 *      (eval, noGrad, tidy); `inferPeakAboveBaselineBytes` is the peak RSS during it above the
 *      baseline (the figure compared with PyTorch's), `peakLiveBytes` is `memory().peakBytes` (the
 *      high-water mark of live tensor storage, weights and input included), `pooledBytes` the
 *      bytes the backend holds beyond live tensors right after it (its free-block pool).
 *   `peakRssBytes` stays the process's peak since it started. On webgpu over lavapipe the "GPU"
 *   memory is host memory and counts in the RSS; on a real GPU it does not.
 * Under --quick every mode uses the tiny preset (the code paths are the same, in milliseconds);
 * the `real` jobs are not planned under --quick (bench/index.ts).
 */
import type { DeviceName } from '../../backends/backend.js';
import type { Tensor } from '../../engine/tensor.js';
import { matchesFilter, type BenchArgs } from '../args.js';
import { isUnsupportedError, type CellMessage, type NetworkJob } from '../protocol.js';
import { collectGarbage, peakRssBytes, resetPeakRss, rssBytes } from '../memory.js';
import { measure } from '../timing.js';
import { NETWORKS, type Preset } from './registry.js';

interface Root {
  engine: {
    backend(d: DeviceName): { sync(): Promise<void> };
    memory(): { numBytes: number; peakBytes: number; devices: Partial<Record<DeviceName, { pooledBytes: number }>> };
    resetPeakMemory(): void;
  };
  tidy<T>(fn: () => T): T;
  noGrad<T>(fn: () => T): T;
  setDefaultDevice(d: DeviceName): void;
}

export function netWorkloadId(job: NetworkJob): string {
  return `net:${job.name}:${job.preset}:${job.mode}`;
}

/**
 * The network jobs of a run: infer at `small` and at `real` (the paper's head on the frozen
 * pretrained MoveNet Lightning), train at `tiny`, paper at `paper`. Under --quick every job runs
 * the tiny preset, and the `real` one, which would repeat `small`'s tiny run, is left out.
 */
export function planNetworkJobs(args: Pick<BenchArgs, 'suites' | 'filter' | 'modes' | 'quick'>): NetworkJob[] {
  if (!args.suites.includes('networks')) return [];
  const jobs: NetworkJob[] = [];
  for (const n of NETWORKS) {
    if (!matchesFilter(args.filter, n.name, n.label)) continue;
    const all: NetworkJob[] = [
      { name: n.name, preset: 'small', mode: 'infer' },
      ...(args.quick ? [] : [{ name: n.name, preset: 'real', mode: 'infer' } as const]),
      { name: n.name, preset: 'tiny', mode: 'train' },
      { name: n.name, preset: 'paper', mode: 'paper' },
    ];
    jobs.push(...all.filter((j) => args.modes.includes(j.mode)));
  }
  return jobs;
}

/** The preset a job actually runs at: tiny under --quick. */
export function effectivePreset(job: NetworkJob, quick: boolean): Preset {
  return quick ? 'tiny' : job.preset;
}

export async function runNetworkJob(root: Root, device: DeviceName, engineId: string, job: NetworkJob, quick: boolean): Promise<CellMessage> {
  const base = { type: 'cell' as const, engineId, workload: netWorkloadId(job), mode: job.mode };
  const entry = NETWORKS.find((n) => n.name === job.name);
  if (!entry) return { ...base, status: 'error', reason: `network '${job.name}' is not in bench/networks/registry.ts` };
  const preset = effectivePreset(job, quick);
  let rssBefore = rssBytes();
  let peakResettable = false;
  let startPeak = 0;
  let built;
  try {
    root.setDefaultDevice(device);
    if (job.mode === 'paper') {
      await entry.preload?.();
      collectGarbage();
      rssBefore = rssBytes();
      startPeak = peakRssBytes();
      peakResettable = resetPeakRss();
    }
    built = await entry.build(preset, device);
  } catch (e) {
    const reason = `build(${preset}) failed: ${(e as Error).message}`;
    return { ...base, status: isUnsupportedError(reason) ? 'na' : 'error', reason };
  }
  if ('na' in built) return { ...base, status: 'na', reason: built.na };
  const net = built;
  const be = root.engine.backend(device);
  const disposeAll = (x: Tensor | readonly Tensor[]): void => {
    for (const t of Array.isArray(x) ? x : [x as Tensor]) t.dispose();
  };
  try {
    const extra: Record<string, number | string> = { preset };
    if (net.parameters !== undefined) extra.parameters = net.parameters;
    if (job.mode === 'train') {
      net.setTraining(true);
      const m = await measure(async () => {
        root.tidy(() => {
          net.trainStep();
        });
        await be.sync();
      }, quick, true);
      return { ...base, status: 'ok', samples: m.samples, firstMs: m.firstMs, plan: m.plan, framesPerIter: net.framesPerForward, extra };
    }
    net.setTraining(false);
    const infer = async (): Promise<void> => {
      const out = root.tidy(() => root.noGrad(() => net.forward()));
      await be.sync();
      disposeAll(out);
    };
    if (job.mode === 'paper') {
      await be.sync();
      extra.rssBeforeBuildBytes = rssBefore;
      extra.buildPeakAboveBaselineBytes = peakRssBytes() - rssBefore;
      extra.rssAfterBuildBytes = rssBytes();
      extra.modelBytes = root.engine.memory().numBytes;
      resetPeakRss();
      root.engine.resetPeakMemory();
      const t0 = performance.now();
      const out = root.tidy(() => root.noGrad(() => net.forward()));
      await be.sync();
      const ms = performance.now() - t0;
      const mem = root.engine.memory();
      extra.inferPeakAboveBaselineBytes = peakRssBytes() - rssBefore;
      extra.peakLiveBytes = mem.peakBytes;
      extra.pooledBytes = mem.devices[device]?.pooledBytes ?? 0;
      extra.peakRssReset = peakResettable ? 'yes' : 'no (the peak is the process maximum since it started)';
      disposeAll(out);
      // The process's peak since it started: before the baseline, while building, or in the inference.
      extra.peakRssBytes = Math.max(startPeak, rssBefore + (extra.buildPeakAboveBaselineBytes as number), rssBefore + (extra.inferPeakAboveBaselineBytes as number));
      extra.liveTensorBytes = root.engine.memory().numBytes;
      return { ...base, status: 'ok', samples: [ms], firstMs: ms, framesPerIter: net.framesPerForward, extra, note: 'one inference, including first-call compilation' };
    }
    const m = await measure(infer, quick, true);
    return { ...base, status: 'ok', samples: m.samples, firstMs: m.firstMs, plan: m.plan, framesPerIter: net.framesPerForward, extra };
  } catch (e) {
    const reason = (e as Error).message;
    return { ...base, status: isUnsupportedError(reason) ? 'na' : 'error', reason };
  } finally {
    net.dispose();
  }
}
