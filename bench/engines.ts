/**
 * The engines that the suites run on: posegrad's own backends (whatever the engine has
 * registered) and the peer engines, side by side in the same run.
 *
 * Each engine runs in a child process (see worker.ts and peers/torch_bench.py): this isolates
 * their global state (tfjs's global backend, onnxruntime-web's one-time thread count, the
 * `navigator.gpu` shim), contains crashes, and makes a process's peak RSS a per-engine number.
 * Engines with the same `group` share one process (ort-node at 1 and 2 threads, torch at 1 and 2).
 */
import type { DeviceName } from '../backends/backend.js';

export type AdapterName = 'posegrad' | 'tfjs' | 'ort-node' | 'ort-web' | 'torch';

export interface EngineDef {
  /** Stable id: 'posegrad-wasm', 'tfjs-wasm', 'ort-web-wasm-2t', 'torch-1t'. */
  id: string;
  /** Column label. */
  label: string;
  kind: 'posegrad' | 'peer';
  adapter: AdapterName;
  /** The adapter's backend or execution provider. */
  backend: string;
  /** CPU threads the engine computes on; 'gpu' for a WebGPU device. */
  threads: number | 'gpu';
  /** Engines with the same group run in one child process. */
  group: string;
  /** Which runtime starts the child. */
  runtime: 'node' | 'python';
  /** Extra Node flags for the child under --quick (see the entry that sets them). */
  quickNodeFlags?: readonly string[];
}

export function posegradEngine(device: DeviceName): EngineDef {
  return {
    id: `posegrad-${device}`,
    label: `posegrad ${device}`,
    kind: 'posegrad',
    adapter: 'posegrad',
    backend: device,
    // cpu and wasm are single-threaded today (DESIGN.md: threads are a later step).
    threads: device === 'webgpu' ? 'gpu' : 1,
    group: `posegrad-${device}`,
    runtime: 'node',
  };
}

/** Every peer engine, in table order. */
export const PEER_ENGINES: readonly EngineDef[] = [
  { id: 'tfjs-cpu', label: 'tfjs-cpu', kind: 'peer', adapter: 'tfjs', backend: 'cpu', threads: 1, group: 'tfjs-cpu', runtime: 'node' },
  // tfjs-backend-wasm disables threads under Node (tfjs issue #3830), so it runs one thread here.
  { id: 'tfjs-wasm', label: 'tfjs-wasm 1t', kind: 'peer', adapter: 'tfjs', backend: 'wasm', threads: 1, group: 'tfjs-wasm', runtime: 'node' },
  { id: 'tfjs-webgpu', label: 'tfjs-webgpu', kind: 'peer', adapter: 'tfjs', backend: 'webgpu', threads: 'gpu', group: 'tfjs-webgpu', runtime: 'node' },
  { id: 'ort-node-1t', label: 'ort-node 1t', kind: 'peer', adapter: 'ort-node', backend: 'cpu', threads: 1, group: 'ort-node', runtime: 'node' },
  { id: 'ort-node-2t', label: 'ort-node 2t', kind: 'peer', adapter: 'ort-node', backend: 'cpu', threads: 2, group: 'ort-node', runtime: 'node' },
  // onnxruntime-web fixes its thread count once per process: one process per count.
  { id: 'ort-web-wasm-1t', label: 'ort-web-wasm 1t', kind: 'peer', adapter: 'ort-web', backend: 'wasm', threads: 1, group: 'ort-web-wasm-1t', runtime: 'node' },
  { id: 'ort-web-wasm-2t', label: 'ort-web-wasm 2t', kind: 'peer', adapter: 'ort-web', backend: 'wasm', threads: 2, group: 'ort-web-wasm-2t', runtime: 'node' },
  // Its first run makes V8 tier up onnxruntime-web's 26 MB asyncify module with TurboFan: one to
  // three minutes of CPU before anything is timed. Full runs pay it once (untimed); --quick
  // keeps V8 on its baseline compiler (Liftoff) so that the CI smoke test stays short.
  { id: 'ort-web-webgpu', label: 'ort-web-webgpu', kind: 'peer', adapter: 'ort-web', backend: 'webgpu', threads: 'gpu', group: 'ort-web-webgpu', runtime: 'node', quickNodeFlags: ['--liftoff-only'] },
  { id: 'torch-1t', label: 'torch 1t', kind: 'peer', adapter: 'torch', backend: 'cpu', threads: 1, group: 'torch', runtime: 'python' },
  { id: 'torch-2t', label: 'torch 2t', kind: 'peer', adapter: 'torch', backend: 'cpu', threads: 2, group: 'torch', runtime: 'python' },
];

/**
 * The peers that also run whole networks (`--suite networks --mode infer`): onnxruntime-node and
 * onnxruntime-web's wasm build, on the networks exported with nn.exportOnnx (peers/ort-networks.ts).
 * (ort-web-webgpu is left out: FaSRnet's DeformConv and GLPose's ops have no WebGPU kernel, and its
 * asyncify module takes minutes to tier up.)
 */
export const NETWORK_PEER_IDS: readonly string[] = ['ort-node-1t', 'ort-node-2t', 'ort-web-wasm-1t', 'ort-web-wasm-2t'];

/** Groups engines by child process, keeping their order. */
export function groupEngines(engines: readonly EngineDef[]): EngineDef[][] {
  const groups = new Map<string, EngineDef[]>();
  for (const e of engines) {
    const g = groups.get(e.group);
    if (g) g.push(e);
    else groups.set(e.group, [e]);
  }
  return [...groups.values()];
}

/**
 * The peers selected by `--peers`: 'all' (default), 'none', or a comma list of ids or id
 * prefixes ('tfjs' selects every tfjs-* engine). Throws on a token that matches nothing.
 */
export function selectPeers(tokens: readonly string[] | 'all' | 'none', peers: readonly EngineDef[] = PEER_ENGINES): EngineDef[] {
  if (tokens === 'all') return [...peers];
  if (tokens === 'none') return [];
  const out = new Set<EngineDef>();
  for (const t of tokens) {
    const hit = peers.filter((p) => p.id === t || p.id.startsWith(`${t}-`) || p.id.startsWith(t));
    if (hit.length === 0) throw new Error(`--peers: expected one of [${peers.map((p) => p.id).join(', ')}] (or a prefix such as 'tfjs'), got '${t}'`);
    for (const h of hit) out.add(h);
  }
  return peers.filter((p) => out.has(p));
}
