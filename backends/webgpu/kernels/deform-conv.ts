/**
 * deformConv2d (torchvision.ops.deform_conv2d, DCNv1 and DCNv2) forward and backward on webgpu,
 * float32. docs/kernels/deform-conv.md walks through it with diagrams.
 *
 * Geometry (as the cpu kernel, backends/cpu/deform-conv.ts): output pixel q = (oy, ox), kernel tap
 * t = (i, j), offset group og of channel c samples x[b, c] bilinearly at
 *   y = oy·sh - ph + i·dh + Δy,  x = ox·sw - pw + j·dw + Δx   (Δ from offset[b, og, 2t | 2t+1, q]),
 * times the modulation m = mask[b, og, t, q] (v2; 1 without a mask). A point with y ≤ -1, y ≥ H,
 * x ≤ -1 or x ≥ W reads 0; otherwise each of the 4 neighbours reads 0 when outside the image.
 * The integer part of the position is kept apart from the fraction (y0 = oy·sh - ph + i·dh +
 * ⌊Δy⌋, ly = Δy - ⌊Δy⌋), so that float32 gives the same neighbours and weights as the cpu's float64.
 *
 * Forward: an implicit GEMM with the deformable im2col fused into its tile loads.
 *   out[b, g·Coutg + m, q] = Σ_r W_g[m, r] · col[b, g, r, q] (+ bias),  r = (c, t), R = Cg·kh·kw,
 * one GEMM [Coutg × R]·[R × P] per (sample, weight group) (grid z; the [x, y, z] grid is logical,
 * folded by runtime.ts `grid3` past 65,535 workgroups per dimension). Tiles as kernels/matmul.ts:
 * a workgroup of 256 invocations computes a BM × BN block of out (64 × 64 with 4 × 4 per
 * invocation, or 32 × 32 with 2 × 2 when Coutg ≤ 32); K is walked in steps of BK = 16, staging a
 * [BM × BK] panel of W and a [BK × BN] panel of col in workgroup memory. The col panel is not read
 * from a buffer: each of its BK·BN entries is sampled on the spot (offset and mask reads, 4 reads of
 * x, the bilinear weights). So no im2col buffer (Cg·K·P floats per sample) is ever written or read;
 * the price is that the sampling is redone for each of the ⌈Coutg/BM⌉ row tiles (once when
 * Coutg ≤ BM, as in FaSRnet and most DCN layers). We chose fusion over "im2col buffer + the matmul
 * kernel" because the GEMM's K panel loop is the natural place for it, and because the matmul kernel
 * takes whole buffers (no offsets), so per-(sample, group) GEMMs would need copies anyway.
 * Traffic per output value: R·(1/BN + 1/BM)·4 bytes of panel loads; per col entry 7 reads (2 offsets,
 * mask, 4 neighbours) per row tile.
 *
 * Backward, per chunk of samples (or pixels, when one sample's columns would exceed 64 MiB):
 * 1. dcol = W_gᵀ · dy_g, a GEMM [R × Coutg]·[Coutg × P] into a scratch buffer [B, C·K, P].
 * 2. One invocation per (sample, offset group, tap, pixel) walks the Cog channels of its group:
 *    - dOffset (∂/∂Δy, ∂/∂Δx of the bilinear read, times m·dcol) and dMask (Σ_c dcol·bilinear) are
 *      sums over channels with a single writer each: a gather, no atomics;
 *    - dx is scatter-style: each (channel, tap, pixel) adds m·dcol·w into up to four pixels of x,
 *      and other taps and pixels land on the same pixels (every pixel is hit by about kh·kw·4
 *      samples when the offsets are small, by arbitrarily many when they converge). WGSL has no
 *      float atomics, so dx is an `array<atomic<u32>>` of float32 bits updated with a compare-and-
 *      swap loop (see atomicAddF32WGSL in grid-sample.ts): read, add in f32, atomicCompareExchangeWeak,
 *      retry on conflict. The alternative, a gather per input pixel, needs the inverse map pixel ->
 *      (tap, output pixel) built every call by a counting sort over the B·OG·K·P sample points
 *      (three more passes: count with integer atomics, scan, fill); since the sampling points are
 *      shared by the Cog channels of a group, the map would be amortized over channels, and it is the
 *      better choice on GPUs where contended atomics are slow. On lavapipe (and for the small-offset
 *      common case) the CAS loop costs one atomic round trip per (channel, tap, pixel, in-bounds
 *      neighbour), 4·C·K·P at most, plus a retry per collision, and needs a zero-fill of dx first.
 *      The order of the additions varies, so dx is reproducible to float32 rounding only.
 * 3. dW_g = Σ_b dy_g · col_gᵀ: a GEMM [Coutg × B·P]·[B·P × R] whose col panel is sampled on the fly
 *    as in the forward (the inner dimension runs over (sample, pixel) pairs).
 * Tensors above the binding limit (forward): blocks of images (x, offset, mask, out) run unchanged
 * on views (Runtime.splitOuter), the weights bound whole; the backward is not split.
 */
import type { DeformConv2dParams, KTensor } from '../../backend.js';
import { fail } from '../../../engine/shape.js';
import { entry, grid, GRID3_ARGS, GRID3_DECODE, GRID_INDEX, grid3, Uniforms, type GPUStorage, type OuterPart, type Runtime } from '../runtime.js';
import { atomicAddF32WGSL, zeroFill } from './grid-sample.js';

type GT = KTensor<GPUStorage>;

interface Tile {
  BM: number; BN: number; BK: number; TM: number; TN: number;
}
const TILE_LARGE: Tile = { BM: 64, BN: 64, BK: 16, TM: 4, TN: 4 };
const TILE_SMALL: Tile = { BM: 32, BN: 32, BK: 16, TM: 2, TN: 2 };

/** Geometry shared by every kernel of this file (all u32 uniforms). */
interface DGeo {
  B: number; C: number; H: number; W: number;
  Cout: number; Cg: number; Coutg: number; G: number;
  kh: number; kw: number; K: number; Ho: number; Wo: number; P: number;
  OG: number; Cog: number; R: number;
  sh: number; sw: number; ph: number; pw: number; dh: number; dw: number;
}

function geometry(op: string, x: GT, offset: GT, mask: GT | null, w: GT, p: DeformConv2dParams): DGeo {
  for (const t of [x, offset, mask, w]) if (t && t.dtype !== 'float32') fail(op, 'float32 tensors on webgpu', t.dtype);
  const [B, C, H, W] = x.shape as [number, number, number, number];
  const [Cout, Cg, kh, kw] = w.shape as [number, number, number, number];
  const [Ho, Wo] = offset.shape.slice(2) as [number, number];
  const G = p.groups;
  const OG = p.offsetGroups;
  return {
    B, C, H, W, Cout, Cg, Coutg: Cout / G, G, kh, kw, K: kh * kw, Ho, Wo, P: Ho * Wo, OG, Cog: C / OG, R: Cg * kh * kw,
    sh: p.stride[0], sw: p.stride[1], ph: p.padding[0], pw: p.padding[1], dh: p.dilation[0], dw: p.dilation[1],
  };
}

/**
 * The uniform block: the geometry, the GEMM's dims (gM, gN, gK), and the chunk being processed
 * (samples b0 .. b0 + nb, pixels p0 .. p0 + PC) for the backward passes.
 */
function uniforms(g: DGeo, gemm: [number, number, number], chunk: { b0: number; p0: number; PC: number } = { b0: 0, p0: 0, PC: g.P }): Uniforms {
  const u = new Uniforms();
  for (const k of ['B', 'C', 'H', 'W', 'Cout', 'Cg', 'Coutg', 'G', 'kh', 'kw', 'K', 'Ho', 'Wo', 'P', 'OG', 'Cog', 'R', 'sh', 'sw', 'ph', 'pw', 'dh', 'dw'] as const) u.u32(k, g[k]);
  return u.u32('gM', gemm[0]).u32('gN', gemm[1]).u32('gK', gemm[2]).u32('b0', chunk.b0).u32('p0', chunk.p0).u32('PC', chunk.PC);
}

/**
 * WGSL: the sampling plan of (sample b, offset group og, tap t, output pixel q) and the bilinear
 * read. Needs `offset`, optionally `mask`, and `x` bound, and the uniforms `p`.
 */
function samplerWGSL(masked: boolean): string {
  return `struct Samp { y0: i32, x0: i32, ly: f32, lx: f32, m: f32, }
fn plan(b: u32, og: u32, t: u32, q: u32) -> Samp {
  let oy = q / p.Wo;
  let ox = q % p.Wo;
  let ti = t / p.kw;
  let tj = t % p.kw;
  let o = ((b * p.OG + og) * 2u * p.K + 2u * t) * p.P + q;
  let dy = offset[o];
  let dx = offset[o + p.P];
  // Integer and fractional parts apart (exact, as the cpu's float64); huge offsets are clamped
  // far outside any image before the conversion to i32.
  let fy = clamp(floor(dy), -16777216.0, 16777216.0);
  let fx = clamp(floor(dx), -16777216.0, 16777216.0);
  var s: Samp;
  s.y0 = i32(oy * p.sh + ti * p.dh) - i32(p.ph) + i32(fy);
  s.x0 = i32(ox * p.sw + tj * p.dw) - i32(p.pw) + i32(fx);
  s.ly = dy - floor(dy);
  s.lx = dx - floor(dx);
  ${masked ? 's.m = mask[((b * p.OG + og) * p.K + t) * p.P + q];' : 's.m = 1.0;'}
  return s;
}
// torchvision's rule: the whole read is 0 when y ≤ -1, y ≥ H, x ≤ -1 or x ≥ W (y = y0 + ly, 0 ≤ ly < 1).
fn inImage(s: Samp) -> bool {
  let H = i32(p.H);
  let W = i32(p.W);
  return !(s.y0 < -1 || (s.y0 == -1 && s.ly == 0.0) || s.y0 >= H || s.x0 < -1 || (s.x0 == -1 && s.lx == 0.0) || s.x0 >= W);
}
// x[plane + (yy, xx)], or 0 outside the image.
fn px(plane: u32, yy: i32, xx: i32) -> f32 {
  if (yy < 0 || yy >= i32(p.H) || xx < 0 || xx >= i32(p.W)) { return 0.0; }
  return x[plane + u32(yy) * p.W + u32(xx)];
}
fn bilinear(plane: u32, s: Samp) -> f32 {
  if (!inImage(s)) { return 0.0; }
  let v00 = px(plane, s.y0, s.x0);
  let v01 = px(plane, s.y0, s.x0 + 1);
  let v10 = px(plane, s.y0 + 1, s.x0);
  let v11 = px(plane, s.y0 + 1, s.x0 + 1);
  return (1.0 - s.ly) * ((1.0 - s.lx) * v00 + s.lx * v01) + s.ly * ((1.0 - s.lx) * v10 + s.lx * v11);
}
// One entry of the deformable column matrix: channel c, tap t, pixel q of sample b.
fn colAt(b: u32, c: u32, t: u32, q: u32) -> f32 {
  let s = plan(b, c / p.Cog, t, q);
  return s.m * bilinear((b * p.C + c) * p.H * p.W, s);
}`;
}

interface GemmSpec {
  /** Bindings, helper functions (before main). Must define loadA(m, k, z), loadB(k, n, z), storeC(m, n, z, v). */
  header: string;
  /** Which panel index runs along neighbouring invocations (the operand's contiguous dim). */
  aFast: 'm' | 'k';
  bFast: 'k' | 'n';
}

/**
 * WGSL of a tiled GEMM C[z] (gM × gN) = A[z] (gM × gK) · B[z] (gK × gN) whose operands are read
 * through loadA / loadB and whose result goes through storeC (all defined by `spec.header`).
 * Register blocking TM × TN per invocation, panels of BK staged in workgroup memory; out-of-range
 * rows/columns/k load as 0, so the inner loop has no bounds checks.
 */
function gemmWGSL(tile: Tile, spec: GemmSpec): string {
  const { BM, BN, BK, TM, TN } = tile;
  const WX = BN / TN;
  const WY = BM / TM;
  const T = WX * WY;
  const LA = (BM * BK) / T;
  const LB = (BK * BN) / T;
  const aIdx = spec.aFast === 'k' ? `let kk = e % ${BK}u; let mm = e / ${BK}u;` : `let mm = e % ${BM}u; let kk = e / ${BM}u;`;
  const bIdx = spec.bFast === 'n' ? `let nn = e % ${BN}u; let kk = e / ${BN}u;` : `let kk = e % ${BK}u; let nn = e / ${BK}u;`;
  const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
  return `${spec.header}
var<workgroup> As: array<f32, ${BK * BM}>;
var<workgroup> Bs: array<f32, ${BK * BN}>;
@compute @workgroup_size(${T})
fn main(${GRID3_ARGS}) {
  ${GRID3_DECODE}
  let tx = lid % ${WX}u;
  let ty = lid / ${WX}u;
  let row0 = wid.y * ${BM}u;
  let col0 = wid.x * ${BN}u;
  let z = wid.z;
  ${range(TM).map((i) => `var acc${i}: array<f32, ${TN}>;`).join('\n  ')}
  var av: array<f32, ${TM}>;
  var bv: array<f32, ${TN}>;
  for (var k0 = 0u; k0 < p.gK; k0 += ${BK}u) {
    for (var l = 0u; l < ${LA}u; l++) {
      let e = lid + l * ${T}u;
      ${aIdx}
      var v = 0.0;
      if (row0 + mm < p.gM && k0 + kk < p.gK) { v = loadA(row0 + mm, k0 + kk, z); }
      As[kk * ${BM}u + mm] = v;
    }
    for (var l = 0u; l < ${LB}u; l++) {
      let e = lid + l * ${T}u;
      ${bIdx}
      var v = 0.0;
      if (k0 + kk < p.gK && col0 + nn < p.gN) { v = loadB(k0 + kk, col0 + nn, z); }
      Bs[kk * ${BN}u + nn] = v;
    }
    workgroupBarrier();
    for (var k = 0u; k < ${BK}u; k++) {
      ${range(TM).map((i) => `av[${i}] = As[k * ${BM}u + ty + ${i * WY}u];`).join(' ')}
      ${range(TN).map((j) => `bv[${j}] = Bs[k * ${BN}u + tx + ${j * WX}u];`).join(' ')}
      ${range(TM).map((i) => range(TN).map((j) => `acc${i}[${j}] = fma(av[${i}], bv[${j}], acc${i}[${j}]);`).join(' ')).join('\n      ')}
    }
    workgroupBarrier();
  }
  ${range(TM).map((i) => `{ let r = row0 + ty + ${i * WY}u;
    if (r < p.gM) {
      ${range(TN).map((j) => `if (col0 + tx + ${j * WX}u < p.gN) { storeC(r, col0 + tx + ${j * WX}u, z, acc${i}[${j}]); }`).join('\n      ')}
    } }`).join('\n  ')}
}`;
}

function tileFor(M: number): Tile {
  return M <= 32 ? TILE_SMALL : TILE_LARGE;
}
const tileKey = (t: Tile): string => `${t.BM}x${t.BN}`;

/** WGSL binding declarations ([name, access, element type]) followed by the uniform block. */
function bindings(list: [string, 'read' | 'read_write', string?][]): string {
  return list.map(([n, a, ty], i) => `@group(0) @binding(${i}) var<storage, ${a}> ${n}: array<${ty ?? 'f32'}>;`).join('\n') + `\n@group(0) @binding(${list.length}) var<uniform> p: P;`;
}

// ------------------------------------------------------------------------------ forward

export const deformConv2d = entry('deformConv2d', (rt: Runtime, x: GT, offset: GT, mask: GT | null, w: GT, bias: GT | null, p: DeformConv2dParams): GPUStorage => {
  const g = geometry('deformConv2d', x, offset, mask, w, p);
  const out = rt.alloc(g.B * g.Cout * g.P * 4);
  if (g.B * g.Cout * g.P === 0) return out;
  const tile = tileFor(g.Coutg);
  const masked = mask !== null;
  const hasBias = bias !== null;
  // Tensors above the binding limit: chunks of images (views of x, offset, mask and out; the
  // weights and bias bound whole), see Runtime.splitOuter. The WGSL depends on no geometry.
  const per: OuterPart[] = [[x.storage, g.C * g.H * g.W], [offset.storage, g.OG * 2 * g.K * g.P], ...(masked ? [[mask.storage, g.OG * g.K * g.P] as OuterPart] : []), [out, g.Cout * g.P]];
  rt.splitOuter(g.B, per, 'image', (count, views) => {
    const [xs, os, ...rest] = views;
    const ms = masked ? rest[0]! : null;
    const outs = rest[rest.length - 1]!;
    const gc = { ...g, B: count };
    const u = uniforms(gc, [g.Coutg, g.P, g.R]);
    const workgroups = grid3(rt, u, [Math.ceil(g.P / tile.BN), Math.ceil(g.Coutg / tile.BM), count * g.G]);
    fwdDispatch(rt, u, workgroups, tile, [xs!, os!, ...(ms ? [ms] : []), w.storage, ...(hasBias ? [bias.storage] : []), outs], masked, hasBias);
  });
  return out;
});

function fwdDispatch(rt: Runtime, u: Uniforms, workgroups: [number, number, number], tile: Tile, binds: GPUStorage[], masked: boolean, hasBias: boolean): void {
  const list: [string, 'read' | 'read_write'][] = [['x', 'read'], ['offset', 'read'], ...(masked ? [['mask', 'read'] as [string, 'read']] : []), ['w', 'read'], ...(hasBias ? [['bias', 'read'] as [string, 'read']] : []), ['out', 'read_write']];
  const header = `${u.struct('P')}
${bindings(list)}
${samplerWGSL(masked)}
// z = b·G + g. A = W_g [Coutg × R], row-major; B = col [R × P] sampled on the fly.
fn loadA(m: u32, k: u32, z: u32) -> f32 { return w[((z % p.G) * p.Coutg + m) * p.R + k]; }
fn loadB(k: u32, n: u32, z: u32) -> f32 {
  return colAt(z / p.G, (z % p.G) * p.Cg + k / p.K, k % p.K, n);
}
fn storeC(m: u32, n: u32, z: u32, v: f32) {
  let co = (z % p.G) * p.Coutg + m;
  out[((z / p.G) * p.Cout + co) * p.P + n] = v${hasBias ? ' + bias[co]' : ''};
}`;
  rt.run({
    name: 'deformConv2d',
    key: `deformConv2d:fwd:${tileKey(tile)}:${masked ? 'm' : ''}${hasBias ? 'b' : ''}`,
    code: () => gemmWGSL(tile, { header, aFast: 'k', bFast: 'n' }),
    bindings: binds,
    uniforms: u,
    workgroups,
  });
}

// ------------------------------------------------------------------------------ backward

/** Scratch budget for the dcol buffer, in floats (64 MiB, within every adapter's binding limit). */
const DCOL_FLOATS = 16 * 1024 * 1024;

export const deformConv2dBackward = entry('deformConv2dBackward', (rt: Runtime, dy: GT, x: GT, offset: GT, mask: GT | null, w: GT, p: DeformConv2dParams): { dx: GPUStorage; dOffset: GPUStorage; dMask: GPUStorage | null; dWeight: GPUStorage } => {
  const g = geometry('deformConv2dBackward', x, offset, mask, w, p);
  if (dy.dtype !== 'float32') fail('deformConv2dBackward', 'float32 tensors on webgpu', dy.dtype);
  const { B, C, H, W, Cout, K, P, OG, R, Coutg, G } = g;
  const masked = mask !== null;
  const dx = rt.alloc(B * C * H * W * 4);
  const dOffset = rt.alloc(B * OG * 2 * K * P * 4);
  const dMask = masked ? rt.alloc(B * OG * K * P * 4) : null;
  const dWeight = rt.alloc(Cout * R * 4);
  if (B * C * H * W > 0) zeroFill(rt, dx, B * C * H * W);
  if (B * P === 0 || C * K === 0) {
    // No output pixels (or nothing sampled): the sums are empty.
    zeroFill(rt, dOffset, B * OG * 2 * K * P);
    if (dMask) zeroFill(rt, dMask, B * OG * K * P);
    zeroFill(rt, dWeight, Cout * R);
    return { dx, dOffset, dMask, dWeight };
  }

  // Chunks: all samples at once when their columns fit the budget, else one sample at a time in
  // pixel ranges of PC.
  const perSample = C * K * P;
  const chunks: { b0: number; nb: number; p0: number; PC: number }[] = [];
  if (B * perSample <= DCOL_FLOATS) chunks.push({ b0: 0, nb: B, p0: 0, PC: P });
  else {
    const PC = Math.max(1, Math.min(P, Math.floor(DCOL_FLOATS / (C * K))));
    for (let b = 0; b < B; b++) for (let p0 = 0; p0 < P; p0 += PC) chunks.push({ b0: b, nb: 1, p0, PC: Math.min(PC, P - p0) });
  }
  const maxCols = Math.max(...chunks.map((c) => c.nb * C * K * c.PC));
  const dcol = rt.alloc(maxCols * 4);
  const tileD = tileFor(R);
  for (const ch of chunks) {
    // 1. dcol[bl, g·R + r, q] = Σ_co W[g·Coutg + co, r] · dy[b0 + bl, g·Coutg + co, p0 + q]
    const u1 = uniforms(g, [R, ch.PC, Coutg], ch);
    const w1 = grid3(rt, u1, [Math.ceil(ch.PC / tileD.BN), Math.ceil(R / tileD.BM), ch.nb * G]);
    const h1 = `${u1.struct('P')}
${bindings([['w', 'read'], ['dy', 'read'], ['dcol', 'read_write']])}
// z = bl·G + g (bl: sample within the chunk). A = W_gᵀ [R × Coutg]; B = dy_g [Coutg × PC].
fn loadA(m: u32, k: u32, z: u32) -> f32 { return w[((z % p.G) * p.Coutg + k) * p.R + m]; }
fn loadB(k: u32, n: u32, z: u32) -> f32 {
  return dy[((p.b0 + z / p.G) * p.Cout + (z % p.G) * p.Coutg + k) * p.P + p.p0 + n];
}
fn storeC(m: u32, n: u32, z: u32, v: f32) {
  dcol[((z / p.G) * p.C * p.K + (z % p.G) * p.R + m) * p.PC + n] = v;
}`;
    rt.run({
      name: 'deformConv2dBackward',
      key: `deformConv2dBackward:dcol:${tileKey(tileD)}`,
      code: () => gemmWGSL(tileD, { header: h1, aFast: 'm', bFast: 'n' }),
      bindings: [w.storage, dy.storage, dcol],
      uniforms: u1,
      workgroups: w1,
    });
    // 2. dOffset, dMask (gathers over the channels of an offset group) and dx (CAS adds).
    const u2 = uniforms(g, [0, 0, 0], ch);
    const n2 = ch.nb * OG * K * ch.PC;
    const list: [string, 'read' | 'read_write', string?][] = [
      ['x', 'read'], ['offset', 'read'], ...(masked ? [['mask', 'read'] as [string, 'read']] : []), ['dcol', 'read'],
      ['dx', 'read_write', 'atomic<u32>'], ['dOffset', 'read_write'], ...(masked ? [['dMask', 'read_write'] as [string, 'read_write']] : []),
    ];
    rt.run({
      name: 'deformConv2dBackward',
      key: `deformConv2dBackward:points:${masked ? 'm' : ''}`,
      code: () => `${u2.struct('P')}
${bindings(list)}
${samplerWGSL(masked)}
${atomicAddF32WGSL('dx')}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = ${GRID_INDEX('64u')};
  if (i >= p.gM) { return; }
  // i = ((bl·OG + og)·K + t)·PC + qc
  let qc = i % p.PC;
  let t = (i / p.PC) % p.K;
  let og = (i / (p.PC * p.K)) % p.OG;
  let bl = i / (p.PC * p.K * p.OG);
  let b = p.b0 + bl;
  let q = p.p0 + qc;
  let s = plan(b, og, t, q);
  let inside = inImage(s);
  let wy0 = 1.0 - s.ly; let wx0 = 1.0 - s.lx;
  var gy = 0.0; var gx = 0.0; var gm = 0.0;
  for (var c = og * p.Cog; c < (og + 1u) * p.Cog; c++) {
    let gc = dcol[((bl * p.C + c) * p.K + t) * p.PC + qc];
    if (gc == 0.0) { continue; }
    let plane = (b * p.C + c) * p.H * p.W;
    let v00 = px(plane, s.y0, s.x0);
    let v01 = px(plane, s.y0, s.x0 + 1);
    let v10 = px(plane, s.y0 + 1, s.x0);
    let v11 = px(plane, s.y0 + 1, s.x0 + 1);
    // the partials of the bilinear read (from the right at integer positions, as torchvision)
    gy += s.m * gc * (wx0 * (v10 - v00) + s.lx * (v11 - v01));
    gx += s.m * gc * (wy0 * (v01 - v00) + s.ly * (v11 - v10));
    if (!inside) { continue; }               // the read was 0: no dx, no dmask
    gm += gc * (wy0 * (wx0 * v00 + s.lx * v01) + s.ly * (wx0 * v10 + s.lx * v11));
    let a = s.m * gc;
    let H = i32(p.H); let W = i32(p.W);
    let in0y = s.y0 >= 0; let in1y = s.y0 + 1 < H;
    let in0x = s.x0 >= 0; let in1x = s.x0 + 1 < W;
    let r0 = plane + u32(max(s.y0, 0)) * p.W;
    let r1 = plane + u32(max(s.y0 + 1, 0)) * p.W;
    if (in0y && in0x) { atomicAddF32(r0 + u32(s.x0), a * wy0 * wx0); }
    if (in0y && in1x) { atomicAddF32(r0 + u32(s.x0 + 1), a * wy0 * s.lx); }
    if (in1y && in0x) { atomicAddF32(r1 + u32(s.x0), a * s.ly * wx0); }
    if (in1y && in1x) { atomicAddF32(r1 + u32(s.x0 + 1), a * s.ly * s.lx); }
  }
  let o = ((b * p.OG + og) * 2u * p.K + 2u * t) * p.P + q;
  dOffset[o] = gy;
  dOffset[o + p.P] = gx;
  ${masked ? 'dMask[((b * p.OG + og) * p.K + t) * p.P + q] = gm;' : ''}
}`,
      bindings: [x.storage, offset.storage, ...(masked ? [mask.storage] : []), dcol, dx, dOffset, ...(dMask ? [dMask] : [])],
      uniforms: uniforms(g, [n2, 0, 0], ch),
      workgroups: grid(rt, Math.ceil(n2 / 64)),
    });
  }
  rt.free(dcol);

  // 3. dW_g[m, r] = Σ_(b, q) dy[b, g·Coutg + m, q] · col[b, g, r, q]
  const tileW = tileFor(Coutg);
  const u3 = uniforms(g, [Coutg, R, B * P]);
  const w3 = grid3(rt, u3, [Math.ceil(R / tileW.BN), Math.ceil(Coutg / tileW.BM), G]);
  const h3 = `${u3.struct('P')}
${bindings([['x', 'read'], ['offset', 'read'], ...(masked ? [['mask', 'read'] as [string, 'read']] : []), ['dy', 'read'], ['dW', 'read_write']])}
${samplerWGSL(masked)}
// z = g. The inner index k runs over (sample, pixel) pairs: k = b·P + q.
fn loadA(m: u32, k: u32, z: u32) -> f32 { return dy[((k / p.P) * p.Cout + z * p.Coutg + m) * p.P + k % p.P]; }
fn loadB(k: u32, n: u32, z: u32) -> f32 { return colAt(k / p.P, z * p.Cg + n / p.K, n % p.K, k % p.P); }
fn storeC(m: u32, n: u32, z: u32, v: f32) { dW[(z * p.Coutg + m) * p.R + n] = v; }`;
  rt.run({
    name: 'deformConv2dBackward',
    key: `deformConv2dBackward:dw:${tileKey(tileW)}:${masked ? 'm' : ''}`,
    code: () => gemmWGSL(tileW, { header: h3, aFast: 'k', bFast: 'k' }),
    bindings: [x.storage, offset.storage, ...(masked ? [mask.storage] : []), dy.storage, dWeight],
    uniforms: u3,
    workgroups: w3,
  });
  return { dx, dOffset, dMask, dWeight };
});
