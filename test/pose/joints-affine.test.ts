/**
 * Joint sets (names, flip pairs, skeletons) and the top-down crop geometry (HRNet's _box2cs,
 * get_affine_transform, warpAffine), checked on hand-computed cases.
 */
import { describe, expect, it } from 'vitest';
import { COCO17, JOINT_SETS, PENN_ACTION, POSETRACK, SUB_JHMDB, flipPermutation, getJointSet, jointIndex, numUsedJoints } from '../../models/pose/joints.js';
import {
  affineFromPoints, affinePoint, boxToCenterScale, centerScaleToBox, cropPerson, cropPersonArray, getAffineTransform, invertAffine,
  normalizeImagenet, warpAffineRgb, type ImageHWC,
} from '../../models/pose/affine.js';

const close = (a: readonly number[], b: readonly number[], tol = 1e-9): void => {
  expect(a.length).toBe(b.length);
  a.forEach((v, i) => expect(Math.abs(v - b[i]!)).toBeLessThanOrEqual(tol));
};

describe('joint sets', () => {
  it('have the published sizes and used-joint counts', () => {
    expect(COCO17.numJoints).toBe(17);
    expect(POSETRACK.numJoints).toBe(17);
    expect(numUsedJoints(POSETRACK)).toBe(15);
    expect(POSETRACK.used[3]).toBe(false);
    expect(POSETRACK.used[4]).toBe(false);
    expect(PENN_ACTION.numJoints).toBe(13);
    expect(SUB_JHMDB.numJoints).toBe(15);
  });

  it('flip pairs join left and right joints of the same kind', () => {
    for (const set of Object.values(JOINT_SETS)) {
      for (const [a, b] of set.flipPairs) {
        const na = set.names[a]!;
        const nb = set.names[b]!;
        const side = (n: string): string => (n.startsWith('left_') ? 'L' : n.startsWith('right_') ? 'R' : '?');
        expect(new Set([side(na), side(nb)])).toEqual(new Set(['L', 'R']));
        expect(na.replace(/^(left|right)_/, '')).toBe(nb.replace(/^(left|right)_/, ''));
      }
      // every left_/right_ joint has a partner
      const paired = new Set(set.flipPairs.flat());
      set.names.forEach((n, i) => {
        if (/^(left|right)_/.test(n) && set.used[i]) expect(paired.has(i)).toBe(true);
      });
    }
  });

  it('flipPermutation is an involution that swaps the pairs', () => {
    const p = flipPermutation(COCO17);
    expect(p[5]).toBe(6);
    expect(p[6]).toBe(5);
    expect(p[0]).toBe(0);
    p.forEach((j, i) => expect(p[j]).toBe(i));
    // PoseTrack does not swap head_bottom and head_top
    const q = flipPermutation(POSETRACK);
    expect(q[1]).toBe(1);
    expect(q[2]).toBe(2);
  });

  it('skeletons only use annotated slots and connect every used joint', () => {
    for (const set of Object.values(JOINT_SETS)) {
      const touched = new Set(set.skeleton.flat());
      set.used.forEach((u, i) => expect(touched.has(i)).toBe(u));
    }
  });

  it('look-ups throw naming the expected values', () => {
    expect(getJointSet('pennAction')).toBe(PENN_ACTION);
    expect(() => getJointSet('mpii')).toThrow(/jointSet: expected one of \[coco17, posetrack, pennAction, subJhmdb\], got 'mpii'/);
    expect(jointIndex(SUB_JHMDB, 'head')).toBe(2);
    expect(() => jointIndex(COCO17, 'neck')).toThrow(/jointIndex: expected a joint of coco17/);
  });

  it('COCO OKS sigmas are the published ones', () => {
    expect(COCO17.oksSigmas![0]).toBeCloseTo(0.026, 12);
    expect(COCO17.oksSigmas![11]).toBeCloseTo(0.107, 12);
  });
});

describe('boxToCenterScale (HRNet _box2cs)', () => {
  it('widens a tall box to the aspect ratio and pads by 25%', () => {
    // 256x192 input: aspect 0.75. Box 30x100 at (10, 20): w < 0.75·h -> w = 75.
    const cs = boxToCenterScale([10, 20, 30, 100], 192 / 256);
    close(cs.center, [25, 70]);
    close(cs.scale, [(75 / 200) * 1.25, (100 / 200) * 1.25]);
  });
  it('heightens a wide box', () => {
    const cs = boxToCenterScale([10, 20, 100, 50], 0.75);
    close(cs.center, [60, 45]);
    close(cs.scale, [0.625, (100 / 0.75 / 200) * 1.25]);
  });
  it('keeps a box of the right aspect, and centerScaleToBox inverts the padding', () => {
    const cs = boxToCenterScale([0, 0, 64, 64], 1, { padding: 1 });
    close(cs.scale, [0.32, 0.32]);
    close(centerScaleToBox(cs), [0, 0, 64, 64]);
  });
  it('rejects bad boxes', () => {
    expect(() => boxToCenterScale([0, 0, -1, 5], 1)).toThrow(/boxToCenterScale: expected a box with w ≥ 0/);
    expect(() => boxToCenterScale([0, 0, NaN, 5], 1)).toThrow(/expected a box \[x, y, w, h\] of finite numbers/);
    expect(() => boxToCenterScale([0, 0, 1, 5], 0)).toThrow(/expected a positive aspect ratio/);
  });
});

describe('getAffineTransform (HRNet get_affine_transform)', () => {
  it('maps a 200-pixel square onto a 50x50 output', () => {
    const t = getAffineTransform([100, 100], [1, 1], 0, [50, 50]);
    close(t, [0.25, 0, 0, 0, 0.25, 0], 1e-12);
  });
  it('maps a non-square crop by its width, centered', () => {
    // 200 px wide -> 48 px: factor 0.24; the center goes to (24, 32).
    const t = getAffineTransform([100, 100], [1, 4 / 3], 0, [48, 64]);
    close(t, [0.24, 0, 100 * -0.24 + 24, 0, 0.24, 100 * -0.24 + 32], 1e-12);
    close(affinePoint(t, [100, 100]), [24, 32], 1e-12);
  });
  it('rotates by rot degrees about the center', () => {
    // rot 90: the image point 100 px to the right of the center lands at the top middle (25, 0).
    const t = getAffineTransform([100, 100], [1, 1], 90, [50, 50]);
    close(affinePoint(t, [200, 100]), [25, 0], 1e-9);
    close(affinePoint(t, [100, 100]), [25, 25], 1e-9);
  });
  it('inv gives the inverse matrix', () => {
    const t = getAffineTransform([321.5, 77.25], [1.3, 1.7], 30, [192, 256]);
    const ti = getAffineTransform([321.5, 77.25], [1.3, 1.7], 30, [192, 256], true);
    close(ti, invertAffine(t), 1e-9);
    close(affinePoint(ti, affinePoint(t, [10, 20])), [10, 20], 1e-9);
  });
  it('rejects a zero scale and collinear points', () => {
    expect(() => getAffineTransform([0, 0], [0, 1], 0, [10, 10])).toThrow(/getAffineTransform: expected a positive scale/);
    expect(() => affineFromPoints([[0, 0], [1, 1], [2, 2]], [[0, 0], [1, 0], [0, 1]])).toThrow(/non-collinear/);
  });
});

describe('warpAffineRgb and crops', () => {
  // A 4x3 RGB image whose channel c at (x, y) holds 100·c + 10·y + x.
  const W = 4;
  const H = 3;
  const data = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let c = 0; c < 3; c++) data[(y * W + x) * 3 + c] = 100 * c + 10 * y + x;
  const img: ImageHWC = { width: W, height: H, channels: 3, data };
  const at = (chw: Float32Array, c: number, y: number, x: number, w: number, h: number): number => chw[(c * h + y) * w + x]!;

  it('identity copies the image into CHW', () => {
    const out = warpAffineRgb(img, [1, 0, 0, 0, 1, 0], W, H);
    for (let c = 0; c < 3; c++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) expect(at(out, c, y, x, W, H)).toBe(100 * c + 10 * y + x);
  });
  it('interpolates bilinearly at half pixels and reads 0 outside', () => {
    // dst = src - 0.5: output (x, y) reads (x + 0.5, y + 0.5).
    const out = warpAffineRgb(img, [1, 0, -0.5, 0, 1, -0.5], W, H);
    expect(at(out, 1, 0, 0, W, H)).toBeCloseTo(100 + 5 + 0.5, 5);
    // (3.5, 0.5): the right taps fall outside and count as 0 -> half of the mean of x=3 taps
    expect(at(out, 0, 0, 3, W, H)).toBeCloseTo(0.5 * ((3 + 13) / 2), 5);
    // fully outside
    const far = warpAffineRgb(img, [1, 0, -10, 0, 1, 0], 2, 2);
    expect(Array.from(far).every((v) => v === 0)).toBe(true);
  });
  it('reads RGBA images (alpha ignored) and checks sizes', () => {
    const rgba = new Uint8Array(W * H * 4);
    for (let i = 0; i < W * H; i++) for (let c = 0; c < 3; c++) rgba[i * 4 + c] = data[i * 3 + c]!;
    const a = warpAffineRgb({ width: W, height: H, channels: 4, data: rgba }, [0.5, 0, 0.25, 0, 0.5, 0.25], 2, 2);
    const b = warpAffineRgb(img, [0.5, 0, 0.25, 0, 0.5, 0.25], 2, 2);
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(() => warpAffineRgb({ width: 4, height: 4, channels: 3, data }, [1, 0, 0, 0, 1, 0], 2, 2)).toThrow(/warpAffineRgb: expected 4x4x3 = 48 values, got 36/);
  });
  it('normalizes with the ImageNet statistics', () => {
    const chw = new Float32Array([255, 0, 127.5]);
    normalizeImagenet(chw);
    expect(chw[0]).toBeCloseTo((1 - 0.485) / 0.229, 5);
    expect(chw[1]).toBeCloseTo((0 - 0.456) / 0.224, 5);
    expect(chw[2]).toBeCloseTo((0.5 - 0.406) / 0.225, 5);
  });
  it('cropPerson returns a normalized [3, H, W] tensor centred on the box', () => {
    // A 20x20 image, bright (255) inside the square [5, 15) x [5, 15), black elsewhere.
    const big = new Uint8Array(20 * 20 * 3);
    for (let y = 5; y < 15; y++) for (let x = 5; x < 15; x++) big.fill(255, (y * 20 + x) * 3, (y * 20 + x) * 3 + 3);
    const cs = boxToCenterScale([5, 5, 10, 10], 1, { padding: 1 });
    const raw = cropPersonArray({ width: 20, height: 20, channels: 3, data: big }, cs, [10, 10], { raw: true });
    // The box center (10, 10) maps to (5, 5); the box fills the 10x10 crop, shifted by half a pixel.
    expect(raw[5 * 10 + 5]).toBe(255);
    const t = cropPerson({ width: 20, height: 20, channels: 3, data: big }, cs, [10, 10]);
    expect(t.shape).toEqual([3, 10, 10]);
    expect(t.dataSync()[5 * 10 + 5]).toBeCloseTo((1 - 0.485) / 0.229, 5);
    t.dispose();
  });
});
