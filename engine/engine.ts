/**
 * The engine: the backend registry, device selection, the grad mode, memory scopes (tidy/keep)
 * and the memory report. There is one engine per process, `engine`.
 */
import type { Backend, DeviceName } from '../backends/backend.js';
import { DEVICES } from '../backends/backend.js';
import { CpuBackend } from '../backends/cpu/index.js';
import { Rng } from './random.js';
import type { Tensor } from './tensor.js';

/** A backend storage shared by one or more Tensor objects (reshape and detach share storage). */
export interface StorageRef {
  data: unknown;
  readonly device: DeviceName;
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
}

export interface MemoryInfo {
  numTensors: number;
  numBytes: number;
  /** One entry per initialized backend. */
  devices: Partial<Record<DeviceName, DeviceMemory>>;
}


export class Engine {
  private readonly backends = new Map<DeviceName, Backend>();
  private readonly factories = new Map<DeviceName, () => Promise<Backend>>();
  private readonly pending = new Map<DeviceName, Promise<Backend>>();
  private readonly counts = new Map<DeviceName, { tensors: number; bytes: number }>();
  private readonly scopes: Set<Tensor>[] = [];
  private nextId = 0;
  /** The device that creation functions use when none is given. */
  defaultDevice: DeviceName = 'cpu';
  /** Whether ops record the autograd graph (see noGrad). */
  gradEnabled = true;
  /** The seeded generator behind rand/randn/dropout/init. */
  readonly rng = new Rng(0);
  /** When set, a FinalizationRegistry reports tensors garbage-collected without dispose(). */
  private leakRegistry: FinalizationRegistry<string> | null = null;

  constructor() {
    for (const d of DEVICES) this.counts.set(d, { tensors: 0, bytes: 0 });
  }

  // ------------------------------------------------------------------ backends
  /** Registers a backend instance that is ready now (cpu). */
  registerBackend(backend: Backend): void {
    this.backends.set(backend.name, backend);
  }

  /** Registers an asynchronous factory (wasm, webgpu), called once by `init(name)`. */
  registerBackendFactory(name: DeviceName, factory: () => Promise<Backend>): void {
    this.factories.set(name, factory);
  }

  /**
   * Initializes a backend. Throws the backend's own Error when it cannot start (for webgpu: no
   * adapter, with how to get one). It never substitutes another backend.
   */
  async init(name: DeviceName): Promise<Backend> {
    const ready = this.backends.get(name);
    if (ready) return ready;
    let p = this.pending.get(name);
    if (!p) {
      const factory = this.factories.get(name);
      if (!factory) throw new Error(`init: expected one of the registered backends [${[...this.backends.keys(), ...this.factories.keys()].join(', ')}], got '${name}'`);
      p = factory().then((b) => {
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
    this.counts.get(device)!.bytes += bytes;
    return { data, device, bytes, refs: 1 };
  }

  /** @internal Drops one reference; frees the storage when none remain. */
  releaseRef(ref: StorageRef): void {
    if (--ref.refs === 0) {
      this.counts.get(ref.device)!.bytes -= ref.bytes;
      this.backend(ref.device).release(ref.data);
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
   * arrays and plain objects) and those marked with `keep`. Like tf.tidy. `fn` must be synchronous.
   */
  tidy<T>(fn: () => T): T {
    const scope = new Set<Tensor>();
    this.scopes.push(scope);
    let result: T;
    try {
      result = fn();
      if (result instanceof Promise) throw new Error('tidy: expected a synchronous function, got one that returned a Promise');
    } finally {
      this.scopes.pop();
      // On error, the scope is still freed: the tensors of a failed step are garbage.
    }
    const keepSet = new Set<Tensor>();
    collectTensors(result, keepSet);
    const parent = this.scopes[this.scopes.length - 1];
    for (const t of scope) {
      if (keepSet.has(t)) {
        if (parent) parent.add(t);
      } else if (!t.isDisposed) {
        t.dispose();
      }
    }
    return result;
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
      devices[d] = { tensors: c.tensors, bytes: c.bytes, pooledBytes: b ? b.memoryInfo().pooledBytes : 0 };
      numTensors += c.tensors;
      numBytes += c.bytes;
    }
    return { numTensors, numBytes, devices };
  }

  /** Debug mode: warn on stderr when a tensor is garbage-collected without `dispose()`. */
  setLeakDetection(on: boolean): void {
    this.leakRegistry = on ? new FinalizationRegistry((what) => console.warn(`posegrad: ${what} was garbage-collected without dispose()`)) : null;
  }
}

function collectTensors(x: unknown, out: Set<Tensor>): void {
  if (x === null || x === undefined || typeof x !== 'object') return;
  if (isTensor(x)) {
    out.add(x);
    return;
  }
  if (Array.isArray(x)) {
    for (const v of x) collectTensors(v, out);
    return;
  }
  if (Object.getPrototypeOf(x) === Object.prototype) for (const v of Object.values(x)) collectTensors(v, out);
}

function isTensor(x: object): x is Tensor {
  return (x as { __isTensor?: boolean }).__isTensor === true;
}

export const engine = new Engine();
// cpu is always present: it is the reference backend and the default device.
engine.registerBackend(new CpuBackend());
// wasm and webgpu start on demand (`await init('wasm')`); their code loads only then, so a browser
// bundle never pulls in the Node WebGPU binding unless webgpu is initialized.
engine.registerBackendFactory('wasm', async () => (await import('../backends/wasm/index.js')).createWasmBackend());
engine.registerBackendFactory('webgpu', async () => (await import('../backends/webgpu/index.js')).createWebGPUBackend());

/** Runs `fn` and disposes the tensors it created, except those it returns. See Engine.tidy. */
export function tidy<T>(fn: () => T): T {
  return engine.tidy(fn);
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

/** Initializes a backend (`'wasm'`, `'webgpu'`); see Engine.init. */
export function init(device: DeviceName): Promise<Backend> {
  return engine.init(device);
}

/** Sets the device that creation functions (tensor, zeros, randn, ...) use by default. */
export function setDefaultDevice(device: DeviceName): void {
  engine.backend(device);
  engine.defaultDevice = device;
}
