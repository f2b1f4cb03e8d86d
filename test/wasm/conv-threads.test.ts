/**
 * The threaded conv kernels of the wasm backend (backends/wasm/conv.ts): threads own disjoint dx
 * planes, dW columns and depthwise output rows / planes / channels, and the column chunks are sized
 * from the shapes alone, so conv2d's forward and backward passes give the very same bits at 1, 2,
 * 3 and 16 threads (no per-thread partial sums whose order could depend on the split). Values
 * against cpu/PyTorch are checked in the op suite (test/ops/conv.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Conv2dParams, KTensor } from '../../backends/backend.js';
import { createWasmBackend, type WasmBackend, type WasmStorage } from '../../backends/wasm/index.js';
import { rand } from './helpers.js';

const THREADS = [1, 2, 3, 16];
const backends: WasmBackend[] = [];

beforeAll(async () => {
  for (const threads of THREADS) backends.push(await createWasmBackend({ threads }));
});
afterAll(() => {
  for (const be of backends) be.terminate();
});

interface Case { x: number[]; w: number[]; p: Partial<Conv2dParams> }
const CASES: [string, Case][] = [
  ['3x3 pad 1, 64 -> 48 on 2 x 30 x 27', { x: [2, 64, 30, 27], w: [48, 64, 3, 3], p: { padding: [1, 1] } }],
  ['groups 4, stride 2, dilation 2, batch 3', { x: [3, 32, 29, 33], w: [40, 8, 3, 3], p: { stride: [2, 2], padding: [2, 2], dilation: [2, 2], groups: 4 } }],
  ['1x1, 96 -> 80 on 2 x 23 x 25 (no col)', { x: [2, 96, 23, 25], w: [80, 96, 1, 1], p: {} }],
  ['depthwise 3x3 stride 2 pad 1, 2 x 48 x 41 x 43', { x: [2, 48, 41, 43], w: [48, 1, 3, 3], p: { stride: [2, 2], padding: [1, 1], groups: 48 } }],
  ['depthwise 3x3 pad 1, 1 x 96 x 33 x 35', { x: [1, 96, 33, 35], w: [96, 1, 3, 3], p: { padding: [1, 1], groups: 96 } }],
];

function run(be: WasmBackend, c: Case): Float32Array[] {
  const p: Conv2dParams = { stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1, ...c.p };
  const [N, , H, W] = c.x as [number, number, number, number];
  const [Cout, , kh, kw] = c.w as [number, number, number, number];
  const Ho = Math.floor((H + 2 * p.padding[0] - p.dilation[0] * (kh - 1) - 1) / p.stride[0]) + 1;
  const Wo = Math.floor((W + 2 * p.padding[1] - p.dilation[1] * (kw - 1) - 1) / p.stride[1]) + 1;
  const owned: WasmStorage[] = [];
  const up = (shape: number[], seed: number): KTensor<WasmStorage> => {
    const s = be.upload(rand(shape.reduce((a, b) => a * b, 1), seed), 'float32') as WasmStorage;
    owned.push(s);
    return { storage: s, shape, dtype: 'float32' };
  };
  try {
    const x = up(c.x, 1);
    const w = up(c.w, 2);
    const b = up([Cout], 3);
    const dy = up([N, Cout, Ho, Wo], 4);
    const outs = [be.conv2d(x, w, b, p), be.conv2dBackwardInput(dy, w, c.x, p), be.conv2dBackwardWeight(x, dy, c.w, p)];
    owned.push(...outs);
    const sizes = [N * Cout * Ho * Wo, c.x.reduce((a, v) => a * v, 1), c.w.reduce((a, v) => a * v, 1)];
    return outs.map((s, k) => be.readSync({ storage: s, shape: [sizes[k]!], dtype: 'float32' }) as Float32Array);
  } finally {
    for (const s of owned) be.release(s);
  }
}

describe('wasm conv2d: the same bits at 1, 2, 3 and 16 threads', () => {
  for (const [name, c] of CASES) {
    it(name, () => {
      const [ref, ...rest] = backends.map((be) => run(be, c));
      for (const [k, got] of rest.entries()) {
        for (const [j, label] of ['forward', 'dx', 'dw'].entries()) {
          const a = ref![j]!;
          const b = got[j]!;
          expect(a.every((v) => Number.isFinite(v)), `${label} finite`).toBe(true);
          const diff = a.findIndex((v, i) => !Object.is(v, b[i]));
          expect(diff, `${label} at ${THREADS[k + 1]} threads first differs at ${diff}`).toBe(-1);
        }
      }
    });
  }
});
