/**
 * Tensor: an n-dimensional array on a device, always contiguous and row-major.
 * Ops are free functions in ops/ (`add(a, b)`, `conv2d(x, w)`); the methods here cover data
 * access, memory, devices and autograd.
 */
import type { DeviceName, KTensor } from '../backends/backend.js';
import { runBackward, type GradNode } from './autograd.js';
import type { DType, TypedArray } from './dtype.js';
import { bytesPerElement } from './dtype.js';
import { engine, type StorageRef } from './engine.js';
import { fail, fmtShape, sizeOf } from './shape.js';

export class Tensor {
  /** Marks Tensor objects for the engine's container walks. */
  readonly __isTensor = true;
  readonly id: number;
  readonly shape: readonly number[];
  private _dtype: DType;
  /** Whether gradients flow to this tensor. Set it on leaves (parameters, inputs). */
  requiresGrad = false;
  /** The accumulated gradient of a leaf after `backward()`; survives `tidy`. */
  grad: Tensor | null = null;
  /** The autograd node that produced this tensor, or null for leaves. */
  gradFn: GradNode | null = null;
  /** Optional name, used in error messages and state dicts. */
  name: string | undefined;
  private ref: StorageRef | null;
  /** Tensors that only this tensor's autograd node uses (scalar operands); freed with it. */
  private owned: Tensor[] | null = null;

  /** @internal Use the creation functions in ops/ (tensor, zeros, randn, ...). */
  constructor(ref: StorageRef, shape: readonly number[], dtype: DType) {
    this.ref = ref;
    this.shape = Object.freeze([...shape]);
    this._dtype = dtype;
    this.id = engine.track(this);
  }

  /** @internal Wraps a fresh backend storage as a tensor. */
  static fromStorage(device: DeviceName, storage: unknown, shape: readonly number[], dtype: DType): Tensor {
    const ref = engine.newRef(device, storage, sizeOf(shape) * bytesPerElement(dtype));
    return new Tensor(ref, shape, dtype);
  }

  get dtype(): DType {
    return this._dtype;
  }

  get device(): DeviceName {
    return this.ref ? this.ref.device : this.deviceAfterDispose;
  }
  private deviceAfterDispose: DeviceName = 'cpu';

  /** Number of elements. */
  get size(): number {
    return sizeOf(this.shape);
  }

  /** Number of dims (PyTorch's `dim()`). */
  get rank(): number {
    return this.shape.length;
  }

  get isDisposed(): boolean {
    return this.ref === null;
  }

  /** @internal The backend storage; throws naming `op` if this tensor was disposed. */
  storage(op = 'tensor'): unknown {
    if (!this.ref) fail(op, 'a live tensor', `tensor #${this.id} ${this.dtype}${fmtShape(this.shape)}, which was disposed`);
    if (this.ref.backend.lost) fail(op, `a tensor on a live ${this.device} backend`, `tensor #${this.id} ${this.dtype}${fmtShape(this.shape)} on a ${this.device} backend whose device was lost (after init('${this.device}') again, re-create the tensor)`);
    return this.ref.data;
  }

  /** @internal The kernel view {storage, shape, dtype}; throws naming `op` if disposed. */
  k(op: string): KTensor {
    return { storage: this.storage(op), shape: this.shape, dtype: this.dtype };
  }

  /** @internal The shared storage reference (for views: reshape, detach). */
  shareRef(op: string): StorageRef {
    this.storage(op);
    this.ref!.refs++;
    return this.ref!;
  }

  /** Reads the values (flat, row-major). On webgpu this waits for queued GPU work. */
  async data(): Promise<TypedArray> {
    return engine.backend(this.device).read(this.k('data'));
  }

  /** Reads the values synchronously (cpu and wasm only; webgpu throws: use `await t.data()`). */
  dataSync(): TypedArray {
    return engine.backend(this.device).readSync(this.k('dataSync'));
  }

  /** The single value of a one-element tensor (synchronous; cpu and wasm). */
  item(): number {
    if (this.size !== 1) fail('item', 'a tensor with one element', `shape ${fmtShape(this.shape)}`);
    return this.dataSync()[0]!;
  }

  /** Values as nested arrays (synchronous; cpu and wasm). */
  toArray(): NestedArray {
    return nest(Array.from(this.dataSync()), this.shape);
  }

  /** Frees the storage (once no other view shares it) and this tensor's `.grad`. Idempotent. */
  dispose(): void {
    if (!this.ref) return;
    const ref = this.ref;
    this.deviceAfterDispose = ref.device;
    engine.untrack(this);
    this.ref = null;
    engine.releaseRef(ref);
    if (this.grad) {
      this.grad.dispose();
      this.grad = null;
    }
    this.gradFn = null;
    if (this.owned) {
      for (const t of this.owned) t.dispose();
      this.owned = null;
    }
  }

  /**
   * @internal Ties `t`'s lifetime to this tensor's: `t` leaves every scope and is disposed with
   * this tensor. For tensors an op creates that only its autograd node reads (the scalar tensor
   * of `mul(x, 2)`), which nothing else would free.
   */
  adopt(t: Tensor): void {
    engine.keep(t);
    (this.owned ??= []).push(t);
  }

  /** Excludes this tensor from disposal by enclosing `tidy` calls. */
  keep(): this {
    return engine.keep(this);
  }

  /**
   * Backpropagates from this tensor, accumulating `.grad` on every leaf with `requiresGrad`.
   * `grad` defaults to ones for a one-element tensor (PyTorch requires it otherwise).
   */
  backward(grad?: Tensor): void {
    runBackward(this, grad);
  }

  /** A tensor sharing this storage, outside the autograd graph (PyTorch's detach). */
  detach(): Tensor {
    return new Tensor(this.shareRef('detach'), this.shape, this.dtype);
  }

  /** Sets `requiresGrad` and returns this tensor (PyTorch's requires_grad_). */
  requiresGrad_(on = true): this {
    if (on && this.dtype === 'int32') fail('requiresGrad_', 'a float tensor', 'int32');
    this.requiresGrad = on;
    return this;
  }

  /**
   * Replaces this tensor's values with `src`'s (same shape, dtype and device), keeping its
   * identity: optimizers update parameters this way. `src` is left intact.
   */
  assign(src: Tensor): this {
    if (src.device !== this.device) fail('assign', `a tensor on ${this.device}`, src.device);
    if (src.dtype !== this.dtype) fail('assign', `dtype ${this.dtype}`, src.dtype);
    if (fmtShape(src.shape) !== fmtShape(this.shape)) fail('assign', `shape ${fmtShape(this.shape)}`, fmtShape(src.shape));
    const next = src.shareRef('assign');
    if (this.ref) engine.releaseRef(this.ref);
    this.ref = next;
    return this;
  }

  /**
   * Copies this tensor to `device` (synchronously; use `toAsync` when the source is webgpu).
   * Differentiable: the gradient is copied back to the source device.
   */
  to(device: DeviceName): Tensor {
    return transfer(this, device);
  }

  /** Copies this tensor to `device`, reading back asynchronously (works from webgpu). */
  async toAsync(device: DeviceName): Promise<Tensor> {
    if (device === this.device) return this.detach();
    const values = await this.data();
    const out = Tensor.fromStorage(device, engine.backend(device).upload(values, this.dtype), this.shape, this.dtype);
    return out;
  }

  /**
   * @internal Moves this tensor's storage to `device` in place, keeping its identity (Module.to).
   * `values` are the host values when already read (the async path from webgpu).
   */
  moveStorage(device: DeviceName, values?: TypedArray): void {
    if (device === this.device) return;
    const data = values ?? engine.backend(this.device).readSync(this.k('to'));
    const ref = engine.newRef(device, engine.backend(device).upload(data, this.dtype), sizeOf(this.shape) * bytesPerElement(this.dtype));
    engine.retrack(this, device);
    engine.releaseRef(this.ref!);
    this.ref = ref;
  }

  /** @internal Converts this tensor's storage to `dtype` in place, keeping its identity (Module.toDtype). */
  castStorage(dtype: DType): void {
    if (dtype === this._dtype) return;
    const be = engine.backend(this.device);
    const ref = engine.newRef(this.device, be.cast(this.k('cast'), dtype), sizeOf(this.shape) * bytesPerElement(dtype));
    engine.releaseRef(this.ref!);
    this.ref = ref;
    this._dtype = dtype;
  }

  toString(): string {
    return `Tensor(${this.dtype}${fmtShape(this.shape)}, ${this.isDisposed ? 'disposed' : this.device}${this.requiresGrad ? ', requiresGrad' : ''})`;
  }
}

export type NestedArray = number | NestedArray[];

function nest(flat: number[], shape: readonly number[]): NestedArray {
  if (shape.length === 0) return flat[0]!;
  const [d, ...rest] = shape;
  const step = sizeOf(rest);
  const out: NestedArray[] = [];
  for (let i = 0; i < d!; i++) out.push(nest(flat.slice(i * step, (i + 1) * step), rest));
  return out;
}

/** Overridable hook so ops/ can make `to` differentiable without an import cycle. */
export let transfer: (t: Tensor, device: DeviceName) => Tensor = (t, device) => {
  if (device === t.device) return t.detach();
  const src = engine.backend(t.device);
  const values = src.readSync(t.k('to'));
  return Tensor.fromStorage(device, engine.backend(device).upload(values, t.dtype), t.shape, t.dtype);
};

/** @internal */
export function setTransfer(fn: (t: Tensor, device: DeviceName) => Tensor): void {
  transfer = fn;
}
