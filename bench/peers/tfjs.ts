/**
 * TensorFlow.js as a peer: the pure-JS cpu backend, the wasm backend (XNNPACK, SIMD) and the
 * webgpu backend on the same Dawn adapter that posegrad uses.
 *
 * - Layout: tfjs convolutions are NHWC only (its NCHW path is not implemented), so conv inputs are
 *   made in NHWC, tfjs's native layout. The FLOP counts do not depend on the layout.
 * - tfjs has no attention, layerNorm, deformable conv or gridSample op. Attention and layerNorm are
 *   composed from its ops the way a tfjs user (or tfjs-layers) would write them, and marked
 *   "composed"; deformConv2d and gridSample are "n/a: no op".
 * - fwd+bwd uses `tf.grads(f)(inputs, dy)`: the forward plus the gradient of every input.
 * - Threads: tfjs-backend-wasm turns threads off under Node (tfjs issue #3830), so it runs on
 *   one thread here; `details.threads` reports `getThreadsCount()`.
 * - Completion: cpu and wasm kernels are synchronous; on webgpu the adapter ends tfjs's open
 *   compute pass, submits the queue and awaits `queue.onSubmittedWorkDone()` before an iteration
 *   ends (flushTfjsWebgpu), and checks on the first run that the GPU raised no validation error.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as TF from '@tensorflow/tfjs';
import { RANGES, randomFloats, type KernelAdapter, type PrepareResult } from '../adapter.js';
import { convOut, type KernelSpec, type Mode } from '../formulas.js';
import { installDawnNavigator } from './webgpu-node.js';

type Tensor = TF.Tensor;

interface WebGPUBackendLike {
  submitQueue(): void;
  endComputePassEncoder(): void;
  commandEncoder: unknown;
  device: GPUDevice;
  adapterInfo?: { vendor?: string; architecture?: string; device?: string; description?: string };
}

/**
 * Submits tfjs-webgpu's pending work and waits until the GPU has done it. tfjs records dispatches
 * into an open compute pass and submits only every WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE dispatches;
 * its `submitQueue()` finishes the command encoder without ending that pass, so the pass must be
 * ended first (as tfjs's own `read` does): finishing an encoder with an open pass makes an invalid
 * command buffer, which the queue rejects with a validation error and never runs. Timing that
 * measured nothing, not even the GPU work (an early version of this adapter did).
 */
export async function flushTfjsWebgpu(gpu: WebGPUBackendLike): Promise<void> {
  gpu.endComputePassEncoder();
  if (gpu.commandEncoder) gpu.submitQueue();
  await gpu.device.queue.onSubmittedWorkDone();
}

export function tfjsAdapter(backend: 'cpu' | 'wasm' | 'webgpu'): KernelAdapter {
  let tf: typeof TF;
  let gpu: WebGPUBackendLike | null = null;

  const finish = async (): Promise<void> => {
    if (gpu) await flushTfjsWebgpu(gpu);
  };

  return {
    async start() {
      const details: Record<string, string | number | boolean> = {};
      if (backend === 'webgpu') details.adapter = await installDawnNavigator();
      tf = await import('@tensorflow/tfjs');
      if (backend === 'wasm') {
        const wasm = await import('@tensorflow/tfjs-backend-wasm');
        const require = createRequire(import.meta.url);
        wasm.setWasmPaths(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')) + '/dist/');
        if (!(await tf.setBackend('wasm'))) throw new Error("tfjs: expected setBackend('wasm') to succeed, got false");
        details.threads = wasm.getThreadsCount();
        details.simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
        details.threadsNote = 'tfjs-backend-wasm disables threads under Node (tfjs issue #3830)';
      } else if (backend === 'webgpu') {
        await import('@tensorflow/tfjs-backend-webgpu');
        if (!(await tf.setBackend('webgpu'))) throw new Error("tfjs: expected setBackend('webgpu') to succeed, got false");
        gpu = tf.backend() as unknown as WebGPUBackendLike;
      } else {
        if (!(await tf.setBackend('cpu'))) throw new Error("tfjs: expected setBackend('cpu') to succeed, got false");
        details.threads = 1;
      }
      await tf.ready();
      return { version: `@tensorflow/tfjs ${tf.version.tfjs}`, details };
    },

    async prepare(spec: KernelSpec, mode: Mode): Promise<PrepareResult> {
      const owned: Tensor[] = [];
      const t = (shape: number[], seed: number, range: readonly [number, number] = RANGES.data): Tensor => {
        const n = shape.reduce((a, b) => a * b, 1);
        const x = tf.tensor(randomFloats(n, seed, range[0], range[1]), shape, 'float32');
        owned.push(x);
        return x;
      };
      let f: (...xs: Tensor[]) => Tensor;
      let inputs: Tensor[];
      let outShape: number[];
      let note: string | undefined;

      switch (spec.op) {
        case 'matmul':
          inputs = [t([spec.M, spec.K], 1), t([spec.K, spec.N], 2)];
          f = (a, b) => tf.matMul(a as TF.Tensor2D, b as TF.Tensor2D);
          outShape = [spec.M, spec.N];
          break;
        case 'conv2d': {
          const s = spec;
          if (s.groups !== 1) return { na: 'tfjs conv2d has no groups (depthwise only)' };
          const Ho = convOut(s.H, s.kh, s.stride, s.padding, s.dilation);
          const Wo = convOut(s.W, s.kw, s.stride, s.padding, s.dilation);
          inputs = [t([s.N, s.H, s.W, s.Cin], 1), t([s.kh, s.kw, s.Cin, s.Cout], 2)];
          const pad: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [s.padding, s.padding], [s.padding, s.padding], [0, 0]];
          f = (x, w) => tf.conv2d(x as TF.Tensor4D, w as TF.Tensor4D, s.stride, pad, 'NHWC', s.dilation);
          outShape = [s.N, Ho, Wo, s.Cout];
          note = 'NHWC';
          break;
        }
        case 'deformConv2d':
          return { na: 'no op (tfjs has no deformable convolution)' };
        case 'gridSample':
          return { na: 'no op (tfjs has no gridSample)' };
        case 'softmax':
          inputs = [t([...spec.shape], 1)];
          f = (x) => tf.softmax(x, -1);
          outShape = [...spec.shape];
          break;
        case 'attention': {
          const s = spec;
          const scale = 1 / Math.sqrt(s.D);
          inputs = [t([s.B * s.H, s.Lq, s.D], 1), t([s.B * s.H, s.Lk, s.D], 2), t([s.B * s.H, s.Lk, s.D], 3)];
          f = (q, k, v) => tf.matMul(tf.softmax(tf.mul(tf.matMul(q!, k!, false, true), scale), -1), v!);
          outShape = [s.B * s.H, s.Lq, s.D];
          note = 'composed: matMul, softmax, matMul';
          break;
        }
        case 'layerNorm': {
          const s = spec;
          inputs = [t([s.rows, s.cols], 1), t([s.cols], 2), t([s.cols], 3)];
          f = (x, g, b) => {
            const { mean, variance } = tf.moments(x!, -1, true);
            return tf.add(tf.mul(tf.mul(tf.sub(x!, mean), tf.rsqrt(tf.add(variance, s.eps))), g!), b!);
          };
          outShape = [s.rows, s.cols];
          note = 'composed: moments, sub, rsqrt, mul, add';
          break;
        }
      }

      const dy = mode === 'fwd+bwd' ? t(outShape, 9) : null;
      const step: () => Tensor[] = dy
        ? () => tf.grads((...xs: Tensor[]) => f(...xs))(inputs, dy)
        : () => [f(...inputs)];
      // The first (untimed) run checks that the GPU accepted the work: a validation error means
      // the iterations time nothing, and the cell must fail rather than report a bogus speed.
      let checked = gpu === null;
      const prepared = {
        async run() {
          if (!checked) {
            gpu!.device.pushErrorScope('validation');
            const outs = tf.tidy(step);
            await finish();
            tf.dispose(outs);
            const err = await gpu!.device.popErrorScope();
            if (err) throw new Error(`tfjs-webgpu: expected the GPU to accept the iteration's commands, got a validation error: ${err.message}`);
            checked = true;
            return;
          }
          const outs = tf.tidy(step);
          await finish();
          tf.dispose(outs);
        },
        dispose() {
          tf.dispose(owned);
        },
      };
      return note ? { ...prepared, note } : prepared;
    },
  };
}
