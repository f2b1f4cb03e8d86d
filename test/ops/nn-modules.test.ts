/**
 * The modules of models/nn/extra-layers.ts: PyTorch parameter names, shapes and defaults, train/eval
 * behaviour, and forward = the op they wrap (the ops themselves are checked against PyTorch in
 * nn.test.ts).
 */
import { describe, expect, it } from 'vitest';
import * as P from '../../index.js';
import type { Tensor } from '../../index.js';
import { AdaptiveAvgPool2d, AvgPool2d, Dropout, Dropout2d, GELU, GroupNorm, LayerNorm, MaxPool2d, Upsample } from '../../models/nn/extra-layers.js';
import { assertClose } from '../helpers/close.js';
import { F64 } from '../helpers/fixtures.js';
import { gradcheck } from '../helpers/gradcheck.js';

const r = (shape: number[], seed: number): Tensor => {
  P.manualSeed(seed);
  return P.randn(shape, { dtype: 'float64' });
};
const same = (a: Tensor, b: Tensor): void => {
  expect(a.shape).toEqual(b.shape);
  assertClose(a.dataSync(), b.dataSync(), F64);
};

describe('extra layers', () => {
  it('LayerNorm: weight/bias of normalizedShape (ones/zeros), forward = layerNorm', () => {
    const m = new LayerNorm([3, 4], 1e-6);
    expect([...m.stateDict().keys()]).toEqual(['weight', 'bias']);
    expect(m.weight!.shape).toEqual([3, 4]);
    expect([...m.weight!.dataSync()].every((v) => v === 1)).toBe(true);
    expect([...m.bias!.dataSync()].every((v) => v === 0)).toBe(true);
    m.toDtype('float64');
    m.weight!.assign(r([3, 4], 1));
    const x = r([2, 3, 4], 2);
    same(m.forward(x), P.layerNorm(x, [3, 4], m.weight, m.bias, 1e-6));
    expect(new LayerNorm(5, 1e-5, false).parameters()).toEqual([]);
    expect(() => new LayerNorm([0])).toThrow('LayerNorm: expected normalizedShape as one or more positive integers, got [0]');
  });

  it('LayerNorm trains: gradients reach weight and bias', () => {
    const m = new LayerNorm(4).toDtype('float64');
    gradcheck((x) => m.forward(x), [r([3, 4], 3)]);
    P.sum(P.mul(m.forward(r([3, 4], 4)), r([3, 4], 5))).backward();
    expect(m.weight!.grad).not.toBeNull();
    expect(m.bias!.grad).not.toBeNull();
  });

  it('GroupNorm: weight/bias [C], forward = groupNorm, bad groups throw', () => {
    const m = new GroupNorm(2, 6).toDtype('float64');
    expect([...m.stateDict().keys()]).toEqual(['weight', 'bias']);
    expect(m.weight!.shape).toEqual([6]);
    m.bias!.assign(r([6], 6));
    const x = r([2, 6, 3, 3], 7);
    same(m.forward(x), P.groupNorm(x, 2, m.weight, m.bias));
    expect(new GroupNorm(3, 6, 1e-5, false).parameters()).toEqual([]);
    expect(() => new GroupNorm(4, 6)).toThrow('GroupNorm: expected numChannels divisible by numGroups, got numChannels 6, numGroups 4');
  });

  it('Dropout and Dropout2d act in training mode only', () => {
    const x = P.ones([4, 8, 2, 2], { dtype: 'float64' });
    for (const m of [new Dropout(0.5), new Dropout2d(0.5)]) {
      P.manualSeed(9);
      const y = m.forward(x).dataSync();
      expect([...y].some((v) => v === 0)).toBe(true);
      m.eval();
      expect([...m.forward(x).dataSync()]).toEqual([...x.dataSync()]);
    }
    expect(() => new Dropout(2)).toThrow('Dropout: expected a dropout probability p in [0, 1], got 2');
  });

  it('pooling and upsampling modules forward to their ops', () => {
    const x = r([1, 2, 6, 5], 8);
    same(new MaxPool2d(3, { stride: 2, padding: 1, ceilMode: true }).forward(x), P.maxPool2d(x, 3, { stride: 2, padding: 1, ceilMode: true }));
    same(new AvgPool2d(2, { countIncludePad: false, padding: 1 }).forward(x), P.avgPool2d(x, 2, { countIncludePad: false, padding: 1 }));
    same(new AdaptiveAvgPool2d([2, null]).forward(x), P.adaptiveAvgPool2d(x, [2, 5]));
    same(new Upsample({ scaleFactor: 2, mode: 'bilinear', alignCorners: true }).forward(x), P.interpolate(x, { scaleFactor: 2, mode: 'bilinear', alignCorners: true }));
    expect(new MaxPool2d(2).parameters()).toEqual([]);
  });

  it('GELU: erf by default, tanh on request', () => {
    const x = r([3, 4], 10);
    same(new GELU().forward(x), P.gelu(x));
    same(new GELU('tanh').forward(x), P.gelu(x, { approximate: 'tanh' }));
    expect(() => new GELU('fast' as 'tanh')).toThrow("GELU: expected approximate 'none' or 'tanh', got fast");
  });
});
