/**
 * matmul (torch.matmul, with 1-D promotion and batch broadcasting), bmm and linear. All reduce to
 * one batched kernel on rank-3 operands with transpose flags, so that the backward passes
 * (dA = dY·Bᵀ, dB = Aᵀ·dY) and linear (x·Wᵀ) never copy a transpose.
 */
import { broadcastShapes, fmtShape, sizeOf } from '../engine/shape.js';
import type { Tensor } from '../engine/tensor.js';
import { add } from './elementwise.js';
import { sum } from './reduce.js';
import { expand, reshape, squeeze } from './shape.js';
import { backendOf, check, countMacs, fail, kt, record, requireFloat, sameDeviceDtype, wrap } from './util.js';

/**
 * @internal The batched kernel with autograd (torch.bmm with transpose flags): a [Ba, M, K] (or [Ba, K, M] if transA), b [Bb, K, N] (or
 * [Bb, N, K] if transB), Ba, Bb ∈ {1, B} -> [B, M, N].
 */
export function bmm3(a: Tensor, b: Tensor, transA = false, transB = false): Tensor {
  const [ba, a1, a2] = a.shape as [number, number, number];
  const [bb, b1, b2] = b.shape as [number, number, number];
  const M = transA ? a2 : a1;
  const K = transA ? a1 : a2;
  const Kb = transB ? b2 : b1;
  const N = transB ? b1 : b2;
  if (K !== Kb) fail('matmul', `inner dims to match (${fmtShape(a.shape)}${transA ? 'ᵀ' : ''} · ${fmtShape(b.shape)}${transB ? 'ᵀ' : ''})`, `${K} and ${Kb}`);
  if (ba !== bb && ba !== 1 && bb !== 1) fail('matmul', 'batch sizes that are equal or 1', `${ba} and ${bb}`);
  const B = Math.max(ba, bb);
  countMacs('matmul', B * M * N * K);
  const be = backendOf(a);
  const out = wrap(a.device, be.matmul(kt('matmul', a), kt('matmul', b), { transA, transB }), [B, M, N], a.dtype);
  return record('matmul', out, [a, b], (g) => {
    let ga: Tensor | null = null;
    let gb: Tensor | null = null;
    if (a.requiresGrad) {
      // dA = g·op(B)ᵀ as [B, M, K]; stored transposed when transA.
      ga = transA ? bmm3(b, g, transB, true) : bmm3(g, b, false, !transB);
      if (ba === 1 && B > 1) ga = sum(ga, 0, true);
    }
    if (b.requiresGrad) {
      // dB = op(A)ᵀ·g as [B, K, N]; stored transposed when transB.
      gb = transB ? bmm3(g, a, true, transA) : bmm3(a, g, !transA, false);
      if (bb === 1 && B > 1) gb = sum(gb, 0, true);
    }
    return [ga, gb];
  });
}

/**
 * Matrix product with PyTorch's rules (torch.matmul): 1-D operands are promoted (and the added
 * dim removed), leading batch dims broadcast. [..., M, K] · [..., K, N] -> [..., M, N].
 * @throws Error when inner dims differ or batch dims do not broadcast.
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  check('matmul', 'input', a);
  check('matmul', 'other', b);
  sameDeviceDtype('matmul', a, b);
  requireFloat('matmul', 'input', a);
  if (a.rank === 0 || b.rank === 0) fail('matmul', 'operands of rank ≥ 1', `${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  const aVec = a.rank === 1;
  const bVec = b.rank === 1;
  const A = aVec ? reshape(a, [1, a.shape[0]!]) : a;
  const Bt = bVec ? reshape(b, [b.shape[0]!, 1]) : b;
  const aBatch = A.shape.slice(0, -2);
  const bBatch = Bt.shape.slice(0, -2);
  const batch = broadcastShapes('matmul', aBatch, bBatch);
  const nb = sizeOf(batch);
  const [M, K] = A.shape.slice(-2) as [number, number];
  const [K2, N] = Bt.shape.slice(-2) as [number, number];
  if (K !== K2) fail('matmul', `inner dims to match (${fmtShape(a.shape)} · ${fmtShape(b.shape)})`, `${K} and ${K2}`);
  const as3 = sizeOf(aBatch) === 1 ? reshape(A, [1, M, K]) : reshape(sizeOf(aBatch) === nb && aBatch.length === batch.length ? A : expand(A, [...batch, M, K]), [nb, M, K]);
  const bs3 = sizeOf(bBatch) === 1 ? reshape(Bt, [1, K, N]) : reshape(sizeOf(bBatch) === nb && bBatch.length === batch.length ? Bt : expand(Bt, [...batch, K, N]), [nb, K, N]);
  let out = reshape(bmm3(as3, bs3), [...batch, M, N]);
  if (aVec) out = squeeze(out, -2);
  if (bVec) out = squeeze(out, -1);
  return out;
}

/** Batched matmul without broadcasting (torch.bmm): [B, M, K] · [B, K, N] -> [B, M, N]. */
export function bmm(a: Tensor, b: Tensor): Tensor {
  check('bmm', 'input', a);
  check('bmm', 'mat2', b);
  sameDeviceDtype('bmm', a, b);
  requireFloat('bmm', 'input', a);
  if (a.rank !== 3 || b.rank !== 3) fail('bmm', 'rank-3 operands [B, M, K] and [B, K, N]', `${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  if (a.shape[0] !== b.shape[0]) fail('bmm', 'equal batch sizes', `${a.shape[0]} and ${b.shape[0]}`);
  return bmm3(a, b);
}

/**
 * y = x·Wᵀ + b (torch.nn.functional.linear). x [..., in], weight [out, in], bias [out] -> [..., out].
 */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  check('linear', 'input', x);
  check('linear', 'weight', weight);
  if (bias) check('linear', 'bias', bias);
  sameDeviceDtype('linear', x, weight, bias);
  if (weight.rank !== 2) fail('linear', 'a weight of rank 2 [out, in]', fmtShape(weight.shape));
  if (x.rank < 1 || x.shape[x.rank - 1] !== weight.shape[1]) fail('linear', `input [..., ${weight.shape[1]}]`, fmtShape(x.shape));
  if (bias && (bias.rank !== 1 || bias.shape[0] !== weight.shape[0])) fail('linear', `bias [${weight.shape[0]}]`, fmtShape(bias.shape));
  const inF = weight.shape[1]!;
  const outF = weight.shape[0]!;
  const lead = x.shape.slice(0, -1);
  const y = bmm3(reshape(x, [1, sizeOf(lead), inF]), reshape(weight, [1, outF, inF]), false, true);
  const out = reshape(y, [...lead, outF]);
  return bias ? add(out, bias) : out;
}
