/**
 * gradcheck: compares the analytic gradient (autograd on the cpu backend) with central finite
 * differences, in float64, as torch.autograd.gradcheck does. The scalar checked is
 * L = Σ out·r with fixed pseudo-random weights r, so every output element contributes.
 */
import type { Tensor } from '../../engine/tensor.js';
import { tensor } from '../../ops/creation.js';
import { noGrad, tidy } from '../../engine/engine.js';
import { add as addT, mul as mulT } from '../../ops/elementwise.js';
import { sum as sumAll } from '../../ops/reduce.js';
import { assertClose } from './close.js';

export interface GradcheckOptions {
  /** Finite-difference step (default 1e-6). */
  eps?: number;
  atol?: number;
  rtol?: number;
  /** Indices of the inputs to check (default: every float input). */
  wrt?: number[];
  /** Check at most this many elements per input, chosen evenly (default: all). */
  maxPerInput?: number;
}

function weights(n: number, seed: number): Float64Array {
  const r = new Float64Array(n);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    r[i] = (s / 4294967296) * 2 - 1;
  }
  return r;
}

/**
 * Throws when an analytic gradient differs from the numeric one beyond atol + rtol·|numeric|.
 * `fn` maps the inputs to one tensor (or an array, whose members are all weighted). Inputs must be
 * float64 (int32 inputs are passed through unchanged and never checked).
 */
export function gradcheck(fn: (...xs: Tensor[]) => Tensor | Tensor[], inputs: Tensor[], opts: GradcheckOptions = {}): void {
  const eps = opts.eps ?? 1e-6;
  const tol = { atol: opts.atol ?? 1e-6, rtol: opts.rtol ?? 1e-4 };
  const wrt = opts.wrt ?? inputs.map((t, i) => (t.dtype === 'float64' ? i : -1)).filter((i) => i >= 0);
  for (const i of wrt) if (inputs[i]!.dtype !== 'float64') throw new Error(`gradcheck: expected float64 input ${i}, got ${inputs[i]!.dtype}`);
  const host = inputs.map((t) => t.dataSync());
  const make = (vals: (Float64Array | Int32Array | Float32Array)[], grad: boolean): Tensor[] =>
    vals.map((v, i) => {
      const t = tensor(v, { dtype: inputs[i]!.dtype, shape: inputs[i]!.shape });
      if (grad && wrt.includes(i)) t.requiresGrad_(true);
      return t;
    });
  const loss = (xs: Tensor[]): Tensor => {
    const outs = fn(...xs);
    const list = Array.isArray(outs) ? outs : [outs];
    let total: Tensor | null = null;
    list.forEach((o, k) => {
      const r = tensor(weights(o.size, 17 + k), { dtype: 'float64', shape: o.shape });
      const term = sumAll(mulT(o, r));
      total = total ? addT(total, term) : term;
    });
    return total!;
  };
  // analytic
  const analytic = tidy(() => {
    const xs = make(host as Float64Array[], true);
    loss(xs).backward();
    return wrt.map((i) => {
      const g = xs[i]!.grad;
      return g ? (g.dataSync() as Float64Array) : new Float64Array(xs[i]!.size);
    });
  });
  // numeric
  wrt.forEach((i, w) => {
    const n = host[i]!.length;
    const count = Math.min(n, opts.maxPerInput ?? n);
    const idx = Array.from({ length: count }, (_, k) => Math.floor((k * n) / count));
    const num = new Float64Array(count);
    const ana = new Float64Array(count);
    idx.forEach((j, k) => {
      const v = host.map((h) => h.slice()) as Float64Array[];
      const x0 = v[i]![j]!;
      v[i]![j] = x0 + eps;
      const fp = noGrad(() => tidy(() => loss(make(v, false)).item()));
      v[i]![j] = x0 - eps;
      const fm = noGrad(() => tidy(() => loss(make(v, false)).item()));
      num[k] = (fp - fm) / (2 * eps);
      ana[k] = analytic[w]![j]!;
    });
    assertClose(ana, num, tol, `gradcheck input ${i}`);
  });
}


/** Σ out·r over one or more outputs, with fixed pseudo-random r (seeds 31, 32, ...). */
function weightedSum(outs: Tensor | Tensor[]): Tensor {
  const list = Array.isArray(outs) ? outs : [outs];
  let total: Tensor | null = null;
  list.forEach((o, k) => {
    const term = sumAll(mulT(o, tensor(weights(o.size, 31 + k), { dtype: 'float64', shape: o.shape })));
    total = total ? addT(total, term) : term;
  });
  return total!;
}

/**
 * Compares autograd's gradient of L = Σ out·r (fixed pseudo-random r) with respect to float64
 * parameters against central differences (perturbing the parameter in place and restoring it).
 * At most `maxPer` evenly spaced elements per parameter are checked.
 * @throws Error naming the parameter when they differ beyond atol + rtol·|numeric|.
 */
export function paramGradcheck(fn: () => Tensor | Tensor[], params: readonly [string, Tensor][], opts: { eps?: number; atol?: number; rtol?: number; maxPer?: number } = {}): void {
  const eps = opts.eps ?? 1e-6;
  const tol = { atol: opts.atol ?? 1e-6, rtol: opts.rtol ?? 1e-4 };
  for (const [, p] of params) {
    if (p.dtype !== 'float64') throw new Error(`paramGradcheck: expected float64 parameters, got ${p.dtype}`);
    p.grad?.dispose();
    p.grad = null;
  }
  const analytic = tidy(() => {
    weightedSum(fn()).backward();
    return params.map(([name, p]) => {
      if (!p.grad) throw new Error(`paramGradcheck: expected a gradient for '${name}', got none`);
      return p.grad.dataSync().slice() as Float64Array;
    });
  });
  params.forEach(([name, p], w) => {
    const host = p.dataSync().slice() as Float64Array;
    const n = host.length;
    const count = Math.min(n, opts.maxPer ?? n);
    const num = new Float64Array(count);
    const ana = new Float64Array(count);
    const evalAt = (v: Float64Array): number => {
      const t = tensor(v, { dtype: 'float64', shape: p.shape });
      p.assign(t);
      t.dispose();
      return noGrad(() => tidy(() => weightedSum(fn()).item()));
    };
    for (let k = 0; k < count; k++) {
      const j = Math.floor((k * n) / count);
      const v = host.slice();
      v[j] = host[j]! + eps;
      const fp = evalAt(v);
      v[j] = host[j]! - eps;
      const fm = evalAt(v);
      num[k] = (fp - fm) / (2 * eps);
      ana[k] = analytic[w]![j]!;
    }
    evalAt(host);
    assertClose(ana, num, tol, `parameter gradient of ${name}`);
  });
  for (const [, p] of params) {
    p.grad?.dispose();
    p.grad = null;
  }
}
