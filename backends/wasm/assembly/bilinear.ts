/**
 * Bilinear sampling helpers shared by gridSample (grid-sample.ts) and deformConv2d (deform-conv.ts).
 * Not exported from the module: both kernels inline them.
 *
 * ZERO-BORDERED PLANES. Each H×W input plane is first copied into a padded plane of
 * Hp = H + 3 rows and Wp = W + 2 columns: one zero column on each side, one zero row on top and two
 * below. A sample point with top-left neighbour (y0, x0) then reads its four neighbours at
 *   o = (y0 + 1)·Wp + (x0 + 1),  o + 1,  o + Wp,  o + Wp + 1
 * for every y0 in [-1, H-1] and x0 in [-1, W-1]: a neighbour outside the image reads the zero
 * border, so the sum needs no bounds checks, and the result equals the cpu's sum over the in-bounds
 * neighbours. Any other point has all four neighbours outside the image; it reads the ZERO BLOCK,
 * the 2×2 zeros at o = (H + 1)·Wp (rows H+1 and H+2, columns 0 and 1).
 *
 * GATHER. The neighbours come in two adjacent pairs, (v00, v01) at o and (v10, v11) at o + Wp, so
 * one v128.load64_zero + one v128.load64_lane give V = [v00, v01, v10, v11]. With the four weights
 * of the point stored as one f32x4 W = [w00, w01, w10, w11], the sample is the lane sum of V·W. Four
 * points are done together and their four lane sums taken by a 4×4 transpose-add (six shuffles,
 * three adds), which costs about a third of the scalar instruction count.
 * SCATTER (backward). The same pairs, read-modify-written: D[o..o+1] += g·(w00, w01),
 * D[o+Wp..o+Wp+1] += g·(w10, w11). Points are handled one after another, so two points that share
 * a neighbour add to it in turn (single-threaded: no atomics needed).
 */

/** Copies `planes` H×W planes from src into zero-bordered (H+3)×(W+2) planes at dst. */
export function pad_planes(src: usize, dst: usize, planes: i32, H: i32, W: i32): void {
  const Wp = W + 2;
  const rowBytes = (<usize>W) << 2;
  for (let c = 0; c < planes; c++) {
    const s = src + ((<usize>(c * H * W)) << 2);
    const d = dst + ((<usize>(c * (H + 3) * Wp)) << 2);
    memory.fill(d, 0, (<usize>(Wp + 1)) << 2); // top row and the left border of row 1
    for (let y = 0; y < H; y++) {
      const row = d + ((<usize>((y + 1) * Wp + 1)) << 2);
      memory.copy(row, s + ((<usize>(y * W)) << 2), rowBytes);
      // right border of this row and left border of the next
      store<u64>(row + rowBytes, 0);
    }
    memory.fill(d + ((<usize>((H + 1) * Wp)) << 2), 0, (<usize>(2 * Wp)) << 2);
  }
}

/** Adds (accumulate = 1) or copies the interiors of `planes` padded planes at src into H×W planes at dst. */
export function unpad_planes(src: usize, dst: usize, planes: i32, H: i32, W: i32, accumulate: i32): void {
  const Wp = W + 2;
  for (let c = 0; c < planes; c++) {
    for (let y = 0; y < H; y++) {
      const s = src + ((<usize>(c * (H + 3) * Wp + (y + 1) * Wp + 1)) << 2);
      const d = dst + ((<usize>((c * H + y) * W)) << 2);
      if (!accumulate) {
        memory.copy(d, s, (<usize>W) << 2);
        continue;
      }
      let x = 0;
      for (; x + 4 <= W; x += 4) {
        const p = d + ((<usize>x) << 2);
        v128.store(p, f32x4.add(v128.load(p), v128.load(s + ((<usize>x) << 2))));
      }
      for (; x < W; x++) {
        const p = d + ((<usize>x) << 2);
        store<f32>(p, load<f32>(p) + load<f32>(s + ((<usize>x) << 2)));
      }
    }
  }
}

/** [v00, v01, v10, v11] of the point whose top-left neighbour is at byte address a (row pitch wpB bytes). */
@inline export function quad(a: usize, wpB: usize): v128 {
  return v128.load64_lane(a + wpB, v128.load64_zero(a), 1);
}

/** The lane sums of t0..t3, as one f32x4: [Σt0, Σt1, Σt2, Σt3]. */
@inline export function hsum4(t0: v128, t1: v128, t2: v128, t3: v128): v128 {
  const u0 = f32x4.add(v128.shuffle<f32>(t0, t1, 0, 1, 4, 5), v128.shuffle<f32>(t0, t1, 2, 3, 6, 7));
  const u1 = f32x4.add(v128.shuffle<f32>(t2, t3, 0, 1, 4, 5), v128.shuffle<f32>(t2, t3, 2, 3, 6, 7));
  return f32x4.add(v128.shuffle<f32>(u0, u1, 0, 2, 4, 6), v128.shuffle<f32>(u0, u1, 1, 3, 5, 7));
}

/**
 * Four bilinear samples of the padded plane at xp: points k = 0..3 with neighbour offsets (elements)
 * in offs[0..3] and weights (one f32x4 each) at wts, wts + 16, ...
 */
@inline export function gather4(xp: usize, offs: usize, wts: usize, wpB: usize): v128 {
  const t0 = f32x4.mul(quad(xp + ((<usize>load<i32>(offs)) << 2), wpB), v128.load(wts));
  const t1 = f32x4.mul(quad(xp + ((<usize>load<i32>(offs, 4)) << 2), wpB), v128.load(wts, 16));
  const t2 = f32x4.mul(quad(xp + ((<usize>load<i32>(offs, 8)) << 2), wpB), v128.load(wts, 32));
  const t3 = f32x4.mul(quad(xp + ((<usize>load<i32>(offs, 12)) << 2), wpB), v128.load(wts, 48));
  return hsum4(t0, t1, t2, t3);
}

/** One bilinear sample: lane sum of quad·w. */
@inline export function gather1(xp: usize, off: i32, w: v128, wpB: usize): f32 {
  const t = f32x4.mul(quad(xp + ((<usize>off) << 2), wpB), w);
  return (f32x4.extract_lane(t, 0) + f32x4.extract_lane(t, 2)) + (f32x4.extract_lane(t, 1) + f32x4.extract_lane(t, 3));
}

/** D[o..o+1] += t[0..1], D[o+Wp..o+Wp+1] += t[2..3], at byte address a. */
@inline export function scatter(a: usize, wpB: usize, t: v128): void {
  const v = f32x4.add(quad(a, wpB), t);
  v128.store64_lane(a, v, 0);
  v128.store64_lane(a + wpB, v, 1);
}

/** Dot product of two f32x4. */
@inline export function dot4(a: v128, b: v128): f32 {
  const t = f32x4.mul(a, b);
  return (f32x4.extract_lane(t, 0) + f32x4.extract_lane(t, 2)) + (f32x4.extract_lane(t, 1) + f32x4.extract_lane(t, 3));
}

/**
 * Transposes four point-major vectors a = [a0..a3] (weight 00 of points 0..3), b, c, d into the
 * point-minor layout: dst = [a0 b0 c0 d0], dst+16 = [a1 b1 c1 d1], ... (eight shuffles).
 */
@inline export function store_aos(dst: usize, a: v128, b: v128, c: v128, d: v128): void {
  const t0 = v128.shuffle<f32>(a, b, 0, 4, 1, 5);
  const t1 = v128.shuffle<f32>(a, b, 2, 6, 3, 7);
  const t2 = v128.shuffle<f32>(c, d, 0, 4, 1, 5);
  const t3 = v128.shuffle<f32>(c, d, 2, 6, 3, 7);
  v128.store(dst, v128.shuffle<f32>(t0, t2, 0, 1, 4, 5));
  v128.store(dst, v128.shuffle<f32>(t0, t2, 2, 3, 6, 7), 16);
  v128.store(dst, v128.shuffle<f32>(t1, t3, 0, 1, 4, 5), 32);
  v128.store(dst, v128.shuffle<f32>(t1, t3, 2, 3, 6, 7), 48);
}
