/**
 * The shipped `real` heads (assets/weights/<net>-real/head.safetensors, models/real-weights.ts):
 * each file loads into its network around MoveNet Lightning, holds the head only, carries the
 * training metadata, and is trained: on one input its output differs from the untrained network's,
 * which is an exact copy of MoveNet's heatmaps (the residual init). Runs the heads on small random
 * backbone maps (the MoveNet weights do not enter: headOnStill takes the backbone's outputs).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { noGrad, setDefaultDevice, tidy } from '../../engine/engine.js';
import { randn, rand } from '../../ops/creation.js';
import { MOVENET_CONFIGS } from '../../models/movenet/config.js';
import { MoveNet } from '../../models/movenet/movenet.js';
import { CONFIG_METADATA_KEY, MODULE_METADATA_KEY } from '../../models/weights-file.js';
import { createRealNetwork, HEAD_METADATA_KEY, readRealHead, realBackbonePrefixOf, realHeadFromBytes, realHeadPath, REAL_HEAD_NAMES, TRAINING_METADATA_KEY } from '../../models/real-weights.js';
import { headOnStill } from '../../models/train/real-heads.js';
import { manualSeed } from '../../engine/engine.js';

describe('shipped real heads', () => {
  const movenet = new MoveNet(MOVENET_CONFIGS.lightning).eval();

  for (const name of REAL_HEAD_NAMES) {
    it(`${name}: head-only file with its metadata, loads strictly, and is trained (differs from the copy-of-MoveNet init)`, () => {
      setDefaultDevice('cpu');
      const bytes = new Uint8Array(readFileSync(realHeadPath(name)));
      const head = readRealHead(bytes, name, realHeadPath(name));
      for (const k of [MODULE_METADATA_KEY, CONFIG_METADATA_KEY, HEAD_METADATA_KEY, TRAINING_METADATA_KEY]) expect(head.metadata[k], k).toBeTruthy();
      const t = head.training as { command?: string; data?: { buildKey?: string; manifestSha256?: string }; steps?: number; seed?: number; val?: { torso?: { hard?: number; clean?: number } } };
      expect(t.command).toMatch(/^npm run train -- .*--preset real/);
      expect(t.data?.buildKey).toMatch(/^[0-9a-f]{64}$/);
      expect(t.data?.manifestSha256).toMatch(/^[0-9a-f]{64}$/);
      expect(t.steps).toBeGreaterThan(0);
      expect(Number.isInteger(t.seed)).toBe(true);
      expect(Number.isFinite(t.val?.torso?.hard)).toBe(true);
      expect([...head.tensors.keys()].some((k) => k.startsWith(realBackbonePrefixOf(name)))).toBe(false);

      const trained = realHeadFromBytes(bytes, name, movenet, realHeadPath(name));
      const untrained = createRealNetwork(name, movenet).eval();
      manualSeed(5);
      const r = tidy(() =>
        noGrad(() => {
          // VREMD's tokenizer and RPSTN need MoveNet's 48x48 maps; FaSRnet's and GLPose's convolutions take a smaller input
          const s = name === 'vremd' || name === 'rpstn' ? 48 : 8;
          const f = randn([1, 24, s, s]);
          const h = rand([1, 17, s, s]);
          const a = headOnStill(name, trained, f, h);
          const b = headOnStill(name, untrained, f, h);
          return { s, shape: a.shape, a: a.dataSync(), b: b.dataSync(), h: h.dataSync() };
        }),
      );
      expect(r.shape).toEqual([1, 17, r.s, r.s]);
      expect(r.a.every((v) => Number.isFinite(v))).toBe(true);
      // the untrained network is MoveNet's heatmaps exactly; the trained head moves them
      expect(Math.max(...r.b.map((v, i) => Math.abs(v - r.h[i]!)))).toBeLessThan(1e-6);
      expect(Math.max(...r.a.map((v, i) => Math.abs(v - r.b[i]!)))).toBeGreaterThan(1e-4);
    }, 120_000);
  }

  it('rejects a file of another network, and a file with backbone tensors', () => {
    const bytes = new Uint8Array(readFileSync(realHeadPath('rpstn')));
    expect(() => readRealHead(bytes, 'fasrnet', 'x.safetensors')).toThrow(/^x\.safetensors: expected metadata posegrad\.module = "FaSRnet" \(the fasrnet head\), got "RPSTN"/);
  });
});
