/**
 * FaSRnet on wasm and webgpu against cpu (float32): the tiny model with seeded random weights, a
 * full train-mode forward (backbone, FRM with dilated DCNs, TSA, SRM/PCN) and the backward to the
 * head's inputs and parameters. A backend that cannot start (no adapter) is skipped with a
 * warning, except under CI=true, where it fails (test/helpers/devices.ts).
 * Tolerance. The reference is the same network run on cpu in float64 (the truth), and the bound
 * is |got - truth| ≤ atol 2e-4 + rtol 2e-3·|truth| + 4·e32, where e32 is the largest error of the
 * cpu float32 run against that truth for the same tensor. hFinal is ill-conditioned at this size
 * (train-mode BatchNorm over B=2, PCN offsets read from random heatmaps, values up to ~8): cpu
 * float32, which accumulates in doubles, was 1.6e-4 off the truth there (seed 3), and a float32
 * backend that accumulates in float32 lands at 4e-4 to 7e-4. The bound lets a backend be a few
 * times as wrong as the float32 reference, no more.
 *
 * Kinks. Bilinear sampling is not differentiable where a sampling point crosses an integer: the
 * offset gradient jumps there, and with it every gradient upstream. The tiny network has thousands
 * of sampling points at offsets of several pixels, so a float32 run often puts one within rounding
 * noise of a kink on the other side from the float64 truth. Measured (seeds 1-8, both quirk modes):
 * on about a third of the seeds some run (cpu float32 included) lands on one, and then every
 * alignment-module gradient is ~1% off. That is the function, not a kernel error (the kernels are
 * compared on fixed inputs, element by element, in test/{wasm,webgpu}/deform-conv). So this test
 * uses a seed whose sampling points are clear of kinks for all three float32 runs, and asserts
 * that precondition for cpu float32 (a kink there fails with a message saying so).
 */
import { describe, expect, it } from 'vitest';
import type { DeviceName } from '../../backends/backend.js';
import { manualSeed, tidy } from '../../engine/engine.js';
import type { Tensor } from '../../engine/tensor.js';
import { add, mul } from '../../ops/elementwise.js';
import { sum } from '../../ops/reduce.js';
import { createFaSRnet } from '../../models/fasrnet/index.js';
import { assertCloseToTruth } from '../helpers/close.js';
import { clipFrame, randomize, upstream } from './helpers.js';
import { availableDevices } from '../helpers/devices.js';

const devices = await availableDevices('FaSRnet device tests');

const TOL = { atol: 2e-4, rtol: 2e-3 };
/** A seed clear of bilinear kinks for cpu, wasm and webgpu in float32 (see the header). */
const SEED = 1;
const CHECKED = ['pcda_p.dcn_pack.l3.conv_offset_mask.weight', 'pcda_n.cas_dcnpack.weight', 'TSA_Fusion.spatial_attn_l2.weight', 'final_layer.bias', 'hm_improve.offsets_list.0.0.weight', 'hm_improve.modulated_deform_conv_list.0.deform_conv.weight'];

interface Result {
  hr: Float32Array | Float64Array;
  hFinal: Float32Array | Float64Array;
  grads: Map<string, Float32Array | Float64Array>;
  gradFPrev: Float32Array | Float64Array;
}

async function run(device: DeviceName, dtype: 'float32' | 'float64' = 'float32'): Promise<Result> {
  manualSeed(SEED);
  const m = createFaSRnet('tiny', { offsetPaddingQuirk: 'batch' });
  randomize(m, dtype);
  m.to(device).train();
  const B = 2;
  const to = (t: Tensor): Tensor => {
    const d = t.to(device);
    t.dispose();
    return d;
  };
  const fr = { cur: to(clipFrame(0, B, 64, 64, dtype)), prev: to(clipFrame(1, B, 64, 64, dtype)), next: to(clipFrame(2, B, 64, 64, dtype)) };
  const [g1, g2] = upstream([B, 4, 16, 16], dtype).map(to) as [Tensor, Tensor];
  const keep: Tensor[] = [];
  tidy(() => {
    const bb = m.backbone(fr);
    const fPrev = bb.fPrev.detach().requiresGrad_(true);
    const out = m.forwardHead({ ...bb, fPrev }, 0.5, 0.5);
    add(sum(mul(out.hr, g1)), sum(mul(out.hFinal, g2))).backward();
    keep.push(out.hr.detach().keep(), out.hFinal.detach().keep(), fPrev.grad!.detach().keep()); // fPrev (and its .grad) die with the tidy
  });
  const params = new Map(m.namedParameters());
  const grads = new Map<string, Float32Array | Float64Array>();
  for (const k of CHECKED) grads.set(k, (await params.get(k)!.grad!.data()) as Float32Array | Float64Array);
  const r: Result = { hr: (await keep[0]!.data()) as Float32Array | Float64Array, hFinal: (await keep[1]!.data()) as Float32Array | Float64Array, gradFPrev: (await keep[2]!.data()) as Float32Array | Float64Array, grads };
  for (const t of [...keep, ...Object.values(fr), g1, g2]) t.dispose();
  m.dispose();
  return r;
}

describe('FaSRnet on other backends matches cpu (tiny, float32, train mode, official offset quirk)', () => {
  for (const d of devices) {
    it(`${d}: H^r, H^final and gradients`, async () => {
      const truth = await run('cpu', 'float64');
      const ref32 = await run('cpu');
      const got = await run(d);
      const tol = { ...TOL, maxRef32: 1e-4, ref32Hint: `seed ${SEED} puts a sampling point on a bilinear kink; choose another seed` };
      const check = (a: ArrayLike<number>, t: ArrayLike<number>, r32: ArrayLike<number>, label: string): void => assertCloseToTruth(a, t, r32, tol, `${d} ${label}`);
      check(got.hr, truth.hr, ref32.hr, 'hr');
      check(got.hFinal, truth.hFinal, ref32.hFinal, 'hFinal');
      check(got.gradFPrev, truth.gradFPrev, ref32.gradFPrev, 'grad fPrev');
      for (const k of CHECKED) check(got.grads.get(k)!, truth.grads.get(k)!, ref32.grads.get(k)!, `grad ${k}`);
      expect(Math.max(...Array.from(truth.hFinal, Math.abs))).toBeGreaterThan(0.1);
    });
  }
});
