/**
 * The MoveNet race's correctness check. Every engine reports the keypoints it found on every
 * frame (posegrad: decoded from its maps on the host; TF.js: the graph's own output, decoded in the
 * graph); the parent compares them with the reference, TF.js's graph run on its deterministic
 * pure-JS 'cpu' backend on the same inputs (the way the MoveNet fixtures were made,
 * test/reference/movenet_tfjs.ts). Every keypoint of every person (SinglePose: 1; MultiPose: the
 * graph's 6 candidates, in its order) must lie within TOLERANCE_PX input pixels of the reference,
 * else the cell fails and reports no time.
 */

/** Keypoints must agree within this many input pixels (the parity tests' tolerance). */
export const TOLERANCE_PX = 0.5;

/** One person's 17 keypoints as [x, y, score] in input pixels, flattened: 51 numbers. */
export type PoseKeypoints = number[];

/** Per frame, the people found (SinglePose: one). */
export type FramePoses = PoseKeypoints[];

/** TF.js's graph output → people in input pixels: [1,1,17,3] (y, x, score normalized) or [1,P,56]. */
export function posesFromTfjsOutput(data: ArrayLike<number>, shape: readonly number[], H: number, W: number): FramePoses {
  const person = (base: number): PoseKeypoints => {
    const p: number[] = [];
    for (let j = 0; j < 17; j++) p.push(data[base + 3 * j + 1]! * W, data[base + 3 * j]! * H, data[base + 3 * j + 2]!);
    return p;
  };
  if (shape.length === 4) {
    if (shape[2] !== 17 || shape[3] !== 3) throw new Error(`posesFromTfjsOutput: expected a SinglePose output [1,1,17,3], got [${shape.join(',')}]`);
    return [person(0)];
  }
  if (shape.length !== 3 || shape[2] !== 56) throw new Error(`posesFromTfjsOutput: expected a MultiPose output [1,P,56], got [${shape.join(',')}]`);
  return Array.from({ length: shape[1]! }, (_, i) => person(i * 56));
}

/** posegrad's decoded poses (decodeSinglePose / decodeMultiPose) → the same flat form. */
export function posesFromMoveNet(poses: readonly { keypoints: readonly { x: number; y: number; score: number }[] }[]): FramePoses {
  return poses.map((p) => p.keypoints.flatMap((k) => [k.x, k.y, k.score]));
}

export interface CheckResult {
  ok: boolean;
  /** Largest keypoint distance to the reference, in input pixels (Infinity on a structural mismatch). */
  worstPx: number;
  /** Where the worst (or first failing) keypoint is, or why the comparison failed. */
  detail: string;
}

/** Compares an engine's keypoints on every frame with the reference's (same frames, same order). */
export function checkKeypoints(got: readonly FramePoses[], ref: readonly FramePoses[], frameNames: readonly string[], tolerancePx = TOLERANCE_PX): CheckResult {
  if (got.length !== ref.length) return { ok: false, worstPx: Infinity, detail: `expected keypoints for ${ref.length} frames, got ${got.length}` };
  let worst = 0;
  let where = 'no keypoints';
  for (let f = 0; f < ref.length; f++) {
    const g = got[f]!;
    const r = ref[f]!;
    const name = frameNames[f] ?? `frame ${f}`;
    if (g.length !== r.length) return { ok: false, worstPx: Infinity, detail: `${name}: expected ${r.length} people, got ${g.length}` };
    for (let p = 0; p < r.length; p++) {
      if (g[p]!.length !== r[p]!.length) return { ok: false, worstPx: Infinity, detail: `${name} person ${p}: expected ${r[p]!.length / 3} keypoints, got ${g[p]!.length / 3}` };
      for (let j = 0; j < r[p]!.length / 3; j++) {
        const [gx, gy] = [g[p]![3 * j]!, g[p]![3 * j + 1]!];
        const [rx, ry] = [r[p]![3 * j]!, r[p]![3 * j + 1]!];
        const d = Math.hypot(gx - rx, gy - ry);
        const bad = !(d <= tolerancePx);
        if (bad || d > worst) {
          worst = Number.isNaN(d) ? Infinity : Math.max(worst, d);
          where = `${name} person ${p} keypoint ${j}: (${gx.toFixed(2)}, ${gy.toFixed(2)}) vs reference (${rx.toFixed(2)}, ${ry.toFixed(2)})`;
        }
        if (bad) return { ok: false, worstPx: worst, detail: where };
      }
    }
  }
  return { ok: true, worstPx: worst, detail: where };
}
