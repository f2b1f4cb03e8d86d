/**
 * PoseTrack readers and writers (pure: they take and return parsed JSON; `io.ts` reads files).
 *
 * Two layouts exist:
 * - **PoseTrack 2018** (and PoseTrack 2017 converted by poseval's `convert.py`, as DCPose uses it),
 *   a COCO-like video layout: `images[]` with `id`, `file_name`, `frame_id`, `vid_id`, `nframes`,
 *   `is_labeled`, `ignore_regions_x/_y`; `annotations[]` with `image_id`, `track_id`, `keypoints`
 *   (17·3, COCO order where slot 1 is head_bottom and slot 2 head_top), `bbox` and `bbox_head`
 *   ([x, y, w, h]); `categories[0].keypoints` names the slots. Sub-JHMDB uses the same layout with
 *   15 joints (see `jhmdb.ts`), so this reader is written for any joint list.
 * - **PoseTrack 2017** as released (MPII-like): `annolist[]` with `image[0].name`, `annorect[]`
 *   (`x1, y1, x2, y2` = head box, `track_id[0]`, `annopoints[0].point[]` with `id[0]` in poseval's
 *   15-joint order, `x[0]`, `y[0]`, `is_visible[0]`), `ignore_regions[].point[]` and `is_labeled[0]`.
 *   It is converted to the 17-slot PoseTrack layout; the person box, absent from the file, is
 *   derived as poseval's converter does (keypoint extent × 1.3 around the extent's center).
 */
import { fail } from '../../../engine/shape.js';
import { POSETRACK } from '../joints.js';
import { POSEVAL_JOINTS } from '../metrics/poseval.js';
import type { Box, FrameFlags, PersonAnnotation, Polygon, VideoFrame, VideoSequence } from './types.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Json = any;

const OP = 'readPoseTrack';

function num(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(OP, `${what} as a finite number`, JSON.stringify(v));
  return v;
}

function box(v: unknown, what: string): Box | null {
  if (v === undefined || v === null) return null;
  if (!Array.isArray(v) || v.length !== 4) fail(OP, `${what} as [x, y, w, h]`, JSON.stringify(v));
  return [num(v[0], what), num(v[1], what), num(v[2], what), num(v[3], what)];
}

/** The number in a frame file name ("images/val/x/000012.jpg" → 12), or null. */
export function frameNumberOf(file: string): number | null {
  const m = /(\d+)\.[A-Za-z]+$/.exec(file);
  return m ? Number(m[1]) : null;
}

/**
 * Parses a PoseTrack 2018-layout object (one video file, or a file holding several videos such as
 * mmpose's merged val file) into one VideoSequence per `vid_id`.
 * @param root the folder that `file_name`s are relative to.
 * @throws Error when a required field is missing or malformed (naming the field and value).
 */
export function parseCocoVideos(json: Json, root: string): VideoSequence[] {
  if (!json || !Array.isArray(json.images) || !Array.isArray(json.annotations)) {
    fail(OP, "an object with 'images' and 'annotations' arrays", json ? `keys [${Object.keys(json).join(', ')}]` : String(json));
  }
  const cat = Array.isArray(json.categories) ? json.categories[0] : undefined;
  const names: string[] = cat && Array.isArray(cat.keypoints) ? cat.keypoints.map(String) : [...POSETRACK.names];
  const K = names.length;
  const byImage = new Map<number, PersonAnnotation[]>();
  for (const a of json.annotations as Json[]) {
    const imageId = num(a.image_id, 'annotation image_id');
    const kp = a.keypoints;
    if (!Array.isArray(kp) || kp.length !== 3 * K) fail(OP, `annotation keypoints of length ${3 * K}`, Array.isArray(kp) ? `length ${kp.length} (annotation ${a.id})` : JSON.stringify(kp));
    const person: PersonAnnotation = {
      trackId: a.track_id === undefined ? -1 : num(a.track_id, 'track_id'),
      keypoints: Float64Array.from(kp as number[], (v, i) => num(v, `keypoint ${i} of annotation ${a.id}`)),
      bbox: box(a.bbox, 'bbox'),
      bboxHead: box(a.bbox_head, 'bbox_head'),
      ...(typeof a.id === 'number' ? { id: a.id } : {}),
    };
    let list = byImage.get(imageId);
    if (!list) byImage.set(imageId, (list = []));
    list.push(person);
  }
  const byVideo = new Map<string, Json[]>();
  for (const im of json.images as Json[]) {
    const vid = im.vid_id !== undefined ? String(im.vid_id) : (String(im.file_name).split('/').slice(-2, -1)[0] ?? '');
    let list = byVideo.get(vid);
    if (!list) byVideo.set(vid, (list = []));
    list.push(im);
  }
  const videos: VideoSequence[] = [];
  for (const [vid, images] of byVideo) {
    images.sort((a, b) => num(a.frame_id ?? a.id, 'frame_id') - num(b.frame_id ?? b.id, 'frame_id'));
    const frames: VideoFrame[] = images.map((im, index) => {
      const id = num(im.id, 'image id');
      const xs = im.ignore_regions_x ?? [];
      const ys = im.ignore_regions_y ?? [];
      if (!Array.isArray(xs) || !Array.isArray(ys) || xs.length !== ys.length) fail(OP, 'ignore_regions_x and ignore_regions_y of equal length', `${JSON.stringify(xs).slice(0, 40)} / ${JSON.stringify(ys).slice(0, 40)}`);
      const ignoreRegions: Polygon[] = xs.map((x: Json, i: number) => ({ x: (x as number[]).map(Number), y: (ys[i] as number[]).map(Number) }));
      const flags = im.synthpose as FrameFlags | undefined;
      return {
        id,
        file: String(im.file_name),
        index,
        isLabeled: im.is_labeled === undefined ? true : Boolean(im.is_labeled),
        width: typeof im.width === 'number' ? im.width : 0,
        height: typeof im.height === 'number' ? im.height : 0,
        ignoreRegions,
        people: byImage.get(id) ?? [],
        ...(flags ? { flags: { occluded: Boolean(flags.occluded), blurred: Boolean(flags.blurred) } } : {}),
      };
    });
    videos.push({ id: vid, keypointNames: names, frames, root });
  }
  return videos;
}

/**
 * Parses a PoseTrack 2017 `annolist` object (one video) into the 17-slot PoseTrack layout.
 * @throws Error when a required field is missing or malformed.
 */
export function parsePoseTrack17(json: Json, root: string): VideoSequence {
  if (!json || !Array.isArray(json.annolist)) fail(OP, "an object with an 'annolist' array", json ? `keys [${Object.keys(json).join(', ')}]` : String(json));
  const slotOf = POSEVAL_JOINTS.map((n) => POSETRACK.names.indexOf(n === 'neck' ? 'head_bottom' : n));
  const first1 = (v: Json, what: string): number => num(Array.isArray(v) ? v[0] : v, what);
  const frames: VideoFrame[] = (json.annolist as Json[]).map((e, index) => {
    const file = String(e.image?.[0]?.name ?? fail(OP, 'image[0].name in every annolist entry', JSON.stringify(e.image)));
    const people: PersonAnnotation[] = (e.annorect ?? []).map((r: Json) => {
      const kp = new Float64Array(3 * POSETRACK.numJoints);
      const pts: Json[] = r.annopoints?.[0]?.point ?? [];
      const xs: number[] = [];
      const ys: number[] = [];
      for (const p of pts) {
        const id = first1(p.id, 'point id');
        const slot = slotOf[id];
        if (slot === undefined) fail(OP, 'point ids in 0..14', String(id));
        const x = first1(p.x, 'point x');
        const y = first1(p.y, 'point y');
        kp[3 * slot] = x;
        kp[3 * slot + 1] = y;
        kp[3 * slot + 2] = p.is_visible === undefined ? 1 : first1(p.is_visible, 'is_visible') > 0 ? 1 : 0;
        xs.push(x);
        ys.push(y);
      }
      let bbox: Box | null = null;
      if (xs.length > 0) {
        const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
        const cx = (x0 + x1) / 2;
        const cy = (y0 + y1) / 2;
        bbox = [cx - 0.65 * (x1 - x0), cy - 0.65 * (y1 - y0), 1.3 * (x1 - x0), 1.3 * (y1 - y0)];
      }
      const hasHead = r.x1 !== undefined && r.y1 !== undefined && r.x2 !== undefined && r.y2 !== undefined;
      const hx = hasHead ? first1(r.x1, 'x1') : 0;
      const hy = hasHead ? first1(r.y1, 'y1') : 0;
      return {
        trackId: r.track_id === undefined ? -1 : first1(r.track_id, 'track_id'),
        keypoints: kp,
        bbox,
        bboxHead: hasHead ? ([hx, hy, first1(r.x2, 'x2') - hx, first1(r.y2, 'y2') - hy] as Box) : null,
      };
    });
    const ignoreRegions: Polygon[] = (e.ignore_regions ?? []).map((reg: Json) => ({
      x: (reg.point ?? []).map((p: Json) => first1(p.x, 'ignore point x')),
      y: (reg.point ?? []).map((p: Json) => first1(p.y, 'ignore point y')),
    }));
    const labeled = e.is_labeled === undefined ? people.length > 0 : first1(e.is_labeled, 'is_labeled') > 0;
    return { id: index, file, index, isLabeled: labeled, width: 0, height: 0, ignoreRegions, people };
  });
  const vid = frames[0] ? (frames[0].file.split('/').slice(-2, -1)[0] ?? '').split('_')[0] ?? '' : '';
  return { id: vid, keypointNames: [...POSETRACK.names], frames, root };
}

/** Parses either PoseTrack layout (detected by its keys) into videos. */
export function parsePoseTrack(json: Json, root: string): VideoSequence[] {
  if (json && Array.isArray(json.annolist)) return [parsePoseTrack17(json, root)];
  return parseCocoVideos(json, root);
}

export interface PoseTrackWriteOptions {
  /** Write SynthPose's per-frame `synthpose: {occluded, blurred}` flags when frames have them. */
  readonly flags?: boolean;
}

/**
 * Writes videos in the PoseTrack 2018 layout (the inverse of parseCocoVideos): one object with
 * `images`, `annotations` and `categories`. Frame ids are kept; annotation ids are the person's
 * `id` or image id · 100 + person index (poseval's converter rule).
 */
export function toPoseTrack18Json(videos: readonly VideoSequence[], opts: PoseTrackWriteOptions = {}): Json {
  const images: Json[] = [];
  const annotations: Json[] = [];
  const names = videos[0]?.keypointNames ?? POSETRACK.names;
  for (const v of videos) {
    if (v.keypointNames.length !== names.length || v.keypointNames.some((n, i) => n !== names[i])) {
      fail('toPoseTrack18Json', `one joint list for all videos [${names.join(', ')}]`, `[${v.keypointNames.join(', ')}] in video ${v.id}`);
    }
    for (const f of v.frames) {
      images.push({
        id: f.id,
        file_name: f.file,
        frame_id: f.id,
        vid_id: v.id,
        nframes: v.frames.length,
        is_labeled: f.isLabeled,
        width: f.width,
        height: f.height,
        ignore_regions_x: f.ignoreRegions.map((p) => [...p.x]),
        ignore_regions_y: f.ignoreRegions.map((p) => [...p.y]),
        ...(opts.flags && f.flags ? { synthpose: { occluded: f.flags.occluded, blurred: f.flags.blurred } } : {}),
      });
      f.people.forEach((p, i) => {
        annotations.push({
          id: p.id ?? f.id * 100 + i,
          image_id: f.id,
          track_id: p.trackId,
          category_id: 1,
          keypoints: Array.from(p.keypoints),
          num_keypoints: countAnnotated(p.keypoints),
          scores: [],
          ...(p.bbox ? { bbox: [...p.bbox] } : {}),
          ...(p.bboxHead ? { bbox_head: [...p.bboxHead] } : {}),
        });
      });
    }
  }
  return {
    categories: [{ supercategory: 'person', id: 1, name: 'person', keypoints: [...names], skeleton: [] }],
    images,
    annotations,
  };
}

function countAnnotated(kp: ArrayLike<number>): number {
  let n = 0;
  for (let i = 2; i < kp.length; i += 3) if (kp[i]! > 0) n++;
  return n;
}

/** A predicted person for a PoseTrack submission file. */
export interface PredictedPerson {
  readonly imageId: number;
  /** `[K·3]` x, y, score. */
  readonly keypoints: ArrayLike<number>;
  readonly trackId?: number;
  readonly bbox?: Box;
}

/**
 * Predictions as a PoseTrack 2018 submission object (`keypoints` with visibility 1 and per-joint
 * `scores`, the layout poseval reads), for the images of `videos`.
 */
export function predictionsToPoseTrack18Json(videos: readonly VideoSequence[], preds: readonly PredictedPerson[]): Json {
  const gt = toPoseTrack18Json(videos);
  const K = (videos[0]?.keypointNames ?? POSETRACK.names).length;
  gt.annotations = preds.map((p, i) => {
    if (p.keypoints.length !== 3 * K) fail('predictionsToPoseTrack18Json', `keypoints of length ${3 * K}`, `length ${p.keypoints.length}`);
    const kp: number[] = [];
    const scores: number[] = [];
    for (let k = 0; k < K; k++) {
      kp.push(p.keypoints[3 * k]!, p.keypoints[3 * k + 1]!, 1);
      scores.push(p.keypoints[3 * k + 2]!);
    }
    return { id: i, image_id: p.imageId, track_id: p.trackId ?? i, category_id: 1, keypoints: kp, scores, ...(p.bbox ? { bbox: [...p.bbox] } : {}) };
  });
  return gt;
}
