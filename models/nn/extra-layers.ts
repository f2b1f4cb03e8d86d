/**
 * More layers with PyTorch's names, parameters and defaults: LayerNorm, GroupNorm, Dropout,
 * Dropout2d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, Upsample and GELU. Each forward is one op
 * from ops/ (see there for shapes, sources and errors).
 */
import type { Tensor } from '../../engine/tensor.js';
import type { IntOrPair } from '../../ops/conv.js';
import { ones, zeros } from '../../ops/creation.js';
import { dropout, dropout2d } from '../../ops/dropout.js';
import { gelu } from '../../ops/elementwise.js';
import { groupNorm, layerNorm } from '../../ops/normalization.js';
import { adaptiveAvgPool2d, avgPool2d, maxPool2d, type AvgPool2dOptions, type MaxPool2dOptions } from '../../ops/pooling.js';
import { interpolate, type InterpolateOptions } from '../../ops/resample.js';
import { fail } from '../../ops/util.js';
import { Module } from './module.js';

/**
 * torch.nn.LayerNorm(normalizedShape, eps = 1e-5, elementwiseAffine = true) over the trailing dims:
 * parameters weight (ones) and bias (zeros) of shape normalizedShape. (ViTPose uses eps 1e-6.)
 */
export class LayerNorm extends Module {
  readonly normalizedShape: number[];
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;

  constructor(normalizedShape: number | readonly number[], readonly eps = 1e-5, elementwiseAffine = true) {
    super();
    this.normalizedShape = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
    if (this.normalizedShape.length === 0 || this.normalizedShape.some((d) => !Number.isInteger(d) || d < 1)) fail('LayerNorm', 'normalizedShape as one or more positive integers', `[${this.normalizedShape.join(', ')}]`);
    this.weight = this.param('weight', elementwiseAffine ? ones(this.normalizedShape) : null);
    this.bias = this.param('bias', elementwiseAffine ? zeros(this.normalizedShape) : null);
  }

  forward(x: Tensor): Tensor {
    return layerNorm(x, this.normalizedShape, this.weight, this.bias, this.eps);
  }
}

/**
 * torch.nn.GroupNorm(numGroups, numChannels, eps = 1e-5, affine = true): parameters weight [C]
 * (ones) and bias [C] (zeros).
 */
export class GroupNorm extends Module {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;

  constructor(readonly numGroups: number, readonly numChannels: number, readonly eps = 1e-5, affine = true) {
    super();
    if (!Number.isInteger(numGroups) || numGroups < 1 || numChannels % numGroups !== 0) fail('GroupNorm', `numChannels divisible by numGroups`, `numChannels ${numChannels}, numGroups ${numGroups}`);
    this.weight = this.param('weight', affine ? ones([numChannels]) : null);
    this.bias = this.param('bias', affine ? zeros([numChannels]) : null);
  }

  forward(x: Tensor): Tensor {
    return groupNorm(x, this.numGroups, this.weight, this.bias, this.eps);
  }
}

/** torch.nn.Dropout(p): active in training mode only; masks from the seeded generator. */
export class Dropout extends Module {
  constructor(readonly p = 0.5) {
    super();
    if (typeof p !== 'number' || !(p >= 0 && p <= 1)) fail('Dropout', 'a dropout probability p in [0, 1]', String(p));
  }
  forward(x: Tensor): Tensor {
    return dropout(x, this.p, this.training);
  }
}

/** torch.nn.Dropout2d(p): drops whole channels of [N, C, H, W] in training mode. */
export class Dropout2d extends Module {
  constructor(readonly p = 0.5) {
    super();
    if (typeof p !== 'number' || !(p >= 0 && p <= 1)) fail('Dropout2d', 'a dropout probability p in [0, 1]', String(p));
  }
  forward(x: Tensor): Tensor {
    return dropout2d(x, this.p, this.training);
  }
}

/** torch.nn.MaxPool2d (without return_indices; call ops.maxPool2d for the indices). */
export class MaxPool2d extends Module {
  readonly opts: MaxPool2dOptions;
  constructor(readonly kernelSize: IntOrPair, opts: Omit<MaxPool2dOptions, 'returnIndices'> = {}) {
    super();
    this.opts = { ...opts, returnIndices: false };
  }
  forward(x: Tensor): Tensor {
    return maxPool2d(x, this.kernelSize, { ...this.opts, returnIndices: false });
  }
}

/** torch.nn.AvgPool2d. */
export class AvgPool2d extends Module {
  constructor(readonly kernelSize: IntOrPair, readonly opts: AvgPool2dOptions = {}) {
    super();
  }
  forward(x: Tensor): Tensor {
    return avgPool2d(x, this.kernelSize, this.opts);
  }
}

/** torch.nn.AdaptiveAvgPool2d (null in a pair keeps that input dim). */
export class AdaptiveAvgPool2d extends Module {
  constructor(readonly outputSize: number | readonly [number | null, number | null]) {
    super();
  }
  forward(x: Tensor): Tensor {
    return adaptiveAvgPool2d(x, this.outputSize);
  }
}

/** torch.nn.Upsample(size | scaleFactor, mode = 'nearest', alignCorners) for [N, C, H, W]. */
export class Upsample extends Module {
  constructor(readonly opts: InterpolateOptions) {
    super();
  }
  forward(x: Tensor): Tensor {
    return interpolate(x, this.opts);
  }
}

/** torch.nn.GELU(approximate = 'none' (erf) | 'tanh'). */
export class GELU extends Module {
  constructor(readonly approximate: 'none' | 'tanh' = 'none') {
    super();
    if (approximate !== 'none' && approximate !== 'tanh') fail('GELU', "approximate 'none' or 'tanh'", String(approximate));
  }
  forward(x: Tensor): Tensor {
    return gelu(x, { approximate: this.approximate });
  }
}
