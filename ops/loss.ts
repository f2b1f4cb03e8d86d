/**
 * Losses: mseLoss, l1Loss, jointsMseLoss (the heatmap loss of HRNet, DCPose and FaSRnet) and
 * crossEntropy, composed from differentiable ops so that their gradients (for every float input)
 * come from autograd and run on every backend.
 */
import type { DType } from '../engine/dtype.js';
import { fmtShape, shapesEqual } from '../engine/shape.js';
import type { Tensor } from '../engine/tensor.js';
import { abs, add, div, mul, ne, neg, sub, where } from './elementwise.js';
import { mean, sum } from './reduce.js';
import { checkIndices, trustedIndices } from './internal/indices.js';
import { flatten, gather, indexSelect, reshape, squeeze, unsqueeze } from './shape.js';
import { logSoftmax } from './softmax.js';
import { backendOf, check, fail, kt, requireFloat, sameDeviceDtype, wrap } from './util.js';

export type Reduction = 'mean' | 'sum' | 'none';

function checkReduction(op: string, r: unknown): Reduction {
  if (r !== 'mean' && r !== 'sum' && r !== 'none') fail(op, "reduction 'mean', 'sum' or 'none'", String(r));
  return r;
}

function reduceLoss(t: Tensor, reduction: Reduction): Tensor {
  return reduction === 'none' ? t : reduction === 'sum' ? sum(t) : mean(t);
}

function sameShapeFloat(op: string, input: Tensor, target: Tensor): void {
  check(op, 'input', input);
  check(op, 'target', target);
  requireFloat(op, 'input', input);
  sameDeviceDtype(op, input, target);
  if (!shapesEqual(input.shape, target.shape)) fail(op, `target of the input's shape ${fmtShape(input.shape)}`, fmtShape(target.shape));
}

/**
 * Mean squared error (torch.nn.functional.mse_loss): (input - target)², reduced.
 * Shapes: input and target of one shape -> [] ('mean', 'sum') or that shape ('none').
 * Unlike PyTorch, which broadcasts mismatched shapes with a warning, mismatched shapes throw.
 * @throws Error on different shapes, dtypes or devices, an int32 input, or an unknown reduction.
 */
export function mseLoss(input: Tensor, target: Tensor, opts: { reduction?: Reduction } = {}): Tensor {
  const op = 'mseLoss';
  const reduction = checkReduction(op, opts.reduction ?? 'mean');
  sameShapeFloat(op, input, target);
  const d = sub(input, target);
  return reduceLoss(mul(d, d), reduction);
}

/**
 * Mean absolute error (torch.nn.functional.l1_loss): |input - target|, reduced. The gradient at
 * input = target is 0, as PyTorch. Shapes and errors as mseLoss.
 */
export function l1Loss(input: Tensor, target: Tensor, opts: { reduction?: Reduction } = {}): Tensor {
  const op = 'l1Loss';
  const reduction = checkReduction(op, opts.reduction ?? 'mean');
  sameShapeFloat(op, input, target);
  return reduceLoss(abs(sub(input, target)), reduction);
}

/**
 * The joint heatmap MSE loss of HRNet's `JointsMSELoss` (leoxiaobin/deep-high-resolution-net.pytorch,
 * lib/core/loss.py), which DCPose and FaSRnet train with:
 *   L = (1/K) Σ_k 0.5 · mean_{b, pixels}((pred_bk·w_bk − gt_bk·w_bk)²),
 * which equals 0.5 · mean over all elements, since every joint has the same B·H·W elements.
 * Shapes: pred and target [B, K, H, W] (any trailing dims), targetWeight [B, K, 1] or [B, K]
 * (per-joint visibility weights) -> []. With useTargetWeight false the weights are ignored.
 * Gradients flow to pred, target and targetWeight.
 * @throws Error when pred has rank < 2, target's shape differs, targetWeight is not [B, K, 1] or
 *   [B, K], or dtypes or devices differ.
 */
export function jointsMseLoss(pred: Tensor, target: Tensor, targetWeight?: Tensor | null, opts: { useTargetWeight?: boolean } = {}): Tensor {
  const op = 'jointsMseLoss';
  sameShapeFloat(op, pred, target);
  if (pred.rank < 2) fail(op, 'pred of rank ≥ 2 [B, K, H, W]', `shape ${fmtShape(pred.shape)}`);
  const [B, K] = pred.shape as [number, number];
  const p = reshape(pred, [B, K, -1]);
  const g = reshape(target, [B, K, -1]);
  if (opts.useTargetWeight ?? true) {
    if (!targetWeight) fail(op, 'targetWeight [B, K, 1] or [B, K] when useTargetWeight', String(targetWeight));
    check(op, 'targetWeight', targetWeight);
    sameDeviceDtype(op, pred, targetWeight);
    const ok = (targetWeight.rank === 2 || (targetWeight.rank === 3 && targetWeight.shape[2] === 1)) && targetWeight.shape[0] === B && targetWeight.shape[1] === K;
    if (!ok) fail(op, `targetWeight of shape [${B}, ${K}, 1] or [${B}, ${K}]`, fmtShape(targetWeight.shape));
    const w = reshape(targetWeight, [B, K, 1]);
    const d = sub(mul(p, w), mul(g, w));
    return mul(mean(mul(d, d)), 0.5);
  }
  const d = sub(p, g);
  return mul(mean(mul(d, d)), 0.5);
}

export interface CrossEntropyOptions {
  /** Default 'mean'. */
  reduction?: Reduction;
  /** Class-index targets equal to this are skipped (default -100). */
  ignoreIndex?: number;
  /** ε in [0, 1]: mixes the target with the uniform distribution, (1-ε)·target + ε/C. Default 0. */
  labelSmoothing?: number;
  /** Per-class weights [C]. */
  weight?: Tensor | null;
}

function cast(t: Tensor, dtype: DType): Tensor {
  return wrap(t.device, backendOf(t).cast(kt('crossEntropy', t), dtype), t.shape, dtype);
}

/**
 * Cross entropy of logits against class indices or class probabilities
 * (torch.nn.functional.cross_entropy, torch 1.13).
 * Shapes: logits [N, C] or [N, C, d1, ...] (or unbatched [C]); target either int32 class indices
 * [N] / [N, d1, ...] (or []), or float probabilities of the logits' shape. Output [] ('mean',
 * 'sum') or the target's batch shape ('none').
 * - Indices: ℓ_i = -w[y_i]·log softmax(x_i)[y_i], skipping targets equal to ignoreIndex; 'mean'
 *   divides by Σ w[y_i] over the kept targets. With labelSmoothing ε the loss is
 *   (1-ε)·ℓ + (ε/C)·s with s_i = -Σ_c w[c]·log softmax(x_i)[c], reduced the same way.
 * - Probabilities: ℓ_i = -Σ_c w[c]·p'_ic·log softmax(x_i)[c] with p' = (1-ε)·p + ε/C; 'mean'
 *   divides by N·d1·... (ignoreIndex does not apply).
 * When every target is ignored, 'mean' returns 0 (PyTorch returns NaN; posegrad never returns a
 * silent NaN). Gradients flow to the logits (and to float targets and weights).
 * @throws Error on a logits rank < 1, an int32 logits tensor, a target of the wrong shape or dtype,
 *   class indices outside [0, C) other than ignoreIndex (checked on cpu and wasm), a weight that
 *   is not [C], labelSmoothing outside [0, 1], or an unknown reduction.
 */
export function crossEntropy(logits: Tensor, target: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  const op = 'crossEntropy';
  check(op, 'input', logits);
  check(op, 'target', target);
  requireFloat(op, 'input', logits);
  const reduction = checkReduction(op, opts.reduction ?? 'mean');
  const ignoreIndex = opts.ignoreIndex ?? -100;
  if (!Number.isInteger(ignoreIndex)) fail(op, 'an integer ignoreIndex', String(ignoreIndex));
  const eps = opts.labelSmoothing ?? 0;
  if (typeof eps !== 'number' || !(eps >= 0 && eps <= 1)) fail(op, 'labelSmoothing in [0, 1]', String(eps));
  if (logits.rank < 1) fail(op, 'input of rank ≥ 1 [N, C, ...] or [C]', `shape ${fmtShape(logits.shape)}`);
  if (target.device !== logits.device) fail(op, `target on ${logits.device}`, target.device);
  const weight = opts.weight ?? null;
  // Unbatched input [C]: treat as a batch of one.
  const unbatched = logits.rank === 1;
  const x = unbatched ? unsqueeze(logits, 0) : logits;
  const C = x.shape[1]!;
  if (weight) {
    check(op, 'weight', weight);
    sameDeviceDtype(op, logits, weight);
    if (weight.rank !== 1 || weight.shape[0] !== C) fail(op, `weight of shape [${C}]`, fmtShape(weight.shape));
  }
  const chanShape = [1, C, ...x.shape.slice(2).map(() => 1)];
  const logp = logSoftmax(x, 1);

  if (target.dtype !== 'int32') {
    // ---- class probabilities
    sameDeviceDtype(op, logits, target);
    if (!shapesEqual(target.shape, logits.shape)) fail(op, `float target probabilities of the input's shape ${fmtShape(logits.shape)} (or int32 class indices)`, fmtShape(target.shape));
    let p = unbatched ? unsqueeze(target, 0) : target;
    if (eps > 0) p = add(mul(p, 1 - eps), eps / C);
    let terms = mul(logp, p);
    if (weight) terms = mul(terms, reshape(weight, chanShape));
    const perItem = neg(sum(terms, 1));
    const out = reduction === 'none' ? perItem : reduction === 'sum' ? sum(perItem) : div(sum(perItem), x.size / C);
    return unbatched && reduction === 'none' ? squeeze(out, 0) : out;
  }

  // ---- class indices
  const batchShape = [x.shape[0]!, ...x.shape.slice(2)];
  const t = unbatched ? reshape(target, [1]) : target;
  if (!shapesEqual(t.shape, batchShape)) fail(op, `int32 class indices of shape ${fmtShape(unbatched ? [] : batchShape)} (or float probabilities of shape ${fmtShape(logits.shape)})`, fmtShape(target.shape));
  checkIndices(op, `class indices in [0, ${C - 1}] or ignoreIndex ${ignoreIndex}`, t, C, ignoreIndex);
  const keep = ne(t, ignoreIndex); // int32 0/1
  const safe = where(keep, t, 0); // ignored targets read class 0, then get weight 0
  const keepF = cast(keep, x.dtype);
  // safe's indices are checked above (t): no second check (on webgpu, a dispatch and a readback)
  const picked = trustedIndices(() => squeeze(gather(logp, 1, unsqueeze(safe, 1)), 1));
  const w = weight ? mul(reshape(trustedIndices(() => indexSelect(weight, 0, flatten(safe))), batchShape), keepF) : keepF;
  const nll = neg(mul(picked, w));
  let smooth: Tensor | null = null;
  if (eps > 0) {
    const all = weight ? mul(logp, reshape(weight, chanShape)) : logp;
    smooth = mul(neg(sum(all, 1)), keepF);
  }
  let out: Tensor;
  if (reduction === 'none') {
    out = smooth ? add(mul(nll, 1 - eps), mul(smooth, eps / C)) : nll;
    return unbatched ? squeeze(out, 0) : out;
  }
  const total = sum(nll);
  const sTotal = smooth ? sum(smooth) : null;
  if (reduction === 'sum') return sTotal ? add(mul(total, 1 - eps), mul(sTotal, eps / C)) : total;
  // 'mean': divide by the kept weight, or by 1 when nothing is kept (the sums are 0 then)
  const wSum = sum(w);
  const denom = where(ne(wSum, 0), wSum, 1);
  out = div(total, denom);
  if (sTotal) out = add(mul(out, 1 - eps), mul(div(sTotal, denom), eps / C));
  return out;
}
