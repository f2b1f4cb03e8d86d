/**
 * softmax / logSoftmax and their backward pass on webgpu, over the middle axis of
 * [outer, size, inner]. docs/kernels/softmax.md walks through it.
 *
 * Rows that are contiguous (inner = 1), or few: one workgroup per row.
 * - WG invocations (8 or 16: measured fastest on lavapipe, see the doc) each own the elements
 *   lid, lid + WG, lid + 2·WG, ... of the row, read as vec4s when the row is a multiple of 4 long.
 *   When the row fits in R ≤ 4 units per invocation they are kept in registers, so x is read once.
 * - Pass 1 is an online softmax: each invocation keeps a running max m and a running sum s of
 *   exp(x - m), rescaling s when m grows (s·exp(m_old - m_new)). The WG (m, s) pairs are then
 *   merged by a tree reduction in workgroup memory (log2(WG) halving steps with barriers):
 *   m = max(m1, m2), s = s1·exp(m1 - m) + s2·exp(m2 - m). The max is subtracted before any exp,
 *   so logits in the thousands cannot overflow.
 * - Pass 2 writes exp(x - m)/s (or x - m - log s) from the registers (or re-reads x).
 * - A fully masked row (every logit -inf) gives zeros (logSoftmax: -inf), as the cpu backend.
 * Strided rows (inner > 1) with many rows: one invocation per row, consecutive invocations on
 * consecutive `inner` positions (adjacent addresses), same online two-pass scheme.
 * Backward: dot = Σ dy·y (softmax) or Σ dy (logSoftmax) with the same row layout and tree, then
 * dx = y·(dy - dot) or dy - exp(y)·dot.
 * Memory traffic: forward reads x once (twice when the row does not fit in registers) and writes y
 * once: 8 bytes per element; backward reads y and dy and writes dx: 12 bytes per element.
 * Tensors above the binding limit: blocks of outer slices, each run unchanged on views
 * (Runtime.splitOuter).
 */
import type { KTensor } from '../../backend.js';
import { fail } from '../../../engine/shape.js';
import { WGSL_UTIL } from './elementwise.js';
import { entry, GRID_GROUP, GRID_INDEX, grid, Uniforms, type GPUStorage, type Runtime } from '../runtime.js';

type GT = KTensor<GPUStorage>;

export interface RowPlan {
  /** Element type of a unit: a vec4 of the row or one element. */
  vec4: boolean;
  units: number;
  WG: number;
  /** Units kept in registers per invocation; 0 = stream (re-read). */
  R: number;
}

/** Test/benchmark hook: overrides the row plan (WG and R) of the next calls. */
export const planOverride: { WG?: number; maxR?: number } = {};

function planRow(size: number, inner: number): RowPlan {
  const vec4 = inner === 1 && size % 4 === 0;
  const units = vec4 ? size / 4 : size;
  // Small workgroups: on lavapipe a workgroup runs on one core as 8-wide SIMD groups, and every
  // extra group adds barrier switches and tree steps per row (measured in docs/kernels/softmax.md).
  let WG = units > 32 ? 16 : 8;
  if (planOverride.WG) WG = planOverride.WG;
  const per = Math.ceil(units / WG);
  return { vec4, units, WG, R: per <= (planOverride.maxR ?? 4) ? per : 0 };
}

const HMAX = (v: boolean): string => (v ? 'max(max(v.x, v.y), max(v.z, v.w))' : 'v');
const HSUM = (v: boolean): string => (v ? 'dot(e, vec4<f32>(1.0))' : 'e');

/** Common WGSL: bindings, row addressing and the (m, s) merge helpers. */
function header(u: Uniforms, T: string, nIn: number): string {
  const ins = Array.from({ length: nIn }, (_, k) => `@group(0) @binding(${k}) var<storage, read> in${k}: array<${T}>;`).join('\n');
  return `${WGSL_UTIL}
${u.struct('P')}
${ins}
@group(0) @binding(${nIn}) var<storage, read_write> out: array<${T}>;
@group(0) @binding(${nIn + 1}) var<uniform> p: P;
fn isNegInf(v: f32) -> bool { return bitcast<u32>(v) == 0xff800000u; }
// A max that is safe to subtract: 0 when every value so far is -inf (exp(-inf - 0) = 0).
fn safeMax(m: f32) -> f32 { return select(m, 0.0, isNegInf(m)); }`;
}

export const softmax = entry((a) => (a[4] ? 'logSoftmax' : 'softmax'), (rt: Runtime, x: GT, outer: number, size: number, inner: number, log: boolean): GPUStorage => {
  if (x.dtype !== 'float32') fail(log ? 'logSoftmax' : 'softmax', 'a float32 tensor on webgpu', x.dtype);
  const n = outer * size * inner;
  const out = rt.alloc(n * 4);
  if (n === 0) return out;
  // Tensors above the binding limit: chunks of the outer index (views; see Runtime.splitOuter).
  rt.splitOuter(outer, [[x.storage, size * inner], [out, size * inner]], 'outer slice', (count, [xs, os]) => softmaxInto(rt, xs!, os!, count, size, inner, log));
  return out;
});

function softmaxInto(rt: Runtime, xs: GPUStorage, out: GPUStorage, outer: number, size: number, inner: number, log: boolean): void {
  const x = { storage: xs };
  const rows = outer * inner;
  const name = log ? 'logSoftmax' : 'softmax';
  if (inner > 1 && rows >= 1024) {
    const u = new Uniforms().u32('rows', rows).u32('size', size).u32('inner', inner);
    rt.run({
      name,
      key: `${name}:thread`,
      code: () => `${header(u, 'f32', 1)}
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let j = ${GRID_INDEX('256u')};
  if (j >= p.rows) { return; }
  let base = (j / p.inner) * p.size * p.inner + j % p.inner;
  var m = pg_neginf();
  var s = 0.0;
  for (var t = 0u; t < p.size; t++) {
    let v = in0[base + t * p.inner];
    let nm = max(m, v);
    let sm = safeMax(nm);
    s = s * exp(m - sm) + exp(v - sm);
    m = nm;
  }
  let dead = isNegInf(m);
  let lse = m + log(s);
  for (var t = 0u; t < p.size; t++) {
    let q = base + t * p.inner;
    ${log ? 'out[q] = select(in0[q] - lse, pg_neginf(), dead);' : 'out[q] = select(exp(in0[q] - m) / s, 0.0, dead);'}
  }
}`,
      bindings: [x.storage, out],
      uniforms: u,
      workgroups: grid(rt, Math.ceil(rows / 256)),
    });
    return;
  }
  const pl = planRow(size, inner);
  const T = pl.vec4 ? 'vec4<f32>' : 'f32';
  const u = new Uniforms().u32('units', pl.units).u32('size', size).u32('inner', inner).u32('rows', rows);
  const addr = pl.vec4 ? 'rowBase + t' : 'rowBase + t * p.inner';
  const fold = `{
      let nm = max(m, ${HMAX(pl.vec4)});
      let sm = safeMax(nm);
      let e = exp(v - ${T}(sm));
      s = s * exp(m - sm) + ${HSUM(pl.vec4)};
      m = nm;
    }`;
  const write = log ? `out[${addr}] = select(v - ${T}(lse), ${T}(pg_neginf()), dead);` : `out[${addr}] = select(exp(v - ${T}(m)) / s, ${T}(0.0), dead);`;
  const R = pl.R;
  const pass1 = R
    ? Array.from({ length: R }, (_, r) => `let t${r} = lid + ${r * pl.WG}u;
  let c${r} = select(${T}(pg_neginf()), in0[rowBase + ${pl.vec4 ? `min(t${r}, p.units - 1u)` : `min(t${r}, p.units - 1u) * p.inner`}], t${r} < p.units);
  { let v = c${r}; ${fold} }`).join('\n  ')
    : `for (var t = lid; t < p.units; t += ${pl.WG}u) { let v = in0[${addr}]; ${fold} }`;
  const pass2 = R
    ? Array.from({ length: R }, (_, r) => `if (t${r} < p.units) { let t = t${r}; let v = c${r}; ${write} }`).join('\n  ')
    : `for (var t = lid; t < p.units; t += ${pl.WG}u) { let v = in0[${addr}]; ${write} }`;
  rt.run({
    name,
    key: `${name}:row:${pl.vec4 ? 'v4' : 's'}:${pl.WG}:${R}`,
    code: () => `${header(u, T, 1)}
var<workgroup> wm: array<f32, ${pl.WG}>;
var<workgroup> ws: array<f32, ${pl.WG}>;
@compute @workgroup_size(${pl.WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = ${GRID_GROUP};
  if (row >= p.rows) { return; }           // a folded grid's extra workgroups (uniform: barriers stay uniform)
  let rowBase = ${pl.vec4 ? 'row * p.units' : '(row / p.inner) * p.size * p.inner + row % p.inner'};
  var m = pg_neginf();
  var s = 0.0;
  ${pass1}
  wm[lid] = m;
  ws[lid] = s;
  workgroupBarrier();
  for (var h = ${pl.WG / 2}u; h > 0u; h = h >> 1u) {
    if (lid < h) {
      let m1 = wm[lid];
      let m2 = wm[lid + h];
      let nm = max(m1, m2);
      let sm = safeMax(nm);
      ws[lid] = ws[lid] * exp(m1 - sm) + ws[lid + h] * exp(m2 - sm);
      wm[lid] = nm;
    }
    workgroupBarrier();
  }
  m = wm[0];
  s = ws[0];
  let dead = isNegInf(m);
  let lse = m + log(s);
  ${pass2}
}`,
    bindings: [x.storage, out],
    uniforms: u,
    workgroups: grid(rt, rows),
  });
}

export const softmaxBackward = entry((a) => (a[5] ? 'logSoftmaxBackward' : 'softmaxBackward'), (rt: Runtime, y: GT, dy: GT, outer: number, size: number, inner: number, log: boolean): GPUStorage => {
  const name = log ? 'logSoftmaxBackward' : 'softmaxBackward';
  if (y.dtype !== 'float32') fail(name, 'a float32 tensor on webgpu', y.dtype);
  const n = outer * size * inner;
  const out = rt.alloc(n * 4);
  if (n === 0) return out;
  const per = size * inner;
  rt.splitOuter(outer, [[y.storage, per], [dy.storage, per], [out, per]], 'outer slice', (count, [ys, dys, os]) => softmaxBackwardInto(rt, ys!, dys!, os!, count, size, inner, log));
  return out;
});

function softmaxBackwardInto(rt: Runtime, ys: GPUStorage, dys: GPUStorage, out: GPUStorage, outer: number, size: number, inner: number, log: boolean): void {
  const name = log ? 'logSoftmaxBackward' : 'softmaxBackward';
  const y = { storage: ys };
  const dy = { storage: dys };
  const rows = outer * inner;
  // term(y, g): the summand of the row dot; grad(y, g, dot): dx.
  const term = log ? 'g' : 'g * yv';
  const grad = (T: string): string => (log ? `g - exp(yv) * ${T}(dot)` : `yv * (g - ${T}(dot))`);
  if (inner > 1 && rows >= 1024) {
    const u = new Uniforms().u32('rows', rows).u32('size', size).u32('inner', inner);
    rt.run({
      name,
      key: `${name}:thread`,
      code: () => `${header(u, 'f32', 2)}
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let j = ${GRID_INDEX('256u')};
  if (j >= p.rows) { return; }
  let base = (j / p.inner) * p.size * p.inner + j % p.inner;
  var dot = 0.0;
  for (var t = 0u; t < p.size; t++) { let q = base + t * p.inner; let yv = in0[q]; let g = in1[q]; dot += ${term}; }
  for (var t = 0u; t < p.size; t++) { let q = base + t * p.inner; let yv = in0[q]; let g = in1[q]; out[q] = ${grad('f32')}; }
}`,
      bindings: [y.storage, dy.storage, out],
      uniforms: u,
      workgroups: grid(rt, Math.ceil(rows / 256)),
    });
    return;
  }
  const pl = planRow(size, inner);
  const T = pl.vec4 ? 'vec4<f32>' : 'f32';
  const u = new Uniforms().u32('units', pl.units).u32('size', size).u32('inner', inner).u32('rows', rows);
  const addr = pl.vec4 ? 'rowBase + t' : 'rowBase + t * p.inner';
  const sumOf = (e: string): string => (pl.vec4 ? `dot(${e}, vec4<f32>(1.0))` : e);
  const R = pl.R;
  const pass1 = R
    ? Array.from({ length: R }, (_, r) => `let t${r} = lid + ${r * pl.WG}u;
  let q${r} = ${pl.vec4 ? `rowBase + min(t${r}, p.units - 1u)` : `rowBase + min(t${r}, p.units - 1u) * p.inner`};
  let y${r} = in0[q${r}];
  let g${r} = select(${T}(0.0), in1[q${r}], t${r} < p.units);
  { let yv = y${r}; let g = g${r}; acc += ${sumOf(term)}; }`).join('\n  ')
    : `for (var t = lid; t < p.units; t += ${pl.WG}u) { let yv = in0[${addr}]; let g = in1[${addr}]; acc += ${sumOf(term)}; }`;
  const pass2 = R
    ? Array.from({ length: R }, (_, r) => `if (t${r} < p.units) { let yv = y${r}; let g = g${r}; out[q${r}] = ${grad(T)}; }`).join('\n  ')
    : `for (var t = lid; t < p.units; t += ${pl.WG}u) { let yv = in0[${addr}]; let g = in1[${addr}]; out[${addr}] = ${grad(T)}; }`;
  rt.run({
    name,
    key: `${name}:row:${pl.vec4 ? 'v4' : 's'}:${pl.WG}:${R}`,
    code: () => `${header(u, T, 2)}
var<workgroup> wsum: array<f32, ${pl.WG}>;
@compute @workgroup_size(${pl.WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = ${GRID_GROUP};
  if (row >= p.rows) { return; }           // a folded grid's extra workgroups (uniform: barriers stay uniform)
  let rowBase = ${pl.vec4 ? 'row * p.units' : '(row / p.inner) * p.size * p.inner + row % p.inner'};
  var acc = 0.0;
  ${pass1}
  wsum[lid] = acc;
  workgroupBarrier();
  for (var h = ${pl.WG / 2}u; h > 0u; h = h >> 1u) {
    if (lid < h) { wsum[lid] += wsum[lid + h]; }
    workgroupBarrier();
  }
  let dot = wsum[0];
  ${pass2}
}`,
    bindings: [y.storage, dy.storage, out],
    uniforms: u,
    workgroups: grid(rt, rows),
  });
}
