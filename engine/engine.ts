/**
 * The engine: the backend registry, device selection, the grad mode, memory scopes (tidy/keep)
 * and the memory report. There is one engine per process, `engine`.
 *
 * The engine imports no backend: backends/index.ts registers the built-in ones (cpu ready at
 * once, wasm and webgpu as factories that `init` calls). The package entry (index.ts) and every op
 * (through ops/util.ts) import that module, so that cpu is there before the first tensor. The
 * two `import type` lines below only name the backends' option types (erased when compiled).
 */
import type { Backend, DeviceName } from '../backends/backend.js';
import { DEVICES } from '../backends/backend.js';
import type { WasmBackendOptions } from '../backends/wasm/index.js';
import type { WebGPUBackendOptions } from '../backends/webgpu/index.js';
import { Rng } from './random.js';
import type { Tensor } from './tensor.js';

/** A backend storage shared by one or more Tensor objects (reshape and detach share storage). */
export interface StorageRef {
  data: unknown;
  readonly device: DeviceName;
  /**
   * The backend that made the storage, and that releases it: the one registered for `device` when
   * the storage was made (a backend re-created after a device loss, or swapped in by a test or the
   * ONNX tracer, never receives another backend's storage).
   */
  readonly backend: Backend;
  readonly bytes: number;
  refs: number;
}

export interface DeviceMemory {
  /** Live (not disposed) Tensor objects on this device. */
  tensors: number;
  /** Bytes of the distinct storages those tensors hold. */
  bytes: number;
  /** Bytes the backend holds beyond live tensors (buffer pool, scratch); 0 on cpu. */
  pooledBytes: number;
  /** The high-water mark of `bytes` since the last `resetPeakMemory()` (or the start). */
  peakBytes: number;
}

export interface MemoryInfo {
  numTensors: number;
  numBytes: number;
  /**
   * The high-water mark of `numBytes` (live tensor storage on all devices together) since the last
   * `resetPeakMemory()` (or the start). Backend pools and scratch buffers are not counted.
   */
  peakBytes: number;
  /** One entry per initialized backend. */
  devices: Partial<Record<DeviceName, DeviceMemory>>;
}

/**
 * The options `init(device, options)` takes for each backend: see WasmBackendOptions (wasmPaths,
 * wasmBinary, threads, ...) and WebGPUBackendOptions (powerPreference, requiredLimits, device,
 * ...). cpu takes none.
 */
export interface BackendOptions {
  cpu: Record<string, never>;
  wasm: WasmBackendOptions;
  webgpu: WebGPUBackendOptions;
}

export class Engine {
  private readonly backends = new Map<DeviceName, Backend>();
  private readonly factories = new Map<DeviceName, (options?: object) => Promise<Backend>>();
  /** The options each started backend was started with (see init). */
  private readonly initOptions = new Map<DeviceName, object | undefined>();
  private readonly pending = new Map<DeviceName, Promise<Backend>>();
  private readonly counts = new Map<DeviceName, { tensors: number; bytes: number; peak: number }>();
  /** Live storage bytes on all devices, and their high-water mark (MemoryInfo.peakBytes). */
  private liveBytes = 0;
  private peakLiveBytes = 0;
  private readonly scopes: Set<Tensor>[] = [];
  private nextId = 0;
  /** The device that creation functions use when none is given. */
  defaultDevice: DeviceName = 'cpu';
  /** Whether ops record the autograd graph (see noGrad). */
  gradEnabled = true;
  /**
   * Whether Module calls open memory scopes under noGrad (see `moduleScope`). On by default; off
   * only to measure what the scopes save (intermediates then live until the enclosing tidy ends).
   */
  moduleScopes = true;
  /** The seeded generator behind rand/randn/dropout/init. */
  readonly rng = new Rng(0);
  /** When set, a FinalizationRegistry reports tensors garbage-collected without dispose(). */
  private leakRegistry: FinalizationRegistry<string> | null = null;

  constructor() {
    for (const d of DEVICES) this.counts.set(d, { tensors: 0, bytes: 0, peak: 0 });
  }

  // ------------------------------------------------------------------ backends
  /** Registers a backend instance that is ready now (cpu; backends/index.ts registers the built-in ones). */
  registerBackend(backend: Backend): void {
    this.backends.set(backend.name, backend);
  }

  /**
   * Registers an asynchronous factory (wasm, webgpu), called once by `init(name, options)` with
   * those options.
   */
  registerBackendFactory<D extends DeviceName>(name: D, factory: (options?: BackendOptions[D]) => Promise<Backend>): void {
    this.factories.set(name, factory as (options?: object) => Promise<Backend>);
  }

  /**
   * Initializes a backend, with its options (see BackendOptions). A backend starts once: later
   * calls return the same backend, and throw if they pass options that differ from the first
   * call's. Throws the backend's own Error when it cannot start (for webgpu: no adapter, with how
   * to get one; for wasm threads: no SharedArrayBuffer, with the headers that give it). It never
   * substitutes another backend.
   *
   * A backend whose device is gone (`Backend.lost`, webgpu after a device loss or `destroy()`) is
   * dropped here: this call starts a new one through the factory, with this call's options. Its
   * tensors stay counted in `memory()` until disposed, and are released through the old backend.
   */
  async init<D extends DeviceName>(name: D, options?: BackendOptions[D]): Promise<Backend> {
    if (this.backends.get(name)?.lost === true) {
      if (!this.factories.has(name)) throw new Error(`init: expected a factory to start a new '${name}' backend (the registered one lost its device), got none; register one with engine.registerBackendFactory`);
      this.backends.delete(name);
      this.pending.delete(name);
      this.initOptions.delete(name);
    }
    if (options !== undefined && (this.backends.has(name) || this.pending.has(name)) && !sameOptions(this.initOptions.get(name), options)) {
      throw new Error(`init: expected the options of the first init('${name}') (a backend starts once per page or process), got different ones: ${describeOptions(options)} after ${describeOptions(this.initOptions.get(name))}`);
    }
    const ready = this.backends.get(name);
    if (ready) return ready;
    let p = this.pending.get(name);
    if (!p) {
      const factory = this.factories.get(name);
      if (!factory) throw new Error(`init: expected one of the registered backends [${[...this.backends.keys(), ...this.factories.keys()].join(', ')}], got '${name}'`);
      this.initOptions.set(name, options);
      p = factory(options).then((b) => {
        this.backends.set(name, b);
        return b;
      });
      p.catch(() => this.pending.delete(name));
      this.pending.set(name, p);
    }
    return p;
  }

  /** The initialized backend for `device`; throws if `init(device)` has not completed. */
  backend(device: DeviceName): Backend {
    const b = this.backends.get(device);
    if (!b) {
      if (!this.factories.has(device)) throw new Error(`backend: expected a registered backend, got '${device}'`);
      throw new Error(`backend: '${device}' is not initialized; call \`await init('${device}')\` first`);
    }
    return b;
  }

  isInitialized(device: DeviceName): boolean {
    return this.backends.has(device);
  }

  /** Names of the backends that are registered (initialized or not). */
  registeredBackends(): DeviceName[] {
    return DEVICES.filter((d) => this.backends.has(d) || this.factories.has(d));
  }

  // ------------------------------------------------------------------ tensor bookkeeping
  /** @internal Called by the Tensor constructor. */
  track(t: Tensor): number {
    const id = this.nextId++;
    this.counts.get(t.device)!.tensors++;
    const scope = this.scopes[this.scopes.length - 1];
    if (scope) scope.add(t);
    this.leakRegistry?.register(t, `tensor #${id} ${t.dtype}[${t.shape.join(', ')}] on ${t.device}`, t);
    return id;
  }

  /** @internal Called by Tensor.dispose. */
  untrack(t: Tensor): void {
    this.counts.get(t.device)!.tensors--;
    for (let i = this.scopes.length - 1; i >= 0; i--) if (this.scopes[i]!.delete(t)) break;
    this.leakRegistry?.unregister(t);
  }

  /** @internal Moves `t`'s count to another device (Tensor.moveStorage). */
  retrack(t: Tensor, device: DeviceName): void {
    this.counts.get(t.device)!.tensors--;
    this.counts.get(device)!.tensors++;
  }

  /** @internal A fresh storage reference holding one ref. */
  newRef(device: DeviceName, data: unknown, bytes: number): StorageRef {
    const backend = this.backend(device);
    const c = this.counts.get(device)!;
    c.bytes += bytes;
    if (c.bytes > c.peak) c.peak = c.bytes;
    this.liveBytes += bytes;
    if (this.liveBytes > this.peakLiveBytes) this.peakLiveBytes = this.liveBytes;
    return { data, device, backend, bytes, refs: 1 };
  }

  /** @internal Drops one reference; frees the storage (through the backend that made it) when none remain. */
  releaseRef(ref: StorageRef): void {
    if (--ref.refs === 0) {
      this.counts.get(ref.device)!.bytes -= ref.bytes;
      this.liveBytes -= ref.bytes;
      ref.backend.release(ref.data);
      ref.data = null;
    }
  }

  /** The id that the next tensor will get: tensors with a larger id were created later. */
  peekNextId(): number {
    return this.nextId;
  }

  // ------------------------------------------------------------------ scopes
  /**
   * Runs `fn` and disposes every tensor it created, except the tensors it returns (found in
   * arrays, plain objects, Maps and Sets) and those marked with `keep`; the returned tensors join
   * the enclosing scope. Like tf.tidy. `fn` must be synchronous.
   *
   * When `fn` throws, its tensors (except kept ones) are disposed as well and the error is
   * rethrown: the tensors of a failed step are garbage. (When `fn` returns a Promise, its tensors
   * are left to the enclosing scope, since the async function may still use them, and tidy throws.)
   */
  tidy<T>(fn: () => T): T {
    const scope = new Set<Tensor>();
    this.scopes.push(scope);
    let result: T;
    try {
      result = fn();
    } catch (e) {
      this.popScope(scope);
      disposeQuietly(scope);
      throw e;
    }
    this.popScope(scope);
    const parent = this.scopes[this.scopes.length - 1];
    if (result instanceof Promise) {
      if (parent) for (const t of scope) parent.add(t);
      throw new Error('tidy: expected a synchronous function, got one that returned a Promise');
    }
    this.closeScope(scope, result);
    return result;
  }

  /**
   * @internal The scope of one Module call (see Module's constructor). With grad off, `fn` runs as
   * in `tidy`: the tensors created inside it are freed when it returns, except its outputs (and
   * kept tensors); inputs, parameters and buffers existed before, so they are never in the scope.
   * With grad on, `fn` just runs: the autograd graph may need every intermediate, and the
   * enclosing `tidy` frees them.
   */
  moduleScope<T>(fn: () => T): T {
    return this.gradEnabled || !this.moduleScopes ? fn() : this.tidy(fn);
  }

  /**
   * @internal Disposes `t` now when it belongs to the innermost scope (it was created since that
   * scope opened and is not kept), so that a scope can free an intermediate before it closes
   * (Sequential frees each layer's input once the next layer has run). Returns whether it did.
   */
  disposeIfScoped(t: Tensor): boolean {
    const scope = this.scopes[this.scopes.length - 1];
    if (!scope || !scope.has(t)) return false;
    t.dispose();
    return true;
  }

  /**
   * Frees intermediates that the calling code will not read again, as soon as that is safe, so
   * that a module's peak memory is its largest live set rather than every tensor it made before
   * returning (PyTorch frees a tensor when its last reference goes; the scopes here free at the
   * end of each Module call). Pass only tensors the caller neither uses again nor returns.
   *
   * - Grad off (noGrad), module scopes on: each given tensor that belongs to the innermost scope
   *   (made since that scope opened, and not kept: an intermediate of the current Module call or
   *   tidy) is disposed now. Anything else is left alone: the call's inputs, parameters, buffers,
   *   kept cache entries, and tensors outside any scope.
   * - Grad on: nothing is freed. An autograd node may have saved the tensor for backward (conv
   *   and batch norm save their input, ReLU its output), so the enclosing `tidy` frees it after
   *   the step, as before; gradients are exactly those of code that never called this.
   * - `engine.moduleScopes` off: nothing is freed (the scopes' savings are measured against that).
   *
   * null and undefined entries, repeated and already disposed tensors are skipped. Returns how
   * many tensors it disposed. A view that shares storage (reshape, detach) keeps the storage
   * alive after the tensor it views is disposed.
   */
  freeIntermediates(...ts: readonly (Tensor | null | undefined)[]): number {
    if (this.gradEnabled || !this.moduleScopes) return 0;
    const scope = this.scopes[this.scopes.length - 1];
    if (!scope) return 0;
    let n = 0;
    for (const t of ts) {
      if (t && scope.has(t)) {
        t.dispose();
        n++;
      }
    }
    return n;
  }

  private popScope(scope: Set<Tensor>): void {
    const i = this.scopes.lastIndexOf(scope);
    // Normally the top; should an inner scope have been left open, its tensors are ours to free.
    if (i < 0) return;
    for (const inner of this.scopes.splice(i)) if (inner !== scope) for (const t of inner) scope.add(t);
  }

  /** Disposes the tensors of a closed scope except those in `result`, which move to the parent. */
  private closeScope(scope: Set<Tensor>, result: unknown): void {
    const keepSet = new Set<Tensor>();
    collectTensors(result, keepSet, new Set());
    const parent = this.scopes[this.scopes.length - 1];
    for (const t of scope) {
      if (keepSet.has(t)) {
        if (parent) parent.add(t);
      } else if (!t.isDisposed) {
        t.dispose();
      }
    }
  }

  /** Removes `t` from every scope, so that no enclosing tidy disposes it. */
  keep<T extends Tensor>(t: T): T {
    for (const s of this.scopes) s.delete(t);
    return t;
  }

  // ------------------------------------------------------------------ memory report
  memory(): MemoryInfo {
    const devices: Partial<Record<DeviceName, DeviceMemory>> = {};
    let numTensors = 0;
    let numBytes = 0;
    for (const d of DEVICES) {
      const c = this.counts.get(d)!;
      const b = this.backends.get(d);
      if (!b && c.tensors === 0) continue;
      devices[d] = { tensors: c.tensors, bytes: c.bytes, pooledBytes: b ? b.memoryInfo().pooledBytes : 0, peakBytes: c.peak };
      numTensors += c.tensors;
      numBytes += c.bytes;
    }
    return { numTensors, numBytes, peakBytes: this.peakLiveBytes, devices };
  }

  /** Restarts the high-water marks (MemoryInfo.peakBytes, DeviceMemory.peakBytes) at the live bytes. */
  resetPeakMemory(): void {
    this.peakLiveBytes = this.liveBytes;
    for (const c of this.counts.values()) c.peak = c.bytes;
  }

  /** Debug mode: warn on stderr when a tensor is garbage-collected without `dispose()`. */
  setLeakDetection(on: boolean): void {
    this.leakRegistry = on ? new FinalizationRegistry((what) => console.warn(`posegrad: ${what} was garbage-collected without dispose()`)) : null;
  }
}

function collectTensors(x: unknown, out: Set<Tensor>, seen: Set<object>): void {
  if (x === null || x === undefined || typeof x !== 'object') return;
  if (isTensor(x)) {
    out.add(x);
    return;
  }
  if (seen.has(x)) return;
  seen.add(x);
  if (Array.isArray(x) || x instanceof Set) {
    for (const v of x) collectTensors(v, out, seen);
    return;
  }
  if (x instanceof Map) {
    for (const [k, v] of x) {
      collectTensors(k, out, seen);
      collectTensors(v, out, seen);
    }
    return;
  }
  const proto = Object.getPrototypeOf(x);
  if (proto === Object.prototype || proto === null) for (const v of Object.values(x)) collectTensors(v, out, seen);
}

/** Disposes every tensor of `ts` on an error path: a failure to free one does not hide the error. */
function disposeQuietly(ts: Iterable<Tensor>): void {
  for (const t of ts) {
    try {
      t.dispose();
    } catch {
      // the original error matters more
    }
  }
}

function isTensor(x: object): x is Tensor {
  return (x as { __isTensor?: boolean }).__isTensor === true;
}

/** The engine of this process. Its backends are registered by backends/index.ts. */
export const engine = new Engine();

/** Runs `fn` and disposes the tensors it created, except those it returns. See Engine.tidy. */
export function tidy<T>(fn: () => T): T {
  return engine.tidy(fn);
}

/**
 * Frees intermediates that module code will not read again, when that is safe: at once with grad
 * off, never with grad on (the autograd graph may have saved them). See Engine.freeIntermediates.
 */
export function freeIntermediates(...ts: readonly (Tensor | null | undefined)[]): number {
  return engine.freeIntermediates(...ts);
}

/** Runs `fn` without recording the autograd graph, like `torch.no_grad()`. */
export function noGrad<T>(fn: () => T): T {
  const prev = engine.gradEnabled;
  engine.gradEnabled = false;
  try {
    return fn();
  } finally {
    engine.gradEnabled = prev;
  }
}

/** Seeds the generator used by rand, randn, dropout and weight init (like torch.manual_seed). */
export function manualSeed(seed: number): void {
  engine.rng.seed(seed);
}

/** Live tensors and bytes per backend. */
export function memory(): MemoryInfo {
  return engine.memory();
}

/** Restarts the peak-memory high-water marks (see MemoryInfo.peakBytes) at the current live bytes. */
export function resetPeakMemory(): void {
  engine.resetPeakMemory();
}

/**
 * Initializes a backend (`'wasm'`, `'webgpu'`) with its options, once per page or process:
 *
 *   await init('wasm', { threads: 2, wasmPaths: '/assets/posegrad/' });
 *   await init('webgpu', { powerPreference: 'low-power' });
 *
 * See BackendOptions, WasmBackendOptions, WebGPUBackendOptions and Engine.init.
 */
export function init<D extends DeviceName>(device: D, options?: BackendOptions[D]): Promise<Backend> {
  return engine.init(device, options);
}

/** Whether two init option objects say the same (nested plain objects compared by value). */
function sameOptions(a: object | undefined, b: object | undefined): boolean {
  const ra = (a ?? {}) as Record<string, unknown>;
  const rb = (b ?? {}) as Record<string, unknown>;
  const plain = (v: unknown): boolean => v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype;
  for (const k of new Set([...Object.keys(ra), ...Object.keys(rb)])) {
    const x = ra[k];
    const y = rb[k];
    if (!Object.is(x, y) && !(plain(x) && plain(y) && JSON.stringify(x) === JSON.stringify(y))) return false;
  }
  return true;
}

/** Init options for an error message (objects other than plain ones by their class name). */
function describeOptions(o: object | undefined): string {
  const entries = Object.entries(o ?? {});
  const show = (v: unknown): string => (v !== null && typeof v === 'object' && Object.getPrototypeOf(v) !== Object.prototype ? `[${(v as object).constructor?.name ?? 'object'}]` : String(JSON.stringify(v)));
  return entries.length ? `{ ${entries.map(([k, v]) => `${k}: ${show(v)}`).join(', ')} }` : '{}';
}

/** Sets the device that creation functions (tensor, zeros, randn, ...) use by default. */
export function setDefaultDevice(device: DeviceName): void {
  engine.backend(device);
  engine.defaultDevice = device;
}
