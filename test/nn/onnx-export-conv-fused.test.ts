/**
 * ONNX export of conv2d's per-side padding and fused clamp (models/nn/onnx/trace.ts): Conv's `pads`
 * are [top, left, bottom, right]; a fused clamp (the export traces under noGrad, so conv2d fuses it)
 * becomes Conv followed by Relu ([0, Infinity]) or Clip (other bounds, open sides left out). Each
 * graph runs in onnxruntime-node and must match posegrad's forward within 1e-5 relative
 * (max|Δ| / max|ref|), with the attributes and node types checked.
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { noGrad, tidy } from '../../engine/engine.js';
import type { Tensor } from '../../engine/tensor.js';
import { Module } from '../../models/nn/module.js';
import { encodeModel, exportOnnxGraph } from '../../models/nn/onnx/index.js';
import * as ops from '../../ops/index.js';
import type { Conv2dOptions } from '../../ops/conv.js';

/** One conv2d with its weight and bias as parameters (exported as initializers). */
class OneConv extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(w: number[], bias: boolean, private readonly opts: Conv2dOptions) {
    super();
    this.weight = this.param('weight', ops.sub(ops.mul(ops.rand(w), 2), 1));
    this.bias = this.param('bias', bias ? ops.sub(ops.mul(ops.rand([w[0]!]), 2), 1) : null);
  }
  forward(x: Tensor): Tensor {
    return ops.conv2d(x, this.weight, this.bias, this.opts);
  }
}

async function exportAndRun(m: OneConv, x: Tensor): Promise<{ nodes: { op: string; attrs?: Record<string, unknown>; inputs: string[] }[]; err: number }> {
  const { graph, inputs, outputs } = exportOnnxGraph(m, [x]);
  const session = await ort.InferenceSession.create(encodeModel(graph), { executionProviders: ['cpu'], intraOpNumThreads: 1 });
  try {
    const res = await session.run({ [inputs[0]!.name]: new ort.Tensor('float32', x.dataSync() as Float32Array, [...x.shape]) });
    const got = res[outputs[0]!.name]!;
    const ref = tidy(() => noGrad(() => Array.from(m.forward(x).dataSync())));
    expect(got.dims.length).toBe(4);
    const data = got.data as Float32Array;
    expect(data.length).toBe(ref.length);
    let d = 0;
    let r = 0;
    for (let i = 0; i < ref.length; i++) {
      d = Math.max(d, Math.abs(data[i]! - ref[i]!));
      r = Math.max(r, Math.abs(ref[i]!));
    }
    for (const t of Object.values(res)) t.dispose();
    return { nodes: graph.nodes as never, err: d / r };
  } finally {
    await session.release();
  }
}

describe('exportOnnx: conv2d per-side padding and fused clamp (onnxruntime-node)', () => {
  const x = (shape: number[]): Tensor => ops.sub(ops.mul(ops.rand(shape), 8), 4).keep();

  it("TF 'SAME' at stride 2 + ReLU6: Conv with pads [top, left, bottom, right], then Clip(0, 6)", async () => {
    const m = new OneConv([6, 3, 3, 3], true, { stride: 2, padding: [[0, 1], [1, 0]], clamp: [0, 6] });
    const { nodes, err } = await exportAndRun(m, x([2, 3, 8, 9]));
    expect(nodes.map((n) => n.op)).toEqual(['Conv', 'Clip']);
    expect(nodes[0]!.attrs!.pads).toEqual([0, 1, 1, 0]);
    expect(nodes[1]!.inputs.length).toBe(3);
    expect(err).toBeLessThanOrEqual(1e-5);
  });

  it('ReLU ([0, Infinity]) exports as Relu; an open lower side as Clip(x, "", hi)', async () => {
    const relu = await exportAndRun(new OneConv([4, 3, 1, 1], true, { clamp: [0, Infinity] }), x([1, 3, 5, 4]));
    expect(relu.nodes.map((n) => n.op)).toEqual(['Conv', 'Relu']);
    expect(relu.err).toBeLessThanOrEqual(1e-5);
    const upper = await exportAndRun(new OneConv([4, 2, 3, 2], false, { padding: [[2, 0], [0, 1]], groups: 2, clamp: [-Infinity, 0.5] }), x([1, 4, 6, 5]));
    expect(upper.nodes.map((n) => n.op)).toEqual(['Conv', 'Clip']);
    expect(upper.nodes[0]!.attrs!.pads).toEqual([2, 0, 0, 1]);
    expect(upper.nodes[1]!.inputs.length).toBe(3);
    expect(upper.nodes[1]!.inputs[1]).toBe('');
    expect(upper.err).toBeLessThanOrEqual(1e-5);
  });

  it('depthwise with per-side padding and no clamp: one Conv', async () => {
    const { nodes, err } = await exportAndRun(new OneConv([5, 1, 3, 3], true, { stride: 2, padding: [[1, 1], [0, 1]], groups: 5 }), x([1, 5, 9, 10]));
    expect(nodes.map((n) => n.op)).toEqual(['Conv']);
    expect(nodes[0]!.attrs!.pads).toEqual([1, 0, 1, 1]);
    expect(err).toBeLessThanOrEqual(1e-5);
  });
});
