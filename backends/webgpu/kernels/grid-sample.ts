/**
 * gridSample forward and backward on webgpu (torch.nn.functional.grid_sample, 4-D input, float32):
 * bilinear or nearest, padding zeros / border / reflection, alignCorners, exactly the cpu
 * kernel's rules (backends/cpu/resample.ts).
 *
 * Layout: one invocation per output point (n, o), o = oy·Wo + ox, 64 per workgroup. The invocation
 * turns grid[n, o] = (gx, gy) into a pixel position once (unnormalize, then clip or reflect, with
 * the chain factor d(pixel)/d(grid) kept for the backward), then loops over the C channels: the
 * position, the four corner indices and weights are shared by every channel, so they are computed
 * once per point rather than once per output value. Neighbouring invocations write neighbouring
 * outputs out[n, c, o] (coalesced stores); the reads of x follow the grid (a gather).
 * Traffic per output value: 4 reads of x (1 for nearest) and 1 write; per point, 2 grid reads.
 *
 * Backward, same layout:
 * - dGrid[n, o] is a gather: the invocation sums, over channels, dy·Σ_corners x·∂w/∂(x|y), then
 *   multiplies by the chain factors. One writer per element, no atomics.
 * - dx is scatter-style: each (point, channel) adds w·dy into up to four pixels of x, and any number
 *   of points can land on the same pixel (an arbitrary grid; 'border' piles every point beyond the
 *   edge onto the edge pixels). A gather formulation would need the inverse map pixel -> points,
 *   i.e. a counting sort of the points by pixel each call (count with integer atomics, prefix sum,
 *   fill, then gather): three extra passes and a buffer of 4·N·P entries. WGSL has no float
 *   atomics, so instead dx is an `array<atomic<u32>>` holding f32 bits, and each add is a
 *   compare-and-swap loop: read the bits, add in f32, `atomicCompareExchangeWeak`, retry with the
 *   returned value if another invocation got there first.
 *   Cost: one atomic round trip per (point, channel, in-bounds corner), 4·N·C·P in the worst case,
 *   plus one retry per collision; contention stays low unless many points share a pixel (heavy
 *   downsampling, or clamping onto the border). dx is zeroed by a fill pass first. The order of
 *   the additions into one pixel varies from run to run, so dx is reproducible only to float32
 *   rounding (the forward and dGrid are deterministic).
 *   Nearest mode: dx gets dy at the rounded pixel (same CAS add); dGrid is zero.
 * Tensors above the binding limit: blocks of images (x, grid, out; dx and dGrid in backward), each
 * run unchanged on views (Runtime.splitOuter).
 */
import type { GridSampleParams, KTensor } from '../../backend.js';
import { fail } from '../../../engine/shape.js';
import { entry, GRID_INDEX, grid, Uniforms, type GPUStorage, type Runtime } from '../runtime.js';

type GT = KTensor<GPUStorage>;

const WG = 64;

/**
 * WGSL: `fn <name>(i: u32, v: f32)` adding v to element i of `buf`, an
 * `array<atomic<u32>>` holding float32 bits, with a compare-and-swap loop (WGSL has no float
 * atomics). Adds of 0 are skipped.
 */
export function atomicAddF32WGSL(buf: string, name = 'atomicAddF32'): string {
  return `fn ${name}(i: u32, v: f32) {
  if (v == 0.0) { return; }
  var old = atomicLoad(&${buf}[i]);
  loop {
    let r = atomicCompareExchangeWeak(&${buf}[i], old, bitcast<u32>(bitcast<f32>(old) + v));
    if (r.exchanged) { break; }
    old = r.old_value;
  }
}`;
}

/**
 * Sets the first `n` 4-byte words of `s` to 0 (f32 0.0 and u32 0 share their bits); in chunks of
 * views for storages above the binding limit.
 */
export function zeroFill(rt: Runtime, s: GPUStorage, n: number): void {
  rt.splitOuter(n, [[s, 1]], 'element', (count, [v]) => zeroFillOne(rt, v!, count));
}

function zeroFillOne(rt: Runtime, s: GPUStorage, n: number): void {
  rt.run({
    name: 'zeroFill',
    key: 'zeroFill',
    code: () => `struct P { n: u32, }
@group(0) @binding(0) var<storage, read_write> o: array<u32>;
@group(0) @binding(1) var<uniform> p: P;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = ${GRID_INDEX('256u')};
  if (i < p.n) { o[i] = 0u; }
}`,
    bindings: [s],
    uniforms: new Uniforms().u32('n', n),
    workgroups: grid(rt, Math.ceil(n / 256)),
  });
}

/** WGSL: grid value -> pixel coordinate and its derivative (PyTorch's grid_sampler_compute_source_index). */
function sourceCoordWGSL(p: GridSampleParams): string {
  const unnorm = p.alignCorners
    ? 'var c = Coord(((g + 1.0) / 2.0) * (size - 1.0), (size - 1.0) / 2.0);'
    : 'var c = Coord(((g + 1.0) * size - 1.0) / 2.0, size / 2.0);';
  let pad = '';
  if (p.paddingMode === 'border') pad = 'let k = clipC(c.v, size); c = Coord(k.v, c.dv * k.dv);';
  if (p.paddingMode === 'reflection') {
    pad = `let r = reflectC(c.v, ${p.alignCorners ? '0.0, 2.0 * (size - 1.0)' : '-1.0, 2.0 * size - 1.0'});
    let k = clipC(r.v, size);
    c = Coord(k.v, c.dv * r.dv * k.dv);`;
  }
  return `struct Coord { v: f32, dv: f32, }
// Clips to [0, size-1]; the derivative is 0 where clipped.
fn clipC(v: f32, size: f32) -> Coord {
  if (v <= 0.0) { return Coord(0.0, 0.0); }
  if (v >= size - 1.0) { return Coord(size - 1.0, 0.0); }
  return Coord(v, 1.0);
}
// Reflects v into [lo2/2, hi2/2] (bounds doubled, as PyTorch); dv = ±1.
fn reflectC(v: f32, lo2: f32, hi2: f32) -> Coord {
  if (lo2 == hi2) { return Coord(0.0, 0.0); }
  let mn = lo2 / 2.0;
  let span = (hi2 - lo2) / 2.0;
  var t = v - mn;
  var sgn = 1.0;
  if (t < 0.0) { sgn = -1.0; t = -t; }
  var flips = floor(t / span);
  var extra = t - flips * span;
  // keep extra in [0, span) when t / span rounded across an integer
  if (extra < 0.0) { extra += span; flips -= 1.0; }
  if (extra >= span) { extra -= span; flips += 1.0; }
  if ((i32(flips) & 1) == 0) { return Coord(extra + mn, sgn); }
  return Coord(span - extra + mn, -sgn);
}
fn sourceCoord(g: f32, size: f32) -> Coord {
  ${unnorm}
  ${pad}
  return c;
}`;
}

function keyOf(p: GridSampleParams): string {
  return `${p.mode}:${p.paddingMode}:${p.alignCorners ? 'ac' : 'nac'}`;
}

function geometry(op: string, x: GT, g: GT): { N: number; C: number; H: number; W: number; P: number; u: Uniforms } {
  if (x.dtype !== 'float32' || g.dtype !== 'float32') fail(op, 'float32 input and grid on webgpu', `${x.dtype} and ${g.dtype}`);
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const [, Ho, Wo] = g.shape as [number, number, number, number];
  const P = Ho * Wo;
  const u = new Uniforms().u32('N', N).u32('C', C).u32('H', H).u32('W', W).u32('P', P);
  return { N, C, H, W, P, u };
}

const HEADER = `fn inside(iy: i32, ix: i32) -> bool { return iy >= 0 && iy < i32(p.H) && ix >= 0 && ix < i32(p.W); }`;

export const gridSample = entry('gridSample', (rt: Runtime, x: GT, g: GT, p: GridSampleParams): GPUStorage => {
  const { N, C, H, W, P, u } = geometry('gridSample', x, g);
  const out = rt.alloc(N * C * P * 4);
  if (N * C * P === 0) return out;
  const body = p.mode === 'nearest'
    ? `let ix = i32(round(cx.v));            // WGSL round() is half-to-even, as C's nearbyint
  let iy = i32(round(cy.v));
  let ok = inside(iy, ix);
  let at = u32(iy) * p.W + u32(ix);
  for (var c = 0u; c < p.C; c++) {
    var v = 0.0;
    if (ok) { v = x[(n * p.C + c) * p.H * p.W + at]; }
    out[(n * p.C + c) * p.P + o] = v;
  }`
    : `let fx = floor(cx.v); let fy = floor(cy.v);
  let tx = cx.v - fx; let ty = cy.v - fy;
  let x0 = i32(fx); let y0 = i32(fy);
  // the four corners: weight, or 0 when outside the image (their index is then never read)
  let w00 = select(0.0, (1.0 - tx) * (1.0 - ty), inside(y0, x0));
  let w01 = select(0.0, tx * (1.0 - ty), inside(y0, x0 + 1));
  let w10 = select(0.0, (1.0 - tx) * ty, inside(y0 + 1, x0));
  let w11 = select(0.0, tx * ty, inside(y0 + 1, x0 + 1));
  let i00 = clampIdx(y0, x0); let i01 = clampIdx(y0, x0 + 1);
  let i10 = clampIdx(y0 + 1, x0); let i11 = clampIdx(y0 + 1, x0 + 1);
  for (var c = 0u; c < p.C; c++) {
    let plane = (n * p.C + c) * p.H * p.W;
    // corners outside the image add nothing (not 0 · x, which is NaN for an infinite x)
    out[(n * p.C + c) * p.P + o] = select(0.0, w00 * x[plane + i00], inside(y0, x0)) + select(0.0, w01 * x[plane + i01], inside(y0, x0 + 1))
      + select(0.0, w10 * x[plane + i10], inside(y0 + 1, x0)) + select(0.0, w11 * x[plane + i11], inside(y0 + 1, x0 + 1));
  }`;
  // Tensors above the binding limit: chunks of images (views; Runtime.splitOuter). `run` copies the
  // uniforms at once, so N can change per chunk.
  rt.splitOuter(N, [[x.storage, C * H * W], [g.storage, P * 2], [out, C * P]], 'image', (count, [xs, gs, os]) => {
    u.set('N', count);
    rt.run({
      name: 'gridSample',
      key: `gridSample:${keyOf(p)}`,
      code: () => `${u.struct('P')}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> gridv: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: P;
${sourceCoordWGSL(p)}
${HEADER}
// An in-bounds flat index for any corner (clamped), so that reads never leave the plane.
fn clampIdx(iy: i32, ix: i32) -> u32 {
  return u32(clamp(iy, 0, i32(p.H) - 1)) * p.W + u32(clamp(ix, 0, i32(p.W) - 1));
}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let j = ${GRID_INDEX(`${WG}u`)};
  if (j >= p.N * p.P) { return; }
  let n = j / p.P;
  let o = j % p.P;
  let cx = sourceCoord(gridv[j * 2u], f32(p.W));
  let cy = sourceCoord(gridv[j * 2u + 1u], f32(p.H));
  ${body}
}`,
      bindings: [xs!, gs!, os!],
      uniforms: u,
      workgroups: grid(rt, Math.ceil((count * P) / WG)),
    });
  });
  return out;
});

export const gridSampleBackward = entry('gridSampleBackward', (rt: Runtime, dy: GT, x: GT, g: GT, p: GridSampleParams): { dx: GPUStorage; dGrid: GPUStorage } => {
  const { N, C, H, W, P, u } = geometry('gridSampleBackward', x, g);
  const dx = rt.alloc(N * C * H * W * 4);
  const dGrid = rt.alloc(N * P * 2 * 4);
  if (N * C * H * W > 0) zeroFill(rt, dx, N * C * H * W);
  if (N * P === 0) return { dx, dGrid };
  // Nearest mode never reads x ('auto' layouts drop unused bindings, so it is not bound then).
  const nearest = p.mode === 'nearest';
  const names = ['dy', ...(nearest ? [] : ['x']), 'gridv'];
  const decl = [
    ...names.map((nm, i) => `@group(0) @binding(${i}) var<storage, read> ${nm}: array<f32>;`),
    `@group(0) @binding(${names.length}) var<storage, read_write> dx: array<atomic<u32>>;`,
    `@group(0) @binding(${names.length + 1}) var<storage, read_write> dGrid: array<f32>;`,
    `@group(0) @binding(${names.length + 2}) var<uniform> p: P;`,
  ].join('\n');
  const body = nearest
    ? `let ix = i32(round(cx.v));
  let iy = i32(round(cy.v));
  if (inside(iy, ix)) {
    let at = u32(iy) * p.W + u32(ix);
    for (var c = 0u; c < p.C; c++) {
      atomicAddF32((n * p.C + c) * p.H * p.W + at, dy[(n * p.C + c) * p.P + o]);
    }
  }
  dGrid[j * 2u] = 0.0;                      // piecewise constant in the grid
  dGrid[j * 2u + 1u] = 0.0;`
    : `let fx = floor(cx.v); let fy = floor(cy.v);
  let tx = cx.v - fx; let ty = cy.v - fy;
  let x0 = i32(fx); let y0 = i32(fy);
  // corner: in-bounds flag, flat index, weight, ∂weight/∂x_pix, ∂weight/∂y_pix
  let k00 = inside(y0, x0); let k01 = inside(y0, x0 + 1);
  let k10 = inside(y0 + 1, x0); let k11 = inside(y0 + 1, x0 + 1);
  let i00 = clampIdx(y0, x0); let i01 = clampIdx(y0, x0 + 1);
  let i10 = clampIdx(y0 + 1, x0); let i11 = clampIdx(y0 + 1, x0 + 1);
  var gx = 0.0; var gy = 0.0;
  for (var c = 0u; c < p.C; c++) {
    let plane = (n * p.C + c) * p.H * p.W;
    let d = dy[(n * p.C + c) * p.P + o];
    if (k00) { let v = x[plane + i00]; atomicAddF32(plane + i00, (1.0 - tx) * (1.0 - ty) * d); gx -= (1.0 - ty) * v * d; gy -= (1.0 - tx) * v * d; }
    if (k01) { let v = x[plane + i01]; atomicAddF32(plane + i01, tx * (1.0 - ty) * d);         gx += (1.0 - ty) * v * d; gy -= tx * v * d; }
    if (k10) { let v = x[plane + i10]; atomicAddF32(plane + i10, (1.0 - tx) * ty * d);         gx -= ty * v * d;         gy += (1.0 - tx) * v * d; }
    if (k11) { let v = x[plane + i11]; atomicAddF32(plane + i11, tx * ty * d);                 gx += ty * v * d;         gy += tx * v * d; }
  }
  dGrid[j * 2u] = gx * cx.dv;
  dGrid[j * 2u + 1u] = gy * cy.dv;`;
  // Images are independent (dx and dGrid of image n read only image n): chunks of images as the forward.
  rt.splitOuter(N, [[dy.storage, C * P], [x.storage, C * H * W], [g.storage, P * 2], [dx, C * H * W], [dGrid, P * 2]], 'image', (count, [ds, xs, gs, dxs, dgs]) => {
    u.set('N', count);
    rt.run({
      name: 'gridSampleBackward',
      key: `gridSampleBackward:${keyOf(p)}`,
      code: () => `${u.struct('P')}
${decl}
${sourceCoordWGSL(p)}
${HEADER}
${atomicAddF32WGSL('dx')}
fn clampIdx(iy: i32, ix: i32) -> u32 {
  return u32(clamp(iy, 0, i32(p.H) - 1)) * p.W + u32(clamp(ix, 0, i32(p.W) - 1));
}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let j = ${GRID_INDEX(`${WG}u`)};
  if (j >= p.N * p.P) { return; }
  let n = j / p.P;
  let o = j % p.P;
  let cx = sourceCoord(gridv[j * 2u], f32(p.W));
  let cy = sourceCoord(gridv[j * 2u + 1u], f32(p.H));
  ${body}
}`,
      bindings: [ds!, ...(nearest ? [] : [xs!]), gs!, dxs!, dgs!],
      uniforms: u,
      workgroups: grid(rt, Math.ceil((count * P) / WG)),
    });
  });
  return { dx, dGrid };
});
