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
 * Tensors above the binding limit: the outputs are split into ranges whose input lines fit one
 * binding window (one dispatch per range); when one line (a [size, inner] slab) is itself above
 * the limit, the reduced axis is split into ranges too, and each range after the first combines
 * its partial into the output (comb(out, partial): exact for max/min, reassociated for sum/prod).
 *
 * argReduce: the same two layouts on (value, index) pairs; ties and NaNs keep the lower index.
 * cumsum: one invocation per (outer, inner) line scanning sequentially, or, for long contiguous
 *   rows (inner = 1), one workgroup per row scanning chunks of 1024: 4 values per invocation, a
 *   Hillis-Steele scan of the 256 invocation totals in workgroup memory, plus a running carry.
 * topk: rows of up to 2048 elements are sorted in workgroup memory by a bitonic network
 *   (log²N compare-exchange steps; key = value, ties by lower index; padding sorts last) and the
 *   first k are written. Longer rows use k rounds of a workgroup arg-reduction, each picking the
 *   best element ranked after the previous pick (O(k · size)), the simpler selection.
 * argReduce, cumsum and topk split tensors above the binding limit over ranges of lines (rows);
 * a single line above the limit is refused with the op's name (runtime.ts `planRanges`).
 * Every kernel folds its workgroups into a 2-D/3-D grid past 65,535 and returns past the count.
 */
import type { KTensor } from '../../backend.js';
import { REDUCE, type ReduceOp } from '../../spec.js';
import { WGSL_UTIL, wgslType } from './elementwise.js';
import { entry, GRID_GROUP, GRID_INDEX, grid, Uniforms, type BufferWindow, type GPUStorage, type Runtime, type Span } from '../runtime.js';

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

export const reduce = entry((a) => a[0], (rt: Runtime, op: ReduceOp, x: GT, outer: number, size: number, inner: number): GPUStorage => {
  const t = wgslType(x.dtype, op);
  const nOut = outer * inner;
  // Split a huge reduction into chunk partials first, so that more than one workgroup runs (when
  // a chunk's lines fit one binding: always, unless the binding limit is tiny).
  const CHUNK = 4096;
  if (nOut < 8 && size >= 4 * CHUNK && lineFits(rt, CHUNK, inner)) {
    const chunks = Math.ceil(size / CHUNK);
    const partial = reduceRaw(rt, op, t, x.storage, outer, size, inner, chunks, CHUNK);
    const out = reduceRaw(rt, op, t, partial, outer, chunks, inner, 1, chunks);
    rt.free(partial);
    return out;
  }
  return reduceRaw(rt, op, t, x.storage, outer, size, inner, 1, size);
});

/** True when a line of `len` values at stride `inner` (plus alignment slack) fits one binding. */
function lineFits(rt: Runtime, len: number, inner: number): boolean {
  return ((len - 1) * inner + 1 + rt.storageAlign / 4) * 4 <= rt.maxBindingBytes;
}

/**
 * Reduces x [outer, size, inner] in `chunks` pieces of `len` along the middle axis -> [outer, chunks, inner].
 * Tensors above the binding limit: the outputs are split into ranges whose input lines fit one
 * binding window (one dispatch each); when a single line does not fit (chunks = 1 then), the
 * reduced axis is split too, into ranges [sLo, sHi) of S values, and every range after the first
 * combines its result into the output (`p.acc`).
 */
function reduceRaw(rt: Runtime, op: ReduceOp, t: 'f32' | 'i32', x: GPUStorage, outer: number, size: number, inner: number, chunks: number, len: number): GPUStorage {
  const nOut = outer * chunks * inner;
  const out = rt.alloc(nOut * 4);
  if (nOut === 0) return out;
  const u = new Uniforms().u32('nOut', nOut).u32('size', size).u32('inner', inner).u32('chunks', chunks).u32('len', len)
    .u32('j0', 0).u32('nJ', nOut).u32('sLo', 0).u32('sHi', size).u32('xb', 0).u32('ob', 0).u32('acc', 0);
  const perWorkgroup = len >= 64 && nOut <= 16384;
  const common = `${WGSL_UTIL}
${combineFn(op, t)}
${u.struct('P')}
@group(0) @binding(0) var<storage, read> x: array<${t}>;
@group(0) @binding(1) var<storage, read_write> out: array<${t}>;
@group(0) @binding(2) var<uniform> p: P;
// Output j = (o, c, i) reduces x[o, s, i] over s in [max(c·len, sLo), min((c+1)·len, size, sHi)).
fn sRange(j: u32) -> vec2<u32> {
  let c = (j / p.inner) % p.chunks;
  return vec2<u32>(max(c * p.len, p.sLo), min(min((c + 1u) * p.len, p.size), p.sHi));
}
// Index in the bound window (first element p.xb) of x[o, s, i] for output j.
fn at(j: u32, s: u32) -> u32 {
  let o = (j / p.inner) / p.chunks;
  return (o * p.size + s) * p.inner + j % p.inner - p.xb;
}
fn store(j: u32, v: ${t}) {
  let q = j - p.ob;
  out[q] = select(v, comb(out[q], v), p.acc == 1u);
}`;
  const run = (workgroups: [number, number, number], bindings: [GPUStorage | BufferWindow, GPUStorage | BufferWindow]): void => {
    if (!perWorkgroup) {
      rt.run({
        name: `reduce:${op}`,
        key: `reduce:${op}:${t}:thread`,
        code: () => `${common}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let lj = ${GRID_INDEX(`${WG}u`)};
  if (lj >= p.nJ) { return; }
  let j = p.j0 + lj;
  var acc: ${t} = ${initLiteral(op, t)};
  let r = sRange(j);
  var q = at(j, r.x);
  for (var s = r.x; s < r.y; s++) {
    acc = comb(acc, x[q]);
    q += p.inner;
  }
  store(j, acc);
}`,
        bindings,
        uniforms: u,
        workgroups,
      });
    } else {
      rt.run({
        name: `reduce:${op}`,
        key: `reduce:${op}:${t}:workgroup`,
        code: () => `${common}
var<workgroup> part: array<${t}, ${TWG}>;
@compute @workgroup_size(${TWG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let lj = ${GRID_GROUP};
  if (lj >= p.nJ) { return; }               // uniform per workgroup: barriers stay uniform
  let j = p.j0 + lj;
  let r = sRange(j);
  let start = at(j, 0u);
  var acc: ${t} = ${initLiteral(op, t)};
  for (var s = r.x + lid; s < r.y; s += ${TWG}u) {
    acc = comb(acc, x[start + s * p.inner]);
  }
  part[lid] = acc;
  workgroupBarrier();
  for (var h = ${TWG / 2}u; h > 0u; h = h >> 1u) {
    if (lid < h) { part[lid] = comb(part[lid], part[lid + h]); }
    workgroupBarrier();
  }
  if (lid == 0u) { store(j, part[0]); }
}`,
        bindings,
        uniforms: u,
        workgroups,
      });
    }
  };
  const groups = (nJ: number): [number, number, number] => grid(rt, perWorkgroup ? nJ : Math.ceil(nJ / WG));
  // Host copies of the WGSL addressing: the first element x[o, s0, i] and one past the last.
  const dec = (j: number): [number, number, number] => {
    const i = j % inner;
    const oc = Math.floor(j / inner);
    return [Math.floor(oc / chunks), oc % chunks, i];
  };
  const first = (j: number, sLo: number): number => {
    const [o, c, i] = dec(j);
    return (o * size + Math.max(c * len, sLo)) * inner + i;
  };
  const last = (j: number, sHi: number): number => {
    const [o, c, i] = dec(j);
    return (o * size + Math.max(Math.min((c + 1) * len, size, sHi), 1) - 1) * inner + i + 1;
  };
  // s ranges: the whole axis when a line fits a binding, else S values at a time (chunks = 1 then).
  const sRanges: [number, number][] = [];
  if (x.bytes <= rt.maxBindingBytes || lineFits(rt, len, inner)) sRanges.push([0, size]);
  else {
    const S = Math.max(1, Math.floor((rt.maxBindingBytes / 4 - rt.storageAlign / 4) / inner) + 1);
    for (let s0 = 0; s0 < size; s0 += S) sRanges.push([s0, Math.min(size, s0 + S)]);
  }
  sRanges.forEach(([sLo, sHi], k) => {
    const spans: Span[] = [{ s: out, span: (j0, j1) => [j0, j1] }, { s: x, span: (j0, j1) => [first(j0, sLo), last(j1 - 1, sHi)] }];
    for (const [j0, j1] of rt.planRanges(nOut, spans)) {
      const xw = rt.window(x, first(j0, sLo), last(j1 - 1, sHi));
      const ow = rt.window(out, j0, j1);
      u.set('j0', j0).set('nJ', j1 - j0).set('sLo', sLo).set('sHi', sHi).set('xb', xw.base).set('ob', ow.base).set('acc', k > 0 ? 1 : 0);
      run(groups(j1 - j0), [xw.binding, ow.binding]);
    }
  });
  return out;
}

/**
 * Ranges of lines j in [0, lines) whose elements (line j spans [lineStart(j), lineStart(j) +
 * lineLen) of `x`, growing with j) and outputs ([j·outPer, (j+1)·outPer) of each `outs`) fit one
 * binding each; one range when every tensor fits whole.
 */
function lineRanges(rt: Runtime, x: GPUStorage, lines: number, lineStart: (j: number) => number, lineLen: number, outs: readonly GPUStorage[], outPer: number): [number, number][] {
  return rt.planRanges(lines, [
    { s: x, span: (j0, j1) => [lineStart(j0), lineStart(j1 - 1) + lineLen] },
    ...outs.map((o) => ({ s: o, span: (j0: number, j1: number) => [j0 * outPer, j1 * outPer] as const })),
  ]);
}

// ---------------------------------------------------------------------------------- argReduce

export const argReduce = entry((a) => a[0], (rt: Runtime, op: 'argmax' | 'argmin', x: GT, outer: number, size: number, inner: number): GPUStorage => {
  const t = wgslType(x.dtype, op);
  const nOut = outer * inner;
  const out = rt.alloc(nOut * 4);
  if (nOut === 0) return out;
  const cmp = op === 'argmax' ? '>' : '<';
  const nan = t === 'f32' ? 'pg_isnan' : 'no_nan';
  const u = new Uniforms().u32('nOut', nOut).u32('size', size).u32('inner', inner).u32('j0', 0).u32('xb', 0).u32('ob', 0);
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
  const lineStart = (j: number): number => Math.floor(j / inner) * size * inner + (j % inner);
  const perWorkgroup = size >= 64 && nOut <= 16384;
  for (const [j0, j1] of lineRanges(rt, x.storage, nOut, lineStart, (size - 1) * inner + 1, [out], 1)) {
    const xw = rt.window(x.storage, lineStart(j0), lineStart(j1 - 1) + (size - 1) * inner + 1);
    const ow = rt.window(out, j0, j1);
    u.set('nOut', j1 - j0).set('j0', j0).set('xb', xw.base).set('ob', ow.base);
    if (!perWorkgroup) {
      rt.run({
        name: op,
        key: `${op}:${t}:thread`,
        code: () => `${common}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let lj = ${GRID_INDEX(`${WG}u`)};
  if (lj >= p.nOut) { return; }
  let j = p.j0 + lj;
  let start = (j / p.inner) * p.size * p.inner + j % p.inner - p.xb;
  var best = x[start];
  var bi = 0u;
  for (var s = 1u; s < p.size; s++) {
    let v = x[start + s * p.inner];
    if (better(v, s, best, bi)) { best = v; bi = s; }
  }
  out[j - p.ob] = i32(bi);
}`,
        bindings: [xw.binding, ow.binding],
        uniforms: u,
        workgroups: grid(rt, Math.ceil((j1 - j0) / WG)),
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
  let lj = ${GRID_GROUP};
  if (lj >= p.nOut) { return; }            // uniform per workgroup: barriers stay uniform
  let j = p.j0 + lj;
  let start = (j / p.inner) * p.size * p.inner + j % p.inner - p.xb;
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
  if (lid == 0u) { out[j - p.ob] = i32(pi[0]); }
}`,
        bindings: [xw.binding, ow.binding],
        uniforms: u,
        workgroups: grid(rt, j1 - j0),
      });
    }
  }
  return out;
});

// ---------------------------------------------------------------------------------- cumsum

export const cumsum = entry('cumsum', (rt: Runtime, x: GT, outer: number, size: number, inner: number): GPUStorage => {
  const t = wgslType(x.dtype, 'cumsum');
  const n = outer * size * inner;
  const out = rt.alloc(n * 4);
  if (n === 0) return out;
  const u = new Uniforms().u32('lines', outer * inner).u32('size', size).u32('inner', inner).u32('j0', 0).u32('xb', 0).u32('ob', 0);
  const decl = `${u.struct('P')}
@group(0) @binding(0) var<storage, read> x: array<${t}>;
@group(0) @binding(1) var<storage, read_write> out: array<${t}>;
@group(0) @binding(2) var<uniform> p: P;`;
  // Lines (rows when inner = 1) in ranges whose elements fit one binding window.
  const lines = outer * inner;
  const lineStart = (j: number): number => Math.floor(j / inner) * size * inner + (j % inner);
  const span = (size - 1) * inner + 1;
  for (const [j0, j1] of rt.planRanges(lines, [x.storage, out].map((s) => ({ s, span: (a: number, b: number) => [lineStart(a), lineStart(b - 1) + span] as const })))) {
    const xw = rt.window(x.storage, lineStart(j0), lineStart(j1 - 1) + span);
    const ow = rt.window(out, lineStart(j0), lineStart(j1 - 1) + span);
    u.set('lines', j1 - j0).set('j0', j0).set('xb', xw.base).set('ob', ow.base);
    if (inner === 1 && size >= 512) {
      const PER = 16;
      rt.run({
        name: 'cumsum',
        key: `cumsum:${t}:workgroup`,
        code: () => `${decl}
var<workgroup> tot: array<${t}, ${TWG}>;
@compute @workgroup_size(${TWG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let lrow = ${GRID_GROUP};
  if (lrow >= p.lines) { return; }         // uniform per workgroup: barriers stay uniform
  let row = p.j0 + lrow;
  let base = row * p.size;
  var carry: ${t} = 0;
  for (var c0 = 0u; c0 < p.size; c0 += ${TWG * PER}u) {
    // 1. each invocation scans its ${PER} consecutive values
    var v: array<${t}, ${PER}>;
    var run: ${t} = 0;
    for (var e = 0u; e < ${PER}u; e++) {
      let s = c0 + lid * ${PER}u + e;
      if (s < p.size) { run += x[base + s - p.xb]; }
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
      if (s < p.size) { out[base + s - p.ob] = pre + v[e]; }
    }
    carry += tot[${TWG - 1}];
    workgroupBarrier();
  }
}`,
        bindings: [xw.binding, ow.binding],
        uniforms: u,
        workgroups: grid(rt, j1 - j0),
      });
    } else {
      rt.run({
        name: 'cumsum',
        key: `cumsum:${t}:thread`,
        code: () => `${decl}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let lj = ${GRID_INDEX(`${WG}u`)};
  if (lj >= p.lines) { return; }           // p.lines: lines in this dispatch
  let j = p.j0 + lj;
  var q = (j / p.inner) * p.size * p.inner + j % p.inner;
  var acc: ${t} = 0;
  for (var s = 0u; s < p.size; s++) {
    acc += x[q - p.xb];
    out[q - p.ob] = acc;
    q += p.inner;
  }
}`,
        bindings: [xw.binding, ow.binding],
        uniforms: u,
        workgroups: grid(rt, Math.ceil((j1 - j0) / WG)),
      });
    }
  }
  return out;
});

// ---------------------------------------------------------------------------------- topk

/** Invocations per workgroup for top-k. */
const KWG = 64;
/** Largest row length sorted in workgroup memory (keys and indices: 8 bytes each, 16 KiB). */
const BITONIC_MAX = 2048;

export const topk = entry('topk', (rt: Runtime, x: GT, outer: number, size: number, k: number, largest: boolean): { values: GPUStorage; indices: GPUStorage } => {
  const t = wgslType(x.dtype, 'topk');
  const values = rt.alloc(outer * k * 4);
  const indices = rt.alloc(outer * k * 4);
  if (outer * k === 0) return { values, indices };
  const u = new Uniforms().u32('size', size).u32('k', k).u32('rows', outer).u32('r0', 0).u32('xb', 0).u32('vb', 0).u32('ib', 0);
  const worst = t === 'f32' ? (largest ? 'pg_neginf()' : 'pg_posinf()') : largest ? '(-2147483647 - 1)' : '2147483647';
  const cmp = largest ? '>' : '<';
  const common = `${WGSL_UTIL}
${u.struct('P')}
@group(0) @binding(0) var<storage, read> x: array<${t}>;
@group(0) @binding(1) var<storage, read_write> vals: array<${t}>;
@group(0) @binding(2) var<storage, read_write> idxs: array<i32>;
@group(0) @binding(3) var<uniform> p: P;
fn xAt(e: u32) -> ${t} { return x[e - p.xb]; }
fn put(e: u32, v: ${t}, i: i32) { vals[e - p.vb] = v; idxs[e - p.ib] = i; }
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
  // Rows in ranges whose input and outputs fit one binding window each.
  for (const [r0, r1] of lineRanges(rt, x.storage, outer, (r) => r * size, size, [values, indices], k)) {
    const xw = rt.window(x.storage, r0 * size, r1 * size);
    const vw = rt.window(values, r0 * k, r1 * k);
    const iw = rt.window(indices, r0 * k, r1 * k);
    u.set('rows', r1 - r0).set('r0', r0).set('xb', xw.base).set('vb', vw.base).set('ib', iw.base);
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
  let lrow = ${GRID_GROUP};
  if (lrow >= p.rows) { return; }          // uniform per workgroup: barriers stay uniform
  let row = p.r0 + lrow;
  let base = row * p.size;
  for (var e = lid; e < ${N}u; e += ${KWG}u) {
    if (e < p.size) { kv[e] = xAt(base + e); ki[e] = i32(e); }
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
    put(row * p.k + e, kv[e], ki[e]);
  }
}`,
        bindings: [xw.binding, vw.binding, iw.binding],
        uniforms: u,
        workgroups: grid(rt, r1 - r0),
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
  let lrow = ${GRID_GROUP};
  if (lrow >= p.rows) { return; }          // uniform per workgroup: barriers stay uniform
  let row = p.r0 + lrow;
  let base = row * p.size;
  var lastV: ${t} = ${worst};
  var lastI: i32 = -1;
  for (var r = 0u; r < p.k; r++) {
    // Best element ranked after the previous pick (lastV, lastI).
    var bv: ${t} = ${worst};
    var bi: i32 = 2147483647;
    for (var s = lid; s < p.size; s += ${KWG}u) {
      let v = xAt(base + s);
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
    if (lid == 0u) { put(row * p.k + r, lastV, lastI); }
    workgroupBarrier();
  }
}`,
        bindings: [xw.binding, vw.binding, iw.binding],
        uniforms: u,
        workgroups: grid(rt, r1 - r0),
      });
    }
  }
  return { values, indices };
});
