/** Engine behaviour: broadcasting, autograd bookkeeping, tidy/dispose/memory, RNG, errors. */
import { describe, expect, it } from 'vitest';
import * as P from '../../index.js';

describe('tensor basics', () => {
  it('creates tensors with shape, dtype and device', () => {
    const t = P.tensor([[1, 2], [3, 4]]);
    expect(t.shape).toEqual([2, 2]);
    expect(t.dtype).toBe('float32');
    expect(t.device).toBe('cpu');
    expect(P.tensor(new Float64Array([1, 2])).dtype).toBe('float64');
    expect(P.tensor([1, 2], { dtype: 'int32' }).dtype).toBe('int32');
    expect(P.zeros([2, 0, 3]).size).toBe(0);
    expect(P.arange(5).toArray()).toEqual([0, 1, 2, 3, 4]);
    expect(P.eye(2).toArray()).toEqual([[1, 0], [0, 1]]);
  });

  it('broadcasts as NumPy', () => {
    const a = P.reshape(P.arange(3), [3, 1]);
    const b = P.arange(4);
    const c = P.add(a, b);
    expect(c.shape).toEqual([3, 4]);
    expect(c.toArray()).toEqual([[0, 1, 2, 3], [1, 2, 3, 4], [2, 3, 4, 5]]);
    expect(P.mul(P.ones([2, 1, 3]), P.ones([4, 1])).shape).toEqual([2, 4, 3]);
    expect(P.add(P.ones([2, 3]), 1).toArray()).toEqual([[2, 2, 2], [2, 2, 2]]);
  });

  it('reshape shares storage; permute copies', () => {
    const x = P.arange(6);
    const before = P.memory().numBytes;
    const r = P.reshape(x, [2, 3]);
    expect(P.memory().numBytes).toBe(before);
    const p = P.permute(r, [1, 0]);
    expect(p.toArray()).toEqual([[0, 3], [1, 4], [2, 5]]);
    x.dispose();
    expect(r.toArray()).toEqual([[0, 1, 2], [3, 4, 5]]);
  });
});

describe('autograd', () => {
  it('accumulates gradients when a tensor is used twice', () => {
    const x = P.tensor([1, 2, 3], { requiresGrad: true });
    const y = P.sum(P.add(P.mul(x, x), x));
    y.backward();
    expect(Array.from(x.grad!.dataSync())).toEqual([3, 5, 7]);
    // a second backward accumulates into .grad, as PyTorch
    P.sum(P.mul(x, 2)).backward();
    expect(Array.from(x.grad!.dataSync())).toEqual([5, 7, 9]);
  });

  it('does not record under noGrad', () => {
    const x = P.tensor([1, 2], { requiresGrad: true });
    const y = P.noGrad(() => P.mul(x, 3));
    expect(y.requiresGrad).toBe(false);
    expect(y.gradFn).toBe(null);
    expect(() => P.sum(y).backward()).toThrow(/backward: expected a tensor that requires grad/);
  });

  it('needs an explicit grad for non-scalar outputs', () => {
    const x = P.tensor([1, 2], { requiresGrad: true });
    expect(() => P.mul(x, 2).backward()).toThrow(/backward: expected a one-element output, or an explicit grad, got shape \[2\]/);
    P.mul(x, 2).backward(P.tensor([1, 10]));
    expect(Array.from(x.grad!.dataSync())).toEqual([2, 20]);
  });

  it('detach cuts the graph', () => {
    const x = P.tensor([1, 2], { requiresGrad: true });
    const y = P.mul(P.mul(x, x).detach(), x);
    P.sum(y).backward();
    expect(Array.from(x.grad!.dataSync())).toEqual([1, 4]);
  });

  it('a backward through a graph that tidy() freed throws instead of losing the gradient', () => {
    const x = P.tensor([1, 2], { requiresGrad: true });
    const y = P.tidy(() => P.sum(P.mul(P.exp(x), 2))); // exp(x) and the product are freed here
    expect(() => y.backward()).toThrow(/backward: expected the graph behind the output alive: input 0 of \w+ was disposed .*got Tensor\(float32\[2\], disposed/);
    expect(x.grad).toBe(null);
    // inside the tidy, the same computation works
    P.tidy(() => P.sum(P.mul(P.exp(x), 2)).backward());
    const g = x.grad!.dataSync();
    expect(g[0]).toBeCloseTo(2 * Math.E, 5);
    expect(g[1]).toBeCloseTo(2 * Math.E ** 2, 5);
  });
});

describe('memory', () => {
  it('tidy disposes intermediates and keeps the result', () => {
    const before = P.memory();
    const out = P.tidy(() => {
      const a = P.randn([10, 10]);
      const b = P.mul(a, 2);
      return P.sum(b);
    });
    const after = P.memory();
    expect(after.numTensors).toBe(before.numTensors + 1);
    out.dispose();
    expect(P.memory().numTensors).toBe(before.numTensors);
    expect(P.memory().numBytes).toBe(before.numBytes);
  });

  it('a forward+backward step inside tidy leaves only the gradients', () => {
    const w = P.randn([4, 3], { requiresGrad: true });
    P.tidy(() => P.sum(P.relu(P.matmul(P.randn([5, 4]), w))).backward());
    const before = P.memory();
    P.tidy(() => P.sum(P.relu(P.matmul(P.randn([5, 4]), w))).backward());
    expect(P.memory()).toEqual(before);
    expect(w.grad!.shape).toEqual([4, 3]);
  });

  it('reports bytes per backend', () => {
    const m0 = P.memory().devices.cpu!;
    const t = P.zeros([256], { dtype: 'float64' });
    expect(P.memory().devices.cpu!.bytes - m0.bytes).toBe(2048);
    expect(P.memory().devices.cpu!.tensors - m0.tensors).toBe(1);
    t.dispose();
  });
});

describe('random', () => {
  it('is reproducible with manualSeed', () => {
    P.manualSeed(42);
    const a = Array.from(P.randn([5]).dataSync());
    P.manualSeed(42);
    const b = Array.from(P.randn([5]).dataSync());
    expect(a).toEqual(b);
    const u = P.rand([1000]).dataSync();
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
    const n = P.randn([20000], { dtype: 'float64' });
    expect(Math.abs(P.mean(n).item())).toBeLessThan(0.03);
    expect(Math.abs(P.std(n).item() - 1)).toBeLessThan(0.03);
  });
});

describe('bad input throws errors that name the op, the expectation and the value', () => {
  it('mismatched shapes', () => {
    expect(() => P.add(P.ones([2, 3]), P.ones([4]))).toThrow('add: expected shapes that broadcast together, got [2, 3] and [4]');
    expect(() => P.matmul(P.ones([2, 3]), P.ones([4, 5]))).toThrow('matmul: expected inner dims to match ([2, 3] · [4, 5]), got 3 and 4');
    expect(() => P.conv2d(P.ones([1, 3, 5, 5]), P.ones([4, 2, 3, 3]))).toThrow(/conv2d: expected weight.shape\[1\] = Cin\/groups = 3, got 2/);
    expect(() => P.reshape(P.ones([2, 3]), [4, 2])).toThrow(/reshape: expected a shape with 6 elements/);
    expect(() => P.concat([P.ones([2, 3]), P.ones([2, 4])], 0)).toThrow(/concat: expected shapes matching \[2, 3\] except in dim 0, got \[2, 4\]/);
  });
  it('mixed dtypes', () => {
    expect(() => P.add(P.ones([2]), P.ones([2], { dtype: 'float64' }))).toThrow('add: expected tensors of one dtype, got float32 and float64');
    expect(() => P.exp(P.ones([2], { dtype: 'int32' }))).toThrow('exp: expected input of a float dtype (float32 or float64), got int32');
  });
  it('a disposed tensor', () => {
    const t = P.ones([2]);
    t.dispose();
    expect(() => P.relu(t)).toThrow(/relu: expected input to be a live tensor, got tensor #\d+ float32\[2\], which was disposed/);
    expect(() => t.dataSync()).toThrow(/dataSync: expected a live tensor/);
  });
  it('bad arguments', () => {
    expect(() => P.sum(P.ones([2, 3]), 2)).toThrow('sum: expected an integer dim in [-2, 1], got 2');
    expect(() => P.conv2d(P.ones([1, 1, 5, 5]), P.ones([1, 1, 3, 3]), null, { stride: 0 })).toThrow('conv2d: expected stride as an integer ≥ 1, got 0');
    expect(() => P.leakyRelu(P.ones([2]), NaN)).toThrow('leakyRelu: expected a finite negativeSlope, got NaN');
    expect(() => P.softmax(P.ones([2, 3]), 5)).toThrow('softmax: expected an integer dim in [-2, 1], got 5');
    expect(() => P.add(P.ones([2]), 'x' as unknown as number)).toThrow(/add: expected other to be a Tensor, got string x/);
    expect(() => P.topk(P.ones([3]), 4)).toThrow('topk: expected k ≤ 3 (size of dim 0), got 4');
    expect(() => P.gather(P.ones([3]), 0, P.tensor([5], { dtype: 'int32' }))).toThrow('gather: expected indices in [0, 2], got 5');
  });
});
