/**
 * MoveNet as posegrad modules: MobileNetV2 → FPN (stride 32 → 4) → CenterNet heads.
 *
 *   input [B, 3, H, W] RGB in 0..255 (float32)
 *     → x · inputScale + inputOffset (the graph's normalization to [-1, 1])
 *     → MobileNetV2 (taps at strides 4, 8, 16 and the last 1x1 conv at stride 32)
 *     → FPN: 1x1 lateral convs, 2x bilinear upsampling (half-pixel centres), add, separable 3x3 conv
 *     → features [B, 24, H/4, W/4]
 *     → heads, each a separable 3x3 conv to 96 channels + ReLU and a 1x1 conv:
 *        center [B, 1, h, w] and heatmaps [B, K, h, w] (both through a sigmoid),
 *        regress [B, 2K, h, w] (keypoint − centre, in cells, channels (y0, x0, y1, x1, ...)),
 *        offsets [B, 2K, h, w] (sub-cell keypoint offsets, same layout),
 *        MultiPose also boxScale [B, 2, h, w] (box height, width in cells) and boxOffset [B, 2, h, w].
 *
 * Parameter names are readable layer names; docs/models/movenet.md maps each to the TF.js graph's
 * node names (scripts/movenet/convert.ts does the conversion). Decoding to keypoints is in decode.ts.
 */
import type { Tensor } from '../../engine/tensor.js';
import { add, mul, sigmoid } from '../../ops/elementwise.js';
import { scalarLike } from '../../ops/util.js';
import { interpolate } from '../../ops/resample.js';
import { tensor } from '../../ops/creation.js';
import { Module } from '../nn/module.js';
import { centerWeights } from './decode.js';
import { ModuleList } from '../nn/layers.js';
import { checkMoveNetConfig, FPN_TAPS, mobileNetV2Blocks, type BlockSpec, type MoveNetConfig } from './config.js';
import { release, SeparableConv2d, TfConv2d } from './layers.js';

/** MobileNetV2's inverted residual block (Sandler et al. 2018, Fig. 4): expand 1x1 + ReLU6, depthwise 3x3 + ReLU6, project 1x1 (linear), + input when shapes allow. */
export class InvertedResidual extends Module {
  readonly expand: TfConv2d | null;
  readonly depthwise: TfConv2d;
  readonly project: TfConv2d;

  constructor(readonly spec: BlockSpec) {
    super();
    const e = spec.expandChannels;
    this.expand = this.module('expand', spec.noExpand ? null : new TfConv2d(spec.inChannels, e, 1, { activation: 'relu6' }));
    const mid = spec.noExpand ? spec.inChannels : e;
    this.depthwise = this.module('depthwise', new TfConv2d(mid, mid, 3, { stride: spec.stride, groups: mid, activation: 'relu6' }));
    this.project = this.module('project', new TfConv2d(mid, spec.outChannels, 1));
  }

  forward(x: Tensor): Tensor {
    const h = this.expand ? this.expand.forward(x) : x;
    const d = this.depthwise.forward(h);
    if (h !== x) release(h);
    const p = this.project.forward(d);
    release(d);
    if (!this.spec.residual) return p;
    const y = add(x, p);
    release(p);
    return y;
  }
}

/** MobileNetV2 feature extractor at width `alpha`, returning the FPN's four inputs. */
export class MobileNetV2 extends Module {
  readonly conv1: TfConv2d;
  readonly blocks: ModuleList<InvertedResidual>;
  readonly conv_last: TfConv2d;

  constructor(cfg: MoveNetConfig) {
    super();
    const { stem, blocks } = mobileNetV2Blocks(cfg.alpha, cfg.stages);
    this.conv1 = this.module('conv1', new TfConv2d(3, stem, 3, { stride: 2, activation: 'relu6' }));
    this.blocks = this.module('blocks', new ModuleList(blocks.map((b) => new InvertedResidual(b))));
    this.conv_last = this.module('conv_last', new TfConv2d(blocks[blocks.length - 1]!.outChannels, cfg.lastChannels, 1, { activation: 'relu6' }));
  }

  /** [B, 3, H, W] normalized → { c4, c8, c16 } (block outputs) and c32 (after the last 1x1 conv). */
  forward(x: Tensor): { c4: Tensor; c8: Tensor; c16: Tensor; c32: Tensor } {
    let h = this.conv1.forward(x);
    const taps: Record<number, Tensor> = {};
    const keep = new Set<number>([FPN_TAPS.stride4, FPN_TAPS.stride8, FPN_TAPS.stride16]);
    this.blocks.items.forEach((b, i) => {
      const y = b.forward(h);
      if (!Object.values(taps).includes(h)) release(h);
      h = y;
      if (keep.has(i)) taps[i] = y;
    });
    const c32 = this.conv_last.forward(h);
    if (!Object.values(taps).includes(h)) release(h);
    return { c4: taps[FPN_TAPS.stride4]!, c8: taps[FPN_TAPS.stride8]!, c16: taps[FPN_TAPS.stride16]!, c32 };
  }
}

/** The FPN decoder from stride 32 to stride 4 (the graph's conv2d…conv2d_3 and separable_conv2d…_2). */
export class MoveNetFpn extends Module {
  readonly lateral32: TfConv2d;
  readonly lateral16: TfConv2d;
  readonly lateral8: TfConv2d;
  readonly lateral4: TfConv2d;
  readonly smooth16: SeparableConv2d;
  readonly smooth8: SeparableConv2d;
  readonly smooth4: SeparableConv2d;

  constructor(cfg: MoveNetConfig) {
    super();
    const { blocks } = mobileNetV2Blocks(cfg.alpha, cfg.stages);
    const ch = (i: number): number => blocks[i]!.outChannels;
    const [top, o16, o8, o4] = cfg.fpnChannels;
    this.lateral32 = this.module('lateral32', new TfConv2d(cfg.lastChannels, top, 1));
    this.lateral16 = this.module('lateral16', new TfConv2d(ch(FPN_TAPS.stride16), top, 1));
    this.smooth16 = this.module('smooth16', new SeparableConv2d(top, o16));
    this.lateral8 = this.module('lateral8', new TfConv2d(ch(FPN_TAPS.stride8), o16, 1));
    this.smooth8 = this.module('smooth8', new SeparableConv2d(o16, o8));
    this.lateral4 = this.module('lateral4', new TfConv2d(ch(FPN_TAPS.stride4), o8, 1));
    this.smooth4 = this.module('smooth4', new SeparableConv2d(o8, o4));
  }

  forward(c: { c4: Tensor; c8: Tensor; c16: Tensor; c32: Tensor }): Tensor {
    const level = (coarse: Tensor, tap: Tensor, lateral: TfConv2d, smooth: SeparableConv2d): Tensor => {
      const up = interpolate(coarse, { size: [tap.shape[2]!, tap.shape[3]!], mode: 'bilinear', alignCorners: false });
      release(coarse);
      const lat = lateral.forward(tap);
      release(tap);
      const sum = add(up, lat);
      release(up, lat);
      const y = smooth.forward(sum);
      release(sum);
      return y;
    };
    const p32 = this.lateral32.forward(c.c32);
    release(c.c32);
    const p16 = level(p32, c.c16, this.lateral16, this.smooth16);
    const p8 = level(p16, c.c8, this.lateral8, this.smooth8);
    return level(p8, c.c4, this.lateral4, this.smooth4);
  }
}

/** One CenterNet head: separable 3x3 conv to `hidden` channels + ReLU, then a 1x1 conv. */
export class MoveNetHead extends Module {
  readonly conv: SeparableConv2d;
  readonly out: TfConv2d;

  constructor(inChannels: number, hidden: number, outChannels: number) {
    super();
    this.conv = this.module('conv', new SeparableConv2d(inChannels, hidden));
    this.out = this.module('out', new TfConv2d(hidden, outChannels, 1));
  }

  forward(x: Tensor): Tensor {
    const h = this.conv.forward(x);
    const y = this.out.forward(h);
    release(h);
    return y;
  }
}

/** What a MoveNet forward returns; every map is [B, C, H/4, W/4]. */
export interface MoveNetOutput {
  /** The FPN's stride-4 features [B, 24, h, w] (what the paper networks build on). */
  features: Tensor;
  /** Person-centre probability [B, 1, h, w] (sigmoid). */
  center: Tensor;
  /** Keypoint probabilities [B, K, h, w] (sigmoid). */
  heatmaps: Tensor;
  /** Keypoint displacement from the person centre, in cells [B, 2K, h, w], channels (dy0, dx0, dy1, ...). */
  regress: Tensor;
  /** Sub-cell keypoint offsets [B, 2K, h, w], channels (oy0, ox0, oy1, ...). */
  offsets: Tensor;
  /** MultiPose: box height and width in cells [B, 2, h, w]. */
  boxScale?: Tensor;
  /** MultiPose: box-centre offset from the person centre in cells [B, 2, h, w]. */
  boxOffset?: Tensor;
}

/**
 * MoveNet (Google, 2021; TF Hub movenet/singlepose/{lightning,thunder}/4, movenet/multipose/lightning/1).
 * forward: [B, 3, H, W] RGB 0..255 float32 → MoveNetOutput at stride 4. Differentiable.
 * @throws Error when the input is not [B, 3, H, W] with H, W multiples of 32 (SinglePose: exactly
 *   the configured input size).
 */
export class MoveNet extends Module {
  readonly backbone: MobileNetV2;
  readonly fpn: MoveNetFpn;
  readonly head: MoveNetHeads;
  readonly headNames: readonly string[];
  /**
   * SinglePose: the centre weighting [h, w] that decoding multiplies the centre map by (a graph
   * constant, 1/(distance to the map centre + 1.8) stored in float16; see decode.ts). Null for MultiPose.
   */
  readonly center_weight: Tensor | null;

  constructor(readonly config: MoveNetConfig) {
    super();
    checkMoveNetConfig(config);
    const [ch, cw] = [config.inputSize[0] / 4, config.inputSize[1] / 4];
    this.center_weight = this.buffer('center_weight', config.multiPose ? null : tensor(centerWeights(ch, cw, config.decode.centerDistanceOffset ?? 1.8), { shape: [ch, cw] }));
    this.backbone = this.module('backbone', new MobileNetV2(config));
    this.fpn = this.module('fpn', new MoveNetFpn(config));
    const f = config.fpnChannels[3];
    const K = config.numKeypoints;
    const hc = config.headChannels;
    const heads: [string, number][] = [['center', 1], ['keypoint_heatmap', K], ['keypoint_regress', 2 * K], ['keypoint_offset', 2 * K]];
    if (config.multiPose) heads.push(['box_scale', 2], ['box_offset', 2]);
    this.headNames = heads.map((h) => h[0]);
    this.head = this.module('head', new MoveNetHeads(heads.map(([n, c]) => [n, new MoveNetHead(f, hc, c)])));
  }

  forward(input: Tensor): MoveNetOutput {
    const cfg = this.config;
    if (input.rank !== 4 || input.shape[1] !== 3) throw new Error(`MoveNet: expected input [B, 3, H, W] (RGB, 0..255), got shape [${input.shape.join(', ')}]`);
    const [H, W] = [input.shape[2]!, input.shape[3]!];
    if (!cfg.multiPose && (H !== cfg.inputSize[0] || W !== cfg.inputSize[1])) throw new Error(`MoveNet ${cfg.variant}: expected an input of ${cfg.inputSize[0]}x${cfg.inputSize[1]} (H x W), got ${H}x${W}`);
    if (H % 32 !== 0 || W % 32 !== 0) throw new Error(`MoveNet ${cfg.variant}: expected H and W multiples of 32, got ${H}x${W}`);
    const s = scalarLike('MoveNet', cfg.inputScale, input);
    const o = scalarLike('MoveNet', cfg.inputOffset, input);
    const scaled = mul(input, s);
    const x = add(scaled, o);
    release(scaled, s, o);
    const c = this.backbone.forward(x);
    release(x);
    const features = this.fpn.forward(c);
    const run = (name: string): Tensor => this.head.heads.get(name)!.forward(features);
    const centerLogits = run('center');
    const center = sigmoid(centerLogits);
    release(centerLogits);
    const heatLogits = run('keypoint_heatmap');
    const heatmaps = sigmoid(heatLogits);
    release(heatLogits);
    const out: MoveNetOutput = { features, center, heatmaps, regress: run('keypoint_regress'), offsets: run('keypoint_offset') };
    if (cfg.multiPose) {
      out.boxScale = run('box_scale');
      out.boxOffset = run('box_offset');
    }
    return out;
  }
}

/** The heads, registered under readable names (keys read head.center.out.weight). */
export class MoveNetHeads extends Module {
  readonly heads = new Map<string, MoveNetHead>();
  constructor(entries: [string, MoveNetHead][]) {
    super();
    for (const [n, h] of entries) this.heads.set(n, this.module(n, h));
  }
}

/** Frees every tensor of a MoveNet output. */
export function disposeMoveNetOutput(o: MoveNetOutput): void {
  for (const t of Object.values(o)) (t as Tensor | undefined)?.dispose();
}
