/**
 * float64 gradchecks (central differences) of the core ops. Their PyTorch fixtures
 * (test/reference/ops_core.py) run on every backend in the family files (test/ops/<family>.test.ts,
 * through test/helpers/op-fixtures.ts).
 */
import { describe, it } from 'vitest';
import * as P from '../../index.js';
import type { Tensor } from '../../index.js';
import { gradcheck } from '../helpers/gradcheck.js';

describe('core ops gradcheck (float64, central differences)', () => {
  const r = (shape: number[], seed: number, lo = -1, hi = 1): Tensor => {
    P.manualSeed(seed);
    return P.add(P.mul(P.rand(shape, { dtype: 'float64' }), hi - lo), lo);
  };
  const off0 = (shape: number[], seed: number): Tensor => {
    // magnitudes in [0.2, 1.5] with random signs: no element on a kink at 0
    const x = r(shape, seed, 0.2, 1.5);
    return P.where(P.gt(r(shape, seed + 1), 0), x, P.neg(x));
  };
  const cases: [string, (...xs: Tensor[]) => Tensor | Tensor[], () => Tensor[]][] = [
    ['unary smooth', (x) => [P.exp(x), P.sigmoid(x), P.tanh(x), P.erf(x), P.gelu(x), P.gelu(x, { approximate: 'tanh' }), P.silu(x), P.square(x), P.sin(x), P.cos(x), P.neg(x)], () => [r([3, 4], 1)]],
    ['unary positive', (x) => [P.log(x), P.sqrt(x), P.rsqrt(x), P.pow(x, 2.5), P.reciprocal(x)], () => [r([3, 4], 2, 0.3, 2)]],
    ['unary kinked (away from kinks)', (x) => [P.abs(x), P.relu(x), P.leakyRelu(x, 0.2), P.elu(x), P.clamp(x, -0.1, 0.1)], () => [off0([3, 4], 3)]],
    ['add/sub/mul/div broadcast', (a, b) => [P.add(a, b), P.sub(a, b), P.mul(a, b), P.div(a, b)], () => [r([2, 3, 4], 4), r([3, 1], 5, 0.5, 2)]],
    ['pow tensor', (a, b) => P.pow(a, b), () => [r([2, 3], 6, 0.5, 2), r([3], 7)]],
    ['maximum/minimum', (a, b) => [P.maximum(a, b), P.minimum(a, b)], () => [r([2, 3], 8), r([3], 9)]],
    ['where', (a, b) => P.where(P.gt(a, 0), a, b), () => [off0([3, 4], 10), r([4], 11)]],
    ['sum/mean dims', (x) => [P.sum(x), P.sum(x, [0, 2], true), P.mean(x, 1), P.mean(x)], () => [r([2, 3, 4], 12)]],
    ['max/min', (x) => [P.max(x, 1), P.min(x, [0, 2]), P.max(x)], () => [r([2, 3, 4], 13)]],
    ['prod', (x) => P.prod(x, 1), () => [off0([2, 3, 2], 14)]],
    ['logSumExp/var/std', (x) => [P.logSumExp(x, 1), P.variance(x, [0, 1]), P.std(x, 2)], () => [r([2, 3, 4], 15)]],
    ['cumsum', (x) => [P.cumsum(x, 1), P.cumsum(x, 0)], () => [r([3, 4], 16)]],
    ['matmul broadcast', (a, b) => P.matmul(a, b), () => [r([2, 1, 3, 4], 17), r([5, 4, 2], 18)]],
    ['matmul vectors', (a, b) => [P.matmul(a, a), P.matmul(b, a), P.matmul(a, P.transpose(b, 0, 1)), P.matmul(b, P.reshape(a, [4, 1]))], () => [r([4], 19), r([3, 4], 20)]],
    ['bmm/linear', (a, b, w) => [P.bmm(a, b), P.linear(a, w)], () => [r([2, 3, 4], 21), r([2, 4, 3], 22), r([5, 4], 23)]],
    ['reshape/permute/transpose', (x) => [P.reshape(x, [6, 4]), P.permute(x, [2, 0, 1]), P.transpose(x, 0, 1), P.flatten(x, 1), P.squeeze(P.unsqueeze(x, 1))], () => [r([2, 3, 4], 24)]],
    ['slice/concat/stack/split', (a, b) => [P.slice(a, 2, 1, 4, 2), P.concat([a, b], 0), P.stack([a, a], 1), ...P.split(b, 2, 2), ...P.chunk(a, 2, 1)], () => [r([2, 3, 4], 25), r([1, 3, 4], 26)]],
    ['expand/repeat/pad/flip', (x) => [P.expand(x, [2, 3, 4]), P.repeat(x, [2, 1, 2]), P.pad(x, [1, 2, 2, -1]), P.flip(x, [0, 1])], () => [r([3, 1], 27)]],
    ['gather/indexSelect', (x) => [P.gather(x, 1, P.tensor([[0, 2, 2], [1, 0, 1]], { dtype: 'int32' })), P.indexSelect(x, 1, P.tensor([2, 2, 0], { dtype: 'int32' }))], () => [r([2, 3], 28)]],
    ['topk/sort values', (x) => [P.topk(x, 2, 1).values, P.sort(x, 0, true).values], () => [r([3, 5], 29)]],
    ['softmax/logSoftmax', (x) => [P.softmax(x, 1), P.logSoftmax(x, 0), P.softmax(x, -1)], () => [r([2, 5, 3], 30)]],
    ['conv2d stride/pad/dilation/groups', (x, w, b) => P.conv2d(x, w, b, { stride: [2, 1], padding: [2, 1], dilation: [2, 1], groups: 2 }), () => [r([2, 4, 6, 5], 31), r([4, 2, 3, 3], 32), r([4], 33)]],
    ['conv2d per-sample depthwise weight (graph tensor)', (x, w) => P.conv2d(x, P.mul(w, 2), null, { padding: 1, groups: 3 }), () => [r([1, 3, 5, 5], 34), r([3, 1, 3, 3], 35)]],
    ['convTranspose2d', (x, w, b) => P.convTranspose2d(x, w, b, { stride: 2, padding: 1, outputPadding: 1 }), () => [r([1, 2, 3, 3], 36), r([2, 3, 3, 3], 37), r([3], 38)]],
  ];
  for (const [name, fn, make] of cases) {
    it(name, () => {
      const inputs = make();
      gradcheck(fn, inputs);
    });
  }
});
