/**
 * One-node ONNX graphs for the kernel workloads, built in memory and encoded by the library's
 * ONNX encoder (models/nn/onnx/proto.ts, the one onnx.proto schema).
 *
 * Every operand is a graph input, fed at run time, as posegrad's kernels take them: onnxruntime
 * therefore cannot pre-pack constant weights (with weights as initializers it may run faster,
 * as a deployed model would).
 *
 * Ops and opsets: MatMul (13), Conv with dilations (13), DeformConv (19, offsets in torchvision's
 * interleaved (dy, dx) layout), Softmax (13), LayerNormalization (17), GridSample (16) and the
 * standard Attention op (23, q/k/v as [B, H, L, D], scale 1/√D by default), or com.microsoft's
 * MultiHeadAttention where a provider lacks the standard one.
 */
import { RANGES } from '../adapter.js';
import { convOut, type KernelSpec } from '../formulas.js';
import type { OnnxGraph } from '../../models/nn/onnx/proto.js';

export interface OnnxFeed {
  name: string;
  shape: number[];
  range: readonly [number, number];
}

export interface OnnxWorkload {
  graph: OnnxGraph;
  feeds: OnnxFeed[];
  output: { name: string; shape: number[] };
}

/**
 * The graph of a workload. `variant` 'mha' builds attention with com.microsoft's
 * MultiHeadAttention contrib op instead (q, k, v as [B, L, H·D], `num_heads` H): the fallback for
 * execution providers without the standard Attention op.
 */
export function onnxWorkload(s: KernelSpec, variant: 'standard' | 'mha' = 'standard'): OnnxWorkload {
  const D = RANGES.data;
  switch (s.op) {
    case 'matmul': {
      const feeds: OnnxFeed[] = [{ name: 'a', shape: [s.M, s.K], range: D }, { name: 'b', shape: [s.K, s.N], range: D }];
      const output = { name: 'y', shape: [s.M, s.N] };
      return { feeds, output, graph: { opset: 13, nodes: [{ op: 'MatMul', inputs: ['a', 'b'], outputs: ['y'] }], inputs: feeds, outputs: [output] } };
    }
    case 'conv2d':
    case 'deformConv2d': {
      const Ho = convOut(s.H, s.kh, s.stride, s.padding, s.dilation);
      const Wo = convOut(s.W, s.kw, s.stride, s.padding, s.dilation);
      const attrs = {
        kernel_shape: [s.kh, s.kw],
        strides: [s.stride, s.stride],
        pads: [s.padding, s.padding, s.padding, s.padding],
        dilations: [s.dilation, s.dilation],
        group: s.groups,
      };
      const x: OnnxFeed = { name: 'x', shape: [s.N, s.Cin, s.H, s.W], range: D };
      const w: OnnxFeed = { name: 'w', shape: [s.Cout, s.Cin / s.groups, s.kh, s.kw], range: D };
      const output = { name: 'y', shape: [s.N, s.Cout, Ho, Wo] };
      if (s.op === 'conv2d') {
        const feeds = [x, w];
        return { feeds, output, graph: { opset: 13, nodes: [{ op: 'Conv', inputs: ['x', 'w'], outputs: ['y'], attrs }], inputs: feeds, outputs: [output] } };
      }
      const taps = s.offsetGroups * s.kh * s.kw;
      const feeds = [x, w, { name: 'offset', shape: [s.N, 2 * taps, Ho, Wo], range: RANGES.offset }, { name: 'mask', shape: [s.N, taps, Ho, Wo], range: RANGES.mask }];
      return {
        feeds,
        output,
        graph: {
          opset: 19,
          // inputs: X, W, offset, B (absent: ''), mask
          nodes: [{ op: 'DeformConv', inputs: ['x', 'w', 'offset', '', 'mask'], outputs: ['y'], attrs: { ...attrs, offset_group: s.offsetGroups } }],
          inputs: feeds,
          outputs: [output],
        },
      };
    }
    case 'softmax': {
      const feeds: OnnxFeed[] = [{ name: 'x', shape: [...s.shape], range: D }];
      const output = { name: 'y', shape: [...s.shape] };
      return { feeds, output, graph: { opset: 13, nodes: [{ op: 'Softmax', inputs: ['x'], outputs: ['y'], attrs: { axis: -1 } }], inputs: feeds, outputs: [output] } };
    }
    case 'attention': {
      if (variant === 'mha') {
        const feeds: OnnxFeed[] = [
          { name: 'q', shape: [s.B, s.Lq, s.H * s.D], range: D },
          { name: 'k', shape: [s.B, s.Lk, s.H * s.D], range: D },
          { name: 'v', shape: [s.B, s.Lk, s.H * s.D], range: D },
        ];
        const output = { name: 'y', shape: [s.B, s.Lq, s.H * s.D] };
        return {
          feeds,
          output,
          graph: {
            opset: 17,
            extraOpsets: [{ domain: 'com.microsoft', version: 1 }],
            nodes: [{ op: 'MultiHeadAttention', domain: 'com.microsoft', inputs: ['q', 'k', 'v'], outputs: ['y'], attrs: { num_heads: s.H } }],
            inputs: feeds,
            outputs: [output],
          },
        };
      }
      const feeds: OnnxFeed[] = [
        { name: 'q', shape: [s.B, s.H, s.Lq, s.D], range: D },
        { name: 'k', shape: [s.B, s.H, s.Lk, s.D], range: D },
        { name: 'v', shape: [s.B, s.H, s.Lk, s.D], range: D },
      ];
      const output = { name: 'y', shape: [s.B, s.H, s.Lq, s.D] };
      return { feeds, output, graph: { opset: 23, nodes: [{ op: 'Attention', inputs: ['q', 'k', 'v'], outputs: ['y'] }], inputs: feeds, outputs: [output] } };
    }
    case 'layerNorm': {
      const feeds: OnnxFeed[] = [
        { name: 'x', shape: [s.rows, s.cols], range: D },
        { name: 'g', shape: [s.cols], range: D },
        { name: 'b', shape: [s.cols], range: D },
      ];
      const output = { name: 'y', shape: [s.rows, s.cols] };
      return {
        feeds,
        output,
        graph: { opset: 17, nodes: [{ op: 'LayerNormalization', inputs: ['x', 'g', 'b'], outputs: ['y'], attrs: { axis: -1, epsilon: { float: s.eps } } }], inputs: feeds, outputs: [output] },
      };
    }
    case 'gridSample': {
      const feeds: OnnxFeed[] = [
        { name: 'x', shape: [s.N, s.C, s.H, s.W], range: D },
        { name: 'grid', shape: [s.N, s.Ho, s.Wo, 2], range: RANGES.grid },
      ];
      const output = { name: 'y', shape: [s.N, s.C, s.Ho, s.Wo] };
      return {
        feeds,
        output,
        graph: {
          opset: 16,
          nodes: [{ op: 'GridSample', inputs: ['x', 'grid'], outputs: ['y'], attrs: { mode: 'bilinear', padding_mode: 'zeros', align_corners: 0 } }],
          inputs: feeds,
          outputs: [output],
        },
      };
    }
  }
}
