/**
 * Where a MoveNet frame's time goes, per kernel kind, on posegrad wasm and on tfjs-wasm (a
 * developer tool beside the MoveNet race; it times nothing that the report uses):
 *
 *   npx tsx bench/movenet/profile.ts [--model thunder] [--engine posegrad-wasm|tfjs-wasm|posegrad-webgpu|tfjs-webgpu] [--threads 1] [--reps 3]
 *
 * - posegrad wasm: every Backend method of the started backend is wrapped with a timer (wasm
 *   kernels are synchronous, so a call's wall time is the kernel's time); conv2d calls are split
 *   into depthwise 3x3, pointwise 1x1 and full convs by their weight shape and groups.
 * - tfjs: `tf.profile` (per-kernel `kernelTimeMs`; FusedConv2D split by filter size).
 * - webgpu (either): kernels are asynchronous; only the number of dispatches (posegrad) or kernels
 *   (tfjs) per frame and the frame time are shown.
 * Frames and inputs are the race's (models.ts). Pin with `taskset -c 1` for one-thread numbers.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type * as TF from '@tensorflow/tfjs';
import { humanModelsDir } from '../../scripts/movenet/human-models.js';
import { loadInputs, MOVENET_MODELS, toNchwFloat, toNhwcInt32, weightsPath, type MoveNetModelId } from './models.js';

const { values } = parseArgs({ options: { model: { type: 'string', default: 'thunder' }, engine: { type: 'string', default: 'posegrad-wasm' }, threads: { type: 'string', default: '1' }, reps: { type: 'string', default: '3' } } });
const model = MOVENET_MODELS.find((m) => m.id === (values.model as MoveNetModelId));
if (!model) throw new Error(`profile: expected --model among [${MOVENET_MODELS.map((m) => m.id).join(', ')}], got '${values.model}'`);
const engineName = values.engine!;
const threads = Number(values.threads);
const reps = Number(values.reps);
const inputs = loadInputs(model);
const [H, W] = model.size;
process.env.XDG_RUNTIME_DIR ??= '/tmp';

const acc = new Map<string, { ms: number; calls: number }>();
const add = (k: string, ms: number, calls = 1): void => {
  const a = acc.get(k) ?? { ms: 0, calls: 0 };
  a.ms += ms;
  a.calls += calls;
  acc.set(k, a);
};

function print(frames: number, frameMs: number[]): void {
  const sorted = [...frameMs].sort((a, b) => a - b);
  const median = sorted[sorted.length >> 1]!;
  const total = [...acc.values()].reduce((s, a) => s + a.ms, 0);
  console.log(`${engineName} ${model!.label}: frame median ${median.toFixed(1)} ms over ${frames} frames (kernels sum ${(total / frames).toFixed(1)} ms/frame)`);
  for (const [k, a] of [...acc.entries()].sort((x, y) => y[1].ms - x[1].ms)) {
    console.log(`  ${k.padEnd(44)} ${(a.ms / frames).toFixed(2).padStart(8)} ms/frame  ${(a.calls / frames).toFixed(0).padStart(4)} calls/frame  ${((100 * a.ms) / total).toFixed(1).padStart(5)}%`);
  }
}

/** A kernel's profile key: conv2d split by kind. */
function convKey(w: { shape: readonly number[] }, p: { groups: number; stride: readonly number[] }): string {
  const [cout, cinG, kh, kw] = w.shape as [number, number, number, number];
  if (p.groups > 1 && cinG === 1) return `conv2d depthwise ${kh}x${kw} s${p.stride[0]}`;
  if (kh === 1 && kw === 1) return 'conv2d pointwise 1x1';
  return `conv2d ${kh}x${kw} s${p.stride[0]} (Cout ${cout})`;
}

async function posegrad(device: 'wasm' | 'webgpu'): Promise<void> {
  const { engine, init, noGrad } = await import('../../engine/engine.js');
  const { tensor } = await import('../../ops/creation.js');
  const { moveNetFromSafetensors } = await import('../../models/movenet/load.js');
  const { readMoveNetOutput } = await import('../../models/movenet/decode.js');
  const { disposeMoveNetOutput } = await import('../../models/movenet/movenet.js');
  if (device === 'wasm') {
    const { createWasmBackend } = await import('../../backends/wasm/index.js');
    engine.registerBackendFactory('wasm', () => createWasmBackend({ threads }));
  }
  const be = (await init(device)) as unknown as Record<string, unknown>;
  const m = moveNetFromSafetensors(new Uint8Array(readFileSync(weightsPath(model!))));
  await m.toAsync(device);
  const xs = inputs.map((x) => toNchwFloat(x.rgb, H, W));
  const frame = async (i: number): Promise<void> => {
    const out = noGrad(() => {
      const x = tensor(xs[i % xs.length]!, { shape: [1, 3, H, W], device });
      try {
        return m.forward(x);
      } finally {
        x.dispose();
      }
    });
    try {
      await readMoveNetOutput(out, [H, W], null);
    } finally {
      disposeMoveNetOutput(out);
    }
  };
  for (let i = 0; i < 3; i++) await frame(i);
  let on = false;
  if (device === 'wasm') {
    // Wrap every method of the backend instance (its prototype chain up to Object).
    const names = new Set<string>();
    for (let p = Object.getPrototypeOf(be); p && p !== Object.prototype; p = Object.getPrototypeOf(p)) for (const n of Object.getOwnPropertyNames(p)) names.add(n);
    for (const n of names) {
      const f = be[n];
      if (n === 'constructor' || typeof f !== 'function') continue;
      be[n] = function (this: unknown, ...a: unknown[]) {
        if (!on) return (f as (...x: unknown[]) => unknown).apply(be, a);
        const t0 = performance.now();
        const r = (f as (...x: unknown[]) => unknown).apply(be, a);
        const ms = performance.now() - t0;
        const key = n === 'conv2d' ? convKey(a[1] as { shape: number[] }, a[3] as { groups: number; stride: number[] })
          : n === 'unary' || n === 'binary' ? `${n} ${String(a[0])}`
            : n;
        add(key, ms);
        return r;
      };
    }
  }
  if (device === 'webgpu') await replayWebgpu(be, frame);
  const times: number[] = [];
  const rt = (be as { rt?: { stats: { dispatches: number; submits: number } } }).rt;
  const d0 = rt?.stats.dispatches ?? 0;
  const s0 = rt?.stats.submits ?? 0;
  on = true;
  const n = reps * xs.length;
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await frame(i);
    times.push(performance.now() - t0);
  }
  on = false;
  if (rt) console.log(`posegrad webgpu: ${((rt.stats.dispatches - d0) / n).toFixed(0)} dispatches and ${((rt.stats.submits - s0) / n).toFixed(1)} submits per frame`);
  print(n, times);
}

/**
 * posegrad webgpu: kernels run asynchronously, so one frame's backend calls are recorded (with
 * releases held back, so that every buffer stays alive) and each is then replayed alone, `reps`
 * times, between `await sync()`s; the cost of an empty submit-and-wait is subtracted. This is
 * each kernel's time in isolation (no overlap with its neighbours), an approximation.
 */
async function replayWebgpu(be: Record<string, unknown>, frame: (i: number) => Promise<void>): Promise<void> {
  const sync = (): Promise<void> => (be.sync as () => Promise<void>).call(be);
  const calls: { name: string; key: string; args: unknown[] }[] = [];
  const held: unknown[] = [];
  const skip = new Set(['upload', 'read', 'readSync', 'release', 'memoryInfo', 'sync', 'constructor']);
  const originals = new Map<string, (...a: unknown[]) => unknown>();
  const names = new Set<string>();
  for (let p = Object.getPrototypeOf(be); p && p !== Object.prototype; p = Object.getPrototypeOf(p)) for (const n of Object.getOwnPropertyNames(p)) names.add(n);
  for (const n of names) {
    const f = be[n];
    if (typeof f !== 'function') continue;
    originals.set(n, f as (...a: unknown[]) => unknown);
    if (n === 'release') be[n] = (s: unknown) => void held.push(s);
    else if (!skip.has(n)) {
      be[n] = (...a: unknown[]) => {
        const key = n === 'conv2d' ? convKey(a[1] as { shape: number[] }, a[3] as { groups: number; stride: number[] }) : n === 'unary' || n === 'binary' ? `${n} ${String(a[0])}` : n;
        calls.push({ name: n, key, args: a });
        return (f as (...x: unknown[]) => unknown).apply(be, a);
      };
    }
  }
  await frame(0);
  for (const [n, f] of originals) be[n] = f;
  const release = originals.get('release')!;
  const isStorage = (x: unknown): boolean => typeof x === 'object' && x !== null && 'buffer' in x;
  // the fixed cost of a submit and wait
  let overhead = Infinity;
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    release.call(be, (be.fill as (...a: unknown[]) => unknown).call(be, [1], 'float32', 0));
    await sync();
    overhead = Math.min(overhead, performance.now() - t0);
  }
  for (const c of calls) {
    let best = Infinity;
    for (let r = 0; r < reps; r++) {
      const t0 = performance.now();
      const out = originals.get(c.name)!.apply(be, c.args);
      await sync();
      best = Math.min(best, performance.now() - t0);
      for (const o of isStorage(out) ? [out] : typeof out === 'object' && out ? Object.values(out) : []) if (isStorage(o)) release.call(be, o);
    }
    add(c.key, Math.max(0, best - overhead));
  }
  for (const s of held) release.call(be, s);
  const total = [...acc.values()].reduce((x, a) => x + a.ms, 0);
  console.log(`posegrad webgpu, each of one frame's ${calls.length} kernel calls replayed alone (best of ${reps}, minus ${overhead.toFixed(2)} ms per submit+wait): sum ${total.toFixed(1)} ms`);
  for (const [k, a] of [...acc.entries()].sort((x, y) => y[1].ms - x[1].ms)) console.log(`  ${k.padEnd(44)} ${a.ms.toFixed(2).padStart(8)} ms  ${String(a.calls).padStart(4)} calls  ${((100 * a.ms) / total).toFixed(1).padStart(5)}%`);
  acc.clear();
}

async function tfjs(backend: 'wasm' | 'webgpu'): Promise<void> {
  const dir = humanModelsDir();
  if (!dir) throw new Error('profile: expected the TF.js graph models in .cache/ (npx tsx scripts/movenet/convert.ts --check fetches them)');
  const tf = (await import('@tensorflow/tfjs')) as typeof TF;
  const { tfjsAdapter } = await import('../peers/tfjs.js');
  await tfjsAdapter(backend).start();
  const json = JSON.parse(readFileSync(path.join(dir, `movenet-${model!.variant}.json`), 'utf8')) as { modelTopology: object; weightsManifest: { paths: string[]; weights: TF.io.WeightsManifestEntry[] }[]; format: string; generatedBy: string; convertedBy: string; signature: object };
  const bins = json.weightsManifest.flatMap((g) => g.paths.map((p) => readFileSync(path.join(dir, p))));
  const buf = Buffer.concat(bins);
  const g = await tf.loadGraphModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest.flatMap((w) => w.weights), weightData: buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength), format: json.format, generatedBy: json.generatedBy, convertedBy: json.convertedBy, signature: json.signature }));
  const xs = inputs.map((x) => toNhwcInt32(x.rgb));
  const frame = async (i: number): Promise<void> => {
    const x = tf.tensor(xs[i % xs.length]!, [1, H, W, 3], 'int32');
    const y = g.execute(x) as TF.Tensor;
    x.dispose();
    await y.data();
    y.dispose();
  };
  for (let i = 0; i < 3; i++) await frame(i);
  const times: number[] = [];
  const n = reps * xs.length;
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await frame(i);
    times.push(performance.now() - t0);
  }
  // Kernel times from one profiled pass per frame (profiling itself slows the frame down).
  for (let i = 0; i < xs.length; i++) {
    const info = await tf.profile(async () => {
      await frame(i);
    });
    for (const k of info.kernels) {
      if (k.name.endsWith('__op')) continue; // an op's record, enclosing its kernels' records
      const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
      const f = k.inputShapes[1];
      const key = k.name === 'FusedConv2D' && f ? `FusedConv2D ${f[0]}x${f[1]}` : k.name === 'FusedDepthwiseConv2D' && f ? `FusedDepthwiseConv2D ${f[0]}x${f[1]}` : k.name;
      add(key, ms * reps, reps); // scaled to the timed frame count
    }
  }
  print(n, times);
  console.log(`tfjs-${backend}: ${[...acc.values()].reduce((s, a) => s + a.calls, 0) / n} kernels per frame (kernel times from tf.profile, which slows them down)`);
}

if (engineName === 'posegrad-wasm') await posegrad('wasm');
else if (engineName === 'posegrad-webgpu') await posegrad('webgpu');
else if (engineName === 'tfjs-wasm') await tfjs('wasm');
else if (engineName === 'tfjs-webgpu') await tfjs('webgpu');
else throw new Error(`profile: expected --engine posegrad-wasm, posegrad-webgpu, tfjs-wasm or tfjs-webgpu, got '${engineName}'`);
process.exit(0);
