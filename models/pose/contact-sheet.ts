/**
 * A contact sheet: a grid of downscaled video frames with optional labels, as one RGBA image, and the
 * small bitmap-font text drawing it uses (`drawText`, also handy for track-id tags on overlays).
 * Pure TypeScript with no imports at run time, so it works in the browser as well as in Node.
 *
 * Geometry (all in pixels): cells of `cellWidth` x `cellHeight`, where cellHeight follows the first
 * frame's aspect ratio (round(cellWidth · h0 / w0)); `gap` pixels of background around and between
 * cells, so the sheet is
 *   width  = columns · cellWidth + (columns + 1) · gap
 *   height = rows · cellHeight + (rows + 1) · gap,   rows = ceil(frames / columns).
 * Frame i goes to row ⌊i / columns⌋, column i mod columns, scaled to fit its cell with its own aspect
 * ratio kept and centred (frames of another aspect ratio are letterboxed). Resampling is area
 * averaging (each output pixel is the coverage-weighted mean of the input pixels under it, like
 * OpenCV's INTER_AREA), which does not alias when shrinking; enlarging gives nearest-like blocks.
 * A label is drawn at the top-left of its cell, white on a translucent black box, in a 5x7 pixel
 * font scaled by ⌊cellWidth / 160⌋ (at least 1) and cut to the cell's width.
 */
import type { RgbaImage } from './image.js';
import { resizeArea } from './resize.js';

export interface ContactSheetOptions {
  /** Cells per row (default ⌈√n⌉). */
  columns?: number;
  /** Cell width in pixels (default min(first frame's width, 320)). */
  cellWidth?: number;
  /** One label per frame (missing or empty entries: no label). */
  labels?: readonly (string | undefined)[];
  /** Background pixels around and between cells (default 4). */
  gap?: number;
  /** Background colour, RGB 0..255 (default [24, 24, 24]). */
  background?: readonly [number, number, number];
}

/**
 * The contact sheet of `frames` (see the module doc for the geometry).
 * @throws Error "contactSheet: expected ..." for no frames, a malformed image, a non-positive-integer
 *   columns or cellWidth, a negative gap, or more labels than frames.
 */
export function contactSheet(frames: readonly RgbaImage[], opts: ContactSheetOptions = {}): RgbaImage {
  const op = 'contactSheet';
  if (!Array.isArray(frames) || frames.length === 0) throw new Error(`${op}: expected at least one frame, got ${Array.isArray(frames) ? 0 : typeof frames}`);
  frames.forEach((f, i) => checkImage(op, f, `frames[${i}]`));
  const n = frames.length;
  const first = frames[0]!;
  const columns = opts.columns ?? Math.ceil(Math.sqrt(n));
  const cw = opts.cellWidth ?? Math.min(first.width, 320);
  const gap = opts.gap ?? 4;
  if (!(Number.isInteger(columns) && columns > 0)) throw new Error(`${op}: expected columns as a positive integer, got ${columns}`);
  if (!(Number.isInteger(cw) && cw > 0)) throw new Error(`${op}: expected cellWidth as a positive integer (pixels), got ${cw}`);
  if (!(Number.isInteger(gap) && gap >= 0)) throw new Error(`${op}: expected gap as a non-negative integer (pixels), got ${gap}`);
  const labels = opts.labels ?? [];
  if (labels.length > n) throw new Error(`${op}: expected at most one label per frame (${n}), got ${labels.length} labels`);
  const ch = Math.max(1, Math.round((cw * first.height) / first.width));
  const rows = Math.ceil(n / columns);
  const W = columns * cw + (columns + 1) * gap;
  const H = rows * ch + (rows + 1) * gap;
  const bg = opts.background ?? [24, 24, 24];
  const out = new Uint8Array(W * H * 4);
  for (let i = 0; i < W * H; i++) out.set([bg[0], bg[1], bg[2], 255], i * 4);
  const sheet: RgbaImage = { width: W, height: H, channels: 4, data: out };
  const textScale = Math.max(1, Math.floor(cw / 160));
  frames.forEach((f, i) => {
    const cx = gap + (i % columns) * (cw + gap);
    const cy = gap + Math.floor(i / columns) * (ch + gap);
    const s = Math.min(cw / f.width, ch / f.height);
    const fw = Math.min(cw, Math.max(1, Math.round(f.width * s)));
    const fh = Math.min(ch, Math.max(1, Math.round(f.height * s)));
    const small = resizeArea(f, fw, fh);
    const ox = cx + Math.floor((cw - fw) / 2);
    const oy = cy + Math.floor((ch - fh) / 2);
    for (let y = 0; y < fh; y++) {
      for (let x = 0; x < fw; x++) {
        const s4 = (y * fw + x) * 4;
        const d4 = ((oy + y) * W + ox + x) * 4;
        out[d4] = small.data[s4]!;
        out[d4 + 1] = small.data[s4 + 1]!;
        out[d4 + 2] = small.data[s4 + 2]!;
        out[d4 + 3] = 255;
      }
    }
    const label = labels[i];
    if (label) drawText(sheet, label, cx, cy, { scale: textScale, maxWidth: cw, clip: [cx, cy, cw, ch] });
  });
  return sheet;
}


function checkImage(op: string, img: RgbaImage, what: string): void {
  if (!img || !(Number.isInteger(img.width) && Number.isInteger(img.height) && img.width > 0 && img.height > 0) || !(img.data instanceof Uint8Array) || img.data.length !== img.width * img.height * 4) {
    const got = img && img.data ? `${img.width}x${img.height} with ${img.data.length} bytes` : String(img);
    throw new Error(`${op}: expected ${what} as an RGBA image (width·height·4 bytes), got ${got}`);
  }
}

// ------------------------------------------------------------------------------------ text

/** Glyph rows of the 5x7 font ('#' = ink), top to bottom. Lowercase letters are drawn as capitals. */
const FONT: Readonly<Record<string, string>> = {
  ' ': '..... ..... ..... ..... ..... ..... .....',
  '0': '.###. #...# #..## #.#.# ##..# #...# .###.',
  '1': '..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.',
  '2': '.###. #...# ....# ...#. ..#.. .#... #####',
  '3': '##### ...#. ..#.. ...#. ....# #...# .###.',
  '4': '...#. ..##. .#.#. #..#. ##### ...#. ...#.',
  '5': '##### #.... ####. ....# ....# #...# .###.',
  '6': '..##. .#... #.... ####. #...# #...# .###.',
  '7': '##### ....# ...#. ..#.. .#... .#... .#...',
  '8': '.###. #...# #...# .###. #...# #...# .###.',
  '9': '.###. #...# #...# .#### ....# ...#. .##..',
  A: '.###. #...# #...# ##### #...# #...# #...#',
  B: '####. #...# #...# ####. #...# #...# ####.',
  C: '.###. #...# #.... #.... #.... #...# .###.',
  D: '###.. #..#. #...# #...# #...# #..#. ###..',
  E: '##### #.... #.... ####. #.... #.... #####',
  F: '##### #.... #.... ####. #.... #.... #....',
  G: '.###. #...# #.... #.### #...# #...# .####',
  H: '#...# #...# #...# ##### #...# #...# #...#',
  I: '.###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.',
  J: '..### ...#. ...#. ...#. ...#. #..#. .##..',
  K: '#...# #..#. #.#.. ##... #.#.. #..#. #...#',
  L: '#.... #.... #.... #.... #.... #.... #####',
  M: '#...# ##.## #.#.# #.#.# #...# #...# #...#',
  N: '#...# #...# ##..# #.#.# #..## #...# #...#',
  O: '.###. #...# #...# #...# #...# #...# .###.',
  P: '####. #...# #...# ####. #.... #.... #....',
  Q: '.###. #...# #...# #...# #.#.# #..#. .##.#',
  R: '####. #...# #...# ####. #.#.. #..#. #...#',
  S: '.#### #.... #.... .###. ....# ....# ####.',
  T: '##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..',
  U: '#...# #...# #...# #...# #...# #...# .###.',
  V: '#...# #...# #...# #...# #...# .#.#. ..#..',
  W: '#...# #...# #...# #.#.# #.#.# #.#.# .#.#.',
  X: '#...# #...# .#.#. ..#.. .#.#. #...# #...#',
  Y: '#...# #...# .#.#. ..#.. ..#.. ..#.. ..#..',
  Z: '##### ....# ...#. ..#.. .#... #.... #####',
  '.': '..... ..... ..... ..... ..... .##.. .##..',
  ',': '..... ..... ..... ..... .##.. ..#.. .#...',
  ':': '..... .##.. .##.. ..... .##.. .##.. .....',
  ';': '..... .##.. .##.. ..... .##.. ..#.. .#...',
  '-': '..... ..... ..... ##### ..... ..... .....',
  _: '..... ..... ..... ..... ..... ..... #####',
  '/': '..... ....# ...#. ..#.. .#... #.... .....',
  '#': '.#.#. .#.#. ##### .#.#. ##### .#.#. .#.#.',
  '=': '..... ..... ##### ..... ##### ..... .....',
  '+': '..... ..#.. ..#.. ##### ..#.. ..#.. .....',
  '(': '...#. ..#.. .#... .#... .#... ..#.. ...#.',
  ')': '.#... ..#.. ...#. ...#. ...#. ..#.. .#...',
  '[': '.###. .#... .#... .#... .#... .#... .###.',
  ']': '.###. ...#. ...#. ...#. ...#. ...#. .###.',
  '%': '##... ##..# ...#. ..#.. .#... #..## ...##',
  "'": '..#.. ..#.. .#... ..... ..... ..... .....',
  '!': '..#.. ..#.. ..#.. ..#.. ..#.. ..... ..#..',
  '?': '.###. #...# ....# ...#. ..#.. ..... ..#..',
  '*': '..... ..#.. #.#.# .###. #.#.# ..#.. .....',
  '<': '...#. ..#.. .#... #.... .#... ..#.. ...#.',
  '>': '.#... ..#.. ...#. ....# ...#. ..#.. .#...',
  '·': '..... ..... ..... ..#.. ..... ..... .....',
  '×': '..... #...# .#.#. ..#.. .#.#. #...# .....',
};

/** Glyph bitmaps (35 booleans, row-major), checked once at load. */
const GLYPHS: ReadonlyMap<string, readonly boolean[]> = new Map(
  Object.entries(FONT).map(([ch, rows]) => {
    const r = rows.split(' ');
    if (r.length !== 7 || r.some((row) => row.length !== 5)) throw new Error(`contact-sheet font: expected 7 rows of 5 for '${ch}'`);
    return [ch, r.join('').split('').map((c) => c === '#')];
  }),
);

/** Glyph width 5 + 1 column of spacing, and height 7, in font pixels. */
const ADVANCE = 6;
const GLYPH_H = 7;

export interface DrawTextOptions {
  /** Font pixel size in image pixels (default 1: 6 px per character, 7 px high). */
  scale?: number;
  /** Text colour, RGB 0..255 (default white). */
  colour?: readonly [number, number, number];
  /** Backing box colour and opacity (default black at 0.6; opacity 0 draws no box). */
  background?: readonly [number, number, number];
  backgroundAlpha?: number;
  /** Cut the text to this many pixels wide, box included (default: no limit). */
  maxWidth?: number;
  /** Draw only inside this [x, y, w, h] rectangle (default: the whole image). */
  clip?: readonly [number, number, number, number];
}

/** Width in pixels of `text` drawn by drawText at `scale`, box padding included. */
export function textWidth(text: string, scale = 1): number {
  return (Array.from(text).length * ADVANCE + 3) * scale;
}

/**
 * Draws one line of text with its top-left box corner at (x, y) pixels, in the 5x7 font above
 * (digits, A-Z with lowercase shown as capitals, space and . , : ; - _ / # = + ( ) [ ] % ' ! ? * < > · ×;
 * other characters are drawn as '?'), on a padded translucent box. Mutates `img`; clipped to the image.
 * @returns the width drawn in pixels (box included).
 */
export function drawText(img: RgbaImage, text: string, x: number, y: number, opts: DrawTextOptions = {}): number {
  const s = Math.max(1, Math.floor(opts.scale ?? 1));
  const fg = opts.colour ?? [255, 255, 255];
  const bg = opts.background ?? [0, 0, 0];
  const bgAlpha = opts.backgroundAlpha ?? 0.6;
  let chars = Array.from(text);
  if (opts.maxWidth !== undefined) chars = chars.slice(0, Math.max(0, Math.floor((opts.maxWidth / s - 3) / ADVANCE)));
  if (chars.length === 0) return 0;
  const [cx0, cy0, cw, ch] = opts.clip ?? [0, 0, img.width, img.height];
  const x0 = Math.max(0, Math.floor(cx0));
  const y0 = Math.max(0, Math.floor(cy0));
  const x1 = Math.min(img.width, Math.floor(cx0 + cw));
  const y1 = Math.min(img.height, Math.floor(cy0 + ch));
  const put = (px: number, py: number, c: readonly number[], a: number): void => {
    if (px < x0 || py < y0 || px >= x1 || py >= y1) return;
    const o = (py * img.width + px) * 4;
    for (let k = 0; k < 3; k++) img.data[o + k] = Math.round(img.data[o + k]! * (1 - a) + c[k]! * a);
    img.data[o + 3] = 255;
  };
  const bx = Math.round(x);
  const by = Math.round(y);
  const boxW = (chars.length * ADVANCE + 3) * s;
  const boxH = (GLYPH_H + 4) * s;
  if (bgAlpha > 0) for (let py = by; py < by + boxH; py++) for (let px = bx; px < bx + boxW; px++) put(px, py, bg, bgAlpha);
  chars.forEach((c, i) => {
    const g = GLYPHS.get(c) ?? GLYPHS.get(c.toUpperCase()) ?? GLYPHS.get('?')!;
    const gx = bx + (2 + i * ADVANCE) * s;
    const gy = by + 2 * s;
    for (let r = 0; r < GLYPH_H; r++) {
      for (let q = 0; q < 5; q++) {
        if (!g[r * 5 + q]) continue;
        for (let dy = 0; dy < s; dy++) for (let dx = 0; dx < s; dx++) put(gx + q * s + dx, gy + r * s + dy, fg, 1);
      }
    }
  });
  return boxW;
}
