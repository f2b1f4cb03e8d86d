/**
 * Parity harness for the wasm backend: runs the same op (through ops/ and autograd) on cpu and on
 * wasm from the same float32 inputs, and compares the outputs and the input gradients of
 * L = Σ out·r (fixed pseudo-random weights r, so every output element contributes).
 */
import { expect } from 'vitest';
import type { DeviceName } from '../../backends/backend.js';
import { createWasmBackend, type WasmBackend, type WasmBackendOptions } from '../../backends/wasm/index.js';
import { engine, init, tidy } from '../../engine/engine.js';
import { Tensor } from '../../engine/tensor.js';
import { tensor } from '../../ops/creation.js';
import { add, mul } from '../../ops/elementwise.js';
import { sum } from '../../ops/reduce.js';
import { assertClose, type Tol } from '../helpers/close.js';

let backend: WasmBackend | null = null;

/** Registers and initializes the wasm backend once per test file (vitest runs each file in its own process). */
export async function setupWasm(opts: WasmBackendOptions = {}): Promise<WasmBackend> {
  if (!backend) {
    engine.registerBackendFactory('wasm', () => createWasmBackend(opts));
    backend = (await init('wasm')) as WasmBackend;
  }
  return backend;
}

/** Deterministic pseudo-random values in [lo, hi). */
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

/** An input: float32 values (requiresGrad unless `noGrad`) or int32 values. */
export interface In {
  shape: number[];
  data: Float32Array | Int32Array;
  noGrad?: boolean;
}

export const f = (shape: number[], seed: number, lo = -1, hi = 1): In => ({ shape, data: rand(numel(shape), seed, lo, hi) });
export const i32 = (shape: number[], values: ArrayLike<number>): In => ({ shape, data: Int32Array.from(values) });
export const fixed = (shape: number[], seed: number, lo = -1, hi = 1): In => ({ ...f(shape, seed, lo, hi), noGrad: true });

interface Run {
  outs: { shape: readonly number[]; dtype: string; data: ArrayLike<number> }[];
  grads: (ArrayLike<number> | null)[];
}

function run(device: DeviceName, fn: (...xs: Tensor[]) => Tensor | Tensor[], inputs: readonly In[], grad: boolean): Run {
  return tidy(() => {
    const xs = inputs.map((x) => {
      const isInt = x.data instanceof Int32Array;
      const t = tensor(x.data, { shape: x.shape, dtype: isInt ? 'int32' : 'float32', device });
      if (grad && !isInt && !x.noGrad) t.requiresGrad_(true);
      return t;
    });
    const res = fn(...xs);
    const outs = Array.isArray(res) ? res : [res];
    const host = outs.map((o) => ({ shape: o.shape, dtype: o.dtype, data: o.dataSync() }));
    const grads: (ArrayLike<number> | null)[] = [];
    if (grad) {
      let loss: Tensor | null = null;
      outs.forEach((o, k) => {
        if (o.dtype === 'int32' || !o.requiresGrad) return;
        const r = tensor(rand(o.size, 101 + k), { shape: o.shape, device });
        const term = sum(mul(o, r));
        loss = loss ? add(loss, term) : term;
      });
      if (loss) (loss as Tensor).backward();
      for (const x of xs) grads.push(x.requiresGrad ? (x.grad ? x.grad.dataSync() : new Float32Array(x.size)) : null);
    }
    return { outs: host, grads };
  });
}

/**
 * Runs `fn` on cpu and wasm and asserts equal output shapes/dtypes and values within `fwd`, and
 * (unless grad is false) input gradients within `bwd` (default fwd).
 */
export function parity(label: string, fn: (...xs: Tensor[]) => Tensor | Tensor[], inputs: readonly In[], fwd: Tol, opts: { bwd?: Tol; grad?: boolean } = {}): void {
  const grad = opts.grad ?? true;
  const a = run('cpu', fn, inputs, grad);
  const b = run('wasm', fn, inputs, grad);
  expect(b.outs.length, `${label}: output count`).toBe(a.outs.length);
  a.outs.forEach((o, k) => {
    const w = b.outs[k]!;
    expect(w.shape, `${label}: output ${k} shape`).toEqual(o.shape);
    expect(w.dtype, `${label}: output ${k} dtype`).toBe(o.dtype);
    assertClose(w.data, o.data, o.dtype === 'int32' ? { atol: 0, rtol: 0 } : fwd, `${label} output ${k}`);
  });
  a.grads.forEach((g, k) => {
    const w = b.grads[k];
    if (g === null) return;
    if (!w) throw new Error(`${label}: expected a wasm gradient for input ${k}, got none`);
    assertClose(w, g, opts.bwd ?? fwd, `${label} grad of input ${k}`);
  });
}
