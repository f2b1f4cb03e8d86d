/**
 * onnxruntime as a peer: onnxruntime-node (native, CPU execution provider, 1 and 2 intra-op
 * threads) and onnxruntime-web (its wasm build with SIMD, at 1 or 2 threads, and its WebGPU
 * provider on Dawn). Each workload is a one-node ONNX model built in memory (onnx-models.ts).
 *
 * - onnxruntime is an inference engine: fwd+bwd is "n/a: inference only".
 * - onnxruntime-web fixes its wasm thread count when it first initializes, hence one process per
 *   thread count; `details.threads` reports the count it actually took (it falls back to 1, with
 *   a warning, where threads are unavailable).
 * - ort-web-webgpu: inputs are uploaded once into GPU buffers (`Tensor.fromGpuBuffer`) and
 *   outputs stay on the GPU (`preferredOutputLocation: 'gpu-buffer'`); each iteration awaits
 *   `queue.onSubmittedWorkDone()`. CPU fallback is disabled (`session.disable_cpu_ep_fallback`),
 *   so an op the WebGPU provider lacks is reported as such instead of silently running on the CPU.
 *   In Node it needs the writeBuffer shim of webgpu-node.ts (reported in `details`).
 * - ort-node and ort-web-wasm take inputs as CPU tensors: ort-node reads them in place; ort-web
 *   copies them into its wasm heap and the output out of it on every run (its API offers no way
 *   to keep them resident), which counts in its time.
 */
import type * as OrtTypes from 'onnxruntime-common';
import type { KernelAdapter, PrepareResult } from '../adapter.js';
import { randomFloats } from '../adapter.js';
import type { KernelSpec, Mode } from '../formulas.js';
import { onnxWorkload } from './onnx-models.js';
import { encodeModel } from './onnx-proto.js';
import { installDawnNavigator, patchWriteBufferForSharedMemory } from './webgpu-node.js';

type Ort = typeof OrtTypes;

/** Thread count encoded in an engine id ('ort-node-2t' → 2). */
export function threadsOfEngineId(id: string): number {
  const m = /-(\d+)t$/.exec(id);
  if (!m) throw new Error(`ort: expected an engine id ending in -<n>t, got '${id}'`);
  return Number(m[1]);
}

export function ortAdapter(pkg: 'node' | 'web', backend: 'cpu' | 'wasm' | 'webgpu', webThreads = 1): KernelAdapter {
  let ort: Ort;
  let device: GPUDevice | null = null;
  const ep = (): OrtTypes.InferenceSession.ExecutionProviderConfig =>
    device ? ({ name: 'webgpu', device } as unknown as OrtTypes.InferenceSession.ExecutionProviderConfig) : backend;

  return {
    async start() {
      const details: Record<string, string | number | boolean> = {};
      if (pkg === 'node') {
        ort = (await import('onnxruntime-node')) as unknown as Ort;
        details.executionProvider = 'cpu';
        return { version: `onnxruntime-node ${ort.env.versions.node ?? '?'}`, details };
      }
      if (backend === 'webgpu') {
        details.adapter = await installDawnNavigator();
        patchWriteBufferForSharedMemory();
        details.shim = 'GPUQueue.writeBuffer copies SharedArrayBuffer views (Dawn for Node rejects them)';
        ort = (await import('onnxruntime-web/webgpu')) as unknown as Ort;
        // Our own device, handed to every session (the WebGPU EP's `device` option), so that the
        // input buffers we create live on the device the session computes on.
        const adapter = await navigator.gpu.requestAdapter();
        if (!adapter) throw new Error('ort-web: expected a WebGPU adapter, got none');
        device = await adapter.requestDevice({ requiredLimits: { maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize, maxBufferSize: adapter.limits.maxBufferSize } });
      } else {
        ort = (await import('onnxruntime-web')) as unknown as Ort;
        ort.env.wasm.numThreads = webThreads;
      }
      // A tiny session initializes the runtime, so that the thread count it settled on is known.
      const probe = await ort.InferenceSession.create(encodeModel(onnxWorkload({ op: 'softmax', shape: [2, 3] }).graph), { executionProviders: [ep()] });
      await probe.release();
      details.executionProvider = backend;
      if (backend === 'wasm') {
        details.threads = ort.env.wasm.numThreads ?? 1;
        details.simd = true;
      }
      return { version: `onnxruntime-web ${ort.env.versions.web ?? '?'}`, details };
    },

    async prepare(spec: KernelSpec, mode: Mode, engineId: string): Promise<PrepareResult> {
      if (mode === 'fwd+bwd') return { na: 'inference only (onnxruntime has no autograd)' };
      let w = onnxWorkload(spec);
      let note: string | undefined;
      const opts: OrtTypes.InferenceSession.SessionOptions = { executionProviders: [ep()], graphOptimizationLevel: 'all' };
      if (pkg === 'node') opts.intraOpNumThreads = threadsOfEngineId(engineId);
      if (backend === 'webgpu') {
        opts.preferredOutputLocation = 'gpu-buffer';
        opts.extra = { session: { disable_cpu_ep_fallback: '1' } };
      }
      const noKernel = (e: unknown): boolean => /assigned to the default CPU EP/.test((e as Error).message);
      let session: OrtTypes.InferenceSession;
      try {
        session = await ort.InferenceSession.create(encodeModel(w.graph), opts);
      } catch (e) {
        if (!noKernel(e)) throw e;
        if (spec.op !== 'attention') return { na: `no ${w.graph.nodes[0]!.op} kernel in the WebGPU EP (onnxruntime would run it on its CPU EP; fallback is disabled here)` };
        // No standard Attention kernel: try the com.microsoft contrib op.
        w = onnxWorkload(spec, 'mha');
        try {
          session = await ort.InferenceSession.create(encodeModel(w.graph), opts);
        } catch (e2) {
          if (noKernel(e2)) return { na: 'no Attention or com.microsoft MultiHeadAttention kernel in the WebGPU EP (fallback to the CPU EP is disabled here)' };
          throw e2;
        }
        note = 'com.microsoft MultiHeadAttention ([B, L, H·D] layout): the WebGPU EP has no standard Attention kernel';
      }
      const feeds: Record<string, OrtTypes.Tensor> = {};
      const buffers: GPUBuffer[] = [];
      w.feeds.forEach((f, i) => {
        const n = f.shape.reduce((a, b) => a * b, 1);
        const data = randomFloats(n, i + 1, f.range[0], f.range[1]);
        if (device) {
          const buf = device.createBuffer({ size: Math.max(16, Math.ceil(data.byteLength / 16) * 16), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
          device.queue.writeBuffer(buf, 0, data);
          buffers.push(buf);
          feeds[f.name] = ort.Tensor.fromGpuBuffer(buf as unknown as OrtTypes.Tensor.GpuBufferType, { dataType: 'float32', dims: f.shape });
        } else {
          feeds[f.name] = new ort.Tensor('float32', data, f.shape);
        }
      });
      const gpu = device;
      return {
        ...(note ? { note } : {}),
        async run() {
          const out = await session.run(feeds);
          if (gpu) await gpu.queue.onSubmittedWorkDone();
          for (const t of Object.values(out)) t.dispose();
        },
        dispose() {
          void session.release();
          for (const b of buffers) b.destroy();
        },
      };
    },
  };
}
