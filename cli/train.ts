/**
 * `npm run train`: trains one network on SynthPose and evaluates it on held-out clips; with
 * `--preset real`, a temporal head on the frozen MoveNet (models/train/real-run.ts).
 *
 *   npx tsx cli/train.ts --model baseline|rpstn|fasrnet|vremd|glpose [--arch hrnet|vitpose|simplebaseline]
 *        [--preset tiny|small] [--backend cpu|wasm|webgpu] [--epochs N | --max-steps N] [--batch N]
 *        [--lr X] [--out DIR] [--data DIR] [--init FILE] [--resume FILE] [--eval-every N] [--seed N] ...
 *
 * See `--help` and docs/training.md. Exit codes: 0 success; 2 a usage error (one line on stderr);
 * 1 a failure while training (one line on stderr; POSEGRAD_DEBUG=1 adds the stack).
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import type { DeviceName } from '../backends/backend.js';
import { DEVICES } from '../backends/backend.js';
import { engine, init, setDefaultDevice } from '../engine/engine.js';
import { BASELINE_ARCHS, MODEL_NAMES, TRAIN_PRESETS, type BaselineArch, type ModelName, type TrainPreset } from '../models/train/adapters.js';
import { cachedFrameLoader, defaultDataDir, DEFAULT_SYNTH_SPEC, ensureSynthPose, frameCounts, loadSplit, type SynthPoseSpec } from '../models/train/data.js';
import { RECIPES } from '../models/train/recipes.js';
import { defaultConfig, train, trainingSamples, type EvalRecord, type TrainConfig } from '../models/train/trainer.js';
import { checkRealModel, runReal } from '../models/train/real-run.js';
import type { RealStepInfo } from '../models/train/real-heads.js';
import { CliError, runCli } from './common.js';

const HELP = `usage: npm run train -- --model NAME [options]

Trains one network on SynthPose (generated on first use) and evaluates its poseval mAP on held-out
clips, split into hard (occluded or motion-blurred) and clean frames. With --preset real: trains a
temporal head on the frozen pretrained MoveNet Lightning, on cached MoveNet outputs of a real-data
folder, and scores PCK against the teacher (--model baseline: MoveNet alone). See docs/training.md.

  --model NAME          ${MODEL_NAMES.join(' | ')} (default baseline)
  --arch NAME           the baseline's network: ${BASELINE_ARCHS.join(' | ')} (default hrnet;
                        hrnet is FaSRnet's and GLPose's backbone, vitpose VREMD's, simplebaseline RPSTN's)
  --preset NAME         ${TRAIN_PRESETS.join(' | ')} (default tiny)
  --backend NAME        ${DEVICES.join(' | ')} (default cpu)
  --threads N           wasm: threads for the GEMM kernels (default 1)
  --epochs N            passes over the training samples (default 1 unless --max-steps is given)
  --max-steps N         total optimizer steps (caps --epochs)
  --batch N             samples per step (default 8)
  --lr X                initial learning rate (default: the paper's, see docs/training.md)
  --milestones LIST     lr ÷10 points as fractions of the steps, e.g. 0.8,0.95, or none
                        (default: the paper's epochs scaled to the run)
  --seed N              seed of the weights, the sample order and the augmentation (default 0)
  --no-augment          train on the plain crops (no scale/rotation/flip)
  --static              the control: feed the key frame in place of every neighbouring frame
                        (training and evaluation), i.e. the same network without temporal input
  --init FILE           start from a trained single-frame network (weights.safetensors or a
                        checkpoint of the baseline this model is compared with)
  --resume FILE         continue a run from its last.safetensors (same options)
  --out DIR             output folder (default out/train/<model>-<preset>)
  --eval-every N        evaluate every N steps (default 0: only at the end)
  --eval-stride N       periodic evaluations score every N-th frame (default 4; the final one all)
  --eval-batch N        samples per evaluation forward pass (default 16)
  --checkpoint-every N  write last.safetensors every N steps (default 0: at evaluations and the end)
  --stop-after N        stop after step N (writing last.safetensors); continue later with --resume
  --no-cache            do not cache the frozen backbones' features (FaSRnet, VREMD)
  --data DIR            a SynthPose folder (default: generated under /tmp/synthpose); with
                        --preset real a real-data folder (npm run real-data; default /tmp/realpose)
  --cache-dir DIR       --preset real: where MoveNet's cached outputs go (default /tmp/realpose-cache)
  --steps N             --preset real: total optimizer steps (default 600)
  --train-clips N --val-clips N --clip-frames N --frame-size WxH --data-seed N
                        what to generate when --data is absent (default ${DEFAULT_SYNTH_SPEC.trainClips}, ${DEFAULT_SYNTH_SPEC.valClips}, ${DEFAULT_SYNTH_SPEC.frames}, ${DEFAULT_SYNTH_SPEC.size.join('x')}, ${DEFAULT_SYNTH_SPEC.seed})
  --log-every N         without a terminal, print a line every N steps (default 25)
  -h, --help`;

interface Parsed {
  config: TrainConfig;
  epochs: number | null;
  maxSteps: number | null;
  lr: number | null;
  resume: string | null;
  dataDir: string | null;
  spec: SynthPoseSpec;
  threads: number;
  logEvery: number;
  cacheDir: string | null;
  steps: number | null;
}

function intFlag(name: string, v: string | undefined, min: number): number | null {
  if (v === undefined) return null;
  const n = Number(v);
  if (!/^-?\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min) throw new CliError(`--${name}: expected an integer ≥ ${min}, got '${v}'`);
  return n;
}

function oneOf<T extends string>(name: string, v: string | undefined, allowed: readonly T[], dflt: T): T {
  if (v === undefined) return dflt;
  if (!(allowed as readonly string[]).includes(v)) throw new CliError(`--${name}: expected one of [${allowed.join(', ')}], got '${v}'`);
  return v as T;
}

/** Parses argv; null when --help was printed. @throws CliError (exit 2) on a bad flag. */
export function parseTrainArgs(argv: string[]): Parsed | null {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      arch: { type: 'string' },
      preset: { type: 'string' },
      backend: { type: 'string' },
      threads: { type: 'string' },
      epochs: { type: 'string' },
      'max-steps': { type: 'string' },
      batch: { type: 'string' },
      lr: { type: 'string' },
      milestones: { type: 'string' },
      seed: { type: 'string' },
      'no-augment': { type: 'boolean' },
      static: { type: 'boolean' },
      init: { type: 'string' },
      resume: { type: 'string' },
      out: { type: 'string' },
      'eval-every': { type: 'string' },
      'eval-stride': { type: 'string' },
      'eval-batch': { type: 'string' },
      'checkpoint-every': { type: 'string' },
      'stop-after': { type: 'string' },
      'no-cache': { type: 'boolean' },
      data: { type: 'string' },
      'train-clips': { type: 'string' },
      'val-clips': { type: 'string' },
      'clip-frames': { type: 'string' },
      'frame-size': { type: 'string' },
      'data-seed': { type: 'string' },
      'log-every': { type: 'string' },
      'cache-dir': { type: 'string' },
      steps: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return null;
  }
  const model = oneOf<ModelName>('model', values.model, MODEL_NAMES, 'baseline');
  if (values.arch !== undefined && model !== 'baseline') throw new CliError(`--arch: expected only with --model baseline, got --model ${model} (its single-frame network is fixed)`);
  const arch = oneOf<BaselineArch>('arch', values.arch, BASELINE_ARCHS, 'hrnet');
  const preset = oneOf<TrainPreset>('preset', values.preset, TRAIN_PRESETS, 'tiny');
  const device = oneOf<DeviceName>('backend', values.backend, DEVICES, 'cpu');
  const threads = intFlag('threads', values.threads, 1) ?? 1;
  if (threads > 1 && device !== 'wasm') throw new CliError(`--threads: expected only with --backend wasm, got --backend ${device}`);
  const epochs = intFlag('epochs', values.epochs, 1);
  const maxSteps = intFlag('max-steps', values['max-steps'], 1);
  let lr: number | null = null;
  if (values.lr !== undefined) {
    lr = Number(values.lr);
    if (!Number.isFinite(lr) || !(lr > 0) || values.lr.trim() === '') throw new CliError(`--lr: expected a number > 0, got '${values.lr}'`);
  }
  let milestones: number[] | null = null;
  if (values.milestones !== undefined) {
    milestones = values.milestones === 'none' ? [] : values.milestones.split(',').map(Number);
    if (milestones.some((f) => !(f > 0 && f < 1))) throw new CliError(`--milestones: expected none or fractions in (0, 1) separated by commas, got '${values.milestones}'`);
  }
  const size = values['frame-size'] ?? `${DEFAULT_SYNTH_SPEC.size[0]}x${DEFAULT_SYNTH_SPEC.size[1]}`;
  const m = /^(\d+)x(\d+)$/.exec(size);
  if (!m || Number(m[1]) < 32 || Number(m[2]) < 32) throw new CliError(`--frame-size: expected WxH with W, H ≥ 32, got '${size}'`);
  const spec: SynthPoseSpec = {
    trainClips: intFlag('train-clips', values['train-clips'], 1) ?? DEFAULT_SYNTH_SPEC.trainClips,
    valClips: intFlag('val-clips', values['val-clips'], 1) ?? DEFAULT_SYNTH_SPEC.valClips,
    frames: intFlag('clip-frames', values['clip-frames'], 3) ?? DEFAULT_SYNTH_SPEC.frames,
    size: [Number(m[1]), Number(m[2])],
    seed: intFlag('data-seed', values['data-seed'], 0) ?? DEFAULT_SYNTH_SPEC.seed,
  };
  const dataDir = values.data ?? null;
  if (dataDir !== null && (values['train-clips'] ?? values['val-clips'] ?? values['clip-frames'] ?? values['frame-size'] ?? values['data-seed']) !== undefined) {
    throw new CliError('--data: expected either --data DIR or the generation flags (--train-clips, ...), got both');
  }
  if (dataDir !== null && !existsSync(dataDir)) throw new CliError(`--data: expected an existing SynthPose folder, got '${dataDir}' (omit --data to generate one)`);
  for (const [flag, path] of [['init', values.init], ['resume', values.resume]] as const) {
    if (path !== undefined && !existsSync(path)) throw new CliError(`--${flag}: expected an existing file, got '${path}'`);
  }
  if (values.static && model === 'baseline') throw new CliError('--static: expected a temporal model (the baseline reads one frame), got --model baseline');
  if (preset !== 'real' && (values.steps !== undefined || values['cache-dir'] !== undefined)) throw new CliError(`--${values.steps !== undefined ? 'steps' : 'cache-dir'}: expected only with --preset real (SynthPose runs take --max-steps / --epochs), got --preset ${preset}`);
  const id = (model === 'baseline' ? `baseline-${arch}` : model) + (values.static ? '-static' : '');
  const config = defaultConfig(model, {
    arch,
    preset,
    device,
    batchSize: intFlag('batch', values.batch, 1) ?? 8,
    seed: intFlag('seed', values.seed, 0) ?? 0,
    recipe: { ...RECIPES[model], ...(lr !== null ? { lr } : {}), ...(milestones !== null ? { milestones } : {}) },
    augment: !values['no-augment'],
    evalEvery: intFlag('eval-every', values['eval-every'], 0) ?? 0,
    evalStride: intFlag('eval-stride', values['eval-stride'], 1) ?? 4,
    evalBatch: intFlag('eval-batch', values['eval-batch'], 1) ?? 16,
    checkpointEvery: intFlag('checkpoint-every', values['checkpoint-every'], 0) ?? 0,
    outDir: resolve(values.out ?? join('out', 'train', `${id}-${preset}`)),
    init: values.init ? resolve(values.init) : null,
    cacheFeatures: !values['no-cache'],
    stopAfter: intFlag('stop-after', values['stop-after'], 1),
    staticInput: values.static === true,
  });
  return { config, epochs, maxSteps, lr, resume: values.resume ? resolve(values.resume) : null, dataDir, spec, threads, logEvery: intFlag('log-every', values['log-every'], 1) ?? 25, cacheDir: values['cache-dir'] ?? null, steps: intFlag('steps', values.steps, 1) };
}

async function startBackend(device: DeviceName, threads: number): Promise<void> {
  if (device === 'wasm') {
    const { createWasmBackend } = await import('../backends/wasm/index.js');
    engine.registerBackendFactory('wasm', () => createWasmBackend({ threads }));
  } else if (device === 'webgpu') {
    const { createWebGPUBackend } = await import('../backends/webgpu/index.js');
    engine.registerBackendFactory('webgpu', () => createWebGPUBackend());
  }
  await init(device);
  setDefaultDevice(device);
}

function fmtEval(e: EvalRecord): string {
  const m = e.mAP;
  return `step ${e.step}: mAP ${m.all.toFixed(1)} | hard ${m.hard.toFixed(1)} | clean ${m.clean.toFixed(1)} | occluded ${m.occluded.toFixed(1)} | blurred ${m.blurred.toFixed(1)}${e.stride > 1 ? ` (every ${e.stride}th frame)` : ''} [${e.seconds.toFixed(0)} s]`;
}

/**
 * `--preset real`: the temporal heads on the frozen pretrained MoveNet, trained on cached backbone
 * outputs of a real-data folder (models/train/real-run.ts); `--model baseline` evaluates MoveNet alone.
 */
async function mainReal(p: Parsed): Promise<void> {
  const say = (s: string): void => void process.stdout.write(`${s}\n`);
  const c = p.config;
  if (c.init) throw new CliError('--init: expected no --init with --preset real (the backbone is the shipped MoveNet Lightning, assets/weights/movenet/lightning.safetensors)');
  const model = checkRealModel(c.model);
  const steps = p.steps ?? p.maxSteps ?? 600;
  const { mkdirSync } = await import('node:fs');
  mkdirSync(c.outDir, { recursive: true });
  const tty = process.stderr.isTTY === true;
  const multi = tty ? new cliProgress.MultiBar({ format: '{id} |{bar}| {value}/{total} | loss {loss} | lr {lr} | {sps} s/step | eta {eta_formatted}', hideCursor: true, barsize: 30, fps: 4 }, cliProgress.Presets.shades_classic) : null;
  let bar: cliProgress.SingleBar | null = null;
  let id = '';
  let recent = 0;
  const print = (s: string): void => {
    if (multi) multi.log(`${s}\n`);
    else say(s);
  };
  const r = c.recipe;
  say(`recipe: ${r.optimizer === 'adamw' ? 'AdamW' : 'Adam'} lr ${r.lr}${r.weightDecay ? ` weight decay ${r.weightDecay}` : ''}, ${r.milestones.length ? `×${r.gamma} at ${r.milestones.map((f) => `${(f * 100).toFixed(0)}%`).join(', ')} of ${steps} steps` : `constant over ${steps} steps`}; batch ${c.batchSize}; augmentation ${c.augment ? 'on (cached views)' : 'off'}; backend ${c.device} (${p.threads} thread${p.threads > 1 ? 's' : ''})`);
  await runReal(
    {
      model,
      staticInput: c.staticInput ?? false,
      dataDir: resolve(p.dataDir ?? '/tmp/realpose'),
      ...(p.cacheDir ? { cacheRoot: resolve(p.cacheDir) } : {}),
      device: c.device,
      threads: p.threads,
      steps,
      batchSize: c.batchSize,
      seed: c.seed,
      recipe: c.recipe,
      augment: c.augment,
      evalEvery: c.evalEvery,
      checkpointEvery: c.checkpointEvery,
      stopAfter: c.stopAfter ?? null,
      outDir: c.outDir,
      resume: p.resume,
      command: `npm run train -- ${process.argv.slice(2).join(' ')}`,
    },
    {
      say: print,
      onStart: (i) => {
        id = i.id;
        bar = multi ? multi.create(i.steps, i.startStep, { id, loss: '-', lr: '-', sps: '-' }) : null;
      },
      onStep: (s: RealStepInfo) => {
        recent = recent === 0 ? s.seconds : 0.9 * recent + 0.1 * s.seconds;
        if (bar) bar.update(s.step, { id, loss: s.loss.toExponential(3), lr: s.lr.toExponential(1), sps: recent.toFixed(2) });
        else if (s.step % p.logEvery === 0 || s.step === steps) say(`${id} step ${s.step}/${steps} loss ${s.loss.toExponential(4)} lr ${s.lr.toExponential(2)} ${recent.toFixed(2)} s/step`);
      },
    },
  );
  multi?.stop();
}

async function main(): Promise<void> {
  const p = parseTrainArgs(process.argv.slice(2));
  if (!p) return;
  if (p.config.preset === 'real') return mainReal(p);
  const say = (s: string): void => void process.stdout.write(`${s}\n`);
  let dataDir = p.dataDir;
  if (dataDir === null) {
    dataDir = defaultDataDir(p.spec);
    const made = ensureSynthPose(dataDir, p.spec, (i, n, s) => say(`synthpose: clip ${i + 1}/${n} (${s.toFixed(1)} s)`));
    if (made > 0) say(`synthpose: generated ${made} clip(s) in ${dataDir}`);
  }
  const split = loadSplit(dataDir);
  const c = p.config;
  const n = trainingSamples(split.train);
  const perEpoch = Math.floor(n / c.batchSize);
  if (perEpoch < 1) throw new CliError(`--batch: expected at most the ${n} training samples, got ${c.batchSize}`);
  const steps = p.maxSteps !== null && p.epochs === null ? p.maxSteps : Math.min((p.epochs ?? 1) * perEpoch, p.maxSteps ?? Infinity);
  const config: TrainConfig = { ...c, steps };
  const vc = frameCounts(split.val);
  say(`data: ${split.dir}: ${split.train.length} training clips (${n} samples, ${perEpoch} steps per epoch), ${split.val.length} validation clips (${vc.frames} frames: ${vc.hard} hard = occluded ${vc.occluded} / blurred ${vc.blurred}, ${vc.clean} clean)`);
  await startBackend(config.device, p.threads);
  const r = config.recipe;
  say(`recipe: ${r.optimizer === 'adamw' ? 'AdamW' : 'Adam'} lr ${r.lr}${r.weightDecay ? ` weight decay ${r.weightDecay}` : ''}, ${r.milestones.length ? `×${r.gamma} at ${r.milestones.map((f) => `${(f * 100).toFixed(0)}%`).join(', ')} of ${steps} steps` : `constant over ${steps} steps`}; batch ${config.batchSize}; augmentation ${config.augment ? 'on' : 'off'}; backend ${config.device}${p.threads > 1 ? ` (${p.threads} threads)` : ''}`);

  const tty = process.stderr.isTTY === true;
  const multi = tty ? new cliProgress.MultiBar({ format: '{id} |{bar}| {value}/{total} | loss {loss} | lr {lr} | {sps} s/step | eta {eta_formatted}', hideCursor: true, barsize: 30, fps: 4 }, cliProgress.Presets.shades_classic) : null;
  let bar: cliProgress.SingleBar | null = null;
  const print = (s: string): void => {
    if (multi) multi.log(`${s}\n`);
    else say(s);
  };
  let id = '';
  const t0 = performance.now();
  let recent = 0;
  const result = await train(
    config,
    { train: split.train, val: split.val, loadFrame: cachedFrameLoader(), dir: split.dir },
    {
      onStart: (i) => {
        id = i.adapter.id;
        const trainable = i.adapter.trainableParameters().reduce((s, q) => s + q.size, 0);
        say(`model: ${id} '${config.preset}': ${i.adapter.module.numParameters()} parameters (${trainable} trained), input ${i.adapter.inputSize.join('x')}, frames ${i.adapter.frames.kind}; steps ${i.startStep} → ${i.steps}; out ${config.outDir}`);
        bar = multi ? multi.create(i.steps, i.startStep, { id, loss: '-', lr: '-', sps: '-' }) : null;
      },
      onStep: (s) => {
        recent = recent === 0 ? s.seconds : 0.9 * recent + 0.1 * s.seconds;
        if (bar) bar.update(s.step, { id, loss: s.loss.toExponential(3), lr: s.lr.toExponential(1), sps: recent.toFixed(2) });
        else if (s.step % p.logEvery === 0 || s.step === config.steps) say(`${id} step ${s.step}/${config.steps} loss ${s.loss.toExponential(4)} lr ${s.lr.toExponential(2)} ${recent.toFixed(2)} s/step`);
      },
      onEval: (e) => print(`eval ${fmtEval(e)}`),
      log: print,
    },
    p.resume,
  );
  multi?.stop();
  const cache = result.adapter.cacheStats();
  say(`done in ${((performance.now() - t0) / 1000).toFixed(0)} s (training ${result.trainSeconds.toFixed(0)} s, evaluation ${result.evalSeconds.toFixed(0)} s)${cache ? `; feature cache ${cache.hits} hits / ${cache.misses} misses` : ''}`);
  if (result.final) {
    say(`final ${fmtEval(result.final)}`);
    say(`wrote ${join(config.outDir, 'weights.safetensors')}, last.safetensors, metrics.json`);
  } else {
    say(`stopped at step ${result.step} of ${config.steps}; wrote ${join(config.outDir, 'last.safetensors')}`);
  }
}

const isMain = process.argv[1] !== undefined && resolve(process.argv[1]) === resolve(import.meta.filename);
if (isMain) await runCli('train', main);
