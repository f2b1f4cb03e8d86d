/**
 * The cached-backbone training path of the `real` heads (models/train/real-heads.ts,
 * real-cache.ts): float16 storage, the per-frame crop, the evaluation subset, and the wiring of each
 * network's entry point for backbone outputs — an untrained (copy-of-MoveNet) head returns exactly
 * the heatmaps of its key frame slot, which differ per slot here, so a wrong slot would show.
 */
import { describe, expect, it } from 'vitest';
import { noGrad, setDefaultDevice, tidy } from '../../engine/engine.js';
import { tensor } from '../../ops/creation.js';
import { MOVENET_CONFIGS } from '../../models/movenet/config.js';
import { MoveNet } from '../../models/movenet/movenet.js';
import { affinePoint } from '../../models/pose/affine.js';
import { NO_AUGMENT } from '../../models/pose/data/augment.js';
import type { VideoSequence } from '../../models/pose/datasets/types.js';
import { createRealNetwork, REAL_HEAD_NAMES } from '../../models/real-weights.js';
import { cropAffine, float16Table, toFloat16 } from '../../models/train/real-cache.js';
import { evalSamples, headFromMaps, realFrameCount } from '../../models/train/real-heads.js';

describe('real heads on cached backbone maps', () => {
  it('float16 storage round-trips within float16 precision', () => {
    const x = [0, 1, -2.5, 0.1234567, 1e-3, 65504, -0.75];
    const tab = float16Table();
    const back = Array.from(toFloat16(x), (h) => tab[h]!);
    back.forEach((v, i) => expect(Math.abs(v - x[i]!)).toBeLessThanOrEqual(Math.abs(x[i]!) * 1e-3 + 1e-7));
  });

  it('the crop of a frame maps its box centre to the input centre; a flip draw mirrors it', () => {
    const box = [100, 40, 50, 160] as const;
    const t = cropAffine(box, 400, NO_AUGMENT);
    const c = affinePoint(t, [125, 120]);
    expect(c[0]).toBeCloseTo(96, 6);
    expect(c[1]).toBeCloseTo(96, 6);
    // the box's height (160) padded by 1.25 spans the 192 pixels
    const top = affinePoint(t, [125, 120 - 100]);
    expect(top[1]).toBeCloseTo(0, 6);
    const f = cropAffine(box, 400, { ...NO_AUGMENT, flip: true });
    const left = affinePoint(f, [110, 120]);
    const right = affinePoint(f, [140, 120]);
    expect(left[0]).toBeGreaterThan(right[0]);
  });

  it('evaluates every hard frame and every 3rd clean one', () => {
    const kp = Float64Array.from({ length: 51 }, (_, i) => (i % 3 === 2 ? 1 : 10 + i));
    const frames = Array.from({ length: 12 }, (_, i) => ({
      id: i,
      file: '',
      index: i,
      isLabeled: i % 2 === 0,
      width: 256,
      height: 256,
      ignoreRegions: [],
      people: [{ trackId: 1, keypoints: kp, bbox: [0, 0, 10, 10] as const, bboxHead: null }],
      flags: { occluded: i === 4, blurred: i === 8 },
    }));
    const v: VideoSequence = { id: 'v', root: '', keypointNames: [], frames };
    // labelled 0 2 4 6 8 10: hard 4, 8; clean 0 2 6 10 → 0 and 10 (every 3rd)
    expect(evalSamples([v], 3).map((s) => s.key)).toEqual([0, 4, 8, 10]);
    expect(evalSamples([v], 1).map((s) => s.key)).toEqual([0, 2, 4, 6, 8, 10]);
  });

  for (const name of REAL_HEAD_NAMES) {
    it(`${name}: untrained, headFromMaps returns the key slot's heatmaps exactly`, () => {
      setDefaultDevice('cpu');
      const net = createRealNetwork(name, new MoveNet(MOVENET_CONFIGS.lightning)).eval();
      const T = realFrameCount(name);
      const s = name === 'vremd' || name === 'rpstn' ? 48 : 8;
      const key = name === 'vremd' ? 1 : name === 'rpstn' ? T - 1 : 0;
      const per = 41 * s * s;
      const data = new Float32Array(T * per);
      for (let t = 0; t < T; t++) for (let i = 0; i < per; i++) data[t * per + i] = Math.sin(0.37 * i + 1.7 * t) * 0.5 + 0.5;
      const r = tidy(() =>
        noGrad(() => {
          const maps = tensor(data, { shape: [1, T, 41, s, s] });
          const positions = [Array.from({ length: T }, (_, t) => t)];
          const out = headFromMaps(name, net, maps, positions, [{ wPrev: 0.5, wNext: 0.5 }], key, null, null).heatmaps;
          return { shape: out.shape, v: out.dataSync() };
        }),
      );
      expect(r.shape).toEqual([1, 17, s, s]);
      const want = data.subarray(key * per + 24 * s * s, (key + 1) * per);
      let maxErr = 0;
      for (let i = 0; i < want.length; i++) maxErr = Math.max(maxErr, Math.abs(r.v[i]! - want[i]!));
      expect(maxErr).toBeLessThan(1e-6);
    }, 120_000);
  }
});
