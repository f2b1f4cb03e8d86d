/**
 * Reductions, arg-reductions, prefix sums and top-k on webgpu. Inputs are viewed as
 * [outer, size, inner]; the middle axis is reduced (or scanned) with stride `inner`.
 *
 * reduce (sum/prod/max/min, combine expressions from the spec table's `wgsl`):
 * - many outputs or short rows: one invocation per output, looping over `size` (consecutive
 *   invocations take consecutive `inner` positions, so their reads are adjacent);
 * - long rows with few outputs: one workgroup (256 invocations) per output. Each invocation folds
 *   a strided share of the row (s = lid, lid + 256, ...), then the 256 partials are combined by a
 *   tree reduction in workgroup memory (8 halving steps with barriers);
 * - a huge reduction with almost no outputs (sum of a whole tensor) first splits the row into
 *   chunks of 4096 so that every core gets work, writes [outer, chunks, inner] partials, then
 *   reduces those with the same kernel.
 * Memory traffic: each input element is read once; 4 bytes per element, ~1 flop per element.
 * NaN propagates as on the cpu backend (tested with bit patterns, immune to fast-math).
 *
 * argReduce: the same two layouts on (value, index) pairs; ties and NaNs keep the lower index.
 * cumsum: one invocation per (outer, inner) line scanning sequentially, or, for long contiguous
 *   rows (inner = 1), one workgroup per row scanning chunks of 1024: 4 values per invocation, a
 *   Hillis-Steele scan of the 256 invocation totals in workgroup memory, plus a running carry.
 * topk: rows of up to 2048 elements are sorted in workgroup memory by a bitonic network
 *   (log²N compare-exchange steps; key = value, ties by lower index; padding sorts last) and the
 *   first k are written. Longer rows use k rounds of a workgroup arg-reduction, each picking the
 *   best element ranked after the previous pick (O(k · size)), the simpler selection.
 */
import type { KTensor } from '../../backend.js';
import { REDUCE, type ReduceOp } from '../../spec.js';
import { WGSL_UTIL, wgslType } from './elementwise.js';
import { GRID_GROUP, GRID_INDEX, grid, Uniforms, type GPUStorage, type Runtime } from '../runtime.js';

type GT = KTensor<GPUStorage>;
/** Invocations per workgroup for one-invocation-per-output kernels. */
const WG = 256;
/**
 * Invocations per workgroup for workgroup-per-row kernels (tree reductions, scans). Small on
 * purpose: lavapipe runs a workgroup on one core in 8-wide SIMD groups, so extra groups only add
 * barrier switches and tree steps (see docs/kernels/softmax.md for the measurements).
 */
const TWG = 16;

function initLiteral(op: ReduceOp, t: 'f32' | 'i32'): string {
  const v = REDUCE[op].init;
  if (t === 'f32') return v === Infinity ? 'pg_posinf()' : v === -Infinity ? 'pg_neginf()' : `${v.toFixed(1)}`;
  return v === Infinity ? '2147483647' : v === -Infinity ? '(-2147483647 - 1)' : `${v}`;
}

/** The combine function: the spec's expression, with NaN propagation for floats. */
function combineFn(op: ReduceOp, t: 'f32' | 'i32'): string {
  const body = REDUCE[op].wgsl;
  if (t === 'i32') return `fn comb(acc: i32, x: i32) -> i32 { return ${body}; }`;
  return `fn comb(acc: f32, x: f32) -> f32 {
  if (pg_isnan(x)) { return x; }
  if (pg_isnan(acc)) { return acc; }
  return ${body};
}`;
}

export function reduce(rt: Runtime, op: ReduceOp, x: GT, outer: number, size: number, inner: number): GPUStorage {
  const t = wgslType(x.dtype, op);
  const nOut = outer * inner;
  // Split a huge reduction into chunk partials first, so that more than one workgroup runs.
  const CHUNK = 4096;
  if (nOut < 8 && size >= 4 * CHUNK) {
    const chunks = Math.ceil(size / CHUNK);
    const partial = reduceRaw(rt, op, t, x.storage, outer, size, inner, chunks, CHUNK);
    const out = reduceRaw(rt, op, t, partial, outer, chunks, inner, 1, chunks);
    rt.free(partial);
    return out;
  }
  return reduceRaw(rt, op, t, x.storage, outer, size, inner, 1, size);
}

/** Reduces x [outer, size, inner] in `chunks` pieces of `len` along the middle axis -> [outer, chunks, inner]. */
function reduceRaw(rt: Runtime, op: ReduceOp, t: 'f32' | 'i32', x: GPUStorage, outer: number, size: number, inner: number, chunks: number, len: number): GPUStorage {
  const nOut = outer * chunks * inner;
  const out = rt.alloc(nOut * 4);
  if (nOut === 0) return out;
  const u = new Uniforms().u32('nOut', nOut).u32('size', size).u32('inner', inner).u32('chunks', chunks).u32('len', len);
  const perWorkgroup = len >= 64 && nOut <= 16384;
  const common = `${WGSL_UTIL}
${combineFn(op, t)}
${u.struct('P')}
@group(0) @binding(0) var<storage, read> x: array<${t}>;
@group(0) @binding(1) var<storage, read_write> out: array<${t}>;
@group(0) @binding(2) var<uniform> p: P;
// Output j = (o, c, i): the reduced line starts at o·size·inner + i, covering s in [c·len, min((c+1)·len, size)).
fn lineStart(j: u32) -> u32 {
  let i = j % p.inner;
  let oc = j / p.inner;
  let c = oc % p.chunks;
  let o = oc / p.chunks;
  return (o * p.size + c * p.len) * p.inner + i;
}
fn lineLen(j: u32) -> u32 {
  let c = (j / p.inner) % p.chunks;
  return min(p.len, p.size - c * p.len);
}`;
  if (!perWorkgroup) {
    rt.run({
      name: `reduce:${op}`,
      key: `reduce:${op}:${t}:thread`,
      code: () => `${common}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let j = ${GRID_INDEX(`${WG}u`)};
  if (j >= p.nOut) { return; }
  var acc: ${t} = ${initLiteral(op, t)};
  var q = lineStart(j);
  let n = lineLen(j);
  for (var s = 0u; s < n; s++) {
    acc = comb(acc, x[q]);
    q += p.inner;
  }
  out[j] = acc;
}`,
      bindings: [x, out],
      uniforms: u,
      workgroups: grid(rt, Math.ceil(nOut / WG)),
    });
  } else {
    rt.run({
      name: `reduce:${op}`,
      key: `reduce:${op}:${t}:workgroup`,
      code: () => `${common}
var<workgroup> part: array<${t}, ${TWG}>;
@compute @workgroup_size(${TWG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let j = ${GRID_GROUP};
  let start = lineStart(j);
  let n = lineLen(j);
  var acc: ${t} = ${initLiteral(op, t)};
  for (var s = lid; s < n; s += ${TWG}u) {
    acc = comb(acc, x[start + s * p.inner]);
  }
  part[lid] = acc;
  workgroupBarrier();
  for (var h = ${TWG / 2}u; h > 0u; h = h >> 1u) {
    if (lid < h) { part[lid] = comb(part[lid], part[lid + h]); }
    workgroupBarrier();
  }
  if (lid == 0u) { out[j] = part[0]; }
}`,
      bindings: [x, out],
      uniforms: u,
      workgroups: grid(rt, nOut),
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------- argReduce

export function argReduce(rt: Runtime, op: 'argmax' | 'argmin', x: GT, outer: number, size: number, inner: number): GPUStorage {
  const t = wgslType(x.dtype, op);
  const nOut = outer * inner;
  const out = rt.alloc(nOut * 4);
  if (nOut === 0) return out;
  const cmp = op === 'argmax' ? '>' : '<';
  const nan = t === 'f32' ? 'pg_isnan' : 'no_nan';
  const u = new Uniforms().u32('nOut', nOut).u32('size', size).u32('inner', inner);
  // better(v, iv, best, ib): does (v, iv) win over (best, ib)? NaN wins; ties keep the lower index.
  const common = `${WGSL_UTIL}
fn no_nan(v: i32) -> bool { return false; }
fn better(v: ${t}, iv: u32, best: ${t}, ib: u32) -> bool {
  let nv = ${nan}(v);
  let nb = ${nan}(best);
  if (nv || nb) { return nv && (!nb || iv < ib); }
  if (v == best) { return iv < ib; }
  return v ${cmp} best;
}
${u.struct('P')}
@group(0) @binding(0) var<storage, read> x: array<${t}>;
@group(0) @binding(1) var<storage, read_write> out: array<i32>;
@group(0) @binding(2) var<uniform> p: P;`;
  if (!(size >= 64 && nOut <= 16384)) {
    rt.run({
      name: op,
      key: `${op}:${t}:thread`,
      code: () => `${common}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let j = ${GRID_INDEX(`${WG}u`)};
  if (j >= p.nOut) { return; }
  let start = (j / p.inner) * p.size * p.inner + j % p.inner;
  var best = x[start];
  var bi = 0u;
  for (var s = 1u; s < p.size; s++) {
    let v = x[start + s * p.inner];
    if (better(v, s, best, bi)) { best = v; bi = s; }
  }
  out[j] = i32(bi);
}`,
      bindings: [x.storage, out],
      uniforms: u,
      workgroups: grid(rt, Math.ceil(nOut / WG)),
    });
  } else {
    rt.run({
      name: op,
      key: `${op}:${t}:workgroup`,
      code: () => `${common}
var<workgroup> pv: array<${t}, ${TWG}>;
var<workgroup> pi: array<u32, ${TWG}>;
@compute @workgroup_size(${TWG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let j = ${GRID_GROUP};
  let start = (j / p.inner) * p.size * p.inner + j % p.inner;
  // Every invocation has at least one element (size >= 64 > TWG).
  var best = x[start + lid * p.inner];
  var bi = lid;
  for (var s = lid + ${TWG}u; s < p.size; s += ${TWG}u) {
    let v = x[start + s * p.inner];
    if (better(v, s, best, bi)) { best = v; bi = s; }
  }
  pv[lid] = best;
  pi[lid] = bi;
  workgroupBarrier();
  for (var h = ${TWG / 2}u; h > 0u; h = h >> 1u) {
    if (lid < h && better(pv[lid + h], pi[lid + h], pv[lid], pi[lid])) {
      pv[lid] = pv[lid + h];
      pi[lid] = pi[lid + h];
    }
    workgroupBarrier();
  }
  if (lid == 0u) { out[j] = i32(pi[0]); }
}`,
      bindings: [x.storage, out],
      uniforms: u,
      workgroups: grid(rt, nOut),
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------- cumsum

export function cumsum(rt: Runtime, x: GT, outer: number, size: number, inner: number): GPUStorage {
  const t = wgslType(x.dtype, 'cumsum');
  const n = outer * size * inner;
  const out = rt.alloc(n * 4);
  if (n === 0) return out;
  const u = new Uniforms().u32('outer', outer).u32('size', size).u32('inner', inner);
  const decl = `${u.struct('P')}
@group(0) @binding(0) var<storage, read> x: array<${t}>;
@group(0) @binding(1) var<storage, read_write> out: array<${t}>;
@group(0) @binding(2) var<uniform> p: P;`;
  if (inner === 1 && size >= 512) {
    const PER = 16;
    rt.run({
      name: 'cumsum',
      key: `cumsum:${t}:workgroup`,
      code: () => `${decl}
var<workgroup> tot: array<${t}, ${TWG}>;
@compute @workgroup_size(${TWG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = ${GRID_GROUP};
  let base = row * p.size;
  var carry: ${t} = 0;
  for (var c0 = 0u; c0 < p.size; c0 += ${TWG * PER}u) {
    // 1. each invocation scans its ${PER} consecutive values
    var v: array<${t}, ${PER}>;
    var run: ${t} = 0;
    for (var e = 0u; e < ${PER}u; e++) {
      let s = c0 + lid * ${PER}u + e;
      if (s < p.size) { run += x[base + s]; }
      v[e] = run;
    }
    tot[lid] = run;
    workgroupBarrier();
    // 2. Hillis-Steele inclusive scan of the ${TWG} invocation totals
    for (var d = 1u; d < ${TWG}u; d = d << 1u) {
      var add: ${t} = 0;
      if (lid >= d) { add = tot[lid - d]; }
      workgroupBarrier();
      tot[lid] += add;
      workgroupBarrier();
    }
    // 3. add the exclusive prefix and the carry from earlier chunks
    var pre = carry;
    if (lid > 0u) { pre += tot[lid - 1u]; }
    for (var e = 0u; e < ${PER}u; e++) {
      let s = c0 + lid * ${PER}u + e;
      if (s < p.size) { out[base + s] = pre + v[e]; }
    }
    carry += tot[${TWG - 1}];
    workgroupBarrier();
  }
}`,
      bindings: [x.storage, out],
      uniforms: u,
      workgroups: grid(rt, outer),
    });
  } else {
    const lines = outer * inner;
    rt.run({
      name: 'cumsum',
      key: `cumsum:${t}:thread`,
      code: () => `${decl}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let j = ${GRID_INDEX(`${WG}u`)};
  if (j >= p.outer * p.inner) { return; }
  var q = (j / p.inner) * p.size * p.inner + j % p.inner;
  var acc: ${t} = 0;
  for (var s = 0u; s < p.size; s++) {
    acc += x[q];
    out[q] = acc;
    q += p.inner;
  }
}`,
      bindings: [x.storage, out],
      uniforms: u,
      workgroups: grid(rt, Math.ceil(lines / WG)),
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------- topk

/** Invocations per workgroup for top-k. */
const KWG = 64;
/** Largest row length sorted in workgroup memory (keys and indices: 8 bytes each, 16 KiB). */
const BITONIC_MAX = 2048;

export function topk(rt: Runtime, x: GT, outer: number, size: number, k: number, largest: boolean): { values: GPUStorage; indices: GPUStorage } {
  const t = wgslType(x.dtype, 'topk');
  const values = rt.alloc(outer * k * 4);
  const indices = rt.alloc(outer * k * 4);
  if (outer * k === 0) return { values, indices };
  const u = new Uniforms().u32('size', size).u32('k', k);
  const worst = t === 'f32' ? (largest ? 'pg_neginf()' : 'pg_posinf()') : largest ? '(-2147483647 - 1)' : '2147483647';
  const cmp = largest ? '>' : '<';
  const common = `${WGSL_UTIL}
${u.struct('P')}
@group(0) @binding(0) var<storage, read> x: array<${t}>;
@group(0) @binding(1) var<storage, read_write> vals: array<${t}>;
@group(0) @binding(2) var<storage, read_write> idxs: array<i32>;
@group(0) @binding(3) var<uniform> p: P;
// Is (va, ia) ranked before (vb, ib)? Ties keep the lower index first; the padding (index
// 2147483647) ranks after everything. NaN orders above +Infinity, as in PyTorch.
fn before(va: ${t}, ia: i32, vb: ${t}, ib: i32) -> bool {
  if (ia == 2147483647) { return false; }
  if (ib == 2147483647) { return true; }
${t === 'f32' ? `  let an = pg_isnan(va);
  let bn = pg_isnan(vb);
  if (an || bn) { return (an && bn && ia < ib) || (${largest ? 'an && !bn' : 'bn && !an'}); }
` : ''}  return va ${cmp} vb || (va == vb && ia < ib);
}`;
  if (size <= BITONIC_MAX) {
    const N = Math.max(64, 2 ** Math.ceil(Math.log2(size)));
    rt.run({
      name: 'topk',
      key: `topk:${t}:${largest}:bitonic${N}:nan`,
      code: () => `${common}
var<workgroup> kv: array<${t}, ${N}>;
var<workgroup> ki: array<i32, ${N}>;
@compute @workgroup_size(${KWG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = ${GRID_GROUP};
  let base = row * p.size;
  for (var e = lid; e < ${N}u; e += ${KWG}u) {
    if (e < p.size) { kv[e] = x[base + e]; ki[e] = i32(e); }
    else { kv[e] = ${worst}; ki[e] = 2147483647; }
  }
  workgroupBarrier();
  // Bitonic sort into ranked order: blocks of size 'len' merge with partner distance 'dist'.
  for (var len = 2u; len <= ${N}u; len = len << 1u) {
    for (var dist = len >> 1u; dist > 0u; dist = dist >> 1u) {
      for (var q = lid; q < ${N / 2}u; q += ${KWG}u) {
        // q-th pair: a = index with bit 'dist' clear, b = a + dist
        let a = (q / dist) * dist * 2u + q % dist;
        let b = a + dist;
        let up = (a & len) == 0u;   // this block sorts in ranked order, else reversed
        let va = kv[a]; let ia = ki[a];
        let vb = kv[b]; let ib = ki[b];
        if (before(vb, ib, va, ia) == up) {
          kv[a] = vb; ki[a] = ib;
          kv[b] = va; ki[b] = ia;
        }
      }
      workgroupBarrier();
    }
  }
  for (var e = lid; e < p.k; e += ${KWG}u) {
    vals[row * p.k + e] = kv[e];
    idxs[row * p.k + e] = ki[e];
  }
}`,
      bindings: [x.storage, values, indices],
      uniforms: u,
      workgroups: grid(rt, outer),
    });
  } else {
    rt.run({
      name: 'topk',
      key: `topk:${t}:${largest}:select:nan`,
      code: () => `${common}
var<workgroup> pv: array<${t}, ${KWG}>;
var<workgroup> pi: array<i32, ${KWG}>;
@compute @workgroup_size(${KWG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = ${GRID_GROUP};
  let base = row * p.size;
  var lastV: ${t} = ${worst};
  var lastI: i32 = -1;
  for (var r = 0u; r < p.k; r++) {
    // Best element ranked after the previous pick (lastV, lastI).
    var bv: ${t} = ${worst};
    var bi: i32 = 2147483647;
    for (var s = lid; s < p.size; s += ${KWG}u) {
      let v = x[base + s];
      let iv = i32(s);
      if ((r == 0u || before(lastV, lastI, v, iv)) && before(v, iv, bv, bi)) { bv = v; bi = iv; }
    }
    pv[lid] = bv;
    pi[lid] = bi;
    workgroupBarrier();
    for (var h = ${KWG / 2}u; h > 0u; h = h >> 1u) {
      if (lid < h && before(pv[lid + h], pi[lid + h], pv[lid], pi[lid])) {
        pv[lid] = pv[lid + h];
        pi[lid] = pi[lid + h];
      }
      workgroupBarrier();
    }
    lastV = pv[0];
    lastI = pi[0];
    if (lid == 0u) {
      vals[row * p.k + r] = lastV;
      idxs[row * p.k + r] = lastI;
    }
    workgroupBarrier();
  }
}`,
      bindings: [x.storage, values, indices],
      uniforms: u,
      workgroups: grid(rt, outer),
    });
  }
  return { values, indices };
}
