/**
 * GLPose on wasm and webgpu against cpu (the tiny preset with random weights, B = 2, 64x64 crops):
 * eval-mode heatmaps, the selected candidates, the gradients of Σ heatmaps·r for the three input
 * crop tensors and for three parameters, and train-mode heatmaps (BatchNorm on batch statistics).
 * The webgpu suite is skipped without an adapter (and fails under CI=true, see test/webgpu/helpers).
 * Any error on a backend fails its test.
 * Tolerances (float32, different summation orders through ~20 conv layers): outputs atol 2e-4 +
 * rtol 2e-3; gradients atol 2e-4·max|g| + rtol 2e-3.
 */
import { describe, expect, it } from 'vitest';
import type { DeviceName } from '../../backends/backend.js';
import { manualSeed, tidy } from '../../engine/engine.js';
import type { Tensor } from '../../engine/tensor.js';
import { randn, tensor } from '../../ops/creation.js';
import { mul } from '../../ops/elementwise.js';
import { sum } from '../../ops/reduce.js';
import { createGLPose, type GLPose } from '../../models/glpose/index.js';
import { assertClose } from '../helpers/close.js';
import { setupWasm } from '../wasm/helpers.js';
import { gpuAvailable } from '../webgpu/helpers.js';
import { randomize } from './helpers.js';

await setupWasm();

const OUT = { atol: 2e-4, rtol: 2e-3 };
const PARAMS = ['head.weight', 'feature_processing.blocks.0.downsample.0.weight', 'backbone.conv1.weight'];

interface Run {
  heat: Float32Array;
  indices: Int32Array;
  grads: Float32Array[];
  trainHeat: Float32Array;
}

/** Reference weights and inputs (host values), drawn once. */
manualSeed(11);
const ref = createGLPose('tiny');
randomize(ref, 'float32');
const state = new Map([...ref.stateDict()].map(([k, v]) => [k, { shape: v.shape, dtype: v.dtype, data: v.dataSync().slice() }]));
const shapes = { key: [2, 3, 64, 64], locals: [2, 2, 3, 64, 64], globals: [2, 3, 3, 64, 64] } as const;
const inputs = Object.fromEntries(Object.entries(shapes).map(([k, s]) => [k, randn([...s]).dataSync().slice() as Float32Array])) as Record<keyof typeof shapes, Float32Array>;
const weights = randn([2, 17, 16, 16]).dataSync().slice() as Float32Array;
ref.dispose();

async function runOn(device: DeviceName): Promise<Run> {
  const m: GLPose = createGLPose('tiny');
  m.loadStateDict(new Map([...state].map(([k, v]) => [k, tensor(v.data, { shape: v.shape, dtype: v.dtype })])));
  m.to(device);
  const leaf = (k: keyof typeof shapes): Tensor => tensor(inputs[k], { shape: [...shapes[k]], device }).requiresGrad_(true);
  const x = { key: leaf('key'), locals: leaf('locals'), globals: leaf('globals'), localOffsets: [[-1, 1], [-2, 1]] };
  const out = tidy(() => {
    const o = m.eval().forwardDetailed(x);
    sum(mul(o.heatmaps, tensor(weights, { shape: [2, 17, 16, 16], device }))).backward();
    return { heat: o.heatmaps, indices: o.globalIndices! };
  });
  const params = new Map(m.namedParameters());
  const grads = [x.key.grad!, x.locals.grad!, x.globals.grad!, ...PARAMS.map((p) => params.get(p)!.grad!)];
  const trainHeat = tidy(() => m.train().forward({ key: x.key.detach(), locals: x.locals.detach(), globals: x.globals.detach(), localOffsets: x.localOffsets }));
  const res: Run = {
    heat: (await out.heat.data()) as Float32Array,
    indices: (await out.indices.data()) as Int32Array,
    grads: await Promise.all(grads.map(async (g) => (await g.data()) as Float32Array)),
    trainHeat: (await trainHeat.data()) as Float32Array,
  };
  for (const t of [out.heat, out.indices, trainHeat, x.key, x.locals, x.globals]) t.dispose();
  m.dispose();
  return res;
}

function maxAbs(a: ArrayLike<number>): number {
  let v = 0;
  for (let i = 0; i < a.length; i++) v = Math.max(v, Math.abs(a[i]!));
  return v;
}

function compare(dev: Run, cpu: Run, label: string): void {
  assertClose(dev.heat, cpu.heat, OUT, `${label} heatmaps`);
  expect(Array.from(dev.indices), `${label} indices`).toEqual(Array.from(cpu.indices));
  const names = ['key', 'locals', 'globals', ...PARAMS];
  cpu.grads.forEach((g, i) => {
    expect(maxAbs(g), names[i]).toBeGreaterThan(0);
    assertClose(dev.grads[i]!, g, { atol: 2e-4 * maxAbs(g), rtol: 2e-3 }, `${label} grad of ${names[i]}`);
  });
  assertClose(dev.trainHeat, cpu.trainHeat, OUT, `${label} train-mode heatmaps`);
}

const cpuRun = await runOn('cpu');

/** Runs the model on `device` once; an error is kept for the test to rethrow. */
async function attempt(device: DeviceName, available: boolean): Promise<{ run?: Run; error?: unknown }> {
  if (!available) return {};
  try {
    return { run: await runOn(device) };
  } catch (e) {
    return { error: e };
  }
}

const wasm = await attempt('wasm', true);
const webgpu = await attempt('webgpu', gpuAvailable);

describe('GLPose on wasm matches cpu', () => {
  it('eval heatmaps, selection, input and parameter gradients, train-mode heatmaps', () => {
    if (wasm.error) throw wasm.error;
    compare(wasm.run!, cpuRun, 'wasm');
  });
});

describe.skipIf(!gpuAvailable)('GLPose on webgpu matches cpu', () => {
  it('eval heatmaps, selection, input and parameter gradients, train-mode heatmaps', () => {
    if (webgpu.error) throw webgpu.error;
    compare(webgpu.run!, cpuRun, 'webgpu');
  });
});
