/**
 * The peers must compute the same function as posegrad's kernels, or the bench compares unlike
 * things. Each quick workload's ONNX model (built by our protobuf encoder) runs in
 * onnxruntime-node and is compared with posegrad's cpu kernels on the same inputs: this checks the
 * encoder's field numbers and attribute types, and the conventions (dilated padding, DeformConv
 * offsets in torchvision's layout, GridSample's alignCorners, attention's scale, layerNorm's eps).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { randomFloats } from '../../bench/adapter.js';
import { convOut, type KernelSpec } from '../../bench/formulas.js';
import { onnxWorkload, type OnnxWorkload } from '../../bench/peers/onnx-models.js';
import { attribute, decodeModel, encodeModel } from '../../bench/peers/onnx-proto.js';
import { planTiming } from '../../bench/timing.js';
import { KERNEL_WORKLOADS } from '../../bench/workloads.js';
import type { Backend, KTensor } from '../../backends/backend.js';
import { CpuBackend } from '../../backends/cpu/index.js';
import { assertClose } from '../helpers/close.js';

const cpu: Backend = new CpuBackend();
const kt = (data: Float32Array, shape: readonly number[]): KTensor => ({ storage: cpu.upload(data, 'float32'), shape, dtype: 'float32' });

/** The inputs the ort adapter feeds (same seeds), by feed name. */
function feedsOf(w: OnnxWorkload): Map<string, { data: Float32Array; shape: number[] }> {
  const m = new Map<string, { data: Float32Array; shape: number[] }>();
  w.feeds.forEach((f, i) => {
    const n = f.shape.reduce((a, b) => a * b, 1);
    m.set(f.name, { data: randomFloats(n, i + 1, f.range[0], f.range[1]), shape: f.shape });
  });
  return m;
}

/** posegrad's cpu kernels on the same inputs, in the ONNX output's layout. */
function posegradOutput(s: KernelSpec, feeds: Map<string, { data: Float32Array; shape: number[] }>, variant: 'standard' | 'mha'): Float32Array {
  const get = (name: string, shape?: readonly number[]): KTensor => {
    const f = feeds.get(name)!;
    return kt(f.data, shape ?? f.shape);
  };
  const out = (storage: unknown, shape: readonly number[]): Float32Array => cpu.readSync({ storage, shape, dtype: 'float32' }) as Float32Array;
  switch (s.op) {
    case 'matmul':
      return out(cpu.matmul(get('a', [1, s.M, s.K]), get('b', [1, s.K, s.N]), { transA: false, transB: false }), [1, s.M, s.N]);
    case 'conv2d':
    case 'deformConv2d': {
      const p = { stride: [s.stride, s.stride] as const, padding: [s.padding, s.padding] as const, dilation: [s.dilation, s.dilation] as const, groups: s.groups };
      const shape = [s.N, s.Cout, convOut(s.H, s.kh, s.stride, s.padding, s.dilation), convOut(s.W, s.kw, s.stride, s.padding, s.dilation)];
      if (s.op === 'conv2d') return out(cpu.conv2d(get('x'), get('w'), null, p), shape);
      return out(cpu.deformConv2d(get('x'), get('offset'), get('mask'), get('w'), null, { ...p, offsetGroups: s.offsetGroups }), shape);
    }
    case 'softmax': {
      const size = s.shape[s.shape.length - 1]!;
      return out(cpu.softmax(get('x'), s.shape.slice(0, -1).reduce((a, b) => a * b, 1), size, 1, false), s.shape);
    }
    case 'attention': {
      const p = { scale: 1 / Math.sqrt(s.D) };
      if (variant === 'standard') return out(cpu.attention(get('q'), get('k'), get('v'), null, p).out, [s.B, s.H, s.Lq, s.D]);
      // [B, L, H·D] → [B, H, L, D] for our kernel, and back
      const toBHLD = (name: string, L: number): KTensor => {
        const t = get(name, [s.B, L, s.H, s.D]);
        return { storage: cpu.permute(t, [0, 2, 1, 3]), shape: [s.B, s.H, L, s.D], dtype: 'float32' };
      };
      const o = cpu.attention(toBHLD('q', s.Lq), toBHLD('k', s.Lk), toBHLD('v', s.Lk), null, p).out;
      return out(cpu.permute({ storage: o, shape: [s.B, s.H, s.Lq, s.D], dtype: 'float32' }, [0, 2, 1, 3]), [s.B, s.Lq, s.H, s.D]);
    }
    case 'layerNorm':
      return out(cpu.layerNorm(get('x'), get('g'), get('b'), s.rows, s.cols, s.eps).y, [s.rows, s.cols]);
    case 'gridSample':
      return out(cpu.gridSample(get('x'), get('grid'), { mode: 'bilinear', paddingMode: 'zeros', alignCorners: false }), [s.N, s.C, s.Ho, s.Wo]);
  }
}

async function runOrt(w: OnnxWorkload, feeds: Map<string, { data: Float32Array; shape: number[] }>): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(encodeModel(w.graph), { executionProviders: ['cpu'], intraOpNumThreads: 1 });
  const input: Record<string, ort.Tensor> = {};
  for (const [name, f] of feeds) input[name] = new ort.Tensor('float32', f.data, f.shape);
  const res = await session.run(input);
  const y = res[w.output.name]!;
  expect([...y.dims]).toEqual(w.output.shape);
  await session.release();
  return y.data as Float32Array;
}

describe('bench ONNX models run in onnxruntime and match posegrad', () => {
  for (const wl of KERNEL_WORKLOADS) {
    it(`${wl.id} (quick shape)`, async () => {
      const w = onnxWorkload(wl.quick);
      const feeds = feedsOf(w);
      assertClose(await runOrt(w, feeds), posegradOutput(wl.quick, feeds, 'standard'), { atol: 1e-4, rtol: 1e-4 }, wl.id);
    });
  }

  it('attention through com.microsoft MultiHeadAttention ([B, L, H·D]) matches too', async () => {
    const s = KERNEL_WORKLOADS.find((w) => w.id === 'attention-vremd')!.quick;
    const w = onnxWorkload(s, 'mha');
    const feeds = feedsOf(w);
    assertClose(await runOrt(w, feeds), posegradOutput(s, feeds, 'mha'), { atol: 1e-4, rtol: 1e-4 }, 'mha');
  });
});

describe('bench ONNX encoder', () => {
  it('round-trips a model through protobuf', () => {
    const w = onnxWorkload({ op: 'layerNorm', rows: 2, cols: 3, eps: 1e-5 });
    const m = decodeModel(encodeModel(w.graph)) as { ir_version: number; opset_import: { version: number }[]; graph: { node: { op_type: string; attribute: { name: string; type: number; i?: number; f?: number }[] }[]; input: { name: string }[] } };
    expect(m.ir_version).toBe(10);
    expect(m.opset_import[0]!.version).toBe(17);
    expect(m.graph.node[0]!.op_type).toBe('LayerNormalization');
    expect(m.graph.node[0]!.attribute).toEqual([
      { name: 'axis', type: 2, i: -1 },
      { name: 'epsilon', type: 1, f: expect.closeTo(1e-5, 10) as unknown as number },
    ]);
    expect(m.graph.input.map((i) => i.name)).toEqual(['x', 'g', 'b']);
  });

  it('refuses a non-integer INT attribute', () => {
    expect(() => attribute('epsilon', 1e-5)).toThrow(/^onnx attribute epsilon: expected an integer \(use \{ float \} for floats\), got 0.00001/);
  });
});

const python = '/usr/bin/python3';
describe.skipIf(!existsSync(python))('bench torch peer', () => {
  it('plans its timing like timing.ts', () => {
    const cases = [[20_000, false], [5000, false], [500, false], [50, false], [1, false], [5000, true]] as const;
    const code = `import json, sys; sys.path.insert(0, 'bench/peers'); import torch_bench as t; print(json.dumps([t.plan_timing(ms, q) for ms, q in ${JSON.stringify(cases).replace(/false/g, 'False').replace(/true/g, 'True')}]))`;
    const r = spawnSync(python, ['-c', code], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(cases.map(([ms, q]) => planTiming(ms, q)));
  });
});
