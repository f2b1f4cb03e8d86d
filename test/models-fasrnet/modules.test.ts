/**
 * FaSRnet's modules: float64 gradchecks (central differences on the cpu backend) of the DCNs
 * (including the official offset-padding reinterpretation), the FRM alignment, the TSA fusion, the
 * RSB chain, the SRM (PRF/PTM/PCN, with the margin weights as inputs) and the PCN deformable conv;
 * the channel layouts (interleaving, per-joint stacking), the identity init, margin weights, and
 * the errors thrown on bad input. Modules are re-initialized with seeded random weights (see
 * helpers.randomize) so that offsets and masks are far from the official near-zero start.
 */
import { describe, expect, it } from 'vitest';
import { manualSeed, noGrad, tidy } from '../../engine/engine.js';
import type { Tensor } from '../../engine/tensor.js';
import { arange, rand, randn, tensor, zeros } from '../../ops/creation.js';
import { add, mul } from '../../ops/elementwise.js';
import { reshape } from '../../ops/shape.js';
import { ChainRSBBlocks, DCNv2Pack, FRMAlignment, FRMFusion, PCNDeformConv, RSBBlock, SRM, createFaSRnet, fasrnetPreset, identityKernel_, interleave, marginWeights } from '../../models/fasrnet/index.js';
import { zeros_ } from '../../models/nn/init.js';
import { assertClose } from '../helpers/close.js';
import { gradcheck } from '../helpers/gradcheck.js';
import { randomize } from './helpers.js';

const f64 = (shape: number[], scale = 1): Tensor => mul(randn(shape, { dtype: 'float64' }), scale);

describe('FaSRnet gradchecks (float64, cpu)', () => {
  it('DCNv2Pack (DCN_2), dilation 2: input and offset feature, quirk off', () => {
    manualSeed(1);
    tidy(() => {
      const m = new DCNv2Pack(3, 2, 2, { dilation: 2 }).toDtype('float64');
      randomize(m);
      gradcheck((x, feat) => m.forward(x!, feat!), [f64([2, 3, 6, 6]), f64([2, 2, 6, 6])]);
    });
  });

  it("DCNv2Pack with the official offset padding read batch-flat ('batch') and per sample ('sample')", () => {
    manualSeed(2);
    tidy(() => {
      for (const quirk of ['batch', 'sample'] as const) {
        const m = new DCNv2Pack(3, 2, 2, { dilation: 3, offsetPaddingQuirk: quirk }).toDtype('float64');
        randomize(m);
        // the offset conv really is larger than the output: 10x10 read as 6x6
        expect(m.conv_offset_mask.forward(zeros([2, 2, 6, 6], { dtype: 'float64' })).shape).toEqual([2, 27, 10, 10]);
        gradcheck((x, feat) => m.forward(x!, feat!), [f64([2, 3, 6, 6]), f64([2, 2, 6, 6])], { maxPerInput: 60 });
      }
    });
  });

  it('FRM alignment (Eqs 1-7): dilations 5/3/1 and the cascade, w.r.t. the neighbour and reference features', () => {
    manualSeed(3);
    tidy(() => {
      const m = new FRMAlignment(2).toDtype('float64');
      randomize(m);
      gradcheck((nbr, ref) => m.forward(nbr!, ref!), [f64([1, 2, 8, 8]), f64([1, 2, 8, 8])], { maxPerInput: 64 });
    });
  });

  it('TSA fusion (Eqs 8-10): temporal attention, fusion, spatial attention pyramid', () => {
    manualSeed(4);
    tidy(() => {
      const m = new FRMFusion(2).toDtype('float64');
      randomize(m);
      gradcheck((p, c, n) => m.forward([p!, c!, n!]), [f64([2, 2, 8, 8]), f64([2, 2, 8, 8]), f64([2, 2, 8, 8])], { maxPerInput: 64 });
    });
  });

  it('RSB chain (2 blocks, the first with the 1x1 residual), training-mode BatchNorm', () => {
    manualSeed(5);
    tidy(() => {
      const m = new ChainRSBBlocks(6, 4, 2).toDtype('float64').train();
      randomize(m);
      gradcheck((x) => m.forward(x!), [f64([2, 6, 5, 5])], { maxPerInput: 80 });
    });
  });

  it('SRM (Eqs 11-16: PRF, PTM, PCN) w.r.t. H^r, H_prev, H_next and the per-sample margin weights', () => {
    manualSeed(6);
    tidy(() => {
      const m = new SRM({ numJoints: 2, prfInnerCh: 4, prfBlocks: 2, ptmBlocks: 1, combineInnerCh: 4, combineBlocks: 2 }).toDtype('float64').train();
      randomize(m);
      const w = tensor([0.25, 1], { dtype: 'float64' });
      const v = tensor([0.75, 0], { dtype: 'float64' });
      gradcheck((hr, hp, hn, wp, wn) => m.forward(hr!, hp!, hn!, wp!, wn!), [f64([2, 2, 6, 6]), f64([2, 2, 6, 6]), f64([2, 2, 6, 6]), w, v], { maxPerInput: 48 });
    });
  });

  it('SRM with the DCPose multi-dilation PCN (weighted sum of 2 dilations) and the grouped-conv PTM', () => {
    manualSeed(7);
    tidy(() => {
      const m = new SRM({ numJoints: 2, prfInnerCh: 4, prfBlocks: 1, ptmBlocks: 0, combineInnerCh: 4, combineBlocks: 1, dilations: [1, 2] }).toDtype('float64').eval();
      randomize(m);
      gradcheck((hr, hp, hn) => m.forward(hr!, hp!, hn!, 0.5, 0.5), [f64([1, 2, 6, 6]), f64([1, 2, 6, 6]), f64([1, 2, 6, 6])], { maxPerInput: 48 });
    });
  });

  it('PCN deformable conv (K groups, raw mask) w.r.t. input, offsets and mask', () => {
    manualSeed(8);
    tidy(() => {
      const m = new PCNDeformConv(2).toDtype('float64');
      randomize(m);
      gradcheck((x, o, k) => m.forward(x!, o!, k!), [f64([1, 2, 5, 5]), f64([1, 36, 5, 5], 1.3), f64([1, 18, 5, 5])], { maxPerInput: 60 });
    });
  });
});

describe('FaSRnet layouts and init', () => {
  it('interleave puts a_c at channel 2c and b_c at 2c+1 (the official cat_alignment)', () => {
    tidy(() => {
      const a = reshape(arange(0, 8, 1, { dtype: 'float64' }), [1, 2, 2, 2]);
      const b = add(a, 100);
      expect(Array.from(interleave(a, b).dataSync())).toEqual([0, 1, 2, 3, 100, 101, 102, 103, 4, 5, 6, 7, 104, 105, 106, 107]);
      expect(() => interleave(a, reshape(b, [1, 2, 4, 1]))).toThrow(/^interleave: expected two tensors of one shape/);
    });
  });

  it('PRF and PTM inputs interleave per joint: [dA, dA·w_prev, dB, dB·w_next] and [H^r, H_prev·w_prev, H_next·w_next]', () => {
    tidy(() => {
      const m = new SRM({ numJoints: 2, prfInnerCh: 4, prfBlocks: 1, ptmBlocks: 1, combineInnerCh: 4, combineBlocks: 1 });
      const hr = tensor([10, 20], { shape: [1, 2, 1, 1] });
      const hp = tensor([1, 2], { shape: [1, 2, 1, 1] });
      const hn = tensor([3, 5], { shape: [1, 2, 1, 1] });
      expect(Array.from(m.prfInput(hr, hp, hn, 0.25, 0.75).dataSync())).toEqual([9, 2.25, 7, 5.25, 18, 4.5, 15, 11.25]);
      expect(Array.from(m.ptmInput(hr, hp, hn, 0.25, 0.75).dataSync())).toEqual([10, 0.25, 2.25, 20, 0.5, 3.75]);
      // per-sample weights [B]
      const w2 = tensor([0.5, 1]);
      const hr2 = tensor([1, 1], { shape: [2, 1, 1, 1] });
      const z = zeros([2, 1, 1, 1]);
      const m1 = new SRM({ numJoints: 1, prfInnerCh: 4, prfBlocks: 1, ptmBlocks: 1, combineInnerCh: 4, combineBlocks: 1 });
      expect(Array.from(m1.prfInput(hr2, z, z, w2, w2).dataSync())).toEqual([1, 0.5, 1, 0.5, 1, 1, 1, 1]);
      expect(() => m1.prfInput(hr2, z, z, tensor([1, 2, 3]), w2)).toThrow(/^SRM: expected wPrev as a number or a \[2\] tensor, got \[3\]/);
    });
  });

  it('margin weights: w_prev = d_next/(d_prev+d_next), w_next = d_prev/(d_prev+d_next); a missing neighbour has distance 0', () => {
    expect(marginWeights(1, 1)).toEqual({ wPrev: 0.5, wNext: 0.5 });
    expect(marginWeights(1, 3)).toEqual({ wPrev: 0.75, wNext: 0.25 });
    expect(marginWeights(0, 2)).toEqual({ wPrev: 1, wNext: 0 });
    expect(marginWeights(0, 0)).toEqual({ wPrev: 0.5, wNext: 0.5 });
    expect(() => marginWeights(-1, 2)).toThrow(/^marginWeights: expected distances ≥ 0, got -1 and 2/);
  });

  it('identity kernel: w[k, k, 1, 1] = 1; with zero offsets the DCN outputs mask·x = 0.5·x', () => {
    tidy(() => {
      const w = identityKernel_(zeros([3, 4, 3, 3]));
      const v = Array.from(w.dataSync());
      const ones = Array.from(v.keys()).filter((i) => v[i] === 1);
      expect(ones).toEqual([0 * 36 + 0 * 9 + 4, 1 * 36 + 1 * 9 + 4, 2 * 36 + 2 * 9 + 4]);
      expect(v.reduce((a, b) => a + b, 0)).toBe(3);
      const d = new DCNv2Pack(4, 4, 4, { dilation: 5 });
      identityKernel_(d.weight);
      zeros_(d.conv_offset_mask.weight);
      const x = randn([1, 4, 7, 7]);
      assertClose(d.forward(x, x).dataSync(), mul(x, 0.5).dataSync(), { atol: 1e-6, rtol: 1e-6 });
    });
  });

  it('the official init of the head: convs N(0, 0.001) with zero bias, identity DCN kernels, BN 1/0', () => {
    manualSeed(9);
    tidy(() => {
      const m = createFaSRnet('tiny');
      const sd = m.stateDict();
      const std = (t: Tensor): number => {
        const a = Array.from(t.dataSync());
        return Math.sqrt(a.reduce((s, x) => s + x * x, 0) / a.length);
      };
      const big = sd.get('pcda_p.offset_conv1.l3.weight')!; // 4·8·9 = 288 values
      expect(std(big)).toBeGreaterThan(0.0007);
      expect(std(big)).toBeLessThan(0.0013);
      expect(std(sd.get('pcda_p.dcn_pack.l3.conv_offset_mask.weight')!)).toBeLessThan(0.002);
      expect(Array.from(sd.get('pcda_p.offset_conv1.l3.bias')!.dataSync()).every((x) => x === 0)).toBe(true);
      expect(Array.from(sd.get('pcda_p.dcn_pack.l3.weight')!.dataSync()).reduce((a, b) => a + b, 0)).toBe(4);
      expect(Array.from(sd.get('hm_improve.modulated_deform_conv_list.0.deform_conv.weight')!.dataSync()).reduce((a, b) => a + b, 0)).toBe(4);
      expect(Array.from(sd.get('hm_improve.diff_temporal_fuse.layers.0.conv_bn_relu1.bn.weight')!.dataSync()).every((x) => x === 1)).toBe(true);
      m.dispose();
    });
  });
});

describe('FaSRnet errors', () => {
  it('shapes and configurations are checked, naming the op, the expected and the received value', () => {
    tidy(() => {
      const tsa = new FRMFusion(2);
      const x = rand([1, 2, 6, 6]);
      expect(() => tsa.forward([x, x, x])).toThrow(/^FRMFusion: expected feature maps whose H and W are divisible by 4, got 6x6$/);
      expect(() => tsa.forward([x, x])).toThrow(/^FRMFusion: expected 3 frames, got 2$/);
      expect(() => new RSBBlock(2, 2)).toThrow(/^RSBBlock: expected at least 3 input channels/);
      expect(() => new ChainRSBBlocks(8, 4, 0)).toThrow(/^ChainRSBBlocks: expected numBlocks as an integer ≥ 1, got 0$/);
      const d = new DCNv2Pack(2, 2, 2, { dilation: 3 });
      expect(() => d.forward(rand([1, 2, 8, 8]), rand([1, 2, 6, 6]))).toThrow(/^DCNv2Pack: expected an offset feature \[1, C, 8, 8\]/);
      expect(() => new DCNv2Pack(2, 2, 2, { offsetPaddingQuirk: 'yes' as never })).toThrow(/^DCNv2Pack: expected offsetPaddingQuirk 'off', 'batch' or 'sample', got yes$/);
      const srm = new SRM({ numJoints: 2, prfInnerCh: 4, prfBlocks: 1, ptmBlocks: 1, combineInnerCh: 4, combineBlocks: 1 });
      expect(() => srm.forward(rand([1, 3, 4, 4]), rand([1, 3, 4, 4]), rand([1, 3, 4, 4]))).toThrow(/^SRM: expected refined heatmaps \[B, 2, h, w\], got \[1, 3, 4, 4\]$/);
      expect(() => srm.forward(rand([1, 2, 4, 4]), rand([1, 2, 4, 5]), rand([1, 2, 4, 4]))).toThrow(/^SRM: expected hPrev of the refined heatmaps' shape \[1, 2, 4, 4\], got \[1, 2, 4, 5\]$/);
      expect(() => fasrnetPreset('huge')).toThrow(/^fasrnetPreset: expected one of \[paper, small, tiny, real\], got 'huge'$/);
      expect(() => createFaSRnet('tiny', { inputSize: [64, 48] })).toThrow(/^FaSRnet: expected inputSize \[width, height\] divisible by 32, got \[64, 48\]$/);
      expect(() => createFaSRnet('tiny', { numJoints: 5, backbone: { width: 4, numJoints: 4 } })).toThrow(/^FaSRnet: expected backbone\.numJoints = numJoints = 5, got 4$/);
      const m = createFaSRnet('tiny');
      const f = rand([1, 3, 64, 64]);
      expect(() => m.forward({ cur: f, prev: f, next: rand([1, 3, 64, 32]) })).toThrow(/^FaSRnet: expected next of cur's shape \[1, 3, 64, 64\], got \[1, 3, 64, 32\]$/);
      expect(() => m.forward({ cur: rand([1, 3, 48, 48]), prev: rand([1, 3, 48, 48]), next: rand([1, 3, 48, 48]) })).toThrow(/^FaSRnet: expected frames whose H and W are divisible by 32, got 48x48$/);
      expect(() => m.forward({ cur: rand([1, 1, 64, 64]), prev: f, next: f })).toThrow(/^FaSRnet: expected cur as a frame \[B, 3, H, W\], got \[1, 1, 64, 64\]$/);
      const disposed = rand([1, 3, 64, 64]);
      disposed.dispose();
      expect(() => m.forward({ cur: f, prev: disposed, next: f })).toThrow(/disposed/);
      m.dispose();
    });
  });

  it('the frozen backbone: eval mode whatever train() says (unless backboneTrainMode), no gradients, not trainable', () => {
    tidy(() => {
      const m = createFaSRnet('tiny').train();
      expect(m.rough_pose_estimation_net.training).toBe(false);
      expect(m.pcda_p.training).toBe(true);
      expect(m.rough_pose_estimation_net.parameters().every((p) => !p.requiresGrad)).toBe(true);
      const trainable = new Set(m.trainableParameters());
      expect(m.rough_pose_estimation_net.parameters().some((p) => trainable.has(p))).toBe(false);
      expect(trainable.size).toBe(m.parameters().length - m.rough_pose_estimation_net.parameters().length);
      const q = createFaSRnet('tiny', { backboneTrainMode: true }).train();
      expect(q.rough_pose_estimation_net.training).toBe(true);
      q.eval();
      expect(q.rough_pose_estimation_net.training).toBe(false);
      // noGrad backbone: its outputs carry no graph
      const f = rand([1, 3, 64, 64]);
      const bb = noGrad(() => m.backbone({ cur: f, prev: f, next: f }));
      expect(bb.fCur.requiresGrad).toBe(false);
      m.dispose();
      q.dispose();
    });
  });
});
