/** ViT / ViTPose: parameter counts from the config, shapes, PyTorch parity (test/reference/vit.py), gradcheck. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as P from '../../index.js';
import { ViT, ViTPose, VIT_PRESETS, vitPoseMacs, vitPoseParamCount } from '../../models/backbones/vit.js';
import { countMacsOf } from '../../models/nn/flops.js';
import { noInit } from '../../models/nn/init.js';
import { readSafetensors } from '../../models/nn/safetensors.js';
import { assertClose } from '../helpers/close.js';
import { gradcheck } from '../helpers/gradcheck.js';

describe('ViTPose', () => {
  it('B and L: the built parameter count equals the count computed from the config, near the published 90M / 308M', () => {
    for (const [k, published] of [['b', 90e6], ['l', 308e6]] as const) {
      const m = noInit(() => new ViTPose(VIT_PRESETS[k]));
      const n = m.numParameters();
      console.log(`ViTPose-${k.toUpperCase()}: ${n} parameters (from config: ${vitPoseParamCount(VIT_PRESETS[k])}; published ${published / 1e6}M)`);
      expect(n).toBe(vitPoseParamCount(VIT_PRESETS[k]));
      expect(Math.abs(n - published) / published).toBeLessThan(0.005);
      m.dispose();
    }
  });

  it('MACs from the layer shapes equal a counted forward (B and L printed beside the published 17.1 / 59.8 GFLOPs)', () => {
    for (const k of ['tiny', 'small'] as const) {
      const m = new ViTPose(VIT_PRESETS[k]);
      expect(countMacsOf(() => m.forward(P.randn([1, 3, ...VIT_PRESETS[k].imgSize]))).total).toBe(vitPoseMacs(VIT_PRESETS[k]));
    }
    console.log(`ViTPose MACs at 256x192: B ${(vitPoseMacs(VIT_PRESETS.b) / 1e9).toFixed(2)}G (published 17.1), L ${(vitPoseMacs(VIT_PRESETS.l) / 1e9).toFixed(2)}G (published 59.8)`);
  });

  it('gives a 16x12 token grid at 256x192 (patch padding 2) and 64x48 heatmaps', () => {
    const m = noInit(() => new ViT({ imgSize: [256, 192], embedDim: 8, depth: 1, numHeads: 2 }));
    expect(m.grid).toEqual([16, 12]);
    const tiny = new ViTPose(VIT_PRESETS.tiny);
    expect(tiny.forward(P.randn([2, 3, 64, 48])).shape).toEqual([2, 17, 16, 12]);
    expect(tiny.backbone.forwardTokens(P.randn([1, 3, 64, 48])).shape).toEqual([1, 12, 16]);
  });

  it('matches PyTorch (heatmaps, tokens, input gradient) with mmpose keys', () => {
    const fx = readSafetensors(new Uint8Array(readFileSync(new URL('../fixtures/models/vitpose_tiny.safetensors', import.meta.url))));
    const get = (k: string) => fx.tensors.get(k)!;
    const m = new ViTPose({ imgSize: [64, 48], embedDim: 16, depth: 2, numHeads: 2, numJoints: 5, deconvChannels: 8 });
    m.toDtype('float64');
    m.loadStateDict(new Map([...fx.tensors].filter(([k]) => k.startsWith('model.')).map(([k, v]) => [k.slice(6), v])));
    m.eval();
    const x = P.tensor(get('x').data, { dtype: 'float64', shape: get('x').shape, requiresGrad: true });
    const heat = m.forward(x);
    const tol = { atol: 1e-10, rtol: 1e-9 };
    assertClose(heat.dataSync(), get('heatmaps').data, tol, 'heatmaps');
    assertClose(m.backbone.forwardTokens(x).dataSync(), get('tokens').data, tol, 'tokens');
    heat.backward(P.tensor(get('gout').data, { dtype: 'float64', shape: get('gout').shape }));
    assertClose(x.grad!.dataSync(), get('grad_x').data, tol, 'input gradient');
  });

  it('passes a float64 gradcheck of the tokens with respect to the input', () => {
    P.manualSeed(4);
    const m = new ViT({ imgSize: [32, 16], embedDim: 8, depth: 1, numHeads: 2 });
    m.toDtype('float64');
    gradcheck((x) => m.forwardTokens(x), [P.randn([1, 3, 32, 16], { dtype: 'float64' })], { maxPerInput: 40 });
  });
});
