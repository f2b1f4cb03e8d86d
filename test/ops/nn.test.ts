/**
 * nn ops: float64 gradchecks, module-level fixtures and bad-input errors (their PyTorch fixtures,
 * test/reference/ops_nn.py, run on every backend in test/ops/<family>.test.ts): batchNorm2d (and the BatchNorm2d module's running statistics),
 * maxPool2d, avgPool2d, adaptiveAvgPool2d, interpolate, gridSample, layerNorm, groupNorm,
 * cosineSimilarity, normalize, mseLoss, l1Loss, jointsMseLoss, crossEntropy.
 */
import { describe, expect, it } from 'vitest';
import * as P from '../../index.js';
import type { Tensor } from '../../index.js';
import { BatchNorm2d } from '../../models/nn/layers.js';
import { F32, F64, loadFixture, toTensor } from '../helpers/fixtures.js';
import { assertClose } from '../helpers/close.js';
import { gradcheck } from '../helpers/gradcheck.js';

const fx = loadFixture('ops', 'nn');

/** Cases checked in this file (module-level fixtures); the others run per family on every backend. */
const r = (shape: number[], seed: number, lo = -1, hi = 1): Tensor => {
  P.manualSeed(seed);
  return P.add(P.mul(P.rand(shape, { dtype: 'float64' }), hi - lo), lo);
};

describe('batchNorm2d', () => {
  it('gradcheck in training and eval mode, affine and not', () => {
    const rm = r([3], 3);
    const rv = r([3], 4, 0.5, 2);
    gradcheck((x, w, b) => P.batchNorm2d(x, null, null, w, b, { training: true }), [r([2, 3, 2, 3], 1), r([3], 2, 0.5, 1.5), r([3], 5)]);
    gradcheck((x) => P.batchNorm2d(x, null, null, null, null, { training: true, eps: 1e-3 }), [r([4, 3], 6)]);
    gradcheck((x, w, b) => P.batchNorm2d(x, rm, rv, w, b, { training: false }), [r([2, 3, 2, 2], 7), r([3], 8), r([3], 9)]);
    gradcheck((x) => P.batchNorm2d(x, rm, rv, null, null, { training: false }), [r([2, 3, 3], 10)]);
  });

  it('bias without weight gets its gradient', () => {
    const x = r([2, 3, 2, 2], 11);
    const b = r([3], 12).requiresGrad_();
    const y = P.batchNorm2d(x, null, null, null, b, { training: true });
    P.sum(P.mul(y, r([2, 3, 2, 2], 13))).backward();
    const g = r([2, 3, 2, 2], 13);
    assertClose(b.grad!.dataSync(), P.sum(g, [0, 2, 3]).dataSync(), F64);
  });

  it('increments numBatchesTracked and uses the cumulative average when momentum is null', () => {
    const c = fx.casesOf('batchNormModule').find((k) => k.name.endsWith('cumulative'))!;
    const get = (k: string): Tensor => toTensor(fx.get(`${c.name}/${k}`), 'float64');
    const rm = P.zeros([3], { dtype: 'float64' });
    const rv = P.ones([3], { dtype: 'float64' });
    const nbt = P.zeros([], { dtype: 'int32' });
    for (const x of [get('x1'), get('x2')]) P.batchNorm2d(x, rm, rv, null, null, { training: true, momentum: null, numBatchesTracked: nbt });
    expect(nbt.item()).toBe(2);
    assertClose(rm.dataSync(), fx.get(`${c.name}/out1`).data, F64, 'running_mean');
    assertClose(rv.dataSync(), fx.get(`${c.name}/out2`).data, F64, 'running_var');
  });

  it('does not change the running statistics in eval mode, nor leak tensors', () => {
    const rm = r([3], 14);
    const rv = r([3], 15, 0.5, 2);
    const before = [...rm.dataSync()];
    const n0 = P.memory().numTensors;
    P.tidy(() => {
      P.batchNorm2d(r([2, 3, 2, 2], 16), rm, rv, null, null, { training: false });
    });
    P.tidy(() => {
      const x = r([2, 3, 2, 2], 16).requiresGrad_();
      P.sum(P.batchNorm2d(x, rm, rv, null, null, { training: false })).backward();
    });
    expect(P.memory().numTensors).toBe(n0);
    expect([...rm.dataSync()]).toEqual(before);
  });

  it('rejects bad input', () => {
    const x = r([2, 3, 2, 2], 17);
    expect(() => P.batchNorm2d(r([3], 1), null, null, null, null, { training: true })).toThrow('batchNorm2d: expected input of rank ≥ 2 [N, C, ...], got shape [3]');
    expect(() => P.batchNorm2d(x, null, null, r([4], 1), null, { training: true })).toThrow('batchNorm2d: expected weight of shape [3] (C of input [2, 3, 2, 2]), got [4]');
    expect(() => P.batchNorm2d(x, null, null, null, null, { training: false })).toThrow('batchNorm2d: expected runningMean and runningVar in eval mode (training: false), got null');
    expect(() => P.batchNorm2d(r([1, 3], 1), null, null, null, null, { training: true })).toThrow('batchNorm2d: expected more than 1 value per channel when training, got input [1, 3]');
    expect(() => P.batchNorm2d(x, P.zeros([3]), P.ones([3]), null, null, { training: true })).toThrow('batchNorm2d: expected tensors of one dtype, got float64 and float32');
    expect(() => P.batchNorm2d(x, r([3], 1), null, null, null, { training: true })).toThrow('batchNorm2d: expected both runningMean and runningVar, or neither, got runningMean only');
    expect(() => P.batchNorm2d(x, null, null, null, null, { training: true, momentum: 2 })).toThrow('batchNorm2d: expected momentum in [0, 1] or null, got 2');
    const d = r([3], 1);
    d.dispose();
    expect(() => P.batchNorm2d(x, null, null, d, null, { training: true })).toThrow(/batchNorm2d: expected weight to be a live tensor, got tensor #\d+ float64\[3\], which was disposed/);
  });
});

describe('BatchNorm2d module matches torch.nn.BatchNorm2d after training steps', () => {
  const c = fx.casesOf('batchNormModule').find((k) => k.name.endsWith('m01'))!;
  const run = (dtype: 'float64' | 'float32'): { m: BatchNorm2d; y: Tensor } => {
    const get = (k: string): Tensor => toTensor(fx.get(`${c.name}/${k}`), dtype);
    const m = new BatchNorm2d(3);
    if (dtype === 'float64') m.toDtype('float64');
    m.loadStateDict({ weight: get('w'), bias: get('b'), running_mean: P.zeros([3], { dtype }), running_var: P.ones([3], { dtype }), num_batches_tracked: P.zeros([], { dtype: 'int32' }) });
    m.train();
    m.forward(get('x1'));
    m.forward(get('x2'));
    m.eval();
    return { m, y: m.forward(get('x3')) };
  };
  for (const dtype of ['float64', 'float32'] as const) {
    it(`running_mean, running_var and the eval output (${dtype})`, () => {
      const tol = dtype === 'float64' ? F64 : F32;
      const { m, y } = run(dtype);
      assertClose(m.runningMean!.dataSync(), fx.get(`${c.name}/out1`).data, tol, 'running_mean');
      assertClose(m.runningVar!.dataSync(), fx.get(`${c.name}/out2`).data, tol, 'running_var');
      assertClose(y.dataSync(), fx.get(`${c.name}/out`).data, tol, 'eval output');
    });
  }
  it('num_batches_tracked (fails until models/nn/layers.ts BatchNorm2d.forward passes numBatchesTracked: this.numBatchesTracked to batchNorm2d)', () => {
    const { m } = run('float64');
    expect(m.numBatchesTracked!.item()).toBe(fx.get(`${c.name}/out3`).data[0]);
  });
});

describe('pooling', () => {
  it('poolOutSize follows PyTorch, including the ceilMode correction', () => {
    expect(P.poolOutSize(6, 3, 2, 0, 1, false)).toBe(2);
    expect(P.poolOutSize(6, 3, 2, 0, 1, true)).toBe(3);
    // ceil gives 4 windows, but the 4th would start at 6 = in + pad: dropped
    expect(P.poolOutSize(5, 2, 2, 1, 1, true)).toBe(3);
    expect(P.poolOutSize(8, 2, 2, 1, 3, true)).toBe(4);
  });

  it('gradcheck', () => {
    // distinct values: no ties inside a max window
    const distinct = (shape: number[], seed: number): Tensor => {
      const n = shape.reduce((a, b) => a * b, 1);
      P.manualSeed(seed);
      const keys = P.rand([n], { dtype: 'float64' }).dataSync();
      const order = [...keys.keys()].sort((a, b) => keys[a]! - keys[b]!);
      const v = new Float64Array(n);
      order.forEach((j, rank) => (v[j] = (rank / n) * 2 - 1));
      return P.tensor(v, { shape });
    };
    gradcheck((x) => [P.maxPool2d(x, 3, { stride: 2, padding: 1, ceilMode: true }), P.maxPool2d(x, [2, 3], { stride: 1, dilation: [2, 1] })], [distinct([2, 2, 6, 7], 1)]);
    gradcheck((x) => [
      P.avgPool2d(x, 3, { stride: 2, padding: 1, ceilMode: true }),
      P.avgPool2d(x, 3, { stride: 2, padding: 1, countIncludePad: false }),
      P.avgPool2d(x, [2, 3], { stride: [1, 2], padding: [1, 1], divisorOverride: 5 }),
    ], [r([2, 2, 6, 7], 2)]);
    gradcheck((x) => [P.adaptiveAvgPool2d(x, [3, 4]), P.adaptiveAvgPool2d(x, 1), P.adaptiveAvgPool2d(x, [8, null])], [r([1, 2, 5, 7], 3)]);
  });

  it('returnIndices gives plane offsets whose values are the maxima', () => {
    const x = r([2, 3, 5, 6], 4);
    const [y, idx] = P.maxPool2d(x, 2, { returnIndices: true });
    expect(idx.dtype).toBe('int32');
    expect(y.shape).toEqual([2, 3, 2, 3]);
    const picked = P.gather(P.reshape(x, [2, 3, 30]), 2, P.reshape(idx, [2, 3, 6]));
    assertClose(picked.dataSync(), y.dataSync(), F64);
  });

  it('rejects bad input', () => {
    const x = r([1, 2, 5, 5], 5);
    expect(() => P.maxPool2d(r([5, 5], 1), 2)).toThrow('maxPool2d: expected input of rank 4 [N, C, H, W] or 3 [C, H, W], got shape [5, 5]');
    expect(() => P.maxPool2d(x, 2, { padding: 2 })).toThrow('maxPool2d: expected padding at most half the kernel size [2, 2], got [2, 2]');
    expect(() => P.maxPool2d(x, 0)).toThrow('maxPool2d: expected kernelSize as an integer ≥ 1, got 0');
    expect(() => P.maxPool2d(x, 2, { stride: [1, 0] })).toThrow('maxPool2d: expected stride as an integer ≥ 1, got 0');
    expect(() => P.maxPool2d(x, 6)).toThrow('maxPool2d: expected an output of at least 1x1, got 0x0 for input [1, 2, 5, 5], kernel [6, 6], stride [6, 6], padding [0, 0], dilation [1, 1]');
    expect(() => P.avgPool2d(x, 2, { divisorOverride: 0 })).toThrow('avgPool2d: expected divisorOverride as a non-zero integer, got 0');
    expect(() => P.avgPool2d(P.zeros([1, 1, 4, 4], { dtype: 'int32' }), 2)).toThrow('avgPool2d: expected input of a float dtype (float32 or float64), got int32');
    expect(() => P.adaptiveAvgPool2d(x, 0)).toThrow('adaptiveAvgPool2d: expected outputSize as an integer ≥ 1, got 0');
    expect(() => P.adaptiveAvgPool2d(x, [2, 2, 2] as unknown as [number, number])).toThrow('adaptiveAvgPool2d: expected outputSize as a number or a pair, got 2,2,2');
  });
});

describe('interpolate and gridSample', () => {
  it('gradcheck interpolate', () => {
    gradcheck((x) => [
      P.interpolate(x, { size: [5, 7], mode: 'bilinear' }),
      P.interpolate(x, { size: [2, 5], mode: 'bilinear', alignCorners: true }),
      P.interpolate(x, { scaleFactor: 1.7, mode: 'bilinear' }),
      P.interpolate(x, { size: [7, 4] }),
      P.interpolate(x, { scaleFactor: 2 }),
    ], [r([1, 2, 3, 4], 20)]);
  });

  it('gradcheck gridSample for input and grid, every mode and padding', () => {
    for (const paddingMode of ['zeros', 'border', 'reflection'] as const) {
      for (const alignCorners of [false, true]) {
        // random points in ±1.2: none on an integer pixel position or a clipping border
        gradcheck((x, grid) => P.gridSample(x, grid, { paddingMode, alignCorners }), [r([1, 2, 3, 4], 21), r([1, 2, 3, 2], 22, -1.2, 1.2)]);
        gradcheck((x, grid) => P.gridSample(x, grid, { mode: 'nearest', paddingMode, alignCorners }), [r([1, 2, 3, 4], 23), r([1, 2, 3, 2], 24, -1.2, 1.2)]);
      }
    }
  });

  it('nearest gridSample has a zero grid gradient; bilinear a non-zero one', () => {
    const x = r([1, 2, 3, 4], 25);
    for (const mode of ['nearest', 'bilinear'] as const) {
      const grid = r([1, 2, 2, 2], 26, -0.9, 0.9).requiresGrad_();
      P.sum(P.gridSample(x, grid, { mode })).backward();
      const g = [...grid.grad!.dataSync()];
      if (mode === 'nearest') expect(g.every((v) => v === 0)).toBe(true);
      else expect(g.some((v) => Math.abs(v) > 1e-3)).toBe(true);
    }
  });

  it('gridSample with an identity grid (alignCorners) reproduces the input', () => {
    const x = r([1, 2, 3, 4], 27);
    const ys = [-1, 0, 1];
    const xs = [-1, -1 / 3, 1 / 3, 1];
    const grid = P.tensor(ys.flatMap((y) => xs.flatMap((xv) => [xv, y])), { dtype: 'float64', shape: [1, 3, 4, 2] });
    assertClose(P.gridSample(x, grid, { alignCorners: true }).dataSync(), x.dataSync(), F64);
  });

  it('rejects bad input', () => {
    const x = r([2, 3, 4, 5], 28);
    expect(() => P.interpolate(r([3, 4, 5], 1), { size: 2 })).toThrow('interpolate: expected input of rank 4 [N, C, H, W], got shape [3, 4, 5]');
    expect(() => P.interpolate(x, {})).toThrow('interpolate: expected exactly one of size and scaleFactor, got neither');
    expect(() => P.interpolate(x, { size: 2, scaleFactor: 2 })).toThrow('interpolate: expected exactly one of size and scaleFactor, got both');
    expect(() => P.interpolate(x, { size: 2, alignCorners: true })).toThrow("interpolate: expected alignCorners only with mode 'bilinear', got alignCorners true with mode 'nearest'");
    expect(() => P.interpolate(x, { size: 2, mode: 'bicubic' as 'bilinear' })).toThrow("interpolate: expected mode 'nearest' or 'bilinear', got bicubic");
    expect(() => P.interpolate(x, { scaleFactor: 0.1 })).toThrow('interpolate: expected an output of at least 1x1, got 0x0 from input [2, 3, 4, 5] and scaleFactor [0.1, 0.1]');
    expect(() => P.interpolate(x, { scaleFactor: -2 })).toThrow('interpolate: expected a positive finite scaleFactor, got -2');
    expect(() => P.interpolate(x, { size: [0, 3] })).toThrow('interpolate: expected size as an integer ≥ 1, got 0');
    const grid = r([2, 3, 3, 2], 2);
    expect(() => P.gridSample(x, r([2, 3, 3, 3], 1))).toThrow('gridSample: expected grid of shape [N, Ho, Wo, 2] (last dim 2: x, y), got shape [2, 3, 3, 3]');
    expect(() => P.gridSample(x, r([1, 3, 3, 2], 1))).toThrow('gridSample: expected grid with batch size 2 (input [2, 3, 4, 5]), got shape [1, 3, 3, 2]');
    expect(() => P.gridSample(x, r([2, 9, 2], 1))).toThrow('gridSample: expected grid of rank 4 [N, Ho, Wo, 2], got shape [2, 9, 2]');
    expect(() => P.gridSample(r([3, 4, 5], 1), grid)).toThrow('gridSample: expected input of rank 4 [N, C, H, W], got shape [3, 4, 5]');
    expect(() => P.gridSample(x, P.zeros([2, 3, 3, 2]))).toThrow('gridSample: expected tensors of one dtype, got float64 and float32');
    expect(() => P.gridSample(x, grid, { mode: 'bicubic' as 'nearest' })).toThrow("gridSample: expected mode 'bilinear' or 'nearest', got bicubic");
    expect(() => P.gridSample(x, grid, { paddingMode: 'wrap' as 'zeros' })).toThrow("gridSample: expected paddingMode 'zeros', 'border' or 'reflection', got wrap");
  });
});

describe('layerNorm, groupNorm, cosineSimilarity, normalize', () => {
  it('gradcheck', () => {
    gradcheck((x, w, b) => P.layerNorm(x, [3, 4], w, b), [r([2, 3, 4], 30), r([3, 4], 31), r([3, 4], 32)]);
    gradcheck((x, b) => [P.layerNorm(x, 4), P.layerNorm(x, 4, null, b, 1e-3)], [r([3, 4], 33), r([4], 34)]);
    gradcheck((x, w, b) => [P.groupNorm(x, 2, w, b), P.groupNorm(x, 4), P.groupNorm(x, 1, w)], [r([2, 4, 2, 3], 35), r([4], 36), r([4], 37)]);
    gradcheck((a, b) => [P.cosineSimilarity(a, b), P.cosineSimilarity(a, b, -1)], [r([2, 3, 4], 38), r([3, 1], 39)]);
    gradcheck((x) => [P.normalize(x), P.normalize(x, { dim: 0 })], [r([3, 4], 40)]);
  });

  it('normalize keeps a zero vector at zero with a finite gradient', () => {
    const x = P.zeros([2, 3], { dtype: 'float64' }).requiresGrad_();
    const y = P.normalize(x);
    expect([...y.dataSync()]).toEqual([0, 0, 0, 0, 0, 0]);
    P.sum(y).backward();
    expect([...x.grad!.dataSync()].every((v) => Number.isFinite(v))).toBe(true);
  });

  it('rejects bad input', () => {
    const x = r([2, 4, 3], 41);
    expect(() => P.layerNorm(x, [4])).toThrow('layerNorm: expected input whose trailing dims are normalizedShape [4], got shape [2, 4, 3]');
    expect(() => P.layerNorm(x, 3, r([4], 1))).toThrow('layerNorm: expected weight of shape [3], got [4]');
    expect(() => P.layerNorm(x, [])).toThrow('layerNorm: expected normalizedShape as one or more positive integers, got []');
    expect(() => P.layerNorm(x, 3, P.ones([3]))).toThrow('layerNorm: expected tensors of one dtype, got float64 and float32');
    expect(() => P.groupNorm(x, 3)).toThrow('groupNorm: expected a channel count divisible by numGroups=3, got C=4 (input [2, 4, 3])');
    expect(() => P.groupNorm(x, 2, r([3], 1))).toThrow('groupNorm: expected weight of shape [4], got [3]');
    expect(() => P.groupNorm(r([4], 1), 2)).toThrow('groupNorm: expected input of rank ≥ 2 [N, C, ...], got shape [4]');
    expect(() => P.cosineSimilarity(x, r([2, 5, 3], 1))).toThrow('cosineSimilarity: expected shapes that broadcast together, got [2, 4, 3] and [2, 5, 3]');
    expect(() => P.cosineSimilarity(x, x, 3)).toThrow('cosineSimilarity: expected an integer dim in [-3, 2], got 3');
    expect(() => P.normalize(x, { p: 1 })).toThrow('normalize: expected p = 2 (the only norm implemented), got 1');
  });
});

describe('losses', () => {
  it('gradcheck', () => {
    gradcheck((a, b) => [P.mseLoss(a, b), P.mseLoss(a, b, { reduction: 'sum' }), P.mseLoss(a, b, { reduction: 'none' })], [r([3, 4], 50), r([3, 4], 51)]);
    const a = r([3, 4], 52);
    gradcheck((x) => [P.l1Loss(x, P.add(a, 0.05)), P.l1Loss(x, P.add(a, 0.05), { reduction: 'sum' })], [P.sub(a, 0.3)]);
    gradcheck((pr, gt, w) => [P.jointsMseLoss(pr, gt, w), P.jointsMseLoss(pr, gt, P.reshape(w, [2, 3])), P.jointsMseLoss(pr, gt, null, { useTargetWeight: false })], [r([2, 3, 3, 2], 53), r([2, 3, 3, 2], 54), r([2, 3, 1], 55, 0, 1)]);
    const idx = P.tensor([1, -100, 0, 2], { dtype: 'int32' });
    gradcheck((x, w) => [
      P.crossEntropy(x, idx),
      P.crossEntropy(x, idx, { weight: w, labelSmoothing: 0.2 }),
      P.crossEntropy(x, idx, { reduction: 'none', labelSmoothing: 0.1 }),
    ], [r([4, 3], 56, -2, 2), r([3], 57, 0.5, 2)], { wrt: [0] });
    gradcheck((x, p) => [P.crossEntropy(x, p), P.crossEntropy(x, p, { labelSmoothing: 0.3, reduction: 'sum' })], [r([2, 3, 2], 58, -2, 2), P.softmax(r([2, 3, 2], 59), 1)]);
  });

  it('jointsMseLoss accepts [B, K] weights and a zero weight removes a joint', () => {
    const pred = r([2, 3, 4, 4], 60);
    const gt = r([2, 3, 4, 4], 61);
    const w = P.tensor([[1, 1, 0], [1, 0.5, 1]], { dtype: 'float64' });
    const a = P.jointsMseLoss(pred, gt, w).item();
    const b = P.jointsMseLoss(pred, gt, P.reshape(w, [2, 3, 1])).item();
    expect(a).toBe(b);
    // a perturbation of (sample 0, joint 2), whose weight is 0, leaves the loss unchanged;
    // the same perturbation of (sample 0, joint 0) changes it
    const bump = (joint: number): Tensor => {
      const d = new Float64Array(2 * 3 * 16);
      d.fill(3, joint * 16, joint * 16 + 16);
      return P.add(pred, P.tensor(d, { shape: [2, 3, 4, 4] }));
    };
    expect(P.jointsMseLoss(bump(2), gt, w).item()).toBe(a);
    expect(P.jointsMseLoss(bump(0), gt, w).item()).not.toBe(a);
  });

  it('crossEntropy mean over all-ignored targets is 0, not NaN', () => {
    const x = r([2, 3], 62).requiresGrad_();
    const loss = P.crossEntropy(x, P.tensor([-100, -100], { dtype: 'int32' }));
    expect(loss.item()).toBe(0);
    loss.backward();
    expect([...x.grad!.dataSync()].every((v) => v === 0)).toBe(true);
  });

  it('rejects bad input', () => {
    const a = r([3, 4], 63);
    expect(() => P.mseLoss(a, r([4, 3], 1))).toThrow("mseLoss: expected target of the input's shape [3, 4], got [4, 3]");
    expect(() => P.mseLoss(a, a, { reduction: 'avg' as 'mean' })).toThrow("mseLoss: expected reduction 'mean', 'sum' or 'none', got avg");
    expect(() => P.l1Loss(a, P.zeros([3, 4]))).toThrow('l1Loss: expected tensors of one dtype, got float64 and float32');
    const hm = r([2, 3, 4, 4], 2);
    expect(() => P.jointsMseLoss(hm, hm, r([2, 4, 1], 1))).toThrow('jointsMseLoss: expected targetWeight of shape [2, 3, 1] or [2, 3], got [2, 4, 1]');
    expect(() => P.jointsMseLoss(hm, hm, null)).toThrow('jointsMseLoss: expected targetWeight [B, K, 1] or [B, K] when useTargetWeight, got null');
    const x = r([4, 3], 3);
    expect(() => P.crossEntropy(x, P.tensor([0, 1, 3, 1], { dtype: 'int32' }))).toThrow('crossEntropy: expected class indices in [0, 2] or ignoreIndex -100, got 3');
    expect(() => P.crossEntropy(x, P.tensor([0, 1, 2], { dtype: 'int32' }))).toThrow('crossEntropy: expected int32 class indices of shape [4] (or float probabilities of shape [4, 3]), got [3]');
    expect(() => P.crossEntropy(x, r([4, 2], 1))).toThrow("crossEntropy: expected float target probabilities of the input's shape [4, 3] (or int32 class indices), got [4, 2]");
    expect(() => P.crossEntropy(x, P.tensor([0, 1, 2, 1], { dtype: 'int32' }), { weight: r([4], 1) })).toThrow('crossEntropy: expected weight of shape [3], got [4]');
    expect(() => P.crossEntropy(x, P.tensor([0, 1, 2, 1], { dtype: 'int32' }), { labelSmoothing: 1.5 })).toThrow('crossEntropy: expected labelSmoothing in [0, 1], got 1.5');
  });
});

describe('memory', () => {
  it('a forward/backward step through every op leaks no tensor', () => {
    const n0 = P.memory().numTensors;
    P.tidy(() => {
      const x = r([2, 4, 6, 5], 70).requiresGrad_();
      const w = r([4], 71).requiresGrad_();
      const grid = r([2, 3, 3, 2], 72, -1.1, 1.1).requiresGrad_();
      const rm = P.zeros([4], { dtype: 'float64' });
      const rv = P.ones([4], { dtype: 'float64' });
      const bn = P.batchNorm2d(x, rm, rv, w, null, { training: true });
      const [mp] = P.maxPool2d(bn, 2, { returnIndices: true });
      const terms = [
        P.sum(mp),
        P.sum(P.avgPool2d(x, 3, { padding: 1, divisorOverride: 7 })),
        P.sum(P.adaptiveAvgPool2d(x, 3)),
        P.sum(P.interpolate(x, { scaleFactor: 1.5, mode: 'bilinear' })),
        P.sum(P.gridSample(x, grid, { paddingMode: 'reflection' })),
        P.sum(P.layerNorm(x, [6, 5], null, null)),
        P.sum(P.groupNorm(x, 2, w, w)),
        P.sum(P.cosineSimilarity(x, x)),
        P.sum(P.normalize(x)),
        P.mseLoss(x, P.zerosLike(x)),
        P.crossEntropy(P.reshape(x, [2, 4, 30]), P.zeros([2, 30], { dtype: 'int32' }), { labelSmoothing: 0.1 }),
        P.sum(P.dropout(x, 0.3)),
      ];
      terms.reduce((a, b) => P.add(a, b)).backward();
      rm.dispose();
      rv.dispose();
    });
    expect(P.memory().numTensors).toBe(n0);
  });
});
