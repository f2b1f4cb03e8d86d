/**
 * The browser side of the smoke test (test/browser/smoke.test.ts bundles this file with esbuild
 * for the page test/browser/index.html).
 *
 * It starts posegrad's webgpu backend on `navigator.gpu`, loads the case that the Node side wrote
 * (RPSTN `tiny` weights, an input clip and an upstream gradient: /case.json + /case.bin), runs the
 * eval-mode forward and the backward of Σ heatmaps·r, and publishes the result as
 * `window.posegradSmoke` (a promise). It never falls back to another backend: when there is no
 * navigator.gpu or no adapter, the result is { ok: false, stage: 'init', error } with the
 * library's own error message, and every tensor is created on 'webgpu' explicitly and checked to
 * live there.
 */
import { init, tidy } from '../../engine/engine.js';
import type { Tensor } from '../../engine/tensor.js';
import { tensor } from '../../ops/creation.js';
import { mul } from '../../ops/elementwise.js';
import { sum } from '../../ops/reduce.js';
import { RPSTN, rpstnPreset } from '../../models/rpstn/index.js';
import type { WebGPUBackend } from '../../backends/webgpu/index.js';

/** One tensor in case.bin: float32 values at [offset, offset + size) (in elements). */
export interface CaseEntry {
  shape: number[];
  offset: number;
  /** int32 entries (BatchNorm's num_batches_tracked) hold small integers, exact in float32. */
  dtype?: 'float32' | 'int32';
}

/** case.json: the model's state dict, the clip and the upstream gradient. */
export interface CaseManifest {
  preset: 'tiny';
  state: Record<string, CaseEntry>;
  clip: CaseEntry;
  upstream: CaseEntry;
}

export type SmokeResult =
  | { ok: false; stage: string; error: string; hasNavigatorGpu: boolean; secureContext: boolean }
  | {
      ok: true;
      adapter: string;
      software: boolean;
      devices: string[];
      heatShape: number[];
      heat: number[];
      clipGrad: number[];
      /** Every parameter's gradient, null for a parameter the loss does not reach. */
      paramGrads: Record<string, number[] | null>;
      ms: { init: number; forward: number; backward: number };
    };

declare global {
  interface Window {
    posegradSmoke?: Promise<SmokeResult>;
  }
}

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

async function run(): Promise<SmokeResult> {
  const hasNavigatorGpu = typeof navigator !== 'undefined' && 'gpu' in navigator && !!navigator.gpu;
  const secureContext = globalThis.isSecureContext === true;
  let stage = 'init';
  try {
    const t0 = performance.now();
    const backend = (await init('webgpu')) as WebGPUBackend;
    const tInit = performance.now() - t0;

    stage = 'load case';
    const manifest = (await (await fetch('/case.json')).json()) as CaseManifest;
    const bin = new Float32Array(await (await fetch('/case.bin')).arrayBuffer());
    const view = (e: CaseEntry): Float32Array => bin.subarray(e.offset, e.offset + size(e.shape));
    const onGpu = (e: CaseEntry): Tensor => tensor(view(e), { shape: e.shape, dtype: 'float32', device: 'webgpu' });

    stage = 'build model';
    const m = new RPSTN(rpstnPreset(manifest.preset));
    m.toDtype('float32');
    m.loadStateDict(
      new Map(Object.entries(manifest.state).map(([k, e]) => [k, e.dtype === 'int32' ? tensor(Int32Array.from(view(e)), { shape: e.shape, dtype: 'int32' }) : tensor(view(e), { shape: e.shape, dtype: 'float32' })])),
    );
    m.to('webgpu');
    m.eval();

    stage = 'forward';
    const clip = onGpu(manifest.clip).requiresGrad_(true);
    const r = onGpu(manifest.upstream);
    const t1 = performance.now();
    // The forward's intermediates must outlive it (the backward reads them): no tidy of its own.
    const heat = m.forward(clip);
    const heatValues = (await heat.data()) as Float32Array;
    const tFwd = performance.now() - t1;

    stage = 'backward';
    const t2 = performance.now();
    tidy(() => sum(mul(heat, r)).backward());
    const params = m.namedParameters();
    if (!clip.grad) throw new Error('expected a gradient for the clip, got none');
    const grads: (Tensor | null)[] = [clip.grad, ...params.map(([, p]) => p.grad ?? null)];
    const gradValues = await Promise.all(grads.map(async (g) => (g ? Array.from((await g.data()) as Float32Array) : null)));
    const tBwd = performance.now() - t2;

    const all = [heat, clip, ...params.map(([, p]) => p), ...grads.filter((g): g is Tensor => g !== null)];
    const devices = [...new Set(all.map((t) => t.device))];
    const result: SmokeResult = {
      ok: true,
      adapter: backend.rt.adapterName,
      software: backend.rt.software,
      devices,
      heatShape: [...heat.shape],
      heat: Array.from(heatValues),
      clipGrad: gradValues[0]!,
      paramGrads: Object.fromEntries(params.map(([name], i) => [name, gradValues[i + 1]!])),
      ms: { init: tInit, forward: tFwd, backward: tBwd },
    };
    heat.dispose();
    clip.dispose();
    r.dispose();
    m.dispose();
    return result;
  } catch (e) {
    return { ok: false, stage, error: e instanceof Error ? e.message : String(e), hasNavigatorGpu, secureContext };
  }
}

window.posegradSmoke = run().then((r) => {
  const el = document.getElementById('status');
  if (el) el.textContent = r.ok ? `ok: RPSTN tiny on ${r.adapter}, forward ${r.ms.forward.toFixed(0)} ms` : `FAILED at ${r.stage}: ${r.error}`;
  return r;
});
