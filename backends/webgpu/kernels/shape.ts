/**
 * Data movement on webgpu: permute, slice (steps ≥ 0), flip, pad, concat, gather, indexSelect and
 * scatterAdd.
 *
 * All but scatterAdd move 32-bit patterns (`array<u32>`), so one pipeline serves float32 and int32.
 * One invocation per output element, 256 per workgroup, on a grid folded to 2-D/3-D past 65,535
 * workgroups (runtime.ts `grid`):
 * - permute, slice and flip are one "strided gather": out[i] = x[base + Σ_d coord_d(i) · stride_d],
 *   with i32 strides (a flip has a negative stride, a step-0 slice a zero stride). Dims that stay
 *   adjacent in the source are coalesced on the host first, so a transpose of the last two dims of
 *   [B, H, L, D] runs as rank 3 and a slice of a contiguous block as rank 1.
 * - pad decodes the output coordinate and reads either the source or the pad value.
 * - concat copies each input block: with nothing before `axis` this is a plain buffer copy
 *   (copyBufferToBuffer); otherwise one dispatch per input writes its [outer, rows] block.
 * - gather and indexSelect read one index per output element.
 * Memory traffic: every kernel reads and writes each output element once (8 bytes per element,
 * plus 4 for the index in gather/indexSelect); they are bandwidth-bound.
 * Tensors above the binding limit: the strided gather and concat's block copy run over ranges of
 * output elements whose windows (of the output, and of the source span the range reads) fit one
 * binding, one dispatch per range; contiguous copies are copyBufferToBuffer (no limit). pad,
 * gather, indexSelect and scatterAdd run over ranges of output elements the same way (gather and
 * scatterAdd bind the lines of the range across the whole axis, indexSelect its [dim, inner] slabs).
 *
 * scatterAdd (zeros(outShape).scatter_add_(axis, index, src)) uses the gather formulation: each
 * output element loops over the index entries of its own line (same coordinates off `axis`) and
 * sums the src values whose index targets it. WGSL has no float atomics; a compare-and-swap loop
 * on atomic<u32> would work but serializes colliding writes and makes the summation order (and so
 * the rounding) depend on scheduling. The gather is deterministic and costs
 * out_size · index.shape[axis] reads, small for the callers (topk/sort, gather, indexSelect and
 * strided-slice backward, where that length is k or the source dim).
 */
import type { KTensor } from '../../backend.js';
import { fail, sizeOf, stridesOf } from '../../../engine/shape.js';
import { coalesce, MAX_RANK, wgslType } from './elementwise.js';
import { entry, GRID_INDEX, grid, stridedSpan, Uniforms, type GPUStorage, type Runtime } from '../runtime.js';

type GT = KTensor<GPUStorage>;
const WG = 256;

/**
 * Entry point head of the chunked kernels: \`i\` is the output element, \`p.i0\` the chunk's first,
 * \`p.n\` the chunk's element count (see \`Runtime.planRanges\`).
 */
const CHUNK_HEAD = `@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let li = ${GRID_INDEX(`${WG}u`)};
  if (li >= p.n) { return; }
  let i = p.i0 + li;`;

function checkRank(op: string, shape: readonly number[]): void {
  if (shape.length > MAX_RANK) fail(op, `at most ${MAX_RANK} dims on webgpu (after merging contiguous dims)`, `[${shape.join(', ')}]`);
}

/**
 * out[i] = x[base + Σ coord_d(i) · strides[d]] over `outShape` (strides in elements, may be ≤ 0).
 * Tensors above the binding limit: chunks of the output whose source span (`stridedSpan`) fits a
 * binding window, one dispatch each (a transpose of a huge matrix takes many small chunks).
 */
function stridedGather(rt: Runtime, op: string, x: GPUStorage, outShape: readonly number[], strides: readonly number[], base: number): GPUStorage {
  const n = sizeOf(outShape);
  const out = rt.alloc(n * 4);
  if (n === 0) return out;
  const c = coalesce(outShape, [strides]);
  checkRank(op, c.shape);
  const st = c.strides[0]!;
  if (c.shape.length === 1 && st[0] === 1) {
    rt.copy(x, base * 4, out, 0, n * 4);
    return out;
  }
  if (c.shape.length === 0) {
    rt.copy(x, base * 4, out, 0, 4);
    return out;
  }
  const u = new Uniforms().u32('n', n).i32('base', base).u32('rank', c.shape.length).u32('i0', 0).u32('xb', 0).u32('ob', 0)
    .u32s('shape', c.shape, MAX_RANK).i32s('st', st, MAX_RANK);
  const span = (i0: number, i1: number): [number, number] => stridedSpan(c.shape, st, base, i0, i1);
  for (const [i0, i1] of rt.planRanges(n, [{ s: out, span: (a, b) => [a, b] }, { s: x, span }])) {
    const xw = rt.window(x, ...span(i0, i1));
    const ow = rt.window(out, i0, i1);
    u.set('n', i1 - i0).set('i0', i0).set('xb', xw.base).set('ob', ow.base);
    rt.run({
      name: op,
      key: 'stridedGather',
      code: () => `${u.struct('P')}
@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@group(0) @binding(2) var<uniform> p: P;
${CHUNK_HEAD}
  var rem = i;
  var off = p.base;
  for (var d = i32(p.rank) - 1; d >= 0; d--) {
    let sz = p.shape[d / 4][d % 4];
    off += i32(rem % sz) * p.st[d / 4][d % 4];
    rem = rem / sz;
  }
  out[i - p.ob] = x[u32(off) - p.xb];
}`,
      bindings: [xw.binding, ow.binding],
      uniforms: u,
      workgroups: grid(rt, Math.ceil((i1 - i0) / WG)),
    });
  }
  return out;
}

export const permute = entry('permute', (rt: Runtime, x: GT, perm: readonly number[]): GPUStorage => {
  const inStrides = stridesOf(x.shape);
  return stridedGather(rt, 'permute', x.storage, perm.map((p) => x.shape[p]!), perm.map((p) => inStrides[p]!), 0);
});

export const slice = entry('slice', (rt: Runtime, x: GT, begin: readonly number[], size: readonly number[], step: readonly number[]): GPUStorage => {
  const inStrides = stridesOf(x.shape);
  let base = 0;
  for (let d = 0; d < begin.length; d++) base += begin[d]! * inStrides[d]!;
  return stridedGather(rt, 'slice', x.storage, size, inStrides.map((s, d) => s * step[d]!), base);
});

export const flip = entry('flip', (rt: Runtime, x: GT, axes: readonly number[]): GPUStorage => {
  const strides = stridesOf(x.shape);
  let base = 0;
  const st = strides.map((s, d) => {
    if (axes.includes(d) && x.shape[d]! > 1) {
      base += (x.shape[d]! - 1) * s;
      return -s;
    }
    return s;
  });
  return stridedGather(rt, 'flip', x.storage, x.shape, st, base);
});

export const pad = entry('pad', (rt: Runtime, x: GT, before: readonly number[], after: readonly number[], value: number): GPUStorage => {
  const t = wgslType(x.dtype, 'pad');
  const outShape = x.shape.map((d, i) => d + before[i]! + after[i]!);
  const n = sizeOf(outShape);
  const out = rt.alloc(n * 4);
  if (n === 0) return out;
  checkRank('pad', outShape);
  const bits = new DataView(new ArrayBuffer(4));
  if (t === 'f32') bits.setFloat32(0, value, true);
  else bits.setInt32(0, Math.trunc(value), true);
  const u = new Uniforms()
    .u32('n', n).u32('rank', outShape.length).u32('value', bits.getUint32(0, true)).u32('i0', 0).u32('xb', 0).u32('ob', 0)
    .u32s('shape', outShape, MAX_RANK).u32s('before', before, MAX_RANK).u32s('inShape', x.shape, MAX_RANK);
  // Tensors above the binding limit: ranges of output elements; the source window is the span the
  // range reads (the output range as a strided read of x, shifted by the padding, clipped to x).
  const nx = sizeOf(x.shape);
  const xst = stridesOf(x.shape);
  const shift = -before.reduce((a, b, d) => a + b * xst[d]!, 0);
  const span = (i0: number, i1: number): [number, number] => {
    const [lo, hi] = stridedSpan(outShape, xst, shift, i0, i1);
    const l = Math.min(Math.max(lo, 0), Math.max(nx - 1, 0));
    return [l, Math.max(Math.min(hi, nx), l + 1)];
  };
  for (const [i0, i1] of rt.planRanges(n, [{ s: out, span: (a, b) => [a, b] }, { s: x.storage, span }])) {
    const xw = rt.window(x.storage, ...span(i0, i1));
    const ow = rt.window(out, i0, i1);
    u.set('n', i1 - i0).set('i0', i0).set('xb', xw.base).set('ob', ow.base);
    rt.run({
      name: 'pad',
      key: 'pad',
      code: () => `${u.struct('P')}
@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@group(0) @binding(2) var<uniform> p: P;
${CHUNK_HEAD}
  var rem = i;
  var off = 0u;
  var inStride = 1u;
  var inside = true;
  for (var d = i32(p.rank) - 1; d >= 0; d--) {
    let sz = p.shape[d / 4][d % 4];
    let c = rem % sz;
    rem = rem / sz;
    let b = p.before[d / 4][d % 4];
    let isz = p.inShape[d / 4][d % 4];
    if (c < b || c >= b + isz) { inside = false; }
    off += (c - b) * inStride;
    inStride *= isz;
  }
  out[i - p.ob] = select(p.value, x[select(p.xb, off, inside) - p.xb], inside);
}`,
      bindings: [xw.binding, ow.binding],
      uniforms: u,
      workgroups: grid(rt, Math.ceil((i1 - i0) / WG)),
    });
  }
  return out;
});

export const concat = entry('concat', (rt: Runtime, xs: readonly GT[], axis: number): GPUStorage => {
  const first = xs[0]!;
  const outShape = [...first.shape];
  outShape[axis] = xs.reduce((s, t) => s + t.shape[axis]!, 0);
  const n = sizeOf(outShape);
  const out = rt.alloc(n * 4);
  if (n === 0) return out;
  const outer = sizeOf(outShape.slice(0, axis));
  const inner = sizeOf(outShape.slice(axis + 1));
  const rowOut = outShape[axis]! * inner;
  let off = 0;
  for (const t of xs) {
    const row = t.shape[axis]! * inner;
    if (row > 0 && outer > 0) {
      if (outer === 1) {
        rt.copy(t.storage, 0, out, off * 4, row * 4);
      } else {
        const m = outer * row;
        const u = new Uniforms().u32('n', m).u32('row', row).u32('rowOut', rowOut).u32('off', off).u32('i0', 0).u32('xb', 0).u32('ob', 0);
        const at = (i: number): number => Math.floor(i / row) * rowOut + off + (i % row);
        const outSpan = (i0: number, i1: number): [number, number] => [at(i0), at(i1 - 1) + 1];
        for (const [i0, i1] of rt.planRanges(m, [{ s: t.storage, span: (a, b) => [a, b] }, { s: out, span: outSpan }])) {
          const xw = rt.window(t.storage, i0, i1);
          const ow = rt.window(out, ...outSpan(i0, i1));
          u.set('n', i1 - i0).set('i0', i0).set('xb', xw.base).set('ob', ow.base);
          rt.run({
            name: 'concat',
            key: 'concatBlock',
            code: () => `${u.struct('P')}
@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@group(0) @binding(2) var<uniform> p: P;
${CHUNK_HEAD}
  let o = i / p.row;
  out[o * p.rowOut + p.off + (i - o * p.row) - p.ob] = x[i - p.xb];
}`,
            bindings: [xw.binding, ow.binding],
            uniforms: u,
            workgroups: grid(rt, Math.ceil((i1 - i0) / WG)),
          });
        }
      }
    }
    off += row;
  }
  return out;
});

/** torch.gather along `axis`: the output has the index's shape. */
export const gather = entry('gather', (rt: Runtime, x: GT, index: GT, axis: number): GPUStorage => {
  const n = sizeOf(index.shape);
  const out = rt.alloc(n * 4);
  if (n === 0) return out;
  checkRank('gather', index.shape);
  const xst = stridesOf(x.shape);
  const u = new Uniforms().u32('n', n).u32('rank', index.shape.length).u32('axis', axis).u32('i0', 0).u32('xb', 0).u32('ib', 0).u32('ob', 0)
    .u32s('ishape', index.shape, MAX_RANK).u32s('xstride', xst, MAX_RANK);
  // Tensors above the binding limit: ranges of output (and index) elements; the source window spans
  // the range's coordinates off the axis and the whole axis (the indices are not known here).
  const offAxis = xst.map((v, d) => (d === axis ? 0 : v));
  const xSpan = (i0: number, i1: number): [number, number] => {
    const [lo, hi] = stridedSpan(index.shape, offAxis, 0, i0, i1);
    return [lo, hi + (x.shape[axis]! - 1) * xst[axis]!];
  };
  const same = (a: number, b: number): [number, number] => [a, b];
  for (const [i0, i1] of rt.planRanges(n, [{ s: out, span: same }, { s: index.storage, span: same }, { s: x.storage, span: xSpan }])) {
    const xw = rt.window(x.storage, ...xSpan(i0, i1));
    const iw = rt.window(index.storage, i0, i1);
    const ow = rt.window(out, i0, i1);
    u.set('n', i1 - i0).set('i0', i0).set('xb', xw.base).set('ib', iw.base).set('ob', ow.base);
    rt.run({
      name: 'gather',
      key: 'gather',
      code: () => `${u.struct('P')}
@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read> index: array<i32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;
@group(0) @binding(3) var<uniform> p: P;
${CHUNK_HEAD}
  var rem = i;
  var off = 0u;
  for (var d = i32(p.rank) - 1; d >= 0; d--) {
    let sz = p.ishape[d / 4][d % 4];
    var c = rem % sz;
    rem = rem / sz;
    if (u32(d) == p.axis) { c = u32(index[i - p.ib]); }
    off += c * p.xstride[d / 4][d % 4];
  }
  out[i - p.ob] = x[off - p.xb];
}`,
      bindings: [xw.binding, iw.binding, ow.binding],
      uniforms: u,
      workgroups: grid(rt, Math.ceil((i1 - i0) / WG)),
    });
  }
  return out;
});

export const indexSelect = entry('indexSelect', (rt: Runtime, x: GT, axis: number, index: GT): GPUStorage => {
  const k = sizeOf(index.shape);
  const outer = sizeOf(x.shape.slice(0, axis));
  const inner = sizeOf(x.shape.slice(axis + 1));
  const dim = x.shape[axis]!;
  const n = outer * k * inner;
  const out = rt.alloc(n * 4);
  if (n === 0) return out;
  const u = new Uniforms().u32('n', n).u32('k', k).u32('inner', inner).u32('dim', dim).u32('i0', 0).u32('xb', 0).u32('ob', 0);
  // Tensors above the binding limit: ranges of output elements; the source window spans the
  // [dim, inner] slabs of the outer indices the range covers (the index is bound whole).
  const xSpan = (i0: number, i1: number): [number, number] => [Math.floor(i0 / (k * inner)) * dim * inner, (Math.floor((i1 - 1) / (k * inner)) + 1) * dim * inner];
  for (const [i0, i1] of rt.planRanges(n, [{ s: out, span: (a, b) => [a, b] }, { s: x.storage, span: xSpan }])) {
    const xw = rt.window(x.storage, ...xSpan(i0, i1));
    const ow = rt.window(out, i0, i1);
    u.set('n', i1 - i0).set('i0', i0).set('xb', xw.base).set('ob', ow.base);
    rt.run({
      name: 'indexSelect',
      key: 'indexSelect',
      code: () => `${u.struct('P')}
@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read> index: array<i32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;
@group(0) @binding(3) var<uniform> p: P;
${CHUNK_HEAD}
  let r = i % p.inner;
  let oj = i / p.inner;
  let j = oj % p.k;
  let o = oj / p.k;
  out[i - p.ob] = x[(o * p.dim + u32(index[j])) * p.inner + r - p.xb];
}`,
      bindings: [xw.binding, index.storage, ow.binding],
      uniforms: u,
      workgroups: grid(rt, Math.ceil((i1 - i0) / WG)),
    });
  }
  return out;
});

/** zeros(outShape).scatter_add_(axis, index, src), as a deterministic gather (see the header). */
export const scatterAdd = entry('scatterAdd', (rt: Runtime, outShape: readonly number[], index: GT, src: GT, axis: number): GPUStorage => {
  const t = wgslType(src.dtype, 'scatterAdd');
  const n = sizeOf(outShape);
  const out = rt.alloc(n * 4);
  if (n === 0) return out;
  checkRank('scatterAdd', outShape);
  const len = index.shape[axis]!;
  const ist = stridesOf(index.shape);
  const u = new Uniforms().u32('n', n).u32('rank', outShape.length).u32('axis', axis).u32('len', len).u32('i0', 0).u32('sb', 0).u32('ob', 0)
    .u32s('oshape', outShape, MAX_RANK).u32s('ishape', index.shape, MAX_RANK).u32s('istride', ist, MAX_RANK);
  // Tensors above the binding limit: ranges of output elements; index and src (same shape) are
  // bound as the window of the lines the range reads (its coordinates off the axis, the whole axis).
  const ni = sizeOf(index.shape);
  const offAxis = ist.map((v, d) => (d === axis ? 0 : v));
  const lines = (i0: number, i1: number): [number, number] => {
    const [lo, hi] = stridedSpan(outShape, offAxis, 0, i0, i1);
    const l = Math.min(lo, Math.max(ni - 1, 0));
    return [l, Math.max(Math.min(hi + (len - 1) * ist[axis]!, ni), l + 1)];
  };
  for (const [i0, i1] of rt.planRanges(n, [{ s: out, span: (a, b) => [a, b] }, { s: index.storage, span: lines }, { s: src.storage, span: lines }])) {
    const [lo, hi] = lines(i0, i1);
    const iw = rt.window(index.storage, lo, hi);
    const sw = rt.window(src.storage, lo, hi);
    const ow = rt.window(out, i0, i1);
    if (iw.base !== sw.base) throw new Error(`scatterAdd: internal: expected the index and src windows at one offset, got ${iw.base} and ${sw.base}`);
    u.set('n', i1 - i0).set('i0', i0).set('sb', iw.base).set('ob', ow.base);
    rt.run({
      name: 'scatterAdd',
      key: `scatterAdd:${t}`,
      code: () => `${u.struct('P')}
@group(0) @binding(0) var<storage, read> index: array<i32>;
@group(0) @binding(1) var<storage, read> src: array<${t}>;
@group(0) @binding(2) var<storage, read_write> out: array<${t}>;
@group(0) @binding(3) var<uniform> p: P;
${CHUNK_HEAD}
  // Coordinates of this output element; the line of index entries that may target it starts at
  // 'base' (same coordinates off the axis, 0 on it) and steps by the index stride along the axis.
  var rem = i;
  var base = 0u;
  var tgt = 0;
  var acc: ${t} = 0;
  for (var d = i32(p.rank) - 1; d >= 0; d--) {
    let sz = p.oshape[d / 4][d % 4];
    let c = rem % sz;
    rem = rem / sz;
    if (u32(d) == p.axis) {
      tgt = i32(c);
    } else {
      if (c >= p.ishape[d / 4][d % 4]) { out[i - p.ob] = acc; return; }
      base += c * p.istride[d / 4][d % 4];
    }
  }
  let step = p.istride[p.axis / 4][p.axis % 4];
  for (var j = 0u; j < p.len; j++) {
    let q = base + j * step - p.sb;
    if (index[q] == tgt) { acc += src[q]; }
  }
  out[i - p.ob] = acc;
}`,
      bindings: [iw.binding, sw.binding, ow.binding],
      uniforms: u,
      workgroups: grid(rt, Math.ceil((i1 - i0) / WG)),
    });
  }
  return out;
});
