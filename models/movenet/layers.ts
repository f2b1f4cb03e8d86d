/**
 * The layers MoveNet is made of, with TensorFlow's 'SAME' padding: a stride-2 3x3 conv on an
 * even-sized map pads 0 before and 1 after (TF pads the odd remainder after), which no symmetric
 * PyTorch padding reproduces; conv2d takes it as explicit per-side padding [[top, bottom],
 * [left, right]] (no separate pad op). The ReLU / ReLU6 after a conv is conv2d's `clamp`, fused
 * into the conv kernel when no gradient is recorded (with autograd, conv2d then clamp).
 *
 * The TF.js graph folds each batch norm into the conv before it (weights and a bias), so every conv
 * here has a bias and no BatchNorm follows.
 */
import { engine } from '../../engine/engine.js';
import type { Tensor } from '../../engine/tensor.js';
import { conv2d } from '../../ops/conv.js';
import { zeros } from '../../ops/creation.js';
import { fans, kaimingUniform_, uniform_ } from '../nn/init.js';
import { Module } from '../nn/module.js';

/**
 * Frees intermediates as soon as they are dead when no autograd graph can need them (inference
 * under `noGrad`), so a forward's peak memory is its largest live set rather than the sum of its
 * activations. With autograd on, the graph holds them and the enclosing `tidy` frees them.
 */
export function release(...ts: Tensor[]): void {
  if (engine.gradEnabled) return;
  for (const t of ts) t.dispose();
}

/**
 * TensorFlow's 'SAME' padding along one axis (tf.nn.conv2d): output ⌈size/stride⌉, total padding
 * max((out−1)·stride + k − size, 0), the odd unit after.
 */
export function samePadding(size: number, k: number, stride: number): [number, number] {
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + k - size, 0);
  const before = Math.floor(total / 2);
  return [before, total - before];
}

/**
 * A conv with TF's 'SAME' padding (or 'VALID'), a bias, and an optional ReLU / ReLU6.
 * weight [Cout, Cin/groups, k, k] (PyTorch layout), bias [Cout]. Input [B, Cin, H, W] →
 * [B, Cout, ⌈H/stride⌉, ⌈W/stride⌉].
 */
export class TfConv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(
    inChannels: number,
    outChannels: number,
    readonly kernelSize: number,
    readonly opts: { stride?: number; groups?: number; bias?: boolean; activation?: 'relu' | 'relu6' | null } = {},
  ) {
    super();
    const groups = opts.groups ?? 1;
    this.weight = this.param('weight', kaimingUniform_(zeros([outChannels, inChannels / groups, kernelSize, kernelSize]), Math.sqrt(5)));
    const b = 1 / Math.sqrt(fans(this.weight).fanIn);
    this.bias = this.param('bias', opts.bias === false ? null : uniform_(zeros([outChannels]), -b, b));
  }

  forward(x: Tensor): Tensor {
    const stride = this.opts.stride ?? 1;
    const k = this.kernelSize;
    const padding = [samePadding(x.shape[2]!, k, stride), samePadding(x.shape[3]!, k, stride)] as const;
    const act = this.opts.activation;
    const clamp = act === 'relu' ? ([0, Infinity] as const) : act === 'relu6' ? ([0, 6] as const) : undefined;
    return conv2d(x, this.weight, this.bias, { stride, padding, groups: this.opts.groups ?? 1, clamp });
  }
}

/**
 * Keras's SeparableConv2D as the graph runs it: a 3x3 depthwise conv without bias, then a 1x1
 * pointwise conv with bias, then ReLU. [B, Cin, H, W] → [B, Cout, H, W].
 */
export class SeparableConv2d extends Module {
  readonly depthwise: TfConv2d;
  readonly pointwise: TfConv2d;

  constructor(inChannels: number, outChannels: number) {
    super();
    this.depthwise = this.module('depthwise', new TfConv2d(inChannels, inChannels, 3, { groups: inChannels, bias: false }));
    this.pointwise = this.module('pointwise', new TfConv2d(inChannels, outChannels, 1, { activation: 'relu' }));
  }

  forward(x: Tensor): Tensor {
    const d = this.depthwise.forward(x);
    const y = this.pointwise.forward(d);
    release(d);
    return y;
  }
}
