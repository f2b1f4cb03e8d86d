/**
 * Weight initialization, as torch.nn.init. Values are drawn on the host from the engine's seeded
 * generator (`manualSeed`) and written into the tensor in place.
 */
import { engine } from '../../engine/engine.js';
import { fail } from '../../engine/shape.js';
import type { Tensor } from '../../engine/tensor.js';
import { tensor } from '../../ops/creation.js';

let skip = 0;

/**
 * Runs `fn` with every initializer in this file turned into a no-op, so that parameters keep the
 * zeros/ones they were created with. For building large models only to count their parameters or
 * to load a checkpoint over them (initialization draws hundreds of millions of random numbers).
 */
export function noInit<T>(fn: () => T): T {
  skip++;
  try {
    return fn();
  } finally {
    skip--;
  }
}

function write(t: Tensor, gen: () => number): Tensor {
  if (skip > 0) return t;
  const v = new Float64Array(t.size);
  for (let i = 0; i < v.length; i++) v[i] = gen();
  const src = tensor(v, { dtype: t.dtype, shape: t.shape, device: t.device });
  t.assign(src);
  src.dispose();
  return t;
}

/** fan_in and fan_out of a weight, as torch.nn.init._calculate_fan_in_and_fan_out. */
export function fans(t: Tensor): { fanIn: number; fanOut: number } {
  if (t.rank < 2) fail('init', 'a weight with at least 2 dims', `shape [${t.shape}]`);
  const receptive = t.shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: t.shape[1]! * receptive, fanOut: t.shape[0]! * receptive };
}

export function uniform_(t: Tensor, a = 0, b = 1): Tensor {
  return write(t, () => a + (b - a) * engine.rng.uniform());
}

export function normal_(t: Tensor, mean = 0, std = 1): Tensor {
  return write(t, () => mean + std * engine.rng.normal());
}

export function constant_(t: Tensor, value: number): Tensor {
  return write(t, () => value);
}

export const zeros_ = (t: Tensor): Tensor => constant_(t, 0);
export const ones_ = (t: Tensor): Tensor => constant_(t, 1);

/** torch.nn.init.kaiming_uniform_ (fan_in mode, leaky_relu gain with slope a). */
export function kaimingUniform_(t: Tensor, a = 0): Tensor {
  const gain = Math.sqrt(2 / (1 + a * a));
  const bound = gain * Math.sqrt(3 / fans(t).fanIn);
  return uniform_(t, -bound, bound);
}

/** torch.nn.init.kaiming_normal_ (fan_out mode when `mode` is 'fanOut', ReLU gain). */
export function kaimingNormal_(t: Tensor, mode: 'fanIn' | 'fanOut' = 'fanIn'): Tensor {
  const f = fans(t);
  return normal_(t, 0, Math.sqrt(2) / Math.sqrt(mode === 'fanIn' ? f.fanIn : f.fanOut));
}

/** torch.nn.init.xavier_uniform_. */
export function xavierUniform_(t: Tensor, gain = 1): Tensor {
  const f = fans(t);
  const bound = gain * Math.sqrt(6 / (f.fanIn + f.fanOut));
  return uniform_(t, -bound, bound);
}

/** torch.nn.init.trunc_normal_ with cut-offs at mean ± 2 std (timm/ViT style). */
export function truncNormal_(t: Tensor, std = 0.02): Tensor {
  return write(t, () => {
    for (;;) {
      const v = engine.rng.normal();
      if (Math.abs(v) <= 2) return v * std;
    }
  });
}
