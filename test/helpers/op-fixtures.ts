/**
 * The PyTorch fixture cases of test/fixtures/ops/{core,nn}.safetensors (written by
 * test/reference/ops_core.py and ops_nn.py), mapped to posegrad calls and to the op family (the
 * ops/<family>.ts file) whose test runs them on every backend (test/ops/<family>.test.ts).
 */
import * as P from '../../index.js';
import type { Tensor } from '../../index.js';
import type { Tol } from './close.js';
import { F32, F64, type Fixture, type FixtureCase } from './fixtures.js';

export type FixtureFn = (x: Record<string, Tensor>, p: Record<string, any>) => Tensor | Tensor[];

const unary = (f: (x: Tensor) => Tensor): FixtureFn => ({ x }) => f(x!);
const bin = (f: (a: Tensor, b: Tensor) => Tensor): FixtureFn => ({ a, b }) => f(a!, b!);
const red = (f: (x: Tensor, dim?: number | number[], keep?: boolean) => Tensor): FixtureFn => ({ x }, p) => f(x!, p.dim ?? undefined, p.keepdim);

/** op name (the fixture case prefix) → [family, call]. */
export const FIXTURE_OPS: Record<string, [string, FixtureFn]> = {
  // ops/elementwise.ts
  neg: ['elementwise', unary(P.neg)], exp: ['elementwise', unary(P.exp)], log: ['elementwise', unary(P.log)], sqrt: ['elementwise', unary(P.sqrt)],
  rsqrt: ['elementwise', unary(P.rsqrt)], abs: ['elementwise', unary(P.abs)], relu: ['elementwise', unary(P.relu)], sigmoid: ['elementwise', unary(P.sigmoid)],
  tanh: ['elementwise', unary(P.tanh)], erf: ['elementwise', unary(P.erf)], gelu: ['elementwise', unary((x) => P.gelu(x))],
  geluTanh: ['elementwise', unary((x) => P.gelu(x, { approximate: 'tanh' }))], leakyRelu: ['elementwise', unary((x) => P.leakyRelu(x, 0.1))],
  elu: ['elementwise', unary((x) => P.elu(x, 1))], silu: ['elementwise', unary(P.silu)], square: ['elementwise', unary(P.square)],
  reciprocal: ['elementwise', unary(P.reciprocal)], sin: ['elementwise', unary(P.sin)], cos: ['elementwise', unary(P.cos)],
  clamp: ['elementwise', unary((x) => P.clamp(x, -0.5, 0.7))], powScalar: ['elementwise', unary((x) => P.pow(x, 2.5))],
  add: ['elementwise', bin(P.add)], sub: ['elementwise', bin(P.sub)], mul: ['elementwise', bin(P.mul)], div: ['elementwise', bin(P.div)],
  maximum: ['elementwise', bin(P.maximum)], minimum: ['elementwise', bin(P.minimum)], pow: ['elementwise', bin(P.pow)],
  where: ['elementwise', ({ cond, a, b }) => P.where(P.gt(cond!, 0), a!, b!)],
  maskedFill: ['elementwise', ({ x, m }) => P.maskedFill(x!, P.gt(m!, 0), -2.5)],
  // ops/reduce.ts
  sum: ['reduce', red(P.sum)], mean: ['reduce', red(P.mean)], max: ['reduce', red(P.max)], min: ['reduce', red(P.min)], prod: ['reduce', red(P.prod)],
  logSumExp: ['reduce', ({ x }, p) => P.logSumExp(x!, p.dim ?? undefined, p.keepdim)],
  var: ['reduce', red((x, d, k) => P.variance(x, d, k))], std: ['reduce', red((x, d, k) => P.std(x, d, k))],
  argmax: ['reduce', ({ x }, p) => P.argmax(x!, p.dim ?? undefined, p.keepdim)], argmin: ['reduce', ({ x }, p) => P.argmin(x!, p.dim ?? undefined, p.keepdim)],
  cumsum: ['reduce', ({ x }, p) => P.cumsum(x!, p.dim)],
  // ops/matmul.ts
  matmul: ['matmul', bin(P.matmul)], bmm: ['matmul', bin(P.bmm)], linear: ['matmul', ({ x, w, b }) => P.linear(x!, w!, b ?? null)],
  // ops/shape.ts
  reshape: ['shape', ({ x }, p) => P.reshape(x!, p.shape)], permute: ['shape', ({ x }, p) => P.permute(x!, p.perm)],
  transpose: ['shape', ({ x }, p) => P.transpose(x!, p.dim0, p.dim1)], slice: ['shape', ({ x }, p) => P.slice(x!, p.dim, p.start, p.end, p.step)],
  concat: ['shape', ({ a, b }, p) => P.concat([a!, b!], p.dim)], stack: ['shape', ({ a, b }, p) => P.stack([a!, b!], p.dim)],
  split: ['shape', ({ x }, p) => P.split(x!, p.sizes, p.dim)], expand: ['shape', ({ x }, p) => P.expand(x!, p.shape)], repeat: ['shape', ({ x }, p) => P.repeat(x!, p.repeats)],
  pad: ['shape', ({ x }, p) => P.pad(x!, p.pad, p.value)], flip: ['shape', ({ x }, p) => P.flip(x!, p.dims)],
  gather: ['shape', ({ x, index }, p) => P.gather(x!, p.dim, index!)], indexSelect: ['shape', ({ x, index }, p) => P.indexSelect(x!, p.dim, index!)],
  topk: ['shape', ({ x }, p) => { const r = P.topk(x!, p.k, p.dim, p.largest); return [r.values, r.indices]; }],
  sort: ['shape', ({ x }, p) => { const r = P.sort(x!, p.dim, p.descending); return [r.values, r.indices]; }],
  // ops/softmax.ts
  softmax: ['softmax', ({ x }, p) => P.softmax(x!, p.dim)], logSoftmax: ['softmax', ({ x }, p) => P.logSoftmax(x!, p.dim)],
  // ops/conv.ts
  conv2d: ['conv', ({ x, w, b }, p) => P.conv2d(x!, w!, b ?? null, p)],
  convTranspose2d: ['conv', ({ x, w, b }, p) => P.convTranspose2d(x!, w!, b ?? null, { stride: p.stride, padding: p.padding, outputPadding: p.output_padding, groups: p.groups, dilation: p.dilation })],
  // ops/normalization.ts
  batchNorm2d: ['normalization', ({ x, rm, rv, w, b }, p) => {
    const y = P.batchNorm2d(x!, rm ?? null, rv ?? null, w ?? null, b ?? null, { training: p.training, momentum: p.momentum, eps: p.eps });
    return rm ? [y, rm, rv!] : y;
  }],
  layerNorm: ['normalization', ({ x, w, b }, p) => P.layerNorm(x!, p.normalizedShape, w ?? null, b ?? null, p.eps)],
  groupNorm: ['normalization', ({ x, w, b }, p) => P.groupNorm(x!, p.numGroups, w ?? null, b ?? null)],
  cosineSimilarity: ['normalization', ({ a, b }, p) => P.cosineSimilarity(a!, b!, p.dim)],
  normalize: ['normalization', ({ x }, p) => P.normalize(x!, { dim: p.dim })],
  // ops/pooling.ts
  maxPool2d: ['pooling', ({ x }, p) => P.maxPool2d(x!, p.kernelSize, { stride: p.stride, padding: p.padding, dilation: p.dilation, ceilMode: p.ceilMode, returnIndices: p.returnIndices ?? false })],
  avgPool2d: ['pooling', ({ x }, p) => P.avgPool2d(x!, p.kernelSize, { stride: p.stride, padding: p.padding, ceilMode: p.ceilMode, countIncludePad: p.countIncludePad, divisorOverride: p.divisorOverride })],
  adaptiveAvgPool2d: ['pooling', ({ x }, p) => P.adaptiveAvgPool2d(x!, p.outputSize)],
  // ops/resample.ts
  interpolate: ['resample', ({ x }, p) => P.interpolate(x!, { size: p.size ?? undefined, scaleFactor: p.scaleFactor ?? undefined, mode: p.mode, alignCorners: p.alignCorners ?? undefined, recomputeScaleFactor: p.recomputeScaleFactor ?? undefined })],
  gridSample: ['resample', ({ x, grid }, p) => P.gridSample(x!, grid!, { mode: p.mode, paddingMode: p.paddingMode, alignCorners: p.alignCorners })],
  // ops/loss.ts
  mseLoss: ['loss', ({ input, target }, p) => P.mseLoss(input!, target!, { reduction: p.reduction })],
  l1Loss: ['loss', ({ input, target }, p) => P.l1Loss(input!, target!, { reduction: p.reduction })],
  jointsMseLoss: ['loss', ({ pred, target, tw }, p) => P.jointsMseLoss(pred!, target!, tw!, { useTargetWeight: p.useTargetWeight })],
  crossEntropy: ['loss', ({ x, t, w }, p) => P.crossEntropy(x!, t!, { reduction: p.reduction, labelSmoothing: p.labelSmoothing, ignoreIndex: p.ignoreIndex, weight: w ?? null })],
};

/** Fixture cases checked by dedicated tests rather than through FIXTURE_OPS. */
export const SPECIAL_FIXTURES = new Set(['batchNormModule']);

/** The fixture's ops of `family`, each with its call and its cases. */
export function fixtureOps(fx: Fixture, family: string): [string, FixtureFn, FixtureCase[]][] {
  const byOp = new Map<string, FixtureCase[]>();
  for (const c of fx.cases) {
    const op = c.name.split('/')[0]!;
    if (SPECIAL_FIXTURES.has(op)) continue;
    const entry = FIXTURE_OPS[op];
    if (!entry) throw new Error(`fixture: no posegrad op mapped for '${op}' (add it to test/helpers/op-fixtures.ts)`);
    if (entry[0] !== family) continue;
    if (!byOp.has(op)) byOp.set(op, []);
    byOp.get(op)!.push(c);
  }
  return [...byOp].map(([op, cs]) => [op, FIXTURE_OPS[op]![1], cs]);
}

/**
 * Tolerance of a fixture case: float64 tight; float32 (any backend) F32, or scaled for logits in
 * the thousands (cases named '…/big', whose float32 inputs are only known to ~2e-4 absolute).
 */
export function fixtureTol(c: FixtureCase): { f64: Tol; f32: Tol; bwd32?: Tol } {
  if (c.name.endsWith('/big')) return { f64: F64, f32: { atol: 5e-3, rtol: 1e-4 } };
  return { f64: F64, f32: { atol: 5e-5, rtol: 5e-4 } };
}

export const FIXTURE_TOL = { f64: F64, f32: F32 };
