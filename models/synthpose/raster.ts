/**
 * A tiny software rasterizer for SynthPose: a float RGB canvas with an id buffer (who covers each
 * pixel: 0 background, 1..254 a figure, 255 an occluder), procedural textures, and the shapes the
 * figures and occluders are made of (capsules, convex polygons, ellipses). Everything is typed
 * arrays and bounding-box loops; edges get one pixel of coverage antialiasing.
 */
import type { Rng } from '../../engine/random.js';

export const OCCLUDER_ID = 255;

export class Canvas {
  readonly rgb: Float32Array;
  readonly ids: Uint8Array;
  constructor(readonly width: number, readonly height: number) {
    this.rgb = new Float32Array(width * height * 3);
    this.ids = new Uint8Array(width * height);
  }

  /** Blends `color` into pixel i with coverage `a` (0..1); the id follows when a ≥ 0.5. */
  blend(i: number, r: number, g: number, b: number, a: number, id: number): void {
    const o = 3 * i;
    const rgb = this.rgb;
    rgb[o] = rgb[o]! + (r - rgb[o]!) * a;
    rgb[o + 1] = rgb[o + 1]! + (g - rgb[o + 1]!) * a;
    rgb[o + 2] = rgb[o + 2]! + (b - rgb[o + 2]!) * a;
    if (a >= 0.5) this.ids[i] = id;
  }

  /** Rounds to 0..255 bytes (RGB interleaved), with optional additive noise from `rng` (± amplitude). */
  toBytes(rng?: Rng, noise = 0): Uint8Array {
    const out = new Uint8Array(this.rgb.length);
    for (let i = 0; i < out.length; i++) {
      let v = this.rgb[i]!;
      if (rng && noise > 0) v += noise * ((rng.nextU32() / 4294967296) * 2 - 1);
      out[i] = v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
    }
    return out;
  }
}

/** A tileable-free procedural texture: RGB float values, row-major, size w x h. */
export interface Texture {
  readonly width: number;
  readonly height: number;
  readonly rgb: Float32Array;
}

/**
 * Value noise (a random lattice, bilinearly interpolated with a smoothstep) at two octaves plus two
 * sinusoidal gratings, mapped through a blend of three random colours.
 */
export function makeTexture(rng: Rng, width: number, height: number, cell = 24): Texture {
  const lattice = (step: number): { gw: number; v: Float32Array; step: number } => {
    const gw = Math.ceil(width / step) + 2;
    const gh = Math.ceil(height / step) + 2;
    const v = new Float32Array(gw * gh);
    for (let i = 0; i < v.length; i++) v[i] = rng.uniform();
    return { gw, v, step };
  };
  const octaves = [lattice(cell), lattice(Math.max(2, cell / 4))];
  const sample = (o: { gw: number; v: Float32Array; step: number }, x: number, y: number): number => {
    const fx = x / o.step;
    const fy = y / o.step;
    const ix = Math.floor(fx);
    const iy = Math.floor(fy);
    let tx = fx - ix;
    let ty = fy - iy;
    tx = tx * tx * (3 - 2 * tx);
    ty = ty * ty * (3 - 2 * ty);
    const i = iy * o.gw + ix;
    const a = o.v[i]!;
    const b = o.v[i + 1]!;
    const c = o.v[i + o.gw]!;
    const d = o.v[i + o.gw + 1]!;
    return (a * (1 - tx) + b * tx) * (1 - ty) + (c * (1 - tx) + d * tx) * ty;
  };
  const cols = [0, 1, 2].map(() => [40 + 200 * rng.uniform(), 40 + 200 * rng.uniform(), 40 + 200 * rng.uniform()]);
  const gratings = [0, 1].map(() => ({ kx: (rng.uniform() - 0.5) * 0.5, ky: (rng.uniform() - 0.5) * 0.5, amp: 0.25 * rng.uniform() }));
  const rgb = new Float32Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const n0 = sample(octaves[0]!, x, y);
      const n1 = sample(octaves[1]!, x, y);
      let g = 0;
      for (const gr of gratings) g += gr.amp * Math.sin(gr.kx * x + gr.ky * y);
      const m = Math.min(1, Math.max(0, 0.75 * n0 + 0.25 * n1 + g));
      const shade = 0.8 + 0.4 * n1;
      const [c0, c1, c2] = cols as [number[], number[], number[]];
      const o = 3 * (y * width + x);
      for (let c = 0; c < 3; c++) {
        const base = m < 0.5 ? c0[c]! + (c1[c]! - c0[c]!) * (m / 0.5) : c1[c]! + (c2[c]! - c1[c]!) * ((m - 0.5) / 0.5);
        rgb[o + c] = Math.min(255, base * shade);
      }
    }
  }
  return { width, height, rgb };
}

/**
 * Fills the canvas with the texture seen through a camera: image pixel (x, y) shows texture point
 * (ox + (x − cx)/zoom + cx, oy + (y − cy)/zoom + cy), bilinearly sampled (clamped at the edges).
 */
export function drawBackground(cv: Canvas, tex: Texture, ox: number, oy: number, zoom: number): void {
  const { width: W, height: H } = cv;
  const cx = W / 2;
  const cy = H / 2;
  const tw = tex.width;
  const th = tex.height;
  for (let y = 0; y < H; y++) {
    const ty = Math.min(th - 1.001, Math.max(0, oy + (y - cy) / zoom + cy));
    const iy = Math.floor(ty);
    const fy = ty - iy;
    for (let x = 0; x < W; x++) {
      const tx = Math.min(tw - 1.001, Math.max(0, ox + (x - cx) / zoom + cx));
      const ix = Math.floor(tx);
      const fx = tx - ix;
      const i00 = 3 * (iy * tw + ix);
      const i10 = i00 + 3;
      const i01 = i00 + 3 * tw;
      const i11 = i01 + 3;
      const o = 3 * (y * W + x);
      for (let c = 0; c < 3; c++) {
        cv.rgb[o + c] = (tex.rgb[i00 + c]! * (1 - fx) + tex.rgb[i10 + c]! * fx) * (1 - fy) + (tex.rgb[i01 + c]! * (1 - fx) + tex.rgb[i11 + c]! * fx) * fy;
      }
      cv.ids[y * W + x] = 0;
    }
  }
}

/**
 * A capsule (all points within r of the segment a–b), shaded like a lit cylinder (brighter along
 * its axis) and, when `stripes` > 0, banded across its length every `stripes` pixels.
 */
export function drawCapsule(cv: Canvas, ax: number, ay: number, bx: number, by: number, r: number, color: readonly number[], id: number, stripes = 0): void {
  const { width: W, height: H } = cv;
  const x0 = Math.max(0, Math.floor(Math.min(ax, bx) - r - 1));
  const x1 = Math.min(W - 1, Math.ceil(Math.max(ax, bx) + r + 1));
  const y0 = Math.max(0, Math.floor(Math.min(ay, by) - r - 1));
  const y1 = Math.min(H - 1, Math.ceil(Math.max(ay, by) + r + 1));
  const dx = bx - ax;
  const dy = by - ay;
  const len2 = dx * dx + dy * dy;
  const len = Math.sqrt(len2);
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      let t = len2 > 0 ? ((x - ax) * dx + (y - ay) * dy) / len2 : 0;
      t = t < 0 ? 0 : t > 1 ? 1 : t;
      const px = ax + t * dx - x;
      const py = ay + t * dy - y;
      const d = Math.sqrt(px * px + py * py);
      const a = r - d + 0.5;
      if (a <= 0) continue;
      const rho = Math.min(1, d / Math.max(r, 1e-6));
      let shade = 1.05 - 0.35 * rho * rho;
      if (stripes > 0 && Math.floor((t * len) / stripes) % 2 === 1) shade *= 0.72;
      cv.blend(y * W + x, color[0]! * shade, color[1]! * shade, color[2]! * shade, a > 1 ? 1 : a, id);
    }
  }
}

/** A filled convex polygon (vertices in either winding), with coverage antialiasing on its edges. */
export function drawConvexPolygon(cv: Canvas, xs: readonly number[], ys: readonly number[], color: readonly number[], id: number, stripes = 0): void {
  const { width: W, height: H } = cv;
  const n = xs.length;
  let area = 0;
  for (let i = 0; i < n; i++) {
    const j = (i + 1) % n;
    area += xs[i]! * ys[j]! - xs[j]! * ys[i]!;
  }
  if (Math.abs(area) < 1e-9) return;
  const sgn = area > 0 ? 1 : -1;
  // inward unit normals and offsets per edge
  const nx: number[] = [];
  const ny: number[] = [];
  const off: number[] = [];
  for (let i = 0; i < n; i++) {
    const j = (i + 1) % n;
    const ex = xs[j]! - xs[i]!;
    const ey = ys[j]! - ys[i]!;
    const l = Math.hypot(ex, ey) || 1;
    nx.push((-ey / l) * sgn);
    ny.push((ex / l) * sgn);
    off.push(-(nx[i]! * xs[i]! + ny[i]! * ys[i]!));
  }
  const x0 = Math.max(0, Math.floor(Math.min(...xs) - 1));
  const x1 = Math.min(W - 1, Math.ceil(Math.max(...xs) + 1));
  const y0 = Math.max(0, Math.floor(Math.min(...ys) - 1));
  const y1 = Math.min(H - 1, Math.ceil(Math.max(...ys) + 1));
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      let dmin = Infinity;
      for (let i = 0; i < n; i++) dmin = Math.min(dmin, nx[i]! * x + ny[i]! * y + off[i]!);
      const a = dmin + 0.5;
      if (a <= 0) continue;
      const shade = stripes > 0 && Math.floor(y / stripes) % 2 === 1 ? 0.72 : 1;
      cv.blend(y * W + x, color[0]! * shade, color[1]! * shade, color[2]! * shade, a > 1 ? 1 : a, id);
    }
  }
}

/** A filled axis-aligned ellipse or rectangle textured by `tex` (sampled at texture coords relative to the shape). */
export function drawTexturedShape(cv: Canvas, shape: 'ellipse' | 'rect', cx: number, cy: number, rx: number, ry: number, tex: Texture, id: number): void {
  const { width: W, height: H } = cv;
  const x0 = Math.max(0, Math.floor(cx - rx - 1));
  const x1 = Math.min(W - 1, Math.ceil(cx + rx + 1));
  const y0 = Math.max(0, Math.floor(cy - ry - 1));
  const y1 = Math.min(H - 1, Math.ceil(cy + ry + 1));
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      let a: number;
      if (shape === 'ellipse') {
        const u = (x - cx) / rx;
        const v = (y - cy) / ry;
        const q = Math.sqrt(u * u + v * v);
        a = (1 - q) * Math.min(rx, ry) + 0.5; // approximate signed distance in pixels
      } else {
        a = Math.min(rx - Math.abs(x - cx), ry - Math.abs(y - cy)) + 0.5;
      }
      if (a <= 0) continue;
      const tx = Math.min(tex.width - 1, Math.max(0, Math.floor(x - cx + rx)));
      const ty = Math.min(tex.height - 1, Math.max(0, Math.floor(y - cy + ry)));
      const o = 3 * (ty * tex.width + tx);
      cv.blend(y * W + x, tex.rgb[o]!, tex.rgb[o + 1]!, tex.rgb[o + 2]!, a > 1 ? 1 : a, id);
    }
  }
}
