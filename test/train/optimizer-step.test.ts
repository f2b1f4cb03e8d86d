/**
 * models/train/trainer.ts optimizerStep, the update step both trainers share: a finite loss is
 * returned and applied (SGD: w ← w − lr·∂L/∂w, then the scheduler advances); a non-finite loss
 * throws a named Error with the gradients zeroed, nothing updated and nothing leaked.
 */
import { describe, expect, it } from 'vitest';
import { memory } from '../../engine/engine.js';
import { tensor } from '../../ops/creation.js';
import { mul, sum } from '../../ops/index.js';
import { MultiStepLR, SGD } from '../../models/nn/optim.js';
import { optimizerStep } from '../../models/train/trainer.js';

describe('optimizerStep', () => {
  it('applies a finite loss: returns it, steps the optimizer and the scheduler, zeroes the gradients', async () => {
    const w = tensor([1, 2, 3]).requiresGrad_();
    const opt = new SGD([w], { lr: 0.5 });
    const sched = new MultiStepLR(opt, { milestones: [1], gamma: 0.1 });
    const before = memory().numTensors;
    const loss = await optimizerStep('test', 0, opt, sched, () => sum(mul(w, w))); // ∂L/∂w = 2w
    expect(loss).toBe(14);
    expect(Array.from(w.dataSync())).toEqual([0, 0, 0]); // w − 0.5·2w
    expect(w.grad === null || Array.from(w.grad.dataSync()).every((g) => g === 0)).toBe(true);
    expect(opt.paramGroups[0]!.lr).toBeCloseTo(0.05, 12); // the milestone at step 1 was passed
    expect(memory().numTensors).toBe(before);
    w.dispose();
  });

  it('refuses a non-finite loss: a named Error, gradients zeroed, weights unchanged, nothing leaked', async () => {
    const w = tensor([1, 2, 3]).requiresGrad_();
    const opt = new SGD([w], { lr: 0.5 });
    const sched = new MultiStepLR(opt, { milestones: [1], gamma: 0.1 });
    const before = memory().numTensors;
    await expect(optimizerStep('train', 4, opt, sched, () => mul(sum(mul(w, w)), Number.NaN))).rejects.toThrow(
      /^train: expected a finite loss at step 5, got NaN/,
    );
    expect(Array.from(w.dataSync())).toEqual([1, 2, 3]);
    expect(w.grad === null || Array.from(w.grad.dataSync()).every((g) => g === 0)).toBe(true);
    expect(opt.paramGroups[0]!.lr).toBe(0.5);
    expect(memory().numTensors).toBe(before);
    w.dispose();
  });
});
