/**
 * VREMD's cost model: parameter counts and multiply-accumulates (MACs) computed from a configuration
 * alone. The tests check both against the built model (`numParameters`) and against `countMacsOf`
 * on a real forward pass at the `tiny` and `small` presets, where they agree exactly; the `paper`
 * preset's figures come from these formulas, because a forward pass of ViT-L on three 256x192 frames
 * takes minutes on the cpu backend.
 *
 * MACs follow `countMacsOf`'s convention (and the pose papers' "GFLOPs"): conv2d, convTranspose2d,
 * matmul/linear and attention (q·kᵀ and ·v) are counted; elementwise ops, norms, softmax and
 * gridSample (DCA's bilinear sampling: B·heads·N·points·4 reads of 2d channels) are not.
 */
import type { VREMDConfig } from './config.js';
import { vremdSizes } from './config.js';

/** Parameters of a pre-norm TransformerBlock of width D with MLP hidden h. */
export function blockParams(D: number, h: number): number {
  return 4 * D * D + 2 * D * h + 9 * D + h;
}

/** MACs of a TransformerBlock over `seqs` sequences of L tokens (linears + attention). */
export function blockMacs(seqs: number, L: number, D: number, h: number): number {
  return seqs * L * (4 * D * D + 2 * D * h) + 2 * seqs * L * L * D;
}

export interface VREMDParamCount {
  backbone: number;
  humanMask: number;
  keypointMask: number;
  spatioTemporal: number;
  tokenReduction: number;
  bmd: number;
  tokenHead: number;
  motionHead: number;
  frozen: number;
  trainable: number;
  total: number;
}

function tokenHeadDims(D: number, hw: number): { twoLayer: boolean; hidden: number } {
  const hidden = Math.floor(hw / 8);
  return { twoLayer: D <= hidden * 0.5, hidden };
}

function paperOnly(op: string, cfg: VREMDConfig): void {
  if (cfg.featureBackbone) throw new Error(`${op}: expected a configuration without featureBackbone (a frozen ViT over the frames), got a '${cfg.featureBackbone.kind}' featureBackbone (count the built model instead: parameterCounts(), countMacsOf)`);
}

/**
 * Parameter counts per part (the backbone frozen, the rest trainable).
 * @throws Error for a configuration with a featureBackbone (count the built model).
 */
export function vremdParamCount(cfg: VREMDConfig): VREMDParamCount {
  paperOnly('vremdParamCount', cfg);
  const { D, N, T, J, heatmap } = vremdSizes(cfg);
  const bb = cfg.backbone;
  const p = bb.patchSize ?? 16;
  const h = Math.floor(D * cfg.mlpRatio);
  const blk = blockParams(D, h);
  const backbone = D * ((bb.inChannels ?? 3) * p * p + 1) + (N + 1) * D + bb.depth * blockParams(D, Math.floor(D * (bb.mlpRatio ?? 4))) + 2 * D;
  const hkme = cfg.hkme !== false;
  const humanMask = hkme && cfg.humanMask !== false ? T * D + cfg.humanDepth * blk : 0;
  const keypointMask = hkme ? T * J * D + cfg.keypointDepth * blk : 0;
  const spatioTemporal = hkme ? (cfg.spatialDepth + cfg.temporalDepth) * blk : 0;
  const hid = cfg.reductionHidden ?? N;
  const tokenReduction = hkme ? T * N * hid + hid + hid * N + N : 0;
  let bmd = 0;
  if (cfg.bmd !== false) {
    const k = cfg.dca.kernelSize;
    const hp2 = cfg.dca.heads * cfg.dca.points * 2;
    const dca = 4 * (D * D + D) + 2 * D * k * k + 2 * D + 2 * D * hp2 + hp2;
    const mha = 4 * D * D + 4 * D;
    const m = Math.round(cfg.adcMlpRatio * D);
    const branch = 8 * D + dca + mha + 2 * D * m + m + m * D + D;
    bmd = cfg.adcDepth * branch * (cfg.shareDirections ? 1 : 2) + 4 * D + 2 * D * D + D;
  }
  const hw = heatmap[0] * heatmap[1];
  const th = tokenHeadDims(D, hw);
  const tokenHead = hkme ? (th.twoLayer ? 2 * D + D * th.hidden + th.hidden + 2 * th.hidden + th.hidden * hw + hw : 2 * D + D * hw + hw) : 0;
  let motionHead = 0;
  let c = D;
  for (let i = 0; i < (cfg.headLayers ?? 2); i++) {
    motionHead += c * cfg.headChannels * 16 + 2 * cfg.headChannels;
    c = cfg.headChannels;
  }
  motionHead += c * J + J;
  const trainable = humanMask + keypointMask + spatioTemporal + tokenReduction + bmd + tokenHead + motionHead;
  return { backbone, humanMask, keypointMask, spatioTemporal, tokenReduction, bmd, tokenHead, motionHead, frozen: backbone, trainable, total: backbone + trainable };
}

export interface VREMDMacs {
  /** The frozen backbone on all 3 frames (0 when tokens are given). */
  backbone: number;
  hkme: number;
  bmd: number;
  heads: number;
  /** Everything after the backbone. */
  vremd: number;
  total: number;
}

/**
 * MACs of one forward pass for a batch of B samples (3 frames each). With `fromTokens` the backbone
 * is not run (cached features).
 * @throws Error for a configuration with a featureBackbone (count the built model).
 */
export function vremdMacs(cfg: VREMDConfig, B = 1, opts: { fromTokens?: boolean } = {}): VREMDMacs {
  paperOnly('vremdMacs', cfg);
  const { D, N, T, J, heatmap, grid } = vremdSizes(cfg);
  const bb = cfg.backbone;
  const p = bb.patchSize ?? 16;
  const backbone = opts.fromTokens ? 0 : T * (B * D * N * (bb.inChannels ?? 3) * p * p + bb.depth * blockMacs(B, N, D, Math.floor(D * (bb.mlpRatio ?? 4))));
  const h = Math.floor(D * cfg.mlpRatio);
  let hkme = 0;
  if (cfg.hkme !== false) {
    if (cfg.humanMask !== false) hkme += cfg.humanDepth * blockMacs(B * T, N + 1, D, h) + B * T * N * D;
    hkme += cfg.keypointDepth * blockMacs(B, T * (N + J), D, h) + B * T * J * T * N * D;
    hkme += cfg.spatialDepth * blockMacs(B * T, N, D, h) + cfg.temporalDepth * blockMacs(B * N, T, D, h);
    const hid = cfg.reductionHidden ?? N;
    hkme += B * D * (T * N * hid + hid * N);
  }
  let bmd = 0;
  if (cfg.bmd !== false) {
    const k = cfg.dca.kernelSize;
    const P = cfg.dca.points;
    const hp2 = cfg.dca.heads * P * 2;
    const dca = 4 * B * N * D * D + B * 2 * D * N * k * k + B * N * 2 * D * hp2 + 2 * B * N * P * D;
    const mha = 4 * B * N * D * D + 2 * B * N * N * D;
    const m = Math.round(cfg.adcMlpRatio * D);
    const branch = dca + mha + B * N * (2 * D * m + m * D);
    bmd = cfg.adcDepth * 2 * branch + B * N * 2 * D * D;
  }
  let heads = 0;
  const hw = heatmap[0] * heatmap[1];
  if (cfg.hkme !== false) {
    const th = tokenHeadDims(D, hw);
    heads += B * J * (th.twoLayer ? D * th.hidden + th.hidden * hw : D * hw);
  }
  let c = D;
  let [hh, ww] = grid;
  for (let i = 0; i < (cfg.headLayers ?? 2); i++) {
    heads += B * c * hh * ww * cfg.headChannels * 16;
    c = cfg.headChannels;
    hh *= 2;
    ww *= 2;
  }
  heads += B * J * hh * ww * c;
  const vremd = hkme + bmd + heads;
  return { backbone, hkme, bmd, heads, vremd, total: backbone + vremd };
}
