/**
 * VREMD (Jiao et al., "Optimizing Human Pose Estimation Through Focused Human and Joint Regions"):
 * Visual Representation Enhancement and Motion Disentanglement, a dual-stream video pose network
 * (paper Fig. 2). No public code exists; the module boundaries and names follow the paper.
 *
 * For a person's crops in frames [t-1, t, t+1], each [B, 3, H, W]:
 *   F_δ  = ViT(I_δ)                            frozen ViT-L (ViTPose, COCO): [B, N, D] per frame
 *   F, T_t, Mask_h, Mask_k = HKME(F_{t-1}, F_t, F_{t+1})       hkme.ts (Eqs 1-2)
 *   M    = BMD(F_{t-1}, F_t, F_{t+1}; F)       bmd.ts + dca.ts (Eqs 3-4)
 *   H_k  = TokenHead(T_t),  H_m = HeatmapHead(F_t + M)         heads.ts
 *   H_t  = H_k + H_m                           [B, J, h, w] (64x48 at 256x192)
 *   L_H  = ‖H_t − G_t‖² with visibility weights               (Eq 5, `vremdLoss`)
 *
 * The backbone is frozen: its parameters have requiresGrad false, it runs under `noGrad` and always
 * in eval mode, and its features can come precomputed (`{ tokens }`) or from a `FeatureCache`.
 * `trainableParameters()` lists what the optimizer should update.
 *
 * Any backbone (models/backbones/backbone.ts) can sit under the tokens: with `cfg.featureBackbone`
 * (the `real` preset: the frozen pretrained MoveNet Lightning, `createVREMD('real', { movenet })`),
 * the frames go through that frozen network (`feature_backbone`, cached per frame id) and a
 * trainable patch tokenizer (`backbone`, a depth-0 ViT over its stride-4 features) makes the tokens.
 * `cfg.residual` adds its key-frame heatmaps: H_t = H_bb + H_k + H_m, with H_k's and H_m's last
 * layers zero-initialized so that the untrained network outputs H_bb.
 */
import { noGrad } from '../../engine/engine.js';
import { fail, fmtShape } from '../../engine/shape.js';
import { Tensor } from '../../engine/tensor.js';
import { tensor } from '../../ops/creation.js';
import { add } from '../../ops/elementwise.js';
import { jointsMseLoss } from '../../ops/loss.js';
import { concat, indexSelect, permute, reshape, slice, stack } from '../../ops/shape.js';
import { buildBackbone, type PoseBackbone } from '../backbones/backbone.js';
import { HeatmapHead, ViT } from '../backbones/vit.js';
import type { MoveNet } from '../movenet/movenet.js';
import { LayerNorm } from '../nn/extra-layers.js';
import { constant_, truncNormal_, zeros_ } from '../nn/init.js';
import { Linear } from '../nn/layers.js';
import { Module, type LoadResult, type StateDictSource } from '../nn/module.js';
import type { HostTensor } from '../nn/safetensors.js';
import { BMD } from './bmd.js';
import { FeatureCache } from './cache.js';
import { validateVREMDConfig, vremdPreset, vremdSizes, type VREMDConfig, type VREMDSizes } from './config.js';
import { DCA } from './dca.js';
import { TokenHead } from './heads.js';
import { HKME } from './hkme.js';

/** Three per-frame tensors, ordered [t-1, t, t+1]. */
export type FrameTriple = readonly [Tensor, Tensor, Tensor];

/**
 * The input of `VREMD.forward`:
 * - `{ frames }`: crops as three [B, 3, H, W] tensors or one [B, 3, 3, H, W] (frame axis second);
 *   `frameIds` ([3][B] strings, same order) enables the model's feature cache;
 * - `{ tokens }`: precomputed backbone tokens as three [B, N, D] tensors or one [B, 3, N, D]
 *   (these may require grad, e.g. for gradient checks).
 */
export type VREMDInput =
  | { frames: FrameTriple | Tensor; frameIds?: readonly (readonly string[])[] }
  | { tokens: FrameTriple | Tensor; baseHeatmaps?: Tensor }
  | { backboneOutput: { features: Tensor; heatmaps: Tensor } };

export interface VREMDOutput {
  /** H_t = H_k + H_m, [B, J, h, w] (H_m alone without HKME). */
  heatmaps: Tensor;
  /** H_k [B, J, h, w], or null without HKME. */
  hk: Tensor | null;
  /** H_m [B, J, h, w]. */
  hm: Tensor;
  /** The backbone tokens [B, 3, N, D]. */
  features: Tensor;
  /** HKME's enhanced feature F [B, N, D] (null without HKME). */
  F: Tensor | null;
  /** BMD's motion representation M [B, N, D] (null without BMD). */
  M: Tensor | null;
  /** Key-frame keypoint tokens T_t [B, J, D] (null without HKME). */
  keyTokens: Tensor | null;
  /** Mask_h [B, 3, N, 1] and Mask_k [B, 3N, 1] (null when absent). */
  humanMask: Tensor | null;
  keypointMask: Tensor | null;
  /** The last ADC block's DCA sampling locations in tokens, [B, N, heads, points, 2] (null when absent). */
  pointsF: Tensor | null;
  pointsB: Tensor | null;
}

export interface VREMDOptions {
  /** Capacity of the feature cache (frames); 0 or absent: no cache. */
  cacheSize?: number;
  /** The MoveNet a 'movenet' featureBackbone runs (random weights without it, to be loaded). */
  movenet?: MoveNet;
}

/**
 * The VREMD network. forward(input) → H_t [B, J, h, w]; forwardDetailed(input) → every intermediate.
 * @throws Error on an invalid configuration (see validateVREMDConfig), and from forward on inputs
 *   of the wrong shape, dtype or count, or frameIds without a cache.
 */
export class VREMD extends Module {
  readonly cfg: VREMDConfig;
  readonly sizes: VREMDSizes;
  /** The frozen single-frame network of `cfg.featureBackbone` (MoveNet in `real`), or null. */
  readonly feature_backbone: Module | null;
  /** `cfg.featureBackbone` seen through the backbone interface, or null. */
  readonly poseBackbone: PoseBackbone | null;
  /** The token ViT: frozen ViT-L over the frames (paper), or the trainable tokenizer over `feature_backbone`'s features. */
  readonly backbone: ViT;
  readonly hkme: HKME | null;
  readonly bmd: BMD | null;
  readonly token_head: TokenHead | null;
  readonly motion_head: HeatmapHead;
  featureCache: FeatureCache | null;

  constructor(cfg: VREMDConfig, opts: VREMDOptions = {}) {
    super();
    validateVREMDConfig(cfg);
    this.cfg = cfg;
    const s = (this.sizes = vremdSizes(cfg));
    const { D, N, J, T } = s;
    const fb = cfg.featureBackbone ? buildBackbone(cfg.featureBackbone, { movenet: opts.movenet, frozen: true }) : null;
    if (fb) {
      const [fh, fw] = fb.inputSize ?? [4 * cfg.backbone.imgSize[0], 4 * cfg.backbone.imgSize[1]];
      const ok = cfg.backbone.imgSize[0] * 4 === fh && cfg.backbone.imgSize[1] * 4 === fw && (cfg.backbone.inChannels ?? 3) === fb.featureChannels;
      if (!ok) fail('VREMD', `a token ViT over ${fb.name}'s features (imgSize [${fh / 4}, ${fw / 4}], inChannels ${fb.featureChannels})`, `imgSize [${cfg.backbone.imgSize.join(', ')}], inChannels ${cfg.backbone.inChannels ?? 3}`);
      if (cfg.residual && fb.numJoints !== J) fail('VREMD', `a featureBackbone with ${J} heatmaps for the residual head`, String(fb.numJoints));
    }
    this.poseBackbone = fb;
    this.feature_backbone = this.module('feature_backbone', fb ? fb.module : null);
    this.backbone = this.module('backbone', new ViT(cfg.backbone));
    const useHKME = cfg.hkme !== false;
    this.hkme = this.module(
      'hkme',
      useHKME
        ? new HKME({
            dim: D,
            numHeads: cfg.numHeads,
            mlpRatio: cfg.mlpRatio,
            numFrames: T,
            numTokens: N,
            numJoints: J,
            humanDepth: cfg.humanDepth,
            keypointDepth: cfg.keypointDepth,
            spatialDepth: cfg.spatialDepth,
            temporalDepth: cfg.temporalDepth,
            reductionHidden: cfg.reductionHidden,
            humanMask: cfg.humanMask,
            keypointMask: cfg.keypointMask,
          })
        : null,
    );
    this.bmd = this.module(
      'bmd',
      cfg.bmd !== false ? new BMD({ dim: D, grid: s.grid, numHeads: cfg.numHeads, mlpRatio: cfg.adcMlpRatio, dca: cfg.dca, depth: cfg.adcDepth, shareDirections: cfg.shareDirections }) : null,
    );
    this.token_head = this.module('token_head', useHKME ? new TokenHead(D, s.heatmap) : null);
    this.motion_head = this.module('motion_head', new HeatmapHead(D, J, cfg.headChannels, cfg.headLayers ?? 2));
    initVREMD(this);
    if (!fb) {
      for (const p of this.backbone.parameters()) p.requiresGrad = false;
      this.backbone.eval();
    }
    if (cfg.residual) {
      // H_t = H_bb + H_k + H_m starts at H_bb: the last layers of both heads are zero.
      const layers = this.token_head?.mlp_head.layers ?? [];
      const last = layers[layers.length - 1] ?? null;
      if (last instanceof Linear) {
        zeros_(last.weight);
        if (last.bias) zeros_(last.bias);
      }
      zeros_(this.motion_head.finalLayer.weight);
      zeros_(this.motion_head.finalLayer.bias!);
    }
    this.featureCache = opts.cacheSize ? new FeatureCache(opts.cacheSize) : null;
  }

  /** Training mode for the trainable parts; the frozen backbone stays in eval mode. */
  override train(mode = true): this {
    super.train(mode);
    (this.feature_backbone ?? this.backbone)?.train(false);
    return this;
  }

  /** The input crop size [H, W] the model takes. */
  get inputSize(): [number, number] {
    const [h, w] = this.cfg.backbone.imgSize;
    return this.cfg.featureBackbone ? [4 * h, 4 * w] : [h, w];
  }

  /** The frozen network: the ViT (paper) or `feature_backbone`. */
  private get frozenPart(): Module {
    return this.feature_backbone ?? this.backbone;
  }

  /** Parameters the optimizer updates (everything but the frozen backbone). */
  trainableParameters(): Tensor[] {
    return this.namedParameters()
      .filter(([, p]) => p.requiresGrad)
      .map((e) => e[1]);
  }

  /** Parameter counts: the frozen backbone, the trainable rest, and their sum. */
  parameterCounts(): { frozen: number; trainable: number; total: number } {
    const frozen = this.frozenPart.numParameters();
    const total = this.numParameters();
    return { frozen, trainable: total - frozen, total };
  }

  /**
   * Backbone tokens of crops x [B, 3, H, W] → [B, N, D], computed under noGrad (no graph is recorded).
   * @throws Error (naming `VREMD`) when x is not [B, 3, H, W] at the backbone's input size, is
   *   disposed, or has another dtype or device than the model.
   */
  encode(x: Tensor): Tensor {
    const [H, W] = this.inputSize;
    if (!(x instanceof Tensor)) fail('VREMD', 'frames as Tensors [B, 3, H, W]', String(x));
    live('VREMD', 'frames', x);
    sameAsModel('VREMD', 'frames', x, this);
    if (x.rank !== 4 || x.shape[1] !== 3 || x.shape[2] !== H || x.shape[3] !== W) fail('VREMD', `frames of shape [B, 3, ${H}, ${W}]`, fmtShape(x.shape));
    const fb = this.poseBackbone;
    if (!fb) return noGrad(() => this.backbone.forwardTokens(x));
    // the frozen backbone's maps, [B, C + K, h·w]: features then heatmaps (what the cache keeps)
    return noGrad(() => {
      const o = fb.forward(x);
      const [B, C, h, w] = o.features.shape as [number, number, number, number];
      return reshape(concat([o.features, o.heatmaps], 1), [B, C + o.heatmaps.shape[1]!, h * w]);
    });
  }

  /**
   * Tokens [B, 3, N, D] and the key frame's backbone heatmaps [B, J, h, w] from encoded frames
   * [B, 3, ·] (`encode`'s output per frame, stacked): the ViT's tokens as they are, or the frozen
   * backbone's maps through the tokenizer.
   */
  private tokenize(encoded: Tensor): { tokens: Tensor; base: Tensor | null } {
    const fb = this.poseBackbone;
    if (!fb) return { tokens: encoded, base: null };
    const [B, T, CK] = encoded.shape as [number, number, number, number];
    const C = fb.featureChannels;
    const [h, w] = this.cfg.backbone.imgSize;
    const maps = reshape(encoded, [B * T, CK, h, w]);
    const tokens = reshape(this.backbone.forwardTokens(slice(maps, 1, 0, C)), [B, T, this.sizes.N, this.sizes.D]);
    const key = reshape(slice(encoded, 1, 1, 2), [B, CK, h, w]);
    return { tokens, base: this.cfg.residual ? slice(key, 1, C, CK) : null };
  }

  /**
   * The backbone tokens [B, 3, N, D] of an input (see VREMDInput), using the feature cache for frames
   * with ids.
   * @throws Error (naming `VREMD`) on shapes other than documented, a frame count other than 3,
   *   frameIds that are not [3][B] strings, frameIds without a cache, a disposed tensor, or a
   *   dtype or device other than the model's.
   */
  tokensOf(input: VREMDInput): Tensor {
    return this.inputsOf(input).tokens;
  }

  /** tokensOf, with the residual's base heatmaps (the key frame's backbone heatmaps; null without). */
  private inputsOf(input: VREMDInput): { tokens: Tensor; base: Tensor | null } {
    const op = 'VREMD';
    if (!input || typeof input !== 'object') fail(op, 'an input { frames } or { tokens }', String(input));
    const { N, D } = this.sizes;
    if ('backboneOutput' in input) {
      // the frozen `feature_backbone`'s outputs of frames [t-1, t, t+1] (e.g. cached): features
      // [B, 3, C, h, w] and heatmaps [B, 3, J, h, w], packed as `encode` packs them
      const fb = this.poseBackbone;
      if (!fb) fail(op, 'a configuration with featureBackbone for backboneOutput', 'the ViT backbone');
      const { features: fe, heatmaps: he } = input.backboneOutput;
      const [h, w] = this.cfg.backbone.imgSize;
      const C = fb.featureChannels;
      if (fe.rank !== 5 || fe.shape[1] !== 3 || fe.shape[2] !== C || fe.shape[3] !== h || fe.shape[4] !== w) fail(op, `backboneOutput.features [B, 3, ${C}, ${h}, ${w}]`, fmtShape(fe.shape));
      const B = fe.shape[0]!;
      if (he.rank !== 5 || he.shape[0] !== B || he.shape[1] !== 3 || he.shape[2] !== fb.numJoints || he.shape[3] !== h || he.shape[4] !== w) fail(op, `backboneOutput.heatmaps [${B}, 3, ${fb.numJoints}, ${h}, ${w}]`, fmtShape(he.shape));
      return this.tokenize(reshape(concat([fe, he], 2), [B, 3, C + fb.numJoints, h * w]));
    }
    if ('tokens' in input) {
      const base = input.baseHeatmaps ?? null;
      if (this.cfg.residual && !base) fail(op, 'baseHeatmaps (the key frame\'s backbone heatmaps [B, J, h, w]) with tokens, for the residual head', 'none');
      const t = input.tokens;
      if (t instanceof Tensor) {
        live(op, 'tokens', t);
        sameAsModel(op, 'tokens', t, this);
        if (t.rank !== 4 || t.shape[1] !== 3 || t.shape[2] !== N || t.shape[3] !== D) fail(op, `tokens of shape [B, 3, ${N}, ${D}]`, fmtShape(t.shape));
        return { tokens: t, base };
      }
      const list = triple(op, 'tokens', t);
      for (const x of list) {
        if (x.rank !== 3 || x.shape[1] !== N || x.shape[2] !== D) fail(op, `tokens of shape [B, ${N}, ${D}] per frame`, fmtShape(x.shape));
        sameAsModel(op, 'tokens', x, this);
      }
      return { tokens: stack(list, 1), base };
    }
    if (!('frames' in input)) fail(op, 'an input { frames } or { tokens }', `an object with keys [${Object.keys(input).join(', ')}]`);
    const f = input.frames;
    let frames: Tensor[];
    if (f instanceof Tensor) {
      live(op, 'frames', f);
      if (f.rank !== 5 || f.shape[1] !== 3) fail(op, 'frames of shape [B, 3, 3, H, W] (frames t-1, t, t+1)', fmtShape(f.shape));
      const [B, , C, H, W] = f.shape as [number, number, number, number, number];
      frames = [0, 1, 2].map((i) => reshape(slice(f, 1, i, i + 1), [B, C, H, W]));
    } else frames = triple(op, 'frames', f);
    const B = frames[0]!.shape[0];
    for (const x of frames) if (x.shape[0] !== B) fail(op, `frames of one batch size ${B}`, fmtShape(x.shape));
    const ids = input.frameIds;
    if (!ids) return this.tokenize(stack(frames.map((x) => this.encode(x)), 1));
    const cache = this.featureCache;
    if (!cache) fail(op, 'a feature cache (new VREMD(cfg, { cacheSize })) when frameIds are given', 'none');
    if (!Array.isArray(ids) || ids.length !== 3 || ids.some((r) => !Array.isArray(r) || r.length !== B || r.some((s) => typeof s !== 'string'))) {
      fail(op, `frameIds as 3 arrays of ${B} strings`, Array.isArray(ids) ? `an array of length ${ids.length}` : String(ids));
    }
    return this.tokenize(stack(frames.map((x, t) => this.cachedTokens(x, ids[t]!, cache)), 1));
  }

  private cachedTokens(x: Tensor, ids: readonly string[], cache: FeatureCache): Tensor {
    const missing: number[] = [];
    const got: (Tensor | undefined)[] = ids.map((id, b) => {
      const c = cache.get(id);
      if (!c) missing.push(b);
      return c;
    });
    if (missing.length) {
      const sub = missing.length === ids.length ? x : indexSelect(x, 0, tensor(new Int32Array(missing), { dtype: 'int32', device: x.device }));
      const tok = this.encode(sub);
      missing.forEach((b, i) => {
        const row = reshape(slice(tok, 0, i, i + 1), tok.shape.slice(1));
        cache.set(ids[b]!, row);
        got[b] = row;
      });
    }
    return stack(got as Tensor[], 0);
  }

  /** Every intermediate of a forward pass (see VREMDOutput). */
  forwardDetailed(input: VREMDInput): VREMDOutput {
    const { tokens: features, base } = this.inputsOf(input);
    const { N, D, grid } = this.sizes;
    const B = features.shape[0]!;
    const ft = reshape(slice(features, 1, 1, 2), [B, N, D]);
    const h = this.hkme ? this.hkme.forward(features) : null;
    const hk = h && this.token_head ? this.token_head.forward(h.keyTokens) : null;
    // Without HKME, ADC takes the key frame's backbone features as F (paper Table 4 (b)).
    const b = this.bmd ? this.bmd.forward(features, h ? h.F : ft) : null;
    const agg = b ? add(ft, b.M) : ft;
    const hm = this.motion_head.forward(reshape(permute(agg, [0, 2, 1]), [B, D, grid[0], grid[1]]));
    const sum = hk ? add(hk, hm) : hm;
    return {
      heatmaps: base ? add(base, sum) : sum,
      hk,
      hm,
      features,
      F: h ? h.F : null,
      M: b ? b.M : null,
      keyTokens: h ? h.keyTokens : null,
      humanMask: h ? h.humanMask : null,
      keypointMask: h ? h.keypointMask : null,
      pointsF: b ? b.pointsF : null,
      pointsB: b ? b.pointsB : null,
    };
  }

  /** Heatmaps H_t [B, J, h, w] of the key frame (see VREMDInput). */
  forward(input: VREMDInput): Tensor {
    return this.forwardDetailed(input).heatmaps;
  }

  /**
   * Loads a ViTPose (mmpose) state dict: `backbone.*` into the frozen backbone (strict: every
   * backbone key must be present), and, when `head` (default true), `keypoint_head.*` into H_m's
   * deconv head (the shapes must match: 17 joints, the same channels).
   * @throws Error when backbone keys are missing or shapes differ.
   */
  loadViTPose(sd: StateDictSource, opts: { head?: boolean } = {}): { backbone: LoadResult; head: LoadResult | null } {
    const entries = sd instanceof Map ? sd : new Map(Object.entries(sd));
    const pick = (prefix: string): Map<string, Tensor | HostTensor> => new Map([...entries].filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
    const backbone = this.backbone.loadStateDict(pick('backbone.'));
    const head = opts.head === false ? null : this.motion_head.loadStateDict(pick('keypoint_head.'));
    return { backbone, head };
  }
}

function live(op: string, name: string, t: Tensor): void {
  if (t.isDisposed) fail(op, `${name} to be a live tensor`, `tensor #${t.id} [${t.shape.join(', ')}], which was disposed`);
}

/** Throws unless t has the model's dtype and device (those of the token ViT's pos_embed). */
function sameAsModel(op: string, name: string, t: Tensor, m: VREMD): void {
  const ref = m.backbone.posEmbed;
  if (t.dtype !== ref.dtype || t.device !== ref.device) fail(op, `${name} as ${ref.dtype} on ${ref.device} (the model's)`, `${t.dtype} on ${t.device}`);
}

function triple(op: string, name: string, v: unknown): Tensor[] {
  if (!Array.isArray(v) || v.length !== 3) fail(op, `${name} as 3 tensors (frames t-1, t, t+1) or one tensor`, Array.isArray(v) ? `${v.length} tensors` : String(v));
  v.forEach((t, i) => {
    if (!(t instanceof Tensor)) fail(op, `${name}[${i}] to be a Tensor`, String(t));
    if (t.isDisposed) fail(op, `${name}[${i}] to be a live tensor`, `tensor #${t.id}, which was disposed`);
  });
  return v as Tensor[];
}

/**
 * Init of the trainable parts: Linear trunc-normal(0.02) with zero bias and LayerNorm (1, 0), as
 * ViT/TokenPose; tokens trunc-normal(0.02) (set at construction); MultiheadAttention's in_proj
 * xavier-uniform (PyTorch's default); ψ's depthwise conv PyTorch's default; DCA's θ as Deformable
 * DETR (DCA.resetOffsets); H_m's deconvs and final conv N(0, 0.001) with zero bias (ViTPose's head,
 * set by HeatmapHead). The backbone keeps ViT's init (load ViTPose weights over it).
 */
function initVREMD(m: VREMD): void {
  for (const root of [m.hkme, m.bmd, m.token_head]) {
    if (!root) continue;
    for (const [, mod] of root.namedModules()) {
      if (mod instanceof Linear) {
        truncNormal_(mod.weight, 0.02);
        if (mod.bias) constant_(mod.bias, 0);
      } else if (mod instanceof LayerNorm) {
        if (mod.weight) constant_(mod.weight, 1);
        if (mod.bias) constant_(mod.bias, 0);
      } else if (mod instanceof DCA) mod.resetOffsets();
    }
  }
}

/**
 * Builds VREMD from a preset name ('paper', 'small', 'tiny') or a configuration.
 * @throws Error for an unknown preset or an invalid configuration.
 */
export function createVREMD(preset: string | VREMDConfig, opts: VREMDOptions = {}): VREMD {
  return new VREMD(typeof preset === 'string' ? vremdPreset(preset) : preset, opts);
}

/**
 * VREMD's loss (Eq 5): the heatmap MSE on H_t only, with per-joint visibility weights, as HRNet's
 * JointsMSELoss (`jointsMseLoss`: 0.5 · mean over B, J and pixels of (w·(H_t − G_t))²).
 * Shapes: heatmaps and target [B, J, h, w], targetWeight [B, J, 1] or [B, J] → [].
 * @throws Error from jointsMseLoss on mismatched shapes, dtypes or devices.
 */
export function vremdLoss(heatmaps: Tensor, target: Tensor, targetWeight: Tensor): Tensor {
  return jointsMseLoss(heatmaps, target, targetWeight);
}
