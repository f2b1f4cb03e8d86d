/**
 * JRE, the Joint Relation Extractor of RPSTN (Dang, Yin, Zhang, "Relation-Based Associative Joint
 * Location for Human Pose Estimation in Videos", IEEE TIP 2022, Sec. III-B, Eqs 6-9).
 *
 * Given pseudo heatmaps M [B, K, H, W], with M̄ = M viewed as [B, K, H·W]:
 *   W_r = softmax(M̄·M̄ᵀ)                  Eq 6  (a K x K joint-correlation matrix per sample)
 *   G   = conv_g(M) viewed as [B, K, H·W]  Eq 7  (1x1 conv K→K)
 *   Y   = W_r·G                            Eq 8
 *   Z   = conv_o(Y) + M                    Eq 9  (conv_o = 1x1 conv K→K + BatchNorm2d(K))
 *
 * As in the official code (YHDang/pose-estimation, `_JREModule` with is_joint=True):
 * - the softmax runs over dim 1 of the [B, K, K] matrix, i.e. each *column* sums to one
 *   (W_r[i, j] = exp(f[i, j]) / Σ_i' exp(f[i', j])); since M̄·M̄ᵀ is symmetric this equals the
 *   transpose of the row softmax;
 * - conv_o's BatchNorm starts with γ = β = 0, so Z = M at initialization (JRE starts as the identity);
 * - parameter names: `g` (conv_g), `W.0` (conv_o's conv), `W.1` (its BatchNorm): 2K² + 4K
 *   parameters. The official module also registers `theta` and `phi` convs that its joint mode
 *   never calls; `fromOfficialStateDict` in model.ts drops them.
 *
 * The reshape of Y back to [B, K, H, W] has two variants (`reshape` option):
 * - 'official': `y.permute(0, 2, 1).contiguous().view(B, K, H, W)`, the released code. The [B, K, HW]
 *   tensor is transposed to [B, HW, K] and its memory reread as [B, K, H, W], so output channel k
 *   mixes several joints and pixels (element (k, p) of the view is Y[j, q] with q·K + j = k·HW + p).
 *   Trained official checkpoints expect this.
 * - 'clean': `y.view(B, K, H, W)`: channel k of the output is joint k's aggregated map, the reading
 *   of Eqs 7-9 without the scramble.
 *
 * Numerics: M̄·M̄ᵀ grows with H·W·|M|², but softmax subtracts the column maximum before exp, so large
 * logits (heatmaps in the thousands) give finite weights; no NaN or Infinity is produced for finite M.
 */
import type { Tensor } from '../../engine/tensor.js';
import { add } from '../../ops/elementwise.js';
import { matmul } from '../../ops/matmul.js';
import { permute, reshape, transpose } from '../../ops/shape.js';
import { softmax } from '../../ops/softmax.js';
import { constant_, kaimingNormal_ } from '../nn/init.js';
import { BatchNorm2d, Conv2d, Sequential, type TensorModule } from '../nn/layers.js';
import { Module } from '../nn/module.js';

export type JREReshape = 'official' | 'clean';

export interface JREConfig {
  /** Joints K (heatmap channels). */
  numJoints: number;
  /** How Y [B, K, H·W] returns to [B, K, H, W]; default 'official' (see the file comment). */
  reshape?: JREReshape;
}

/**
 * JRE module: [B, K, H, W] → [B, K, H, W]. Plug-and-play on any heatmap head (see `WithJRE`).
 * Init as the official `init_weights`: conv weights kaiming-normal (fan_out, ReLU gain), conv
 * biases PyTorch's default uniform, conv_o's BN γ = β = 0.
 * @throws Error from `forward` when the input is not [B, K, H, W] with K = numJoints.
 */
export class JRE extends Module implements TensorModule {
  readonly numJoints: number;
  private _reshape: JREReshape;
  /** conv_g (Eq 7): 1x1 conv K→K. */
  readonly g: Conv2d;
  /** conv_o (Eq 9): Sequential(1x1 conv K→K, BatchNorm2d(K) with γ = β = 0). */
  readonly W: Sequential;

  constructor(cfg: JREConfig) {
    super();
    const K = cfg.numJoints;
    if (!Number.isInteger(K) || K <= 0) throw new Error(`JRE: expected numJoints as a positive integer, got ${K}`);
    const mode = cfg.reshape ?? 'official';
    if (mode !== 'official' && mode !== 'clean') throw new Error(`JRE: expected reshape 'official' or 'clean', got '${String(mode)}'`);
    this.numJoints = K;
    this._reshape = mode;
    this.g = this.module('g', new Conv2d(K, K, 1));
    const bn = new BatchNorm2d(K);
    this.W = this.module('W', new Sequential(new Conv2d(K, K, 1), bn));
    kaimingNormal_(this.g.weight, 'fanOut');
    kaimingNormal_((this.W.layers[0] as Conv2d).weight, 'fanOut');
    constant_(bn.weight!, 0);
    constant_(bn.bias!, 0);
  }

  /** How Y returns to [B, K, H, W] (see the file comment). */
  get reshapeMode(): JREReshape {
    return this._reshape;
  }

  /**
   * Switches the reshape variant in place (it has no parameters, so loaded weights stay). RPSTN's
   * `useVariant` calls this.
   * @throws Error for a mode other than 'official' or 'clean'.
   */
  setReshape(mode: JREReshape): this {
    if (mode !== 'official' && mode !== 'clean') throw new Error(`JRE: expected reshape 'official' or 'clean', got '${String(mode)}'`);
    this._reshape = mode;
    return this;
  }

  /** The relation matrix W_r = softmax(M̄·M̄ᵀ, dim 1) (Eq 6): [B, K, H, W] → [B, K, K]. */
  relation(m: Tensor): Tensor {
    const [B, K, H, Wd] = this.checkInput(m);
    const mbar = reshape(m, [B, K, H * Wd]);
    return softmax(matmul(mbar, transpose(mbar, 1, 2)), 1);
  }

  forward(m: Tensor): Tensor {
    const [B, K, H, Wd] = this.checkInput(m);
    const wr = this.relation(m);
    const gx = reshape(this.g.forward(m), [B, K, H * Wd]);
    const y = matmul(wr, gx);
    const y4 = this._reshape === 'official' ? reshape(permute(y, [0, 2, 1]), [B, K, H, Wd]) : reshape(y, [B, K, H, Wd]);
    return add(this.W.forward(y4), m);
  }

  private checkInput(m: Tensor): [number, number, number, number] {
    if (m.rank !== 4 || m.shape[1] !== this.numJoints) throw new Error(`JRE: expected heatmaps [B, ${this.numJoints}, H, W], got [${m.shape.join(', ')}]`);
    return m.shape as unknown as [number, number, number, number];
  }
}

/**
 * A heatmap network followed by a JRE, as the paper's COCO experiments (SBL-JRE, HRNet-JRE,
 * Table VIII): forward(x) = JRE(net(x)). Keys: `backbone.*` and `jre.*`.
 */
export class WithJRE extends Module implements TensorModule {
  readonly backbone: Module & TensorModule;
  readonly jre: JRE;

  constructor(backbone: Module & TensorModule, cfg: JREConfig) {
    super();
    this.backbone = this.module('backbone', backbone);
    this.jre = this.module('jre', new JRE(cfg));
  }

  forward(x: Tensor): Tensor {
    return this.jre.forward(this.backbone.forward(x));
  }
}
