/**
 * Penn Action (Zhang, Zhu, Derpanis, ICCV 2013): 2326 videos, 13 joints, one person per video.
 *
 * The dataset ships its labels as MATLAB v5 `.mat` files (`labels/0001.mat`), which we do not parse.
 * Convert them once to JSON with the same field names, one file per video (`labels-json/0001.json`;
 * the converter is in models/pose/datasets/README.md):
 *
 * ```json
 * { "video": "0001", "action": "baseball_pitch", "pose": "back", "train": 1, "nframes": 151,
 *   "dimensions": [360, 480, 151],
 *   "x": [[13 numbers] × nframes], "y": [[13 numbers] × nframes],
 *   "visibility": [[13 × 0/1] × nframes],
 *   "bbox": [[x1, y1, x2, y2] × nframes] }
 * ```
 *
 * `dimensions` is [height, width, nframes] as in the .mat file. The joint order is the README's
 * (joints.ts `PENN_ACTION`). Frames are `frames/<video>/<000001>.jpg` (1-based). Some videos have
 * fewer bbox rows than frames; frames past the last row get `bbox: null`. Joints with visibility 0
 * keep their coordinates in the file, but are marked not visible (visibility 0) here.
 */
import { fail } from '../../../engine/shape.js';
import { PENN_ACTION } from '../joints.js';
import type { Box, VideoFrame, VideoSequence } from './types.js';

/* eslint-disable @typescript-eslint/no-explicit-any */

export interface PennActionVideo extends VideoSequence {
  readonly action: string;
  /** Whether the video is in the official training split (`train` = 1). */
  readonly train: boolean;
}

/**
 * Parses one converted Penn Action label file (see the module comment).
 * @param root the Penn_Action folder (holding `frames/`).
 * @throws Error when a field is missing or has the wrong length.
 */
export function parsePennAction(json: any, root: string): PennActionVideo {
  const op = 'parsePennAction';
  const K = PENN_ACTION.numJoints;
  if (!json || typeof json !== 'object') fail(op, 'a converted label object', String(json));
  const n = json.nframes;
  if (!Number.isInteger(n) || n < 0) fail(op, 'nframes as a non-negative integer', JSON.stringify(n));
  for (const key of ['x', 'y', 'visibility']) {
    const a = json[key];
    if (!Array.isArray(a) || a.length !== n) fail(op, `'${key}' with ${n} rows`, Array.isArray(a) ? `${a.length} rows` : JSON.stringify(a));
    a.forEach((row: any, t: number) => {
      if (!Array.isArray(row) || row.length !== K) fail(op, `'${key}' rows of ${K} values`, `row ${t}: ${JSON.stringify(row)}`);
    });
  }
  const bbox: any[] = Array.isArray(json.bbox) ? json.bbox : [];
  const video = String(json.video ?? '').padStart(4, '0');
  const dims = Array.isArray(json.dimensions) ? json.dimensions : [0, 0];
  const frames: VideoFrame[] = [];
  for (let t = 0; t < n; t++) {
    const kp = new Float64Array(3 * K);
    for (let k = 0; k < K; k++) {
      kp[3 * k] = Number(json.x[t][k]);
      kp[3 * k + 1] = Number(json.y[t][k]);
      kp[3 * k + 2] = Number(json.visibility[t][k]) > 0 ? 1 : 0;
    }
    const b = bbox[t];
    const box: Box | null = Array.isArray(b) && b.length === 4 ? [b[0], b[1], b[2] - b[0], b[3] - b[1]] : null;
    frames.push({
      id: t + 1,
      file: `frames/${video}/${String(t + 1).padStart(6, '0')}.jpg`,
      index: t,
      isLabeled: true,
      width: Number(dims[1]) || 0,
      height: Number(dims[0]) || 0,
      ignoreRegions: [],
      people: [{ trackId: 0, keypoints: kp, bbox: box, bboxHead: null }],
    });
  }
  return { id: video, keypointNames: [...PENN_ACTION.names], frames, root, action: String(json.action ?? ''), train: Number(json.train) === 1 };
}
