/**
 * Feeds SynthPose clips held in memory to the training pipeline (models/pose/data), without
 * writing PNGs: a `FrameLoader` that returns a clip's rendered RGB frame.
 */
import { fail } from '../../engine/shape.js';
import type { ImageHWC } from '../pose/affine.js';
import type { FrameLoader } from '../pose/data/dataset.js';
import type { SynthClip } from './generator.js';

/** A FrameLoader over in-memory clips (looked up by video id, then frame position). */
export function synthFrameLoader(clips: readonly SynthClip[]): FrameLoader {
  const byId = new Map(clips.map((c) => [c.video.id, c]));
  return (video, frame): ImageHWC => {
    const c = byId.get(video.id);
    const f = c?.frames[frame.index];
    if (!c || !f) return fail('synthFrameLoader', 'a frame of one of the loaded clips', `video ${video.id} frame ${frame.index}`);
    return { width: c.width, height: c.height, channels: 3, data: f.rgb };
  };
}
