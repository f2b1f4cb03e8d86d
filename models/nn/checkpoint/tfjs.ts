/**
 * TF.js graph models (`model.json` + binary weight shards, as written by tensorflowjs_converter)
 * read into named host tensors and a plain node list, without TF.js. Browser-safe: the caller
 * supplies the shard bytes (see loadTfjsGraphModelFile in files.ts for Node).
 *
 * The weights format (TF.js `io.decodeWeights` and `WeightsManifestConfig`): `weightsManifest` is an
 * array of groups `{paths, weights}`; a group's shard files are concatenated in order, and its
 * weights lie back to back in that concatenation, each taking (product of shape) × (bytes of its
 * stored dtype: the quantization dtype when present, else the dtype). Little-endian throughout.
 */
import { float16BitsToNumber, type HostTensor } from '../safetensors.js';

/** One node of the graph (`modelTopology.node[i]`), with `input` and `attr` defaulted to empty. */
export interface TfjsGraphNode {
  name: string;
  op: string;
  inputs: string[];
  attr: Record<string, unknown>;
}

/** A TF.js graph model: its header fields, nodes (in file order) and decoded weights (in manifest order). */
export interface TfjsGraphModel {
  format: string;
  generatedBy?: string;
  convertedBy?: string;
  signature?: unknown;
  nodes: TfjsGraphNode[];
  weights: Map<string, HostTensor>;
}

/** Bytes per stored value, for weight dtypes and quantization dtypes. */
const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1 };
const QUANT_BYTES: Record<string, number> = { uint8: 1, uint16: 2, float16: 2 };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const show = (v: unknown): string => {
  try {
    const s = JSON.stringify(v);
    return s === undefined ? String(v) : s.length > 80 ? `${s.slice(0, 77)}...` : s;
  } catch {
    return String(v);
  }
};

/** A checked manifest entry (internal to the TF.js reader). */
export interface TfjsWeightSpec {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32' | 'bool';
  quant?: { dtype: 'uint8' | 'uint16' | 'float16'; scale: number; min: number };
  /** Element count and stored bytes (possibly huge for a hostile shape: checked against the bytes read before allocating). */
  count: number;
  bytes: number;
}

/** A checked manifest group (internal to the TF.js reader). */
export interface TfjsGroupSpec {
  paths: string[];
  weights: TfjsWeightSpec[];
  bytes: number;
}

/** A checked model.json (internal to the TF.js reader). */
export interface TfjsParsedModelJson {
  json: Record<string, unknown>;
  groups: TfjsGroupSpec[];
}

/**
 * Parses and checks model.json (everything but the shard bytes). Shared by readTfjsGraphModel and
 * loadTfjsGraphModelFile (which needs the shard paths before reading them); not exported from the
 * package index.
 * @throws Error as described on readTfjsGraphModel.
 */
export function parseTfjsModelJson(modelJson: unknown, source = 'model.json'): TfjsParsedModelJson {
  const op = `readTfjsGraphModel(${source})`;
  let json: unknown = modelJson;
  if (typeof json === 'string') {
    try {
      json = JSON.parse(json);
    } catch (e) {
      throw new Error(`${op}: expected JSON text, got unparsable text (${(e as Error).message})`);
    }
  } else if (json instanceof Uint8Array) {
    throw new Error(`${op}: expected the parsed JSON or its text, got bytes (decode them with TextDecoder first)`);
  }
  if (!isObject(json)) throw new Error(`${op}: expected a JSON object, got ${Array.isArray(json) ? 'an array' : show(json)}`);
  const format = json.format;
  if (format !== 'graph-model') {
    const hint = format === 'layers-model' ? ' (Keras layers-models are not supported; convert with tensorflowjs_converter --output_format=tfjs_graph_model)' : '';
    throw new Error(`${op}: expected format 'graph-model', got ${show(format)}${hint}`);
  }
  const manifest = json.weightsManifest;
  if (!Array.isArray(manifest)) throw new Error(`${op}: expected weightsManifest to be an array of {paths, weights} groups, got ${show(manifest)}`);
  const groups: TfjsGroupSpec[] = [];
  const seen = new Map<string, number>();
  manifest.forEach((g: unknown, gi) => {
    if (!isObject(g)) throw new Error(`${op}: expected weightsManifest[${gi}] to be an object {paths, weights}, got ${show(g)}`);
    const { paths, weights } = g;
    if (!Array.isArray(paths) || !paths.every((p) => typeof p === 'string')) {
      throw new Error(`${op}: expected weightsManifest[${gi}].paths to be an array of strings, got ${show(paths)}`);
    }
    if (!Array.isArray(weights)) throw new Error(`${op}: expected weightsManifest[${gi}].weights to be an array, got ${show(weights)}`);
    const specs: TfjsWeightSpec[] = [];
    let bytes = 0;
    weights.forEach((w: unknown, wi) => {
      const where = `weightsManifest[${gi}].weights[${wi}]`;
      if (!isObject(w) || typeof w.name !== 'string') throw new Error(`${op}: expected ${where} to be an object with a string name, got ${show(w)}`);
      const name = w.name;
      const at = `'${name}' (${where})`;
      if (seen.has(name)) throw new Error(`${op}: expected unique weight names, got '${name}' twice (group ${seen.get(name)} and group ${gi})`);
      seen.set(name, gi);
      const shape = w.shape;
      if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
        throw new Error(`${op}: expected the shape of ${at} to be an array of non-negative integers, got ${show(shape)}`);
      }
      const dtype = w.dtype;
      if (dtype === 'string') throw new Error(`${op}: string weights are unsupported: ${at} has dtype 'string' (expected float32, int32 or bool)`);
      if (typeof dtype !== 'string' || !Object.hasOwn(DTYPE_BYTES, dtype)) {
        throw new Error(`${op}: expected the dtype of ${at} to be float32, int32 or bool, got ${show(dtype)}`);
      }
      let quant: TfjsWeightSpec['quant'];
      let width = DTYPE_BYTES[dtype]!;
      if (w.quantization !== undefined && w.quantization !== null) {
        const q = w.quantization;
        if (!isObject(q) || typeof q.dtype !== 'string' || !Object.hasOwn(QUANT_BYTES, q.dtype)) {
          throw new Error(`${op}: expected the quantization dtype of ${at} to be uint8, uint16 or float16, got ${show(isObject(q) ? q.dtype : q)}`);
        }
        const qd = q.dtype as 'uint8' | 'uint16' | 'float16';
        if (qd === 'float16') {
          if (dtype !== 'float32') throw new Error(`${op}: expected float16 quantization only on float32 weights, got ${at} of dtype ${dtype}`);
          quant = { dtype: qd, scale: 1, min: 0 };
        } else {
          if (dtype === 'bool') throw new Error(`${op}: expected ${qd} quantization only on float32 or int32 weights, got ${at} of dtype bool`);
          if (typeof q.scale !== 'number' || !Number.isFinite(q.scale) || typeof q.min !== 'number' || !Number.isFinite(q.min)) {
            throw new Error(`${op}: expected numeric scale and min for the ${qd} quantization of ${at}, got scale ${show(q.scale)}, min ${show(q.min)}`);
          }
          quant = { dtype: qd, scale: q.scale, min: q.min };
        }
        width = QUANT_BYTES[qd]!;
      }
      // A hostile shape may multiply to a huge (even inexact) number; it then cannot match the
      // bytes present, which is checked before any allocation.
      const count = (shape as number[]).reduce((a, b) => a * b, 1);
      const spec: TfjsWeightSpec = { name, shape: shape as number[], dtype: dtype as TfjsWeightSpec['dtype'], count, bytes: count * width };
      if (quant) spec.quant = quant;
      specs.push(spec);
      bytes += spec.bytes;
    });
    groups.push({ paths: paths as string[], weights: specs, bytes });
  });
  return { json, groups };
}

function parseNodes(op: string, json: Record<string, unknown>): TfjsGraphNode[] {
  const topo = json.modelTopology;
  if (!isObject(topo) || !Array.isArray(topo.node)) {
    throw new Error(`${op}: expected modelTopology to be an object with a node array, got ${isObject(topo) ? `node ${show(topo.node)}` : show(topo)}`);
  }
  return topo.node.map((n: unknown, i) => {
    if (!isObject(n) || typeof n.name !== 'string' || typeof n.op !== 'string') {
      throw new Error(`${op}: expected modelTopology.node[${i}] to have a string name and op, got ${show(n)}`);
    }
    const input = n.input ?? [];
    if (!Array.isArray(input) || !input.every((s) => typeof s === 'string')) {
      throw new Error(`${op}: expected the input of node '${n.name}' (modelTopology.node[${i}]) to be an array of strings, got ${show(input)}`);
    }
    const attr = n.attr ?? {};
    if (!isObject(attr)) throw new Error(`${op}: expected the attr of node '${n.name}' (modelTopology.node[${i}]) to be an object, got ${show(attr)}`);
    return { name: n.name, op: n.op, inputs: [...(input as string[])], attr };
  });
}

function decodeWeight(spec: TfjsWeightSpec, dv: DataView): HostTensor {
  const { count, quant, shape } = spec;
  if (quant?.dtype === 'float16') {
    const a = new Float32Array(count);
    for (let i = 0; i < count; i++) a[i] = float16BitsToNumber(dv.getUint16(i * 2, true));
    return { dtype: 'float32', shape, data: a };
  }
  if (quant) {
    // value = q * scale + min, as TF.js: float32 weights keep it (rounded to float32), int32 weights round it.
    const read = quant.dtype === 'uint8' ? (i: number) => dv.getUint8(i) : (i: number) => dv.getUint16(i * 2, true);
    const a = spec.dtype === 'int32' ? new Int32Array(count) : new Float32Array(count);
    const round = spec.dtype === 'int32';
    for (let i = 0; i < count; i++) {
      const v = read(i) * quant.scale + quant.min;
      a[i] = round ? Math.round(v) : v;
    }
    return { dtype: spec.dtype === 'int32' ? 'int32' : 'float32', shape, data: a };
  }
  if (spec.dtype === 'float32') {
    const a = new Float32Array(count);
    for (let i = 0; i < count; i++) a[i] = dv.getFloat32(i * 4, true);
    return { dtype: 'float32', shape, data: a };
  }
  const a = new Int32Array(count);
  if (spec.dtype === 'int32') for (let i = 0; i < count; i++) a[i] = dv.getInt32(i * 4, true);
  else for (let i = 0; i < count; i++) a[i] = dv.getUint8(i) ? 1 : 0;
  return { dtype: 'int32', shape, data: a };
}

/**
 * Reads a TF.js graph model: header fields, `modelTopology.node` as TfjsGraphNode[] (only the main
 * graph; `modelTopology.library` functions are not read) and the weights of `weightsManifest`
 * decoded to host tensors with the manifest's shapes: float32 -> float32; int32 -> int32; bool ->
 * int32 0/1 (any non-zero byte is 1; TF.js keeps the raw byte); float16 quantization -> float32
 * (IEEE half); uint8/uint16 affine quantization -> q * scale + min (float32, or rounded for int32
 * weights, as TF.js does).
 * Format: TF.js `io.decodeWeights` / `WeightsManifestConfig` (tfjs-core/src/io), see the module doc.
 * @param modelJson the parsed model.json or its text.
 * @param readShard returns the bytes of one shard, by its path as written in the manifest.
 * @param source a file name for error messages (default 'model.json').
 * @throws Error naming `source`, the entry, and what was expected vs got, when: the JSON does not
 *   parse or is not an object; format is not 'graph-model' (layers-models are unsupported);
 *   weightsManifest or one of its groups is missing or malformed; a shape dim is not a non-negative
 *   integer; a dtype or quantization dtype is unknown, or the dtype is 'string' (unsupported);
 *   uint8/uint16 quantization lacks a numeric scale and min; a weight name repeats; a node lacks a
 *   string name or op; readShard returns no bytes; a group's shards are shorter or longer than its
 *   weights need (a size mismatch is found before any weight is allocated).
 */
export function readTfjsGraphModel(modelJson: unknown, readShard: (path: string) => Uint8Array, source = 'model.json'): TfjsGraphModel {
  const op = `readTfjsGraphModel(${source})`;
  const { json, groups } = parseTfjsModelJson(modelJson, source);
  const nodes = parseNodes(op, json);
  const weights = new Map<string, HostTensor>();
  groups.forEach((g, gi) => {
    const shards = g.paths.map((p) => {
      const b = readShard(p);
      if (!(b instanceof Uint8Array)) throw new Error(`${op}: expected readShard('${p}') to return a Uint8Array, got ${b === null || b === undefined ? String(b) : typeof b}`);
      return b;
    });
    const got = shards.reduce((a, b) => a + b.length, 0);
    for (const w of g.weights) {
      if (w.bytes > got) {
        throw new Error(`${op}: expected the shape of '${w.name}' to fit the ${got} bytes present in group ${gi} (paths ${g.paths.join(', ') || '(none)'}), got shape [${w.shape.join(', ')}] needing ${w.bytes} bytes`);
      }
    }
    if (got !== g.bytes) {
      // The byte count is the sum of the weights' sizes; a hostile shape gives a huge (possibly
      // inexact) number, which cannot equal the bytes actually read.
      const why = got < g.bytes ? 'shorter than the manifest needs' : 'trailing bytes: the manifest does not match the shards';
      throw new Error(`${op}: expected ${g.bytes} bytes for group ${gi} (paths ${g.paths.join(', ') || '(none)'}), got ${got} (${why})`);
    }
    let data: Uint8Array;
    if (shards.length === 1) data = shards[0]!;
    else {
      data = new Uint8Array(got);
      let o = 0;
      for (const s of shards) {
        data.set(s, o);
        o += s.length;
      }
    }
    let off = 0;
    for (const w of g.weights) {
      weights.set(w.name, decodeWeight(w, new DataView(data.buffer, data.byteOffset + off, w.bytes)));
      off += w.bytes;
    }
  });
  const out: TfjsGraphModel = { format: json.format as string, nodes, weights };
  if (typeof json.generatedBy === 'string') out.generatedBy = json.generatedBy;
  if (typeof json.convertedBy === 'string') out.convertedBy = json.convertedBy;
  if (json.signature !== undefined) out.signature = json.signature;
  return out;
}

function base64ToString(b64: string): string {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new TextDecoder().decode(bytes);
}

/**
 * One attribute of a node as a plain value, decoding TF.js's JSON form of the AttrValue proto:
 * `{i: "2"}` -> 2; `{f: 0.5}` -> 0.5 ("NaN"/"Infinity" strings too); `{b: true}` -> true;
 * `{s: base64}` -> the decoded (UTF-8) string; `{type: 'DT_FLOAT'}` -> 'DT_FLOAT';
 * `{list: {i: [...]}}` -> number[] (likewise f -> number[], b -> boolean[], s -> string[] decoded,
 * type -> string[]; an empty `{list: {}}` -> []); `{shape: ...}`, `{tensor: ...}`, `{func: ...}`
 * -> that object as is. Missing attribute -> undefined; an unrecognized form -> the raw value.
 * @throws Error when an `s` value is not valid base64.
 */
export function tfjsAttr(node: TfjsGraphNode, key: string): unknown {
  const v = Object.hasOwn(node.attr, key) ? node.attr[key] : undefined;
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) return v;
  const s = (x: unknown): string => {
    try {
      return base64ToString(String(x));
    } catch {
      throw new Error(`tfjsAttr: expected base64 in attr '${key}' of node '${node.name}', got ${show(x)}`);
    }
  };
  if ('i' in v) return Number(v.i);
  if ('f' in v) return Number(v.f);
  if ('b' in v) return v.b === true || v.b === 'true';
  if ('s' in v) return s(v.s);
  if ('type' in v) return v.type;
  if ('list' in v) {
    const l = v.list;
    if (!isObject(l)) return [];
    if (Array.isArray(l.i)) return l.i.map(Number);
    if (Array.isArray(l.f)) return l.f.map(Number);
    if (Array.isArray(l.b)) return l.b.map((x) => x === true || x === 'true');
    if (Array.isArray(l.s)) return l.s.map(s);
    if (Array.isArray(l.type)) return [...l.type];
    if (Array.isArray(l.shape)) return [...l.shape];
    return [];
  }
  if ('shape' in v) return v.shape;
  if ('tensor' in v) return v.tensor;
  if ('func' in v) return v.func;
  return v;
}
