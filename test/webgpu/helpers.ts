/**
 * Shared setup for the webgpu parity tests.
 *
 * - `gpuAvailable`: registers the webgpu factory and initializes it once per test file. Without an
 *   adapter the suites are skipped with a message, except when CI=true, where the missing adapter
 *   fails the run.
 * - `parity(...)`: runs the same function on cpu and on webgpu from the same float32 inputs, then
 *   backpropagates the same upstream gradient on both, and compares every output and every input
 *   gradient within the given tolerance.
 */
import type { Tensor } from '../../index.js';
import * as P from '../../index.js';
import { createWebGPUBackend, type WebGPUBackend } from '../../backends/webgpu/index.js';
import { assertClose, type Tol } from '../helpers/close.js';

process.env.XDG_RUNTIME_DIR ??= '/tmp';

let initError: Error | null = null;
let backend: WebGPUBackend | null = null;
try {
  P.engine.registerBackendFactory('webgpu', createWebGPUBackend);
  backend = (await P.init('webgpu')) as WebGPUBackend;
} catch (e) {
  initError = e as Error;
}

if (initError) {
  if (process.env.CI === 'true') {
    throw new Error(`webgpu tests: CI=true requires a WebGPU adapter. ${initError.message}`);
  }
  console.warn(`[webgpu tests skipped] ${initError.message}`);
}

/** True when the webgpu backend started. */
export const gpuAvailable = backend !== null;
/** The backend (null when unavailable; suites are skipped then). */
export const gpu = backend;
export { initError };

// ------------------------------------------------------------------------------ deterministic data

/** Deterministic pseudo-random floats in [lo, hi) (an LCG: independent of the engine's RNG). */
export function rnd(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const out = new Float32Array(n);
  let s = (seed * 2654435761 + 12345) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = lo + (s / 4294967296) * (hi - lo);
  }
  return out;
}

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** An input of a parity case: float values (with gradient unless `grad: false`) or an int32 tensor. */
export interface InputSpec {
  shape: readonly number[];
  /** Explicit values (float32 unless `int`). Default: rnd(size, seed) in [lo, hi). */
  values?: ArrayLike<number>;
  lo?: number;
  hi?: number;
  int?: boolean;
  grad?: boolean;
}

export interface ParityTol {
  fwd: Tol;
  /** Gradients (default: fwd). */
  bwd?: Tol;
}

function make(spec: InputSpec, seed: number, device: 'cpu' | 'webgpu'): Tensor {
  const n = sizeOf(spec.shape);
  const vals = spec.values ?? rnd(n, seed, spec.lo ?? -1, spec.hi ?? 1);
  const t = P.tensor(spec.int ? Int32Array.from(vals) : Float32Array.from(vals), { shape: spec.shape, device, dtype: spec.int ? 'int32' : 'float32' });
  if (!spec.int && spec.grad !== false) t.requiresGrad_(true);
  return t;
}

/**
 * Runs `fn` on cpu and webgpu and compares outputs (and, unless `noGrad`, the gradients of every
 * float input for the loss Σ_k Σ out_k · g_k with fixed random g_k).
 */
export async function parity(
  label: string,
  fn: (...xs: Tensor[]) => Tensor | Tensor[],
  inputs: readonly InputSpec[],
  tol: ParityTol,
  opts: { noGrad?: boolean; seed?: number } = {},
): Promise<void> {
  const seed = opts.seed ?? 1;
  const run = (device: 'cpu' | 'webgpu'): { xs: Tensor[]; outs: Tensor[] } => P.tidy(() => {
    const xs = inputs.map((s, i) => make(s, seed * 31 + i, device));
    const r = fn(...xs);
    const outs = Array.isArray(r) ? r : [r];
    if (!opts.noGrad && xs.some((x) => x.requiresGrad)) {
      const terms: Tensor[] = [];
      outs.forEach((o, k) => {
        if (o.dtype === 'int32' || !o.requiresGrad) return;
        const g = P.tensor(rnd(o.size, 1000 + k), { shape: o.shape, device });
        terms.push(P.sum(P.mul(o, g)));
      });
      if (terms.length) terms.reduce((a, b) => P.add(a, b)).backward();
    }
    return { xs, outs };
  });
  const cpu = run('cpu');
  const wg = run('webgpu');
  try {
    for (let k = 0; k < cpu.outs.length; k++) {
      const c = cpu.outs[k]!;
      const g = wg.outs[k]!;
      if (JSON.stringify(c.shape) !== JSON.stringify(g.shape)) throw new Error(`${label}: output ${k}: expected shape [${c.shape}], got [${g.shape}]`);
      if (c.dtype !== g.dtype) throw new Error(`${label}: output ${k}: expected dtype ${c.dtype}, got ${g.dtype}`);
      const gv = await g.data();
      if (c.dtype === 'int32') assertClose(gv, c.dataSync(), { atol: 0, rtol: 0 }, `${label} output ${k} (int32)`);
      else assertClose(gv, c.dataSync(), tol.fwd, `${label} output ${k}`);
    }
    for (let i = 0; i < inputs.length; i++) {
      const cx = cpu.xs[i]!;
      const gx = wg.xs[i]!;
      if (!cx.requiresGrad || opts.noGrad) continue;
      if (!cx.grad && !gx.grad) continue;
      if (!cx.grad || !gx.grad) throw new Error(`${label}: grad of input ${i}: present on ${cx.grad ? 'cpu' : 'webgpu'} only`);
      assertClose(await gx.grad.data(), cx.grad.dataSync(), tol.bwd ?? tol.fwd, `${label} grad of input ${i}`);
    }
  } finally {
    for (const side of [cpu, wg]) {
      for (const t of [...side.xs, ...side.outs]) t.dispose();
    }
  }
}

/** Tolerances relative to float32 rounding of short sums. */
export const TIGHT: Tol = { atol: 1e-6, rtol: 1e-5 };
