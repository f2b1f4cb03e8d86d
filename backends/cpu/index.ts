/**
 * The cpu backend: plain, readable TypeScript loops over typed arrays. It is the reference that the
 * wasm and webgpu backends are tested against, and it supports float32, float64 and int32.
 * Each kernel family lives in its own file; this class only wires them to the Backend interface.
 */
import type { Backend, BackendMemoryInfo } from '../backend.js';
import type { DType, TypedArray } from '../../engine/dtype.js';
import { toTypedArray } from '../../engine/dtype.js';
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

export class CpuBackend implements Backend<CpuStorage> {
  readonly name = 'cpu' as const;

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

  fill = ew.fill;
  cast = ew.cast;
  unary = ew.unary;
  unaryGrad = ew.unaryGrad;
  binary = ew.binary;
  where = ew.where;
  reduce = red.reduce;
  argReduce = red.argReduce;
  cumsum = red.cumsum;
  topk = red.topk;
  matmul = mm.matmul;
  permute = sh.permute;
  slice = sh.slice;
  pad = sh.pad;
  concat = sh.concat;
  flip = sh.flip;
  gather = sh.gather;
  scatterAdd = sh.scatterAdd;
  indexSelect = sh.indexSelect;
  conv2d = conv.conv2d;
  conv2dBackwardInput = conv.conv2dBackwardInput;
  conv2dBackwardWeight = conv.conv2dBackwardWeight;
  deformConv2d = deform.deformConv2d;
  deformConv2dBackward = deform.deformConv2dBackward;
  maxPool2d = pool.maxPool2d;
  maxPool2dBackward = pool.maxPool2dBackward;
  avgPool2d = pool.avgPool2d;
  avgPool2dBackward = pool.avgPool2dBackward;
  adaptiveAvgPool2d = pool.adaptiveAvgPool2d;
  adaptiveAvgPool2dBackward = pool.adaptiveAvgPool2dBackward;
  interpolate = rs.interpolate;
  interpolateBackward = rs.interpolateBackward;
  gridSample = rs.gridSample;
  gridSampleBackward = rs.gridSampleBackward;
  softmax = sm.softmax;
  softmaxBackward = sm.softmaxBackward;
  layerNorm = norm.layerNorm;
  layerNormBackward = norm.layerNormBackward;
  batchNormStats = norm.batchNormStats;
  batchNormForward = norm.batchNormForward;
  batchNormBackward = norm.batchNormBackward;
  attention = attn.attention;
  attentionBackward = attn.attentionBackward;
}
