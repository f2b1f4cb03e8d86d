import { describe, expect, it } from 'vitest';
import { bytesBackward, bytesForward, convOut, flopsBackward, flopsForward, tensorSizes, workOf, type Conv2dSpec, type DeformConv2dSpec } from '../../bench/formulas.js';
import { KERNEL_WORKLOADS, describeSpec, specOf } from '../../bench/workloads.js';
import { convOutSize } from '../../ops/conv.js';

const conv = (over: Partial<Conv2dSpec> = {}): Conv2dSpec => ({ op: 'conv2d', N: 1, Cin: 64, H: 96, W: 72, Cout: 64, kh: 3, kw: 3, stride: 1, padding: 1, dilation: 1, groups: 1, ...over });

/** Counts a direct convolution's multiply-adds by walking every output and tap (padding included). */
function bruteForceConvMacs(s: Conv2dSpec): number {
  const Ho = Math.floor((s.H + 2 * s.padding - s.dilation * (s.kh - 1) - 1) / s.stride) + 1;
  const Wo = Math.floor((s.W + 2 * s.padding - s.dilation * (s.kw - 1) - 1) / s.stride) + 1;
  let macs = 0;
  for (let n = 0; n < s.N; n++) for (let co = 0; co < s.Cout; co++) for (let y = 0; y < Ho; y++) for (let x = 0; x < Wo; x++) macs += (s.Cin / s.groups) * s.kh * s.kw;
  return macs;
}

describe('bench FLOP formulas', () => {
  it('matmul is 2·M·N·K forward and twice that backward', () => {
    const s = { op: 'matmul', M: 1024, N: 1024, K: 1024 } as const;
    expect(flopsForward(s)).toBe(2 * 1024 ** 3);
    expect(flopsBackward(s)).toBe(4 * 1024 ** 3);
    expect(flopsForward({ op: 'matmul', M: 4096, N: 4096, K: 64 })).toBe(2_147_483_648);
  });

  it('conv2d counts the implicit GEMM, as a direct loop over outputs and taps does', () => {
    for (const s of [conv(), conv({ dilation: 3, padding: 3 }), conv({ kh: 1, kw: 1, padding: 0 }), conv({ N: 2, Cin: 6, Cout: 4, groups: 2, stride: 2, H: 9, W: 7 })]) {
      expect(flopsForward(s)).toBe(2 * bruteForceConvMacs(s));
    }
    expect(flopsForward(conv())).toBe(509_607_936);
  });

  it('convOut agrees with the ops layer (PyTorch formula)', () => {
    for (const [size, k, stride, pad, dil] of [[96, 3, 1, 1, 1], [96, 3, 1, 3, 3], [72, 1, 1, 0, 1], [9, 3, 2, 1, 1], [17, 5, 3, 2, 2], [8, 3, 1, 0, 3]] as const) {
      expect(convOut(size, k, stride, pad, dil)).toBe(convOutSize(size, k, stride, pad, dil));
    }
    // 'same'-style dilated padding keeps 96x72
    expect(convOut(96, 3, 1, 3, 3)).toBe(96);
  });

  it('deformConv2d adds 8 FLOPs per bilinear sample to the GEMM, and its tensors follow torchvision', () => {
    const d: DeformConv2dSpec = { ...conv({ Cin: 17, Cout: 17 }), op: 'deformConv2d', offsetGroups: 17 };
    const samples = 17 * 9 * 96 * 72;
    expect(flopsForward(d)).toBe(flopsForward(conv({ Cin: 17, Cout: 17 })) + 8 * samples);
    const t = tensorSizes(d);
    // x, offsets [1, 2·17·9 = 306, 96, 72], mask [1, 153, 96, 72], weight [17, 17, 3, 3]
    expect(t.inputs).toEqual([17 * 96 * 72, 306 * 96 * 72, 153 * 96 * 72, 17 * 17 * 9]);
    expect(t.output).toBe(17 * 96 * 72);
  });

  it('attention is 4·B·H·Lq·Lk·D forward and 2.5x that backward', () => {
    const s = { op: 'attention', B: 1, H: 8, Lq: 1024, Lk: 1024, D: 64 } as const;
    expect(flopsForward(s)).toBe(2_147_483_648);
    expect(flopsBackward(s)).toBe(2.5 * 2_147_483_648);
  });

  it('memory-bound kernels count compulsory bytes (read once, write once)', () => {
    const sm = { op: 'softmax', shape: [8, 1024, 1024] } as const;
    expect(bytesForward(sm)).toBe(2 * 4 * 8 * 1024 * 1024);
    expect(bytesBackward(sm)).toBe(3 * 4 * 8 * 1024 * 1024);
    const gs = { op: 'gridSample', N: 48, C: 64, H: 16, W: 12, Ho: 209, Wo: 4 } as const;
    const x = 48 * 64 * 16 * 12;
    const grid = 48 * 209 * 4 * 2;
    const out = 48 * 64 * 209 * 4;
    expect(bytesForward(gs)).toBe(4 * (x + grid + out));
    // backward: read dy, x, grid; write dx, dgrid
    expect(bytesBackward(gs)).toBe(4 * (out + 2 * (x + grid)));
    const ln = { op: 'layerNorm', rows: 192, cols: 1024, eps: 1e-6 } as const;
    // x, weight, bias read; y written; mean and rstd written
    expect(bytesForward(ln)).toBe(4 * (2 * 192 * 1024 + 2 * 1024 + 2 * 192));
  });

  it('workOf sums forward and backward for fwd+bwd', () => {
    const s = conv();
    expect(workOf(s, 'fwd')).toEqual({ flops: flopsForward(s), bytes: bytesForward(s) });
    expect(workOf(s, 'fwd+bwd')).toEqual({ flops: flopsForward(s) + flopsBackward(s), bytes: bytesForward(s) + bytesBackward(s) });
  });
});

describe('bench workloads', () => {
  it('have unique ids, and quick specs of the same op that are much smaller', () => {
    const ids = KERNEL_WORKLOADS.map((w) => w.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const w of KERNEL_WORKLOADS) {
      expect(w.quick.op).toBe(w.full.op);
      expect(flopsForward(w.quick)).toBeLessThan(flopsForward(w.full) / 100);
      expect(specOf(w, true)).toBe(w.quick);
      expect(describeSpec(w.full).length).toBeGreaterThan(0);
    }
  });

  it('include the shapes the issue asks for', () => {
    const byId = new Map(KERNEL_WORKLOADS.map((w) => [w.id, w.full]));
    expect(byId.get('attention-vremd')).toEqual({ op: 'attention', B: 1, H: 16, Lq: 3 * (192 + 17), Lk: 3 * (192 + 17), D: 64 });
    expect(byId.get('gridSample')).toEqual({ op: 'gridSample', N: 3 * 16, C: 64, H: 16, W: 12, Ho: 209, Wo: 4 });
    expect(byId.get('deformConv2d-17g')).toMatchObject({ Cin: 17, Cout: 17, H: 96, W: 72, offsetGroups: 17 });
    expect(byId.get('softmax')).toEqual({ op: 'softmax', shape: [8, 1024, 1024] });
    expect(byId.get('layerNorm')).toMatchObject({ rows: 192, cols: 1024 });
  });
});
