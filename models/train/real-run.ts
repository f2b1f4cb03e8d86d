/**
 * One `npm run train -- --preset real` run (cli/train.ts hands over here): sets up the backend,
 * the pretrained MoveNet Lightning, the real-data folder and the backbone cache (real-setup.ts,
 * real-cache.ts), trains the head (real-heads.ts), and writes into outDir
 *
 *   last.safetensors     training checkpoint (for --resume)
 *   metrics.json         config, loss curve, evaluations (PCK vs the teacher), timings
 *   head.safetensors     the head alone (no backbone tensors) with the metadata of
 *                        models/real-weights.ts — the file shipped as assets/weights/<net>-real/
 *
 * `--model baseline --preset real` evaluates MoveNet alone on the same cache (nothing trains).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { manualSeed } from '../../engine/engine.js';
import { fail } from '../../engine/shape.js';
import { toHostStateDict } from '../nn/checkpoint/index.js';
import { writeSafetensors, type HostTensor } from '../nn/safetensors.js';
import { HEAD_METADATA_KEY, TRAINING_METADATA_KEY } from '../real-weights.js';
import { moduleMetadata } from '../weights-file.js';
import { buildRealNetwork, CachedClips, evaluateReal, realBackbonePrefix, realHeadState, trainRealHead, viewFamily, type PckRecord, type RealEvalRecord, type RealNet, type RealStepInfo, type RealTrainConfig } from './real-heads.js';
import { ensureRealCache, LIGHTNING_WEIGHTS, loadLightning, loadRealData, startDevice } from './real-setup.js';

/** A training run's options: the trainer's (RealTrainConfig), plus where the data is and how to start. */
export interface RealRunOptions extends Omit<RealTrainConfig, 'model'> {
  /** 'baseline': MoveNet Lightning alone, evaluated, nothing trained. */
  model: RealNet | 'baseline';
  dataDir: string;
  cacheRoot?: string;
  threads: number;
  resume: string | null;
  /** The command line, recorded in the head file's metadata. */
  command: string;
}

export interface RealRunHooks {
  say(s: string): void;
  onStart?(i: { startStep: number; steps: number; id: string }): void;
  onStep?(s: RealStepInfo): void;
  onEval?(e: RealEvalRecord): void;
}

export function fmtPck(e: PckRecord): string {
  const t = e.torso;
  return `PCK@0.2 torso: all ${t.all.toFixed(1)} | hard ${t.hard.toFixed(1)} | clean ${t.clean.toFixed(1)} (occluded ${t.occluded.toFixed(1)}, blurred ${t.blurred.toFixed(1)}); PCK@0.1 box: hard ${e.box.hard.toFixed(1)} | clean ${e.box.clean.toFixed(1)}`;
}

/** Runs one real-head training (or the MoveNet-alone evaluation). @throws Error from the parts. */
export async function runReal(o: RealRunOptions, hooks: RealRunHooks): Promise<void> {
  const say = hooks.say;
  await startDevice(o.device, o.threads);
  manualSeed(o.seed);
  const { movenet, sha256 } = await loadLightning(o.device);
  const data = loadRealData(o.dataDir);
  // the views this run reads: the plain crops, and GLPose's recipe views for GLPose
  const cache = await ensureRealCache(data, movenet, sha256, { root: o.cacheRoot, glpose: o.model === 'glpose' ? 1 : 0, log: say });
  say(`backbone cache: ${cache.dir} (MoveNet Lightning ${sha256.slice(0, 12)}, data buildKey ${data.manifest.buildKey.slice(0, 12)})`);
  const val = new CachedClips(cache.dir, cache.index, data.split.val, ['plain']);
  if (o.model === 'baseline') {
    const e = await evaluateReal(null, null, val, o.device);
    say(`MoveNet alone: ${fmtPck(e)}`);
    writeFileSync(join(o.outDir, 'metrics.json'), JSON.stringify({ model: 'movenet-lightning', final: e, cache: { key: cache.index.key, buildKey: cache.index.buildKey } }, null, 1));
    return;
  }
  const model = o.model;
  const family = viewFamily(model);
  const present = (name: string): boolean => Object.values(cache.index.clips).some((c) => c.views[name] !== undefined);
  const views = ['plain', ...cache.index.views.filter((v) => v.augment === family && present(v.name)).map((v) => v.name)];
  const train = new CachedClips(cache.dir, cache.index, data.split.train, o.augment ? views : ['plain']);
  if (o.augment && views.length === 1) say(`augmentation: the cache holds no '${family}' views, training on the plain crops`);
  const net = buildRealNetwork(model, movenet);
  if (o.device !== 'cpu') await net.toAsync(o.device);
  const id = `${model}${o.staticInput ? '-static' : ''}-s${o.seed}`;
  const r = await trainRealHead(
    { model, staticInput: o.staticInput, steps: o.steps, batchSize: o.batchSize, seed: o.seed, recipe: o.recipe, augment: o.augment, evalEvery: o.evalEvery, checkpointEvery: o.checkpointEvery, stopAfter: o.stopAfter, outDir: o.outDir, device: o.device },
    net,
    train,
    val,
    {
      onStart: (i) => {
        say(`model: ${id} 'real': ${net.numParameters()} parameters (${i.trainable} trained), ${i.samples} training samples, views [${o.augment ? views.join(', ') : 'plain'}]; steps ${i.startStep} → ${i.steps}; out ${o.outDir}`);
        hooks.onStart?.({ startStep: i.startStep, steps: i.steps, id });
      },
      onStep: hooks.onStep,
      onEval: (e) => {
        say(`eval step ${e.step}: ${fmtPck(e)} [${e.seconds.toFixed(0)} s]`);
        hooks.onEval?.(e);
      },
      log: say,
    },
    o.resume,
  );
  if (!r.final) return;
  // the head alone, with the metadata of models/real-weights.ts
  const head = await toHostStateDict(realHeadState(model, net));
  const size = [...head.values()].reduce((s, t) => s + t.data.length, 0);
  const meta: Record<string, string> = {
    ...moduleMetadata(net),
    [HEAD_METADATA_KEY]: JSON.stringify({ backbonePrefix: realBackbonePrefix(model), backbone: { file: 'assets/weights/movenet/lightning.safetensors', sha256 } }),
    [TRAINING_METADATA_KEY]: JSON.stringify({
      command: o.command,
      data: { dir: o.dataDir, buildKey: data.manifest.buildKey, manifestSha256: data.manifest.sha256, cacheKey: cache.index.key, teacher: 'MoveNet SinglePose Thunder + flip on clean frames (OpenCV vtest.avi)' },
      model,
      staticInput: o.staticInput,
      steps: o.steps,
      batchSize: o.batchSize,
      seed: o.seed,
      recipe: o.recipe,
      views: o.augment ? views : ['plain'],
      val: { torso: r.final.torso, box: r.final.box, frames: r.final.frames },
      trainSeconds: Math.round(r.trainSeconds),
    }),
  };
  // float16 storage when the head is large (> 200k values: FaSRnet, VREMD), else float32
  const bytes = writeSafetensors(head as Map<string, HostTensor>, meta, size > 200_000 ? { storage: 'F16' } : undefined);
  writeFileSync(join(o.outDir, 'head.safetensors'), bytes);
  say(`final ${fmtPck(r.final)}`);
  say(`wrote ${join(o.outDir, 'head.safetensors')} (${size} values, ${(bytes.byteLength / 1024).toFixed(0)} KiB), last.safetensors, metrics.json; training ${r.trainSeconds.toFixed(0)} s`);
}

export { LIGHTNING_WEIGHTS };
export function checkRealModel(model: string): RealNet | 'baseline' {
  if (model === 'baseline' || model === 'fasrnet' || model === 'vremd' || model === 'glpose' || model === 'rpstn') return model;
  return fail('train --preset real', 'a model in [baseline, fasrnet, vremd, glpose, rpstn]', model);
}
