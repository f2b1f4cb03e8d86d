/**
 * The in-memory form that every dataset reader returns (PoseTrack 2017/2018, Sub-JHMDB, Penn
 * Action, SynthPose): videos made of frames, frames holding people with keypoints in the
 * dataset's own joint order. Coordinates are image pixels (x right, y down, origin at the top-left
 * pixel's centre, as in the annotation files).
 */
import type { Polygon } from '../metrics/polygon.js';

export type { Polygon };

/** A box `[x, y, width, height]` in pixels (COCO / PoseTrack 2018 `bbox` layout). */
export type Box = readonly [number, number, number, number];

/** One annotated person in one frame. */
export interface PersonAnnotation {
  /** Identity of the person across the frames of its video (PoseTrack `track_id`). */
  readonly trackId: number;
  /** `[K·3]`: x, y, visibility per joint. Visibility 0 means not annotated (or hidden, for SynthPose). */
  readonly keypoints: Float64Array;
  /** The person box, or null when the file has none. */
  readonly bbox: Box | null;
  /** The head box (PoseTrack `bbox_head`), or null when the file has none. */
  readonly bboxHead: Box | null;
  /** The annotation id from the file, when it has one. */
  readonly id?: number;
}

/** Per-frame flags written by SynthPose (absent for real datasets). */
export interface FrameFlags {
  /** Some joint of some person is hidden by an occluder in this frame. */
  readonly occluded: boolean;
  /** This frame was rendered with motion blur. */
  readonly blurred: boolean;
}

export interface VideoFrame {
  /** The image id from the file (PoseTrack `id` / `frame_id`). */
  readonly id: number;
  /** The image path relative to the dataset root. */
  readonly file: string;
  /** 0-based position of the frame in its video, after sorting by frame id. */
  readonly index: number;
  /** Whether the frame was annotated: only labeled frames are scored. */
  readonly isLabeled: boolean;
  /** Image size in pixels, or 0 when the file does not say. */
  readonly width: number;
  readonly height: number;
  /** Regions whose points are dropped before scoring (PoseTrack `ignore_regions_x/_y`). */
  readonly ignoreRegions: readonly Polygon[];
  readonly people: readonly PersonAnnotation[];
  readonly flags?: FrameFlags;
}

export interface VideoSequence {
  /** The video id (PoseTrack `vid_id`, or the Penn Action video number). */
  readonly id: string;
  /** Joint names in the order of the keypoint arrays. */
  readonly keypointNames: readonly string[];
  /** Frames sorted by frame id. */
  readonly frames: readonly VideoFrame[];
  /** The folder that frame paths are relative to. */
  readonly root: string;
}
