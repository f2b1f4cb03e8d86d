/**
 * posegrad's kernels, called through the Backend interface (backends/backend.ts) directly: the
 * kernel suite measures the kernels themselves, without the ops layer's checks and autograd
 * bookkeeping (the network suite goes through ops and autograd).
 *
 * "fwd+bwd" runs the forward kernel and then the backward kernels that the op's autograd node
 * calls: matmul → two transposed matmuls; conv2d → conv2dBackwardInput + conv2dBackwardWeight;
 * deformConv2d → deformConv2dBackward; softmax → softmaxBackward; layerNorm → layerNormBackward;
 * attention → attentionBackward; gridSample → gridSampleBackward.
 *
 * Each iteration releases its outputs and ends with `await backend.sync()`, so GPU work counts
 * only once it is complete.
 */
import type { Backend, Conv2dParams, DeformConv2dParams, KTensor } from '../backends/backend.js';
import type { DeviceName } from '../backends/backend.js';
import { RANGES, randomFloats, type KernelAdapter, type PrepareResult } from './adapter.js';
import { convOut, type KernelSpec, type Mode } from './formulas.js';

interface RootModule {
  engine: {
    registeredBackends(): DeviceName[];
  };
  init(device: DeviceName): Promise<Backend>;
}

export function posegradAdapter(device: DeviceName, root: RootModule): KernelAdapter {
  let be: Backend | null = null;
  return {
    async start() {
      const registered = root.engine.registeredBackends();
      if (!registered.includes(device)) throw new Error(`posegrad: expected '${device}' among the registered backends [${registered.join(', ')}], got none`);
      be = await root.init(device);
      return { version: 'posegrad (this checkout)', details: backendDetails(device, be) };
    },
    async prepare(spec, mode) {
      if (!be) throw new Error('posegrad: prepare called before start');
      return prepareKernel(be, spec, mode);
    },
  };
}

/**
 * The engine details of a started backend: its name, and for wasm the build it loaded, its thread
 * count and whether relaxed SIMD is on (set by WasmBackendOptions, e.g. from a --preload).
 */
export function backendDetails(device: DeviceName, be: object): Record<string, string | number | boolean> {
  const details: Record<string, string | number | boolean> = { backend: device };
  const b = be as { moduleFile?: unknown; threads?: unknown; relaxedSimd?: unknown };
  if (typeof b.moduleFile === 'string') details.module = b.moduleFile;
  if (typeof b.threads === 'number') details.threads = b.threads;
  if (typeof b.relaxedSimd === 'boolean') details.relaxedSimd = b.relaxedSimd;
  return details;
}

function kt(storage: unknown, shape: readonly number[]): KTensor {
  return { storage, shape, dtype: 'float32' };
}

/** Builds the timed closure of one workload on one backend. */
export function prepareKernel(be: Backend, spec: KernelSpec, mode: Mode): PrepareResult {
  const owned: unknown[] = [];
  const up = (shape: readonly number[], seed: number, range: readonly [number, number] = RANGES.data): KTensor => {
    const n = shape.reduce((a, b) => a * b, 1);
    const s = be.upload(randomFloats(n, seed, range[0], range[1]), 'float32');
    owned.push(s);
    return kt(s, shape);
  };
  const bwd = mode === 'fwd+bwd';
  // `step(out)` runs one iteration, passing every storage it creates to `out` as soon as it
  // exists, so that run() frees all of them even when a later kernel throws.
  let step: (out: <S>(s: S) => S) => void;

  switch (spec.op) {
    case 'matmul': {
      const { M, N, K } = spec;
      const a = up([1, M, K], 1);
      const b = up([1, K, N], 2);
      const dy = up([1, M, N], 3);
      step = (out) => {
        out(be.matmul(a, b, { transA: false, transB: false }));
        if (!bwd) return;
        out(be.matmul(dy, b, { transA: false, transB: true })); // dA = dC·Bᵀ
        out(be.matmul(a, dy, { transA: true, transB: false })); // dB = Aᵀ·dC
      };
      break;
    }
    case 'conv2d': {
      const s = spec;
      const p: Conv2dParams = { stride: [s.stride, s.stride], padding: [s.padding, s.padding], dilation: [s.dilation, s.dilation], groups: s.groups };
      const xShape = [s.N, s.Cin, s.H, s.W];
      const wShape = [s.Cout, s.Cin / s.groups, s.kh, s.kw];
      const Ho = convOut(s.H, s.kh, s.stride, s.padding, s.dilation);
      const Wo = convOut(s.W, s.kw, s.stride, s.padding, s.dilation);
      const x = up(xShape, 1);
      const w = up(wShape, 2);
      const dy = up([s.N, s.Cout, Ho, Wo], 3);
      step = (out) => {
        out(be.conv2d(x, w, null, p));
        if (!bwd) return;
        out(be.conv2dBackwardInput(dy, w, xShape, p));
        out(be.conv2dBackwardWeight(x, dy, wShape, p));
      };
      break;
    }
    case 'deformConv2d': {
      const s = spec;
      const p: DeformConv2dParams = { stride: [s.stride, s.stride], padding: [s.padding, s.padding], dilation: [s.dilation, s.dilation], groups: s.groups, offsetGroups: s.offsetGroups };
      const Ho = convOut(s.H, s.kh, s.stride, s.padding, s.dilation);
      const Wo = convOut(s.W, s.kw, s.stride, s.padding, s.dilation);
      const taps = s.offsetGroups * s.kh * s.kw;
      const x = up([s.N, s.Cin, s.H, s.W], 1);
      const offset = up([s.N, 2 * taps, Ho, Wo], 2, RANGES.offset);
      const mask = up([s.N, taps, Ho, Wo], 3, RANGES.mask);
      const w = up([s.Cout, s.Cin / s.groups, s.kh, s.kw], 4);
      const dy = up([s.N, s.Cout, Ho, Wo], 5);
      step = (out) => {
        out(be.deformConv2d(x, offset, mask, w, null, p));
        if (!bwd) return;
        const g = be.deformConv2dBackward(dy, x, offset, mask, w, p);
        for (const t of [g.dx, g.dOffset, g.dMask, g.dWeight]) out(t);
      };
      break;
    }
    case 'softmax': {
      const shape = spec.shape;
      const size = shape[shape.length - 1]!;
      const outer = shape.slice(0, -1).reduce((a, b) => a * b, 1);
      const x = up(shape, 1);
      const dy = up(shape, 2);
      step = (out) => {
        const y = out(be.softmax(x, outer, size, 1, false));
        if (!bwd) return;
        out(be.softmaxBackward(kt(y, shape), dy, outer, size, 1, false));
      };
      break;
    }
    case 'attention': {
      const s = spec;
      const q = up([s.B, s.H, s.Lq, s.D], 1);
      const k = up([s.B, s.H, s.Lk, s.D], 2);
      const v = up([s.B, s.H, s.Lk, s.D], 3);
      const dOut = up([s.B, s.H, s.Lq, s.D], 4);
      const p = { scale: 1 / Math.sqrt(s.D) };
      step = (out) => {
        const r = be.attention(q, k, v, null, p);
        out(r.out);
        out(r.lse);
        if (!bwd) return;
        const g = be.attentionBackward(dOut, q, k, v, kt(r.out, q.shape), kt(r.lse, [s.B, s.H, s.Lq]), null, p);
        for (const t of [g.dq, g.dk, g.dv]) out(t);
      };
      break;
    }
    case 'layerNorm': {
      const { rows, cols, eps } = spec;
      const x = up([rows, cols], 1);
      const gamma = up([cols], 2);
      const beta = up([cols], 3);
      const dy = up([rows, cols], 4);
      step = (out) => {
        const r = be.layerNorm(x, gamma, beta, rows, cols, eps);
        for (const t of [r.y, r.mean, r.rstd]) out(t);
        if (!bwd) return;
        const g = be.layerNormBackward(dy, x, kt(r.mean, [rows]), kt(r.rstd, [rows]), gamma, rows, cols);
        for (const t of [g.dx, g.dGamma, g.dBeta]) out(t);
      };
      break;
    }
    case 'gridSample': {
      const s = spec;
      const x = up([s.N, s.C, s.H, s.W], 1);
      const grid = up([s.N, s.Ho, s.Wo, 2], 2, RANGES.grid);
      const dy = up([s.N, s.C, s.Ho, s.Wo], 3);
      const p = { mode: 'bilinear', paddingMode: 'zeros', alignCorners: false } as const;
      step = (out) => {
        out(be.gridSample(x, grid, p));
        if (!bwd) return;
        const g = be.gridSampleBackward(dy, x, grid, p);
        out(g.dx);
        out(g.dGrid);
      };
      break;
    }
  }

  return {
    async run() {
      const outs: unknown[] = [];
      try {
        step((o) => {
          outs.push(o);
          return o;
        });
        await be.sync();
      } finally {
        for (const o of outs) if (o !== null && o !== undefined) be.release(o);
      }
    },
    dispose() {
      for (const s of owned) be.release(s);
      owned.length = 0;
    },
  };
}
