/**
 * scaledDotProductAttention on webgpu, fused (flash-attention style), forward and backward, float32.
 * docs/kernels/attention.md walks through it with diagrams.
 *
 * Forward: out = softmax(scale·q·kᵀ + mask)·v without ever forming the Lq×Lk score matrix.
 * - Grid: x over query tiles of BR = 64·R rows, y over the B·H (batch, head) pairs (a logical grid,
 *   folded by runtime.ts `grid3` past 65,535 workgroups per dimension). A workgroup has
 *   64 invocations; invocation `lid` owns the R query rows i0 + lid + 64·r (r < R). Its q rows, the
 *   running max m, running sum l and the running output acc (Dv values) live in registers: the
 *   WGSL is specialized on D and Dv (vec4 variables, fully unrolled), so the inner loops have no
 *   indexing at all.
 * - Keys are streamed in tiles of BC keys (BC = 1024 / (⌈D/4⌉ + ⌈Dv/4⌉), at most 64, so that the K
 *   and V tiles fill at most 16 KiB of workgroup memory). The 64 invocations copy the tile's K and V
 *   rows into workgroup memory (zero-padded to whole vec4s), then every invocation walks the BC keys:
 *   it reads k_j once (a broadcast read: all invocations read the same words) and uses it for its
 *   R rows, s = scale·q·k_j + mask, then the online softmax update, then v_j once for R rows.
 * - Online softmax, per row and key: when s exceeds the running max, the old sum and accumulator are
 *   rescaled, l ← l·e^(m - s), acc ← acc·e^(m - s), m ← s; then e = e^(s - m), l += e, acc += e·v_j.
 *   Every exponent is ≤ 0, so logits of ±5000 cannot overflow. At the end out = acc / l and the row's
 *   log-sum-exp lse = m + log l is written for the backward. A row whose scores are all -∞ (fully
 *   masked) keeps l = 0 and gives out = 0 and lse = -∞, as the cpu kernel.
 * - The additive mask is read from global memory per (row, key) with its broadcast strides (stride
 *   0 on size-1 dims), so a [1, 1, Lq, Lk] or [B, 1, 1, Lk] mask is never expanded.
 * Memory traffic per (batch, head): q, out and lse once; K and V once per query tile, i.e.
 * (Lq / BR)·Lk·(D + Dv)·4 bytes, against Lq·Lk·(D + Dv)·4 for a row-per-invocation kernel without
 * tiles and 2·Lq·Lk·4 more for a kernel that stores the scores. Workgroup memory: BC·(D + Dv)·4 bytes.
 * Arithmetic: 2·D + 2·Dv flops per (row, key), all from registers and broadcast reads.
 *
 * Backward (FlashAttention-2's scheme, recomputing p_ij = e^(s_ij - lse_i) from the saved lse; no
 * atomics: every gradient element has one writer):
 * 1. rowstats: one invocation per query row writes (lse_i, Δ_i = Σ_d dOut_id·out_id).
 * 2. dq: the forward's layout over query rows, streaming K and V tiles:
 *      dp = dOut_i·v_j,  ds = p_ij·(dp - Δ_i)·scale,  dq_i += ds·k_j.
 * 3. dk, dv: the transposed layout, one key row per (invocation, r), streaming tiles of q, dOut,
 *    lse and Δ through workgroup memory:
 *      dv_j += p_ij·dOut_i,  dk_j += ds_ij·q_i.
 *    s and dp are recomputed in both passes (14·Lq·Lk·D flops in all for D = Dv, against 10 for a
 *    backward that shares them through float atomics, which WGSL does not have).
 * Fully masked rows (lse = -∞) contribute nothing.
 * Tensors above the binding limit (forward): blocks of (batch, head) pairs, or of batches with a
 * mask, run unchanged on views (Runtime.splitOuter); the backward is not split.
 */
import type { AttentionParams, KTensor } from '../../backend.js';
import { broadcastStrides, fail } from '../../../engine/shape.js';
import { entry, grid, GRID3_ARGS, GRID3_DECODE, GRID_INDEX, grid3, Uniforms, type GPUStorage, type OuterPart, type Runtime } from '../runtime.js';

type GT = KTensor<GPUStorage>;

/** Invocations per workgroup. */
const T = 64;

interface AGeo {
  B: number; H: number; Lq: number; Lk: number; D: number; Dv: number;
  /** Mask strides over [B, H, Lq, Lk] (0 on broadcast dims), or null. */
  ms: number[] | null;
}

function geometry(op: string, q: GT, k: GT, v: GT, mask: GT | null): AGeo {
  for (const t of [q, k, v, mask]) if (t && t.dtype !== 'float32') fail(op, 'float32 tensors on webgpu', t.dtype);
  const [B, H, Lq, D] = q.shape as [number, number, number, number];
  const Lk = k.shape[2]!;
  const Dv = v.shape[3]!;
  return { B, H, Lq, Lk, D, Dv, ms: mask ? broadcastStrides(mask.shape, [B, H, Lq, Lk]) : null };
}

/** Workgroup memory per workgroup (WebGPU's default limit). */
const WG_BYTES = 16384;

/** Keys (or queries) per tile: as many rows of `bytesPerRow` as fit in 16 KiB, at most 64. */
function tileLen(op: string, bytesPerRow: number, D: number, Dv: number): number {
  const bc = bytesPerRow === 0 ? 64 : Math.min(64, Math.floor(WG_BYTES / bytesPerRow));
  if (bc < 1) fail(op, `head dims with 16·(⌈D/4⌉ + ⌈Dv/4⌉) ≤ ${WG_BYTES} bytes of workgroup memory per key on webgpu`, `D = ${D}, Dv = ${Dv}`);
  return bc;
}

/**
 * Rows per invocation. On a CPU adapter (lavapipe, SwiftShader) every workgroup-memory read inside
 * a loop is done lane by lane, so what pays is using each K/V value for several rows: 4 rows for
 * long sequences (1024+), 2 from 256 (measured on lavapipe, B1 H8 L1024 D64: 3.0 GFLOP per CPU-second
 * with 4 rows, 1.6 with 2, 1.0 with 1). The price is compile time: LLVM takes about 50 s of CPU for
 * the 4-row D = 64 pipeline, 20 s for 2 rows (once; Mesa caches it on disk). On a GPU, R rows
 * cost R·(D + Dv) registers per invocation, so one row each.
 */
function rowsPerInvocation(rt: Runtime, rows: number): number {
  if (!cpuAdapter(rt)) return 1;
  return rows >= 1024 ? 4 : rows >= 256 ? 2 : 1;
}

/** True for software adapters (Mesa's llvmpipe/lavapipe, SwiftShader). */
function cpuAdapter(rt: Runtime): boolean {
  const info = (rt.info.adapter as { info?: { isFallbackAdapter?: boolean } }).info;
  return info?.isFallbackAdapter === true || /llvmpipe|lavapipe|swiftshader|software/i.test(rt.adapterName);
}

const n4 = (d: number): number => Math.ceil(d / 4);
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const lines = (n: number, f: (i: number) => string, sep = '\n  '): string => range(n).map(f).join(sep);
/** WGSL sum of the terms (0.0 when there are none: D or Dv = 0). */
const sum = (terms: string[]): string => (terms.length ? terms.join(' + ') : '0.0');
/** Size of a workgroup array (WGSL rejects 0). */
const arr = (n: number): number => Math.max(1, n);

const UTIL = `var<private> NEG_INF_BITS: u32 = 0xff800000u;
var<private> NAN_BITS: u32 = 0x7fc00000u;
fn negInf() -> f32 { return bitcast<f32>(NEG_INF_BITS); }
fn nan() -> f32 { return bitcast<f32>(NAN_BITS); }
fn isNegInf(v: f32) -> bool { return bitcast<u32>(v) == 0xff800000u; }
// NaN or +Infinity (bit tests: a GPU compiler may assume arithmetic NaN-free)
fn isNanOrPosInf(v: f32) -> bool { return (bitcast<u32>(v) & 0x7fffffffu) >= 0x7f800000u && bitcast<u32>(v) != 0xff800000u; }`;

/**
 * WGSL: `name` = vec4 number `d4` of the row starting at element `base` of `buf`, zero past `len`
 * (a compile-time length; only the last vec4 of a row needs the checks).
 */
function loadVec4(name: string, buf: string, base: string, d4: number, len: number): string {
  const comps = range(4).map((c) => (4 * d4 + c < len ? `${buf}[${base} + ${4 * d4 + c}u]` : '0.0'));
  return `let ${name} = vec4<f32>(${comps.join(', ')});`;
}

/**
 * WGSL: the cooperative copy of `count` rows of `len` floats (row `row0 + j` of `buf`, rows
 * [rowBase, ...)) into the workgroup array `dst` as ⌈len/4⌉ zero-padded vec4 per row.
 */
function tileCopy(dst: string, buf: string, rowExpr: string, count: string, len: number): string {
  if (len === 0) return '';
  const L4 = n4(len);
  const comps = range(4).map((c) => `select(0.0, ${buf}[min(g + ${c}u, last)], d * 4u + ${c}u < ${len}u)`);
  return `for (var e = lid; e < ${count} * ${L4}u; e += ${T}u) {
      let j = e / ${L4}u;
      let d = e % ${L4}u;
      let g = (${rowExpr}) * ${len}u + d * 4u;
      let last = (${rowExpr}) * ${len}u + ${len - 1}u;
      ${dst}[e] = vec4<f32>(${comps.join(', ')});
    }`;
}

function uniforms(g: AGeo, scale: number): Uniforms {
  const ms = g.ms ?? [0, 0, 0, 0];
  return new Uniforms().u32('B', g.B).u32('H', g.H).u32('Lq', g.Lq).u32('Lk', g.Lk).f32('scale', scale)
    .u32('ms0', ms[0]!).u32('ms1', ms[1]!).u32('ms2', ms[2]!).u32('ms3', ms[3]!);
}

/** WGSL: binding declarations, `[name, access]` in order, then the uniform block. */
function declare(bufs: [string, 'read' | 'read_write'][]): string {
  return [...bufs.map(([n, a], i) => `@group(0) @binding(${i}) var<storage, ${a}> ${n}: array<f32>;`), `@group(0) @binding(${bufs.length}) var<uniform> p: P;`].join('\n');
}

// ------------------------------------------------------------------------------ forward

function forwardWGSL(u: Uniforms, D: number, Dv: number, R: number, BC: number, masked: boolean): string {
  const D4 = n4(D);
  const V4 = n4(Dv);
  const BR = T * R;
  const R_ = range(R);
  return `${u.struct('P')}
${declare([['q', 'read'], ['k', 'read'], ['v', 'read'], ...(masked ? [['mask', 'read'] as [string, 'read']] : []), ['out', 'read_write'], ['lse', 'read_write']])}
${UTIL}
var<workgroup> Ks: array<vec4<f32>, ${arr(BC * D4)}>;
var<workgroup> Vs: array<vec4<f32>, ${arr(BC * V4)}>;
@compute @workgroup_size(${T})
fn main(${GRID3_ARGS}) {
  ${GRID3_DECODE}
  let bh = wid.y;
  let b = bh / p.H;
  let h = bh % p.H;
  let mBase = b * p.ms0 + h * p.ms1;
  let kRow0 = bh * p.Lk;
  // This invocation's query rows (clamped for loads; only rows < Lq are written).
  ${lines(R, (r) => `let i${r} = wid.x * ${BR}u + lid + ${r * T}u;
  let ic${r} = bh * p.Lq + min(i${r}, p.Lq - 1u);
  let mr${r} = mBase + min(i${r}, p.Lq - 1u) * p.ms2;
  ${lines(D4, (d) => loadVec4(`q${r}_${d}`, 'q', `ic${r} * ${D}u`, d, D))}
  var m${r} = negInf();
  var l${r} = 0.0;
  var bad${r} = false;
  ${lines(V4, (d) => `var a${r}_${d} = vec4<f32>(0.0);`)}`)}
  for (var j0 = 0u; j0 < p.Lk; j0 += ${BC}u) {
    let cols = min(${BC}u, p.Lk - j0);
    workgroupBarrier();                     // the previous tile is no longer read
    ${tileCopy('Ks', 'k', 'kRow0 + j0 + j', 'cols', D)}
    ${tileCopy('Vs', 'v', 'kRow0 + j0 + j', 'cols', Dv)}
    workgroupBarrier();
    for (var j = 0u; j < cols; j++) {
      ${lines(D4, (d) => `let k${d} = Ks[j * ${D4}u + ${d}u];`, '\n      ')}
      ${R_.map((r) => `var s${r} = (${sum(range(D4).map((d) => `dot(q${r}_${d}, k${d})`))}) * p.scale;${masked ? `
      s${r} += mask[mr${r} + (j0 + j) * p.ms3];` : ''}
      var e${r} = 0.0;
      // a NaN or +Infinity logit makes the row NaN, as softmax does in PyTorch
      bad${r} = bad${r} || isNanOrPosInf(s${r});
      if (!isNegInf(s${r}) && !isNanOrPosInf(s${r})) {
        if (s${r} > m${r}) {
          // a new running max: rescale what was summed so far (e^(-inf) = 0 on the first key)
          let c = select(exp(m${r} - s${r}), 0.0, isNegInf(m${r}));
          l${r} *= c;
          ${lines(V4, (d) => `a${r}_${d} *= c;`, ' ')}
          m${r} = s${r};
        }
        e${r} = exp(s${r} - m${r});
        l${r} += e${r};
      }`).join('\n      ')}
      ${lines(V4, (d) => `{ let vv = Vs[j * ${V4}u + ${d}u]; ${R_.map((r) => `a${r}_${d} = fma(vec4<f32>(e${r}), vv, a${r}_${d});`).join(' ')} }`, '\n      ')}
    }
  }
  ${R_.map((r) => `if (i${r} < p.Lq) {
    let row = bh * p.Lq + i${r};
    if (bad${r}) {
      ${lines(Dv, (d) => `out[row * ${Dv}u + ${d}u] = nan();`, ' ')}
      lse[row] = nan();
    } else if (l${r} > 0.0) {
      let inv = 1.0 / l${r};
      ${lines(V4, (d) => range(4).filter((c) => 4 * d + c < Dv).map((c) => `out[row * ${Dv}u + ${4 * d + c}u] = a${r}_${d}[${c}] * inv;`).join(' '), '\n      ')}
      lse[row] = m${r} + log(l${r});
    } else {
      ${lines(Dv, (d) => `out[row * ${Dv}u + ${d}u] = 0.0;`, ' ')}
      lse[row] = negInf();
    }
  }`).join('\n  ')}
}`;
}

export const attention = entry('attention', (rt: Runtime, q: GT, k: GT, v: GT, mask: GT | null, p: AttentionParams): { out: GPUStorage; lse: GPUStorage } => {
  const g = geometry('attention', q, k, v, mask);
  const { B, H, Lq, D, Dv } = g;
  const out = rt.alloc(B * H * Lq * Dv * 4);
  const lse = rt.alloc(B * H * Lq * 4);
  if (B * H * Lq === 0) return { out, lse };
  // Lk = 0 needs no special case: no tiles, l stays 0, so out = 0 and lse = -∞ (an empty softmax).
  const R = rowsPerInvocation(rt, Lq);
  const BC = tileLen('attention', 16 * (n4(D) + n4(Dv)), D, Dv);
  const masked = mask !== null;
  // Tensors above the binding limit: chunks of (batch, head) pairs without a mask, of batches with
  // one (views of q, k, v, out, lse, and of the mask when it has a batch dim; Runtime.splitOuter).
  const perB = masked ? 1 : H;
  const outer = masked ? B : B * H;
  const parts: OuterPart[] = [[q.storage, (H / perB) * Lq * D], [k.storage, (H / perB) * g.Lk * D], [v.storage, (H / perB) * g.Lk * Dv], [out, (H / perB) * Lq * Dv], [lse, (H / perB) * Lq]];
  const maskPer = masked && g.ms![0]! > 0 ? g.ms![0]! : 0;
  if (maskPer) parts.push([mask!.storage, maskPer]);
  rt.splitOuter(outer, parts, masked ? 'batch' : '(batch, head) pair', (count, [qs, ks, vs, os, ls, ms]) => {
    const u = uniforms(masked ? { ...g, B: count } : { ...g, B: count, H: 1 }, p.scale);
    const workgroups = grid3(rt, u, [Math.ceil(Lq / (T * R)), masked ? count * H : count, 1]);
    rt.run({
      name: 'attention',
      key: `attention:D${D}:Dv${Dv}:R${R}:${masked ? 'mask' : 'nomask'}`,
      code: () => forwardWGSL(u, D, Dv, R, BC, masked),
      bindings: [qs!, ks!, vs!, ...(masked ? [ms ?? mask!.storage] : []), os!, ls!],
      uniforms: u,
      workgroups,
    });
  });
  return { out, lse };
});

// ------------------------------------------------------------------------------ backward

/** Pass 1: stats[row] = (lse, Δ = dOut·out), interleaved. */
function rowStats(rt: Runtime, dOut: GT, out: GT, lse: GT, rows: number, Dv: number): GPUStorage {
  const stats = rt.alloc(rows * 2 * 4);
  const u = new Uniforms().u32('rows', rows).u32('Dv', Dv);
  rt.run({
    name: 'attentionBackward',
    key: 'attentionBackward:rowstats',
    code: () => `${u.struct('P')}
${declare([['dOut', 'read'], ['out', 'read'], ['lse', 'read'], ['stats', 'read_write']])}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = ${GRID_INDEX('64u')};
  if (i >= p.rows) { return; }
  var d = 0.0;
  for (var c = 0u; c < p.Dv; c++) { d += dOut[i * p.Dv + c] * out[i * p.Dv + c]; }
  stats[i * 2u] = lse[i];
  stats[i * 2u + 1u] = d;
}`,
    bindings: [dOut.storage, out.storage, lse.storage, stats],
    uniforms: u,
    workgroups: grid(rt, Math.ceil(rows / 64)),
  });
  return stats;
}

/** Pass 2: dq over query rows, streaming K and V tiles. */
function dqWGSL(u: Uniforms, D: number, Dv: number, R: number, BC: number, masked: boolean): string {
  const D4 = n4(D);
  const V4 = n4(Dv);
  const BR = T * R;
  const R_ = range(R);
  return `${u.struct('P')}
${declare([['q', 'read'], ['k', 'read'], ['v', 'read'], ...(masked ? [['mask', 'read'] as [string, 'read']] : []), ['dOut', 'read'], ['stats', 'read'], ['dq', 'read_write']])}
${UTIL}
var<workgroup> Ks: array<vec4<f32>, ${arr(BC * D4)}>;
var<workgroup> Vs: array<vec4<f32>, ${arr(BC * V4)}>;
@compute @workgroup_size(${T})
fn main(${GRID3_ARGS}) {
  ${GRID3_DECODE}
  let bh = wid.y;
  let b = bh / p.H;
  let h = bh % p.H;
  let mBase = b * p.ms0 + h * p.ms1;
  let kRow0 = bh * p.Lk;
  ${lines(R, (r) => `let i${r} = wid.x * ${BR}u + lid + ${r * T}u;
  let ic${r} = bh * p.Lq + min(i${r}, p.Lq - 1u);
  let mr${r} = mBase + min(i${r}, p.Lq - 1u) * p.ms2;
  ${lines(D4, (d) => loadVec4(`q${r}_${d}`, 'q', `ic${r} * ${D}u`, d, D))}
  ${lines(V4, (d) => loadVec4(`o${r}_${d}`, 'dOut', `ic${r} * ${Dv}u`, d, Dv))}
  let lse${r} = stats[ic${r} * 2u];
  let dl${r} = stats[ic${r} * 2u + 1u];
  let live${r} = !isNegInf(lse${r});        // fully masked rows have no gradient
  ${lines(D4, (d) => `var g${r}_${d} = vec4<f32>(0.0);`)}`)}
  for (var j0 = 0u; j0 < p.Lk; j0 += ${BC}u) {
    let cols = min(${BC}u, p.Lk - j0);
    workgroupBarrier();
    ${tileCopy('Ks', 'k', 'kRow0 + j0 + j', 'cols', D)}
    ${tileCopy('Vs', 'v', 'kRow0 + j0 + j', 'cols', Dv)}
    workgroupBarrier();
    for (var j = 0u; j < cols; j++) {
      ${lines(D4, (d) => `let k${d} = Ks[j * ${D4}u + ${d}u];`, '\n      ')}
      ${lines(V4, (d) => `let v${d} = Vs[j * ${V4}u + ${d}u];`, '\n      ')}
      ${R_.map((r) => `var s${r} = (${sum(range(D4).map((d) => `dot(q${r}_${d}, k${d})`))}) * p.scale;${masked ? `
      s${r} += mask[mr${r} + (j0 + j) * p.ms3];` : ''}
      var ds${r} = 0.0;
      if (live${r} && !isNegInf(s${r})) {
        let pr = exp(s${r} - lse${r});
        let dp = ${sum(range(V4).map((d) => `dot(o${r}_${d}, v${d})`))};
        ds${r} = pr * (dp - dl${r}) * p.scale;
      }
      ${lines(D4, (d) => `g${r}_${d} = fma(vec4<f32>(ds${r}), k${d}, g${r}_${d});`, ' ')}`).join('\n      ')}
    }
  }
  ${R_.map((r) => `if (i${r} < p.Lq) {
    ${lines(D4, (d) => range(4).filter((c) => 4 * d + c < D).map((c) => `dq[ic${r} * ${D}u + ${4 * d + c}u] = g${r}_${d}[${c}];`).join(' '), '\n    ')}
  }`).join('\n  ')}
}`;
}

/** Pass 3: dk and dv over key rows, streaming tiles of q, dOut and the row stats. */
function dkvWGSL(u: Uniforms, D: number, Dv: number, R: number, BC: number, masked: boolean): string {
  const D4 = n4(D);
  const V4 = n4(Dv);
  const BR = T * R;
  const R_ = range(R);
  return `${u.struct('P')}
${declare([['q', 'read'], ['k', 'read'], ['v', 'read'], ...(masked ? [['mask', 'read'] as [string, 'read']] : []), ['dOut', 'read'], ['stats', 'read'], ['dk', 'read_write'], ['dv', 'read_write']])}
${UTIL}
var<workgroup> Qs: array<vec4<f32>, ${arr(BC * D4)}>;
var<workgroup> Os: array<vec4<f32>, ${arr(BC * V4)}>;
var<workgroup> Ls: array<f32, ${BC}>;
var<workgroup> Dl: array<f32, ${BC}>;
@compute @workgroup_size(${T})
fn main(${GRID3_ARGS}) {
  ${GRID3_DECODE}
  let bh = wid.y;
  let b = bh / p.H;
  let h = bh % p.H;
  let mBase = b * p.ms0 + h * p.ms1;
  let qRow0 = bh * p.Lq;
  ${lines(R, (r) => `let j${r} = wid.x * ${BR}u + lid + ${r * T}u;
  let jc${r} = bh * p.Lk + min(j${r}, p.Lk - 1u);
  let mc${r} = mBase + min(j${r}, p.Lk - 1u) * p.ms3;
  ${lines(D4, (d) => loadVec4(`k${r}_${d}`, 'k', `jc${r} * ${D}u`, d, D))}
  ${lines(V4, (d) => loadVec4(`v${r}_${d}`, 'v', `jc${r} * ${Dv}u`, d, Dv))}
  ${lines(D4, (d) => `var gk${r}_${d} = vec4<f32>(0.0);`)}
  ${lines(V4, (d) => `var gv${r}_${d} = vec4<f32>(0.0);`)}`)}
  for (var i0 = 0u; i0 < p.Lq; i0 += ${BC}u) {
    let rows = min(${BC}u, p.Lq - i0);
    workgroupBarrier();
    ${tileCopy('Qs', 'q', 'qRow0 + i0 + j', 'rows', D)}
    ${tileCopy('Os', 'dOut', 'qRow0 + i0 + j', 'rows', Dv)}
    for (var e = lid; e < rows; e += ${T}u) {
      Ls[e] = stats[(qRow0 + i0 + e) * 2u];
      Dl[e] = stats[(qRow0 + i0 + e) * 2u + 1u];
    }
    workgroupBarrier();
    for (var i = 0u; i < rows; i++) {
      let lse = Ls[i];
      if (isNegInf(lse)) { continue; }      // a fully masked row: uniform across the workgroup
      let dl = Dl[i];
      ${lines(D4, (d) => `let q${d} = Qs[i * ${D4}u + ${d}u];`, '\n      ')}
      ${lines(V4, (d) => `let o${d} = Os[i * ${V4}u + ${d}u];`, '\n      ')}
      ${R_.map((r) => `var s${r} = (${sum(range(D4).map((d) => `dot(q${d}, k${r}_${d})`))}) * p.scale;${masked ? `
      s${r} += mask[mc${r} + (i0 + i) * p.ms2];` : ''}
      var pr${r} = 0.0;
      var ds${r} = 0.0;
      if (!isNegInf(s${r})) {
        pr${r} = exp(s${r} - lse);
        let dp = ${sum(range(V4).map((d) => `dot(o${d}, v${r}_${d})`))};
        ds${r} = pr${r} * (dp - dl) * p.scale;
      }
      ${lines(V4, (d) => `gv${r}_${d} = fma(vec4<f32>(pr${r}), o${d}, gv${r}_${d});`, ' ')}
      ${lines(D4, (d) => `gk${r}_${d} = fma(vec4<f32>(ds${r}), q${d}, gk${r}_${d});`, ' ')}`).join('\n      ')}
    }
  }
  ${R_.map((r) => `if (j${r} < p.Lk) {
    ${lines(D4, (d) => range(4).filter((c) => 4 * d + c < D).map((c) => `dk[jc${r} * ${D}u + ${4 * d + c}u] = gk${r}_${d}[${c}];`).join(' '), '\n    ')}
    ${lines(V4, (d) => range(4).filter((c) => 4 * d + c < Dv).map((c) => `dv[jc${r} * ${Dv}u + ${4 * d + c}u] = gv${r}_${d}[${c}];`).join(' '), '\n    ')}
  }`).join('\n  ')}
}`;
}

export const attentionBackward = entry('attentionBackward', (rt: Runtime, dOut: GT, q: GT, k: GT, v: GT, out: GT, lse: GT, mask: GT | null, p: AttentionParams): { dq: GPUStorage; dk: GPUStorage; dv: GPUStorage } => {
  const g = geometry('attentionBackward', q, k, v, mask);
  const { B, H, Lq, Lk, D, Dv } = g;
  const dq = rt.alloc(B * H * Lq * D * 4);
  const dk = rt.alloc(B * H * Lk * D * 4);
  const dv = rt.alloc(B * H * Lk * Dv * 4);
  // Lq = 0 or Lk = 0 need no special case: the loops are empty and the gradients zero.
  if (B * H === 0) return { dq, dk, dv };
  const masked = mask !== null;
  const stats = rowStats(rt, dOut, out, lse, B * H * Lq, Dv);
  const Rq = rowsPerInvocation(rt, Lq);
  const BCk = tileLen('attentionBackward', 16 * (n4(D) + n4(Dv)), D, Dv);
  const u = uniforms(g, p.scale);
  const wq = grid3(rt, u, [Math.ceil(Lq / (T * Rq)), B * H, 1]);
  rt.run({
    name: 'attentionBackward',
    key: `attentionBackward:dq:D${D}:Dv${Dv}:R${Rq}:${masked ? 'mask' : 'nomask'}`,
    code: () => dqWGSL(u, D, Dv, Rq, BCk, masked),
    bindings: [q.storage, k.storage, v.storage, ...(masked ? [mask.storage] : []), dOut.storage, stats, dq],
    uniforms: u,
    workgroups: wq,
  });
  const Rk = rowsPerInvocation(rt, Lk);
  // Qs, Os tiles plus two floats per query row (Ls, Dl).
  const BCq = tileLen('attentionBackward', 16 * (n4(D) + n4(Dv)) + 8, D, Dv);
  const u2 = uniforms(g, p.scale);
  const wk = grid3(rt, u2, [Math.ceil(Lk / (T * Rk)), B * H, 1]);
  rt.run({
    name: 'attentionBackward',
    key: `attentionBackward:dkv:D${D}:Dv${Dv}:R${Rk}:${masked ? 'mask' : 'nomask'}`,
    code: () => dkvWGSL(u2, D, Dv, Rk, BCq, masked),
    bindings: [q.storage, k.storage, v.storage, ...(masked ? [mask.storage] : []), dOut.storage, stats, dk, dv],
    uniforms: u2,
    workgroups: wk,
  });
  rt.free(stats);
  return { dq, dk, dv };
});
