/**
 * Pooling on webgpu (NCHW): maxPool2d (+ indices) and its backward, avgPool2d and its backward,
 * adaptiveAvgPool2d and its backward. Semantics follow the cpu backend exactly (PyTorch's rules:
 * first strict maximum, NaN wins; avg divisor with count_include_pad; adaptive windows
 * [⌊i·H/oh⌋, ⌈(i+1)·H/oh⌉)).
 *
 * Forward kernels: one invocation per output element (n, c, oy, ox), 64 per workgroup on
 * consecutive ox, looping over its kh x kw window: kh·kw reads (neighbouring invocations read
 * neighbouring or overlapping addresses) and one write (two for max: value and index).
 *
 * Backward kernels use the gather formulation (no float atomics, deterministic): one invocation
 * per input element walks the output windows that cover it:
 * - max: the outputs oy with iy = oy·sh - ph + i·dh for some tap i (at most kh of them, found by
 *   testing divisibility by the stride), likewise for x; it adds dy where the saved index equals
 *   its own offset iy·W + ix.
 * - avg: the outputs whose clipped window contains it, ⌈(iy + ph - kh + 1)/sh⌉ .. ⌊(iy + ph)/sh⌋,
 *   adding dy / divisor.
 * - adaptive: the outputs o with ⌊o·H/oh⌋ ≤ iy < ⌈(o+1)·H/oh⌉, i.e. o from ⌊iy·oh/H⌋ up.
 * Each reads about (kh/sh)·(kw/sw) output values per input element.
 * Tensors above the binding limit: blocks of [H, W] planes, each run unchanged on views
 * (Runtime.splitOuter).
 */
import type { KTensor, Pool2dParams } from '../../backend.js';
import { fail } from '../../../engine/shape.js';
import { WGSL_UTIL } from './elementwise.js';
import { entry, GRID_INDEX, grid, Uniforms, type GPUStorage, type Runtime } from '../runtime.js';

type GT = KTensor<GPUStorage>;
const WG = 64;

function poolUniforms(n: number, xShape: readonly number[], p: Pool2dParams): Uniforms {
  const [, , H, W] = xShape as [number, number, number, number];
  return new Uniforms()
    .u32('n', n).u32('H', H).u32('W', W).u32('oh', p.outH).u32('ow', p.outW)
    .i32('kh', p.kernel[0]).i32('kw', p.kernel[1]).i32('sh', p.stride[0]).i32('sw', p.stride[1])
    .i32('ph', p.padding[0]).i32('pw', p.padding[1]).i32('dh', p.dilation[0]).i32('dw', p.dilation[1])
    .u32('includePad', p.countIncludePad ? 1 : 0);
}

const HEAD = `@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let e = ${GRID_INDEX(`${WG}u`)};
  if (e >= p.n) { return; }`;

function requireF32(op: string, x: GT): void {
  if (x.dtype !== 'float32') fail(op, 'a float32 tensor on webgpu', x.dtype);
}

export const maxPool2d = entry('maxPool2d', (rt: Runtime, x: GT, p: Pool2dParams): { out: GPUStorage; indices: GPUStorage } => {
  requireF32('maxPool2d', x);
  const [N, C] = x.shape as [number, number];
  const n = N * C * p.outH * p.outW;
  const out = rt.alloc(n * 4);
  const indices = rt.alloc(n * 4);
  if (n === 0) return { out, indices };
  rt.splitOuter(N * C, [[x.storage, x.shape[2]! * x.shape[3]!], [out, p.outH * p.outW], [indices, p.outH * p.outW]], 'plane', (count, [xs, os, is]) => {
    const cn = count * p.outH * p.outW;
    const u = poolUniforms(cn, x.shape, p);
    rt.run({
      name: 'maxPool2d',
      key: 'maxPool2d',
      code: () => `${WGSL_UTIL}
${u.struct('P')}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> indices: array<i32>;
@group(0) @binding(3) var<uniform> p: P;
${HEAD}
  let ox = i32(e % p.ow);
  let oy = i32((e / p.ow) % p.oh);
  let xb = (e / (p.ow * p.oh)) * p.H * p.W;
  // PyTorch's index when every value is -inf: the first in-bounds tap of the window.
  var y0 = oy * p.sh - p.ph;
  while (y0 < 0) { y0 += p.dh; }
  var x0 = ox * p.sw - p.pw;
  while (x0 < 0) { x0 += p.dw; }
  var best = pg_neginf();
  var bi = y0 * i32(p.W) + x0;
  for (var i = 0; i < p.kh; i++) {
    let iy = oy * p.sh - p.ph + i * p.dh;
    if (iy < 0 || iy >= i32(p.H)) { continue; }
    for (var j = 0; j < p.kw; j++) {
      let ix = ox * p.sw - p.pw + j * p.dw;
      if (ix < 0 || ix >= i32(p.W)) { continue; }
      let v = x[xb + u32(iy * i32(p.W) + ix)];
      if (v > best || pg_isnan(v)) { best = v; bi = iy * i32(p.W) + ix; }
    }
  }
  out[e] = best;
  indices[e] = bi;
}`,
      bindings: [xs!, os!, is!],
      uniforms: u,
      workgroups: grid(rt, Math.ceil(cn / WG)),
    });
  });
  return { out, indices };
});

export const maxPool2dBackward = entry('maxPool2dBackward', (rt: Runtime, dy: GT, indices: GT, xShape: readonly number[], p: Pool2dParams): GPUStorage => {
  requireF32('maxPool2dBackward', dy);
  const [N, C, H, W] = xShape as [number, number, number, number];
  const n = N * C * H * W;
  const out = rt.alloc(n * 4);
  if (n === 0) return out;
  rt.splitOuter(N * C, [[dy.storage, p.outH * p.outW], [indices.storage, p.outH * p.outW], [out, H * W]], 'plane', (count, [ds, is, os]) => {
    const cn = count * H * W;
    const u = poolUniforms(cn, xShape, p);
    rt.run({
      name: 'maxPool2dBackward',
      key: 'maxPool2dBackward',
      code: () => `${u.struct('P')}
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> indices: array<i32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> p: P;
${HEAD}
  let ix = i32(e % p.W);
  let iy = i32((e / p.W) % p.H);
  let plane = e / (p.W * p.H);
  let ob = plane * p.oh * p.ow;
  let me = iy * i32(p.W) + ix;
  var acc = 0.0;
  for (var i = 0; i < p.kh; i++) {
    let ty = iy + p.ph - i * p.dh;
    if (ty < 0 || ty % p.sh != 0) { continue; }
    let oy = ty / p.sh;
    if (oy >= i32(p.oh)) { continue; }
    for (var j = 0; j < p.kw; j++) {
      let tx = ix + p.pw - j * p.dw;
      if (tx < 0 || tx % p.sw != 0) { continue; }
      let ox = tx / p.sw;
      if (ox >= i32(p.ow)) { continue; }
      let o = ob + u32(oy) * p.ow + u32(ox);
      if (indices[o] == me) { acc += dy[o]; }
    }
  }
  dx[e] = acc;
}`,
      bindings: [ds!, is!, os!],
      uniforms: u,
      workgroups: grid(rt, Math.ceil(cn / WG)),
    });
  });
  return out;
});

/** WGSL for PyTorch's avg-pool window of output o along one axis: clipped range and padded size. */
const AVG_WINDOW = `
struct Win { lo: i32, hi: i32, padded: i32, }
fn avgWindow(o: i32, s: i32, pad: i32, k: i32, size: i32) -> Win {
  let start = o * s - pad;
  let end = min(start + k, size + pad);
  return Win(max(start, 0), min(end, size), end - start);
}
fn divisor(wy: Win, wx: Win) -> f32 {
  if (p.includePad == 1u) { return f32(wy.padded * wx.padded); }
  return f32((wy.hi - wy.lo) * (wx.hi - wx.lo));
}`;

export const avgPool2d = entry('avgPool2d', (rt: Runtime, x: GT, p: Pool2dParams): GPUStorage => {
  requireF32('avgPool2d', x);
  const [N, C] = x.shape as [number, number];
  const n = N * C * p.outH * p.outW;
  const out = rt.alloc(n * 4);
  if (n === 0) return out;
  rt.splitOuter(N * C, [[x.storage, x.shape[2]! * x.shape[3]!], [out, p.outH * p.outW]], 'plane', (count, [xs, os]) => {
    const cn = count * p.outH * p.outW;
    const u = poolUniforms(cn, x.shape, p);
    rt.run({
      name: 'avgPool2d',
      key: 'avgPool2d',
      code: () => `${u.struct('P')}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
${AVG_WINDOW}
${HEAD}
  let ox = i32(e % p.ow);
  let oy = i32((e / p.ow) % p.oh);
  let xb = (e / (p.ow * p.oh)) * p.H * p.W;
  let wy = avgWindow(oy, p.sh, p.ph, p.kh, i32(p.H));
  let wx = avgWindow(ox, p.sw, p.pw, p.kw, i32(p.W));
  var s = 0.0;
  for (var iy = wy.lo; iy < wy.hi; iy++) {
    for (var ix = wx.lo; ix < wx.hi; ix++) { s += x[xb + u32(iy * i32(p.W) + ix)]; }
  }
  let d = divisor(wy, wx);
  out[e] = select(0.0, s / d, d > 0.0);
}`,
      bindings: [xs!, os!],
      uniforms: u,
      workgroups: grid(rt, Math.ceil(cn / WG)),
    });
  });
  return out;
});

export const avgPool2dBackward = entry('avgPool2dBackward', (rt: Runtime, dy: GT, xShape: readonly number[], p: Pool2dParams): GPUStorage => {
  requireF32('avgPool2dBackward', dy);
  const [N, C, H, W] = xShape as [number, number, number, number];
  const n = N * C * H * W;
  const out = rt.alloc(n * 4);
  if (n === 0) return out;
  rt.splitOuter(N * C, [[dy.storage, p.outH * p.outW], [out, H * W]], 'plane', (count, [ds, os]) => {
    const cn = count * H * W;
    const u = poolUniforms(cn, xShape, p);
    rt.run({
      name: 'avgPool2dBackward',
      key: 'avgPool2dBackward',
      code: () => `${u.struct('P')}
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
${AVG_WINDOW}
// ⌈a/b⌉ for b > 0 and any sign of a.
fn ceilDiv(a: i32, b: i32) -> i32 { return select(-((-a) / b), (a + b - 1) / b, a > 0); }
${HEAD}
  let ix = i32(e % p.W);
  let iy = i32((e / p.W) % p.H);
  let ob = (e / (p.W * p.H)) * p.oh * p.ow;
  // outputs whose (unclipped) window [o·s - pad, o·s - pad + k) contains the pixel
  let oy0 = max(ceilDiv(iy + p.ph - p.kh + 1, p.sh), 0);
  let oy1 = min((iy + p.ph) / p.sh, i32(p.oh) - 1);
  let ox0 = max(ceilDiv(ix + p.pw - p.kw + 1, p.sw), 0);
  let ox1 = min((ix + p.pw) / p.sw, i32(p.ow) - 1);
  var acc = 0.0;
  for (var oy = oy0; oy <= oy1; oy++) {
    let wy = avgWindow(oy, p.sh, p.ph, p.kh, i32(p.H));
    if (iy < wy.lo || iy >= wy.hi) { continue; }
    for (var ox = ox0; ox <= ox1; ox++) {
      let wx = avgWindow(ox, p.sw, p.pw, p.kw, i32(p.W));
      if (ix < wx.lo || ix >= wx.hi) { continue; }
      let d = divisor(wy, wx);
      if (d > 0.0) { acc += dy[ob + u32(oy) * p.ow + u32(ox)] / d; }
    }
  }
  dx[e] = acc;
}`,
      bindings: [ds!, os!],
      uniforms: u,
      workgroups: grid(rt, Math.ceil(cn / WG)),
    });
  });
  return out;
});

const ADAPTIVE = `
fn startOf(o: u32, size: u32, outSize: u32) -> u32 { return (o * size) / outSize; }
fn endOf(o: u32, size: u32, outSize: u32) -> u32 { return ((o + 1u) * size + outSize - 1u) / outSize; }`;

export const adaptiveAvgPool2d = entry('adaptiveAvgPool2d', (rt: Runtime, x: GT, outH: number, outW: number): GPUStorage => {
  requireF32('adaptiveAvgPool2d', x);
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const n = N * C * outH * outW;
  const out = rt.alloc(n * 4);
  if (n === 0) return out;
  rt.splitOuter(N * C, [[x.storage, H * W], [out, outH * outW]], 'plane', (count, [xs, os]) => {
    const cn = count * outH * outW;
    const u = new Uniforms().u32('n', cn).u32('H', H).u32('W', W).u32('oh', outH).u32('ow', outW);
    rt.run({
      name: 'adaptiveAvgPool2d',
      key: 'adaptiveAvgPool2d',
      code: () => `${u.struct('P')}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
${ADAPTIVE}
${HEAD}
  let ox = e % p.ow;
  let oy = (e / p.ow) % p.oh;
  let xb = (e / (p.ow * p.oh)) * p.H * p.W;
  let y0 = startOf(oy, p.H, p.oh);
  let y1 = endOf(oy, p.H, p.oh);
  let x0 = startOf(ox, p.W, p.ow);
  let x1 = endOf(ox, p.W, p.ow);
  var s = 0.0;
  for (var iy = y0; iy < y1; iy++) {
    for (var ix = x0; ix < x1; ix++) { s += x[xb + iy * p.W + ix]; }
  }
  out[e] = s / f32((y1 - y0) * (x1 - x0));
}`,
      bindings: [xs!, os!],
      uniforms: u,
      workgroups: grid(rt, Math.ceil(cn / WG)),
    });
  });
  return out;
});

export const adaptiveAvgPool2dBackward = entry('adaptiveAvgPool2dBackward', (rt: Runtime, dy: GT, xShape: readonly number[]): GPUStorage => {
  requireF32('adaptiveAvgPool2dBackward', dy);
  const [N, C, H, W] = xShape as [number, number, number, number];
  const [outH, outW] = dy.shape.slice(2) as [number, number];
  const n = N * C * H * W;
  const out = rt.alloc(n * 4);
  if (n === 0) return out;
  rt.splitOuter(N * C, [[dy.storage, outH * outW], [out, H * W]], 'plane', (count, [ds, os]) => {
    const cn = count * H * W;
    const u = new Uniforms().u32('n', cn).u32('H', H).u32('W', W).u32('oh', outH).u32('ow', outW);
    rt.run({
      name: 'adaptiveAvgPool2dBackward',
      key: 'adaptiveAvgPool2dBackward',
      code: () => `${u.struct('P')}
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
${ADAPTIVE}
${HEAD}
  let ix = e % p.W;
  let iy = (e / p.W) % p.H;
  let ob = (e / (p.W * p.H)) * p.oh * p.ow;
  var acc = 0.0;
  // windows containing iy: o from ⌊iy·oh/H⌋ while start(o) ≤ iy
  for (var oy = (iy * p.oh) / p.H; oy < p.oh && startOf(oy, p.H, p.oh) <= iy; oy++) {
    let y0 = startOf(oy, p.H, p.oh);
    let y1 = endOf(oy, p.H, p.oh);
    if (iy >= y1) { continue; }
    for (var ox = (ix * p.ow) / p.W; ox < p.ow && startOf(ox, p.W, p.ow) <= ix; ox++) {
      let x0 = startOf(ox, p.W, p.ow);
      let x1 = endOf(ox, p.W, p.ow);
      if (ix >= x1) { continue; }
      acc += dy[ob + oy * p.ow + ox] / f32((y1 - y0) * (x1 - x0));
    }
  }
  dx[e] = acc;
}`,
      bindings: [ds!, os!],
      uniforms: u,
      workgroups: grid(rt, Math.ceil(cn / WG)),
    });
  });
  return out;
});
