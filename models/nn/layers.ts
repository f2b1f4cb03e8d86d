/**
 * Core layers with PyTorch's parameter names, shapes and default initialization:
 * Conv2d, ConvTranspose2d, BatchNorm2d, Linear, activations, Identity, Sequential, ModuleList.
 */
import { engine } from '../../engine/engine.js';
import type { Tensor } from '../../engine/tensor.js';
import { conv2d, convTranspose2d, type Conv2dOptions, type IntOrPair } from '../../ops/conv.js';
import { ones, zeros, full } from '../../ops/creation.js';
import { leakyRelu, relu, sigmoid } from '../../ops/elementwise.js';
import { linear } from '../../ops/matmul.js';
import { batchNorm2d } from '../../ops/normalization.js';
import { pair } from '../../engine/shape.js';
import { fans, kaimingUniform_, uniform_ } from './init.js';
import { Module } from './module.js';

export interface Conv2dConfig extends Conv2dOptions {
  /** Learnable bias (default true, as PyTorch). */
  bias?: boolean;
}

/** torch.nn.Conv2d. weight [Cout, Cin/groups, kh, kw], bias [Cout]; kaiming-uniform(a=√5) init. */
export class Conv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly opts: Conv2dOptions;

  constructor(inChannels: number, outChannels: number, kernelSize: IntOrPair, cfg: Conv2dConfig = {}) {
    super();
    const [kh, kw] = pair('Conv2d', 'kernelSize', kernelSize, 1);
    const groups = cfg.groups ?? 1;
    this.weight = this.param('weight', zeros([outChannels, inChannels / groups, kh, kw]));
    kaimingUniform_(this.weight, Math.sqrt(5));
    const b = 1 / Math.sqrt(fans(this.weight).fanIn);
    this.bias = this.param('bias', cfg.bias === false ? null : uniform_(zeros([outChannels]), -b, b));
    this.opts = { stride: cfg.stride, padding: cfg.padding, dilation: cfg.dilation, groups };
  }

  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, this.opts);
  }
}

export interface ConvTranspose2dConfig {
  stride?: IntOrPair;
  padding?: IntOrPair;
  outputPadding?: IntOrPair;
  dilation?: IntOrPair;
  groups?: number;
  bias?: boolean;
}

/** torch.nn.ConvTranspose2d. weight [Cin, Cout/groups, kh, kw], bias [Cout]. */
export class ConvTranspose2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  private readonly cfg: ConvTranspose2dConfig;

  constructor(inChannels: number, outChannels: number, kernelSize: IntOrPair, cfg: ConvTranspose2dConfig = {}) {
    super();
    const [kh, kw] = pair('ConvTranspose2d', 'kernelSize', kernelSize, 1);
    const groups = cfg.groups ?? 1;
    this.weight = this.param('weight', zeros([inChannels, outChannels / groups, kh, kw]));
    kaimingUniform_(this.weight, Math.sqrt(5));
    const b = 1 / Math.sqrt(fans(this.weight).fanIn);
    this.bias = this.param('bias', cfg.bias === false ? null : uniform_(zeros([outChannels]), -b, b));
    this.cfg = cfg;
  }

  forward(x: Tensor): Tensor {
    return convTranspose2d(x, this.weight, this.bias, this.cfg);
  }
}

export interface BatchNormConfig {
  eps?: number;
  momentum?: number;
  affine?: boolean;
  trackRunningStats?: boolean;
}

/**
 * torch.nn.BatchNorm2d over [N, C, H, W]: weight/bias [C] (ones/zeros), buffers running_mean,
 * running_var and num_batches_tracked. Training mode uses batch statistics and updates the
 * running ones (momentum 0.1, eps 1e-5 by default); eval mode uses the running statistics.
 */
export class BatchNorm2d extends Module {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly runningMean: Tensor | null;
  readonly runningVar: Tensor | null;
  readonly numBatchesTracked: Tensor | null;
  readonly eps: number;
  readonly momentum: number;

  constructor(readonly numFeatures: number, cfg: BatchNormConfig = {}) {
    super();
    const affine = cfg.affine ?? true;
    const track = cfg.trackRunningStats ?? true;
    this.eps = cfg.eps ?? 1e-5;
    this.momentum = cfg.momentum ?? 0.1;
    this.weight = this.param('weight', affine ? ones([numFeatures]) : null);
    this.bias = this.param('bias', affine ? zeros([numFeatures]) : null);
    this.runningMean = this.buffer('running_mean', track ? zeros([numFeatures]) : null);
    this.runningVar = this.buffer('running_var', track ? ones([numFeatures]) : null);
    this.numBatchesTracked = this.buffer('num_batches_tracked', track ? full([], 0, { dtype: 'int32' }) : null);
  }

  forward(x: Tensor): Tensor {
    const training = this.training || !this.runningMean;
    return batchNorm2d(x, this.runningMean, this.runningVar, this.weight, this.bias, { training, momentum: this.momentum, eps: this.eps, numBatchesTracked: this.numBatchesTracked });
  }
}

/** torch.nn.Linear. weight [out, in], bias [out]; kaiming-uniform(a=√5) init. */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(inFeatures: number, outFeatures: number, cfg: { bias?: boolean } = {}) {
    super();
    this.weight = this.param('weight', kaimingUniform_(zeros([outFeatures, inFeatures]), Math.sqrt(5)));
    const b = 1 / Math.sqrt(inFeatures);
    this.bias = this.param('bias', cfg.bias === false ? null : uniform_(zeros([outFeatures]), -b, b));
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }
}

export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return relu(x);
  }
}

export class LeakyReLU extends Module {
  constructor(readonly negativeSlope = 0.01) {
    super();
  }
  forward(x: Tensor): Tensor {
    return leakyRelu(x, this.negativeSlope);
  }
}

export class Sigmoid extends Module {
  forward(x: Tensor): Tensor {
    return sigmoid(x);
  }
}

export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}

/** A module whose forward maps one tensor to one tensor. */
export interface TensorModule extends Module {
  forward(x: Tensor): Tensor;
}

/** torch.nn.Sequential: children named '0', '1', ... applied in order. */
export class Sequential extends Module {
  readonly layers: TensorModule[];
  constructor(...layers: TensorModule[]) {
    super();
    this.layers = layers.map((m, i) => this.module(String(i), m));
  }
  forward(x: Tensor): Tensor {
    let y = x;
    for (const m of this.layers) {
      const next = m.forward(y);
      // With grad off, a layer's input is dead once the next layer has run: free it now rather
      // than when this Sequential returns (only intermediates made in this call, never x).
      if (!engine.gradEnabled && engine.moduleScopes && y !== x && next !== y) engine.disposeIfScoped(y);
      y = next;
    }
    return y;
  }
}

/** torch.nn.ModuleList: children named '0', '1', ... */
export class ModuleList<M extends Module = Module> extends Module {
  readonly items: M[];
  constructor(items: M[] = []) {
    super();
    this.items = items.map((m, i) => this.module(String(i), m));
  }
  get length(): number {
    return this.items.length;
  }
  at(i: number): M {
    return this.items[i]!;
  }
  push(m: M): void {
    this.items.push(this.module(String(this.items.length), m));
  }
}
