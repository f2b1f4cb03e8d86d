/**
 * ResNet (He et al., "Deep Residual Learning for Image Recognition", CVPR 2016) with torchvision's
 * module and parameter names (`conv1`, `bn1`, `layer1.0.conv1`, `layer2.0.downsample.0`, `fc`), so
 * that a torchvision state dict loads key for key, and SimpleBaseline (Xiao et al., "Simple
 * Baselines for Human Pose Estimation and Tracking", ECCV 2018) with the official PoseResNet names
 * (`deconv_layers.N`, `final_layer`).
 *
 * Blocks follow torchvision (v1.5): the Bottleneck's stride sits on its 3x3 conv, every conv has
 * no bias, and a projection shortcut (`downsample` = 1x1 conv + BN) appears when the stride or the
 * channel count changes.
 *
 * Shapes: input [N, 3, H, W] → trunk features [N, C4, H/32, W/32] (C4 = 512·expansion) →
 * SimpleBaseline heatmaps [N, K, H/4, W/4] (or 256-channel features without a head).
 */
import { freeIntermediates } from '../../engine/engine.js';
import type { Tensor } from '../../engine/tensor.js';
import { add } from '../../ops/elementwise.js';
import { relu } from '../../ops/elementwise.js';
import { adaptiveAvgPool2d } from '../../ops/pooling.js';
import { flatten } from '../../ops/shape.js';
import { normal_, constant_, kaimingNormal_ } from '../nn/init.js';
import { BatchNorm2d, Conv2d, ConvTranspose2d, Linear, ReLU, Sequential, type TensorModule } from '../nn/layers.js';
import { MaxPool2d } from '../nn/extra-layers.js';
import { Module } from '../nn/module.js';

export type ResNetDepth = 18 | 34 | 50 | 101 | 152;
export type BlockKind = 'basic' | 'bottleneck';

/**
 * y = f(x), then frees x if it is an intermediate of the current Module call and f did not return
 * it (engine freeIntermediates: at once under noGrad, never under grad, where autograd may have
 * saved it): for chains where each output is read only by the next step.
 */
export function applyAndFree(x: Tensor, f: (t: Tensor) => Tensor): Tensor {
  const y = f(x);
  if (y !== x) freeIntermediates(x);
  return y;
}

/** relu(out + identity), identity = downsample(x) or x; frees out and a projected identity once summed. */
function residualRelu(out: Tensor, x: Tensor, downsample: Sequential | null): Tensor {
  const identity = downsample ? downsample.forward(x) : x;
  const sum = add(out, identity);
  freeIntermediates(out, identity === x ? null : identity);
  return applyAndFree(sum, relu);
}

/** torchvision's table: block type and blocks per stage for each depth. */
export const RESNET_SPECS: Readonly<Record<ResNetDepth, { block: BlockKind; layers: readonly [number, number, number, number] }>> = {
  18: { block: 'basic', layers: [2, 2, 2, 2] },
  34: { block: 'basic', layers: [3, 4, 6, 3] },
  50: { block: 'bottleneck', layers: [3, 4, 6, 3] },
  101: { block: 'bottleneck', layers: [3, 4, 23, 3] },
  152: { block: 'bottleneck', layers: [3, 8, 36, 3] },
};

export interface ResNetConfig {
  /** A standard depth; sets `block` and `layers` unless those are given. */
  depth?: ResNetDepth;
  block?: BlockKind;
  /** Blocks per stage (layer1..layer4). */
  layers?: readonly [number, number, number, number];
  /** Planes of each stage (torchvision: [64, 128, 256, 512]); a Bottleneck outputs 4× planes. */
  widths?: readonly [number, number, number, number];
  /** Channels of the 7x7 stem (torchvision: 64). */
  stemChannels?: number;
  inChannels?: number;
  /** When set, adds torchvision's classification head (global average pool + `fc`). */
  numClasses?: number | null;
}

interface Resolved {
  block: BlockKind;
  layers: readonly [number, number, number, number];
  widths: readonly [number, number, number, number];
  stemChannels: number;
  inChannels: number;
  numClasses: number | null;
}

export function resolveResNetConfig(cfg: ResNetConfig): Resolved {
  const op = 'ResNet';
  const spec = cfg.depth !== undefined ? RESNET_SPECS[cfg.depth] : undefined;
  if (cfg.depth !== undefined && !spec) throw new Error(`${op}: expected depth 18, 34, 50, 101 or 152, got ${cfg.depth}`);
  const block = cfg.block ?? spec?.block;
  const layers = cfg.layers ?? spec?.layers;
  if (!block || !layers) throw new Error(`${op}: expected a depth, or both block and layers, got ${JSON.stringify(cfg)}`);
  if (block !== 'basic' && block !== 'bottleneck') throw new Error(`${op}: expected block 'basic' or 'bottleneck', got '${String(block)}'`);
  const widths = cfg.widths ?? [64, 128, 256, 512];
  const positive = (v: number): boolean => Number.isInteger(v) && v > 0;
  if (layers.length !== 4 || !layers.every(positive)) throw new Error(`${op}: expected 4 positive block counts, got [${layers.join(', ')}]`);
  if (widths.length !== 4 || !widths.every(positive)) throw new Error(`${op}: expected 4 positive stage widths, got [${widths.join(', ')}]`);
  const stemChannels = cfg.stemChannels ?? 64;
  const inChannels = cfg.inChannels ?? 3;
  if (!positive(stemChannels) || !positive(inChannels)) throw new Error(`${op}: expected positive stem and input channels, got ${stemChannels} and ${inChannels}`);
  return { block, layers, widths, stemChannels, inChannels, numClasses: cfg.numClasses ?? null };
}

export const expansionOf = (b: BlockKind): number => (b === 'basic' ? 1 : 4);

function conv3x3(cin: number, cout: number, stride = 1): Conv2d {
  return new Conv2d(cin, cout, 3, { stride, padding: 1, bias: false });
}
function conv1x1(cin: number, cout: number, stride = 1): Conv2d {
  return new Conv2d(cin, cout, 1, { stride, bias: false });
}

/** torchvision BasicBlock: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)). */
export class BasicBlock extends Module implements TensorModule {
  static readonly expansion = 1;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly downsample: Sequential | null;

  constructor(inplanes: number, planes: number, stride = 1, downsample: Sequential | null = null) {
    super();
    this.conv1 = this.module('conv1', conv3x3(inplanes, planes, stride));
    this.bn1 = this.module('bn1', new BatchNorm2d(planes));
    this.conv2 = this.module('conv2', conv3x3(planes, planes));
    this.bn2 = this.module('bn2', new BatchNorm2d(planes));
    this.downsample = this.module('downsample', downsample);
  }

  /** Frees each intermediate once the next op has read it (applyAndFree): under noGrad the block holds its input, at most two [N, C, H, W] temporaries and the residual sum. */
  forward(x: Tensor): Tensor {
    let out = applyAndFree(x, (t) => this.conv1.forward(t));
    out = applyAndFree(out, (t) => this.bn1.forward(t));
    out = applyAndFree(out, relu);
    out = applyAndFree(out, (t) => this.conv2.forward(t));
    out = applyAndFree(out, (t) => this.bn2.forward(t));
    return residualRelu(out, x, this.downsample);
  }
}

/** torchvision Bottleneck (v1.5: stride on the 3x3): 1x1 → 3x3(stride) → 1x1 (4× planes). */
export class Bottleneck extends Module implements TensorModule {
  static readonly expansion = 4;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly conv3: Conv2d;
  readonly bn3: BatchNorm2d;
  readonly downsample: Sequential | null;

  constructor(inplanes: number, planes: number, stride = 1, downsample: Sequential | null = null) {
    super();
    this.conv1 = this.module('conv1', conv1x1(inplanes, planes));
    this.bn1 = this.module('bn1', new BatchNorm2d(planes));
    this.conv2 = this.module('conv2', conv3x3(planes, planes, stride));
    this.bn2 = this.module('bn2', new BatchNorm2d(planes));
    this.conv3 = this.module('conv3', conv1x1(planes, planes * 4));
    this.bn3 = this.module('bn3', new BatchNorm2d(planes * 4));
    this.downsample = this.module('downsample', downsample);
  }

  /** Frees each intermediate once read, as BasicBlock does (with a projection, bn3's output and the projection's two outputs coexist, as in PyTorch). */
  forward(x: Tensor): Tensor {
    let out = applyAndFree(x, (t) => this.conv1.forward(t));
    out = applyAndFree(out, (t) => this.bn1.forward(t));
    out = applyAndFree(out, relu);
    out = applyAndFree(out, (t) => this.conv2.forward(t));
    out = applyAndFree(out, (t) => this.bn2.forward(t));
    out = applyAndFree(out, relu);
    out = applyAndFree(out, (t) => this.conv3.forward(t));
    out = applyAndFree(out, (t) => this.bn3.forward(t));
    return residualRelu(out, x, this.downsample);
  }
}

/**
 * The ResNet trunk (torchvision.models.ResNet without, by default, the classifier):
 * conv1 7x7/2 → bn1 → relu → maxpool 3x3/2 → layer1 … layer4 (strides 1, 2, 2, 2).
 * forward: [N, inChannels, H, W] → [N, widths[3]·expansion, ⌈H/32⌉-ish, ...] (or [N, numClasses]).
 * Init as torchvision: convs kaiming-normal (fan_out, ReLU gain), BN weight 1 and bias 0.
 * @throws Error on an invalid configuration.
 */
export class ResNet extends Module implements TensorModule {
  readonly cfg: Resolved;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly maxpool: MaxPool2d;
  readonly layer1: Sequential;
  readonly layer2: Sequential;
  readonly layer3: Sequential;
  readonly layer4: Sequential;
  readonly fc: Linear | null;
  /** Channels of layer4's output. */
  readonly outChannels: number;

  constructor(cfg: ResNetConfig) {
    super();
    const c = resolveResNetConfig(cfg);
    this.cfg = c;
    this.conv1 = this.module('conv1', new Conv2d(c.inChannels, c.stemChannels, 7, { stride: 2, padding: 3, bias: false }));
    this.bn1 = this.module('bn1', new BatchNorm2d(c.stemChannels));
    this.maxpool = this.module('maxpool', new MaxPool2d(3, { stride: 2, padding: 1 }));
    let inplanes = c.stemChannels;
    const exp = expansionOf(c.block);
    const makeLayer = (planes: number, blocks: number, stride: number): Sequential => {
      let down: Sequential | null = null;
      if (stride !== 1 || inplanes !== planes * exp) down = new Sequential(conv1x1(inplanes, planes * exp, stride), new BatchNorm2d(planes * exp));
      const Block = c.block === 'basic' ? BasicBlock : Bottleneck;
      const list: TensorModule[] = [new Block(inplanes, planes, stride, down)];
      inplanes = planes * exp;
      for (let i = 1; i < blocks; i++) list.push(new Block(inplanes, planes));
      return new Sequential(...list);
    };
    this.layer1 = this.module('layer1', makeLayer(c.widths[0], c.layers[0], 1));
    this.layer2 = this.module('layer2', makeLayer(c.widths[1], c.layers[1], 2));
    this.layer3 = this.module('layer3', makeLayer(c.widths[2], c.layers[2], 2));
    this.layer4 = this.module('layer4', makeLayer(c.widths[3], c.layers[3], 2));
    this.outChannels = inplanes;
    this.fc = this.module('fc', c.numClasses ? new Linear(inplanes, c.numClasses) : null);
    for (const [, m] of this.namedModules()) {
      if (m instanceof Conv2d) kaimingNormal_(m.weight, 'fanOut');
      else if (m instanceof BatchNorm2d) {
        if (m.weight) constant_(m.weight, 1);
        if (m.bias) constant_(m.bias, 0);
      }
    }
  }

  /** conv1 … layer4: [N, inChannels, H, W] → [N, outChannels, H', W']. */
  forwardFeatures(x: Tensor): Tensor {
    let y = this.maxpool.forward(relu(this.bn1.forward(this.conv1.forward(x))));
    y = this.layer1.forward(y);
    y = this.layer2.forward(y);
    y = this.layer3.forward(y);
    return this.layer4.forward(y);
  }

  forward(x: Tensor): Tensor {
    const f = this.forwardFeatures(x);
    if (!this.fc) return f;
    return this.fc.forward(flatten(adaptiveAvgPool2d(f, 1), 1));
  }
}

export interface SimpleBaselineConfig extends Omit<ResNetConfig, 'numClasses'> {
  /** Number of deconv stages (official: 3). */
  numDeconvLayers?: number;
  /** Channels of every deconv stage (official: 256). */
  deconvChannels?: number;
  /** Deconv kernel: 4 (padding 1, output_padding 0), 3 (1, 1) or 2 (0, 0), as HRNet's _get_deconv_cfg. */
  deconvKernel?: 2 | 3 | 4;
  /** Joints K of the 1x1 `final_layer`; null builds no head and forward returns the deconv features. */
  numJoints: number | null;
}

/** HRNet's `_get_deconv_cfg`: (padding, output_padding) for a stride-2 deconv of kernel k. */
function deconvCfg(k: number): [number, number] {
  if (k === 4) return [1, 0];
  if (k === 3) return [1, 1];
  if (k === 2) return [0, 0];
  throw new Error(`SimpleBaseline: expected deconvKernel 2, 3 or 4, got ${k}`);
}

/**
 * SimpleBaseline (official PoseResNet): the ResNet trunk (keys `conv1`, `layer1`, … at the top
 * level, as the official code), `deconv_layers` = numDeconvLayers × [ConvTranspose2d k/2 (no bias)
 * + BatchNorm2d + ReLU] at `deconvChannels` channels, and `final_layer` = 1x1 conv to K joints.
 * forward: [N, 3, H, W] → [N, K, H/4, W/4] (or [N, deconvChannels, H/4, W/4] without a head).
 * Init as the official `init_weights`: deconv and final conv weights N(0, 0.001), biases 0.
 */
export class SimpleBaseline extends ResNet {
  readonly deconv_layers: Sequential;
  readonly final_layer: Conv2d | null;
  readonly numJoints: number | null;
  readonly deconvChannels: number;
  /** The configuration it was built from (what a weights file records to rebuild it). */
  readonly spec: SimpleBaselineConfig;

  constructor(cfg: SimpleBaselineConfig) {
    super({ ...cfg, numClasses: null });
    this.spec = { ...cfg };
    const n = cfg.numDeconvLayers ?? 3;
    const ch = cfg.deconvChannels ?? 256;
    const k = cfg.deconvKernel ?? 4;
    if (!Number.isInteger(n) || n < 0) throw new Error(`SimpleBaseline: expected numDeconvLayers as an integer ≥ 0, got ${n}`);
    if (!Number.isInteger(ch) || ch <= 0) throw new Error(`SimpleBaseline: expected deconvChannels as a positive integer, got ${ch}`);
    if (cfg.numJoints !== null && (!Number.isInteger(cfg.numJoints) || cfg.numJoints <= 0)) throw new Error(`SimpleBaseline: expected numJoints as a positive integer or null, got ${cfg.numJoints}`);
    const [padding, outputPadding] = deconvCfg(k);
    const layers: TensorModule[] = [];
    let cin = this.outChannels;
    for (let i = 0; i < n; i++) {
      const d = new ConvTranspose2d(cin, ch, k, { stride: 2, padding, outputPadding, bias: false });
      normal_(d.weight, 0, 0.001);
      layers.push(d, new BatchNorm2d(ch), new ReLU());
      cin = ch;
    }
    this.deconv_layers = this.module('deconv_layers', new Sequential(...layers));
    this.deconvChannels = cin;
    this.numJoints = cfg.numJoints;
    this.final_layer = this.module('final_layer', cfg.numJoints !== null ? new Conv2d(cin, cfg.numJoints, 1) : null);
    if (this.final_layer) {
      normal_(this.final_layer.weight, 0, 0.001);
      constant_(this.final_layer.bias!, 0);
    }
  }

  /** The deconv features [N, deconvChannels, H/4, W/4] (before final_layer). */
  forwardDeconv(x: Tensor): Tensor {
    return this.deconv_layers.forward(this.forwardFeatures(x));
  }

  override forward(x: Tensor): Tensor {
    const f = this.forwardDeconv(x);
    return this.final_layer ? this.final_layer.forward(f) : f;
  }
}

// ------------------------------------------------------------------------------------ cost model

export interface Cost {
  params: number;
  /** Multiply-accumulates of the convolutions and linear layers (what thop and the pose papers call FLOPs). */
  macs: number;
}

const convOut = (n: number, k: number, s: number, p: number): number => Math.floor((n + 2 * p - k) / s) + 1;

/**
 * Analytic parameter count and MACs of a ResNet trunk (or SimpleBaseline when `head` is given) for
 * an input of H x W: conv MACs = Cout·Ho·Wo·(Cin/groups)·kh·kw, deconv MACs = Cin·H·W·Cout·k² (every
 * input pixel scatters a k x k x Cout patch), BN and biases counted as parameters only.
 */
export function resnetCost(cfg: ResNetConfig, H: number, W: number, head?: { numDeconvLayers?: number; deconvChannels?: number; deconvKernel?: number; numJoints: number | null }): Cost & { outShape: [number, number, number] } {
  const c = resolveResNetConfig(cfg);
  let params = 0;
  let macs = 0;
  let h = H;
  let w = W;
  const conv = (cin: number, cout: number, k: number, s: number, p: number, bias = false): void => {
    h = convOut(h, k, s, p);
    w = convOut(w, k, s, p);
    params += cout * cin * k * k + (bias ? cout : 0);
    macs += cout * h * w * cin * k * k;
  };
  const bn = (ch: number): void => {
    params += 2 * ch;
  };
  conv(c.inChannels, c.stemChannels, 7, 2, 3);
  bn(c.stemChannels);
  h = convOut(h, 3, 2, 1);
  w = convOut(w, 3, 2, 1);
  let inplanes = c.stemChannels;
  const exp = expansionOf(c.block);
  c.layers.forEach((blocks, stage) => {
    const planes = c.widths[stage]!;
    for (let b = 0; b < blocks; b++) {
      const stride = b === 0 && stage > 0 ? 2 : 1;
      const h0 = h;
      const w0 = w;
      if (b === 0 && (stride !== 1 || inplanes !== planes * exp)) {
        conv(inplanes, planes * exp, 1, stride, 0);
        bn(planes * exp);
        h = h0;
        w = w0;
      }
      if (c.block === 'basic') {
        conv(inplanes, planes, 3, stride, 1);
        bn(planes);
        conv(planes, planes, 3, 1, 1);
        bn(planes);
      } else {
        conv(inplanes, planes, 1, 1, 0);
        bn(planes);
        conv(planes, planes, 3, stride, 1);
        bn(planes);
        conv(planes, planes * 4, 1, 1, 0);
        bn(planes * 4);
      }
      inplanes = planes * exp;
    }
  });
  let ch = inplanes;
  if (head) {
    const k = head.deconvKernel ?? 4;
    const [p, op] = deconvCfg(k);
    for (let i = 0; i < (head.numDeconvLayers ?? 3); i++) {
      const cout = head.deconvChannels ?? 256;
      params += ch * cout * k * k;
      macs += ch * h * w * cout * k * k;
      h = (h - 1) * 2 - 2 * p + k + op;
      w = (w - 1) * 2 - 2 * p + k + op;
      bn(cout);
      ch = cout;
    }
    if (head.numJoints !== null) {
      conv(ch, head.numJoints, 1, 1, 0, true);
      ch = head.numJoints;
    }
  } else if (c.numClasses) {
    params += ch * c.numClasses + c.numClasses;
    macs += ch * c.numClasses;
    ch = c.numClasses;
    h = 1;
    w = 1;
  }
  return { params, macs, outShape: [ch, h, w] };
}

/** resnetCost for a SimpleBaseline configuration. */
export function simpleBaselineCost(cfg: SimpleBaselineConfig, H: number, W: number): Cost & { outShape: [number, number, number] } {
  return resnetCost(cfg, H, W, cfg);
}
