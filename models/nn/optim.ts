/**
 * Optimizers, learning-rate schedules and gradient clipping, matching torch.optim (torch 1.13,
 * the single-tensor code path) step for step:
 *
 * - `SGD`, `Adam`, `AdamW` with parameter groups, `step()`, `zeroGrad()`, `stateDict()` and
 *   `loadStateDict()` (which also accepts a PyTorch optimizer state dict read from a `.pth` file);
 * - `MultiStepLR` and `LambdaLR` (torch.optim.lr_scheduler);
 * - `clipGradNorm` (torch.nn.utils.clip_grad_norm_).
 *
 * Updates are computed with ops under `noGrad`, so they run on whichever backend holds the
 * parameters (cpu, wasm, webgpu), and are written back with `Tensor.assign`, which keeps each
 * parameter's identity. Temporaries are freed per parameter with `tidy`; optimizer state tensors
 * are kept (`engine.keep`) so that they survive the caller's `tidy` scopes.
 */
import { engine, noGrad, tidy } from '../../engine/engine.js';
import { fail, fmtShape, shapesEqual } from '../../engine/shape.js';
import { Tensor } from '../../engine/tensor.js';
import { tensor, zerosLike } from '../../ops/creation.js';
import { abs, add, clamp, clone, div, maximum, mul, pow, sqrt, square, sub } from '../../ops/elementwise.js';
import { max, sum } from '../../ops/reduce.js';
import { stack } from '../../ops/shape.js';
import type { HostTensor } from './safetensors.js';

// ------------------------------------------------------------------------------------ types

/** Hyperparameters shared by every optimizer: the learning rate. */
export interface BaseGroupOptions {
  lr: number;
}

/** One parameter group: its parameters and its own hyperparameters (PyTorch's param_groups entry). */
export type ParamGroup<O extends BaseGroupOptions> = O & {
  params: Tensor[];
  /** Set by a scheduler on construction: the lr that schedules scale (PyTorch's `initial_lr`). */
  initialLr?: number;
};

/** Either a list of parameters, or a list of groups each overriding some hyperparameters. */
export type ParamsArg<O extends BaseGroupOptions> = readonly Tensor[] | readonly (Partial<O> & { params: readonly Tensor[] })[];

/** A per-parameter state entry: tensors (kept) and step counts. Keys follow PyTorch's names. */
export type ParamState = Record<string, Tensor | number>;

/**
 * An optimizer's state, laid out as PyTorch's `Optimizer.state_dict()`: `state` maps the index of a
 * parameter (counting through the groups in order) to its state; `paramGroups` holds each group's
 * hyperparameters and the indices of its parameters. The tensors are the live state tensors, not
 * copies: read them (or save them) before the next `step()`.
 */
export interface OptimizerStateDict {
  state: Map<number, ParamState>;
  paramGroups: (Record<string, unknown> & { params: number[] })[];
}

/** A value accepted by `loadStateDict`: posegrad tensors, or host tensors read from a checkpoint. */
type StateValue = Tensor | HostTensor | number;

// ------------------------------------------------------------------------------------ base class

/**
 * The base optimizer (torch.optim.Optimizer): holds parameter groups and per-parameter state.
 * Subclasses implement `update`, the rule for one parameter.
 */
export abstract class Optimizer<O extends BaseGroupOptions> {
  /** The parameter groups; a scheduler (or the caller) may change `lr` between steps. */
  readonly paramGroups: ParamGroup<O>[];
  /** Per-parameter state, created on a parameter's first step. */
  protected readonly state = new Map<Tensor, ParamState>();
  /** Hyperparameter names mapped to PyTorch's spelling in state dicts. */
  protected abstract readonly torchNames: Record<string, string>;

  protected constructor(
    protected readonly op: string,
    params: ParamsArg<O>,
    readonly defaults: O,
  ) {
    if (!Array.isArray(params) || params.length === 0) fail(op, 'a non-empty list of parameters or parameter groups', describeArg(params));
    const groups = (params[0] instanceof Tensor ? [{ params: params as readonly Tensor[] }] : params) as readonly (Partial<O> & { params: readonly Tensor[] })[];
    const seen = new Set<Tensor>();
    this.paramGroups = groups.map((g, gi) => {
      if (!g || !Array.isArray(g.params)) fail(op, `group ${gi} as { params: Tensor[], ... }`, describeArg(g));
      const ps = [...g.params];
      ps.forEach((p, i) => {
        if (!(p instanceof Tensor)) fail(op, `parameter ${i} of group ${gi} to be a Tensor`, describeArg(p));
        if (p.isDisposed) fail(op, `parameter ${i} of group ${gi} to be a live tensor`, p.toString());
        if (p.dtype === 'int32') fail(op, `parameter ${i} of group ${gi} of a float dtype`, 'int32');
        if (seen.has(p)) fail(op, 'each parameter in one group only', `${p.toString()} more than once`);
        seen.add(p);
      });
      const group = { ...defaults, ...g, params: ps } as ParamGroup<O>;
      this.validate(group, gi);
      return group;
    });
  }

  /** Throws on invalid hyperparameters (the checks of PyTorch's constructors). */
  protected validate(g: ParamGroup<O>, gi: number): void {
    if (typeof g.lr !== 'number' || !(g.lr >= 0)) fail(this.op, `lr ≥ 0 in group ${gi}`, String(g.lr));
  }

  /** The new value of `p` (and the new state, written into `s` with `setState`). */
  protected abstract update(p: Tensor, grad: Tensor, g: ParamGroup<O>, s: ParamState): Tensor;

  /** Creates the state of a parameter on its first step. */
  protected abstract initState(p: Tensor, g: ParamGroup<O>): ParamState;

  /**
   * Performs one optimization step over every parameter that has a gradient (parameters whose
   * `.grad` is null are skipped, as in PyTorch).
   * @throws Error when a parameter or its gradient was disposed, or a gradient's shape, dtype or
   *   device differs from its parameter's.
   */
  step(): void {
    noGrad(() => {
      for (const g of this.paramGroups) {
        for (const p of g.params) {
          if (p.isDisposed) fail(`${this.op}.step`, 'live parameters', `${p.toString()} (dispose the optimizer with its model)`);
          const grad = p.grad;
          if (!grad) continue;
          if (grad.isDisposed) fail(`${this.op}.step`, `a live gradient for ${p.name ?? p.toString()}`, 'a disposed tensor');
          if (!shapesEqual(grad.shape, p.shape) || grad.dtype !== p.dtype || grad.device !== p.device) {
            fail(`${this.op}.step`, `a gradient ${p.dtype}${fmtShape(p.shape)} on ${p.device} for ${p.name ?? 'a parameter'}`, `${grad.dtype}${fmtShape(grad.shape)} on ${grad.device}`);
          }
          let s = this.state.get(p);
          if (!s) {
            s = this.initState(p, g);
            this.state.set(p, s);
          }
          const state = s;
          tidy(() => {
            p.assign(this.update(p, grad, g, state));
          });
        }
      }
    });
  }

  /** Frees every parameter's gradient (PyTorch's zero_grad(set_to_none=True), the 2.x default). */
  zeroGrad(): void {
    for (const g of this.paramGroups) {
      for (const p of g.params) {
        if (p.grad) {
          p.grad.dispose();
          p.grad = null;
        }
      }
    }
  }

  /** Replaces state tensor `key` of `s` with `value`'s storage (the state tensor keeps its identity). */
  protected setState(s: ParamState, key: string, value: Tensor): void {
    const cur = s[key];
    if (cur instanceof Tensor) cur.assign(value);
    else s[key] = engine.keep(clone(value));
  }

  /** A kept zero tensor like `p`, for state. */
  protected zeroState(p: Tensor): Tensor {
    return engine.keep(zerosLike(p));
  }

  /**
   * The state as PyTorch lays it out (see OptimizerStateDict). Hyperparameters use posegrad's
   * names (`weightDecay`); `loadStateDict` also accepts PyTorch's (`weight_decay`).
   */
  stateDict(): OptimizerStateDict {
    const state = new Map<number, ParamState>();
    let idx = 0;
    const paramGroups = this.paramGroups.map((g) => {
      const { params, ...hyper } = g;
      const ids: number[] = [];
      for (const p of params) {
        const s = this.state.get(p);
        if (s) state.set(idx, { ...s });
        ids.push(idx++);
      }
      return { ...structuredClone(hyper), params: ids };
    });
    return { state, paramGroups };
  }

  /**
   * Restores hyperparameters and state from `stateDict()`'s output, or from a PyTorch optimizer
   * state dict read with `loadPth` (a Map with 'state' and 'param_groups', PyTorch's hyperparameter
   * names, tensors as HostTensor, `step` as a tensor or a number). Values are copied onto each
   * parameter's device and dtype.
   * @throws Error when the number of groups or of parameters per group differs, a state tensor's
   *   shape differs from its parameter's, or a state entry has an unknown key.
   */
  loadStateDict(sd: OptimizerStateDict | Map<unknown, unknown> | Record<string, unknown>): void {
    const op = `${this.op}.loadStateDict`;
    const groups = field(sd, 'paramGroups') ?? field(sd, 'param_groups');
    const state = field(sd, 'state');
    if (!Array.isArray(groups)) fail(op, "a state dict with 'paramGroups' (or 'param_groups') as a list", describeArg(groups));
    if (groups.length !== this.paramGroups.length) fail(op, `${this.paramGroups.length} parameter groups`, String(groups.length));
    const byIndex = new Map<number, Tensor>();
    const reverse = new Map(Object.entries(this.torchNames).map(([k, v]) => [v, k]));
    groups.forEach((saved, gi) => {
      const g = this.paramGroups[gi]!;
      const ids = field(saved, 'params');
      if (!Array.isArray(ids) || ids.length !== g.params.length) fail(op, `${g.params.length} parameters in group ${gi}`, Array.isArray(ids) ? String(ids.length) : describeArg(ids));
      ids.forEach((id, i) => byIndex.set(Number(id), g.params[i]!));
      for (const [k, v] of entriesOf(saved)) {
        if (k === 'params') continue;
        // PyTorch flags that change the update rule, which posegrad does not implement.
        if (k === 'maximize' && v === true) fail(op, 'maximize false (gradient descent)', 'maximize true in a saved group');
        const key = String(k);
        const name = key === 'initial_lr' ? 'initialLr' : (reverse.get(key) ?? key);
        if (name in g || name === 'initialLr') (g as unknown as Record<string, unknown>)[name] = Array.isArray(v) ? [...v] : v;
      }
      this.validate(g, gi);
    });
    // Drop the current state, then copy the saved one.
    for (const s of this.state.values()) for (const v of Object.values(s)) if (v instanceof Tensor) v.dispose();
    this.state.clear();
    for (const [id, entry] of entriesOf(state ?? new Map())) {
      const p = byIndex.get(Number(id));
      if (!p) fail(op, `state for parameter indices [${[...byIndex.keys()].join(', ')}]`, `an entry for index ${String(id)}`);
      const s: ParamState = {};
      for (const [k, v] of entriesOf(entry)) s[String(k)] = this.importState(op, p, String(k), v as StateValue);
      this.state.set(p, s);
    }
  }

  /** Converts one saved state value for parameter `p`. */
  private importState(op: string, p: Tensor, key: string, v: StateValue): Tensor | number {
    if (key === 'step') {
      const n = typeof v === 'number' ? v : v instanceof Tensor ? v.item() : isHost(v) && v.data.length === 1 ? v.data[0]! : NaN;
      if (!Number.isFinite(n) || n < 0) fail(op, "a non-negative 'step' count", describeArg(v));
      return n;
    }
    if (!this.stateKeys().includes(key)) fail(op, `state keys among [${this.stateKeys().join(', ')}]`, `'${key}'`);
    const shape = v instanceof Tensor ? v.shape : isHost(v) ? v.shape : null;
    if (!shape) fail(op, `a tensor for state '${key}'`, describeArg(v));
    if (!shapesEqual(shape, p.shape)) fail(op, `state '${key}' of shape ${fmtShape(p.shape)} (its parameter's)`, fmtShape(shape));
    // A live tensor on the parameter's device and dtype is copied there (no read-back: works on
    // webgpu); anything else goes through the host.
    if (v instanceof Tensor && v.device === p.device && v.dtype === p.dtype) return engine.keep(noGrad(() => clone(v)));
    const values = v instanceof Tensor ? v.dataSync() : (v as HostTensor).data;
    return engine.keep(tensor(values, { dtype: p.dtype, shape: p.shape, device: p.device }));
  }

  /** The tensor-valued state keys this optimizer uses. */
  protected abstract stateKeys(): string[];

  /** Frees the optimizer's state tensors (the parameters are untouched). */
  dispose(): void {
    for (const s of this.state.values()) for (const v of Object.values(s)) if (v instanceof Tensor) v.dispose();
    this.state.clear();
  }
}

function field(obj: unknown, key: string): unknown {
  if (obj instanceof Map) return obj.get(key);
  if (obj && typeof obj === 'object') return (obj as Record<string, unknown>)[key];
  return undefined;
}

function entriesOf(obj: unknown): [string | number, unknown][] {
  if (obj instanceof Map) return [...obj.entries()] as [string | number, unknown][];
  if (obj && typeof obj === 'object') return Object.entries(obj);
  return [];
}

function isHost(v: unknown): v is HostTensor {
  return !!v && typeof v === 'object' && 'data' in v && 'shape' in v && ArrayBuffer.isView((v as HostTensor).data);
}

function describeArg(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (v instanceof Tensor) return v.toString();
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  if (typeof v === 'object') return v.constructor?.name ?? 'object';
  return `${typeof v} ${String(v)}`;
}

function requireRange(op: string, name: string, v: unknown, lo: number, hi: number, hiOpen: boolean): void {
  if (typeof v !== 'number' || !(v >= lo) || (hiOpen ? !(v < hi) : !(v <= hi))) fail(op, `${name} in [${lo}, ${hi}${hiOpen ? ')' : ']'}`, String(v));
}

// ------------------------------------------------------------------------------------ SGD

export interface SGDOptions extends BaseGroupOptions {
  /** Momentum factor μ (default 0). */
  momentum: number;
  /** Dampening τ of the momentum (default 0). */
  dampening: number;
  /** L2 penalty λ added to the gradient (default 0). */
  weightDecay: number;
  /** Nesterov momentum (default false; needs momentum > 0 and dampening 0). */
  nesterov: boolean;
}

/**
 * Stochastic gradient descent with momentum (torch.optim.SGD):
 * g ← g + λθ; b ← g on the first step, else μb + (1-τ)g; g ← g + μb (nesterov) or b; θ ← θ - lr·g.
 * @throws Error on a negative lr, momentum or weight decay, or nesterov without momentum (or with
 *   dampening), as PyTorch.
 */
export class SGD extends Optimizer<SGDOptions> {
  protected readonly torchNames = { weightDecay: 'weight_decay' };

  constructor(params: ParamsArg<SGDOptions>, opts: Partial<SGDOptions> & { lr: number }) {
    if (!opts || typeof opts.lr !== 'number') fail('SGD', 'options with a learning rate { lr }', describeArg(opts?.lr));
    super('SGD', params, { lr: opts.lr, momentum: opts.momentum ?? 0, dampening: opts.dampening ?? 0, weightDecay: opts.weightDecay ?? 0, nesterov: opts.nesterov ?? false });
  }

  protected override validate(g: ParamGroup<SGDOptions>, gi: number): void {
    super.validate(g, gi);
    if (!(g.momentum >= 0)) fail('SGD', `momentum ≥ 0 in group ${gi}`, String(g.momentum));
    if (!(g.weightDecay >= 0)) fail('SGD', `weightDecay ≥ 0 in group ${gi}`, String(g.weightDecay));
    if (g.nesterov && (g.momentum <= 0 || g.dampening !== 0)) fail('SGD', 'nesterov with momentum > 0 and dampening 0', `momentum ${g.momentum}, dampening ${g.dampening}`);
  }

  protected stateKeys(): string[] {
    return ['momentum_buffer'];
  }

  protected initState(): ParamState {
    return {};
  }

  protected update(p: Tensor, grad: Tensor, g: ParamGroup<SGDOptions>, s: ParamState): Tensor {
    let d = grad;
    if (g.weightDecay !== 0) d = add(d, mul(p, g.weightDecay));
    if (g.momentum !== 0) {
      const prev = s.momentum_buffer;
      const buf = prev instanceof Tensor ? add(mul(prev, g.momentum), mul(d, 1 - g.dampening)) : d;
      this.setState(s, 'momentum_buffer', buf);
      d = g.nesterov ? add(d, mul(buf, g.momentum)) : buf;
    }
    return sub(p, mul(d, g.lr));
  }
}

// ------------------------------------------------------------------------------------ Adam, AdamW

export interface AdamOptions extends BaseGroupOptions {
  /** Decay rates (β1, β2) of the first and second moment averages (default [0.9, 0.999]). */
  betas: [number, number];
  /** Added to the denominator for stability (default 1e-8). */
  eps: number;
  /** Adam: L2 penalty added to the gradient (default 0). AdamW: decoupled decay (default 1e-2). */
  weightDecay: number;
  /** Use the maximum of past second moments (AMSGrad; default false). */
  amsgrad: boolean;
}

abstract class AdamBase extends Optimizer<AdamOptions> {
  protected readonly torchNames = { weightDecay: 'weight_decay' };
  protected abstract readonly decoupled: boolean;

  protected override validate(g: ParamGroup<AdamOptions>, gi: number): void {
    super.validate(g, gi);
    if (!Array.isArray(g.betas) || g.betas.length !== 2) fail(this.op, `betas as a pair in group ${gi}`, describeArg(g.betas));
    requireRange(this.op, `betas[0] in group ${gi}`, g.betas[0], 0, 1, true);
    requireRange(this.op, `betas[1] in group ${gi}`, g.betas[1], 0, 1, true);
    if (!(g.eps >= 0)) fail(this.op, `eps ≥ 0 in group ${gi}`, String(g.eps));
    if (!(g.weightDecay >= 0)) fail(this.op, `weightDecay ≥ 0 in group ${gi}`, String(g.weightDecay));
  }

  protected stateKeys(): string[] {
    return ['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq'];
  }

  protected initState(p: Tensor, g: ParamGroup<AdamOptions>): ParamState {
    const s: ParamState = { step: 0, exp_avg: this.zeroState(p), exp_avg_sq: this.zeroState(p) };
    if (g.amsgrad) s.max_exp_avg_sq = this.zeroState(p);
    return s;
  }

  protected update(p: Tensor, grad: Tensor, g: ParamGroup<AdamOptions>, s: ParamState): Tensor {
    const [b1, b2] = g.betas;
    const step = (s.step as number) + 1;
    s.step = step;
    let theta = p;
    let gr = grad;
    if (g.weightDecay !== 0) {
      if (this.decoupled) theta = mul(p, 1 - g.lr * g.weightDecay);
      else gr = add(gr, mul(p, g.weightDecay));
    }
    const m = add(mul(s.exp_avg as Tensor, b1), mul(gr, 1 - b1));
    const v = add(mul(s.exp_avg_sq as Tensor, b2), mul(mul(gr, 1 - b2), gr));
    this.setState(s, 'exp_avg', m);
    this.setState(s, 'exp_avg_sq', v);
    const bc1 = 1 - b1 ** step;
    const bc2Sqrt = Math.sqrt(1 - b2 ** step);
    let second = v;
    if (g.amsgrad) {
      const prev = s.max_exp_avg_sq;
      second = prev instanceof Tensor ? maximum(prev, v) : v;
      this.setState(s, 'max_exp_avg_sq', second);
    }
    const denom = add(div(sqrt(second), bc2Sqrt), g.eps);
    return add(theta, mul(div(m, denom), -(g.lr / bc1)));
  }
}

/**
 * Adam (torch.optim.Adam; Kingma & Ba 2015, Algorithm 1), with optional L2 weight decay added to
 * the gradient and AMSGrad: m ← β1m + (1-β1)g, v ← β2v + (1-β2)g², θ ← θ - lr/(1-β1ᵗ) · m /
 * (√v̂/√(1-β2ᵗ) + ε) where v̂ = v, or max(v̂, v) with amsgrad.
 * @throws Error on lr < 0, eps < 0, weightDecay < 0 or betas outside [0, 1).
 */
export class Adam extends AdamBase {
  protected readonly decoupled = false;
  constructor(params: ParamsArg<AdamOptions>, opts: Partial<AdamOptions> = {}) {
    super('Adam', params, { lr: opts.lr ?? 1e-3, betas: opts.betas ?? [0.9, 0.999], eps: opts.eps ?? 1e-8, weightDecay: opts.weightDecay ?? 0, amsgrad: opts.amsgrad ?? false });
  }
}

/**
 * AdamW (torch.optim.AdamW; Loshchilov & Hutter 2019): Adam with decoupled weight decay,
 * θ ← θ·(1 - lr·λ) before the Adam update. weightDecay defaults to 1e-2.
 * @throws Error on lr < 0, eps < 0, weightDecay < 0 or betas outside [0, 1).
 */
export class AdamW extends AdamBase {
  protected readonly decoupled = true;
  constructor(params: ParamsArg<AdamOptions>, opts: Partial<AdamOptions> = {}) {
    super('AdamW', params, { lr: opts.lr ?? 1e-3, betas: opts.betas ?? [0.9, 0.999], eps: opts.eps ?? 1e-8, weightDecay: opts.weightDecay ?? 1e-2, amsgrad: opts.amsgrad ?? false });
  }
}

// ------------------------------------------------------------------------------------ schedules

/** The state of a scheduler, for resuming (PyTorch's scheduler state_dict, camelCased). */
export interface SchedulerState {
  lastEpoch: number;
  baseLrs: number[];
  lastLr: number[];
}

/**
 * The base of the learning-rate schedules (torch.optim.lr_scheduler._LRScheduler): on
 * construction it records each group's `initialLr` and applies epoch 0; each `step()` advances one
 * epoch and writes the new lr into every group.
 */
export abstract class LRScheduler {
  lastEpoch = -1;
  readonly baseLrs: number[];
  private lastLr: number[] = [];

  protected constructor(
    protected readonly op: string,
    readonly optimizer: Optimizer<BaseGroupOptions>,
  ) {
    if (!(optimizer instanceof Optimizer)) fail(op, 'an Optimizer', describeArg(optimizer));
    for (const g of optimizer.paramGroups) g.initialLr ??= g.lr;
    this.baseLrs = optimizer.paramGroups.map((g) => g.initialLr!);
  }

  /** The learning rates for `lastEpoch` (PyTorch's get_lr, the chainable form). */
  protected abstract computeLr(): number[];

  /** Advances one epoch and sets each group's lr. */
  step(): void {
    this.lastEpoch++;
    const lrs = this.computeLr();
    this.optimizer.paramGroups.forEach((g, i) => (g.lr = lrs[i]!));
    this.lastLr = lrs;
  }

  /** The lr of each group after the last `step()` (PyTorch's get_last_lr). */
  getLastLr(): number[] {
    return [...this.lastLr];
  }

  stateDict(): SchedulerState {
    return { lastEpoch: this.lastEpoch, baseLrs: [...this.baseLrs], lastLr: [...this.lastLr] };
  }

  /** Restores `stateDict()`'s output (the optimizer's groups keep the lr from its own state dict). */
  loadStateDict(s: SchedulerState): void {
    if (!s || !Number.isInteger(s.lastEpoch) || !Array.isArray(s.baseLrs) || s.baseLrs.length !== this.baseLrs.length) {
      fail(`${this.op}.loadStateDict`, `{ lastEpoch, baseLrs (${this.baseLrs.length}), lastLr }`, JSON.stringify(s));
    }
    this.lastEpoch = s.lastEpoch;
    this.baseLrs.splice(0, this.baseLrs.length, ...s.baseLrs);
    this.lastLr = [...(s.lastLr ?? [])];
  }
}

/**
 * Multiplies each group's lr by `gamma` when the epoch reaches a milestone
 * (torch.optim.lr_scheduler.MultiStepLR; a milestone listed k times multiplies by gammaᵏ).
 * @throws Error when milestones are not non-negative integers.
 */
export class MultiStepLR extends LRScheduler {
  private readonly counts = new Map<number, number>();
  readonly gamma: number;

  constructor(optimizer: Optimizer<BaseGroupOptions>, opts: { milestones: readonly number[]; gamma?: number }) {
    super('MultiStepLR', optimizer);
    if (!opts || !Array.isArray(opts.milestones) || opts.milestones.some((m) => !Number.isInteger(m) || m < 0)) {
      fail('MultiStepLR', 'milestones as a list of non-negative integers', describeArg(opts?.milestones));
    }
    for (const m of opts.milestones) this.counts.set(m, (this.counts.get(m) ?? 0) + 1);
    this.gamma = opts.gamma ?? 0.1;
    this.step();
  }

  protected computeLr(): number[] {
    const k = this.counts.get(this.lastEpoch);
    return this.optimizer.paramGroups.map((g) => (k === undefined ? g.lr : g.lr * this.gamma ** k));
  }
}

/**
 * Sets each group's lr to its initial lr times `lambda(epoch)` (torch.optim.lr_scheduler.LambdaLR);
 * one function for all groups or one per group. Useful for warm-up.
 * @throws Error when the number of functions differs from the number of groups, or a function
 *   returns a non-finite value.
 */
export class LambdaLR extends LRScheduler {
  private readonly fns: ((epoch: number) => number)[];

  constructor(optimizer: Optimizer<BaseGroupOptions>, lrLambda: ((epoch: number) => number) | readonly ((epoch: number) => number)[]) {
    super('LambdaLR', optimizer);
    const n = optimizer.paramGroups.length;
    this.fns = typeof lrLambda === 'function' ? Array.from({ length: n }, () => lrLambda) : [...lrLambda];
    if (this.fns.length !== n || this.fns.some((f) => typeof f !== 'function')) fail('LambdaLR', `1 or ${n} functions (one per group)`, describeArg(lrLambda));
    this.step();
  }

  protected computeLr(): number[] {
    return this.baseLrs.map((b, i) => {
      const f = this.fns[i]!(this.lastEpoch);
      if (!Number.isFinite(f)) fail('LambdaLR', `a finite factor at epoch ${this.lastEpoch}`, String(f));
      return b * f;
    });
  }
}

// ------------------------------------------------------------------------------------ clipping

/**
 * Rescales the gradients of `params` in place so that their total norm is at most `maxNorm`
 * (torch.nn.utils.clip_grad_norm_): total = ‖(‖g₁‖ₚ, ‖g₂‖ₚ, ...)‖ₚ, and every gradient is multiplied
 * by min(1, maxNorm / (total + 1e-6)). `normType` is a positive number or Infinity (max |g|).
 * Parameters without a gradient are ignored. The gradients are replaced by new tensors (the old
 * ones are freed).
 * @returns the total norm before clipping, as a scalar tensor on the parameters' device (the
 *   caller disposes it), or null when no parameter has a gradient.
 * @throws Error on a non-positive normType or a negative maxNorm; with `errorIfNonfinite`, when
 *   the total norm is NaN or infinite (this reads the norm synchronously: cpu and wasm only).
 */
export function clipGradNorm(params: readonly Tensor[] | Tensor, maxNorm: number, normType = 2, opts: { errorIfNonfinite?: boolean } = {}): Tensor | null {
  const op = 'clipGradNorm';
  const list = params instanceof Tensor ? [params] : [...params];
  if (typeof maxNorm !== 'number' || !(maxNorm >= 0)) fail(op, 'maxNorm ≥ 0', String(maxNorm));
  if (typeof normType !== 'number' || !(normType > 0)) fail(op, 'normType > 0 (or Infinity)', String(normType));
  const withGrad = list.filter((p) => {
    if (!(p instanceof Tensor)) fail(op, 'parameters as Tensors', describeArg(p));
    return p.grad !== null;
  });
  if (withGrad.length === 0) return null;
  const first = withGrad[0]!.grad!;
  for (const p of withGrad) {
    const gr = p.grad!;
    if (gr.isDisposed) fail(op, 'live gradients', `a disposed gradient for ${p.toString()}`);
    if (gr.device !== first.device || gr.dtype !== first.dtype) fail(op, 'gradients on one device with one dtype', `${first.dtype} on ${first.device} and ${gr.dtype} on ${gr.device}`);
  }
  const total = noGrad(() =>
    tidy(() => {
      const norms = withGrad.map((p) => pNorm(p.grad!, normType));
      return engine.keep(pNorm(stack(norms), normType));
    }),
  );
  if (opts.errorIfNonfinite) {
    const v = total.item();
    if (!Number.isFinite(v)) {
      total.dispose();
      fail(op, 'a finite total gradient norm', String(v));
    }
  }
  noGrad(() => {
    for (const p of withGrad) {
      const g = p.grad!;
      const scaled = tidy(() => {
        // coef = min(maxNorm / (total + 1e-6), 1), computed on the device (no read-back).
        const coef = div(maxNorm, add(total, 1e-6));
        return engine.keep(mul(g, clamp(coef, null, 1)));
      });
      g.dispose();
      p.grad = scaled;
    }
  });
  return total;
}

function pNorm(x: Tensor, p: number): Tensor {
  if (p === Infinity) return max(abs(x));
  if (p === 2) return sqrt(sum(square(x)));
  if (p === 1) return sum(abs(x));
  return pow(sum(pow(abs(x), p)), 1 / p);
}
