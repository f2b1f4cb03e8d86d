/// <reference types="@webgpu/types" />
/**
 * The webgpu backend: hand-written WGSL kernels behind the Backend interface.
 *
 *   import { init, conv2d } from 'posegrad';
 *   await init('webgpu');                   // or init('webgpu', WebGPUBackendOptions)
 *   const y = conv2d(x.to('webgpu'), w.to('webgpu'));
 *   const values = await y.data();          // reads are async on webgpu
 *
 * backends/index.ts registers createWebGPUBackend as the engine's 'webgpu' factory; this module
 * (and the WebGPU binding) loads only when `init('webgpu')` runs.
 *
 * Storage is a pooled GPUBuffer (runtime.ts). Kernels are in kernels/*.ts; WebGPUBackend only
 * wires them to the interface, as every backend does (backends/cpu/index.ts is the file to copy):
 * the interface's methods in its order and under its section headings, one delegation per method,
 * the context (the Runtime) passed first. Dtypes: float32 and int32 (WGSL has no f64: float64
 * uploads, fills and casts throw). GPU work is batched into command buffers and submitted without
 * waiting; only `read` / `sync` wait.
 */
import type {
  AttentionParams, Backend, BackendMemoryInfo, Conv2dParams, DeformConv2dParams, GridSampleParams,
  InterpolateParams, KTensor, MatmulParams, Pool2dParams,
} from '../backend.js';
import type { BinaryOp, ReduceOp, UnaryOp } from '../spec.js';
import { toTypedArray, type DType, type TypedArray } from '../../engine/dtype.js';
import { fail } from '../../engine/shape.js';
import { acquireDevice, envDeviceOptions, type DeviceOptions } from './device.js';
import { Runtime, type GPUStorage, type RuntimeOptions } from './runtime.js';
import * as attn from './kernels/attention.js';
import * as conv from './kernels/conv.js';
import * as deform from './kernels/deform-conv.js';
import * as ew from './kernels/elementwise.js';
import * as gs from './kernels/grid-sample.js';
import * as mm from './kernels/matmul.js';
import * as norm from './kernels/norm.js';
import * as pool from './kernels/pooling.js';
import * as red from './kernels/reduce.js';
import * as rs from './kernels/resample.js';
import * as sh from './kernels/shape.js';
import * as sm from './kernels/softmax.js';

export type { GPUStorage } from './runtime.js';
/** A storage with its shape and dtype: what the kernels take. */
type GT = KTensor<GPUStorage>;

/**
 * Options of the webgpu backend: `init('webgpu', options)` (or `createWebGPUBackend(options)`):
 * how to get the device (`powerPreference`, `requiredLimits`, an application's `device`; in Node,
 * Dawn's `adapter` and `backend`) and the runtime's batching and pooling. They apply when the
 * backend starts, once per page or process.
 */
export interface WebGPUBackendOptions extends DeviceOptions, RuntimeOptions {}

/**
 * Creates the webgpu backend: acquires an adapter and device (see device.ts for the order and the
 * POSEGRAD_WEBGPU_ADAPTER / POSEGRAD_WEBGPU_BACKEND overrides, which options take precedence
 * over) and starts a runtime on it.
 * @throws Error when there is no WebGPU adapter, saying why and how to install lavapipe.
 */
export async function createWebGPUBackend(options?: WebGPUBackendOptions): Promise<Backend> {
  const dev = await acquireDevice(options && (options.adapter !== undefined || options.backend !== undefined) ? options : { ...envDeviceOptions(), ...options });
  return new WebGPUBackend(new Runtime(dev, options));
}

export class WebGPUBackend implements Backend<GPUStorage> {
  readonly name = 'webgpu' as const;
  private readonly released = new WeakSet<GPUStorage>();

  /** `rt`: the device, queue, buffer pool and batching that every kernel takes first. */
  constructor(readonly rt: Runtime) {}

  /**
   * True once the device is gone (lost, or `destroy()`ed): `init('webgpu')` then starts a new
   * backend on a new device, and tensors on this one throw (see Backend.lost).
   */
  get lost(): boolean {
    return this.rt.lost;
  }

  // ---------------------------------------------------------------- webgpu only (not in Backend)
  /** Releases the GPU device. Tensors on this backend become unusable. */
  destroy(): void {
    this.rt.destroy();
  }

  // ---------------------------------------------------------------- memory and data movement
  upload(values: TypedArray, dtype: DType): GPUStorage {
    if (dtype === 'float64') fail('upload', 'dtype float32 or int32 on webgpu (WGSL has no f64; cast to float32 first)', 'float64');
    const data = dtype === 'float32' ? (values instanceof Float32Array ? values : toTypedArray(values, 'float32')) : values instanceof Int32Array ? values : toTypedArray(values, 'int32');
    return this.rt.upload(data as Float32Array | Int32Array);
  }
  async read(x: GT): Promise<TypedArray> {
    const buf = await this.rt.read(x.storage);
    return x.dtype === 'int32' ? new Int32Array(buf) : new Float32Array(buf);
  }
  readSync(_x: GT): TypedArray {
    return fail('dataSync', "an asynchronous read on webgpu: use `await t.data()` or `await t.toAsync('cpu')`", 'a synchronous read');
  }
  release(storage: GPUStorage): void {
    if (this.released.has(storage)) return;
    this.released.add(storage);
    this.rt.free(storage);
  }
  memoryInfo(): BackendMemoryInfo {
    return { pooledBytes: this.rt.pooledBytes };
  }
  sync(): Promise<void> {
    return this.rt.sync();
  }

  // ---------------------------------------------------------------- creation and elementwise
  fill(shape: readonly number[], dtype: DType, value: number): GPUStorage {
    return ew.fill(this.rt, shape, dtype, value);
  }
  cast(x: GT, dtype: DType): GPUStorage {
    return ew.cast(this.rt, x.storage, x.shape, x.dtype, dtype);
  }
  unary(op: UnaryOp, x: GT, params: readonly number[]): GPUStorage {
    return ew.unary(this.rt, op, x.storage, x.shape, x.dtype, params);
  }
  unaryGrad(op: UnaryOp, x: GT, y: GT, dy: GT, params: readonly number[]): GPUStorage {
    return ew.unaryGrad(this.rt, op, x.storage, y.storage, dy.storage, x.shape, x.dtype, params);
  }
  binary(op: BinaryOp, a: GT, b: GT, outShape: readonly number[], outDtype: DType): GPUStorage {
    return ew.binary(this.rt, op, a.storage, a.shape, b.storage, b.shape, a.dtype, outShape, outDtype);
  }
  where(cond: GT, a: GT, b: GT, outShape: readonly number[]): GPUStorage {
    ew.wgslType(a.dtype, 'where');
    return ew.where(this.rt, cond.storage, cond.shape, cond.dtype, a.storage, a.shape, b.storage, b.shape, outShape);
  }

  // ---------------------------------------------------------------- reductions and scans
  reduce(op: ReduceOp, x: GT, outer: number, size: number, inner: number): GPUStorage {
    return red.reduce(this.rt, op, x, outer, size, inner);
  }
  argReduce(op: 'argmax' | 'argmin', x: GT, outer: number, size: number, inner: number): GPUStorage {
    return red.argReduce(this.rt, op, x, outer, size, inner);
  }
  cumsum(x: GT, outer: number, size: number, inner: number): GPUStorage {
    return red.cumsum(this.rt, x, outer, size, inner);
  }
  topk(x: GT, outer: number, size: number, k: number, largest: boolean): { values: GPUStorage; indices: GPUStorage } {
    return red.topk(this.rt, x, outer, size, k, largest);
  }

  // ---------------------------------------------------------------- matmul
  matmul(a: GT, b: GT, p: MatmulParams): GPUStorage {
    return mm.matmul(this.rt, a, b, p);
  }

  // ---------------------------------------------------------------- shape and indexing (all dtypes)
  permute(x: GT, perm: readonly number[]): GPUStorage {
    return sh.permute(this.rt, x, perm);
  }
  slice(x: GT, begin: readonly number[], size: readonly number[], step: readonly number[]): GPUStorage {
    return sh.slice(this.rt, x, begin, size, step);
  }
  pad(x: GT, before: readonly number[], after: readonly number[], value: number): GPUStorage {
    return sh.pad(this.rt, x, before, after, value);
  }
  concat(xs: readonly GT[], axis: number): GPUStorage {
    return sh.concat(this.rt, xs, axis);
  }
  flip(x: GT, axes: readonly number[]): GPUStorage {
    return sh.flip(this.rt, x, axes);
  }
  gather(x: GT, index: GT, axis: number): GPUStorage {
    return sh.gather(this.rt, x, index, axis);
  }
  scatterAdd(outShape: readonly number[], index: GT, src: GT, axis: number): GPUStorage {
    return sh.scatterAdd(this.rt, outShape, index, src, axis);
  }
  indexSelect(x: GT, axis: number, index: GT): GPUStorage {
    return sh.indexSelect(this.rt, x, axis, index);
  }

  // ---------------------------------------------------------------- convolution
  conv2d(x: GT, w: GT, bias: GT | null, p: Conv2dParams): GPUStorage {
    return conv.conv2d(this.rt, x, w, bias, p);
  }
  conv2dBackwardInput(dy: GT, w: GT, xShape: readonly number[], p: Conv2dParams): GPUStorage {
    return conv.conv2dBackwardInput(this.rt, dy, w, xShape, p);
  }
  conv2dBackwardWeight(x: GT, dy: GT, wShape: readonly number[], p: Conv2dParams): GPUStorage {
    return conv.conv2dBackwardWeight(this.rt, x, dy, wShape, p);
  }
  deformConv2d(x: GT, offset: GT, mask: GT | null, w: GT, bias: GT | null, p: DeformConv2dParams): GPUStorage {
    return deform.deformConv2d(this.rt, x, offset, mask, w, bias, p);
  }
  deformConv2dBackward(dy: GT, x: GT, offset: GT, mask: GT | null, w: GT, p: DeformConv2dParams): { dx: GPUStorage; dOffset: GPUStorage; dMask: GPUStorage | null; dWeight: GPUStorage } {
    return deform.deformConv2dBackward(this.rt, dy, x, offset, mask, w, p);
  }

  // ---------------------------------------------------------------- pooling and resampling (NCHW)
  maxPool2d(x: GT, p: Pool2dParams): { out: GPUStorage; indices: GPUStorage } {
    return pool.maxPool2d(this.rt, x, p);
  }
  maxPool2dBackward(dy: GT, indices: GT, xShape: readonly number[], p: Pool2dParams): GPUStorage {
    return pool.maxPool2dBackward(this.rt, dy, indices, xShape, p);
  }
  avgPool2d(x: GT, p: Pool2dParams): GPUStorage {
    return pool.avgPool2d(this.rt, x, p);
  }
  avgPool2dBackward(dy: GT, xShape: readonly number[], p: Pool2dParams): GPUStorage {
    return pool.avgPool2dBackward(this.rt, dy, xShape, p);
  }
  adaptiveAvgPool2d(x: GT, outH: number, outW: number): GPUStorage {
    return pool.adaptiveAvgPool2d(this.rt, x, outH, outW);
  }
  adaptiveAvgPool2dBackward(dy: GT, xShape: readonly number[]): GPUStorage {
    return pool.adaptiveAvgPool2dBackward(this.rt, dy, xShape);
  }
  interpolate(x: GT, p: InterpolateParams): GPUStorage {
    return rs.interpolate(this.rt, x, p);
  }
  interpolateBackward(dy: GT, xShape: readonly number[], p: InterpolateParams): GPUStorage {
    return rs.interpolateBackward(this.rt, dy, xShape, p);
  }
  gridSample(x: GT, grid: GT, p: GridSampleParams): GPUStorage {
    return gs.gridSample(this.rt, x, grid, p);
  }
  gridSampleBackward(dy: GT, x: GT, grid: GT, p: GridSampleParams): { dx: GPUStorage; dGrid: GPUStorage } {
    return gs.gridSampleBackward(this.rt, dy, x, grid, p);
  }

  // ---------------------------------------------------------------- softmax, norms, attention
  softmax(x: GT, outer: number, size: number, inner: number, log: boolean): GPUStorage {
    return sm.softmax(this.rt, x, outer, size, inner, log);
  }
  softmaxBackward(y: GT, dy: GT, outer: number, size: number, inner: number, log: boolean): GPUStorage {
    return sm.softmaxBackward(this.rt, y, dy, outer, size, inner, log);
  }
  layerNorm(x: GT, gamma: GT | null, beta: GT | null, rows: number, cols: number, eps: number): { y: GPUStorage; mean: GPUStorage; rstd: GPUStorage } {
    return norm.layerNorm(this.rt, x, gamma, beta, rows, cols, eps);
  }
  layerNormBackward(dy: GT, x: GT, mean: GT, rstd: GT, gamma: GT | null, rows: number, cols: number): { dx: GPUStorage; dGamma: GPUStorage | null; dBeta: GPUStorage | null } {
    return norm.layerNormBackward(this.rt, dy, x, mean, rstd, gamma, rows, cols);
  }
  batchNormStats(x: GT, n: number, c: number, s: number): { mean: GPUStorage; variance: GPUStorage } {
    return norm.batchNormStats(this.rt, x, n, c, s);
  }
  batchNormForward(x: GT, mean: GT, variance: GT, gamma: GT | null, beta: GT | null, n: number, c: number, s: number, eps: number): GPUStorage {
    return norm.batchNormForward(this.rt, x, mean, variance, gamma, beta, n, c, s, eps);
  }
  batchNormBackward(dy: GT, x: GT, mean: GT, variance: GT, gamma: GT | null, n: number, c: number, s: number, eps: number, training: boolean): { dx: GPUStorage; dGamma: GPUStorage | null; dBeta: GPUStorage | null } {
    return norm.batchNormBackward(this.rt, dy, x, mean, variance, gamma, n, c, s, eps, training);
  }
  attention(q: GT, k: GT, v: GT, mask: GT | null, p: AttentionParams): { out: GPUStorage; lse: GPUStorage } {
    return attn.attention(this.rt, q, k, v, mask, p);
  }
  attentionBackward(dOut: GT, q: GT, k: GT, v: GT, out: GT, lse: GT, mask: GT | null, p: AttentionParams): { dq: GPUStorage; dk: GPUStorage; dv: GPUStorage } {
    return attn.attentionBackward(this.rt, dOut, q, k, v, out, lse, mask, p);
  }
}
