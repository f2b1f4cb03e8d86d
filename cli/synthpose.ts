/**
 * Writes SynthPose clips (PNG frames + PoseTrack 2018 JSON) to a folder.
 *
 *   npx tsx cli/synthpose.ts --out DIR --clips N --frames T --seed S --size WxH
 *        [--people MIN-MAX] [--occluders MAX] [--blur P] [--camera F] [--actions walk,wave,jacks]
 *
 * See docs/synthpose.md. The same arguments always write the same bytes.
 */
import { parseArgs } from 'node:util';
import { ACTIONS, type Action } from '../models/synthpose/figure.js';
import { generateClip, type SynthPoseOptions } from '../models/synthpose/generator.js';
import { writeClip } from '../models/synthpose/writer.js';

const USAGE = 'usage: synthpose --out DIR [--clips N=4] [--frames T=64] [--seed S=0] [--size WxH=256x256] [--people MIN-MAX=1-2] [--occluders MAX=2] [--blur P=0.1] [--camera F=0.08] [--actions walk,wave,jacks] [--first I=0]';

function die(msg: string): never {
  console.error(`synthpose: ${msg}\n${USAGE}`);
  process.exit(2);
}

function int(name: string, v: string | undefined, dflt: number, min = 0): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) die(`expected --${name} as an integer ≥ ${min}, got '${v}'`);
  return n;
}

function num(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n)) die(`expected --${name} as a number, got '${v}'`);
  return n;
}

function main(): void {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      options: {
        out: { type: 'string' }, clips: { type: 'string' }, frames: { type: 'string' }, seed: { type: 'string' }, size: { type: 'string' },
        people: { type: 'string' }, occluders: { type: 'string' }, blur: { type: 'string' }, camera: { type: 'string' }, actions: { type: 'string' },
        first: { type: 'string' }, help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (e) {
    die((e as Error).message);
  }
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const s = (k: string): string | undefined => values[k] as string | undefined;
  const out = s('out') ?? die('expected --out DIR, got nothing');
  const size = /^(\d+)x(\d+)$/.exec(s('size') ?? '256x256') ?? die(`expected --size WxH, got '${s('size')}'`);
  const people = /^(\d+)(?:-(\d+))?$/.exec(s('people') ?? '1-2') ?? die(`expected --people MIN-MAX, got '${s('people')}'`);
  const actions = (s('actions') ?? ACTIONS.join(',')).split(',') as Action[];
  for (const a of actions) if (!ACTIONS.includes(a)) die(`expected --actions from ${ACTIONS.join(',')}, got '${a}'`);
  const opts: SynthPoseOptions = {
    width: Number(size[1]),
    height: Number(size[2]),
    frames: int('frames', s('frames'), 64, 1),
    seed: int('seed', s('seed'), 0),
    minPeople: Number(people[1]),
    maxPeople: Number(people[2] ?? people[1]),
    maxOccluders: int('occluders', s('occluders'), 2),
    blurProbability: num('blur', s('blur'), 0.1),
    cameraMotion: num('camera', s('camera'), 0.08),
    actions,
  };
  const clips = int('clips', s('clips'), 4, 1);
  const first = int('first', s('first'), 0);
  const t0 = performance.now();
  for (let i = first; i < first + clips; i++) {
    const c0 = performance.now();
    let clip;
    try {
      clip = generateClip(i, opts);
    } catch (e) {
      die((e as Error).message);
    }
    const path = writeClip(clip, out);
    const occ = clip.frames.filter((f) => f.flags.occluded).length;
    const blur = clip.frames.filter((f) => f.flags.blurred).length;
    console.log(`clip ${clip.video.id}: ${clip.frames.length} frames, ${clip.figures.length} figure(s) [${clip.figures.map((f) => f.action).join(', ')}], ${clip.occluders.length} occluder(s), ${occ} occluded / ${blur} blurred frames, ${((performance.now() - c0) / 1000).toFixed(2)} s → ${path}`);
  }
  console.log(`wrote ${clips} clip(s) to ${out} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

main();
