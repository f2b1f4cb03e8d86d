/**
 * Helpers shared by the network tests: fixture files, closed-form inputs (evaluated identically by
 * the Python reference scripts, so fixtures need not store them) and seeded re-initialization.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DType } from '../../engine/dtype.js';
import { engine } from '../../engine/engine.js';
import type { Tensor } from '../../engine/tensor.js';
import { tensor } from '../../ops/creation.js';
import { BatchNorm2d } from '../../models/nn/layers.js';
import type { Module } from '../../models/nn/module.js';

export const MODEL_FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'models');

/** The bytes of test/fixtures/models/<name>. */
export function readFixture(name: string): Uint8Array {
  return new Uint8Array(readFileSync(join(MODEL_FIXTURES, name)));
}

/** Evaluates f at every index of `shape` (row-major) into a tensor of `dtype`. */
export function fromFormula(shape: readonly number[], f: (idx: number[]) => number, dtype: DType = 'float64'): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float64Array(n);
  const idx = new Array<number>(shape.length).fill(0);
  for (let p = 0; p < n; p++) {
    v[p] = f(idx);
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d]! < shape[d]!) break;
      idx[d] = 0;
    }
  }
  return tensor(v, { dtype, shape });
}

/**
 * Seeded non-trivial weights (the papers' N(0, 0.001) inits make every path nearly linear, which
 * gradchecks would not exercise): 4-D weights uniform ±√(3/fan_in), BatchNorm γ ≈ 1 ± 0.2, other
 * 1-D parameters N(0, 0.1²), running mean N(0, 0.2²), running variance U(0.5, 1.5). Drawn from the
 * engine's seeded generator; the module is cast to `dtype` first.
 */
export function randomize(m: Module, dtype: 'float32' | 'float64' = 'float64'): void {
  m.toDtype(dtype);
  const rng = engine.rng;
  const bnPrefixes = m.namedModules().filter(([, mod]) => mod instanceof BatchNorm2d).map(([n]) => (n ? `${n}.` : ''));
  for (const [name, t] of [...m.namedParameters(), ...m.namedBuffers()]) {
    if (t.dtype === 'int32') continue;
    const isBn = bnPrefixes.some((p) => name.startsWith(p) && !name.slice(p.length).includes('.'));
    const leaf = name.slice(name.lastIndexOf('.') + 1);
    const fanIn = t.rank === 4 ? t.shape[1]! * t.shape[2]! * t.shape[3]! : 1;
    const v = new Float64Array(t.size);
    for (let i = 0; i < v.length; i++) {
      if (leaf === 'running_var') v[i] = 0.5 + rng.uniform();
      else if (leaf === 'running_mean') v[i] = 0.2 * rng.normal();
      else if (t.rank === 4) v[i] = (rng.uniform() * 2 - 1) * Math.sqrt(3 / fanIn);
      else if (isBn && leaf === 'weight') v[i] = 1 + 0.2 * rng.normal();
      else v[i] = 0.1 * rng.normal();
    }
    const src = tensor(v, { dtype, shape: t.shape, device: t.device });
    t.assign(src);
    src.dispose();
  }
}
