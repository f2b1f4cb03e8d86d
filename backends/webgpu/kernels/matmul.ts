/**
 * Batched matmul on webgpu: C[b] = op(A[b]) · op(B[b]), op = identity or transpose, with batch
 * broadcasting (Ba or Bb = 1 reads the one matrix for every batch).
 *
 * Tiling (docs/kernels/matmul.md has the diagrams, the traffic arithmetic and the measurements):
 * - A workgroup of WG invocations computes a BM x (4·CV·WG) tile of C: BM rows, and for each
 *   invocation CV groups of 4 adjacent columns (`vec4`s), strided by WG so that neighbouring
 *   invocations own neighbouring columns. Every invocation holds BM x 4·CV accumulators in
 *   registers (register blocking: 16 x 4 for the large tile).
 * - K is walked in steps of BK. At each step the workgroup stages the A tile [BM x BK] in
 *   workgroup memory (row-major, as vec4s along k); then, for every k, each invocation loads its
 *   CV vec4s of B's row k straight from global memory and does BM x CV rank-1 updates
 *   acc[i][c] += A[i][k] · B[k][c].
 *   * The A reads in the inner loop are the same address for every invocation of the workgroup
 *     (a broadcast): one workgroup-memory read serves all WG invocations.
 *   * Each element of B is used by exactly one invocation (it holds all BM rows of its columns),
 *     so staging B in workgroup memory would only add a copy: it is read once, coalesced (the
 *     invocations of a workgroup read 4·CV·WG consecutive floats of a row of B).
 * - B must be row-major [K, N] with N a multiple of 4 for the vec4 reads; when it is transposed
 *   or N is not a multiple of 4, a packing pass first writes B (zero-padded) in that layout. The
 *   pack moves K·N floats, small next to the 2·M·N·K flops of the product.
 * - Edges: rows beyond M and k beyond K are staged as zeros; the k loop stops at K; columns beyond
 *   N read clamped (valid) addresses and are never stored. So the inner loop has no branches.
 * - Grid: x over row tiles, y over column tiles, z over the batch. Consecutive workgroups share
 *   the same columns of B, which keeps that strip of B in cache. It is a logical grid, folded by
 *   runtime.ts `grid3` past 65,535 workgroups per dimension (M above 524,280 rows with BM = 8);
 *   the shader decodes the logical workgroup id first.
 * Memory traffic per workgroup and K step: BM·BK floats of A (staged once, read by all WG
 * invocations) + BK·4·CV·WG floats of B, for 2·BM·BK·4·CV·WG flops: with BM = 16, CV = 1,
 * WG = 64 that is 2 flops per byte of A + B, plus the register reuse of each B value over
 * BM = 16 rows (each B float loaded feeds 16 multiply-adds; each A float staged feeds 256).
 * Operands or results above the binding limit (128 MiB): sub-products on buffer copies of blocks of
 * batches, or of rows of A and C (`matmulChunked`), each result copied into place.
 * Why this shape: on lavapipe (a CPU) an invocation-divergent load costs ~30x a multiply-add while
 * a workgroup-uniform load is cheap, so the kernel makes the A reads uniform and maximizes the
 * multiply-adds per B load (BM). On a GPU the same layout is a 1-D blocktiled GEMM: broadcast
 * reads from workgroup memory are conflict-free and the B reads are coalesced.
 */
import type { KTensor, MatmulParams } from '../../backend.js';
import { fail } from '../../../engine/shape.js';
import { fill } from './elementwise.js';
import * as sh from './shape.js';
import { entry, grid, GRID3_ARGS, GRID3_DECODE, GRID_INDEX, grid3, Uniforms, type GPUStorage, type Runtime } from '../runtime.js';

/** The uniform fields `grid3` appends (the WGSL structs here are written out by hand). */
const GRID3_FIELDS = 'pg_gx: u32, pg_gy: u32, pg_gn: u32,';

type GT = KTensor<GPUStorage>;

/** The tile shape of one pipeline. */
export interface MatmulTile {
  /**
   * 'shared': A's K-tiles are staged in workgroup memory (for GPUs). 'stream': A is read straight
   * from global memory as vec4s along k, at addresses uniform across the workgroup (for CPU
   * adapters such as lavapipe, where workgroup-memory reads inside loops take a slow
   * per-invocation path while uniform global reads do not; see docs/kernels/matmul.md).
   */
  readonly kind: 'shared' | 'stream' | 'texture';
  /** Rows of C per workgroup (and per invocation). */
  readonly BM: number;
  /** vec4 column groups per invocation. */
  readonly CV: number;
  /** Invocations per workgroup. */
  readonly WG: number;
  /** K step staged in workgroup memory (a multiple of 4). */
  readonly BK: number;
}

export const TILE_LARGE: MatmulTile = { kind: 'shared', BM: 8, CV: 2, WG: 64, BK: 32 };
export const STREAM_LARGE: MatmulTile = { kind: 'stream', BM: 16, CV: 2, WG: 8, BK: 4 };
export const TEXTURE_LARGE: MatmulTile = { kind: 'texture', BM: 8, CV: 2, WG: 8, BK: 4 };

/** Picks the tile for a problem: narrow matrices use fewer invocations per workgroup. */
export function chooseTile(M: number, N: number, software: boolean): MatmulTile {
  const n4 = Math.ceil(N / 4);
  if (software) {
    if (n4 >= 16 && M >= 8) return TEXTURE_LARGE;
    return { kind: 'texture', BM: M >= 8 ? 8 : 4, CV: 1, WG: 8, BK: 4 };
  }
  if (n4 >= 128 && M >= 8) return TILE_LARGE;
  const WG = n4 >= 64 ? 64 : n4 >= 32 ? 32 : n4 >= 16 ? 16 : 8;
  return { kind: 'shared', BM: M >= 8 ? 8 : 4, CV: 1, WG, BK: 32 };
}

/**
 * WGSL of the 'stream' variant: C = A · B with A packed row-major [M, K4] vec4s (zeros past K)
 * and B packed [K, N4] vec4s. Bindings: a4, b, c, uniforms { M, N, K, N4, K4, strideA4, strideB4, strideC }.
 */
export function matmulStreamWGSL(tile: MatmulTile, nAligned: boolean): string {
  const { BM, CV, WG } = tile;
  const tex = tile.kind === 'texture';
  const acc = (i: number, c: number): string => `acc${i}_${c}`;
  const decl: string[] = [];
  for (let i = 0; i < BM; i++) for (let c = 0; c < CV; c++) decl.push(`var ${acc(i, c)} = vec4<f32>(0.0);`);
  const body: string[] = [];
  // BM uniform vec4 loads of A (4 k each), then for each of the 4 k: CV vec4 loads of B and BM·CV fmas.
  for (let i = 0; i < BM; i++) {
    body.push(tex
      ? `let ar${i} = textureLoad(at, vec2<u32>(q, aBase + min(row0 + ${i}u, p.M - 1u)), 0);`
      : `let ar${i} = a4[aBase + min(row0 + ${i}u, p.M - 1u) * p.K4 + q];`);
  }
  for (let j = 0; j < 4; j++) {
    body.push(`let k${j} = q * 4u + ${j}u;`);
    for (let c = 0; c < CV; c++) body.push(`let b${c}_${j} = select(vec4<f32>(0.0), b[bRow + min(k${j}, p.K - 1u) * p.N4 + bc${c}], k${j} < p.K);`);
    for (let i = 0; i < BM; i++) for (let c = 0; c < CV; c++) body.push(`${acc(i, c)} = fma(vec4<f32>(ar${i}[${j}]), b${c}_${j}, ${acc(i, c)});`);
  }
  const store: string[] = [];
  for (let i = 0; i < BM; i++) {
    const r = `row0 + ${i}u`;
    const inner: string[] = [];
    for (let c = 0; c < CV; c++) {
      if (nAligned) inner.push(`if (col${c} < p.N4) { c4[(cBase + (${r}) * p.N) / 4u + col${c}] = ${acc(i, c)}; }`);
      else for (let j = 0; j < 4; j++) inner.push(`if (col${c} * 4u + ${j}u < p.N) { c[cBase + (${r}) * p.N + col${c} * 4u + ${j}u] = ${acc(i, c)}[${j}]; }`);
    }
    store.push(`if (${r} < p.M) {\n    ${inner.join('\n    ')}\n  }`);
  }
  return `struct P { M: u32, N: u32, K: u32, N4: u32, K4: u32, strideA4: u32, strideB4: u32, strideC: u32, ${GRID3_FIELDS} }
${tex ? '@group(0) @binding(0) var at: texture_2d<f32>; // A as [rows, K4] texels' : '@group(0) @binding(0) var<storage, read> a4: array<vec4<f32>>;'}
@group(0) @binding(1) var<storage, read> b: array<vec4<f32>>;
${nAligned ? '@group(0) @binding(2) var<storage, read_write> c4: array<vec4<f32>>;' : '@group(0) @binding(2) var<storage, read_write> c: array<f32>;'}
@group(0) @binding(3) var<uniform> p: P;
@compute @workgroup_size(${WG})
fn main(${GRID3_ARGS}) {
  ${GRID3_DECODE}
  let row0 = wid.x * ${BM}u;
  let aBase = wid.z * p.strideA4;
  let bRow = wid.z * p.strideB4;
  let cBase = wid.z * p.strideC;
  ${Array.from({ length: CV }, (_, c) => `let col${c} = wid.y * ${WG * CV}u + ${c * WG}u + lid;\n  let bc${c} = min(col${c}, p.N4 - 1u);`).join('\n  ')}
  ${decl.join('\n  ')}
  for (var q = 0u; q < p.K4; q++) {
    ${body.join('\n    ')}
  }
  ${store.join('\n  ')}
}`;
}

/**
 * Writes A (any transpose, any K) into an rgba32float texture of [Ba·M rows, K4 texels], a texel
 * holding 4 consecutive k (zeros past K).
 */
function packATexture(rt: Runtime, a: GT, M: number, K: number, transA: boolean): GPUTexture {
  const ba = a.shape[0]!;
  const K4 = Math.ceil(K / 4);
  const rows = ba * M;
  const tex = rt.allocTexture(K4, rows);
  const n = K4 * rows;
  const u = new Uniforms().u32('n', n).u32('M', M).u32('K', K).u32('K4', K4).u32('trans', transA ? 1 : 0);
  rt.run({
    name: 'matmul:packATexture',
    key: 'matmul:packATexture',
    code: () => `${u.struct('P')}
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var dst: texture_storage_2d<rgba32float, write>;
@group(0) @binding(2) var<uniform> p: P;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = ${GRID_INDEX('64u')};
  if (i >= p.n) { return; }
  let q = i % p.K4;
  let row = i / p.K4;
  let m = row % p.M;
  let base = (row / p.M) * p.M * p.K;
  var v = vec4<f32>(0.0);
  for (var j = 0u; j < 4u; j++) {
    let k = q * 4u + j;
    if (k < p.K) { v[j] = select(src[base + m * p.K + k], src[base + k * p.M + m], p.trans == 1u); }
  }
  textureStore(dst, vec2<u32>(q, row), v);
}`,
    bindings: [a.storage, tex.createView()],
    uniforms: u,
    workgroups: grid(rt, Math.ceil(n / 64)),
  });
  return tex;
}

/** Packs A (any transpose, any K) into row-major [Ba, M, K4·4] with zeros past K. */
function packA(rt: Runtime, a: GT, M: number, K: number, transA: boolean): GPUStorage {
  const ba = a.shape[0]!;
  const K4 = Math.ceil(K / 4);
  const n = ba * M * K4 * 4;
  const out = rt.alloc(n * 4);
  const u = new Uniforms().u32('n', n).u32('M', M).u32('K', K).u32('W', K4 * 4).u32('trans', transA ? 1 : 0);
  rt.run({
    name: 'matmul:packA',
    key: 'matmul:packA',
    code: () => `${u.struct('P')}
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = ${GRID_INDEX('256u')};
  if (i >= p.n) { return; }
  let k = i % p.W;
  let rest = i / p.W;
  let m = rest % p.M;
  let batch = rest / p.M;
  var v = 0.0;
  if (k < p.K) {
    let base = batch * p.M * p.K;
    v = select(src[base + m * p.K + k], src[base + k * p.M + m], p.trans == 1u);
  }
  dst[i] = v;
}`,
    bindings: [a.storage, out],
    uniforms: u,
    workgroups: grid(rt, Math.ceil(n / 256)),
  });
  return out;
}

/**
 * WGSL for C = op(A) · B with B packed row-major [K, N4·4] (vec4 rows of N4 = ceil(N/4) groups).
 * Bindings: a, b (vec4), c, uniforms { M, N, K, N4, strideA, strideB4, strideC }.
 */
export function matmulWGSL(tile: MatmulTile, transA: boolean, nAligned: boolean): string {
  const { BM, CV, WG, BK } = tile;
  const BK4 = BK / 4;
  // Staging A: BM·BK scalars per K step, loaded by WG invocations, LA each, along A's contiguous dim.
  const LA = Math.ceil((BM * BK) / WG);
  const stage = transA
    ? // A stored [K, M]: contiguous along m
      `let i = e % ${BM}u; let k = e / ${BM}u;`
    : // A stored [M, K]: contiguous along k
      `let k = e % ${BK}u; let i = e / ${BK}u;`;
  const aIndex = transA ? 'aBase + gk * p.M + gm' : 'aBase + gm * p.K + gk';
  const acc = (i: number, c: number): string => `acc${i}_${c}`;
  const decl: string[] = [];
  for (let i = 0; i < BM; i++) for (let c = 0; c < CV; c++) decl.push(`var ${acc(i, c)} = vec4<f32>(0.0);`);
  // One k step (k = k0 + q·4 + j): CV loads of B (zeroed past K, whose rows may hold anything),
  // BM broadcast values of A (component j of the staged vec4s), BM·CV multiply-adds.
  const step = (j: number): string => {
    const lines: string[] = [`let kk${j} = k0 + q * 4u + ${j}u;`, `let live${j} = kk${j} < p.K;`];
    for (let c = 0; c < CV; c++) lines.push(`let b${c}_${j} = select(vec4<f32>(0.0), b[bRow + min(kk${j}, p.K - 1u) * p.N4 + bc${c}], live${j});`);
    for (let i = 0; i < BM; i++) {
      for (let c = 0; c < CV; c++) lines.push(`${acc(i, c)} = fma(vec4<f32>(a${i}[${j}]), b${c}_${j}, ${acc(i, c)});`);
    }
    return lines.join('\n      ');
  };
  const store: string[] = [];
  for (let i = 0; i < BM; i++) {
    const r = `row0 + ${i}u`;
    const inner: string[] = [];
    for (let c = 0; c < CV; c++) {
      if (nAligned) inner.push(`if (col${c} < p.N4) { c4[(cBase + (${r}) * p.N) / 4u + col${c}] = ${acc(i, c)}; }`);
      else {
        for (let j = 0; j < 4; j++) {
          inner.push(`if (col${c} * 4u + ${j}u < p.N) { c[cBase + (${r}) * p.N + col${c} * 4u + ${j}u] = ${acc(i, c)}[${j}]; }`);
        }
      }
    }
    store.push(`if (${r} < p.M) {\n    ${inner.join('\n    ')}\n  }`);
  }
  const cDecl = nAligned
    ? '@group(0) @binding(2) var<storage, read_write> c4: array<vec4<f32>>;'
    : '@group(0) @binding(2) var<storage, read_write> c: array<f32>;';
  return `struct P { M: u32, N: u32, K: u32, N4: u32, strideA: u32, strideB4: u32, strideC: u32, ${GRID3_FIELDS} }
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<vec4<f32>>;
${cDecl}
@group(0) @binding(3) var<uniform> p: P;
// The staged A tile: row i holds A[row0 + i][k0 .. k0 + BK) as ${BK4} vec4s.
var<workgroup> As: array<vec4<f32>, ${BM * BK4}>;
@compute @workgroup_size(${WG})
fn main(${GRID3_ARGS}) {
  ${GRID3_DECODE}
  let row0 = wid.x * ${BM}u;
  let aBase = wid.z * p.strideA;
  let bRow = wid.z * p.strideB4;
  let cBase = wid.z * p.strideC;
  // This invocation's column groups, clamped to valid addresses (extra columns are not stored).
  ${Array.from({ length: CV }, (_, c) => `let col${c} = wid.y * ${WG * CV}u + ${c * WG}u + lid;\n  let bc${c} = min(col${c}, p.N4 - 1u);`).join('\n  ')}
  ${decl.join('\n  ')}
  for (var k0 = 0u; k0 < p.K; k0 += ${BK}u) {
    // 1. stage A[row0 .. row0+BM) x [k0 .. k0+BK) in workgroup memory (zeros outside A)
    workgroupBarrier();
    for (var l = 0u; l < ${LA}u; l++) {
      let e = lid + l * ${WG}u;
      if (e < ${BM * BK}u) {
        ${stage}
        let gm = row0 + i;
        let gk = k0 + k;
        var v = 0.0;
        if (gm < p.M && gk < p.K) { v = a[${aIndex}]; }
        As[i * ${BK4}u + k / 4u][k % 4u] = v;
      }
    }
    workgroupBarrier();
    // 2. rank-1 updates, 4 k at a time (the staged tile is zero past K, and so is b)
    let kc4 = (min(${BK}u, p.K - k0) + 3u) / 4u;
    for (var q = 0u; q < kc4; q++) {
      ${Array.from({ length: BM }, (_, i) => `let a${i} = As[${i * BK4}u + q];`).join('\n      ')}
      ${[0, 1, 2, 3].map(step).join('\n      ')}
    }
  }
  ${store.join('\n  ')}
}`;
}

/** Packs B (any transpose, any N) into row-major [Bb, K, N4·4] with zero columns past N. */
function packB(rt: Runtime, b: GT, K: number, N: number, transB: boolean): GPUStorage {
  const bb = b.shape[0]!;
  const N4 = Math.ceil(N / 4);
  const n = bb * K * N4 * 4;
  const out = rt.alloc(n * 4);
  const u = new Uniforms().u32('n', n).u32('K', K).u32('N', N).u32('W', N4 * 4).u32('trans', transB ? 1 : 0);
  rt.run({
    name: 'matmul:packB',
    key: 'matmul:packB',
    code: () => `${u.struct('P')}
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = ${GRID_INDEX('256u')};
  if (i >= p.n) { return; }
  let col = i % p.W;
  let rest = i / p.W;
  let k = rest % p.K;
  let batch = rest / p.K;
  var v = 0.0;
  if (col < p.N) {
    let base = batch * p.K * p.N;
    v = select(src[base + k * p.N + col], src[base + col * p.K + k], p.trans == 1u);
  }
  dst[i] = v;
}`,
    bindings: [b.storage, out],
    uniforms: u,
    workgroups: grid(rt, Math.ceil(n / 256)),
  });
  return out;
}

/** Runs the matmul with an explicit tile (exported for benchmarks and for tests of each tile). */
export const matmulWithTile = entry('matmul', (rt: Runtime, a: GT, b: GT, p: MatmulParams, tile: MatmulTile): GPUStorage => {
  if (a.dtype !== 'float32' || b.dtype !== 'float32') fail('matmul', 'float32 operands on webgpu', `${a.dtype} and ${b.dtype}`);
  const [ba, a1, a2] = a.shape as [number, number, number];
  const [bb, b1, b2] = b.shape as [number, number, number];
  const M = p.transA ? a2 : a1;
  const K = p.transA ? a1 : a2;
  const N = p.transB ? b1 : b2;
  const B = Math.max(ba, bb);
  if (B * M * N === 0) return rt.alloc(0);
  if (K === 0) return fill(rt, [B, M, N], 'float32', 0); // an empty sum
  const chunked = matmulChunked(rt, a, b, p, tile, { ba, bb, B, M, N, K });
  if (chunked) return chunked;
  const out2 = rt.alloc(B * M * N * 4);
  const N4 = Math.ceil(N / 4);
  const packed = p.transB || N % 4 !== 0;
  const bv = packed ? packB(rt, b, K, N, p.transB) : b.storage;
  const { BM, CV, WG, BK } = tile;
  const nAligned = N % 4 === 0;
  const maxTex = rt.limits.maxTextureDimension2D;
  const K4 = Math.ceil(K / 4);
  // The texture variant needs A to fit one texture; otherwise the buffer variant reads the same way.
  const kind = tile.kind === 'texture' && (K4 > maxTex || ba * M > maxTex) ? 'stream' : tile.kind;
  if (kind === 'stream' || kind === 'texture') {
    let av: GPUStorage | null = null;
    let at: GPUTexture | null = null;
    if (kind === 'texture') at = packATexture(rt, a, M, K, p.transA);
    else av = p.transA || K % 4 !== 0 ? packA(rt, a, M, K, p.transA) : a.storage;
    // aBase: the texture row (texture) or the vec4 index (buffer) of this batch's A
    const us = new Uniforms().u32('M', M).u32('N', N).u32('K', K).u32('N4', N4).u32('K4', K4)
      .u32('strideA4', ba === 1 ? 0 : kind === 'texture' ? M : M * K4).u32('strideB4', bb === 1 ? 0 : K * N4).u32('strideC', M * N);
    const t2: MatmulTile = { ...tile, kind };
    const workgroups = grid3(rt, us, [Math.ceil(M / BM), Math.ceil(N4 / (WG * CV)), B]);
    rt.run({
      name: 'matmul',
      key: `matmul:${kind}:${BM}x${CV}x${WG}:${nAligned ? 'n4' : 'n1'}`,
      code: () => matmulStreamWGSL(t2, nAligned),
      bindings: [at ? at.createView() : av!, bv, out2],
      uniforms: us,
      workgroups,
    });
    if (at) rt.freeTexture(at);
    if (av && av !== a.storage) rt.free(av);
    if (bv !== b.storage) rt.free(bv);
    return out2;
  }
  const u = new Uniforms().u32('M', M).u32('N', N).u32('K', K).u32('N4', N4)
    .u32('strideA', ba === 1 ? 0 : M * K).u32('strideB4', bb === 1 ? 0 : K * N4).u32('strideC', M * N);
  const workgroups = grid3(rt, u, [Math.ceil(M / BM), Math.ceil(N4 / (WG * CV)), B]);
  rt.run({
    name: 'matmul',
    key: `matmul:${BM}x${CV}x${WG}x${BK}:${p.transA ? 'T' : 'N'}:${nAligned ? 'n4' : 'n1'}`,
    code: () => matmulWGSL(tile, p.transA, nAligned),
    bindings: [a.storage, bv, out2],
    uniforms: u,
    workgroups,
  });
  if (bv !== b.storage) rt.free(bv);
  return out2;
});

/** A new storage holding elements [off, off + n) of `s` (a buffer copy: no binding limit). */
function copyOut(rt: Runtime, s: GPUStorage, off: number, n: number): GPUStorage {
  const out = rt.alloc(n * 4);
  rt.copy(s, off * 4, out, 0, n * 4);
  return out;
}

/**
 * Operands or result above the binding limit: the product runs as sub-products on buffer copies
 * (copyBufferToBuffer, which has no binding limit) of blocks of whole batches, or, when one batch
 * is too large, of blocks of rows of A and C (B of one batch must fit; a transposed A is first
 * transposed by the windowed strided copy). Each block's result is copied into place. Costs one
 * extra read and write of A and C. Returns null when everything fits (the direct path).
 */
function matmulChunked(rt: Runtime, a: GT, b: GT, p: MatmulParams, tile: MatmulTile, d: { ba: number; bb: number; B: number; M: number; N: number; K: number }): GPUStorage | null {
  const { ba, bb, B, M, N, K } = d;
  const K4 = Math.ceil(K / 4) * 4;
  const N4 = Math.ceil(N / 4) * 4;
  const cap = Math.floor(rt.maxBindingBytes / 4);
  // Elements per batch a kernel binds: A (packed to K4), B (packed to N4), C.
  const perA = M * K4;
  const perB = K * N4;
  const perC = M * N;
  const fits = (n: number): boolean => n <= cap;
  if (fits(ba * perA) && fits(bb * perB) && fits(B * perC)) return null;
  const out = rt.alloc(B * M * N * 4);
  const sub = (av: GPUStorage, aShape: number[], bv: GPUStorage, bShape: number[], q: MatmulParams, dst: number, n: number): void => {
    const c = matmulWithTile(rt, { storage: av, shape: aShape, dtype: 'float32' }, { storage: bv, shape: bShape, dtype: 'float32' }, q, tile);
    rt.copy(c, 0, out, dst * 4, n * 4);
    rt.free(c);
    if (av !== a.storage) rt.free(av);
    if (bv !== b.storage) rt.free(bv);
  };
  const aShape = a.shape as number[];
  const bShape = b.shape as number[];
  const per = Math.max(ba > 1 ? perA : 0, bb > 1 ? perB : 0, perC);
  if (fits(per) && (ba > 1 || fits(perA)) && (bb > 1 || fits(perB))) {
    // blocks of zc whole batches (a broadcast operand, one batch, is used as it is)
    const zc = Math.max(1, Math.floor(cap / per));
    for (let z0 = 0; z0 < B; z0 += zc) {
      const nz = Math.min(zc, B - z0);
      const av = ba > 1 ? copyOut(rt, a.storage, z0 * M * K, nz * M * K) : a.storage;
      const bv = bb > 1 ? copyOut(rt, b.storage, z0 * K * N, nz * K * N) : b.storage;
      sub(av, [ba > 1 ? nz : 1, aShape[1]!, aShape[2]!], bv, [bb > 1 ? nz : 1, bShape[1]!, bShape[2]!], p, z0 * M * N, nz * M * N);
    }
    return out;
  }
  // blocks of rows of one batch: B of a batch must fit, A row-major
  if (!fits(perB)) throw rt.tooLarge(K * N * 4, `one matrix of B is ${K * N * 4} bytes; matmul splits A and C into row blocks only`);
  let aRows = a.storage;
  if (p.transA) aRows = sh.permute(rt, a, [0, 2, 1]);
  const mc = Math.max(1, Math.floor(cap / Math.max(K4, N)));
  for (let z = 0; z < B; z++) {
    const za = ba > 1 ? z : 0;
    const bv = bb > 1 ? copyOut(rt, b.storage, z * K * N, K * N) : b.storage;
    for (let m0 = 0; m0 < M; m0 += mc) {
      const m = Math.min(mc, M - m0);
      const av = copyOut(rt, aRows, (za * M + m0) * K, m * K);
      const c = matmulWithTile(rt, { storage: av, shape: [1, m, K], dtype: 'float32' }, { storage: bv, shape: [1, bShape[1]!, bShape[2]!], dtype: 'float32' }, { ...p, transA: false }, tile);
      rt.copy(c, 0, out, (z * M + m0) * N * 4, m * N * 4);
      rt.free(c);
      rt.free(av);
    }
    if (bv !== b.storage) rt.free(bv);
  }
  if (aRows !== a.storage) rt.free(aRows);
  return out;
}

export const matmul = entry('matmul', (rt: Runtime, a: GT, b: GT, p: MatmulParams): GPUStorage => {
  const M = p.transA ? a.shape[2]! : a.shape[1]!;
  const N = p.transB ? b.shape[1]! : b.shape[2]!;
  return matmulWithTile(rt, a, b, p, chooseTile(M, N, rt.software));
});
