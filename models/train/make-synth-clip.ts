/**
 * Writes the held-out SynthPose clip of the demo (`assets/synth/`): frames 8-19 of validation clip
 * 35 of the experiment's data (docs/results.md; never seen in training), which turns from clean to
 * occluded (a textured ellipse crosses a figure) and motion-blurred.
 *
 *   npx tsx models/train/make-synth-clip.ts [OUT_DIR]      (default assets/synth)
 *
 * Files, in the demo's format (cli/demo.ts, assets/demo/boxes.json):
 *   0008.jpg … 0019.jpg   the frames, JPEG quality 92 (the training frames are PNG; JPEG keeps the
 *                         clip around 30 KB a frame)
 *   boxes.json            { description, frames: [{ file, persons: [{ id: track id, box: [x, y, w, h] }] }] }
 *                         with the ground-truth person boxes
 *   annotations.json      the same frames' ground truth in the PoseTrack 2018 layout with the
 *                         per-frame `synthpose: { occluded, blurred }` flags
 * The clip is regenerated from its seed, so the bytes do not depend on a data folder.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import jpeg from 'jpeg-js';
import { toPoseTrack18Json } from '../pose/datasets/posetrack.js';
import { generateClip } from '../synthpose/generator.js';
import { DEFAULT_SYNTH_SPEC } from './data.js';

export const DEMO_CLIP = Object.freeze({ index: 35, first: 8, count: 12 });

function main(): void {
  const out = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'assets', 'synth'));
  const spec = DEFAULT_SYNTH_SPEC;
  if (DEMO_CLIP.index < spec.trainClips) throw new Error(`make-synth-clip: expected a validation clip (index ≥ ${spec.trainClips}), got ${DEMO_CLIP.index}`);
  const clip = generateClip(DEMO_CLIP.index, { width: spec.size[0], height: spec.size[1], frames: spec.frames, seed: spec.seed });
  mkdirSync(out, { recursive: true });
  const frames = clip.video.frames.slice(DEMO_CLIP.first, DEMO_CLIP.first + DEMO_CLIP.count);
  const boxes = frames.map((f) => {
    const file = `${String(f.index).padStart(4, '0')}.jpg`;
    const rgb = clip.frames[f.index]!.rgb;
    const rgba = new Uint8Array(clip.width * clip.height * 4);
    for (let i = 0; i < clip.width * clip.height; i++) {
      rgba[4 * i] = rgb[3 * i]!;
      rgba[4 * i + 1] = rgb[3 * i + 1]!;
      rgba[4 * i + 2] = rgb[3 * i + 2]!;
      rgba[4 * i + 3] = 255;
    }
    writeFileSync(join(out, file), jpeg.encode({ data: rgba, width: clip.width, height: clip.height }, 92).data);
    const persons = f.people.filter((p) => p.bbox).map((p) => `{ "id": ${p.trackId}, "box": [${p.bbox!.map((v) => Number(v.toFixed(1))).join(', ')}] }`);
    const flags = f.flags ? `, "occluded": ${f.flags.occluded}, "blurred": ${f.flags.blurred}` : '';
    return `    { "file": "${file}"${flags}, "persons": [ ${persons.join(', ')} ] }`;
  });
  const description = `SynthPose validation clip ${DEMO_CLIP.index} (seed ${spec.seed}, ${spec.size[0]}x${spec.size[1]}), frames ${DEMO_CLIP.first}-${DEMO_CLIP.first + DEMO_CLIP.count - 1}: held out from training (docs/results.md). Ground-truth person boxes [x, y, w, h]; id = track id. Written by models/train/make-synth-clip.ts.`;
  writeFileSync(join(out, 'boxes.json'), `{\n  "description": ${JSON.stringify(description)},\n  "frames": [\n${boxes.join(',\n')}\n  ]\n}\n`);
  const video = { ...clip.video, frames };
  writeFileSync(join(out, 'annotations.json'), `${JSON.stringify(toPoseTrack18Json([video], { flags: true }))}\n`);
  process.stdout.write(`wrote ${frames.length} frames, boxes.json and annotations.json to ${out}\n`);
}

const isMain = process.argv[1] !== undefined && resolve(process.argv[1]) === resolve(fileURLToPath(import.meta.url));
if (isMain) main();
