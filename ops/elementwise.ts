/**
 * Elementwise ops with NumPy/PyTorch broadcasting. Unary ops come from the spec table
 * (backends/spec.ts): one generic forward and one generic backward kernel per op.
 * Binary ops broadcast their operands; their backward sums the gradient back to each operand's
 * shape (`sumTo`). Comparisons return int32 0/1 tensors (PyTorch returns bool).
 */
import type { UnaryOp } from '../backends/spec.js';
import { UNARY } from '../backends/spec.js';
import { broadcastShapes, shapesEqual } from '../engine/shape.js';
import type { Tensor } from '../engine/tensor.js';
import { sumTo } from './reduce.js';
import { backendOf, check, fail, kt, record, requireFloat, withOperands, wrap, type TensorLike } from './util.js';

function unaryOp(op: UnaryOp, name: string, x: Tensor, params: readonly number[] = []): Tensor {
  check(name, 'input', x);
  if (op !== 'copy' && op !== 'neg' && op !== 'abs' && op !== 'sign') requireFloat(name, 'input', x);
  const be = backendOf(x);
  const y = wrap(x.device, be.unary(op, kt(name, x), params), x.shape, x.dtype);
  if ((UNARY[op] as { zeroGrad?: boolean }).zeroGrad) return y;
  return record(name, y, [x], (dy) => [wrap(x.device, be.unaryGrad(op, kt(name, x), kt(name, y), kt(name, dy), params), x.shape, x.dtype)]);
}

/** -x (torch.neg). */
export const neg = (x: Tensor): Tensor => unaryOp('neg', 'neg', x);
/** eˣ (torch.exp). */
export const exp = (x: Tensor): Tensor => unaryOp('exp', 'exp', x);
/** Natural log (torch.log). */
export const log = (x: Tensor): Tensor => unaryOp('log', 'log', x);
/** √x (torch.sqrt). */
export const sqrt = (x: Tensor): Tensor => unaryOp('sqrt', 'sqrt', x);
/** 1/√x (torch.rsqrt). */
export const rsqrt = (x: Tensor): Tensor => unaryOp('rsqrt', 'rsqrt', x);
/** |x| (torch.abs); gradient sign(x), 0 at 0. */
export const abs = (x: Tensor): Tensor => unaryOp('abs', 'abs', x);
/** sign(x) (torch.sign); no gradient. */
export const sign = (x: Tensor): Tensor => unaryOp('sign', 'sign', x);
/** max(x, 0) (torch.relu); gradient 0 at 0. */
export const relu = (x: Tensor): Tensor => unaryOp('relu', 'relu', x);
/** 1/(1+e^-x) (torch.sigmoid). */
export const sigmoid = (x: Tensor): Tensor => unaryOp('sigmoid', 'sigmoid', x);
/** torch.tanh. */
export const tanh = (x: Tensor): Tensor => unaryOp('tanh', 'tanh', x);
/** The error function (torch.erf). */
export const erf = (x: Tensor): Tensor => unaryOp('erf', 'erf', x);
/** x² (torch.square). */
export const square = (x: Tensor): Tensor => unaryOp('square', 'square', x);
/** 1/x (torch.reciprocal). */
export const reciprocal = (x: Tensor): Tensor => unaryOp('reciprocal', 'reciprocal', x);
/** torch.sin (radians). */
export const sin = (x: Tensor): Tensor => unaryOp('sin', 'sin', x);
/** torch.cos (radians). */
export const cos = (x: Tensor): Tensor => unaryOp('cos', 'cos', x);
/** torch.floor; no gradient. */
export const floor = (x: Tensor): Tensor => unaryOp('floor', 'floor', x);
/** torch.ceil; no gradient. */
export const ceil = (x: Tensor): Tensor => unaryOp('ceil', 'ceil', x);
/** Round half to even (torch.round); no gradient. */
export const round = (x: Tensor): Tensor => unaryOp('round', 'round', x);
/** x·sigmoid(x) (torch.nn.functional.silu). */
export const silu = (x: Tensor): Tensor => unaryOp('silu', 'silu', x);

/** A copy of x that stays in the autograd graph (torch.clone). */
export const clone = (x: Tensor): Tensor => unaryOp('copy', 'clone', x);

/** max(x, 0) + slope·min(x, 0) (torch.nn.functional.leaky_relu, default slope 0.01). */
export function leakyRelu(x: Tensor, negativeSlope = 0.01): Tensor {
  if (typeof negativeSlope !== 'number' || !Number.isFinite(negativeSlope)) fail('leakyRelu', 'a finite negativeSlope', String(negativeSlope));
  return unaryOp('leakyRelu', 'leakyRelu', x, [negativeSlope]);
}

/** torch.nn.functional.elu. */
export function elu(x: Tensor, alpha = 1): Tensor {
  return unaryOp('elu', 'elu', x, [alpha]);
}

/**
 * GELU (torch.nn.functional.gelu): `approximate: 'none'` is x·Φ(x) with the exact erf,
 * `'tanh'` is 0.5x(1+tanh(√(2/π)(x+0.044715x³))).
 */
export function gelu(x: Tensor, opts: { approximate?: 'none' | 'tanh' } = {}): Tensor {
  const a = opts.approximate ?? 'none';
  if (a !== 'none' && a !== 'tanh') fail('gelu', "approximate 'none' or 'tanh'", String(a));
  return unaryOp(a === 'none' ? 'gelu' : 'geluTanh', 'gelu', x);
}

/**
 * Clamps to [min, max] (torch.clamp); either bound may be omitted. The gradient passes where
 * min ≤ x ≤ max, as in PyTorch.
 */
export function clamp(x: Tensor, min?: number | null, max?: number | null): Tensor {
  const lo = min ?? -Infinity;
  const hi = max ?? Infinity;
  if (Number.isNaN(lo) || Number.isNaN(hi)) fail('clamp', 'numeric bounds', `min ${min}, max ${max}`);
  return unaryOp('clamp', 'clamp', x, [lo, hi]);
}

// ---------------------------------------------------------------------------------- binary

function binaryForward(op: 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum', a: Tensor, b: Tensor): Tensor {
  const shape = broadcastShapes(op, a.shape, b.shape);
  return wrap(a.device, backendOf(a).binary(op, kt(op, a), kt(op, b), shape, a.dtype), shape, a.dtype);
}

/** a + b with broadcasting (torch.add). */
export function add(a: TensorLike, b: TensorLike): Tensor {
  return withOperands('add', a, b, (x, y) => {
    const out = binaryForward('add', x, y);
    return record('add', out, [x, y], (g) => [sumTo(g, x.shape), sumTo(g, y.shape)]);
  });
}

/** a - b with broadcasting (torch.sub). */
export function sub(a: TensorLike, b: TensorLike): Tensor {
  return withOperands('sub', a, b, (x, y) => {
    const out = binaryForward('sub', x, y);
    return record('sub', out, [x, y], (g) => [sumTo(g, x.shape), y.requiresGrad ? sumTo(neg(g), y.shape) : null]);
  });
}

/** a · b elementwise with broadcasting (torch.mul). */
export function mul(a: TensorLike, b: TensorLike): Tensor {
  return withOperands('mul', a, b, (x, y) => {
    const out = binaryForward('mul', x, y);
    return record('mul', out, [x, y], (g) => [x.requiresGrad ? sumTo(mul(g, y), x.shape) : null, y.requiresGrad ? sumTo(mul(g, x), y.shape) : null]);
  });
}

/** a / b with broadcasting (torch.div, true division). */
export function div(a: TensorLike, b: TensorLike): Tensor {
  return withOperands('div', a, b, (x, y) => {
    if (x.dtype === 'int32') fail('div', 'float tensors (int32 true division would truncate)', 'int32');
    const out = binaryForward('div', x, y);
    return record('div', out, [x, y], (g) => [
      x.requiresGrad ? sumTo(div(g, y), x.shape) : null,
      y.requiresGrad ? sumTo(neg(mul(g, div(out, y))), y.shape) : null,
    ]);
  });
}

/** aᵇ (torch.pow). A number exponent uses the scalar kernel. */
export function pow(a: TensorLike, b: TensorLike): Tensor {
  if (typeof b === 'number' && typeof a !== 'number') {
    check('pow', 'input', a);
    return unaryOp('powScalar', 'pow', a, [b]);
  }
  return withOperands('pow', a, b, (x, y) => {
    requireFloat('pow', 'input', x);
    const out = binaryForward('pow', x, y);
    return record('pow', out, [x, y], (g) => [
      x.requiresGrad ? sumTo(mul(g, mul(y, pow(x, sub(y, 1)))), x.shape) : null,
      y.requiresGrad ? sumTo(mul(g, mul(out, log(x))), y.shape) : null,
    ]);
  });
}

/**
 * Elementwise max (torch.maximum). Where a == b the gradient is split in half, as PyTorch does.
 */
export function maximum(a: TensorLike, b: TensorLike): Tensor {
  return minmax('maximum', a, b);
}

/** Elementwise min (torch.minimum); ties split the gradient in half. */
export function minimum(a: TensorLike, b: TensorLike): Tensor {
  return minmax('minimum', a, b);
}

function minmax(op: 'maximum' | 'minimum', a: TensorLike, b: TensorLike): Tensor {
  return withOperands(op, a, b, (x, y) => {
    const out = binaryForward(op, x, y);
    return record(op, out, [x, y], (g) => {
      const wins = op === 'maximum' ? gt(x, y) : lt(x, y);
      const ties = eq(x, y);
      // share = 1 where x wins, 0.5 on ties, 0 where y wins
      const share = add(castLike(wins, g), mul(castLike(ties, g), 0.5));
      const gx = x.requiresGrad ? sumTo(mul(g, share), x.shape) : null;
      const gy = y.requiresGrad ? sumTo(mul(g, sub(1, share)), y.shape) : null;
      return [gx, gy];
    });
  });
}

function castLike(t: Tensor, like: Tensor): Tensor {
  return wrap(t.device, backendOf(t).cast(kt('cast', t), like.dtype), t.shape, like.dtype);
}

function compare(op: 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge', a: TensorLike, b: TensorLike): Tensor {
  return withOperands(op, a, b, (x, y) => {
    const shape = broadcastShapes(op, x.shape, y.shape);
    return wrap(x.device, backendOf(x).binary(op, kt(op, x), kt(op, y), shape, 'int32'), shape, 'int32');
  });
}

/** a == b as int32 0/1 (torch.eq). */
export const eq = (a: TensorLike, b: TensorLike): Tensor => compare('eq', a, b);
/** a != b as int32 0/1 (torch.ne). */
export const ne = (a: TensorLike, b: TensorLike): Tensor => compare('ne', a, b);
/** a < b as int32 0/1 (torch.lt). */
export const lt = (a: TensorLike, b: TensorLike): Tensor => compare('lt', a, b);
/** a <= b as int32 0/1 (torch.le). */
export const le = (a: TensorLike, b: TensorLike): Tensor => compare('le', a, b);
/** a > b as int32 0/1 (torch.gt). */
export const gt = (a: TensorLike, b: TensorLike): Tensor => compare('gt', a, b);
/** a >= b as int32 0/1 (torch.ge). */
export const ge = (a: TensorLike, b: TensorLike): Tensor => compare('ge', a, b);

/**
 * torch.where(cond, a, b): a where cond != 0, else b, all broadcast together. `cond` may be any
 * dtype (int32 masks from comparisons, or 0/1 floats). Gradients flow to a and b.
 */
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  check('where', 'condition', cond);
  return withOperands('where', a, b, (x, y) => {
    if (cond.device !== x.device) fail('where', `condition on ${x.device}`, cond.device);
    const shape = broadcastShapes('where', broadcastShapes('where', cond.shape, x.shape), y.shape);
    const be = backendOf(x);
    const out = wrap(x.device, be.where(kt('where', cond), kt('where', x), kt('where', y), shape), shape, x.dtype);
    return record('where', out, [x, y], (g) => {
      const zero = wrap(g.device, be.fill([], g.dtype, 0), [], g.dtype);
      return [
        x.requiresGrad ? sumTo(where(cond, g, zero), x.shape) : null,
        y.requiresGrad ? sumTo(where(cond, zero, g), y.shape) : null,
      ];
    });
  });
}

/** x with `value` where mask != 0 (torch.Tensor.masked_fill); mask broadcasts to x. */
export function maskedFill(x: Tensor, mask: Tensor, value: number): Tensor {
  check('maskedFill', 'input', x);
  check('maskedFill', 'mask', mask);
  const shape = broadcastShapes('maskedFill', x.shape, mask.shape);
  if (!shapesEqual(shape, x.shape)) fail('maskedFill', `a mask that broadcasts to ${JSON.stringify(x.shape)}`, JSON.stringify(mask.shape));
  return where(mask, value, x);
}
