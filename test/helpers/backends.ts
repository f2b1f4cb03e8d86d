/**
 * One op test suite for every backend (in the spirit of tfjs's describeWithFlags(ALL_ENVS) and
 * tinygrad's test_ops): an op's cases are written once, inside `describeEnvs`, and run on each
 * environment of ENVS:
 *
 *   cpu-f64   cpu, float64: the PyTorch fixtures (tight tolerance); the truth for everything else
 *   cpu-f32   cpu, float32
 *   wasm-1    wasm, single-threaded
 *   wasm-2    wasm, 2 threads (worker threads over a shared memory)
 *   wasm-16   wasm, 16 threads (more threads than cores: every per-thread scratch slot in use)
 *   webgpu    webgpu (lavapipe in CI)
 *
 * Helpers, all running on the environment of the enclosing describeEnvs block:
 * - `parity(label, fn, inputs, fwd, { bwd, grad })`: runs `fn` on the inputs in the environment's
 *   device and dtype, and compares every output and, through autograd, the gradient of
 *   L = Σ_k Σ out_k·r_k (fixed pseudo-random r_k) for every float input, against the same run on
 *   cpu in float64 from the same (float32-rounded) inputs, rounded to float32. On cpu-f64 it only
 *   runs.
 * - `fixture(fx, case, fn, { f64, f32 })`: a PyTorch fixture case (test/reference/*.py): outputs and
 *   stored gradients against torch's, with tolerance f64 on cpu-f64 and f32 elsewhere.
 * - `throws(fn, message)`: the same Error on every backend (bad input).
 * - `env()`: the current environment; `onEnv(name...)`: true on those only.
 *
 * A backend that cannot start (no WebGPU adapter) is skipped with a warning, except under CI=true,
 * where that fails the run (CI installs lavapipe). Each wasm environment is its own backend
 * instance, swapped into the engine (`engine.registerBackend`) for its block; every tensor of a
 * block is freed before the next block starts.
 */
import { afterAll, beforeAll, beforeEach, describe, expect } from 'vitest';
import type { Backend, DeviceName } from '../../backends/backend.js';
import '../../backends/index.js'; // the built-in backends: cpu-f64/cpu-f32 use the registered cpu backend
import type { DType, TypedArray } from '../../engine/dtype.js';
import { engine, tidy } from '../../engine/engine.js';
import { Tensor } from '../../engine/tensor.js';
import { tensor } from '../../ops/creation.js';
import { add, mul } from '../../ops/elementwise.js';
import { sum } from '../../ops/reduce.js';
import { assertClose, type Tol } from './close.js';
import type { Fixture, FixtureCase } from './fixtures.js';

export type EnvName = 'cpu-f64' | 'cpu-f32' | 'wasm-1' | 'wasm-2' | 'wasm-16' | 'webgpu';

export interface Env {
  readonly name: EnvName;
  readonly device: DeviceName;
  readonly dtype: 'float64' | 'float32';
  /** wasm worker threads (including the caller). */
  readonly threads?: number;
}

export const ENVS: readonly Env[] = [
  { name: 'cpu-f64', device: 'cpu', dtype: 'float64' },
  { name: 'cpu-f32', device: 'cpu', dtype: 'float32' },
  { name: 'wasm-1', device: 'wasm', dtype: 'float32', threads: 1 },
  { name: 'wasm-2', device: 'wasm', dtype: 'float32', threads: 2 },
  { name: 'wasm-16', device: 'wasm', dtype: 'float32', threads: 16 },
  { name: 'webgpu', device: 'webgpu', dtype: 'float32' },
];

/** Every environment but cpu-f64 (float32 runs compared with the float64 truth). */
export const F32_ENVS: readonly EnvName[] = ENVS.filter((e) => e.dtype === 'float32').map((e) => e.name);

const instances = new Map<EnvName, Promise<Backend | null>>();
let cpuBackend: Backend | null = null;

async function create(e: Env): Promise<Backend | null> {
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
  try {
    if (e.device === 'cpu') return (cpuBackend ??= engine.backend('cpu'));
    if (e.device === 'wasm') return await (await import('../../backends/wasm/index.js')).createWasmBackend({ threads: e.threads ?? 1 });
    return await (await import('../../backends/webgpu/index.js')).createWebGPUBackend();
  } catch (err) {
    if (process.env.CI === 'true') throw new Error(`op suite: CI=true requires the ${e.name} environment. ${(err as Error).message}`);
    console.warn(`[op suite on ${e.name} skipped] ${(err as Error).message}`);
    return null;
  }
}

/** The backend of environment `e` (created once per test file), swapped into the engine. */
export async function activate(e: Env): Promise<Backend | null> {
  if (!instances.has(e.name)) instances.set(e.name, create(e));
  const b = await instances.get(e.name)!;
  if (b) engine.registerBackend(b);
  return b;
}

let current: Env | null = null;

/** The environment of the running test. */
export function env(): Env {
  if (!current) throw new Error('op suite: env() called outside describeEnvs');
  return current;
}

/** True when the running test's environment is one of `names`. */
export function onEnv(...names: EnvName[]): boolean {
  return names.includes(env().name);
}

export interface EnvOptions {
  /** Only these environments (default: all). */
  envs?: readonly EnvName[];
  /** Per-test timeout (webgpu on lavapipe compiles pipelines on the CPU: generous by default). */
  timeout?: number;
}

/** Declares `body` (describe/it blocks) once per environment. */
export function describeEnvs(title: string, body: () => void, opts: EnvOptions = {}): void {
  for (const e of ENVS) {
    if (opts.envs && !opts.envs.includes(e.name)) continue;
    describe(`${title} [${e.name}]`, { timeout: opts.timeout ?? 600_000 }, () => {
      let backend: Backend | null = null;
      beforeAll(async () => {
        backend = await activate(e);
      }, 600_000);
      beforeEach((ctx) => {
        if (!backend) ctx.skip();
        current = e;
        engine.registerBackend(backend!);
      });
      afterAll(async () => {
        if (backend && e.device === 'webgpu') await backend.sync();
        current = null;
      });
      body();
    });
  }
}

// ------------------------------------------------------------------------------ inputs

/** Deterministic pseudo-random values in [lo, hi) (an LCG, independent of the engine's RNG). */
export function rand(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = new Float32Array(n);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    r[i] = lo + (s / 4294967296) * (hi - lo);
  }
  return r;
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** An input: float values (in the environment's dtype; requiresGrad unless `noGrad`) or int32 values. */
export interface In {
  shape: number[];
  data: Float32Array | Int32Array;
  noGrad?: boolean;
}

/** Random floats in [lo, hi) that take part in the gradient check. */
export const f = (shape: number[], seed: number, lo = -1, hi = 1): In => ({ shape, data: rand(numel(shape), seed, lo, hi) });
/** Fixed float values (no gradient). */
export const fixed = (shape: number[], seed: number, lo = -1, hi = 1): In => ({ ...f(shape, seed, lo, hi), noGrad: true });
/** Given float values (with gradient unless noGrad). */
export const vals = (shape: number[], values: ArrayLike<number>, noGrad = false): In => ({ shape, data: Float32Array.from(values), noGrad });
/** int32 values. */
export const i32 = (shape: number[], values: ArrayLike<number>): In => ({ shape, data: Int32Array.from(values) });

// ------------------------------------------------------------------------------ running

interface Host {
  outs: { shape: readonly number[]; dtype: DType; data: TypedArray }[];
  grads: (TypedArray | null)[];
}

async function run(device: DeviceName, dtype: 'float32' | 'float64', fn: (...xs: Tensor[]) => Tensor | Tensor[], inputs: readonly In[], grad: boolean): Promise<Host> {
  const made = tidy(() => {
    const xs = inputs.map((x) => {
      const isInt = x.data instanceof Int32Array;
      const t = tensor(x.data, { shape: x.shape, dtype: isInt ? 'int32' : dtype, device });
      if (grad && !isInt && !x.noGrad) t.requiresGrad_(true);
      return t;
    });
    const res = fn(...xs);
    const outs = Array.isArray(res) ? res : [res];
    if (grad) {
      let loss: Tensor | null = null;
      outs.forEach((o, k) => {
        if (o.dtype === 'int32' || !o.requiresGrad) return;
        const r = tensor(rand(o.size, 101 + k), { shape: o.shape, dtype: o.dtype, device });
        const term = sum(mul(o, r));
        loss = loss ? add(loss, term) : term;
      });
      if (loss) (loss as Tensor).backward();
    }
    return { xs, outs };
  });
  try {
    const outs = [];
    for (const o of made.outs) outs.push({ shape: o.shape, dtype: o.dtype, data: await o.data() });
    const grads: (TypedArray | null)[] = [];
    for (const x of made.xs) {
      if (!grad || !x.requiresGrad) grads.push(null);
      else grads.push(x.grad ? await x.grad.data() : new Float64Array(x.size));
    }
    return { outs, grads };
  } finally {
    for (const x of made.xs) {
      x.grad?.dispose();
      x.grad = null;
      x.dispose();
    }
    for (const o of made.outs) if (!o.isDisposed) o.dispose();
  }
}

const EXACT: Tol = { atol: 0, rtol: 0 };

/**
 * Runs `fn` in the current environment and checks it against cpu float64 on the same inputs:
 * output shapes, dtypes and values (int32 outputs exactly) within `fwd`, and (unless grad is false)
 * the input gradients within `bwd` (default: fwd, at least atol 1e-6, rtol 1e-5).
 */
export async function parity(label: string, fn: (...xs: Tensor[]) => Tensor | Tensor[], inputs: readonly In[], fwd: Tol, opts: { bwd?: Tol; grad?: boolean } = {}): Promise<void> {
  const e = env();
  const grad = opts.grad ?? true;
  const actual = await run(e.device, e.dtype, fn, inputs, grad);
  if (e.name === 'cpu-f64') return;
  const truth = await run('cpu', 'float64', fn, inputs, grad);
  expect(actual.outs.length, `${label}: output count`).toBe(truth.outs.length);
  truth.outs.forEach((o, k) => {
    const a = actual.outs[k]!;
    expect(a.shape, `${label}: output ${k} shape`).toEqual(o.shape);
    expect(a.dtype === 'int32', `${label}: output ${k} dtype ${a.dtype} vs ${o.dtype}`).toBe(o.dtype === 'int32');
    // the truth rounded to float32: what a correctly rounded float32 kernel returns (exp(100) = Infinity)
    assertClose(a.data, o.dtype === 'int32' ? o.data : Float32Array.from(o.data), o.dtype === 'int32' ? EXACT : fwd, `${label} [${e.name}] output ${k}`);
  });
  truth.grads.forEach((g, k) => {
    if (g === null) return;
    const a = actual.grads[k];
    if (!a) throw new Error(`${label} [${e.name}]: expected a gradient for input ${k}, got none`);
    // default: fwd, at least 1e-6 + 1e-5 relative (a gradient sums the contributions of every output)
    const bwd = opts.bwd ?? { atol: Math.max(fwd.atol, 1e-6), rtol: Math.max(fwd.rtol, 1e-5) };
    assertClose(a, Float32Array.from(g), bwd, `${label} [${e.name}] grad of input ${k}`);
  });
}

/**
 * `parity` against a given backend instance (another build, say), registered for the call as
 * environment `as` (e.g. 'wasm-1').
 */
export async function parityOn(backend: Backend, as: EnvName, label: string, fn: (...xs: Tensor[]) => Tensor | Tensor[], inputs: readonly In[], fwd: Tol, opts: { bwd?: Tol; grad?: boolean } = {}): Promise<void> {
  const prev = current;
  const prevBackend = engine.isInitialized(backend.name) ? engine.backend(backend.name) : null;
  current = ENVS.find((e) => e.name === as)!;
  engine.registerBackend(backend);
  try {
    await parity(label, fn, inputs, fwd, opts);
  } finally {
    current = prev;
    if (prevBackend) engine.registerBackend(prevBackend);
  }
}

/** A host fixture tensor as a tensor of the current environment (floats in its dtype). */
export function fromHost(h: { data: TypedArray; shape: readonly number[]; dtype: string }, requiresGrad = false): Tensor {
  const e = env();
  const isFloat = h.dtype !== 'int32';
  const t = tensor(isFloat && e.dtype === 'float32' ? Float32Array.from(h.data) : h.data, { dtype: isFloat ? e.dtype : 'int32', shape: h.shape, device: e.device });
  if (requiresGrad && isFloat) t.requiresGrad_(true);
  return t;
}

/**
 * A PyTorch fixture case (test/reference/*.py) on the current environment: every output and every
 * stored gradient of Σ out·gout against torch's, within `tol.f64` on cpu-f64 and `tol.f32` on the
 * float32 environments.
 */
export async function fixture(fx: Fixture, c: FixtureCase, fn: (x: Record<string, Tensor>, params: Record<string, any>) => Tensor | Tensor[], tol: { f64: Tol; f32: Tol; bwd32?: Tol }): Promise<void> {
  const e = env();
  const t = e.dtype === 'float64' ? tol.f64 : tol.f32;
  const made = tidy(() => {
    const ins: Record<string, Tensor> = {};
    for (const k of Object.keys(c.inputs)) ins[k] = fromHost(fx.get(`${c.name}/${k}`), c.grads.includes(k));
    const res = fn(ins, c.params);
    const outs = Array.isArray(res) ? res : [res];
    if (c.grads.length) outs[0]!.backward(fromHost(fx.get(`${c.name}/gout`)));
    return { ins: Object.values(ins), names: Object.keys(ins), outs };
  });
  try {
    for (let i = 0; i < made.outs.length; i++) {
      const o = made.outs[i]!;
      const exp = fx.get(`${c.name}/${i === 0 ? 'out' : `out${i}`}`);
      if (JSON.stringify(o.shape) !== JSON.stringify(exp.shape)) throw new Error(`${c.name} [${e.name}]: expected output ${i} of shape [${exp.shape}], got [${o.shape}]`);
      assertClose(await o.data(), exp.data, exp.dtype === 'int32' ? EXACT : t, `${c.name} [${e.name}] output ${i}`);
    }
    for (const k of c.grads) {
      const x = made.ins[made.names.indexOf(k)]!;
      if (!x.grad) throw new Error(`${c.name} [${e.name}]: expected a gradient for '${k}', got none`);
      assertClose(await x.grad.data(), fx.get(`${c.name}/grad_${k}`).data, e.dtype === 'float64' ? tol.f64 : (tol.bwd32 ?? tol.f32), `${c.name} [${e.name}] grad of ${k}`);
    }
  } finally {
    for (const x of made.ins) {
      x.grad?.dispose();
      x.grad = null;
      if (!x.isDisposed) x.dispose();
    }
    for (const o of made.outs) if (!o.isDisposed) o.dispose();
  }
}

/**
 * Expects `fn` (given a tensor factory for the current environment) to throw an Error whose message
 * is `message` (a string: exact; a RegExp: matched) on every backend, synchronously.
 */
export function throws(fn: (t: (values: ArrayLike<number>, shape: number[], dtype?: DType) => Tensor) => unknown, message: string | RegExp): void {
  const e = env();
  const made: Tensor[] = [];
  const t = (values: ArrayLike<number>, shape: number[], dtype?: DType): Tensor => {
    const d = dtype ?? (e.dtype as DType);
    const x = tensor(d === 'int32' ? Int32Array.from(values) : d === 'float64' ? Float64Array.from(values) : Float32Array.from(values), { shape, dtype: d, device: e.device });
    made.push(x);
    return x;
  };
  try {
    let err: unknown = null;
    try {
      tidy(() => {
        fn(t);
      });
    } catch (x) {
      err = x;
    }
    if (!(err instanceof Error)) throw new Error(`[${e.name}] expected an Error ${String(message)}, got ${err === null ? 'none' : String(err)}`);
    if (err.constructor !== Error) throw new Error(`[${e.name}] expected a plain Error, got a ${err.constructor.name}: ${err.message}`);
    if (typeof message === 'string') expect(err.message, `[${e.name}]`).toBe(message);
    else expect(err.message, `[${e.name}]`).toMatch(message);
  } finally {
    for (const x of made) if (!x.isDisposed) x.dispose();
  }
}

/** Reads a tensor in the current environment (async on webgpu). */
export async function read(t: Tensor): Promise<TypedArray> {
  return t.data();
}
