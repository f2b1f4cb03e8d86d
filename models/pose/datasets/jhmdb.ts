/**
 * Sub-JHMDB in the COCO-style video layout that mmpose distributes (`sub{1,2,3}_{train,test}.json`):
 * the PoseTrack 2018 layout (see posetrack.ts) with the 15 JHMDB joints
 * (neck, belly, head, right_shoulder, ...; joints.ts `SUB_JHMDB`), visibility 2 for labeled joints,
 * a person `bbox` and no head box. Frame paths are `<video folder>/<00001>.png`, relative to the
 * folder that holds the json.
 */
import { fail } from '../../../engine/shape.js';
import { SUB_JHMDB } from '../joints.js';
import { parseCocoVideos } from './posetrack.js';
import type { VideoSequence } from './types.js';

/* eslint-disable @typescript-eslint/no-explicit-any */

/**
 * Parses a Sub-JHMDB split file into one VideoSequence per `vid_id`.
 * @throws Error when the joint list is not the 15 Sub-JHMDB joints, or a field is malformed.
 */
export function parseSubJhmdb(json: any, root: string): VideoSequence[] {
  const videos = parseCocoVideos(json, root);
  for (const v of videos) {
    if (v.keypointNames.length !== SUB_JHMDB.numJoints || v.keypointNames.some((n, i) => n !== SUB_JHMDB.names[i])) {
      fail('parseSubJhmdb', `the Sub-JHMDB joints [${SUB_JHMDB.names.join(', ')}]`, `[${v.keypointNames.join(', ')}]`);
    }
  }
  return videos;
}
