/**
 * The threaded wasm backend (`threads: 2`): worker threads share the memory. Op parity at 2 and 16
 * threads runs in the one op suite (test/ops/*: matmul, conv2d, deformConv2d, gridSample, softmax,
 * layerNorm/groupNorm, batchNorm2d and attention have cases above the threading thresholds); the
 * results at 2, 3 and 16 threads against 1 thread in conv-threads.test.ts and
 * kernel-threads.test.ts; the scratch canaries in scratch.test.ts. Here: the build and memory in
 * use, and memory growth while workers exist.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WasmBackend } from '../../backends/wasm/index.js';
import * as M from '../../ops/matmul.js';
import { f, parityOn } from '../helpers/backends.js';
import { createWasmBackend } from '../../backends/wasm/index.js';

let be: WasmBackend;

beforeAll(async () => {
  be = await createWasmBackend({ threads: 2 });
});
afterAll(() => be.terminate());

describe('wasm with 2 threads', () => {
  it('runs the threads build over a shared memory', () => {
    expect(be.threads).toBe(2);
    expect(be.moduleFile).toMatch(/-threads\.wasm$/);
    expect(be.memory.memory.buffer).toBeInstanceOf(SharedArrayBuffer);
  });
  it('memory growth while workers exist keeps results right', async () => {
    const big = be.upload(new Float32Array(2 ** 23), 'float32'); // 32 MiB: grows the shared memory
    await parityOn(be, 'wasm-2', 'after growth', (a, b) => M.matmul(a, b), [f([70, 300], 10), f([300, 90], 11)], { atol: 5e-5, rtol: 2e-4 });
    be.release(big);
  });
});
