/**
 * dropout and dropout2d: the masks come from posegrad's own seeded generator (not PyTorch's), so
 * these tests check the properties instead of fixtures: identity in eval, reproducibility under
 * manualSeed, the zero fraction, the 1/(1-p) scale, and gradient = mask·scale.
 */
import { describe, expect, it } from 'vitest';
import * as P from '../../index.js';

const ones = (shape: number[]): P.Tensor => P.ones(shape, { dtype: 'float64' });

describe('dropout', () => {
  it('is the identity in eval mode and for p = 0', () => {
    P.manualSeed(1);
    const x = P.randn([3, 4], { dtype: 'float64' });
    expect([...P.dropout(x, 0.5, false).dataSync()]).toEqual([...x.dataSync()]);
    expect([...P.dropout(x, 0).dataSync()]).toEqual([...x.dataSync()]);
    expect([...P.dropout2d(P.reshape(x, [1, 3, 2, 2]), 0.9, false).dataSync()]).toEqual([...x.dataSync()]);
  });

  it('draws the same mask after the same manualSeed, and another one after another seed', () => {
    const x = ones([64]);
    P.manualSeed(7);
    const a = [...P.dropout(x, 0.5).dataSync()];
    P.manualSeed(7);
    const b = [...P.dropout(x, 0.5).dataSync()];
    P.manualSeed(8);
    const c = [...P.dropout(x, 0.5).dataSync()];
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });

  it('zeroes a fraction p and scales the rest by 1/(1-p)', () => {
    const n = 20000;
    for (const p of [0.1, 0.3, 0.75]) {
      P.manualSeed(11);
      const y = P.dropout(ones([n]), p).dataSync();
      let zeros = 0;
      let wrongScale = 0;
      for (const v of y) {
        if (v === 0) zeros++;
        else if (Math.abs(v - 1 / (1 - p)) > 1e-12) wrongScale++;
      }
      expect(wrongScale).toBe(0);
      // 5 standard deviations of a binomial fraction
      expect(Math.abs(zeros / n - p)).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / n));
    }
    expect([...P.dropout(ones([5]), 1).dataSync()]).toEqual([0, 0, 0, 0, 0]);
  });

  it('has gradient mask·scale', () => {
    P.manualSeed(3);
    const x = P.randn([6, 5], { dtype: 'float64' }).requiresGrad_();
    const y = P.dropout(x, 0.4);
    const g = P.randn([6, 5], { dtype: 'float64' });
    P.sum(P.mul(y, g)).backward();
    const xv = x.dataSync();
    const yv = y.dataSync();
    const gv = g.dataSync();
    const dx = x.grad!.dataSync();
    let kept = 0;
    for (let i = 0; i < xv.length; i++) {
      const mask = yv[i]! / xv[i]!; // 0 or 1/(1-p)
      expect([0, 1 / 0.6].some((m) => Math.abs(mask - m) < 1e-12)).toBe(true);
      expect(dx[i]).toBeCloseTo(mask * gv[i]!, 12);
      if (mask !== 0) kept++;
    }
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(xv.length);
  });

  it('dropout2d zeroes whole channels', () => {
    P.manualSeed(5);
    const y = P.dropout2d(ones([4, 8, 3, 3]), 0.5).dataSync();
    let dropped = 0;
    for (let nc = 0; nc < 32; nc++) {
      const plane = [...y.slice(nc * 9, nc * 9 + 9)];
      expect(plane.every((v) => v === plane[0])).toBe(true);
      expect([0, 2]).toContain(plane[0]);
      if (plane[0] === 0) dropped++;
    }
    expect(dropped).toBeGreaterThan(0);
    expect(dropped).toBeLessThan(32);
  });

  it('rejects bad input', () => {
    const x = ones([2, 3]);
    expect(() => P.dropout(x, 1.5)).toThrow('dropout: expected a dropout probability p in [0, 1], got 1.5');
    expect(() => P.dropout(x, -0.1)).toThrow('dropout: expected a dropout probability p in [0, 1], got -0.1');
    expect(() => P.dropout(P.zeros([2], { dtype: 'int32' }))).toThrow('dropout: expected input of a float dtype (float32 or float64), got int32');
    expect(() => P.dropout2d(x, 0.5)).toThrow('dropout2d: expected input of rank 4 [N, C, H, W], got shape [2, 3]');
  });
});
