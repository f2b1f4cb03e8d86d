/**
 * The SIMD exp of softmax and attention (exp_nonpos_v, backends/wasm/assembly/common.ts), through
 * its test export softmax_exp_f32, in the plain and the relaxed-SIMD builds, against Math.exp
 * (float64): every 3001st float32 in [-88.72, 0] (1.12e9 floats, so 373k points spread over every
 * binade, from -0 through the softmax range to the cutoff region around -87.3..-88.72), plus
 * special values.
 * - Where e^x is a normal float32 (x ≥ -87.336): within 1.5 ulp of the exact value (the polynomial
 *   is good to 1.8e-8 relative; the rest is float32 rounding; 1.3 ulp measured).
 * - Below: the result is ≥ 0 and within 2^-126 of e^x (subnormal or flushed to 0).
 * - e^0 = 1 exactly, e^-Infinity = 0, e^NaN = NaN, and 0 for every x ≤ -88.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { createWasmBackend } from '../../backends/wasm/index.js';

const BUILD = fileURLToPath(new URL('../../backends/wasm/build/', import.meta.url));
const STRIDE = 3001;
const LO = 0x80000000; // -0
const HI = 0xc2b17218; // -88.72284 (e^x overflows the other way above +88.72; below it is 0)

interface Exp {
  run(x: Float32Array): Float32Array;
}

function load(file: string): Exp {
  const memory = new WebAssembly.Memory({ initial: 64 });
  const inst = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(BUILD + file)), { env: { memory } });
  const ex = inst.exports as { heap_base(): number; softmax_exp_f32(px: number, po: number, n: number): void };
  const base = (ex.heap_base() + 15) & ~15;
  return {
    run(x) {
      const n = x.length;
      const px = base, po = base + Math.ceil(n / 4) * 16 + 16;
      const need = po + Math.ceil(n / 4) * 16 + 16;
      if (need > memory.buffer.byteLength) memory.grow(Math.ceil((need - memory.buffer.byteLength) / 65536));
      new Float32Array(memory.buffer, px, n).set(x);
      ex.softmax_exp_f32(px, po, n);
      return new Float32Array(memory.buffer, po, n).slice();
    },
  };
}

const F = new Float32Array(1);
const U = new Uint32Array(F.buffer);
/** The float32 spacing at |v| (the ulp of fround(v)). */
function ulp(v: number): number {
  F[0] = Math.abs(v);
  const a = F[0]!;
  U[0]! += 1;
  return F[0]! - a;
}

function sweep(): Float32Array {
  const n = Math.floor((HI - LO) / STRIDE) + 1;
  const bits = new Uint32Array(n);
  for (let i = 0; i < n; i++) bits[i] = LO + i * STRIDE;
  return new Float32Array(bits.buffer);
}

function check(exp: Exp): { maxUlp: number; points: number } {
  const x = sweep();
  const y = exp.run(x);
  let maxUlp = 0;
  for (let i = 0; i < x.length; i++) {
    const ref = Math.exp(x[i]!);
    const got = y[i]!;
    if (ref >= 2 ** -126) {
      const e = Math.abs(got - ref) / ulp(ref);
      if (!(e <= 1.5)) throw new Error(`exp: expected e^${x[i]} within 1.5 ulp of ${ref}, got ${got} (${e} ulp)`);
      maxUlp = Math.max(maxUlp, e);
    } else if (!(got >= 0 && Math.abs(got - ref) <= 2 ** -126)) {
      throw new Error(`exp: expected e^${x[i]} = ${ref} as a subnormal or 0, got ${got}`);
    }
  }
  const special = new Float32Array([0, -0, -Infinity, NaN, -88, -88.5, -100, -1e30, -3.4e38, -87.5, -1e-30, -1]);
  const s = exp.run(special);
  expect(s[0]).toBe(1);
  expect(s[1]).toBe(1);
  expect(s[2]).toBe(0);
  expect(s[3]).toBeNaN();
  for (let i = 4; i < 9; i++) expect(s[i]).toBe(0);
  expect(s[9]).toBeGreaterThan(0); // e^-87.5 = 1.0e-38: a subnormal, not flushed
  expect(Math.abs(s[9]! - Math.exp(-87.5))).toBeLessThanOrEqual(2 ** -126);
  expect(s[10]).toBe(1);
  expect(Math.abs(s[11]! - Math.exp(-1)) / ulp(Math.exp(-1))).toBeLessThanOrEqual(1.5);
  return { maxUlp, points: x.length };
}

describe('wasm exp_nonpos_v (softmax, attention)', () => {
  let relaxed = false;
  beforeAll(async () => {
    // sets V8's relaxed-SIMD flag in this worker when the runtime has it (as relaxed.test.ts)
    const be = await createWasmBackend({ relaxedSimd: 'v8-flag' });
    relaxed = be.relaxedSimd;
    be.terminate();
  });
  it('plain SIMD build: within 1.5 ulp of Math.exp over [-88.72, 0], 0 below, NaN kept', () => {
    const r = check(load('posegrad.wasm'));
    expect(r.points).toBeGreaterThan(370_000);
    expect(r.maxUlp).toBeGreaterThan(0); // the comparison ran (a float32 exp cannot be exact everywhere)
  });
  it('relaxed SIMD build: the same bounds', (ctx) => {
    if (!relaxed) ctx.skip();
    check(load('posegrad-relaxed.wasm'));
  });
});
