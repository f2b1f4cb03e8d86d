/**
 * Image decoding/encoding and resizing (models/pose/image.ts) and the overlay rasterizer
 * (models/pose/draw.ts), on hand-checked pixels.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createImage, decodeImage, encodeJpeg, encodePng, resizeArea, sniffFormat, type RgbaImage } from '../../models/pose/image.js';
import { drawLine, drawPose, drawRect, fillCircle } from '../../models/pose/draw.js';
import { PENN_ACTION, POSETRACK } from '../../models/pose/joints.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const px = (img: RgbaImage, x: number, y: number): number[] => Array.from(img.data.subarray((y * img.width + x) * 4, (y * img.width + x) * 4 + 4));
const painted = (img: RgbaImage): [number, number][] => {
  const out: [number, number][] = [];
  for (let y = 0; y < img.height; y++) for (let x = 0; x < img.width; x++) if (img.data[(y * img.width + x) * 4]! > 0) out.push([x, y]);
  return out;
};

describe('image I/O', () => {
  it('PNG round-trips exactly', () => {
    const img = createImage(3, 2, [10, 20, 30, 255]);
    img.data.set([255, 0, 0, 255], 4 * 4);
    const back = decodeImage(encodePng(img));
    expect([back.width, back.height]).toEqual([3, 2]);
    expect(Array.from(back.data)).toEqual(Array.from(img.data));
  });
  it('decodes the bundled JPEG frames', () => {
    const img = decodeImage(new Uint8Array(readFileSync(join(ROOT, 'assets/demo/0001.jpg'))));
    expect([img.width, img.height, img.channels]).toEqual([576, 432, 4]);
    // grass at the bottom left is green
    const [r, g, b] = px(img, 20, 400);
    expect(g).toBeGreaterThan(r!);
    expect(g).toBeGreaterThan(b!);
  });
  it('JPEG encoding is lossy but close', () => {
    const img = createImage(16, 16, [100, 150, 200, 255]);
    const back = decodeImage(encodeJpeg(img, 95));
    expect(sniffFormat(encodeJpeg(img))).toBe('jpeg');
    for (const [i, v] of [100, 150, 200].entries()) expect(Math.abs(px(back, 8, 8)[i]! - v)).toBeLessThanOrEqual(3);
  });
  it('rejects other bytes naming what it saw', () => {
    expect(() => decodeImage(new Uint8Array([0x47, 0x49, 0x46, 0x38, 0x39]))).toThrow(/decodeImage: expected PNG or JPEG bytes, got 5 bytes starting with \[47 49 46 38\]/);
    const truncated = encodePng(createImage(4, 4)).subarray(0, 30);
    expect(() => decodeImage(truncated)).toThrow(/decodeImage: expected a valid PNG file, got a decoding error/);
  });
  it('resizeArea averages the covered pixels', () => {
    // 4x2 -> 2x1: each output pixel is the mean of a 2x2 block
    const img = createImage(4, 2, [0, 0, 0, 255]);
    [0, 40, 80, 120, 10, 50, 90, 130].forEach((v, i) => (img.data[i * 4] = v));
    const out = resizeArea(img, 2, 1);
    expect(px(out, 0, 0)[0]).toBe(Math.round((0 + 40 + 10 + 50) / 4));
    expect(px(out, 1, 0)[0]).toBe(Math.round((80 + 120 + 90 + 130) / 4));
    // 3 -> 2 along x: output 0 covers pixel 0 fully and half of pixel 1
    const row = createImage(3, 1, [0, 0, 0, 255]);
    [0, 90, 180].forEach((v, i) => (row.data[i * 4] = v));
    expect(px(resizeArea(row, 2, 1), 0, 0)[0]).toBe(Math.round((0 + 0.5 * 90) / 1.5));
    expect(() => resizeArea(row, 0, 1)).toThrow(/resizeArea: expected a positive integer output size, got 0x1/);
  });
});

describe('draw', () => {
  it('a horizontal line of thickness 1 paints exactly its pixels', () => {
    const img = createImage(8, 5);
    drawLine(img, 1, 2, 5, 2, [255, 0, 0], 1);
    expect(painted(img)).toEqual([[1, 2], [2, 2], [3, 2], [4, 2], [5, 2]]);
    expect(px(img, 3, 2)).toEqual([255, 0, 0, 255]);
  });
  it('a diagonal line touches both ends and stays near the segment', () => {
    const img = createImage(10, 10);
    drawLine(img, 0, 0, 9, 9, [255, 255, 255], 1);
    const pts = painted(img);
    expect(pts).toContainEqual([0, 0]);
    expect(pts).toContainEqual([9, 9]);
    for (const [x, y] of pts) expect(Math.abs(x - y)).toBeLessThanOrEqual(1);
  });
  it('fillCircle paints the pixels within the radius, clipped to the image', () => {
    const img = createImage(7, 7);
    fillCircle(img, 3, 3, 1, [255, 0, 0]);
    expect(painted(img).sort()).toEqual([[2, 3], [3, 2], [3, 3], [3, 4], [4, 3]].sort());
    const edge = createImage(3, 3);
    fillCircle(edge, 0, 0, 1.5, [255, 0, 0]);
    expect(painted(edge).length).toBe(4);
  });
  it('alpha blends over the existing color; rectangles outline a box', () => {
    const img = createImage(6, 6, [100, 100, 100, 255]);
    drawRect(img, [1, 1, 3, 3], [200, 0, 0], 1, 0.5);
    expect(px(img, 1, 1)).toEqual([150, 50, 50, 255]);
    expect(px(img, 2, 2)).toEqual([100, 100, 100, 255]);
    expect(px(img, 4, 3)).toEqual([150, 50, 50, 255]);
  });
  it('drawPose draws bones between shown joints only, and checks the joint count', () => {
    const img = createImage(40, 40);
    const kps = PENN_ACTION.names.map((_, i) => ({ x: 5 + 2 * i, y: 20, score: i === 0 ? 0.1 : 0.9 }));
    drawPose(img, kps, PENN_ACTION, { minScore: 0.5, thickness: 1, radius: 0 });
    // the head (score 0.1) is hidden: nothing at its position (5, 20) ... but (7, 20) (left shoulder) is drawn
    expect(px(img, 5, 20)[3]).toBe(255);
    expect(px(img, 5, 20)[0]).toBe(0);
    expect(px(img, 7, 20)[0]).toBeGreaterThan(0);
    expect(() => drawPose(img, kps.slice(1), PENN_ACTION)).toThrow(/drawPose: expected 13 keypoints for pennAction, got 12/);
    // PoseTrack's unused ears are never drawn, whatever their score
    const pt = createImage(40, 40);
    const ptk = POSETRACK.names.map((_, i) => ({ x: i === 3 || i === 4 ? 35 : 2, y: i === 3 || i === 4 ? 35 : 2, score: 1 }));
    drawPose(pt, ptk, POSETRACK, { radius: 1 });
    expect(px(pt, 35, 35)[0]).toBe(0);
  });
});
