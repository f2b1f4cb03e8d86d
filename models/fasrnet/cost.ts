/**
 * Analytic parameter and multiply-accumulate (MAC) counts of FaSRnet and its HRNet backbone,
 * computed from the layer shapes (no forward pass), for the model card and the paper comparison.
 *
 * Convention: MACs of convolutions only, Cout·(Cin/groups)·kh·kw per output pixel, deformable
 * convolutions counted as their GEMM (the same product) — as HRNet's and DCPose's published
 * "GFLOPs", which are in fact multiply-accumulates. Not counted: biases, BatchNorm, activations,
 * pooling, the bilinear samples of the deformable convs (4 reads + 3 lerps per tap and input
 * channel), the attention products and additions. Parameters count weights and biases (BatchNorm
 * weight and bias included, running statistics not).
 */
import { convOutSize } from '../../ops/conv.js';
import { isBackboneSpec, type BackboneSpec } from '../backbones/backbone.js';
import type { HRNetConfig } from '../backbones/hrnet.js';
import { fasrnetBehaviour, type FaSRnetConfig } from './model.js';

export interface CostCounter {
  params: number;
  macs: number;
}

/** Parameters and MACs of a conv; `h`, `w` are its output size. */
function conv(c: CostCounter, cin: number, cout: number, k: number, h: number, w: number, bias: boolean, groups = 1): void {
  c.params += cout * (cin / groups) * k * k + (bias ? cout : 0);
  c.macs += cout * (cin / groups) * k * k * h * w;
}
const bn = (c: CostCounter, ch: number): void => {
  c.params += 2 * ch;
};

/**
 * HRNet (models/backbones/hrnet.ts) at input H x W: parameters and MACs, and the feature size.
 * Matches `new HRNet(cfg).numParameters()` exactly (tested).
 */
export function hrnetCost(config: HRNetConfig, H: number, W: number): CostCounter & { featureSize: [number, number] } {
  const cfg: Required<HRNetConfig> = { stemChannels: 64, layer1Planes: 64, layer1Blocks: 4, stageModules: [1, 4, 3], blocksPerBranch: 4, finalConvKernel: 1, ...config };
  const c: CostCounter = { params: 0, macs: 0 };
  const s2 = (x: number): number => convOutSize(x, 3, 2, 1, 1);
  let h = s2(H);
  let w = s2(W);
  const s = cfg.stemChannels;
  conv(c, 3, s, 3, h, w, false);
  bn(c, s);
  h = s2(h);
  w = s2(w);
  conv(c, s, s, 3, h, w, false);
  bn(c, s);
  const p = cfg.layer1Planes;
  for (let b = 0; b < cfg.layer1Blocks; b++) {
    const inC = b === 0 ? s : 4 * p;
    if (inC !== 4 * p) {
      conv(c, inC, 4 * p, 1, h, w, false);
      bn(c, 4 * p);
    }
    conv(c, inC, p, 1, h, w, false);
    bn(c, p);
    conv(c, p, p, 3, h, w, false);
    bn(c, p);
    conv(c, p, 4 * p, 1, h, w, false);
    bn(c, 4 * p);
  }
  // Branch sizes: branch i has resolution h_i x w_i (stride-2 halvings from branch 0).
  const sizes: [number, number][] = [[h, w]];
  for (let i = 1; i < 4; i++) sizes.push([s2(sizes[i - 1]![0]), s2(sizes[i - 1]![1])]);
  const sz = (i: number): [number, number] => sizes[i]!;
  const transition = (pre: number[], cur: number[]): void => {
    cur.forEach((ch, i) => {
      if (i < pre.length) {
        if (ch !== pre[i]) {
          conv(c, pre[i]!, ch, 3, ...sz(i), false);
          bn(c, ch);
        }
        return;
      }
      for (let j = 0; j < i + 1 - pre.length; j++) {
        const inC = pre[pre.length - 1]!;
        const outC = j === i - pre.length ? ch : inC;
        conv(c, inC, outC, 3, ...sz(pre.length + j), false);
        bn(c, outC);
      }
    });
  };
  const stage = (ch: number[], modules: number, multiLast: boolean): void => {
    for (let m = 0; m < modules; m++) {
      ch.forEach((cc, i) => {
        for (let b = 0; b < cfg.blocksPerBranch; b++) {
          conv(c, cc, cc, 3, ...sz(i), false);
          bn(c, cc);
          conv(c, cc, cc, 3, ...sz(i), false);
          bn(c, cc);
        }
      });
      if (ch.length === 1) continue;
      const outs = m < modules - 1 || multiLast ? ch.length : 1;
      for (let i = 0; i < outs; i++) {
        for (let j = 0; j < ch.length; j++) {
          if (j > i) {
            conv(c, ch[j]!, ch[i]!, 1, ...sz(j), false);
            bn(c, ch[i]!);
          } else if (j < i) {
            for (let k = 0; k < i - j; k++) {
              const outC = k === i - j - 1 ? ch[i]! : ch[j]!;
              conv(c, ch[j]!, outC, 3, ...sz(j + k + 1), false);
              bn(c, outC);
            }
          }
        }
      }
    }
  };
  const W0 = cfg.width;
  const c2 = [W0, 2 * W0];
  const c3 = [W0, 2 * W0, 4 * W0];
  const c4 = [W0, 2 * W0, 4 * W0, 8 * W0];
  transition([4 * p], c2);
  stage(c2, cfg.stageModules[0], true);
  transition(c2, c3);
  stage(c3, cfg.stageModules[1], true);
  transition(c3, c4);
  stage(c4, cfg.stageModules[2], false);
  conv(c, W0, cfg.numJoints, cfg.finalConvKernel, h, w, true);
  return { ...c, featureSize: [h, w] };
}

/** One RSB chain (models/fasrnet/rsb.ts) at h x w. */
function rsbChainCost(c: CostCounter, cin: number, cout: number, blocks: number, h: number, w: number): void {
  for (let b = 0; b < blocks; b++) {
    const inC = b === 0 ? cin : cout;
    const br = Math.floor((inC * 26) / 64);
    conv(c, inC, 4 * br, 1, h, w, true);
    bn(c, 4 * br);
    for (let k = 0; k < 10; k++) {
      conv(c, br, br, 3, h, w, true);
      bn(c, br);
    }
    conv(c, 4 * br, cout, 1, h, w, true);
    bn(c, cout);
    if (b === 0) {
      conv(c, cin, cout, 1, h, w, true);
      bn(c, cout);
    }
  }
}

export interface FaSRnetCost {
  /** Parameters per part and in total (total = backbone + frm + fusion + finalLayer + srm). */
  params: { backbone: number; frm: number; fusion: number; finalLayer: number; srm: number; head: number; total: number };
  /** MACs per part for one sample (three frames through the backbone). */
  macs: { backbonePerFrame: number; backbone: number; frm: number; fusion: number; finalLayer: number; srm: number; head: number; total: number };
  /** Feature / heatmap size [h, w]. */
  featureSize: [number, number];
}

/** The HRNet configuration of a backbone (an HRNetConfig, or an 'hrnet' spec), or null for another network. */
function hrnetConfigOf(b: HRNetConfig | BackboneSpec): HRNetConfig | null {
  if (!isBackboneSpec(b)) return b;
  return b.kind === 'hrnet' ? b.config : null;
}

/** Feature channels of a backbone spec (the `C` the head works at). */
function featureChannelsOf(b: BackboneSpec): number {
  switch (b.kind) {
    case 'hrnet':
      return b.config.width;
    case 'movenet':
      return b.config.fpnChannels[3];
    case 'simplebaseline':
      return b.config.deconvChannels ?? 256;
    case 'vitpose':
      return b.config.deconvChannels ?? 256;
  }
}

/**
 * Parameters and MACs of FaSRnet for one sample ([cur, prev, next] at cfg.inputSize), per part.
 * Honors the offset-padding quirk of the configuration's variant (the larger offset-conv outputs). Parameters match
 * `new FaSRnet(cfg).numParameters()` exactly (tested). The backbone is counted analytically for
 * HRNet; for another backbone (a BackboneSpec such as the `real` preset's MoveNet) pass its
 * per-frame cost in `backbone` (e.g. from `numParameters()` and `countMacsOf`).
 * @throws Error for a non-HRNet backbone without `backbone`.
 */
export function fasrnetCost(cfg: FaSRnetConfig, backbone?: CostCounter): FaSRnetCost {
  const [W, H] = cfg.inputSize;
  const hr = hrnetConfigOf(cfg.backbone);
  if (!hr && !backbone) throw new Error(`fasrnetCost: expected an HRNet backbone or its cost in \`backbone\`, got a '${(cfg.backbone as BackboneSpec).kind}' backbone without one`);
  const bb = hr ? hrnetCost(hr, H, W) : { ...backbone!, featureSize: [H / 4, W / 4] as [number, number] };
  const [h, w] = bb.featureSize;
  const C = hr ? hr.width : featureChannelsOf(cfg.backbone as BackboneSpec);
  const K = cfg.numJoints;
  const quirk = fasrnetBehaviour(cfg).offsetPaddingQuirk !== 'off';
  const dil = cfg.alignDilations ?? [5, 3, 1];
  const dcnPack = (c: CostCounter, d: number): void => {
    conv(c, C, C, 3, h, w, true); // the deformable conv's GEMM
    const pad = quirk ? d : 1;
    conv(c, C, 27, 3, convOutSize(h, 3, 1, pad, 1), convOutSize(w, 3, 1, pad, 1), true);
  };
  const frm: CostCounter = { params: 0, macs: 0 };
  for (let inst = 0; inst < 2; inst++) {
    dil.forEach((d, b) => {
      conv(frm, 2 * C, C, 3, h, w, true); // offset_conv1
      conv(frm, b === 0 ? C : 2 * C, C, 3, h, w, true); // offset_conv2
      if (b > 0) conv(frm, C, C, 3, h, w, true); // offset_conv3
      dcnPack(frm, d);
      if (b > 0) conv(frm, 2 * C, C, 3, h, w, true); // feat_conv
    });
    conv(frm, 2 * C, C, 3, h, w, true);
    conv(frm, C, C, 3, h, w, true);
    dcnPack(frm, 1);
  }
  const fu: CostCounter = { params: 0, macs: 0 };
  const h2 = convOutSize(h, 3, 2, 1, 1);
  const w2 = convOutSize(w, 3, 2, 1, 1);
  const h4 = convOutSize(h2, 3, 2, 1, 1);
  const w4 = convOutSize(w2, 3, 2, 1, 1);
  conv(fu, C, C, 3, h, w, true); // temporal_attn1 (centre frame)
  conv(fu, C, C, 3, h, w, true); // temporal_attn2 (parameters once) ...
  fu.macs += 2 * C * C * 9 * h * w; // ... applied to all three frames
  conv(fu, 3 * C, C, 1, h, w, true); // feat_fusion
  conv(fu, 3 * C, C, 1, h, w, true); // spatial_attn1
  conv(fu, 2 * C, C, 1, h2, w2, true); // spatial_attn2
  conv(fu, C, C, 3, h2, w2, true); // spatial_attn3
  conv(fu, C, C, 1, h2, w2, true); // spatial_attn4
  conv(fu, C, C, 3, h, w, true); // spatial_attn5
  conv(fu, C, C, 1, h2, w2, true); // spatial_attn_l1
  conv(fu, 2 * C, C, 3, h4, w4, true); // spatial_attn_l2
  conv(fu, C, C, 3, h4, w4, true); // spatial_attn_l3
  conv(fu, C, C, 1, h, w, true); // spatial_attn_add1
  conv(fu, C, C, 1, h, w, true); // spatial_attn_add2
  const fl: CostCounter = { params: 0, macs: 0 };
  conv(fl, C, K, 1, h, w, true);
  const srm: CostCounter = { params: 0, macs: 0 };
  rsbChainCost(srm, 4 * K, cfg.prfInnerCh, cfg.prfBlocks, h, w);
  if (cfg.ptmBlocks > 0) rsbChainCost(srm, 3 * K, K, cfg.ptmBlocks, h, w);
  else conv(srm, 3 * K, K, 3, h, w, true, K);
  rsbChainCost(srm, cfg.prfInnerCh + K, cfg.combineInnerCh, cfg.combineBlocks, h, w);
  for (const _d of cfg.pcnDilations ?? [1]) {
    conv(srm, cfg.combineInnerCh, 18 * K, 3, h, w, false);
    conv(srm, cfg.combineInnerCh, 9 * K, 3, h, w, false);
    conv(srm, K, K, 3, h, w, true); // the PCN deformable conv (weight [K, K, 3, 3])
  }
  const head = frm.params + fu.params + fl.params + srm.params;
  const headM = frm.macs + fu.macs + fl.macs + srm.macs;
  return {
    params: { backbone: bb.params, frm: frm.params, fusion: fu.params, finalLayer: fl.params, srm: srm.params, head, total: bb.params + head },
    macs: { backbonePerFrame: bb.macs, backbone: 3 * bb.macs, frm: frm.macs, fusion: fu.macs, finalLayer: fl.macs, srm: srm.macs, head: headM, total: 3 * bb.macs + headM },
    featureSize: [h, w],
  };
}
