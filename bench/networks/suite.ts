/**
 * The network suite, run inside a posegrad worker process on one backend:
 * - infer (preset small): ms per forward, reported per frame (forward / framesPerForward);
 * - train (preset tiny): ms per training step;
 * - paper (preset paper): one timed inference, in a process of its own, with the process's peak
 *   resident set size (RSS, from `process.resourceUsage().maxRSS`) and the RSS before building,
 *   so that the difference is the network's footprint. On webgpu over lavapipe the "GPU" memory
 *   is host memory and counts in the RSS; on a real GPU it does not.
 * Under --quick every mode uses the tiny preset (the code paths are the same, in milliseconds).
 */
import type { DeviceName } from '../../backends/backend.js';
import type { Tensor } from '../../engine/tensor.js';
import { isUnsupportedError, type CellMessage, type NetworkJob } from '../protocol.js';
import { measure } from '../timing.js';
import { NETWORKS, type Preset } from './registry.js';

interface Root {
  engine: { backend(d: DeviceName): { sync(): Promise<void> }; memory(): { numBytes: number } };
  tidy<T>(fn: () => T): T;
  noGrad<T>(fn: () => T): T;
  setDefaultDevice(d: DeviceName): void;
}

export function netWorkloadId(job: NetworkJob): string {
  return `net:${job.name}:${job.preset}:${job.mode}`;
}

/** The preset a job actually runs at. */
export function effectivePreset(job: NetworkJob, quick: boolean): Preset {
  return quick ? 'tiny' : job.preset;
}

export async function runNetworkJob(root: Root, device: DeviceName, engineId: string, job: NetworkJob, quick: boolean): Promise<CellMessage> {
  const base = { type: 'cell' as const, engineId, workload: netWorkloadId(job), mode: job.mode };
  const entry = NETWORKS.find((n) => n.name === job.name);
  if (!entry) return { ...base, status: 'error', reason: `network '${job.name}' is not in bench/networks/registry.ts` };
  const preset = effectivePreset(job, quick);
  const rssBefore = process.memoryUsage().rss;
  let built;
  try {
    root.setDefaultDevice(device);
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
      const t0 = performance.now();
      await infer();
      const ms = performance.now() - t0;
      extra.rssBeforeBuildBytes = rssBefore;
      extra.peakRssBytes = process.resourceUsage().maxRSS * 1024;
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
