/**
 * The engines of the MoveNet race, and the messages between the parent (suite.ts) and an engine
 * process (worker.ts). Each engine runs in a child process of its own, one after another, as in
 * the rest of the bench (bench/engines.ts explains why).
 */
import { MARK } from '../protocol.js';
import type { TimingPlan } from '../timing.js';
import type { FramePoses } from './check.js';
import type { MoveNetModelId } from './models.js';

export interface MoveNetEngineDef {
  /** 'posegrad-wasm-1t', 'posegrad-wasm-2t', 'posegrad-webgpu', 'tfjs-wasm-1t', 'tfjs-wasm-2t', 'tfjs-webgpu', 'tfjs-cpu-reference'. */
  id: string;
  label: string;
  /** 'reference': TF.js on its pure-JS cpu backend, run untimed for the correctness check. */
  kind: 'posegrad' | 'peer' | 'reference';
  runtime: 'posegrad' | 'tfjs';
  backend: 'wasm' | 'webgpu' | 'cpu';
  /** CPU threads the engine computes on; 'gpu' for WebGPU (lavapipe: whatever cores the process may use). */
  threads: number | 'gpu';
}

export const REFERENCE_ENGINE: MoveNetEngineDef = { id: 'tfjs-cpu-reference', label: 'TF.js cpu (reference)', kind: 'reference', runtime: 'tfjs', backend: 'cpu', threads: 1 };

/** The raced engines, in table order. */
export const MOVENET_ENGINES: readonly MoveNetEngineDef[] = [
  { id: 'posegrad-wasm-1t', label: 'posegrad wasm 1t', kind: 'posegrad', runtime: 'posegrad', backend: 'wasm', threads: 1 },
  { id: 'posegrad-wasm-2t', label: 'posegrad wasm 2t', kind: 'posegrad', runtime: 'posegrad', backend: 'wasm', threads: 2 },
  { id: 'posegrad-webgpu', label: 'posegrad webgpu', kind: 'posegrad', runtime: 'posegrad', backend: 'webgpu', threads: 'gpu' },
  { id: 'tfjs-wasm-1t', label: 'tfjs-wasm 1t', kind: 'peer', runtime: 'tfjs', backend: 'wasm', threads: 1 },
  // tfjs-backend-wasm turns threads off under Node (tfjs issue #3830); worker.ts forces its flag
  // and reports the engine as failed to start when the threaded build does not come up.
  { id: 'tfjs-wasm-2t', label: 'tfjs-wasm 2t', kind: 'peer', runtime: 'tfjs', backend: 'wasm', threads: 2 },
  { id: 'tfjs-webgpu', label: 'tfjs-webgpu', kind: 'peer', runtime: 'tfjs', backend: 'webgpu', threads: 'gpu' },
];

/** The peer each posegrad engine is raced against (equal threads; WebGPU against WebGPU). */
export const MOVENET_PAIRS: readonly { ours: string; peer: string; target?: number }[] = [
  { ours: 'posegrad-wasm-1t', peer: 'tfjs-wasm-1t', target: 1.3 },
  { ours: 'posegrad-wasm-2t', peer: 'tfjs-wasm-2t', target: 1.3 },
  { ours: 'posegrad-webgpu', peer: 'tfjs-webgpu', target: 1.0 },
  // Not equal threads: shown because tfjs-wasm has no 2-thread configuration under Node.
  { ours: 'posegrad-wasm-2t', peer: 'tfjs-wasm-1t' },
];

export interface MoveNetJob {
  engine: MoveNetEngineDef;
  models: MoveNetModelId[];
  /** How many of the demo frames each model sees (5; fewer under --quick). */
  frames: number;
  quick: boolean;
  /** Folder of the TF.js graph models (movenet-*.json + .bin); null: TF.js engines cannot run. */
  graphDir: string | null;
  /** A module imported first by posegrad engines (--preload). */
  preload: string | null;
  /** The reference engine: the JSON file caching its keypoints (worker.ts), or null for none. */
  referenceCache?: string | null;
}

export interface MoveNetEngineMessage {
  type: 'movenet-engine';
  engineId: string;
  ok: boolean;
  version?: string;
  details?: Record<string, string | number | boolean>;
  error?: string;
}

export interface MoveNetCellMessage {
  type: 'movenet-cell';
  engineId: string;
  model: MoveNetModelId;
  status: 'ok' | 'na' | 'error';
  reason?: string;
  /** Timed frames (ms): upload, forward, read back the keypoint outputs. */
  samples?: number[];
  firstMs?: number;
  plan?: TimingPlan;
  /** Per frame (in `frames` order), the people found, for the correctness check. */
  keypoints?: FramePoses[];
  frames?: string[];
  /** posegrad: host decoding (decodeSinglePose / decodeMultiPose) of one frame's maps, ms. */
  decodeSamples?: number[];
  /** Model load (weights/graph parse and upload) in ms. */
  loadMs?: number;
  /** The reference engine: how many frames' keypoints came from its cache. */
  cached?: number;
}

export interface MoveNetDoneMessage {
  type: 'movenet-done';
  maxRssBytes: number;
}

export type MoveNetMessage = MoveNetEngineMessage | MoveNetCellMessage | MoveNetDoneMessage;

export function encodeMoveNetMessage(m: MoveNetMessage): string {
  return MARK + JSON.stringify(m);
}

export function decodeMoveNetMessage(line: string): MoveNetMessage | null {
  if (!line.startsWith(MARK)) return null;
  const m = JSON.parse(line.slice(MARK.length)) as MoveNetMessage;
  return m.type === 'movenet-engine' || m.type === 'movenet-cell' || m.type === 'movenet-done' ? m : null;
}
