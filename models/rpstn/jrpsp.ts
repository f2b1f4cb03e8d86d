/**
 * JRPSP, the Joint Relation guided Pose Semantics Propagator of RPSTN (Dang et al., IEEE TIP 2022,
 * Sec. III-C and Fig. 5), and the per-sample dynamic convolution of Eq 3 that applies its output.
 *
 * JRPSP maps the aggregated features X_t^a [B, C, h, w] of frame t to one depthwise kernel per
 * sample and channel, S(X_t^a) [B, C, k, k]. Layout (official `dkd_param_adapter`, an
 * nn.Sequential, so the parameter keys are `dkd_param_adapter.{0,1,4,5,8,9,12,13}.*`):
 *
 *   0 conv3x3 (pad 0) · 1 BN · 2 ReLU · 3 maxpool 2x2/2
 *   4 conv3x3 (pad 1) · 5 BN · 6 ReLU · 7 maxpool 2x2/2
 *   8 conv3x3 (pad 1) · 9 BN · 10 ReLU · 11 maxpool 2x2/2
 *   12 conv3x3 (pad 1) · 13 BN
 *
 * Four convs and three pools, as the paper's text. Spatial size: h → h-2 → ⌊·/2⌋ → ⌊·/2⌋ → ⌊·/2⌋,
 * so 64x64 heatmaps give the 7x7 kernels of the paper (`jrpspKernelSize`).
 */
import type { Tensor } from '../../engine/tensor.js';
import { conv2d } from '../../ops/conv.js';
import { reshape } from '../../ops/shape.js';
import { constant_, kaimingNormal_ } from '../nn/init.js';
import { BatchNorm2d, Conv2d, ReLU, Sequential, type TensorModule } from '../nn/layers.js';
import { MaxPool2d } from '../nn/extra-layers.js';

/** Side of the kernel JRPSP produces from an h x h input: ((h - 2) halved three times). */
export function jrpspKernelSize(h: number): number {
  return Math.floor(Math.floor(Math.floor((h - 2) / 2) / 2) / 2);
}

/**
 * The JRPSP module: [B, C, h, w] → [B, C, k, k'] with k = jrpspKernelSize(h).
 * Init as the official `init_weights`: convs kaiming-normal (fan_out, ReLU gain) with zero bias,
 * BN γ = 1, β = 0.
 */
export class JRPSP extends Sequential {
  readonly channels: number;

  constructor(channels: number) {
    if (!Number.isInteger(channels) || channels <= 0) throw new Error(`JRPSP: expected channels as a positive integer, got ${channels}`);
    const C = channels;
    const conv = (pad: number): Conv2d => {
      const c = new Conv2d(C, C, 3, { padding: pad });
      kaimingNormal_(c.weight, 'fanOut');
      constant_(c.bias!, 0);
      return c;
    };
    const layers: TensorModule[] = [
      conv(0), new BatchNorm2d(C), new ReLU(), new MaxPool2d(2, { stride: 2 }),
      conv(1), new BatchNorm2d(C), new ReLU(), new MaxPool2d(2, { stride: 2 }),
      conv(1), new BatchNorm2d(C), new ReLU(), new MaxPool2d(2, { stride: 2 }),
      conv(1), new BatchNorm2d(C),
    ];
    super(...layers);
    this.channels = C;
  }

  override forward(x: Tensor): Tensor {
    if (x.rank !== 4 || x.shape[1] !== this.channels) throw new Error(`JRPSP: expected features [B, ${this.channels}, h, w], got [${x.shape.join(', ')}]`);
    if (jrpspKernelSize(Math.min(x.shape[2]!, x.shape[3]!)) < 1) throw new Error(`JRPSP: expected features of at least 16x16 (for a kernel of at least 1x1), got ${x.shape[2]}x${x.shape[3]}`);
    return super.forward(x);
  }
}

/**
 * Eq 3's dynamic convolution `S(X_t^a) ⊗ F(I_{t+1})`: every sample's features are convolved with
 * that sample's own depthwise kernels (the official AdaptiveConv2d).
 *
 * Shapes: features f [B, C, H, W], kernels k [B, C, kh, kw] → [B, C, H, W] ('same' padding: kh//2
 * for odd kernels, PyTorch's asymmetric 'same' for even ones; the paper's 7x7 uses padding 3).
 * Implemented as in the official code: f viewed as [1, B·C, H, W], k as [B·C, 1, kh, kw], one
 * conv2d with groups = B·C. The kernels are a graph tensor, so gradients reach both f and k.
 * @throws Error when the shapes do not match.
 */
export function dynamicConv(f: Tensor, k: Tensor): Tensor {
  if (f.rank !== 4 || k.rank !== 4 || f.shape[0] !== k.shape[0] || f.shape[1] !== k.shape[1]) {
    throw new Error(`dynamicConv: expected features [B, C, H, W] and kernels [B, C, kh, kw] with the same B and C, got [${f.shape.join(', ')}] and [${k.shape.join(', ')}]`);
  }
  const [B, C, H, W] = f.shape as [number, number, number, number];
  const [, , kh, kw] = k.shape as [number, number, number, number];
  const odd = kh % 2 === 1 && kw % 2 === 1;
  const out = conv2d(reshape(f, [1, B * C, H, W]), reshape(k, [B * C, 1, kh, kw]), null, {
    groups: B * C,
    padding: odd ? [(kh - 1) / 2, (kw - 1) / 2] : 'same',
  });
  return reshape(out, [B, C, H, W]);
}
