/**
 * The kernel suite: one entry per workload, with the full-size spec, the `--quick` spec (tiny,
 * for CI: it exercises the same code paths in milliseconds) and the metric reported.
 *
 * Compute-bound kernels report GFLOP/s; memory-bound ones (softmax, layerNorm, gridSample)
 * report GB/s of compulsory traffic (see formulas.ts).
 */
import type { KernelSpec } from './formulas.js';

export interface KernelWorkload {
  /** Stable id, used by --filter and in the JSON. */
  id: string;
  /** Human label for tables and charts. */
  label: string;
  /** Why this shape: the paper or layer it comes from. */
  source: string;
  full: KernelSpec;
  quick: KernelSpec;
  metric: 'flops' | 'bytes';
}

export const KERNEL_WORKLOADS: readonly KernelWorkload[] = [
  {
    id: 'matmul-1024',
    label: 'matmul 1024³',
    source: 'square GEMM, the classic',
    full: { op: 'matmul', M: 1024, N: 1024, K: 1024 },
    quick: { op: 'matmul', M: 48, N: 40, K: 36 },
    metric: 'flops',
  },
  {
    id: 'matmul-4096x4096x64',
    label: 'matmul 4096x4096x64',
    source: 'Q·Kᵀ of one attention head over 4096 tokens (M=N=4096, K=64)',
    full: { op: 'matmul', M: 4096, N: 4096, K: 64 },
    quick: { op: 'matmul', M: 64, N: 64, K: 8 },
    metric: 'flops',
  },
  {
    id: 'conv2d-3x3',
    label: 'conv2d 3x3 64→64 96x72',
    source: 'HRNet-W48-sized 3x3 conv at heatmap resolution (stride 4 of 384x288)',
    full: { op: 'conv2d', N: 1, Cin: 64, H: 96, W: 72, Cout: 64, kh: 3, kw: 3, stride: 1, padding: 1, dilation: 1, groups: 1 },
    quick: { op: 'conv2d', N: 1, Cin: 4, H: 9, W: 7, Cout: 5, kh: 3, kw: 3, stride: 1, padding: 1, dilation: 1, groups: 1 },
    metric: 'flops',
  },
  {
    id: 'conv2d-3x3-d3',
    label: 'conv2d 3x3 d3 64→64 96x72',
    source: 'dilated 3x3 (dilation 3, padding 3), as in FaSRnet FRM / DCPose',
    full: { op: 'conv2d', N: 1, Cin: 64, H: 96, W: 72, Cout: 64, kh: 3, kw: 3, stride: 1, padding: 3, dilation: 3, groups: 1 },
    quick: { op: 'conv2d', N: 1, Cin: 4, H: 9, W: 7, Cout: 5, kh: 3, kw: 3, stride: 1, padding: 3, dilation: 3, groups: 1 },
    metric: 'flops',
  },
  {
    id: 'conv2d-1x1',
    label: 'conv2d 1x1 64→64 96x72',
    source: 'pointwise conv (fusion layers, RSB blocks)',
    full: { op: 'conv2d', N: 1, Cin: 64, H: 96, W: 72, Cout: 64, kh: 1, kw: 1, stride: 1, padding: 0, dilation: 1, groups: 1 },
    quick: { op: 'conv2d', N: 1, Cin: 4, H: 9, W: 7, Cout: 5, kh: 1, kw: 1, stride: 1, padding: 0, dilation: 1, groups: 1 },
    metric: 'flops',
  },
  {
    id: 'deformConv2d-3x3-d3',
    label: 'deformConv2d 3x3 d3 64→64 96x72',
    source: 'FaSRnet FRM DCNv2 (mask, dilation 3, padding 3), at 64 channels',
    full: { op: 'deformConv2d', N: 1, Cin: 64, H: 96, W: 72, Cout: 64, kh: 3, kw: 3, stride: 1, padding: 3, dilation: 3, groups: 1, offsetGroups: 1 },
    quick: { op: 'deformConv2d', N: 1, Cin: 4, H: 9, W: 7, Cout: 5, kh: 3, kw: 3, stride: 1, padding: 3, dilation: 3, groups: 1, offsetGroups: 1 },
    metric: 'flops',
  },
  {
    id: 'deformConv2d-17g',
    label: 'deformConv2d 3x3 17→17, 17 offset groups, 96x72',
    source: 'FaSRnet SRM: DCNv2 17→17 with 17 deformable groups on the heatmaps (offsets 306 ch, mask 153 ch)',
    full: { op: 'deformConv2d', N: 1, Cin: 17, H: 96, W: 72, Cout: 17, kh: 3, kw: 3, stride: 1, padding: 1, dilation: 1, groups: 1, offsetGroups: 17 },
    quick: { op: 'deformConv2d', N: 1, Cin: 3, H: 8, W: 6, Cout: 3, kh: 3, kw: 3, stride: 1, padding: 1, dilation: 1, groups: 1, offsetGroups: 3 },
    metric: 'flops',
  },
  {
    id: 'softmax',
    label: 'softmax 8x1024x1024',
    source: 'attention-sized rows (last dim)',
    full: { op: 'softmax', shape: [8, 1024, 1024] },
    quick: { op: 'softmax', shape: [2, 16, 33] },
    metric: 'bytes',
  },
  {
    id: 'attention-1024',
    label: 'attention B1 H8 L1024 D64',
    source: 'a ViT-sized self-attention',
    full: { op: 'attention', B: 1, H: 8, Lq: 1024, Lk: 1024, D: 64 },
    quick: { op: 'attention', B: 1, H: 2, Lq: 17, Lk: 17, D: 8 },
    metric: 'flops',
  },
  {
    id: 'attention-vremd',
    label: 'attention H16 L627 D64 (VREMD)',
    source: 'VREMD HKME keypoint stage: 3·(192+17) = 627 tokens at D=1024, as 16 heads of 64',
    full: { op: 'attention', B: 1, H: 16, Lq: 627, Lk: 627, D: 64 },
    quick: { op: 'attention', B: 1, H: 2, Lq: 21, Lk: 21, D: 8 },
    metric: 'flops',
  },
  {
    id: 'layerNorm',
    label: 'layerNorm 192x1024',
    source: 'ViT-L tokens of one frame (192 tokens, D=1024)',
    full: { op: 'layerNorm', rows: 192, cols: 1024, eps: 1e-6 },
    quick: { op: 'layerNorm', rows: 6, cols: 32, eps: 1e-6 },
    metric: 'bytes',
  },
  {
    id: 'gridSample',
    label: 'gridSample [48,64,16,12] at [48,209,4]',
    source: 'VREMD DCA: 3 frames x 16 heads of 64 channels on the 16x12 token map, 209 queries x 4 points',
    full: { op: 'gridSample', N: 48, C: 64, H: 16, W: 12, Ho: 209, Wo: 4 },
    quick: { op: 'gridSample', N: 2, C: 4, H: 5, W: 4, Ho: 7, Wo: 3 },
    metric: 'bytes',
  },
];

export function specOf(w: KernelWorkload, quick: boolean): KernelSpec {
  return quick ? w.quick : w.full;
}

/** Short text of a spec's shapes, for tables. */
export function describeSpec(s: KernelSpec): string {
  switch (s.op) {
    case 'matmul':
      return `[${s.M},${s.K}]·[${s.K},${s.N}]`;
    case 'conv2d':
    case 'deformConv2d':
      return `x[${s.N},${s.Cin},${s.H},${s.W}] w[${s.Cout},${s.Cin / s.groups},${s.kh},${s.kw}] pad ${s.padding} dil ${s.dilation}${s.op === 'deformConv2d' ? ` og ${s.offsetGroups}` : ''}`;
    case 'softmax':
      return `[${s.shape.join(',')}] dim -1`;
    case 'attention':
      return `q[${s.B},${s.H},${s.Lq},${s.D}] k,v[${s.B},${s.H},${s.Lk},${s.D}]`;
    case 'layerNorm':
      return `[${s.rows},${s.cols}]`;
    case 'gridSample':
      return `x[${s.N},${s.C},${s.H},${s.W}] grid[${s.N},${s.Ho},${s.Wo},2]`;
  }
}
