/**
 * The backbone interface (models/backbones/backbone.ts): every adapter returns features and
 * heatmaps at stride 4 and computes exactly what its network computes; frozen backbones give no
 * gradient and keep no intermediate; MoveNet's adapter converts ImageNet-normalized frames and its
 * 'centered' heatmaps pick the person MoveNet's own SinglePose decoding picks; specs rebuild.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { engine, manualSeed, noGrad, tidy } from '../../engine/engine.js';
import { randn, tensor } from '../../ops/creation.js';
import { add, mul } from '../../ops/elementwise.js';
import { sum } from '../../ops/reduce.js';
import { argmax } from '../../ops/reduce.js';
import { reshape } from '../../ops/shape.js';
import { asBackbone, buildBackbone, hrnetBackbone, isBackboneSpec, moveNetBackbone, moveNetSpec, simpleBaselineBackbone, vitPoseBackbone } from '../../models/backbones/backbone.js';
import { HRNet, HRNET_PRESETS } from '../../models/backbones/hrnet.js';
import { SimpleBaseline } from '../../models/backbones/resnet.js';
import { ViTPose, VIT_PRESETS } from '../../models/backbones/vit.js';
import { MOVENET_CONFIGS, type MoveNetConfig } from '../../models/movenet/config.js';
import { decodeSinglePose, readMoveNetOutput } from '../../models/movenet/decode.js';
import { moveNetFromSafetensors } from '../../models/movenet/load.js';
import { MoveNet } from '../../models/movenet/movenet.js';
import { boxToCenterScale, cropPersonArray, IMAGENET_MEAN, IMAGENET_STD } from '../../models/pose/affine.js';
import { decodeImage } from '../../models/pose/image.js';
import { availableDevices } from '../helpers/devices.js';

const ROOT = join(import.meta.dirname, '..', '..');

/** A SinglePose MoveNet small enough for the cpu backend: 64x64 input (16x16 maps), width 0.25, 8 FPN channels. */
const TINY_MOVENET: MoveNetConfig = { ...MOVENET_CONFIGS.lightning, variant: 'custom', inputSize: [64, 64], alpha: 0.25, lastChannels: 16, fpnChannels: [8, 8, 8, 8], headChannels: 4 };

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** ImageNet-normalized frames from RGB in 0..255 (what the data pipeline produces). */
function imagenet(rgb: Float32Array, B: number, H: number, W: number): Float32Array {
  const out = new Float32Array(rgb.length);
  const plane = H * W;
  for (let i = 0; i < rgb.length; i++) {
    const c = Math.floor(i / plane) % 3;
    out[i] = (rgb[i]! / 255 - IMAGENET_MEAN[c]!) / IMAGENET_STD[c]!;
  }
  void B;
  return out;
}

describe('backbone interface: shapes and equality with the wrapped network', () => {
  it('HRNet: stage-4 features and final_layer heatmaps (as forwardFeatures); stage 3 with heatmaps from stage 4', () => {
    manualSeed(1);
    const net = new HRNet({ ...HRNET_PRESETS.tiny });
    const bb = hrnetBackbone(net);
    expect([bb.kind, bb.featureChannels, bb.numJoints, bb.heatmapKind, bb.frozen, bb.sizeMultiple]).toEqual(['hrnet', 4, 17, 'gaussian', false, 32]);
    const x = randn([2, 3, 64, 32]);
    tidy(() => {
      const o = bb.forward(x);
      expect(o.features.shape).toEqual([2, 4, 16, 8]);
      expect(o.heatmaps.shape).toEqual([2, 17, 16, 8]);
      const ref = net.forwardFeatures(x, 4);
      expect(maxAbsDiff(o.features.dataSync(), ref.features.dataSync())).toBe(0);
      expect(maxAbsDiff(o.heatmaps.dataSync(), ref.heatmaps!.dataSync())).toBe(0);
      const s3 = hrnetBackbone(net, { featureStage: 3 });
      const o3 = s3.forward(x);
      expect(maxAbsDiff(o3.features.dataSync(), net.forwardFeatures(x, 3).features.dataSync())).toBe(0);
      expect(maxAbsDiff(o3.heatmaps.dataSync(), ref.heatmaps!.dataSync())).toBe(0);
      expect(maxAbsDiff(s3.forwardFeatures(x).dataSync(), o3.features.dataSync())).toBe(0);
    });
    net.dispose();
  });

  it('SimpleBaseline: deconv features and final_layer heatmaps; headless: features only', () => {
    manualSeed(2);
    const cfg = { block: 'basic' as const, layers: [1, 1, 1, 1] as const, widths: [4, 4, 8, 8] as const, stemChannels: 4, deconvChannels: 8 };
    const net = new SimpleBaseline({ ...cfg, numJoints: 5 });
    const bb = simpleBaselineBackbone(net);
    const x = randn([1, 3, 64, 48]);
    tidy(() => {
      const o = bb.forward(x);
      expect(o.features.shape).toEqual([1, 8, 16, 16]); // SimpleBaseline takes any size: 8·⌈48/32⌉ = 16
      expect(maxAbsDiff(o.heatmaps.dataSync(), net.forward(x).dataSync())).toBe(0);
    });
    const headless = simpleBaselineBackbone(new SimpleBaseline({ ...cfg, numJoints: null }));
    expect(headless.numJoints).toBe(0);
    expect(() => headless.forward(x)).toThrow(/^SimpleBaseline: expected a backbone with a heatmap head for forward \(use forwardFeatures\), got none$/);
    tidy(() => {
      expect(headless.forwardFeatures(x).shape).toEqual([1, 8, 16, 16]);
    });
    net.dispose();
    headless.module.dispose();
  });

  it('ViTPose: the head\'s deconv features and its final_layer heatmaps', () => {
    manualSeed(3);
    const net = new ViTPose(VIT_PRESETS.tiny);
    const bb = vitPoseBackbone(net);
    const x = randn([1, 3, 64, 48]);
    tidy(() => {
      const o = bb.forward(x);
      expect(o.features.shape).toEqual([1, 8, 16, 12]);
      expect(maxAbsDiff(o.heatmaps.dataSync(), net.forward(x).dataSync())).toBe(0);
    });
    expect(() => bb.forward(randn([1, 3, 56, 48]))).toThrow(/^ViTPose-16: expected frames whose H and W are positive multiples of 16, got 56x48$/);
    net.dispose();
  });

  it('MoveNet: ImageNet-normalized frames give the features and raw heatmaps of MoveNet on 0..255 RGB', () => {
    manualSeed(4);
    const net = new MoveNet(TINY_MOVENET).eval();
    const bb = moveNetBackbone(net, { heatmaps: 'raw' });
    expect([bb.kind, bb.featureChannels, bb.numJoints, bb.jointSet, bb.heatmapKind, bb.frozen]).toEqual(['movenet', 8, 17, 'coco17', 'probability', true]);
    expect(bb.inputSize).toEqual([64, 64]);
    const rgb = Float32Array.from({ length: 2 * 3 * 64 * 64 }, (_, i) => (i * 37) % 256);
    const o = bb.forward(tensor(imagenet(rgb, 2, 64, 64), { shape: [2, 3, 64, 64] }));
    const ref = noGrad(() => net.forward(tensor(rgb, { shape: [2, 3, 64, 64] })));
    expect(o.features.shape).toEqual([2, 8, 16, 16]);
    expect(maxAbsDiff(o.features.dataSync(), ref.features.dataSync())).toBeLessThan(1e-4);
    expect(maxAbsDiff(o.heatmaps.dataSync(), ref.heatmaps.dataSync())).toBeLessThan(1e-5);
    const f = bb.forwardFeatures(tensor(imagenet(rgb, 2, 64, 64), { shape: [2, 3, 64, 64] }));
    expect(maxAbsDiff(f.dataSync(), o.features.dataSync())).toBe(0);
    expect(() => bb.forward(randn([1, 3, 96, 64]))).toThrow(/^MoveNet custom \(frozen\): expected frames of 64x64 \(H x W\), got 96x64$/);
    net.dispose();
  });

  it('asBackbone picks the adapter of each class; specs say which and rebuild it', () => {
    const nets = [new HRNet(HRNET_PRESETS.tiny), new ViTPose(VIT_PRESETS.tiny), new MoveNet(TINY_MOVENET)];
    expect(nets.map((n) => asBackbone(n).kind)).toEqual(['hrnet', 'vitpose', 'movenet']);
    for (const n of nets) {
      const spec = asBackbone(n).spec;
      expect(isBackboneSpec(spec)).toBe(true);
      const again = buildBackbone(JSON.parse(JSON.stringify(spec)));
      expect(again.kind).toBe(spec.kind);
      expect(again.module.numParameters()).toBe(n.numParameters());
      again.module.dispose();
      n.dispose();
    }
    expect(isBackboneSpec(HRNET_PRESETS.w48)).toBe(false);
    expect(moveNetSpec('lightning')).toEqual({ kind: 'movenet', config: MOVENET_CONFIGS.lightning, heatmaps: 'centered' });
    const thunder = new MoveNet(MOVENET_CONFIGS.lightning);
    expect(buildBackbone(moveNetSpec('lightning'), { movenet: thunder }).module).toBe(thunder);
    expect(() => buildBackbone(moveNetSpec('thunder'), { movenet: thunder })).toThrow(/^buildBackbone: expected a MoveNet of the spec's configuration/);
    thunder.dispose();
  });
});

describe('frozen backbones', () => {
  it('no gradient reaches a frozen backbone, its outputs carry no graph, and nothing it made outlives the call', () => {
    manualSeed(5);
    const net = new MoveNet(TINY_MOVENET);
    const bb = moveNetBackbone(net);
    expect(net.parameters().every((p) => !p.requiresGrad)).toBe(true);
    expect(net.training).toBe(false);
    const x = randn([1, 3, 64, 64], { requiresGrad: true });
    const w = randn([1, 8, 16, 16], { requiresGrad: true });
    const before = engine.memory().numTensors;
    tidy(() => {
      const o = bb.forward(x);
      expect(o.features.requiresGrad).toBe(false);
      sum(add(mul(o.features, w), sum(o.heatmaps))).backward();
    });
    expect(x.grad).toBeNull();
    expect(w.grad).not.toBeNull();
    w.grad!.dispose();
    w.grad = null;
    expect(engine.memory().numTensors).toBe(before);
    expect(net.parameters().every((p) => p.grad === null)).toBe(true);
    // { grad: true } records it (gradients reach the frames, never the parameters)
    tidy(() => sum(bb.forward(x, { grad: true }).heatmaps).backward());
    expect(x.grad).not.toBeNull();
    expect(net.parameters().every((p) => p.grad === null)).toBe(true);
    net.dispose();
  });

  it('an unfrozen adapter trains its network', () => {
    manualSeed(6);
    const net = new HRNet(HRNET_PRESETS.tiny);
    const bb = hrnetBackbone(net);
    tidy(() => sum(bb.forward(randn([2, 3, 64, 64])).heatmaps).backward());
    expect(net.finalLayer.weight.grad).not.toBeNull();
    net.dispose();
  });
});

describe("MoveNet's centered heatmaps", () => {
  it('pick the keypoint cell of MoveNet SinglePose decoding (pretrained Lightning on the bundled clip); the weight never exceeds 1', async () => {
    // wasm when it starts (22 s on cpu), the maps read back to the host
    const device = (await availableDevices('centered heatmaps')).includes('wasm') ? 'wasm' : 'cpu';
    const net = moveNetFromSafetensors(new Uint8Array(readFileSync(join(ROOT, 'assets', 'weights', 'movenet', 'lightning.safetensors')))).to(device);
    const bb = moveNetBackbone(net);
    const img = decodeImage(new Uint8Array(readFileSync(join(ROOT, 'assets', 'demo', '0003.jpg'))));
    const boxes = JSON.parse(readFileSync(join(ROOT, 'assets', 'demo', 'boxes.json'), 'utf8')) as { frames: { persons: { box: number[] }[] }[] };
    const crops = boxes.frames[2]!.persons.map((p) => cropPersonArray(img, boxToCenterScale(p.box, 1, { padding: 1.25 }), [192, 192], { raw: true }));
    const B = crops.length;
    const rgb = new Float32Array(B * 3 * 192 * 192);
    crops.forEach((c, b) => rgb.set(c, b * 3 * 192 * 192));
    const o = bb.forward(tensor(imagenet(rgb, B, 192, 192), { shape: [B, 3, 192, 192], device }));
    const cells = argmax(reshape(o.heatmaps, [B, 17, 48 * 48]), 2).dataSync();
    const raw = noGrad(() => net.forward(tensor(rgb, { shape: [B, 3, 192, 192], device })));
    const host = await readMoveNetOutput(raw, [192, 192], net.center_weight);
    const hm = o.heatmaps.dataSync();
    let differ = 0;
    for (let b = 0; b < B; b++) {
      const pose = decodeSinglePose(host, net.config, b);
      for (let j = 0; j < 17; j++) {
        const k = pose.keypoints[j]!;
        // the decoded cell: position / 4 minus the sub-cell offset, i.e. the argmax cell
        const cell = cells[b * 17 + j]!;
        const [cy, cx] = [Math.floor(cell / 48), cell % 48];
        const oy = host.offsets[(b * 34 + 2 * j) * 2304 + cell]!;
        const ox = host.offsets[(b * 34 + 2 * j + 1) * 2304 + cell]!;
        if (Math.abs((cy + oy) * 4 - k.y) > 1e-3 || Math.abs((cx + ox) * 4 - k.x) > 1e-3) differ++;
        expect(hm[(b * 17 + j) * 2304 + cell]!).toBeLessThanOrEqual(k.score + 1e-6);
        expect(host.heatmaps[(b * 17 + j) * 2304 + cell]).toBeCloseTo(k.score, 6);
      }
    }
    expect(differ).toBe(0);
    net.dispose();
  });
});
