/**
 * Shape and indexing ops: reshape (a view sharing storage), permute/transpose (copies: tensors are
 * always contiguous), slice, concat, stack, split, chunk, expand, repeat, pad, flip, gather,
 * indexSelect, topk and sort. All follow PyTorch's semantics and argument names.
 */
import { fmtShape, normalizeAxis, sizeOf, shapesEqual, stridesOf } from '../engine/shape.js';
import { Tensor } from '../engine/tensor.js';
import { checkIndices } from './internal/indices.js';
import { backendOf, check, fail, kt, record, requireInt, sameDeviceDtype, wrap } from './util.js';

/**
 * A view of x with a new shape and the same elements (torch.reshape). One dim may be -1.
 * Shares storage with x. @throws Error when the element counts differ.
 */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  check('reshape', 'input', x);
  return viewOf(x, resolveShape('reshape', x, shape), 'reshape');
}

function viewOf(x: Tensor, shape: readonly number[], op: string): Tensor {
  const t = new Tensor(x.shareRef(op), shape, x.dtype);
  return record(op, t, [x], (g) => [reshape(g, x.shape)]);
}

function resolveShape(op: string, x: Tensor, shape: readonly number[]): number[] {
  if (!Array.isArray(shape)) fail(op, 'a shape array', String(shape));
  const out = [...shape];
  const infer = out.indexOf(-1);
  if (out.some((d, i) => !Number.isInteger(d) || d < -1 || (d === -1 && i !== infer))) fail(op, 'non-negative dims with at most one -1', fmtShape(shape));
  if (infer >= 0) {
    const known = sizeOf(out.filter((d) => d !== -1));
    if (known === 0 || x.size % known !== 0) fail(op, `a shape compatible with ${x.size} elements`, fmtShape(shape));
    out[infer] = x.size / known;
  }
  if (sizeOf(out) !== x.size) fail(op, `a shape with ${x.size} elements (input ${fmtShape(x.shape)})`, `${fmtShape(shape)} (${sizeOf(out)} elements)`);
  return out;
}

/** Alias of reshape (torch.Tensor.view). */
export const view = reshape;

/** Flattens dims startDim..endDim into one (torch.flatten). */
export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  check('flatten', 'input', x);
  if (x.rank === 0) return reshape(x, [1]);
  const s = normalizeAxis('flatten', startDim, x.rank);
  const e = normalizeAxis('flatten', endDim, x.rank);
  if (e < s) fail('flatten', 'startDim ≤ endDim', `${startDim} > ${endDim}`);
  return reshape(x, [...x.shape.slice(0, s), sizeOf(x.shape.slice(s, e + 1)), ...x.shape.slice(e + 1)]);
}

/** Removes size-1 dims (all, or only `dim`) (torch.squeeze). */
export function squeeze(x: Tensor, dim?: number): Tensor {
  check('squeeze', 'input', x);
  if (dim === undefined) return reshape(x, x.shape.filter((d) => d !== 1));
  const a = normalizeAxis('squeeze', dim, x.rank);
  if (x.shape[a] !== 1) return reshape(x, x.shape);
  return reshape(x, x.shape.filter((_, i) => i !== a));
}

/** Inserts a size-1 dim at `dim` (torch.unsqueeze). */
export function unsqueeze(x: Tensor, dim: number): Tensor {
  check('unsqueeze', 'input', x);
  const a = normalizeAxis('unsqueeze', dim, x.rank + 1);
  const s = [...x.shape];
  s.splice(a, 0, 1);
  return reshape(x, s);
}

/** Reorders dims: output dim d is input dim perm[d] (torch.permute). Copies. */
export function permute(x: Tensor, perm: readonly number[]): Tensor {
  check('permute', 'input', x);
  if (!Array.isArray(perm) || perm.length !== x.rank) fail('permute', `a permutation of ${x.rank} dims`, `[${perm}]`);
  const p = perm.map((d) => normalizeAxis('permute', d, x.rank));
  if (new Set(p).size !== p.length) fail('permute', 'each dim once', `[${perm}]`);
  if (p.every((d, i) => d === i)) return reshape(x, x.shape);
  const shape = p.map((d) => x.shape[d]!);
  const out = wrap(x.device, backendOf(x).permute(kt('permute', x), p), shape, x.dtype);
  const inv = new Array<number>(p.length);
  p.forEach((d, i) => (inv[d] = i));
  return record('permute', out, [x], (g) => [permute(g, inv)]);
}

/** Swaps two dims (torch.transpose). */
export function transpose(x: Tensor, dim0: number, dim1: number): Tensor {
  check('transpose', 'input', x);
  const a = normalizeAxis('transpose', dim0, x.rank);
  const b = normalizeAxis('transpose', dim1, x.rank);
  const p = x.shape.map((_, i) => i);
  p[a] = b;
  p[b] = a;
  return permute(x, p);
}

function rawSlice(x: Tensor, begin: number[], size: number[], step: number[]): Tensor {
  return wrap(x.device, backendOf(x).slice(kt('slice', x), begin, size, step), size, x.dtype);
}

/**
 * x[..., start:end:step, ...] along `dim` (torch.Tensor slicing, as torch.narrow plus a step), with Python's rules: negative indices count from the
 * end and out-of-range bounds are clamped. `step` ≥ 1.
 */
export function slice(x: Tensor, dim: number, start = 0, end: number | null = null, step = 1): Tensor {
  check('slice', 'input', x);
  const a = normalizeAxis('slice', dim, x.rank);
  requireInt('slice', 'step', step, 1);
  const n = x.shape[a]!;
  const norm = (v: number): number => Math.min(Math.max(v < 0 ? v + n : v, 0), n);
  const s = norm(requireInt('slice', 'start', start));
  const e = end === null ? n : norm(requireInt('slice', 'end', end));
  const len = Math.max(0, Math.ceil((e - s) / step));
  const begin = x.shape.map(() => 0);
  begin[a] = s;
  const size = [...x.shape];
  size[a] = len;
  const steps = x.shape.map(() => 1);
  steps[a] = step;
  const out = rawSlice(x, begin, size, steps);
  return record('slice', out, [x], (g) => {
    if (step === 1) {
      const before = x.shape.map(() => 0);
      const after = x.shape.map(() => 0);
      before[a] = s;
      after[a] = n - s - len;
      return [wrap(g.device, backendOf(g).pad(kt('slice', g), before, after, 0), x.shape, g.dtype)];
    }
    // Strided: scatter the gradient back to positions s, s+step, ...
    const idx = new Int32Array(g.size);
    const gs = stridesOf(g.shape);
    for (let i = 0; i < idx.length; i++) idx[i] = s + (Math.floor(i / gs[a]!) % len) * step;
    const index = wrap(g.device, backendOf(g).upload(idx, 'int32'), g.shape, 'int32');
    return [wrap(g.device, backendOf(g).scatterAdd(x.shape, kt('slice', index), kt('slice', g), a), x.shape, g.dtype)];
  });
}

/** `length` elements of `dim` from `start` (torch.narrow). */
export function narrow(x: Tensor, dim: number, start: number, length: number): Tensor {
  return slice(x, dim, start, start + length);
}

/** Concatenates along `dim` (torch.cat); all other dims must match. */
export function concat(tensors: readonly Tensor[], dim = 0): Tensor {
  if (!isList(tensors) || tensors.length === 0) fail('concat', 'a non-empty list of tensors', String(tensors));
  tensors.forEach((t, i) => check('concat', `tensors[${i}]`, t));
  sameDeviceDtype('concat', ...tensors);
  const first = tensors[0]!;
  const a = normalizeAxis('concat', dim, first.rank);
  for (const t of tensors) {
    if (t.rank !== first.rank || t.shape.some((d, i) => i !== a && d !== first.shape[i])) {
      fail('concat', `shapes matching ${fmtShape(first.shape)} except in dim ${a}`, fmtShape(t.shape));
    }
  }
  const shape = [...first.shape];
  shape[a] = tensors.reduce((s, t) => s + t.shape[a]!, 0);
  const out = wrap(first.device, backendOf(first).concat(tensors.map((t) => kt('concat', t)), a), shape, first.dtype);
  return record('concat', out, tensors, (g) => {
    let off = 0;
    return tensors.map((t) => {
      const len = t.shape[a]!;
      const piece = t.requiresGrad ? slice(g, a, off, off + len) : null;
      off += len;
      return piece;
    });
  });
}

/** Alias of concat (torch.cat). */
export const cat = concat;

/** Stacks equally shaped tensors along a new dim (torch.stack). */
export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  if (!isList(tensors) || tensors.length === 0) fail('stack', 'a non-empty list of tensors', String(tensors));
  const first = check('stack', 'tensors[0]', tensors[0]);
  tensors.forEach((t, i) => {
    check('stack', `tensors[${i}]`, t);
    if (!shapesEqual(t.shape, first.shape)) fail('stack', `tensors of one shape ${fmtShape(first.shape)}`, fmtShape(t.shape));
  });
  const a = normalizeAxis('stack', dim, first.rank + 1);
  return concat(tensors.map((t) => unsqueeze(t, a)), a);
}

/**
 * Splits along `dim` (torch.split): a number gives chunks of that size (the last may be smaller),
 * a list gives the sizes, which must sum to the dim.
 */
export function split(x: Tensor, splitSizeOrSections: number | readonly number[], dim = 0): Tensor[] {
  check('split', 'input', x);
  const a = normalizeAxis('split', dim, x.rank);
  const n = x.shape[a]!;
  let sizes: number[];
  if (typeof splitSizeOrSections === 'number') {
    requireInt('split', 'split size', splitSizeOrSections, 1);
    sizes = [];
    for (let s = 0; s < n; s += splitSizeOrSections) sizes.push(Math.min(splitSizeOrSections, n - s));
  } else {
    sizes = [...splitSizeOrSections];
    if (sizes.reduce((p, q) => p + q, 0) !== n) fail('split', `sections summing to ${n} (dim ${a} of ${fmtShape(x.shape)})`, `[${sizes}]`);
  }
  let off = 0;
  return sizes.map((s) => {
    const t = slice(x, a, off, off + s);
    off += s;
    return t;
  });
}

/** Splits into `chunks` nearly equal pieces along `dim` (torch.chunk). */
export function chunk(x: Tensor, chunks: number, dim = 0): Tensor[] {
  check('chunk', 'input', x);
  requireInt('chunk', 'chunks', chunks, 1);
  const a = normalizeAxis('chunk', dim, x.rank);
  return split(x, Math.ceil(x.shape[a]! / chunks), a);
}

/**
 * Broadcasts x to `shape` (torch.Tensor.expand): -1 keeps a dim; only size-1 dims (or new leading
 * dims) can grow. The result is materialized (tensors are contiguous).
 */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  check('expand', 'input', x);
  if (shape.length < x.rank) fail('expand', `at least ${x.rank} dims`, fmtShape(shape));
  const lead = shape.length - x.rank;
  const target = shape.map((d, i) => (d === -1 ? (i < lead ? fail('expand', 'no -1 in new leading dims', fmtShape(shape)) : x.shape[i - lead]!) : d));
  for (let i = 0; i < x.rank; i++) {
    const d = x.shape[i]!;
    if (d !== 1 && d !== target[i + lead]) fail('expand', `a shape that ${fmtShape(x.shape)} broadcasts to`, fmtShape(shape));
  }
  if (shapesEqual(target, x.shape)) return reshape(x, x.shape);
  const src = [...new Array<number>(lead).fill(1), ...x.shape];
  const steps = src.map((d, i) => (d === 1 && target[i] !== 1 ? 0 : 1));
  const be = backendOf(x);
  const out = wrap(x.device, be.slice({ storage: x.storage('expand'), shape: src, dtype: x.dtype }, src.map(() => 0), target, steps), target, x.dtype);
  return record('expand', out, [x], (g) => {
    const axes: number[] = [];
    for (let i = 0; i < target.length; i++) if (i < lead || (x.shape[i - lead] === 1 && target[i] !== 1)) axes.push(i);
    return [sumAxes(g, axes, x.shape)];
  });
}

function sumAxes(g: Tensor, axes: readonly number[], shape: readonly number[]): Tensor {
  // Sum over `axes` one contiguous run at a time (kernels reduce [outer, size, inner]).
  const be = backendOf(g);
  let cur = g;
  let curShape = [...g.shape];
  for (let k = axes.length - 1; k >= 0; k--) {
    const a = axes[k]!;
    const outer = sizeOf(curShape.slice(0, a));
    const inner = sizeOf(curShape.slice(a + 1));
    const next = wrap(g.device, be.reduce('sum', kt('expand', cur), outer, curShape[a]!, inner), [...curShape.slice(0, a), 1, ...curShape.slice(a + 1)], g.dtype);
    if (cur !== g) cur.dispose();
    cur = next;
    curShape = [...cur.shape];
  }
  return reshape(cur, shape);
}

/** Tiles x `repeats` times per dim (torch.Tensor.repeat). */
export function repeat(x: Tensor, repeats: readonly number[]): Tensor {
  check('repeat', 'input', x);
  if (repeats.length < x.rank) fail('repeat', `at least ${x.rank} repeat counts`, `[${repeats}]`);
  const lead = repeats.length - x.rank;
  const src = [...new Array<number>(lead).fill(1), ...x.shape];
  const inter: number[] = [];
  const big: number[] = [];
  src.forEach((d, i) => {
    inter.push(1, d);
    big.push(repeats[i]!, d);
  });
  return reshape(expand(reshape(x, inter), big), src.map((d, i) => d * repeats[i]!));
}

/**
 * Pads with a constant, as torch.nn.functional.pad: `pad` lists (before, after) pairs starting from
 * the last dim, e.g. [left, right, top, bottom]. Negative amounts crop.
 */
export function pad(x: Tensor, padding: readonly number[], value = 0): Tensor {
  check('pad', 'input', x);
  if (padding.length % 2 !== 0 || padding.length / 2 > x.rank) fail('pad', `an even number of pad sizes, at most ${2 * x.rank}`, `[${padding}]`);
  const before = x.shape.map(() => 0);
  const after = x.shape.map(() => 0);
  for (let i = 0; i < padding.length / 2; i++) {
    const d = x.rank - 1 - i;
    before[d] = requireInt('pad', 'pad size', padding[2 * i]);
    after[d] = requireInt('pad', 'pad size', padding[2 * i + 1]);
  }
  // Crop first (negative pads), then pad.
  let cur = x;
  for (let d = 0; d < x.rank; d++) {
    if (before[d]! < 0 || after[d]! < 0) {
      const s = Math.max(0, -before[d]!);
      const e = cur.shape[d]! - Math.max(0, -after[d]!);
      if (e < s) fail('pad', `crops that leave dim ${d} non-negative`, `[${padding}]`);
      cur = slice(cur, d, s, e);
    }
  }
  const b = before.map((v) => Math.max(0, v));
  const a = after.map((v) => Math.max(0, v));
  if (b.every((v) => v === 0) && a.every((v) => v === 0)) return cur === x ? reshape(x, x.shape) : cur;
  const src = cur;
  const shape = src.shape.map((d, i) => d + b[i]! + a[i]!);
  const out = wrap(src.device, backendOf(src).pad(kt('pad', src), b, a, value), shape, src.dtype);
  return record('pad', out, [src], (g) => [rawSlice(g, b, [...src.shape], src.shape.map(() => 1))]);
}

/** Reverses the order of elements along `dims` (torch.flip). */
export function flip(x: Tensor, dims: number | readonly number[]): Tensor {
  check('flip', 'input', x);
  const list = (typeof dims === 'number' ? [dims] : dims).map((d) => normalizeAxis('flip', d, x.rank));
  const out = wrap(x.device, backendOf(x).flip(kt('flip', x), list), x.shape, x.dtype);
  return record('flip', out, [x], (g) => [flip(g, list)]);
}

/**
 * torch.gather(input, dim, index): out[i][j] = input[index[i][j]][j] for dim 0, etc. `index` is int32
 * with the input's rank and no dim larger than the input's (except along `dim`).
 * @throws Error when index is not int32, has another rank, or holds out-of-range values.
 */
export function gather(x: Tensor, dim: number, index: Tensor): Tensor {
  check('gather', 'input', x);
  check('gather', 'index', index);
  if (index.dtype !== 'int32') fail('gather', 'an int32 index', index.dtype);
  if (index.rank !== x.rank) fail('gather', `an index of rank ${x.rank}`, `shape ${fmtShape(index.shape)}`);
  if (index.device !== x.device) fail('gather', `index on ${x.device}`, index.device);
  const a = normalizeAxis('gather', dim, x.rank);
  for (let i = 0; i < x.rank; i++) if (i !== a && index.shape[i]! > x.shape[i]!) fail('gather', `index dim ${i} ≤ ${x.shape[i]}`, fmtShape(index.shape));
  checkIndexRange('gather', index, x.shape[a]!);
  const out = wrap(x.device, backendOf(x).gather(kt('gather', x), kt('gather', index), a), index.shape, x.dtype);
  return record('gather', out, [x], (g) => [wrap(g.device, backendOf(g).scatterAdd(x.shape, kt('gather', index), kt('gather', g), a), x.shape, g.dtype)]);
}

function checkIndexRange(op: string, index: Tensor, n: number): void {
  checkIndices(op, `indices in [0, ${n - 1}]`, index, n);
}

/** torch.index_select(input, dim, index) with a 1-D int32 index. */
export function indexSelect(x: Tensor, dim: number, index: Tensor): Tensor {
  check('indexSelect', 'input', x);
  check('indexSelect', 'index', index);
  if (index.dtype !== 'int32') fail('indexSelect', 'an int32 index', index.dtype);
  if (index.rank !== 1) fail('indexSelect', 'a 1-D index', `shape ${fmtShape(index.shape)}`);
  if (index.device !== x.device) fail('indexSelect', `index on ${x.device}`, index.device);
  const a = normalizeAxis('indexSelect', dim, x.rank);
  checkIndexRange('indexSelect', index, x.shape[a]!);
  const shape = [...x.shape];
  shape[a] = index.shape[0]!;
  const out = wrap(x.device, backendOf(x).indexSelect(kt('indexSelect', x), a, kt('indexSelect', index)), shape, x.dtype);
  return record('indexSelect', out, [x], (g) => {
    const viewShape = g.shape.map((_, i) => (i === a ? g.shape[a]! : 1));
    const full = expand(reshape(index, viewShape), g.shape);
    return [wrap(g.device, backendOf(g).scatterAdd(x.shape, kt('indexSelect', full), kt('indexSelect', g), a), x.shape, g.dtype)];
  });
}

/**
 * The k largest (or smallest) elements along `dim` (torch.topk), sorted. Returns values (with
 * gradient) and int32 indices. Ties keep the lower index first.
 */
export function topk(x: Tensor, k: number, dim = -1, largest = true): { values: Tensor; indices: Tensor } {
  check('topk', 'input', x);
  const a = normalizeAxis('topk', dim, Math.max(x.rank, 1));
  const n = x.rank === 0 ? 1 : x.shape[a]!;
  requireInt('topk', 'k', k, 0);
  if (k > n) fail('topk', `k ≤ ${n} (size of dim ${a})`, String(k));
  const last = x.rank === 0 ? 0 : x.rank - 1;
  const perm = x.shape.map((_, i) => i).filter((i) => i !== a);
  perm.push(a);
  const moved = a === last ? x : permute(x, perm);
  const be = backendOf(x);
  const outer = sizeOf(moved.shape.slice(0, -1));
  const res = be.topk(kt('topk', moved), outer, n, k, largest);
  const outShapeMoved = [...moved.shape.slice(0, -1), k];
  const rawIndices = wrap(x.device, res.indices, outShapeMoved, 'int32');
  let values = wrap(x.device, res.values, outShapeMoved, x.dtype);
  let indices = rawIndices;
  values = record('topk', values, [moved], (g) => [wrap(g.device, be.scatterAdd(moved.shape, kt('topk', rawIndices), kt('topk', g), moved.rank - 1), moved.shape, g.dtype)]);
  if (a !== last) {
    const inv = new Array<number>(perm.length);
    perm.forEach((d, i) => (inv[d] = i));
    values = permute(values, inv);
    indices = permute(indices, inv);
  }
  return { values, indices };
}

/** Sorts along `dim` (torch.sort); returns values (with gradient) and int32 indices. */
export function sort(x: Tensor, dim = -1, descending = false): { values: Tensor; indices: Tensor } {
  check('sort', 'input', x);
  const a = normalizeAxis('sort', dim, Math.max(x.rank, 1));
  return topk(x, x.rank === 0 ? 1 : x.shape[a]!, a, descending);
}

/** Array.isArray without type narrowing (which mangles readonly tuple types). */
function isList(v: unknown): boolean {
  return Array.isArray(v);
}
