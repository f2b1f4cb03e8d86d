/**
 * Pose estimation on the real labelled frames available (../shared/data): Google's pretrained
 * MoveNet (Lightning, Thunder, MultiPose) and the SynthPose-trained static baselines, against a
 * fixed template.
 *
 *   npx tsx scripts/eval-real.ts [--backend wasm|cpu] [--data DIR] [--out FILE]
 *
 * What it measures (nothing is tuned on these frames; the numbers are as they come):
 *
 * PoseTrack 2018 sample (`posetrack18-sample/annotations/val/*.json`, every labelled frame, every
 * person with at least one labelled joint), keypoints in PoseTrack's 17 slots:
 * - **PCKh@0.5** (models/pose/metrics/pckh.ts): a joint is correct when it lies within 0.5 × the
 *   head size of the ground truth, head size = 0.6 × head-box diagonal (poseval's). Counted over
 *   every labelled joint; also without head_bottom and head_top, which MoveNet does not predict
 *   (cocoToPoseTrack derives them: head_bottom = mid-shoulders, head_top = the nose mirrored about it).
 *   Rows:
 *   - template: the mean pose of the sample's own annotations, each normalized into its person box,
 *     placed in the ground-truth box (it has seen the answers, so it is an optimistic floor);
 *   - baseline-hrnet / -vitpose / -simplebaseline: the shipped SynthPose weights (`tiny`), run as
 *     models/train/evaluate.ts `predictVideos` runs them (the ground-truth box enlarged by 25% to the
 *     network's aspect, HRNet's get_final_preds);
 *   - Lightning / Thunder (GT box): SinglePose on the pipeline's square crop (1.25 · max(w, h)) of
 *     the ground-truth person box;
 *   - MultiPose: the detections (score ≥ 0.15, the pipeline's default), matched one-to-one to the
 *     ground-truth persons greedily by box IoU (> 0); an unmatched person has all its joints wrong;
 *   - MultiPose → Thunder: the pipeline (detections refined by Thunder on their crops), matched the
 *     same way by the detection boxes.
 * - **poseval mAP** (models/pose/metrics/poseval.ts `evaluatePoseTrack`, with the files' ignore
 *   regions) for every row with keypoint scores (all but the template). Ground-truth-box rows give
 *   one prediction per annotated person; the detection rows every detection ≥ 0.15. Joint scores
 *   are the networks' own (for derived joints, the mean shoulder score).
 *
 * Sub-JHMDB sample (`jhmdb-sample/test_jhmdb_sub1.json`, 15 joints): **PCK@0.2** normalized by the
 * person size max(w, h) of the ground-truth box (the first normalization of the Sub-JHMDB tables),
 * and by the torso ‖left_shoulder − right_hip‖ (the second), models/pose/metrics/pck.ts. COCO →
 * JHMDB: the 12 limb joints are copied; neck = mid-shoulders, belly = mid-hips, head = the mean of
 * nose, eyes and ears (all three derived, so PCK is also given over the 12 copied joints only). The
 * baselines' PoseTrack slots map the same way, with head = the midpoint of head_bottom and head_top.
 * The template is the mean of the three JHMDB annotations.
 *
 * Timing (a side note): ms per frame of each model's call on a PoseTrack frame (host crop, forward,
 * read-back and decoding; all people of a frame in one batch), after one untimed warm-up call, on
 * the chosen backend (wasm: 1 thread). The machine is a shared 2-core VM, so these are rough.
 *
 * Prints a Markdown table and writes bench/results/real-frames-<date>.json (or --out).
 */
import { execSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { DeviceName } from '../backends/backend.js';
import { init, setDefaultDevice } from '../engine/engine.js';
import { moveNetFromSafetensors } from '../models/movenet/load.js';
import type { MoveNet } from '../models/movenet/movenet.js';
import type { MoveNetPose } from '../models/movenet/decode.js';
import { MoveNetPipeline, type Box as PipeBox } from '../models/movenet/pipeline.js';
import { readPoseTrackFile, readSubJhmdbFile } from '../models/pose/datasets/io.js';
import type { Box, PersonAnnotation, VideoFrame, VideoSequence } from '../models/pose/datasets/types.js';
import { decodeImage, type RgbaImage } from '../models/pose/image.js';
import { POSETRACK, SUB_JHMDB } from '../models/pose/joints.js';
import { evaluatePCK, type PckResult, type PckSample } from '../models/pose/metrics/pck.js';
import { evaluatePCKh, isAnnotated, meanBoxPose, pckhOfJoints, placeInBox, type PckhResult } from '../models/pose/metrics/pckh.js';
import { evaluatePoseTrack, type PosevalPredPerson, type PosevalResult } from '../models/pose/metrics/poseval.js';
import { cocoToPoseTrack } from '../models/pose/posetrack-json.js';
import { BASELINE_ARCHS, type BaselineArch } from '../models/train/adapters.js';
import { predictVideos } from '../models/train/evaluate.js';
import { loadTrainedModel } from '../models/train/weights.js';
import { moveNetBackbone } from '../models/backbones/backbone.js';
import { boxToCenterScale, getAffineTransform, invertAffine, affinePoint, normalizeImagenet, warpAffineRgb } from '../models/pose/affine.js';
import { getFinalPreds } from '../models/pose/decode.js';
import { REAL_HEAD_NAMES, realHeadFromBytes, realHeadPath, type RealHeadName } from '../models/real-weights.js';
import { headOnStill } from '../models/train/real-heads.js';
import { tensor } from '../ops/creation.js';
import { noGrad, tidy } from '../engine/engine.js';
import type { Module } from '../models/nn/module.js';

const ROOT = resolve(import.meta.dirname, '..');
const PT_K = POSETRACK.numJoints;
const DERIVED_PT = ['head_bottom', 'head_top'];
const DIRECT_PT = POSETRACK.names.filter((n, k) => POSETRACK.used[k] && !DERIVED_PT.includes(n));
const DERIVED_JHMDB = ['neck', 'belly', 'head'];
const MIN_PERSON_SCORE = 0.2;
const CROP_PADDING = 1.25;

const { values: args } = parseArgs({
  options: {
    backend: { type: 'string', default: 'wasm' },
    data: { type: 'string', default: join(ROOT, '..', 'shared', 'data') },
    out: { type: 'string' },
    'real-heads': { type: 'string' },
  },
  strict: true,
});
const device = args.backend as DeviceName;
if (device !== 'wasm' && device !== 'cpu' && device !== 'webgpu') throw new Error(`--backend: expected wasm, cpu or webgpu, got '${args.backend}'`);
const DATA = resolve(args.data!);
const date = new Date().toISOString().slice(0, 10);
const outFile = resolve(args.out ?? join(ROOT, 'bench', 'results', `real-frames-${date}.json`));
const t0 = performance.now();

// ------------------------------------------------------------------------------------ data

interface Item {
  video: VideoSequence;
  frame: VideoFrame;
  image: RgbaImage;
  /** The scored persons: at least one labelled joint and a box. */
  people: PersonAnnotation[];
}

function annotatedCount(p: PersonAnnotation): number {
  let n = 0;
  for (let k = 0; 3 * k < p.keypoints.length; k++) if (isAnnotated(p.keypoints, k)) n++;
  return n;
}

function loadItems(videos: VideoSequence[]): Item[] {
  const items: Item[] = [];
  for (const video of videos) {
    for (const frame of video.frames) {
      if (!frame.isLabeled) continue;
      const people = frame.people.filter((p) => annotatedCount(p) > 0 && p.bbox && p.bbox[2] > 0 && p.bbox[3] > 0);
      if (people.length === 0) continue;
      const image = decodeImage(new Uint8Array(readFileSync(join(video.root, frame.file))));
      items.push({ video, frame, image, people });
    }
  }
  return items;
}

const ptDir = join(DATA, 'posetrack18-sample', 'annotations', 'val');
const jhmdbFile = join(DATA, 'jhmdb-sample', 'test_jhmdb_sub1.json');
if (!existsSync(ptDir) || !existsSync(jhmdbFile)) throw new Error(`eval-real: expected the sample data in ${DATA} (posetrack18-sample/, jhmdb-sample/), got none`);
const ptFiles = readdirSync(ptDir).filter((f) => f.endsWith('.json')).sort();
const ptVideos = ptFiles.flatMap((f) => readPoseTrackFile(join(ptDir, f)));
const jhVideos = readSubJhmdbFile(jhmdbFile);
const ptItems = loadItems(ptVideos);
const jhItems = loadItems(jhVideos);
const ptPeople = ptItems.flatMap((it) => it.people);
for (const it of [...ptItems, ...jhItems]) {
  const ids = it.people.map((p) => p.trackId);
  if (new Set(ids).size !== ids.length) throw new Error(`eval-real: expected distinct track ids in frame ${it.frame.id}, got [${ids.join(', ')}]`);
}

// ------------------------------------------------------------------------------------ backend and models

const backend = (await init(device)) as unknown as { threads?: number };
setDefaultDevice(device);
const threads = backend.threads ?? 1;

async function loadMoveNet(v: 'lightning' | 'thunder' | 'multipose'): Promise<MoveNet> {
  const p = join(ROOT, 'assets', 'weights', 'movenet', `${v}.safetensors`);
  const m = moveNetFromSafetensors(new Uint8Array(readFileSync(p)), `${v}.safetensors`);
  await m.toAsync(device);
  return m;
}
const lightning = await loadMoveNet('lightning');
const thunder = await loadMoveNet('thunder');
const multipose = await loadMoveNet('multipose');
const opts = { cropPadding: CROP_PADDING, minPersonScore: MIN_PERSON_SCORE };
const lightningGt = new MoveNetPipeline(null, lightning, opts);
const thunderGt = new MoveNetPipeline(null, thunder, opts);
const multiOnly = new MoveNetPipeline(multipose, null, opts);
const pipeline = new MoveNetPipeline(multipose, thunder, opts);
// sensitivity check, not the demo's default: MultiPose at tfjs-models' default input (longer side 256)
const multiOnly256 = new MoveNetPipeline(multipose, null, { ...opts, detectorMaxSize: 256 });
const pipeline256 = new MoveNetPipeline(multipose, thunder, { ...opts, detectorMaxSize: 256 });

// ------------------------------------------------------------------------------------ helpers

/** Per item: one prediction per scored person ([K·3] or null), every prediction for mAP, and the ms. */
interface ItemRun {
  perPerson: (Float64Array | null)[];
  all: Float64Array[];
  ms: number;
  /** Crops or detections the call processed. */
  n: number;
}

interface Method {
  id: string;
  what: string;
  /** PoseTrack keypoints from a run. */
  runPt?: (it: Item) => Promise<Omit<ItemRun, 'ms'>>;
  /** JHMDB keypoints from a run. */
  runJh?: (it: Item) => Promise<Omit<ItemRun, 'ms'>>;
  scored?: boolean;
}

function toBox(b: Box): PipeBox {
  return [b[0], b[1], b[2], b[3]];
}

function iou(a: readonly number[], b: readonly number[]): number {
  const x0 = Math.max(a[0]!, b[0]!);
  const y0 = Math.max(a[1]!, b[1]!);
  const x1 = Math.min(a[0]! + a[2]!, b[0]! + b[2]!);
  const y1 = Math.min(a[1]! + a[3]!, b[1]! + b[3]!);
  const inter = Math.max(0, x1 - x0) * Math.max(0, y1 - y0);
  const u = a[2]! * a[3]! + b[2]! * b[3]! - inter;
  return u > 0 ? inter / u : 0;
}

/** Greedy one-to-one matching by IoU (highest pair first, IoU > 0): for each GT box, the index of its detection or -1. */
function matchByIoU(gt: readonly Box[], det: readonly (readonly number[])[]): { match: number[]; iou: number[] } {
  const pairs: [number, number, number][] = [];
  gt.forEach((g, i) => det.forEach((d, j) => {
    const v = iou(g, d);
    if (v > 0) pairs.push([v, i, j]);
  }));
  pairs.sort((a, b) => b[0] - a[0] || a[1] - b[1] || a[2] - b[2]);
  const match = new Array<number>(gt.length).fill(-1);
  const ious = new Array<number>(gt.length).fill(0);
  const used = new Set<number>();
  for (const [v, i, j] of pairs) {
    if (match[i] !== -1 || used.has(j)) continue;
    match[i] = j;
    ious[i] = v;
    used.add(j);
  }
  return { match, iou: ious };
}

function flat(kps: readonly { x: number; y: number; score: number }[]): Float64Array {
  const out = new Float64Array(3 * kps.length);
  kps.forEach((k, i) => {
    out[3 * i] = k.x;
    out[3 * i + 1] = k.y;
    out[3 * i + 2] = k.score;
  });
  return out;
}

/** MoveNet (COCO order) → PoseTrack slots via cocoToPoseTrack. */
function movenetToPt(p: MoveNetPose): Float64Array {
  return flat(cocoToPoseTrack(p.keypoints));
}

const mid = (a: ArrayLike<number>, i: number, j: number): [number, number, number] => [(a[3 * i]! + a[3 * j]!) / 2, (a[3 * i + 1]! + a[3 * j + 1]!) / 2, (a[3 * i + 2]! + a[3 * j + 2]!) / 2];

/**
 * COCO-order (MoveNet) or PoseTrack-slot keypoints → the 15 Sub-JHMDB joints. Limbs are copied;
 * neck = mid-shoulders, belly = mid-hips; head = mean of the 5 face points (COCO) or the midpoint of
 * head_bottom and head_top (PoseTrack).
 */
function toJhmdb(kp: ArrayLike<number>, from: 'coco' | 'posetrack'): Float64Array {
  const out = new Float64Array(3 * SUB_JHMDB.numJoints);
  const set = (name: string, v: readonly [number, number, number]): void => {
    const j = SUB_JHMDB.names.indexOf(name);
    out[3 * j] = v[0];
    out[3 * j + 1] = v[1];
    out[3 * j + 2] = v[2];
  };
  // COCO and PoseTrack share the limb slots 5..16
  const limbs = POSETRACK.names.slice(5);
  limbs.forEach((n, i) => set(n, [kp[3 * (i + 5)]!, kp[3 * (i + 5) + 1]!, kp[3 * (i + 5) + 2]!]));
  set('neck', mid(kp, 5, 6));
  set('belly', mid(kp, 11, 12));
  if (from === 'coco') {
    let x = 0;
    let y = 0;
    let s = 0;
    for (let k = 0; k < 5; k++) {
      x += kp[3 * k]! / 5;
      y += kp[3 * k + 1]! / 5;
      s += kp[3 * k + 2]! / 5;
    }
    set('head', [x, y, s]);
  } else set('head', mid(kp, 1, 2));
  return out;
}

/** Sub-JHMDB ground truth in PoseTrack slots, only for the baselines' dataset (it needs PoseTrack joint names; crops come from the box). */
function jhmdbAsPoseTrack(v: VideoSequence): VideoSequence {
  const J = (n: string): number => SUB_JHMDB.names.indexOf(n);
  return {
    ...v,
    keypointNames: [...POSETRACK.names],
    frames: v.frames.map((f) => ({
      ...f,
      people: f.people.map((p) => {
        const kp = new Float64Array(3 * PT_K);
        POSETRACK.names.forEach((n, k) => {
          const j = n === 'head_bottom' ? J('neck') : n === 'head_top' ? J('head') : J(n);
          if (j < 0) return;
          kp.set(p.keypoints.subarray(3 * j, 3 * j + 3), 3 * k);
        });
        return { ...p, keypoints: kp };
      }),
    })),
  };
}

// ------------------------------------------------------------------------------------ methods

const ptTemplate = meanBoxPose(ptPeople, PT_K);
const jhTemplate = meanBoxPose(jhItems.flatMap((it) => it.people), SUB_JHMDB.numJoints);

async function gtRefine(p: MoveNetPipeline, it: Item): Promise<MoveNetPose[]> {
  return p.refine(it.image, it.people.map((q) => toBox(q.bbox!)), device);
}

async function detectMatch(p: MoveNetPipeline, it: Item, conv: (q: MoveNetPose) => Float64Array): Promise<Omit<ItemRun, 'ms'> & { ious: number[] }> {
  let poses = await p.detect(it.image, device);
  if (p.refiner) poses = await p.refine(it.image, poses.map((q) => q.box!), device);
  const { match, iou: ious } = matchByIoU(
    it.people.map((q) => q.bbox!),
    poses.map((q) => q.box!),
  );
  const all = poses.map(conv);
  return { perPerson: match.map((j) => (j >= 0 ? all[j]! : null)), all, n: poses.length, ious };
}

const matchInfo = new Map<string, { dataset: string; matched: number; persons: number; meanIoU: number }[]>();
function recordMatch(id: string, dataset: string, r: { perPerson: unknown[]; ious: number[] }): void {
  const list = matchInfo.get(id) ?? [];
  const m = r.ious.filter((v) => v > 0);
  list.push({ dataset, matched: m.length, persons: r.perPerson.length, meanIoU: m.length ? m.reduce((a, b) => a + b, 0) / m.length : NaN });
  matchInfo.set(id, list);
}

function baselineMethod(arch: BaselineArch): Method {
  const { adapter } = loadTrainedModel('baseline', 'tiny', arch);
  const ready = adapter.module.toAsync(device);
  const run = async (it: Item, videos: VideoSequence[]): Promise<Omit<ItemRun, 'ms'>> => {
    await ready;
    const video = videos.find((v) => v.id === it.video.id)!;
    const frame = video.frames.find((f) => f.id === it.frame.id)!;
    const one: VideoSequence = { ...video, frames: [frame] };
    const preds = await predictVideos(adapter, [one], { loadFrame: () => it.image, device });
    const got = preds.get(it.frame.id) ?? [];
    // predictVideos keeps the people of the frame in order (one per track id), those with a box and an annotated joint: the scored ones
    if (got.length !== it.people.length) throw new Error(`eval-real: expected ${it.people.length} predictions from ${adapter.id} in frame ${it.frame.id}, got ${got.length}`);
    const kp = got.map((g) => Float64Array.from(g.keypoints));
    return { perPerson: kp, all: kp, n: kp.length };
  };
  const jhAsPt = jhVideos.map(jhmdbAsPoseTrack);
  return {
    id: adapter.id,
    what: `SynthPose-trained ${arch} (tiny, ${adapter.inputSize.join('x')} input, the shipped weights), GT box + 25%`,
    runPt: (it) => run(it, ptVideos),
    runJh: async (it) => {
      const r = await run(it, jhAsPt);
      const kp = r.perPerson.map((p) => toJhmdb(p!, 'posetrack'));
      return { perPerson: kp, all: kp, n: kp.length };
    },
    scored: true,
  };
}

const methods: Method[] = [
  {
    id: 'template',
    what: 'mean normalized pose of the sample annotations, placed in the GT box',
    runPt: async (it) => {
      const kp = it.people.map((p) => placeInBox(ptTemplate, p.bbox!));
      return { perPerson: kp, all: kp, n: kp.length };
    },
    runJh: async (it) => {
      const kp = it.people.map((p) => placeInBox(jhTemplate, p.bbox!));
      return { perPerson: kp, all: kp, n: kp.length };
    },
    scored: false,
  },
  ...BASELINE_ARCHS.map(baselineMethod),
  {
    id: 'lightning-gt',
    what: 'MoveNet Lightning (192x192) on the square crop 1.25·max(w,h) of the GT box',
    runPt: async (it) => {
      const kp = (await gtRefine(lightningGt, it)).map(movenetToPt);
      return { perPerson: kp, all: kp, n: kp.length };
    },
    runJh: async (it) => {
      const kp = (await gtRefine(lightningGt, it)).map((p) => toJhmdb(flat(p.keypoints), 'coco'));
      return { perPerson: kp, all: kp, n: kp.length };
    },
    scored: true,
  },
  {
    id: 'thunder-gt',
    what: 'MoveNet Thunder (256x256) on the square crop 1.25·max(w,h) of the GT box',
    runPt: async (it) => {
      const kp = (await gtRefine(thunderGt, it)).map(movenetToPt);
      return { perPerson: kp, all: kp, n: kp.length };
    },
    runJh: async (it) => {
      const kp = (await gtRefine(thunderGt, it)).map((p) => toJhmdb(flat(p.keypoints), 'coco'));
      return { perPerson: kp, all: kp, n: kp.length };
    },
    scored: true,
  },
  ...(
    [
      ['multipose', multiOnly, `MoveNet MultiPose (longer side 512, the demo's default) on the frame, detections ≥ ${MIN_PERSON_SCORE} matched to GT by box IoU`],
      ['multipose-thunder', pipeline, "pipeline (the demo's defaults): MultiPose (512) detections refined by Thunder on their 1.25x crops, matched to GT by box IoU"],
      ['multipose256', multiOnly256, "sensitivity check: MultiPose with longer side 256 (tfjs-models' default), as multipose"],
      ['multipose256-thunder', pipeline256, 'sensitivity check: the pipeline with MultiPose at 256, as multipose-thunder'],
    ] as const
  ).map(
    ([id, p, what]): Method => ({
      id,
      what,
      runPt: async (it) => {
        const r = await detectMatch(p, it, movenetToPt);
        recordMatch(id, 'posetrack', r);
        return r;
      },
      runJh: async (it) => {
        const r = await detectMatch(p, it, (q) => toJhmdb(flat(q.keypoints), 'coco'));
        recordMatch(id, 'jhmdb', r);
        return r;
      },
      scored: true,
    }),
  ),
];

// ------------------------------------------------------------------------------------ real heads (issue 12)

/**
 * `--real-heads DIR|shipped`: instead of the rows above, MoveNet Lightning's own heatmaps decoded as
 * the heads decode them (argmax + quarter-pixel shift on the 48x48 'centered' heatmaps; the heads'
 * untrained state) and every trained `real` head: DIR/<run>/head.safetensors for each run folder
 * (train --preset real's output), or the shipped assets/weights/<net>-real/ files. These are single
 * frames, so each temporal network sees the key frame in place of every neighbour (headOnStill).
 * Same crop as the Lightning row: the square 1.25·max(w, h) around the GT box, 192x192.
 */
const HEAD_SIZE = 192;
const lightningBackbone = moveNetBackbone(lightning);

/** COCO keypoints (image pixels) of every scored person of an item, through `head` (null: Lightning's heatmaps). */
function realHeadRun(head: { name: RealHeadName; net: Module } | null, it: Item): { x: number; y: number; score: number }[][] {
  const affines = it.people.map((p) => {
    const cs = boxToCenterScale(p.bbox!, 1, { padding: CROP_PADDING });
    return getAffineTransform(cs.center, cs.scale, 0, [HEAD_SIZE, HEAD_SIZE]);
  });
  const input = new Float32Array(affines.length * 3 * HEAD_SIZE * HEAD_SIZE);
  affines.forEach((a, i) => input.set(normalizeImagenet(warpAffineRgb(it.image, a, HEAD_SIZE, HEAD_SIZE)), i * 3 * HEAD_SIZE * HEAD_SIZE));
  const N = affines.length;
  const hm = tidy(() =>
    noGrad(() => {
      const o = lightningBackbone.forward(tensor(input, { shape: [N, 3, HEAD_SIZE, HEAD_SIZE], device }));
      return (head ? headOnStill(head.name, head.net, o.features, o.heatmaps) : o.heatmaps).dataSync();
    }),
  );
  const s = HEAD_SIZE / 4;
  return getFinalPreds(hm, [N, 17, s, s]).map((person, i) => {
    const inv = invertAffine(affines[i]!);
    return person.map((k) => {
      const q = affinePoint(inv, [k.x * 4, k.y * 4]);
      return { x: q[0], y: q[1], score: k.score };
    });
  });
}

function realHeadMethod(id: string, what: string, head: { name: RealHeadName; net: Module } | null): Method {
  return {
    id,
    what,
    runPt: async (it) => {
      const kp = realHeadRun(head, it).map((k) => flat(cocoToPoseTrack(k)));
      return { perPerson: kp, all: kp, n: kp.length };
    },
    runJh: async (it) => {
      const kp = realHeadRun(head, it).map((k) => toJhmdb(flat(k), 'coco'));
      return { perPerson: kp, all: kp, n: kp.length };
    },
    scored: true,
  };
}

if (args['real-heads'] !== undefined) {
  const src = args['real-heads'];
  const heads: { id: string; file: string; name: RealHeadName }[] = [];
  if (src === 'shipped') {
    for (const name of REAL_HEAD_NAMES) if (existsSync(realHeadPath(name))) heads.push({ id: `${name}-real (shipped)`, file: realHeadPath(name), name });
  } else {
    for (const d of readdirSync(resolve(src)).sort()) {
      const file = join(resolve(src), d, 'head.safetensors');
      const name = REAL_HEAD_NAMES.find((n) => d === n || d.startsWith(`${n}-`));
      if (name && existsSync(file)) heads.push({ id: d, file, name });
    }
  }
  if (heads.length === 0) throw new Error(`eval-real --real-heads: expected head.safetensors files (run folders of train --preset real, or 'shipped'), got none in ${src}`);
  methods.length = 0;
  methods.push(realHeadMethod('lightning-heatmaps', "MoveNet Lightning's 48x48 heatmaps, argmax-decoded as the heads (their untrained state)", null));
  for (const h of heads) {
    const net = realHeadFromBytes(new Uint8Array(readFileSync(h.file)), h.name, lightning, h.file);
    if (device !== 'cpu') await net.toAsync(device);
    methods.push(realHeadMethod(h.id, `${h.name} real head (${h.file}), key frame repeated`, { name: h.name, net }));
  }
}

// ------------------------------------------------------------------------------------ run

async function runAll(m: Method, items: Item[], run: (it: Item) => Promise<Omit<ItemRun, 'ms'>>, warm: boolean): Promise<ItemRun[]> {
  if (warm && items[0]) await run(items[0]); // warm-up (kernels, caches); its matching record is dropped below
  if (warm) matchInfo.delete(m.id);
  const out: ItemRun[] = [];
  for (const it of items) {
    const s = performance.now();
    const r = await run(it);
    out.push({ ...r, ms: performance.now() - s });
  }
  return out;
}

interface PtRow {
  id: string;
  what: string;
  pckh: PckhResult;
  pckhDirect: PckhResult;
  groups: Record<string, number>;
  map: PosevalResult | null;
  msPerFrame: number;
  msPerFrameEach: number[];
  itemsPerFrame: number[];
  /** Per PoseTrack frame: correct / labelled joints. */
  perFrame: { frame: number; persons: number; correct: number; joints: number }[];
}

interface JhRow {
  id: string;
  what: string;
  person: PckResult;
  personDirect: PckResult;
  torso: PckResult;
}

const ptRows: PtRow[] = [];
const jhRows: JhRow[] = [];
const DIRECT_JH_IDX = SUB_JHMDB.names.map((n, k) => (DERIVED_JHMDB.includes(n) ? -1 : k)).filter((k) => k >= 0);
const subset = (a: ArrayLike<number>, idx: readonly number[]): Float64Array => Float64Array.from(idx.flatMap((k) => [a[3 * k]!, a[3 * k + 1]!, a[3 * k + 2]!]));

for (const m of methods) {
  process.stderr.write(`${m.id} ...`);
  const s0 = performance.now();
  const pt = await runAll(m, ptItems, m.runPt!, m.id !== 'template');
  const samples = ptItems.flatMap((it, i) => it.people.map((p, j) => ({ gt: p.keypoints, pred: pt[i]!.perPerson[j] ?? null, bboxHead: p.bboxHead })));
  const pckh = evaluatePCKh(samples, { keypointNames: POSETRACK.names });
  const pckhDirect = evaluatePCKh(samples, { keypointNames: POSETRACK.names, joints: DIRECT_PT });
  const groups = Object.fromEntries(Object.entries(POSETRACK.groups).map(([g, slots]) => [g, pckhOfJoints(pckh, slots)]));
  let map: PosevalResult | null = null;
  if (m.scored) {
    const preds = new Map<number, PosevalPredPerson[]>();
    ptItems.forEach((it, i) => preds.set(it.frame.id, pt[i]!.all.map((k) => ({ keypoints: k }))));
    map = evaluatePoseTrack(ptVideos, preds);
  }
  ptRows.push({
    id: m.id,
    what: m.what,
    pckh,
    pckhDirect,
    groups,
    map,
    msPerFrame: pt.reduce((a, r) => a + r.ms, 0) / pt.length,
    msPerFrameEach: pt.map((r) => r.ms),
    itemsPerFrame: pt.map((r) => r.n),
    perFrame: ptItems.map((it, i) => {
      const r = evaluatePCKh(it.people.map((p, j) => ({ gt: p.keypoints, pred: pt[i]!.perPerson[j] ?? null, bboxHead: p.bboxHead })), { keypointNames: POSETRACK.names });
      return { frame: it.frame.id, persons: it.people.length, correct: r.totalCorrect, joints: r.total };
    }),
  });
  const jh = await runAll(m, jhItems, m.runJh!, false);
  const jsamples: PckSample[] = jhItems.flatMap((it, i) => it.people.map((p, j) => ({ gt: p.keypoints, pred: jh[i]!.perPerson[j] ?? new Float64Array(p.keypoints.length).fill(NaN), bbox: p.bbox })));
  const directNames = DIRECT_JH_IDX.map((k) => SUB_JHMDB.names[k]!);
  jhRows.push({
    id: m.id,
    what: m.what,
    person: evaluatePCK(jsamples, { keypointNames: SUB_JHMDB.names, normalization: 'person', alpha: 0.2 }),
    personDirect: evaluatePCK(
      jsamples.map((s) => ({ gt: subset(s.gt, DIRECT_JH_IDX), pred: subset(s.pred, DIRECT_JH_IDX), bbox: s.bbox ?? null })),
      { keypointNames: directNames, normalization: 'person', alpha: 0.2 },
    ),
    torso: evaluatePCK(jsamples, { keypointNames: SUB_JHMDB.names, normalization: 'torso', alpha: 0.2 }),
  });
  process.stderr.write(` ${((performance.now() - s0) / 1000).toFixed(1)} s\n`);
}

// ------------------------------------------------------------------------------------ report

const f1 = (v: number): string => (Number.isFinite(v) ? v.toFixed(1) : '–');
const nPtFrames = ptItems.length;
const nPtPeople = ptPeople.length;
const totalJoints = ptRows[0]!.pckh.total;
const directJoints = ptRows[0]!.pckhDirect.total;
const lines: string[] = [];
lines.push(`PoseTrack 2018 sample: ${nPtFrames} labelled frames, ${nPtPeople} persons, ${totalJoints} labelled joints (${directJoints} without head_bottom/head_top). Backend ${device}${device === 'wasm' ? `, ${threads} thread` : ''}.`);
lines.push('');
lines.push('| method | PCKh@0.5 all | PCKh@0.5 w/o head_bottom, head_top | Head | Sho | Elb | Wri | Hip | Knee | Ank | poseval mAP | ms/frame |');
lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of ptRows) {
  const g = r.groups;
  lines.push(
    `| ${r.id} | ${f1(r.pckh.overall)} (${r.pckh.totalCorrect}/${r.pckh.total}) | ${f1(r.pckhDirect.overall)} (${r.pckhDirect.totalCorrect}/${r.pckhDirect.total}) | ${[g.head!, g.shoulder!, g.elbow!, g.wrist!, g.hip!, g.knee!, g.ankle!].map(f1).join(' | ')} | ${r.map ? f1(r.map.table.mean) : '–'} | ${r.id === 'template' ? '–' : r.msPerFrame.toFixed(0)} |`,
  );
}
lines.push('');
const jhJoints = jhRows[0]!.person.counts.reduce((a, b) => a + b, 0);
lines.push(`Sub-JHMDB sample: ${jhItems.length} frames, ${jhItems.reduce((a, it) => a + it.people.length, 0)} persons, ${jhJoints} joints. PCK@0.2 (correct / all joints).`);
lines.push('');
lines.push('| method | PCK@0.2 person size, 15 joints | person size, 12 copied joints | torso size, 15 joints |');
lines.push('|---|---|---|---|');
for (const r of jhRows) lines.push(`| ${r.id} | ${f1(r.person.overall)} | ${f1(r.personDirect.overall)} | ${f1(r.torso.overall)} |`);
lines.push('');
for (const [id, list] of matchInfo) {
  for (const ds of ['posetrack', 'jhmdb']) {
    const l = list.filter((m) => m.dataset === ds);
    lines.push(`${id} on ${ds}: GT persons matched to a detection per frame ${l.map((m) => `${m.matched}/${m.persons}`).join(', ')}.`);
  }
}
lines.push('');
lines.push(`PCKh@0.5 per PoseTrack frame (correct/joints): ${ptItems.map((it) => `${it.video.id} (${it.people.length} persons)`).join(', ')}`);
for (const r of ptRows) lines.push(`  ${r.id.padEnd(24)} ${r.perFrame.map((f) => `${f.correct}/${f.joints}`).join('  ')}   ms per frame ${r.id === 'template' ? '–' : r.msPerFrameEach.map((v) => v.toFixed(0)).join(' / ')}`);
const thunderRow = ptRows.find((r) => r.id === 'thunder-gt');
if (thunderRow) lines.push('', 'Thunder (GT box), per PoseTrack joint: PCKh@0.5 (n) and mean signed error (dx, dy) in head sizes:');
if (thunderRow) POSETRACK.names.forEach((n, k) => {
  if (thunderRow.pckh.counts[k] === 0) return;
  const [dx, dy] = thunderRow.pckh.meanOffset[k]!;
  lines.push(`  ${n.padEnd(15)} ${f1(thunderRow.pckh.perJoint[k]!).padStart(5)} (${thunderRow.pckh.counts[k]})  dx ${dx.toFixed(2)}  dy ${dy.toFixed(2)}`);
});
const seconds = (performance.now() - t0) / 1000;
lines.push('');
lines.push(`Total ${seconds.toFixed(0)} s.`);
process.stdout.write(`${lines.join('\n')}\n`);

let commit = 'unknown';
try {
  commit = execSync('git rev-parse --short HEAD', { cwd: ROOT, encoding: 'utf8' }).trim();
} catch {
  // not a git checkout
}
const perJoint = (r: PckhResult): Record<string, { pckh: number; n: number; dx: number; dy: number }> =>
  Object.fromEntries(r.jointNames.flatMap((n, k) => (r.counts[k]! > 0 ? [[n, { pckh: r.perJoint[k]!, n: r.counts[k]!, dx: r.meanOffset[k]![0], dy: r.meanOffset[k]![1] }]] : [])));
const doc = {
  date,
  commit,
  command: `npx tsx scripts/eval-real.ts --backend ${device}${args['real-heads'] !== undefined ? ` --real-heads ${args['real-heads']}` : ''}`,
  machine: { cpus: cpus().length, model: cpus()[0]?.model ?? '?', loadavgAtEnd: loadavg(), node: process.version, backend: device, threads, note: 'shared 2-core VM with other jobs running; timings are rough' },
  seconds,
  posetrack: {
    files: ptFiles,
    frames: nPtFrames,
    persons: nPtPeople,
    joints: totalJoints,
    jointsWithoutDerived: directJoints,
    rows: ptRows.map((r) => ({
      id: r.id,
      what: r.what,
      pckh: r.pckh.overall,
      correct: r.pckh.totalCorrect,
      joints: r.pckh.total,
      pckhWithoutDerived: r.pckhDirect.overall,
      correctWithoutDerived: r.pckhDirect.totalCorrect,
      jointsWithoutDerived: r.pckhDirect.total,
      groups: r.groups,
      perJoint: perJoint(r.pckh),
      poseval: r.map ? { table: r.map.table, ap: Object.fromEntries(r.map.jointNames.map((n, k) => [n, r.map!.ap[k]])), frames: r.map.numFrames } : null,
      msPerFrame: r.id === 'template' ? null : r.msPerFrame,
      msPerFrameEach: r.id === 'template' ? null : r.msPerFrameEach,
      cropsOrDetectionsPerFrame: r.itemsPerFrame,
      perFrame: r.perFrame,
    })),
    matching: Object.fromEntries([...matchInfo].map(([id, l]) => [id, l])),
  },
  jhmdb: {
    file: 'jhmdb-sample/test_jhmdb_sub1.json',
    frames: jhItems.length,
    joints: jhJoints,
    mapping: 'limbs copied; neck = mid-shoulders, belly = mid-hips; head = mean of nose, eyes, ears (COCO) or midpoint of head_bottom and head_top (PoseTrack slots)',
    rows: jhRows.map((r) => ({
      id: r.id,
      pckPerson: r.person.overall,
      pckPersonMean: r.person.mean,
      pckPersonDirect12: r.personDirect.overall,
      pckTorso: r.torso.overall,
      perJointPerson: Object.fromEntries(r.person.jointNames.map((n, k) => [n, r.person.perJoint[k]])),
    })),
  },
};
mkdirSync(dirname(outFile), { recursive: true });
writeFileSync(outFile, `${JSON.stringify(doc, null, 2)}\n`);
process.stdout.write(`wrote ${outFile}\n`);
