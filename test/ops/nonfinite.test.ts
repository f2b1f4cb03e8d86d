/**
 * NaN and ±Infinity on every backend (test/helpers/backends.ts) against PyTorch
 * (test/reference/ops_nonfinite.py → test/fixtures/ops/nonfinite.safetensors): unary and binary
 * elementwise ops, where/maskedFill, reductions and arg-reductions, sort/topk (torch orders NaN
 * above +Infinity), softmax, matmul, conv2d, pooling, interpolate, gridSample, normalizations,
 * attention with a NaN or infinite query/key/value, losses and data movement. Every backend must
 * give torch's NaN positions, torch's infinities and its finite values (float32: atol 1e-5,
 * rtol 1e-4), unless DIFFERENCES lists the case with the reason that docs/architecture.md
 * ("NaN and Inf") gives.
 */
import { it } from 'vitest';
import * as P from '../../index.js';
import type { Tensor } from '../../index.js';
import { assertClose } from '../helpers/close.js';
import { describeEnvs, env, fromHost, type EnvName } from '../helpers/backends.js';
import { loadFixture } from '../helpers/fixtures.js';

const fx = loadFixture('ops', 'nonfinite');

type Fn = (x: Record<string, Tensor>) => Tensor | Tensor[];
const U: Record<string, (x: Tensor) => Tensor> = {
  neg: P.neg, exp: P.exp, log: P.log, sqrt: P.sqrt, rsqrt: P.rsqrt, abs: P.abs, sign: P.sign, relu: P.relu, sigmoid: P.sigmoid,
  tanh: P.tanh, erf: P.erf, gelu: (x) => P.gelu(x), geluTanh: (x) => P.gelu(x, { approximate: 'tanh' }), leakyRelu: (x) => P.leakyRelu(x, 0.1),
  elu: (x) => P.elu(x, 1), silu: P.silu, square: P.square, reciprocal: P.reciprocal, sin: P.sin, cos: P.cos, floor: P.floor, ceil: P.ceil,
  round: P.round, clamp: (x) => P.clamp(x, -0.5, 0.7), powScalar: (x) => P.pow(x, 2.5), pow0: (x) => P.pow(x, 0), pow2: (x) => P.pow(x, 2),
};
const B: Record<string, (a: Tensor, b: Tensor) => Tensor> = {
  add: P.add, sub: P.sub, mul: P.mul, div: P.div, pow: (a, b) => P.pow(P.abs(a), b), maximum: P.maximum, minimum: P.minimum,
  eq: P.eq, ne: P.ne, lt: P.lt, le: P.le, gt: P.gt, ge: P.ge,
};
const sdpa: Fn = ({ q, k, v }) => P.scaledDotProductAttention(q!, k!, v!, { scale: 0.5 });
const FNS: Record<string, Fn> = {
  ...Object.fromEntries(Object.entries(U).map(([k, f]) => [`unary/${k}`, ({ x }: Record<string, Tensor>) => f(x!)])),
  ...Object.fromEntries(Object.entries(B).map(([k, f]) => [`binary/${k}`, ({ a, b }: Record<string, Tensor>) => f(a!, b!)])),
  'binary/where': ({ cond, a, b }) => P.where(P.gt(cond!, 0), a!, b!),
  'binary/maskedFill': ({ x, m }) => P.maskedFill(x!, P.gt(m!, 0), NaN),
  'reduce/sum': ({ x }) => P.sum(x!, 1), 'reduce/mean': ({ x }) => P.mean(x!, 1), 'reduce/prod': ({ x }) => P.prod(x!, 1),
  'reduce/max': ({ x }) => P.max(x!, 1), 'reduce/min': ({ x }) => P.min(x!, 1), 'reduce/max0': ({ x }) => P.max(x!, 0), 'reduce/min0': ({ x }) => P.min(x!, 0),
  'reduce/argmax': ({ x }) => P.argmax(x!, 1), 'reduce/argmin': ({ x }) => P.argmin(x!, 1), 'reduce/argmax0': ({ x }) => P.argmax(x!, 0),
  'reduce/logSumExp': ({ x }) => P.logSumExp(x!, 1), 'reduce/var': ({ x }) => P.variance(x!, 1), 'reduce/std': ({ x }) => P.std(x!, 1),
  'reduce/cumsum': ({ x }) => P.cumsum(x!, 1), 'reduce/sumAll': ({ x }) => P.sum(x!),
  'sort/asc': ({ x }) => { const r = P.sort(x!, 1); return [r.values, r.indices]; },
  'sort/desc': ({ x }) => { const r = P.sort(x!, 1, true); return [r.values, r.indices]; },
  'sort/asc2': ({ x }) => { const r = P.sort(x!, 1); return [r.values, r.indices]; },
  'sort/dim0': ({ x }) => { const r = P.sort(x!, 0, true); return [r.values, r.indices]; },
  'topk/largest': ({ x }) => { const r = P.topk(x!, 4, 1); return [r.values, r.indices]; },
  'topk/smallest': ({ x }) => { const r = P.topk(x!, 4, 1, false); return [r.values, r.indices]; },
  'topk/largest2': ({ x }) => { const r = P.topk(x!, 2, 1); return [r.values, r.indices]; },
  'topk/smallest2': ({ x }) => { const r = P.topk(x!, 3, 1, false); return [r.values, r.indices]; },
  'softmax/dim1': ({ x }) => P.softmax(P.slice(x!, 0, 0, 3), 1), 'softmax/log': ({ x }) => P.logSoftmax(P.slice(x!, 0, 0, 3), 1),
  'softmax/dim0': ({ x }) => P.softmax(P.slice(x!, 0, 0, 3), 0),
  'matmul/nan': ({ a, b }) => P.matmul(a!, b!), 'matmul/inf': ({ a, b }) => P.matmul(a!, b!),
  'conv/conv2d': ({ x, w }) => P.conv2d(x!, w!, null, { padding: 1 }), 'conv/depthwise': ({ x, w }) => P.conv2d(x!, w!, null, { padding: 1, groups: 2 }),
  'pool/maxPool2d': ({ x }) => P.maxPool2d(x!, 2, { returnIndices: true }), 'pool/maxPool2dOverlap': ({ x }) => P.maxPool2d(x!, 3, { stride: 1, padding: 1 }),
  'pool/avgPool2d': ({ x }) => P.avgPool2d(x!, 2), 'pool/adaptiveAvgPool2d': ({ x }) => P.adaptiveAvgPool2d(x!, [2, 3]),
  'interpolate/nearest': ({ x }) => P.interpolate(x!, { scaleFactor: 2 }), 'interpolate/nearestSize': ({ x }) => P.interpolate(x!, { size: [5, 7] }),
  'interpolate/bilinear': ({ x }) => P.interpolate(x!, { scaleFactor: 2, mode: 'bilinear' }),
  'interpolate/bilinearAC': ({ x }) => P.interpolate(x!, { size: [5, 7], mode: 'bilinear', alignCorners: true }),
  'gridSample/x': ({ x, grid }) => P.gridSample(x!, grid!),
  'norm/layerNorm': ({ x }) => P.layerNorm(x!, 4), 'norm/batchNorm2d': ({ x }) => P.batchNorm2d(x!, null, null, null, null, { training: true }),
  'norm/groupNorm': ({ x }) => P.groupNorm(x!, 3),
  'attention/nanKey': sdpa, 'attention/infKey': sdpa, 'attention/negInfKey': sdpa, 'attention/nanQuery': sdpa, 'attention/nanValue': sdpa, 'attention/infValue': sdpa,
  'loss/crossEntropy': ({ x, t }) => P.crossEntropy(x!, t!, { reduction: 'none' }), 'loss/mseLoss': ({ a, b }) => P.mseLoss(a!, b!, { reduction: 'none' }),
  'shape/gather': ({ x, index }) => P.gather(x!, 1, index!), 'shape/indexSelect': ({ x, index }) => P.indexSelect(x!, 1, index!),
  'shape/moves': ({ x }) => [P.permute(x!, [1, 0]), P.flip(x!, [1]), P.pad(x!, [1, 1], NaN), P.concat([x!, x!], 0)],
};

/** Deliberate differences from torch, per case: the environments and why (docs/architecture.md). */
const DIFFERENCES: Record<string, { envs: readonly EnvName[]; why: string }> = {};

describeEnvs('NaN and Inf follow PyTorch', () => {
  for (const c of fx.cases) {
    const fn = FNS[c.name];
    it(c.name, async () => {
      if (!fn) throw new Error(`no posegrad call mapped for nonfinite case '${c.name}'`);
      const e = env();
      const diff = DIFFERENCES[c.name];
      if (diff?.envs.includes(e.name)) return;
      const made = P.tidy(() => {
        const ins: Record<string, Tensor> = {};
        for (const k of Object.keys(c.inputs)) ins[k] = fromHost(fx.get(`${c.name}/${k}`));
        const r = fn(ins);
        return Array.isArray(r) ? r : [r];
      });
      try {
        // topk: torch orders tied values (two NaNs, two infinities) arbitrarily, posegrad by index;
        // the values must match and the indices must point at them
        const tiedIndices = c.name.startsWith('topk/');
        for (let i = 0; i < made.length; i++) {
          if (tiedIndices && i === 1) {
            const x = fx.get(`${c.name}/x`);
            const idx = await made[1]!.data();
            const v = await made[0]!.data();
            const k = idx.length / x.shape[0]!;
            const picked = Array.from(idx, (j, n) => x.data[Math.floor(n / k) * x.shape[1]! + j]!);
            assertClose(picked, v, { atol: 0, rtol: 0 }, `${c.name} [${e.name}] indices`);
            continue;
          }
          const key = e.dtype === 'float64' ? `out${i || ''}` : i ? `out${i}_32` : 'out32';
          const exp = fx.get(`${c.name}/${key}`);
          const got = await made[i]!.data();
          const tol = exp.dtype === 'int32' ? { atol: 0, rtol: 0 } : e.dtype === 'float64' ? { atol: 1e-9, rtol: 1e-8 } : { atol: 1e-5, rtol: 1e-4 };
          assertClose(got, exp.data, tol, `${c.name} [${e.name}] output ${i}`);
        }
      } finally {
        for (const t of made) t.dispose();
      }
    });
  }
});
