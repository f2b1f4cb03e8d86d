/**
 * Reductions over dims with keepdim (sum, mean, max, min, prod, argmax, argmin, logSumExp, var,
 * std) and cumsum. The kernels reduce the middle axis of [outer, size, inner]: when the reduced
 * dims are contiguous they are merged into `size`; otherwise they are first permuted to the end.
 */
import type { ReduceOp } from '../backends/spec.js';
import { normalizeAxes, normalizeAxis, sizeOf, shapesEqual } from '../engine/shape.js';
import type { Tensor } from '../engine/tensor.js';
import { add, div, eq, exp, log, mul, sub, sqrt } from './elementwise.js';
import { expand, reshape } from './shape.js';
import { backendOf, check, fail, kt, record, requireFloat, wrap } from './util.js';

type Dims = number | readonly number[] | undefined;

interface Plan {
  /** Permutation that moves the reduced dims last, or null when they are contiguous. */
  perm: number[] | null;
  outer: number;
  size: number;
  inner: number;
  /** Output shape with keepdim (reduced dims as 1). */
  keepShape: number[];
  /** Output shape without the reduced dims. */
  dropShape: number[];
  axes: number[];
}

function plan(op: string, shape: readonly number[], dims: Dims): Plan {
  const axes = normalizeAxes(op, dims, shape.length);
  const keepShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const dropShape = shape.filter((_, i) => !axes.includes(i));
  const contiguous = axes.length === 0 || axes[axes.length - 1]! - axes[0]! === axes.length - 1;
  if (contiguous) {
    const a0 = axes.length ? axes[0]! : shape.length;
    const a1 = axes.length ? axes[axes.length - 1]! : shape.length - 1;
    return { perm: null, outer: sizeOf(shape.slice(0, a0)), size: sizeOf(shape.slice(a0, a1 + 1)), inner: sizeOf(shape.slice(a1 + 1)), keepShape, dropShape, axes };
  }
  const kept = shape.map((_, i) => i).filter((i) => !axes.includes(i));
  return { perm: [...kept, ...axes], outer: sizeOf(dropShape), size: sizeOf(axes.map((a) => shape[a]!)), inner: 1, keepShape, dropShape, axes };
}

function reduceRaw(op: string, kind: ReduceOp, x: Tensor, p: Plan, keepdim: boolean): Tensor {
  const be = backendOf(x);
  let src = x;
  let tmp: Tensor | null = null;
  if (p.perm) {
    tmp = wrap(x.device, be.permute(kt(op, x), p.perm), p.perm.map((a) => x.shape[a]!), x.dtype);
    src = tmp;
  }
  const out = wrap(x.device, be.reduce(kind, kt(op, src), p.outer, p.size, p.inner), keepdim ? p.keepShape : p.dropShape, x.dtype);
  tmp?.dispose();
  return out;
}

/**
 * Sum over `dim` (all dims when omitted), as torch.sum. Shapes: x [...] -> the reduced shape,
 * with size-1 dims kept when `keepdim`.
 */
export function sum(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  check('sum', 'input', x);
  const p = plan('sum', x.shape, dim);
  const out = reduceRaw('sum', 'sum', x, p, keepdim);
  return record('sum', out, [x], (g) => [expand(reshape(g, p.keepShape), x.shape)]);
}

/** Mean over `dim` (all dims when omitted), as torch.mean. */
export function mean(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  check('mean', 'input', x);
  requireFloat('mean', 'input', x);
  const p = plan('mean', x.shape, dim);
  const n = p.size;
  return div(sum(x, dim, keepdim), n);
}

function extreme(op: 'max' | 'min', x: Tensor, dim: Dims, keepdim: boolean): Tensor {
  check(op, 'input', x);
  if (x.size === 0) fail(op, 'a non-empty tensor', 'an empty tensor');
  const p = plan(op, x.shape, dim);
  const out = reduceRaw(op, op, x, p, keepdim);
  return record(op, out, [x], (g) => {
    // The gradient is shared evenly among tied extremes (torch.amax/amin semantics).
    const y = reshape(out, p.keepShape);
    const hits = castFloat(eq(x, y), x);
    const count = sum(hits, p.axes, true);
    return [mul(hits, div(reshape(g, p.keepShape), count))];
  });
}

function castFloat(t: Tensor, like: Tensor): Tensor {
  return wrap(t.device, backendOf(t).cast(kt('cast', t), like.dtype), t.shape, like.dtype);
}

/** Max over `dim` (all dims when omitted): torch.amax; ties share the gradient evenly. */
export function max(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  return extreme('max', x, dim, keepdim);
}

/** Min over `dim` (all dims when omitted): torch.amin; ties share the gradient evenly. */
export function min(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  return extreme('min', x, dim, keepdim);
}

/** Product over `dim` (all dims when omitted), as torch.prod. Gradient: prod/x (x must be non-zero). */
export function prod(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  check('prod', 'input', x);
  const p = plan('prod', x.shape, dim);
  const out = reduceRaw('prod', 'prod', x, p, keepdim);
  return record('prod', out, [x], (g) => [mul(expand(reshape(mul(g, out), p.keepShape), x.shape), div(1, x))]);
}

function argExtreme(op: 'argmax' | 'argmin', x: Tensor, dim: number | undefined, keepdim: boolean): Tensor {
  check(op, 'input', x);
  if (x.size === 0) fail(op, 'a non-empty tensor', 'an empty tensor');
  const be = backendOf(x);
  if (dim === undefined) {
    const out = wrap(x.device, be.argReduce(op, kt(op, x), 1, x.size, 1), keepdim ? x.shape.map(() => 1) : [], 'int32');
    return out;
  }
  const a = normalizeAxis(op, dim, x.rank);
  const outer = sizeOf(x.shape.slice(0, a));
  const inner = sizeOf(x.shape.slice(a + 1));
  const shape = keepdim ? x.shape.map((d, i) => (i === a ? 1 : d)) : x.shape.filter((_, i) => i !== a);
  return wrap(x.device, be.argReduce(op, kt(op, x), outer, x.shape[a]!, inner), shape, 'int32');
}

/** Index (int32) of the first maximum along `dim`, or of the flattened tensor (torch.argmax). */
export function argmax(x: Tensor, dim?: number, keepdim = false): Tensor {
  return argExtreme('argmax', x, dim, keepdim);
}

/** Index (int32) of the first minimum along `dim`, or of the flattened tensor (torch.argmin). */
export function argmin(x: Tensor, dim?: number, keepdim = false): Tensor {
  return argExtreme('argmin', x, dim, keepdim);
}

/**
 * log Σ exp(x) over `dim` (torch.logsumexp), computed as m + log Σ exp(x - m) with m the max, so
 * large logits cannot overflow.
 */
export function logSumExp(x: Tensor, dim: Dims, keepdim = false): Tensor {
  check('logSumExp', 'input', x);
  requireFloat('logSumExp', 'input', x);
  const p = plan('logSumExp', x.shape, dim);
  // The max is a constant shift: its gradient contributions cancel, so it is taken without a graph.
  const m = reduceRaw('logSumExp', 'max', x, p, true);
  const mSafe = wrap(m.device, backendOf(m).where(kt('logSumExp', eqInf(m)), kt('logSumExp', zerosOf(m)), kt('logSumExp', m), m.shape), m.shape, m.dtype);
  const out = add(log(sum(exp(sub(x, mSafe)), p.axes, true)), mSafe);
  return keepdim ? out : reshape(out, p.dropShape);
}

function eqInf(m: Tensor): Tensor {
  const be = backendOf(m);
  const absM = wrap(m.device, be.unary('abs', kt('logSumExp', m), []), m.shape, m.dtype);
  const inf = wrap(m.device, be.fill([], m.dtype, Infinity), [], m.dtype);
  return wrap(m.device, be.binary('eq', kt('logSumExp', absM), kt('logSumExp', inf), m.shape, 'int32'), m.shape, 'int32');
}

function zerosOf(m: Tensor): Tensor {
  return wrap(m.device, backendOf(m).fill(m.shape, m.dtype, 0), m.shape, m.dtype);
}

/** Variance over `dim` (torch.var); `correction` 1 (default) is the unbiased estimator. */
export function variance(x: Tensor, dim?: Dims, keepdim = false, correction = 1): Tensor {
  check('var', 'input', x);
  requireFloat('var', 'input', x);
  const p = plan('var', x.shape, dim);
  const mu = mean(x, p.axes, true);
  const d = sub(x, mu);
  const out = div(sum(mul(d, d), p.axes, keepdim), Math.max(0, p.size - correction));
  return out;
}

/** Standard deviation over `dim` (torch.std). */
export function std(x: Tensor, dim?: Dims, keepdim = false, correction = 1): Tensor {
  return sqrt(variance(x, dim, keepdim, correction));
}

/** Inclusive prefix sum along `dim` (torch.cumsum). Backward: the reversed cumsum of the gradient. */
export function cumsum(x: Tensor, dim: number): Tensor {
  check('cumsum', 'input', x);
  const a = normalizeAxis('cumsum', dim, x.rank);
  const outer = sizeOf(x.shape.slice(0, a));
  const inner = sizeOf(x.shape.slice(a + 1));
  const be = backendOf(x);
  const out = wrap(x.device, be.cumsum(kt('cumsum', x), outer, x.shape[a]!, inner), x.shape, x.dtype);
  return record('cumsum', out, [x], (g) => {
    // d/dx_i Σ_{j≥i} g_j: flip, cumsum, flip.
    const f = wrap(g.device, be.flip(kt('cumsum', g), [a]), g.shape, g.dtype);
    const c = wrap(g.device, be.cumsum(kt('cumsum', f), outer, x.shape[a]!, inner), g.shape, g.dtype);
    return [wrap(g.device, be.flip(kt('cumsum', c), [a]), g.shape, g.dtype)];
  });
}

/**
 * Sums `g` down to `shape` by reducing the dims that broadcasting expanded (the inverse of
 * broadcasting, used by every broadcasting op's backward).
 * @internal
 */
export function sumTo(g: Tensor, shape: readonly number[]): Tensor {
  if (shapesEqual(g.shape, shape)) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    if (i < lead) axes.push(i);
    else if (shape[i - lead] === 1 && g.shape[i] !== 1) axes.push(i);
  }
  const s = axes.length ? sum(g, axes, true) : g;
  return reshape(s, shape);
}
