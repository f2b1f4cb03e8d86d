/**
 * Parameter and multiply-accumulate (MAC) counts of GLPose, per part, for the model card.
 *
 * Convention (as HRNet's and DCPose's published "GFLOPs", which are MACs): convolutions only,
 * Cout·(Cin/groups)·kh·kw per output pixel; not counted: biases, BatchNorm, activations, pooling,
 * the nearest upsampling in HRNet's fusion, the GAP/dot-product similarity and the softmax.
 * Parameters count weights and biases (BatchNorm weight and bias included, running statistics not).
 *
 * How the figures are obtained:
 * - The GLPose modules (Feature Processing, Feature Enhancement, head): analytic, from the layer
 *   shapes; all of them run at the feature size h x w = H/4 x W/4.
 * - The backbone: its parameters are counted on a model built under `noInit`; its MACs per crop are
 *   measured with `countMacsOf` on one 32x32 crop through stages 1-3 and scaled by H·W/32². This is
 *   exact, not an estimate: for H, W divisible by 32 every HRNet layer up to stage 3 runs at
 *   (H/2^s)·(W/2^s) pixels, so each layer's MACs are proportional to H·W (the test suite checks the
 *   scaled figure against a full forward for the small presets). A forward at 384x288 on the cpu
 *   backend would take minutes; this takes a few seconds for W48.
 */
import { zeros } from '../../ops/creation.js';
import { isBackboneSpec } from '../backbones/backbone.js';
import { HRNet, type HRNetConfig } from '../backbones/hrnet.js';
import { countMacsOf } from '../nn/flops.js';
import { noInit } from '../nn/init.js';
import { hrnetStage3Uses, type GLPoseConfig } from './model.js';

interface Counter {
  params: number;
  macs: number;
}

/** A conv k x k, cin → cout, at hw output pixels. */
function conv(c: Counter, cin: number, cout: number, k: number, hw: number, bias: boolean): void {
  c.params += cout * cin * k * k + (bias ? cout : 0);
  c.macs += cout * cin * k * k * hw;
}
const bn = (c: Counter, ch: number): void => {
  c.params += 2 * ch;
};

/** A basicBlockStack (feature-processing.ts): `count` BasicBlocks cin → cout, 1x1 projection first when cin ≠ cout. */
function blockStack(c: Counter, cin: number, cout: number, count: number, hw: number): void {
  for (let b = 0; b < count; b++) {
    const inC = b === 0 ? cin : cout;
    conv(c, inC, cout, 3, hw, false);
    bn(c, cout);
    conv(c, cout, cout, 3, hw, false);
    bn(c, cout);
    if (inC !== cout) {
      conv(c, inC, cout, 1, hw, false);
      bn(c, cout);
    }
  }
}

/**
 * MACs of the last stage-3 module's fuse_layers rows 1 and 2 at input H x W (analytic): row i takes
 * branch j > i through a 1x1 conv at branch j's resolution, and branch j < i through i − j stride-2
 * 3x3 convs (models/backbones/hrnet.ts HighResolutionModule).
 */
export function unusedFusionMacs(cfg: HRNetConfig, H: number, W: number): number {
  const ch = [cfg.width, 2 * cfg.width, 4 * cfg.width];
  const hw = (s: number): number => (H / 4 / 2 ** s) * (W / 4 / 2 ** s);
  let macs = 0;
  for (let i = 1; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      if (j > i) macs += ch[j]! * ch[i]! * hw(j);
      else if (j < i) for (let k = 0; k < i - j; k++) macs += 9 * ch[j]! * (k === i - j - 1 ? ch[i]! : ch[j]!) * hw(j + k + 1);
    }
  }
  return macs;
}

export interface GLPoseCost {
  params: {
    /** The whole HRNet as built (stage 4 and final_layer included, for checkpoint compatibility). */
    backbone: number;
    /** The part that stage-3 branch 0 depends on (see GLPose.usesParameter). */
    backboneUsed: number;
    processing: number;
    enhancement: number;
    head: number;
    /** Everything as built (= GLPose.numParameters()). */
    total: number;
    /** What the forward pass uses (= GLPose.numParametersUsed()). */
    used: number;
  };
  macs: {
    /** The backbone up to stage 3 on one crop. */
    backbonePerCrop: number;
    /**
     * Of backbonePerCrop: the last stage-3 module's fusions into branches 1 and 2, which run but
     * only feed stage 4 (GLPose reads branch 0).
     */
    unusedFusionPerCrop: number;
    /** Crops per sample through the backbone: 1 + 2k + G (all G candidates, to rank them). */
    crops: number;
    /** backbonePerCrop · crops. */
    backbone: number;
    processing: number;
    enhancement: number;
    head: number;
    /** One sample: backbone + processing + enhancement + head. */
    total: number;
    /** One sample when the candidates are ranked beforehand: 1 + 2k + n crops through the backbone. */
    totalSelectedOnly: number;
  };
  /** The feature (and heatmap) size [h, w]. */
  featureSize: [number, number];
}

/**
 * Parameters and MACs of GLPose for one sample at cfg.inputSize (see the file comment for the
 * method). Builds the backbone under `noInit` and runs it on one 32x32 crop. HRNet backbones only
 * (an HRNetConfig or an 'hrnet' spec); for another backbone count the built model (`numParameters`,
 * `countMacsOf`).
 * @throws Error for a non-HRNet backbone.
 */
export function glposeCost(config: GLPoseConfig): GLPoseCost {
  const b = config.backbone;
  if (isBackboneSpec(b) && b.kind !== 'hrnet') throw new Error(`glposeCost: expected an HRNet backbone, got a '${b.kind}' backbone (count the built model instead)`);
  const cfg = { ...config, backbone: isBackboneSpec(b) ? (b as { config: HRNetConfig }).config : b };
  const [W, H] = cfg.inputSize;
  const h = H / 4;
  const w = W / 4;
  const hw = h * w;
  const C = cfg.backbone.width;
  const Cs = cfg.processingChannels ?? C;
  const k = 2 * cfg.localFrames;
  const frames = 1 + k + cfg.globalFrames;

  const bb = noInit(() => new HRNet(cfg.backbone)).eval();
  const backbone = bb.numParameters();
  const backboneUsed = bb.namedParameters().filter(([n]) => hrnetStage3Uses(cfg.backbone, n)).reduce((s, [, p]) => s + p.size, 0);
  const at32 = countMacsOf(() => bb.forwardFeatures(zeros([1, 3, 32, 32]), 3)).total;
  bb.dispose();
  const backbonePerCrop = (at32 * H * W) / (32 * 32);

  const fp: Counter = { params: 0, macs: 0 };
  blockStack(fp, frames * C, Cs, cfg.processingBlocks ?? 3, hw);
  const fe: Counter = { params: 0, macs: 0 };
  const enhance = cfg.featureEnhancement ?? true;
  if (enhance) {
    conv(fe, C, C, 3, hw, false);
    bn(fe, C);
    conv(fe, C, 1, 1, hw, true);
    blockStack(fe, Cs + C, C, cfg.aggregationBlocks ?? 2, hw);
  }
  const hd: Counter = { params: 0, macs: 0 };
  const kh = cfg.headKernel ?? 3;
  conv(hd, enhance ? C : Cs, cfg.numJoints, kh, hw, true);

  const crops = 1 + k + cfg.globalCandidates;
  const modules = fp.macs + fe.macs + hd.macs;
  return {
    params: {
      backbone,
      backboneUsed,
      processing: fp.params,
      enhancement: fe.params,
      head: hd.params,
      total: backbone + fp.params + fe.params + hd.params,
      used: backboneUsed + fp.params + fe.params + hd.params,
    },
    macs: {
      backbonePerCrop,
      unusedFusionPerCrop: unusedFusionMacs(cfg.backbone, H, W),
      crops,
      backbone: backbonePerCrop * crops,
      processing: fp.macs,
      enhancement: fe.macs,
      head: hd.macs,
      total: backbonePerCrop * crops + modules,
      totalSelectedOnly: backbonePerCrop * frames + modules,
    },
    featureSize: [h, w],
  };
}
