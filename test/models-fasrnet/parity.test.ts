/**
 * FaSRnet against PyTorch (test/reference/fasrnet.py, the tiny preset, batch 2 at 64x64):
 * - the seeded weights load from both .pth containers (zip and legacy) key for key (strict), with
 *   the official module names in PyTorch's order, and the two containers hold identical values;
 * - train-mode forward (head BatchNorm on batch statistics, frozen backbone in eval mode): H^r,
 *   H^final, the aligned previous features, gradients for the head's inputs (F_cur, F_prev, F_next,
 *   H_prev, H_next), for 14 parameters and for the current frame (through the backbone), the
 *   running statistics after the step, and the loss (Eqs 17-19);
 * - eval-mode forward; the official quirks on the same weights (offset padding read batch-flat with
 *   the official alignment argument order; read per sample with the paper's order);
 * - an official checkpoint through `fromOfficialStateDict(sd, model)` switches the default ('paper')
 *   model to variant 'official', which then computes the official forward (and without the switch,
 *   the aligned features differ by about 100 %); the `variant` option and its contradictions.
 * Tolerances: float64 atol 1e-10 + rtol 1e-8 (the reference is float64 too, so the differences are
 * summation order only); the current-frame gradient is stored as float32, so it is compared with
 * rtol 1e-6 + atol 1e-7·max|g|. Float32 run: atol 1e-4 + rtol 1e-3 on outputs of size O(1).
 */
import { describe, expect, it } from 'vitest';
import { tidy } from '../../engine/engine.js';
import type { Tensor } from '../../engine/tensor.js';
import { tensor } from '../../ops/creation.js';
import { add, mul } from '../../ops/elementwise.js';
import { sum } from '../../ops/reduce.js';
import { reshape, slice } from '../../ops/shape.js';
import { extractStateDict, loadInto, loadPth, type StateDict } from '../../models/nn/checkpoint/index.js';
import { readSafetensors, type HostTensor } from '../../models/nn/safetensors.js';
import { createFaSRnet, fasrnetBehaviour, fasrnetLoss, fasrnetPreset, fromOfficialStateDict, type FaSRnet, type FaSRnetConfig } from '../../models/fasrnet/index.js';
import { DEMO_MODELS } from '../../cli/models.js';
import { assertClose, type Tol } from '../helpers/close.js';
import { clipFrame, lossTarget, readFixture, upstream } from './helpers.js';

type Float = 'float64' | 'float32';
const F64: Tol = { atol: 1e-10, rtol: 1e-8 };
const F32: Tol = { atol: 1e-4, rtol: 1e-3 };

const fx = readSafetensors(readFixture('fasrnet.safetensors'));
const B = Number(fx.metadata.B);
const H = Number(fx.metadata.H);
const W = Number(fx.metadata.W);
function get(k: string): HostTensor {
  const t = fx.tensors.get(k);
  if (!t) throw new Error(`fasrnet fixture: no tensor '${k}'`);
  return t;
}
const toT = (h: HostTensor, dtype: Float): Tensor => tensor(h.data, { dtype, shape: h.shape });
const zipSd = extractStateDict(loadPth(readFixture('fasrnet_tiny.zip.pth')));
const legacySd = extractStateDict(loadPth(readFixture('fasrnet_tiny.legacy.pth')));

function build(sd: StateDict, dtype: Float, overrides: Partial<FaSRnetConfig> = {}): FaSRnet {
  const m = createFaSRnet('tiny', overrides).toDtype(dtype);
  const r = loadInto(m, sd);
  expect(r.missingKeys).toEqual([]);
  expect(r.unexpectedKeys).toEqual([]);
  return m;
}

function close(t: Tensor, key: string, tol: Tol): void {
  const e = get(key);
  expect(t.shape, key).toEqual(e.shape);
  assertClose(t.dataSync(), e.data, tol, key);
}

const frames = (dtype: Float): { cur: Tensor; prev: Tensor; next: Tensor } => ({ cur: clipFrame(0, B, H, W, dtype), prev: clipFrame(1, B, H, W, dtype), next: clipFrame(2, B, H, W, dtype) });

describe('FaSRnet checkpoints', () => {
  it('the zip and legacy .pth files hold the same state dict, key for key with the model, in PyTorch order', () => {
    expect([...zipSd.keys()]).toEqual([...legacySd.keys()]);
    for (const [k, v] of zipSd) {
      const w = legacySd.get(k)!;
      expect(w.shape, k).toEqual(v.shape);
      expect(Array.from(w.data), k).toEqual(Array.from(v.data));
    }
    const m = createFaSRnet('tiny');
    expect([...zipSd.keys()]).toEqual([...m.stateDict().keys()]);
    // a few official names, spelled out
    for (const k of ['pcda_p.offset_conv1.l3.weight', 'pcda_p.dcn_pack.l3.conv_offset_mask.weight', 'pcda_n.cas_dcnpack.bias', 'TSA_Fusion.spatial_attn_add2.bias', 'final_layer.weight', 'hm_improve.diff_temporal_fuse.layers.0.conv_bn_relu2_4_4.bn.running_var', 'hm_improve.support_temporal_fuse.layers.0.downsample.conv.weight', 'hm_improve.offsets_list.0.0.weight', 'hm_improve.masks_list.0.0.weight', 'hm_improve.modulated_deform_conv_list.0.deform_conv.weight', 'rough_pose_estimation_net.stage4.0.fuse_layers.0.3.0.weight']) {
      expect(zipSd.has(k), k).toBe(true);
    }
    m.dispose();
  });

  it('a model of another configuration refuses the checkpoint, naming the keys', () => {
    const m = createFaSRnet('tiny', { prfBlocks: 1 });
    expect(() => loadInto(m, zipSd)).toThrow(/loadStateDict: expected the model's keys, got 0 missing \[\] and \d+ unexpected \[hm_improve\.diff_temporal_fuse\.layers\.1\./);
    m.dispose();
  });
});

describe('FaSRnet matches PyTorch (tiny, B = 2, 64x64)', () => {
  it('train mode: outputs, gradients, running statistics and loss (float64)', () => {
    tidy(() => {
      const m = build(legacySd, 'float64').train();
      expect(m.rough_pose_estimation_net.training).toBe(false);
      const wPrev = toT(get('wPrev'), 'float64');
      const wNext = toT(get('wNext'), 'float64');
      // Pass 1: the head on leaf copies of the backbone outputs (gradients for the head's inputs).
      const bb = m.backbone(frames('float64'));
      const leaf = (t: Tensor): Tensor => t.detach().requiresGrad_(true);
      const f = { fCur: leaf(bb.fCur), fPrev: leaf(bb.fPrev), fNext: leaf(bb.fNext), hPrev: leaf(bb.hPrev), hNext: leaf(bb.hNext) };
      const out = m.forwardHead(f, wPrev, wNext);
      close(out.hr, 'hr', F64);
      close(out.hFinal, 'hFinal', F64);
      const [g1, g2] = upstream(out.hr.shape);
      add(sum(mul(out.hr, g1)), sum(mul(out.hFinal, g2))).backward();
      for (const k of ['fCur', 'fPrev', 'fNext', 'hPrev', 'hNext'] as const) close(f[k].grad!, `grad_${k}`, F64);
      const params = new Map(m.namedParameters());
      let n = 0;
      for (const key of fx.tensors.keys()) {
        if (!key.startsWith('pgrad/')) continue;
        const p = params.get(key.slice('pgrad/'.length));
        expect(p, key).toBeDefined();
        close(p!.grad!, key, F64);
        n++;
      }
      expect(n).toBe(14);
      const bufs = new Map(m.namedBuffers());
      let nb = 0;
      for (const key of fx.tensors.keys()) {
        if (!key.startsWith('after/')) continue;
        close(bufs.get(key.slice('after/'.length))!, key, F64);
        nb++;
      }
      expect(nb).toBe(3);
      const [target, tw] = lossTarget(out.hr.shape);
      close(reshape(fasrnetLoss(out, target, tw, 0.4), [1]), 'loss', F64);
      // the aligned previous features (FRM alignment alone)
      close(m.pcda_p.forward(f.fPrev, f.fCur), 'prevA', F64);
    });
  });

  it('the gradient reaches the input frames through the frozen backbone (float64)', () => {
    tidy(() => {
      const m = build(zipSd, 'float64').train();
      const fr = frames('float64');
      fr.cur.requiresGrad_(true);
      const out = m.forward({ ...fr, wPrev: toT(get('wPrev'), 'float64'), wNext: toT(get('wNext'), 'float64') }, { backboneNoGrad: false });
      close(out.hFinal, 'hFinal', F64);
      const [g1, g2] = upstream(out.hr.shape);
      add(sum(mul(out.hr, g1)), sum(mul(out.hFinal, g2))).backward();
      const g0 = reshape(slice(fr.cur.grad!, 0, 0, 1), [3, H, W]);
      const exp = get('grad_cur0');
      const scale = Math.max(...Array.from(exp.data, Math.abs));
      expect(scale).toBeGreaterThan(0);
      assertClose(g0.dataSync(), exp.data, { atol: 1e-7 * scale, rtol: 1e-6 }, 'grad_cur0');
      // frozen: no backbone parameter received a gradient
      expect(m.rough_pose_estimation_net.parameters().every((p) => p.grad === null && !p.requiresGrad)).toBe(true);
    });
  });

  it('eval mode, and the official offset-padding / argument-order quirks (float64)', () => {
    tidy(() => {
      const wPrev = toT(get('wPrev'), 'float64');
      const wNext = toT(get('wNext'), 'float64');
      const m = build(zipSd, 'float64').eval();
      const bb = m.backbone(frames('float64'));
      close(m.forwardHead(bb, wPrev, wNext).hFinal, 'eval/hFinal', F64);
      const off = m.pcda_p.forward(bb.fPrev, bb.fCur).dataSync();
      const q = build(zipSd, 'float64', { offsetPaddingQuirk: 'batch', alignmentInputOrder: 'official' }).eval();
      close(q.forwardHead(bb, wPrev, wNext).hFinal, 'official_batch/hFinal', F64);
      const prevA = q.pcda_p.forward(bb.fCur, bb.fPrev);
      close(prevA, 'official_batch/prevA', F64);
      const s = build(zipSd, 'float64', { offsetPaddingQuirk: 'sample' }).eval();
      const prevS = s.pcda_p.forward(bb.fPrev, bb.fCur);
      close(prevS, 'paper_sample/prevA', F64);
      // The quirk changes the result (so these cases test something the default path does not).
      expect(Math.max(...Array.from(prevS.dataSync(), (v, i) => Math.abs(v - off[i]!)))).toBeGreaterThan(1e-3);
    });
  });

  it('float32: train-mode outputs within the stated tolerance', () => {
    tidy(() => {
      const m = build(zipSd, 'float32').train();
      const out = m.forward({ ...frames('float32'), wPrev: toT(get('wPrev'), 'float32'), wNext: toT(get('wNext'), 'float32') });
      close(out.hr, 'hr', F32);
      close(out.hFinal, 'hFinal', F32);
    });
  });
});

describe('FaSRnet: an official checkpoint means the official computation', () => {
  /** ‖a − b‖₂ / ‖b‖₂. */
  const relDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
    let d = 0;
    let r = 0;
    for (let i = 0; i < b.length; i++) {
      d += (a[i]! - b[i]!) ** 2;
      r += b[i]! ** 2;
    }
    return Math.sqrt(d / r);
  };

  it("fromOfficialStateDict(sd, model) switches the default 'paper' model to 'official', which matches the official forward (float64)", () => {
    tidy(() => {
      const wPrev = toT(get('wPrev'), 'float64');
      const wNext = toT(get('wNext'), 'float64');
      // DataParallel's prefix, as an official training checkpoint has it
      const prefixed = new Map([...zipSd].map(([k, v]) => [`module.${k}`, v]));
      const m = createFaSRnet('tiny').toDtype('float64').eval();
      expect(m.behaviour).toEqual({ variant: 'paper', alignmentInputOrder: 'paper', offsetPaddingQuirk: 'off' });
      const r = fromOfficialStateDict(prefixed, m);
      expect(r.switched).toEqual(["alignmentInputOrder 'paper' → 'official'", "offsetPaddingQuirk 'off' → 'batch'"]);
      expect(r.notes).toEqual([`DataParallel's 'module.' prefix removed from ${zipSd.size} keys`, "switched to variant 'official' (alignmentInputOrder 'paper' → 'official', offsetPaddingQuirk 'off' → 'batch')"]);
      expect(r.dropped).toEqual([]);
      expect(m.behaviour).toEqual({ variant: 'official', alignmentInputOrder: 'official', offsetPaddingQuirk: 'batch' });
      expect([m.cfg.variant, m.cfg.alignmentInputOrder, m.cfg.offsetPaddingQuirk]).toEqual(['official', undefined, undefined]);
      expect(m.loadStateDict(r.state)).toEqual({ missingKeys: [], unexpectedKeys: [] });
      for (const [k, t] of m.stateDict()) expect(Array.from(t.dataSync()), k).toEqual(Array.from(zipSd.get(k)!.data, Number));
      const bb = m.backbone(frames('float64'));
      close(m.forwardHead(bb, wPrev, wNext).hFinal, 'official_batch/hFinal', F64);
      close(m.forward({ ...frames('float64'), wPrev, wNext }).hFinal, 'official_batch/hFinal', F64);
      // the model's alignment (official order: pcda_p deforms F_cur towards F_prev) is the official one
      close(m.pcda_p.forward(bb.fCur, bb.fPrev), 'official_batch/prevA', F64);

      // Without the switch, the checkpoint loads just as well into the 'paper' model and computes something else.
      const p = createFaSRnet('tiny').toDtype('float64').eval();
      const rp = fromOfficialStateDict(prefixed);
      expect(rp.switched).toEqual([]);
      expect(rp.notes[1]).toMatch(/^pass the model to switch it to variant 'official', or build it with variant: 'official'$/);
      expect(p.loadStateDict(rp.state)).toEqual({ missingKeys: [], unexpectedKeys: [] });
      const alignedPaper = p.pcda_p.forward(bb.fPrev, bb.fCur).dataSync();
      const dAligned = relDiff(alignedPaper, get('official_batch/prevA').data);
      const dFinal = relDiff(p.forwardHead(bb, wPrev, wNext).hFinal.dataSync(), get('official_batch/hFinal').data);
      console.log(`FaSRnet tiny, an official checkpoint in the 'paper' variant: aligned features ‖Δ‖/‖official‖ = ${dAligned.toFixed(3)}, H^final ${dFinal.toFixed(3)}`);
      expect(dAligned).toBeGreaterThan(0.1);

      // and back: useVariant('paper') restores the paper computation on the same weights
      expect(m.useVariant('paper')).toEqual(["alignmentInputOrder 'official' → 'paper'", "offsetPaddingQuirk 'batch' → 'off'"]);
      close(m.forwardHead(bb, wPrev, wNext).hFinal, 'eval/hFinal', F64);
    });
  });

  it("variant: 'official' builds the official computation; contradicting fields throw", () => {
    tidy(() => {
      const q = build(zipSd, 'float64', { variant: 'official' }).eval();
      const bb = q.backbone(frames('float64'));
      close(q.forwardHead(bb, toT(get('wPrev'), 'float64'), toT(get('wNext'), 'float64')).hFinal, 'official_batch/hFinal', F64);
      expect(fasrnetBehaviour({})).toEqual({ variant: 'paper', alignmentInputOrder: 'paper', offsetPaddingQuirk: 'off' });
      expect(fasrnetBehaviour({ alignmentInputOrder: 'official', offsetPaddingQuirk: 'batch' }).variant).toBe('official');
      expect(fasrnetBehaviour({ offsetPaddingQuirk: 'sample' }).variant).toBe('custom');
      expect(fasrnetBehaviour({ variant: 'official', offsetPaddingQuirk: 'batch' }).variant).toBe('official');
      expect(() => createFaSRnet('tiny', { variant: 'official', offsetPaddingQuirk: 'sample' })).toThrow(/^FaSRnet: expected offsetPaddingQuirk 'batch' with variant 'official' \(or leave offsetPaddingQuirk unset\), got 'sample'$/);
      expect(() => createFaSRnet('tiny', { variant: 'paper', alignmentInputOrder: 'official' })).toThrow(/^FaSRnet: expected alignmentInputOrder 'paper' with variant 'paper' \(or leave alignmentInputOrder unset\), got 'official'$/);
      expect(() => createFaSRnet('tiny', { variant: 'both' as never })).toThrow(/^FaSRnet: expected variant 'paper' or 'official', got both$/);
      expect(() => q.useVariant('both' as never)).toThrow(/^FaSRnet: expected variant 'paper' or 'official', got both$/);
      expect(q.useVariant('official')).toEqual([]);
    });
  });

  it("the demo's --weights (cli/models.ts loadWeights): official checkpoints switch to 'official' and say so; posegrad files keep their variant", () => {
    tidy(() => {
      const demo = DEMO_MODELS.fasrnet!;
      const wPrev = toT(get('wPrev'), 'float64');
      const wNext = toT(get('wNext'), 'float64');
      const official = demo.build('tiny');
      official.module.toDtype('float64');
      const r = demo.loadWeights(official, zipSd);
      expect([...r]).toEqual([]);
      expect(r.notes).toEqual(["official checkpoint (no posegrad metadata): variant 'official' (switched: alignmentInputOrder 'paper' → 'official', offsetPaddingQuirk 'off' → 'batch')"]);
      const m = official.module as FaSRnet;
      expect(m.behaviour.variant).toBe('official');
      close(m.forwardHead(m.backbone(frames('float64')), wPrev, wNext).hFinal, 'official_batch/hFinal', F64);
      // a posegrad weights file records its configuration: the paper variant stays paper
      const meta = (cfg: FaSRnetConfig): Record<string, string> => ({ 'posegrad.module': 'FaSRnet', 'posegrad.config': JSON.stringify(cfg) });
      const own = demo.build('tiny');
      own.module.toDtype('float64');
      const ro = demo.loadWeights(own, zipSd, meta((own.module as FaSRnet).cfg));
      expect([[...ro], ro.notes, (own.module as FaSRnet).behaviour.variant]).toEqual([[], ["posegrad weights file: variant 'paper'"], 'paper']);
      close((own.module as FaSRnet).forwardHead(m.backbone(frames('float64')), wPrev, wNext).hFinal, 'eval/hFinal', F64);
      const rv = demo.loadWeights(own, zipSd, meta({ ...(own.module as FaSRnet).cfg, variant: 'official' }));
      expect(rv.notes).toEqual(["posegrad weights file: variant 'official' (switched: alignmentInputOrder 'paper' → 'official', offsetPaddingQuirk 'off' → 'batch')"]);
      expect(() => demo.loadWeights(own, zipSd, meta(fasrnetPreset('tiny', { offsetPaddingQuirk: 'sample' })))).toThrow(
        /^expected a FaSRnet of variant 'paper' or 'official', got a weights file recording alignmentInputOrder 'paper' and offsetPaddingQuirk 'sample'$/,
      );
    });
  });
});
