/**
 * The one owner of the wasm backend's scratch slots. A scratch slot (memory.ts `scratch(slot,
 * bytes)`) is an ordinary heap block kept across kernel calls: packed GEMM panels, im2col columns,
 * plans, the worker threads' control blocks. Every wrapper names its slot here instead of picking a
 * number, and per-thread slots take the thread index as a second key:
 *
 *   scratch(ctx.mem, 'packA', bytes, 'matmul', t)
 *
 * The slot number is `thread · KINDS.length + kind`, a one-to-one map from (kind, thread) to slot
 * numbers: two different (kind, thread) pairs never share a slot, whatever the thread count. (The
 * former hand-picked numbers, `20 + t` for the thread control blocks, `30 + 3t` for the GEMM
 * panels, `70 + t` for deformConv2d's plans..., overlapped from 14 threads on: a matmul at
 * threads: 16 reallocated a worker's control block under it and wrote into unrelated tensors.)
 */
import type { WasmMemory } from './memory.js';

/**
 * Every kind of scratch, in a fixed order. 'args' must stay first: memory.ts `args()` writes the
 * kernels' argument words into slot 0.
 */
export const KINDS = [
  /** Argument words of the current kernel call (memory.ts `args`, slot 0). */
  'args',
  /** Worker thread t's 128-byte control block (threads.ts; t ≥ 1). */
  'threadCtl',
  /** GEMM: packed panel of A, of B, and the edge tile (per thread). */
  'packA',
  'packB',
  'tile',
  /** GEMM without packing (matrix-vector products). */
  'skinny',
  /** topk/sort row buffer. */
  'topk',
  /** im2col columns (conv2d backward passes and deformConv2d; per thread), and conv2d's padded planes. */
  'col',
  /** deformConv2dBackward: the columns' gradient (per thread). */
  'dcol',
  /** deformConv2d: zero-bordered x (and dx in the backward). */
  'deformPad',
  /** deformConv2d: the sampling plan (per thread). */
  'deformWork',
  /** deformConv2dBackward: thread t's own dx planes (t ≥ 1; thread 0 uses deformPad). */
  'deformDx',
  /** interpolate: source taps. */
  'taps',
  /** layerNormBackward: float64 column sums (per thread, added up at the end). */
  'normAcc',
  /** gridSample: padded planes and plan (per thread). */
  'gridWork',
  /** attention forward/backward work area (per thread; the backward's partial dQ too). */
  'attnWork',
  /** deformConv2dBackward: thread t's own weight-gradient accumulator (t ≥ 1; thread 0 uses dWeight). */
  'deformDw',
] as const;

export type ScratchKind = (typeof KINDS)[number];

const INDEX = new Map<ScratchKind, number>(KINDS.map((k, i) => [k, i]));

/** The slot number of scratch `kind` for thread `thread` (0 = the calling thread). */
export function scratchSlot(kind: ScratchKind, thread = 0): number {
  const k = INDEX.get(kind);
  if (k === undefined) throw new Error(`wasm scratch: expected one of the kinds [${KINDS.join(', ')}], got '${String(kind)}'`);
  if (!Number.isInteger(thread) || thread < 0) throw new Error(`wasm scratch: expected a thread index as an integer ≥ 0, got ${thread}`);
  return thread * KINDS.length + k;
}

/** A pointer to at least `bytes` bytes of scratch `kind` for `thread` (contents undefined). */
export function scratch(mem: WasmMemory, kind: ScratchKind, bytes: number, op: string, thread = 0): number {
  return mem.scratch(scratchSlot(kind, thread), bytes, op);
}
