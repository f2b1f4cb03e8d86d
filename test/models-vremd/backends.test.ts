/**
 * VREMD on the wasm and webgpu backends against cpu (float32): the tiny preset (J = 5) from tokens,
 * eval mode, with DCA's offsets randomized so that its sampling points spread over and beyond the
 * token map. Compared: H_t, H_k, H_m, F, M and the DCA sampling points, then the gradients of
 * Σ H_t·gout with respect to the tokens and to parameters across HKME, DCA's offset path and the
 * heads.
 *
 * Tolerance: atol 2e-4 + rtol 2e-3 (forward), atol 5e-4 + rtol 5e-3 (gradients). The backends
 * accumulate in float32 in different orders (SIMD lanes, GPU tiles); the raw human-mask product
 * F̄·(F̄·T_h) and Mask_k's softmax over 3N tokens amplify those differences by up to ~100 before the
 * heads.
 *
 * The webgpu test is skipped without an adapter (and fails under CI=true, see test/webgpu/helpers);
 * any error on a backend fails its test.
 */
import { describe, it } from 'vitest';
import type { DeviceName } from '../../backends/backend.js';
import type { Tensor } from '../../engine/tensor.js';
import * as P from '../../index.js';
import { DCA, createVREMD, vremdPreset, type VREMD } from '../../models/vremd/index.js';
import { assertClose } from '../helpers/close.js';
import { setupWasm } from '../wasm/helpers.js';
import { gpuAvailable } from '../webgpu/helpers.js';

const FWD = { atol: 2e-4, rtol: 2e-3 };
const BWD = { atol: 5e-4, rtol: 5e-3 };
const PARAMS = ['hkme.human_mask.human_token', 'hkme.keypoint_mask.keypoint_tokens', 'hkme.token_reduction.mlp.fc1.weight', 'bmd.blocks.0.fwd.dca.sampling_offsets.weight', 'bmd.blocks.0.bwd.dca.q_proj.weight', 'token_head.mlp_head.1.weight', 'motion_head.final_layer.weight'];

function build(): VREMD {
  P.manualSeed(21);
  const m = createVREMD(vremdPreset('tiny', { numJoints: 5 }));
  for (const [, mod] of m.namedModules()) {
    if (!(mod instanceof DCA)) continue;
    const w = P.mul(P.randn([...mod.sampling_offsets.weight.shape]), 0.15);
    const b = P.add(P.mul(P.randn([...mod.sampling_offsets.bias!.shape]), 0.8), 0.31);
    mod.sampling_offsets.weight.assign(w);
    mod.sampling_offsets.bias!.assign(b);
    w.dispose();
    b.dispose();
  }
  return m.eval();
}

interface Result {
  outs: Record<string, Float32Array>;
  grads: Record<string, Float32Array>;
}

async function run(device: DeviceName): Promise<Result> {
  const m = build();
  if (device !== 'cpu') m.to(device);
  P.manualSeed(22);
  const tokensHost = P.randn([2, 3, 12, 16]);
  const goutHost = P.randn([2, 5, 16, 12]);
  const tokens = tokensHost.to(device).requiresGrad_();
  const gout = goutHost.to(device);
  const o = m.forwardDetailed({ tokens });
  const pairs: [string, Tensor][] = [['heatmaps', o.heatmaps], ['hk', o.hk!], ['hm', o.hm], ['F', o.F!], ['M', o.M!], ['pointsF', o.pointsF!], ['pointsB', o.pointsB!]];
  const outs: Record<string, Float32Array> = {};
  for (const [k, t] of pairs) outs[k] = (await t.data()) as Float32Array;
  o.heatmaps.backward(gout);
  const grads: Record<string, Float32Array> = { tokens: (await tokens.grad!.data()) as Float32Array };
  const named = new Map(m.namedParameters());
  for (const k of PARAMS) grads[k] = (await named.get(k)!.grad!.data()) as Float32Array;
  m.zeroGrad();
  m.dispose();
  for (const t of [tokensHost, goutHost, tokens, gout, ...pairs.map((p) => p[1])]) t.dispose();
  return { outs, grads };
}

function compare(ref: Result, got: Result, device: string): void {
  for (const k of Object.keys(ref.outs)) assertClose(got.outs[k]!, ref.outs[k]!, FWD, `${device} ${k}`);
  for (const k of Object.keys(ref.grads)) assertClose(got.grads[k]!, ref.grads[k]!, BWD, `${device} grad of ${k}`);
}

await setupWasm();

describe('VREMD on other backends vs cpu (tiny, float32)', () => {
  it('wasm: outputs, DCA points, token and parameter gradients', async () => {
    compare(await run('cpu'), await run('wasm'), 'wasm');
  });

  it.skipIf(!gpuAvailable)('webgpu: outputs, DCA points, token and parameter gradients', async () => {
    compare(await run('cpu'), await run('webgpu'), 'webgpu');
  });
});
