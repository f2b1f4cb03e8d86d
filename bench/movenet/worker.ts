/**
 * One engine of the MoveNet race: `node --import tsx bench/movenet/worker.ts '<MoveNetJob JSON>'`.
 *
 * Per model: load the weights (posegrad: assets/weights/movenet/*.safetensors; TF.js: Google's
 * graph model, from memory), build every frame's input array (models.ts), then
 *   1. the check pass: each frame once (untimed; also the first warm-up), keypoints recorded for
 *      the parent's correctness check (check.ts);
 *   2. the timed frames with bench/timing.ts (an untimed first call, tinybench's warm-up, N timed
 *      runs), cycling through the frames. One frame = upload the input, forward, read back what the
 *      keypoints need: posegrad its maps (centre, heatmaps, regress, offsets; MultiPose also the box
 *      maps), TF.js its graph output (the keypoints, decoded in the graph);
 *   3. posegrad only: its host decoding (decodeSinglePose / decodeMultiPose), timed on its own.
 * The reference engine (TF.js cpu) does step 1 only. Messages go to stdout (engines.ts).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as TF from '@tensorflow/tfjs';
import type { DeviceName } from '../../backends/backend.js';
import { measure } from '../timing.js';
import { posesFromMoveNet, posesFromTfjsOutput, type FramePoses } from './check.js';
import { encodeMoveNetMessage, type MoveNetCellMessage, type MoveNetEngineDef, type MoveNetJob, type MoveNetMessage } from './engines.js';
import { loadInputs, MOVENET_MODELS, toNchwFloat, toNhwcInt32, weightsPath, type MoveNetInput, type MoveNetModelDef } from './models.js';

function send(m: MoveNetMessage): void {
  process.stdout.write(encodeMoveNetMessage(m) + '\n');
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** What an engine does with one model: run a frame, and (posegrad) decode its maps. */
interface Runner {
  /** Runs frame i: upload, forward, read back. Resolves with whatever decode() needs. */
  frame(i: number): Promise<unknown>;
  /** The keypoints of a frame's read-back result. */
  keypoints(result: unknown): FramePoses;
  /** posegrad: host decoding of a read-back result, to time on its own. */
  decodeOnly?: (result: unknown) => void;
  dispose(): void;
}

interface Engine {
  start(): Promise<{ version: string; details: Record<string, string | number | boolean> }>;
  load(model: MoveNetModelDef, inputs: readonly MoveNetInput[]): Promise<Runner>;
}

// ---------------------------------------------------------------------------------------------
// posegrad

async function posegradEngine(def: MoveNetEngineDef): Promise<Engine> {
  const device = def.backend as DeviceName;
  // Straight from the modules (not the package root), so that the suite depends on MoveNet alone.
  const { engine: eng, init, noGrad } = await import('../../engine/engine.js');
  const { tensor } = await import('../../ops/creation.js');
  const movenet = { ...(await import('../../models/movenet/load.js')), ...(await import('../../models/movenet/decode.js')), ...(await import('../../models/movenet/movenet.js')) };
  return {
    async start() {
      if (device === 'wasm') {
        // The thread count is the engine's, whatever a preload registered (bench/dev/wasm-options.ts
        // does the same from POSEGRAD_BENCH_WASM_THREADS); relaxed SIMD still follows POSEGRAD_WASM_RELAXED_SIMD.
        const threads = typeof def.threads === 'number' ? def.threads : 1;
        const { createWasmBackend } = await import('../../backends/wasm/index.js');
        eng.registerBackendFactory('wasm', () => createWasmBackend({ threads }));
      }
      const be = await init(device);
      const { backendDetails } = await import('../posegrad-kernels.js');
      const details = backendDetails(device, be);
      if (device === 'webgpu') {
        const { installDawnNavigator } = await import('../peers/webgpu-node.js');
        details.adapter = await installDawnNavigator().catch((e: Error) => `unknown (${e.message})`);
      }
      if (device === 'wasm' && typeof def.threads === 'number' && details.threads !== def.threads) {
        throw new Error(`posegrad wasm: expected ${def.threads} threads, got ${String(details.threads)}`);
      }
      return { version: 'posegrad (this checkout)', details };
    },
    async load(m, frames) {
      const model = movenet.moveNetFromSafetensors(new Uint8Array(readFileSync(weightsPath(m))), path.basename(weightsPath(m)));
      await model.toAsync(device);
      const [H, W] = m.size;
      // The SinglePose centre weighting is a constant of the model: read once, outside the timed frames.
      const centerWeight = m.multiPose ? undefined : Float32Array.from((await model.center_weight!.data()) as ArrayLike<number>);
      const inputs = frames.map((x) => toNchwFloat(x.rgb, H, W));
      type Host = Awaited<ReturnType<typeof movenet.readMoveNetOutput>>;
      const decode = (host: Host) => (m.multiPose ? movenet.decodeMultiPose(host, model.config) : [movenet.decodeSinglePose(host, model.config)]);
      return {
        async frame(i) {
          const out = noGrad(() => {
            const x = tensor(inputs[i % inputs.length]!, { shape: [1, 3, H, W], device });
            try {
              return model.forward(x);
            } finally {
              x.dispose();
            }
          });
          try {
            const host = await movenet.readMoveNetOutput(out, [H, W], null);
            host.centerWeight = centerWeight;
            return host;
          } finally {
            movenet.disposeMoveNetOutput(out);
          }
        },
        keypoints: (r) => posesFromMoveNet(decode(r as Host)),
        decodeOnly: (r) => void decode(r as Host),
        dispose: () => model.dispose(),
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// TF.js

interface GraphJson {
  format: string;
  generatedBy: string;
  convertedBy: string;
  signature: unknown;
  modelTopology: unknown;
  weightsManifest: { paths: string[]; weights: TF.io.WeightsManifestEntry[] }[];
}

/** Loads movenet-<variant>.json and its .bin shards from memory (tf.io.fromMemory; Node's tfjs has no file:// handler), as test/reference/movenet_tfjs.ts does. */
async function loadGraph(tf: typeof TF, dir: string, variant: string): Promise<TF.GraphModel> {
  const json = JSON.parse(readFileSync(path.join(dir, `movenet-${variant}.json`), 'utf8')) as GraphJson;
  const bins = json.weightsManifest.flatMap((g) => g.paths.map((p) => readFileSync(path.join(dir, p))));
  const all = new Uint8Array(bins.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of bins) {
    all.set(b, at);
    at += b.length;
  }
  return tf.loadGraphModel(tf.io.fromMemory({
    modelTopology: json.modelTopology as object,
    weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
    weightData: all.buffer,
    format: json.format,
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy,
    signature: json.signature as object,
  }));
}

async function tfjsEngine(def: MoveNetEngineDef, graphDir: string | null): Promise<Engine> {
  let tf: typeof TF;
  let device: GPUDevice | null = null;
  return {
    async start() {
      if (!graphDir) throw new Error('the TF.js MoveNet graph models are not in .cache/ (run `npx tsx scripts/movenet/convert.ts --check` or a full `npm run bench -- --mode movenet`, which fetch them)');
      const threads = typeof def.threads === 'number' ? def.threads : 1;
      tf = await import('@tensorflow/tfjs');
      if (def.backend === 'wasm' && threads > 1) {
        // tfjs-backend-wasm reports no thread support under Node (tfjs issue #3830): force its flag
        // and ask for the threads; if the threaded build does not start, the engine fails to start.
        const wasm = await import('@tensorflow/tfjs-backend-wasm');
        tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
        wasm.setThreadsCount(threads);
      }
      // The kernel suite's tfjs adapter sets the backend up (wasm paths, Dawn as navigator.gpu).
      const { tfjsAdapter } = await import('../peers/tfjs.js');
      // tfjs logs why a backend failed to initialize and only returns false: keep its words for the report.
      const said: string[] = [];
      const keep = (f: (...a: unknown[]) => void) => (...a: unknown[]) => {
        said.push(a.map((x) => (x instanceof Error ? x.message : String(x))).join(' '));
        f(...a);
      };
      const [warn, error] = [console.warn, console.error];
      console.warn = keep(warn);
      console.error = keep(error);
      let start;
      try {
        start = await Promise.race([
          tfjsAdapter(def.backend).start(),
          new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`tfjs: the ${def.backend} backend did not start within 60 s`)), 60_000).unref()),
        ]);
      } catch (e) {
        const why = said.map((l) => l.split('\n')[0]!.replace(/\. Received .*$/, '').trim()).filter((l) => l.length > 0).slice(0, 3).join('; ');
        throw new Error(`${message(e)}${why ? ` (tfjs said: ${why})` : ''}`);
      } finally {
        console.warn = warn;
        console.error = error;
      }
      const details = { ...start.details };
      if (def.backend === 'wasm') {
        const wasm = await import('@tensorflow/tfjs-backend-wasm');
        details.threads = wasm.getThreadsCount();
        if (details.threads !== threads) throw new Error(`tfjs-backend-wasm: expected ${threads} threads, got ${details.threads} (it has no threads under Node: tfjs issue #3830)`);
        if (threads === 1) delete details.threadsNote;
      }
      if (def.backend === 'webgpu') device = (tf.backend() as unknown as { device: GPUDevice }).device;
      return { version: start.version, details };
    },
    async load(m, frames) {
      const graph = await loadGraph(tf, graphDir!, m.variant);
      const [H, W] = m.size;
      const inputs = frames.map((x) => toNhwcInt32(x.rgb));
      // On WebGPU the first frame runs inside a validation error scope: an error there means the
      // GPU ran nothing (the kernel suite's tfjs-webgpu bug), and the engine must fail, not time it.
      let checked = device === null;
      return {
        async frame(i) {
          if (!checked) device!.pushErrorScope('validation');
          const x = tf.tensor(inputs[i % inputs.length]!, [1, H, W, 3], 'int32');
          const y = graph.execute(x) as TF.Tensor;
          x.dispose();
          const data = await y.data();
          const shape = y.shape;
          y.dispose();
          if (!checked) {
            const err = await device!.popErrorScope();
            if (err) throw new Error(`tfjs-webgpu: expected the GPU to accept the frame's commands, got a validation error: ${err.message}`);
            checked = true;
          }
          return { data, shape };
        },
        keypoints: (r) => {
          const { data, shape } = r as { data: ArrayLike<number>; shape: number[] };
          return posesFromTfjsOutput(data, shape, H, W);
        },
        dispose: () => graph.dispose(),
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------

/**
 * The reference's keypoints are cached in `job.referenceCache` (JSON), keyed by a hash of the TF.js
 * version, the graph model's files, the model id and the input bytes: TF.js's pure-JS backend
 * takes about two minutes for the four models on five frames, and its answer never changes.
 */
function referenceKeys(job: MoveNetJob, m: MoveNetModelDef, inputs: readonly MoveNetInput[], tfVersion: string): string[] {
  const g = createHash('sha256').update(`tfjs ${tfVersion} cpu\n`);
  const json = readFileSync(path.join(job.graphDir!, `movenet-${m.variant}.json`));
  g.update(json);
  for (const w of (JSON.parse(json.toString('utf8')) as GraphJson).weightsManifest) for (const p of w.paths) g.update(readFileSync(path.join(job.graphDir!, p)));
  const graph = g.digest('hex');
  return inputs.map((x) => createHash('sha256').update(`${graph} ${m.id} ${x.size.join('x')}\n`).update(x.rgb).digest('hex'));
}

function readCache(file: string): Record<string, FramePoses> {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, FramePoses>;
  } catch {
    return {};
  }
}

async function runModel(engine: Engine, def: MoveNetEngineDef, m: MoveNetModelDef, job: MoveNetJob): Promise<MoveNetCellMessage> {
  const base = { type: 'movenet-cell' as const, engineId: def.id, model: m.id };
  const inputs = loadInputs(m, job.frames);
  const frames = inputs.map((x) => x.frame);
  let keys: string[] | null = null;
  if (def.kind === 'reference' && job.referenceCache) {
    keys = referenceKeys(job, m, inputs, (await import('@tensorflow/tfjs')).version.tfjs);
    const cache = readCache(job.referenceCache);
    if (keys.every((k) => cache[k] !== undefined)) return { ...base, status: 'ok', keypoints: keys.map((k) => cache[k]!), frames, cached: keys.length };
  }
  let runner: Runner;
  const t0 = performance.now();
  try {
    runner = await engine.load(m, inputs);
  } catch (e) {
    return { ...base, status: 'error', reason: `load failed: ${message(e)}` };
  }
  const loadMs = performance.now() - t0;
  try {
    // 1. the check pass: every frame once
    const results: unknown[] = [];
    const keypoints: FramePoses[] = [];
    const tc = performance.now();
    for (let i = 0; i < inputs.length; i++) {
      const r = await runner.frame(i);
      results.push(r);
      keypoints.push(runner.keypoints(r).map((p) => p.map((v) => Math.round(v * 1e4) / 1e4)));
    }
    const cell: MoveNetCellMessage = { ...base, status: 'ok', keypoints, frames, loadMs };
    if (def.kind === 'reference') {
      cell.firstMs = (performance.now() - tc) / inputs.length;
      if (keys && job.referenceCache) {
        const cache = readCache(job.referenceCache);
        keys.forEach((k, i) => (cache[k] = keypoints[i]!));
        mkdirSync(path.dirname(job.referenceCache), { recursive: true });
        writeFileSync(job.referenceCache, JSON.stringify(cache));
      }
      return cell;
    }
    // 2. timed frames, cycling through the inputs
    let k = 0;
    const t = await measure(async () => {
      await runner.frame(k++);
    }, job.quick);
    Object.assign(cell, { samples: t.samples, firstMs: t.firstMs, plan: t.plan });
    // 3. posegrad's host decoding
    if (runner.decodeOnly) {
      let d = 0;
      const dec = await measure(() => runner.decodeOnly!(results[d++ % results.length]), job.quick);
      cell.decodeSamples = dec.samples;
    }
    return cell;
  } catch (e) {
    return { ...base, status: 'error', reason: message(e), loadMs };
  } finally {
    try {
      runner.dispose();
    } catch {
      // Disposal after a failure may fail too; the cell carries the first error.
    }
  }
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? 'null') as MoveNetJob | null;
  if (!job?.engine) throw new Error(`movenet worker: expected a MoveNetJob JSON argument, got ${process.argv[2] ?? 'nothing'}`);
  const def = job.engine;
  if (job.preload && def.runtime === 'posegrad') await import(pathToFileURL(job.preload).href);
  let engine: Engine;
  try {
    engine = def.runtime === 'posegrad' ? await posegradEngine(def) : await tfjsEngine(def, job.graphDir);
    const s = await engine.start();
    send({ type: 'movenet-engine', engineId: def.id, ok: true, version: s.version, details: s.details });
  } catch (e) {
    send({ type: 'movenet-engine', engineId: def.id, ok: false, error: message(e) });
    send({ type: 'movenet-done', maxRssBytes: process.resourceUsage().maxRSS * 1024 });
    return;
  }
  for (const id of job.models) {
    const m = MOVENET_MODELS.find((x) => x.id === id);
    if (!m) {
      send({ type: 'movenet-cell', engineId: def.id, model: id, status: 'error', reason: `unknown MoveNet model '${id}'` });
      continue;
    }
    send(await runModel(engine, def, m, job));
  }
  send({ type: 'movenet-done', maxRssBytes: process.resourceUsage().maxRSS * 1024 });
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`movenet worker: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
