/**
 * Module: the base of every layer and network, as torch.nn.Module.
 *
 * Parameters, buffers and submodules are registered explicitly under their PyTorch names
 * (`this.weight = this.param('weight', ...)`, `this.conv1 = this.module('conv1', ...)`), so that
 * `stateDict()` produces the keys PyTorch would (`layer1.0.conv1.weight`, `bn.running_mean`) and an
 * official checkpoint loads key for key.
 *
 * Every call of a module's `forward` runs in a memory scope (see `Engine.moduleScope`): with grad
 * off (`noGrad`), the tensors the call creates are freed when it returns, except its outputs, so an
 * inference forward's peak memory is about its largest live set rather than the sum of its
 * activations. A module that caches tensors across calls must `keep()` them.
 *
 * Within one call, the scope would still hold every intermediate until the call returns (a
 * residual block's conv, BN, ReLU and sum outputs together). Module code therefore frees each
 * intermediate once it is dead with `freeIntermediates(t, ...)` (engine/engine.ts): at once under
 * noGrad, nothing under grad (autograd nodes may have saved it; the enclosing tidy frees it after
 * backward), so the same code is right in both modes (models/backbones/hrnet.ts uses it).
 */
import type { DeviceName } from '../../backends/backend.js';
import type { DType } from '../../engine/dtype.js';
import { engine } from '../../engine/engine.js';
import { fmtShape, shapesEqual } from '../../engine/shape.js';
import { Tensor } from '../../engine/tensor.js';
import { tensor } from '../../ops/creation.js';
import type { HostTensor } from './safetensors.js';

export interface LoadResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

export type StateDictSource = Map<string, Tensor | HostTensor> | Record<string, Tensor | HostTensor>;

export class Module {
  /** Training mode (dropout active, batch norm uses batch statistics). */
  training = true;
  private readonly _params = new Map<string, Tensor | null>();
  private readonly _buffers = new Map<string, Tensor | null>();
  private readonly _modules = new Map<string, Module | null>();

  constructor() {
    scopeForward(this);
  }

  /** Registers a trainable parameter under its PyTorch name; it requires grad and survives tidy. */
  protected param(name: string, t: Tensor | null): Tensor {
    if (t) {
      engine.keep(t);
      t.requiresGrad_(true);
      t.name ??= name;
    }
    this._params.set(name, t);
    return t as Tensor;
  }

  /** Registers a buffer (state without gradient, such as running_mean); survives tidy. */
  protected buffer(name: string, t: Tensor | null): Tensor {
    if (t) engine.keep(t);
    this._buffers.set(name, t);
    return t as Tensor;
  }

  /** Registers a submodule under its PyTorch name. */
  protected module<M extends Module | null>(name: string, m: M): M {
    this._modules.set(name, m);
    return m;
  }

  /** Sets training mode recursively (PyTorch's train()). */
  train(mode = true): this {
    this.training = mode;
    for (const m of this._modules.values()) m?.train(mode);
    return this;
  }

  /** Evaluation mode (PyTorch's eval()). */
  eval(): this {
    return this.train(false);
  }

  /** Direct children, in registration order. */
  children(): [string, Module][] {
    return [...this._modules.entries()].filter((e): e is [string, Module] => e[1] !== null);
  }

  /** Every module in the tree with its dotted name ('' for this one). */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [n, m] of this.children()) out.push(...m.namedModules(prefix ? `${prefix}.${n}` : n));
    return out;
  }

  /** Parameters with dotted PyTorch names, in PyTorch's order. */
  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, p] of this._params) if (p) out.push([prefix ? `${prefix}.${n}` : n, p]);
    for (const [n, m] of this.children()) out.push(...m.namedParameters(prefix ? `${prefix}.${n}` : n));
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map((e) => e[1]);
  }

  namedBuffers(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, b] of this._buffers) if (b) out.push([prefix ? `${prefix}.${n}` : n, b]);
    for (const [n, m] of this.children()) out.push(...m.namedBuffers(prefix ? `${prefix}.${n}` : n));
    return out;
  }

  /** Total number of parameter elements. */
  numParameters(): number {
    return this.parameters().reduce((s, p) => s + p.size, 0);
  }

  /**
   * Parameters and buffers keyed as PyTorch's state_dict(): each module's own parameters, then its
   * buffers, then its children recursively. The tensors are the live ones (not copies).
   */
  stateDict(prefix = ''): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [n, p] of this._params) if (p) out.set(prefix + n, p);
    for (const [n, b] of this._buffers) if (b) out.set(prefix + n, b);
    for (const [n, m] of this.children()) for (const [k, v] of m.stateDict(`${prefix}${n}.`)) out.set(k, v);
    return out;
  }

  /**
   * Copies values from a state dict (posegrad tensors or host tensors read from a checkpoint) into
   * this module's parameters and buffers, converting dtype (for example int64 counters) as needed.
   * With `strict` (the default) missing or unexpected keys throw, as PyTorch's load_state_dict.
   * @throws Error naming the key when a shape differs, or listing missing/unexpected keys (strict).
   */
  loadStateDict(source: StateDictSource, opts: { strict?: boolean } = {}): LoadResult {
    const strict = opts.strict ?? true;
    const entries = source instanceof Map ? source : new Map(Object.entries(source));
    const own = this.stateDict();
    const missingKeys = [...own.keys()].filter((k) => !entries.has(k));
    const unexpectedKeys = [...entries.keys()].filter((k) => !own.has(k));
    if (strict && (missingKeys.length || unexpectedKeys.length)) {
      throw new Error(`loadStateDict: expected the model's keys, got ${missingKeys.length} missing [${missingKeys.slice(0, 8).join(', ')}${missingKeys.length > 8 ? ', ...' : ''}] and ${unexpectedKeys.length} unexpected [${unexpectedKeys.slice(0, 8).join(', ')}${unexpectedKeys.length > 8 ? ', ...' : ''}]`);
    }
    for (const [k, dst] of own) {
      const src = entries.get(k);
      if (!src) continue;
      // PyTorch stores scalar counters (num_batches_tracked) as shape [].
      if (!shapesEqual(src.shape, dst.shape) && !(src.shape.length === 0 && dst.size === 1)) {
        throw new Error(`loadStateDict: expected '${k}' of shape ${fmtShape(dst.shape)}, got ${fmtShape(src.shape)}`);
      }
      const values = src instanceof Tensor ? src.dataSync() : src.data;
      const t = tensor(values, { dtype: dst.dtype, shape: dst.shape, device: dst.device });
      dst.assign(t);
      t.dispose();
    }
    return { missingKeys, unexpectedKeys };
  }

  /** Frees every gradient (PyTorch's zero_grad(set_to_none=True)). */
  zeroGrad(): void {
    for (const p of this.parameters()) {
      if (p.grad) {
        p.grad.dispose();
        p.grad = null;
      }
    }
  }

  /** Moves every parameter and buffer to `device` in place (sync; from webgpu use toAsync). */
  to(device: DeviceName): this {
    for (const t of [...this.parameters(), ...this.namedBuffers().map((e) => e[1])]) t.moveStorage(device);
    return this;
  }

  /** Moves every parameter and buffer to `device`, reading back asynchronously when needed. */
  async toAsync(device: DeviceName): Promise<this> {
    for (const t of [...this.parameters(), ...this.namedBuffers().map((e) => e[1])]) {
      if (t.device === device) continue;
      t.moveStorage(device, await t.data());
    }
    return this;
  }

  /** Casts float parameters and buffers to `dtype` in place (for float64 gradchecks). */
  toDtype(dtype: Exclude<DType, 'int32'>): this {
    this.zeroGrad();
    for (const t of [...this.parameters(), ...this.namedBuffers().map((e) => e[1])]) if (t.dtype !== 'int32') t.castStorage(dtype);
    return this;
  }

  /** Frees all parameters and buffers of the tree. */
  dispose(): void {
    for (const t of [...this.parameters(), ...this.namedBuffers().map((e) => e[1])]) t.dispose();
  }
}

/**
 * Installs on `m`, for `forward` and every other method whose name starts with `forward`
 * (`forwardFeatures`, `forwardDetailed`, ...), an own non-enumerable wrapper that runs the class's
 * method in a module scope (`Engine.moduleScope`): with grad off, the tensors created during the
 * call are freed when it returns, except the tensors it returns (a Tensor, or tensors in arrays,
 * plain objects, Maps and Sets) and kept ones. Tensors that existed before the call (its inputs,
 * parameters, buffers, cache entries) are never in the scope, so an input returned as is
 * (Identity) or a view of it is safe. With grad on the call runs unchanged: the autograd graph
 * holds its intermediates and the enclosing `tidy` frees them. The method is looked up on the
 * prototype at each call, so overrides (and a patched prototype) are honoured; `super.forward()`
 * calls the parent's method directly, within the caller's scope.
 */
function scopeForward(m: Module): void {
  const names = new Set<string>();
  for (let p = Object.getPrototypeOf(m) as object | null; p && p !== Module.prototype && p !== Object.prototype; p = Object.getPrototypeOf(p) as object | null) {
    for (const n of Object.getOwnPropertyNames(p)) if (n.startsWith('forward') && typeof Object.getOwnPropertyDescriptor(p, n)!.value === 'function') names.add(n);
  }
  for (const name of names) {
    Object.defineProperty(m, name, {
      configurable: true,
      enumerable: false,
      writable: true,
      value: function scopedForward(this: unknown, ...args: unknown[]): unknown {
        const f = (Object.getPrototypeOf(m) as Record<string, (...a: unknown[]) => unknown>)[name]!;
        return engine.moduleScope(() => f.apply(this, args));
      },
    });
  }
}
