/**
 * Shared checks and plumbing for ops: every op validates its inputs here before any kernel runs,
 * and every Error names the op, the expected value and the value received.
 */
import type { Backend, DeviceName, KTensor } from '../backends/backend.js';
import '../backends/index.js'; // registers the built-in backends (cpu, wasm, webgpu) before any op runs
import type { DType } from '../engine/dtype.js';
import { engine } from '../engine/engine.js';
import { fail, fmtShape } from '../engine/shape.js';
import { Tensor } from '../engine/tensor.js';

export { record, needsGrad } from '../engine/autograd.js';
export { fail, fmtShape };

/** A tensor or a plain number (broadcast as a scalar of the tensor's dtype). */
export type TensorLike = Tensor | number;

/** Throws unless `t` is a live Tensor. */
export function check(op: string, name: string, t: unknown): Tensor {
  if (!(t instanceof Tensor)) fail(op, `${name} to be a Tensor`, describe(t));
  if (t.isDisposed) fail(op, `${name} to be a live tensor`, `tensor #${t.id} ${t.dtype}${fmtShape(t.shape)}, which was disposed`);
  return t;
}

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (v instanceof Tensor) return v.toString();
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  return typeof v === 'object' ? (v.constructor?.name ?? 'object') : `${typeof v} ${String(v)}`;
}

/** Throws unless every tensor is on one device and has one dtype. */
export function sameDeviceDtype(op: string, ...ts: readonly (Tensor | null | undefined)[]): void {
  const live = ts.filter((t): t is Tensor => !!t);
  const d = live[0]!;
  for (const t of live) {
    if (t.device !== d.device) fail(op, 'tensors on one device', `${d.device} and ${t.device}`);
    if (t.dtype !== d.dtype) fail(op, 'tensors of one dtype', `${d.dtype} and ${t.dtype}`);
  }
}

export function requireFloat(op: string, name: string, t: Tensor): void {
  if (t.dtype === 'int32') fail(op, `${name} of a float dtype (float32 or float64)`, 'int32');
}

export function requireRank(op: string, name: string, t: Tensor, rank: number, layout?: string): void {
  if (t.rank !== rank) fail(op, `${name} of rank ${rank}${layout ? ` ${layout}` : ''}`, `shape ${fmtShape(t.shape)}`);
}

export function requireInt(op: string, name: string, v: unknown, min = -Infinity): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) fail(op, `${name} as an integer${min > -Infinity ? ` ≥ ${min}` : ''}`, String(v));
  return v;
}

export function backendOf(t: Tensor): Backend {
  return engine.backend(t.device);
}

/** Wraps a fresh storage as a Tensor. */
export function wrap(device: DeviceName, storage: unknown, shape: readonly number[], dtype: DType): Tensor {
  return Tensor.fromStorage(device, storage, shape, dtype);
}

/** The kernel view of a checked tensor. */
export function kt(op: string, t: Tensor): KTensor {
  return t.k(op);
}

/** A scalar (shape []) tensor with `like`'s dtype and device. */
export function scalarLike(op: string, v: number, like: Tensor): Tensor {
  if (like.dtype === 'int32' && !Number.isInteger(v)) fail(op, 'an integer scalar for an int32 tensor', String(v));
  return wrap(like.device, backendOf(like).fill([], like.dtype, v), [], like.dtype);
}

/** Resolves a pair of TensorLike operands into tensors of one device and dtype. */
export function operands(op: string, a: TensorLike, b: TensorLike): [Tensor, Tensor] {
  if (typeof a === 'number' && typeof b === 'number') fail(op, 'at least one Tensor operand', 'two numbers');
  const ta = typeof a === 'number' ? scalarLike(op, a, check(op, 'other', b)) : check(op, 'input', a);
  const tb = typeof b === 'number' ? scalarLike(op, b, ta) : check(op, 'other', b);
  sameDeviceDtype(op, ta, tb);
  return [ta, tb];
}

/**
 * Runs a binary op `fn` on TensorLike operands (see `operands`). A number operand becomes a scalar
 * tensor that nobody else holds, so it must not outlive what needs it: it is disposed right after
 * the op, or, when the op recorded an autograd node (whose backward may read it), it is owned by
 * the output and disposed with it. Either way no hidden tensor leaks, inside `tidy` or not.
 */
export function withOperands(op: string, a: TensorLike, b: TensorLike, fn: (x: Tensor, y: Tensor) => Tensor): Tensor {
  const [x, y] = operands(op, a, b);
  const scalar = typeof a === 'number' ? x : typeof b === 'number' ? y : null;
  if (!scalar) return fn(x, y);
  let out: Tensor;
  try {
    out = fn(x, y);
  } catch (e) {
    scalar.dispose();
    throw e;
  }
  if (out === scalar) return out;
  if (out.gradFn) out.adopt(scalar);
  else scalar.dispose();
  return out;
}

/**
 * Multiply-accumulate counting for FLOP reports (see models/nn/flops.ts): while a counter is
 * active, the heavy ops (conv2d, convTranspose2d, deformConv2d, matmul, attention) add the MACs of
 * each call under their name.
 */
export const macCounter: { active: number; byOp: Map<string, number> } = { active: 0, byOp: new Map() };

/** Adds `macs` multiply-accumulates to `op` when a counter is active. */
export function countMacs(op: string, macs: number): void {
  if (macCounter.active > 0) macCounter.byOp.set(op, (macCounter.byOp.get(op) ?? 0) + macs);
}
