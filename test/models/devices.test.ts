/**
 * RPSTN (tiny) and the three backbones (HRNet tiny, ViTPose tiny, a small SimpleBaseline) on wasm
 * and webgpu: a forward and the backward of Σ out·g to the input and to every parameter, compared
 * with the same network run on cpu in float64 (the truth). The backbones run in train mode
 * (BatchNorm on batch statistics). RPSTN runs in eval mode: in train mode its B = 2 batch
 * statistics over 3 frames make the backward ill-conditioned (measured: cpu float32 itself 1.8e-4
 * of the scale off the truth on a deconv weight gradient, a float32-accumulating backend 17x that),
 * and a max-pool near-tie moved 8 input-gradient elements by 0.31 (scale 273) on wasm. That tests
 * the conditioning and the function's non-differentiable points, not the kernels; train-mode
 * BatchNorm on these backends is covered by the backbones here, by GLPose's and FaSRnet's device
 * tests, and per kernel.
 * FaSRnet, VREMD and GLPose have their own device tests (test/models-*).
 *
 * Bound per tensor: |got - truth| ≤ 2e-4·scale + rtol 2e-3·|truth| + 4·e32, where scale is
 * max(1, max |truth|) and e32 is the largest error of the cpu float32 run against the truth: a
 * float32 backend may be a few times as wrong as the float32 reference (cpu float32 accumulates
 * in doubles, wasm and webgpu in float32). Measured worst: 2.2e-5 of the scale beyond 4·e32.
 * None of these networks samples bilinearly at learned positions (see
 * test/models-fasrnet/devices.test.ts for the kinks of those that do).
 */
import { describe, expect, it } from 'vitest';
import type { DeviceName } from '../../backends/backend.js';
import { manualSeed, tidy } from '../../engine/engine.js';
import type { Tensor } from '../../engine/tensor.js';
import { mul } from '../../ops/elementwise.js';
import { sum } from '../../ops/reduce.js';
import { HRNET_PRESETS, HRNet } from '../../models/backbones/hrnet.js';
import { SimpleBaseline } from '../../models/backbones/resnet.js';
import { VIT_PRESETS, ViTPose } from '../../models/backbones/vit.js';
import type { Module } from '../../models/nn/module.js';
import { RPSTN, rpstnPreset } from '../../models/rpstn/index.js';
import { assertCloseToTruth } from '../helpers/close.js';
import { availableDevices } from '../helpers/devices.js';
import { fromFormula, randomize } from '../helpers/models.js';

/** atol relative to the tensor's scale (max(1, max |truth|)). */
const ATOL = 2e-4;
const devices = await availableDevices('backbone and RPSTN device tests');

interface Net {
  build: () => Module & { forward(x: Tensor): Tensor };
  input: number[];
  /** BatchNorm on running statistics instead of batch statistics (see RPSTN below). */
  eval?: boolean;
}

const NETS: Record<string, Net> = {
  'RPSTN tiny (T = 3), eval mode': { build: () => new RPSTN(rpstnPreset('tiny')), input: [2, 3, 3, 128, 128], eval: true },
  'HRNet tiny': { build: () => new HRNet(HRNET_PRESETS.tiny), input: [2, 3, 64, 64] },
  'ViTPose tiny': { build: () => new ViTPose(VIT_PRESETS.tiny), input: [2, 3, 64, 48] },
  'SimpleBaseline (basic blocks, 4-8 wide)': {
    build: () => new SimpleBaseline({ block: 'basic', layers: [1, 1, 1, 1], widths: [4, 8, 8, 8], stemChannels: 4, deconvChannels: 8, numJoints: 5 }),
    input: [2, 3, 64, 48],
  },
};

interface Result {
  out: ArrayLike<number>;
  gx: ArrayLike<number>;
  grads: Map<string, ArrayLike<number>>;
}

async function run(net: Net, device: DeviceName, dtype: 'float32' | 'float64'): Promise<Result> {
  manualSeed(5);
  const m = net.build();
  randomize(m, dtype);
  m.to(device);
  if (net.eval) m.eval();
  else m.train();
  const host = fromFormula(net.input, (ix) => Math.sin(0.37 * ix.reduce((a, v, i) => a + v * (i + 1.3), 0)) + 0.3 * Math.cos(0.11 * ix[ix.length - 1]! * (ix[ix.length - 2]! + 1)), dtype);
  const x = host.to(device).requiresGrad_(true);
  host.dispose();
  const keep: Tensor[] = [];
  tidy(() => {
    const out = m.forward(x);
    const gHost = fromFormula(out.shape, (ix) => Math.cos(0.23 * ix.reduce((a, v, i) => a + v * (i + 0.7), 0)), dtype);
    const g = gHost.to(device);
    sum(mul(out, g)).backward();
    keep.push(out.detach().keep());
  });
  const grads = new Map<string, ArrayLike<number>>();
  for (const [k, p] of m.namedParameters()) if (p.grad) grads.set(k, await p.grad.data());
  const r: Result = { out: await keep[0]!.data(), gx: await x.grad!.data(), grads };
  keep[0]!.dispose();
  x.dispose();
  m.dispose();
  return r;
}

function check(device: string, label: string, got: ArrayLike<number>, truth: ArrayLike<number>, r32: ArrayLike<number>): void {
  assertCloseToTruth(got, truth, r32, { atol: ATOL, atolScaled: true, rtol: 2e-3, maxRef32: 1e-3 }, `${device} ${label}`);
}

describe.skipIf(devices.length === 0)('RPSTN and the backbones on other backends match cpu (train mode, forward and backward)', () => {
  for (const [name, net] of Object.entries(NETS)) {
    it(`${name}: ${devices.join(', ')}`, async () => {
      const truth = await run(net, 'cpu', 'float64');
      const ref32 = await run(net, 'cpu', 'float32');
      expect(truth.grads.size).toBeGreaterThan(0);
      for (const d of devices) {
        const got = await run(net, d, 'float32');
        check(d, 'output', got.out, truth.out, ref32.out);
        check(d, 'input gradient', got.gx, truth.gx, ref32.gx);
        expect([...got.grads.keys()]).toEqual([...truth.grads.keys()]);
        for (const [k, t] of truth.grads) check(d, `grad ${k}`, got.grads.get(k)!, t, ref32.grads.get(k)!);
      }
    }, 120_000);
  }
});
