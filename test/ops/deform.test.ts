/**
 * deformConv2d against torchvision (test/reference/ops_deform.py): forward and gradients for input,
 * offset, mask, weight and bias in float64 and float32; float64 gradchecks; bad input; and the
 * DeformConv2d / ModulatedDeformConv2dPack modules (state-dict keys, init, parity with torch).
 */
import { describe, expect, it } from 'vitest';
import * as P from '../../index.js';
import type { Tensor } from '../../index.js';
import { DeformConv2d, ModulatedDeformConv2dPack } from '../../models/nn/deform.js';
import { uniform_ } from '../../models/nn/init.js';
import type { Module } from '../../models/nn/module.js';
import { assertClose, type Tol } from '../helpers/close.js';
import { checkCase, F32, F64, loadFixture, toTensor, type FixtureCase } from '../helpers/fixtures.js';
import { gradcheck } from '../helpers/gradcheck.js';

const fx = loadFixture('ops', 'deform');
const opCases = fx.cases.filter((c) => !c.name.startsWith('module/'));

const run = ({ x, offset, w, mask, b }: Record<string, Tensor>, p: Record<string, any>): Tensor =>
  P.deformConv2d(x!, offset!, w!, b ?? null, { stride: p.stride, padding: p.padding, dilation: p.dilation, mask: mask ?? null });

describe('deformConv2d matches torchvision.ops.deform_conv2d', () => {
  it('has forward-and-gradient cases and forward-only kink cases', () => {
    expect(opCases.filter((c) => c.grads.length > 0).length).toBeGreaterThanOrEqual(11);
    expect(opCases.filter((c) => c.name.startsWith('kink/')).every((c) => c.grads.length === 0)).toBe(true);
  });
  for (const c of opCases) {
    it(`${c.name}${c.grads.length ? ` (grads: ${c.grads.join(', ')})` : ' (forward only)'}`, () => {
      checkCase(fx, c, run, { dtype: 'float64', fwd: F64 });
      checkCase(fx, c, run, { dtype: 'float32', fwd: F32 });
    });
  }
});

// ------------------------------------------------------------------------------------------ gradcheck
function rnd(shape: number[], seed: number, lo = -1, hi = 1): Tensor {
  P.manualSeed(seed);
  return P.add(P.mul(P.rand(shape, { dtype: 'float64' }), hi - lo), lo);
}
/** Offsets = integer in [lo, hi] + a fraction in [0.15, 0.85]: no sampling point near a kink. */
function offsets(shape: number[], seed: number, lo = -2, hi = 2): Tensor {
  const ints = P.floor(rnd(shape, seed, lo, hi + 1 - 1e-9));
  return P.add(ints, rnd(shape, seed + 1, 0.15, 0.85));
}

describe('deformConv2d gradcheck (float64, central differences)', () => {
  it('v1 with bias: input, offset, weight, bias', () => {
    gradcheck((x, o, w, b) => P.deformConv2d(x, o, w, b, { padding: 1 }), [rnd([2, 2, 4, 5], 1), offsets([2, 18, 4, 5], 2), rnd([3, 2, 3, 3], 4), rnd([3], 5)]);
  });
  it('v2 with mask, stride 2, dilation 2, weight groups 2, offset groups 2', () => {
    gradcheck(
      (x, o, w, m) => P.deformConv2d(x, o, w, null, { stride: 2, padding: 2, dilation: 2, mask: m }),
      [rnd([1, 4, 5, 6], 6), offsets([1, 36, 3, 3], 7), rnd([2, 2, 3, 3], 9), rnd([1, 18, 3, 3], 10, -0.5, 1.5)],
    );
  });
  it('offset groups 17 on 17 channels (FaSRnet SRM), non-square kernel', () => {
    gradcheck(
      (x, o, w, m, b) => P.deformConv2d(x, o, w, b, { padding: [1, 0], mask: m }),
      [rnd([1, 17, 3, 3], 11), offsets([1, 17 * 2 * 6, 3, 2], 12), rnd([2, 17, 3, 2], 14), rnd([1, 17 * 6, 3, 2], 15), rnd([2], 16)],
      { maxPerInput: 80 },
    );
  });
  it('sampling points beyond the border', () => {
    gradcheck(
      (x, o, w, m) => P.deformConv2d(x, o, w, null, { padding: 1, mask: m }),
      [rnd([1, 2, 3, 4], 17), offsets([1, 18, 3, 4], 18, -5, 5), rnd([2, 2, 3, 3], 20), rnd([1, 9, 3, 4], 21)],
    );
  });
});

// ------------------------------------------------------------------------------------------ semantics
describe('deformConv2d semantics', () => {
  it('with zero offsets and no mask equals conv2d (stride, padding, dilation, groups)', () => {
    P.tidy(() => {
      const x = rnd([2, 4, 7, 6], 30);
      const w = rnd([6, 2, 3, 2], 31);
      const b = rnd([6], 32);
      const opts = { stride: [2, 1] as [number, number], padding: [2, 1] as [number, number], dilation: [2, 3] as [number, number] };
      const ref = P.conv2d(x, w, b, { ...opts, groups: 2 });
      const off = P.zeros([2, 2 * 2 * 6, ref.shape[2]!, ref.shape[3]!], { dtype: 'float64' }); // 2 offset groups
      const y = P.deformConv2d(x, off, w, b, opts);
      assertClose(y.dataSync(), ref.dataSync(), F64, 'deformConv2d vs conv2d');
    });
  });
  it('an all-ones mask equals no mask; a mask scales each tap', () => {
    P.tidy(() => {
      const x = rnd([1, 3, 4, 4], 33);
      const w = rnd([2, 3, 3, 3], 34);
      const o = offsets([1, 18, 4, 4], 35);
      const v1 = P.deformConv2d(x, o, w, null, { padding: 1 });
      const v2 = P.deformConv2d(x, o, w, null, { padding: 1, mask: P.ones([1, 9, 4, 4], { dtype: 'float64' }) });
      assertClose(v2.dataSync(), v1.dataSync(), F64, 'ones mask');
      const half = P.deformConv2d(x, o, w, null, { padding: 1, mask: P.full([1, 9, 4, 4], 0.5, { dtype: 'float64' }) });
      assertClose(half.dataSync(), P.mul(v1, 0.5).dataSync(), F64, 'mask 0.5');
    });
  });
  it('frees every intermediate of a forward/backward step', () => {
    const x = rnd([1, 2, 4, 4], 36).requiresGrad_();
    const o = offsets([1, 18, 4, 4], 37).requiresGrad_();
    const w = rnd([2, 2, 3, 3], 38).requiresGrad_();
    const m = rnd([1, 9, 4, 4], 39).requiresGrad_();
    const before = P.memory().numTensors;
    P.tidy(() => P.sum(P.deformConv2d(x, o, w, null, { padding: 1, mask: m })).backward());
    // the four leaf gradients remain
    expect(P.memory().numTensors).toBe(before + 4);
    for (const t of [x, o, w, m]) t.dispose();
  });
});

// ------------------------------------------------------------------------------------------ errors
describe('deformConv2d rejects bad input', () => {
  const x = P.zeros([1, 4, 5, 5]);
  const w = P.zeros([2, 4, 3, 3]);
  const o = P.zeros([1, 18, 5, 5]);
  const call = (args: { x?: Tensor; o?: Tensor; w?: Tensor; b?: Tensor; mask?: Tensor }) => () =>
    P.deformConv2d(args.x ?? x, args.o ?? o, args.w ?? w, args.b ?? null, { padding: 1, mask: args.mask ?? null });
  it('an offset channel count that is not a multiple of 2·kh·kw', () => {
    expect(call({ o: P.zeros([1, 17, 5, 5]) })).toThrow('deformConv2d: expected offset channels a positive multiple of 2·kh·kw = 18, got 17 (offset [1, 17, 5, 5])');
    expect(call({ o: P.zeros([1, 0, 5, 5]) })).toThrow(/^deformConv2d: expected offset channels a positive multiple of 2·kh·kw = 18, got 0/);
  });
  it('offset groups that do not divide Cin', () => {
    expect(call({ o: P.zeros([1, 54, 5, 5]) })).toThrow('deformConv2d: expected offset groups (offset channels / 18) dividing Cin = 4, got 3 offset groups (offset [1, 54, 5, 5])');
  });
  it('a mask inconsistent with the offsets', () => {
    expect(call({ mask: P.zeros([1, 18, 5, 5]) })).toThrow('deformConv2d: expected mask channels = offset groups · kh·kw = 1·9 = 9 (offset [1, 18, 5, 5]), got 18 (mask [1, 18, 5, 5])');
    expect(call({ mask: P.zeros([1, 9, 4, 5]) })).toThrow('deformConv2d: expected mask of shape [1, 9, 5, 5] (batch and output size), got [1, 9, 4, 5]');
    expect(call({ mask: P.zeros([9, 5, 5]) })).toThrow(/^deformConv2d: expected mask of rank 4/);
  });
  it('offsets whose batch or spatial size is not the output size', () => {
    expect(call({ o: P.zeros([1, 18, 3, 3]) })).toThrow('deformConv2d: expected offset of shape [1, 18, 5, 5] (batch and output size), got [1, 18, 3, 3]');
    expect(call({ o: P.zeros([2, 18, 5, 5]) })).toThrow('deformConv2d: expected offset of shape [1, 18, 5, 5] (batch and output size), got [2, 18, 5, 5]');
  });
  it('a weight that does not match the input channels or groups, a bad bias', () => {
    expect(call({ w: P.zeros([2, 3, 3, 3]) })).toThrow('deformConv2d: expected weight.shape[1] (Cin/groups) dividing Cin = 4, got 3 (weight [2, 3, 3, 3], input [1, 4, 5, 5])');
    expect(call({ w: P.zeros([3, 2, 3, 3]) })).toThrow('deformConv2d: expected Cout divisible by the weight groups (2 = Cin 4 / weight.shape[1] 2), got Cout = 3');
    expect(call({ b: P.zeros([3]) })).toThrow('deformConv2d: expected bias of shape [2], got [3]');
  });
  it('wrong rank, dtype, or a disposed tensor', () => {
    expect(call({ x: P.zeros([4, 5, 5]) })).toThrow('deformConv2d: expected input of rank 4 [B, Cin, H, W], got shape [4, 5, 5]');
    expect(call({ x: P.zeros([1, 4, 5, 5], { dtype: 'int32' }) })).toThrow('deformConv2d: expected input of a float dtype (float32 or float64), got int32');
    expect(call({ o: P.zeros([1, 18, 5, 5], { dtype: 'float64' }) })).toThrow('deformConv2d: expected tensors of one dtype, got float32 and float64');
    const d = P.zeros([1, 18, 5, 5]);
    d.dispose();
    expect(call({ o: d })).toThrow(/^deformConv2d: expected offset to be a live tensor, got tensor #\d+ float32\[1, 18, 5, 5\], which was disposed$/);
  });
});

// ------------------------------------------------------------------------------------------ modules
/**
 * Loads the case's parameters into `m` (as float64), runs `fwd` on the case's other inputs, and
 * checks the output and the gradients of every input and parameter against torch.
 */
function checkModule<M extends Module>(c: FixtureCase, m: M, fwd: (m: M, ins: Record<string, Tensor>) => Tensor, tol: Tol = F64): void {
  const keys: string[] = c.params.keys;
  expect([...m.stateDict().keys()]).toEqual(keys);
  m.toDtype('float64');
  m.loadStateDict(new Map(keys.map((k) => [k, fx.get(`${c.name}/${k}`)])));
  P.tidy(() => {
    const ins: Record<string, Tensor> = {};
    for (const k of Object.keys(c.inputs)) if (!keys.includes(k)) ins[k] = toTensor(fx.get(`${c.name}/${k}`), 'float64', 'cpu', c.grads.includes(k));
    const out = fwd(m, ins);
    assertClose(out.dataSync(), fx.get(`${c.name}/out`).data, tol, `${c.name} output`);
    out.backward(toTensor(fx.get(`${c.name}/gout`), 'float64'));
    const sd = m.stateDict();
    expect(c.grads.length).toBe(Object.keys(c.inputs).length);
    for (const k of c.grads) {
      const t = ins[k] ?? sd.get(k)!;
      if (!t.grad) throw new Error(`${c.name}: no gradient for ${k}`);
      assertClose(t.grad.dataSync(), fx.get(`${c.name}/grad_${k}`).data, tol, `${c.name} grad of ${k}`);
    }
  });
  m.dispose();
}
const moduleCase = (name: string): FixtureCase => {
  const c = fx.cases.find((k) => k.name === `module/${name}`);
  if (!c) throw new Error(`no fixture case module/${name}`);
  return c;
};

describe('DeformConv2d module (torchvision.ops.DeformConv2d)', () => {
  it('has weight and bias with torchvision shapes and init bounds', () => {
    P.manualSeed(0);
    const m = new DeformConv2d(6, 4, [3, 2], { groups: 2, padding: 1 });
    expect([...m.stateDict().entries()].map(([k, v]) => [k, v.shape])).toEqual([['weight', [4, 3, 3, 2]], ['bias', [4]]]);
    const bound = 1 / Math.sqrt(3 * 6); // kaiming-uniform(a=√5) bound = 1/√fan_in, as the bias's
    expect(Math.max(...Array.from(m.weight.dataSync(), Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...Array.from(m.bias!.dataSync(), Math.abs))).toBeLessThanOrEqual(bound);
    const nb = new DeformConv2d(2, 2, 3, { bias: false });
    expect([...nb.stateDict().keys()]).toEqual(['weight']);
    m.dispose();
    nb.dispose();
  });
  it('matches torch: output and gradients of x, offset, mask, weight, bias', () => {
    checkModule(moduleCase('DeformConv2d'), new DeformConv2d(4, 3, 3, { padding: 2, dilation: 2 }), (m, { x, offset, mask }) => m.forward(x!, offset!, mask!));
  });
});

describe('ModulatedDeformConv2dPack module (mmcv / EDVR DCNv2Pack)', () => {
  it('has the official state-dict keys and shapes', () => {
    const m = new ModulatedDeformConv2dPack(6, 4, 3, { padding: 1, offsetGroups: 2, groups: 2 });
    expect([...m.stateDict().entries()].map(([k, v]) => [k, v.shape])).toEqual([
      ['weight', [4, 3, 3, 3]], ['bias', [4]], ['conv_offset.weight', [54, 6, 3, 3]], ['conv_offset.bias', [54]],
    ]);
    m.dispose();
  });
  it('starts as 0.5·conv2d + bias (zero offsets, mask sigmoid(0)); without the sigmoid, as bias only', () => {
    P.manualSeed(1);
    const m = new ModulatedDeformConv2dPack(3, 2, 3, { padding: 2, dilation: 2 });
    const m2 = new ModulatedDeformConv2dPack(3, 2, 3, { padding: 1, maskSigmoid: false });
    P.tidy(() => {
      uniform_(m.bias!, -1, 1);
      uniform_(m2.bias!, -1, 1);
      expect(Array.from(m.conv_offset.weight.dataSync()).every((v) => v === 0)).toBe(true);
      const x = P.randn([1, 3, 5, 4]);
      const y = m.forward(x);
      const ref = P.add(P.mul(P.conv2d(x, m.weight, null, { padding: 2, dilation: 2 }), 0.5), P.reshape(m.bias!, [2, 1, 1]));
      assertClose(y.dataSync(), ref.dataSync(), F32, 'pack at init');
      const y2 = m2.forward(x);
      assertClose(y2.dataSync(), P.expand(P.reshape(m2.bias!, [1, 2, 1, 1]), [1, 2, 5, 4]).dataSync(), F32, 'pack without sigmoid at init');
    });
    m.dispose();
    m2.dispose();
  });
  it('matches torch with the sigmoid, dilation 3 (offsets from a second feature map)', () => {
    checkModule(moduleCase('DCNv2Pack_sigmoid_d3'), new ModulatedDeformConv2dPack(3, 4, 3, { padding: 3, dilation: 3 }), (m, { x, feat }) => m.forward(x!, feat!));
  });
  it('matches torch without the sigmoid, 2 offset groups', () => {
    checkModule(moduleCase('DCNv2Pack_nosigmoid_og2'), new ModulatedDeformConv2dPack(2, 2, 3, { padding: 1, offsetGroups: 2, maskSigmoid: false }), (m, { x, feat }) => m.forward(x!, feat!));
  });
  it('matches torch with its own offset padding/dilation (FaSRnet fixed: padding 1, dilation 1)', () => {
    checkModule(moduleCase('DCNv2Pack_offsetPad1_d2'), new ModulatedDeformConv2dPack(2, 3, 3, { padding: 2, dilation: 2, offsetPadding: 1, offsetDilation: 1 }), (m, { x, feat }) => m.forward(x!, feat!));
  });
  it('FaSRnet quirk: throws on the larger offset map, or reinterprets it with legacyOffsetReinterpret', () => {
    const quirk = { padding: 3, dilation: 3, offsetPadding: 3, offsetDilation: 1 };
    const strict = new ModulatedDeformConv2dPack(2, 2, 3, quirk);
    expect(() => strict.forward(P.zeros([2, 2, 4, 5]))).toThrow('deformConv2d: expected offset of shape [2, 18, 4, 5] (batch and output size), got [2, 18, 8, 9]');
    strict.dispose();
    checkModule(moduleCase('DCNv2Pack_legacyQuirk_d3'), new ModulatedDeformConv2dPack(2, 2, 3, { ...quirk, legacyOffsetReinterpret: true }), (m, { x, feat }) => m.forward(x!, feat!));
  });
  it('rejects offset groups that do not divide the input channels', () => {
    expect(() => new ModulatedDeformConv2dPack(4, 4, 3, { offsetGroups: 3 })).toThrow('ModulatedDeformConv2dPack: expected offsetGroups dividing inChannels = 4, got 3');
  });
});
