/**
 * conv2d forward and backward (input, weight) on webgpu. docs/kernels/conv2d.md has the diagrams,
 * the traffic arithmetic and the measurements.
 *
 * Implicit GEMM (general convolutions). Each pass is a GEMM C[m, n] = Σ_k A[m, k] · B[k, n] per
 * group g, whose A operand is gathered from the image on the fly (no im2col buffer):
 *   forward          m = output pixel (n, oy, ox)  n = out channel   k = tap (c, i, j)
 *                    A = x[n, g·Cg + c, oy·sh - ph + i·dh, ox·sw - pw + j·dw]  B = w[co, k]
 *   backward input   m = input pixel (n, iy, ix)   n = in channel    k = (co, i, j)
 *                    A = dy[n, co, oy, ox] where oy·sh = iy + ph - i·dh (0 unless it divides)
 *                    B = w[co, c, i, j]   (this is also convTranspose2d's forward)
 *   backward weight  m = tap (c, i, j)             n = out channel   k = output pixel (n, oy, ox)
 *                    A = x at that tap and pixel   B = dy[n, co, oy, ox]
 * The tiling is the one of kernels/matmul.ts: a workgroup of WG invocations owns BM rows (pixels
 * or taps) x 4·CV·WG columns (channels). Per K step of BK:
 *   1. staging: the A tile [BM x BK] is gathered into workgroup memory. Invocation l owns rows
 *      l, l + WG, ... (BM/WG of them), whose pixel/tap decode it computed once; it walks the BK
 *      k values, whose decode (a division or two) is the same for the whole workgroup. Padding
 *      and out-of-range taps read as zero.
 *   2. compute: for each k, each invocation loads its CV vec4s of B (4 adjacent channels, from a
 *      packed copy of the weight or of dy: [G][K][channels rounded up to 4]) and does BM x CV
 *      vec4 multiply-adds with A values that every invocation reads at the same address.
 * The store writes 4 channels per vec4 accumulator (channel stride H·W in NCHW), adding the bias
 * and, for the forward, applying conv2d's fused clamp (`ep`: max with lo, then min with hi, each
 * behind a uniform flag; a fused ReLU/ReLU6 costs no dispatch and no extra pass over the output).
 * Padding is per side (Conv2dParams: [top, bottom, left, right]); the kernels index with the top
 * and left sides (ph, pw) only, the bottom and right ones enter through Ho, Wo.
 * No float atomics anywhere: each output element is owned by exactly one invocation, and the
 * weight gradient sums over all pixels inside its own K loop.
 *
 * Direct kernels (depthwise and tiny groups, Cg ≤ 4 and Cout/groups ≤ 4, e.g. RPSTN's per-sample
 * 7x7 depthwise conv with groups = B·256): one invocation per output element, the workgroup's 64
 * invocations on consecutive pixels of one channel so that every weight read is uniform:
 *   forward         out[n, co, p] = b[co] + Σ_{c, i, j} w[co, c, i, j] · x[n, g·Cg + c, tap]
 *   backward input  dx[n, c, q] = Σ_{co in group, i, j} w[co, c, i, j] · dy[n, co, oy, ox]
 *   backward weight one workgroup per weight element, a strided sum over N·Ho·Wo and a tree
 *                   reduction in workgroup memory.
 * Grids: the GEMM's [row tiles, column tiles, groups] and the direct kernels' [pixel tiles,
 * channels, images] are logical grids, folded by runtime.ts `grid3` past 65,535 workgroups per
 * dimension (1024×1024 outputs have 65,536 row tiles of 16 pixels).
 * Tensors above the binding limit (128 MiB): every pass runs over chunks of images, as many per
 * chunk as fit one binding window each (input, output, packed dy), with the chunk's offsets in
 * uniforms; the weight gradients add the chunks' sums (`accum`). One image above the limit is
 * refused, naming the op.
 */
import { convOutLength, convPads, type Conv2dParams, type KTensor } from '../../backend.js';
import { fail } from '../../../engine/shape.js';
import { entry, GRID_GROUP, GRID_INDEX, grid, GRID3_ARGS, GRID3_DECODE, grid3, Uniforms, type BufferWindow, type GPUStorage, type Runtime } from '../runtime.js';

type GT = KTensor<GPUStorage>;
type Mode = 'fwd' | 'bwdInput' | 'bwdWeight';

export interface ConvTile {
  readonly BM: number;
  readonly CV: number;
  readonly WG: number;
  readonly BK: number;
}

/** BM must be a multiple of WG (each invocation stages whole rows). */
export const CONV_TILE: ConvTile = { BM: 16, CV: 2, WG: 8, BK: 32 };

interface Geo {
  N: number; C: number; H: number; W: number;
  Cout: number; Cg: number; Coutg: number; kh: number; kw: number;
  Ho: number; Wo: number; G: number;
  sh: number; sw: number; ph: number; pw: number; dh: number; dw: number;
}

function geometry(xShape: readonly number[], wShape: readonly number[], p: Conv2dParams, outHW: readonly number[]): Geo {
  const [N, C, H, W] = xShape as [number, number, number, number];
  const [Cout, Cg, kh, kw] = wShape as [number, number, number, number];
  const [top, , left] = convPads(p.padding);
  return {
    N, C, H, W, Cout, Cg, Coutg: Cout / p.groups, kh, kw, Ho: outHW[0]!, Wo: outHW[1]!, G: p.groups,
    sh: p.stride[0], sw: p.stride[1], ph: top, pw: left, dh: p.dilation[0], dw: p.dilation[1],
  };
}

/**
 * The forward's clamp as uniforms: a flag and a finite bound per side (an infinite bound is an
 * open side, flag 0), so that no uniform holds an infinity.
 */
function clampUniforms(u: Uniforms, clamp: readonly [number, number] | undefined): Uniforms {
  const lo = clamp && clamp[0] !== -Infinity ? clamp[0] : null;
  const hi = clamp && clamp[1] !== Infinity ? clamp[1] : null;
  return u.u32('clampLo', lo === null ? 0 : 1).u32('clampHi', hi === null ? 0 : 1).f32('lo', lo ?? 0).f32('hi', hi ?? 0);
}

/** WGSL of the forward's epilogue `ep` (uniform branches on the clamp flags of clampUniforms). */
const EPILOGUE_WGSL = `fn ep(v: f32) -> f32 {
  var r = v;
  if (p.clampLo == 1u) { r = max(r, p.lo); }
  if (p.clampHi == 1u) { r = min(r, p.hi); }
  return r;
}`;

function geoUniforms(g: Geo): Uniforms {
  return new Uniforms()
    .u32('N', g.N).u32('C', g.C).u32('H', g.H).u32('W', g.W)
    .u32('Cout', g.Cout).u32('Cg', g.Cg).u32('Coutg', g.Coutg).u32('kh', g.kh).u32('kw', g.kw)
    .u32('Ho', g.Ho).u32('Wo', g.Wo)
    .i32('sh', g.sh).i32('sw', g.sw).i32('ph', g.ph).i32('pw', g.pw).i32('dh', g.dh).i32('dw', g.dw);
}

function requireF32(op: string, ...ts: (GT | null)[]): void {
  for (const t of ts) if (t && t.dtype !== 'float32') fail(op, 'float32 tensors on webgpu', t.dtype);
}

/** GEMM sizes of a pass: rows M, columns (channels) Nc, reduction K. */
function gemmSizes(mode: Mode, g: Geo): { M: number; Nc: number; K: number } {
  if (mode === 'fwd') return { M: g.N * g.Ho * g.Wo, Nc: g.Coutg, K: g.Cg * g.kh * g.kw };
  if (mode === 'bwdInput') return { M: g.N * g.H * g.W, Nc: g.Cg, K: g.Coutg * g.kh * g.kw };
  return { M: g.Cg * g.kh * g.kw, Nc: g.Coutg, K: g.N * g.Ho * g.Wo };
}

// ------------------------------------------------------------------------------- B packing

/**
 * Writes the B operand of a pass as [G][K][N4·4] (channels rounded up to 4, zeros past the end):
 * fwd: w[g·Coutg + co, k]; bwdInput: w[g·Coutg + co_l, c, i, j] with k = (co_l, i, j);
 * bwdWeight: dy[n, g·Coutg + co, oy, ox] with k = (n, oy, ox).
 */
function packB(rt: Runtime, mode: Mode, g: Geo, src: GPUStorage | BufferWindow, srcOff = 0): GPUStorage {
  const { Nc, K } = gemmSizes(mode, g);
  const W4 = Math.ceil(Nc / 4) * 4;
  const n = g.G * K * W4;
  const out = rt.alloc(n * 4);
  // srcOff: where the source (a window of dy for bwdWeight) starts in the bound buffer.
  const u = geoUniforms(g).u32('n', n).u32('K', K).u32('W4', W4).u32('Nc', Nc).u32('sOff', srcOff);
  const index = {
    // w is [Cout, Cg, kh, kw] = [Cout, K]
    fwd: 'src[(grp * p.Coutg + col) * p.K + k]',
    // k = (co_l, t) with t = (i, j); w[(grp·Coutg + co_l), col, t]
    bwdInput: 'src[((grp * p.Coutg + k / (p.kh * p.kw)) * p.Cg + col) * p.kh * p.kw + k % (p.kh * p.kw)]',
    // k = (n, s) with s = oy·Wo + ox; dy[n, grp·Coutg + col, s]
    bwdWeight: 'src[p.sOff + ((k / (p.Ho * p.Wo)) * p.Cout + grp * p.Coutg + col) * p.Ho * p.Wo + k % (p.Ho * p.Wo)]',
  }[mode];
  rt.run({
    name: `conv2d:pack:${mode}`,
    key: `conv2d:pack:${mode}`,
    code: () => `${u.struct('P')}
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let e = ${GRID_INDEX('256u')};
  if (e >= p.n) { return; }
  let col = e % p.W4;
  let k = (e / p.W4) % p.K;
  let grp = e / (p.W4 * p.K);
  var v = 0.0;
  if (col < p.Nc) { v = ${index}; }
  dst[e] = v;
}`,
    bindings: [src, out],
    uniforms: u,
    workgroups: grid(rt, Math.ceil(n / 256)),
  });
  return out;
}

// ------------------------------------------------------------------------------- implicit GEMM

/** WGSL of one pass. Bindings: a (x or dy), b (packed B), out, bias (fwd only), uniforms. */
export function convGemmWGSL(mode: Mode, tile: ConvTile, u: Uniforms, hasBias: boolean): string {
  const { BM, CV, WG, BK } = tile;
  const BM4 = BM / 4;
  const PR = BM / WG; // rows staged per invocation
  const acc = (m: number, c: number): string => `acc${m}_${c}`;

  // Per staged row (pixel or tap) decode, computed once per invocation for each of its rows q
  // (variables suffixed _q), the per-k decode (uniform), and the gather of A[row, k].
  let rowDecode: (q: number) => string;
  let kDecode: string;
  let gather: (q: number) => string;
  if (mode === 'fwd') {
    rowDecode = (q) => `let pix_${q} = row0 + lid + ${q * WG}u;
  let live_${q} = pix_${q} < p.M;
  let s_${q} = pix_${q} % (p.Ho * p.Wo);
  let iy0_${q} = i32(s_${q} / p.Wo) * p.sh - p.ph;
  let ix0_${q} = i32(s_${q} % p.Wo) * p.sw - p.pw;
  let base_${q} = p.aOff + ((pix_${q} / (p.Ho * p.Wo)) * p.C + grp * p.Cg) * p.H * p.W;`;
    kDecode = `let c = k / (p.kh * p.kw);
      let t = k % (p.kh * p.kw);
      let dy = i32(t / p.kw) * p.dh;
      let dx = i32(t % p.kw) * p.dw;
      let kLive = k < p.K;`;
    gather = (q) => `let iy = iy0_${q} + dy;
        let ix = ix0_${q} + dx;
        let ok = live_${q} && kLive && iy >= 0 && iy < i32(p.H) && ix >= 0 && ix < i32(p.W);
        let v = select(0.0, a[select(0u, base_${q} + (c * p.H + u32(iy)) * p.W + u32(ix), ok)], ok);`;
  } else if (mode === 'bwdInput') {
    rowDecode = (q) => `let pix_${q} = row0 + lid + ${q * WG}u;
  let live_${q} = pix_${q} < p.M;
  let s_${q} = pix_${q} % (p.H * p.W);
  let ty0_${q} = i32(s_${q} / p.W) + p.ph;
  let tx0_${q} = i32(s_${q} % p.W) + p.pw;
  let base_${q} = p.aOff + ((pix_${q} / (p.H * p.W)) * p.Cout + grp * p.Coutg) * p.Ho * p.Wo;`;
    kDecode = `let co = k / (p.kh * p.kw);
      let t = k % (p.kh * p.kw);
      let dy = i32(t / p.kw) * p.dh;
      let dx = i32(t % p.kw) * p.dw;
      let kLive = k < p.K;`;
    // oy·sh = iy + ph - i·dh must hold exactly; sh = 1 skips the division.
    gather = (q) => `let ty = ty0_${q} - dy;
        let tx = tx0_${q} - dx;
        let oy = select(ty / p.sh, ty, p.sh == 1);
        let ox = select(tx / p.sw, tx, p.sw == 1);
        let ok = live_${q} && kLive && ty >= 0 && tx >= 0 && oy * p.sh == ty && ox * p.sw == tx && oy < i32(p.Ho) && ox < i32(p.Wo);
        let v = select(0.0, a[select(0u, base_${q} + (co * p.Ho + u32(oy)) * p.Wo + u32(ox), ok)], ok);`;
  } else {
    rowDecode = (q) => `let tap_${q} = row0 + lid + ${q * WG}u;
  let live_${q} = tap_${q} < p.M;
  let t_${q} = tap_${q} % (p.kh * p.kw);
  let dy_${q} = i32(t_${q} / p.kw) * p.dh - p.ph;
  let dx_${q} = i32(t_${q} % p.kw) * p.dw - p.pw;
  let base_${q} = (grp * p.Cg + tap_${q} / (p.kh * p.kw)) * p.H * p.W;`;
    kDecode = `let s = k % (p.Ho * p.Wo);
      let oy = i32(s / p.Wo) * p.sh;
      let ox = i32(s % p.Wo) * p.sw;
      let kLive = k < p.K;
      let nBase = p.aOff + (k / (p.Ho * p.Wo)) * p.C * p.H * p.W;`;
    gather = (q) => `let iy = oy + dy_${q};
        let ix = ox + dx_${q};
        let ok = live_${q} && kLive && iy >= 0 && iy < i32(p.H) && ix >= 0 && ix < i32(p.W);
        let v = select(0.0, a[select(0u, nBase + base_${q} + u32(iy) * p.W + u32(ix), ok)], ok);`;
  }
  // Invocation lid stages rows lid, lid + WG, ... (PR of them); WG is a multiple of 4.
  const rows = Array.from({ length: PR }, (_, q) => q);
  const decodeAll = rows.map(rowDecode).join('\n  ');
  const stage = rows
    .map((q) => `{
        ${gather(q)}
        As[kk * ${BM4}u + ${(q * WG) / 4}u + lid / 4u][lid % 4u] = v;
      }`)
    .join('\n      ');

  const decl: string[] = [];
  for (let m = 0; m < BM; m++) for (let c = 0; c < CV; c++) decl.push(`var ${acc(m, c)} = vec4<f32>(0.0);`);
  const step = (j: number): string => {
    const lines = [`let kk${j} = kb + ${j}u;`, `let kl${j} = k0 + kk${j} < p.K;`];
    for (let q = 0; q < BM4; q++) lines.push(`let a${q}_${j} = As[kk${j} * ${BM4}u + ${q}u];`);
    for (let c = 0; c < CV; c++) lines.push(`let b${c}_${j} = select(vec4<f32>(0.0), bm[bBase + min(k0 + kk${j}, p.K - 1u) * p.N4 + bc${c}], kl${j});`);
    for (let m = 0; m < BM; m++) {
      for (let c = 0; c < CV; c++) lines.push(`${acc(m, c)} = fma(vec4<f32>(a${m >> 2}_${j}[${m & 3}]), b${c}_${j}, ${acc(m, c)});`);
    }
    return lines.join('\n      ');
  };

  // Store: row m of the tile, channels col·4 + e.
  let rowOut: string;
  let chanOut: string;
  if (mode === 'fwd') {
    rowOut = `let nn = pix / (p.Ho * p.Wo); let s = pix % (p.Ho * p.Wo); let obase = (nn * p.Cout + grp * p.Coutg) * p.Ho * p.Wo + s; let cs = p.Ho * p.Wo;`;
    chanOut = 'obase + ch * cs';
  } else if (mode === 'bwdInput') {
    rowOut = `let nn = pix / (p.H * p.W); let s = pix % (p.H * p.W); let obase = (nn * p.C + grp * p.Cg) * p.H * p.W + s; let cs = p.H * p.W;`;
    chanOut = 'obase + ch * cs';
  } else {
    rowOut = `let obase = grp * p.Coutg * p.M + pix; let cs = p.M;`;
    chanOut = 'obase + ch * cs';
  }
  const stores: string[] = [];
  for (let m = 0; m < BM; m++) {
    const lines: string[] = [];
    for (let c = 0; c < CV; c++) {
      for (let e = 0; e < 4; e++) {
        const ch = `col${c} * 4u + ${e}u`;
        const bias = hasBias ? ` + select(0.0, bias[min(grp * p.Coutg + ${ch}, p.biasLen - 1u)], p.hasBias == 1u)` : '';
        // bwdWeight over batch chunks: the chunks after the first add to the partial sums (p.accum)
        const store = mode === 'bwdWeight'
          ? `let q = p.oOff + ${chanOut}; var v = ${acc(m, c)}[${e}]; if (p.accum == 1u) { v += out[q]; } out[q] = v;`
          : mode === 'fwd'
            ? `out[p.oOff + ${chanOut}] = ep(${acc(m, c)}[${e}]${bias});`
            : `out[p.oOff + ${chanOut}] = ${acc(m, c)}[${e}]${bias};`;
        lines.push(`{ let ch = ${ch}; if (ch < p.Nc) { ${store} } }`);
      }
    }
    stores.push(`{ let pix = row0 + ${m}u;\n    if (pix < p.M) {\n      ${rowOut}\n      ${lines.join('\n      ')}\n    } }`);
  }

  return `${u.struct('P')}
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> bm: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
${hasBias ? '@group(0) @binding(3) var<storage, read> bias: array<f32>;' : ''}
@group(0) @binding(${hasBias ? 4 : 3}) var<uniform> p: P;
// The staged A tile, k-major: As[kk·${BM4} + m/4][m%4] = A[row0 + m, k0 + kk].
var<workgroup> As: array<vec4<f32>, ${BK * BM4}>;
${mode === 'fwd' ? EPILOGUE_WGSL : ''}
@compute @workgroup_size(${WG})
fn main(${GRID3_ARGS}) {
  ${GRID3_DECODE}
  let row0 = wid.x * ${BM}u;
  let grp = wid.z;
  let bBase = grp * p.K * p.N4;
  ${Array.from({ length: CV }, (_, c) => `let col${c} = wid.y * ${WG * CV}u + ${c * WG}u + lid;\n  let bc${c} = min(col${c}, p.N4 - 1u);`).join('\n  ')}
  ${decodeAll}
  ${decl.join('\n  ')}
  for (var k0 = 0u; k0 < p.K; k0 += ${BK}u) {
    workgroupBarrier();
    for (var kk = 0u; kk < ${BK}u; kk++) {
      let k = k0 + kk;
      ${kDecode}
      ${stage}
    }
    workgroupBarrier();
    let kc4 = (min(${BK}u, p.K - k0) + 3u) / 4u;
    for (var q = 0u; q < kc4; q++) {
      let kb = q * 4u;
      ${[0, 1, 2, 3].map(step).join('\n      ')}
    }
  }
  ${stores.join('\n  ')}
}`;
}

/**
 * Images per chunk for tensors above the binding limit: the largest count whose per-image
 * elements (`perImage`, one entry per bound tensor that grows with the batch) fit one binding each
 * (with alignment slack). All N when every tensor fits whole.
 * @throws Error naming the op when a single image of one of them is above the limit.
 */
function imagesPerChunk(rt: Runtime, N: number, perImage: readonly number[]): number {
  const slack = rt.storageAlign / 4;
  const cap = rt.maxBindingBytes / 4;
  if (perImage.every((e) => Math.ceil((N * e) / 4) * 16 <= rt.maxBindingBytes)) return N;
  let nb = N;
  for (const e of perImage) if (e > 0) nb = Math.min(nb, Math.floor((cap - slack) / e));
  if (nb < 1) {
    const worst = Math.max(...perImage);
    throw rt.tooLarge(N * worst * 4, `one image takes ${worst * 4} bytes; conv2d splits only over the batch`);
  }
  return nb;
}

/**
 * One pass, over chunks of images when a tensor is above the binding limit (one dispatch per
 * chunk, the images' windows bound at offsets; bwdWeight adds each chunk's sums to the previous).
 */
function gemmPass(rt: Runtime, mode: Mode, g: Geo, a: GPUStorage, bSrc: GPUStorage, bias: GPUStorage | null, outElems: number, tile: ConvTile = CONV_TILE, clamp?: readonly [number, number]): GPUStorage {
  const { Nc, K } = gemmSizes(mode, g);
  const out = rt.alloc(outElems * 4);
  if (outElems === 0) return out;
  if (K === 0) throw new Error(`conv2d: internal: empty reduction in ${mode}`);
  const N4 = Math.ceil(Nc / 4);
  const xImg = g.C * g.H * g.W;
  const yImg = g.Cout * g.Ho * g.Wo;
  // Per-image elements of a (x or dy), of the output (fwd, bwdInput) or of dy and its packed copy (bwdWeight).
  const perImage = mode === 'fwd' ? [xImg, yImg] : mode === 'bwdInput' ? [yImg, xImg] : [xImg, yImg, g.G * g.Ho * g.Wo * N4 * 4];
  const nb = imagesPerChunk(rt, g.N, perImage);
  const aImg = mode === 'bwdInput' ? yImg : xImg;
  const oImg = mode === 'fwd' ? yImg : mode === 'bwdInput' ? xImg : 0;
  // fwd and bwdInput pack the weights once; bwdWeight packs dy per chunk.
  const bpAll = mode === 'bwdWeight' ? null : packB(rt, mode, g, bSrc);
  const { BM, CV, WG, BK } = tile;
  // The forward always binds a bias (the packed B as a stand-in when there is none, read behind a
  // uniform flag), so that one pipeline serves both cases.
  const withBias = mode === 'fwd';
  for (let n0 = 0; n0 < g.N; n0 += nb) {
    const n1 = Math.min(g.N, n0 + nb);
    const gc: Geo = { ...g, N: n1 - n0 };
    const { M } = gemmSizes(mode, gc);
    const aw = rt.window(a, n0 * aImg, n1 * aImg);
    const ow = oImg ? rt.window(out, n0 * oImg, n1 * oImg) : { binding: out, base: 0 };
    let bp = bpAll;
    if (!bp) {
      const dw = rt.window(bSrc, n0 * yImg, n1 * yImg);
      bp = packB(rt, mode, gc, dw.binding, n0 * yImg - dw.base);
    }
    const u = clampUniforms(geoUniforms(gc), clamp).u32('M', M).u32('K', gemmSizes(mode, gc).K).u32('N4', N4).u32('Nc', Nc).u32('hasBias', bias ? 1 : 0).u32('biasLen', bias ? g.Cout : 1)
      .u32('aOff', n0 * aImg - aw.base).u32('oOff', n0 * oImg - ow.base).u32('accum', n0 > 0 ? 1 : 0);
    const workgroups = grid3(rt, u, [Math.ceil(M / BM), Math.ceil(N4 / (WG * CV)), g.G]);
    rt.run({
      name: `conv2d:${mode}`,
      key: `conv2d:${mode}:${BM}x${CV}x${WG}x${BK}`,
      code: () => convGemmWGSL(mode, tile, u, withBias),
      bindings: withBias ? [aw.binding, bp, ow.binding, bias ?? bp] : [aw.binding, bp, ow.binding],
      uniforms: u,
      workgroups,
    });
    if (bp !== bpAll) rt.free(bp);
  }
  if (bpAll) rt.free(bpAll);
  return out;
}

// ------------------------------------------------------------------------------- direct kernels

/** Depthwise and tiny grouped convs go to the direct kernels. */
function isDirect(g: Geo): boolean {
  return g.Cg <= 4 && g.Coutg <= 4;
}

const DWG = 64;

function directForward(rt: Runtime, g: Geo, x: GPUStorage, w: GPUStorage, bias: GPUStorage | null, clamp?: readonly [number, number]): GPUStorage {
  const n = g.N * g.Cout * g.Ho * g.Wo;
  const out = rt.alloc(n * 4);
  if (n === 0) return out;
  const plane = g.Ho * g.Wo;
  const xImg = g.C * g.H * g.W;
  const yImg = g.Cout * plane;
  const nb = imagesPerChunk(rt, g.N, [xImg, yImg]);
  for (let n0 = 0; n0 < g.N; n0 += nb) {
    const n1 = Math.min(g.N, n0 + nb);
    const xw = rt.window(x, n0 * xImg, n1 * xImg);
    const ow = rt.window(out, n0 * yImg, n1 * yImg);
    const u = clampUniforms(geoUniforms({ ...g, N: n1 - n0 }), clamp).u32('hasBias', bias ? 1 : 0).u32('xOff', n0 * xImg - xw.base).u32('oOff', n0 * yImg - ow.base);
    const workgroups = grid3(rt, u, [Math.ceil(plane / DWG), g.Cout, n1 - n0]);
    rt.run({
      name: 'conv2d:direct',
      key: 'conv2d:direct',
      code: () => `${u.struct('P')}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<uniform> p: P;
${EPILOGUE_WGSL}
// grid: x = pixel tiles of ${DWG}, y = output channel, z = image (of the chunk); the weights of
// channel y are the same for every invocation of the workgroup.
@compute @workgroup_size(${DWG})
fn main(${GRID3_ARGS}) {
  ${GRID3_DECODE}
  let co = wid.y;
  let nn = wid.z;
  let pix = wid.x * ${DWG}u + lid;
  let live = pix < p.Ho * p.Wo;
  let iy0 = i32(pix / p.Wo) * p.sh - p.ph;
  let ix0 = i32(pix % p.Wo) * p.sw - p.pw;
  let grp = co / p.Coutg;
  // without a bias, the weights are bound as a stand-in and not read
  var acc = select(0.0, bias[co], p.hasBias == 1u);
  for (var c = 0u; c < p.Cg; c++) {
    let xb = p.xOff + (nn * p.C + grp * p.Cg + c) * p.H * p.W;
    let wb = (co * p.Cg + c) * p.kh * p.kw;
    for (var i = 0u; i < p.kh; i++) {
      let iy = iy0 + i32(i) * p.dh;
      for (var j = 0u; j < p.kw; j++) {
        let ix = ix0 + i32(j) * p.dw;
        let ok = live && iy >= 0 && iy < i32(p.H) && ix >= 0 && ix < i32(p.W);
        let v = select(0.0, x[select(0u, xb + u32(iy) * p.W + u32(ix), ok)], ok);
        acc = fma(w[wb + i * p.kw + j], v, acc);
      }
    }
  }
  if (live) { out[p.oOff + (nn * p.Cout + co) * p.Ho * p.Wo + pix] = ep(acc); }
}`,
      bindings: [xw.binding, w, ow.binding, bias ?? w],
      uniforms: u,
      workgroups,
    });
  }
  return out;
}

function directBackwardInput(rt: Runtime, g: Geo, dy: GPUStorage, w: GPUStorage): GPUStorage {
  const n = g.N * g.C * g.H * g.W;
  const out = rt.alloc(n * 4);
  if (n === 0) return out;
  const xImg = g.C * g.H * g.W;
  const yImg = g.Cout * g.Ho * g.Wo;
  const nb = imagesPerChunk(rt, g.N, [yImg, xImg]);
  for (let n0 = 0; n0 < g.N; n0 += nb) {
    const n1 = Math.min(g.N, n0 + nb);
    const dw = rt.window(dy, n0 * yImg, n1 * yImg);
    const ow = rt.window(out, n0 * xImg, n1 * xImg);
    const u = geoUniforms({ ...g, N: n1 - n0 }).u32('dOff', n0 * yImg - dw.base).u32('oOff', n0 * xImg - ow.base);
    const workgroups = grid3(rt, u, [Math.ceil((g.H * g.W) / DWG), g.C, n1 - n0]);
    rt.run({
      name: 'conv2d:directBackwardInput',
      key: 'conv2d:directBackwardInput',
      code: () => `${u.struct('P')}
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: P;
// grid: x = input pixel tiles, y = input channel c, z = image (of the chunk). dx[n, c, q] gathers
// every (co, i, j) whose tap lands on q: iy + ph - i·dh = oy·sh exactly.
@compute @workgroup_size(${DWG})
fn main(${GRID3_ARGS}) {
  ${GRID3_DECODE}
  let c = wid.y;
  let nn = wid.z;
  let q = wid.x * ${DWG}u + lid;
  let live = q < p.H * p.W;
  let ty0 = i32(q / p.W) + p.ph;
  let tx0 = i32(q % p.W) + p.pw;
  let grp = c / p.Cg;
  let cl = c % p.Cg;
  var acc = 0.0;
  for (var col = 0u; col < p.Coutg; col++) {
    let co = grp * p.Coutg + col;
    let db = p.dOff + (nn * p.Cout + co) * p.Ho * p.Wo;
    let wb = (co * p.Cg + cl) * p.kh * p.kw;
    for (var i = 0u; i < p.kh; i++) {
      let ty = ty0 - i32(i) * p.dh;
      let oy = ty / p.sh;
      for (var j = 0u; j < p.kw; j++) {
        let tx = tx0 - i32(j) * p.dw;
        let ox = tx / p.sw;
        let ok = live && ty >= 0 && tx >= 0 && oy * p.sh == ty && ox * p.sw == tx && oy < i32(p.Ho) && ox < i32(p.Wo);
        let v = select(0.0, dy[select(0u, db + u32(oy) * p.Wo + u32(ox), ok)], ok);
        acc = fma(w[wb + i * p.kw + j], v, acc);
      }
    }
  }
  if (live) { out[p.oOff + (nn * p.C + c) * p.H * p.W + q] = acc; }
}`,
      bindings: [dw.binding, w, ow.binding],
      uniforms: u,
      workgroups,
    });
  }
  return out;
}

const RWG = 64;

function directBackwardWeight(rt: Runtime, g: Geo, x: GPUStorage, dy: GPUStorage): GPUStorage {
  const n = g.Cout * g.Cg * g.kh * g.kw;
  if (g.N === 0) return gemmZero(rt, n); // no images: the sums are empty
  const out = rt.alloc(n * 4);
  if (n === 0) return out;
  const xImg = g.C * g.H * g.W;
  const yImg = g.Cout * g.Ho * g.Wo;
  const nb = imagesPerChunk(rt, g.N, [xImg, yImg]);
  for (let n0 = 0; n0 < g.N; n0 += nb) {
    const n1 = Math.min(g.N, n0 + nb);
    const xw = rt.window(x, n0 * xImg, n1 * xImg);
    const dw = rt.window(dy, n0 * yImg, n1 * yImg);
    const u = geoUniforms({ ...g, N: n1 - n0 }).u32('nOut', n).u32('xOff', n0 * xImg - xw.base).u32('dOff', n0 * yImg - dw.base).u32('accum', n0 > 0 ? 1 : 0);
    rt.run({
      name: 'conv2d:directBackwardWeight',
      key: 'conv2d:directBackwardWeight',
      code: () => `${u.struct('P')}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: P;
var<workgroup> part: array<f32, ${RWG}>;
// One workgroup per weight element (co, c, i, j): a strided sum over the N·Ho·Wo output pixels (of
// the chunk's images; later chunks add to the stored sum, p.accum), then a tree reduction of the
// ${RWG} partial sums in workgroup memory.
@compute @workgroup_size(${RWG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let e = ${GRID_GROUP};
  if (e >= p.nOut) { return; }              // a folded grid's extra workgroups (uniform)
  let t = e % (p.kh * p.kw);
  let cl = (e / (p.kh * p.kw)) % p.Cg;
  let co = e / (p.kh * p.kw * p.Cg);
  let grp = co / p.Coutg;
  let dyy = i32(t / p.kw) * p.dh - p.ph;
  let dxx = i32(t % p.kw) * p.dw - p.pw;
  let plane = p.Ho * p.Wo;
  var acc = 0.0;
  for (var idx = lid; idx < p.N * plane; idx += ${RWG}u) {
    let nn = idx / plane;
    let s = idx % plane;
    let iy = i32(s / p.Wo) * p.sh + dyy;
    let ix = i32(s % p.Wo) * p.sw + dxx;
    let ok = iy >= 0 && iy < i32(p.H) && ix >= 0 && ix < i32(p.W);
    let xv = select(0.0, x[select(0u, p.xOff + ((nn * p.C + grp * p.Cg + cl) * p.H + u32(iy)) * p.W + u32(ix), ok)], ok);
    acc = fma(dy[p.dOff + (nn * p.Cout + co) * plane + s], xv, acc);
  }
  part[lid] = acc;
  workgroupBarrier();
  for (var h = ${RWG / 2}u; h > 0u; h = h >> 1u) {
    if (lid < h) { part[lid] += part[lid + h]; }
    workgroupBarrier();
  }
  if (lid == 0u) { out[e] = select(part[0], part[0] + out[e], p.accum == 1u); }
}`,
      bindings: [xw.binding, dw.binding, out],
      uniforms: u,
      workgroups: grid(rt, n),
    });
  }
  return out;
}

// ------------------------------------------------------------------------------- entry points

export const conv2d = entry('conv2d', (rt: Runtime, x: GT, w: GT, bias: GT | null, p: Conv2dParams): GPUStorage => conv2dWithTile(rt, x, w, bias, p, CONV_TILE));

/** conv2d with an explicit GEMM tile (exported for benchmarks and tests of each tile). */
export const conv2dWithTile = entry('conv2d', (rt: Runtime, x: GT, w: GT, bias: GT | null, p: Conv2dParams, tile: ConvTile): GPUStorage => {
  requireF32('conv2d', x, w, bias);
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const [Cout, , kh, kw] = w.shape as [number, number, number, number];
  const [top, bottom, left, right] = convPads(p.padding);
  const Ho = convOutLength(H, kh, p.stride[0], top, bottom, p.dilation[0]);
  const Wo = convOutLength(W, kw, p.stride[1], left, right, p.dilation[1]);
  const g = geometry([N, C, H, W], w.shape, p, [Ho, Wo]);
  if (isDirect(g)) return directForward(rt, g, x.storage, w.storage, bias?.storage ?? null, p.clamp);
  return gemmPass(rt, 'fwd', g, x.storage, w.storage, bias?.storage ?? null, N * Cout * Ho * Wo, tile, p.clamp);
});

export const conv2dBackwardInput = entry('conv2dBackwardInput', (rt: Runtime, dy: GT, w: GT, xShape: readonly number[], p: Conv2dParams): GPUStorage => {
  requireF32('conv2dBackwardInput', dy, w);
  const g = geometry(xShape, w.shape, p, dy.shape.slice(2));
  if (isDirect(g)) return directBackwardInput(rt, g, dy.storage, w.storage);
  return gemmPass(rt, 'bwdInput', g, dy.storage, w.storage, null, g.N * g.C * g.H * g.W);
});

export const conv2dBackwardWeight = entry('conv2dBackwardWeight', (rt: Runtime, x: GT, dy: GT, wShape: readonly number[], p: Conv2dParams): GPUStorage => {
  requireF32('conv2dBackwardWeight', x, dy);
  const g = geometry(x.shape, wShape, p, dy.shape.slice(2));
  if (isDirect(g)) return directBackwardWeight(rt, g, x.storage, dy.storage);
  if (g.N * g.Ho * g.Wo === 0) {
    // no output pixels: the gradient is zero
    return gemmZero(rt, g.Cout * g.Cg * g.kh * g.kw);
  }
  return gemmPass(rt, 'bwdWeight', g, x.storage, dy.storage, null, g.Cout * g.Cg * g.kh * g.kw);
});

function gemmZero(rt: Runtime, n: number): GPUStorage {
  const out = rt.alloc(n * 4);
  if (n === 0) return out;
  const u = new Uniforms().u32('n', n);
  rt.run({
    name: 'conv2d:zero',
    key: 'conv2d:zero',
    code: () => `${u.struct('P')}
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<uniform> p: P;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = ${GRID_INDEX('256u')};
  if (i < p.n) { out[i] = 0.0; }
}`,
    bindings: [out],
    uniforms: u,
    workgroups: grid(rt, Math.ceil(n / 256)),
  });
  return out;
}
