/**
 * MoveNet against TF.js, the way other networks are tested against PyTorch: the fixtures in
 * test/fixtures/movenet/ are TF.js's own runs of the original graph models on real frames
 * (test/reference/movenet_tfjs.ts). posegrad's modules, loaded from the converted weights in
 * assets/weights/movenet/, must give the same maps (1e-4 of the map's largest value) and the same
 * keypoints (0.5 px) on every backend.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DeviceName } from '../../backends/backend.js';
import { noGrad, tidy } from '../../engine/engine.js';
import type { Tensor } from '../../engine/tensor.js';
import { tensor } from '../../ops/creation.js';
import { readSafetensors, type HostTensor } from '../../models/nn/safetensors.js';
import type { MoveNetVariant } from '../../models/movenet/config.js';
import { decodeMultiPose, decodeSinglePose, readMoveNetOutput, type MoveNetPose } from '../../models/movenet/decode.js';
import { moveNetFromSafetensors } from '../../models/movenet/load.js';
import { disposeMoveNetOutput, type MoveNet } from '../../models/movenet/movenet.js';
import { availableDevices } from '../helpers/devices.js';

const ROOT = join(import.meta.dirname, '..', '..');
const VARIANTS: MoveNetVariant[] = ['lightning', 'thunder', 'multipose'];

function fixture(v: MoveNetVariant): Map<string, HostTensor> {
  return readSafetensors(new Uint8Array(readFileSync(join(ROOT, 'test', 'fixtures', 'movenet', `${v}.safetensors`)))).tensors;
}

function loadModel(v: MoveNetVariant): MoveNet {
  return moveNetFromSafetensors(new Uint8Array(readFileSync(join(ROOT, 'assets', 'weights', 'movenet', `${v}.safetensors`))), `${v}.safetensors`);
}

/** NHWC int image → NCHW float32 tensor on `device`. */
function toInput(t: HostTensor, device: DeviceName): Tensor {
  const [B, H, W, C] = t.shape as [number, number, number, number];
  const out = new Float32Array(B * C * H * W);
  for (let b = 0; b < B; b++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let c = 0; c < C; c++) out[((b * C + c) * H + y) * W + x] = t.data[((b * H + y) * W + x) * C + c]!;
  return tensor(out, { shape: [B, C, H, W], device });
}

/** NHWC reference → NCHW, to compare with posegrad's maps. */
function nhwcToNchw(t: HostTensor): Float32Array {
  const [B, H, W, C] = t.shape as [number, number, number, number];
  const out = new Float32Array(B * C * H * W);
  for (let b = 0; b < B; b++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let c = 0; c < C; c++) out[((b * C + c) * H + y) * W + x] = t.data[((b * H + y) * W + x) * C + c]!;
  return out;
}

function relErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  expect(got.length).toBe(want.length);
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]!));
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i]! - want[i]!);
    if (!(d <= worst)) worst = Number.isNaN(d) ? Infinity : d;
  }
  return worst / scale;
}

/** TF.js's output rows (y, x, score normalized) → poses in input pixels, as decode*.ts returns them. */
function referencePoses(out: HostTensor, H: number, W: number): { keypoints: { x: number; y: number; score: number }[]; box?: number[]; score?: number }[] {
  const d = out.data;
  if (out.shape.length === 4) {
    return [{ keypoints: Array.from({ length: 17 }, (_, j) => ({ y: d[3 * j]! * H, x: d[3 * j + 1]! * W, score: d[3 * j + 2]! })) }];
  }
  const P = out.shape[1]!;
  return Array.from({ length: P }, (_, i) => {
    const r = (k: number): number => d[i * 56 + k]!;
    return {
      keypoints: Array.from({ length: 17 }, (_, j) => ({ y: r(3 * j) * H, x: r(3 * j + 1) * W, score: r(3 * j + 2) })),
      box: [r(52) * W, r(51) * H, (r(54) - r(52)) * W, (r(53) - r(51)) * H],
      score: r(55),
    };
  });
}

async function run(model: MoveNet, input: HostTensor, device: DeviceName, withMaps: boolean): Promise<{ poses: MoveNetPose[]; maps: Record<string, Float32Array> }> {
  const [, H, W] = input.shape as [number, number, number, number];
  const out = noGrad(() => tidy(() => model.forward(toInput(input, device))));
  try {
    const host = await readMoveNetOutput(out, [H, W], model.center_weight);
    const poses = model.config.multiPose ? decodeMultiPose(host, model.config) : [decodeSinglePose(host, model.config)];
    const maps: Record<string, Float32Array> = {};
    if (withMaps) {
      maps.heatmaps = host.heatmaps;
      maps.centers = host.center;
      maps.features = Float32Array.from((await out.features.data()) as ArrayLike<number>);
      maps.regress = host.regress;
      maps.offsets = host.offsets;
    }
    return { poses, maps };
  } finally {
    disposeMoveNetOutput(out);
  }
}

const devices: DeviceName[] = ['cpu', ...(await availableDevices('MoveNet parity'))];

for (const device of devices) {
  describe(`MoveNet vs TF.js on ${device}`, () => {
    for (const v of VARIANTS) {
      it(`${v}: maps within 1e-4, keypoints within 0.5 px, on every case`, async () => {
        const fx = fixture(v);
        const model = loadModel(v);
        await model.toAsync(device);
        try {
          const cases = [...fx.keys()].filter((k) => k.endsWith('.input')).map((k) => k.slice(0, -'.input'.length));
          expect(cases.length).toBeGreaterThanOrEqual(2);
          for (const c of cases) {
            const input = fx.get(`${c}.input`)!;
            const [, H, W] = input.shape as [number, number, number, number];
            const { poses, maps } = await run(model, input, device, fx.has(`${c}.heatmaps`));
            for (const name of ['heatmaps', 'centers', 'features', 'regress', 'offsets']) {
              const ref = fx.get(`${c}.${name}`);
              if (!ref) continue;
              const e = relErr(maps[name]!, nhwcToNchw(ref));
              expect(e, `${v} ${c} ${name} on ${device}: largest |Δ| / max|ref|`).toBeLessThan(1e-4);
            }
            const want = referencePoses(fx.get(`${c}.output`)!, H, W);
            expect(poses.length).toBe(want.length);
            poses.forEach((p, i) => {
              p.keypoints.forEach((k, j) => {
                const r = want[i]!.keypoints[j]!;
                const d = Math.hypot(k.x - r.x, k.y - r.y);
                expect(d, `${v} ${c} person ${i} keypoint ${j} (${k.name}): ${device} (${k.x.toFixed(2)}, ${k.y.toFixed(2)}) vs TF.js (${r.x.toFixed(2)}, ${r.y.toFixed(2)})`).toBeLessThan(0.5);
                expect(Math.abs(k.score - r.score)).toBeLessThan(1e-4);
              });
              if (want[i]!.box) {
                want[i]!.box!.forEach((b, q) => expect(Math.abs(p.box![q]! - b), `${v} ${c} person ${i} box[${q}]`).toBeLessThan(0.5));
                expect(Math.abs(p.score - want[i]!.score!)).toBeLessThan(1e-4);
              }
            });
          }
        } finally {
          model.dispose();
        }
      });
    }
  });
}
