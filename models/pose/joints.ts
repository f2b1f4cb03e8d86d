/**
 * Joint sets: the joint names of each dataset in its own storage order, the left/right pairs that a
 * horizontal flip swaps, the skeleton edges used for drawing, and the groups that the papers report
 * (Head, Sho., Elb., ...).
 *
 * Sources:
 * - COCO-17: the COCO keypoint category (`person_keypoints_*.json`), skeleton converted to 0-based.
 * - PoseTrack 2017/2018: stored as 17 slots in COCO order, where slot 1 is `head_bottom` and slot 2
 *   is `head_top` (instead of the eyes), and the ears (slots 3 and 4) are never annotated, so 15
 *   joints are used. Flip pairs as DCPose's PoseTrack dataset (the head slots are not swapped).
 * - Penn Action: the 13 joints of the dataset's README, in its order.
 * - Sub-JHMDB: the 15 joints of JHMDB's `joint_positions` (as mmpose's `jhmdb` dataset).
 *
 * All indices are 0-based.
 */

export type Pair = readonly [number, number];

export interface JointSet {
  /** Registry key: 'coco17', 'posetrack', 'pennAction', 'subJhmdb'. */
  readonly name: string;
  /** Number of slots in a pose (heatmap channels, K). */
  readonly numJoints: number;
  /** Slot names, in storage order. */
  readonly names: readonly string[];
  /** Whether each slot is annotated in the dataset (false for PoseTrack's ears). */
  readonly used: readonly boolean[];
  /** Left/right pairs that a horizontal flip swaps (HRNet's `flip_pairs`). */
  readonly flipPairs: readonly Pair[];
  /** Bones for drawing (pairs of slots; never touches an unused slot). */
  readonly skeleton: readonly Pair[];
  /**
   * The joint groups of the papers' result tables (Head, Sho., Elb., Wri., Hip, Knee, Ank.) as
   * slot lists. PoseTrack's Head is the mean of nose, head_bottom and head_top (poseval).
   */
  readonly groups: Readonly<Record<string, readonly number[]>>;
  /** COCO OKS per-keypoint sigmas (COCO-17 and PoseTrack, which reuses them by slot); absent otherwise. */
  readonly oksSigmas?: readonly number[];
}

const COCO_SIGMAS = [0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89, 0.89].map((s) => s / 10);

/** Limbs shared by the COCO-ordered sets (shoulders 5/6, elbows 7/8, wrists 9/10, hips 11/12, knees 13/14, ankles 15/16). */
const COCO_LIMBS: Pair[] = [
  [15, 13], [13, 11], [16, 14], [14, 12], [11, 12], [5, 11], [6, 12], [5, 6], [5, 7], [6, 8], [7, 9], [8, 10],
];
const COCO_GROUPS = { shoulder: [5, 6], elbow: [7, 8], wrist: [9, 10], hip: [11, 12], knee: [13, 14], ankle: [15, 16] };

export const COCO17: JointSet = freeze({
  name: 'coco17',
  numJoints: 17,
  names: ['nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear', 'left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist', 'left_hip', 'right_hip', 'left_knee', 'right_knee', 'left_ankle', 'right_ankle'],
  used: Array(17).fill(true),
  flipPairs: [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10], [11, 12], [13, 14], [15, 16]],
  skeleton: [...COCO_LIMBS, [1, 2], [0, 1], [0, 2], [1, 3], [2, 4], [3, 5], [4, 6]],
  groups: { head: [0, 1, 2, 3, 4], ...COCO_GROUPS },
  oksSigmas: COCO_SIGMAS,
});

export const POSETRACK: JointSet = freeze({
  name: 'posetrack',
  numJoints: 17,
  names: ['nose', 'head_bottom', 'head_top', 'left_ear', 'right_ear', 'left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist', 'left_hip', 'right_hip', 'left_knee', 'right_knee', 'left_ankle', 'right_ankle'],
  used: [true, true, true, false, false, ...Array<boolean>(12).fill(true)],
  flipPairs: [[3, 4], [5, 6], [7, 8], [9, 10], [11, 12], [13, 14], [15, 16]],
  // The annotation file's skeleton runs through the (never annotated) ears; we draw the head as
  // nose-head_bottom-head_top and hang the shoulders from head_bottom instead.
  skeleton: [...COCO_LIMBS, [0, 1], [1, 2], [1, 5], [1, 6]],
  groups: { head: [0, 1, 2], ...COCO_GROUPS },
  oksSigmas: COCO_SIGMAS,
});

export const PENN_ACTION: JointSet = freeze({
  name: 'pennAction',
  numJoints: 13,
  names: ['head', 'left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist', 'left_hip', 'right_hip', 'left_knee', 'right_knee', 'left_ankle', 'right_ankle'],
  used: Array(13).fill(true),
  flipPairs: [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10], [11, 12]],
  skeleton: [[0, 1], [0, 2], [1, 2], [1, 3], [3, 5], [2, 4], [4, 6], [1, 7], [2, 8], [7, 8], [7, 9], [9, 11], [8, 10], [10, 12]],
  groups: { head: [0], shoulder: [1, 2], elbow: [3, 4], wrist: [5, 6], hip: [7, 8], knee: [9, 10], ankle: [11, 12] },
});

export const SUB_JHMDB: JointSet = freeze({
  name: 'subJhmdb',
  numJoints: 15,
  names: ['neck', 'belly', 'head', 'right_shoulder', 'left_shoulder', 'right_hip', 'left_hip', 'right_elbow', 'left_elbow', 'right_knee', 'left_knee', 'right_wrist', 'left_wrist', 'right_ankle', 'left_ankle'],
  used: Array(15).fill(true),
  flipPairs: [[3, 4], [5, 6], [7, 8], [9, 10], [11, 12], [13, 14]],
  // The dataset's own skeleton (test_jhmdb_sub1.json), 0-based.
  skeleton: [[0, 2], [0, 3], [0, 4], [0, 1], [3, 7], [7, 11], [4, 8], [8, 12], [1, 5], [1, 6], [5, 9], [9, 13], [6, 10], [10, 14]],
  groups: { head: [2], shoulder: [3, 4], elbow: [7, 8], wrist: [11, 12], hip: [5, 6], knee: [9, 10], ankle: [13, 14] },
});

/** Every joint set by name. */
export const JOINT_SETS: Readonly<Record<string, JointSet>> = Object.freeze({
  coco17: COCO17,
  posetrack: POSETRACK,
  pennAction: PENN_ACTION,
  subJhmdb: SUB_JHMDB,
});

/**
 * The joint set registered under `name`.
 * @throws Error "jointSet: expected one of [...], got 'x'" for an unknown name.
 */
export function getJointSet(name: string): JointSet {
  const s = JOINT_SETS[name];
  if (!s) throw new Error(`jointSet: expected one of [${Object.keys(JOINT_SETS).join(', ')}], got '${name}'`);
  return s;
}

/**
 * The permutation a horizontal flip applies to the slots: `perm[i]` is the slot whose (mirrored)
 * heatmap becomes slot i. Joints without a partner map to themselves. perm is an involution.
 */
export function flipPermutation(set: JointSet): number[] {
  const perm = Array.from({ length: set.numJoints }, (_, i) => i);
  for (const [a, b] of set.flipPairs) {
    perm[a] = b;
    perm[b] = a;
  }
  return perm;
}

/**
 * The slot of joint `name` in `set`.
 * @throws Error naming the set when the joint does not exist.
 */
export function jointIndex(set: JointSet, name: string): number {
  const i = set.names.indexOf(name);
  if (i < 0) throw new Error(`jointIndex: expected a joint of ${set.name} [${set.names.join(', ')}], got '${name}'`);
  return i;
}

/** Number of annotated slots (15 for PoseTrack, numJoints otherwise). */
export function numUsedJoints(set: JointSet): number {
  return set.used.filter(Boolean).length;
}

function freeze(s: JointSet): JointSet {
  validate(s);
  return Object.freeze({
    ...s,
    names: Object.freeze([...s.names]),
    used: Object.freeze([...s.used]),
    flipPairs: Object.freeze(s.flipPairs.map((p) => Object.freeze([p[0], p[1]] as const))),
    skeleton: Object.freeze(s.skeleton.map((p) => Object.freeze([p[0], p[1]] as const))),
    groups: Object.freeze(Object.fromEntries(Object.entries(s.groups).map(([k, v]) => [k, Object.freeze([...v])]))),
    ...(s.oksSigmas ? { oksSigmas: Object.freeze([...s.oksSigmas]) } : {}),
  });
}

/** Consistency checks run once at module load: a broken table fails loudly, not at draw time. */
function validate(s: JointSet): void {
  const bad = (what: string): never => {
    throw new Error(`jointSet ${s.name}: expected ${what}`);
  };
  if (s.names.length !== s.numJoints || s.used.length !== s.numJoints) bad(`${s.numJoints} names and used flags`);
  const inRange = (i: number): boolean => Number.isInteger(i) && i >= 0 && i < s.numJoints;
  for (const [a, b] of s.flipPairs) if (!inRange(a) || !inRange(b) || a === b) bad(`flip pairs of distinct slots, got [${a}, ${b}]`);
  for (const [a, b] of s.skeleton) if (!inRange(a) || !inRange(b) || !s.used[a] || !s.used[b]) bad(`bones between used slots, got [${a}, ${b}]`);
  if (s.oksSigmas && s.oksSigmas.length !== s.numJoints) bad(`${s.numJoints} OKS sigmas`);
}
