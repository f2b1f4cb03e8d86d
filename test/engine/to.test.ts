/**
 * Tensor.to(device) is differentiable (torch.Tensor.to): gradients flow back across devices.
 */
import { describe, expect, it } from 'vitest';
import type { DeviceName } from '../../backends/backend.js';
import { tidy } from '../../engine/engine.js';
import { tensor } from '../../ops/creation.js';
import { mul, sigmoid } from '../../ops/elementwise.js';
import { sum } from '../../ops/reduce.js';
import { availableDevices } from '../helpers/devices.js';

const devices = await availableDevices('Tensor.to');

describe('Tensor.to is differentiable', () => {
  it('cpu → cpu keeps the graph (a view of the same storage)', () => {
    const x = tensor([1, 2, 3], { dtype: 'float64' }).requiresGrad_(true);
    tidy(() => sum(mul(x.to('cpu'), x.to('cpu'))).backward());
    expect(Array.from(x.grad!.dataSync())).toEqual([2, 4, 6]);
    x.dispose();
  });

  for (const d of devices.filter((dev): dev is DeviceName => dev === 'wasm')) {
    it(`cpu → ${d} → cpu: the gradient of sum(sigmoid(x)²) comes back to the cpu leaf`, () => {
      const vals = [-1.5, 0, 0.25, 2];
      const x = tensor(vals, { dtype: 'float32' }).requiresGrad_(true);
      tidy(() => {
        const y = sigmoid(x.to(d));
        expect(y.device).toBe(d);
        expect(y.requiresGrad).toBe(true);
        sum(mul(y, y)).to('cpu').backward();
      });
      expect(x.grad!.device).toBe('cpu');
      const s = (v: number): number => 1 / (1 + Math.exp(-v));
      const want = vals.map((v) => 2 * s(v) * s(v) * (1 - s(v)));
      Array.from(x.grad!.dataSync()).forEach((g, i) => expect(g).toBeCloseTo(want[i]!, 6));
      x.dispose();
    });
  }

  it('a leaf that does not require grad gives a tensor that does not either', () => {
    const x = tensor([1, 2]);
    const y = x.to('cpu');
    expect(y.requiresGrad).toBe(false);
    y.dispose();
    x.dispose();
  });
});
