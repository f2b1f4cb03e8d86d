/**
 * FaSRnet's feature refinement module (FRM, paper Sec. 3.1), with the official module and
 * parameter names (Elvis-Aron/FaSRnet, posetimation/layers/pcda.py):
 *
 * (a) `FRMAlignment` = the official `PCDAlignment_3`: EDVR's PCD alignment (Wang XT et al. 2019)
 *     without the pyramid's downsampling; its three "levels" l3, l2, l1 are parallel receptive
 *     fields, DCNs at dilations 5, 3, 1 (paper Eqs 1-7, Fig. 3). One unshared instance aligns the
 *     previous frame's features (`pcda_p`), another the next frame's (`pcda_n`).
 * (b) `FRMFusion` = the official `TSAFusion` (EDVR's temporal-spatial attention fusion, paper
 *     Eqs 8-10), over the frames [prev, cur, next].
 *
 * The official code concatenates two feature maps channel by channel (`cat_alignment`:
 * [a_0, b_0, a_1, b_1, ...]) rather than one after the other; `interleave` does the same, so that
 * the official conv weights load unchanged (a plain concat would only permute the weights' input
 * channels). All convs are 3x3 (padding 1, bias) unless stated; lrelu is LeakyReLU(0.1).
 */
import { freeIntermediates } from '../../engine/engine.js';
import { fail, fmtShape } from '../../engine/shape.js';
import type { Tensor } from '../../engine/tensor.js';
import { add, leakyRelu, mul, sigmoid } from '../../ops/elementwise.js';
import { avgPool2d, maxPool2d } from '../../ops/pooling.js';
import { sum } from '../../ops/reduce.js';
import { interpolate } from '../../ops/resample.js';
import { concat, reshape, stack } from '../../ops/shape.js';
import { Conv2d } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { DCNv2Pack, type OffsetPaddingQuirk } from './dcn.js';

const lrelu = (x: Tensor): Tensor => leakyRelu(x, 0.1);

/**
 * Applies `fs` in turn, freeing each intermediate once the next step has read it (under noGrad;
 * see freeIntermediates). The first input is freed too when it is an intermediate of this call.
 */
function chain(x: Tensor, ...fs: ((t: Tensor) => Tensor)[]): Tensor {
  let y = x;
  for (const f of fs) {
    const next = f(y);
    if (next !== y) freeIntermediates(y);
    y = next;
  }
  return y;
}
const conv3 = (cin: number, cout: number): Conv2d => new Conv2d(cin, cout, 3, { padding: 1 });

/**
 * The official `cat_alignment`: a [B, C, H, W] and b [B, C, H, W] → [B, 2C, H, W] with channel
 * 2c = a_c and 2c + 1 = b_c.
 * @throws Error when the shapes differ.
 */
export function interleave(a: Tensor, b: Tensor): Tensor {
  if (a.rank !== 4 || a.shape.join() !== b.shape.join()) fail('interleave', `two tensors of one shape [B, C, H, W]`, `${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  const [B, C, H, W] = a.shape as [number, number, number, number];
  return reshape(stack([a, b], 2), [B, 2 * C, H, W]);
}

/** torch.nn.ModuleDict: named children, in insertion order (keys `<name>.<key>.*`). */
export class ModuleDict<M extends Module> extends Module {
  private readonly items = new Map<string, M>();
  set(key: string, m: M): M {
    this.items.set(key, this.module(key, m));
    return m;
  }
  get(key: string): M {
    const m = this.items.get(key);
    if (!m) fail('ModuleDict', `one of [${[...this.items.keys()].join(', ')}]`, `'${key}'`);
    return m;
  }
}

export interface FRMAlignmentConfig {
  /** Dilations of the branches b = 1..n, levels l_n..l_1 (the paper: [5, 3, 1]). */
  dilations?: readonly number[];
  /** Offset groups of the DCNs (the official `deformable_groups`: 1). */
  deformableGroups?: number;
  /** See OffsetPaddingQuirk (default 'off'). */
  offsetPaddingQuirk?: OffsetPaddingQuirk;
}

/**
 * FRM (a), feature alignment (paper Eqs 1-7): aligns a neighbour's features to the reference
 * (current) frame's. For branch b = 1..n with dilation d_b and level name l_{n+1-b}:
 *
 *   o_b = lrelu(offset_conv1(nbr ⧺ ref))                                     Eq 1
 *   b = 1:  o_b = lrelu(offset_conv2(o_b))                                  Eq 2
 *   b > 1:  o_b = lrelu(offset_conv3(lrelu(offset_conv2(o_b ⧺ o_{b-1}))))   Eq 4
 *   a_b = DCN_{d_b}(nbr, offset feature o_b)                                Eqs 3, 5
 *   b > 1:  a_b = feat_conv(a_b ⧺ a_{b-1});   b < n:  a_b = lrelu(a_b)
 * then the cascade (Eqs 6-7): o_c = lrelu(cas_offset_conv2(lrelu(cas_offset_conv1(a_n ⧺ ref)))),
 * out = lrelu(cas_dcnpack(a_n, o_c)) with dilation 1.
 * (⧺ = `interleave`; convs 2C→C or C→C.) As in the official code, the DCNs of Eqs 3/5 deform the
 * neighbour's features and the cascade deforms a_n (the paper's Eq 7 names F_{t+i} as its input).
 *
 * forward(nbr [B, C, H, W], ref [B, C, H, W]) → aligned [B, C, H, W].
 * @throws Error on mismatched shapes (from interleave or the convs).
 */
export class FRMAlignment extends Module {
  readonly offset_conv1: ModuleDict<Conv2d>;
  readonly offset_conv2: ModuleDict<Conv2d>;
  readonly offset_conv3: ModuleDict<Conv2d>;
  readonly dcn_pack: ModuleDict<DCNv2Pack>;
  readonly feat_conv: ModuleDict<Conv2d>;
  readonly cas_offset_conv1: Conv2d;
  readonly cas_offset_conv2: Conv2d;
  readonly cas_dcnpack: DCNv2Pack;
  readonly dilations: readonly number[];
  /** Level names in branch order: l_n, ..., l_1. */
  readonly levels: readonly string[];

  constructor(readonly numFeat: number, cfg: FRMAlignmentConfig = {}) {
    super();
    this.dilations = cfg.dilations ?? [5, 3, 1];
    const n = this.dilations.length;
    if (n < 1) fail('FRMAlignment', 'at least one dilation', '[]');
    this.levels = this.dilations.map((_, b) => `l${n - b}`);
    const C = numFeat;
    const dcnCfg = { deformableGroups: cfg.deformableGroups ?? 1, offsetPaddingQuirk: cfg.offsetPaddingQuirk ?? 'off' };
    // Registration order as PCDAlignment_3.__init__: the five ModuleDicts, then the cascade.
    this.offset_conv1 = this.module('offset_conv1', new ModuleDict<Conv2d>());
    this.offset_conv2 = this.module('offset_conv2', new ModuleDict<Conv2d>());
    this.offset_conv3 = this.module('offset_conv3', new ModuleDict<Conv2d>());
    this.dcn_pack = this.module('dcn_pack', new ModuleDict<DCNv2Pack>());
    this.feat_conv = this.module('feat_conv', new ModuleDict<Conv2d>());
    this.levels.forEach((lv, b) => {
      this.offset_conv1.set(lv, conv3(2 * C, C));
      this.offset_conv2.set(lv, conv3(b === 0 ? C : 2 * C, C));
      if (b > 0) this.offset_conv3.set(lv, conv3(C, C));
      this.dcn_pack.set(lv, new DCNv2Pack(C, C, C, { ...dcnCfg, dilation: this.dilations[b]! }));
      if (b > 0) this.feat_conv.set(lv, conv3(2 * C, C));
    });
    this.cas_offset_conv1 = this.module('cas_offset_conv1', conv3(2 * C, C));
    this.cas_offset_conv2 = this.module('cas_offset_conv2', conv3(C, C));
    this.cas_dcnpack = this.module('cas_dcnpack', new DCNv2Pack(C, C, C, { ...dcnCfg, dilation: 1 }));
  }

  forward(nbr: Tensor, ref: Tensor): Tensor {
    let oPrev: Tensor | null = null;
    let aPrev: Tensor | null = null;
    const n = this.levels.length;
    // Each level's offsets and features are read by the next level only: freed there (noGrad).
    const conv = (m: Conv2d) => (t: Tensor): Tensor => m.forward(t);
    this.levels.forEach((lv, b) => {
      let o = chain(interleave(nbr, ref), conv(this.offset_conv1.get(lv)), lrelu);
      if (b === 0) o = chain(o, conv(this.offset_conv2.get(lv)), lrelu);
      else {
        const pair = interleave(o, oPrev!);
        freeIntermediates(o, oPrev);
        o = chain(pair, conv(this.offset_conv2.get(lv)), lrelu, conv(this.offset_conv3.get(lv)), lrelu);
      }
      let a = this.dcn_pack.get(lv).forward(nbr, o);
      if (b > 0) {
        const pair = interleave(a, aPrev!);
        freeIntermediates(a, aPrev);
        a = chain(pair, conv(this.feat_conv.get(lv)));
      }
      if (b < n - 1) a = chain(a, lrelu);
      oPrev = o;
      aPrev = a;
    });
    freeIntermediates(oPrev);
    const a = aPrev!;
    const oc = chain(interleave(a, ref), conv(this.cas_offset_conv1), lrelu, conv(this.cas_offset_conv2), lrelu);
    const out = this.cas_dcnpack.forward(a, oc);
    freeIntermediates(a, oc);
    return chain(out, lrelu);
  }
}

/**
 * FRM (b), attention fusion (paper Eqs 8-10): the official `TSAFusion` (EDVR) with T frames and
 * the reference at `centerFrameIdx` (FaSRnet: T = 3, [prev, cur, next], centre 1).
 *
 * Temporal attention (Eqs 8-9): e_ref = temporal_attn1(F_ref), e_i = temporal_attn2(F_i) (one conv
 * for every frame, the centre included), S_i = sigmoid(Σ_c e_i·e_ref) [B, 1, H, W], F'_i = F_i·S_i.
 * Fusion (Eq 10): feat = lrelu(feat_fusion 1x1 T·C→C (F'_1 ⧺ ... ⧺ F'_T)) (plain concat).
 * Spatial attention, a two-level pyramid on A = cat(F'_i):
 *   a  = lrelu(spatial_attn1 1x1 (A));  a = lrelu(spatial_attn2 1x1 (maxpool(a) ⧺ avgpool(a)))
 *   al = lrelu(spatial_attn_l1 1x1 (a)); al = lrelu(spatial_attn_l2 (maxpool(al) ⧺ avgpool(al)))
 *   al = up(lrelu(spatial_attn_l3 (al)))
 *   a  = lrelu(spatial_attn3 (a)) + al;  a = up(lrelu(spatial_attn4 1x1 (a)));  a = spatial_attn5(a)
 *   add = spatial_attn_add2 1x1 (lrelu(spatial_attn_add1 1x1 (a)))
 *   out = feat · sigmoid(a) · 2 + add
 * pools: 3x3, stride 2, padding 1 (avg counts the padding); up: bilinear ×2, align_corners=False.
 *
 * forward(frames: T tensors [B, C, H, W]) → fused features F_t^final [B, C, H, W].
 * @throws Error when the frame count or shapes are wrong, or H or W is not divisible by 4 (the two
 *   pooling levels must upsample back to the input size).
 */
export class FRMFusion extends Module {
  readonly temporal_attn1: Conv2d;
  readonly temporal_attn2: Conv2d;
  readonly feat_fusion: Conv2d;
  readonly spatial_attn1: Conv2d;
  readonly spatial_attn2: Conv2d;
  readonly spatial_attn3: Conv2d;
  readonly spatial_attn4: Conv2d;
  readonly spatial_attn5: Conv2d;
  readonly spatial_attn_l1: Conv2d;
  readonly spatial_attn_l2: Conv2d;
  readonly spatial_attn_l3: Conv2d;
  readonly spatial_attn_add1: Conv2d;
  readonly spatial_attn_add2: Conv2d;

  constructor(readonly numFeat: number, readonly numFrame = 3, readonly centerFrameIdx = 1) {
    super();
    const C = numFeat;
    if (!Number.isInteger(centerFrameIdx) || centerFrameIdx < 0 || centerFrameIdx >= numFrame) fail('FRMFusion', `centerFrameIdx in [0, ${numFrame - 1}]`, String(centerFrameIdx));
    const c1 = (cin: number, cout: number): Conv2d => new Conv2d(cin, cout, 1);
    this.temporal_attn1 = this.module('temporal_attn1', conv3(C, C));
    this.temporal_attn2 = this.module('temporal_attn2', conv3(C, C));
    this.feat_fusion = this.module('feat_fusion', c1(numFrame * C, C));
    this.spatial_attn1 = this.module('spatial_attn1', c1(numFrame * C, C));
    this.spatial_attn2 = this.module('spatial_attn2', c1(2 * C, C));
    this.spatial_attn3 = this.module('spatial_attn3', conv3(C, C));
    this.spatial_attn4 = this.module('spatial_attn4', c1(C, C));
    this.spatial_attn5 = this.module('spatial_attn5', conv3(C, C));
    this.spatial_attn_l1 = this.module('spatial_attn_l1', c1(C, C));
    this.spatial_attn_l2 = this.module('spatial_attn_l2', conv3(2 * C, C));
    this.spatial_attn_l3 = this.module('spatial_attn_l3', conv3(C, C));
    this.spatial_attn_add1 = this.module('spatial_attn_add1', c1(C, C));
    this.spatial_attn_add2 = this.module('spatial_attn_add2', c1(C, C));
  }

  /** Eqs 8-9: the per-frame similarity maps S_i = sigmoid(Σ_c e_i·e_ref), each [B, 1, H, W]. */
  temporalAttention(frames: readonly Tensor[]): Tensor[] {
    const eRef = this.temporal_attn1.forward(frames[this.centerFrameIdx]!);
    return frames.map((f) => sigmoid(sum(mul(this.temporal_attn2.forward(f), eRef), 1, true)));
  }

  forward(frames: readonly Tensor[]): Tensor {
    const op = 'FRMFusion';
    if (frames.length !== this.numFrame) fail(op, `${this.numFrame} frames`, String(frames.length));
    const s0 = frames[0]!.shape;
    for (const f of frames) if (f.rank !== 4 || f.shape.join() !== s0.join()) fail(op, `frames of one shape [B, ${this.numFeat}, H, W]`, frames.map((x) => fmtShape(x.shape)).join(', '));
    const [, , H, W] = s0 as [number, number, number, number];
    if (H % 4 !== 0 || W % 4 !== 0) fail(op, 'feature maps whose H and W are divisible by 4', `${H}x${W}`);
    const probs = this.temporalAttention(frames);
    const aligned = concat(frames.map((f, i) => mul(f, probs[i]!)), 1);
    const feat = lrelu(this.feat_fusion.forward(aligned));
    const pool = (x: Tensor): Tensor => concat([maxPool2d(x, 3, { stride: 2, padding: 1 }), avgPool2d(x, 3, { stride: 2, padding: 1 })], 1);
    const up = (x: Tensor): Tensor => interpolate(x, { scaleFactor: 2, mode: 'bilinear', alignCorners: false });
    let attn = lrelu(this.spatial_attn1.forward(aligned));
    attn = lrelu(this.spatial_attn2.forward(pool(attn)));
    let level = lrelu(this.spatial_attn_l1.forward(attn));
    level = lrelu(this.spatial_attn_l2.forward(pool(level)));
    level = up(lrelu(this.spatial_attn_l3.forward(level)));
    attn = add(lrelu(this.spatial_attn3.forward(attn)), level);
    attn = up(lrelu(this.spatial_attn4.forward(attn)));
    attn = this.spatial_attn5.forward(attn);
    const attnAdd = this.spatial_attn_add2.forward(lrelu(this.spatial_attn_add1.forward(attn)));
    return add(mul(mul(feat, sigmoid(attn)), 2), attnAdd);
  }
}
