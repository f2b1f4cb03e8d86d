/**
 * Tracing for ONNX export: a Backend that wraps the real one and, while it computes every kernel
 * as usual, writes the ONNX nodes that compute the same thing into a graph (TraceGraph).
 *
 * Why the kernel layer: every public op ends in calls of the Backend interface
 * (backends/backend.ts), which carries the whole op (the conv's stride and padding, the slice's
 * begin and step, the resize's ratios), and which every backend implements in full, so a kernel
 * the tracer does not map is a compile error here, never a silently dropped op. Views (reshape,
 * view, detach) never reach a kernel: a kernel input whose shape differs from the shape its
 * storage was produced with gets a Reshape node. Storages that the forward did not produce are
 * constants: parameters and buffers (named by the module's state-dict keys), host arrays the
 * forward uploads (index lists, weights), scalar operands, and tensors the module holds.
 *
 * Shape vectors (Reshape targets, Slice bounds, Expand shapes, ...) are initializers marked as
 * slots, with what they are for, so that export.ts can compare two traces at two batch sizes and
 * turn the slots that depend on the batch into computed shapes (a dynamic batch axis).
 */
import { convOutLength, convPads, type Backend, type BackendMemoryInfo, type Conv2dParams, type DeformConv2dParams, type GridSampleParams, type InterpolateParams, type KTensor, type MatmulParams, type Pool2dParams, type AttentionParams } from '../../../backends/backend.js';
import type { BinaryOp, ReduceOp, UnaryOp } from '../../../backends/spec.js';
import type { DType, TypedArray } from '../../../engine/dtype.js';
import { toTypedArray } from '../../../engine/dtype.js';
import { sizeOf } from '../../../engine/shape.js';
import type { AttrValue } from './proto.js';

export type InitData = Float32Array | Float64Array | Int32Array | BigInt64Array;

/** What a shape-vector initializer is for (how export.ts may make it dynamic). */
export interface Slot {
  kind: 'reshape' | 'expand' | 'starts' | 'ends' | 'generic';
  /** reshape: the input's shape; ends: the sliced dims' sizes (to recognize "to the end"). */
  ctx?: number[];
}

export interface TInit {
  name: string;
  shape: number[];
  data: InitData;
  /** Set for shape vectors (int64, 1-D). */
  slot?: Slot;
  /** What made it, for error messages: 'parameter fpn.conv.weight', 'a host array the forward uploaded', ... */
  origin: string;
}

export interface TNode {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, AttrValue>;
  /** The posegrad kernel it came from. */
  kernel: string;
}

export interface TValueInfo {
  name: string;
  shape: number[];
  dtype: DType;
}

/** A graph being built by one trace. */
export class TraceGraph {
  readonly nodes: TNode[] = [];
  readonly inits = new Map<string, TInit>();
  readonly inputs: TValueInfo[] = [];
  readonly outputs: TValueInfo[] = [];
  private counters = new Map<string, number>();
  private scalars = new Map<string, string>();
  /** The kernel being lowered (for node provenance). */
  kernel = '';

  constructor(readonly opset: number) {}

  /** A fresh name `${prefix}${n}`. */
  fresh(prefix: string): string {
    for (;;) {
      const n = this.counters.get(prefix) ?? 0;
      this.counters.set(prefix, n + 1);
      const name = `${prefix}${n}`;
      if (!this.inits.has(name)) return name;
    }
  }

  /** Adds a node; returns its output names (fresh unless given). */
  node(op: string, inputs: readonly string[], attrs: Record<string, AttrValue> = {}, outputs: number | readonly string[] = 1): string[] {
    const outs = typeof outputs === 'number' ? Array.from({ length: outputs }, () => this.fresh(`${op}_out`)) : [...outputs];
    this.nodes.push({ op, inputs: [...inputs], outputs: outs, attrs, kernel: this.kernel });
    return outs;
  }

  /** One output of a new node. */
  op(op: string, inputs: readonly string[], attrs: Record<string, AttrValue> = {}): string {
    return this.node(op, inputs, attrs, 1)[0]!;
  }

  init(name: string, shape: readonly number[], data: InitData, origin: string, slot?: Slot): string {
    if (this.inits.has(name)) throw new Error(`exportOnnx: internal error: initializer '${name}' defined twice`);
    this.inits.set(name, { name, shape: [...shape], data, origin, slot });
    return name;
  }

  /** A 1-D int64 shape vector (a slot that may become dynamic). */
  shapeVec(values: readonly number[], slot: Slot = { kind: 'generic' }): string {
    return this.init(this.fresh('shape'), [values.length], BigInt64Array.from(values.map((v) => BigInt(v))), 'a shape vector', slot);
  }

  /** A 1-D int64 constant that never depends on the batch (axes, K). */
  ints(values: readonly number[]): string {
    const key = `i64:${values.join(',')}`;
    let name = this.scalars.get(key);
    if (!name) {
      name = this.init(this.fresh('ints'), [values.length], BigInt64Array.from(values.map((v) => BigInt(v))), 'an index constant');
      this.scalars.set(key, name);
    }
    return name;
  }

  /** A scalar constant of `dtype` (shared by every use of the same value). */
  scalar(value: number, dtype: DType, shape: readonly number[] = []): string {
    const key = `${dtype}:${Object.is(value, -0) ? '-0' : String(value)}:${shape.join(',')}`;
    let name = this.scalars.get(key);
    if (!name) {
      name = this.init(this.fresh('scalar'), shape, arrayOf(dtype, [value]), 'a scalar constant');
      this.scalars.set(key, name);
    }
    return name;
  }
}

function arrayOf(dtype: DType, values: ArrayLike<number>): Float32Array | Float64Array | Int32Array {
  return toTypedArray(values, dtype);
}

/** ONNX TensorProto.DataType of a posegrad dtype. */
export function onnxElemType(dtype: DType): number {
  return dtype === 'float32' ? 1 : dtype === 'float64' ? 11 : 6;
}

/** Host transpose of row-major `data` of `shape` by `perm`. */
export function permuteData<T extends TypedArray>(data: T, shape: readonly number[], perm: readonly number[]): T {
  const out = new (data.constructor as new (n: number) => T)(data.length);
  const rank = shape.length;
  const outShape = perm.map((p) => shape[p]!);
  const inStrides = new Array<number>(rank).fill(1);
  for (let i = rank - 2; i >= 0; i--) inStrides[i] = inStrides[i + 1]! * shape[i + 1]!;
  const stridesByOut = perm.map((p) => inStrides[p]!);
  const idx = new Array<number>(rank).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let d = 0; d < rank; d++) src += idx[d]! * stridesByOut[d]!;
    out[o] = data[src]!;
    for (let d = rank - 1; d >= 0; d--) {
      if (++idx[d]! < outShape[d]!) break;
      idx[d] = 0;
    }
  }
  return out;
}

type Entry =
  | { kind: 'value'; name: string; shape: number[]; dtype: DType; reshapes: Map<string, string>; kernel: string }
  | { kind: 'const'; data: TypedArray; dtype: DType; origin: string; base: string; byKey: Map<string, string> }
  | { kind: 'unsupported'; what: string };

const key = (shape: readonly number[]): string => shape.join('x') || 'scalar';
const same = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);
const INT64_MAX = 9223372036854775807n;

/** Why a kernel cannot be exported, by kernel name. */
const GRADIENT = 'a gradient kernel, which an inference graph does not contain: export runs the forward under noGrad; do not call backward() inside it';

/**
 * A Backend that forwards every call to `inner` and records the ONNX equivalent in `g`.
 * Register it in place of the device's backend for the duration of one forward.
 */
export class TracingBackend implements Backend {
  readonly name: Backend['name'];
  private readonly vals = new Map<unknown, Entry>();
  /** A readback of an input-dependent value, as long as no upload followed it. */
  private lastRead: string | null = null;

  constructor(
    readonly inner: Backend,
    readonly g: TraceGraph,
    /** Parameters and buffers: storage → state-dict key. */
    private readonly paramNames: ReadonlyMap<unknown, string>,
    /**
     * Avoid attributes that follow the batch size (a dynamic batch axis is being traced): a
     * depthwise conv with computed kernels, whose group count is batch × channels when the batch
     * is folded into the channels (RPSTN's dynamic kernels), becomes a sum of shifted products.
     */
    private readonly batchAgnostic = false,
  ) {
    this.name = inner.name;
  }

  // ------------------------------------------------------------------------ graph plumbing

  /** Registers a graph input. */
  addInput(storage: unknown, name: string, shape: readonly number[], dtype: DType): void {
    if (this.vals.has(storage)) throw new Error(`exportOnnx: expected distinct input tensors, got input '${name}' sharing its storage with another input (pass a clone)`);
    this.vals.set(storage, { kind: 'value', name, shape: [...shape], dtype, reshapes: new Map(), kernel: 'input' });
    this.g.inputs.push({ name, shape: [...shape], dtype });
  }

  /** The graph value holding tensor `k` (a storage with a shape) — for outputs. */
  valueOf(k: KTensor, what: string): string {
    return this.v(k, what);
  }

  private fail(kernel: string, why: string): never {
    throw new Error(`exportOnnx: cannot export ${kernel}: ${why}`);
  }

  /** The value name of kernel input `k`, with exactly k.shape (a Reshape, or a reshaped constant, when needed). */
  private v(k: KTensor, kernel: string): string {
    let e = this.vals.get(k.storage);
    if (!e) e = this.adoptConstant(k);
    if (e.kind === 'unsupported') this.fail(e.what, `its result is used by ${kernel}, and ONNX has no equivalent output`);
    if (e.kind === 'const') return this.constAs(e, k.shape);
    if (same(e.shape, k.shape)) return e.name;
    const kk = key(k.shape);
    let r = e.reshapes.get(kk);
    if (!r) {
      if (sizeOf(e.shape) !== sizeOf(k.shape)) throw new Error(`exportOnnx: internal error: ${kernel} reads ${e.name} ${key(e.shape)} as ${kk}`);
      r = this.g.op('Reshape', [e.name, this.g.shapeVec(k.shape, { kind: 'reshape', ctx: [...e.shape] })]);
      e.reshapes.set(kk, r);
    }
    return r;
  }

  private optV(k: KTensor | null, kernel: string): string {
    return k ? this.v(k, kernel) : '';
  }

  /** A storage the forward did not produce: a parameter, a buffer, or a tensor created earlier. */
  private adoptConstant(k: KTensor): Entry {
    let data: TypedArray;
    try {
      data = this.inner.readSync(k);
    } catch (err) {
      throw new Error(`exportOnnx: expected a module on a backend with synchronous reads (cpu or wasm), got one on ${this.inner.name} (${(err as Error).message}); move it with \`await module.toAsync('cpu')\` first`);
    }
    const pname = this.paramNames.get(k.storage);
    const e: Entry = { kind: 'const', data, dtype: k.dtype, origin: pname ? `parameter ${pname}` : 'a tensor the module holds', base: pname ?? this.g.fresh('const'), byKey: new Map() };
    this.vals.set(k.storage, e);
    return e;
  }

  /** The initializer of constant `e` seen with `shape` (and, optionally, transformed: '...:T' keys). */
  private constAs(e: Extract<Entry, { kind: 'const' }>, shape: readonly number[], transform?: { key: string; make: () => { shape: number[]; data: TypedArray } }): string {
    const kk = transform ? `${key(shape)}:${transform.key}` : key(shape);
    let name = e.byKey.get(kk);
    if (name) return name;
    let outShape = [...shape];
    let data = e.data;
    if (transform) ({ shape: outShape, data } = transform.make());
    else if (data.length !== sizeOf(shape)) throw new Error(`exportOnnx: internal error: a constant of ${data.length} elements read as ${key(shape)}`);
    if (data.length === 1 && !transform && e.origin === 'a scalar constant') {
      name = this.g.scalar(data[0]!, e.dtype, outShape);
    } else {
      name = e.byKey.size === 0 && !this.g.inits.has(e.base) ? e.base : this.g.fresh(`${e.base}_`);
      this.g.init(name, outShape, data, e.origin);
    }
    e.byKey.set(kk, name);
    return name;
  }

  private constOf(k: KTensor): Extract<Entry, { kind: 'const' }> | null {
    let e = this.vals.get(k.storage);
    if (!e) e = this.adoptConstant(k);
    return e.kind === 'const' ? e : null;
  }

  private out(storage: unknown, name: string, shape: readonly number[], dtype: DType): unknown {
    this.vals.set(storage, { kind: 'value', name, shape: [...shape], dtype, reshapes: new Map(), kernel: this.g.kernel });
    return storage;
  }

  private unsupported(storage: unknown, what: string): void {
    this.vals.set(storage, { kind: 'unsupported', what });
  }

  private begin(kernel: string): void {
    this.g.kernel = kernel;
  }

  private needOpset(kernel: string, onnxOp: string, min: number): void {
    if (this.g.opset < min) this.fail(kernel, `${onnxOp} needs opset ≥ ${min}, and the export asked for opset ${this.g.opset}`);
  }

  /** The single axis a of shape with prod(shape[:a]) = outer, shape[a] = size (prod(shape[a+1:]) = inner), or -1. */
  private static axisOf(shape: readonly number[], outer: number, size: number): number {
    let p = 1;
    for (let a = 0; a < shape.length; a++) {
      if (p === outer && shape[a] === size) return a;
      p *= shape[a]!;
    }
    return -1;
  }

  /** Axes [i, j) of shape whose prefix product is outer and whose product is size (size > 1), or null. */
  private static axesOf(shape: readonly number[], outer: number, size: number): number[] | null {
    const P = [1];
    for (const d of shape) P.push(P[P.length - 1]! * d);
    let i = -1;
    for (let a = 0; a < P.length; a++) if (P[a] === outer) i = a;
    let j = -1;
    for (let a = P.length - 1; a > i; a--) if (P[a] === outer * size) j = a;
    if (i < 0 || j < 0 || j <= i) return null;
    return Array.from({ length: j - i }, (_, t) => i + t);
  }

  /** `k` as an ONNX value viewed [outer, size, inner] with the reduced axis 1, when its own axes do not line up. */
  private as3(k: KTensor, outer: number, size: number, inner: number, kernel: string): string {
    return this.v({ storage: k.storage, shape: [outer, size, inner], dtype: k.dtype }, kernel);
  }

  // ------------------------------------------------------------------------ memory and data movement

  upload(values: TypedArray, dtype: DType): unknown {
    const s = this.inner.upload(values, dtype);
    if (this.lastRead) {
      throw new Error(`exportOnnx: cannot export a forward that reads a computed tensor back to the host (${this.lastRead}) and then uploads host data: the graph would hold the values of this one example as constants`);
    }
    this.vals.set(s, { kind: 'const', data: toTypedArray(values, dtype), dtype, origin: 'a host array the forward uploaded', base: this.g.fresh('const'), byKey: new Map() });
    return s;
  }
  read(x: KTensor): Promise<TypedArray> {
    this.noteRead(x);
    return this.inner.read(x);
  }
  readSync(x: KTensor): TypedArray {
    this.noteRead(x);
    return this.inner.readSync(x);
  }
  private noteRead(x: KTensor): void {
    const e = this.vals.get(x.storage);
    if (e && e.kind === 'value') this.lastRead = `the output of ${e.kernel}, ${e.dtype}[${x.shape.join(', ')}]`;
  }
  release(storage: unknown): void {
    this.vals.delete(storage);
    this.inner.release(storage);
  }
  memoryInfo(): BackendMemoryInfo {
    return this.inner.memoryInfo();
  }
  sync(): Promise<void> {
    return this.inner.sync();
  }

  // ------------------------------------------------------------------------ creation and elementwise

  fill(shape: readonly number[], dtype: DType, value: number): unknown {
    const s = this.inner.fill(shape, dtype, value);
    this.begin('fill');
    if (sizeOf(shape) <= 1) {
      this.vals.set(s, { kind: 'const', data: arrayOf(dtype, new Array(sizeOf(shape)).fill(value)), dtype, origin: 'a scalar constant', base: this.g.fresh('const'), byKey: new Map() });
      return s;
    }
    const y = this.g.op('Expand', [this.g.scalar(value, dtype), this.g.shapeVec(shape, { kind: 'expand' })]);
    return this.out(s, y, shape, dtype);
  }

  cast(x: KTensor, dtype: DType): unknown {
    const s = this.inner.cast(x, dtype);
    this.begin('cast');
    const src = this.v(x, 'cast');
    if (x.dtype === dtype) return this.out(s, src, x.shape, dtype);
    // float → int32 truncates toward zero in posegrad and in ONNX Cast.
    return this.out(s, this.g.op('Cast', [src], { to: onnxElemType(dtype) }), x.shape, dtype);
  }

  unary(op: UnaryOp, x: KTensor, params: readonly number[]): unknown {
    const s = this.inner.unary(op, x, params);
    this.begin(op);
    const a = this.v(x, op);
    const g = this.g;
    const c = (v: number): string => g.scalar(v, x.dtype);
    const simple: Partial<Record<UnaryOp, string>> = {
      neg: 'Neg', exp: 'Exp', log: 'Log', sqrt: 'Sqrt', abs: 'Abs', sign: 'Sign', relu: 'Relu', sigmoid: 'Sigmoid', tanh: 'Tanh', erf: 'Erf',
      reciprocal: 'Reciprocal', sin: 'Sin', cos: 'Cos', floor: 'Floor', ceil: 'Ceil', round: 'Round',
    };
    let y: string;
    if (op === 'copy') y = a;
    else if (simple[op]) y = g.op(simple[op]!, [a]);
    else {
      switch (op) {
        case 'rsqrt':
          y = g.op('Reciprocal', [g.op('Sqrt', [a])]);
          break;
        case 'square':
          y = g.op('Mul', [a, a]);
          break;
        case 'silu':
          y = g.op('Mul', [a, g.op('Sigmoid', [a])]);
          break;
        case 'leakyRelu':
          y = g.op('LeakyRelu', [a], { alpha: { float: params[0]! } });
          break;
        case 'elu':
          y = g.op('Elu', [a], { alpha: { float: params[0]! } });
          break;
        case 'clamp': {
          // Clip (opset ≥ 11) takes its bounds as optional inputs; relu6 is Clip(x, 0, 6).
          const [lo, hi] = params as [number, number];
          const ins = [a, lo === -Infinity ? '' : c(lo), hi === Infinity ? '' : c(hi)];
          while (ins[ins.length - 1] === '') ins.pop();
          y = ins.length === 1 ? a : g.op('Clip', ins);
          break;
        }
        case 'powScalar':
          y = params[0] === 2 ? g.op('Mul', [a, a]) : params[0] === 1 ? a : params[0] === 0.5 ? g.op('Sqrt', [a]) : g.op('Pow', [a, c(params[0]!)]);
          break;
        case 'gelu':
          if (g.opset >= 20) y = g.op('Gelu', [a]);
          else y = g.op('Mul', [g.op('Mul', [a, c(0.5)]), g.op('Add', [g.op('Erf', [g.op('Mul', [a, c(Math.SQRT1_2)])]), c(1)])]);
          break;
        case 'geluTanh':
          if (g.opset >= 20) y = g.op('Gelu', [a], { approximate: 'tanh' });
          else {
            const cube = g.op('Mul', [g.op('Mul', [a, a]), a]);
            const inner = g.op('Mul', [g.op('Add', [a, g.op('Mul', [cube, c(0.044715)])]), c(Math.sqrt(2 / Math.PI))]);
            y = g.op('Mul', [g.op('Mul', [a, c(0.5)]), g.op('Add', [g.op('Tanh', [inner]), c(1)])]);
          }
          break;
        default:
          this.fail(op, 'no ONNX mapping for this elementwise op');
      }
    }
    return this.out(s, y, x.shape, x.dtype);
  }

  unaryGrad(op: UnaryOp, x: KTensor, y: KTensor, dy: KTensor, params: readonly number[]): unknown {
    this.fail(`unaryGrad(${op})`, GRADIENT);
    return this.inner.unaryGrad(op, x, y, dy, params);
  }

  binary(op: BinaryOp, a: KTensor, b: KTensor, outShape: readonly number[], outDtype: DType): unknown {
    const s = this.inner.binary(op, a, b, outShape, outDtype);
    this.begin(op);
    const x = this.v(a, op);
    const y = this.v(b, op);
    const arith: Partial<Record<BinaryOp, string>> = { add: 'Add', sub: 'Sub', mul: 'Mul', div: 'Div', pow: 'Pow', maximum: 'Max', minimum: 'Min' };
    const cmp: Partial<Record<BinaryOp, string>> = { eq: 'Equal', ne: 'Equal', lt: 'Less', le: 'LessOrEqual', gt: 'Greater', ge: 'GreaterOrEqual' };
    let r: string;
    if (arith[op]) r = this.g.op(arith[op]!, [x, y]);
    else {
      let bool = this.g.op(cmp[op]!, [x, y]);
      if (op === 'ne') bool = this.g.op('Not', [bool]);
      r = this.g.op('Cast', [bool], { to: onnxElemType(outDtype) });
    }
    return this.out(s, r, outShape, outDtype);
  }

  where(cond: KTensor, a: KTensor, b: KTensor, outShape: readonly number[]): unknown {
    const s = this.inner.where(cond, a, b, outShape);
    this.begin('where');
    const c = this.g.op('Cast', [this.v(cond, 'where')], { to: 9 });
    return this.out(s, this.g.op('Where', [c, this.v(a, 'where'), this.v(b, 'where')]), outShape, a.dtype);
  }

  // ------------------------------------------------------------------------ reductions and scans

  private reduceOp(kind: string, onnx: string, x: KTensor, outer: number, size: number, inner: number): { name: string; shape: number[] } {
    const g = this.g;
    let axes = TracingBackend.axesOf(x.shape, outer, size);
    let src: string;
    let shape: number[];
    if (axes) {
      src = this.v(x, kind);
      shape = [...x.shape];
    } else {
      src = this.as3(x, outer, size, inner, kind);
      shape = [outer, size, inner];
      axes = [1];
    }
    const outShape = shape.map((d, i) => (axes!.includes(i) ? 1 : d));
    // ReduceSum takes its axes as an input from opset 13, the others from opset 18.
    const asInput = onnx === 'ReduceSum' || g.opset >= 18;
    const y = asInput ? g.op(onnx, [src, g.ints(axes)], { keepdims: 1 }) : g.op(onnx, [src], { axes, keepdims: 1 });
    return { name: y, shape: outShape };
  }

  reduce(op: ReduceOp, x: KTensor, outer: number, size: number, inner: number): unknown {
    const s = this.inner.reduce(op, x, outer, size, inner);
    this.begin(`reduce(${op})`);
    if (size === 1) return this.out(s, this.v(x, `reduce(${op})`), x.shape, x.dtype);
    const onnx = { sum: 'ReduceSum', prod: 'ReduceProd', max: 'ReduceMax', min: 'ReduceMin' }[op];
    const r = this.reduceOp(`reduce(${op})`, onnx, x, outer, size, inner);
    return this.out(s, r.name, r.shape, x.dtype);
  }

  argReduce(op: 'argmax' | 'argmin', x: KTensor, outer: number, size: number, inner: number): unknown {
    const s = this.inner.argReduce(op, x, outer, size, inner);
    this.begin(op);
    let a = TracingBackend.axisOf(x.shape, outer, size);
    let src: string;
    let shape: number[];
    if (a >= 0) {
      src = this.v(x, op);
      shape = [...x.shape];
    } else {
      src = this.as3(x, outer, size, inner, op);
      shape = [outer, size, inner];
      a = 1;
    }
    const idx = this.g.op(op === 'argmax' ? 'ArgMax' : 'ArgMin', [src], { axis: a, keepdims: 1, select_last_index: 0 });
    return this.out(s, this.g.op('Cast', [idx], { to: onnxElemType('int32') }), shape.map((d, i) => (i === a ? 1 : d)), 'int32');
  }

  cumsum(x: KTensor, outer: number, size: number, inner: number): unknown {
    const s = this.inner.cumsum(x, outer, size, inner);
    this.begin('cumsum');
    let a = TracingBackend.axisOf(x.shape, outer, size);
    let src: string;
    let shape: number[];
    if (a >= 0) {
      src = this.v(x, 'cumsum');
      shape = [...x.shape];
    } else {
      src = this.as3(x, outer, size, inner, 'cumsum');
      shape = [outer, size, inner];
      a = 1;
    }
    return this.out(s, this.g.op('CumSum', [src, this.g.ints([a])]), shape, x.dtype);
  }

  topk(x: KTensor, outer: number, size: number, k: number, largest: boolean): { values: unknown; indices: unknown } {
    const r = this.inner.topk(x, outer, size, k, largest);
    this.begin('topk');
    const aligned = x.shape.length > 0 && x.shape[x.shape.length - 1] === size;
    const shape = aligned ? [...x.shape] : [outer, size];
    const src = aligned ? this.v(x, 'topk') : this.v({ storage: x.storage, shape, dtype: x.dtype }, 'topk');
    const [values, indices] = this.g.node('TopK', [src, this.g.ints([k])], { axis: -1, largest: largest ? 1 : 0, sorted: 1 }, 2) as [string, string];
    const outShape = [...shape.slice(0, -1), k];
    this.out(r.values, values, outShape, x.dtype);
    this.out(r.indices, this.g.op('Cast', [indices], { to: onnxElemType('int32') }), outShape, 'int32');
    return r;
  }

  // ------------------------------------------------------------------------ matmul

  matmul(a: KTensor, b: KTensor, p: MatmulParams): unknown {
    const s = this.inner.matmul(a, b, p);
    this.begin('matmul');
    const operand = (k: KTensor, trans: boolean): string => {
      const c = this.constOf(k);
      if (c && k.shape[0] === 1) {
        // A constant with batch 1 (a linear layer's weight): a 2-D initializer, transposed on the host.
        const [, r, cc] = k.shape as [number, number, number];
        return this.constAs(c, k.shape, { key: trans ? '2dT' : '2d', make: () => (trans ? { shape: [cc, r], data: permuteData(c.data, [r, cc], [1, 0]) } : { shape: [r, cc], data: c.data }) });
      }
      const v = this.v(k, 'matmul');
      return trans ? this.g.op('Transpose', [v], { perm: [0, 2, 1] }) : v;
    };
    const A = operand(a, p.transA);
    const B = operand(b, p.transB);
    const M = p.transA ? a.shape[2]! : a.shape[1]!;
    const N = p.transB ? b.shape[1]! : b.shape[2]!;
    const batch = Math.max(a.shape[0]!, b.shape[0]!);
    const aConst2d = this.isConst(a) && a.shape[0] === 1;
    const bConst2d = this.isConst(b) && b.shape[0] === 1;
    const y = this.g.op('MatMul', [A, B]);
    // Both operands 2-D: MatMul gives [M, N].
    if (aConst2d && bConst2d) return this.out(s, y, [M, N], a.dtype);
    return this.out(s, y, [batch, M, N], a.dtype);
  }

  private isConst(k: KTensor): boolean {
    const e = this.vals.get(k.storage);
    return !e || e.kind === 'const';
  }

  // ------------------------------------------------------------------------ shape and indexing

  permute(x: KTensor, perm: readonly number[]): unknown {
    const s = this.inner.permute(x, perm);
    this.begin('permute');
    const outShape = perm.map((p) => x.shape[p]!);
    const c = this.vals.get(x.storage);
    if (c?.kind === 'const') {
      // A constant transposed by the forward: transposed here, once.
      const name = this.constAs(c, x.shape, { key: `perm${perm.join('.')}`, make: () => ({ shape: outShape, data: permuteData(c.data, x.shape, perm) }) });
      this.vals.set(s, { kind: 'const', data: permuteData(c.data, x.shape, perm), dtype: x.dtype, origin: c.origin, base: name, byKey: new Map([[key(outShape), name]]) });
      return s;
    }
    const src = this.v(x, 'permute');
    const identity = perm.every((p, i) => p === i);
    return this.out(s, identity ? src : this.g.op('Transpose', [src], { perm: [...perm] }), outShape, x.dtype);
  }

  slice(x: KTensor, begin: readonly number[], size: readonly number[], step: readonly number[]): unknown {
    const s = this.inner.slice(x, begin, size, step);
    this.begin('slice');
    let cur = this.v(x, 'slice');
    const axes: number[] = [];
    const starts: number[] = [];
    const ends: number[] = [];
    const steps: number[] = [];
    const dims: number[] = [];
    const expandTo: number[] = [];
    let expands = false;
    for (let d = 0; d < x.shape.length; d++) {
      const n = x.shape[d]!;
      const st = step[d]!;
      if (st === 0) {
        if (n !== 1) {
          axes.push(d);
          starts.push(begin[d]!);
          ends.push(begin[d]! + 1);
          steps.push(1);
          dims.push(n);
        }
        expandTo.push(size[d]!);
        if (size[d] !== 1) expands = true;
        continue;
      }
      expandTo.push(1);
      if (begin[d] === 0 && size[d] === n && st === 1) continue;
      axes.push(d);
      starts.push(begin[d]!);
      ends.push(size[d] === 0 ? begin[d]! : begin[d]! + (size[d]! - 1) * st + 1);
      steps.push(st);
      dims.push(n);
    }
    if (axes.length) {
      const inputs = [cur, this.g.shapeVec(starts, { kind: 'starts' }), this.g.shapeVec(ends, { kind: 'ends', ctx: dims }), this.g.ints(axes)];
      if (steps.some((t) => t !== 1)) inputs.push(this.g.ints(steps));
      cur = this.g.op('Slice', inputs);
    }
    if (expands) cur = this.g.op('Expand', [cur, this.g.shapeVec(expandTo, { kind: 'expand' })]);
    return this.out(s, cur, size, x.dtype);
  }

  pad(x: KTensor, before: readonly number[], after: readonly number[], value: number): unknown {
    const s = this.inner.pad(x, before, after, value);
    this.begin('pad');
    const shape = x.shape.map((d, i) => d + before[i]! + after[i]!);
    const pads = this.g.shapeVec([...before, ...after]);
    return this.out(s, this.g.op('Pad', [this.v(x, 'pad'), pads, this.g.scalar(value, x.dtype)], { mode: 'constant' }), shape, x.dtype);
  }

  concat(xs: readonly KTensor[], axis: number): unknown {
    const s = this.inner.concat(xs, axis);
    this.begin('concat');
    const shape = [...xs[0]!.shape];
    shape[axis] = xs.reduce((t, k) => t + k.shape[axis]!, 0);
    const ins = xs.map((k) => this.v(k, 'concat'));
    return this.out(s, ins.length === 1 ? ins[0]! : this.g.op('Concat', ins, { axis }), shape, xs[0]!.dtype);
  }

  flip(x: KTensor, axes: readonly number[]): unknown {
    const s = this.inner.flip(x, axes);
    this.begin('flip');
    const live = axes.filter((a) => x.shape[a]! > 1);
    let y = this.v(x, 'flip');
    if (live.length) {
      const minInt = -INT64_MAX - 1n;
      const ends = this.g.init(this.g.fresh('ints'), [live.length], new BigInt64Array(live.length).fill(minInt), 'an index constant');
      y = this.g.op('Slice', [y, this.g.ints(live.map(() => -1)), ends, this.g.ints(live), this.g.ints(live.map(() => -1))]);
    }
    return this.out(s, y, x.shape, x.dtype);
  }

  /**
   * The index check of gather and indexSelect (ops/internal/indices.ts), done here on the inner
   * backend: export runs the forward with the ops' own checks off (`trustedIndices`), because their
   * read-back of computed indices (MoveNet's centre argmax) would look like host data derived from
   * the example. Same Error as the op's.
   */
  private checkIndices(op: string, index: KTensor, n: number): void {
    const v = this.inner.readSync(index);
    for (let i = 0; i < v.length; i++) {
      const x = Number(v[i]);
      if (!(x >= 0 && x < n)) throw new Error(`${op}: expected indices in [0, ${n - 1}], got ${x}`);
    }
  }

  gather(x: KTensor, index: KTensor, axis: number): unknown {
    this.checkIndices('gather', index, x.shape[axis]!);
    const s = this.inner.gather(x, index, axis);
    this.begin('gather');
    return this.out(s, this.g.op('GatherElements', [this.v(x, 'gather'), this.v(index, 'gather')], { axis }), index.shape, x.dtype);
  }

  scatterAdd(outShape: readonly number[], index: KTensor, src: KTensor, axis: number): unknown {
    const s = this.inner.scatterAdd(outShape, index, src, axis);
    this.begin('scatterAdd');
    this.needOpset('scatterAdd', 'ScatterElements with reduction', 16);
    const zeros = this.g.op('Expand', [this.g.scalar(0, src.dtype), this.g.shapeVec(outShape, { kind: 'expand' })]);
    return this.out(s, this.g.op('ScatterElements', [zeros, this.v(index, 'scatterAdd'), this.v(src, 'scatterAdd')], { axis, reduction: 'add' }), outShape, src.dtype);
  }

  indexSelect(x: KTensor, axis: number, index: KTensor): unknown {
    this.checkIndices('indexSelect', index, x.shape[axis]!);
    const s = this.inner.indexSelect(x, axis, index);
    this.begin('indexSelect');
    const shape = [...x.shape];
    shape[axis] = index.shape[0]!;
    return this.out(s, this.g.op('Gather', [this.v(x, 'indexSelect'), this.v(index, 'indexSelect')], { axis }), shape, x.dtype);
  }

  // ------------------------------------------------------------------------ convolution

  /** ONNX Conv/ConvTranspose/DeformConv attributes; pads are [top, left, bottom, right] (begins, then ends). */
  private convAttrs(w: KTensor, p: Conv2dParams | DeformConv2dParams): Record<string, AttrValue> {
    const [top, bottom, left, right] = convPads(p.padding);
    return {
      kernel_shape: [w.shape[2]!, w.shape[3]!],
      strides: [...p.stride],
      pads: [top, left, bottom, right],
      dilations: [...p.dilation],
      group: p.groups,
    };
  }

  /** conv2d's fused clamp as its own node after the conv: Relu for [0, Infinity], else Clip (opset ≥ 11: bounds as optional inputs). */
  private clampAfter(y: string, clamp: readonly [number, number] | undefined, dtype: DType): string {
    if (!clamp) return y;
    const [lo, hi] = clamp;
    if (lo === 0 && hi === Infinity) return this.g.op('Relu', [y]);
    const ins = [y, lo === -Infinity ? '' : this.g.scalar(lo, dtype), hi === Infinity ? '' : this.g.scalar(hi, dtype)];
    while (ins[ins.length - 1] === '') ins.pop();
    return ins.length === 1 ? y : this.g.op('Clip', ins);
  }

  conv2d(x: KTensor, w: KTensor, bias: KTensor | null, p: Conv2dParams): unknown {
    const s = this.inner.conv2d(x, w, bias, p);
    this.begin('conv2d');
    const [N, , H, W] = x.shape as [number, number, number, number];
    const [Cout, , kh, kw] = w.shape as [number, number, number, number];
    const [top, bottom, left, right] = convPads(p.padding);
    const Ho = convOutLength(H, kh, p.stride[0], top, bottom, p.dilation[0]);
    const Wo = convOutLength(W, kw, p.stride[1], left, right, p.dilation[1]);
    if (this.batchAgnostic && p.groups > 1 && w.shape[1] === 1 && p.groups === x.shape[1] && p.groups === Cout && !this.isConst(w)) {
      return this.out(s, this.clampAfter(this.depthwiseByTaps(x, w, bias, p, Ho, Wo), p.clamp, x.dtype), [N, Cout, Ho, Wo], x.dtype);
    }
    const ins = [this.v(x, 'conv2d'), this.v(w, 'conv2d')];
    if (bias) ins.push(this.v(bias, 'conv2d'));
    return this.out(s, this.clampAfter(this.g.op('Conv', ins, this.convAttrs(w, p)), p.clamp, x.dtype), [N, Cout, Ho, Wo], x.dtype);
  }

  /** A depthwise conv as Σ over taps of (shifted input) · (the tap's kernel value): no group attribute. */
  private depthwiseByTaps(x: KTensor, w: KTensor, bias: KTensor | null, p: Conv2dParams, Ho: number, Wo: number): string {
    const g = this.g;
    const [, , kh, kw] = w.shape as [number, number, number, number];
    let src = this.v(x, 'conv2d');
    const [top, bottom, left, right] = convPads(p.padding);
    if (top || bottom || left || right) src = g.op('Pad', [src, g.ints([0, 0, top, left, 0, 0, bottom, right]), g.scalar(0, x.dtype)], { mode: 'constant' });
    const wt = g.op('Transpose', [this.v(w, 'conv2d')], { perm: [1, 0, 2, 3] }); // [1, G, kh, kw]
    let acc = '';
    for (let ty = 0; ty < kh; ty++) {
      for (let tx = 0; tx < kw; tx++) {
        const y0 = ty * p.dilation[0];
        const x0 = tx * p.dilation[1];
        const shifted = g.op('Slice', [src, g.ints([y0, x0]), g.ints([y0 + (Ho - 1) * p.stride[0] + 1, x0 + (Wo - 1) * p.stride[1] + 1]), g.ints([2, 3]), g.ints([p.stride[0], p.stride[1]])]);
        const tap = g.op('Slice', [wt, g.ints([ty, tx]), g.ints([ty + 1, tx + 1]), g.ints([2, 3])]);
        const prod = g.op('Mul', [shifted, tap]);
        acc = acc ? g.op('Add', [acc, prod]) : prod;
      }
    }
    if (bias) acc = g.op('Add', [acc, this.v({ storage: bias.storage, shape: [1, bias.shape[0]!, 1, 1], dtype: bias.dtype }, 'conv2d')]);
    return acc;
  }

  conv2dBackwardInput(dy: KTensor, w: KTensor, xShape: readonly number[], p: Conv2dParams): unknown {
    // Also the forward of convTranspose2d: ConvTranspose, with the output size pinned by output_padding.
    const s = this.inner.conv2dBackwardInput(dy, w, xShape, p);
    this.begin('convTranspose2d');
    const [, , H, W] = dy.shape as [number, number, number, number];
    const [, , kh, kw] = w.shape as [number, number, number, number];
    const [top, bottom, left, right] = convPads(p.padding);
    const padSum = [top + bottom, left + right];
    const natural = (i: number, n: number, k: number): number => (n - 1) * p.stride[i]! - padSum[i]! + p.dilation[i]! * (k - 1) + 1;
    const outPad = [xShape[2]! - natural(0, H, kh), xShape[3]! - natural(1, W, kw)];
    const attrs = { ...this.convAttrs(w, p) };
    if (outPad.some((o) => o !== 0)) attrs.output_padding = outPad;
    return this.out(s, this.g.op('ConvTranspose', [this.v(dy, 'convTranspose2d'), this.v(w, 'convTranspose2d')], attrs), xShape, dy.dtype);
  }

  conv2dBackwardWeight(x: KTensor, dy: KTensor, wShape: readonly number[], p: Conv2dParams): unknown {
    this.fail('conv2dBackwardWeight', GRADIENT);
    return this.inner.conv2dBackwardWeight(x, dy, wShape, p);
  }

  deformConv2d(x: KTensor, offset: KTensor, mask: KTensor | null, w: KTensor, bias: KTensor | null, p: DeformConv2dParams): unknown {
    const s = this.inner.deformConv2d(x, offset, mask, w, bias, p);
    this.begin('deformConv2d');
    this.needOpset('deformConv2d', 'DeformConv', 19);
    const [N] = x.shape as [number];
    const [Cout] = w.shape as [number];
    const [, , Ho, Wo] = offset.shape as [number, number, number, number];
    const ins = [this.v(x, 'deformConv2d'), this.v(w, 'deformConv2d'), this.v(offset, 'deformConv2d'), this.optV(bias, 'deformConv2d'), this.optV(mask, 'deformConv2d')];
    while (ins[ins.length - 1] === '') ins.pop();
    return this.out(s, this.g.op('DeformConv', ins, { ...this.convAttrs(w, p), offset_group: p.offsetGroups }), [N, Cout, Ho, Wo], x.dtype);
  }

  deformConv2dBackward(dy: KTensor, x: KTensor, offset: KTensor, mask: KTensor | null, w: KTensor, p: DeformConv2dParams): { dx: unknown; dOffset: unknown; dMask: unknown; dWeight: unknown } {
    this.fail('deformConv2dBackward', GRADIENT);
    return this.inner.deformConv2dBackward(dy, x, offset, mask, w, p);
  }

  // ------------------------------------------------------------------------ pooling and resampling

  /** ONNX pool attributes giving exactly p.outH x p.outW with floor rounding (ceil_mode overhang as extra end padding). */
  private poolAttrs(kernel: string, x: KTensor, p: Pool2dParams, dilated: boolean): { attrs: Record<string, AttrValue>; overhang: boolean } {
    const size = [x.shape[2]!, x.shape[3]!];
    const out = [p.outH, p.outW];
    const ends: number[] = [];
    let overhang = false;
    for (let i = 0; i < 2; i++) {
      const eff = (p.kernel[i]! - 1) * (dilated ? p.dilation[i]! : 1) + 1;
      const need = (out[i]! - 1) * p.stride[i]! + eff - size[i]! - p.padding[i]!;
      const end = Math.max(p.padding[i]!, need);
      if (end > p.padding[i]!) overhang = true;
      if (Math.floor((size[i]! + p.padding[i]! + end - eff) / p.stride[i]!) + 1 !== out[i]) this.fail(kernel, `no ONNX padding gives its output size ${p.outH}x${p.outW}`);
      ends.push(end);
    }
    const attrs: Record<string, AttrValue> = { kernel_shape: [...p.kernel], strides: [...p.stride], pads: [p.padding[0], p.padding[1], ends[0]!, ends[1]!] };
    if (dilated && (p.dilation[0] !== 1 || p.dilation[1] !== 1)) attrs.dilations = [...p.dilation];
    return { attrs, overhang };
  }

  maxPool2d(x: KTensor, p: Pool2dParams): { out: unknown; indices: unknown } {
    const r = this.inner.maxPool2d(x, p);
    this.begin('maxPool2d');
    const { attrs } = this.poolAttrs('maxPool2d', x, p, true);
    this.out(r.out, this.g.op('MaxPool', [this.v(x, 'maxPool2d')], attrs), [x.shape[0]!, x.shape[1]!, p.outH, p.outW], x.dtype);
    this.unsupported(r.indices, "maxPool2d's indices (returnIndices)");
    return r;
  }

  maxPool2dBackward(dy: KTensor, indices: KTensor, xShape: readonly number[], p: Pool2dParams): unknown {
    this.fail('maxPool2dBackward', GRADIENT);
    return this.inner.maxPool2dBackward(dy, indices, xShape, p);
  }

  avgPool2d(x: KTensor, p: Pool2dParams): unknown {
    const s = this.inner.avgPool2d(x, p);
    this.begin('avgPool2d');
    const { attrs, overhang } = this.poolAttrs('avgPool2d', x, p, false);
    let src = this.v(x, 'avgPool2d');
    if (overhang && p.countIncludePad) {
      // PyTorch's divisor counts the padding but not a ceil-mode window's overhang past it: pad
      // explicitly (those zeros count as elements), and let ONNX pad only the overhang, uncounted.
      const [ph, pw] = p.padding;
      if (ph || pw) src = this.g.op('Pad', [src, this.g.ints([0, 0, ph, pw, 0, 0, ph, pw]), this.g.scalar(0, x.dtype)], { mode: 'constant' });
      const pads = attrs.pads as number[];
      attrs.pads = [0, 0, pads[2]! - ph, pads[3]! - pw];
      attrs.count_include_pad = 0;
    } else attrs.count_include_pad = p.countIncludePad ? 1 : 0;
    return this.out(s, this.g.op('AveragePool', [src], attrs), [x.shape[0]!, x.shape[1]!, p.outH, p.outW], x.dtype);
  }

  avgPool2dBackward(dy: KTensor, xShape: readonly number[], p: Pool2dParams): unknown {
    this.fail('avgPool2dBackward', GRADIENT);
    return this.inner.avgPool2dBackward(dy, xShape, p);
  }

  adaptiveAvgPool2d(x: KTensor, outH: number, outW: number): unknown {
    const s = this.inner.adaptiveAvgPool2d(x, outH, outW);
    this.begin('adaptiveAvgPool2d');
    const [N, C, H, W] = x.shape as [number, number, number, number];
    const g = this.g;
    let y = this.v(x, 'adaptiveAvgPool2d');
    if (outH === 1 && outW === 1) y = g.op('GlobalAveragePool', [y]);
    else if (H % outH === 0 && W % outW === 0) {
      const k = [H / outH, W / outW];
      y = g.op('AveragePool', [y], { kernel_shape: k, strides: k });
    } else {
      // PyTorch's windows [floor(i·H/oh), ceil((i+1)·H/oh)) differ in size: the mean over a window is
      // the mean over its rows of the mean over its columns, so rows then columns, one slice each.
      const along = (src: string, axis: number, n: number, out: number): string => {
        if (n === out) return src;
        const parts: string[] = [];
        for (let i = 0; i < out; i++) {
          const a = Math.floor((i * n) / out);
          const b = Math.ceil(((i + 1) * n) / out);
          const piece = g.op('Slice', [src, g.ints([a]), g.ints([b]), g.ints([axis])]);
          parts.push(g.opset >= 18 ? g.op('ReduceMean', [piece, g.ints([axis])], { keepdims: 1 }) : g.op('ReduceMean', [piece], { axes: [axis], keepdims: 1 }));
        }
        return g.op('Concat', parts, { axis });
      };
      y = along(along(y, 2, H, outH), 3, W, outW);
    }
    return this.out(s, y, [N, C, outH, outW], x.dtype);
  }

  adaptiveAvgPool2dBackward(dy: KTensor, xShape: readonly number[]): unknown {
    this.fail('adaptiveAvgPool2dBackward', GRADIENT);
    return this.inner.adaptiveAvgPool2dBackward(dy, xShape);
  }

  interpolate(x: KTensor, p: InterpolateParams): unknown {
    const s = this.inner.interpolate(x, p);
    this.begin('interpolate');
    const g = this.g;
    const [N, C, H, W] = x.shape as [number, number, number, number];
    const attrs: Record<string, AttrValue> =
      p.mode === 'nearest'
        ? { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' }
        : { mode: 'linear', coordinate_transformation_mode: p.alignCorners ? 'align_corners' : 'half_pixel' };
    // The source coordinate of output index o is o·ratio (nearest, align corners) or
    // (o + 0.5)·ratio − 0.5 (half pixel): ONNX's with scale 1/ratio. Where ratio is in/out, `sizes`
    // say so exactly; otherwise (a scale factor that does not divide) `scales` carry 1/ratio.
    const bySize = (n: number, out: number, ratio: number): boolean =>
      p.alignCorners || ratio === 1 || Math.abs(ratio - n / out) <= 1e-7 * Math.abs(ratio) || (p.mode === 'nearest' && Math.fround(n / out) === ratio);
    const sizes = bySize(H, p.outH, p.ratioH) && bySize(W, p.outW, p.ratioW);
    const ins = [this.v(x, 'interpolate'), ''];
    if (sizes) {
      if (g.opset >= 18) {
        ins.push('', g.ints([p.outH, p.outW]));
        attrs.axes = [2, 3];
      } else ins.push('', g.shapeVec([N, C, p.outH, p.outW]));
    } else {
      const sc = [1 / p.ratioH, 1 / p.ratioW];
      if (Math.floor(H * Math.fround(sc[0]!)) !== p.outH || Math.floor(W * Math.fround(sc[1]!)) !== p.outW) this.fail('interpolate', `no ONNX Resize scale gives both its source coordinates (ratio ${p.ratioH}, ${p.ratioW}) and its output size ${p.outH}x${p.outW}`);
      if (g.opset >= 18) {
        ins.push(g.init(g.fresh('scales'), [2], Float32Array.from(sc), 'Resize scales'));
        attrs.axes = [2, 3];
      } else ins.push(g.init(g.fresh('scales'), [4], Float32Array.from([1, 1, ...sc]), 'Resize scales'));
    }
    return this.out(s, g.op('Resize', ins, attrs), [N, C, p.outH, p.outW], x.dtype);
  }

  interpolateBackward(dy: KTensor, xShape: readonly number[], p: InterpolateParams): unknown {
    this.fail('interpolateBackward', GRADIENT);
    return this.inner.interpolateBackward(dy, xShape, p);
  }

  gridSample(x: KTensor, grid: KTensor, p: GridSampleParams): unknown {
    const s = this.inner.gridSample(x, grid, p);
    this.begin('gridSample');
    this.needOpset('gridSample', 'GridSample', 16);
    const mode = p.mode === 'bilinear' ? (this.g.opset >= 20 ? 'linear' : 'bilinear') : 'nearest';
    const y = this.g.op('GridSample', [this.v(x, 'gridSample'), this.v(grid, 'gridSample')], { mode, padding_mode: p.paddingMode, align_corners: p.alignCorners ? 1 : 0 });
    return this.out(s, y, [x.shape[0]!, x.shape[1]!, grid.shape[1]!, grid.shape[2]!], x.dtype);
  }

  gridSampleBackward(dy: KTensor, x: KTensor, grid: KTensor, p: GridSampleParams): { dx: unknown; dGrid: unknown } {
    this.fail('gridSampleBackward', GRADIENT);
    return this.inner.gridSampleBackward(dy, x, grid, p);
  }

  // ------------------------------------------------------------------------ softmax, norms, attention

  softmax(x: KTensor, outer: number, size: number, inner: number, log: boolean): unknown {
    const s = this.inner.softmax(x, outer, size, inner, log);
    const kernel = log ? 'logSoftmax' : 'softmax';
    this.begin(kernel);
    let a = TracingBackend.axisOf(x.shape, outer, size);
    let src: string;
    let shape: number[];
    if (a >= 0) {
      src = this.v(x, kernel);
      shape = [...x.shape];
    } else {
      src = this.as3(x, outer, size, inner, kernel);
      shape = [outer, size, inner];
      a = 1;
    }
    return this.out(s, this.g.op(log ? 'LogSoftmax' : 'Softmax', [src], { axis: a }), shape, x.dtype);
  }

  softmaxBackward(y: KTensor, dy: KTensor, outer: number, size: number, inner: number, log: boolean): unknown {
    this.fail('softmaxBackward', GRADIENT);
    return this.inner.softmaxBackward(y, dy, outer, size, inner, log);
  }

  layerNorm(x: KTensor, gamma: KTensor | null, beta: KTensor | null, rows: number, cols: number, eps: number): { y: unknown; mean: unknown; rstd: unknown } {
    const r = this.inner.layerNorm(x, gamma, beta, rows, cols, eps);
    this.begin('layerNorm');
    this.needOpset('layerNorm', 'LayerNormalization', 17);
    // The normalized axes: the trailing dims whose product is cols (the fewest such).
    let a = x.shape.length;
    let p = 1;
    while (a > 0 && p < cols) p *= x.shape[--a]!;
    let shape: number[] = [...x.shape];
    let src: string;
    if (p !== cols) {
      shape = [rows, cols];
      a = 1;
      src = this.v({ storage: x.storage, shape, dtype: x.dtype }, 'layerNorm');
    } else src = this.v(x, 'layerNorm');
    const ns = shape.slice(a);
    const scale = gamma ? this.v({ storage: gamma.storage, shape: ns, dtype: gamma.dtype }, 'layerNorm') : this.g.scalar(1, x.dtype, ns.map(() => 1));
    const ins = [src, scale];
    if (beta) ins.push(this.v({ storage: beta.storage, shape: ns, dtype: beta.dtype }, 'layerNorm'));
    this.out(r.y, this.g.op('LayerNormalization', ins, { axis: a, epsilon: { float: eps } }), shape, x.dtype);
    this.unsupported(r.mean, "layerNorm's saved mean");
    this.unsupported(r.rstd, "layerNorm's saved rstd");
    return r;
  }

  layerNormBackward(dy: KTensor, x: KTensor, mean: KTensor, rstd: KTensor, gamma: KTensor | null, rows: number, cols: number): { dx: unknown; dGamma: unknown; dBeta: unknown } {
    this.fail('layerNormBackward', GRADIENT);
    return this.inner.layerNormBackward(dy, x, mean, rstd, gamma, rows, cols);
  }

  batchNormStats(x: KTensor, n: number, c: number, s: number): { mean: unknown; variance: unknown } {
    this.fail('batchNormStats', 'batch norm with batch statistics is training mode; export runs the module in eval mode, so a forward that passes training: true itself cannot be exported');
    return this.inner.batchNormStats(x, n, c, s);
  }

  batchNormForward(x: KTensor, mean: KTensor, variance: KTensor, gamma: KTensor | null, beta: KTensor | null, n: number, c: number, s: number, eps: number): unknown {
    const st = this.inner.batchNormForward(x, mean, variance, gamma, beta, n, c, s, eps);
    this.begin('batchNorm2d');
    const shape = x.shape.length >= 2 && x.shape[0] === n && x.shape[1] === c ? [...x.shape] : [n, c, s];
    const src = this.v({ storage: x.storage, shape, dtype: x.dtype }, 'batchNorm2d');
    const vec = (k: KTensor | null, dflt: number): string =>
      k ? this.v({ storage: k.storage, shape: [c], dtype: k.dtype }, 'batchNorm2d') : this.g.init(this.g.fresh('bn_default'), [c], arrayOf(x.dtype, new Array<number>(c).fill(dflt)), 'a batch norm default (no affine)');
    const ins = [src, vec(gamma, 1), vec(beta, 0), vec(mean, 0), vec(variance, 1)];
    return this.out(st, this.g.op('BatchNormalization', ins, { epsilon: { float: eps } }), shape, x.dtype);
  }

  batchNormBackward(dy: KTensor, x: KTensor, mean: KTensor, variance: KTensor, gamma: KTensor | null, n: number, c: number, s: number, eps: number, training: boolean): { dx: unknown; dGamma: unknown; dBeta: unknown } {
    this.fail('batchNormBackward', GRADIENT);
    return this.inner.batchNormBackward(dy, x, mean, variance, gamma, n, c, s, eps, training);
  }

  attention(q: KTensor, k: KTensor, v: KTensor, mask: KTensor | null, p: AttentionParams): { out: unknown; lse: unknown } {
    const r = this.inner.attention(q, k, v, mask, p);
    this.begin('attention');
    const g = this.g;
    // softmax(q·kᵀ·scale + mask)·v, as MatMul/Softmax/MatMul (runs on every execution provider).
    let logits = g.op('Mul', [g.op('MatMul', [this.v(q, 'attention'), g.op('Transpose', [this.v(k, 'attention')], { perm: [0, 1, 3, 2] })]), g.scalar(p.scale, q.dtype)]);
    if (mask) logits = g.op('Add', [logits, this.v(mask, 'attention')]);
    const out = g.op('MatMul', [g.op('Softmax', [logits], { axis: 3 }), this.v(v, 'attention')]);
    this.out(r.out, out, [q.shape[0]!, q.shape[1]!, q.shape[2]!, v.shape[3]!], q.dtype);
    this.unsupported(r.lse, "attention's saved log-sum-exp");
    return r;
  }

  attentionBackward(dOut: KTensor, q: KTensor, k: KTensor, v: KTensor, out: KTensor, lse: KTensor, mask: KTensor | null, p: AttentionParams): { dq: unknown; dk: unknown; dv: unknown } {
    this.fail('attentionBackward', GRADIENT);
    return this.inner.attentionBackward(dOut, q, k, v, out, lse, mask, p);
  }
}
