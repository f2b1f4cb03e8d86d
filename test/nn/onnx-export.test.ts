/**
 * ONNX export (models/nn/onnx): every op the networks use is exported and run in onnxruntime-node
 * against posegrad's forward; the encoder agrees with protobufjs on onnx.proto; the networks
 * (MoveNet, and RPSTN, FaSRnet, VREMD, GLPose at `tiny`, `small` and `real` — the papers' heads on
 * the frozen pretrained MoveNet Lightning) export, with and without a dynamic batch axis, and match
 * in onnxruntime-node and onnxruntime-web (wasm, in Node) within 1e-4 relative
 * (max|Δ| / max|ref|). Unexportable ops fail with an Error that names them.
 *
 * The op cases run on the cpu backend; the networks on wasm (the same forward, ~10x faster), the
 * papers' with seeded non-trivial weights (test/helpers/models.ts `randomize`); at `real`, MoveNet
 * keeps its shipped weights and the head's trainable parameters are seeded (its residual last
 * layers start at zero, which would leave the head out of the comparison).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ortNode from 'onnxruntime-node';
import protobuf from 'protobufjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engine, init, noGrad, tidy } from '../../engine/engine.js';
import { Tensor } from '../../engine/tensor.js';
import { decodeModel, encodeModel, exportOnnx, exportOnnxGraph, ONNX_PROTO, onnxProtoSchema, saveOnnx, type ExportOnnxOptions } from '../../models/nn/onnx/index.js';
import { decodeMessage, encodeMessage } from '../../models/nn/onnx/proto.js';
import { Module } from '../../models/nn/module.js';
import { BatchNorm2d, Conv2d, Linear } from '../../models/nn/layers.js';
import * as ops from '../../ops/index.js';
import { RPSTN } from '../../models/rpstn/model.js';
import { rpstnPreset } from '../../models/rpstn/presets.js';
import { createFaSRnet } from '../../models/fasrnet/presets.js';
import { createVREMD } from '../../models/vremd/model.js';
import { createGLPose } from '../../models/glpose/presets.js';
import { moveNetFromSafetensors } from '../../models/movenet/load.js';
import type { MoveNet } from '../../models/movenet/movenet.js';
import { randomize } from '../helpers/models.js';

type Ort = typeof ortNode;
type OrtSession = ortNode.InferenceSession;

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** max|a − b| / max|b|. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  let r = 0;
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(a[i]!) !== Number.isNaN(b[i]!)) return Infinity;
    if (a[i] !== b[i]) d = Math.max(d, Math.abs(a[i]! - b[i]!));
    r = Math.max(r, Math.abs(b[i]!));
  }
  return r === 0 ? d : d / r;
}

/** A module whose forward is `f`, holding `params` (so that they export as initializers). */
class Fn extends Module {
  constructor(
    private readonly f: (m: Fn, ...xs: Tensor[]) => unknown,
    params: Record<string, Tensor> = {},
    modules: Record<string, Module> = {},
  ) {
    super();
    for (const [k, t] of Object.entries(params)) this.param(k, t);
    for (const [k, m] of Object.entries(modules)) this.module(k, m);
  }
  p(name: string): Tensor {
    return this.namedParameters().find(([n]) => n === name)![1];
  }
  forward(...xs: Tensor[]): unknown {
    return this.f(this, ...xs);
  }
}

function flatTensors(v: unknown): Tensor[] {
  if (v instanceof Tensor) return [v];
  if (Array.isArray(v)) return v.flatMap(flatTensors);
  if (v && typeof v === 'object') return Object.values(v).flatMap(flatTensors);
  return [];
}

function ortFeeds(ort: Ort, names: readonly string[], ts: readonly Tensor[]): Record<string, ortNode.Tensor> {
  const feeds: Record<string, ortNode.Tensor> = {};
  ts.forEach((t, i) => {
    const data = t.dataSync();
    feeds[names[i]!] = data instanceof Int32Array ? new ort.Tensor('int32', data, [...t.shape]) : new ort.Tensor(t.dtype === 'float64' ? 'float64' : 'float32', data as Float32Array, [...t.shape]);
  });
  return feeds;
}

interface Checked {
  ops: string[];
  err: number[];
}

/**
 * Exports `module` on `inputs`, runs the model in onnxruntime on `runInputs` (default: the example)
 * and compares every output with posegrad's forward on the same inputs. Returns the node op types
 * and the relative errors.
 */
async function check(ort: Ort, module: Module, inputs: unknown[], opts: ExportOnnxOptions = {}, runInputs: unknown[][] = [inputs], tol = 1e-4): Promise<Checked> {
  const { graph, inputs: gin, outputs: gout } = exportOnnxGraph(module, inputs, opts);
  module.eval(); // the reference forward as the export ran it
  const bytes = encodeModel(graph);
  const ep = ort === ortNode ? 'cpu' : 'wasm';
  const session: OrtSession = await ort.InferenceSession.create(bytes, { executionProviders: [ep], intraOpNumThreads: 1 });
  const err: number[] = [];
  try {
    for (const args of runInputs) {
      const res = await session.run(ortFeeds(ort, gin.map((v) => v.name), flatTensors(args)));
      const method = opts.method ?? 'forward';
      const ref = tidy(() => noGrad(() => flatTensors((module as unknown as Record<string, (...a: unknown[]) => unknown>)[method]!(...args)).map((t) => ({ shape: [...t.shape], data: Array.from(t.dataSync()) }))));
      expect(ref.length).toBe(gout.length);
      gout.forEach((o, i) => {
        const got = res[o.name]!;
        expect([...got.dims], o.name).toEqual(ref[i]!.shape);
        const e = relErr(Array.from(got.data as Float32Array, Number), ref[i]!.data);
        err.push(e);
        expect(e, `${o.name}: max|Δ|/max|ref|`).toBeLessThanOrEqual(tol);
      });
      for (const t of Object.values(res)) t.dispose();
    }
  } finally {
    await session.release();
  }
  return { ops: graph.nodes.map((n) => n.op), err };
}

const r = (shape: number[], lo = -1, hi = 1): Tensor => ops.add(ops.mul(ops.rand(shape), hi - lo), lo).keep();

// ------------------------------------------------------------------------------ proto

describe('ONNX encoder (models/nn/onnx/proto.ts)', () => {
  it('agrees with protobufjs on onnx.proto field numbers, both ways', () => {
    const root = protobuf.parse(onnxProtoSchema(), { keepCase: true }).root;
    const T = root.lookupType('onnx.ModelProto');
    const graph = {
      opset: 19,
      nodes: [{ op: 'Conv', inputs: ['x', 'w'], outputs: ['y'], attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1], epsilon: { float: 1e-5 }, mode: 'linear', scales: { floats: [0.5, 2] } } }],
      inputs: [{ name: 'x', shape: ['batch', 2, 5, 5] }],
      outputs: [{ name: 'y', shape: ['batch', 3, 5, 5] }],
      initializers: [
        { name: 'w', shape: [3, 2, 3, 3], data: Float32Array.from({ length: 54 }, (_, i) => i / 7) },
        { name: 'shape', shape: [3], data: BigInt64Array.from([-1n, 0n, 9223372036854775807n]) },
      ],
      metadata: { 'posegrad.module': 'Test' },
    };
    const ours = encodeModel(graph);
    const theirs = T.toObject(T.decode(ours), { longs: String, bytes: Array }) as Record<string, any>;
    expect(theirs.ir_version).toBe('10');
    expect(theirs.opset_import[0].version).toBe('19');
    const node = theirs.graph.node[0];
    expect(node.op_type).toBe('Conv');
    expect(node.attribute.map((a: { name: string; type: number }) => [a.name, a.type])).toEqual([['kernel_shape', 7], ['pads', 7], ['epsilon', 1], ['mode', 3], ['scales', 6]]);
    expect(node.attribute[0].ints).toEqual(['3', '3']);
    expect(theirs.graph.initializer[1].raw_data.length).toBe(24);
    expect(theirs.graph.input[0].type.tensor_type.shape.dim[0].dim_param).toBe('batch');
    expect(theirs.metadata_props).toEqual([{ key: 'posegrad.module', value: 'Test' }]);
    // protobufjs's bytes decode to the same object with our decoder.
    const back = T.encode(T.fromObject(T.toObject(T.decode(ours)))).finish();
    expect(decodeModel(back)).toEqual(decodeModel(ours));
    // Negative int64 (ten-byte varints) and packed repeated scalars.
    const a = decodeMessage('AttributeProto', encodeMessage('AttributeProto', { name: 'axes', type: 7, ints: [-1, 2, -3] }));
    expect(a.ints).toEqual([-1, 2, -3]);
    const packed = root.lookupType('onnx.AttributeProto');
    const p = packed.encode(packed.fromObject({ name: 'f', floats: [1.5, -2] })).finish();
    expect(decodeMessage('AttributeProto', p).floats).toEqual([1.5, -2]);
    expect(Object.keys(ONNX_PROTO)).toContain('ModelProto');
  });

  it('refuses fields the schema does not have', () => {
    expect(() => encodeMessage('NodeProto', { opType: 'Conv' })).toThrow(/^onnx proto: NodeProto has no field 'opType'/);
  });
});

// ------------------------------------------------------------------------------ ops

describe('exportOnnx: ops in onnxruntime-node (cpu backend, float32)', () => {
  const ort = ortNode;
  const x4 = (): Tensor => r([2, 3, 9, 8]);

  const cases: [string, () => [Module, unknown[], ExportOnnxOptions?], string[]][] = [
    ['Conv (stride, dilation, groups, bias)', () => [new Fn((m, x) => ops.conv2d(x, m.p('w'), m.p('b'), { stride: [2, 1], padding: [1, 2], dilation: [1, 2], groups: 3 }), { w: r([6, 1, 3, 3]), b: r([6]) }), [x4()]], ['Conv']],
    ["Conv padding 'same' (even kernel pads after)", () => [new Fn((m, x) => ops.conv2d(x, m.p('w'), null, { padding: 'same' }), { w: r([4, 3, 2, 2]) }), [x4()]], ['Pad', 'Conv']],
    ['ConvTranspose (output padding, groups, bias)', () => [new Fn((m, x) => ops.convTranspose2d(x, m.p('w'), m.p('b'), { stride: 2, padding: 1, outputPadding: 1, groups: 3 }), { w: r([3, 2, 3, 3]), b: r([6]) }), [x4()]], ['ConvTranspose']],
    ['DeformConv with mask and two offset groups', () => [new Fn((m, x, off, mask) => ops.deformConv2d(x, off, m.p('w'), m.p('b'), { padding: 1, mask }), { w: r([5, 4, 3, 3]), b: r([5]) }), [r([2, 4, 7, 6]), r([2, 36, 7, 6], -2, 2), ops.sigmoid(r([2, 18, 7, 6])).keep()]], ['DeformConv']],
    ['DeformConv without mask, strided', () => [new Fn((m, x, off) => ops.deformConv2d(x, off, m.p('w'), null, { stride: 2, padding: 1 }), { w: r([2, 3, 3, 3]) }), [r([1, 3, 8, 8]), r([1, 18, 4, 4], -2, 2)]], ['DeformConv']],
    ...(['zeros', 'border', 'reflection'] as const).flatMap((pm) =>
      [false, true].flatMap((ac) =>
        (['bilinear', 'nearest'] as const).map((mode): [string, () => [Module, unknown[]], string[]] => [
          `GridSample ${mode} ${pm} alignCorners=${ac}`,
          () => [new Fn((_m, x, g) => ops.gridSample(x, g, { mode, paddingMode: pm, alignCorners: ac })), [r([2, 3, 6, 7]), r([2, 5, 4, 2], -1.3, 1.3)]],
          ['GridSample'],
        ]),
      ),
    ),
    ['MatMul (batched, broadcast, transposed operand)', () => [new Fn((_m, a, b) => ops.matmul(a, ops.transpose(b, -1, -2))), [r([2, 3, 4, 5]), r([3, 6, 5])]], ['MatMul']],
    ['Linear (weight as a 2-D initializer)', () => [new Linear(5, 4), [r([2, 3, 5])]], ['MatMul']],
    ['Softmax and LogSoftmax on inner axes', () => [new Fn((_m, x) => [ops.softmax(x, 1), ops.logSoftmax(x, -1)]), [r([2, 5, 3, 4], -3, 3)]], ['Softmax', 'LogSoftmax']],
    ['LayerNormalization over two dims, and without affine', () => [new Fn((m, x) => [ops.layerNorm(x, [3, 4], m.p('g'), m.p('b')), ops.layerNorm(x, 4)], { g: r([3, 4]), b: r([3, 4]) }), [r([2, 5, 3, 4])]], ['LayerNormalization']],
    ['BatchNormalization kept (foldBatchNorm: false), and alone without affine', () => {
      const conv = new Conv2d(3, 4, 3, { padding: 1 });
      const bn = new BatchNorm2d(4);
      const bn2 = new BatchNorm2d(3, { affine: false });
      randomizeBn(bn);
      randomizeBn(bn2);
      return [new Fn((_m, x) => [bn.forward(conv.forward(x)), bn2.forward(x)], {}, { conv, bn, bn2 }), [x4()], { foldBatchNorm: false }];
    }, ['Conv', 'BatchNormalization']],
    ['BatchNormalization folded into Conv', () => {
      const conv = new Conv2d(3, 4, 3, { padding: 1 });
      const bn = new BatchNorm2d(4);
      randomizeBn(bn);
      return [new Fn((_m, x) => ops.relu(bn.forward(conv.forward(x))), {}, { conv, bn }), [x4()]];
    }, ['Conv', 'Relu']],
    ['Resize bilinear half-pixel (scale 2, and to a size)', () => [new Fn((_m, x) => [ops.interpolate(x, { scaleFactor: 2, mode: 'bilinear' }), ops.interpolate(x, { size: [5, 13], mode: 'bilinear' })]), [x4()]], ['Resize']],
    ['Resize bilinear align corners', () => [new Fn((_m, x) => ops.interpolate(x, { size: [17, 11], mode: 'bilinear', alignCorners: true })), [x4()]], ['Resize']],
    ['Resize nearest (2x, a size, a non-integer scale)', () => [new Fn((_m, x) => [ops.interpolate(x, { scaleFactor: 2 }), ops.interpolate(x, { size: [4, 12] }), ops.interpolate(x, { scaleFactor: 1.5 })]), [x4()]], ['Resize']],
    ['MaxPool (ceil mode, dilation, padding)', () => [new Fn((_m, x) => [ops.maxPool2d(x, 3, { stride: 2, padding: 1, ceilMode: true }), ops.maxPool2d(x, 2, { dilation: 2 })]), [x4()]], ['MaxPool']],
    ['AveragePool (count_include_pad both ways, ceil-mode overhang)', () => [new Fn((_m, x) => [ops.avgPool2d(x, 3, { stride: 2, padding: 1 }), ops.avgPool2d(x, 3, { stride: 2, padding: 1, countIncludePad: false, ceilMode: true }), ops.avgPool2d(x, 2, { ceilMode: true }), ops.avgPool2d(x, 3, { stride: 2, padding: 1, ceilMode: true })]), [r([2, 3, 10, 8])]], ['AveragePool']],
    ['Adaptive average pool (global, divisible, uneven windows)', () => [new Fn((_m, x) => [ops.adaptiveAvgPool2d(x, 1), ops.adaptiveAvgPool2d(x, [3, 4]), ops.adaptiveAvgPool2d(x, [4, 3])]), [r([2, 3, 9, 8])]], ['GlobalAveragePool', 'AveragePool', 'ReduceMean']],
    ['Unary elementwise ops', () => [new Fn((_m, x) => {
      const p = ops.add(ops.abs(x), 0.1);
      return [ops.neg(x), ops.exp(x), ops.log(p), ops.sqrt(p), ops.rsqrt(p), ops.abs(x), ops.sign(x), ops.relu(x), ops.sigmoid(x), ops.tanh(x), ops.erf(x), ops.square(x), ops.reciprocal(p), ops.sin(x), ops.cos(x), ops.floor(x), ops.ceil(x), ops.round(ops.mul(x, 3)), ops.silu(x), ops.clone(x), ops.leakyRelu(x, 0.2), ops.elu(x, 0.7), ops.gelu(x), ops.gelu(x, { approximate: 'tanh' }), ops.pow(p, 1.7), ops.pow(x, 2)];
    }), [r([2, 3, 4], -3, 3)]], ['Erf', 'Tanh', 'LeakyRelu', 'Elu', 'Pow', 'Round']],
    ['GELU as the Gelu op at opset 20', () => [new Fn((_m, x) => [ops.gelu(x), ops.gelu(x, { approximate: 'tanh' })]), [r([2, 3, 4], -3, 3)], { opset: 20 }], ['Gelu']],
    ['Clip: relu6, one-sided and two-sided clamps', () => [new Fn((_m, x) => [ops.clamp(x, 0, 6), ops.clamp(x, null, 0.5), ops.clamp(x, -0.5)]), [r([2, 3, 4], -9, 9)]], ['Clip']],
    ['Binary ops with broadcasting, comparisons, where', () => [new Fn((_m, a, b) => {
      const p = ops.add(ops.abs(b), 0.5);
      return [ops.add(a, b), ops.sub(a, b), ops.mul(a, b), ops.div(a, p), ops.pow(p, a), ops.maximum(a, b), ops.minimum(a, b), ops.mul(a, 2.5), ops.sub(1, a), ops.where(ops.gt(a, b), a, b), ops.eq(ops.round(a), ops.round(b)), ops.ne(ops.round(a), 0), ops.lt(a, b), ops.le(a, 0), ops.ge(a, b), ops.maskedFill(a, ops.lt(b, 0), -7)];
    }), [r([2, 3, 4]), r([3, 1])]], ['Add', 'Where', 'Equal', 'Not', 'Less', 'LessOrEqual', 'GreaterOrEqual', 'Max', 'Min']],
    ['Reductions, argmax, cumsum, topk', () => [new Fn((_m, x) => [ops.sum(x, 1), ops.mean(x, [2, 3], true), ops.max(x, -1), ops.min(x, 0), ops.prod(ops.add(ops.abs(x), 0.5), 2), ops.sum(x, [0, 2]), ops.argmax(x, 1), ops.argmin(x, -1), ops.cumsum(x, 2), ops.topk(x, 2, 1).values, ops.topk(x, 3, -1, false).indices, ops.logSumExp(x, 3), ops.variance(x, 1)]), [r([2, 4, 3, 5])]], ['ReduceSum', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ArgMax', 'ArgMin', 'CumSum', 'TopK']],
    ['Shape ops: reshape, permute, slice (steps), concat, stack, split, pad, flip, expand, repeat', () => [new Fn((_m, x) => {
      const [a, b] = ops.split(x, [1, 2], 1);
      return [ops.reshape(ops.permute(x, [0, 2, 3, 1]), [2, -1]), ops.slice(x, 2, 1, 8, 3), ops.slice(x, -1, -5, null, 2), ops.concat([b!, a!, b!], 1), ops.stack([a!, a!], 0), ops.pad(x, [1, 2, 0, 3], 0.5), ops.pad(x, [-1, 1]), ops.flip(x, [1, 3]), ops.expand(ops.slice(x, 1, 0, 1), [2, 4, 9, 8]), ops.repeat(a!, [1, 2, 1, 2]), ops.unsqueeze(ops.squeeze(a!, 1), 0)];
    }), [x4()]], ['Reshape', 'Transpose', 'Slice', 'Concat', 'Pad', 'Expand']],
    ['Computed indices: argmax feeding gather and indexSelect (MoveNet centre picking)', () => [new Fn((_m, x, y) => {
      const idx = ops.argmax(ops.reshape(x, [2, -1]), 1, true); // [2, 1] int32, from the graph
      return [ops.gather(ops.reshape(y, [2, -1]), 1, idx), ops.indexSelect(y, 3, ops.reshape(ops.slice(idx, 0, 0, 1), [1]))];
    }), [r([2, 1, 3, 4]), r([2, 5, 3, 12])]], ['ArgMax', 'GatherElements', 'Gather']],
    ['Gather (GatherElements) and indexSelect (Gather) with int32 indices', () => {
      const idx = ops.tensor(Int32Array.from({ length: 2 * 3 * 4 }, (_, i) => (i * 7) % 5), { dtype: 'int32', shape: [2, 3, 4] }).keep();
      const sel = ops.tensor([3, 0, 2, 2], { dtype: 'int32' }).keep();
      return [new Fn((_m, x) => [ops.gather(x, 2, idx), ops.indexSelect(x, 1, sel)]), [r([2, 4, 5])]];
    }, ['GatherElements', 'Gather']],
    ['Attention (scaledDotProductAttention, with an additive and a causal mask)', () => [new Fn((_m, q, k, v, mask) => [ops.scaledDotProductAttention(q, k, v, { attnMask: mask }), ops.scaledDotProductAttention(q, k, v, { isCausal: true, scale: 0.3 })]), [r([2, 2, 5, 4]), r([2, 2, 5, 4]), r([2, 2, 5, 3]), r([1, 1, 5, 5])]], ['MatMul', 'Softmax']],
    ['Group norm, normalize, cosine similarity (composites)', () => [new Fn((m, x) => [ops.groupNorm(x, 3, m.p('g'), m.p('b')), ops.normalize(x, { dim: 1 }), ops.cosineSimilarity(x, ops.flip(x, 3), 1)], { g: r([6]), b: r([6]) }), [r([2, 6, 4, 5])]], ['LayerNormalization']],
  ];

  for (const [label, build, want] of cases) {
    it(label, async () => {
      const [m, inputs, opts] = build();
      const { ops: got } = await check(ort, m, inputs, opts);
      for (const w of want) expect(got, `the graph has ${w}`).toContain(w);
      if (label.includes('folded')) expect(got).not.toContain('BatchNormalization');
    });
  }

  it('names inputs after their places in the arguments, outputs after the result, or as given', () => {
    const m = new Fn((_m, x) => ({ a: ops.relu(x), b: [ops.neg(x), x] }));
    const x = r([1, 2]);
    const live = engine.memory().numTensors;
    const g = exportOnnxGraph(m, [x]);
    expect(engine.memory().numTensors, 'no tensor leaks').toBe(live);
    expect(m.training, 'the module mode is restored').toBe(true);
    expect(g.inputs.map((v) => v.name)).toEqual(['input']);
    expect(g.outputs.map((v) => v.name)).toEqual(['a', 'b_0', 'b_1']);
    // An input returned as is becomes an Identity.
    expect(g.graph.nodes.map((n) => n.op)).toContain('Identity');
    const two = new Fn((_m, a, b) => ops.add(a, b));
    expect(exportOnnxGraph(two, [x, ops.clone(x)]).inputs.map((v) => v.name)).toEqual(['input_0', 'input_1']);
    const named = exportOnnxGraph(m, [x], { inputNames: ['image'], outputNames: ['p', 'q', 'r'] });
    expect(named.inputs[0]!.name).toBe('image');
    expect(named.outputs.map((v) => v.name)).toEqual(['p', 'q', 'r']);
    expect(() => exportOnnxGraph(m, [x], { outputNames: ['p'] })).toThrow(/^exportOnnx: expected 3 output names \(a, b_0, b_1\), got 1: \[p\]/);
  });

  it('makes the batch axis dynamic: Reshape -1/0, computed shapes, symbolic graph dims', async () => {
    const lin = new Linear(6, 3);
    const m = new Fn((_m, x) => {
      const [B, C, H, W] = x.shape as [number, number, number, number];
      const t = ops.reshape(ops.permute(x, [0, 2, 3, 1]), [B * H * W, C]); // the batch merged into rows
      const y = ops.reshape(lin.forward(ops.concat([t, t], 1)), [B, H, W, 3]);
      const z = ops.add(ops.zeros([B, 1, 1, 3]), ops.slice(y, 0, 0, B)); // a fill of a batch-sized shape
      return ops.softmax(ops.mul(z, ops.expand(ops.mean(x, [1, 2, 3], true), [B, H, W, 3])), -1);
    }, {}, { lin });
    const x = r([2, 3, 4, 5]);
    const opts: ExportOnnxOptions = { dynamicAxes: { input: { 0: 'batch' }, output: { 0: 'batch' } } };
    const g = exportOnnxGraph(m, [x], opts);
    expect(g.inputs[0]!.shape).toEqual(['batch', 3, 4, 5]);
    expect(g.outputs[0]!.shape).toEqual(['batch', 4, 5, 3]);
    await check(ort, m, [x], opts, [[r([1, 3, 4, 5])], [r([2, 3, 4, 5])], [r([7, 3, 4, 5])]]);
  });

  it('npm run export writes a model that matches (--check), and names bad flags', () => {
    const dir = mkdtempSync(join(tmpdir(), 'posegrad-cli-'));
    const out = join(dir, 'rpstn.onnx');
    const run = (args: string[]): { status: number | null; stdout: string; stderr: string } => {
      const p = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'cli/export.ts'), ...args], { cwd: ROOT, encoding: 'utf8' });
      return { status: p.status, stdout: p.stdout, stderr: p.stderr };
    };
    const ok = run(['--model', 'rpstn', '--preset', 'tiny', '--weights', 'none', '--dynamic-batch', '--backend', 'cpu', '--out', out, '--check']);
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/^RPSTN 'tiny': .* UNTRAINED/);
    expect(ok.stdout).toMatch(/\ninputs: clip \[batch, 3, 3, 128, 128\]\noutputs: output \[batch, 3, 13, 32, 32\]\n/);
    const err = Number(/output (\S+)\n$/.exec(ok.stdout)?.[1]);
    expect(err).toBeLessThan(1e-4);
    expect(readFileSync(out).length).toBeGreaterThan(1000);
    rmSync(dir, { recursive: true, force: true });
    const bad = run(['--model', 'rpstn', '--preset', 'huge']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^export: --preset: expected one of \[.*tiny.*\] for rpstn, got 'huge'\n$/);
  });

  it('saveOnnx writes the bytes exportOnnx returns', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'posegrad-onnx-'));
    try {
      const m = new Linear(3, 2);
      const x = r([1, 3]);
      const n = await saveOnnx(m, [x], join(dir, 'm.onnx'));
      expect(n).toBe(exportOnnx(m, [x]).length);
      expect(new Uint8Array(readFileSync(join(dir, 'm.onnx')))).toEqual(exportOnnx(m, [x]));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function randomizeBn(bn: BatchNorm2d): void {
  const c = bn.numFeatures;
  for (const [t, lo, hi] of [[bn.weight, 0.5, 1.5], [bn.bias, -0.5, 0.5], [bn.runningMean, -0.3, 0.3], [bn.runningVar, 0.5, 2]] as const) {
    if (!t) continue;
    const v = ops.add(ops.mul(ops.rand([c]), hi - lo), lo);
    t.assign(v);
    v.dispose();
  }
}

// ------------------------------------------------------------------------------ errors

describe('exportOnnx: what cannot be exported is named', () => {
  const x = (): Tensor => r([1, 2, 4, 4]);

  it('an op that needs a higher opset', () => {
    const m = new Fn((mm, a, off) => ops.deformConv2d(a, off, mm.p('w')), { w: r([2, 2, 3, 3]) });
    expect(() => exportOnnx(m, [x(), r([1, 18, 2, 2])], { opset: 17 })).toThrow(/^exportOnnx: cannot export deformConv2d: DeformConv needs opset ≥ 19, and the export asked for opset 17/);
    const ln = new Fn((_m, a) => ops.layerNorm(a, 4));
    expect(() => exportOnnx(ln, [x()], { opset: 16 })).toThrow(/^exportOnnx: cannot export layerNorm: LayerNormalization needs opset ≥ 17/);
    expect(() => exportOnnx(ln, [x()], { opset: 12 })).toThrow(/^exportOnnx: expected opset an integer in \[13, 23\], got 12/);
  });

  it('batch statistics (training-mode batch norm inside the forward)', () => {
    const m = new Fn((_m, a) => ops.batchNorm2d(a, null, null, null, null, { training: true }));
    expect(() => exportOnnx(m, [x()])).toThrow(/^exportOnnx: cannot export batchNormStats: batch norm with batch statistics is training mode/);
  });

  it('a gradient computed inside the forward', () => {
    const m = new Fn((mm, a) => {
      const w = mm.p('w');
      return engine.gradEnabled ? a : (() => {
        const prev = engine.gradEnabled;
        engine.gradEnabled = true;
        try {
          const y = ops.sum(ops.conv2d(a, w));
          y.backward();
          return w.grad!;
        } finally {
          engine.gradEnabled = prev;
        }
      })();
    }, { w: r([1, 2, 3, 3]) });
    expect(() => exportOnnx(m, [x()])).toThrow(/^exportOnnx: cannot export \w+: a gradient kernel/);
  });

  it('an output ONNX has no equivalent of (max-pool indices)', () => {
    const m = new Fn((_m, a) => ops.maxPool2d(a, 2, { returnIndices: true })[1]);
    expect(() => exportOnnx(m, [x()])).toThrow(/^exportOnnx: cannot export maxPool2d's indices \(returnIndices\)/);
  });

  it('host data made from values read back from the graph', () => {
    const m = new Fn((_m, a) => ops.mul(a, ops.tensor([ops.max(a).item()])));
    expect(() => exportOnnx(m, [x()])).toThrow(/^exportOnnx: cannot export a forward that reads a computed tensor back to the host \(the output of reduce\(max\)/);
  });

  it('out-of-range indices still fail as the op does (checked by the tracer)', () => {
    const m = new Fn((_m, a) => ops.gather(ops.reshape(a, [1, -1]), 1, ops.add(ops.argmax(ops.reshape(a, [1, -1]), 1, true), 40)));
    expect(() => exportOnnx(m, [x()])).toThrow(/^gather: expected indices in \[0, 31\], got (4\d|5\d|6\d|7\d)$/);
    const sel = new Fn((_m, a) => ops.indexSelect(a, 1, ops.tensor([0, 2], { dtype: 'int32' })));
    expect(() => exportOnnx(sel, [x()])).toThrow(/^indexSelect: expected indices in \[0, 1\], got 2$/);
  });

  it('a batch-dependent attribute, for a dynamic batch', () => {
    const m = new Fn((_m, a) => ops.avgPool2d(ops.reshape(a, [1, -1, 4, 4]), [1, a.shape[0]! + 1]));
    expect(() => exportOnnx(m, [x()], { dynamicAxes: { input: [0] } })).toThrow(/^exportOnnx: cannot make the batch axis dynamic: the traced graph differs between batch 2 and 3 at node \d+ \(AveragePool from avgPool2d, whose kernel_shape is \[1,3\] at batch 2 and \[1,4\] at batch 3/);
    expect(() => exportOnnx(m, [x()], { dynamicAxes: { nope: [0] } })).toThrow(/^exportOnnx: dynamicAxes: expected at least one input axis/);
  });
});

// ------------------------------------------------------------------------------ networks

interface Net {
  label: string;
  build(): { module: Module; inputs: unknown[]; opts?: ExportOnnxOptions };
  /** Also check a dynamic batch axis (inputs at batch 1 and 3). */
  dynamic?: boolean;
}

/** Non-trivial weights (the papers' N(0, 0.001) head inits leave whole paths nearly linear), on wasm. */
function seeded<M extends Module>(m: M): M {
  randomize(m, 'float32');
  return m.to('wasm');
}

/** A random frame [1, 3, h, w] on wasm: U(0, 1), or N(0, 1) (ImageNet-normalized-like) with `normal`. */
function frame(h: number, w: number, normal = false): Tensor {
  return (normal ? ops.randn : ops.rand)([1, 3, h, w], { device: 'wasm' }).keep();
}

const PAPERS: Net[] = (['tiny', 'small'] as const).flatMap((preset): Net[] => [
  {
    label: `RPSTN ${preset}`,
    dynamic: preset === 'tiny',
    build: () => {
      const cfg = rpstnPreset(preset);
      const module = seeded(new RPSTN(cfg));
      return { module, inputs: [ops.randn([1, cfg.numFrames, 3, cfg.inputSize[1], cfg.inputSize[0]], { device: 'wasm' }).keep()] };
    },
  },
  {
    label: `FaSRnet ${preset}`,
    dynamic: preset === 'tiny',
    build: () => {
      const module = seeded(createFaSRnet(preset));
      const [w, h] = module.cfg.inputSize;
      return { module, inputs: [{ cur: frame(h, w), prev: frame(h, w), next: frame(h, w) }] };
    },
  },
  {
    label: `VREMD ${preset}`,
    dynamic: preset === 'tiny',
    build: () => {
      const module = seeded(createVREMD(preset));
      const [h, w] = module.inputSize;
      return { module, inputs: [{ frames: ops.randn([1, 3, 3, h, w], { device: 'wasm' }).keep() }] };
    },
  },
  {
    label: `GLPose ${preset}`,
    dynamic: preset === 'tiny',
    build: () => {
      const module = seeded(createGLPose(preset));
      const c = module.cfg;
      const [w, h] = c.inputSize;
      return { module, inputs: [ops.randn([1, 1 + 2 * c.localFrames + c.globalCandidates, 3, h, w], { device: 'wasm' }).keep()], opts: { method: 'forwardFrames' } };
    },
  },
]);

/** The shipped MoveNet of `variant`, on the default device. */
function shippedMoveNet(variant: 'lightning' | 'thunder' | 'multipose'): MoveNet {
  return moveNetFromSafetensors(new Uint8Array(readFileSync(join(ROOT, 'assets/weights/movenet', `${variant}.safetensors`))), variant);
}

/**
 * A `real` network on wasm: MoveNet keeps its shipped weights (frozen, requiresGrad false); the
 * head's trainable parameters get seeded values as `randomize` draws them (4-D and 2-D weights
 * uniform ±√(3/fan_in), the rest N(0, 0.1²)), so that the zero-initialized residual layers do not
 * hide the head.
 */
function seededHead<M extends Module>(m: M): M {
  const rng = engine.rng;
  let n = 0;
  for (const [, t] of m.namedParameters()) {
    if (!t.requiresGrad) continue;
    const fanIn = t.rank >= 2 ? t.size / t.shape[0]! : 1;
    const v = new Float32Array(t.size);
    for (let i = 0; i < v.length; i++) v[i] = t.rank >= 2 ? (rng.uniform() * 2 - 1) * Math.sqrt(3 / fanIn) : 0.1 * rng.normal();
    const src = ops.tensor(v, { shape: t.shape, device: t.device });
    t.assign(src);
    src.dispose();
    n++;
  }
  expect(n, 'the real preset has trainable head parameters').toBeGreaterThan(0);
  return m.to('wasm');
}

const REALS: Net[] = [
  {
    label: 'RPSTN real',
    dynamic: true,
    build: () => {
      const cfg = rpstnPreset('real');
      const module = seededHead(new RPSTN(cfg, { movenet: shippedMoveNet('lightning') }));
      return { module, inputs: [ops.randn([1, cfg.numFrames, 3, cfg.inputSize[1], cfg.inputSize[0]], { device: 'wasm' }).keep()] };
    },
  },
  {
    label: 'FaSRnet real',
    build: () => {
      const module = seededHead(createFaSRnet('real', {}, { movenet: shippedMoveNet('lightning') }));
      const [w, h] = module.cfg.inputSize;
      return { module, inputs: [{ cur: frame(h, w, true), prev: frame(h, w, true), next: frame(h, w, true) }] };
    },
  },
  {
    label: 'VREMD real',
    build: () => {
      const module = seededHead(createVREMD('real', { movenet: shippedMoveNet('lightning') }));
      const [h, w] = module.inputSize;
      return { module, inputs: [{ frames: ops.randn([1, 3, 3, h, w], { device: 'wasm' }).keep() }] };
    },
  },
  {
    label: 'GLPose real',
    build: () => {
      const module = seededHead(createGLPose('real', {}, { movenet: shippedMoveNet('lightning') }));
      const c = module.cfg;
      const [w, h] = c.inputSize;
      return { module, inputs: [ops.randn([1, 1 + 2 * c.localFrames + c.globalCandidates, 3, h, w], { device: 'wasm' }).keep()], opts: { method: 'forwardFrames' } };
    },
  },
];

const MOVENETS: Net[] = (['lightning', 'thunder', 'multipose'] as const).map((variant) => ({
  label: `MoveNet ${variant}`,
  dynamic: variant === 'lightning',
  build: () => {
    const module = shippedMoveNet(variant).to('wasm');
    const [h, w] = variant === 'multipose' ? [256, 256] : module.config.inputSize;
    return { module, inputs: [ops.mul(ops.rand([1, 3, h, w], { device: 'wasm' }), 255).keep()] };
  },
}));

/** The inputs resized to batch `n` (fresh random values, same shapes otherwise). */
function atBatch(inputs: unknown[], n: number): unknown[] {
  const map = (v: unknown): unknown => {
    if (v instanceof Tensor) return ops.mul(ops.rand([n, ...v.shape.slice(1)], { device: v.device }), ops.max(v).item() > 2 ? 255 : 1).keep();
    if (Array.isArray(v)) return v.map(map);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, map(x)]));
    return v;
  };
  return inputs.map(map);
}

describe('exportOnnx: every network, in onnxruntime-node and onnxruntime-web (wasm)', () => {
  let ortWeb: Ort;
  const results: string[] = [];

  beforeAll(async () => {
    await init('wasm');
    ortWeb = (await import('onnxruntime-web')) as unknown as Ort;
    ortWeb.env.wasm.numThreads = 1;
  });
  afterAll(() => {
    // One line per network: the errors the reply and docs/export.md quote.
    if (process.env.POSEGRAD_ONNX_REPORT) process.stderr.write(`${results.join('\n')}\n`);
  });

  for (const net of [...MOVENETS, ...PAPERS, ...REALS]) {
    it(`${net.label}: exports, and matches posegrad within 1e-4 in ort-node and ort-web`, async () => {
      const { module, inputs, opts = {} } = net.build();
      try {
        const node = await check(ortNode, module, inputs, opts);
        const web = await check(ortWeb, module, inputs, opts);
        let dyn: Checked | null = null;
        if (net.dynamic) {
          const names = exportOnnxGraph(module, inputs, opts).inputs.map((v) => v.name);
          const dopts: ExportOnnxOptions = { ...opts, dynamicAxes: Object.fromEntries(names.map((n) => [n, { 0: 'batch' }])) };
          dyn = await check(ortNode, module, inputs, dopts, [atBatch(inputs, 1), atBatch(inputs, 3)]);
        }
        const fmt = (c: Checked): string => Math.max(...c.err).toExponential(1);
        results.push(`${net.label}: ort-node ${fmt(node)}, ort-web ${fmt(web)}${dyn ? `, dynamic batch (1, 3) ${fmt(dyn)}` : ''}; ${node.ops.length} nodes`);
      } finally {
        module.dispose();
      }
    });
  }
});
