/**
 * Loads the PyTorch fixtures written by test/reference/*.py and checks an op against them:
 * forward values, and the gradients of Σ out·gout for every input that torch differentiated.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DeviceName } from '../../backends/backend.js';
import type { DType } from '../../engine/dtype.js';
import { tidy } from '../../engine/engine.js';
import type { Tensor } from '../../engine/tensor.js';
import { tensor } from '../../ops/creation.js';
import { readSafetensors, type HostTensor } from '../../models/nn/safetensors.js';
import { assertClose, type Tol } from './close.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');

export interface FixtureCase {
  name: string;
  inputs: Record<string, string>;
  params: Record<string, any>;
  grads: string[];
  outputs: number;
}

export class Fixture {
  readonly cases: FixtureCase[];
  constructor(readonly tensors: Map<string, HostTensor>, cases: FixtureCase[]) {
    this.cases = cases;
  }
  get(name: string): HostTensor {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`fixture: no tensor '${name}'`);
    return t;
  }
  /** Cases whose name starts with `prefix/`. */
  casesOf(prefix: string): FixtureCase[] {
    const cs = this.cases.filter((c) => c.name.startsWith(prefix + '/'));
    if (cs.length === 0) throw new Error(`fixture: no cases for '${prefix}'`);
    return cs;
  }
}

export function loadFixture(group: string, name: string): Fixture {
  const file = readSafetensors(new Uint8Array(readFileSync(join(FIXTURES, group, `${name}.safetensors`))));
  return new Fixture(file.tensors, JSON.parse(file.metadata.cases ?? '[]') as FixtureCase[]);
}

export interface RunOptions {
  dtype: 'float64' | 'float32';
  device?: DeviceName;
  fwd: Tol;
  /** Tolerance for gradients (defaults to fwd). */
  bwd?: Tol;
}

/** A host tensor as a posegrad tensor: floats in `dtype`, integers as int32. */
export function toTensor(h: HostTensor, dtype: DType, device: DeviceName = 'cpu', requiresGrad = false): Tensor {
  const isFloat = h.dtype !== 'int32';
  const t = tensor(h.data, { dtype: isFloat ? dtype : 'int32', shape: h.shape, device });
  if (requiresGrad && isFloat) t.requiresGrad_(true);
  return t;
}

/**
 * Runs `fn` on the case's inputs and checks `out` (and out1, out2, ... when fn returns an array)
 * and every stored gradient. Synchronous: for cpu (and wasm) tensors.
 */
export function checkCase(fx: Fixture, c: FixtureCase, fn: (x: Record<string, Tensor>, params: Record<string, any>) => Tensor | Tensor[], opts: RunOptions): void {
  const bwd = opts.bwd ?? opts.fwd;
  tidy(() => {
    const ins: Record<string, Tensor> = {};
    for (const k of Object.keys(c.inputs)) ins[k] = toTensor(fx.get(`${c.name}/${k}`), opts.dtype, opts.device, c.grads.includes(k));
    const res = fn(ins, c.params);
    const outs = Array.isArray(res) ? res : [res];
    outs.forEach((o, i) => {
      const exp = fx.get(`${c.name}/${i === 0 ? 'out' : `out${i}`}`);
      if (JSON.stringify(o.shape) !== JSON.stringify(exp.shape)) throw new Error(`${c.name}: expected output ${i} of shape [${exp.shape}], got [${o.shape}]`);
      assertClose(o.dataSync(), exp.data, opts.fwd, `${c.name} (${opts.dtype}) output ${i}`);
    });
    if (c.grads.length) {
      const gout = toTensor(fx.get(`${c.name}/gout`), opts.dtype, opts.device);
      outs[0]!.backward(gout);
      for (const k of c.grads) {
        const g = ins[k]!.grad;
        if (!g) throw new Error(`${c.name}: expected a gradient for '${k}', got none`);
        assertClose(g.dataSync(), fx.get(`${c.name}/grad_${k}`).data, bwd, `${c.name} (${opts.dtype}) grad of ${k}`);
      }
    }
  });
}

/** Tolerances used across op fixture tests. */
export const F64: Tol = { atol: 1e-10, rtol: 1e-9 };
export const F32: Tol = { atol: 2e-5, rtol: 2e-4 };
