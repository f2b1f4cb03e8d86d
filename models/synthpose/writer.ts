/**
 * Writes SynthPose clips to disk in the PoseTrack layout, so that every PoseTrack tool (our
 * reader, poseval-style evaluation, other codebases) reads them unchanged:
 *
 *   <out>/images/synthpose/<vid>/<frame 000000>.png
 *   <out>/annotations/synthpose/<vid>.json      (PoseTrack 2018 layout + per-frame `synthpose` flags)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { toPoseTrack18Json } from '../pose/datasets/posetrack.js';
import type { SynthClip } from './generator.js';

/** PNG bytes of an RGB frame (8-bit, colour type 2, no alpha). */
export function encodePngRgb(rgb: Uint8Array, width: number, height: number): Buffer {
  const png = new PNG({ width, height, colorType: 2, inputColorType: 2, inputHasAlpha: false });
  png.data = Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength);
  return PNG.sync.write(png, { colorType: 2, inputColorType: 2, inputHasAlpha: false });
}

/** The clip's annotation object (PoseTrack 2018 layout with `synthpose` flags per image). */
export function clipJson(clip: SynthClip): unknown {
  return toPoseTrack18Json([clip.video], { flags: true });
}

/** Writes one clip under `outDir`; returns the annotation file path. */
export function writeClip(clip: SynthClip, outDir: string): string {
  const vid = clip.video.id;
  mkdirSync(join(outDir, 'images', 'synthpose', vid), { recursive: true });
  mkdirSync(join(outDir, 'annotations', 'synthpose'), { recursive: true });
  clip.frames.forEach((f, t) => {
    writeFileSync(join(outDir, clip.video.frames[t]!.file), encodePngRgb(f.rgb, clip.width, clip.height));
  });
  const path = join(outDir, 'annotations', 'synthpose', `${vid}.json`);
  writeFileSync(path, JSON.stringify(clipJson(clip)));
  return path;
}
