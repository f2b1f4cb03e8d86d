/**
 * Training checkpoints for resuming: the model's state dict, the optimizer's state and the
 * scheduler's, in one safetensors file.
 *
 * Layout: tensors `model.<key>` (the state dict) and `optimizer.<index>.<name>` (per-parameter
 * state tensors, PyTorch's names: exp_avg, momentum_buffer...); the metadata entry `posegrad`
 * holds JSON { format: 1, epoch, optimizer: { paramGroups, steps }, scheduler, extra }.
 */
import type { Tensor } from '../../../engine/tensor.js';
import type { Module } from '../module.js';
import type { BaseGroupOptions, LRScheduler, Optimizer, OptimizerStateDict, ParamState, SchedulerState } from '../optim.js';
import { readSafetensors, writeSafetensors, type HostTensor } from '../safetensors.js';
import { toHostStateDict } from './state-dict.js';

export interface TrainingState {
  model: Module;
  optimizer?: Optimizer<BaseGroupOptions>;
  scheduler?: LRScheduler;
}

export interface TrainingMeta {
  /** The number of completed epochs (or any counter the trainer keeps). */
  epoch: number;
  /** Any JSON data (best score, config...). */
  extra?: unknown;
}

interface Header {
  format: 1;
  epoch: number;
  optimizer: { paramGroups: OptimizerStateDict['paramGroups']; steps: Record<string, Record<string, number>> } | null;
  scheduler: SchedulerState | null;
  extra: unknown;
}

/** Serializes model, optimizer and scheduler state as safetensors bytes (reads every backend). */
export async function trainingCheckpointBytes(s: TrainingState, meta: TrainingMeta): Promise<Uint8Array> {
  const tensors = new Map<string, HostTensor>();
  for (const [k, v] of await toHostStateDict(s.model)) tensors.set(`model.${k}`, v);
  let optimizer: Header['optimizer'] = null;
  if (s.optimizer) {
    const sd = s.optimizer.stateDict();
    const steps: Record<string, Record<string, number>> = {};
    const live = new Map<string, Tensor>();
    for (const [idx, st] of sd.state) {
      for (const [name, v] of Object.entries(st)) {
        if (typeof v === 'number') (steps[idx] ??= {})[name] = v;
        else live.set(`optimizer.${idx}.${name}`, v);
      }
      steps[idx] ??= {};
    }
    for (const [k, v] of await toHostStateDict(live)) tensors.set(k, v);
    optimizer = { paramGroups: sd.paramGroups, steps };
  }
  const header: Header = { format: 1, epoch: meta.epoch, optimizer, scheduler: s.scheduler ? s.scheduler.stateDict() : null, extra: meta.extra ?? null };
  return writeSafetensors(tensors, { posegrad: JSON.stringify(header) });
}

/**
 * Restores what `trainingCheckpointBytes` saved into the given model, optimizer and scheduler
 * (which must be built with the same structure) and returns the epoch and extra data.
 * @throws Error when the bytes are not a posegrad training checkpoint, or the model / optimizer
 *   structure differs (see Module.loadStateDict and Optimizer.loadStateDict).
 */
export function restoreTrainingCheckpoint(bytes: Uint8Array, s: TrainingState): TrainingMeta {
  const op = 'restoreTrainingCheckpoint';
  const file = readSafetensors(bytes);
  let header: Header;
  try {
    header = JSON.parse(file.metadata.posegrad ?? '') as Header;
  } catch {
    throw new Error(`${op}: expected a posegrad training checkpoint (metadata 'posegrad'), got a safetensors file without it`);
  }
  if (header.format !== 1) throw new Error(`${op}: expected checkpoint format 1, got ${String(header.format)}`);
  const model = new Map<string, HostTensor>();
  const opt = new Map<number, ParamState & Record<string, HostTensor | number>>();
  for (const [k, v] of file.tensors) {
    if (k.startsWith('model.')) model.set(k.slice(6), v);
    else if (k.startsWith('optimizer.')) {
      const [, idx, name] = /^optimizer\.(\d+)\.(.+)$/.exec(k) ?? [];
      if (idx === undefined || name === undefined) throw new Error(`${op}: expected optimizer keys 'optimizer.<index>.<name>', got '${k}'`);
      const e = opt.get(Number(idx)) ?? {};
      (e as Record<string, unknown>)[name] = v;
      opt.set(Number(idx), e);
    }
  }
  s.model.loadStateDict(model);
  if (s.optimizer) {
    if (!header.optimizer) throw new Error(`${op}: expected optimizer state in the checkpoint, got none`);
    for (const [idx, steps] of Object.entries(header.optimizer.steps)) {
      const e = opt.get(Number(idx)) ?? {};
      Object.assign(e, steps);
      opt.set(Number(idx), e);
    }
    s.optimizer.loadStateDict({ state: opt as unknown as Map<number, ParamState>, paramGroups: header.optimizer.paramGroups });
  }
  if (s.scheduler) {
    if (!header.scheduler) throw new Error(`${op}: expected scheduler state in the checkpoint, got none`);
    s.scheduler.loadStateDict(header.scheduler);
  }
  return { epoch: header.epoch, extra: header.extra };
}

/** Writes a training checkpoint to `path` (Node). */
export async function saveTrainingCheckpoint(path: string, s: TrainingState, meta: TrainingMeta): Promise<void> {
  const { writeFile } = await import('node:fs/promises');
  await writeFile(path, await trainingCheckpointBytes(s, meta));
}

/** Reads a training checkpoint from `path` into model, optimizer and scheduler (Node). */
export async function loadTrainingCheckpoint(path: string, s: TrainingState): Promise<TrainingMeta> {
  const { readFile } = await import('node:fs/promises');
  return restoreTrainingCheckpoint(new Uint8Array(await readFile(path)), s);
}
