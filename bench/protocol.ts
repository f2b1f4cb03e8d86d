/**
 * The messages between the bench parent (index.ts) and its engine processes (worker.ts,
 * peers/torch_bench.py). A child writes one JSON object per line, prefixed with MARK so that
 * anything a library prints on stdout (Emscripten runtimes do) is not mistaken for a message.
 */
import type { EngineStart } from './adapter.js';
import type { EngineDef } from './engines.js';
import type { KernelSpec, Mode } from './formulas.js';
import type { TimingPlan } from './timing.js';

export const MARK = '@@posegrad-bench ';

export interface KernelJob {
  id: string;
  spec: KernelSpec;
  modes: Mode[];
}

export type NetMode = 'infer' | 'train' | 'paper';

export interface NetworkJob {
  /** Registry name, e.g. 'rpstn'. */
  name: string;
  /** 'real': the paper's head on the frozen pretrained MoveNet Lightning (docs/models/backbone.md). */
  preset: 'paper' | 'small' | 'tiny' | 'real';
  mode: NetMode;
}

export interface WorkerJob {
  engines: EngineDef[];
  quick: boolean;
  kernels: KernelJob[];
  networks: NetworkJob[];
}

export type CellStatus = 'ok' | 'na' | 'error';

export interface CellMessage {
  type: 'cell';
  engineId: string;
  /** Kernel workload id, or `net:<name>:<preset>:<mode>`. */
  workload: string;
  mode: Mode | NetMode;
  status: CellStatus;
  samples?: number[];
  firstMs?: number;
  plan?: TimingPlan;
  /** For 'na' and 'error': why. */
  reason?: string;
  note?: string;
  /** Network cells: frames per iteration, and memory figures. */
  framesPerIter?: number;
  extra?: Record<string, number | string>;
}

export interface EngineMessage {
  type: 'engine';
  engineIds: string[];
  ok: boolean;
  start?: EngineStart;
  error?: string;
}

export interface DoneMessage {
  type: 'done';
  /** Peak resident set size of the process, in bytes. */
  maxRssBytes: number;
}

export type ChildMessage = CellMessage | EngineMessage | DoneMessage;

export function encodeMessage(m: ChildMessage): string {
  return MARK + JSON.stringify(m);
}

/** The message on a stdout line, or null for a line that is not one. */
export function decodeMessage(line: string): ChildMessage | null {
  if (!line.startsWith(MARK)) return null;
  return JSON.parse(line.slice(MARK.length)) as ChildMessage;
}

/**
 * Whether an Error from an engine means "this engine cannot do this" (reported as n/a with the
 * message) rather than a failure: unimplemented kernels, unsupported arguments, ops an execution
 * provider lacks.
 */
export function isUnsupportedError(message: string): boolean {
  return /not (yet )?(implemented|supported|registered)|could not find an implementation|unsupported|no op\b/i.test(message);
}
