/**
 * tfjs-webgpu iterations must end only once the GPU has done the work. tfjs keeps a compute pass
 * open between dispatches; submitting its command encoder without ending that pass makes an
 * invalid command buffer that never runs, and the bench then timed nothing (matmul 1024³ at
 * "5 TFLOP/s" on lavapipe). flushTfjsWebgpu ends the pass first.
 */
import { describe, expect, it } from 'vitest';
import { flushTfjsWebgpu, tfjsAdapter } from '../../bench/peers/tfjs.js';

describe('flushTfjsWebgpu', () => {
  it('ends the open compute pass before submitting, then waits for the queue', async () => {
    const calls: string[] = [];
    const gpu = {
      commandEncoder: {} as unknown,
      endComputePassEncoder: () => calls.push('end'),
      submitQueue: () => calls.push('submit'),
      device: { queue: { onSubmittedWorkDone: async () => void calls.push('done') } } as unknown as GPUDevice,
    };
    await flushTfjsWebgpu(gpu);
    expect(calls).toEqual(['end', 'submit', 'done']);
  });

  it('submits nothing when no work is pending (tfjs already submitted a full batch)', async () => {
    const calls: string[] = [];
    const gpu = {
      commandEncoder: null as unknown,
      endComputePassEncoder: () => calls.push('end'),
      submitQueue: () => calls.push('submit'),
      device: { queue: { onSubmittedWorkDone: async () => void calls.push('done') } } as unknown as GPUDevice,
    };
    await flushTfjsWebgpu(gpu);
    expect(calls).toEqual(['end', 'done']);
  });
});

describe('tfjs-webgpu peer on Dawn', () => {
  it('runs a matmul iteration that the GPU accepts (no validation error), and takes the GPU time', async () => {
    const adapter = tfjsAdapter('webgpu');
    try {
      await adapter.start();
    } catch (e) {
      // No WebGPU adapter on this machine: nothing to check here (the unit tests above still run).
      console.warn(`tfjs-webgpu test skipped: ${(e as Error).message}`);
      return;
    }
    const small = await adapter.prepare({ op: 'matmul', M: 64, N: 64, K: 64 }, 'fwd', 'tfjs-webgpu');
    const big = await adapter.prepare({ op: 'matmul', M: 512, N: 512, K: 512 }, 'fwd', 'tfjs-webgpu');
    if ('na' in small || 'na' in big) throw new Error('expected tfjs-webgpu to run matmul');
    await small.run(); // the first run checks the error scope and throws on a validation error
    await big.run();
    const time = async (p: typeof big): Promise<number> => {
      const t0 = performance.now();
      for (let i = 0; i < 3; i++) await p.run();
      return performance.now() - t0;
    };
    // 64x more work per iteration must take clearly longer once the GPU work counts.
    expect(await time(big)).toBeGreaterThan(2 * (await time(small)));
    small.dispose();
    big.dispose();
  }, 120_000);
});
