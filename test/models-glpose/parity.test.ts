/**
 * GLPose against PyTorch (test/reference/glpose.py: the same architecture at the tiny preset, B = 2,
 * 64x64 crops, k = 1, n = 2 kept of G = 3, per-sample local offsets [[-1, 1], [-2, 1]]):
 * - the seeded weights load from both .pth containers (zip and legacy) key for key (strict), with
 *   the model's keys in PyTorch's order, and the two containers hold identical values;
 * - eval mode: heatmaps, S, F, the activeness mask, the candidate scores, the selected indices, W_g
 *   and W_l; the gradients of Σ heatmaps·gout for the input crops (sample 0's key crop in full, and
 *   three projections of every crop's gradient, which pin the unselected candidates' zero gradient)
 *   and for 9 parameters across the backbone, Feature Processing, Feature Enhancement and head;
 * - train mode (BatchNorm on the batch statistics of all 12 crops at once): per-map heatmap sums, S,
 *   the loss (Eq. 6 as JointsMSELoss), 9 parameter gradients and 4 running statistics after the step;
 * - eval mode in float32: heatmaps and the same selection.
 * Tolerances: float64 atol 1e-10 + rtol 1e-8 (the reference is float64 too: the differences are
 * summation order); values stored as float32 (heatmaps, the key-crop gradient) rtol 1e-6 + atol
 * 1e-6·max|ref|; float32 run atol 1e-4 + rtol 1e-3 on heatmaps of size O(1).
 */
import { describe, expect, it } from 'vitest';
import { tidy } from '../../engine/engine.js';
import type { Tensor } from '../../engine/tensor.js';
import { tensor } from '../../ops/creation.js';
import { mul } from '../../ops/elementwise.js';
import { sum } from '../../ops/reduce.js';
import { reshape, slice } from '../../ops/shape.js';
import { extractStateDict, loadInto, loadPth, type StateDict } from '../../models/nn/checkpoint/index.js';
import { readSafetensors, type HostTensor } from '../../models/nn/safetensors.js';
import { createGLPose, glposeLoss, type GLPose, type GLPoseInput } from '../../models/glpose/index.js';
import { assertClose, type Tol } from '../helpers/close.js';
import { parityFrames, parityTarget, readFixture, upstream } from './helpers.js';

type Float = 'float64' | 'float32';
const F64: Tol = { atol: 1e-10, rtol: 1e-8 };
const F32: Tol = { atol: 1e-4, rtol: 1e-3 };

const fx = readSafetensors(readFixture('glpose.safetensors'));
const B = Number(fx.metadata.B);
const H = Number(fx.metadata.H);
const W = Number(fx.metadata.W);
const OFFSETS = JSON.parse(fx.metadata.offsets!) as number[][];
const T = 6;
function get(k: string): HostTensor {
  const t = fx.tensors.get(k);
  if (!t) throw new Error(`glpose fixture: no tensor '${k}'`);
  return t;
}
const zipSd = extractStateDict(loadPth(readFixture('glpose_tiny.zip.pth')));
const legacySd = extractStateDict(loadPth(readFixture('glpose_tiny.legacy.pth')));

function build(sd: StateDict, dtype: Float): GLPose {
  const m = createGLPose('tiny').toDtype(dtype);
  const r = loadInto(m, sd);
  expect(r.missingKeys).toEqual([]);
  expect(r.unexpectedKeys).toEqual([]);
  return m;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

function close(t: Tensor | ArrayLike<number>, key: string, tol: Tol | 'stored32'): void {
  const e = get(key);
  const values = 'dataSync' in t ? t.dataSync() : t;
  if ('shape' in t) expect(t.shape, key).toEqual(e.shape);
  const tl = tol === 'stored32' ? { atol: 1e-6 * maxAbs(e.data), rtol: 1e-6 } : tol;
  assertClose(values, e.data, tl, key);
}

/** The crops as leaves (requiresGrad when `grad`), split as glposeInputsFromFrames does. */
function inputs(dtype: Float, grad: boolean): GLPoseInput & { key: Tensor; locals: Tensor; globals: Tensor } {
  const clip = parityFrames(B, T, H, W, dtype);
  const leaf = (t: Tensor): Tensor => (grad ? t.detach().requiresGrad_(true) : t);
  return {
    key: leaf(reshape(slice(clip, 1, 0, 1), [B, 3, H, W])),
    locals: leaf(slice(clip, 1, 1, 3)),
    globals: leaf(slice(clip, 1, 3, 6)),
    localOffsets: OFFSETS,
  };
}

describe('GLPose checkpoints', () => {
  it('the zip and legacy .pth files hold the same state dict, key for key with the model, in PyTorch order', () => {
    expect([...zipSd.keys()]).toEqual([...legacySd.keys()]);
    for (const [k, v] of zipSd) {
      const w = legacySd.get(k)!;
      expect(w.shape, k).toEqual(v.shape);
      expect(Array.from(w.data), k).toEqual(Array.from(v.data));
    }
    const m = createGLPose('tiny');
    expect([...zipSd.keys()]).toEqual([...m.stateDict().keys()]);
    for (const k of ['backbone.stage3.0.fuse_layers.2.0.1.0.weight', 'backbone.final_layer.bias', 'feature_processing.blocks.0.downsample.0.weight', 'feature_processing.blocks.2.bn2.running_var', 'feature_enhancement.psi.3.bias', 'feature_enhancement.aggregation.1.conv2.weight', 'head.weight']) {
      expect(zipSd.has(k), k).toBe(true);
    }
    m.dispose();
  });

  it('a model of another configuration refuses the checkpoint, naming the keys', () => {
    const m = createGLPose('tiny', { processingBlocks: 2 });
    expect(() => loadInto(m, zipSd)).toThrow(/loadStateDict: expected the model's keys, got 0 missing \[\] and \d+ unexpected \[feature_processing\.blocks\.2\./);
    m.dispose();
    const m2 = createGLPose('tiny', { localFrames: 2 });
    expect(() => loadInto(m2, zipSd)).toThrow(/loadStateDict: expected 'feature_processing\.blocks\.0\.conv1\.weight' of shape \[4, 28, 3, 3\], got \[4, 20, 3, 3\]/);
    m2.dispose();
  });
});

describe('GLPose matches PyTorch (tiny, B = 2, 64x64)', () => {
  it('evaluates the same closed-form crops', () => {
    tidy(() => {
      const clip = parityFrames(B, T, H, W).dataSync();
      let s = 0;
      let s2 = 0;
      let r = 0;
      for (let i = 0; i < clip.length; i++) {
        const v = clip[i]!;
        s += v;
        s2 += v * v;
        r += (v * i) / clip.length;
      }
      assertClose([s, s2, r], get('clip_checksum').data, { atol: 1e-9, rtol: 1e-12 }, 'clip checksum');
    });
  });

  it('eval mode: heatmaps, intermediates, selection, input and parameter gradients (float64)', () => {
    tidy(() => {
      const m = build(legacySd, 'float64').eval();
      const x = inputs('float64', true);
      const out = m.forwardDetailed(x);
      close(out.heatmaps, 'eval/heatmaps', 'stored32');
      close(out.s, 'eval/s', F64);
      close(out.f, 'eval/f', F64);
      close(out.mask!, 'eval/mask', F64);
      close(out.globalScores!, 'eval/scores', F64);
      close(out.globalWeights!, 'eval/wg', F64);
      close(out.localWeights, 'eval/wl', F64);
      expect(Array.from(out.globalIndices!.dataSync())).toEqual(Array.from(get('eval/indices').data));
      // The fixture's selections differ per sample ([2, 1] and [0, 1]): batch indexing matters.
      expect(Array.from(get('eval/indices').data)).toEqual([2, 1, 0, 1]);
      sum(mul(out.heatmaps, upstream(out.heatmaps.shape))).backward();
      close(slice(x.key.grad!, 0, 0, 1).dataSync(), 'eval/grad_key0', 'stored32');
      // Projections [B, T, 3]: Σg, Σg·ramp, Σg² per crop, crops in frames.ts order.
      const proj = new Float64Array(B * T * 3);
      const ramp = (i: number): number => i / (3 * H * W);
      const crop = (b: number, t: number): Float64Array => {
        const src = t === 0 ? x.key.grad! : t < 3 ? x.locals.grad! : x.globals.grad!;
        const per = 3 * H * W;
        const idx = t === 0 ? b : t < 3 ? b * 2 + (t - 1) : b * 3 + (t - 3);
        return (src.dataSync() as Float64Array).subarray(idx * per, (idx + 1) * per);
      };
      for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) {
        const g = crop(b, t);
        let s = 0;
        let sr = 0;
        let s2 = 0;
        for (let i = 0; i < g.length; i++) {
          s += g[i]!;
          sr += g[i]! * ramp(i);
          s2 += g[i]! * g[i]!;
        }
        proj.set([s, sr, s2], (b * T + t) * 3);
      }
      close(proj, 'eval/grad_proj', F64);
      // The unselected candidate of each sample (sample 0: candidate 0, frame 3; sample 1: candidate 2, frame 5) gets exactly zero.
      expect(proj[(0 * T + 3) * 3 + 2]).toBe(0);
      expect(proj[(1 * T + 5) * 3 + 2]).toBe(0);
      expect(proj[(0 * T + 4) * 3 + 2]).toBeGreaterThan(0);
      const params = new Map(m.namedParameters());
      let n = 0;
      for (const key of fx.tensors.keys()) {
        if (!key.startsWith('eval/pgrad/')) continue;
        close(params.get(key.slice('eval/pgrad/'.length))!.grad!, key, F64);
        n++;
      }
      expect(n).toBe(9);
    });
  });

  it('train mode: batch statistics over all crops, loss, parameter gradients, running statistics (float64)', () => {
    tidy(() => {
      const m = build(zipSd, 'float64').train();
      const out = m.forwardDetailed(inputs('float64', false));
      close(sum(out.heatmaps, [2, 3]), 'train/heatmap_sums', F64);
      close(out.s, 'train/s', F64);
      expect(Array.from(out.globalIndices!.dataSync())).toEqual(Array.from(get('train/indices').data));
      const tw = tensor(get('train/target_weight').data, { dtype: 'float64', shape: get('train/target_weight').shape });
      const loss = glposeLoss(out.heatmaps, parityTarget(out.heatmaps.shape), tw);
      close(reshape(loss, [1]), 'train/loss', F64);
      loss.backward();
      const params = new Map(m.namedParameters());
      const bufs = new Map(m.namedBuffers());
      let n = 0;
      let nb = 0;
      for (const key of fx.tensors.keys()) {
        if (key.startsWith('train/pgrad/')) {
          close(params.get(key.slice('train/pgrad/'.length))!.grad!, key, F64);
          n++;
        } else if (key.startsWith('train/after/')) {
          close(bufs.get(key.slice('train/after/'.length))!, key, F64);
          nb++;
        }
      }
      expect([n, nb]).toEqual([9, 4]);
    });
  });

  it('eval mode in float32: heatmaps and selection', () => {
    tidy(() => {
      const m = build(zipSd, 'float32').eval();
      const out = m.forwardDetailed(inputs('float32', false));
      expect(out.heatmaps.dtype).toBe('float32');
      close(out.heatmaps, 'eval/heatmaps', F32);
      expect(Array.from(out.globalIndices!.dataSync())).toEqual(Array.from(get('eval/indices').data));
    });
  });
});
