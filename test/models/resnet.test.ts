/**
 * ResNet and SimpleBaseline: PyTorch parity (test/reference/resnet.py: forward in train and eval
 * mode, input and parameter gradients, running statistics), torchvision's state-dict keys, the
 * published parameter count, output shapes, and float64 gradchecks of small networks.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { manualSeed, noGrad, tidy } from '../../engine/engine.js';
import type { Tensor } from '../../engine/tensor.js';
import { randn } from '../../ops/creation.js';
import { BasicBlock, Bottleneck, ResNet, SimpleBaseline, resnetCost, simpleBaselineCost, type ResNetConfig, type SimpleBaselineConfig } from '../../models/backbones/resnet.js';
import { BatchNorm2d, Conv2d, Sequential } from '../../models/nn/layers.js';
import type { Module } from '../../models/nn/module.js';
import { readSafetensors } from '../../models/nn/safetensors.js';
import { assertClose } from '../helpers/close.js';
import { loadFixture, toTensor, type Fixture } from '../helpers/fixtures.js';
import { gradcheck } from '../helpers/gradcheck.js';

const fx = loadFixture('models', 'resnet');

/** The state dict stored under `<case>/state/`. */
function stateOf(f: Fixture, name: string): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  const prefix = `${name}/state/`;
  for (const [k, v] of f.tensors) if (k.startsWith(prefix)) out.set(k.slice(prefix.length), toTensor(v, 'float64'));
  return out;
}

/** Loads the case's weights into `m`, runs one train step and one eval step, and compares everything. */
function checkAgainstTorch(name: string, m: Module & { forward(x: Tensor): Tensor }, dtype: 'float64' | 'float32'): void {
  const tol = dtype === 'float64' ? { atol: 1e-9, rtol: 1e-8 } : { atol: 2e-4, rtol: 2e-3 };
  tidy(() => {
    m.toDtype(dtype);
    const res = m.loadStateDict(stateOf(fx, name));
    expect(res.missingKeys).toEqual([]);
    m.train();
    const x = toTensor(fx.get(`${name}/x`), dtype, 'cpu', true);
    const out = m.forward(x);
    expect(out.shape).toEqual(fx.get(`${name}/out`).shape);
    assertClose(out.dataSync(), fx.get(`${name}/out`).data, tol, `${name} train out (${dtype})`);
    out.backward(toTensor(fx.get(`${name}/gout`), dtype));
    // grad_x is stored as float32 values
    assertClose(x.grad!.dataSync(), fx.get(`${name}/grad_x`).data, dtype === 'float64' ? { atol: 1e-7, rtol: 1e-6 } : tol, `${name} grad x (${dtype})`);
    const params = new Map(m.namedParameters());
    let checked = 0;
    for (const [k, v] of fx.tensors) {
      if (k.startsWith(`${name}/grad/`)) {
        const p = params.get(k.slice(`${name}/grad/`.length))!;
        assertClose(p.grad!.dataSync(), v.data, tol, `${k} (${dtype})`);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(3);
    const bufs = new Map(m.namedBuffers());
    for (const [k, v] of fx.tensors) {
      if (k.startsWith(`${name}/after/`)) assertClose(bufs.get(k.slice(`${name}/after/`.length))!.dataSync(), v.data, tol, `${k} (${dtype})`);
    }
    m.eval();
    const ev = noGrad(() => m.forward(toTensor(fx.get(`${name}/x`), dtype)));
    assertClose(ev.dataSync(), fx.get(`${name}/eval_out`).data, tol, `${name} eval out (${dtype})`);
  });
  m.dispose();
}

const CASES: Record<string, () => Module & { forward(x: Tensor): Tensor }> = {
  basic: () => new ResNet({ block: 'basic', layers: [2, 1, 1, 1], widths: [4, 6, 8, 8], stemChannels: 4 }),
  bottleneck: () => new ResNet({ block: 'bottleneck', layers: [1, 2, 1, 1], widths: [2, 3, 4, 4], stemChannels: 4 }),
  simplebaseline: () => new SimpleBaseline({ block: 'basic', layers: [1, 1, 1, 1], widths: [4, 8, 8, 8], stemChannels: 4, deconvChannels: 8, numJoints: 5 }),
  simplebaseline_nohead: () => new SimpleBaseline({ block: 'bottleneck', layers: [1, 1, 1, 1], widths: [2, 2, 4, 4], stemChannels: 4, deconvChannels: 6, numJoints: null }),
};

describe('ResNet / SimpleBaseline match PyTorch', () => {
  for (const name of Object.keys(CASES)) {
    it(`${name} (float64 and float32)`, () => {
      checkAgainstTorch(name, CASES[name]!(), 'float64');
      checkAgainstTorch(name, CASES[name]!(), 'float32');
    });
  }
  it('loading fails loudly on a wrong shape', () => {
    const m = new ResNet({ block: 'basic', layers: [1, 1, 1, 1], widths: [4, 6, 8, 8], stemChannels: 4 });
    expect(() => m.loadStateDict(stateOf(fx, 'basic'))).toThrow(/loadStateDict: expected the model's keys/);
    m.dispose();
  });
});

describe('torchvision naming', () => {
  const keys = JSON.parse(loadFixtureMeta()) as Record<string, [string, number[]][]>;
  for (const [arch, depth] of [['resnet18', 18], ['resnet50', 50]] as const) {
    it(`${arch}: the same state-dict keys and shapes, in the same order`, () => {
      const m = new ResNet({ depth, numClasses: 1000 });
      const ours = [...m.stateDict()].map(([k, v]) => [k, [...v.shape]]);
      // PyTorch stores the scalar num_batches_tracked with shape [].
      const theirs = keys[arch]!.map(([k, s]) => [k, k.endsWith('num_batches_tracked') ? ours.find((o) => o[0] === k)?.[1] ?? s : s]);
      expect(ours).toEqual(theirs);
      expect(m.numParameters()).toBe(depth === 18 ? 11689512 : 25557032);
      m.dispose();
    });
  }
});

/** The torchvision key lists travel in the fixture's metadata. */
function loadFixtureMeta(): string {
  return readMeta('models', 'resnet', 'torchvision_keys');
}

function readMeta(group: string, name: string, key: string): string {
  const file = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', group, `${name}.safetensors`);
  const v = readSafetensors(new Uint8Array(readFileSync(file))).metadata[key];
  if (!v) throw new Error(`fixture ${group}/${name}: no metadata '${key}'`);
  return v;
}

describe('SimpleBaseline sizes', () => {
  it('SimpleBaseline-R50 at 256x192 with 17 joints has 34.0M parameters (published: 34.0M)', () => {
    const cfg: SimpleBaselineConfig = { depth: 50, numJoints: 17 };
    const m = new SimpleBaseline(cfg);
    const n = m.numParameters();
    console.log(`SimpleBaseline-R50: ${n} parameters (${(n / 1e6).toFixed(2)}M); ${(simpleBaselineCost(cfg, 256, 192).macs / 1e9).toFixed(2)} GMACs at 256x192`);
    expect(Math.abs(n / 1e6 - 34.0)).toBeLessThan(0.05);
    expect(simpleBaselineCost(cfg, 256, 192).params).toBe(n);
    // official key layout
    const keys = [...m.stateDict().keys()];
    expect(keys).toContain('deconv_layers.0.weight');
    expect(keys).toContain('deconv_layers.7.running_var');
    expect(keys).toContain('final_layer.bias');
    expect(m.stateDict().get('deconv_layers.0.weight')!.shape).toEqual([2048, 256, 4, 4]);
    m.dispose();
  });

  it('forward shapes: heatmaps at 1/4, features without a head, logits with fc', () => {
    manualSeed(1);
    const small: ResNetConfig = { block: 'basic', layers: [1, 1, 1, 1], widths: [4, 4, 8, 8], stemChannels: 4 };
    tidy(() => {
      // 64x32 (multiples of 32): heatmaps exactly at 1/4; 64x48 gives a 2x2 stride-32 map, hence 16x16.
      const x = randn([2, 3, 64, 32]);
      const sb = new SimpleBaseline({ ...small, deconvChannels: 6, numJoints: 7 });
      expect(sb.forward(x).shape).toEqual([2, 7, 16, 8]);
      expect(sb.forward(randn([1, 3, 64, 48])).shape).toEqual([1, 7, 16, 16]);
      expect(simpleBaselineCost({ ...small, deconvChannels: 6, numJoints: 7 }, 64, 32).outShape).toEqual([7, 16, 8]);
      expect(simpleBaselineCost({ ...small, deconvChannels: 6, numJoints: 7 }, 64, 48).outShape).toEqual([7, 16, 16]);
      const feat = new SimpleBaseline({ ...small, deconvChannels: 6, numJoints: null });
      expect(feat.forward(x).shape).toEqual([2, 6, 16, 8]);
      const cls = new ResNet({ ...small, numClasses: 3 });
      expect(cls.forward(x).shape).toEqual([2, 3]);
      expect(resnetCost(small, 64, 32).outShape).toEqual([8, 2, 1]);
      const bt = new ResNet({ block: 'bottleneck', layers: [1, 1, 1, 1], widths: [2, 2, 2, 2], stemChannels: 4 });
      expect(bt.forward(x).shape).toEqual([2, 8, 2, 1]);
      for (const m of [sb, feat, cls, bt]) m.dispose();
    });
  });

  it('rejects bad configurations', () => {
    expect(() => new ResNet({ depth: 20 as 18 })).toThrow(/ResNet: expected depth 18, 34, 50, 101 or 152, got 20/);
    expect(() => new ResNet({ block: 'basic' })).toThrow(/ResNet: expected a depth, or both block and layers/);
    expect(() => new SimpleBaseline({ depth: 18, numJoints: 0 })).toThrow(/SimpleBaseline: expected numJoints as a positive integer or null, got 0/);
  });
});

describe('gradcheck (float64)', () => {
  const randomizeBn = (m: Module): void => {
    for (const [k, t] of [...m.namedParameters(), ...m.namedBuffers()]) {
      if (t.dtype === 'int32') continue;
      if (/bn\d?\.|downsample\.1\.|deconv_layers\.\d+\./.test(k) && t.rank === 1) {
        const lo = k.endsWith('running_var') || k.endsWith('weight') ? 0.5 : -0.3;
        const v = tidy(() => randn([t.size], { dtype: 'float64' }).dataSync().map((r) => lo + Math.abs(r) * 0.5));
        t.assign(tidy(() => toTensor({ dtype: 'float64', shape: t.shape, data: v }, 'float64')).keep());
      }
    }
  };

  it('BasicBlock and Bottleneck with a projection shortcut, in training mode', () => {
    manualSeed(3);
    const blocks: [Module & { forward(x: Tensor): Tensor }, number[]][] = [
      [new BasicBlock(3, 4, 2, new Sequential(new Conv2d(3, 4, 1, { stride: 2, bias: false }), new BatchNorm2d(4))), [2, 3, 6, 6]],
      [new Bottleneck(4, 2, 2, new Sequential(new Conv2d(4, 8, 1, { stride: 2, bias: false }), new BatchNorm2d(8))), [2, 4, 6, 6]],
    ];
    for (const [b, shape] of blocks) {
      b.toDtype('float64');
      randomizeBn(b);
      const x = randn(shape, { dtype: 'float64' });
      gradcheck((xx) => b.forward(xx!), [x], { maxPerInput: 24, atol: 1e-5 });
      x.dispose();
      b.dispose();
    }
  });

  it('a tiny SimpleBaseline in eval mode', () => {
    manualSeed(4);
    const m = new SimpleBaseline({ block: 'basic', layers: [1, 1, 1, 1], widths: [2, 3, 3, 3], stemChannels: 2, deconvChannels: 3, numJoints: 2 });
    m.toDtype('float64');
    // The official N(0, 0.001) head would make every gradient tiny: use O(1) weights instead.
    for (const [k, p] of m.namedParameters()) {
      if (k.startsWith('final_layer') || (k.startsWith('deconv') && p.rank === 4)) p.assign(tidy(() => randn([...p.shape], { dtype: 'float64' })).keep());
    }
    randomizeBn(m);
    m.eval();
    const x = randn([1, 3, 32, 32], { dtype: 'float64' });
    gradcheck((xx) => m.forward(xx!), [x], { maxPerInput: 40, atol: 1e-5 });
    x.dispose();
    m.dispose();
  });
});
