/** nn.Module: registration, PyTorch state-dict keys, train/eval, loading, devices. */
import { describe, expect, it } from 'vitest';
import * as P from '../../index.js';
const { nn } = P;

class Block extends nn.Module {
  conv1 = this.module('conv1', new nn.Conv2d(3, 4, 3, { padding: 1, bias: false }));
  bn1 = this.module('bn1', new nn.BatchNorm2d(4));
  head = this.module('head', new nn.Sequential(new nn.ReLU(), new nn.Conv2d(4, 2, 1)));
}

describe('Module', () => {
  it('produces PyTorch state-dict keys in PyTorch order', () => {
    const b = new Block();
    expect([...b.stateDict().keys()]).toEqual([
      'conv1.weight', 'bn1.weight', 'bn1.bias', 'bn1.running_mean', 'bn1.running_var', 'bn1.num_batches_tracked', 'head.1.weight', 'head.1.bias',
    ]);
    expect(b.namedParameters().map((e) => e[0])).toEqual(['conv1.weight', 'bn1.weight', 'bn1.bias', 'head.1.weight', 'head.1.bias']);
    expect(b.numParameters()).toBe(4 * 3 * 9 + 4 + 4 + 2 * 4 + 2);
  });

  it('train/eval is recursive', () => {
    const b = new Block();
    b.eval();
    expect(b.bn1.training).toBe(false);
    expect(b.head.layers[1]!.training).toBe(false);
    b.train();
    expect(b.bn1.training).toBe(true);
  });

  it('loads a state dict, reporting missing and unexpected keys', () => {
    const a = new Block();
    const b = new Block();
    b.loadStateDict(a.stateDict());
    expect(Array.from(b.conv1.weight.dataSync())).toEqual(Array.from(a.conv1.weight.dataSync()));
    const partial = new Map(a.stateDict());
    partial.delete('conv1.weight');
    partial.set('extra', P.ones([1]));
    expect(() => b.loadStateDict(partial)).toThrow(/loadStateDict: expected the model's keys, got 1 missing \[conv1.weight\] and 1 unexpected \[extra\]/);
    expect(b.loadStateDict(partial, { strict: false })).toEqual({ missingKeys: ['conv1.weight'], unexpectedKeys: ['extra'] });
    const wrong = new Map(a.stateDict());
    wrong.set('conv1.weight', P.ones([4, 3, 1, 1]));
    expect(() => b.loadStateDict(wrong)).toThrow("loadStateDict: expected 'conv1.weight' of shape [4, 3, 3, 3], got [4, 3, 1, 1]");
  });

  it('parameters survive tidy and take gradients', () => {
    const lin = P.tidy(() => new nn.Linear(3, 2));
    expect(lin.weight.isDisposed).toBe(false);
    P.tidy(() => P.sum(lin.forward(P.ones([4, 3]))).backward());
    expect(lin.weight.grad!.shape).toEqual([2, 3]);
    expect(Array.from(lin.bias!.grad!.dataSync())).toEqual([4, 4]);
    lin.zeroGrad();
    expect(lin.weight.grad).toBe(null);
  });

  it('initializes like PyTorch (kaiming-uniform bounds)', () => {
    P.manualSeed(3);
    const c = new nn.Conv2d(16, 8, 3);
    const bound = 1 / Math.sqrt(16 * 9);
    const w = c.weight.dataSync();
    expect(Math.max(...w)).toBeLessThanOrEqual(bound);
    expect(Math.min(...w)).toBeGreaterThanOrEqual(-bound);
    expect(Math.max(...w)).toBeGreaterThan(bound * 0.9);
  });

  it('casts to float64 in place', () => {
    const l = new nn.Linear(2, 2);
    const w = l.weight;
    l.toDtype('float64');
    expect(l.weight).toBe(w);
    expect(w.dtype).toBe('float64');
  });
});
