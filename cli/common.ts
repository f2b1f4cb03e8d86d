/**
 * Shared helpers for the command-line tools: one-line usage errors (exit code 2), reading and
 * validating the person-box JSON, loading frames, planning clip windows, and plain-text tables.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { decodeImage, type RgbaImage } from '../models/pose/image.js';

/** A user-facing error: the CLI prints `<tool>: <message>` on one line and exits with `exitCode`. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode = 2) {
    super(message);
  }
}

/** Runs `main`, turning a CliError (or any Error) into one line on stderr and an exit code. */
export async function runCli(tool: string, main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (e) {
    const err = e as Error;
    const code = e instanceof CliError ? e.exitCode : isUsageError(err) ? 2 : 1;
    process.stderr.write(`${tool}: ${oneLine(err.message)}\n`);
    if (code === 1 && process.env.POSEGRAD_DEBUG) process.stderr.write(`${err.stack}\n`);
    process.exitCode = code;
  }
}

/** util.parseArgs errors (unknown or malformed flags) are usage errors. */
function isUsageError(e: Error & { code?: string }): boolean {
  return typeof e.code === 'string' && e.code.startsWith('ERR_PARSE_ARGS');
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}

// ------------------------------------------------------------------------------------ boxes

export interface PersonBox {
  /** Track id: the same person keeps it across frames. */
  id: string;
  /** [x, y, w, h] in image pixels (top-left corner, size). */
  box: [number, number, number, number];
}

export interface FrameBoxes {
  /** Image file name, relative to the frames directory. */
  file: string;
  persons: PersonBox[];
}

/**
 * Parses and validates a box file: `{ "frames": [ { "file": "0001.jpg", "persons": [ { "id": 1,
 * "box": [x, y, w, h] } ] } ] }` (extra fields are ignored). Ids may be numbers or strings.
 * @throws CliError naming the file, the JSON path and what was expected.
 */
export function parseBoxes(text: string, source: string): FrameBoxes[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new CliError(`malformed box file ${source}: expected JSON, got a parse error (${(e as Error).message})`);
  }
  const bad = (path: string, expected: string, got: unknown): never => {
    throw new CliError(`malformed box file ${source}: ${path}: expected ${expected}, got ${describeJson(got)}`);
  };
  if (typeof doc !== 'object' || doc === null || !Array.isArray((doc as { frames?: unknown }).frames)) bad('(root)', 'an object with a "frames" array', doc);
  const frames = (doc as { frames: unknown[] }).frames;
  if (frames.length === 0) bad('frames', 'at least one frame', frames);
  return frames.map((f, i) => {
    if (typeof f !== 'object' || f === null) bad(`frames[${i}]`, 'an object', f);
    const fr = f as { file?: unknown; persons?: unknown };
    if (typeof fr.file !== 'string' || fr.file.length === 0) bad(`frames[${i}].file`, 'a file name', fr.file);
    if (!Array.isArray(fr.persons)) bad(`frames[${i}].persons`, 'an array', fr.persons);
    const seen = new Set<string>();
    const persons = (fr.persons as unknown[]).map((p, j) => {
      const path = `frames[${i}].persons[${j}]`;
      if (typeof p !== 'object' || p === null) bad(path, 'an object', p);
      const pp = p as { id?: unknown; box?: unknown };
      if (typeof pp.id !== 'number' && typeof pp.id !== 'string') bad(`${path}.id`, 'a number or a string', pp.id);
      const id = String(pp.id);
      if (seen.has(id)) bad(`${path}.id`, 'ids unique within a frame', pp.id);
      seen.add(id);
      const b = pp.box;
      if (!Array.isArray(b) || b.length !== 4 || !b.every((v) => typeof v === 'number' && Number.isFinite(v)) || !(b[2] > 0 && b[3] > 0)) {
        bad(`${path}.box`, '[x, y, w, h] of finite numbers with w, h > 0', b);
      }
      return { id, box: [...(b as number[])] as [number, number, number, number] };
    });
    return { file: fr.file as string, persons };
  });
}

function describeJson(v: unknown): string {
  const s = JSON.stringify(v);
  if (s === undefined) return String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** Reads a file, turning "not found" and "is a directory" into one-line CliErrors. */
export function readFileOrFail(path: string, what: string): Buffer {
  if (!existsSync(path)) throw new CliError(`${what} not found: ${path}`);
  if (statSync(path).isDirectory()) throw new CliError(`${what}: expected a file, got the directory ${path}`);
  return readFileSync(path);
}

/** Loads the frames named by the box file from `dir`, decoded to RGBA. */
export function loadFrames(dir: string, boxes: readonly FrameBoxes[]): RgbaImage[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new CliError(`frames directory not found: ${dir}`);
  return boxes.map((f) => {
    const path = join(dir, f.file);
    const bytes = readFileOrFail(path, 'frame');
    try {
      return decodeImage(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    } catch (e) {
      throw new CliError(`${path}: ${(e as Error).message}`);
    }
  });
}

// ------------------------------------------------------------------------------------ clip windows

/** One network call: the frames it reads, and which of its outputs map to which frames. */
export interface ClipWindow {
  /** Indices of the input frames, in order. */
  frames: number[];
  /** outputs[i] = the frame whose heatmaps are output slot i. */
  outputs: number[];
}

/**
 * Windows for a recurrent model that outputs every frame it reads (RPSTN): consecutive,
 * non-overlapping windows of T frames; the last one is shorter when T does not divide n (the model
 * restarts from its pose initializer at the first frame of every window). Every frame is computed once.
 */
export function recurrentWindows(n: number, T: number): ClipWindow[] {
  if (!(Number.isInteger(n) && n > 0 && Number.isInteger(T) && T > 0)) throw new Error(`recurrentWindows: expected positive integers, got n=${n}, T=${T}`);
  const out: ClipWindow[] = [];
  for (let s = 0; s < n; s += T) {
    const frames = Array.from({ length: Math.min(T, n - s) }, (_, i) => s + i);
    out.push({ frames, outputs: frames });
  }
  return out;
}

/**
 * Windows for a key-frame model (FaSRnet, VREMD, GLPose style): one window per frame, made of
 * `before` frames before it and `after` frames after it, indices clamped to the clip (edge frames
 * repeat). The model outputs the key frame only.
 */
export function keyframeWindows(n: number, before: number, after: number): ClipWindow[] {
  if (!(Number.isInteger(n) && n > 0 && before >= 0 && after >= 0)) throw new Error(`keyframeWindows: expected n > 0 and non-negative offsets, got n=${n}, before=${before}, after=${after}`);
  const clamp = (i: number): number => Math.min(n - 1, Math.max(0, i));
  return Array.from({ length: n }, (_, k) => ({ frames: Array.from({ length: before + 1 + after }, (_, j) => clamp(k - before + j)), outputs: [k] }));
}

/** The smallest box [x, y, w, h] containing all `boxes`. */
export function unionBox(boxes: readonly (readonly number[])[]): [number, number, number, number] {
  if (boxes.length === 0) throw new Error('unionBox: expected at least one box, got none');
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (const [x, y, w, h] of boxes as [number, number, number, number][]) {
    x0 = Math.min(x0, x);
    y0 = Math.min(y0, y);
    x1 = Math.max(x1, x + w);
    y1 = Math.max(y1, y + h);
  }
  return [x0, y0, x1 - x0, y1 - y0];
}

// ------------------------------------------------------------------------------------ output

/** A plain-text table with a header row and left-aligned columns. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
