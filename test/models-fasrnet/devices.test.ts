/**
 * FaSRnet on wasm and webgpu against cpu (float32): the tiny model with seeded random weights, a
 * full train-mode forward (backbone, FRM with dilated DCNs, TSA, SRM/PCN) and the backward to the
 * head's inputs and parameters. A backend that cannot start (no adapter), or that still lacks a
 * kernel the model needs (its placeholder throws "... not implemented yet" / "todo"), is skipped
 * with a warning naming the kernel, except under CI=true, where it fails (as test/webgpu and
 * test/nn/optim.test.ts treat a missing adapter).
 * Tolerance: atol 2e-4 + rtol 2e-3 (float32 with different summation orders, O(1) values).
 */
import { describe, expect, it } from 'vitest';
import type { DeviceName } from '../../backends/backend.js';
import { engine, manualSeed, tidy } from '../../engine/engine.js';
import type { Tensor } from '../../engine/tensor.js';
import { add, mul } from '../../ops/elementwise.js';
import { sum } from '../../ops/reduce.js';
import { createFaSRnet } from '../../models/fasrnet/index.js';
import { assertClose } from '../helpers/close.js';
import { clipFrame, randomize, upstream } from './helpers.js';

process.env.XDG_RUNTIME_DIR ??= '/tmp';
const devices: DeviceName[] = [];
for (const [name, load] of [
  ['wasm', async () => (await import('../../backends/wasm/index.js')).createWasmBackend()],
  ['webgpu', async () => (await import('../../backends/webgpu/index.js')).createWebGPUBackend()],
] as const) {
  try {
    if (!engine.isInitialized(name)) engine.registerBackendFactory(name, load);
    await engine.init(name);
    devices.push(name);
  } catch (e) {
    if (process.env.CI === 'true') throw new Error(`FaSRnet device tests: CI=true requires the ${name} backend. ${(e as Error).message}`);
    console.warn(`[FaSRnet on ${name} skipped] ${(e as Error).message}`);
  }
}

const TOL = { atol: 2e-4, rtol: 2e-3 };
const CHECKED = ['pcda_p.dcn_pack.l3.conv_offset_mask.weight', 'pcda_n.cas_dcnpack.weight', 'TSA_Fusion.spatial_attn_l2.weight', 'final_layer.bias', 'hm_improve.offsets_list.0.0.weight', 'hm_improve.modulated_deform_conv_list.0.deform_conv.weight'];

interface Result {
  hr: Float32Array;
  hFinal: Float32Array;
  grads: Map<string, Float32Array>;
  gradFPrev: Float32Array;
}

async function run(device: DeviceName): Promise<Result> {
  manualSeed(3);
  const m = createFaSRnet('tiny', { offsetPaddingQuirk: 'batch' });
  randomize(m, 'float32');
  m.to(device).train();
  const B = 2;
  const to = (t: Tensor): Tensor => {
    const d = t.to(device);
    t.dispose();
    return d;
  };
  const fr = { cur: to(clipFrame(0, B, 64, 64, 'float32')), prev: to(clipFrame(1, B, 64, 64, 'float32')), next: to(clipFrame(2, B, 64, 64, 'float32')) };
  const [g1, g2] = upstream([B, 4, 16, 16], 'float32').map(to) as [Tensor, Tensor];
  const keep: Tensor[] = [];
  tidy(() => {
    const bb = m.backbone(fr);
    const fPrev = bb.fPrev.detach().requiresGrad_(true);
    const out = m.forwardHead({ ...bb, fPrev }, 0.5, 0.5);
    add(sum(mul(out.hr, g1)), sum(mul(out.hFinal, g2))).backward();
    keep.push(out.hr.detach().keep(), out.hFinal.detach().keep(), fPrev.grad!.detach().keep()); // fPrev (and its .grad) die with the tidy
  });
  const params = new Map(m.namedParameters());
  const grads = new Map<string, Float32Array>();
  for (const k of CHECKED) grads.set(k, (await params.get(k)!.grad!.data()) as Float32Array);
  const r: Result = { hr: (await keep[0]!.data()) as Float32Array, hFinal: (await keep[1]!.data()) as Float32Array, gradFPrev: (await keep[2]!.data()) as Float32Array, grads };
  for (const t of [...keep, ...Object.values(fr), g1, g2]) t.dispose();
  m.dispose();
  return r;
}

describe('FaSRnet on other backends matches cpu (tiny, float32, train mode, official offset quirk)', () => {
  for (const d of devices) {
    it(`${d}: H^r, H^final and gradients`, async (ctx) => {
      const ref = await run('cpu');
      let got: Result;
      try {
        got = await run(d);
      } catch (e) {
        const msg = (e as Error).message;
        if (process.env.CI !== 'true' && /not implemented yet|^todo$/.test(msg)) {
          console.warn(`[FaSRnet on ${d} skipped: a kernel is missing] ${msg}`);
          ctx.skip();
        }
        throw e;
      }
      assertClose(got.hr, ref.hr, TOL, `${d} hr`);
      assertClose(got.hFinal, ref.hFinal, TOL, `${d} hFinal`);
      assertClose(got.gradFPrev, ref.gradFPrev, TOL, `${d} grad fPrev`);
      for (const k of CHECKED) assertClose(got.grads.get(k)!, ref.grads.get(k)!, TOL, `${d} grad ${k}`);
      expect(Math.max(...Array.from(ref.hFinal, Math.abs))).toBeGreaterThan(0.1);
    });
  }
});
