/**
 * The .pth loader against files written by torch.save (test/reference/checkpoints.py): zip, legacy
 * and tar containers, deflated zips, dtype conversions, strided views, nested training
 * checkpoints, an Adam state resumed from PyTorch, malicious and broken files; safetensors save and
 * training checkpoints round trips.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { engine, tidy } from '../../engine/engine.js';
import type { Tensor } from '../../engine/tensor.js';
import { square, sub } from '../../ops/elementwise.js';
import { mean } from '../../ops/reduce.js';
import { reshape } from '../../ops/shape.js';
import { tensor } from '../../ops/creation.js';
import { BatchNorm2d, Conv2d, Identity, Linear, ReLU, Sequential } from '../../models/nn/layers.js';
import { Adam, MultiStepLR, SGD } from '../../models/nn/optim.js';
import { readSafetensors, type HostTensor } from '../../models/nn/safetensors.js';
import { crc32, crc32Portable, readZip, readZipEntry } from '../../models/nn/checkpoint/zip.js';
import {
  detectFormat, extractStateDict, loadCheckpointFile, loadInto, loadPth, loadPthAsync, mapKeys, pyAttributes,
  restoreTrainingCheckpoint, saveSafetensors, stripPrefix, trainingCheckpointBytes, unpickle, type PthTensor, type PyValue,
} from '../../models/nn/checkpoint/index.js';
import { assertClose } from '../helpers/close.js';

const DIR = new URL('../fixtures/checkpoints/', import.meta.url);
const bytesOf = (name: string): Uint8Array => new Uint8Array(readFileSync(new URL(name, DIR)));
const fileOf = (name: string): string => new URL(name, DIR).pathname;
const expected = readSafetensors(bytesOf('expected.safetensors')).tensors;
const exp = (k: string): HostTensor => {
  const t = expected.get(k);
  if (!t) throw new Error(`no expected tensor '${k}'`);
  return t;
};

/** Exact comparison: dtype, shape and every value (NaN-free fixtures). */
function expectSame(actual: HostTensor | undefined, want: HostTensor, label: string): void {
  expect(actual, label).toBeDefined();
  expect(actual!.dtype, `${label} dtype`).toBe(want.dtype);
  expect([...actual!.shape], `${label} shape`).toEqual([...want.shape]);
  expect(Array.from(actual!.data), `${label} values`).toEqual(Array.from(want.data));
}

function asMap(v: PyValue | undefined): Map<unknown, PyValue> {
  if (!(v instanceof Map)) throw new Error(`expected a Map, got ${String(v)}`);
  return v as Map<unknown, PyValue>;
}

function tinyModel(): Sequential {
  return new Sequential(new Conv2d(2, 3, 3), new BatchNorm2d(3), new ReLU(), new Identity(), new Linear(12, 4));
}

/** The PyTorch model's forward: conv, bn, relu, flatten, linear. */
function forward(m: Sequential, x: Tensor): Tensor {
  const [conv, bn, act, , lin] = m.layers as [Conv2d, BatchNorm2d, ReLU, Identity, Linear];
  const y = act.forward(bn.forward(conv.forward(x)));
  return lin.forward(reshape(y, [y.shape[0]!, -1]));
}

const MODEL_KEYS = ['0.weight', '0.bias', '1.weight', '1.bias', '1.running_mean', '1.running_var', '1.num_batches_tracked', '4.weight', '4.bias'];

describe('loadPth reads torch.save output', () => {
  for (const fmt of ['zip', 'legacy', 'tar', 'deflate'] as const) {
    const name = fmt === 'tar' ? 'model.tar.pth' : `model.${fmt}.pth`;
    it(`detects the ${fmt} container`, () => {
      expect(detectFormat(bytesOf(name))).toBe(fmt === 'deflate' ? 'zip' : fmt);
    });
  }
  it('detects safetensors and unknown bytes', () => {
    expect(detectFormat(bytesOf('expected.safetensors'))).toBe('safetensors');
    expect(detectFormat(new Uint8Array(16))).toBe('unknown');
  });

  for (const fmt of ['zip', 'legacy', 'deflate', 'zip64', 'bigendian'] as const) {
    it(`model state dict (${fmt}): every key, dtype and value`, () => {
      const sd = asMap(loadPth(bytesOf(`model.${fmt}.pth`)));
      expect([...sd.keys()]).toEqual(MODEL_KEYS);
      for (const k of MODEL_KEYS) expectSame(sd.get(k) as HostTensor, exp(`model/${k}`), k);
      expect((sd.get('1.num_batches_tracked') as PthTensor).sourceDtype).toBe('int64');
      expect((sd.get('0.weight') as PthTensor).sourceDtype).toBe('float64');
      // The OrderedDict's `_metadata` attribute (set by BUILD) is kept aside as data.
      const meta = pyAttributes(sd)?.get('_metadata');
      expect(meta instanceof Map && (meta.get('1') as Map<string, number>).get('version')).toBe(2);
    });
  }

  it('the loaded model reproduces PyTorch\'s output', () => {
    const m = tinyModel().toDtype('float64').eval();
    const res = loadInto(m, loadPth(bytesOf('model.zip.pth')));
    expect(res).toEqual({ missingKeys: [], unexpectedKeys: [] });
    tidy(() => {
      const x = tensor(exp('model_input').data, { shape: exp('model_input').shape, dtype: 'float64' });
      assertClose(forward(m, x).dataSync(), exp('model_output').data, { atol: 1e-12, rtol: 1e-10 }, 'model output');
    });
    expect(m.stateDict().get('1.num_batches_tracked')!.item()).toBe(1);
    m.dispose();
  });

  for (const fmt of ['zip', 'legacy'] as const) {
    it(`dtypes and views (${fmt}): halves, integers, bool, transposed, offset slices, shared storage`, () => {
      const sd = asMap(loadPth(bytesOf(`misc.${fmt}.pth`)));
      const keys = ['f16', 'bf16', 'f64', 'i64', 'i32', 'i16', 'i8', 'u8', 'b', 'transposed', 'sliced', 'head', 'tail', 'scalar', 'empty'];
      expect([...sd.keys()]).toEqual(keys);
      for (const k of keys) expectSame(sd.get(k) as HostTensor, exp(`misc/${k}`), `${fmt} ${k}`);
      expect(keys.map((k) => (sd.get(k) as PthTensor).sourceDtype)).toEqual([
        'float16', 'bfloat16', 'float64', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool', 'float32', 'float32', 'float32', 'float32', 'float32', 'float32',
      ]);
      // Spot-check the conversions against literal values, independent of the fixture writer.
      expect(Array.from((sd.get('f16') as HostTensor).data)).toEqual([0.5, -1.25, 65504, 6.097555160522461e-5, 0]);
      expect(Array.from((sd.get('i64') as HostTensor).data)).toEqual([-2147483648, 2147483647, 0, -7]);
      expect((sd.get('transposed') as HostTensor).shape).toEqual([6, 4]);
      expect(Array.from((sd.get('transposed') as HostTensor).data).slice(0, 4)).toEqual([-1, -0.25, 0.5, 1.25]);
    });
  }

  for (const name of ['pyvalues.p2.zip.pth', 'pyvalues.p5.zip.pth', 'pyvalues.p4.legacy.pth']) {
    it(`Python, torch and numpy values (${name})`, () => {
      const v = asMap(loadPth(bytesOf(name)));
      expectSame(v.get('w') as HostTensor, exp('pyvalues/w'), 'w');
      expect(v.get('set')).toEqual(new Set([1, 2]));
      expect(v.get('frozen')).toEqual(new Set([3]));
      expect(Array.from(v.get('bytes') as Uint8Array)).toEqual([0x78, 0x79, 0, 0xff]);
      expect(v.get('size')).toEqual([2, 3]);
      expect(v.get('device')).toBe('cuda:0');
      expect(v.get('dtype')).toBe('float16');
      expectSame(v.get('np_f32') as HostTensor, exp('pyvalues/np_f32'), 'np_f32');
      expectSame(v.get('np_f64_be_fortran') as HostTensor, exp('pyvalues/np_f64_be_fortran'), 'np_f64_be_fortran');
      expect(Array.from((v.get('np_f64_be_fortran') as HostTensor).data)).toEqual([1.5, -2, 3, 4, 5.25, -6]);
      expect(v.get('np_i64')).toBe(-5);
      expect(v.get('np_bool')).toBe(true);
      expect(v.get('unicode')).toBe('pose \u00e9\u4e2d');
    });
  }

  it('the tar container (torch < 0.1.10)', () => {
    const sd = asMap(loadPth(bytesOf('model.tar.pth')));
    expect([...sd.keys()]).toEqual(['w', 'wt', 'n', 'h']);
    for (const k of ['w', 'wt', 'n', 'h']) expectSame(sd.get(k) as HostTensor, exp(`tar/${k}`), `tar ${k}`);
  });

  for (const fmt of ['zip', 'legacy'] as const) {
    it(`a nested training checkpoint (${fmt})`, () => {
      const ck = asMap(loadPth(bytesOf(`nested.${fmt}.pth`)));
      expect(ck.get('epoch')).toBe(7);
      expect(ck.get('arch')).toBe('tiny');
      expect(ck.get('best_perf')).toBe(0.8125);
      expect(ck.get('lrs')).toEqual([0.1, 0.01]);
      expect(ck.get('pair')).toEqual([1, 2.5, 'x']);
      expect(ck.get('flag')).toBe(true);
      expect(ck.get('nothing')).toBeNull();
      expect(ck.get('big')).toBe(2 ** 40);
      const sd = extractStateDict(ck);
      expect([...sd.keys()]).toEqual(MODEL_KEYS.map((k) => `module.${k}`));
      const stripped = stripPrefix(sd, 'module.');
      for (const k of MODEL_KEYS) expectSame(stripped.get(k), exp(`nested/${k}`), k);
      const opt = asMap(ck.get('optimizer'));
      const state = asMap(opt.get('state'));
      expect([...state.keys()]).toEqual([0, 1, 2, 3, 4, 5]);
      expect([...asMap(state.get(0)).keys()]).toEqual(['step', 'exp_avg', 'exp_avg_sq', 'max_exp_avg_sq']);
    });
  }

  it('resumes PyTorch\'s Adam state (hyperparameters included) and matches 2 more torch steps', () => {
    const ck = asMap(loadPth(bytesOf('nested.zip.pth')));
    const m = tinyModel().toDtype('float64').eval();
    loadInto(m, ck, { stripPrefix: 'module.' });
    // Constructed with defaults: lr, betas, weight decay and amsgrad come from the checkpoint.
    const opt = new Adam(m.parameters());
    opt.loadStateDict(asMap(ck.get('optimizer')));
    expect(opt.paramGroups[0]!).toMatchObject({ lr: 0.01, betas: [0.8, 0.9], weightDecay: 0.01, amsgrad: true });
    const x = engine.keep(tensor(exp('model_input').data, { shape: exp('model_input').shape, dtype: 'float64' }));
    const target = engine.keep(tensor(exp('nested/target').data, { shape: exp('nested/target').shape, dtype: 'float64' }));
    for (let k = 0; k < 2; k++) {
      opt.zeroGrad();
      tidy(() => mean(square(sub(forward(m, x), target))).backward());
      opt.step();
    }
    for (const [k, t] of m.stateDict()) assertClose(t.dataSync(), exp(`continued/${k}`).data, { atol: 1e-12, rtol: 1e-9 }, `continued ${k}`);
    opt.dispose();
    opt.zeroGrad();
    m.dispose();
    x.dispose();
    target.dispose();
  });

  it('loadPthAsync and an explicit inflater read the deflated archive', async () => {
    const want = asMap(loadPth(bytesOf('model.zip.pth')));
    const viaStream = asMap(await loadPthAsync(bytesOf('model.deflate.pth')));
    const zlib = await import('node:zlib');
    let calls = 0;
    const viaFn = asMap(loadPth(bytesOf('model.deflate.pth'), { inflateRaw: (b) => (calls++, new Uint8Array(zlib.inflateRawSync(b))) }));
    expect(calls).toBeGreaterThan(0);
    for (const k of MODEL_KEYS) {
      expectSame(viaStream.get(k) as HostTensor, want.get(k) as HostTensor, `async ${k}`);
      expectSame(viaFn.get(k) as HostTensor, want.get(k) as HostTensor, `inflateRaw ${k}`);
    }
    expect(() => loadPth(bytesOf('model.deflate.pth'), { inflateRaw: () => { throw new Error('boom'); } })).toThrow(/readZip: expected valid deflate data for '.*data.pkl', got an error: boom/);
  });

  it('loadCheckpointFile dispatches on the extension and the bytes', async () => {
    const a = await loadCheckpointFile(fileOf('model.legacy.pth'));
    expect([...extractStateDict(a).keys()]).toEqual(MODEL_KEYS);
    const b = await loadCheckpointFile(fileOf('expected.safetensors'));
    expect(extractStateDict(b).get('model/0.bias')).toBeDefined();
    await expect(loadCheckpointFile(fileOf('missing.pth'))).rejects.toThrow(/ENOENT/);
  });
});

describe('bad checkpoints give clear errors', () => {
  it('refuses to call os.system, eval or user classes', () => {
    expect(() => loadPth(bytesOf('bad_system.pth'))).toThrow(/loadPth: expected a pickle global from the allowlist .*, got 'posix\.system'\. posegrad never executes pickled code/);
    expect(() => loadPth(bytesOf('bad_eval.pth'))).toThrow(/got '__builtin__\.eval'/);
    expect(() => loadPth(bytesOf('bad_class.pth'))).toThrow(/got '__main__\.UserThing'/);
  });

  it('rejects a complex tensor, naming the dtype', () => {
    expect(() => loadPth(bytesOf('bad_complex.pth'))).toThrow('loadPth: expected a storage dtype among [float64, float32, float16, bfloat16, int64, int32, int16, int8, uint8, bool], got complex64 (torch.ComplexFloatStorage)');
  });

  it('rejects a view that runs past its storage', () => {
    expect(() => loadPth(bytesOf('bad_bounds.pth'))).toThrow("loadPth: expected tensor 'w' (offset 1, size [4], stride [1]) inside its storage of 3 elements, got an element at index 4");
  });

  it('rejects a TorchScript archive', () => {
    expect(() => loadPth(bytesOf('bad_script.pth'))).toThrow(/a TorchScript archive \(torch\.jit\.save\)/);
  });

  it('rejects truncated and corrupted zip archives', () => {
    const b = bytesOf('model.zip.pth');
    expect(() => loadPth(b.subarray(0, b.length >> 1))).toThrow(/readZip: expected a zip end-of-central-directory record, got none in \d+ bytes \(not a zip archive, or a truncated one\)/);
    expect(() => loadPth(b.subarray(0, b.length - 5))).toThrow(/end-of-central-directory/);
    // Flip one byte of the first storage: the CRC-32 catches it.
    const zip = readZip(b);
    const name = [...zip.entries.keys()].find((n) => n.endsWith('/data/0'))!;
    const data = readZipEntry(zip, name);
    const bad = b.slice();
    bad[data.byteOffset - b.byteOffset + 3]! ^= 0xff;
    expect(() => loadPth(bad)).toThrow(/readZip: expected CRC-32 0x[0-9a-f]+ for '.*\/data\/0', got 0x[0-9a-f]+ \(corrupt archive\)/);
  });

  it('rejects truncated legacy files', () => {
    const b = bytesOf('model.legacy.pth');
    expect(() => loadPth(b.subarray(0, b.length - 10))).toThrow(/loadPth: expected \d+ bytes of storage '\d+' at offset \d+, got \d+ \(truncated file\)/);
    expect(() => loadPth(b.subarray(0, 200))).toThrow(/loadPth: expected \d+ more bytes for .* \(truncated file\?\)|loadPth: expected .* got the end of the data/);
  });

  it('computes zip CRC-32s (native and portable agree)', () => {
    const check = new TextEncoder().encode('123456789');
    expect(crc32Portable(check)).toBe(0xcbf43926);
    expect(crc32(check)).toBe(0xcbf43926);
    const b = bytesOf('nested.zip.pth');
    for (const n of [0, 1, 7, 8, 9, 1000, b.length]) expect(crc32Portable(b.subarray(0, n)), `${n} bytes`).toBe(crc32(b.subarray(0, n)));
  });

  it('rejects bytes that are not a checkpoint', () => {
    expect(() => loadPth(new Uint8Array([1, 2, 3, 4, 5]))).toThrow('loadPth: expected a PyTorch checkpoint (a zip archive, a legacy pickle stream starting with 0x80, or a tar), got 5 bytes starting with [0x01, 0x02, 0x03, 0x04]');
    expect(() => loadPth(bytesOf('expected.safetensors'))).toThrow(/got a safetensors file/);
  });

  it('the unpickler rejects unknown opcodes and stack misuse', () => {
    const findGlobal = (m: string, n: string): never => { throw new Error(`no ${m}.${n}`); };
    expect(() => unpickle(new Uint8Array([0x80, 0x02, 0xff]), { findGlobal })).toThrow('unpickle: expected a pickle opcode, got byte 0xff at offset 2 (not a pickle, or a corrupt one)');
    expect(() => unpickle(new Uint8Array([0x80, 0x02, 0x2e]), { findGlobal })).toThrow('unpickle: expected a value on the stack for STOP, got an empty stack (malformed pickle)');
    // 'c' GLOBAL "os\nsystem\n" goes to findGlobal, whose refusal propagates.
    const g = new TextEncoder().encode('cos\nsystem\n');
    expect(() => unpickle(new Uint8Array([0x80, 0x02, ...g]), { findGlobal })).toThrow('no os.system');
    // Protocol-4 values: SHORT_BINUNICODE, MEMOIZE, EMPTY_SET + ADDITEMS, FRAME, BINGET.
    const p4 = new Uint8Array([0x80, 0x04, 0x95, 9, 0, 0, 0, 0, 0, 0, 0, 0x8c, 2, 0x68, 0x69, 0x94, 0x8f, 0x28, 0x4b, 7, 0x90, 0x68, 0, 0x86, 0x2e]);
    expect(unpickle(p4, { findGlobal }).value).toEqual([new Set([7]), 'hi']);
  });
});

describe('errors name the file (LoadPthOptions.name; loadCheckpointFile passes the path)', () => {
  it('loadPth, readZip and readTar prefix their errors with the name', async () => {
    expect(() => loadPth(bytesOf('bad_bounds.pth'), { name: 'w.pth' })).toThrow("loadPth(w.pth): expected tensor 'w' (offset 1, size [4], stride [1]) inside its storage of 3 elements");
    expect(() => loadPth(bytesOf('bad_system.pth'), { name: 'w.pth' })).toThrow(/^loadPth\(w\.pth\): expected a pickle global from the allowlist .*, got 'posix\.system'/);
    const zip = bytesOf('model.zip.pth');
    expect(() => loadPth(zip.subarray(0, zip.length - 5), { name: 'cut.pth' })).toThrow(/^readZip\(cut\.pth\): expected a zip end-of-central-directory record/);
    await expect(loadPthAsync(zip.subarray(0, zip.length - 5), { name: 'cut.pth' })).rejects.toThrow(/^readZip\(cut\.pth\): /);
    const tar = bytesOf('model.tar.pth').slice();
    tar[148]! ^= 1; // the first header's checksum
    expect(() => loadPth(tar, { name: 't.pth' })).toThrow(/^readTar\(t\.pth\): expected header checksum/);
    await expect(loadCheckpointFile(fileOf('bad_complex.pth'))).rejects.toThrow(`loadPth(${fileOf('bad_complex.pth')}): expected a storage dtype among`);
  });

  it('a tensor keeps its own bytes (views of disjoint parts of one storage do not alias)', () => {
    const sd = asMap(loadPth(bytesOf('misc.zip.pth')));
    const head = sd.get('head') as HostTensor;
    const tail = sd.get('tail') as HostTensor;
    expect(head.data.buffer === tail.data.buffer).toBe(false);
  });
});

describe('state-dict helpers', () => {
  const sd = new Map<string, number>([['module.a.weight', 1], ['module.a.bias', 2], ['head.fc.weight', 3]]);

  it('stripPrefix and mapKeys', () => {
    expect([...stripPrefix(sd, 'module.').keys()]).toEqual(['a.weight', 'a.bias', 'head.fc.weight']);
    expect([...mapKeys(sd, [['module.', ''], [/^head\.fc\./, 'classifier.'], [/\.bias$/, null]]).entries()]).toEqual([['a.weight', 1], ['classifier.weight', 3]]);
    expect([...mapKeys(sd, (k) => (k.startsWith('head') ? null : k.toUpperCase())).keys()]).toEqual(['MODULE.A.WEIGHT', 'MODULE.A.BIAS']);
    expect(() => mapKeys(sd, () => 'same')).toThrow("mapKeys: expected distinct keys, got 'module.a.weight' and 'module.a.bias' both mapped to 'same'");
  });

  it('extractStateDict explains what it found', () => {
    expect(() => extractStateDict(new Map<string, unknown>([['epoch', 3], ['weights_only', true]]))).toThrow(
      /extractStateDict: expected a dict of tensors, or a checkpoint with one under \[state_dict, .*\], got a dict with keys \[epoch, weights_only\]/,
    );
    expect(() => extractStateDict(5)).toThrow('extractStateDict: expected a checkpoint dict or a state dict, got number 5');
  });

  it('loadInto with renaming reports missing and unexpected keys (non-strict) and throws (strict)', () => {
    const ck = loadPth(bytesOf('nested.legacy.pth'));
    const m = tinyModel();
    expect(() => loadInto(m, ck)).toThrow(/loadStateDict: expected the model's keys, got 9 missing/);
    const res = loadInto(m, ck, { stripPrefix: 'module.', map: [[/^4\./, 'head.']], strict: false });
    expect(res).toEqual({ missingKeys: ['4.weight', '4.bias'], unexpectedKeys: ['head.weight', 'head.bias'] });
    // Values arrive converted to the module's float32.
    assertClose(m.stateDict().get('0.weight')!.dataSync(), exp('nested/0.weight').data, { atol: 1e-7, rtol: 1e-6 }, '0.weight');
    m.dispose();
  });
});

describe('safetensors and training checkpoints round trip', () => {
  const dir = mkdtempSync(join(tmpdir(), 'posegrad-ckpt-'));

  it('saveSafetensors(module) then load into a fresh module', async () => {
    const a = tinyModel();
    const path = join(dir, 'a.safetensors');
    await saveSafetensors(a, path, { note: 'round trip' });
    const file = readSafetensors(new Uint8Array(readFileSync(path)));
    expect(file.metadata).toEqual({ note: 'round trip' });
    expect([...file.tensors.keys()]).toEqual(MODEL_KEYS);
    const b = tinyModel();
    expect(loadInto(b, await loadCheckpointFile(path))).toEqual({ missingKeys: [], unexpectedKeys: [] });
    for (const [k, t] of a.stateDict()) expect(Array.from(b.stateDict().get(k)!.dataSync()), k).toEqual(Array.from(t.dataSync()));
    a.dispose();
    b.dispose();
  });

  it('saveSafetensors(Map) keeps float64 and int32', async () => {
    const path = join(dir, 'b.safetensors');
    const f = tensor([1 / 3, 2], { dtype: 'float64' });
    const i = tensor([-4, 5], { dtype: 'int32' });
    await saveSafetensors(new Map([['f', f], ['i', i]]), path);
    const back = readSafetensors(new Uint8Array(readFileSync(path))).tensors;
    expectSame(back.get('f'), { dtype: 'float64', shape: [2], data: new Float64Array([1 / 3, 2]) }, 'f');
    expectSame(back.get('i'), { dtype: 'int32', shape: [2], data: new Int32Array([-4, 5]) }, 'i');
    f.dispose();
    i.dispose();
  });

  it('a training checkpoint restores model, optimizer and scheduler exactly', async () => {
    const x = engine.keep(tensor(exp('model_input').data, { shape: exp('model_input').shape, dtype: 'float32' }));
    const target = engine.keep(tensor(exp('nested/target').data, { shape: exp('nested/target').shape, dtype: 'float32' }));
    const setup = (): { m: Sequential; opt: SGD; sched: MultiStepLR } => {
      const m = tinyModel();
      const opt = new SGD([{ params: m.parameters().slice(0, 4) }, { params: m.parameters().slice(4), lr: 0.05 }], { lr: 0.1, momentum: 0.9 });
      return { m, opt, sched: new MultiStepLR(opt, { milestones: [1, 3], gamma: 0.5 }) };
    };
    const step = (s: ReturnType<typeof setup>): void => {
      s.opt.zeroGrad();
      tidy(() => mean(square(sub(forward(s.m, x), target))).backward());
      s.opt.step();
      s.sched.step();
    };
    const a = setup();
    step(a);
    step(a);
    const bytes = await trainingCheckpointBytes({ model: a.m, optimizer: a.opt, scheduler: a.sched }, { epoch: 2, extra: { best: 0.5 } });
    const b = setup();
    expect(restoreTrainingCheckpoint(bytes, { model: b.m, optimizer: b.opt, scheduler: b.sched })).toEqual({ epoch: 2, extra: { best: 0.5 } });
    expect(b.sched.getLastLr()).toEqual(a.sched.getLastLr());
    expect(b.opt.paramGroups.map((g) => g.lr)).toEqual(a.opt.paramGroups.map((g) => g.lr));
    step(a);
    step(b);
    for (const [k, t] of a.m.stateDict()) expect(Array.from(b.m.stateDict().get(k)!.dataSync()), k).toEqual(Array.from(t.dataSync()));
    expect(() => restoreTrainingCheckpoint(bytesOf('expected.safetensors'), { model: b.m })).toThrow(/restoreTrainingCheckpoint: expected a posegrad training checkpoint/);
    for (const s of [a, b]) {
      s.opt.dispose();
      s.opt.zeroGrad();
      s.m.dispose();
    }
    x.dispose();
    target.dispose();
  });
});
