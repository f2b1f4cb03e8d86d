/**
 * Creation functions, as in PyTorch: tensor, zeros, ones, full, arange, eye, rand, randn, ...
 * They put the tensor on `opts.device`, or on the engine's default device (cpu unless changed).
 * Random values come from the engine's seeded generator (`manualSeed`).
 */
import type { DeviceName } from '../backends/backend.js';
import { allocArray, DTYPES, dtypeOfArray, toTypedArray, type DType, type TypedArray } from '../engine/dtype.js';
import { engine } from '../engine/engine.js';
import { sizeOf, fmtShape } from '../engine/shape.js';
import { setTransfer, Tensor, type NestedArray } from '../engine/tensor.js';
import { check, fail, record, wrap } from './util.js';

export interface CreateOptions {
  dtype?: DType;
  device?: DeviceName;
  requiresGrad?: boolean;
}

/** opts.dtype (or `dflt`), checked: an unknown dtype is an Error naming the op, not a TypeError later. */
function dtypeOf(op: string, opts: CreateOptions | undefined, dflt: DType): DType {
  const dtype = opts?.dtype ?? dflt;
  if (!(DTYPES as readonly unknown[]).includes(dtype)) fail(op, "dtype 'float32', 'float64' or 'int32'", typeof dtype === 'string' ? `'${dtype}'` : String(dtype));
  return dtype;
}

function finish(op: string, values: TypedArray, shape: readonly number[], opts: CreateOptions | undefined, dflt: DType): Tensor {
  const dtype = dtypeOf(op, opts, dflt);
  const device = opts?.device ?? engine.defaultDevice;
  const t = wrap(device, engine.backend(device).upload(values, dtype), shape, dtype);
  if (opts?.requiresGrad) t.requiresGrad_(true);
  return t;
}

function checkShape(op: string, shape: readonly number[]): void {
  if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) fail(op, 'a shape of non-negative integers', String(shape));
}

/**
 * A tensor from nested arrays, a flat array with `shape`, a typed array or a number (torch.tensor).
 * The dtype defaults to float32 (float64 for a Float64Array, int32 for an Int32Array).
 * @throws Error when the nesting is ragged or `shape` does not match the element count.
 */
export function tensor(values: NestedArray | readonly number[] | TypedArray, opts?: CreateOptions & { shape?: readonly number[] }): Tensor {
  let flat: ArrayLike<number>;
  let shape: number[];
  let dflt: DType = 'float32';
  if (ArrayBuffer.isView(values)) {
    flat = values as TypedArray;
    shape = [flat.length];
    dflt = dtypeOfArray(values as TypedArray);
  } else if (typeof values === 'number') {
    flat = [values];
    shape = [];
  } else {
    shape = [];
    let probe: unknown = values;
    while (Array.isArray(probe)) {
      shape.push(probe.length);
      probe = probe[0];
    }
    const out: number[] = [];
    const walk = (v: unknown, depth: number): void => {
      if (depth === shape.length) {
        if (typeof v !== 'number') fail('tensor', 'numbers at the innermost level', typeof v);
        out.push(v);
        return;
      }
      if (!Array.isArray(v) || v.length !== shape[depth]) fail('tensor', `a regular nested array of shape ${fmtShape(shape)}`, 'a ragged array');
      for (const e of v) walk(e, depth + 1);
    };
    walk(values, 0);
    flat = out;
  }
  if (opts?.shape) {
    checkShape('tensor', opts.shape);
    if (sizeOf(opts.shape) !== flat.length) fail('tensor', `${sizeOf(opts.shape)} values for shape ${fmtShape(opts.shape)}`, `${flat.length}`);
    shape = [...opts.shape];
  }
  const dtype = dtypeOf('tensor', opts, dflt);
  return finish('tensor', toTypedArray(flat, dtype), shape, opts, dflt);
}

/** A tensor of `shape` filled with `value` (torch.full). float32 unless `opts.dtype` is given. */
export function full(shape: readonly number[], value: number, opts?: CreateOptions): Tensor {
  return fill('full', shape, value, opts);
}

function fill(op: string, shape: readonly number[], value: number, opts?: CreateOptions): Tensor {
  checkShape(op, shape);
  const dtype = dtypeOf(op, opts, 'float32');
  const device = opts?.device ?? engine.defaultDevice;
  const t = wrap(device, engine.backend(device).fill(shape, dtype, value), shape, dtype);
  if (opts?.requiresGrad) t.requiresGrad_(true);
  return t;
}

/** A tensor of zeros (torch.zeros). */
export function zeros(shape: readonly number[], opts?: CreateOptions): Tensor {
  return fill('zeros', shape, 0, opts);
}

/** A tensor of ones (torch.ones). */
export function ones(shape: readonly number[], opts?: CreateOptions): Tensor {
  return fill('ones', shape, 1, opts);
}

function likeOpts(t: Tensor, opts?: CreateOptions): CreateOptions {
  return { dtype: t.dtype, device: t.device, ...opts };
}

/** Zeros with t's shape, dtype and device (torch.zeros_like). */
export function zerosLike(t: Tensor, opts?: CreateOptions): Tensor {
  check('zerosLike', 'input', t);
  return zeros(t.shape, likeOpts(t, opts));
}

/** Ones with t's shape, dtype and device (torch.ones_like). */
export function onesLike(t: Tensor, opts?: CreateOptions): Tensor {
  check('onesLike', 'input', t);
  return ones(t.shape, likeOpts(t, opts));
}

/** `value` with t's shape, dtype and device (torch.full_like). */
export function fullLike(t: Tensor, value: number, opts?: CreateOptions): Tensor {
  check('fullLike', 'input', t);
  return full(t.shape, value, likeOpts(t, opts));
}

/** A scalar (shape []) tensor (torch.tensor(value) of a number). */
export function scalar(value: number, opts?: CreateOptions): Tensor {
  return full([], value, opts);
}

/** Values start, start+step, ... below end (torch.arange). float32 unless dtype is given. */
export function arange(start: number, end?: number, step = 1, opts?: CreateOptions): Tensor {
  if (end === undefined) {
    end = start;
    start = 0;
  }
  if (step === 0 || !Number.isFinite(step)) fail('arange', 'a non-zero finite step', String(step));
  const n = Math.max(0, Math.ceil((end - start) / step));
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) v[i] = start + i * step;
  return finish('arange', toTypedArray(v, dtypeOf('arange', opts, 'float32')), [n], opts, 'float32');
}

/** n evenly spaced values from start to end inclusive (torch.linspace). */
export function linspace(start: number, end: number, steps: number, opts?: CreateOptions): Tensor {
  const v = new Float64Array(steps);
  for (let i = 0; i < steps; i++) v[i] = steps === 1 ? start : start + ((end - start) * i) / (steps - 1);
  return finish('linspace', toTypedArray(v, dtypeOf('linspace', opts, 'float32')), [steps], opts, 'float32');
}

/** The n x m identity (torch.eye). */
export function eye(n: number, m = n, opts?: CreateOptions): Tensor {
  const v = allocArray(dtypeOf('eye', opts, 'float32'), n * m);
  for (let i = 0; i < Math.min(n, m); i++) v[i * m + i] = 1;
  return finish('eye', v, [n, m], opts, 'float32');
}

/** Uniform [0, 1) values from the seeded generator (torch.rand). */
export function rand(shape: readonly number[], opts?: CreateOptions): Tensor {
  checkShape('rand', shape);
  const v = new Float64Array(sizeOf(shape));
  for (let i = 0; i < v.length; i++) v[i] = engine.rng.uniform();
  return finish('rand', toTypedArray(v, dtypeOf('rand', opts, 'float32')), shape, opts, 'float32');
}

/** Standard normal values from the seeded generator (torch.randn). */
export function randn(shape: readonly number[], opts?: CreateOptions): Tensor {
  checkShape('randn', shape);
  const v = new Float64Array(sizeOf(shape));
  for (let i = 0; i < v.length; i++) v[i] = engine.rng.normal();
  return finish('randn', toTypedArray(v, dtypeOf('randn', opts, 'float32')), shape, opts, 'float32');
}

/** Uniform integers in [low, high) (torch.randint); int32 unless dtype is given. */
export function randint(low: number, high: number, shape: readonly number[], opts?: CreateOptions): Tensor {
  checkShape('randint', shape);
  if (!(high > low)) fail('randint', 'high > low', `low ${low}, high ${high}`);
  const v = new Float64Array(sizeOf(shape));
  for (let i = 0; i < v.length; i++) v[i] = low + engine.rng.int(high - low);
  return finish('randint', toTypedArray(v, dtypeOf('randint', opts, 'int32')), shape, opts, 'int32');
}

// ---------------------------------------------------------------------------------- to(device)

/**
 * `Tensor.to(device)` (torch.Tensor.to): a copy on `device` (the same storage when already there),
 * differentiable: the gradient flows back to the source device. Synchronous, so the source must be
 * readable synchronously (cpu, wasm); from webgpu use `toAsync`.
 */
setTransfer((t, device) => {
  const same = device === t.device;
  const out = same ? new Tensor(t.shareRef('to'), t.shape, t.dtype) : Tensor.fromStorage(device, engine.backend(device).upload(engine.backend(t.device).readSync(t.k('to')), t.dtype), t.shape, t.dtype);
  return record('to', out, [t], (g) => [g.to(t.device)]);
});
