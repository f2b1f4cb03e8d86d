/**
 * RPSTN: PyTorch parity of JRE (both reshape variants), JRPSP, the dynamic convolution and the whole
 * T-frame network at a tiny size (test/reference/rpstn.py), the last with its weights read from a
 * checkpoint written by torch.save from a module with the official DKD_Network structure (numbered
 * `fea_ext`, DataParallel's `module.` prefix) through the documented path (loadPth →
 * extractStateDict → fromOfficialStateDict → loadStateDict); the paper/official variants; float64
 * gradchecks of the modules; shapes, parameter counts, a training step, memory hygiene and
 * numerical safety.
 */
import { describe, expect, it } from 'vitest';
import { engine, manualSeed, noGrad, tidy } from '../../engine/engine.js';
import type { Tensor } from '../../engine/tensor.js';
import { rand, randn, tensor } from '../../ops/creation.js';
import { mul } from '../../ops/elementwise.js';
import { Adam } from '../../models/nn/optim.js';
import type { Module } from '../../models/nn/module.js';
import { SimpleBaseline } from '../../models/backbones/resnet.js';
import { extractStateDict, loadPth, type StateDict } from '../../models/nn/checkpoint/index.js';
import type { HostTensor } from '../../models/nn/safetensors.js';
import { JRE, JRPSP, OFFICIAL_FEA_EXT_CHILDREN, RPSTN, WithJRE, dynamicConv, fromOfficialStateDict, jrpspKernelSize, rpstnCost, rpstnLoss, rpstnPreset, rpstnVariant, type RPSTNConfig } from '../../models/rpstn/index.js';
import { assertClose, type Tol } from '../helpers/close.js';
import { loadFixture, toTensor } from '../helpers/fixtures.js';
import { gradcheck } from '../helpers/gradcheck.js';
import { readFixture } from '../helpers/models.js';
import { DEMO_MODELS, type BuiltModel } from '../../cli/models.js';

const fx = loadFixture('models', 'rpstn');
/** The rpstn_tiny weights as the official training saves them: {'state_dict': DataParallel(model).state_dict()}. */
const officialSd: StateDict = extractStateDict(loadPth(readFixture('rpstn_tiny.pth')));
/** The same state dict without DataParallel's prefix (a checkpoint saved from the bare module). */
const officialSdBare: StateDict = new Map([...officialSd].map(([k, v]) => [k.replace(/^module\./, ''), v]));
/** The 4 unused JRE keys the official module registers. */
const THETA_PHI = ['non_local_conv2d.theta.weight', 'non_local_conv2d.theta.bias', 'non_local_conv2d.phi.weight', 'non_local_conv2d.phi.bias'];
const TOL: Record<'float64' | 'float32', Tol> = { float64: { atol: 1e-9, rtol: 1e-8 }, float32: { atol: 5e-4, rtol: 5e-3 } };
/** For references stored as float32 values (rounded from float64). */
const F32_STORED: Tol = { atol: 1e-6, rtol: 1e-6 };

function stateOf(name: string): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  const prefix = `${name}/state/`;
  for (const [k, v] of fx.tensors) if (k.startsWith(prefix)) out.set(k.slice(prefix.length), toTensor(v, 'float64'));
  return out;
}

/** The tiny clip of rpstn.py's clip_formula, rounded to float32 values as the reference rounds its inputs. */
function clipFormula(B: number, T: number, H: number, W: number, dtype: 'float64' | 'float32'): Tensor {
  const v = new Float64Array(B * T * 3 * H * W);
  let i = 0;
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) for (let c = 0; c < 3; c++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    v[i++] = Math.fround(Math.sin(0.05 * (y + 1) * (c + 1) + 0.07 * x + 0.9 * t + 1.3 * b) + 0.3 * Math.cos(0.011 * x * y + c));
  }
  return tensor(v, { dtype, shape: [B, T, 3, H, W] });
}

const TINY_TRUNK = { block: 'basic' as const, layers: [1, 1, 1, 1] as const, widths: [4, 4, 8, 8] as const, stemChannels: 4, deconvChannels: 8 };
const TINY_FIXTURE_CFG: RPSTNConfig = { numJoints: 5, numFrames: 3, inputSize: [48, 64], initializer: TINY_TRUNK, extractor: TINY_TRUNK };

interface CaseRun {
  module?: Module;
  inputs: Tensor[];
  forward: (xs: Tensor[]) => Tensor;
}

/** Runs one train step and one eval step of a fixture case and compares everything stored. */
function checkCase(name: string, dtype: 'float64' | 'float32', setup: (dtype: 'float64' | 'float32') => CaseRun): void {
  const tol = TOL[dtype];
  const stored = dtype === 'float64' ? F32_STORED : tol;
  tidy(() => {
    const run = setup(dtype);
    const m = run.module;
    m?.train();
    for (const x of run.inputs) x.requiresGrad_(true);
    const out = run.forward(run.inputs);
    expect(out.shape).toEqual(fx.get(`${name}/out`).shape);
    assertClose(out.dataSync(), fx.get(`${name}/out`).data, tol, `${name} out (${dtype})`);
    out.backward(toTensor(fx.get(`${name}/gout`), dtype));
    run.inputs.forEach((x, i) => {
      const g = x.grad!.dataSync();
      if (fx.tensors.has(`${name}/grad_x${i}`)) assertClose(g, fx.get(`${name}/grad_x${i}`).data, stored, `${name} grad x${i} (${dtype})`);
      else {
        // sample 0, channel 0, every frame; and per-(b, t, c) sums
        const [B, T, C, H, W] = x.shape as [number, number, number, number, number];
        const slice = new Float64Array(T * H * W);
        const sums = new Float64Array(B * T * C);
        for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) for (let c = 0; c < C; c++) {
          const off = (((b * T + t) * C + c) * H) * W;
          let s = 0;
          for (let q = 0; q < H * W; q++) s += g[off + q]!;
          sums[(b * T + t) * C + c] = s;
          if (b === 0 && c === 0) slice.set(g.subarray(off, off + H * W), t * H * W);
        }
        assertClose(slice, fx.get(`${name}/grad_x${i}_b0c0`).data, tol, `${name} grad x${i} [0, :, 0] (${dtype})`);
        assertClose(sums, fx.get(`${name}/grad_x${i}_sums`).data, { atol: tol.atol * 100, rtol: tol.rtol }, `${name} grad x${i} sums (${dtype})`);
      }
    });
    if (m) {
      const params = new Map(m.namedParameters());
      const bufs = new Map(m.namedBuffers());
      // The reference names parameters as the official module does (fea_ext.0 = posegrad's fea_ext.conv1, ...).
      const posegradName = (k: string): string => [...fromOfficialStateDict(new Map([[k, null as unknown as HostTensor]])).state.keys()][0]!;
      let n = 0;
      for (const [k, v] of fx.tensors) {
        if (k.startsWith(`${name}/grad/`)) assertClose(params.get(posegradName(k.slice(name.length + 6)))!.grad!.dataSync(), v.data, tol, `${k} (${dtype})`);
        else if (k.startsWith(`${name}/after/`)) assertClose(bufs.get(posegradName(k.slice(name.length + 7)))!.dataSync(), v.data, tol, `${k} (${dtype})`);
        else continue;
        n++;
      }
      if (name === 'rpstn_tiny') expect(n).toBe(12 + 2 * 37); // 12 parameter gradients, running mean and var of 37 BatchNorms
      m.eval();
      const ev = noGrad(() => run.forward(run.inputs.map((x) => x.detach())));
      assertClose(ev.dataSync(), fx.get(`${name}/eval_out`).data, dtype === 'float64' ? { atol: 1e-6, rtol: 1e-6 } : tol, `${name} eval out (${dtype})`);
    }
  });
}

/** Loads a fixture state dict into `m`, dropping the official JRE's unused theta/phi convs. */
function loadInto(m: Module, name: string, dtype: 'float64' | 'float32'): void {
  m.toDtype(dtype);
  const state = stateOf(name);
  const filtered = new Map([...state].filter(([k]) => !/^(theta|phi)\./.test(k)));
  expect(state.size - filtered.size).toBe(name.startsWith('jre') ? 4 : 0);
  m.loadStateDict(filtered);
}

describe('RPSTN modules match PyTorch', () => {
  for (const dtype of ['float64', 'float32'] as const) {
    for (const [name, mode] of [['jre_official', 'official'], ['jre_clean', 'clean']] as const) {
      it(`JRE, ${mode} reshape (${dtype})`, () => {
        checkCase(name, dtype, (dt) => {
          const jre = new JRE({ numJoints: 5, reshape: mode });
          loadInto(jre, name, dt);
          return { module: jre, inputs: [toTensor(fx.get(`${name}/x0`), dt)], forward: ([x]) => jre.forward(x!) };
        });
      });
    }
    it(`JRPSP (${dtype})`, () => {
      checkCase('jrpsp', dtype, (dt) => {
        const j = new JRPSP(3);
        loadInto(j, 'jrpsp', dt);
        return { module: j, inputs: [toTensor(fx.get('jrpsp/x0'), dt)], forward: ([x]) => j.forward(x!) };
      });
    });
    it(`dynamicConv, odd, even and rectangular kernels (${dtype})`, () => {
      for (const tag of ['odd', 'even', 'rect']) {
        const name = `dynamic_${tag}`;
        checkCase(name, dtype, (dt) => ({ inputs: [toTensor(fx.get(`${name}/x0`), dt), toTensor(fx.get(`${name}/x1`), dt)], forward: ([f, k]) => dynamicConv(f!, k!) }));
      }
    });
    it(`the whole tiny RPSTN with weights from the official-layout .pth, train and eval mode (${dtype})`, () => {
      checkCase('rpstn_tiny', dtype, (dt) => {
        const m = new RPSTN(TINY_FIXTURE_CFG);
        m.toDtype(dt);
        const { state, dropped } = fromOfficialStateDict(officialSd, m);
        expect(dropped).toEqual(THETA_PHI.map((k) => `module.${k}`));
        m.loadStateDict(state); // strict: every key matches
        return { module: m, inputs: [clipFormula(2, 3, 64, 48, dt)], forward: ([x]) => m.forward(x!) };
      });
    });
  }
});

describe('RPSTN gradcheck (float64)', () => {
  const randomizeBn = (m: Module): void => {
    for (const [k, t] of m.namedParameters()) {
      if (t.rank === 1) t.assign(tidy(() => toTensor({ dtype: 'float64', shape: t.shape, data: Float64Array.from({ length: t.size }, (_, i) => (k.endsWith('weight') ? 0.6 + 0.1 * i : 0.1 * i - 0.2)) }, 'float64')).keep());
    }
  };
  it('JRE (official and clean) with respect to its input, train and eval mode', () => {
    manualSeed(11);
    for (const mode of ['official', 'clean'] as const) {
      const jre = new JRE({ numJoints: 3, reshape: mode });
      jre.toDtype('float64');
      randomizeBn(jre);
      const m = rand([2, 3, 4, 3], { dtype: 'float64' });
      for (const train of [true, false]) {
        jre.train(train);
        gradcheck((x) => jre.forward(x!), [m], { atol: 1e-6 });
      }
      m.dispose();
      jre.dispose();
    }
  });
  it('JRPSP with respect to its input', () => {
    manualSeed(12);
    const j = new JRPSP(2);
    j.toDtype('float64');
    const x = randn([2, 2, 18, 18], { dtype: 'float64' });
    gradcheck((xx) => j.forward(xx!), [x], { maxPerInput: 60, atol: 1e-5 });
    x.dispose();
    j.dispose();
  });
  it('dynamicConv with respect to the features and the per-sample kernels', () => {
    manualSeed(13);
    for (const ks of [[3, 3], [2, 2]]) {
      const f = randn([2, 3, 5, 4], { dtype: 'float64' });
      const k = randn([2, 3, ks[0]!, ks[1]!], { dtype: 'float64' });
      gradcheck((a, b) => dynamicConv(a!, b!), [f, k]);
      f.dispose();
      k.dispose();
    }
  });
});

describe('RPSTN model', () => {
  it('tiny preset: forward shapes and the analytic size', () => {
    manualSeed(1);
    const cfg = rpstnPreset('tiny');
    const m = new RPSTN(cfg);
    m.eval();
    const out = noGrad(() => m.forward(randn([1, 3, 3, 128, 128])));
    expect(out.shape).toEqual([1, 3, 13, 32, 32]);
    expect(m.heatmapSize).toEqual([32, 32]);
    const cost = rpstnCost(cfg);
    expect(cost.params).toBe(m.numParameters());
    expect(cost.kernel).toBe(3);
    // any clip length works; T = 1 is the initializer + JRE alone
    expect(noGrad(() => m.forward(randn([2, 1, 3, 128, 128]))).shape).toEqual([2, 1, 13, 32, 32]);
    out.dispose();
    m.dispose();
  });

  it('JRE starts as the identity and has 2K² + 4K parameters', () => {
    manualSeed(2);
    const jre = new JRE({ numJoints: 13 });
    expect(jre.numParameters()).toBe(2 * 13 * 13 + 4 * 13);
    const x = randn([2, 13, 8, 8]);
    const y = jre.forward(x);
    expect(Array.from(y.dataSync())).toEqual(Array.from(x.dataSync()));
    x.dispose();
    y.dispose();
    jre.dispose();
  });

  it('JRE stays finite for heatmap logits in the thousands (float32)', () => {
    manualSeed(3);
    const jre = new JRE({ numJoints: 5 });
    randomize(jre);
    tidy(() => {
      const x = mul(rand([2, 5, 16, 16]), 5000).requiresGrad_(true);
      const y = jre.forward(x);
      const wr = jre.relation(x);
      for (const t of [y, wr]) expect(Array.from(t.dataSync()).every(Number.isFinite)).toBe(true);
      y.backward(tensor(new Float32Array(y.size).fill(1), { shape: y.shape }));
      expect(Array.from(x.grad!.dataSync()).every(Number.isFinite)).toBe(true);
      // the column softmax sums to one over dim 1
      const w = wr.dataSync();
      for (let b = 0; b < 2; b++) for (let j = 0; j < 5; j++) {
        let s = 0;
        for (let i = 0; i < 5; i++) s += w[b * 25 + i * 5 + j]!;
        expect(s).toBeCloseTo(1, 5);
      }
    });
    jre.dispose();
  });

  it('one training step lowers the loss (Adam, tiny preset)', () => {
    manualSeed(4);
    const cfg: RPSTNConfig = { ...rpstnPreset('tiny'), numJoints: 4 };
    const m = new RPSTN(cfg);
    m.train();
    const clip = clipFormula(2, 3, 128, 128, 'float32');
    // targets: one Gaussian blob per joint (σ = 2 at 32x32), moving one pixel per frame
    const tv = new Float32Array(2 * 3 * 4 * 32 * 32);
    for (let b = 0; b < 2; b++) for (let t = 0; t < 3; t++) for (let k = 0; k < 4; k++) {
      const cx = 8 + 5 * k + t;
      const cy = 10 + 3 * k + b;
      for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) tv[(((b * 3 + t) * 4 + k) * 32 + y) * 32 + x] = Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 8);
    }
    const target = tensor(tv, { shape: [2, 3, 4, 32, 32] });
    const opt = new Adam(m.parameters(), { lr: 1e-3 });
    const lossAt = (): number => tidy(() => {
      const l = rpstnLoss(m.forward(clip), target);
      l.backward();
      return l.item();
    });
    const l0 = lossAt();
    opt.step();
    m.zeroGrad();
    const l1 = lossAt();
    m.zeroGrad();
    console.log(`RPSTN tiny: loss ${l0.toFixed(5)} -> ${l1.toFixed(5)} after one Adam step`);
    expect(Number.isFinite(l0)).toBe(true);
    expect(l1).toBeLessThan(l0);
    clip.dispose();
    target.dispose();
    m.dispose();
  });

  it('a forward and backward pass inside tidy() leaves engine.memory() where it started', () => {
    manualSeed(5);
    const m = new RPSTN({ ...rpstnPreset('tiny'), inputSize: [64, 64] });
    m.train();
    const clip = randn([2, 3, 3, 64, 64]);
    const target = rand([2, 3, 13, 16, 16]);
    const step = (): void => tidy(() => {
      rpstnLoss(m.forward(clip), target).backward();
    });
    step(); // creates every parameter's .grad
    const before = engine.memory();
    step();
    step();
    const after = engine.memory();
    expect(after.numTensors).toBe(before.numTensors);
    expect(after.numBytes).toBe(before.numBytes);
    expect(m.parameters().every((p) => p.grad !== null)).toBe(true);
    clip.dispose();
    target.dispose();
    m.zeroGrad();
    m.dispose();
  });

  it('rpstnLoss is the mean squared error over all frames, with optional joint weights', () => {
    tidy(() => {
      const p = tensor([1, 2, 3, 4, 5, 6, 7, 8], { shape: [1, 2, 2, 1, 2] });
      const t = tensor([0, 2, 3, 0, 5, 6, 7, 10], { shape: [1, 2, 2, 1, 2] });
      expect(rpstnLoss(p, t).item()).toBeCloseTo((1 + 16 + 4) / 8, 6);
      const w = tensor([1, 0, 1, 0.5], { shape: [1, 2, 2] });
      expect(rpstnLoss(p, t, { weights: w }).item()).toBeCloseTo((1 + 0 + 0 + 1) / 8, 6);
      expect(() => rpstnLoss(p, tensor([1, 2], { shape: [1, 2] }))).toThrow(/rpstnLoss: expected prediction and target of one shape/);
    });
  });

  it('paper preset: parameters beside the paper (Table V: RPSTN-R50 222.17M, 89.62 GFLOPs)', () => {
    const cfg = rpstnPreset('paper');
    const cost = rpstnCost(cfg);
    const m = new RPSTN(cfg);
    const n = m.numParameters();
    console.log(
      `RPSTN paper preset (P = SBL-R101, F = SBL-R50, 256x256, T=5, K=13): ${n} parameters (${(n / 1e6).toFixed(2)}M); ` +
      `counted once per call over the clip ${(cost.paramsPerCall / 1e6).toFixed(2)}M; ${(cost.macs / 1e9).toFixed(2)} GMACs per clip ` +
      `(${(cost.macsThopDeconv / 1e9).toFixed(2)} with transposed convs counted as thop does). Paper: 222.17M, 89.62 GFLOPs.`,
    );
    expect(cost.params).toBe(n);
    expect(cost.kernel).toBe(7);
    expect(m.heatmapSize).toEqual([64, 64]);
    m.dispose();
  });

  it('keys follow the official DKD_Network, with the numbered fea_ext renamed', () => {
    const m = new RPSTN(rpstnPreset('tiny'));
    const keys = [...m.stateDict().keys()];
    for (const k of ['pose_net.conv1.weight', 'pose_net.final_layer.weight', 'fea_ext.conv1.weight', 'fea_ext.deconv_layers.0.weight', 'conv1x1_reduce_dim.weight', 'pose_conv1x1_V.bias', 'pose_conv1x1_U.weight', 'bn_u.running_var', 'bn.weight', 'dkd_param_adapter.0.weight', 'dkd_param_adapter.13.running_mean', 'non_local_conv2d.g.weight', 'non_local_conv2d.W.0.weight', 'non_local_conv2d.W.1.weight']) {
      expect(keys).toContain(k);
    }
    expect(keys.some((k) => k.startsWith('fea_ext.final_layer'))).toBe(false);
    // The official Sequential's indices: PoseResNet's children without final_layer (2 = relu, 3 = maxpool).
    expect(OFFICIAL_FEA_EXT_CHILDREN).toEqual({ 0: 'conv1', 1: 'bn1', 4: 'layer1', 5: 'layer2', 6: 'layer3', 7: 'layer4', 8: 'deconv_layers' });
    const sd = new Map([
      ['module.bn.weight', 1], ['module.non_local_conv2d.theta.weight', 2], ['module.fea_ext.0.weight', 3], ['module.fea_ext.1.running_var', 4],
      ['module.fea_ext.4.0.conv1.weight', 5], ['module.fea_ext.7.1.downsample.0.weight', 6], ['module.fea_ext.8.6.weight', 7], ['module.fea_ext.9.weight', 8],
      ['module.pose_net.layer1.0.conv1.weight', 9],
    ]) as unknown as Map<string, Tensor>;
    const r = fromOfficialStateDict(sd);
    expect([...r.state.keys()]).toEqual(['bn.weight', 'fea_ext.conv1.weight', 'fea_ext.bn1.running_var', 'fea_ext.layer1.0.conv1.weight', 'fea_ext.layer4.1.downsample.0.weight', 'fea_ext.deconv_layers.6.weight', 'fea_ext.9.weight', 'pose_net.layer1.0.conv1.weight']);
    expect([...r.state.values()]).toEqual([1, 3, 4, 5, 6, 7, 8, 9]);
    expect([r.dropped, r.renamed, r.layout, r.switched]).toEqual([['module.non_local_conv2d.theta.weight'], 5, 'official', []]);
    expect(r.notes.join('\n')).toMatch(/^official DKD_Network state dict: 5 fea_ext keys renamed from the numbered Sequential, 1 unused JRE keys \(theta, phi\) dropped, DataParallel's 'module\.' prefix removed from 9 keys\npass the model to switch it to variant 'official'/);
    // posegrad's own layout passes through unchanged
    const own = fromOfficialStateDict(m.stateDict());
    expect([own.layout, own.renamed, own.dropped, own.notes]).toEqual(['posegrad', 0, [], []]);
    expect([...own.state.keys()]).toEqual(keys);
    // a mixed layout cannot map two keys onto one
    expect(() => fromOfficialStateDict(new Map([['fea_ext.0.weight', 1], ['fea_ext.conv1.weight', 2]]) as unknown as Map<string, Tensor>)).toThrow(
      /^fromOfficialStateDict: expected distinct keys, got 'fea_ext\.0\.weight' and 'fea_ext\.conv1\.weight' both mapped to 'fea_ext\.conv1\.weight'$/,
    );
    m.dispose();
  });

  it('an official state dict written by torch.save loads key for key, with and without module., values bit-identical', () => {
    for (const [sd, prefix] of [[officialSd, 'module.'], [officialSdBare, '']] as const) {
      const m = new RPSTN(TINY_FIXTURE_CFG);
      const r = fromOfficialStateDict(sd, m);
      // The official layout: 239 keys, 90 of them in the numbered fea_ext (conv1 1, bn1 5, 4 BasicBlocks 48,
      // 3 downsamples 18, 3 deconvs with their BatchNorms 18).
      expect(sd.size).toBe(239);
      expect(r.renamed).toBe(90);
      expect([...sd.keys()].filter((k) => /^(module\.)?fea_ext\.\d+\./.test(k)).length).toBe(r.renamed);
      expect([...sd.keys()].some((k) => /^(module\.)?fea_ext\.(conv1|bn1|layer\d|deconv_layers)\./.test(k))).toBe(false);
      expect(r.layout).toBe('official');
      expect(r.dropped).toEqual(THETA_PHI.map((k) => prefix + k));
      // every fea_ext key of the model, and only those, comes from a numbered official key
      const model = m.stateDict();
      expect(r.renamed).toBe([...model.keys()].filter((k) => k.startsWith('fea_ext.')).length);
      expect([...r.state.keys()]).toEqual([...model.keys()]); // the same keys in PyTorch's order
      const res = m.loadStateDict(r.state);
      expect(res).toEqual({ missingKeys: [], unexpectedKeys: [] });
      // bit-identical: every loaded parameter and buffer equals the checkpoint's float32 (or int64) value
      let compared = 0;
      for (const [k, t] of m.stateDict()) {
        const src = r.state.get(k)!;
        expect(t.shape, k).toEqual(src.shape);
        const got = t.dataSync();
        for (let i = 0; i < got.length; i++) if (Number(got[i]) !== Number(src.data[i])) throw new Error(`${k}[${i}]: loaded ${got[i]}, checkpoint ${src.data[i]}`);
        compared += got.length;
      }
      expect(compared).toBe(16403); // every element of the checkpoint but theta/phi (2 x (5·5 + 5))
      m.dispose();
    }
  });

  it("an official checkpoint switches a 'paper' model to the official variant, and that is what the reference computes", () => {
    // The train-mode output (batch statistics) depends on the loaded weights only; the fixture's eval
    // output follows the running statistics of the training step.
    const ref = fx.get('rpstn_tiny/out');
    const run = (m: RPSTN): Float64Array => tidy(() => Float64Array.from(noGrad(() => m.train().forward(clipFormula(2, 3, 64, 48, 'float64'))).dataSync()));
    // built as 'paper' (the clean JRE reshape), then given the official checkpoint with the model
    const m = new RPSTN({ ...TINY_FIXTURE_CFG, variant: 'paper' }).toDtype('float64');
    expect(m.variant).toBe('paper');
    const r = fromOfficialStateDict(officialSd, m);
    expect(r.switched).toEqual(["jreReshape 'clean' → 'official'"]);
    expect(r.notes[1]).toBe("switched to variant 'official' (jreReshape 'clean' → 'official')");
    expect([m.variant, m.cfg.variant, m.cfg.jreReshape, m.non_local_conv2d.reshapeMode]).toEqual(['official', 'official', undefined, 'official']);
    m.loadStateDict(r.state);
    assertClose(run(m), ref.data, TOL.float64, 'switched model, train-mode out');
    // without the model, nothing switches: the same weights in the 'paper' model compute something else
    const p = new RPSTN({ ...TINY_FIXTURE_CFG, variant: 'paper' }).toDtype('float64');
    const rp = fromOfficialStateDict(officialSd);
    expect(rp.switched).toEqual([]);
    p.loadStateDict(rp.state);
    const outP = run(p);
    let maxDiff = 0;
    let maxRef = 0;
    outP.forEach((v, i) => {
      maxDiff = Math.max(maxDiff, Math.abs(v - ref.data[i]!));
      maxRef = Math.max(maxRef, Math.abs(ref.data[i]!));
    });
    expect(maxDiff / maxRef).toBeGreaterThan(0.05);
    // an 'official' model is left alone
    const o = new RPSTN(TINY_FIXTURE_CFG);
    const ro = fromOfficialStateDict(officialSd, o);
    expect([ro.switched, ro.notes[1], o.cfg.variant]).toEqual([[], "variant 'official' (as the official code)", undefined]);
    for (const x of [m, p, o]) x.dispose();
  });

  it("the demo's --weights (cli/models.ts loadWeights): an official checkpoint loads and says so; posegrad's own layout and files pass", () => {
    const demo = DEMO_MODELS.rpstn!;
    const built = (cfg: RPSTNConfig): BuiltModel => {
      const base = demo.build('tiny');
      base.module.dispose();
      return { ...base, module: new RPSTN(cfg) };
    };
    const a = built({ ...TINY_FIXTURE_CFG, variant: 'paper' });
    const r = demo.loadWeights(a, officialSd);
    expect([...r]).toEqual(THETA_PHI.map((k) => `module.${k}`));
    expect(r.notes).toEqual(["official checkpoint: 90 numbered fea_ext keys renamed; variant 'official' (switched: jreReshape 'clean' → 'official')"]);
    expect((a.module as RPSTN).variant).toBe('official');
    // posegrad's layout (e.g. a file written from stateDict()) loads as it is, with nothing to say
    const b = built(TINY_FIXTURE_CFG);
    const rb = demo.loadWeights(b, new Map([...(a.module as RPSTN).stateDict()].map(([k, t]) => [k, { dtype: t.dtype, shape: t.shape, data: t.dataSync() }])));
    expect([[...rb], rb.notes]).toEqual([[], []]);
    // a posegrad weights file records its variant, which the demo's model takes on
    const c = built(TINY_FIXTURE_CFG);
    const meta = { 'posegrad.module': 'RPSTN', 'posegrad.config': JSON.stringify({ ...TINY_FIXTURE_CFG, variant: 'paper' }) };
    const rc = demo.loadWeights(c, new Map([...(b.module as RPSTN).stateDict()].map(([k, t]) => [k, { dtype: t.dtype, shape: t.shape, data: t.dataSync() }])), meta);
    expect(rc.notes).toEqual(["posegrad weights file: variant 'paper' (switched: jreReshape 'official' → 'clean')"]);
    for (const x of [a, b, c]) x.module.dispose();
  });

  it('variant: paper and official select the JRE reshape; contradictions throw', () => {
    expect(rpstnVariant({})).toBe('official');
    expect(rpstnVariant({ jreReshape: 'clean' })).toBe('paper');
    expect(rpstnVariant({ variant: 'paper' })).toBe('paper');
    expect(new RPSTN(rpstnPreset('tiny', { variant: 'paper' })).non_local_conv2d.reshapeMode).toBe('clean');
    expect(new RPSTN(rpstnPreset('tiny')).non_local_conv2d.reshapeMode).toBe('official');
    expect(() => new RPSTN(rpstnPreset('tiny', { variant: 'paper', jreReshape: 'official' }))).toThrow(/^RPSTN: expected jreReshape 'clean' with variant 'paper' \(or leave jreReshape unset\), got 'official'$/);
    expect(() => new RPSTN(rpstnPreset('tiny', { variant: 'both' as never }))).toThrow(/^RPSTN: expected variant 'paper' or 'official', got 'both'$/);
    const m = new RPSTN(rpstnPreset('tiny'));
    expect(m.useVariant('official')).toEqual([]);
    expect(m.cfg.variant).toBeUndefined();
    expect(m.useVariant('paper')).toEqual(["jreReshape 'official' → 'clean'"]);
    expect([m.variant, m.cfg.variant]).toEqual(['paper', 'paper']);
    expect(() => m.useVariant('x' as never)).toThrow(/^RPSTN: expected variant 'paper' or 'official', got 'x'$/);
    m.dispose();
    // a 15-joint official checkpoint may be the Sub-JHMDB model, whose extra bn no key reveals
    const j = new RPSTN(rpstnPreset('tiny', { numJoints: 15 }));
    const sd15 = new Map([['fea_ext.0.weight', { shape: [4, 3, 7, 7] }], ['bn_u.weight', { shape: [15] }]]) as unknown as Map<string, HostTensor>;
    expect(fromOfficialStateDict(sd15, j).notes[2]).toBe('15 joints: if this is the official Sub-JHMDB model (hmdb_dkd_net), build it with bnAfterMatch: true');
    const jb = new RPSTN(rpstnPreset('tiny', { numJoints: 15, bnAfterMatch: true }));
    expect(fromOfficialStateDict(sd15, jb).notes).toHaveLength(2);
    j.dispose();
    jb.dispose();
  });

  it('JRE plugs onto any heatmap network (SBL-JRE)', () => {
    manualSeed(6);
    const net = new WithJRE(new SimpleBaseline({ ...TINY_TRUNK, numJoints: 6 }), { numJoints: 6 });
    const y = noGrad(() => net.forward(randn([1, 3, 64, 32])));
    expect(y.shape).toEqual([1, 6, 16, 8]);
    expect([...net.stateDict().keys()]).toContain('jre.W.1.weight');
    expect([...net.stateDict().keys()]).toContain('backbone.final_layer.weight');
    y.dispose();
    net.dispose();
  });

  it('errors name the op, the expected and the received values', () => {
    const m = new RPSTN(rpstnPreset('tiny'));
    expect(() => m.forward(randn([1, 3, 128, 128]))).toThrow(/RPSTN: expected a clip \[B, T, 3, H, W\] with T ≥ 1, got \[1, 3, 128, 128\]/);
    expect(() => m.non_local_conv2d.forward(randn([1, 4, 8, 8]))).toThrow(/JRE: expected heatmaps \[B, 13, H, W\], got \[1, 4, 8, 8\]/);
    expect(() => rpstnPreset('huge')).toThrow(/rpstnPreset: expected one of \[paper, small, tiny, real\], got 'huge'/);
    expect(() => new RPSTN({ ...rpstnPreset('tiny'), inputSize: [32, 32] })).toThrow(/RPSTN: expected heatmaps of at least 16x16 for JRPSP, got 8x8/);
    expect(() => dynamicConv(randn([2, 3, 4, 4]), randn([1, 3, 3, 3]))).toThrow(/dynamicConv: expected features \[B, C, H, W\] and kernels \[B, C, kh, kw\] with the same B and C/);
    expect(jrpspKernelSize(64)).toBe(7);
    expect(jrpspKernelSize(32)).toBe(3);
    m.dispose();
  });
});

function randomize(m: Module): void {
  for (const [, t] of m.namedParameters()) t.assign(tidy(() => randn([...t.shape], { dtype: t.dtype as 'float32' })).keep());
}
