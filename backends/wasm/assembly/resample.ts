/**
 * interpolate (nearest / bilinear, alignCorners) and its backward, over N·C planes, as PyTorch's
 * upsample_nearest2d / upsample_bilinear2d (see backends/cpu/resample.ts).
 *
 * The source taps of every output row and column (i0, i1 and the weight λ of i1) are computed once
 * on the JS side, exactly as the cpu backend does, and passed in a table:
 *   taps = [i0y[outH], i1y[outH], λy[outH] (f32), i0x[outW], i1x[outW], λx[outW] (f32)].
 * Bilinear forward, per output row: the two source rows are blended horizontally at each output
 * column (a gather, scalar) and then vertically. Nearest (HRNet's fuse upsampling) has its own
 * path: repeated source rows are copied, 2x column upsampling is two shuffles per four inputs.
 * Backward scatters dy·weights onto the taps of a zeroed dx. Arithmetic is float32.
 */

@inline function F(p: usize, i: i32): usize {
  return p + ((<usize>i) << 2);
}

/**
 * nearest: out[oy, ox] = x[i0y[oy], i0x[ox]]. An output row whose source row equals the previous
 * one is a memory.copy of that row (upsampling by k copies k-1 of every k rows). For an exact 2x
 * upsample of the columns, four inputs become eight outputs by two shuffles; otherwise a gather.
 */
function nearest_f32(px: usize, po: usize, planes: i32, h: i32, w: i32, oh: i32, ow: i32, taps: usize): void {
  const i0y = taps;
  const i0x = F(taps, 3 * oh);
  let twice = ow == 2 * w;
  for (let ox = 0; twice && ox < ow; ox++) if (load<i32>(F(i0x, ox)) != ox >> 1) twice = false;
  const rowBytes = (<usize>ow) << 2;
  for (let nc = 0; nc < planes; nc++) {
    const x = F(px, nc * h * w);
    const o = F(po, nc * oh * ow);
    for (let oy = 0; oy < oh; oy++) {
      const orow = F(o, oy * ow);
      const sy = load<i32>(F(i0y, oy));
      if (oy > 0 && sy == load<i32>(F(i0y, oy - 1))) {
        memory.copy(orow, orow - rowBytes, rowBytes);
        continue;
      }
      const src = F(x, sy * w);
      let ox = 0;
      if (twice) {
        for (; ox + 8 <= ow; ox += 8) {
          const v = v128.load(F(src, ox >> 1));
          v128.store(F(orow, ox), i32x4.shuffle(v, v, 0, 0, 1, 1));
          v128.store(F(orow, ox), i32x4.shuffle(v, v, 2, 2, 3, 3), 16);
        }
      }
      for (; ox < ow; ox++) store<f32>(F(orow, ox), load<f32>(F(src, load<i32>(F(i0x, ox)))));
    }
  }
}

export function interpolate_f32(px: usize, po: usize, planes: i32, h: i32, w: i32, oh: i32, ow: i32, taps: usize, nearest: i32): void {
  if (nearest) {
    nearest_f32(px, po, planes, h, w, oh, ow, taps);
    return;
  }
  const i0y = taps, i1y = F(taps, oh), ly = F(taps, 2 * oh);
  const i0x = F(taps, 3 * oh), i1x = F(i0x, ow), lx = F(i0x, 2 * ow);
  for (let nc = 0; nc < planes; nc++) {
    const x = F(px, nc * h * w);
    const o = F(po, nc * oh * ow);
    for (let oy = 0; oy < oh; oy++) {
      const r0 = F(x, load<i32>(F(i0y, oy)) * w);
      const r1 = F(x, load<i32>(F(i1y, oy)) * w);
      const b = load<f32>(F(ly, oy));
      const a: f32 = 1 - b;
      const orow = F(o, oy * ow);
      for (let ox = 0; ox < ow; ox++) {
        const c0 = load<i32>(F(i0x, ox));
        const c1 = load<i32>(F(i1x, ox));
        const l = load<f32>(F(lx, ox));
        const top = (<f32>1 - l) * load<f32>(F(r0, c0)) + l * load<f32>(F(r0, c1));
        const bottom = (<f32>1 - l) * load<f32>(F(r1, c0)) + l * load<f32>(F(r1, c1));
        store<f32>(F(orow, ox), a * top + b * bottom);
      }
    }
  }
}

export function interpolate_backward_f32(pdy: usize, pdx: usize, planes: i32, h: i32, w: i32, oh: i32, ow: i32, taps: usize, nearest: i32): void {
  memory.fill(pdx, 0, (<usize>(planes * h * w)) << 2);
  const i0y = taps, i1y = F(taps, oh), ly = F(taps, 2 * oh);
  const i0x = F(taps, 3 * oh), i1x = F(i0x, ow), lx = F(i0x, 2 * ow);
  if (nearest) {
    // one tap per output: dx[i0y, i0x] += dy
    for (let nc = 0; nc < planes; nc++) {
      const dx = F(pdx, nc * h * w);
      const g = F(pdy, nc * oh * ow);
      for (let oy = 0; oy < oh; oy++) {
        const r = F(dx, load<i32>(F(i0y, oy)) * w);
        const grow = F(g, oy * ow);
        for (let ox = 0; ox < ow; ox++) {
          const p = F(r, load<i32>(F(i0x, ox)));
          store<f32>(p, load<f32>(p) + load<f32>(F(grow, ox)));
        }
      }
    }
    return;
  }
  for (let nc = 0; nc < planes; nc++) {
    const dx = F(pdx, nc * h * w);
    const g = F(pdy, nc * oh * ow);
    for (let oy = 0; oy < oh; oy++) {
      const r0 = F(dx, load<i32>(F(i0y, oy)) * w);
      const r1 = F(dx, load<i32>(F(i1y, oy)) * w);
      const b = load<f32>(F(ly, oy));
      const a: f32 = 1 - b;
      for (let ox = 0; ox < ow; ox++) {
        const v = load<f32>(F(g, oy * ow + ox));
        const c0 = load<i32>(F(i0x, ox));
        const c1 = load<i32>(F(i1x, ox));
        const l = load<f32>(F(lx, ox));
        let p = F(r0, c0); store<f32>(p, load<f32>(p) + a * (<f32>1 - l) * v);
        p = F(r0, c1); store<f32>(p, load<f32>(p) + a * l * v);
        p = F(r1, c0); store<f32>(p, load<f32>(p) + b * (<f32>1 - l) * v);
        p = F(r1, c1); store<f32>(p, load<f32>(p) + b * l * v);
      }
    }
  }
}
