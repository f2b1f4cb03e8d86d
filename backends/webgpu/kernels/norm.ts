/**
 * layerNorm and batchNorm, forward and backward, on webgpu (float32).
 *
 * Statistics use Welford's algorithm: each invocation keeps a running (count n, mean, M2) over its
 * share of the values (x - mean is taken against the running mean, so no large sum of squares is
 * ever formed and cancelled), and the partial triples are merged pairwise with Chan's formula
 *     n = na + nb,  δ = mb - ma,  mean = ma + δ·nb/n,  M2 = Ma + Mb + δ²·na·nb/n
 * in a tree over workgroup memory (log2(WG) halving steps, a barrier each). variance = M2 / n
 * (biased, as PyTorch normalizes with it).
 *
 * layerNorm (x viewed as [rows, cols]): one workgroup per row. Invocation `lid` folds columns
 * lid, lid + WG, ... (neighbouring invocations read neighbouring words), then the tree merge gives
 * the row's mean and rstd = 1/sqrt(var + eps), and the same invocations write y. WG is 32, 64, 128
 * or 256: about 8 columns per invocation, so short rows do not leave most of a workgroup idle.
 * Traffic: x read twice and y written once per element.
 *
 * layerNormBackward: one workgroup per row sums g = dy·gamma and g·x̂ with the same tree (plain
 * sums), then writes dx = rstd·(g - mean(g) - x̂·mean(g·x̂)). dGamma = Σ_rows dy·x̂ and dBeta = Σ_rows dy
 * are column sums: one invocation per (column, block of ≤ 256 rows) loops down its block (adjacent
 * invocations read adjacent columns). With more than one block, a second pass adds the blocks.
 * No atomics anywhere: every output has exactly one writer.
 *
 * batchNorm (x viewed as [N, C, S]; channel c holds the N·S values x[i, c, k]):
 * - batchNormStats: workgroups over (channel, chunk of CHUNK = 4096 values); each does the Welford
 *   fold + tree merge of its chunk. A single chunk writes mean/variance at once; otherwise the
 *   (n, mean, M2) triples go to a [C, chunks, 3] buffer and a second pass (one workgroup per
 *   channel) merges them with the same formula — the parallel Welford merge, twice.
 * - batchNormForward: elementwise, one invocation per value; tensors above the binding limit run in
 *   ranges of values, over windows of x and y (layerNorm splits over rows; the statistics and
 *   backward kernels refuse them, naming the op).
 * - batchNormBackward: Σ dy and Σ dy·x̂ per channel with the same chunk layout (plain sums, two
 *   passes when there are several chunks); they are dBeta and dGamma. Then an elementwise pass:
 *   training: dx = gamma·rstd·(dy - mean(dy) - x̂·mean(dy·x̂)); eval: dx = gamma·rstd·dy.
 * Grids (rows, channel chunks, elements) fold into 2-D/3-D past 65,535 workgroups; every kernel
 * returns past its count.
 * Tensors above the binding limit: layerNorm (forward) runs on blocks of rows (views,
 * Runtime.splitOuter), batchNormForward on ranges of elements; the others are not split.
 */
import type { KTensor } from '../../backend.js';
import { fail } from '../../../engine/shape.js';
import { entry, GRID_GROUP, GRID_INDEX, grid, Uniforms, type GPUStorage, type Runtime } from '../runtime.js';

type GT = KTensor<GPUStorage>;

/** Values per workgroup in the per-channel batchNorm reductions. */
const CHUNK = 4096;
/** Invocations per workgroup for the batchNorm reductions. */
const BN_WG = 256;
/** Rows per invocation in the dGamma/dBeta column sums of layerNormBackward. */
const ROW_BLOCK = 256;

function requireF32(op: string, ...ts: (GT | null)[]): void {
  for (const t of ts) if (t && t.dtype !== 'float32') fail(op, 'float32 tensors on webgpu', t.dtype);
}

/** Workgroup size for one row of `cols` values: about 8 values per invocation, 32..256. */
function rowWorkgroup(cols: number): number {
  let wg = 32;
  while (wg < 256 && wg * 8 < cols) wg *= 2;
  return wg;
}

/**
 * WGSL for the tree merge of Welford triples held in workgroup arrays wn/wm/wM (size WG) at the end
 * of which slot 0 holds the workgroup's (n, mean, M2). Expects `lid` and the triple (tn, tm, tM)
 * of this invocation.
 */
function welfordTree(WG: number): string {
  return `wn[lid] = tn; wm[lid] = tm; wM[lid] = tM;
  workgroupBarrier();
  for (var h = ${WG / 2}u; h > 0u; h = h >> 1u) {
    if (lid < h) {
      let na = wn[lid]; let nb = wn[lid + h];
      let n = na + nb;
      if (nb > 0.0 && n > 0.0) {
        let d = wm[lid + h] - wm[lid];
        wm[lid] = wm[lid] + d * (nb / n);
        wM[lid] = wM[lid] + wM[lid + h] + d * d * (na * nb / n);
        wn[lid] = n;
      }
    }
    workgroupBarrier();
  }`;
}

/** WGSL: tree sum of the workgroup arrays sa/sb (size WG); slot 0 ends with the totals. */
function sumTree(WG: number): string {
  return `workgroupBarrier();
  for (var h = ${WG / 2}u; h > 0u; h = h >> 1u) {
    if (lid < h) { sa[lid] = sa[lid] + sa[lid + h]; sb[lid] = sb[lid] + sb[lid + h]; }
    workgroupBarrier();
  }`;
}

// ------------------------------------------------------------------------------ layerNorm

export const layerNorm = entry('layerNorm', (rt: Runtime, x: GT, gamma: GT | null, beta: GT | null, rows: number, cols: number, eps: number): { y: GPUStorage; mean: GPUStorage; rstd: GPUStorage } => {
  requireF32('layerNorm', x, gamma, beta);
  const y = rt.alloc(rows * cols * 4);
  const mean = rt.alloc(rows * 4);
  const rstd = rt.alloc(rows * 4);
  if (rows === 0) return { y, mean, rstd };
  const WG = rowWorkgroup(cols);
  const hg = gamma !== null;
  const hb = beta !== null;
  // Tensors above the binding limit: chunks of rows (views of x, y, mean, rstd; Runtime.splitOuter).
  rt.splitOuter(rows, [[x.storage, cols], [y, cols], [mean, 1], [rstd, 1]], 'row', (count, [xs, ys, ms, rs]) => {
    const u = new Uniforms().u32('rows', count).u32('cols', cols).f32('eps', eps);
    const bindings = [xs!, ...(hg ? [gamma.storage] : []), ...(hb ? [beta.storage] : []), ys!, ms!, rs!];
    let bi = 0;
    const decl = [
      `@group(0) @binding(${bi++}) var<storage, read> x: array<f32>;`,
      hg ? `@group(0) @binding(${bi++}) var<storage, read> gamma: array<f32>;` : '',
      hb ? `@group(0) @binding(${bi++}) var<storage, read> beta: array<f32>;` : '',
      `@group(0) @binding(${bi++}) var<storage, read_write> y: array<f32>;`,
      `@group(0) @binding(${bi++}) var<storage, read_write> meanOut: array<f32>;`,
      `@group(0) @binding(${bi++}) var<storage, read_write> rstdOut: array<f32>;`,
      `@group(0) @binding(${bi++}) var<uniform> p: P;`,
    ].join('\n');
    rt.run({
      name: 'layerNorm',
      key: `layerNorm:${WG}:${hg ? 'g' : ''}${hb ? 'b' : ''}`,
      code: () => `${u.struct('P')}
${decl}
var<workgroup> wn: array<f32, ${WG}>;
var<workgroup> wm: array<f32, ${WG}>;
var<workgroup> wM: array<f32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = ${GRID_GROUP};
  if (row >= p.rows) { return; }            // uniform per workgroup: barriers stay uniform
  let base = row * p.cols;
  // 1. Welford over this invocation's columns.
  var tn = 0.0; var tm = 0.0; var tM = 0.0;
  for (var j = lid; j < p.cols; j += ${WG}u) {
    let v = x[base + j];
    tn += 1.0;
    let d = v - tm;
    tm += d / tn;
    tM += d * (v - tm);
  }
  // 2. Merge the WG partial triples.
  ${welfordTree(WG)}
  let mu = wm[0];
  let rs = 1.0 / sqrt(wM[0] / f32(p.cols) + p.eps);
  if (lid == 0u) { meanOut[row] = mu; rstdOut[row] = rs; }
  // 3. Normalize.
  for (var j = lid; j < p.cols; j += ${WG}u) {
    var t = (x[base + j] - mu) * rs;
    ${hg ? 't = t * gamma[j];' : ''}
    ${hb ? 't = t + beta[j];' : ''}
    y[base + j] = t;
  }
}`,
      bindings,
      uniforms: u,
      workgroups: grid(rt, count),
    });
  });
  return { y, mean, rstd };
});

export const layerNormBackward = entry('layerNormBackward', (rt: Runtime, dy: GT, x: GT, mean: GT, rstd: GT, gamma: GT | null, rows: number, cols: number): { dx: GPUStorage; dGamma: GPUStorage | null; dBeta: GPUStorage | null } => {
  requireF32('layerNormBackward', dy, x, mean, rstd, gamma);
  const dx = rt.alloc(rows * cols * 4);
  const hg = gamma !== null;
  const dGamma = hg ? rt.alloc(cols * 4) : null;
  const dBeta = hg ? rt.alloc(cols * 4) : null;
  if (rows * cols === 0) {
    if (hg && cols > 0) zeroFill(rt, [dGamma!, dBeta!], cols);
    return { dx, dGamma, dBeta };
  }
  const WG = rowWorkgroup(cols);
  const u = new Uniforms().u32('rows', rows).u32('cols', cols);
  rt.run({
    name: 'layerNormBackward',
    key: `layerNormBackward:dx:${WG}:${hg ? 'g' : ''}`,
    code: () => `${u.struct('P')}
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read> rstd: array<f32>;
${hg ? '@group(0) @binding(4) var<storage, read> gamma: array<f32>;' : ''}
@group(0) @binding(${hg ? 5 : 4}) var<storage, read_write> dx: array<f32>;
@group(0) @binding(${hg ? 6 : 5}) var<uniform> p: P;
var<workgroup> sa: array<f32, ${WG}>;
var<workgroup> sb: array<f32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = ${GRID_GROUP};
  if (row >= p.rows) { return; }
  let base = row * p.cols;
  let mu = mean[row];
  let rs = rstd[row];
  // Σ g and Σ g·x̂ over the row, g = dy·gamma.
  var tg = 0.0; var tgx = 0.0;
  for (var j = lid; j < p.cols; j += ${WG}u) {
    let g = dy[base + j]${hg ? ' * gamma[j]' : ''};
    tg += g;
    tgx += g * (x[base + j] - mu) * rs;
  }
  sa[lid] = tg; sb[lid] = tgx;
  ${sumTree(WG)}
  let mg = sa[0] / f32(p.cols);
  let mgx = sb[0] / f32(p.cols);
  for (var j = lid; j < p.cols; j += ${WG}u) {
    let g = dy[base + j]${hg ? ' * gamma[j]' : ''};
    let xh = (x[base + j] - mu) * rs;
    dx[base + j] = rs * (g - mg - xh * mgx);
  }
}`,
    bindings: [dy.storage, x.storage, mean.storage, rstd.storage, ...(hg ? [gamma.storage] : []), dx],
    uniforms: u,
    workgroups: grid(rt, rows),
  });
  if (!hg) return { dx, dGamma, dBeta };

  // dGamma[j] = Σ_r dy·x̂, dBeta[j] = Σ_r dy: invocations over (column, block of rows).
  const blocks = Math.ceil(rows / ROW_BLOCK);
  const single = blocks === 1;
  // With several blocks the partials go to [blocks, 2, cols], then a second pass adds the blocks.
  const partial = single ? null : rt.alloc(blocks * 2 * cols * 4);
  const uc = new Uniforms().u32('rows', rows).u32('cols', cols).u32('blocks', blocks);
  const n = cols * blocks;
  rt.run({
    name: 'layerNormBackward',
    key: `layerNormBackward:dgamma:${single ? 'direct' : 'partial'}`,
    code: () => `${uc.struct('P')}
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read> rstd: array<f32>;
${single
    ? `@group(0) @binding(4) var<storage, read_write> dGamma: array<f32>;
@group(0) @binding(5) var<storage, read_write> dBeta: array<f32>;
@group(0) @binding(6) var<uniform> p: P;`
    : `@group(0) @binding(4) var<storage, read_write> part: array<f32>;
@group(0) @binding(5) var<uniform> p: P;`}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = ${GRID_INDEX('64u')};
  if (i >= p.cols * p.blocks) { return; }
  let j = i % p.cols;
  let blk = i / p.cols;
  let r1 = min(p.rows, (blk + 1u) * ${ROW_BLOCK}u);
  var sg = 0.0; var sbt = 0.0;
  for (var r = blk * ${ROW_BLOCK}u; r < r1; r++) {
    let d = dy[r * p.cols + j];
    sg += d * (x[r * p.cols + j] - mean[r]) * rstd[r];
    sbt += d;
  }
  ${single ? 'dGamma[j] = sg; dBeta[j] = sbt;' : 'part[(blk * 2u) * p.cols + j] = sg; part[(blk * 2u + 1u) * p.cols + j] = sbt;'}
}`,
    bindings: [dy.storage, x.storage, mean.storage, rstd.storage, ...(single ? [dGamma!, dBeta!] : [partial!])],
    uniforms: uc,
    workgroups: grid(rt, Math.ceil(n / 64)),
  });
  if (partial) {
    const us = new Uniforms().u32('cols', cols).u32('blocks', blocks);
    rt.run({
      name: 'layerNormBackward',
      key: 'layerNormBackward:dgamma:merge',
      code: () => `${us.struct('P')}
@group(0) @binding(0) var<storage, read> part: array<f32>;
@group(0) @binding(1) var<storage, read_write> dGamma: array<f32>;
@group(0) @binding(2) var<storage, read_write> dBeta: array<f32>;
@group(0) @binding(3) var<uniform> p: P;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let j = ${GRID_INDEX('64u')};
  if (j >= p.cols) { return; }
  var sg = 0.0; var sbt = 0.0;
  for (var b = 0u; b < p.blocks; b++) {
    sg += part[(b * 2u) * p.cols + j];
    sbt += part[(b * 2u + 1u) * p.cols + j];
  }
  dGamma[j] = sg; dBeta[j] = sbt;
}`,
      bindings: [partial, dGamma!, dBeta!],
      uniforms: us,
      workgroups: grid(rt, Math.ceil(cols / 64)),
    });
    rt.free(partial);
  }
  return { dx, dGamma, dBeta };
});

/** Sets the first `n` elements of each storage to 0. */
function zeroFill(rt: Runtime, outs: GPUStorage[], n: number): void {
  for (const o of outs) {
    rt.run({
      name: 'norm:zero',
      key: 'norm:zero',
      code: () => `struct P { n: u32, }
@group(0) @binding(0) var<storage, read_write> o: array<f32>;
@group(0) @binding(1) var<uniform> p: P;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = ${GRID_INDEX('64u')};
  if (i < p.n) { o[i] = 0.0; }
}`,
      bindings: [o],
      uniforms: new Uniforms().u32('n', n),
      workgroups: grid(rt, Math.ceil(n / 64)),
    });
  }
}

// ------------------------------------------------------------------------------ batchNorm

/** WGSL: the address of the e-th value (e < N·S) of channel c in x viewed as [N, C, S]. */
const CHANNEL_ADDR = `fn addr(c: u32, e: u32) -> u32 { return ((e / p.s) * p.c + c) * p.s + e % p.s; }`;

export const batchNormStats = entry('batchNormStats', (rt: Runtime, x: GT, n: number, c: number, s: number): { mean: GPUStorage; variance: GPUStorage } => {
  requireF32('batchNormStats', x);
  const mean = rt.alloc(c * 4);
  const variance = rt.alloc(c * 4);
  const count = n * s;
  if (c === 0) return { mean, variance };
  const chunks = Math.max(1, Math.ceil(count / CHUNK));
  const single = chunks === 1;
  const part = single ? null : rt.alloc(c * chunks * 3 * 4);
  const WG = BN_WG;
  const u = new Uniforms().u32('n', n).u32('c', c).u32('s', s).u32('chunks', chunks);
  // Pass 1: Welford over (channel, chunk).
  rt.run({
    name: 'batchNormStats',
    key: `batchNormStats:fold:${single ? 'direct' : 'partial'}`,
    code: () => `${u.struct('P')}
@group(0) @binding(0) var<storage, read> x: array<f32>;
${single
    ? `@group(0) @binding(1) var<storage, read_write> meanOut: array<f32>;
@group(0) @binding(2) var<storage, read_write> varOut: array<f32>;
@group(0) @binding(3) var<uniform> p: P;`
    : `@group(0) @binding(1) var<storage, read_write> part: array<f32>;
@group(0) @binding(2) var<uniform> p: P;`}
var<workgroup> wn: array<f32, ${WG}>;
var<workgroup> wm: array<f32, ${WG}>;
var<workgroup> wM: array<f32, ${WG}>;
${CHANNEL_ADDR}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let g = ${GRID_GROUP};
  if (g >= p.c * p.chunks) { return; }
  let ch = g / p.chunks;
  let chunk = g % p.chunks;
  let e1 = min(p.n * p.s, (chunk + 1u) * ${CHUNK}u);
  var tn = 0.0; var tm = 0.0; var tM = 0.0;
  for (var e = chunk * ${CHUNK}u + lid; e < e1; e += ${WG}u) {
    let v = x[addr(ch, e)];
    tn += 1.0;
    let d = v - tm;
    tm += d / tn;
    tM += d * (v - tm);
  }
  ${welfordTree(WG)}
  if (lid == 0u) {
    ${single
    ? 'meanOut[ch] = wm[0]; varOut[ch] = wM[0] / wn[0];'
    : 'part[g * 3u] = wn[0]; part[g * 3u + 1u] = wm[0]; part[g * 3u + 2u] = wM[0];'}
  }
}`,
    bindings: [x.storage, ...(single ? [mean, variance] : [part!])],
    uniforms: u,
    workgroups: grid(rt, c * chunks),
  });
  if (part) {
    // Pass 2: merge the chunk triples of each channel.
    const W2 = 64;
    const u2 = new Uniforms().u32('c', c).u32('chunks', chunks);
    rt.run({
      name: 'batchNormStats',
      key: 'batchNormStats:merge',
      code: () => `${u2.struct('P')}
@group(0) @binding(0) var<storage, read> part: array<f32>;
@group(0) @binding(1) var<storage, read_write> meanOut: array<f32>;
@group(0) @binding(2) var<storage, read_write> varOut: array<f32>;
@group(0) @binding(3) var<uniform> p: P;
var<workgroup> wn: array<f32, ${W2}>;
var<workgroup> wm: array<f32, ${W2}>;
var<workgroup> wM: array<f32, ${W2}>;
@compute @workgroup_size(${W2})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let ch = ${GRID_GROUP};
  if (ch >= p.c) { return; }
  var tn = 0.0; var tm = 0.0; var tM = 0.0;
  for (var k = lid; k < p.chunks; k += ${W2}u) {
    let q = (ch * p.chunks + k) * 3u;
    let nb = part[q];
    let n = tn + nb;
    let d = part[q + 1u] - tm;
    tm += d * (nb / n);
    tM += part[q + 2u] + d * d * (tn * nb / n);
    tn = n;
  }
  ${welfordTree(W2)}
  if (lid == 0u) { meanOut[ch] = wm[0]; varOut[ch] = wM[0] / wn[0]; }
}`,
      bindings: [part, mean, variance],
      uniforms: u2,
      workgroups: grid(rt, c),
    });
    rt.free(part);
  }
  return { mean, variance };
});

/** Elementwise over x [N, C, S]; tensors above the binding limit run in chunks of x and y (windows). */
export const batchNormForward = entry('batchNormForward', (rt: Runtime, x: GT, mean: GT, variance: GT, gamma: GT | null, beta: GT | null, n: number, c: number, s: number, eps: number): GPUStorage => {
  requireF32('batchNormForward', x, mean, variance, gamma, beta);
  const total = n * c * s;
  const y = rt.alloc(total * 4);
  if (total === 0) return y;
  const hg = gamma !== null;
  const hb = beta !== null;
  const u = new Uniforms().u32('total', total).u32('c', c).u32('s', s).f32('eps', eps).u32('i0', 0).u32('xb', 0).u32('yb', 0);
  let bi = 3;
  const decl = [
    hg ? `@group(0) @binding(${bi++}) var<storage, read> gamma: array<f32>;` : '',
    hb ? `@group(0) @binding(${bi++}) var<storage, read> beta: array<f32>;` : '',
    `@group(0) @binding(${bi++}) var<storage, read_write> y: array<f32>;`,
    `@group(0) @binding(${bi++}) var<uniform> p: P;`,
  ].join('\n');
  const whole = (a: number, b: number): [number, number] => [a, b];
  for (const [i0, i1] of rt.planRanges(total, [{ s: x.storage, span: whole }, { s: y, span: whole }])) {
    const xw = rt.window(x.storage, i0, i1);
    const yw = rt.window(y, i0, i1);
    u.set('total', i1 - i0).set('i0', i0).set('xb', xw.base).set('yb', yw.base);
    rt.run({
      name: 'batchNormForward',
      key: `batchNormForward:${hg ? 'g' : ''}${hb ? 'b' : ''}`,
      code: () => `${u.struct('P')}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> mean: array<f32>;
@group(0) @binding(2) var<storage, read> variance: array<f32>;
${decl}
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let li = ${GRID_INDEX('256u')};
  if (li >= p.total) { return; }             // p.total: elements of this chunk, from p.i0
  let i = p.i0 + li;
  let ch = (i / p.s) % p.c;
  let rs = 1.0 / sqrt(variance[ch] + p.eps);
  var t = (x[i - p.xb] - mean[ch]) * rs;
  ${hg ? 't = t * gamma[ch];' : ''}
  ${hb ? 't = t + beta[ch];' : ''}
  y[i - p.yb] = t;
}`,
      bindings: [xw.binding, mean.storage, variance.storage, ...(hg ? [gamma.storage] : []), ...(hb ? [beta.storage] : []), yw.binding],
      uniforms: u,
      workgroups: grid(rt, Math.ceil((i1 - i0) / 256)),
    });
  }
  return y;
});

export const batchNormBackward = entry('batchNormBackward', (rt: Runtime, dy: GT, x: GT, mean: GT, variance: GT, gamma: GT | null, n: number, c: number, s: number, eps: number, training: boolean): { dx: GPUStorage; dGamma: GPUStorage | null; dBeta: GPUStorage | null } => {
  requireF32('batchNormBackward', dy, x, mean, variance, gamma);
  const total = n * c * s;
  const dx = rt.alloc(total * 4);
  const hg = gamma !== null;
  // Σ dy·x̂ and Σ dy per channel: dGamma and dBeta when gamma is given, scratch otherwise.
  const needSums = hg || training;
  if (c === 0 || (!needSums && total === 0)) return { dx, dGamma: hg ? rt.alloc(0) : null, dBeta: hg ? rt.alloc(0) : null };
  const sdyx = rt.alloc(c * 4);
  const sdy = rt.alloc(c * 4);
  if (needSums) {
    const count = n * s;
    const chunks = Math.max(1, Math.ceil(count / CHUNK));
    const single = chunks === 1;
    const part = single ? null : rt.alloc(c * chunks * 2 * 4);
    const WG = BN_WG;
    const u = new Uniforms().u32('n', n).u32('c', c).u32('s', s).u32('chunks', chunks).f32('eps', eps);
    rt.run({
      name: 'batchNormBackward',
      key: `batchNormBackward:sums:${single ? 'direct' : 'partial'}`,
      code: () => `${u.struct('P')}
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read> variance: array<f32>;
${single
    ? `@group(0) @binding(4) var<storage, read_write> sdyxOut: array<f32>;
@group(0) @binding(5) var<storage, read_write> sdyOut: array<f32>;
@group(0) @binding(6) var<uniform> p: P;`
    : `@group(0) @binding(4) var<storage, read_write> part: array<f32>;
@group(0) @binding(5) var<uniform> p: P;`}
var<workgroup> sa: array<f32, ${WG}>;
var<workgroup> sb: array<f32, ${WG}>;
${CHANNEL_ADDR}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let g = ${GRID_GROUP};
  if (g >= p.c * p.chunks) { return; }
  let ch = g / p.chunks;
  let chunk = g % p.chunks;
  let mu = mean[ch];
  let rs = 1.0 / sqrt(variance[ch] + p.eps);
  let e1 = min(p.n * p.s, (chunk + 1u) * ${CHUNK}u);
  var ta = 0.0; var tb = 0.0;
  for (var e = chunk * ${CHUNK}u + lid; e < e1; e += ${WG}u) {
    let a = addr(ch, e);
    let d = dy[a];
    ta += d * (x[a] - mu) * rs;
    tb += d;
  }
  sa[lid] = ta; sb[lid] = tb;
  ${sumTree(WG)}
  if (lid == 0u) {
    ${single ? 'sdyxOut[ch] = sa[0]; sdyOut[ch] = sb[0];' : 'part[g * 2u] = sa[0]; part[g * 2u + 1u] = sb[0];'}
  }
}`,
      bindings: [dy.storage, x.storage, mean.storage, variance.storage, ...(single ? [sdyx, sdy] : [part!])],
      uniforms: u,
      workgroups: grid(rt, c * chunks),
    });
    if (part) {
      const u2 = new Uniforms().u32('c', c).u32('chunks', chunks);
      rt.run({
        name: 'batchNormBackward',
        key: 'batchNormBackward:merge',
        code: () => `${u2.struct('P')}
@group(0) @binding(0) var<storage, read> part: array<f32>;
@group(0) @binding(1) var<storage, read_write> sdyxOut: array<f32>;
@group(0) @binding(2) var<storage, read_write> sdyOut: array<f32>;
@group(0) @binding(3) var<uniform> p: P;
var<workgroup> sa: array<f32, 64>;
var<workgroup> sb: array<f32, 64>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let ch = ${GRID_GROUP};
  if (ch >= p.c) { return; }
  var ta = 0.0; var tb = 0.0;
  for (var k = lid; k < p.chunks; k += 64u) {
    ta += part[(ch * p.chunks + k) * 2u];
    tb += part[(ch * p.chunks + k) * 2u + 1u];
  }
  sa[lid] = ta; sb[lid] = tb;
  ${sumTree(64)}
  if (lid == 0u) { sdyxOut[ch] = sa[0]; sdyOut[ch] = sb[0]; }
}`,
        bindings: [part, sdyx, sdy],
        uniforms: u2,
        workgroups: grid(rt, c),
      });
      rt.free(part);
    }
  }
  if (total > 0) {
    const u = new Uniforms().u32('total', total).u32('c', c).u32('s', s).f32('count', n * s).f32('eps', eps);
    // 'auto' pipeline layouts drop unused bindings, so each variant declares (and is given) only
    // the buffers it reads.
    const inputs: [string, GPUStorage][] = training
      ? [['dy', dy.storage], ['x', x.storage], ['mean', mean.storage], ['variance', variance.storage], ['sdyx', sdyx], ['sdy', sdy]]
      : [['dy', dy.storage], ['variance', variance.storage]];
    if (hg) inputs.push(['gamma', gamma.storage]);
    const decl = inputs.map(([name], i) => `@group(0) @binding(${i}) var<storage, read> ${name}: array<f32>;`).join('\n');
    rt.run({
      name: 'batchNormBackward',
      key: `batchNormBackward:dx:${training ? 'train' : 'eval'}:${hg ? 'g' : ''}`,
      code: () => `${u.struct('P')}
${decl}
@group(0) @binding(${inputs.length}) var<storage, read_write> dx: array<f32>;
@group(0) @binding(${inputs.length + 1}) var<uniform> p: P;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = ${GRID_INDEX('256u')};
  if (i >= p.total) { return; }
  let ch = (i / p.s) % p.c;
  let rs = 1.0 / sqrt(variance[ch] + p.eps);
  let k = ${hg ? 'gamma[ch] * rs' : 'rs'};
  ${training
    ? 'dx[i] = k * (dy[i] - sdy[ch] / p.count - (x[i] - mean[ch]) * rs * (sdyx[ch] / p.count));'
    : 'dx[i] = k * dy[i];'}
}`,
      bindings: [...inputs.map(([, s]) => s), dx],
      uniforms: u,
      workgroups: grid(rt, Math.ceil(total / 256)),
    });
  }
  if (hg) return { dx, dGamma: sdyx, dBeta: sdy };
  rt.free(sdyx);
  rt.free(sdy);
  return { dx, dGamma: null, dBeta: null };
});
