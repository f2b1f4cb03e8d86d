/**
 * Memory lifetimes: `tidy` frees on throw (cpu, wasm, webgpu), scalar operands (`mul(x, 2)`) leak
 * nothing inside or outside tidy, Module calls under noGrad free their intermediates as they go
 * (peak ≪ the sum of allocations, results bit-identical), and training leaks nothing.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceName } from '../../backends/backend.js';
import { engine, freeIntermediates, memory, noGrad, tidy } from '../../engine/engine.js';
import type { Tensor } from '../../engine/tensor.js';
import { ones, randn, tensor, zeros } from '../../ops/creation.js';
import { add, div, eq, ge, gt, le, lt, maskedFill, maximum, minimum, mul, ne, pow, relu, sub, where } from '../../ops/elementwise.js';
import { sum } from '../../ops/reduce.js';
import { reshape } from '../../ops/shape.js';
import { HRNet, HRNET_PRESETS } from '../../models/backbones/hrnet.js';
import { BasicBlock, Bottleneck } from '../../models/backbones/resnet.js';
import { RPSTN } from '../../models/rpstn/model.js';
import { rpstnPreset } from '../../models/rpstn/presets.js';
import { glposeInputsFromFrames } from '../../models/glpose/model.js';
import { createGLPose } from '../../models/glpose/presets.js';
import { BatchNorm2d, Conv2d, Identity, ReLU, Sequential } from '../../models/nn/layers.js';
import { Module } from '../../models/nn/module.js';
import { createVREMD } from '../../models/vremd/model.js';
import { buildFaSRnet, buildGLPose, buildRPSTN, buildVREMD } from '../../bench/networks/builders.js';
import type { BenchNetwork } from '../../bench/networks/registry.js';
import { availableDevices } from '../helpers/devices.js';

let devices: DeviceName[] = ['cpu'];
beforeAll(async () => {
  devices = ['cpu', ...(await availableDevices('memory-scopes'))];
});

afterEach(() => {
  engine.moduleScopes = true;
});

function counts(device: DeviceName): { tensors: number; bytes: number } {
  const d = memory().devices[device];
  return { tensors: d?.tensors ?? 0, bytes: d?.bytes ?? 0 };
}

async function values(t: Tensor): Promise<number[]> {
  return Array.from(await t.data());
}

/** Bytes allocated (new storages) while `fn` runs. */
function allocatedDuring<T>(fn: () => T): { result: T; allocated: number } {
  let allocated = 0;
  const orig = engine.newRef;
  engine.newRef = function (this: typeof engine, device, data, bytes) {
    allocated += bytes;
    return orig.call(this, device, data, bytes);
  };
  try {
    return { result: fn(), allocated };
  } finally {
    engine.newRef = orig;
  }
}

describe('tidy frees its tensors when its function throws', () => {
  it('50 failed calls leave memory unchanged on every backend, and the error propagates', () => {
    for (const device of devices) {
      const before = counts(device);
      for (let i = 0; i < 50; i++) {
        expect(() =>
          tidy(() => {
            const a = zeros([256, 256], { device });
            const b = mul(add(a, 1), 2);
            tidy(() => relu(b)); // a nested scope that completes
            throw new Error(`boom ${i}`);
          }),
        ).toThrow(`boom ${i}`);
      }
      expect(counts(device), device).toEqual(before);
    }
  });

  it('a throw in a nested tidy frees both scopes; kept tensors and tensors made before survive', () => {
    for (const device of devices) {
      const outer = zeros([8], { device });
      const before = counts(device);
      let kept: Tensor | null = null;
      expect(() =>
        tidy(() => {
          const a = add(outer, 1);
          kept = mul(a, 3).keep();
          tidy(() => {
            add(a, a);
            throw new Error('inner');
          });
        }),
      ).toThrow('inner');
      expect(outer.isDisposed).toBe(false);
      expect(kept!.isDisposed).toBe(false);
      expect(counts(device).tensors, device).toBe(before.tensors + 1);
      kept!.dispose();
      outer.dispose();
      expect(counts(device).bytes, device).toBe(before.bytes - 32);
    }
  });

  it('a function returning a Promise still throws, handing its tensors to the enclosing scope', () => {
    const before = counts('cpu');
    tidy(() => {
      expect(() =>
        tidy((() => {
          zeros([4]);
          return Promise.resolve(1);
        }) as () => unknown),
      ).toThrow('tidy: expected a synchronous function, got one that returned a Promise');
      expect(counts('cpu').tensors).toBe(before.tensors + 1);
    });
    expect(counts('cpu')).toEqual(before);
  });
});

describe('scalar operands leak nothing', () => {
  // [label, the number c, op with the number c, the same op with c as a scalar tensor]
  const binaries: [string, number, (x: Tensor, m: Tensor) => Tensor, (x: Tensor, c: Tensor, m: Tensor) => Tensor][] = [
    ['add(x, 2)', 2, (x) => add(x, 2), (x, c) => add(x, c)],
    ['sub(1, x)', 1, (x) => sub(1, x), (x, c) => sub(c, x)],
    ['mul(x, 2)', 2, (x) => mul(x, 2), (x, c) => mul(x, c)],
    ['div(x, 2)', 2, (x) => div(x, 2), (x, c) => div(x, c)],
    ['div(3, x)', 3, (x) => div(3, x), (x, c) => div(c, x)],
    ['pow(2, x)', 2, (x) => pow(2, x), (x, c) => pow(c, x)],
    ['maximum(x, 2)', 2, (x) => maximum(x, 2), (x, c) => maximum(x, c)],
    ['minimum(3, x)', 3, (x) => minimum(3, x), (x, c) => minimum(c, x)],
    ['where(m, x, 0)', 0, (x, m) => where(m, x, 0), (x, c, m) => where(m, x, c)],
  ];

  it('outside tidy, with and without requiresGrad: the same values and gradients, and no tensor left', async () => {
    for (const device of devices) {
      for (const [label, c, withNumber, withTensor] of binaries) {
        const x = tensor([1, 2, 3, 4], { device });
        const s = tensor([c], { device, shape: [] });
        const m = tensor([0, 1, 0, 1], { device, dtype: 'int32' });
        // no grad recorded: the scalar is freed right after the op
        const n0 = counts(device);
        const y = withNumber(x, m);
        const expected = tidy(() => withTensor(x, s, m));
        expect(await values(y), `${label} on ${device}`).toEqual(await values(expected));
        y.dispose();
        expected.dispose();
        expect(counts(device), `${label} on ${device}`).toEqual(n0);

        // requiresGrad: the scalar lives with the output (its backward reads it), and goes with it
        x.requiresGrad_(true);
        const g = ones([4], { device });
        const n1 = counts(device);
        const yg = withNumber(x, m);
        yg.backward(g);
        const gradNumber = await values(x.grad!);
        yg.dispose();
        x.grad!.dispose();
        x.grad = null;
        expect(counts(device), `${label} with requiresGrad on ${device}`).toEqual(n1);
        tidy(() => withTensor(x, s, m).backward(g));
        expect(gradNumber, `${label} gradient on ${device}`).toEqual(await values(x.grad!));
        for (const t of [x, s, m, g]) t.dispose();
      }
    }
  });

  it('comparisons and maskedFill with a number', () => {
    const x = tensor([1, 2, 3, 4]);
    const n0 = memory().numTensors;
    for (const f of [eq, ne, lt, le, gt, ge]) f(x, 2).dispose();
    const m = maskedFill(x, gt(x, 2), -1);
    expect(Array.from(m.dataSync())).toEqual([1, 2, -1, -1]);
    m.dispose();
    // gt(x, 2) above is the caller's to free: one tensor
    expect(memory().numTensors).toBe(n0 + 1);
  });

  it('inside tidy, a returned output keeps its scalar until it is disposed (backward after tidy)', () => {
    const x = tensor([1, 2, 3], { requiresGrad: true });
    const n0 = memory().numTensors;
    const y = tidy(() => mul(x, 5));
    y.backward(tensor([1, 1, 1]));
    expect(Array.from(x.grad!.dataSync())).toEqual([5, 5, 5]);
    y.dispose();
    x.grad!.dispose();
    x.grad = null;
    expect(memory().numTensors).toBe(n0 + 1); // the explicit grad tensor([1, 1, 1]) above
  });
});

/** A module whose output is a plain object with an array and a Map of tensors. */
class Fan extends Module {
  readonly conv = this.module('conv', new Conv2d(2, 4, 3, { padding: 1 }));
  forward(x: Tensor): { y: Tensor; list: Tensor[]; byName: Map<string, Tensor> } {
    const h = relu(this.conv.forward(x));
    const a = mul(h, 2);
    const b = add(a, 1);
    return { y: b, list: [a], byName: new Map([['h', h]]) };
  }
}

/** Returns a view (reshape) of its input. */
class Flatten extends Module {
  forward(x: Tensor): Tensor {
    return reshape(x, [x.shape[0]!, -1]);
  }
}

/** Caches its first output across calls with keep(). */
class Cached extends Module {
  cache: Tensor | null = null;
  forward(x: Tensor): Tensor {
    if (!this.cache) this.cache = mul(x, 2).keep();
    return add(this.cache, 1);
  }
}

class Thrower extends Module {
  readonly inner = this.module('inner', new ReLU());
  forward(x: Tensor): Tensor {
    const y = this.inner.forward(add(x, 1));
    mul(y, y);
    throw new Error('forward failed');
  }
}

describe('Module calls under noGrad free their intermediates', () => {
  it('a Sequential keeps only its output; inputs, Identity and views survive', () => {
    const seq = new Sequential(new Conv2d(2, 3, 3, { padding: 1 }), new ReLU(), new Identity(), new Conv2d(3, 3, 1), new ReLU()).eval();
    const x = randn([1, 2, 8, 8]);
    const n0 = memory().numTensors;
    const y = noGrad(() => seq.forward(x)); // outside tidy
    expect(memory().numTensors).toBe(n0 + 1);
    expect(x.isDisposed).toBe(false);
    const id = new Identity();
    expect(noGrad(() => id.forward(x))).toBe(x);
    const flat = noGrad(() => new Flatten().forward(x));
    expect(flat.shape).toEqual([1, 128]);
    x.dispose();
    expect(flat.dataSync().length).toBe(128); // a view shares the storage
    for (const t of [y, flat]) t.dispose();
    expect(memory().numTensors).toBe(n0 - 1);
    seq.dispose();
  });

  it('outputs in objects, arrays and Maps are kept; nothing else', () => {
    const m = new Fan().eval();
    const x = randn([1, 2, 5, 5]);
    const n0 = memory().numTensors;
    const out = noGrad(() => m.forward(x));
    expect(memory().numTensors).toBe(n0 + 3);
    for (const t of [out.y, out.list[0]!, out.byName.get('h')!]) expect(t.isDisposed).toBe(false);
    expect(Array.from(out.y.dataSync())).toEqual(Array.from(out.list[0]!.dataSync()).map((v) => Math.fround(v + 1)));
    for (const t of [out.y, out.list[0]!, out.byName.get('h')!, x]) t.dispose();
    m.dispose();
  });

  it('kept cache entries survive the scope; a throwing forward frees its tensors', () => {
    const c = new Cached();
    const x = tensor([1, 2]);
    const a = noGrad(() => tidy(() => c.forward(x)));
    const b = noGrad(() => c.forward(x));
    expect(c.cache!.isDisposed).toBe(false);
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    const n0 = memory().numTensors;
    expect(() => noGrad(() => new Thrower().forward(x))).toThrow('forward failed');
    expect(memory().numTensors).toBe(n0);
    for (const t of [a, b, x, c.cache!]) t.dispose();
  });

  it('with grad on nothing is freed early: the graph keeps its intermediates and backward works', () => {
    const seq = new Sequential(new Conv2d(2, 3, 3, { padding: 1 }), new ReLU(), new Conv2d(3, 1, 1));
    const x = randn([1, 2, 6, 6]);
    const n0 = memory().numTensors;
    tidy(() => {
      const y = seq.forward(x);
      expect(memory().numTensors).toBeGreaterThan(n0 + 1);
      sum(y).backward();
    });
    const params = seq.parameters();
    expect(params.every((p) => p.grad !== null)).toBe(true);
    expect(memory().numTensors).toBe(n0 + params.length); // the gradients only
    seq.zeroGrad();
    seq.dispose();
    x.dispose();
  });

  it('HRNet small inference: peak < 0.2 × bytes allocated (0.13 measured; 0.44 before the blocks freed as they go), bit-identical, no leak', () => {
    const m = new HRNet(HRNET_PRESETS.small).eval();
    const x = randn([1, 3, 128, 96]);
    const run = (scopes: boolean): { peak: number; allocated: number; out: number[]; left: number } => {
      engine.moduleScopes = scopes;
      const n0 = memory().numTensors;
      const base = memory().numBytes;
      engine.resetPeakMemory();
      const { result, allocated } = allocatedDuring(() => tidy(() => noGrad(() => m.forward(x))));
      const peak = memory().peakBytes - base;
      const out = Array.from(result.dataSync());
      result.dispose();
      return { peak, allocated, out, left: memory().numTensors - n0 };
    };
    const off = run(false);
    const on = run(true);
    expect(on.out).toEqual(off.out);
    expect(on.allocated).toBe(off.allocated);
    expect(off.peak).toBe(off.allocated); // without scopes every intermediate lives to the end
    expect(on.peak).toBeLessThan(0.2 * on.allocated);
    expect(on.left).toBe(0);
    expect(off.left).toBe(0);
    m.dispose();
    x.dispose();
  });

  it("VREMD's feature cache survives the scopes (kept entries) and serves the second call", () => {
    const m = createVREMD('tiny', { cacheSize: 8 }).eval();
    const [h, w] = m.cfg.backbone.imgSize;
    const frames = randn([1, 3, 3, h, w]);
    const frameIds = [['a'], ['b'], ['c']];
    const first = tidy(() => noGrad(() => m.forward({ frames, frameIds })));
    expect(m.featureCache!.size).toBe(3);
    const n0 = memory().numTensors;
    const second = tidy(() => noGrad(() => m.forward({ frames, frameIds })));
    expect(m.featureCache!.hits).toBe(3);
    expect(memory().numTensors).toBe(n0 + 1);
    expect(Array.from(second.dataSync())).toEqual(Array.from(first.dataSync()));
    m.featureCache!.clear();
    for (const t of [first, second, frames]) t.dispose();
    m.dispose();
  });
});

describe('the four networks: inference frees as it goes, training is unchanged and leaks nothing', () => {
  const builders: [string, (p: 'tiny') => BenchNetwork][] = [
    ['RPSTN', buildRPSTN],
    ['FaSRnet', buildFaSRnet],
    ['VREMD', buildVREMD],
    ['GLPose', buildGLPose],
  ];
  for (const [name, build] of builders) {
    it(`${name} tiny`, () => {
      const infer = (net: BenchNetwork, scopes: boolean): { out: number[]; peak: number } => {
        engine.moduleScopes = scopes;
        const n0 = memory().numTensors;
        const base = memory().numBytes;
        engine.resetPeakMemory();
        const out = tidy(() => noGrad(() => net.forward())) as Tensor;
        const peak = memory().peakBytes - base;
        const v = Array.from(out.dataSync());
        out.dispose();
        expect(memory().numTensors, `${name} inference left tensors`).toBe(n0);
        return { out: v, peak };
      };
      const train = (scopes: boolean): { losses: number[]; out: number[] } => {
        engine.moduleScopes = scopes;
        engine.rng.seed(7);
        const net = build('tiny');
        net.setTraining(true);
        const losses: number[] = [];
        for (let step = 0; step < 2; step++) {
          const before = memory();
          tidy(() => {
            losses.push(net.trainStep().item());
          });
          // the first step creates the optimizer state; after that a step leaves memory unchanged
          if (step > 0) {
            expect(memory().numTensors, `${name} train step left tensors`).toBe(before.numTensors);
            expect(memory().numBytes).toBe(before.numBytes);
          }
        }
        net.setTraining(false);
        const a = infer(net, false);
        const b = infer(net, true);
        expect(b.out, `${name} inference with scopes`).toEqual(a.out);
        expect(b.peak, `${name} peak with scopes`).toBeLessThan(a.peak);
        net.dispose();
        return { losses, out: a.out };
      };
      const off = train(false);
      const on = train(true);
      expect(on.losses, `${name} training losses`).toEqual(off.losses);
      expect(on.out, `${name} inference after training`).toEqual(off.out);
    });
  }
});

describe('RPSTN inference frees each step as it goes', () => {
  it('the peak grows per extra frame by about its belief map and its copy in the output (2.2× the output growth measured; 13.7× before the steps freed), output unchanged', () => {
    const m = new RPSTN(rpstnPreset('tiny')).eval();
    const run = (T: number, scopes: boolean): { peak: number; outBytes: number; out: number[] } => {
      engine.moduleScopes = scopes;
      engine.rng.seed(3);
      const x = randn([1, T, 3, 128, 128]);
      const base = memory().numBytes;
      engine.resetPeakMemory();
      const out = tidy(() => noGrad(() => m.forward(x)));
      const peak = memory().peakBytes - base;
      const r = { peak, outBytes: out.size * 4, out: Array.from(out.dataSync()) };
      out.dispose();
      x.dispose();
      return r;
    };
    const [a, b] = [run(3, true), run(6, true)];
    const growth = b.peak - a.peak;
    const outGrowth = b.outBytes - a.outBytes;
    expect(growth).toBeLessThanOrEqual(2.5 * outGrowth);
    // without the scopes every step's intermediates live to the end: the same bound fails
    const [c, d] = [run(3, false), run(6, false)];
    expect(d.peak - c.peak).toBeGreaterThan(2.5 * outGrowth);
    expect(b.out).toEqual(d.out);
    m.dispose();
  });
});

describe('freeIntermediates: module code frees dead intermediates at once under noGrad, never under grad', () => {
  /** Frees its conv output as soon as the ReLU has read it, and returns the ReLU's output. */
  class FreeingBlock extends Module {
    readonly conv = this.module('conv', new Conv2d(2, 2, 3, { padding: 1 }));
    freed = -1;
    forward(x: Tensor): Tensor {
      const c = this.conv.forward(x);
      const y = relu(c);
      this.freed = freeIntermediates(c, x, null, c); // x is the caller's: never freed; c twice: once
      return y;
    }
  }

  it('under noGrad it disposes only tensors of the innermost scope (not inputs, kept tensors or tensors outside a scope)', () => {
    const x = randn([1, 2, 4, 4]);
    const m = new FreeingBlock().eval();
    const y = noGrad(() => m.forward(x));
    expect(m.freed).toBe(1);
    expect(x.isDisposed).toBe(false);
    const outside = add(x, 1);
    expect(noGrad(() => freeIntermediates(outside))).toBe(0); // no scope open
    expect(outside.isDisposed).toBe(false);
    tidy(() =>
      noGrad(() => {
        const a = add(x, 1);
        const kept = add(x, 2).keep();
        expect(freeIntermediates(a, kept, outside)).toBe(1);
        expect(a.isDisposed).toBe(true);
        expect(kept.isDisposed).toBe(false);
        kept.dispose();
      }),
    );
    engine.moduleScopes = false;
    const y2 = tidy(() => noGrad(() => m.forward(x)));
    expect(m.freed).toBe(0); // module scopes off: nothing is freed early
    expect(Array.from(y2.dataSync())).toEqual(Array.from(y.dataSync()));
    for (const t of [x, y, y2, outside]) t.dispose();
    m.dispose();
  });

  it('under grad a freed tensor that backward needs stays alive, and the gradients equal those of code that never frees', async () => {
    for (const device of devices) {
      const x = randn([1, 2, 5, 5], { device }).requiresGrad_(true);
      const m = new FreeingBlock().to(device);
      const n0 = counts(device).tensors;
      const grads = async (free: boolean): Promise<number[][]> => {
        tidy(() => {
          const c = m.conv.forward(x);
          const y = relu(c); // ReLU's backward reads c (or its own output), conv's reads x
          if (free) expect(freeIntermediates(c, y)).toBe(0);
          expect(c.isDisposed).toBe(false);
          sum(mul(y, y)).backward();
        });
        const out = await Promise.all([x, ...m.parameters()].map((p) => values(p.grad!)));
        m.zeroGrad();
        x.grad!.dispose();
        x.grad = null;
        return out;
      };
      const plain = await grads(false);
      expect(await grads(true), device).toEqual(plain);
      expect(counts(device).tensors, device).toBe(n0); // nothing leaked
      x.dispose();
      m.dispose();
    }
  });
});

describe('HRNet blocks under noGrad hold only their live set', () => {
  /** The bytes above the live ones at the start that `fn` reaches at its peak, and the output. */
  function peakOf(fn: () => Tensor): { peak: number; out: Tensor; largest: number } {
    const base = memory().numBytes;
    engine.resetPeakMemory();
    let largest = 0;
    const orig = engine.newRef;
    engine.newRef = function (this: typeof engine, device, data, bytes) {
      largest = Math.max(largest, bytes);
      return orig.call(this, device, data, bytes);
    };
    try {
      const out = tidy(() => noGrad(fn));
      return { peak: memory().peakBytes - base, out, largest };
    } finally {
      engine.newRef = orig;
    }
  }

  it('a BasicBlock: peak ≤ its output + one more [N, C, H, W] (+ BN scale vectors); without freeing it holds every output', () => {
    const block = new BasicBlock(8, 8).eval();
    const x = randn([2, 8, 12, 10]);
    const S = x.size * 4;
    const freeing = peakOf(() => block.forward(x));
    engine.moduleScopes = false; // freeIntermediates and the module scopes off: every output kept
    let keeping: ReturnType<typeof peakOf>;
    try {
      keeping = peakOf(() => block.forward(x));
    } finally {
      engine.moduleScopes = true;
    }
    expect(Array.from(freeing.out.dataSync())).toEqual(Array.from(keeping.out.dataSync()));
    // x is live before; at any moment the block adds at most two [2, 8, 12, 10] tensors
    expect(freeing.peak).toBeLessThanOrEqual(2 * S + 1024);
    expect(keeping.peak).toBeGreaterThan(4 * S); // the check can fail: all seven outputs coexist
    for (const t of [freeing.out, keeping.out, x]) t.dispose();
    block.dispose();
  });

  it('a Bottleneck with a projection: peak ≤ 3 × its output + its input-sized temporaries', () => {
    const down = new Sequential(new Conv2d(8, 32, 1, { bias: false }), new BatchNorm2d(32));
    const block = new Bottleneck(8, 8, 1, down).eval();
    const x = randn([2, 8, 12, 10]);
    const { peak, out } = peakOf(() => block.forward(x));
    const S = out.size * 4;
    // bn3's output, the projection's conv and BN outputs (PyTorch holds the same three)
    expect(peak).toBeLessThanOrEqual(3 * S + 1024);
    out.dispose();
    x.dispose();
    block.dispose();
  });

  it('a full-depth HRNet (W8): peak above weights and input ≤ 3.5 × its largest activation (about 10× before), output unchanged by the freeing', () => {
    const m = new HRNet({ width: 8, numJoints: 17 }).eval();
    const x = randn([1, 3, 64, 32]);
    const on = peakOf(() => m.forward(x));
    engine.moduleScopes = false; // nothing freed before the tidy ends
    const off = peakOf(() => m.forward(x));
    engine.moduleScopes = true;
    expect(Array.from(on.out.dataSync())).toEqual(Array.from(off.out.dataSync()));
    expect(on.peak).toBeLessThanOrEqual(3.5 * on.largest);
    expect(off.peak).toBeGreaterThan(10 * off.largest);
    for (const t of [on.out, off.out, x]) t.dispose();
    m.dispose();
  });

  it('GLPose forwardFrames (one sample: the frames are the crop batch, no copies) equals forward on the split inputs, in inference and under grad', () => {
    engine.rng.seed(3);
    const g = createGLPose('tiny');
    const cfg = g.cfg;
    const [w, h] = cfg.inputSize;
    const T = 1 + 2 * cfg.localFrames + cfg.globalCandidates;
    const frames = randn([1, T, 3, h, w]);
    const positions = [Array.from({ length: T }, (_, i) => 10 + (i === 0 ? 0 : i <= 2 ? (i % 2 ? -i : i) : 3 * i))];
    const split = (): Tensor => g.forward(glposeInputsFromFrames(frames, cfg, positions));
    g.eval();
    const a = tidy(() => noGrad(() => g.forwardFrames(frames, positions)));
    const b = tidy(() => noGrad(split));
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    g.train();
    const n0 = memory().numTensors;
    const gradsOf = (fn: () => Tensor): number[][] => {
      tidy(() => sum(mul(fn(), fn())).backward());
      const out = g.parameters().filter((p) => p.grad).map((p) => Array.from(p.grad!.dataSync()));
      g.zeroGrad();
      return out;
    };
    // training-mode BN updates running stats: compare each path against itself after a reset
    const state = new Map([...g.stateDict()].map(([k, v]) => [k, tensor(Array.from(v.dataSync()), { shape: v.shape, dtype: v.dtype }).keep()]));
    const viaFrames = gradsOf(() => g.forwardFrames(frames, positions));
    g.loadStateDict(state);
    const viaSplit = gradsOf(split);
    expect(viaFrames.length).toBeGreaterThan(0);
    expect(viaFrames).toEqual(viaSplit);
    expect(memory().numTensors).toBe(n0 + state.size);
    for (const t of [a, b, frames, ...state.values()]) t.dispose();
    g.dispose();
  });
});
