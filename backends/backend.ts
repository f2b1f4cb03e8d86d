/**
 * The one typed kernel interface that every backend (cpu, wasm, webgpu) implements in full.
 * A missing kernel is a compile error, not a runtime "kernel not registered".
 *
 * Contract, for every method:
 * - Kernels are primitives. They take storages with their shapes and dtypes (`KTensor`), never
 *   `Tensor`s, and return new storages. They never mutate their inputs.
 * - Every input is contiguous and row-major (NCHW for images). Shapes have already been checked by
 *   ops/, so kernels may assume valid arguments.
 * - The output dtype equals the input dtype unless the method says otherwise.
 * - Outputs of size 0 are allowed: return an empty storage.
 * - wasm and webgpu support float32 and int32; cpu also supports float64.
 */
import type { DType, TypedArray } from '../engine/dtype.js';
import type { BinaryOp, ReduceOp, UnaryOp } from './spec.js';

export type DeviceName = 'cpu' | 'wasm' | 'webgpu';
export const DEVICES: readonly DeviceName[] = ['cpu', 'wasm', 'webgpu'];

/** A storage handle together with the shape and dtype it holds. */
export interface KTensor<S = unknown> {
  readonly storage: S;
  readonly shape: readonly number[];
  readonly dtype: DType;
}

/** `a` is [Ba, M, K] (or [Ba, K, M] when transA), `b` is [Bb, K, N] (or [Bb, N, K] when transB); Ba, Bb ∈ {1, B}. Output [B, M, N]. */
export interface MatmulParams {
  readonly transA: boolean;
  readonly transB: boolean;
}

/**
 * Zero padding of a conv: [top, bottom, left, right] (per side, as TF's explicit padding), or the
 * symmetric shorthand [h, w] = [h, h, w, w]. ops/ always passes the four sides.
 */
export type ConvPadding = readonly [number, number] | readonly [number, number, number, number];

/**
 * conv2d geometry and fused epilogue. The weight is [Cout, Cin/groups, kh, kw]; the output is
 * [N, Cout, Ho, Wo] with Ho = ⌊(H + top + bottom − dh·(kh − 1) − 1)/sh⌋ + 1 (Wo likewise with
 * left + right). Kernels index the input as iy = oy·sh − top + i·dh, so the bottom/right padding
 * only enters through Ho/Wo (for the backward passes, through dy's shape).
 */
export interface Conv2dParams {
  readonly stride: readonly [number, number];
  readonly padding: ConvPadding;
  readonly dilation: readonly [number, number];
  readonly groups: number;
  /**
   * Forward only (conv2d; the backward kernels never receive it): out = min(max(conv + bias, lo), hi)
   * in the kernel's epilogue, NaN propagating as torch.clamp (on webgpu as WGSL's min/max).
   * ReLU is [0, Infinity], ReLU6 [0, 6]; ±Infinity means that side is open. ops/conv.ts sets it only
   * when no gradient is recorded (otherwise it composes conv2d and clamp).
   */
  readonly clamp?: readonly [number, number];
}

/** The four sides [top, bottom, left, right] of a conv's padding (either form of ConvPadding). */
export function convPads(padding: ConvPadding): [number, number, number, number] {
  return padding.length === 4 ? [padding[0], padding[1], padding[2], padding[3]] : [padding[0], padding[0], padding[1], padding[1]];
}

/** Output size of a conv along one axis, padded `before` and `after` (PyTorch's/TF's formula). */
export function convOutLength(inSize: number, k: number, stride: number, before: number, after: number, dilation: number): number {
  return Math.floor((inSize + before + after - dilation * (k - 1) - 1) / stride) + 1;
}

/**
 * Deformable conv geometry (torchvision.ops.deform_conv2d): symmetric padding [h, w], no fused
 * epilogue. Offsets are [B, 2·OG·kh·kw, Ho, Wo] with interleaved (dy, dx) pairs per kernel tap, per
 * offset group; the mask is [B, OG·kh·kw, Ho, Wo].
 */
export interface DeformConv2dParams {
  readonly stride: readonly [number, number];
  readonly padding: readonly [number, number];
  readonly dilation: readonly [number, number];
  readonly groups: number;
  readonly offsetGroups: number;
}

export interface Pool2dParams {
  readonly kernel: readonly [number, number];
  readonly stride: readonly [number, number];
  readonly padding: readonly [number, number];
  /** maxPool2d only. */
  readonly dilation: readonly [number, number];
  readonly ceilMode: boolean;
  /** avgPool2d only: count padded zeros in the divisor (PyTorch's count_include_pad). */
  readonly countIncludePad: boolean;
  /** Output size, computed by ops/ with PyTorch's rule (including the ceil_mode correction). */
  readonly outH: number;
  readonly outW: number;
}

/**
 * interpolate geometry. `ratioH`/`ratioW` map an output coordinate to the input:
 * alignCorners bilinear: (in-1)/(out-1); otherwise 1/scale_factor when given, else in/out.
 * nearest: src = min(floor(dst·ratio), in-1). bilinear: src = dst·ratio (alignCorners) or
 * max((dst+0.5)·ratio-0.5, 0), as PyTorch's upsample_bilinear2d.
 */
export interface InterpolateParams {
  readonly outH: number;
  readonly outW: number;
  readonly mode: 'nearest' | 'bilinear';
  readonly alignCorners: boolean;
  readonly ratioH: number;
  readonly ratioW: number;
}

/** torch.nn.functional.grid_sample options (4-D input only). */
export interface GridSampleParams {
  readonly mode: 'bilinear' | 'nearest';
  readonly paddingMode: 'zeros' | 'border' | 'reflection';
  readonly alignCorners: boolean;
}

export interface AttentionParams {
  /** Multiplies q·kᵀ; PyTorch's default is 1/sqrt(D). */
  readonly scale: number;
}

export interface BackendMemoryInfo {
  /** Bytes held by the backend beyond the live tensors: pooled free buffers, scratch space. */
  readonly pooledBytes: number;
}

export interface Backend<S = unknown> {
  readonly name: DeviceName;
  /**
   * True once the backend's device is gone for good (webgpu: the GPUDevice was lost or destroyed);
   * absent or false on backends that cannot lose their device (cpu, wasm). The engine then drops
   * it: the next `init(name)` starts a new backend through the registered factory (with that call's
   * options), and tensors on the old backend throw when used. Storages of the old backend are
   * still released through it, never through its successor.
   */
  readonly lost?: boolean;

  // ---------------------------------------------------------------- memory and data movement
  /** New storage holding a copy of `values` (length = element count) as `dtype`. */
  upload(values: TypedArray, dtype: DType): S;
  /** Reads a storage back to the host. On webgpu this flushes queued work first. */
  read(x: KTensor<S>): Promise<TypedArray>;
  /** Synchronous read; the webgpu backend throws (use `read`). */
  readSync(x: KTensor<S>): TypedArray;
  /** Frees (or returns to the pool) a storage. Called once per storage, by the engine. */
  release(storage: S): void;
  memoryInfo(): BackendMemoryInfo;
  /** Waits until all queued work is complete (GPU); a no-op on synchronous backends. */
  sync(): Promise<void>;

  // ---------------------------------------------------------------- creation and elementwise
  fill(shape: readonly number[], dtype: DType, value: number): S;
  /** Converts dtype. float -> int32 truncates toward zero. */
  cast(x: KTensor<S>, dtype: DType): S;
  /** y = f(x), f from the spec table (backends/spec.ts); `params` are the op's scalar parameters. */
  unary(op: UnaryOp, x: KTensor<S>, params: readonly number[]): S;
  /** dx = dy · f'(x), from the spec table's gradient expression; `y` is f(x). All share one shape. */
  unaryGrad(op: UnaryOp, x: KTensor<S>, y: KTensor<S>, dy: KTensor<S>, params: readonly number[]): S;
  /**
   * out = a ∘ b with NumPy broadcasting to `outShape` (right-aligned; missing or size-1 dims repeat).
   * `outDtype` is int32 for comparisons (0/1), otherwise the inputs' dtype.
   */
  binary(op: BinaryOp, a: KTensor<S>, b: KTensor<S>, outShape: readonly number[], outDtype: DType): S;
  /** out = cond != 0 ? a : b, all three broadcast to `outShape`. `cond` may have any dtype. */
  where(cond: KTensor<S>, a: KTensor<S>, b: KTensor<S>, outShape: readonly number[]): S;

  // ---------------------------------------------------------------- reductions and scans
  /** x viewed as [outer, size, inner]; reduces the middle axis, giving [outer, inner]. */
  reduce(op: ReduceOp, x: KTensor<S>, outer: number, size: number, inner: number): S;
  /** Index (int32) of the first max/min along the middle axis of [outer, size, inner]. */
  argReduce(op: 'argmax' | 'argmin', x: KTensor<S>, outer: number, size: number, inner: number): S;
  /** Inclusive prefix sum along the middle axis of [outer, size, inner]. */
  cumsum(x: KTensor<S>, outer: number, size: number, inner: number): S;
  /**
   * The k largest (or smallest) values along the last axis of x viewed as [outer, size], sorted
   * (descending when `largest`), ties broken by the lower index. values [outer, k], indices int32.
   */
  topk(x: KTensor<S>, outer: number, size: number, k: number, largest: boolean): { values: S; indices: S };

  // ---------------------------------------------------------------- matmul
  /** Batched matmul of rank-3 operands (see MatmulParams). */
  matmul(a: KTensor<S>, b: KTensor<S>, p: MatmulParams): S;

  // ---------------------------------------------------------------- shape and indexing (all dtypes)
  /** out[i_perm[0], ...] = x[i...]: the output dim d is input dim perm[d]. */
  permute(x: KTensor<S>, perm: readonly number[]): S;
  /**
   * out[i] = x[begin + i·step] per dim; `size` is the output shape. Steps are ≥ 0: a step of 0
   * repeats one element along that dim (this is how `expand` materializes a broadcast).
   */
  slice(x: KTensor<S>, begin: readonly number[], size: readonly number[], step: readonly number[]): S;
  /** Constant padding: `before[d]`/`after[d]` elements on each side of dim d (all ≥ 0). */
  pad(x: KTensor<S>, before: readonly number[], after: readonly number[], value: number): S;
  /** Concatenation along `axis`; all inputs share every other dim. */
  concat(xs: readonly KTensor<S>[], axis: number): S;
  /** Reverses the listed dims. */
  flip(x: KTensor<S>, axes: readonly number[]): S;
  /** torch.gather: out[..i..] = x[.. index[..i..] ..] along `axis`; out has index's shape. */
  gather(x: KTensor<S>, index: KTensor<S>, axis: number): S;
  /** zeros(outShape).scatter_add_(axis, index, src); index and src share a shape. */
  scatterAdd(outShape: readonly number[], index: KTensor<S>, src: KTensor<S>, axis: number): S;
  /** torch.index_select with a 1-D int32 index. */
  indexSelect(x: KTensor<S>, axis: number, index: KTensor<S>): S;

  // ---------------------------------------------------------------- convolution
  /**
   * x [N, Cin, H, W], w [Cout, Cin/groups, kh, kw], bias [Cout] or null -> [N, Cout, Ho, Wo], the
   * bias added and p.clamp (if any) applied in the same kernel.
   */
  conv2d(x: KTensor<S>, w: KTensor<S>, bias: KTensor<S> | null, p: Conv2dParams): S;
  /** dL/dx for conv2d: dy [N, Cout, Ho, Wo], w -> [xShape]. Also the forward of convTranspose2d. */
  conv2dBackwardInput(dy: KTensor<S>, w: KTensor<S>, xShape: readonly number[], p: Conv2dParams): S;
  /** dL/dw for conv2d: x, dy -> [wShape]. */
  conv2dBackwardWeight(x: KTensor<S>, dy: KTensor<S>, wShape: readonly number[], p: Conv2dParams): S;
  /**
   * torchvision.ops.deform_conv2d: x [B, Cin, H, W], offset [B, 2·OG·kh·kw, Ho, Wo],
   * mask [B, OG·kh·kw, Ho, Wo] or null (v1), w [Cout, Cin/groups, kh, kw], bias [Cout] or null.
   * Bilinear sampling reads zero outside the image.
   */
  deformConv2d(x: KTensor<S>, offset: KTensor<S>, mask: KTensor<S> | null, w: KTensor<S>, bias: KTensor<S> | null, p: DeformConv2dParams): S;
  /** Gradients of deformConv2d for input, offset, mask (null when mask is null) and weight. */
  deformConv2dBackward(dy: KTensor<S>, x: KTensor<S>, offset: KTensor<S>, mask: KTensor<S> | null, w: KTensor<S>, p: DeformConv2dParams): { dx: S; dOffset: S; dMask: S | null; dWeight: S };

  // ---------------------------------------------------------------- pooling and resampling (NCHW)
  /** Max pool; indices (int32) are flat offsets into each input H·W plane, as PyTorch's return_indices. */
  maxPool2d(x: KTensor<S>, p: Pool2dParams): { out: S; indices: S };
  maxPool2dBackward(dy: KTensor<S>, indices: KTensor<S>, xShape: readonly number[], p: Pool2dParams): S;
  avgPool2d(x: KTensor<S>, p: Pool2dParams): S;
  avgPool2dBackward(dy: KTensor<S>, xShape: readonly number[], p: Pool2dParams): S;
  /** PyTorch adaptive_avg_pool2d: window [floor(i·H/oh), ceil((i+1)·H/oh)). */
  adaptiveAvgPool2d(x: KTensor<S>, outH: number, outW: number): S;
  adaptiveAvgPool2dBackward(dy: KTensor<S>, xShape: readonly number[]): S;
  interpolate(x: KTensor<S>, p: InterpolateParams): S;
  interpolateBackward(dy: KTensor<S>, xShape: readonly number[], p: InterpolateParams): S;
  /** x [N, C, H, W], grid [N, Ho, Wo, 2] holding (x, y) in [-1, 1] -> [N, C, Ho, Wo]. */
  gridSample(x: KTensor<S>, grid: KTensor<S>, p: GridSampleParams): S;
  gridSampleBackward(dy: KTensor<S>, x: KTensor<S>, grid: KTensor<S>, p: GridSampleParams): { dx: S; dGrid: S };

  // ---------------------------------------------------------------- softmax, norms, attention
  /** softmax (or logSoftmax when `log`) over the middle axis of [outer, size, inner], max-subtracted. */
  softmax(x: KTensor<S>, outer: number, size: number, inner: number, log: boolean): S;
  /** dx from y = softmax(x) (or logSoftmax) and dy. */
  softmaxBackward(y: KTensor<S>, dy: KTensor<S>, outer: number, size: number, inner: number, log: boolean): S;
  /**
   * Normalizes each row of x viewed as [rows, cols]; gamma/beta are [cols] or null.
   * Returns y, and mean and rstd = 1/sqrt(var + eps) as [rows] (biased variance).
   */
  layerNorm(x: KTensor<S>, gamma: KTensor<S> | null, beta: KTensor<S> | null, rows: number, cols: number, eps: number): { y: S; mean: S; rstd: S };
  layerNormBackward(dy: KTensor<S>, x: KTensor<S>, mean: KTensor<S>, rstd: KTensor<S>, gamma: KTensor<S> | null, rows: number, cols: number): { dx: S; dGamma: S | null; dBeta: S | null };
  /** Per-channel mean and biased variance of x viewed as [N, C, S] -> two [C] storages. */
  batchNormStats(x: KTensor<S>, n: number, c: number, s: number): { mean: S; variance: S };
  /** y = (x - mean[c]) / sqrt(var[c] + eps) · gamma[c] + beta[c] over x viewed as [N, C, S]. */
  batchNormForward(x: KTensor<S>, mean: KTensor<S>, variance: KTensor<S>, gamma: KTensor<S> | null, beta: KTensor<S> | null, n: number, c: number, s: number, eps: number): S;
  /**
   * Gradients of batchNormForward. With `training`, mean/variance are the batch statistics of x and
   * dx includes their dependence on x; otherwise they are constants (running statistics).
   */
  batchNormBackward(dy: KTensor<S>, x: KTensor<S>, mean: KTensor<S>, variance: KTensor<S>, gamma: KTensor<S> | null, n: number, c: number, s: number, eps: number, training: boolean): { dx: S; dGamma: S | null; dBeta: S | null };
  /**
   * softmax(q·kᵀ·scale + mask)·v over q [B, H, Lq, D], k [B, H, Lk, D], v [B, H, Lk, Dv]; mask is an
   * additive float mask of rank 4 broadcastable to [B, H, Lq, Lk], or null. Returns out [B, H, Lq, Dv]
   * and lse [B, H, Lq], the row log-sum-exp of the scaled, masked logits (saved for backward).
   * A row whose logits are all -Infinity gives zeros.
   */
  attention(q: KTensor<S>, k: KTensor<S>, v: KTensor<S>, mask: KTensor<S> | null, p: AttentionParams): { out: S; lse: S };
  attentionBackward(dOut: KTensor<S>, q: KTensor<S>, k: KTensor<S>, v: KTensor<S>, out: KTensor<S>, lse: KTensor<S>, mask: KTensor<S> | null, p: AttentionParams): { dq: S; dk: S; dv: S };
}
