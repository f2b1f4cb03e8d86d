/**
 * The wasm scratch registry (backends/wasm/scratch.ts) and the canary test of issue 16: every
 * (kind, thread) pair has its own slot for any thread count, no wrapper picks a slot number by
 * hand, and at 1 to 16 threads every threaded kernel family (matmul, conv2d and its backward
 * passes: general, 1x1 and depthwise; deformConv2d and its backward, gridSample and its backward;
 * softmax, layerNorm, batchNorm and attention and their backward passes, at shapes above their
 * threading thresholds) plus the single-threaded scratch users (topk, interpolate, and the small
 * layerNorm and attention calls) leave 64 unrelated canary tensors untouched, while scratch
 * blocks grow (larger calls) between allocations of canaries.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createWasmBackend, type WasmBackend } from '../../backends/wasm/index.js';
import { KINDS, scratchSlot } from '../../backends/wasm/scratch.js';
import { engine, tidy } from '../../engine/engine.js';
import type { Tensor } from '../../engine/tensor.js';
import { scaledDotProductAttention } from '../../ops/attention.js';
import { conv2d } from '../../ops/conv.js';
import { tensor } from '../../ops/creation.js';
import { deformConv2d } from '../../ops/deform-conv.js';
import { add, mul } from '../../ops/elementwise.js';
import { matmul } from '../../ops/matmul.js';
import { batchNorm2d, layerNorm } from '../../ops/normalization.js';
import { sum } from '../../ops/reduce.js';
import { gridSample, interpolate } from '../../ops/resample.js';
import { topk } from '../../ops/shape.js';
import { softmax } from '../../ops/softmax.js';
import { rand } from '../helpers/backends.js';

const WASM_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'backends', 'wasm');

describe('wasm scratch registry', () => {
  it('maps every (kind, thread) pair to its own slot, for any thread count', () => {
    const seen = new Map<number, string>();
    for (let t = 0; t < 256; t++) {
      for (const k of KINDS) {
        const s = scratchSlot(k, t);
        expect(seen.get(s), `slot ${s} of ${k}/${t}`).toBeUndefined();
        seen.set(s, `${k}/${t}`);
      }
    }
    expect(scratchSlot('args')).toBe(0); // memory.ts args() writes slot 0
    expect(() => scratchSlot('packA', -1)).toThrow('wasm scratch: expected a thread index as an integer ≥ 0, got -1');
  });

  it('no wrapper passes a hand-picked slot number to memory.scratch', () => {
    for (const file of readdirSync(WASM_DIR).filter((n) => n.endsWith('.ts') && n !== 'scratch.ts' && n !== 'memory.ts')) {
      const src = readFileSync(join(WASM_DIR, file), 'utf8');
      expect(src.match(/\.scratch\(/g) ?? [], `${file} calls mem.scratch directly (use scratch.ts)`).toEqual([]);
    }
  });
});

/** Runs every scratch-using kernel family, forward and backward, at sizes scaled by `s`. */
function workload(s: number): void {
  tidy(() => {
    const r = (shape: number[], seed: number, lo = -1, hi = 1): Tensor => tensor(rand(shape.reduce((a, b) => a * b, 1), seed, lo, hi), { shape, device: 'wasm' }).requiresGrad_();
    const terms: Tensor[] = [];
    terms.push(sum(matmul(r([64 * s, 300], 1), r([300, 257 * s], 2))));
    terms.push(sum(conv2d(r([2, 16, 20 * s, 23], 3), r([24, 16, 3, 3], 4), r([24], 5), { padding: 1 })));
    // the direct depthwise kernels (stride 1 and 2) and the 1x1 backward without col, all above
    // their threading thresholds
    terms.push(sum(conv2d(r([2, 32, 18 * s, 33], 22), r([32, 1, 3, 3], 23), r([32], 24), { padding: 1, groups: 32 })));
    terms.push(sum(conv2d(r([2, 40, 24 * s, 29], 25), r([40, 1, 3, 3], 26), null, { stride: 2, padding: 1, groups: 40 })));
    terms.push(sum(conv2d(r([2, 48, 10 * s, 21], 27), r([40, 48, 1, 1], 28), r([40], 29))));
    const x = r([2, 8, 12 * s, 30], 6);
    const Ho = 12 * s;
    terms.push(sum(deformConv2d(x, r([2, 18, Ho, 30], 7, -2, 2), r([6, 8, 3, 3], 8), null, { padding: 1, mask: r([2, 9, Ho, 30], 9, 0, 1) })));
    terms.push(sum(gridSample(r([3, 16, 12, 14], 10), r([3, 20 * s, 30, 2], 11, -1.1, 1.1))));
    terms.push(sum(gridSample(r([1, 32, 12, 14], 12), r([1, 25 * s, 41, 2], 13, -1.1, 1.1), { paddingMode: 'border' })));
    terms.push(sum(topk(r([4, 500 * s], 14), 7, 1).values));
    terms.push(sum(interpolate(r([1, 3, 9, 7 * s], 15), { scaleFactor: 2, mode: 'bilinear' })));
    terms.push(sum(layerNorm(r([7, 100 * s], 16), 100 * s, r([100 * s], 17), r([100 * s], 18))));
    terms.push(sum(scaledDotProductAttention(r([1, 2, 20 * s, 16], 19), r([1, 2, 33, 16], 20), r([1, 2, 33, 8], 21))));
    // split between threads (2-6 of them): per-thread attention work areas and layerNorm accumulators
    terms.push(sum(mul(softmax(r([70 * s, 1030], 40), 1), r([70 * s, 1030], 41))));
    terms.push(sum(layerNorm(r([100, 700 * s], 42), 700 * s, r([700 * s], 43), r([700 * s], 44))));
    terms.push(sum(batchNorm2d(r([2, 6, 60, 70 * s], 45), null, null, r([6], 46), r([6], 47), { training: true })));
    terms.push(sum(scaledDotProductAttention(r([1, 3, 90 * s, 24], 48), r([1, 3, 100, 24], 49), r([1, 3, 100, 20], 50))));
    mul(terms.reduce((a, b) => add(a, b)), 0.5).backward();
  });
}

describe('wasm canary: 64 unrelated tensors stay untouched at 1 to 16 threads', () => {
  for (const threads of Array.from({ length: 16 }, (_, i) => i + 1)) {
    it(`threads: ${threads}`, async () => {
      const be: WasmBackend = await createWasmBackend({ threads });
      const prev = engine.isInitialized('wasm') ? engine.backend('wasm') : null;
      engine.registerBackend(be);
      const canaries: { t: Tensor; v: Float32Array }[] = [];
      const addCanaries = (n: number, seed: number): void => {
        for (let i = 0; i < n; i++) {
          const v = rand(97 + 61 * i, seed + i, -5, 5);
          canaries.push({ t: tensor(v, { device: 'wasm' }), v });
        }
      };
      try {
        workload(1);
        addCanaries(32, 1000); // in the holes around the scratch blocks and the freed tensors
        workload(2); // every scratch block grows: reallocated elsewhere
        addCanaries(32, 2000);
        workload(3);
        workload(1);
        const bad = canaries.map((c, i) => (Array.from(c.t.dataSync()).every((x, j) => x === c.v[j]) ? -1 : i)).filter((i) => i >= 0);
        expect(bad, `canaries overwritten at threads: ${threads}`).toEqual([]);
      } finally {
        for (const c of canaries) c.t.dispose();
        if (prev) engine.registerBackend(prev);
        be.terminate();
      }
    });
  }
});
