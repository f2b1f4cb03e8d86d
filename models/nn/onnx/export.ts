/**
 * ONNX export: `exportOnnx(module, exampleInputs, options)` runs the module's forward on the
 * example once (twice for a dynamic batch axis) with a tracing backend (trace.ts), and returns the
 * ONNX model of what it computed: the ops as nodes, parameters and buffers as initializers under
 * their state-dict names, and inputs and outputs named after the forward's arguments and result.
 *
 * - The forward runs in eval mode (batch norm with running statistics, no dropout) under noGrad;
 *   the module's modes are restored afterwards.
 * - Control flow is traced, not captured: a forward that branches on shapes or on options exports
 *   the branch the example takes (as torch.onnx.export's tracer does).
 * - A dynamic batch axis (`dynamicAxes`) is found by tracing at two batch sizes: the shapes that
 *   change with the batch become computed shapes (or -1/0 in Reshape), the rest stay constants.
 * - Batch norm that follows a conv is folded into the conv's weights (`foldBatchNorm`, default on).
 */
import type { KTensor } from '../../../backends/backend.js';
import { engine, noGrad } from '../../../engine/engine.js';
import { Tensor } from '../../../engine/tensor.js';
import { indexSelect } from '../../../ops/shape.js';
import { tensor } from '../../../ops/creation.js';
import { trustedIndices } from '../../../ops/internal/indices.js';
import type { Module } from '../module.js';
import { encodeModel, type AttrValue, type OnnxGraph, type OnnxNode, type OnnxValue } from './proto.js';
import { onnxElemType, TracingBackend, TraceGraph, type InitData, type TInit, type TNode, type TValueInfo } from './trace.js';

/** The opset exportOnnx writes unless told otherwise (DeformConv needs 19). */
export const DEFAULT_OPSET = 19;
/** The opsets exportOnnx can write. */
export const SUPPORTED_OPSETS: readonly [number, number] = [13, 23];

export interface ExportOnnxOptions {
  /** Opset of the default domain, 13..23 (default 19). DeformConv needs 19, LayerNormalization 17, GridSample 16. */
  opset?: number;
  /**
   * Dynamic axes, as torch.onnx.export's `dynamic_axes`: graph input or output name → the axes
   * that vary, as `{ 0: 'batch' }` or `[0]` (named 'batch'). One symbol is supported, a batch axis
   * shared by the inputs that have it; outputs whose size follows it get it too.
   */
  dynamicAxes?: Readonly<Record<string, Readonly<Record<number, string>> | readonly number[]>>;
  /** Names of the graph inputs, in the order of the tensors in `exampleInputs` (default: from their places in it). */
  inputNames?: readonly string[];
  /** Names of the graph outputs, in the order of the tensors the forward returns (default: from their places in it). */
  outputNames?: readonly string[];
  /** Fold BatchNormalization into the Conv before it (default true). */
  foldBatchNorm?: boolean;
  /** Call this method instead of `forward` (e.g. 'forwardFrames'). */
  method?: string;
  /** ModelProto.doc_string. */
  docString?: string;
  /** ModelProto.metadata_props. */
  metadata?: Readonly<Record<string, string>>;
}

/** What exportOnnxGraph returns: the graph, and the names and shapes of its inputs and outputs. */
export interface ExportedOnnx {
  graph: OnnxGraph;
  inputs: OnnxValue[];
  outputs: OnnxValue[];
}

interface Leaf {
  path: (string | number)[];
  tensor: Tensor;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false;
  const p = Object.getPrototypeOf(v) as object | null;
  return p === Object.prototype || p === null;
}

/** The tensors in a value (arrays and plain objects walked in order), with their paths. */
function leaves(v: unknown, path: (string | number)[] = [], out: Leaf[] = []): Leaf[] {
  if (v instanceof Tensor) out.push({ path, tensor: v });
  else if (Array.isArray(v)) v.forEach((x, i) => leaves(x, [...path, i], out));
  else if (isPlainObject(v)) for (const [k, x] of Object.entries(v)) leaves(x, [...path, k], out);
  return out;
}

/** `v` with every tensor replaced by fn(tensor). */
function mapTensors(v: unknown, fn: (t: Tensor) => Tensor): unknown {
  if (v instanceof Tensor) return fn(v);
  if (Array.isArray(v)) return v.map((x) => mapTensors(x, fn));
  if (isPlainObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, mapTensors(x, fn)]));
  return v;
}

/**
 * Default names from the tensors' places: `prefix` for a lone tensor, the object keys and array
 * indices joined by '_' otherwise ('cur', 'frames_0'), an index alone prefixed ('output_0').
 * With `argList`, the first path element is the argument index, dropped when there is one argument.
 */
function defaultNames(ls: readonly Leaf[], prefix: string, argList: boolean, argCount = 1): string[] {
  return ls.map((l) => {
    let path = l.path;
    if (argList && argCount === 1) path = path.slice(1);
    if (path.length === 0) return prefix;
    const parts = path.map(String);
    if (typeof path[0] === 'number') parts[0] = `${prefix}_${parts[0]}`;
    return parts.join('_');
  });
}

function pickNames(what: string, given: readonly string[] | undefined, defaults: string[]): string[] {
  if (given === undefined) return defaults;
  if (given.length !== defaults.length) throw new Error(`exportOnnx: expected ${defaults.length} ${what} names (${defaults.join(', ')}), got ${given.length}: [${given.join(', ')}]`);
  return [...given];
}

/** Runs fn with the module (and its submodules) in eval mode, then restores each one's mode. */
function inEval<T>(module: Module, fn: () => T): T {
  const modes = module.namedModules().map(([, m]) => [m, m.training] as const);
  module.eval();
  try {
    return fn();
  } finally {
    for (const [m, t] of modes) m.training = t;
  }
}

interface TraceResult {
  g: TraceGraph;
  outputNames: string[];
  outputValues: string[];
}

function traceOnce(module: Module, args: readonly unknown[], inputNames: readonly string[], opts: ExportOnnxOptions, opset: number, batchAgnostic = false): TraceResult {
  const ins = leaves(args);
  const device = ins[0]?.tensor.device ?? module.parameters()[0]?.device ?? engine.defaultDevice;
  for (const [i, l] of ins.entries()) {
    if (l.tensor.isDisposed) throw new Error(`exportOnnx: expected live input tensors, got input '${inputNames[i]}' disposed`);
    if (l.tensor.device !== device) throw new Error(`exportOnnx: expected every input on ${device}, got input '${inputNames[i]}' on ${l.tensor.device}`);
  }
  for (const [name, t] of [...module.namedParameters(), ...module.namedBuffers()]) {
    if (!t.isDisposed && t.device !== device) throw new Error(`exportOnnx: expected the module on ${device} (the inputs' device), got '${name}' on ${t.device}`);
  }
  const paramNames = new Map<unknown, string>();
  for (const [name, t] of [...module.namedParameters(), ...module.namedBuffers()]) {
    if (t.isDisposed) continue;
    const s = t.storage('exportOnnx');
    if (!paramNames.has(s)) paramNames.set(s, name);
  }
  const inner = engine.backend(device);
  if (inner instanceof TracingBackend) throw new Error('exportOnnx: expected no export already running (exportOnnx is not reentrant)');
  const g = new TraceGraph(opset);
  const tracer = new TracingBackend(inner, g, paramNames, batchAgnostic);
  ins.forEach((l, i) => tracer.addInput(l.tensor.storage('exportOnnx'), inputNames[i]!, l.tensor.shape, l.tensor.dtype));
  const method = opts.method ?? 'forward';
  const fn = (module as unknown as Record<string, unknown>)[method];
  if (typeof fn !== 'function') throw new Error(`exportOnnx: expected the module to have a method '${method}', got ${typeof fn}`);
  let outputNames: string[] = [];
  const outputValues: string[] = [];
  engine.registerBackend(tracer);
  try {
    engine.tidy(() =>
      noGrad(() => {
        // Index checks run in the tracer (TracingBackend.checkIndices), not as read-backs of the graph's values.
        const result = trustedIndices(() => (fn as (...a: unknown[]) => unknown).apply(module, args as unknown[]));
        const outs = leaves(result);
        if (outs.length === 0) throw new Error(`exportOnnx: expected ${method} to return tensors (a Tensor, or arrays or objects of them), got ${describeValue(result)}`);
        outputNames = pickNames('output', opts.outputNames, defaultNames(outs, 'output', false));
        for (const [i, o] of outs.entries()) {
          g.kernel = 'output';
          outputValues.push(tracer.valueOf(o.tensor.k('exportOnnx') as KTensor, `output '${outputNames[i]}'`));
          g.outputs.push({ name: outputNames[i]!, shape: [...o.tensor.shape], dtype: o.tensor.dtype });
        }
      }),
    );
  } finally {
    engine.registerBackend(inner);
  }
  return { g, outputNames, outputValues };
}

function describeValue(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  return typeof v === 'object' ? (v.constructor?.name ?? 'an object') : typeof v;
}

// ------------------------------------------------------------------------------ dynamic batch

interface Batch {
  symbol: string;
  /** The graph input and axis its size is read from. */
  input: string;
  axis: number;
  n1: number;
  n2: number;
}

/** The dynamic input axes of `dynamicAxes` (input name → axis) and their one symbol; output entries are checked after tracing. */
function parseDynamicAxes(spec: NonNullable<ExportOnnxOptions['dynamicAxes']>, inputNames: readonly string[]): { inputs: Map<string, number>; symbol: string } {
  const inputs = new Map<string, number>();
  const symbols = new Set<string>();
  for (const [name, axes] of Object.entries(spec)) {
    const entries: [number, string][] = Array.isArray(axes) ? axes.map((a) => [a, 'batch']) : Object.entries(axes).map(([a, sym]) => [Number(a), sym as string]);
    if (entries.length !== 1) throw new Error(`exportOnnx: dynamicAxes['${name}']: expected one dynamic axis (a batch axis), got ${entries.length}`);
    const [axis, symbol] = entries[0]!;
    if (!Number.isInteger(axis) || axis < 0) throw new Error(`exportOnnx: dynamicAxes['${name}']: expected a non-negative axis, got ${axis}`);
    if (typeof symbol !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(symbol)) throw new Error(`exportOnnx: dynamicAxes['${name}']: expected a symbol name such as 'batch', got ${JSON.stringify(symbol)}`);
    symbols.add(symbol);
    if (inputNames.includes(name)) inputs.set(name, axis);
  }
  if (symbols.size !== 1) throw new Error(`exportOnnx: dynamicAxes: expected one symbol (a batch axis shared by the inputs), got [${[...symbols].join(', ')}]`);
  if (inputs.size === 0) throw new Error(`exportOnnx: dynamicAxes: expected at least one input axis (inputs: ${inputNames.join(', ')}), got entries for [${Object.keys(spec).join(', ')}]`);
  return { inputs, symbol: [...symbols][0]! };
}

/** The example's tensors resized along their dynamic axis to `n` (rows repeated cyclically). */
function resizedArgs(args: readonly unknown[], names: readonly string[], dyn: ReadonlyMap<string, number>, n: number): unknown[] {
  let i = 0;
  return mapTensors(args, (t) => {
    const axis = dyn.get(names[i++]!);
    if (axis === undefined) return t;
    const size = t.shape[axis]!;
    if (size === n) return t;
    const idx = tensor(Int32Array.from({ length: n }, (_, j) => j % size), { dtype: 'int32', device: t.device });
    const out = indexSelect(t, axis, idx);
    idx.dispose();
    return out;
  }) as unknown[];
}

const INT64_MAX = 9223372036854775807n;

const sameArray = (a: ArrayLike<unknown>, b: ArrayLike<unknown>): boolean => a.length === b.length && Array.from(a).every((x, i) => x === b[i]);

function sameNode(a: TNode, b: TNode): boolean {
  return a.op === b.op && sameArray(a.inputs, b.inputs) && sameArray(a.outputs, b.outputs) && JSON.stringify(a.attrs) === JSON.stringify(b.attrs);
}

/**
 * Merges traces at batch n1 and n2 into one graph with a dynamic batch: nodes must match; shape
 * vectors that differ become computed (or -1/0 in Reshape, "to the end" in Slice); host constants
 * that are repeated along the batch become an Expand.
 */
function mergeTraces(t1: TraceGraph, t2: TraceGraph, b: Batch): { nodes: TNode[]; inits: Map<string, TInit> } {
  const where = `between batch ${b.n1} and ${b.n2}`;
  if (t1.nodes.length !== t2.nodes.length || t1.nodes.some((n, i) => !sameNode(n, t2.nodes[i]!))) {
    const i = t1.nodes.findIndex((n, j) => !t2.nodes[j] || !sameNode(n, t2.nodes[j]!));
    const a = t1.nodes[i];
    const c = t2.nodes[i];
    let what = `${a ? `${a.op} from ${a.kernel}` : 'none'} vs ${c ? `${c.op} from ${c.kernel}` : 'none'}`;
    if (a && c && a.op === c.op) {
      const attrs = Object.keys({ ...a.attrs, ...c.attrs }).filter((k) => JSON.stringify(a.attrs[k]) !== JSON.stringify(c.attrs[k]));
      if (attrs.length) what = `${a.op} from ${a.kernel}, whose ${attrs.map((k) => `${k} is ${JSON.stringify(a.attrs[k])} at batch ${b.n1} and ${JSON.stringify(c.attrs[k])} at batch ${b.n2}`).join(', ')}`;
    }
    throw new Error(`exportOnnx: cannot make the batch axis dynamic: the traced graph differs ${where} at node ${i} (${what}), so the forward's ops depend on the batch size; export without dynamicAxes`);
  }
  const prelude: TNode[] = [];
  const inits = new Map<string, TInit>();
  let batchName: string | null = null;
  const batchVec = (): string => {
    if (batchName) return batchName;
    batchName = `${b.symbol}_size`;
    if (t1.opset >= 15) prelude.push({ op: 'Shape', inputs: [b.input], outputs: [batchName], attrs: { start: b.axis, end: b.axis + 1 }, kernel: 'dynamic batch' });
    else {
      prelude.push({ op: 'Shape', inputs: [b.input], outputs: [`${batchName}_all`], attrs: {}, kernel: 'dynamic batch' });
      prelude.push({ op: 'Gather', inputs: [`${batchName}_all`, `${batchName}_axis`], outputs: [batchName], attrs: { axis: 0 }, kernel: 'dynamic batch' });
      inits.set(`${batchName}_axis`, { name: `${batchName}_axis`, shape: [1], data: BigInt64Array.from([BigInt(b.axis)]), origin: 'an index constant' });
    }
    return batchName;
  };
  /** Emits nodes computing `exprs` (constants, or a + k·batch) into `name`. */
  const compute = (name: string, exprs: ({ c: bigint } | { a: number; k: number })[]): void => {
    const parts: string[] = [];
    let run: bigint[] = [];
    const flush = (): void => {
      if (!run.length) return;
      const n = `${name}_c${parts.length}`;
      inits.set(n, { name: n, shape: [run.length], data: BigInt64Array.from(run), origin: 'a shape vector' });
      parts.push(n);
      run = [];
    };
    for (const e of exprs) {
      if ('c' in e) {
        run.push(e.c);
        continue;
      }
      flush();
      let cur = batchVec();
      const tag = `${name}_e${parts.length}`;
      if (e.k !== 1) {
        inits.set(`${tag}_k`, { name: `${tag}_k`, shape: [1], data: BigInt64Array.from([BigInt(e.k)]), origin: 'a shape vector' });
        prelude.push({ op: 'Mul', inputs: [cur, `${tag}_k`], outputs: [`${tag}_mul`], attrs: {}, kernel: 'dynamic batch' });
        cur = `${tag}_mul`;
      }
      if (e.a !== 0) {
        inits.set(`${tag}_a`, { name: `${tag}_a`, shape: [1], data: BigInt64Array.from([BigInt(e.a)]), origin: 'a shape vector' });
        prelude.push({ op: 'Add', inputs: [cur, `${tag}_a`], outputs: [`${tag}_add`], attrs: {}, kernel: 'dynamic batch' });
        cur = `${tag}_add`;
      }
      parts.push(cur);
    }
    flush();
    prelude.push({ op: parts.length === 1 ? 'Identity' : 'Concat', inputs: parts, outputs: [name], attrs: parts.length === 1 ? {} : { axis: 0 }, kernel: 'dynamic batch' });
  };
  const fit = (v1: number, v2: number): { a: number; k: number } => {
    const k = (v2 - v1) / (b.n2 - b.n1);
    return { a: v1 - k * b.n1, k };
  };

  for (const [name, i1] of t1.inits) {
    const i2 = t2.inits.get(name);
    if (!i2) throw new Error(`exportOnnx: cannot make the batch axis dynamic: initializer '${name}' (${i1.origin}) exists only at batch ${b.n1}`);
    if (sameArray(i1.shape, i2.shape) && sameArray(i1.data, i2.data)) {
      inits.set(name, { ...i1, slot: undefined });
      continue;
    }
    if (i1.slot && i2.slot) {
      const v1 = Array.from(i1.data as BigInt64Array, Number);
      const v2 = Array.from(i2.data as BigInt64Array, Number);
      const lit = Array.from(i1.data as BigInt64Array);
      let rest = v1.map((x, i) => (x !== v2[i] ? i : -1)).filter((i) => i >= 0);
      const slot = i1.slot;
      const ctx1 = slot.ctx ?? [];
      const ctx2 = i2.slot.ctx ?? [];
      if (slot.kind === 'reshape') {
        if (rest.length > 1) {
          // A dim copied from the input at the same position: 0.
          rest = rest.filter((i) => {
            const copy = ctx1[i] === v1[i] && ctx2[i] === v2[i];
            if (copy) lit[i] = 0n;
            return !copy;
          });
        }
        if (rest.length === 1 && !lit.includes(-1n)) {
          lit[rest[0]!] = -1n;
          rest = [];
        }
      } else if (slot.kind === 'ends') {
        // Slicing to the end of a dim that follows the batch.
        rest = rest.filter((i) => {
          const toEnd = ctx1[i] === v1[i] && ctx2[i] === v2[i];
          if (toEnd) lit[i] = INT64_MAX;
          return !toEnd;
        });
      }
      if (rest.length === 0) inits.set(name, { name, shape: i1.shape, data: BigInt64Array.from(lit), origin: i1.origin });
      else compute(name, lit.map((x, i) => (rest.includes(i) ? fit(v1[i]!, v2[i]!) : { c: x })));
      continue;
    }
    // A host constant repeated along the batch: the first slice, expanded.
    const rank = i1.shape.length;
    const axes = i1.shape.map((d, i) => (d !== i2.shape[i] ? i : -1)).filter((i) => i >= 0);
    if (rank === i2.shape.length && axes.length > 0 && !(i1.data instanceof BigInt64Array)) {
      const first = constantAlong(i1.data, i1.shape, axes);
      const first2 = constantAlong(i2.data, i2.shape, axes);
      if (first && first2 && sameArray(first, first2)) {
        const small = `${name}_row`;
        inits.set(small, { name: small, shape: i1.shape.map((d, i) => (axes.includes(i) ? 1 : d)), data: first as InitData, origin: i1.origin });
        const shapeName = `${name}_shape`;
        compute(shapeName, i1.shape.map((d, i) => (axes.includes(i) ? fit(d, i2.shape[i]!) : { c: 1n })));
        prelude.push({ op: 'Expand', inputs: [small, shapeName], outputs: [name], attrs: {}, kernel: 'dynamic batch' });
        continue;
      }
    }
    throw new Error(`exportOnnx: cannot make the batch axis dynamic: ${i1.origin} ('${name}', shape [${i1.shape.join(', ')}] at batch ${b.n1}, [${i2.shape.join(', ')}] at batch ${b.n2}) changes with the batch size, and is not one row repeated along it`);
  }
  return { nodes: [...prelude, ...t1.nodes], inits };
}

/** The data at index 0 along `axes` when every index along them holds the same data, else null. */
function constantAlong(data: ArrayLike<number | bigint>, shape: readonly number[], axes: readonly number[]): ArrayLike<number | bigint> | null {
  const rank = shape.length;
  const strides = new Array<number>(rank).fill(1);
  for (let i = rank - 2; i >= 0; i--) strides[i] = strides[i + 1]! * shape[i + 1]!;
  const small = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const n = small.reduce((a, c) => a * c, 1);
  const out = new (data.constructor as new (n: number) => { [i: number]: number | bigint; length: number })(n);
  const idx = new Array<number>(rank).fill(0);
  for (let o = 0; o < n; o++) {
    let base = 0;
    for (let d = 0; d < rank; d++) base += idx[d]! * strides[d]!;
    out[o] = data[base]!;
    for (let d = rank - 1; d >= 0; d--) {
      if (++idx[d]! < small[d]!) break;
      idx[d] = 0;
    }
  }
  for (let p = 0; p < data.length; p++) {
    let rem = p;
    let q = 0;
    let qs = 1;
    const coords = new Array<number>(rank);
    for (let d = rank - 1; d >= 0; d--) {
      coords[d] = rem % shape[d]!;
      rem = Math.floor(rem / shape[d]!);
    }
    for (let d = rank - 1; d >= 0; d--) {
      q += (axes.includes(d) ? 0 : coords[d]!) * qs;
      qs *= small[d]!;
    }
    if (data[p] !== out[q]) return null;
  }
  return out as unknown as ArrayLike<number | bigint>;
}

// ------------------------------------------------------------------------------ graph passes

function consumers(nodes: readonly TNode[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const n of nodes) for (const i of n.inputs) if (i) m.set(i, (m.get(i) ?? 0) + 1);
  return m;
}

/** Folds BatchNormalization into the Conv that alone feeds it, when every weight is a float initializer. */
function foldBatchNorms(nodes: TNode[], inits: Map<string, TInit>, outputs: ReadonlySet<string>): TNode[] {
  const producer = new Map<string, TNode>();
  for (const n of nodes) for (const o of n.outputs) producer.set(o, n);
  const uses = consumers(nodes);
  const float = (name: string | undefined): TInit | null => {
    const t = name ? inits.get(name) : undefined;
    return t && !t.slot && (t.data instanceof Float32Array || t.data instanceof Float64Array) ? t : null;
  };
  const cache = new Map<string, [string, string]>();
  const removed = new Set<TNode>();
  for (const bn of nodes) {
    if (bn.op !== 'BatchNormalization') continue;
    const conv = producer.get(bn.inputs[0]!);
    if (!conv || conv.op !== 'Conv' || uses.get(bn.inputs[0]!) !== 1 || outputs.has(bn.inputs[0]!)) continue;
    const W = float(conv.inputs[1]);
    const B = conv.inputs[2] ? float(conv.inputs[2]) : null;
    const [scale, beta, mean, variance] = bn.inputs.slice(1).map(float);
    if (!W || (conv.inputs[2] && !B) || !scale || !beta || !mean || !variance) continue;
    const eps = (bn.attrs.epsilon as { float: number }).float;
    const cacheKey = [W.name, B?.name ?? '', ...bn.inputs.slice(1), eps].join('|');
    let folded = cache.get(cacheKey);
    if (!folded) {
      const Cout = W.shape[0]!;
      const per = W.data.length / Cout;
      const Ctor = W.data.constructor as new (n: number) => Float32Array | Float64Array;
      const w = new Ctor(W.data.length);
      const bias = new Ctor(Cout);
      const evalF = (t: TInit, i: number): number => Number((t.data as Float32Array)[t.data.length === 1 ? 0 : i]);
      for (let o = 0; o < Cout; o++) {
        // Scale in float32, as the unfolded graph computes it.
        const f = evalF(scale, o) / Math.sqrt(evalF(variance, o) + Math.fround(eps));
        for (let j = 0; j < per; j++) w[o * per + j] = (W.data as Float32Array)[o * per + j]! * f;
        bias[o] = ((B ? evalF(B, o) : 0) - evalF(mean, o)) * f + evalF(beta, o);
      }
      const unique = (base: string): string => {
        let n = base;
        for (let k = 1; inits.has(n); k++) n = `${base}_${k}`;
        return n;
      };
      const wn = unique(`${W.name}_bn`);
      inits.set(wn, { name: wn, shape: W.shape, data: w, origin: `${W.origin} with batch norm folded in` });
      const bname = unique(`${W.name.replace(/weight$/, '')}bias_bn`);
      inits.set(bname, { name: bname, shape: [Cout], data: bias, origin: `batch norm folded into ${W.origin}` });
      folded = [wn, bname];
      cache.set(cacheKey, folded);
    }
    conv.inputs = [conv.inputs[0]!, folded[0], folded[1]];
    conv.outputs = [bn.outputs[0]!];
    removed.add(bn);
  }
  return nodes.filter((n) => !removed.has(n));
}

/** Drops nodes and initializers that no output depends on. */
function prune(nodes: TNode[], inits: Map<string, TInit>, outputs: readonly string[]): TNode[] {
  const needed = new Set(outputs);
  const keep: TNode[] = [];
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i]!;
    if (!n.outputs.some((o) => needed.has(o))) continue;
    keep.push(n);
    for (const x of n.inputs) if (x) needed.add(x);
  }
  for (const name of [...inits.keys()]) if (!needed.has(name)) inits.delete(name);
  return keep.reverse();
}

interface Traced {
  nodes: TNode[];
  inits: Map<string, TInit>;
  ins: GraphValue[];
  outs: GraphValue[];
  /** The graph value of each output, in order. */
  outValues: string[];
  outNames: string[];
}

/** A graph input or output: fixed dims, and symbolic ones ('batch') for a dynamic axis. */
interface GraphValue {
  name: string;
  shape: (number | string)[];
  dtype: TValueInfo['dtype'];
}

function traceStatic(module: Module, args: readonly unknown[], inputNames: readonly string[], opts: ExportOnnxOptions, opset: number): Traced {
  const r = traceOnce(module, args, inputNames, opts, opset);
  return { nodes: [...r.g.nodes], inits: new Map(r.g.inits), ins: r.g.inputs, outs: r.g.outputs, outValues: r.outputValues, outNames: r.outputNames };
}

/** Traces at two batch sizes (the example's rows repeated) and merges the graphs (mergeTraces). */
function traceDynamic(module: Module, args: readonly unknown[], ls: readonly Leaf[], inputNames: readonly string[], opts: ExportOnnxOptions, opset: number, spec: NonNullable<ExportOnnxOptions['dynamicAxes']>): Traced {
  const dyn = parseDynamicAxes(spec, inputNames);
  const sizes = new Set<number>();
  for (const [name, axis] of dyn.inputs) {
    const t = ls[inputNames.indexOf(name)]!.tensor;
    if (axis >= t.rank) throw new Error(`exportOnnx: dynamicAxes['${name}']: expected an axis below its rank ${t.rank}, got ${axis}`);
    sizes.add(t.shape[axis]!);
  }
  if (sizes.size !== 1) throw new Error(`exportOnnx: dynamicAxes: expected the dynamic input axes to have one size in the example, got [${[...sizes].join(', ')}]`);
  // Batch 1 makes size-1 dims of either origin look alike: trace at 2 and 3 (or n and n + 1).
  const n1 = Math.max([...sizes][0]!, 2);
  const n2 = n1 + 1;
  const [input, axis] = [...dyn.inputs][0]!;
  const batch: Batch = { symbol: dyn.symbol, input, axis, n1, n2 };
  const at = (n: number): TraceResult => {
    const resized = engine.tidy(() => resizedArgs(args, inputNames, dyn.inputs, n));
    try {
      return traceOnce(module, resized, inputNames, opts, opset, true);
    } finally {
      for (const l of leaves(resized)) if (!ls.some((o) => o.tensor === l.tensor)) l.tensor.dispose();
    }
  };
  const r1 = at(n1);
  const r2 = at(n2);
  const outNames = r1.outputNames;
  for (const name of Object.keys(spec)) {
    if (!inputNames.includes(name) && !outNames.includes(name)) throw new Error(`exportOnnx: dynamicAxes: expected input or output names [${[...inputNames, ...outNames].join(', ')}], got '${name}'`);
  }
  const { nodes, inits } = mergeTraces(r1.g, r2.g, batch);
  const symbolic = (a: TValueInfo, c: TValueInfo): GraphValue => ({
    ...a,
    shape: a.shape.map((d, i) => {
      if (d === c.shape[i]) return d;
      const k = (c.shape[i]! - d) / (n2 - n1);
      const off = d - k * n1;
      return `${k === 1 ? batch.symbol : `${batch.symbol}*${k}`}${off ? `${off > 0 ? '+' : ''}${off}` : ''}`;
    }),
  });
  const ins = r1.g.inputs.map((v, i) => symbolic(v, r2.g.inputs[i]!));
  const outs = r1.g.outputs.map((v, i) => symbolic(v, r2.g.outputs[i]!));
  for (const [name, axes] of Object.entries(spec)) {
    const o = outs.find((v) => v.name === name);
    if (!o) continue;
    const ax = Array.isArray(axes) ? axes[0]! : Number(Object.keys(axes)[0]);
    if (typeof o.shape[ax] !== 'string') throw new Error(`exportOnnx: dynamicAxes['${name}']: expected output axis ${ax} to follow the batch, got a fixed size ${o.shape[ax]}`);
  }
  return { nodes, inits, ins, outs, outValues: r1.outputValues, outNames };
}

// ------------------------------------------------------------------------------ entry points

/** The graph input names exportOnnx gives the tensors of `exampleInputs` (see exportOnnx), e.g. to build `dynamicAxes`. */
export function onnxInputNames(exampleInputs: Tensor | readonly unknown[], opts: Pick<ExportOnnxOptions, 'inputNames'> = {}): string[] {
  const args: unknown[] = exampleInputs instanceof Tensor ? [exampleInputs] : [...exampleInputs];
  return pickNames('input', opts.inputNames, defaultNames(leaves(args), 'input', true, args.length));
}

/**
 * Traces `module`'s forward on `exampleInputs` and returns the ONNX graph (before encoding) with
 * its inputs and outputs. See exportOnnx.
 */
export function exportOnnxGraph(module: Module, exampleInputs: Tensor | readonly unknown[], opts: ExportOnnxOptions = {}): ExportedOnnx {
  const opset = opts.opset ?? DEFAULT_OPSET;
  if (!Number.isInteger(opset) || opset < SUPPORTED_OPSETS[0] || opset > SUPPORTED_OPSETS[1]) {
    throw new Error(`exportOnnx: expected opset an integer in [${SUPPORTED_OPSETS.join(', ')}], got ${opset}`);
  }
  const args: unknown[] = exampleInputs instanceof Tensor ? [exampleInputs] : Array.isArray(exampleInputs) ? [...exampleInputs] : [exampleInputs];
  const ls = leaves(args);
  if (ls.length === 0) throw new Error('exportOnnx: expected example inputs holding at least one Tensor, got none');
  const inputNames = pickNames('input', opts.inputNames, defaultNames(ls, 'input', true, args.length));
  if (new Set(inputNames).size !== inputNames.length) throw new Error(`exportOnnx: expected distinct input names, got [${inputNames.join(', ')}]`);

  return inEval(module, () => {
    const dynSpec = opts.dynamicAxes && Object.keys(opts.dynamicAxes).length ? opts.dynamicAxes : null;
    const traced = dynSpec ? traceDynamic(module, args, ls, inputNames, opts, opset, dynSpec) : traceStatic(module, args, inputNames, opts, opset);
    const { ins, outs, outValues, outNames } = traced;
    let { nodes } = traced;
    const { inits } = traced;

    const clash = outNames.find((n, i) => outNames.indexOf(n) !== i || inputNames.includes(n) || inits.has(n));
    if (clash !== undefined) throw new Error(`exportOnnx: expected output names distinct from each other, the inputs and the weights, got '${clash}' twice (outputs [${outNames.join(', ')}])`);
    // Outputs: the value itself when a node produces it (renamed), else an Identity.
    const rename = new Map<string, string>();
    const claimed = new Set<string>();
    const produced = new Set(nodes.flatMap((n) => n.outputs));
    const extra: TNode[] = [];
    outValues.forEach((v, i) => {
      const name = outNames[i]!;
      if (produced.has(v) && !claimed.has(v) && !ins.some((x) => x.name === v) && !outNames.includes(v)) {
        rename.set(v, name);
        claimed.add(v);
      } else extra.push({ op: 'Identity', inputs: [rename.get(v) ?? v], outputs: [name], attrs: {}, kernel: 'output' });
    });
    const rn = (s: string): string => rename.get(s) ?? s;
    nodes = nodes.map((n) => ({ ...n, inputs: n.inputs.map(rn), outputs: n.outputs.map(rn) }));
    nodes.push(...extra.map((n) => ({ ...n, inputs: n.inputs.map(rn) })));
    if (opts.foldBatchNorm ?? true) nodes = foldBatchNorms(nodes, inits, new Set(outNames));
    nodes = prune(nodes, inits, outNames);

    const toValue = (v: GraphValue): OnnxValue => ({ name: v.name, shape: v.shape, elemType: onnxElemType(v.dtype) });
    const inputs = ins.map(toValue);
    const outputs = outs.map(toValue);
    const counts = new Map<string, number>();
    const graph: OnnxGraph = {
      opset,
      name: module.constructor.name,
      producer: 'posegrad',
      docString: opts.docString,
      metadata: { 'posegrad.module': module.constructor.name, ...(opts.metadata ?? {}) },
      inputs,
      outputs,
      nodes: nodes.map((n): OnnxNode => {
        const c = counts.get(n.op) ?? 0;
        counts.set(n.op, c + 1);
        return { op: n.op, inputs: n.inputs, outputs: n.outputs, attrs: n.attrs as Record<string, AttrValue>, name: `${n.op}_${c}` };
      }),
      initializers: [...inits.values()].map((t) => ({ name: t.name, shape: t.shape, data: t.data })),
    };
    return { graph, inputs, outputs };
  });
}

/**
 * Exports a module as an ONNX model (protobuf bytes) for onnxruntime (node, web, server), by
 * tracing its forward on `exampleInputs`: one Tensor, or the forward's arguments as an array (each
 * may be an object or array holding tensors, e.g. `[{ cur, prev, next }]`). Weights become
 * initializers named by their state-dict keys; graph inputs are named after their place in the
 * arguments ('input', or 'cur', 'prev', ...) unless `inputNames` says otherwise, and outputs after
 * their place in the result ('output', or 'heatmaps', 'hFinal', ...) unless `outputNames` does.
 * Runs on a cpu or wasm module. See docs/export.md.
 *
 *   const bytes = nn.exportOnnx(model, [x], { dynamicAxes: { input: { 0: 'batch' } } });
 *
 * @throws Error naming the op when the forward uses one that cannot be exported (a gradient, batch
 *   statistics in training mode, an op that needs a higher opset), or when the batch axis cannot
 *   be made dynamic (naming the node or constant that depends on it).
 */
export function exportOnnx(module: Module, exampleInputs: Tensor | readonly unknown[], opts: ExportOnnxOptions = {}): Uint8Array {
  return encodeModel(exportOnnxGraph(module, exampleInputs, opts).graph);
}
