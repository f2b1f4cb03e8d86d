/**
 * gridSample (torch.nn.functional.grid_sample, 4-D): bilinear or nearest, zeros/border/reflection
 * padding, alignCorners; forward and backward (see backends/cpu/resample.ts for the coordinate
 * rules).
 *
 * Per sample n, the output points go in chunks of CHUNK = 256:
 * 1. PLAN (scalar, float64, once per point for all channels): the grid value is unnormalized to a
 *    pixel coordinate and put through the padding mode exactly as on cpu; then bilinear gives the
 *    top-left neighbour's offset in the zero-bordered plane (bilinear.ts) and the four weights as
 *    one f32x4; nearest gives the rounded pixel's offset (round half to even). Points whose
 *    neighbours are all outside the image get the zero block.
 * 2. GATHER, channel by channel: out[n, c, chunk] from the padded plane of x[n, c], four points at a
 *    time (gather4), so the writes are contiguous and the plane stays in L1/L2.
 * The C planes of x[n] are copied into zero-bordered planes first (work scratch), so no read is
 * bounds-checked. Cost per sample: C·(H+3)·(W+2) copy + P plans + C·P gathers.
 *
 * Backward, per chunk, channel by channel, with g = dy[n, c, p]:
 * - dx: scatter g·weights onto the four neighbours of a zero-bordered dx plane (scratch), whose
 *   interior is copied out at the end (the border absorbs the out-of-image neighbours);
 * - dGrid: the derivative of the sample with respect to the pixel x coordinate is V·Wgx with
 *   V = [v00, v01, v10, v11] and Wgx = [-(1-ty), 1-ty, -ty, ty] (Wgy = [-(1-tx), -tx, 1-tx, tx] for
 *   y). Since that is linear in V, each point accumulates G = Σ_c g·V over the channels (one f32x4),
 *   and its grid gradient is dvx·(G·Wgx), dvy·(G·Wgy) at the end, dvx and dvy being the chain
 *   factors d(pixel)/d(grid) of the unnormalization and padding mode. Nearest: zero.
 *
 * work (bytes, 16-aligned): forward C·(H+3)·(W+2)·4 + PLAN_BYTES; backward 2·C·(H+3)·(W+2)·4 + PLAN_BYTES.
 *
 * THREADS. The kernels run over a range [u0, u1) of units (sample n, chunk of CHUNK points),
 * u = n·⌈P/CHUNK⌉ + chunk, one range per thread with its own work area (../grid-sample.ts aligns
 * the ranges to whole samples when there are at least as many samples as threads). A thread pads
 * the planes of every sample it touches. Forward: each output is computed as on one thread
 * (bit-identical). Backward: dGrid of a point is bit-identical; dx of a sample whose chunks all lie
 * in the thread's range is written directly, and a sample split between threads (at most the
 * first and the last of a range) scatters into the thread's own padded planes in `part` (slot 0:
 * the range's first sample, slot 1: its last), added up in thread order by
 * grid_sample_unpad_sum_f32 (float32 rounding of that sum differs from one thread: within
 * tolerance).
 */
import { dot4, gather1, gather4, pad_planes, quad, scatter, unpad_planes } from './bilinear';

const CHUNK = 256;
/** offs i32[CHUNK] | W v128[CHUNK] | Wgx v128[CHUNK] | Wgy v128[CHUNK] | G v128[CHUNK] | dvx f32[CHUNK] | dvy f32[CHUNK] */
const PLAN_BYTES = CHUNK * (4 + 16 * 4 + 8);

export function grid_sample_plan_bytes(): i32 {
  return PLAN_BYTES;
}

// plan outputs (scratch layout above)
let OFFS: usize = 0, WTS: usize = 0, WGX: usize = 0, WGY: usize = 0, GACC: usize = 0, DVX: usize = 0, DVY: usize = 0;

function layout(plan: usize): void {
  OFFS = plan;
  WTS = plan + CHUNK * 4;
  WGX = WTS + CHUNK * 16;
  WGY = WGX + CHUNK * 16;
  GACC = WGY + CHUNK * 16;
  DVX = GACC + CHUNK * 16;
  DVY = DVX + CHUNK * 4;
}

// ------------------------------------------------------------------ coordinates (as cpu)
let CV: f64 = 0; // coordinate
let CD: f64 = 0; // d(coordinate)/d(grid)

/** Reflects v into [lo2/2, hi2/2] (bounds doubled, as PyTorch), setting CV and multiplying CD by ±1. */
function reflect(v: f64, lo2: f64, hi2: f64): void {
  if (lo2 == hi2) {
    CV = 0;
    CD = 0;
    return;
  }
  const mn = lo2 / 2;
  const span = (hi2 - lo2) / 2;
  let t = v - mn;
  let sign: f64 = 1;
  if (t < 0) {
    sign = -1;
    t = -t;
  }
  const extra = t % span;
  const flips = Math.floor(t / span);
  if (flips % 2 == 0) {
    CV = extra + mn;
    CD *= sign;
  } else {
    CV = span - extra + mn;
    CD *= -sign;
  }
}

/** Grid value g -> pixel coordinate CV (and CD) for an axis of `size` pixels. */
function source(g: f64, size: i32, pad: i32, align: i32): void {
  const s = <f64>size;
  let v = align ? ((g + 1) / 2) * (s - 1) : ((g + 1) * s - 1) / 2;
  CD = align ? (s - 1) / 2 : s / 2;
  if (pad == 0) {
    CV = v;
    return;
  }
  if (pad == 2) {
    if (align) reflect(v, 0, 2 * (s - 1));
    else reflect(v, -1, 2 * s - 1);
    v = CV;
  }
  // clip to [0, size-1]
  if (v <= 0) {
    v = 0;
    CD = 0;
  } else if (v >= s - 1) {
    v = s - 1;
    CD = 0;
  }
  CV = v;
}

/**
 * Plans `count` points of the grid at pg (pairs x, y): offsets, weights, and for the backward the
 * derivative weights and chain factors. Entries up to the next multiple of 4 get the zero block.
 */
function plan(pg: usize, count: i32, H: i32, W: i32, mode: i32, pad: i32, align: i32, backward: bool): void {
  const Wp = W + 2;
  const zb = (H + 1) * Wp;
  const zero = f32x4.splat(0);
  for (let k = 0; k < count; k++) {
    const gx = <f64>load<f32>(pg + ((<usize>(2 * k)) << 2));
    const gy = <f64>load<f32>(pg + ((<usize>(2 * k + 1)) << 2));
    source(gx, W, pad, align);
    const cx = CV, dvx = CD;
    source(gy, H, pad, align);
    const cy = CV, dvy = CD;
    const wk = WTS + ((<usize>k) << 4);
    if (mode) {
      const ix = nearest<f64>(cx), iy = nearest<f64>(cy);
      const inside = ix >= 0 && ix < <f64>W && iy >= 0 && iy < <f64>H;
      store<i32>(OFFS + ((<usize>k) << 2), inside ? (<i32>iy + 1) * Wp + <i32>ix + 1 : zb);
      v128.store(wk, inside ? f32x4(1, 0, 0, 0) : zero);
      continue;
    }
    const x0 = Math.floor(cx), y0 = Math.floor(cy);
    const tx = cx - x0, ty = cy - y0;
    // neighbours within the zero border (else all four are outside the image: the zero block)
    const near = x0 >= -1 && x0 <= <f64>(W - 1) && y0 >= -1 && y0 <= <f64>(H - 1);
    store<i32>(OFFS + ((<usize>k) << 2), near ? (<i32>y0 + 1) * Wp + <i32>x0 + 1 : zb);
    v128.store(wk, near ? f32x4(<f32>((1 - tx) * (1 - ty)), <f32>(tx * (1 - ty)), <f32>((1 - tx) * ty), <f32>(tx * ty)) : zero);
    if (backward) {
      if (!near) {
        // G stays 0 for such a point; zero weights keep an infinite coordinate from making 0·∞
        v128.store(WGX + ((<usize>k) << 4), zero);
        v128.store(WGY + ((<usize>k) << 4), zero);
        store<f32>(DVX + ((<usize>k) << 2), 0);
        store<f32>(DVY + ((<usize>k) << 2), 0);
        continue;
      }
      v128.store(WGX + ((<usize>k) << 4), f32x4(<f32>(-(1 - ty)), <f32>(1 - ty), <f32>(-ty), <f32>ty));
      v128.store(WGY + ((<usize>k) << 4), f32x4(<f32>(-(1 - tx)), <f32>(-tx), <f32>(1 - tx), <f32>tx));
      store<f32>(DVX + ((<usize>k) << 2), <f32>dvx);
      store<f32>(DVY + ((<usize>k) << 2), <f32>dvy);
    }
  }
  for (let k = count; k < ((count + 3) & ~3); k++) {
    store<i32>(OFFS + ((<usize>k) << 2), zb);
    v128.store(WTS + ((<usize>k) << 4), zero);
  }
}

/**
 * out[n, c, p] = x[n, c] sampled at grid[n, p] over [N, C, H, W] x [N, P = Ho·Wo, 2], for the
 * units [u0, u1) (see THREADS). mode: 0 bilinear, 1 nearest; pad: 0 zeros, 1 border,
 * 2 reflection; align: alignCorners.
 */
export function grid_sample_f32(px: usize, pgrid: usize, po: usize, C: i32, H: i32, W: i32, P: i32, mode: i32, pad: i32, align: i32, work: usize, u0: i32, u1: i32): void {
  const Wp = W + 2;
  const wpB = (<usize>Wp) << 2;
  const plane = (H + 3) * Wp;
  const nck = (P + CHUNK - 1) / CHUNK;
  const xpad = work;
  layout(work + ((<usize>(C * plane)) << 2));
  if (u1 <= u0 || nck == 0) return;
  for (let n = u0 / nck; n * nck < u1; n++) {
    pad_planes(px + ((<usize>(n * C * H * W)) << 2), xpad, C, H, W);
    const pe = min(P, (u1 - n * nck) * CHUNK);
    for (let p0 = max(0, u0 - n * nck) * CHUNK; p0 < pe; p0 += CHUNK) {
      const count = min(CHUNK, pe - p0);
      plan(pgrid + ((<usize>((n * P + p0) * 2)) << 2), count, H, W, mode, pad, align, false);
      for (let c = 0; c < C; c++) {
        const xp = xpad + ((<usize>(c * plane)) << 2);
        const out = po + ((<usize>((n * C + c) * P + p0)) << 2);
        if (mode) {
          for (let k = 0; k < count; k++) store<f32>(out + ((<usize>k) << 2), load<f32>(xp + ((<usize>load<i32>(OFFS + ((<usize>k) << 2))) << 2)));
          continue;
        }
        let k = 0;
        for (; k + 4 <= count; k += 4) v128.store(out + ((<usize>k) << 2), gather4(xp, OFFS + ((<usize>k) << 2), WTS + ((<usize>k) << 4), wpB));
        for (; k < count; k++) store<f32>(out + ((<usize>k) << 2), gather1(xp, load<i32>(OFFS + ((<usize>k) << 2)), v128.load(WTS + ((<usize>k) << 4)), wpB));
      }
    }
  }
}

/**
 * dx [N, C, H, W] and dGrid [N, P, 2] from dy [N, C, P], for the units [u0, u1); the padded dx
 * planes of samples split between threads go to part ([2][C][(H+3)·(W+2)], see THREADS).
 */
export function grid_sample_backward_f32(px: usize, pdy: usize, pgrid: usize, pdx: usize, pdgrid: usize, C: i32, H: i32, W: i32, P: i32, mode: i32, pad: i32, align: i32, work: usize, u0: i32, u1: i32, part: usize): void {
  const Wp = W + 2;
  const wpB = (<usize>Wp) << 2;
  const plane = (H + 3) * Wp;
  const nck = (P + CHUNK - 1) / CHUNK;
  const xpad = work;
  const ownDx = work + ((<usize>(C * plane)) << 2);
  layout(ownDx + ((<usize>(C * plane)) << 2));
  if (u1 <= u0 || nck == 0) return;
  const first = u0 / nck;
  for (let n = first; n * nck < u1; n++) {
    const ca = max(0, u0 - n * nck), cb = min(nck, u1 - n * nck);
    const whole = ca == 0 && cb == nck;
    const dxpad = whole ? ownDx : part + ((<usize>((n == first ? 0 : 1) * C * plane)) << 2);
    if (!mode) pad_planes(px + ((<usize>(n * C * H * W)) << 2), xpad, C, H, W);
    memory.fill(dxpad, 0, (<usize>(C * plane)) << 2);
    const pe = min(P, cb * CHUNK);
    for (let p0 = ca * CHUNK; p0 < pe; p0 += CHUNK) {
      const count = min(CHUNK, pe - p0);
      plan(pgrid + ((<usize>((n * P + p0) * 2)) << 2), count, H, W, mode, pad, align, true);
      memory.fill(GACC, 0, (<usize>count) << 4);
      for (let c = 0; c < C; c++) {
        const xp = xpad + ((<usize>(c * plane)) << 2);
        const dp = dxpad + ((<usize>(c * plane)) << 2);
        const dy = pdy + ((<usize>((n * C + c) * P + p0)) << 2);
        for (let k = 0; k < count; k++) {
          const g = load<f32>(dy + ((<usize>k) << 2));
          const o = (<usize>load<i32>(OFFS + ((<usize>k) << 2))) << 2;
          if (mode) {
            store<f32>(dp + o, load<f32>(dp + o) + g);
            continue;
          }
          const gv = f32x4.splat(g);
          const ga = GACC + ((<usize>k) << 4);
          v128.store(ga, f32x4.add(v128.load(ga), f32x4.mul(gv, quad(xp + o, wpB))));
          scatter(dp + o, wpB, f32x4.mul(gv, v128.load(WTS + ((<usize>k) << 4))));
        }
      }
      const dg = pdgrid + ((<usize>((n * P + p0) * 2)) << 2);
      for (let k = 0; k < count; k++) {
        let gx: f32 = 0, gy: f32 = 0;
        if (!mode) {
          const G = v128.load(GACC + ((<usize>k) << 4));
          gx = load<f32>(DVX + ((<usize>k) << 2)) * dot4(G, v128.load(WGX + ((<usize>k) << 4)));
          gy = load<f32>(DVY + ((<usize>k) << 2)) * dot4(G, v128.load(WGY + ((<usize>k) << 4)));
        }
        store<f32>(dg + ((<usize>(2 * k)) << 2), gx);
        store<f32>(dg + ((<usize>(2 * k + 1)) << 2), gy);
      }
    }
    if (whole) unpad_planes(dxpad, pdx + ((<usize>(n * C * H * W)) << 2), C, H, W, 0);
  }
}

/**
 * dst (the C planes of one sample of dx) = Σ_t the interiors of the `count` padded partial planes
 * whose pointers are the i32 words at bufs, added in that (thread) order.
 */
export function grid_sample_unpad_sum_f32(bufs: usize, count: i32, dst: usize, C: i32, H: i32, W: i32): void {
  for (let t = 0; t < count; t++) unpad_planes(<usize>load<i32>(bufs + ((<usize>t) << 2)), dst, C, H, W, t == 0 ? 0 : 1);
}
