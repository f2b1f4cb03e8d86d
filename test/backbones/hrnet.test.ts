/** HRNet: the paper presets' parameter counts, shapes, PyTorch parity (test/reference/hrnet.py), gradcheck. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as P from '../../index.js';
import { HRNet, HRNET_PRESETS } from '../../models/backbones/hrnet.js';
import { noInit } from '../../models/nn/init.js';
import { readSafetensors } from '../../models/nn/safetensors.js';
import { assertClose } from '../helpers/close.js';
import { gradcheck } from '../helpers/gradcheck.js';

describe('HRNet', () => {
  it('W48 and W32 have the published parameter counts (63.6M and 28.5M)', () => {
    for (const [name, published] of [['w48', 63.6e6], ['w32', 28.5e6]] as const) {
      const m = noInit(() => new HRNet(HRNET_PRESETS[name]));
      const n = m.numParameters();
      console.log(`HRNet-${name.toUpperCase()} (17 joints): ${n} parameters (paper: ${published / 1e6}M)`);
      expect(Math.abs(n - published) / published).toBeLessThan(0.002);
      m.dispose();
    }
  });

  it('gives heatmaps at 1/4 resolution and the stage-3 / final features', () => {
    const m = new HRNet(HRNET_PRESETS.tiny);
    const x = P.randn([2, 3, 64, 96]);
    expect(m.forward(x).shape).toEqual([2, 17, 16, 24]);
    expect(m.forwardFeatures(x, 3).features.shape).toEqual([2, 4, 16, 24]);
    const f4 = m.forwardFeatures(x, 4);
    expect(f4.features.shape).toEqual([2, 4, 16, 24]);
    expect(f4.heatmaps!.shape).toEqual([2, 17, 16, 24]);
  });

  it('uses the official key names', () => {
    const keys = [...noInit(() => new HRNet(HRNET_PRESETS.w48)).stateDict().keys()];
    for (const k of ['conv1.weight', 'layer1.0.downsample.0.weight', 'transition1.0.0.weight', 'transition1.1.0.0.weight', 'stage2.0.branches.1.3.bn2.running_var',
      'stage3.3.fuse_layers.2.0.1.0.weight', 'stage4.2.fuse_layers.0.3.1.weight', 'final_layer.bias']) expect(keys).toContain(k);
    expect(keys.some((k) => k.startsWith('stage4.2.fuse_layers.1'))).toBe(false); // the last module outputs branch 0 only
  });

  it('matches PyTorch (weights, BN statistics, heatmaps, features, input gradient)', () => {
    const fx = readSafetensors(new Uint8Array(readFileSync(new URL('../fixtures/models/hrnet_tiny.safetensors', import.meta.url))));
    const get = (k: string) => fx.tensors.get(k)!;
    const m = new HRNet({ width: 2, numJoints: 5, stemChannels: 4, layer1Planes: 2, layer1Blocks: 1, stageModules: [1, 1, 1], blocksPerBranch: 1 });
    m.toDtype('float64');
    const sd = new Map([...fx.tensors].filter(([k]) => k.startsWith('model.')).map(([k, v]) => [k.slice(6), v]));
    m.loadStateDict(sd);
    m.eval();
    const x = P.tensor(get('x').data, { dtype: 'float64', shape: get('x').shape, requiresGrad: true });
    const { features, heatmaps } = m.forwardFeatures(x, 4);
    const tol = { atol: 1e-10, rtol: 1e-9 };
    assertClose(heatmaps!.dataSync(), get('heatmaps').data, tol, 'heatmaps');
    assertClose(features.dataSync(), get('features4').data, tol, 'stage-4 features');
    assertClose(m.forwardFeatures(x, 3).features.dataSync(), get('features3').data, tol, 'stage-3 features');
    heatmaps!.backward(P.tensor(get('gout').data, { dtype: 'float64', shape: get('gout').shape }));
    assertClose(x.grad!.dataSync(), get('grad_x').data, tol, 'input gradient');
  });

  it('passes a float64 gradcheck of the input gradient in training mode (batch statistics)', () => {
    P.manualSeed(7);
    const m = new HRNet({ width: 2, numJoints: 3, stemChannels: 2, layer1Planes: 1, layer1Blocks: 1, stageModules: [1, 1, 1], blocksPerBranch: 1 });
    m.toDtype('float64');
    for (const p of m.parameters()) P.nn.init.normal_(p, 0, 0.5);
    gradcheck((x) => m.forward(x), [P.randn([2, 3, 32, 32], { dtype: 'float64' })], { maxPerInput: 24 });
  });
});
