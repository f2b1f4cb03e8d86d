/**
 * GLPose similarity definition (Jiao et al., "GLPose: Global-Local Representation Learning for
 * Human Pose Estimation", ACM TOMM 2022, Sec. 3.1): the weights of the local frames (Eq. 2) and
 * the ranking, selection and weights of the global (non-local) proposals (Eq. 3 and Sec. 3.3,
 * "Frame Sampling"). None of this has parameters; the paper gives the forms only loosely, and the
 * choices below are recorded in docs/models/glpose.md.
 *
 * Local (Eq. 2, W_l = 𝒯(F_l, F_t)): the paper asks for weights that grow as the temporal distance to
 * the key frame shrinks and leaves 𝒯 unstated. We use the normalized inverse distance
 *     w_j = (1 / d_j) / Σ_m (1 / d_m),   d_j = max(|Δt_j|, 1),
 * over the 2k local frames of a sample, so the weights sum to 1 like the softmax of Eq. 3. A local
 * frame clamped onto the key frame at a clip border (Δt = 0) counts as distance 1. The weights are
 * constants: no gradient flows through them.
 *
 * Global (Eq. 3, W_g = Softmax(φ(V_g) ⊙ φ(V_t)), φ = GAP): ⊙ followed by a sum over channels, i.e.
 * the dot product of the two GAP vectors, s_g = Σ_c GAP(V_g)_c · GAP(V_t)_c, one score per
 * candidate. Ranking (Sec. 3.3): the G candidates are sorted by a similarity to the key frame and
 * the top n kept, in descending order. With `rankBy = 'dot'` (default) the ranking uses the same
 * score s_g as Eq. 3, so the kept ones are also the n largest softmax weights over all candidates;
 * `'cosine'` ranks by the cosine of the GAP vectors instead (scale-free). Either way the selection
 * itself is a discrete choice: it is not differentiable, and gradients flow only through the
 * selected candidates' features (and through V_t), both via their features and via the weights
 * W_g = softmax over the n selected scores s_g.
 */
import type { Tensor } from '../../engine/tensor.js';
import { tensor } from '../../ops/creation.js';
import { mul } from '../../ops/elementwise.js';
import { cosineSimilarity } from '../../ops/normalization.js';
import { adaptiveAvgPool2d } from '../../ops/pooling.js';
import { sum } from '../../ops/reduce.js';
import { expand, gather, reshape, topk } from '../../ops/shape.js';
import { softmax } from '../../ops/softmax.js';
import { check, fail, fmtShape } from '../../ops/util.js';

/** The default temporal offsets of the 2k local frames, in frames.ts order: [-1, +1, -2, +2, ..., -k, +k]. */
export function defaultLocalOffsets(k: number): number[] {
  const out: number[] = [];
  for (let d = 1; d <= k; d++) out.push(-d, d);
  return out;
}

/**
 * The local-frame weights W_l of Eq. 2 as the normalized inverse temporal distance (see the file
 * comment): w_j = (1/max(|Δt_j|, 1)) / Σ_m (1/max(|Δt_m|, 1)).
 * @param offsets the signed offsets Δt (frames) of the 2k local frames, one list shared by the
 *   batch or one list per sample.
 * @returns host values [B, 2k] (row-major), each row summing to 1 (empty when k = 0).
 * @throws Error when a list has the wrong length or holds a non-finite value.
 */
export function localDistanceWeights(offsets: readonly number[] | readonly (readonly number[])[], batch: number, numLocal: number): Float64Array {
  const op = 'localDistanceWeights';
  const perSample = offsets.length > 0 && Array.isArray(offsets[0]);
  const rows = perSample ? (offsets as readonly (readonly number[])[]) : null;
  if (rows && rows.length !== batch) fail(op, `${batch} offset lists (one per sample)`, `${rows.length}`);
  const out = new Float64Array(batch * numLocal);
  for (let b = 0; b < batch; b++) {
    const row = rows ? rows[b]! : (offsets as readonly number[]);
    if (row.length !== numLocal) fail(op, `${numLocal} local offsets`, `${row.length}`);
    let total = 0;
    for (let j = 0; j < numLocal; j++) {
      const d = row[j]!;
      if (typeof d !== 'number' || !Number.isFinite(d)) fail(op, 'finite temporal offsets', String(d));
      const w = 1 / Math.max(Math.abs(d), 1);
      out[b * numLocal + j] = w;
      total += w;
    }
    for (let j = 0; j < numLocal; j++) out[b * numLocal + j]! /= total;
  }
  return out;
}

/**
 * W_l·V_l: scales each local frame's features by its weight.
 * Shapes: vl [B, 2k, C, h, w], weights [B, 2k] (host values or a tensor) → [B, 2k, C, h, w].
 * @throws Error when the shapes disagree.
 */
export function weightLocalFeatures(vl: Tensor, weights: Float64Array | Tensor): Tensor {
  const op = 'weightLocalFeatures';
  check(op, 'features', vl);
  if (vl.rank !== 5) fail(op, 'local features of rank 5 [B, 2k, C, h, w]', `shape ${fmtShape(vl.shape)}`);
  const [B, L] = vl.shape as [number, number];
  const w = weights instanceof Float64Array ? tensor(weights, { dtype: vl.dtype, device: vl.device, shape: [B, L] }) : weights;
  if (w.size !== B * L) fail(op, `weights of shape [${B}, ${L}]`, `shape ${fmtShape(w.shape)}`);
  return mul(vl, reshape(w, [B, L, 1, 1, 1]));
}

/** Global average pooling φ of Eq. 3: [N, C, h, w] → [N, C]. */
export function gap(v: Tensor): Tensor {
  if (v.rank !== 4) fail('gap', 'features of rank 4 [N, C, h, w]', `shape ${fmtShape(v.shape)}`);
  return reshape(adaptiveAvgPool2d(v, 1), [v.shape[0]!, v.shape[1]!]);
}

export type GlobalRanking = 'dot' | 'cosine';

export interface GlobalSelection {
  /** The dot-product scores s_g = GAP(V_g)·GAP(V_t) of all G candidates [B, G] (Eq. 3's logits). */
  scores: Tensor;
  /** Indices (int32, into the G candidates) of the n kept ones, best first [B, n]. */
  indices: Tensor;
  /** W_g = softmax over the n kept scores [B, n] (Eq. 3). */
  weights: Tensor;
  /** The kept candidates' features V_g, best first [B, n, C, h, w]. */
  selected: Tensor;
  /** W_g·V_g [B, n, C, h, w] (the global term of Eq. 4). */
  weighted: Tensor;
}

/**
 * Ranks G global candidates by similarity to the key frame, keeps the n best and weights them
 * (Eq. 3 with Sec. 3.3's top-n selection; see the file comment for the exact forms).
 * Shapes: vt [B, C, h, w], vg [B, G, C, h, w], 1 ≤ n ≤ G.
 * Differentiable in vt and vg, except for the (discrete) choice of indices.
 * @throws Error when the shapes disagree or n is not in [1, G].
 */
export function rankGlobalProposals(vt: Tensor, vg: Tensor, n: number, rankBy: GlobalRanking = 'dot'): GlobalSelection {
  const op = 'rankGlobalProposals';
  check(op, 'key features', vt);
  check(op, 'global features', vg);
  if (vt.rank !== 4) fail(op, 'key features of rank 4 [B, C, h, w]', `shape ${fmtShape(vt.shape)}`);
  const [B, C, h, w] = vt.shape as [number, number, number, number];
  if (vg.rank !== 5 || vg.shape[0] !== B || vg.shape[2] !== C || vg.shape[3] !== h || vg.shape[4] !== w) {
    fail(op, `global features [${B}, G, ${C}, ${h}, ${w}]`, `shape ${fmtShape(vg.shape)}`);
  }
  const G = vg.shape[1]!;
  if (!Number.isInteger(n) || n < 1 || n > G) fail(op, `n in [1, ${G}] (the number of candidates)`, String(n));
  const gt = reshape(gap(vt), [B, 1, C]);
  const gg = reshape(gap(reshape(vg, [B * G, C, h, w])), [B, G, C]);
  const scores = sum(mul(gg, gt), 2); // [B, G]
  const rankScores = rankBy === 'dot' ? scores : rankBy === 'cosine' ? cosineSimilarity(gg, gt, 2) : fail(op, "rankBy 'dot' or 'cosine'", String(rankBy));
  const { indices } = topk(rankScores.detach(), n, 1, true);
  const weights = softmax(gather(scores, 1, indices), 1);
  const idx = expand(reshape(indices, [B, n, 1, 1, 1]), [B, n, C, h, w]);
  const selected = gather(vg, 1, idx);
  const weighted = mul(selected, reshape(weights, [B, n, 1, 1, 1]));
  return { scores, indices, weights, selected, weighted };
}
