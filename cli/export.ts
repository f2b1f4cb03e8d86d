/**
 * `npm run export`: writes a network as an ONNX model for onnxruntime (node, web, a server); see
 * docs/export.md.
 *
 *   npm run export -- --model movenet --preset lightning --out movenet-lightning.onnx
 *   npm run export -- --model rpstn --preset small --weights rpstn.pth --out rpstn.onnx --dynamic-batch
 *
 * Models: movenet (presets lightning, thunder, multipose: the shipped weights in
 * assets/weights/movenet, or --weights FILE, a MoveNet weights file), and the papers' rpstn,
 * fasrnet, vremd, glpose (presets as the demo's; weights: --weights FILE, a posegrad weights file
 * or an official PyTorch checkpoint as the demo loads it; without --weights the SynthPose weights
 * shipped in assets/weights for that preset, else (or with --weights none) the random init, with a
 * warning). The example input is one batch of the network's input size; `--check` runs the file in
 * onnxruntime-node and compares it with posegrad.
 *
 * Exit codes: 0 success; 2 a usage error (one line on stderr); 1 a failure (one line on stderr;
 * POSEGRAD_DEBUG=1 adds the stack).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { DeviceName } from '../backends/backend.js';
import { DEVICES } from '../backends/backend.js';
import { engine, init, noGrad, tidy } from '../engine/engine.js';
import { Tensor } from '../engine/tensor.js';
import { moveNetFromSafetensors } from '../models/movenet/load.js';
import type { MoveNet } from '../models/movenet/movenet.js';
import { detectFormat, loadPth } from '../models/nn/checkpoint/pth.js';
import { extractStateDict } from '../models/nn/checkpoint/state-dict.js';
import type { Module } from '../models/nn/module.js';
import { exportOnnxGraph, onnxInputNames, type ExportOnnxOptions } from '../models/nn/onnx/export.js';
import { encodeModel } from '../models/nn/onnx/proto.js';
import { readSafetensors, type HostTensor } from '../models/nn/safetensors.js';
import type { FaSRnet } from '../models/fasrnet/model.js';
import { FASRNET_PRESETS } from '../models/fasrnet/presets.js';
import type { GLPose } from '../models/glpose/model.js';
import type { RPSTN } from '../models/rpstn/model.js';
import type { VREMD } from '../models/vremd/model.js';
import { moduleFromSafetensors } from '../models/weights-file.js';
import { rand, randn } from '../ops/creation.js';
import { mul } from '../ops/elementwise.js';
import { CliError, runCli } from './common.js';
import { buildShipped, DEMO_MODELS, shippedPresets } from './models.js';

const ROOT = resolve(import.meta.dirname, '..');
const MOVENET_PRESETS = ['lightning', 'thunder', 'multipose'] as const;

/** The models `npm run export` knows, with their presets. */
export const EXPORT_MODELS: Readonly<Record<string, { presets: readonly string[]; defaultPreset: string }>> = {
  movenet: { presets: MOVENET_PRESETS, defaultPreset: 'lightning' },
  ...Object.fromEntries(Object.entries(DEMO_MODELS).map(([name, m]) => [name, { presets: m.presets, defaultPreset: m.defaultPreset }])),
  // The demo offers FaSRnet's paper and small; every preset exports.
  fasrnet: { presets: Object.keys(FASRNET_PRESETS), defaultPreset: DEMO_MODELS.fasrnet!.defaultPreset },
};

/** A network ready to export: the module and an example of its forward's arguments. */
export interface ExportTarget {
  module: Module;
  /** The forward's arguments at batch `batch` (random frames of the input size; MoveNet: RGB 0..255). */
  inputs: unknown[];
  /** What exportOnnx needs besides (method, input names). */
  options: ExportOnnxOptions;
  /** One line: the network, its preset and where its weights came from. */
  summary: string;
}

/**
 * The example arguments of `module` (a network of EXPORT_MODELS) at batch `batch`, on `device`,
 * and the export options its forward needs. Used by this CLI and by the bench's onnxruntime peers.
 */
export function exampleInputs(name: string, module: Module, batch = 1, device: DeviceName = engine.defaultDevice): { inputs: unknown[]; options: ExportOnnxOptions } {
  const frame = (h: number, w: number): Tensor => rand([batch, 3, h, w], { device });
  switch (name) {
    case 'movenet': {
      const [h, w] = (module as MoveNet).config.inputSize;
      return { inputs: [mul(rand([batch, 3, h, w], { device }), 255)], options: { inputNames: ['image'] } };
    }
    case 'rpstn': {
      const cfg = (module as RPSTN).cfg;
      return { inputs: [randn([batch, cfg.numFrames, 3, cfg.inputSize[1], cfg.inputSize[0]], { device })], options: { inputNames: ['clip'] } };
    }
    case 'fasrnet': {
      const [w, h] = (module as FaSRnet).cfg.inputSize;
      return { inputs: [{ cur: frame(h, w), prev: frame(h, w), next: frame(h, w) }], options: {} };
    }
    case 'vremd': {
      // The frames' size: the ViT's image, or 4x its grid over a frozen feature backbone (`real`).
      const [h, w] = (module as VREMD).inputSize;
      return { inputs: [{ frames: randn([batch, 3, 3, h, w], { device }) }], options: {} };
    }
    case 'glpose': {
      const cfg = (module as GLPose).cfg;
      const [w, h] = cfg.inputSize;
      return { inputs: [randn([batch, 1 + 2 * cfg.localFrames + cfg.globalCandidates, 3, h, w], { device })], options: { method: 'forwardFrames', inputNames: ['frames'] } };
    }
    default:
      throw new CliError(`--model: expected one of [${Object.keys(EXPORT_MODELS).join(', ')}], got '${name}'`);
  }
}

function readTensors(path: string): { tensors: Map<string, HostTensor>; metadata?: Record<string, string> } {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new CliError(`--weights: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    const fmt = detectFormat(bytes);
    if (fmt === 'safetensors' || path.toLowerCase().endsWith('.safetensors')) {
      const f = readSafetensors(bytes);
      return { tensors: f.tensors, metadata: f.metadata };
    }
    if (fmt === 'zip' || fmt === 'legacy' || fmt === 'tar') return { tensors: extractStateDict(loadPth(bytes, { name: path })) };
    throw new Error(`expected a safetensors file or a PyTorch checkpoint (.pth/.pt/.tar), got ${bytes.length} bytes of neither`);
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(`${path}: ${(e as Error).message}`);
  }
}

/**
 * Builds network `name` at `preset` with its weights: `weights` a file, 'none' (random init), or
 * undefined (MoveNet: the shipped file of the preset; papers: the shipped SynthPose weights of the
 * preset when there are some, else random init).
 */
export function buildExportModel(name: string, preset: string, weights?: string): { module: Module; summary: string } {
  const entry = EXPORT_MODELS[name];
  if (!entry) throw new CliError(`--model: expected one of [${Object.keys(EXPORT_MODELS).join(', ')}], got '${name}'`);
  if (name === 'movenet') {
    if (weights === 'none') throw new CliError('--weights none: MoveNet is exported with pretrained weights only');
    if (!weights && !entry.presets.includes(preset)) throw new CliError(`--preset: expected one of [${entry.presets.join(', ')}] for movenet, got '${preset}'`);
    const path = weights ?? resolve(ROOT, 'assets/weights/movenet', `${preset}.safetensors`);
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(readFileSync(path));
    } catch (e) {
      throw new CliError(`--weights: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    let module: MoveNet;
    try {
      module = moveNetFromSafetensors(bytes, path);
    } catch (e) {
      throw new CliError((e as Error).message);
    }
    return { module, summary: `MoveNet ${module.config.variant} from ${path}` };
  }
  if (!entry.presets.includes(preset)) throw new CliError(`--preset: expected one of [${entry.presets.join(', ')}] for ${name}, got '${preset}'`);
  if (weights === undefined) {
    const ship = buildShipped(name, preset);
    if (ship) return { module: ship.built.module, summary: `${ship.built.summary} (weights ${ship.path})` };
  }
  const model = DEMO_MODELS[name]!;
  if (weights && weights !== 'none') {
    const { tensors, metadata } = readTensors(weights);
    // A posegrad weights file records its own module and configuration: rebuild exactly that.
    if (metadata?.['posegrad.module'] && metadata['posegrad.config']) {
      try {
        const { module } = moduleFromSafetensors(new Uint8Array(readFileSync(weights)), weights);
        return { module, summary: `${module.constructor.name} from ${weights} (its recorded configuration)` };
      } catch (e) {
        throw new CliError((e as Error).message);
      }
    }
    const built = model.build(preset);
    try {
      const notes = model.loadWeights(built, tensors, metadata).notes;
      return { module: built.module, summary: `${built.summary} (weights ${weights}${notes.length ? `; ${notes.join('; ')}` : ''})` };
    } catch (e) {
      throw new CliError(`${weights}: ${(e as Error).message}`);
    }
  }
  const built = model.build(preset);
  const avail = shippedPresets(name);
  return { module: built.module, summary: `${built.summary} — UNTRAINED (random init${avail.length && weights !== 'none' ? `; trained weights are shipped for --preset ${avail.join('|')}` : ''})` };
}

const HELP = `usage: npm run export -- --model NAME [--preset P] [--weights FILE|none] [--out FILE] [options]

Writes a network as an ONNX model (see docs/export.md).

  --model NAME        ${Object.keys(EXPORT_MODELS).join(' | ')}
  --preset P          movenet: ${MOVENET_PRESETS.join(' | ')}; the papers: their presets (tiny, small, paper,
                      real: the head on the frozen pretrained MoveNet Lightning, in the file too)
  --weights FILE      a posegrad weights file (.safetensors) or an official PyTorch checkpoint; none:
                      random init. Default: the shipped weights of the preset, if any
  --out FILE          the .onnx file (default <model>-<preset>.onnx)
  --opset N           ONNX opset, 17..23 (default 19; DeformConv needs 19)
  --batch N           batch size of the example input (default 1)
  --dynamic-batch     make axis 0 of every input (and of the outputs) dynamic, named 'batch'
  --no-fold-bn        keep BatchNormalization nodes (default: folded into the conv before them)
  --backend NAME      ${DEVICES.filter((d) => d !== 'webgpu').join(' | ')}: where the forward is traced (default wasm)
  --check             run the file in onnxruntime-node and compare with posegrad
  -h, --help`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string' },
      preset: { type: 'string' },
      weights: { type: 'string' },
      out: { type: 'string' },
      opset: { type: 'string' },
      batch: { type: 'string' },
      'dynamic-batch': { type: 'boolean' },
      'no-fold-bn': { type: 'boolean' },
      backend: { type: 'string' },
      check: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return;
  }
  if (!values.model) throw new CliError(`--model: expected one of [${Object.keys(EXPORT_MODELS).join(', ')}], got nothing (--help for usage)`);
  const name = values.model;
  if (!(name in EXPORT_MODELS)) throw new CliError(`--model: expected one of [${Object.keys(EXPORT_MODELS).join(', ')}], got '${name}'`);
  const preset = values.preset ?? EXPORT_MODELS[name]!.defaultPreset;
  const int = (flag: string, v: string | undefined, dflt: number, min: number): number => {
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new CliError(`--${flag}: expected an integer ≥ ${min}, got '${v}'`);
    return n;
  };
  const opset = int('opset', values.opset, 19, 13);
  const batch = int('batch', values.batch, 1, 1);
  const device = (values.backend ?? 'wasm') as DeviceName;
  if (device !== 'cpu' && device !== 'wasm') throw new CliError(`--backend: expected cpu or wasm (export traces with synchronous reads), got '${values.backend}'`);
  const out = resolve(values.out ?? `${name}-${preset}.onnx`);

  await init(device);
  engine.defaultDevice = device;
  const { module, summary } = buildExportModel(name, preset, values.weights);
  module.to(device);
  console.log(summary);
  const ex = exampleInputs(name, module, batch, device);
  const options: ExportOnnxOptions = { ...ex.options, opset, foldBatchNorm: !values['no-fold-bn'], metadata: { 'posegrad.preset': preset, 'posegrad.source': summary } };
  if (values['dynamic-batch']) options.dynamicAxes = Object.fromEntries(onnxInputNames(ex.inputs, options).map((n) => [n, { 0: 'batch' }]));
  const t0 = performance.now();
  const exported = exportOnnxGraph(module, ex.inputs, options);
  const bytes = encodeModel(exported.graph);
  writeFileSync(out, bytes);
  const counts = new Map<string, number>();
  for (const n of exported.graph.nodes) counts.set(n.op, (counts.get(n.op) ?? 0) + 1);
  const fmt = (v: { name: string; shape: readonly (number | string)[] }): string => `${v.name} [${v.shape.join(', ')}]`;
  console.log(`wrote ${out}: ${(bytes.length / 1e6).toFixed(2)} MB, opset ${opset}, ${exported.graph.nodes.length} nodes (${[...counts].map(([k, v]) => `${k} ${v}`).join(', ')}), ${exported.graph.initializers?.length ?? 0} initializers, in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  console.log(`inputs: ${exported.inputs.map(fmt).join(', ')}`);
  console.log(`outputs: ${exported.outputs.map(fmt).join(', ')}`);
  if (values.check) await check(bytes, module, ex.inputs, options, exported.inputs.map((v) => v.name), exported.outputs.map((v) => v.name));
}

/** Runs the model in onnxruntime-node on the example and prints max|Δ|/max|ref| per output. */
async function check(bytes: Uint8Array, module: Module, inputs: unknown[], options: ExportOnnxOptions, inNames: string[], outNames: string[]): Promise<void> {
  let ort: typeof import('onnxruntime-node');
  try {
    ort = await import('onnxruntime-node');
  } catch {
    throw new CliError('--check: expected onnxruntime-node to be installed (npm install onnxruntime-node), got none');
  }
  const flat = (v: unknown): Tensor[] => (v instanceof Tensor ? [v] : Array.isArray(v) ? v.flatMap(flat) : v && typeof v === 'object' ? Object.values(v).flatMap(flat) : []);
  const feeds: Record<string, import('onnxruntime-node').Tensor> = {};
  flat(inputs).forEach((t, i) => (feeds[inNames[i]!] = new ort.Tensor('float32', t.dataSync() as Float32Array, [...t.shape])));
  const session = await ort.InferenceSession.create(bytes);
  const res = await session.run(feeds);
  module.eval();
  const method = options.method ?? 'forward';
  const ref = tidy(() => noGrad(() => flat((module as unknown as Record<string, (...a: unknown[]) => unknown>)[method]!(...inputs)).map((t) => t.dataSync())));
  const errs = outNames.map((n, i) => {
    const a = res[n]!.data as Float32Array;
    const b = ref[i]!;
    let d = 0;
    let m = 0;
    for (let j = 0; j < b.length; j++) {
      d = Math.max(d, Math.abs(a[j]! - b[j]!));
      m = Math.max(m, Math.abs(b[j]!));
    }
    return `${n} ${(m ? d / m : d).toExponential(1)}`;
  });
  await session.release();
  console.log(`onnxruntime-node vs posegrad, max|Δ|/max|ref|: ${errs.join(', ')}`);
}

const isMain = process.argv[1] !== undefined && resolve(process.argv[1]) === resolve(import.meta.filename);
if (isMain) await runCli('export', main);
