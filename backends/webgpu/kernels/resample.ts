/**
 * interpolate (nearest, bilinear, alignCorners) and its backward on webgpu, NCHW.
 *
 * The source taps of every output row and column are computed on the host with the cpu backend's
 * exact rule (nearest: ⌊fround(dst·fround(ratio))⌋ as PyTorch; bilinear: src = dst·ratio or
 * max((dst+0.5)·ratio - 0.5, 0), taps ⌊src⌋ and min(⌊src⌋+1, in-1), weight λ = src - ⌊src⌋ in float64
 * then rounded) and uploaded as small tables: i0, i1 (int32) and λ (f32) per axis. So both
 * backends pick the same taps even where float32 and float64 rounding would disagree.
 *
 * Forward: one invocation per output element (64 per workgroup along ox): four reads from the
 * table-selected taps and one write; the rows and columns tables are tiny and stay in cache.
 * Backward uses the gather formulation (no float atomics): one invocation per input element. The
 * output rows that read input row r form a contiguous range (the taps are monotone in the output
 * index), precomputed on the host as [lo, hi) per input row and per input column; the invocation
 * sums dy·wy·wx over that rectangle, where wy = (i0 = r ? 1-λ : 0) + (i1 = r ? λ : 0), the same
 * weights the forward used. Reads per input element: about (out/in)² outputs.
 * Tensors above the binding limit: blocks of [H, W] planes, each run unchanged on views
 * (Runtime.splitOuter); the tap tables are bound whole.
 */
import type { InterpolateParams, KTensor } from '../../backend.js';
import { fail } from '../../../engine/shape.js';
import { entry, GRID_INDEX, grid, Uniforms, type GPUStorage, type Runtime } from '../runtime.js';

type GT = KTensor<GPUStorage>;
const WG = 64;

interface AxisTaps {
  i0: Int32Array;
  i1: Int32Array;
  lam: Float32Array;
}

/** The cpu backend's tap rule (backends/cpu/resample.ts), per output index of one axis. */
export function axisTaps(outSize: number, inSize: number, ratio: number, mode: 'nearest' | 'bilinear', alignCorners: boolean): AxisTaps {
  const i0 = new Int32Array(outSize);
  const i1 = new Int32Array(outSize);
  const lam = new Float32Array(outSize);
  for (let d = 0; d < outSize; d++) {
    if (mode === 'nearest') {
      const s = Math.min(Math.floor(Math.fround(d * Math.fround(ratio))), inSize - 1);
      i0[d] = s;
      i1[d] = s;
    } else {
      const src = alignCorners ? d * ratio : Math.max((d + 0.5) * ratio - 0.5, 0);
      const s = Math.min(Math.floor(src), inSize - 1);
      i0[d] = s;
      i1[d] = s < inSize - 1 ? s + 1 : s;
      lam[d] = Math.min(Math.max(src - s, 0), 1);
    }
  }
  return { i0, i1, lam };
}

/** For each input index r, the range [lo, hi) of output indices whose taps include r (lo = hi if none). */
export function readersOf(t: AxisTaps, inSize: number): Int32Array {
  const range = new Int32Array(2 * inSize);
  for (let r = 0; r < inSize; r++) {
    range[2 * r] = 0;
    range[2 * r + 1] = 0;
  }
  const seen = new Uint8Array(inSize);
  for (let d = 0; d < t.i0.length; d++) {
    for (const r of [t.i0[d]!, t.i1[d]!]) {
      if (!seen[r]) {
        seen[r] = 1;
        range[2 * r] = d;
      }
      range[2 * r + 1] = d + 1;
    }
  }
  return range;
}

/** Packs [i0, i1, λ bits] per output index into one int32 table. */
function packTaps(t: AxisTaps): Int32Array {
  const n = t.i0.length;
  const out = new Int32Array(3 * n);
  const lamBits = new Int32Array(t.lam.buffer, t.lam.byteOffset, n);
  for (let d = 0; d < n; d++) {
    out[3 * d] = t.i0[d]!;
    out[3 * d + 1] = t.i1[d]!;
    out[3 * d + 2] = lamBits[d]!;
  }
  return out;
}

const TAP_FNS = `
fn tapsY(d: u32) -> vec3<i32> { return vec3<i32>(ty[3u * d], ty[3u * d + 1u], ty[3u * d + 2u]); }
fn tapsX(d: u32) -> vec3<i32> { return vec3<i32>(tx[3u * d], tx[3u * d + 1u], tx[3u * d + 2u]); }
fn lamOf(t: vec3<i32>) -> f32 { return bitcast<f32>(t.z); }`;

export const interpolate = entry('interpolate', (rt: Runtime, x: GT, p: InterpolateParams): GPUStorage => {
  if (x.dtype !== 'float32') fail('interpolate', 'a float32 tensor on webgpu', x.dtype);
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const n = N * C * p.outH * p.outW;
  const out = rt.alloc(n * 4);
  if (n === 0) return out;
  const ty = rt.upload(packTaps(axisTaps(p.outH, H, p.ratioH, p.mode, p.alignCorners)));
  const tx = rt.upload(packTaps(axisTaps(p.outW, W, p.ratioW, p.mode, p.alignCorners)));
  rt.splitOuter(N * C, [[x.storage, H * W], [out, p.outH * p.outW]], 'plane', (count, [xs, os]) => {
    const cn = count * p.outH * p.outW;
    const u = new Uniforms().u32('n', cn).u32('H', H).u32('W', W).u32('oh', p.outH).u32('ow', p.outW);
    rt.run({
      name: 'interpolate',
      key: `interpolate:${p.mode}`,
      code: () => `${u.struct('P')}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> ty: array<i32>;
@group(0) @binding(2) var<storage, read> tx: array<i32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> p: P;
${TAP_FNS}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let e = ${GRID_INDEX(`${WG}u`)};
  if (e >= p.n) { return; }
  let ox = e % p.ow;
  let oy = (e / p.ow) % p.oh;
  let xb = (e / (p.ow * p.oh)) * p.H * p.W;
  let a = tapsY(oy);
  let b = tapsX(ox);
  let ly = lamOf(a);
  let lx = lamOf(b);
  let r0 = xb + u32(a.x) * p.W;
${p.mode === 'nearest' ? `  // nearest: a copy, not a blend with zero weights (Infinity · 0 would be NaN)
  out[e] = x[r0 + u32(b.x)];` : `  let r1 = xb + u32(a.y) * p.W;
  let top = (1.0 - lx) * x[r0 + u32(b.x)] + lx * x[r0 + u32(b.y)];
  let bottom = (1.0 - lx) * x[r1 + u32(b.x)] + lx * x[r1 + u32(b.y)];
  out[e] = (1.0 - ly) * top + ly * bottom;`}
}`,
      bindings: [xs!, ty, tx, os!],
      uniforms: u,
      workgroups: grid(rt, Math.ceil(cn / WG)),
    });
  });
  rt.free(ty);
  rt.free(tx);
  return out;
});

export const interpolateBackward = entry('interpolateBackward', (rt: Runtime, dy: GT, xShape: readonly number[], p: InterpolateParams): GPUStorage => {
  if (dy.dtype !== 'float32') fail('interpolateBackward', 'a float32 tensor on webgpu', dy.dtype);
  const [N, C, H, W] = xShape as [number, number, number, number];
  const n = N * C * H * W;
  const out = rt.alloc(n * 4);
  if (n === 0) return out;
  const tapY = axisTaps(p.outH, H, p.ratioH, p.mode, p.alignCorners);
  const tapX = axisTaps(p.outW, W, p.ratioW, p.mode, p.alignCorners);
  const ty = rt.upload(packTaps(tapY));
  const tx = rt.upload(packTaps(tapX));
  const ry = rt.upload(readersOf(tapY, H));
  const rx = rt.upload(readersOf(tapX, W));
  rt.splitOuter(N * C, [[dy.storage, p.outH * p.outW], [out, H * W]], 'plane', (count, [ds, os]) => {
    const cn = count * H * W;
    const u = new Uniforms().u32('n', cn).u32('H', H).u32('W', W).u32('oh', p.outH).u32('ow', p.outW);
    rt.run({
      name: 'interpolateBackward',
      key: 'interpolateBackward',
      code: () => `${u.struct('P')}
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> ty: array<i32>;
@group(0) @binding(2) var<storage, read> tx: array<i32>;
@group(0) @binding(3) var<storage, read> ry: array<i32>;
@group(0) @binding(4) var<storage, read> rx: array<i32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
@group(0) @binding(6) var<uniform> p: P;
${TAP_FNS}
// Weight of input index r in the interpolation of the output whose taps are t.
fn weightOf(t: vec3<i32>, r: i32) -> f32 {
  let l = lamOf(t);
  return select(0.0, 1.0 - l, t.x == r) + select(0.0, l, t.y == r);
}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let e = ${GRID_INDEX(`${WG}u`)};
  if (e >= p.n) { return; }
  let ix = e % p.W;
  let iy = (e / p.W) % p.H;
  let ob = (e / (p.W * p.H)) * p.oh * p.ow;
  var acc = 0.0;
  for (var oy = u32(ry[2u * iy]); oy < u32(ry[2u * iy + 1u]); oy++) {
    let wy = weightOf(tapsY(oy), i32(iy));
    var row = 0.0;
    for (var ox = u32(rx[2u * ix]); ox < u32(rx[2u * ix + 1u]); ox++) {
      row += weightOf(tapsX(ox), i32(ix)) * dy[ob + oy * p.ow + ox];
    }
    acc += wy * row;
  }
  dx[e] = acc;
}`,
      bindings: [ds!, ty, tx, ry, rx, os!],
      uniforms: u,
      workgroups: grid(rt, Math.ceil(cn / WG)),
    });
  });
  for (const t of [ty, tx, ry, rx]) rt.free(t);
  return out;
});
