/**
 * Tracked keypoints written in the PoseTrack 2018 JSON layout (the layout of PoseTrack 2018's
 * `annotations/val/*.json` and of poseval's prediction files; see datasets/posetrack.ts):
 *
 * ```
 * { "categories":  [{ "supercategory": "person", "id": 1, "name": "person", "keypoints": [17 names], "skeleton": [[1-based pairs]] }],
 *   "images":      [{ "id", "file_name", "frame_id", "vid_id", "nframes", "is_labeled", "width"?, "height"? }],
 *   "annotations": [{ "id", "image_id", "track_id", "category_id": 1, "keypoints": [x, y, score] × 17,
 *                     "scores": [17], "bbox": [x, y, w, h], "score" }] }
 * ```
 *
 * **Keypoint order.** By default (`keypointFormat: 'coco'`) the 17 keypoints are COCO's, in MoveNet
 * order (nose, left_eye, right_eye, left_ear, ..., right_ankle), and `categories[0].keypoints` lists
 * those COCO names. This is *not* PoseTrack's joint list: PoseTrack 2018 stores 17 slots in COCO order
 * but slot 1 is `head_bottom` and slot 2 `head_top` (instead of the eyes) and the ears are never
 * annotated. poseval refuses a file whose keypoint names lack head_bottom/head_top, so to score
 * against PoseTrack annotations write `keypointFormat: 'posetrack'`, which maps every person through
 * `cocoToPoseTrack` and names the slots as PoseTrack does (joints.ts `POSETRACK.names`).
 *
 * Other conventions, from the PoseTrack 2018 files and poseval's `convert.py`:
 * - `keypoints` holds x, y (pixels) and the keypoint score as the third value; `scores` repeats the
 *   scores (poseval reads them from `scores`, and the third value as the visibility flag).
 * - Image ids: when `videoName` is a PoseTrack video name (5 or 6 digits, optionally followed by
 *   `_...`, e.g. `003418_mpii_test`), id = 10000000000 + video · 10000 + n as in PoseTrack 2018
 *   (`10034180000` for frame 0 of 003418), with n the number in the frame's file name (000012.jpg → 12)
 *   or its position when the name has none, and `vid_id` is the digits. Otherwise ids are the frame
 *   positions 0, 1, 2, ... and `vid_id` is `videoName` (default 'video'). `frame_id` = `id`.
 * - Annotation ids: image id · 100 + the person's index in its frame (poseval's converter rule).
 * - `file_name` is the frame's `file` as given; poseval takes the video from the file name's folder,
 *   so pass PoseTrack-style paths (`images/val/003418_mpii_test/000000.jpg`) when scoring with it.
 * - Coordinates are rounded to 0.01 px and scores to 1e-4, so the document is exactly its JSON.
 *
 * The output reads back with datasets/posetrack.ts `parseCocoVideos` (keypointNames = the written
 * names, people with trackId, keypoints [x, y, score] × 17 and bbox).
 */
import type { Keypoint } from './decode.js';
import { COCO17, POSETRACK } from './joints.js';
import type { TrackedPerson } from './track.js';

export interface PoseTrackCategory {
  supercategory: 'person';
  id: 1;
  name: 'person';
  /** The 17 slot names, in the order of every annotation's keypoints. */
  keypoints: string[];
  /** Bones as 1-based slot pairs (COCO's 19). */
  skeleton: [number, number][];
}

export interface PoseTrackImage {
  id: number;
  file_name: string;
  frame_id: number;
  vid_id: string;
  nframes: number;
  is_labeled: boolean;
  width?: number;
  height?: number;
}

export interface PoseTrackAnnotation {
  id: number;
  image_id: number;
  track_id: number;
  category_id: 1;
  /** [x, y, score] × 17, pixels. */
  keypoints: number[];
  /** The 17 keypoint scores. */
  scores: number[];
  /** [x, y, w, h] in pixels. */
  bbox: [number, number, number, number];
  /** The person score. */
  score: number;
}

export interface PoseTrackJsonDoc {
  categories: PoseTrackCategory[];
  images: PoseTrackImage[];
  annotations: PoseTrackAnnotation[];
}

export interface PoseTrackJsonFrame {
  /** The frame's file name (written as `file_name`). */
  file: string;
  /** The tracked persons of the frame, keypoints in COCO/MoveNet order, image pixels. */
  persons: readonly TrackedPerson[];
}

export interface PoseTrackJsonOptions {
  /** The video's name: a PoseTrack name (`003418_mpii_test`) selects PoseTrack's image ids (see the module doc). */
  videoName?: string;
  /** [width, height] of the frames in pixels, written on every image. */
  imageSize?: readonly [number, number];
  /** 'coco' (default): COCO's 17 keypoints and names; 'posetrack': mapped with cocoToPoseTrack, PoseTrack names. */
  keypointFormat?: 'coco' | 'posetrack';
}

const OP = 'toPoseTrackJson';
const K = 17;

/** COCO's skeleton, 1-based, as in the COCO and PoseTrack 2018 category (the same 19 pairs). */
const SKELETON_1BASED: [number, number][] = COCO17.skeleton.map(([a, b]) => [a + 1, b + 1]);

/**
 * The PoseTrack 2018 document for one video's tracked keypoints.
 * @param frames the video's frames in order, each with its tracked persons.
 * @throws Error "toPoseTrackJson: expected ..." for a person without 17 keypoints, a non-finite
 *   coordinate, score or box, a non-integer or negative track id, a bad imageSize, or (PoseTrack ids)
 *   two frames with the same number or a frame number ≥ 10000, or more than 100 persons in a frame.
 */
export function toPoseTrackJson(frames: readonly PoseTrackJsonFrame[], opts: PoseTrackJsonOptions = {}): PoseTrackJsonDoc {
  const bad = (what: string, got: unknown): never => {
    throw new Error(`${OP}: expected ${what}, got ${typeof got === 'string' ? got : JSON.stringify(got) ?? String(got)}`);
  };
  if (!Array.isArray(frames)) bad('an array of frames', typeof frames);
  const format = opts.keypointFormat ?? 'coco';
  if (format !== 'coco' && format !== 'posetrack') bad("keypointFormat 'coco' or 'posetrack'", format);
  const size = opts.imageSize;
  if (size !== undefined && !(Array.isArray(size) && size.length === 2 && size.every((v) => Number.isInteger(v) && v > 0))) bad('imageSize as [width, height] positive integers', size);
  const name = opts.videoName ?? 'video';
  const pt = /^(\d{5,6})(?:_|$)/.exec(name);
  const vidId = pt ? pt[1]! : name;
  const seen = new Set<number>();
  const images: PoseTrackImage[] = [];
  const annotations: PoseTrackAnnotation[] = [];
  frames.forEach((f, i) => {
    if (typeof f?.file !== 'string' || !Array.isArray(f.persons)) bad(`frames[${i}] as {file, persons}`, f);
    let id = i;
    if (pt) {
      const m = /(\d+)\.[A-Za-z0-9]+$/.exec(f.file);
      const n = m ? Number(m[1]) : i;
      if (n >= 10000) bad(`frame numbers below 10000 for PoseTrack image ids (frames[${i}].file)`, f.file);
      id = 10000000000 + Number(vidId) * 10000 + n;
    }
    if (f.persons.length > 100) bad(`at most 100 persons per frame (annotation id = image id · 100 + index) in frames[${i}]`, `${f.persons.length}`);
    if (seen.has(id)) bad(`one frame per image id (frames[${i}].file ${JSON.stringify(f.file)} repeats id ${id})`, f.file);
    seen.add(id);
    images.push({ id, file_name: f.file, frame_id: id, vid_id: vidId, nframes: frames.length, is_labeled: true, ...(size ? { width: size[0], height: size[1] } : {}) });
    f.persons.forEach((p, j) => {
      const where = `frames[${i}].persons[${j}]`;
      if (!Array.isArray(p?.keypoints) || p.keypoints.length !== K) bad(`${where}.keypoints with ${K} entries`, Array.isArray(p?.keypoints) ? `${p.keypoints.length} entries` : p?.keypoints);
      p.keypoints.forEach((k, n) => {
        if (!(Number.isFinite(k?.x) && Number.isFinite(k?.y) && Number.isFinite(k?.score))) bad(`${where}.keypoints[${n}] with finite x, y and score`, `{x: ${k?.x}, y: ${k?.y}, score: ${k?.score}}`);
      });
      if (!(Number.isInteger(p.trackId) && p.trackId >= 0)) bad(`${where}.trackId as a non-negative integer`, p.trackId);
      const b = p.box;
      if (!Array.isArray(b) || b.length !== 4 || !b.every(Number.isFinite)) bad(`${where}.box as [x, y, w, h] of finite numbers`, b);
      if (!Number.isFinite(p.score)) bad(`${where}.score as a finite number`, String(p.score));
      const kps = format === 'posetrack' ? cocoToPoseTrack(p.keypoints) : p.keypoints;
      annotations.push({
        id: id * 100 + j,
        image_id: id,
        track_id: p.trackId,
        category_id: 1,
        keypoints: kps.flatMap((k) => [px(k.x), px(k.y), sc(k.score)]),
        scores: kps.map((k) => sc(k.score)),
        bbox: [px(b[0]), px(b[1]), px(b[2]), px(b[3])],
        score: sc(p.score),
      });
    });
  });
  const names = format === 'posetrack' ? POSETRACK.names : COCO17.names;
  return {
    categories: [{ supercategory: 'person', id: 1, name: 'person', keypoints: [...names], skeleton: SKELETON_1BASED.map(([a, b]) => [a, b]) }],
    images,
    annotations,
  };
}

/**
 * The document as JSON text: stable key order, one line per category, image and annotation (so a
 * frame's people stay on their own lines and diffs stay small), two-space indentation, final newline.
 * `JSON.parse` of it equals the document.
 */
export function formatPoseTrackJson(doc: PoseTrackJsonDoc | Readonly<Record<string, unknown>>): string {
  const entries = Object.entries(doc).map(([key, value]) => {
    if (!Array.isArray(value)) return `  ${JSON.stringify(key)}: ${JSON.stringify(value)}`;
    if (value.length === 0) return `  ${JSON.stringify(key)}: []`;
    return `  ${JSON.stringify(key)}: [\n${value.map((v) => `    ${JSON.stringify(v)}`).join(',\n')}\n  ]`;
  });
  return `{\n${entries.join(',\n')}\n}\n`;
}

/**
 * Maps COCO's 17 keypoints (MoveNet order) onto PoseTrack 2018's 17 slots (joints.ts `POSETRACK`):
 * - nose, shoulders, elbows, wrists, hips, knees, ankles: copied (same slots);
 * - ears: copied (PoseTrack never annotates them; poseval ignores them);
 * - slot 1 head_bottom (poseval's "neck"): the mid-point of the shoulders, score = the mean of
 *   the shoulder scores;
 * - slot 2 head_top: the nose mirrored about that mid-point (nose + (nose − mid-shoulders)),
 *   score = the mean of the shoulder scores.
 * This is the conversion of the PoseTrack baselines that report COCO-trained models on PoseTrack
 * (DCPose's `coco2posetrack_ord`, after Detect-and-Track / Simple Baselines). The eyes are dropped.
 * @throws Error "cocoToPoseTrack: expected 17 keypoints, got n".
 */
export function cocoToPoseTrack(keypoints: readonly Keypoint[]): Keypoint[] {
  if (!Array.isArray(keypoints) || keypoints.length !== K) throw new Error(`cocoToPoseTrack: expected ${K} keypoints (COCO order), got ${Array.isArray(keypoints) ? keypoints.length : typeof keypoints}`);
  const out = keypoints.map((k) => ({ x: k.x, y: k.y, score: k.score }));
  const nose = keypoints[0]!;
  const ls = keypoints[5]!;
  const rs = keypoints[6]!;
  const mx = (ls.x + rs.x) / 2;
  const my = (ls.y + rs.y) / 2;
  const s = (ls.score + rs.score) / 2;
  out[1] = { x: mx, y: my, score: s };
  out[2] = { x: 2 * nose.x - mx, y: 2 * nose.y - my, score: s };
  return out;
}

function px(v: number): number {
  return Math.round(v * 100) / 100 + 0; // + 0 turns -0 into 0
}

function sc(v: number): number {
  return Math.round(v * 10000) / 10000 + 0;
}
