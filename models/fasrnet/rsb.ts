/**
 * The RSB block of RSN (Cai et al., "Learning Delicate Local Representations for Multi-Person Pose
 * Estimation", ECCV 2020), as FaSRnet's SRM uses it (the paper's "3x3 convolutional block (Cai et
 * al., 2020)" of Eqs 11-15), with the official names (Elvis-Aron/FaSRnet,
 * posetimation/layers/RSN_model.py: `conv_bn_relu`, `RSB_BLOCK`, `CHAIN_RSB_BLOCKS`).
 *
 * One block, for C_in input channels and br = ⌊C_in·26/64⌋ branch channels:
 *
 *   s1..s4 = split(relu(bn(conv1x1 C_in→4·br (x))), br)              conv_bn_relu1
 *   o11 = c(s1)                                                        conv_bn_relu2_1_1
 *   o21 = c(s2 + o11);  o22 = c(o21)                                   conv_bn_relu2_2_{1,2}
 *   o31 = c(s3 + o21);  o32 = c(o31 + o22);  o33 = c(o32)              conv_bn_relu2_3_{1,2,3}
 *   o41 = c(s4 + o31);  o42 = c(o41 + o32);  o43 = c(o42 + o33);  o44 = c(o43)   conv_bn_relu2_4_{1..4}
 *   out = relu(bn(conv1x1 4·br→C_out (cat(o11, o22, o33, o44))) + residual)     conv_bn_relu3
 *
 * where c is a 3x3 conv (padding 1) + BN + ReLU, and residual = bn(conv1x1 C_in→C_out (x))
 * (`downsample`, no ReLU) in the first block of a chain, x otherwise. All convs have a bias.
 */
import { fail } from '../../engine/shape.js';
import type { Tensor } from '../../engine/tensor.js';
import { add, relu } from '../../ops/elementwise.js';
import { concat, split } from '../../ops/shape.js';
import { BatchNorm2d, Conv2d, Sequential } from '../nn/layers.js';
import { Module } from '../nn/module.js';

/** The official `conv_bn_relu`: conv (with bias) → BN → ReLU (when hasRelu). Keys `conv.*`, `bn.*`. */
export class ConvBnRelu extends Module {
  readonly conv: Conv2d;
  readonly bn: BatchNorm2d;
  constructor(inPlanes: number, outPlanes: number, kernelSize: number, padding: number, readonly hasRelu = true) {
    super();
    this.conv = this.module('conv', new Conv2d(inPlanes, outPlanes, kernelSize, { padding }));
    this.bn = this.module('bn', new BatchNorm2d(outPlanes));
  }
  forward(x: Tensor): Tensor {
    const y = this.bn.forward(this.conv.forward(x));
    return this.hasRelu ? relu(y) : y;
  }
}

/**
 * One RSB block (the official `RSB_BLOCK`, from RSN's Bottleneck): see the file header.
 * forward(x [B, C_in, H, W]) → [B, C_out, H, W].
 * @throws Error when C_in < 3 (no branch channels), or when C_in ≠ C_out without a downsample.
 */
export class RSBBlock extends Module {
  readonly branchCh: number;
  private readonly head: ConvBnRelu;
  /** The ten 3x3 conv-BN-ReLUs in forward order: 2_1_1, 2_2_1, 2_2_2, 2_3_1, ..., 2_4_4. */
  private readonly c: ConvBnRelu[];
  private readonly tail: ConvBnRelu;
  readonly downsample: ConvBnRelu | null;

  constructor(readonly inPlanes: number, readonly planes: number, downsample: ConvBnRelu | null = null) {
    super();
    const op = 'RSBBlock';
    this.branchCh = Math.floor((inPlanes * 26) / 64);
    if (this.branchCh < 1) fail(op, 'at least 3 input channels (branch channels ⌊C_in·26/64⌋ ≥ 1)', String(inPlanes));
    if (!downsample && inPlanes !== planes) fail(op, `a downsample when in (${inPlanes}) and out (${planes}) channels differ`, 'none');
    const br = this.branchCh;
    this.head = this.module('conv_bn_relu1', new ConvBnRelu(inPlanes, 4 * br, 1, 0));
    const names = ['2_1_1', '2_2_1', '2_2_2', '2_3_1', '2_3_2', '2_3_3', '2_4_1', '2_4_2', '2_4_3', '2_4_4'];
    this.c = names.map((n) => this.module(`conv_bn_relu${n}`, new ConvBnRelu(br, br, 3, 1)));
    this.tail = this.module('conv_bn_relu3', new ConvBnRelu(4 * br, planes, 1, 0, false));
    this.downsample = this.module('downsample', downsample);
  }

  forward(x: Tensor): Tensor {
    const [s1, s2, s3, s4] = split(this.head.forward(x), this.branchCh, 1) as [Tensor, Tensor, Tensor, Tensor];
    const c = this.c;
    const o11 = c[0]!.forward(s1);
    const o21 = c[1]!.forward(add(s2, o11));
    const o22 = c[2]!.forward(o21);
    const o31 = c[3]!.forward(add(s3, o21));
    const o32 = c[4]!.forward(add(o31, o22));
    const o33 = c[5]!.forward(o32);
    const o41 = c[6]!.forward(add(s4, o31));
    const o42 = c[7]!.forward(add(o41, o32));
    const o43 = c[8]!.forward(add(o42, o33));
    const o44 = c[9]!.forward(o43);
    const out = this.tail.forward(concat([o11, o22, o33, o44], 1));
    return relu(add(out, this.downsample ? this.downsample.forward(x) : x));
  }
}

/**
 * The official `CHAIN_RSB_BLOCKS`: `layers` = Sequential of numBlocks RSB blocks, the first
 * C_in→C_out with a 1x1 conv + BN residual, the others C_out→C_out.
 * Keys: `layers.0.conv_bn_relu1.conv.weight`, ..., `layers.0.downsample.bn.running_var`, `layers.1...`.
 * forward(x [B, C_in, H, W]) → [B, C_out, H, W].
 * @throws Error when numBlocks < 1, or from RSBBlock.
 */
export class ChainRSBBlocks extends Module {
  readonly layers: Sequential;
  constructor(readonly inPlanes: number, readonly outPlanes: number, readonly numBlocks: number) {
    super();
    if (!Number.isInteger(numBlocks) || numBlocks < 1) fail('ChainRSBBlocks', 'numBlocks as an integer ≥ 1', String(numBlocks));
    const blocks = [new RSBBlock(inPlanes, outPlanes, new ConvBnRelu(inPlanes, outPlanes, 1, 0, false))];
    for (let i = 1; i < numBlocks; i++) blocks.push(new RSBBlock(outPlanes, outPlanes));
    this.layers = this.module('layers', new Sequential(...blocks));
  }
  forward(x: Tensor): Tensor {
    return this.layers.forward(x);
  }
}
