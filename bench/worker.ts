/**
 * An engine process: `node --import tsx bench/worker.ts '<WorkerJob JSON>'`.
 * Starts the engines of one group, times every (workload, mode) it is given, and writes one
 * protocol message per line on stdout (protocol.ts). Network jobs run on posegrad engines
 * (networks/suite.ts) and on the onnxruntime engines (the exported networks, peers/ort-networks.ts). It never throws past a cell: an engine that
 * fails to start, or a workload that fails, is reported with its Error message.
 */
import type { DeviceName } from '../backends/backend.js';
import type { KernelAdapter } from './adapter.js';
import type { EngineDef } from './engines.js';
import type { Mode } from './formulas.js';
import { runNetworkJob } from './networks/suite.js';
import { encodeMessage, isUnsupportedError, type CellMessage, type ChildMessage, type WorkerJob } from './protocol.js';
import { measure } from './timing.js';

function send(m: ChildMessage): void {
  process.stdout.write(encodeMessage(m) + '\n');
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

async function adapterFor(def: EngineDef): Promise<KernelAdapter> {
  switch (def.adapter) {
    case 'posegrad': {
      const { posegradAdapter } = await import('./posegrad-kernels.js');
      return posegradAdapter(def.backend as DeviceName, await import('../index.js'));
    }
    case 'tfjs': {
      const { tfjsAdapter } = await import('./peers/tfjs.js');
      return tfjsAdapter(def.backend as 'cpu' | 'wasm' | 'webgpu');
    }
    case 'ort-node': {
      const { ortAdapter } = await import('./peers/ort.js');
      return ortAdapter('node', 'cpu');
    }
    case 'ort-web': {
      const { ortAdapter } = await import('./peers/ort.js');
      return ortAdapter('web', def.backend as 'wasm' | 'webgpu', typeof def.threads === 'number' ? def.threads : 1);
    }
    case 'torch':
      throw new Error('worker: torch runs in peers/torch_bench.py, not here');
  }
}

async function runKernels(adapter: KernelAdapter, job: WorkerJob): Promise<void> {
  for (const k of job.kernels) {
    for (const mode of k.modes) {
      for (const def of job.engines) {
        const base = { type: 'cell' as const, engineId: def.id, workload: k.id, mode };
        send(await runCell(adapter, def, k.spec, mode, base, job.quick));
      }
    }
  }
}

async function runCell(adapter: KernelAdapter, def: EngineDef, spec: WorkerJob['kernels'][number]['spec'], mode: Mode, base: Pick<CellMessage, 'type' | 'engineId' | 'workload' | 'mode'>, quick: boolean): Promise<CellMessage> {
  let prepared;
  try {
    prepared = await adapter.prepare(spec, mode, def.id);
  } catch (e) {
    const reason = message(e);
    return { ...base, status: isUnsupportedError(reason) ? 'na' : 'error', reason };
  }
  if ('na' in prepared) return { ...base, status: 'na', reason: prepared.na };
  try {
    const m = await measure(() => prepared.run(), quick);
    const cell: CellMessage = { ...base, status: 'ok', samples: m.samples, firstMs: m.firstMs, plan: m.plan };
    if (prepared.note) cell.note = prepared.note;
    return cell;
  } catch (e) {
    const reason = message(e);
    return { ...base, status: isUnsupportedError(reason) ? 'na' : 'error', reason };
  } finally {
    try {
      prepared.dispose();
    } catch {
      // Disposal after a failed run may fail too; the cell already carries the first error.
    }
  }
}

const job = JSON.parse(process.argv[2] ?? 'null') as WorkerJob | null;

async function main(): Promise<void> {
  if (!job || !Array.isArray(job.engines) || job.engines.length === 0) {
    throw new Error(`worker: expected a WorkerJob JSON argument, got ${process.argv[2] ?? 'nothing'}`);
  }
  const first = job.engines[0]!;
  const engineIds = job.engines.map((e) => e.id);
  let adapter: KernelAdapter;
  try {
    adapter = await adapterFor(first);
    const start = await adapter.start();
    send({ type: 'engine', engineIds, ok: true, start });
  } catch (e) {
    send({ type: 'engine', engineIds, ok: false, error: message(e) });
    send({ type: 'done', maxRssBytes: process.resourceUsage().maxRSS * 1024 });
    return;
  }
  await runKernels(adapter, job);
  if (job.networks.length > 0) {
    if (first.adapter === 'posegrad') {
      const root = await import('../index.js');
      for (const n of job.networks) send(await runNetworkJob(root, first.backend as DeviceName, first.id, n, job.quick));
    } else if (first.adapter === 'ort-node' || first.adapter === 'ort-web') {
      // Whole networks exported to ONNX (peers/ort-networks.ts), on each engine of the group.
      const { runOrtNetworkJob } = await import('./peers/ort-networks.js');
      for (const n of job.networks) for (const def of job.engines) send(await runOrtNetworkJob(def, n, job.quick));
    } else {
      throw new Error(`worker: expected a posegrad or onnxruntime engine for the network suite, got ${first.id}`);
    }
  }
  send({ type: 'done', maxRssBytes: process.resourceUsage().maxRSS * 1024 });
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`worker: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
