/**
 * ViT backbones in ViTPose style (Xu et al., "ViTPose: Simple Vision Transformer Baselines for Human
 * Pose Estimation", NeurIPS 2022), with mmpose's key names (`backbone.patch_embed.proj`,
 * `backbone.pos_embed`, `backbone.blocks.N.*`, `backbone.last_norm`, `keypoint_head.deconv_layers.N`,
 * `keypoint_head.final_layer`) so that a ViTPose checkpoint loads key for key.
 *
 * - Patch embedding: a conv with kernel 16, stride 16 and **padding 2** (ViTPose's ratio-1 setting),
 *   giving a 16x12 token grid at 256x192.
 * - Absolute position embedding `pos_embed` [1, N+1, D], added as `pos[:, 1:] + pos[:, :1]` (the
 *   class-token slot is folded into every patch; there is no class token).
 * - Pre-norm blocks (LayerNorm eps 1e-6, GELU erf, qkv bias, MLP ratio 4), then `last_norm`.
 * - Head (TopdownHeatmapSimpleHead): 2 × [ConvTranspose 4x4/2 (256 ch, no bias) + BN + ReLU], then a
 *   1x1 conv to K heatmaps: 64x48 at 256x192.
 */
import type { Tensor } from '../../engine/tensor.js';
import { add } from '../../ops/elementwise.js';
import { permute, reshape, slice } from '../../ops/shape.js';
import { zeros } from '../../ops/creation.js';
import { TransformerBlock } from '../nn/attention.js';
import { LayerNorm } from '../nn/extra-layers.js';
import { constant_, normal_, truncNormal_ } from '../nn/init.js';
import { BatchNorm2d, Conv2d, ConvTranspose2d, Linear, ReLU, Sequential, type TensorModule } from '../nn/layers.js';
import { Module } from '../nn/module.js';

export interface ViTConfig {
  /** Input [H, W] (256x192 for ViTPose). */
  imgSize: readonly [number, number];
  patchSize?: number;
  /** Patch-embedding padding (2 in ViTPose). */
  patchPadding?: number;
  embedDim: number;
  depth: number;
  numHeads: number;
  mlpRatio?: number;
  qkvBias?: boolean;
  /** Stochastic-depth rate of the last block (linearly increasing), active only in training. */
  dropPathRate?: number;
  inChannels?: number;
}

export interface ViTPoseConfig extends ViTConfig {
  numJoints: number;
  deconvChannels?: number;
  numDeconvLayers?: number;
}

/** ViTPose-B/L as published (256x192, 17 joints), and small sizes for demos and tests. */
export const VIT_PRESETS = {
  b: { imgSize: [256, 192], embedDim: 768, depth: 12, numHeads: 12, numJoints: 17, dropPathRate: 0.3 },
  l: { imgSize: [256, 192], embedDim: 1024, depth: 24, numHeads: 16, numJoints: 17, dropPathRate: 0.5 },
  small: { imgSize: [128, 96], embedDim: 96, depth: 4, numHeads: 3, numJoints: 17, deconvChannels: 64 },
  tiny: { imgSize: [64, 48], embedDim: 16, depth: 2, numHeads: 2, numJoints: 17, deconvChannels: 8 },
} as const satisfies Record<string, ViTPoseConfig>;

/** The token grid (Hp, Wp) a config produces: ⌊(H + 2·pad - patch)/patch⌋ + 1 per axis. */
export function vitGrid(cfg: ViTConfig): [number, number] {
  const p = cfg.patchSize ?? 16;
  const pad = cfg.patchPadding ?? 2;
  return [Math.floor((cfg.imgSize[0] + 2 * pad - p) / p) + 1, Math.floor((cfg.imgSize[1] + 2 * pad - p) / p) + 1];
}

class PatchEmbed extends Module {
  readonly proj: Conv2d;
  constructor(inC: number, dim: number, patch: number, pad: number) {
    super();
    this.proj = this.module('proj', new Conv2d(inC, dim, patch, { stride: patch, padding: pad }));
  }
}

/**
 * The ViT encoder. forward(x [B, 3, H, W]) → feature map [B, D, Hp, Wp];
 * forwardTokens(x) → tokens [B, Hp·Wp, D] after last_norm (VREMD's frozen features F).
 */
export class ViT extends Module {
  readonly grid: [number, number];
  readonly patchEmbed: PatchEmbed;
  readonly posEmbed: Tensor;
  readonly blocks: TransformerBlock[];
  readonly lastNorm: LayerNorm;

  constructor(readonly cfg: ViTConfig) {
    super();
    const D = cfg.embedDim;
    this.grid = vitGrid(cfg);
    const N = this.grid[0] * this.grid[1];
    this.patchEmbed = this.module('patch_embed', new PatchEmbed(cfg.inChannels ?? 3, D, cfg.patchSize ?? 16, cfg.patchPadding ?? 2));
    this.posEmbed = this.param('pos_embed', truncNormal_(zeros([1, N + 1, D]), 0.02));
    const rate = cfg.dropPathRate ?? 0;
    this.blocks = [];
    for (let i = 0; i < cfg.depth; i++) {
      const b = new TransformerBlock(D, cfg.numHeads, { mlpRatio: cfg.mlpRatio ?? 4, qkvBias: cfg.qkvBias ?? true, eps: 1e-6, dropPath: cfg.depth > 1 ? (rate * i) / (cfg.depth - 1) : 0 });
      this.blocks.push(b);
    }
    this.module('blocks', new BlockList(this.blocks));
    this.lastNorm = this.module('last_norm', new LayerNorm(D, 1e-6));
    initViT(this);
  }

  forwardTokens(x: Tensor): Tensor {
    const f = this.patchEmbed.proj.forward(x); // [B, D, Hp, Wp]
    const [B, D, Hp, Wp] = f.shape as [number, number, number, number];
    let t = permute(reshape(f, [B, D, Hp * Wp]), [0, 2, 1]); // [B, N, D]
    const pos = add(slice(this.posEmbed, 1, 1), slice(this.posEmbed, 1, 0, 1));
    t = add(t, pos);
    for (const b of this.blocks) t = b.forward(t);
    return this.lastNorm.forward(t);
  }

  forward(x: Tensor): Tensor {
    const t = this.forwardTokens(x);
    const [B, , D] = t.shape as [number, number, number];
    return reshape(permute(t, [0, 2, 1]), [B, D, this.grid[0], this.grid[1]]);
  }
}

class BlockList extends Module {
  constructor(items: Module[]) {
    super();
    items.forEach((m, i) => this.module(String(i), m));
  }
}

/** ViTPose's TopdownHeatmapSimpleHead: deconvs (+BN+ReLU) then a 1x1 conv. [B, D, Hp, Wp] → [B, K, 4Hp, 4Wp]. */
export class HeatmapHead extends Module implements TensorModule {
  readonly deconvLayers: Sequential;
  readonly finalLayer: Conv2d;
  constructor(inChannels: number, numJoints: number, channels = 256, layers = 2) {
    super();
    const mods: TensorModule[] = [];
    let c = inChannels;
    for (let i = 0; i < layers; i++) {
      mods.push(new ConvTranspose2d(c, channels, 4, { stride: 2, padding: 1, bias: false }), new BatchNorm2d(channels), new ReLU());
      c = channels;
    }
    this.deconvLayers = this.module('deconv_layers', new Sequential(...mods));
    this.finalLayer = this.module('final_layer', new Conv2d(c, numJoints, 1));
    for (const m of mods) if (m instanceof ConvTranspose2d) normal_(m.weight, 0, 0.001);
    normal_(this.finalLayer.weight, 0, 0.001);
    constant_(this.finalLayer.bias!, 0);
  }
  forward(x: Tensor): Tensor {
    return this.finalLayer.forward(this.deconvLayers.forward(x));
  }
}

/** ViTPose: `backbone` (ViT) + `keypoint_head`. forward(x [B, 3, H, W]) → heatmaps [B, K, H/4, W/4]. */
export class ViTPose extends Module implements TensorModule {
  readonly backbone: ViT;
  readonly keypointHead: HeatmapHead;
  constructor(readonly cfg: ViTPoseConfig) {
    super();
    this.backbone = this.module('backbone', new ViT(cfg));
    this.keypointHead = this.module('keypoint_head', new HeatmapHead(cfg.embedDim, cfg.numJoints, cfg.deconvChannels ?? 256, cfg.numDeconvLayers ?? 2));
  }
  forward(x: Tensor): Tensor {
    return this.keypointHead.forward(this.backbone.forward(x));
  }
}

/** ViTPose init: Linear trunc-normal(0.02) with zero bias; LayerNorm weight 1, bias 0. */
function initViT(m: Module): void {
  for (const [, mod] of m.namedModules()) {
    if (mod instanceof Linear) {
      truncNormal_(mod.weight, 0.02);
      if (mod.bias) constant_(mod.bias, 0);
    } else if (mod instanceof LayerNorm) {
      if (mod.weight) constant_(mod.weight, 1);
      if (mod.bias) constant_(mod.bias, 0);
    }
  }
}

/**
 * Parameter count of a ViTPose config, from its sizes alone (checked against the built module):
 * patch conv D·(C·p²+1); pos_embed (N+1)·D; per block 2·2D (norms) + 3D·(D+1) (qkv) + D·(D+1) (proj)
 * + hD·(D+1) + D·(hD+1) (MLP, h = mlp ratio); last_norm 2D; head Σ deconv c_in·c·16 + BN 2c, final c·K+K.
 */
export function vitPoseParamCount(cfg: ViTPoseConfig): number {
  const D = cfg.embedDim;
  const p = cfg.patchSize ?? 16;
  const [hp, wp] = vitGrid(cfg);
  const h = Math.floor(D * (cfg.mlpRatio ?? 4));
  const qkvBias = cfg.qkvBias ?? true;
  const block = 4 * D + 3 * D * D + (qkvBias ? 3 * D : 0) + D * D + D + h * D + h + D * h + D;
  let head = 0;
  let c = D;
  const ch = cfg.deconvChannels ?? 256;
  for (let i = 0; i < (cfg.numDeconvLayers ?? 2); i++) {
    head += c * ch * 16 + 2 * ch;
    c = ch;
  }
  head += c * cfg.numJoints + cfg.numJoints;
  return D * ((cfg.inChannels ?? 3) * p * p + 1) + (hp * wp + 1) * D + cfg.depth * block + 2 * D + head;
}

/**
 * Multiply-accumulates of one ViTPose forward (the "GFLOPs" convention of pose papers), by layer
 * shape: patch conv D·3p²·N; per block 3D²N (qkv) + 2N²D (q·kᵀ and attn·v) + D²N (proj) + 2DhN
 * (MLP); head Σ deconv c_in·(pixels in)·c·16, final c·(16N)·K. Checked against `countMacsOf`.
 */
export function vitPoseMacs(cfg: ViTPoseConfig): number {
  const D = cfg.embedDim;
  const p = cfg.patchSize ?? 16;
  const [hp, wp] = vitGrid(cfg);
  const N = hp * wp;
  const h = Math.floor(D * (cfg.mlpRatio ?? 4));
  let macs = D * (cfg.inChannels ?? 3) * p * p * N + cfg.depth * (3 * D * D * N + 2 * N * N * D + D * D * N + 2 * D * h * N);
  let c = D;
  let px = N;
  const ch = cfg.deconvChannels ?? 256;
  for (let i = 0; i < (cfg.numDeconvLayers ?? 2); i++) {
    macs += c * px * ch * 16;
    c = ch;
    px *= 4;
  }
  return macs + c * px * cfg.numJoints;
}
