/**
 * Normalization ops: batchNorm2d (torch.nn.functional.batch_norm), layerNorm, groupNorm, and the
 * vector normalizations cosineSimilarity and normalize.
 *
 * batchNorm2d and layerNorm run dedicated kernels (statistics, forward, backward); groupNorm is
 * layerNorm's kernels on the [N·G, C/G·S] view followed by a per-channel affine made of
 * broadcasting ops; cosineSimilarity and normalize are composed from elementwise ops and sums.
 */
import { noGrad } from '../engine/engine.js';
import { broadcastShapes, normalizeAxis, sizeOf } from '../engine/shape.js';
import type { Tensor } from '../engine/tensor.js';
import { add, clamp, div, mul, sqrt } from './elementwise.js';
import { sum } from './reduce.js';
import { reshape } from './shape.js';
import { backendOf, check, fail, fmtShape, kt, needsGrad, record, requireFloat, sameDeviceDtype, wrap } from './util.js';

export interface BatchNormOptions {
  /** Use batch statistics and update the running ones (PyTorch's training mode). */
  training: boolean;
  /**
   * Running-statistics momentum (PyTorch default 0.1): running = (1 - momentum)·running +
   * momentum·batch. `null` gives PyTorch's cumulative average (momentum = 1/numBatchesTracked),
   * which needs `numBatchesTracked`.
   */
  momentum?: number | null;
  eps?: number;
  /**
   * The module's int32 scalar counter (BatchNorm2d's num_batches_tracked). When given, a training
   * step that updates the running statistics also increments it, as torch.nn.BatchNorm2d does.
   */
  numBatchesTracked?: Tensor | null;
}

/**
 * Batch normalization, as torch.nn.functional.batch_norm (Ioffe & Szegedy 2015, Algorithm 1).
 *
 * Shapes: x [N, C, ...] (rank ≥ 2), runningMean/runningVar/weight/bias [C] or null -> [N, C, ...].
 * - Training: normalizes with the batch statistics over N and the spatial dims (biased variance),
 *   and, when running statistics are given, updates them in place (without gradient) as PyTorch:
 *   running_mean ← (1-m)·running_mean + m·mean, running_var ← (1-m)·running_var + m·var·M/(M-1),
 *   the unbiased variance over the M = N·H·W values of each channel.
 * - Eval: normalizes with runningMean/runningVar.
 * y = (x - mean)/√(var + eps)·weight + bias. Gradients flow to x, weight and bias in both modes.
 * @throws Error when x is not a float tensor of rank ≥ 2, a [C] tensor has the wrong shape, dtype
 *   or device, eval mode has no running statistics, or training has a single value per channel.
 */
export function batchNorm2d(x: Tensor, runningMean: Tensor | null, runningVar: Tensor | null, weight: Tensor | null, bias: Tensor | null, opts: BatchNormOptions): Tensor {
  const op = 'batchNorm2d';
  check(op, 'input', x);
  requireFloat(op, 'input', x);
  if (x.rank < 2) fail(op, 'input of rank ≥ 2 [N, C, ...]', `shape ${fmtShape(x.shape)}`);
  const N = x.shape[0]!;
  const C = x.shape[1]!;
  const S = sizeOf(x.shape.slice(2));
  const named: [string, Tensor | null][] = [['runningMean', runningMean], ['runningVar', runningVar], ['weight', weight], ['bias', bias]];
  for (const [name, t] of named) {
    if (!t) continue;
    check(op, name, t);
    if (t.rank !== 1 || t.shape[0] !== C) fail(op, `${name} of shape [${C}] (C of input ${fmtShape(x.shape)})`, fmtShape(t.shape));
  }
  sameDeviceDtype(op, x, runningMean, runningVar, weight, bias);
  if (!runningMean !== !runningVar) fail(op, 'both runningMean and runningVar, or neither', runningMean ? 'runningMean only' : 'runningVar only');
  const eps = opts.eps ?? 1e-5;
  if (!(eps > 0)) fail(op, 'eps > 0', String(eps));
  const training = opts.training;
  const momentum = opts.momentum === undefined ? 0.1 : opts.momentum;
  if (momentum !== null && (typeof momentum !== 'number' || !(momentum >= 0 && momentum <= 1))) fail(op, 'momentum in [0, 1] or null', String(momentum));
  const nbt = opts.numBatchesTracked ?? null;
  if (nbt) {
    check(op, 'numBatchesTracked', nbt);
    if (nbt.dtype !== 'int32' || nbt.size !== 1) fail(op, 'numBatchesTracked as an int32 tensor with one element', nbt.toString());
  }
  const be = backendOf(x);
  let mean: Tensor;
  let variance: Tensor;
  if (training) {
    const M = N * S;
    if (M <= 1) fail(op, 'more than 1 value per channel when training', `input ${fmtShape(x.shape)}`);
    const st = be.batchNormStats(kt(op, x), N, C, S);
    mean = wrap(x.device, st.mean, [C], x.dtype);
    variance = wrap(x.device, st.variance, [C], x.dtype);
    if (runningMean && runningVar) {
      noGrad(() => {
        let m: number;
        if (momentum === null) {
          if (!nbt) fail(op, 'numBatchesTracked when momentum is null (cumulative average)', 'none');
          m = 1 / (nbt.item() + 1);
        } else m = momentum;
        const newMean = add(mul(runningMean, 1 - m), mul(mean, m));
        const newVar = add(mul(runningVar, 1 - m), mul(variance, (m * M) / (M - 1)));
        runningMean.assign(newMean);
        runningVar.assign(newVar);
        newMean.dispose();
        newVar.dispose();
        if (nbt) {
          const next = add(nbt, 1);
          nbt.assign(next);
          next.dispose();
        }
      });
    }
  } else {
    if (!runningMean || !runningVar) fail(op, 'runningMean and runningVar in eval mode (training: false)', 'null');
    // Snapshot the running statistics: a later training step replaces them in place.
    mean = runningMean.detach();
    variance = runningVar.detach();
  }
  const y = wrap(x.device, be.batchNormForward(kt(op, x), kt(op, mean), kt(op, variance), weight ? kt(op, weight) : null, bias ? kt(op, bias) : null, N, C, S, eps), x.shape, x.dtype);
  if (!needsGrad([x, weight, bias])) {
    mean.dispose();
    variance.dispose();
    return y;
  }
  return record(op, y, [x, weight, bias], (g) => {
    const r = be.batchNormBackward(kt(op, g), kt(op, x), kt(op, mean), kt(op, variance), weight ? kt(op, weight) : null, N, C, S, eps, training);
    const dx = wrap(g.device, r.dx, x.shape, g.dtype);
    const dGamma = r.dGamma ? wrap(g.device, r.dGamma, [C], g.dtype) : null;
    let dBeta = r.dBeta ? wrap(g.device, r.dBeta, [C], g.dtype) : null;
    if (bias?.requiresGrad && !dBeta) dBeta = sum(g, [0, ...x.shape.slice(2).map((_, i) => i + 2)]);
    return [x.requiresGrad ? dx : null, weight?.requiresGrad ? dGamma : null, bias?.requiresGrad ? dBeta : null];
  });
}

/**
 * Layer normalization over the trailing dims (torch.nn.functional.layer_norm; Ba et al. 2016).
 * Shapes: x [..., *normalizedShape]; weight and bias have shape normalizedShape (either may be
 * omitted). Each of the rows = size/∏normalizedShape vectors is normalized with its own mean and
 * biased variance: y = (x - mean)/√(var + eps)·weight + bias. Gradients flow to x, weight and bias.
 * @throws Error when x's trailing dims differ from normalizedShape, weight/bias have another shape,
 *   dtypes or devices differ, or eps ≤ 0.
 */
export function layerNorm(x: Tensor, normalizedShape: number | readonly number[], weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  const op = 'layerNorm';
  check(op, 'input', x);
  requireFloat(op, 'input', x);
  const ns = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
  if (ns.length === 0 || ns.some((d) => !Number.isInteger(d) || d < 1)) fail(op, 'normalizedShape as one or more positive integers', fmtShape(ns));
  const tail = x.shape.slice(x.rank - ns.length);
  if (x.rank < ns.length || tail.some((d, i) => d !== ns[i])) fail(op, `input whose trailing dims are normalizedShape ${fmtShape(ns)}`, `shape ${fmtShape(x.shape)}`);
  for (const [name, t] of [['weight', weight], ['bias', bias]] as const) {
    if (!t) continue;
    check(op, name, t);
    if (t.rank !== ns.length || t.shape.some((d, i) => d !== ns[i])) fail(op, `${name} of shape ${fmtShape(ns)}`, fmtShape(t.shape));
  }
  sameDeviceDtype(op, x, weight, bias);
  if (!(eps > 0)) fail(op, 'eps > 0', String(eps));
  const cols = sizeOf(ns);
  const rows = x.size / cols;
  const be = backendOf(x);
  const r = be.layerNorm(kt(op, x), weight ? kt(op, weight) : null, bias ? kt(op, bias) : null, rows, cols, eps);
  const y = wrap(x.device, r.y, x.shape, x.dtype);
  const mean = wrap(x.device, r.mean, [rows], x.dtype);
  const rstd = wrap(x.device, r.rstd, [rows], x.dtype);
  if (!needsGrad([x, weight, bias])) {
    mean.dispose();
    rstd.dispose();
    return y;
  }
  return record(op, y, [x, weight, bias], (g) => {
    const b = be.layerNormBackward(kt(op, g), kt(op, x), kt(op, mean), kt(op, rstd), weight ? kt(op, weight) : null, rows, cols);
    const dx = wrap(g.device, b.dx, x.shape, g.dtype);
    const dGamma = b.dGamma ? wrap(g.device, b.dGamma, ns, g.dtype) : null;
    let dBeta = b.dBeta ? wrap(g.device, b.dBeta, ns, g.dtype) : null;
    if (bias?.requiresGrad && !dBeta) dBeta = reshape(sum(reshape(g, [rows, cols]), 0), ns);
    return [x.requiresGrad ? dx : null, weight?.requiresGrad ? dGamma : null, bias?.requiresGrad ? dBeta : null];
  });
}

/**
 * Group normalization (torch.nn.functional.group_norm; Wu & He 2018).
 * Shapes: x [N, C, ...], weight and bias [C] (optional) -> x's shape. The C channels are split into
 * numGroups groups; each (sample, group) is normalized over its C/numGroups channels and all
 * spatial positions (biased variance), then scaled and shifted per channel. Built from layerNorm's
 * kernels on the [N·G, (C/G)·S] view plus broadcasting ops.
 * @throws Error when x has rank < 2, C is not divisible by numGroups, weight/bias are not [C], or
 *   dtypes or devices differ.
 */
export function groupNorm(x: Tensor, numGroups: number, weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  const op = 'groupNorm';
  check(op, 'input', x);
  requireFloat(op, 'input', x);
  if (x.rank < 2) fail(op, 'input of rank ≥ 2 [N, C, ...]', `shape ${fmtShape(x.shape)}`);
  if (!Number.isInteger(numGroups) || numGroups < 1) fail(op, 'numGroups as an integer ≥ 1', String(numGroups));
  const [N, C] = x.shape as [number, number];
  if (C % numGroups !== 0) fail(op, `a channel count divisible by numGroups=${numGroups}`, `C=${C} (input ${fmtShape(x.shape)})`);
  for (const [name, t] of [['weight', weight], ['bias', bias]] as const) {
    if (!t) continue;
    check(op, name, t);
    if (t.rank !== 1 || t.shape[0] !== C) fail(op, `${name} of shape [${C}]`, fmtShape(t.shape));
  }
  sameDeviceDtype(op, x, weight, bias);
  const cols = (C / numGroups) * sizeOf(x.shape.slice(2));
  let y = reshape(layerNorm(reshape(x, [N * numGroups, cols]), cols, null, null, eps), x.shape);
  const chan = [1, C, ...x.shape.slice(2).map(() => 1)];
  if (weight) y = mul(y, reshape(weight, chan));
  if (bias) y = add(y, reshape(bias, chan));
  return y;
}

/** √(max(Σ x², eps²)) over `dim`, kept: max(‖x‖₂, eps) with a zero gradient where clamped (no 0/0 at x = 0). */
function clampedNorm(x: Tensor, dim: number, eps: number): Tensor {
  return sqrt(clamp(sum(mul(x, x), dim, true), eps * eps, null));
}

/**
 * Cosine similarity along `dim` (torch.nn.functional.cosine_similarity, torch 1.13):
 * Σ (a/max(‖a‖, eps))·(b/max(‖b‖, eps)) over `dim`, so each result lies in [-1, 1].
 * Shapes: a and b broadcast together; `dim` indexes the broadcast shape and is removed.
 * Where a norm is clamped (‖a‖ < eps) the gradient treats the clamp as a constant; PyTorch's
 * autograd gives a slightly different value there. Gradients flow to a and b.
 * @throws Error when the shapes do not broadcast, dtypes or devices differ, or `dim` is out of range.
 */
export function cosineSimilarity(a: Tensor, b: Tensor, dim = 1, eps = 1e-8): Tensor {
  const op = 'cosineSimilarity';
  check(op, 'x1', a);
  check(op, 'x2', b);
  requireFloat(op, 'x1', a);
  sameDeviceDtype(op, a, b);
  const rank = broadcastShapes(op, a.shape, b.shape).length;
  const d = normalizeAxis(op, dim, rank);
  const ea = a.rank < rank ? reshape(a, [...new Array<number>(rank - a.rank).fill(1), ...a.shape]) : a;
  const eb = b.rank < rank ? reshape(b, [...new Array<number>(rank - b.rank).fill(1), ...b.shape]) : b;
  const prod = mul(div(ea, clampedNorm(ea, d, eps)), div(eb, clampedNorm(eb, d, eps)));
  return sum(prod, d);
}

/**
 * Lp normalization with p = 2 along `dim` (torch.nn.functional.normalize): x / max(‖x‖₂, eps).
 * Shapes: x [...] -> the same shape. A zero vector stays zero, with a finite gradient.
 * @throws Error when p is not 2, `dim` is out of range, or x is int32.
 */
export function normalize(x: Tensor, opts: { p?: number; dim?: number; eps?: number } = {}): Tensor {
  const op = 'normalize';
  check(op, 'input', x);
  requireFloat(op, 'input', x);
  const p = opts.p ?? 2;
  if (p !== 2) fail(op, 'p = 2 (the only norm implemented)', String(p));
  const d = normalizeAxis(op, opts.dim ?? 1, x.rank);
  return div(x, clampedNorm(x, d, opts.eps ?? 1e-12));
}
