/**
 * The cpu backend: plain, readable TypeScript loops over typed arrays. It is the reference that the
 * wasm and webgpu backends are tested against, and it supports float32, float64 and int32.
 *
 * The wiring is the same in every backend (cpu, wasm, webgpu), and this file is the one to copy for
 * a new backend (see docs/architecture.md, "Adding a backend"): each kernel family lives in its own
 * file, and this class only wires them to the Backend interface, with the interface's methods in
 * its order and under its section headings (backends/backend.ts), one delegation per method. The
 * cpu kernels need no context (wasm passes its WasmContext first, webgpu its Runtime). The engine
 * gets the backend from backends/index.ts, which registers it.
 */
import type {
  AttentionParams, Backend, BackendMemoryInfo, Conv2dParams, DeformConv2dParams, GridSampleParams,
  InterpolateParams, MatmulParams, Pool2dParams,
} from '../backend.js';
import type { BinaryOp, ReduceOp, UnaryOp } from '../spec.js';
import { toTypedArray, type DType, type TypedArray } from '../../engine/dtype.js';
import * as attn from './attention.js';
import * as conv from './conv.js';
import * as deform from './deform-conv.js';
import * as ew from './elementwise.js';
import * as mm from './matmul.js';
import * as norm from './normalization.js';
import * as pool from './pooling.js';
import * as red from './reduce.js';
import * as rs from './resample.js';
import * as sh from './shape.js';
import * as sm from './softmax.js';
import type { CpuStorage, CT } from './util.js';

export type { CpuStorage } from './util.js';

export class CpuBackend implements Backend<CpuStorage> {
  readonly name = 'cpu' as const;

  // ---------------------------------------------------------------- memory and data movement
  upload(values: TypedArray, dtype: DType): CpuStorage {
    return toTypedArray(values, dtype);
  }
  read(x: CT): Promise<TypedArray> {
    return Promise.resolve(x.storage.slice());
  }
  readSync(x: CT): TypedArray {
    return x.storage.slice();
  }
  release(_storage: CpuStorage): void {
    // Typed arrays are garbage-collected; the engine has already updated its byte counts.
  }
  memoryInfo(): BackendMemoryInfo {
    return { pooledBytes: 0 };
  }
  sync(): Promise<void> {
    return Promise.resolve();
  }

  // ---------------------------------------------------------------- creation and elementwise
  fill(shape: readonly number[], dtype: DType, value: number): CpuStorage {
    return ew.fill(shape, dtype, value);
  }
  cast(x: CT, dtype: DType): CpuStorage {
    return ew.cast(x, dtype);
  }
  unary(op: UnaryOp, x: CT, params: readonly number[]): CpuStorage {
    return ew.unary(op, x, params);
  }
  unaryGrad(op: UnaryOp, x: CT, y: CT, dy: CT, params: readonly number[]): CpuStorage {
    return ew.unaryGrad(op, x, y, dy, params);
  }
  binary(op: BinaryOp, a: CT, b: CT, outShape: readonly number[], outDtype: DType): CpuStorage {
    return ew.binary(op, a, b, outShape, outDtype);
  }
  where(cond: CT, a: CT, b: CT, outShape: readonly number[]): CpuStorage {
    return ew.where(cond, a, b, outShape);
  }

  // ---------------------------------------------------------------- reductions and scans
  reduce(op: ReduceOp, x: CT, outer: number, size: number, inner: number): CpuStorage {
    return red.reduce(op, x, outer, size, inner);
  }
  argReduce(op: 'argmax' | 'argmin', x: CT, outer: number, size: number, inner: number): CpuStorage {
    return red.argReduce(op, x, outer, size, inner);
  }
  cumsum(x: CT, outer: number, size: number, inner: number): CpuStorage {
    return red.cumsum(x, outer, size, inner);
  }
  topk(x: CT, outer: number, size: number, k: number, largest: boolean): { values: CpuStorage; indices: CpuStorage } {
    return red.topk(x, outer, size, k, largest);
  }

  // ---------------------------------------------------------------- matmul
  matmul(a: CT, b: CT, p: MatmulParams): CpuStorage {
    return mm.matmul(a, b, p);
  }

  // ---------------------------------------------------------------- shape and indexing (all dtypes)
  permute(x: CT, perm: readonly number[]): CpuStorage {
    return sh.permute(x, perm);
  }
  slice(x: CT, begin: readonly number[], size: readonly number[], step: readonly number[]): CpuStorage {
    return sh.slice(x, begin, size, step);
  }
  pad(x: CT, before: readonly number[], after: readonly number[], value: number): CpuStorage {
    return sh.pad(x, before, after, value);
  }
  concat(xs: readonly CT[], axis: number): CpuStorage {
    return sh.concat(xs, axis);
  }
  flip(x: CT, axes: readonly number[]): CpuStorage {
    return sh.flip(x, axes);
  }
  gather(x: CT, index: CT, axis: number): CpuStorage {
    return sh.gather(x, index, axis);
  }
  scatterAdd(outShape: readonly number[], index: CT, src: CT, axis: number): CpuStorage {
    return sh.scatterAdd(outShape, index, src, axis);
  }
  indexSelect(x: CT, axis: number, index: CT): CpuStorage {
    return sh.indexSelect(x, axis, index);
  }

  // ---------------------------------------------------------------- convolution
  conv2d(x: CT, w: CT, bias: CT | null, p: Conv2dParams): CpuStorage {
    return conv.conv2d(x, w, bias, p);
  }
  conv2dBackwardInput(dy: CT, w: CT, xShape: readonly number[], p: Conv2dParams): CpuStorage {
    return conv.conv2dBackwardInput(dy, w, xShape, p);
  }
  conv2dBackwardWeight(x: CT, dy: CT, wShape: readonly number[], p: Conv2dParams): CpuStorage {
    return conv.conv2dBackwardWeight(x, dy, wShape, p);
  }
  deformConv2d(x: CT, offset: CT, mask: CT | null, w: CT, bias: CT | null, p: DeformConv2dParams): CpuStorage {
    return deform.deformConv2d(x, offset, mask, w, bias, p);
  }
  deformConv2dBackward(dy: CT, x: CT, offset: CT, mask: CT | null, w: CT, p: DeformConv2dParams): { dx: CpuStorage; dOffset: CpuStorage; dMask: CpuStorage | null; dWeight: CpuStorage } {
    return deform.deformConv2dBackward(dy, x, offset, mask, w, p);
  }

  // ---------------------------------------------------------------- pooling and resampling (NCHW)
  maxPool2d(x: CT, p: Pool2dParams): { out: CpuStorage; indices: CpuStorage } {
    return pool.maxPool2d(x, p);
  }
  maxPool2dBackward(dy: CT, indices: CT, xShape: readonly number[], p: Pool2dParams): CpuStorage {
    return pool.maxPool2dBackward(dy, indices, xShape, p);
  }
  avgPool2d(x: CT, p: Pool2dParams): CpuStorage {
    return pool.avgPool2d(x, p);
  }
  avgPool2dBackward(dy: CT, xShape: readonly number[], p: Pool2dParams): CpuStorage {
    return pool.avgPool2dBackward(dy, xShape, p);
  }
  adaptiveAvgPool2d(x: CT, outH: number, outW: number): CpuStorage {
    return pool.adaptiveAvgPool2d(x, outH, outW);
  }
  adaptiveAvgPool2dBackward(dy: CT, xShape: readonly number[]): CpuStorage {
    return pool.adaptiveAvgPool2dBackward(dy, xShape);
  }
  interpolate(x: CT, p: InterpolateParams): CpuStorage {
    return rs.interpolate(x, p);
  }
  interpolateBackward(dy: CT, xShape: readonly number[], p: InterpolateParams): CpuStorage {
    return rs.interpolateBackward(dy, xShape, p);
  }
  gridSample(x: CT, grid: CT, p: GridSampleParams): CpuStorage {
    return rs.gridSample(x, grid, p);
  }
  gridSampleBackward(dy: CT, x: CT, grid: CT, p: GridSampleParams): { dx: CpuStorage; dGrid: CpuStorage } {
    return rs.gridSampleBackward(dy, x, grid, p);
  }

  // ---------------------------------------------------------------- softmax, norms, attention
  softmax(x: CT, outer: number, size: number, inner: number, log: boolean): CpuStorage {
    return sm.softmax(x, outer, size, inner, log);
  }
  softmaxBackward(y: CT, dy: CT, outer: number, size: number, inner: number, log: boolean): CpuStorage {
    return sm.softmaxBackward(y, dy, outer, size, inner, log);
  }
  layerNorm(x: CT, gamma: CT | null, beta: CT | null, rows: number, cols: number, eps: number): { y: CpuStorage; mean: CpuStorage; rstd: CpuStorage } {
    return norm.layerNorm(x, gamma, beta, rows, cols, eps);
  }
  layerNormBackward(dy: CT, x: CT, mean: CT, rstd: CT, gamma: CT | null, rows: number, cols: number): { dx: CpuStorage; dGamma: CpuStorage | null; dBeta: CpuStorage | null } {
    return norm.layerNormBackward(dy, x, mean, rstd, gamma, rows, cols);
  }
  batchNormStats(x: CT, n: number, c: number, s: number): { mean: CpuStorage; variance: CpuStorage } {
    return norm.batchNormStats(x, n, c, s);
  }
  batchNormForward(x: CT, mean: CT, variance: CT, gamma: CT | null, beta: CT | null, n: number, c: number, s: number, eps: number): CpuStorage {
    return norm.batchNormForward(x, mean, variance, gamma, beta, n, c, s, eps);
  }
  batchNormBackward(dy: CT, x: CT, mean: CT, variance: CT, gamma: CT | null, n: number, c: number, s: number, eps: number, training: boolean): { dx: CpuStorage; dGamma: CpuStorage | null; dBeta: CpuStorage | null } {
    return norm.batchNormBackward(dy, x, mean, variance, gamma, n, c, s, eps, training);
  }
  attention(q: CT, k: CT, v: CT, mask: CT | null, p: AttentionParams): { out: CpuStorage; lse: CpuStorage } {
    return attn.attention(q, k, v, mask, p);
  }
  attentionBackward(dOut: CT, q: CT, k: CT, v: CT, out: CT, lse: CT, mask: CT | null, p: AttentionParams): { dq: CpuStorage; dk: CpuStorage; dv: CpuStorage } {
    return attn.attentionBackward(dOut, q, k, v, out, lse, mask, p);
  }
}
