/**
 * Kernel specs (engine-neutral shapes) and their FLOP and byte counts, written as formulas.
 *
 * Conventions:
 * - A multiply-add counts as 2 FLOPs. Only the arithmetic that defines the op is counted (the
 *   GEMM part of a convolution, the two GEMMs of attention); index math and exp are not.
 * - Bytes are the compulsory traffic of float32 tensors: every input read once and every output
 *   written once (the "effective bandwidth" convention, as STREAM counts a copy as read + write).
 *   A kernel that re-reads its input from DRAM moves more than this; one that keeps it in cache,
 *   exactly this.
 * - Backward counts are for the kernels posegrad's ops call (see each function), so that
 *   "fwd+bwd" throughput = (fwd + bwd) / time.
 */

export type Mode = 'fwd' | 'fwd+bwd';
export const MODES: readonly Mode[] = ['fwd', 'fwd+bwd'];

/** C = A·B with A [M, K], B [K, N] (one batch). */
export interface MatmulSpec { op: 'matmul'; M: number; N: number; K: number }

/** torch.nn.functional.conv2d, NCHW, weight [Cout, Cin/groups, kh, kw], no bias. */
export interface Conv2dSpec {
  op: 'conv2d';
  N: number; Cin: number; H: number; W: number; Cout: number;
  kh: number; kw: number; stride: number; padding: number; dilation: number; groups: number;
}

/** torchvision.ops.deform_conv2d with a mask (DCNv2), no bias. */
export interface DeformConv2dSpec extends Omit<Conv2dSpec, 'op'> { op: 'deformConv2d'; offsetGroups: number }

/** softmax over the last dim of `shape`. */
export interface SoftmaxSpec { op: 'softmax'; shape: readonly number[] }

/** scaledDotProductAttention: q [B, H, Lq, D], k and v [B, H, Lk, D], no mask, scale 1/√D. */
export interface AttentionSpec { op: 'attention'; B: number; H: number; Lq: number; Lk: number; D: number }

/** layerNorm over the last dim of x [rows, cols], with weight and bias [cols]. */
export interface LayerNormSpec { op: 'layerNorm'; rows: number; cols: number; eps: number }

/** gridSample (bilinear, zeros padding, alignCorners false): x [N, C, H, W], grid [N, Ho, Wo, 2]. */
export interface GridSampleSpec { op: 'gridSample'; N: number; C: number; H: number; W: number; Ho: number; Wo: number }

export type KernelSpec = MatmulSpec | Conv2dSpec | DeformConv2dSpec | SoftmaxSpec | AttentionSpec | LayerNormSpec | GridSampleSpec;
export type KernelOp = KernelSpec['op'];

/** Output size of a convolution along one axis (PyTorch's formula). */
export function convOut(size: number, k: number, stride: number, pad: number, dilation: number): number {
  return Math.floor((size + 2 * pad - dilation * (k - 1) - 1) / stride) + 1;
}

const F32 = 4;
const prod = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);

/** Element counts of every tensor a spec touches (inputs, then the forward output). */
export function tensorSizes(s: KernelSpec): { inputs: number[]; output: number } {
  switch (s.op) {
    case 'matmul':
      return { inputs: [s.M * s.K, s.K * s.N], output: s.M * s.N };
    case 'conv2d':
    case 'deformConv2d': {
      const Ho = convOut(s.H, s.kh, s.stride, s.padding, s.dilation);
      const Wo = convOut(s.W, s.kw, s.stride, s.padding, s.dilation);
      const x = s.N * s.Cin * s.H * s.W;
      const w = s.Cout * (s.Cin / s.groups) * s.kh * s.kw;
      const y = s.N * s.Cout * Ho * Wo;
      if (s.op === 'conv2d') return { inputs: [x, w], output: y };
      const taps = s.offsetGroups * s.kh * s.kw * Ho * Wo * s.N;
      return { inputs: [x, 2 * taps, taps, w], output: y };
    }
    case 'softmax':
      return { inputs: [prod(s.shape)], output: prod(s.shape) };
    case 'attention': {
      const q = s.B * s.H * s.Lq * s.D;
      const kv = s.B * s.H * s.Lk * s.D;
      return { inputs: [q, kv, kv], output: q };
    }
    case 'layerNorm':
      return { inputs: [s.rows * s.cols, s.cols, s.cols], output: s.rows * s.cols };
    case 'gridSample':
      return { inputs: [s.N * s.C * s.H * s.W, s.N * s.Ho * s.Wo * 2], output: s.N * s.C * s.Ho * s.Wo };
  }
}

/**
 * FLOPs of a bilinear sample with a modulation mask: 4 corner products and 3 adds for the
 * interpolation, and 1 multiply by the mask.
 */
export const BILINEAR_FLOPS = 8;

/** Forward FLOPs. */
export function flopsForward(s: KernelSpec): number {
  switch (s.op) {
    case 'matmul':
      // 2·M·N·K
      return 2 * s.M * s.N * s.K;
    case 'conv2d': {
      // 2·N·Cout·Ho·Wo·(Cin/groups)·kh·kw (the implicit GEMM)
      const Ho = convOut(s.H, s.kh, s.stride, s.padding, s.dilation);
      const Wo = convOut(s.W, s.kw, s.stride, s.padding, s.dilation);
      return 2 * s.N * s.Cout * Ho * Wo * (s.Cin / s.groups) * s.kh * s.kw;
    }
    case 'deformConv2d': {
      // GEMM as conv2d, plus one bilinear sample per (input channel, tap, output pixel):
      // 2·N·Cout·Ho·Wo·(Cin/groups)·kh·kw + 8·N·Cin·kh·kw·Ho·Wo
      const Ho = convOut(s.H, s.kh, s.stride, s.padding, s.dilation);
      const Wo = convOut(s.W, s.kw, s.stride, s.padding, s.dilation);
      const gemm = 2 * s.N * s.Cout * Ho * Wo * (s.Cin / s.groups) * s.kh * s.kw;
      const samples = s.N * s.Cin * s.kh * s.kw * Ho * Wo;
      return gemm + BILINEAR_FLOPS * samples;
    }
    case 'softmax':
      // per element: max compare, subtract, exp (counted as 1), sum add, divide → 5·n
      return 5 * prod(s.shape);
    case 'attention':
      // S = Q·Kᵀ and O = P·V: 2 · (2·B·H·Lq·Lk·D)
      return 4 * s.B * s.H * s.Lq * s.Lk * s.D;
    case 'layerNorm':
      // mean (1 add), variance (sub, mul, add), normalize (sub, mul), affine (mul, add) → 8·rows·cols
      return 8 * s.rows * s.cols;
    case 'gridSample':
      // one bilinear interpolation (without mask: 7 FLOPs) per output element
      return (BILINEAR_FLOPS - 1) * s.N * s.C * s.Ho * s.Wo;
  }
}

/**
 * Backward FLOPs (gradients for every input).
 * - matmul: dA = dC·Bᵀ and dB = Aᵀ·dC, two GEMMs of the forward's size → 2·fwd.
 * - conv2d: input gradient and weight gradient, each a GEMM of the forward's size → 2·fwd.
 * - deformConv2d: the weight-gradient GEMM and the column-gradient GEMM (2·GEMM), the columns
 *   re-sampled, the column gradient scattered back bilinearly to x, and the offset and mask
 *   gradients (3 bilinear passes) → 2·GEMM + 3·8·samples.
 * - attention: recompute S, then dV = Pᵀ·dO, dP = dO·Vᵀ, dQ = dS·K, dK = dSᵀ·Q: 5 GEMMs → 2.5·fwd.
 * - softmax: dx = y·(dy − Σ dy·y) → 4·n. layerNorm: two row reductions and the dx formula,
 *   plus the weight and bias reductions → 10·rows·cols. gridSample: the x scatter and the grid
 *   gradient, about twice the forward → 2·fwd.
 */
export function flopsBackward(s: KernelSpec): number {
  switch (s.op) {
    case 'matmul':
    case 'conv2d':
    case 'gridSample':
      return 2 * flopsForward(s);
    case 'deformConv2d': {
      const Ho = convOut(s.H, s.kh, s.stride, s.padding, s.dilation);
      const Wo = convOut(s.W, s.kw, s.stride, s.padding, s.dilation);
      const gemm = 2 * s.N * s.Cout * Ho * Wo * (s.Cin / s.groups) * s.kh * s.kw;
      const samples = s.N * s.Cin * s.kh * s.kw * Ho * Wo;
      return 2 * gemm + 3 * BILINEAR_FLOPS * samples;
    }
    case 'attention':
      return 2.5 * flopsForward(s);
    case 'softmax':
      return 4 * prod(s.shape);
    case 'layerNorm':
      return 10 * s.rows * s.cols;
  }
}

/** Forward bytes: every input read once, the output written once (float32). */
export function bytesForward(s: KernelSpec): number {
  const t = tensorSizes(s);
  let n = t.output + t.inputs.reduce((a, b) => a + b, 0);
  // layerNorm also writes the saved statistics (mean and rstd, one per row each).
  if (s.op === 'layerNorm') n += 2 * s.rows;
  return F32 * n;
}

/**
 * Backward bytes: the output gradient and every saved tensor the backward kernel reads, once,
 * plus every gradient written once.
 * - softmax: reads y and dy, writes dx → 3·n.
 * - layerNorm: reads dy, x, mean, rstd, weight; writes dx, dWeight, dBias.
 * - gridSample: reads dy, x, grid; writes dx, dGrid.
 * - others: reads dy and every input, writes a gradient per input.
 */
export function bytesBackward(s: KernelSpec): number {
  const t = tensorSizes(s);
  const ins = t.inputs.reduce((a, b) => a + b, 0);
  switch (s.op) {
    case 'softmax':
      return F32 * 3 * t.output;
    case 'layerNorm':
      return F32 * (2 * s.rows * s.cols + 2 * s.rows + s.cols + s.rows * s.cols + 2 * s.cols);
    default:
      // dy + inputs read, one gradient per input written
      return F32 * (t.output + 2 * ins);
  }
}

/** FLOPs and bytes of one timed iteration in `mode` (fwd+bwd = forward plus backward). */
export function workOf(s: KernelSpec, mode: Mode): { flops: number; bytes: number } {
  const flops = flopsForward(s) + (mode === 'fwd+bwd' ? flopsBackward(s) : 0);
  const bytes = bytesForward(s) + (mode === 'fwd+bwd' ? bytesBackward(s) : 0);
  return { flops, bytes };
}
