/**
 * GLPose modules: the local weights (Eq. 2) and the global ranking/selection/weights (Eq. 3) against
 * host-computed values, float64 gradchecks of every paper module (local weighting, global ranking and
 * weighting of the selected features, Feature Processing, Feature Enhancement, head), and the
 * errors on bad input.
 */
import { describe, expect, it } from 'vitest';
import { manualSeed, tidy } from '../../engine/engine.js';
import type { Tensor } from '../../engine/tensor.js';
import { randn, tensor } from '../../ops/creation.js';
import { reshape, slice } from '../../ops/shape.js';
import { Conv2d } from '../../models/nn/layers.js';
import { FeatureEnhancement, FeatureProcessing, defaultLocalOffsets, gap, localDistanceWeights, rankGlobalProposals, weightLocalFeatures } from '../../models/glpose/index.js';
import { assertClose } from '../helpers/close.js';
import { gradcheck } from '../helpers/gradcheck.js';
import { randomize } from './helpers.js';

const GC = { atol: 1e-7, rtol: 1e-5 };

describe('local weights W_l (Eq. 2)', () => {
  it('are the normalized inverse temporal distances, per sample, summing to 1', () => {
    expect(defaultLocalOffsets(3)).toEqual([-1, 1, -2, 2, -3, 3]);
    const w = localDistanceWeights(defaultLocalOffsets(4), 1, 8);
    const inv = [1, 1, 1 / 2, 1 / 2, 1 / 3, 1 / 3, 1 / 4, 1 / 4];
    const tot = inv.reduce((a, b) => a + b, 0);
    assertClose(w, inv.map((v) => v / tot), { atol: 1e-15, rtol: 0 }, 'W_l k=4');
    // nearer frames weigh more
    for (let j = 2; j < 8; j++) expect(w[j]!).toBeLessThan(w[j - 2]!);
    // per-sample offsets; a frame clamped onto the key frame (Δt = 0) counts as distance 1
    const per = localDistanceWeights([[-1, 1], [-2, 1], [0, 1]], 3, 2);
    assertClose(per, [0.5, 0.5, 1 / 3, 2 / 3, 0.5, 0.5], { atol: 1e-15, rtol: 0 }, 'per sample');
  });

  it('reject lists of the wrong length and non-finite offsets', () => {
    expect(() => localDistanceWeights([-1, 1, 2], 1, 2)).toThrow('localDistanceWeights: expected 2 local offsets, got 3');
    expect(() => localDistanceWeights([[-1, 1]], 2, 2)).toThrow('localDistanceWeights: expected 2 offset lists (one per sample), got 1');
    expect(() => localDistanceWeights([-1, NaN], 1, 2)).toThrow('localDistanceWeights: expected finite temporal offsets, got NaN');
  });

  it('weighting passes a float64 gradcheck', () => {
    manualSeed(1);
    tidy(() => {
      const w = localDistanceWeights([[-1, 1, -2, 2], [-1, 3, -2, 2]], 2, 4);
      gradcheck((vl) => weightLocalFeatures(vl, w), [randn([2, 4, 3, 2, 3], { dtype: 'float64' })], GC);
    });
  });
});

describe('global ranking and weights W_g (Eq. 3, top-n of G)', () => {
  /** Host reference: dot scores of GAP vectors, descending order, softmax over the kept scores. */
  function reference(vt: Tensor, vg: Tensor, n: number, cosine: boolean): { scores: number[][]; order: number[][]; weights: number[][] } {
    const [B, G, C, h, w] = vg.shape as [number, number, number, number, number];
    const t = vt.dataSync();
    const g = vg.dataSync();
    const mean = (arr: ArrayLike<number>, off: number): number => {
      let s = 0;
      for (let i = 0; i < h * w; i++) s += arr[off + i]!;
      return s / (h * w);
    };
    const scores: number[][] = [];
    const order: number[][] = [];
    const weights: number[][] = [];
    for (let b = 0; b < B; b++) {
      const gt = Array.from({ length: C }, (_, c) => mean(t, (b * C + c) * h * w));
      const row: number[] = [];
      const rank: number[] = [];
      for (let j = 0; j < G; j++) {
        const gg = Array.from({ length: C }, (_, c) => mean(g, ((b * G + j) * C + c) * h * w));
        const dot = gg.reduce((s, v, c) => s + v * gt[c]!, 0);
        row.push(dot);
        const norm = (a: number[]): number => Math.sqrt(a.reduce((s, v) => s + v * v, 0));
        rank.push(cosine ? dot / (norm(gg) * norm(gt)) : dot);
      }
      const o = row.map((_, j) => j).sort((a, c) => rank[c]! - rank[a]!).slice(0, n);
      const m = Math.max(...o.map((j) => row[j]!));
      const e = o.map((j) => Math.exp(row[j]! - m));
      const z = e.reduce((a, c) => a + c, 0);
      scores.push(row);
      order.push(o);
      weights.push(e.map((v) => v / z));
    }
    return { scores, order, weights };
  }

  it('keep the n most similar candidates, best first, with softmax weights over the kept scores', () => {
    manualSeed(2);
    tidy(() => {
      const vt = randn([2, 5, 3, 4], { dtype: 'float64' });
      const vg = randn([2, 6, 5, 3, 4], { dtype: 'float64' });
      for (const rankBy of ['dot', 'cosine'] as const) {
        const sel = rankGlobalProposals(vt, vg, 4, rankBy);
        const ref = reference(vt, vg, 4, rankBy === 'cosine');
        assertClose(sel.scores.dataSync(), ref.scores.flat(), { atol: 1e-14, rtol: 1e-12 }, 'scores');
        expect(Array.from(sel.indices.dataSync()), rankBy).toEqual(ref.order.flat());
        assertClose(sel.weights.dataSync(), ref.weights.flat(), { atol: 1e-14, rtol: 1e-12 }, 'weights');
        expect(sel.selected.shape).toEqual([2, 4, 5, 3, 4]);
        // selected[b, i] is exactly candidate order[b][i]; weighted = W_g · selected
        const s = sel.selected.dataSync();
        const g = vg.dataSync();
        const wd = sel.weighted.dataSync();
        const per = 5 * 3 * 4;
        ref.order.forEach((o, b) => o.forEach((j, i) => {
          for (let e = 0; e < per; e++) {
            expect(s[(b * 4 + i) * per + e]).toBe(g[(b * 6 + j) * per + e]);
            expect(wd[(b * 4 + i) * per + e]).toBeCloseTo(g[(b * 6 + j) * per + e]! * ref.weights[b]![i]!, 14);
          }
        }));
      }
      // The rankings differ: the dot product favours a large aligned vector, the cosine the direction.
      const key = tensor([1, 0], { dtype: 'float64', shape: [1, 2, 1, 1] });
      const cands = tensor([3, 3, 1, 0.1], { dtype: 'float64', shape: [1, 2, 2, 1, 1] });
      expect(Array.from(rankGlobalProposals(key, cands, 1, 'dot').indices.dataSync())).toEqual([0]);
      expect(Array.from(rankGlobalProposals(key, cands, 1, 'cosine').indices.dataSync())).toEqual([1]);
    });
  });

  it('GAP is the spatial mean', () => {
    tidy(() => {
      const v = tensor([1, 2, 3, 4, 10, 20, 30, 40], { dtype: 'float64', shape: [1, 2, 2, 2] });
      expect(Array.from(gap(v).dataSync())).toEqual([2.5, 25]);
    });
  });

  it('passes a float64 gradcheck through the kept features and the weights (dot and cosine ranking)', () => {
    manualSeed(3);
    tidy(() => {
      const vt = randn([2, 3, 2, 3], { dtype: 'float64' });
      const vg = randn([2, 4, 3, 2, 3], { dtype: 'float64' });
      for (const rankBy of ['dot', 'cosine'] as const) {
        gradcheck((a, b) => {
          const s = rankGlobalProposals(a, b, 2, rankBy);
          return [s.weighted, s.weights];
        }, [vt, vg], GC);
      }
    });
  });

  it('gives unselected candidates exactly zero gradient', () => {
    manualSeed(4);
    tidy(() => {
      const vt = randn([1, 3, 2, 2], { dtype: 'float64' }).requiresGrad_(true);
      const vg = randn([1, 5, 3, 2, 2], { dtype: 'float64' }).requiresGrad_(true);
      const s = rankGlobalProposals(vt, vg, 2);
      const kept = Array.from(s.indices.dataSync());
      s.weighted.backward(randn(s.weighted.shape, { dtype: 'float64' }));
      const g = vg.grad!.dataSync();
      for (let j = 0; j < 5; j++) {
        const block = Array.from(g.subarray(j * 12, (j + 1) * 12));
        if (kept.includes(j)) expect(block.some((v) => v !== 0), `candidate ${j}`).toBe(true);
        else expect(block.every((v) => v === 0), `candidate ${j}`).toBe(true);
      }
    });
  });

  it('rejects mismatched shapes and n outside [1, G]', () => {
    tidy(() => {
      const vt = randn([2, 3, 2, 2]);
      expect(() => rankGlobalProposals(vt, randn([2, 4, 3, 2, 2]), 5)).toThrow('rankGlobalProposals: expected n in [1, 4] (the number of candidates), got 5');
      expect(() => rankGlobalProposals(vt, randn([2, 4, 3, 2, 2]), 0)).toThrow('rankGlobalProposals: expected n in [1, 4] (the number of candidates), got 0');
      expect(() => rankGlobalProposals(vt, randn([2, 4, 5, 2, 2]), 2)).toThrow('rankGlobalProposals: expected global features [2, G, 3, 2, 2], got shape [2, 4, 5, 2, 2]');
      expect(() => rankGlobalProposals(randn([2, 3, 4]), randn([2, 4, 3, 2, 2]), 2)).toThrow('rankGlobalProposals: expected key features of rank 4 [B, C, h, w], got shape [2, 3, 4]');
      expect(() => rankGlobalProposals(vt, randn([2, 4, 3, 2, 2]), 2, 'l2' as 'dot')).toThrow("rankGlobalProposals: expected rankBy 'dot' or 'cosine', got l2");
      const gone = randn([2, 4, 3, 2, 2]);
      gone.dispose();
      expect(() => rankGlobalProposals(vt, gone, 2)).toThrow(/rankGlobalProposals: expected global features to be a live tensor, got tensor #\d+ float32\[2, 4, 3, 2, 2\], which was disposed/);
    });
  });
});

describe('Feature Processing (Eq. 4)', () => {
  it('concatenates V_t, W_l·V_l and W_g·V_g frame by frame and projects (1+2k+n)·C → Cs with 3 BasicBlocks', () => {
    manualSeed(5);
    tidy(() => {
      const fp = new FeatureProcessing(3, 5, 4);
      expect(fp.inChannels).toBe(15);
      expect(fp.blocks.layers.length).toBe(3);
      expect([...fp.stateDict().keys()].filter((k) => k.includes('downsample'))).toEqual([
        'blocks.0.downsample.0.weight', 'blocks.0.downsample.1.weight', 'blocks.0.downsample.1.bias', 'blocks.0.downsample.1.running_mean', 'blocks.0.downsample.1.running_var', 'blocks.0.downsample.1.num_batches_tracked',
      ]);
      const vt = randn([2, 3, 4, 4]);
      const loc = randn([2, 2, 3, 4, 4]);
      const glo = randn([2, 2, 3, 4, 4]);
      const x = fp.aggregate(vt, loc, glo);
      expect(x.shape).toEqual([2, 15, 4, 4]);
      // channel block f of sample b is frame f: [V_t, local 0, local 1, global 0, global 1]
      const frames = [vt, slice(loc, 1, 0, 1), slice(loc, 1, 1, 2), slice(glo, 1, 0, 1), slice(glo, 1, 1, 2)];
      frames.forEach((t, f) => assertClose(slice(x, 1, 3 * f, 3 * f + 3).dataSync(), reshape(t, [2, 3, 4, 4]).dataSync(), { atol: 0, rtol: 0 }, `frame ${f}`));
      expect(fp.forward(vt, loc, glo).shape).toEqual([2, 4, 4, 4]);
    });
  });

  it('passes a float64 gradcheck (training mode, batch statistics)', () => {
    manualSeed(6);
    tidy(() => {
      const fp = new FeatureProcessing(2, 4, 3);
      randomize(fp);
      fp.train();
      gradcheck((vt, l, g) => fp.forward(vt, l, g), [randn([2, 2, 3, 3], { dtype: 'float64' }), randn([2, 2, 2, 3, 3], { dtype: 'float64' }), randn([2, 1, 2, 3, 3], { dtype: 'float64' })], { ...GC, maxPerInput: 24 });
      fp.dispose();
    });
  });

  it('rejects a frame count or shape that does not match', () => {
    tidy(() => {
      const fp = new FeatureProcessing(3, 5, 4);
      expect(() => fp.forward(randn([2, 3, 4, 4]), randn([2, 2, 3, 4, 4]), randn([2, 1, 3, 4, 4]))).toThrow('FeatureProcessing: expected 5 frames (15 channels) in all, got 4 frames');
      expect(() => fp.forward(randn([2, 3, 4, 4]), randn([2, 2, 3, 4, 5]), null)).toThrow('FeatureProcessing: expected local features [2, frames, 3, 4, 4], got shape [2, 2, 3, 4, 5]');
      expect(() => fp.forward(randn([2, 2, 4, 4]), null, null)).toThrow('FeatureProcessing: expected key features [B, 3, h, w], got shape [2, 2, 4, 4]');
    });
  });
});

describe('Feature Enhancement (Eq. 5)', () => {
  it('masks S with 1 − σ(ψ(V_t)), one value per pixel, and aggregates it with V_t', () => {
    manualSeed(7);
    tidy(() => {
      const fe = new FeatureEnhancement(4, 3, 3);
      randomize(fe, 'float32');
      fe.eval();
      const s = randn([2, 4, 5, 6]);
      const vt = randn([2, 3, 5, 6]);
      const out = fe.forward(s, vt);
      expect(out.enhanced.shape).toEqual([2, 3, 5, 6]);
      expect(out.mask.shape).toEqual([2, 1, 5, 6]);
      const m = out.mask.dataSync();
      const logits = fe.psi.forward(vt).dataSync();
      for (let i = 0; i < m.length; i++) expect(m[i]).toBeCloseTo(1 - 1 / (1 + Math.exp(-logits[i]!)), 6);
      // 𝒜 sees exactly [M ⊙ S, V_t]: masking S to zero leaves only V_t's contribution
      const zeroS = fe.forward(tensor(new Float32Array(2 * 4 * 30), { shape: [2, 4, 5, 6] }), vt).enhanced.dataSync();
      expect(Array.from(out.enhanced.dataSync())).not.toEqual(Array.from(zeroS));
    });
  });

  it('passes a float64 gradcheck for S and V_t (training mode)', () => {
    manualSeed(8);
    tidy(() => {
      const fe = new FeatureEnhancement(3, 2, 2);
      randomize(fe);
      fe.train();
      gradcheck((s, vt) => {
        const o = fe.forward(s, vt);
        return [o.enhanced, o.mask];
      }, [randn([2, 3, 3, 4], { dtype: 'float64' }), randn([2, 2, 3, 4], { dtype: 'float64' })], { ...GC, maxPerInput: 36 });
      fe.dispose();
    });
  });

  it('rejects an S that does not match V_t', () => {
    tidy(() => {
      const fe = new FeatureEnhancement(4, 3, 3);
      expect(() => fe.forward(randn([2, 4, 5, 5]), randn([2, 3, 5, 6]))).toThrow('FeatureEnhancement: expected S of shape [2, 4, 5, 6], got shape [2, 4, 5, 5]');
      expect(() => fe.forward(randn([2, 4, 5, 6]), randn([2, 4, 5, 6]))).toThrow('FeatureEnhancement: expected key features [B, 3, h, w], got shape [2, 4, 5, 6]');
    });
  });
});

describe('head (3x3 conv)', () => {
  it('passes a float64 gradcheck for F', () => {
    manualSeed(9);
    tidy(() => {
      const head = new Conv2d(3, 5, 3, { padding: 1 });
      randomize(head);
      gradcheck((f) => head.forward(f), [randn([1, 3, 4, 5], { dtype: 'float64' })], GC);
      head.dispose();
    });
  });
});
