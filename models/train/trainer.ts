/**
 * The training loop behind `npm run train`.
 *
 * One run trains one network (an Adapter) for a fixed number of optimizer steps on the training
 * clips of a data folder, evaluates it on the validation clips every `evalEvery` steps and at the
 * end, and writes into `outDir`:
 *
 *   last.safetensors     training checkpoint (model + optimizer + scheduler + history) for --resume
 *   weights.safetensors  the model's state dict alone, with the run's config as metadata
 *   metrics.json         config, loss curve, every evaluation, timings, machine
 *
 * Determinism: the batch of step s is a function of (seed, s) only: the sample order of epoch e
 * is a Fisher-Yates permutation from an Rng seeded with (seed, e), the augmentation of step s is
 * drawn from an Rng seeded with (seed, s), and posegrad's global generator (dropout, drop-path)
 * is reseeded with (seed, s) before the step. A run resumed from the checkpoint of step s
 * therefore computes exactly the steps s+1, s+2, ... of the uninterrupted run.
 */
import { moduleMetadata } from '../weights-file.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import type { DeviceName } from '../../backends/backend.js';
import { engine, manualSeed, tidy } from '../../engine/engine.js';
import { Rng } from '../../engine/random.js';
import type { Tensor } from '../../engine/tensor.js';
import { fail } from '../../engine/shape.js';
import { loadTrainingCheckpoint, saveTrainingCheckpoint } from '../nn/checkpoint/training.js';
import { saveSafetensors } from '../nn/checkpoint/files.js';
import { Adam, AdamW, MultiStepLR, type BaseGroupOptions, type Optimizer } from '../nn/optim.js';
import { readSafetensors, type HostTensor } from '../nn/safetensors.js';
import { TopDownDataset, type FrameLoader } from '../pose/data/dataset.js';
import type { VideoSequence } from '../pose/datasets/types.js';
import { COCO17, POSETRACK } from '../pose/joints.js';
import { baselineStateFrom, createAdapter, staticBatch, type Adapter, type BaselineArch, type ModelName, type TrainPreset } from './adapters.js';
import { evaluateAdapter, type EvalResult } from './evaluate.js';
import { milestoneSteps, recipeAugment, RECIPES, type Recipe } from './recipes.js';

export interface TrainConfig {
  model: ModelName;
  /** The baseline's architecture (model 'baseline'). */
  arch: BaselineArch;
  preset: TrainPreset;
  device: DeviceName;
  /** Samples (key-frame persons) per step. */
  batchSize: number;
  /** Total optimizer steps of the run. */
  steps: number;
  seed: number;
  /** Optimizer and schedule (default: the model's recipe). */
  recipe: Recipe;
  /** Training augmentation on (the recipe's: recipes.ts `recipeAugment`, GLPose its paper's, the others TRAIN_AUGMENT) or off (the plain crop). */
  augment: boolean;
  /** Evaluate every N steps (0: only at the end). */
  evalEvery: number;
  /** Periodic evaluations score every N-th frame (the final one scores all). */
  evalStride: number;
  evalBatch: number;
  /** Save last.safetensors every N steps (0: only at evaluations and at the end). */
  checkpointEvery: number;
  outDir: string;
  /** A trained single-frame network (weights.safetensors or a training checkpoint) to start from. */
  init: string | null;
  /** Cache frozen-backbone features (FaSRnet, VREMD). */
  cacheFeatures: boolean;
  /**
   * Stop after this many steps of the run (counted from step 0), writing last.safetensors for
   * --resume and skipping the final evaluation; null runs to the end. For training in chunks.
   */
  stopAfter?: number | null;
  /**
   * The static-input control: every frame of a sample replaced by its key frame, in training and
   * evaluation (adapters.ts `staticBatch`). Default false.
   */
  staticInput?: boolean;
}

export interface StepInfo {
  step: number;
  loss: number;
  lr: number;
  seconds: number;
}

export interface EvalRecord {
  step: number;
  stride: number;
  seconds: number;
  mAP: { all: number; hard: number; clean: number; occluded: number; blurred: number };
  /** Head/Sho/Elb/Wri/Hip/Knee/Ank/Mean per subset. */
  tables: Record<keyof EvalResult, Record<string, number>>;
}

export interface TrainHooks {
  onStart?(info: { startStep: number; steps: number; samples: number; stepsPerEpoch: number; adapter: Adapter }): void;
  onStep?(info: StepInfo): void;
  onEvalProgress?(done: number, total: number): void;
  onEval?(rec: EvalRecord): void;
  log?(msg: string): void;
}

export interface TrainData {
  train: readonly VideoSequence[];
  val: readonly VideoSequence[];
  loadFrame: FrameLoader;
  /** Where the data lives (recorded in metrics.json). */
  dir: string;
}

export interface TrainResult {
  adapter: Adapter;
  /** Steps completed (less than config.steps when stopAfter ended the run). */
  step: number;
  history: StepInfo[];
  evals: EvalRecord[];
  final: EvalRecord | null;
  trainSeconds: number;
  evalSeconds: number;
}

/** A 32-bit seed mixed from integers (splitmix-style). */
export function mixSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x85ebca6b) >>> 0;
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
    h = (h ^ (h >>> 16)) >>> 0;
  }
  return h;
}

/** The seed streams mixed with (seed, index) by mixSeed: epoch permutations, augmentation, global RNG. */
const PERM = 1;
export const AUG = 2;
export const GLOBAL = 3;

/** The sample order of epoch `epoch` (Fisher-Yates from an Rng seeded with (seed, epoch)). */
export function epochOrder(n: number, seed: number, epoch: number): number[] {
  const rng = new Rng(mixSeed(seed, PERM, epoch));
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

/**
 * One training step's update, shared by the SynthPose and the real-head trainers: runs `lossFn`
 * (the forward, returning a scalar loss tensor) and its backward inside a `tidy`, reads the loss
 * back, then optimizer.step(), zeroGrad() and scheduler.step() (PyTorch's loop order).
 * @param step the 0-based step, for the error message.
 * @returns the loss value.
 * @throws Error "<op>: expected a finite loss at step N, got …" when the loss is NaN or ±Infinity;
 *   the gradients are zeroed and nothing is updated.
 */
export async function optimizerStep(op: string, step: number, optimizer: Optimizer<BaseGroupOptions>, scheduler: { step(): void }, lossFn: () => Tensor): Promise<number> {
  const lossT = tidy(() => {
    const l = lossFn();
    l.backward();
    return l.keep();
  });
  let loss: number;
  try {
    loss = (await lossT.data())[0]!;
  } finally {
    lossT.dispose();
  }
  if (!Number.isFinite(loss)) {
    optimizer.zeroGrad();
    fail(op, `a finite loss at step ${step + 1}`, String(loss));
  }
  optimizer.step();
  optimizer.zeroGrad();
  scheduler.step();
  return loss;
}

/**
 * The batch schedule both trainers share: step `step` takes the `(step mod stepsPerEpoch)`-th run of
 * `batchSize` indices of its epoch's order (epochOrder), with `stepsPerEpoch = ⌊n / batchSize⌋` (the
 * last partial batch of an epoch is dropped). The epoch's permutation is computed once per epoch.
 * Returns a function from the step number to the sample indices of its batch.
 */
export function batchSchedule(n: number, batchSize: number, seed: number): { stepsPerEpoch: number; indices(step: number): number[] } {
  const stepsPerEpoch = Math.floor(n / batchSize);
  let order: number[] = [];
  let orderEpoch = -1;
  return {
    stepsPerEpoch,
    indices(step: number): number[] {
      const epoch = Math.floor(step / stepsPerEpoch);
      if (epoch !== orderEpoch) {
        order = epochOrder(n, seed, epoch);
        orderEpoch = epoch;
      }
      const within = step % stepsPerEpoch;
      return order.slice(within * batchSize, within * batchSize + batchSize);
    },
  };
}

/** What must match between a checkpoint and the run that resumes it. */
function resumeKey(c: TrainConfig): Record<string, unknown> {
  return { model: c.model, arch: c.model === 'baseline' ? c.arch : null, preset: c.preset, batchSize: c.batchSize, steps: c.steps, seed: c.seed, recipe: c.recipe, augment: c.augment, staticInput: c.staticInput ?? false };
}

function buildOptimizer(params: ReturnType<Adapter['trainableParameters']>, r: Recipe): Optimizer<BaseGroupOptions> {
  const opts = { lr: r.lr, weightDecay: r.weightDecay };
  return (r.optimizer === 'adamw' ? new AdamW(params, opts) : new Adam(params, opts)) as unknown as Optimizer<BaseGroupOptions>;
}

function record(step: number, stride: number, r: EvalResult & { seconds: number }): EvalRecord {
  const tables = {} as EvalRecord['tables'];
  for (const k of ['all', 'hard', 'clean', 'occluded', 'blurred'] as const) tables[k] = { ...r[k].table };
  return {
    step,
    stride,
    seconds: r.seconds,
    mAP: { all: r.all.table.mean, hard: r.hard.table.mean, clean: r.clean.table.mean, occluded: r.occluded.table.mean, blurred: r.blurred.table.mean },
    tables,
  };
}

/**
 * The state dict of a trained single-frame network from `path`: a `weights.safetensors` written by
 * train (its metadata names the architecture) or a training checkpoint `last.safetensors`.
 * @throws Error when the file cannot be read, or its metadata names another architecture than `arch`.
 */
export async function readInitWeights(path: string, arch: BaselineArch): Promise<Map<string, HostTensor>> {
  const { readFile } = await import('node:fs/promises');
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(path));
  } catch (e) {
    return fail('train --init', 'a readable weights file', `${path} (${(e as Error).message})`);
  }
  const file = readSafetensors(bytes);
  let meta: { kind?: string; model?: string; arch?: string; extra?: { config?: { model?: string; arch?: string | null } } } = {};
  try {
    meta = JSON.parse(file.metadata.posegrad ?? '{}') as typeof meta;
  } catch {
    meta = {};
  }
  const saved = meta.kind === 'weights' ? { model: meta.model, arch: meta.arch } : meta.extra?.config ? { model: meta.extra.config.model, arch: meta.extra.config.arch } : null;
  if (saved && saved.model !== undefined && (saved.model !== 'baseline' || saved.arch !== arch)) {
    fail('train --init', `weights of the single-frame ${arch} baseline`, `${saved.model}${saved.arch ? ` (${saved.arch})` : ''} in ${path}`);
  }
  return baselineStateFrom(file.tensors);
}

/** Validates a configuration. @throws Error naming the field. */
export function checkConfig(c: TrainConfig): void {
  const op = 'train';
  const int = (name: string, v: number, min: number): void => {
    if (!Number.isInteger(v) || v < min) fail(op, `${name} as an integer ≥ ${min}`, String(v));
  };
  int('batchSize', c.batchSize, 1);
  int('steps', c.steps, 1);
  int('seed', c.seed, 0);
  int('evalEvery', c.evalEvery, 0);
  int('evalStride', c.evalStride, 1);
  int('evalBatch', c.evalBatch, 1);
  int('checkpointEvery', c.checkpointEvery, 0);
  if (c.stopAfter !== undefined && c.stopAfter !== null) int('stopAfter', c.stopAfter, 1);
  if (!(c.recipe.lr > 0) || !Number.isFinite(c.recipe.lr)) fail(op, 'lr > 0', String(c.recipe.lr));
}

/**
 * Trains `config.model` (see the file header). With `resume`, the model, optimizer, scheduler and
 * history are restored from a training checkpoint written by an earlier run of the same
 * configuration, and training continues at the step after the saved one.
 * @throws Error on an invalid configuration, a checkpoint of another configuration, a
 *   non-finite loss (naming the step), or from the network (missing kernels name themselves).
 */
export async function train(config: TrainConfig, data: TrainData, hooks: TrainHooks = {}, resume: string | null = null): Promise<TrainResult> {
  checkConfig(config);
  const log = hooks.log ?? (() => {});
  const dev = config.device;
  manualSeed(config.seed);
  const adapter = createAdapter(config.model, config.preset, { arch: config.arch, cacheFeatures: config.cacheFeatures, cacheTraining: !config.augment });
  if (config.init) {
    const loaded = await readInitWeights(config.init, adapter.baselineArch);
    log(`init: ${adapter.initFromBaseline(loaded)} from ${config.init}`);
  } else if (config.model === 'fasrnet' || config.model === 'vremd') {
    log(`warning: ${config.model}'s backbone is frozen and no --init was given: it stays at its random initialization`);
  }
  adapter.module.to(dev);
  adapter.clearCache();
  const optimizer = buildOptimizer(adapter.trainableParameters(), config.recipe);
  const scheduler = new MultiStepLR(optimizer, { milestones: milestoneSteps(config.recipe.milestones, config.steps), gamma: config.recipe.gamma });
  let startStep = 0;
  let history: StepInfo[] = [];
  let evals: EvalRecord[] = [];
  let trainSeconds = 0;
  let evalSeconds = 0;
  if (resume) {
    const meta = await loadTrainingCheckpoint(resume, { model: adapter.module, optimizer, scheduler });
    const extra = meta.extra as { config?: Record<string, unknown>; history?: StepInfo[]; evals?: EvalRecord[]; trainSeconds?: number; evalSeconds?: number } | null;
    const want = JSON.stringify(resumeKey(config));
    const got = JSON.stringify(extra?.config ?? null);
    if (want !== got) fail('train --resume', `a checkpoint of this configuration ${want}`, `${got} in ${resume}`);
    startStep = meta.epoch;
    history = extra?.history ?? [];
    evals = extra?.evals ?? [];
    trainSeconds = extra?.trainSeconds ?? 0;
    evalSeconds = extra?.evalSeconds ?? 0;
    log(`resumed ${resume} at step ${startStep} of ${config.steps}`);
  }

  const ds = new TopDownDataset(data.train, {
    jointSet: adapter.jointSet,
    loadFrame: data.loadFrame,
    inputSize: adapter.inputSize,
    frames: adapter.frames,
    train: config.augment,
    augment: recipeAugment(config.recipe),
    supervise: 'annotated',
  });
  const B = config.batchSize;
  const schedule = batchSchedule(ds.length, B, config.seed);
  const stepsPerEpoch = schedule.stepsPerEpoch;
  if (stepsPerEpoch < 1) fail('train', `at least batchSize = ${B} training samples`, String(ds.length));
  hooks.onStart?.({ startStep, steps: config.steps, samples: ds.length, stepsPerEpoch, adapter });
  mkdirSync(config.outDir, { recursive: true });

  const save = async (step: number): Promise<void> => {
    const extra = { config: resumeKey(config), history, evals, trainSeconds, evalSeconds };
    await saveTrainingCheckpoint(join(config.outDir, 'last.safetensors'), { model: adapter.module, optimizer, scheduler }, { epoch: step, extra });
  };
  const evaluate = async (step: number, stride: number): Promise<EvalRecord> => {
    const r = await evaluateAdapter(adapter, data.val, { loadFrame: data.loadFrame, batchSize: config.evalBatch, device: dev, frameStride: stride, staticInput: config.staticInput ?? false, onProgress: hooks.onEvalProgress });
    evalSeconds += r.seconds;
    const rec = record(step, stride, r);
    hooks.onEval?.(rec);
    return rec;
  };

  adapter.module.train();
  const end = Math.min(config.steps, config.stopAfter ?? Infinity);
  for (let step = startStep; step < end; step++) {
    const t0 = performance.now();
    const rng = new Rng(mixSeed(config.seed, AUG, step));
    const samples = schedule.indices(step).map((i) => ds.sample(i, rng));
    manualSeed(mixSeed(config.seed, GLOBAL, step));
    const lr = optimizer.paramGroups[0]!.lr;
    const loss = await optimizerStep('train', step, optimizer, scheduler, () => {
      const collated = ds.collate(samples, dev);
      return adapter.loss(config.staticInput ? staticBatch(collated) : collated);
    });
    const seconds = (performance.now() - t0) / 1000;
    trainSeconds += seconds;
    const info = { step: step + 1, loss, lr, seconds };
    history.push(info);
    hooks.onStep?.(info);
    const done = step + 1;
    const last = done === config.steps;
    if (!last && config.evalEvery > 0 && done % config.evalEvery === 0) {
      evals.push(await evaluate(done, config.evalStride));
      adapter.module.train();
      await save(done);
    } else if (!last && ((config.checkpointEvery > 0 && done % config.checkpointEvery === 0) || done === end)) {
      await save(done);
    }
  }
  if (end < config.steps) {
    log(`stopped after step ${end} of ${config.steps}: resume with --resume ${join(config.outDir, 'last.safetensors')}`);
    return { adapter, step: Math.max(end, startStep), history, evals, final: null, trainSeconds, evalSeconds };
  }
  let final: EvalRecord | null = evals.find((e) => e.step === config.steps && e.stride === 1) ?? null;
  if (!final) {
    final = await evaluate(config.steps, 1);
    evals.push(final);
  }
  await save(config.steps);
  await saveSafetensors(adapter.module, join(config.outDir, 'weights.safetensors'), {
    ...moduleMetadata(adapter.module),
    posegrad: JSON.stringify({ format: 1, kind: 'weights', id: adapter.id + (config.staticInput ? '-static' : ''), staticInput: config.staticInput ?? false, model: config.model, arch: adapter.baselineArch, preset: config.preset, steps: config.steps, batchSize: B, seed: config.seed, mAP: final.mAP }),
  });
  writeMetrics(config, data, adapter, { history, evals, final, trainSeconds, evalSeconds });
  return { adapter, step: config.steps, history, evals, final, trainSeconds, evalSeconds };
}

function writeMetrics(config: TrainConfig, data: TrainData, adapter: Adapter, r: { history: StepInfo[]; evals: EvalRecord[]; final: EvalRecord; trainSeconds: number; evalSeconds: number }): void {
  const metrics = {
    id: adapter.id + (config.staticInput ? '-static' : ''),
    config: { ...config, milestoneSteps: milestoneSteps(config.recipe.milestones, config.steps) },
    data: { dir: data.dir, trainVideos: data.train.length, valVideos: data.val.length },
    parameters: { total: adapter.module.numParameters(), trainable: adapter.trainableParameters().reduce((s, p) => s + p.size, 0) },
    final: r.final,
    evals: r.evals,
    trainSeconds: r.trainSeconds,
    evalSeconds: r.evalSeconds,
    cache: adapter.cacheStats(),
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', loadavg: loadavg(), node: process.version, backend: config.device },
    history: r.history,
  };
  writeFileSync(join(config.outDir, 'metrics.json'), `${JSON.stringify(metrics, null, 1)}\n`);
}

/** The default configuration of a model (its recipe), for the CLI and tests. */
export function defaultConfig(model: ModelName, overrides: Partial<TrainConfig> = {}): TrainConfig {
  return {
    model,
    arch: 'hrnet',
    preset: 'tiny',
    device: engine.defaultDevice,
    batchSize: 8,
    steps: 100,
    seed: 0,
    recipe: RECIPES[model],
    augment: true,
    evalEvery: 0,
    evalStride: 4,
    evalBatch: 16,
    checkpointEvery: 0,
    outDir: join('out', 'train', model),
    init: null,
    cacheFeatures: true,
    ...overrides,
  };
}

/**
 * The number of training samples (labeled persons with a box and at least one annotated joint) in
 * `videos`: the same for every network, whatever frames it reads around the key frame.
 */
export function trainingSamples(videos: readonly VideoSequence[]): number {
  const loadFrame: FrameLoader = () => fail('trainingSamples', 'no frame loads', 'a load');
  // the videos' own joint set: COCO-17 for real-data folders (split.json jointSet 'coco17'), else PoseTrack
  const jointSet = videos[0] && videos[0].keypointNames.join() === COCO17.names.join() ? COCO17 : POSETRACK;
  return new TopDownDataset(videos, { jointSet, loadFrame, inputSize: [64, 64], supervise: 'annotated' }).length;
}
