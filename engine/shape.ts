/**
 * Shape helpers: sizes, row-major strides, axis normalization and NumPy/PyTorch broadcasting.
 * Every function that can fail takes the op name so that its Error names the op.
 */
export type Shape = readonly number[];

export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major (C-contiguous) strides of `shape`, in elements. */
export function stridesOf(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

export function fmtShape(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

export function shapesEqual(a: Shape, b: Shape): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Throws `Error("<op>: expected <expected>, got <received>")`: the one error format of posegrad. */
export function fail(op: string, expected: string, received: string): never {
  throw new Error(`${op}: expected ${expected}, got ${received}`);
}

/** Maps a possibly negative axis into [0, rank). */
export function normalizeAxis(op: string, axis: number, rank: number): number {
  if (!Number.isInteger(axis) || axis < -Math.max(rank, 1) || axis >= Math.max(rank, 1)) {
    fail(op, `an integer dim in [${-Math.max(rank, 1)}, ${Math.max(rank, 1) - 1}]`, String(axis));
  }
  return axis < 0 ? axis + rank : axis;
}

/** Normalizes a list of axes (or all axes when undefined), sorted ascending, without duplicates. */
export function normalizeAxes(op: string, axes: number | readonly number[] | undefined, rank: number): number[] {
  if (axes === undefined) return Array.from({ length: rank }, (_, i) => i);
  const list = typeof axes === 'number' ? [axes] : axes;
  const out = list.map((a) => normalizeAxis(op, a, rank));
  const uniq = [...new Set(out)].sort((a, b) => a - b);
  if (uniq.length !== out.length) fail(op, 'distinct dims', `[${list.join(', ')}]`);
  return uniq;
}

/** The broadcast shape of `a` and `b` (NumPy rules, right-aligned). */
export function broadcastShapes(op: string, a: Shape, b: Shape): number[] {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const da = i < rank - a.length ? 1 : a[i - (rank - a.length)]!;
    const db = i < rank - b.length ? 1 : b[i - (rank - b.length)]!;
    if (da !== db && da !== 1 && db !== 1) {
      fail(op, `shapes that broadcast together`, `${fmtShape(a)} and ${fmtShape(b)}`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/**
 * Strides that read an input of `shape` as if it were broadcast to `outShape`:
 * broadcast dims (size 1, or missing on the left) get stride 0.
 */
export function broadcastStrides(shape: Shape, outShape: Shape): number[] {
  const rank = outShape.length;
  const own = stridesOf(shape);
  const out = new Array<number>(rank).fill(0);
  const off = rank - shape.length;
  for (let i = 0; i < shape.length; i++) out[i + off] = shape[i] === 1 ? 0 : own[i]!;
  return out;
}

/** Pairs a number or pair argument (PyTorch's `int or tuple`) into [h, w]. */
export function pair(op: string, name: string, v: number | readonly number[] | undefined, dflt: number): [number, number] {
  if (v === undefined) return [dflt, dflt];
  if (typeof v === 'number') return [v, v];
  if (v.length !== 2) fail(op, `${name} as a number or a pair`, `[${v.join(', ')}]`);
  return [v[0]!, v[1]!];
}
