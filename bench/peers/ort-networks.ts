/**
 * onnxruntime as a whole-network peer: the bench's networks (RPSTN, FaSRnet, VREMD, GLPose, and
 * MoveNet for the MoveNet race) exported with `nn.exportOnnx` and timed in onnxruntime-node (CPU
 * execution provider) and onnxruntime-web (wasm; WebGPU where its provider has every op).
 *
 * Two steps, so that the timed process holds nothing of posegrad:
 * 1. `exportBenchNetwork(name, preset)` traces the network (built by bench/networks/builders.ts's
 *    `benchModule`, as the posegrad side builds it: the preset's random init, or for `real` the
 *    shipped MoveNet Lightning under the head's init; batch 1) and writes
 *    `<dir>/<name>-<preset>.onnx` with a sidecar `.json` (input names and shapes, frames per
 *    forward, parameters). The bench runs it for every (network, preset) in a process of its own
 *    (bench/peers/ort-export.ts) before the onnxruntime processes start, into a directory of that
 *    run; `runOrtNetworkJob` also calls it when the file is missing, with a note (its RSS then
 *    includes the export).
 * 2. `runOrtNetworkJob(def, job, quick)`, in an onnxruntime engine process (worker.ts, one per
 *    engine group as for the kernels), loads the file and times `session.run` on fixed random
 *    inputs with bench/timing.ts's `measure`, the way suite.ts times posegrad's forward, and
 *    returns the network cell (`net:<name>:<preset>:<mode>`):
 *    - infer: ms per run, reported per frame (framesPerIter);
 *    - paper: one timed run including session creation, with the process's peak RSS;
 *    - train: n/a (onnxruntime is inference only).
 * Inputs are CPU tensors on every provider (the WebGPU provider uploads them on each run, which
 * counts in its time; its outputs stay on the GPU).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type * as OrtTypes from 'onnxruntime-common';
import type { EngineDef } from '../engines.js';
import type { Preset } from '../networks/registry.js';
import { isUnsupportedError, type CellMessage, type NetworkJob } from '../protocol.js';
import { measure } from '../timing.js';
import { randomFloats } from '../adapter.js';
import { encodeModel } from '../../models/nn/onnx/proto.js';
import { installDawnNavigator, patchWriteBufferForSharedMemory } from './webgpu-node.js';

type Ort = typeof OrtTypes;

/** Where exported bench networks are cached (POSEGRAD_BENCH_ONNX_DIR, else the OS temp dir). */
export function onnxBenchDir(): string {
  return process.env.POSEGRAD_BENCH_ONNX_DIR || path.join(os.tmpdir(), 'posegrad-bench-onnx');
}

/** What exportBenchNetwork writes next to the model. */
export interface OrtNetworkModel {
  path: string;
  inputs: { name: string; shape: number[] }[];
  outputs: { name: string; shape: (number | string)[] }[];
  /** Frames whose poses one run produces (RPSTN: its T frames; the others: the key frame). */
  framesPerForward: number;
  parameters: number;
  /** How long posegrad took to trace and write it. */
  exportMs: number;
  nodes: number;
}

/** The networks this peer can export: the bench's four, and MoveNet (presets lightning, thunder, multipose). */
export const ORT_NETWORKS = ['rpstn', 'fasrnet', 'vremd', 'glpose', 'movenet'] as const;

/**
 * Exports network `name` at `preset` for onnxruntime (see the file header) and returns where it
 * is. Traces on posegrad's wasm backend (cpu if wasm cannot start).
 * @throws Error for an unknown network or preset, or when the export fails (naming the op).
 */
export async function exportBenchNetwork(name: string, preset: Preset | string, dir = onnxBenchDir()): Promise<OrtNetworkModel> {
  const t0 = performance.now();
  const root = await import('../../index.js');
  const { exampleInputs } = await import('../../cli/export.js');
  let device: 'wasm' | 'cpu' = 'wasm';
  try {
    await root.init('wasm');
  } catch {
    device = 'cpu';
  }
  root.setDefaultDevice(device);
  const { module, framesPerForward } = await buildBenchModule(name, preset);
  module.to(device);
  try {
    const ex = exampleInputs(name, module, 1, device);
    const exported = root.nn.exportOnnxGraph(module, ex.inputs, ex.options);
    const bytes = encodeModel(exported.graph);
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `${name}-${preset}.onnx`);
    writeFileSync(file, bytes);
    const meta: OrtNetworkModel = {
      path: file,
      inputs: exported.inputs.map((v) => ({ name: v.name, shape: v.shape as number[] })),
      outputs: exported.outputs.map((v) => ({ name: v.name, shape: [...v.shape] })),
      framesPerForward,
      parameters: module.numParameters(),
      exportMs: performance.now() - t0,
      nodes: exported.graph.nodes.length,
    };
    writeFileSync(`${file.slice(0, -5)}.json`, JSON.stringify(meta, null, 1));
    return meta;
  } finally {
    module.dispose();
  }
}

async function buildBenchModule(name: string, preset: string): Promise<{ module: import('../../models/nn/module.js').Module; framesPerForward: number }> {
  if (name === 'movenet') {
    const { buildExportModel } = await import('../../cli/export.js');
    return { module: buildExportModel('movenet', preset).module, framesPerForward: 1 };
  }
  if (!(ORT_NETWORKS as readonly string[]).includes(name)) throw new Error(`ort-networks: expected one of [${ORT_NETWORKS.join(', ')}], got '${name}'`);
  // The very modules the posegrad side times (bench/networks/builders.ts).
  const { benchModule } = await import('../networks/builders.js');
  return benchModule(name, preset as Preset);
}

/** The exported model of (name, preset): the cached file, or a fresh export when there is none. */
async function modelFor(name: string, preset: string, dir: string): Promise<{ model: OrtNetworkModel; exportedHere: boolean }> {
  const json = path.join(dir, `${name}-${preset}.json`);
  if (existsSync(json) && existsSync(path.join(dir, `${name}-${preset}.onnx`))) return { model: JSON.parse(readFileSync(json, 'utf8')) as OrtNetworkModel, exportedHere: false };
  return { model: await exportBenchNetwork(name, preset, dir), exportedHere: true };
}

interface OrtRuntime {
  ort: Ort;
  ep(): OrtTypes.InferenceSession.ExecutionProviderConfig;
  device: GPUDevice | null;
  version: string;
}

let runtime: Promise<OrtRuntime> | null = null;

/** onnxruntime for engine `def` (once per process: onnxruntime-web fixes its thread count when it starts). */
function startRuntime(def: EngineDef): Promise<OrtRuntime> {
  runtime ??= (async (): Promise<OrtRuntime> => {
    if (def.adapter === 'ort-node') {
      const ort = (await import('onnxruntime-node')) as unknown as Ort;
      return { ort, ep: () => 'cpu', device: null, version: `onnxruntime-node ${ort.env.versions.node ?? '?'}` };
    }
    if (def.adapter !== 'ort-web') throw new Error(`ort-networks: expected an ort-node or ort-web engine, got ${def.id}`);
    if (def.backend === 'webgpu') {
      await installDawnNavigator();
      patchWriteBufferForSharedMemory();
      const ort = (await import('onnxruntime-web/webgpu')) as unknown as Ort;
      const adapter = await navigator.gpu.requestAdapter();
      if (!adapter) throw new Error('ort-web: expected a WebGPU adapter, got none');
      const device = await adapter.requestDevice({ requiredLimits: { maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize, maxBufferSize: adapter.limits.maxBufferSize } });
      return { ort, ep: () => ({ name: 'webgpu', device }) as unknown as OrtTypes.InferenceSession.ExecutionProviderConfig, device, version: `onnxruntime-web ${ort.env.versions.web ?? '?'}` };
    }
    const ort = (await import('onnxruntime-web')) as unknown as Ort;
    ort.env.wasm.numThreads = typeof def.threads === 'number' ? def.threads : 1;
    return { ort, ep: () => 'wasm', device: null, version: `onnxruntime-web ${ort.env.versions.web ?? '?'}` };
  })();
  return runtime;
}

/** The session options of engine `def` (threads, provider; no CPU fallback on WebGPU). */
function sessionOptions(rt: OrtRuntime, def: EngineDef): OrtTypes.InferenceSession.SessionOptions {
  const opts: OrtTypes.InferenceSession.SessionOptions = { executionProviders: [rt.ep()], graphOptimizationLevel: 'all' };
  if (def.adapter === 'ort-node') {
    opts.intraOpNumThreads = typeof def.threads === 'number' ? def.threads : 1;
    opts.interOpNumThreads = 1;
  }
  if (rt.device) {
    opts.preferredOutputLocation = 'gpu-buffer';
    opts.extra = { session: { disable_cpu_ep_fallback: '1' } };
  }
  return opts;
}

/**
 * Times network job `job` on onnxruntime engine `def` (see the file header) and returns its cell,
 * as bench/networks/suite.ts's runNetworkJob does for posegrad. Never throws: failures are cells.
 * `quick` runs the tiny preset (as the posegrad suite does under --quick); for 'movenet' the preset
 * is the variant (lightning, thunder, multipose).
 */
export async function runOrtNetworkJob(def: EngineDef, job: NetworkJob, quick: boolean, dir = onnxBenchDir()): Promise<CellMessage> {
  // As the posegrad suite: the tiny preset under --quick (MoveNet keeps its variant).
  const preset = quick && job.name !== 'movenet' ? 'tiny' : job.preset;
  const base = { type: 'cell' as const, engineId: def.id, workload: `net:${job.name}:${job.preset}:${job.mode}`, mode: job.mode };
  if (job.mode === 'train') return { ...base, status: 'na', reason: 'inference only (onnxruntime has no autograd)' };
  let rt: OrtRuntime;
  let model: OrtNetworkModel;
  let exportedHere: boolean;
  try {
    rt = await startRuntime(def);
    ({ model, exportedHere } = await modelFor(job.name, preset, dir));
  } catch (e) {
    const reason = (e as Error).message;
    return { ...base, status: isUnsupportedError(reason) ? 'na' : 'error', reason };
  }
  const { ort } = rt;
  const extra: Record<string, number | string> = { preset, parameters: model.parameters, onnxNodes: model.nodes, runtime: rt.version };
  const note = exportedHere ? 'exported in this process (its RSS includes the posegrad export)' : undefined;
  const feeds: Record<string, OrtTypes.Tensor> = {};
  model.inputs.forEach((v, i) => {
    const n = v.shape.reduce((a, b) => a * b, 1);
    feeds[v.name] = new ort.Tensor('float32', randomFloats(n, i + 1, 0, job.name === 'movenet' ? 255 : 1), v.shape);
  });
  const t0 = performance.now();
  let session: OrtTypes.InferenceSession;
  try {
    session = await ort.InferenceSession.create(readFileSync(model.path), sessionOptions(rt, def));
  } catch (e) {
    const reason = (e as Error).message;
    if (/assigned to the default CPU EP/.test(reason)) return { ...base, status: 'na', reason: `an op of ${job.name} has no kernel in ${def.label}'s provider (onnxruntime would run it on its CPU EP; fallback is disabled here)` };
    return { ...base, status: isUnsupportedError(reason) ? 'na' : 'error', reason };
  }
  const run = async (): Promise<void> => {
    const out = await session.run(feeds);
    if (rt.device) await rt.device.queue.onSubmittedWorkDone();
    for (const t of Object.values(out)) t.dispose();
  };
  try {
    if (job.mode === 'paper') {
      await run();
      const ms = performance.now() - t0;
      extra.peakRssBytes = process.resourceUsage().maxRSS * 1024;
      return { ...base, status: 'ok', samples: [ms], firstMs: ms, framesPerIter: model.framesPerForward, extra, note: `one inference, including session creation${note ? `; ${note}` : ''}` };
    }
    const m = await measure(run, quick, true);
    return { ...base, status: 'ok', samples: m.samples, firstMs: m.firstMs, plan: m.plan, framesPerIter: model.framesPerForward, extra, ...(note ? { note } : {}) };
  } catch (e) {
    const reason = (e as Error).message;
    return { ...base, status: isUnsupportedError(reason) ? 'na' : 'error', reason };
  } finally {
    await session.release();
  }
}
