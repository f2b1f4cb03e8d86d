/**
 * GLPose Feature Processing module, conditional feature aggregation (Jiao et al., ACM TOMM 2022,
 * Sec. 3.1, Eq. 4):
 *     S = Blocks(V_t ⊕ W_l·V_l ⊕ W_g·V_g),   ⊕ = channel concatenation.
 * The weights W_l, W_g come from weighting.ts. "Three basic blocks are employed for conditional
 * feature aggregation" (Sec. 3.3): torchvision BasicBlocks; the first projects the (1+2k+n)·C
 * concatenated channels (720 = 15 × 48 in the paper) to `outChannels` with a 1x1 conv + BN shortcut,
 * the others keep the width. (resnet.ts's BasicBlock, which frees its intermediates
 * as it goes under noGrad.)
 * Channel order of the concatenation: V_t, then the local frames in input order, then the global
 * frames best first; each frame's C channels are contiguous.
 */
import type { Tensor } from '../../engine/tensor.js';
import { concat, reshape } from '../../ops/shape.js';
import { check, fail, fmtShape } from '../../ops/util.js';
import { BasicBlock } from '../backbones/resnet.js';
import { BatchNorm2d, Conv2d, Sequential } from '../nn/layers.js';
import { Module } from '../nn/module.js';

/** A stack of `count` BasicBlocks from `cin` to `cout` channels; the first has a 1x1 conv + BN projection when cin ≠ cout. */
export function basicBlockStack(cin: number, cout: number, count: number): Sequential {
  if (!Number.isInteger(count) || count < 1) fail('basicBlockStack', 'at least one block', String(count));
  const blocks: BasicBlock[] = [];
  for (let b = 0; b < count; b++) {
    const inC = b === 0 ? cin : cout;
    const down = inC !== cout ? new Sequential(new Conv2d(inC, cout, 1, { bias: false }), new BatchNorm2d(cout)) : null;
    blocks.push(new BasicBlock(inC, cout, 1, down));
  }
  return new Sequential(...blocks);
}

/**
 * Eq. 4. forward(vt [B, C, h, w], locals [B, 2k, C, h, w] | null, globals [B, n, C, h, w] | null)
 * → S [B, outChannels, h, w]. `locals` and `globals` are already weighted (W_l·V_l, W_g·V_g).
 * Parameters: `blocks.{i}.conv1/bn1/conv2/bn2` and `blocks.0.downsample.{0,1}`.
 */
export class FeatureProcessing extends Module {
  readonly blocks: Sequential;
  readonly inChannels: number;

  /**
   * @param channels C, the backbone feature width.
   * @param frames 1 + 2k + n, the frames concatenated.
   */
  constructor(readonly channels: number, readonly frames: number, readonly outChannels: number, numBlocks = 3) {
    super();
    this.inChannels = channels * frames;
    this.blocks = this.module('blocks', basicBlockStack(this.inChannels, outChannels, numBlocks));
  }

  /** The concatenation V_t ⊕ W_l·V_l ⊕ W_g·V_g: [B, (1+2k+n)·C, h, w]. */
  aggregate(vt: Tensor, locals: Tensor | null, globals: Tensor | null): Tensor {
    const op = 'FeatureProcessing';
    check(op, 'key features', vt);
    if (vt.rank !== 4 || vt.shape[1] !== this.channels) fail(op, `key features [B, ${this.channels}, h, w]`, `shape ${fmtShape(vt.shape)}`);
    const [B, C, h, w] = vt.shape as [number, number, number, number];
    const parts: Tensor[] = [vt];
    for (const [name, t] of [['local features', locals], ['global features', globals]] as const) {
      if (!t) continue;
      check(op, name, t);
      if (t.rank !== 5 || t.shape[0] !== B || t.shape[2] !== C || t.shape[3] !== h || t.shape[4] !== w) fail(op, `${name} [${B}, frames, ${C}, ${h}, ${w}]`, `shape ${fmtShape(t.shape)}`);
      if (t.shape[1]! > 0) parts.push(reshape(t, [B, t.shape[1]! * C, h, w]));
    }
    const x = parts.length === 1 ? vt : concat(parts, 1);
    if (x.shape[1] !== this.inChannels) fail(op, `${this.frames} frames (${this.inChannels} channels) in all`, `${x.shape[1]! / C} frames`);
    return x;
  }

  forward(vt: Tensor, locals: Tensor | null, globals: Tensor | null): Tensor {
    return this.blocks.forward(this.aggregate(vt, locals, globals));
  }
}
