/**
 * Float64 gradient checks (central differences on the cpu backend) of every VREMD module at a small
 * size (width 8, a 3x4 token grid, 3 frames, 2 joints): inputs through `gradcheck`, parameters
 * through `paramGradcheck`. DCA's offset parameters are randomized so that the sampling points lie
 * off the bilinear kinks (integer token coordinates; asserted ≥ KINK_MARGIN = 2e-5 tokens away,
 * 20x the finite-difference eps of 1e-6, so a failure is never a kink artefact; a crossed kink
 * would fail the check, not pass it), and so that some points fall outside the map (zeros padding).
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { tidy } from '../../engine/engine.js';
import type { Tensor } from '../../engine/tensor.js';
import * as P from '../../index.js';
import { ADCBlock, BMD, DCA, HKME, HumanMask, KeypointMask, SpatioTemporal, TokenHead, TokenReduction, createVREMD, vremdPreset } from '../../models/vremd/index.js';
import { HeatmapHead } from '../../models/backbones/vit.js';
import type { Module } from '../../models/nn/module.js';
import { gradcheck } from '../helpers/gradcheck.js';
import { minKinkDistance, paramGradcheck } from './helpers.js';

const D = 8;
const GRID = [3, 4] as const;
const N = 12;
const T = 3;
const J = 2;
const f64 = (shape: number[], scale = 1): Tensor => P.mul(P.randn(shape, { dtype: 'float64' }), scale);
const KINK_MARGIN = 2e-5;
const DCA_CFG = { heads: 2, points: 3, offsetRange: 2, kernelSize: 3 };

/** Random θ (weight 0.15·N(0,1), bias 0.8·N(0,1) + 0.31) for every DCA in `m`: points off the kinks. */
function randomizeOffsets(m: Module): void {
  for (const [, mod] of m.namedModules()) {
    if (!(mod instanceof DCA)) continue;
    const w = mod.sampling_offsets.weight;
    const b = mod.sampling_offsets.bias!;
    const nw = f64([...w.shape], 0.15);
    const nb = P.add(f64([...b.shape], 0.8), 0.31);
    w.assign(nw);
    b.assign(nb);
    nw.dispose();
    nb.dispose();
  }
}

function named(m: Module, ...keys: string[]): [string, Tensor][] {
  const all = new Map(m.namedParameters());
  return keys.map((k) => {
    const p = all.get(k);
    if (!p) throw new Error(`no parameter ${k}; have ${[...all.keys()].join(', ')}`);
    return [k, p];
  });
}

beforeEach(() => P.manualSeed(123));

describe('VREMD gradchecks (float64, cpu)', () => {
  it('HKME human mask (Eq 1): input features, the human tokens and a block weight', () => {
    const m = new HumanMask({ dim: D, numHeads: 2, mlpRatio: 2, depth: 1, numFrames: T, numTokens: N }).toDtype('float64');
    const f = f64([2, T, N, D]);
    gradcheck((x) => {
      const r = m.forward(x);
      return [r.fc, r.mask];
    }, [f], { maxPerInput: 30 });
    tidy(() => paramGradcheck(() => m.forward(f).fc, named(m, 'human_token', 'blocks.0.attn.qkv.weight'), { maxPer: 16 }));
    m.dispose();
  });

  it('HKME keypoint mask (Eq 2): input F_c, the keypoint tokens and a block weight', () => {
    const m = new KeypointMask({ dim: D, numHeads: 2, mlpRatio: 2, depth: 1, numFrames: T, numTokens: N, numJoints: J }).toDtype('float64');
    const fc = f64([2, T, N, D]);
    gradcheck((x) => {
      const r = m.forward(x);
      return [r.ff, r.tokens, r.mask];
    }, [fc], { maxPerInput: 30 });
    tidy(() => paramGradcheck(() => m.forward(fc).ff, named(m, 'keypoint_tokens', 'blocks.0.mlp.fc1.weight'), { maxPer: 16 }));
    m.dispose();
  });

  it('HKME spatial and temporal blocks', () => {
    const m = new SpatioTemporal({ dim: D, numHeads: 2, mlpRatio: 2, spatialDepth: 1, temporalDepth: 1, numFrames: T, numTokens: N }).toDtype('float64');
    gradcheck((x) => m.forward(x), [f64([2, T * N, D])], { maxPerInput: 30 });
    const x = f64([2, T * N, D]);
    tidy(() => paramGradcheck(() => m.forward(x), named(m, 'spatial_blocks.0.attn.proj.weight', 'temporal_blocks.0.attn.qkv.weight'), { maxPer: 12 }));
    m.dispose();
  });

  it('HKME token-reduction MLP (3N → N)', () => {
    const m = new TokenReduction(T * N, N).toDtype('float64');
    gradcheck((x) => m.forward(x), [f64([2, T * N, D])], { maxPerInput: 30 });
    const x = f64([2, T * N, D]);
    tidy(() => paramGradcheck(() => m.forward(x), named(m, 'mlp.fc1.weight', 'mlp.fc2.bias'), { maxPer: 16 }));
    m.dispose();
  });

  it('the whole HKME (both masks, blocks, reduction) with respect to the frames', () => {
    const m = new HKME({ dim: D, numHeads: 2, mlpRatio: 2, numFrames: T, numTokens: N, numJoints: J, humanDepth: 1, keypointDepth: 1, spatialDepth: 1, temporalDepth: 1 }).toDtype('float64');
    gradcheck((x) => {
      const r = m.forward(x);
      return [r.F, r.keyTokens];
    }, [f64([1, T, N, D])], { maxPerInput: 30 });
    m.dispose();
  });

  it('DCA (Eqs 3-4): x, F, and the offset path θ, ψ, W_z, W_q through gridSample', () => {
    const m = new DCA(D, GRID, DCA_CFG).toDtype('float64');
    randomizeOffsets(m);
    const x = f64([2, N, D]);
    const f = f64([2, N, D]);
    const pts = m.forward(x, f).points;
    expect(minKinkDistance(pts)).toBeGreaterThan(KINK_MARGIN);
    const p = pts.dataSync();
    let outside = 0;
    for (let i = 0; i < p.length; i += 2) if (p[i]! < -0.5 || p[i]! > GRID[1] - 0.5 || p[i + 1]! < -0.5 || p[i + 1]! > GRID[0] - 0.5) outside++;
    expect(outside).toBeGreaterThan(0); // the zeros-padding path is exercised
    // F only reaches the output through the offsets: its gradient is the offset path alone.
    gradcheck((a, b) => {
      const r = m.forward(a, b);
      return [r.out, r.points];
    }, [x, f], { maxPerInput: 40 });
    tidy(() =>
      paramGradcheck(() => m.forward(x, f).out, named(m, 'sampling_offsets.weight', 'sampling_offsets.bias', 'offset_conv.weight', 'z_proj.weight', 'q_proj.bias', 'k_proj.weight', 'v_proj.bias'), { maxPer: 12 }),
    );
    m.dispose();
  });

  it('DCA without an offset bound (offsetRange null)', () => {
    const m = new DCA(D, GRID, { ...DCA_CFG, offsetRange: null }).toDtype('float64');
    randomizeOffsets(m);
    const x = f64([1, N, D]);
    const f = f64([1, N, D]);
    expect(minKinkDistance(m.forward(x, f).points)).toBeGreaterThan(KINK_MARGIN);
    gradcheck((a, b) => m.forward(a, b).out, [x, f], { maxPerInput: 30 });
    m.dispose();
  });

  it('a full ADC block (both directions: DCA + cross attention, concat, MLP)', () => {
    const m = new ADCBlock({ dim: D, grid: GRID, numHeads: 2, mlpRatio: 2, dca: DCA_CFG }).toDtype('float64');
    randomizeOffsets(m);
    const mf = f64([2, N, D]);
    const mb = f64([2, N, D]);
    const f = f64([2, N, D]);
    const r0 = m.forward(mf, mb, f);
    expect(Math.min(minKinkDistance(r0.pointsF), minKinkDistance(r0.pointsB))).toBeGreaterThan(KINK_MARGIN);
    gradcheck((a, b, c) => {
      const r = m.forward(a, b, c);
      return [r.mf, r.mb];
    }, [mf, mb, f], { maxPerInput: 24 });
    tidy(() => paramGradcheck(() => { const r = m.forward(mf, mb, f); return [r.mf, r.mb]; }, named(m, 'fwd.cross_attn.in_proj_weight', 'bwd.mlp.fc1.weight', 'bwd.dca.sampling_offsets.weight', 'fwd.norm_mlp.weight'), { maxPer: 10 }));
    m.dispose();
  });

  it('BMD (motions from the raw frames, ADC block, fusion)', () => {
    const m = new BMD({ dim: D, grid: GRID, numHeads: 2, mlpRatio: 2, dca: DCA_CFG, depth: 1 }).toDtype('float64');
    randomizeOffsets(m);
    const frames = f64([1, T, N, D]);
    const f = f64([1, N, D]);
    const r0 = m.forward(frames, f);
    expect(Math.min(minKinkDistance(r0.pointsF!), minKinkDistance(r0.pointsB!))).toBeGreaterThan(KINK_MARGIN);
    gradcheck((a, b) => m.forward(a, b).M, [frames, f], { maxPerInput: 24 });
    tidy(() => paramGradcheck(() => m.forward(frames, f).M, named(m, 'fusion.weight', 'fusion_norm.bias'), { maxPer: 12 }));
    m.dispose();
  });

  it('H_k: the TokenPose head in both of its forms', () => {
    const one = new TokenHead(D, [6, 4]).toDtype('float64'); // D > hw/16: LN + Linear
    const two = new TokenHead(D, [16, 12]).toDtype('float64'); // D ≤ hw/16: LN, Linear, LN, Linear
    expect(one.twoLayer).toBe(false);
    expect(two.twoLayer).toBe(true);
    gradcheck((x) => one.forward(x), [f64([2, J, D])], { maxPerInput: 20 });
    gradcheck((x) => two.forward(x), [f64([2, J, D])], { maxPerInput: 20 });
    const x = f64([2, J, D]);
    tidy(() => paramGradcheck(() => two.forward(x), named(two, 'mlp_head.1.weight', 'mlp_head.2.weight', 'mlp_head.3.bias'), { maxPer: 12 }));
    one.dispose();
    two.dispose();
  });

  it('H_m: the deconv head on F_t + M (training-mode BatchNorm)', () => {
    const m = new HeatmapHead(D, J, 4, 2).toDtype('float64');
    gradcheck((x) => m.forward(x), [f64([2, D, GRID[0], GRID[1]])], { maxPerInput: 24 });
    m.dispose();
  });

  it('the whole network from tokens (H_t = H_k + H_m) at the tiny preset', () => {
    const m = createVREMD(vremdPreset('tiny', { numJoints: 3 })).toDtype('float64');
    randomizeOffsets(m);
    m.eval();
    const tokens = f64([1, T, 12, 16]);
    const out = m.forwardDetailed({ tokens });
    expect(Math.min(minKinkDistance(out.pointsF!), minKinkDistance(out.pointsB!))).toBeGreaterThan(KINK_MARGIN);
    gradcheck((t) => m.forward({ tokens: t }), [tokens], { maxPerInput: 30 });
    m.dispose();
  });
});
