/**
 * Node file readers for the datasets (the parsers in posetrack.ts, jhmdb.ts and pennaction.ts are
 * pure and also run in the browser), and frame decoding (PNG with pngjs, JPEG with jpeg-js) into
 * the RGB(A) `ImageHWC` that affine.ts crops from.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { fail } from '../../../engine/shape.js';
import type { ImageHWC } from '../affine.js';
import { parseSubJhmdb } from './jhmdb.js';
import { parsePennAction, type PennActionVideo } from './pennaction.js';
import { parsePoseTrack } from './posetrack.js';
import type { VideoFrame, VideoSequence } from './types.js';

function readJson(path: string, op: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    return fail(op, `a readable file`, `${path} (${(e as Error).message})`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    return fail(op, 'a JSON file', `${path} (${(e as Error).message})`);
  }
}

/**
 * Reads one PoseTrack annotation file (either layout). `root` defaults to the folder above
 * `annotations/` when the file lives in one (the PoseTrack layout), else to the file's folder.
 */
export function readPoseTrackFile(path: string, root?: string): VideoSequence[] {
  const abs = resolve(path);
  return parsePoseTrack(readJson(abs, 'readPoseTrackFile'), root ?? guessRoot(abs));
}

/** Reads every `*.json` of a PoseTrack annotation folder (e.g. `annotations/val`), sorted by name. */
export function readPoseTrackDir(dir: string, root?: string): VideoSequence[] {
  const abs = resolve(dir);
  const files = readdirSync(abs).filter((f) => f.endsWith('.json')).sort();
  if (files.length === 0) fail('readPoseTrackDir', 'a folder with .json files', abs);
  return files.flatMap((f) => readPoseTrackFile(join(abs, f), root ?? guessRoot(join(abs, f))));
}

/** Reads a Sub-JHMDB split file; frame paths are relative to the file's folder unless `root` is given. */
export function readSubJhmdbFile(path: string, root?: string): VideoSequence[] {
  const abs = resolve(path);
  return parseSubJhmdb(readJson(abs, 'readSubJhmdbFile'), root ?? dirname(abs));
}

/** Reads every converted Penn Action label file in `labelDir`; `root` is the Penn_Action folder (default: its parent). */
export function readPennActionDir(labelDir: string, root?: string): PennActionVideo[] {
  const abs = resolve(labelDir);
  const files = readdirSync(abs).filter((f) => f.endsWith('.json')).sort();
  if (files.length === 0) fail('readPennActionDir', 'a folder with converted .json label files', abs);
  return files.map((f) => parsePennAction(readJson(join(abs, f), 'readPennActionDir'), root ?? dirname(abs)));
}

function guessRoot(file: string): string {
  let d = dirname(file);
  for (let i = 0; i < 4; i++) {
    if (d.endsWith('/annotations') || d.endsWith('\\annotations')) return dirname(d);
    const parent = dirname(d);
    if (parent === d) break;
    d = parent;
  }
  return dirname(file);
}

/**
 * Decodes a PNG or JPEG (by its magic bytes) to RGBA pixels.
 * @throws Error when the bytes are neither, or the decoder rejects them.
 */
export function decodeImage(bytes: Uint8Array, name = 'image'): ImageHWC {
  const op = 'decodeImage';
  if (bytes.length > 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) {
    const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    return { width: png.width, height: png.height, channels: 4, data: png.data };
  }
  if (bytes.length > 3 && bytes[0] === 0xff && bytes[1] === 0xd8) {
    const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true });
    return { width: img.width, height: img.height, channels: 4, data: img.data };
  }
  return fail(op, 'PNG or JPEG bytes', `${name} starting with [${Array.from(bytes.slice(0, 4)).join(', ')}]`);
}

/** Reads and decodes one frame of a video. */
export function readFrame(video: VideoSequence, frame: VideoFrame): ImageHWC {
  const path = join(video.root, frame.file);
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    return fail('readFrame', 'a readable frame image', `${path} (${(e as Error).message})`);
  }
  return decodeImage(bytes, path);
}

/** Whether a path exists (for optional data such as masks). */
export function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}
