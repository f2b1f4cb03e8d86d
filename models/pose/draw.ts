/**
 * A small rasterizer for pose overlays on RGBA images: thick anti-aliasing-free lines (a disc
 * stamped along a DDA walk), filled circles, rectangle outlines, and `drawPose` which draws a
 * skeleton from a joint set. Coordinates are pixel centers (x = column, y = row), as everywhere in
 * models/pose. Everything is clipped to the image; drawing mutates the image in place.
 */
import type { JointSet } from './joints.js';
import type { Keypoint } from './decode.js';
import type { RgbaImage } from './image.js';

export type Rgb = readonly [number, number, number];

/** Blends `color` over pixel (x, y) with opacity `alpha` in [0, 1]; pixels outside are ignored. */
export function blendPixel(img: RgbaImage, x: number, y: number, color: Rgb, alpha = 1): void {
  if (x < 0 || y < 0 || x >= img.width || y >= img.height) return;
  const o = (y * img.width + x) * 4;
  const d = img.data;
  for (let c = 0; c < 3; c++) d[o + c] = Math.round(d[o + c]! * (1 - alpha) + color[c]! * alpha);
  d[o + 3] = 255;
}

/** A filled disc of `radius` pixels centred on (cx, cy): every pixel whose center is within the radius. */
export function fillCircle(img: RgbaImage, cx: number, cy: number, radius: number, color: Rgb, alpha = 1): void {
  if (!Number.isFinite(cx) || !Number.isFinite(cy)) return;
  const r = Math.max(0, radius);
  const x0 = Math.max(0, Math.ceil(cx - r));
  const x1 = Math.min(img.width - 1, Math.floor(cx + r));
  const y0 = Math.max(0, Math.ceil(cy - r));
  const y1 = Math.min(img.height - 1, Math.floor(cy + r));
  for (let y = y0; y <= y1; y++) for (let x = x0; x <= x1; x++) if ((x - cx) ** 2 + (y - cy) ** 2 <= r * r + 1e-9) blendPixel(img, x, y, color, alpha);
}

/**
 * Lines (segments [x0, y0, x1, y1]) of the given thickness: pixels whose center lies within
 * thickness/2 of a segment are painted, each pixel once even where segments meet, so translucent
 * strokes blend evenly.
 */
export function drawSegments(img: RgbaImage, segments: readonly (readonly [number, number, number, number])[], color: Rgb, thickness = 1, alpha = 1): void {
  const r = Math.max(0.5, thickness / 2);
  const hit = new Set<number>();
  for (const [x0, y0, x1, y1] of segments) {
    if (![x0, y0, x1, y1].every(Number.isFinite)) continue;
    const minX = Math.max(0, Math.floor(Math.min(x0, x1) - r));
    const maxX = Math.min(img.width - 1, Math.ceil(Math.max(x0, x1) + r));
    const minY = Math.max(0, Math.floor(Math.min(y0, y1) - r));
    const maxY = Math.min(img.height - 1, Math.ceil(Math.max(y0, y1) + r));
    const dx = x1 - x0;
    const dy = y1 - y0;
    const len2 = dx * dx + dy * dy;
    for (let y = minY; y <= maxY; y++) {
      for (let x = minX; x <= maxX; x++) {
        // distance from the pixel center to the segment
        const t = len2 > 0 ? Math.max(0, Math.min(1, ((x - x0) * dx + (y - y0) * dy) / len2)) : 0;
        const px = x0 + t * dx - x;
        const py = y0 + t * dy - y;
        if (px * px + py * py <= r * r) hit.add(y * img.width + x);
      }
    }
  }
  for (const i of hit) blendPixel(img, i % img.width, Math.floor(i / img.width), color, alpha);
}

/** One line from (x0, y0) to (x1, y1); see drawSegments. */
export function drawLine(img: RgbaImage, x0: number, y0: number, x1: number, y1: number, color: Rgb, thickness = 1, alpha = 1): void {
  drawSegments(img, [[x0, y0, x1, y1]], color, thickness, alpha);
}

/** The outline of the box [x, y, w, h] (corners painted once). */
export function drawRect(img: RgbaImage, box: readonly number[], color: Rgb, thickness = 1, alpha = 1): void {
  const [x, y, w, h] = box as [number, number, number, number];
  drawSegments(img, [[x, y, x + w, y], [x + w, y, x + w, y + h], [x + w, y + h, x, y + h], [x, y + h, x, y]], color, thickness, alpha);
}

/** Left joints are drawn in warm colors, right joints in cool ones, the rest in green. */
export function jointColor(name: string): Rgb {
  if (name.startsWith('left')) return [255, 128, 0];
  if (name.startsWith('right')) return [0, 160, 255];
  return [60, 220, 60];
}

/**
 * A distinct, saturated colour per track id: hue = id · 137.508° (the golden angle: consecutive ids
 * land far apart on the colour wheel and the first n ids spread almost evenly around it, at least
 * 52° apart for ids 1-5, 32° for 1-8, 20° for 1-12), HSV saturation 0.85 and value 1, as 0..255
 * RGB. Any integer id works (negative ids too); the same id always gives the same colour.
 * @throws Error "trackColour: expected an integer track id, got ..." otherwise.
 */
export function trackColour(id: number): [number, number, number] {
  if (!Number.isInteger(id)) throw new Error(`trackColour: expected an integer track id, got ${id}`);
  const h = ((((id * 137.50776405003785) % 360) + 360) % 360) / 60;
  const s = 0.85;
  const v = 1;
  const c = v * s;
  const x = c * (1 - Math.abs((h % 2) - 1));
  const [r, g, b] = h < 1 ? [c, x, 0] : h < 2 ? [x, c, 0] : h < 3 ? [0, c, x] : h < 4 ? [0, x, c] : h < 5 ? [x, 0, c] : [c, 0, x];
  const m = v - c;
  return [Math.round((r + m) * 255), Math.round((g + m) * 255), Math.round((b + m) * 255)];
}

export interface DrawPoseOptions {
  /** Joints scoring below this are not drawn, nor their bones (default: draw all). */
  minScore?: number;
  thickness?: number;
  radius?: number;
  alpha?: number;
  /** Draw every bone and joint in this colour (e.g. `trackColour(id)`) instead of the left/right scheme. */
  colour?: Rgb;
}

/**
 * Draws one pose: a line for every bone of `set.skeleton` whose two joints are drawn, then a disc
 * on every joint. `keypoints` has one entry per slot of the joint set (unused slots are skipped).
 * @throws Error when the number of keypoints differs from set.numJoints.
 */
export function drawPose(img: RgbaImage, keypoints: readonly Keypoint[], set: JointSet, opts: DrawPoseOptions = {}): void {
  if (keypoints.length !== set.numJoints) throw new Error(`drawPose: expected ${set.numJoints} keypoints for ${set.name}, got ${keypoints.length}`);
  const min = opts.minScore ?? -Infinity;
  const thickness = opts.thickness ?? 2;
  const radius = opts.radius ?? 3;
  const alpha = opts.alpha ?? 1;
  const shown = keypoints.map((k, i) => set.used[i]! && k.score >= min && Number.isFinite(k.x) && Number.isFinite(k.y));
  for (const [a, b] of set.skeleton) {
    if (!shown[a] || !shown[b]) continue;
    const ka = keypoints[a]!;
    const kb = keypoints[b]!;
    const na = set.names[a]!;
    const nb = set.names[b]!;
    const color = opts.colour ?? (na.startsWith('left') && nb.startsWith('left') ? jointColor(na) : nb.startsWith('right') && na.startsWith('right') ? jointColor(na) : ([230, 230, 230] as Rgb));
    drawLine(img, ka.x, ka.y, kb.x, kb.y, color, thickness, alpha);
  }
  keypoints.forEach((k, i) => {
    if (shown[i]) fillCircle(img, k.x, k.y, radius, opts.colour ?? jointColor(set.names[i]!), alpha);
  });
}
