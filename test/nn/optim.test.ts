/**
 * Optimizers, schedules and gradient clipping against torch.optim (test/reference/optim.py):
 * 5 steps of a small linear regression per config, compared after every step in float64 (tight)
 * and float32. Plus resuming from a state dict, memory, and errors.
 */
import { describe, expect, it } from 'vitest';
import type { DeviceName } from '../../backends/backend.js';
import { engine, memory, tidy } from '../../engine/engine.js';
import type { Tensor } from '../../engine/tensor.js';
import { tensor } from '../../ops/creation.js';
import { square, sub } from '../../ops/elementwise.js';
import { linear } from '../../ops/matmul.js';
import { mean } from '../../ops/reduce.js';
import { Adam, AdamW, clipGradNorm, LambdaLR, MultiStepLR, SGD, type LRScheduler, type Optimizer, type BaseGroupOptions } from '../../models/nn/optim.js';
import { assertClose, type Tol } from '../helpers/close.js';
import { Fixture, toTensor } from '../helpers/fixtures.js';
import { readFileSync } from 'node:fs';
import { readSafetensors } from '../../models/nn/safetensors.js';
import { availableDevices } from '../helpers/devices.js';

// The fixture's metadata holds the configs (test/reference/optim.py).
const raw = readSafetensors(new Uint8Array(readFileSync(new URL('../fixtures/optim/optim.safetensors', import.meta.url))));
const fx = new Fixture(raw.tensors, []);
interface Config {
  name: string;
  opt: 'SGD' | 'Adam' | 'AdamW';
  options: Record<string, any>;
  groups?: (Record<string, any> & { params: ('W' | 'b')[] })[];
  scheduler?: { kind: 'MultiStepLR'; milestones: number[]; gamma: number } | { kind: 'LambdaLR'; fn: string };
  clip?: { maxNorm: number; normType: number | 'inf' };
}
const CONFIGS = JSON.parse(raw.metadata.configs ?? '[]') as Config[];
const STEPS = Number(raw.metadata.steps);

const TOL: Record<'float64' | 'float32', Tol> = {
  float64: { atol: 1e-14, rtol: 1e-12 },
  float32: { atol: 2e-5, rtol: 2e-4 },
};

interface Problem {
  W: Tensor;
  b: Tensor;
  X: Tensor;
  Y: Tensor;
  loss: () => Tensor;
  dispose: () => void;
}

function problem(dtype: 'float64' | 'float32', device: DeviceName = 'cpu'): Problem {
  const W = engine.keep(toTensor(fx.get('W0'), dtype, device, true));
  const b = engine.keep(toTensor(fx.get('b0'), dtype, device, true));
  const X = engine.keep(toTensor(fx.get('X'), dtype, device));
  const Y = engine.keep(toTensor(fx.get('Y'), dtype, device));
  return {
    W, b, X, Y,
    loss: () => mean(square(sub(linear(X, W, b), Y))),
    dispose: () => [W, b, X, Y].forEach((t) => t.dispose()),
  };
}

function makeOptimizer(cfg: Config, p: Problem): Optimizer<BaseGroupOptions> {
  const named = { W: p.W, b: p.b };
  const params = cfg.groups ? cfg.groups.map((g) => ({ ...g, params: g.params.map((n) => named[n]) })) : [p.W, p.b];
  const ctor = { SGD, Adam, AdamW }[cfg.opt] as unknown as new (ps: unknown, o: unknown) => Optimizer<BaseGroupOptions>;
  return new ctor(params, cfg.options);
}

function makeScheduler(cfg: Config, opt: Optimizer<BaseGroupOptions>): LRScheduler | null {
  const s = cfg.scheduler;
  if (!s) return null;
  if (s.kind === 'MultiStepLR') return new MultiStepLR(opt, { milestones: s.milestones, gamma: s.gamma });
  if (s.fn !== '1/(1+e)') throw new Error(`unknown lambda ${s.fn}`);
  return new LambdaLR(opt, (e) => 1 / (1 + e));
}

/** One training step: loss, backward, optional clipping, step, schedule. Returns the clip norm. */
function trainStep(cfg: Config, p: Problem, opt: Optimizer<BaseGroupOptions>, sched: LRScheduler | null): number | null {
  opt.zeroGrad();
  tidy(() => p.loss().backward());
  let norm: number | null = null;
  if (cfg.clip) {
    const t = clipGradNorm([p.W, p.b], cfg.clip.maxNorm, cfg.clip.normType === 'inf' ? Infinity : cfg.clip.normType);
    norm = t!.item();
    t!.dispose();
  }
  opt.step();
  sched?.step();
  return norm;
}

describe('optimizers match torch.optim over 5 steps', () => {
  for (const dtype of ['float64', 'float32'] as const) {
    for (const cfg of CONFIGS) {
      it(`${cfg.name} (${dtype})`, () => {
        const p = problem(dtype);
        const opt = makeOptimizer(cfg, p);
        const sched = makeScheduler(cfg, opt);
        const lrs: number[] = [];
        const norms: number[] = [];
        for (let k = 0; k < STEPS; k++) {
          const n = trainStep(cfg, p, opt, sched);
          if (n !== null) norms.push(n);
          if (sched) lrs.push(...sched.getLastLr());
          assertClose(p.W.dataSync(), fx.get(`${cfg.name}/W/${k}`).data, TOL[dtype], `${cfg.name} W after step ${k + 1}`);
          assertClose(p.b.dataSync(), fx.get(`${cfg.name}/b/${k}`).data, TOL[dtype], `${cfg.name} b after step ${k + 1}`);
        }
        if (sched) assertClose(lrs, fx.get(`${cfg.name}/lr`).data, { atol: 0, rtol: 1e-15 }, `${cfg.name} lr`);
        if (cfg.clip) assertClose(norms, fx.get(`${cfg.name}/norm`).data, TOL[dtype], `${cfg.name} total norm`);
        opt.dispose();
        opt.zeroGrad();
        p.dispose();
      });
    }
  }
});

describe('optimizer state', () => {
  it('resuming from stateDict after 3 steps reproduces the 5-step trajectory', () => {
    for (const name of ['adam_wd_amsgrad', 'sgd_nesterov_wd', 'multistep_groups']) {
      const cfg = CONFIGS.find((c) => c.name === name)!;
      const p = problem('float64');
      const opt = makeOptimizer(cfg, p);
      const sched = makeScheduler(cfg, opt);
      for (let k = 0; k < 3; k++) trainStep(cfg, p, opt, sched);
      const sd = opt.stateDict();
      const schedState = sched?.stateDict();
      // A fresh optimizer on fresh parameters holding the step-3 values.
      const q = problem('float64');
      q.W.assign(p.W);
      q.b.assign(p.b);
      const opt2 = makeOptimizer(cfg, q);
      const sched2 = makeScheduler(cfg, opt2);
      opt2.loadStateDict(sd);
      if (sched2 && schedState) sched2.loadStateDict(schedState);
      opt.dispose();
      p.dispose();
      for (let k = 3; k < STEPS; k++) {
        trainStep(cfg, q, opt2, sched2);
        assertClose(q.W.dataSync(), fx.get(`${name}/W/${k}`).data, TOL.float64, `${name} resumed W after step ${k + 1}`);
        assertClose(q.b.dataSync(), fx.get(`${name}/b/${k}`).data, TOL.float64, `${name} resumed b after step ${k + 1}`);
      }
      opt2.dispose();
      opt2.zeroGrad();
      q.dispose();
    }
  });

  it('stateDict uses PyTorch keys and indices', () => {
    const p = problem('float64');
    const opt = new Adam([{ params: [p.W] }, { params: [p.b], lr: 0.5 }], { lr: 0.1, amsgrad: true });
    tidy(() => p.loss().backward());
    opt.step();
    const sd = opt.stateDict();
    expect([...sd.state.keys()]).toEqual([0, 1]);
    expect(Object.keys(sd.state.get(0)!).sort()).toEqual(['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq', 'step']);
    expect(sd.state.get(1)!.step).toBe(1);
    expect(sd.paramGroups.map((g) => [g.lr, g.params])).toEqual([[0.1, [0]], [0.5, [1]]]);
    opt.dispose();
    opt.zeroGrad();
    p.dispose();
  });

  it('a step leaks no tensors, and state survives an enclosing tidy', () => {
    const cfg = CONFIGS.find((c) => c.name === 'adam_wd_amsgrad')!;
    const p = problem('float32');
    const opt = makeOptimizer(cfg, p);
    trainStep(cfg, p, opt, null);
    const before = memory().numTensors;
    const bytes = memory().numBytes;
    tidy(() => {
      trainStep(cfg, p, opt, null);
      trainStep(cfg, p, opt, null);
    });
    expect(memory().numTensors).toBe(before);
    expect(memory().numBytes).toBe(bytes);
    opt.zeroGrad();
    expect(p.W.grad).toBeNull();
    expect(memory().numTensors).toBe(before - 2);
    opt.dispose();
    expect(memory().numTensors).toBe(before - 2 - 6);
    p.dispose();
  });

  it('loadStateDict checks groups, shapes and keys', () => {
    const p = problem('float64');
    const opt = new SGD([p.W, p.b], { lr: 0.1, momentum: 0.9 });
    tidy(() => p.loss().backward());
    opt.step();
    const sd = opt.stateDict();
    const other = new SGD([{ params: [p.W] }, { params: [p.b] }], { lr: 0.1, momentum: 0.9 });
    expect(() => other.loadStateDict(sd)).toThrow(/SGD.loadStateDict: expected 2 parameter groups, got 1/);
    const swapped = new SGD([p.b, p.W], { lr: 0.1, momentum: 0.9 });
    expect(() => swapped.loadStateDict(sd)).toThrow(/expected state 'momentum_buffer' of shape \[3\] \(its parameter's\), got \[3, 4\]/);
    const bad = { state: new Map([[0, { bogus: 1 as number }]]), paramGroups: sd.paramGroups };
    expect(() => new Adam([p.W, p.b]).loadStateDict(bad)).toThrow(/Adam.loadStateDict: expected state keys among \[exp_avg, exp_avg_sq, max_exp_avg_sq\], got 'bogus'/);
    opt.dispose();
    opt.zeroGrad();
    p.dispose();
  });
});

describe('optimizer errors', () => {
  it('rejects bad hyperparameters and parameters as PyTorch does', () => {
    const w = tensor([1, 2], { requiresGrad: true });
    expect(() => new SGD([w], { lr: -1 })).toThrow('SGD: expected lr ≥ 0 in group 0, got -1');
    expect(() => new SGD([w], { lr: 0.1, nesterov: true })).toThrow('SGD: expected nesterov with momentum > 0 and dampening 0, got momentum 0, dampening 0');
    expect(() => new Adam([w], { betas: [0.9, 1] })).toThrow('Adam: expected betas[1] in group 0 in [0, 1), got 1');
    expect(() => new AdamW([w], { eps: -1 })).toThrow('AdamW: expected eps ≥ 0 in group 0, got -1');
    expect(() => new Adam([])).toThrow('Adam: expected a non-empty list of parameters or parameter groups, got an array of length 0');
    expect(() => new Adam([{ params: [w] }, { params: [w] }])).toThrow(/Adam: expected each parameter in one group only/);
    expect(() => new Adam([tensor([1], { dtype: 'int32' })])).toThrow('Adam: expected parameter 0 of group 0 of a float dtype, got int32');
    expect(() => new MultiStepLR(new SGD([w], { lr: 1 }), { milestones: [1.5] })).toThrow(/MultiStepLR: expected milestones as a list of non-negative integers/);
    w.dispose();
  });

  it('rejects a gradient whose shape differs from its parameter, and disposed parameters', () => {
    const w = tensor([1, 2], { requiresGrad: true });
    w.grad = tensor([1, 2, 3]);
    const opt = new SGD([w], { lr: 0.1 });
    expect(() => opt.step()).toThrow('SGD.step: expected a gradient float32[2] on cpu for a parameter, got float32[3] on cpu');
    w.dispose();
    expect(() => opt.step()).toThrow(/SGD.step: expected live parameters, got Tensor\(float32\[2\], disposed, requiresGrad\)/);
  });

  it('clipGradNorm validates its arguments and returns null without gradients', () => {
    const w = tensor([3, 4], { requiresGrad: true });
    expect(clipGradNorm([w], 1)).toBeNull();
    expect(() => clipGradNorm([w], -1)).toThrow('clipGradNorm: expected maxNorm ≥ 0, got -1');
    expect(() => clipGradNorm([w], 1, 0)).toThrow('clipGradNorm: expected normType > 0 (or Infinity), got 0');
    w.grad = tensor([NaN, 1]);
    expect(() => clipGradNorm([w], 1, 2, { errorIfNonfinite: true })).toThrow('clipGradNorm: expected a finite total gradient norm, got NaN');
    w.dispose();
  });
});

// wasm and webgpu: the same updates must run there (ops only) and match cpu. A backend that cannot
// start (no adapter) is skipped with a warning, except under CI=true, as in test/webgpu.
const devices = await availableDevices('optim tests');

describe('optimizers on other backends match cpu (including a resume from stateDict)', () => {
  const cases: Config[] = [
    { name: 'adam', opt: 'Adam', options: { lr: 0.1, betas: [0.8, 0.5], weightDecay: 0.1, amsgrad: true }, clip: { maxNorm: 0.5, normType: 2 } },
    { name: 'adamw', opt: 'AdamW', options: { lr: 0.05, weightDecay: 0.1 }, clip: { maxNorm: 0.3, normType: 'inf' } },
    { name: 'sgd', opt: 'SGD', options: { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 0.01 } },
  ];
  for (const d of devices) {
    for (const cfg of cases) {
      it(`${cfg.name} on ${d}`, async () => {
        const run = async (device: DeviceName): Promise<{ W: ArrayLike<number>; b: ArrayLike<number>; norms: number[] }> => {
          const p = problem('float32', device);
          let opt = makeOptimizer(cfg, p);
          const norms: number[] = [];
          for (let k = 0; k < 3; k++) {
            if (k === 2) {
              // Resume into a fresh optimizer from the live state dict (device tensors, no read-back).
              const next = makeOptimizer(cfg, p);
              next.loadStateDict(opt.stateDict());
              opt.dispose();
              opt = next;
            }
            opt.zeroGrad();
            tidy(() => p.loss().backward());
            if (cfg.clip) {
              const n = clipGradNorm([p.W, p.b], cfg.clip.maxNorm, cfg.clip.normType === 'inf' ? Infinity : cfg.clip.normType)!;
              norms.push((await n.data())[0]!);
              n.dispose();
            }
            opt.step();
          }
          const out = { W: await p.W.data(), b: await p.b.data(), norms };
          opt.dispose();
          opt.zeroGrad();
          p.dispose();
          return out;
        };
        const ref = await run('cpu');
        const got = await run(d);
        const tol = { atol: 1e-5, rtol: 1e-4 };
        assertClose(got.W, ref.W, tol, `${cfg.name} W on ${d}`);
        assertClose(got.b, ref.b, tol, `${cfg.name} b on ${d}`);
        assertClose(got.norms, ref.norms, tol, `${cfg.name} clip norms on ${d}`);
      });
    }
  }
});
