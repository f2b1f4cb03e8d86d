/**
 * Heatmap decoding (HRNet/DCPose get_max_preds, get_final_preds; plain argmax) on hand-made
 * heatmaps whose answers are computed by hand.
 */
import { describe, expect, it } from 'vitest';
import { decodeArgmax, decodeHeatmaps, getFinalPreds, getMaxPreds } from '../../models/pose/decode.js';
import { boxToCenterScale } from '../../models/pose/affine.js';
import { tensor } from '../../ops/creation.js';

/** N·K heatmaps of H x W, zero except the listed (n, k, y, x, value) entries. */
function maps(N: number, K: number, H: number, W: number, entries: [number, number, number, number, number][]): Float32Array {
  const a = new Float32Array(N * K * H * W);
  for (const [n, k, y, x, v] of entries) a[((n * K + k) * H + y) * W + x] = v;
  return a;
}

describe('getMaxPreds', () => {
  it('finds the argmax as (x, y) and its value', () => {
    const hm = maps(1, 2, 4, 5, [[0, 0, 2, 3, 0.9], [0, 1, 1, 4, 0.5], [0, 1, 3, 0, 0.4]]);
    const { coords, maxvals } = getMaxPreds(hm, [1, 2, 4, 5]);
    expect(Array.from(coords)).toEqual([3, 2, 4, 1]);
    expect(maxvals[0]).toBeCloseTo(0.9, 6);
    expect(maxvals[1]).toBeCloseTo(0.5, 6);
  });
  it('takes the first maximum on ties and zeroes coordinates when the max is ≤ 0', () => {
    const hm = maps(1, 2, 3, 3, [[0, 0, 1, 2, 1], [0, 0, 2, 0, 1]]);
    // heatmap 1 is all -1 except one -0.5
    for (let i = 9; i < 18; i++) hm[i] = -1;
    hm[9 + 7] = -0.5;
    const { coords, maxvals } = getMaxPreds(hm, [1, 2, 3, 3]);
    expect(Array.from(coords)).toEqual([2, 1, 0, 0]);
    expect(maxvals[1]).toBe(-0.5);
  });
  it('checks the shape', () => {
    expect(() => getMaxPreds(new Float32Array(10), [1, 1, 3, 3])).toThrow(/getMaxPreds: expected 9 heatmap values for shape \[1, 1, 3, 3\], got 10/);
    expect(() => getMaxPreds(new Float32Array(9), [1, 9])).toThrow(/expected heatmaps of shape \[N, K, H, W\]/);
  });
});

describe('getFinalPreds', () => {
  it('shifts a quarter pixel toward the larger neighbour inside the border', () => {
    // peak at (x=3, y=2) in a 6x6 map; right neighbour > left, upper neighbour > lower.
    const hm = maps(1, 1, 6, 6, [[0, 0, 2, 3, 1], [0, 0, 2, 4, 0.6], [0, 0, 2, 2, 0.2], [0, 0, 1, 3, 0.7], [0, 0, 3, 3, 0.1]]);
    const kp = getFinalPreds(hm, [1, 1, 6, 6])[0]![0]!;
    expect(kp.x).toBe(3.25);
    expect(kp.y).toBe(1.75);
    expect(kp.score).toBe(1);
    // no shift when the neighbours are equal on an axis
    const flat = maps(1, 1, 6, 6, [[0, 0, 2, 3, 1], [0, 0, 2, 4, 0.5], [0, 0, 2, 2, 0.5]]);
    const kf = getFinalPreds(flat, [1, 1, 6, 6])[0]![0]!;
    expect([kf.x, kf.y]).toEqual([3, 2]);
  });
  it('shifts only when 1 < px < W-1 and 1 < py < H-1 (both axes skip otherwise)', () => {
    // px = 1 is not > 1: neither axis moves, although the y neighbours differ.
    const hm = maps(1, 1, 6, 6, [[0, 0, 4, 1, 1], [0, 0, 4, 2, 0.5], [0, 0, 5, 1, 0.5]]);
    const kp = getFinalPreds(hm, [1, 1, 6, 6])[0]![0]!;
    expect([kp.x, kp.y]).toEqual([1, 4]);
    // py = 4 = H-2 is inside: shifted down toward the larger lower neighbour.
    const in4 = maps(1, 1, 6, 6, [[0, 0, 4, 3, 1], [0, 0, 5, 3, 0.5]]);
    const ki = getFinalPreds(in4, [1, 1, 6, 6])[0]![0]!;
    expect([ki.x, ki.y]).toEqual([3, 4.25]);
    // postProcess off: plain argmax
    const kq = getFinalPreds(in4, [1, 1, 6, 6], { postProcess: false })[0]![0]!;
    expect([kq.x, kq.y]).toEqual([3, 4]);
  });
  it('maps back to image pixels through the inverse affine of the crop', () => {
    // Crop: box 200x200 at (100, 50) with no padding -> scale 1; heatmap 50x50, i.e. 4 px per cell.
    const cs = boxToCenterScale([100, 50, 200, 200], 1, { padding: 1 });
    const hm = maps(1, 1, 50, 50, [[0, 0, 10, 20, 1]]);
    const kp = getFinalPreds(hm, [1, 1, 50, 50], { crops: [cs], postProcess: false })[0]![0]!;
    expect(kp.x).toBeCloseTo(100 + 20 * 4, 9);
    expect(kp.y).toBeCloseTo(50 + 10 * 4, 9);
    expect(() => getFinalPreds(hm, [1, 1, 50, 50], { crops: [cs, cs] })).toThrow(/getFinalPreds: expected 1 crops/);
  });
});

describe('decodeArgmax and decodeHeatmaps', () => {
  it('decodes every sample and joint without refinement', () => {
    const hm = maps(2, 2, 4, 4, [[0, 0, 1, 1, 2], [0, 0, 1, 2, 1.5], [0, 1, 3, 2, 1], [1, 0, 0, 3, 0.3], [1, 1, 2, 2, 0.7]]);
    const kps = decodeArgmax(hm, [2, 2, 4, 4]);
    expect(kps.map((r) => r.map((k) => [k.x, k.y]))).toEqual([[[1, 1], [2, 3]], [[3, 0], [2, 2]]]);
  });
  it('reads a tensor and dispatches on the method', async () => {
    const hm = maps(1, 1, 6, 6, [[0, 0, 2, 3, 1], [0, 0, 2, 4, 0.6]]);
    const t = tensor(hm, { shape: [1, 1, 6, 6] });
    const a = await decodeHeatmaps(t, 'argmax');
    const h = await decodeHeatmaps(t, 'hrnet');
    expect(a[0]![0]!.x).toBe(3);
    expect(h[0]![0]!.x).toBe(3.25);
    const flat = tensor(hm, { shape: [36] });
    await expect(decodeHeatmaps(flat)).rejects.toThrow(/decodeHeatmaps: expected heatmaps of rank 4/);
    t.dispose();
    flat.dispose();
  });
});
