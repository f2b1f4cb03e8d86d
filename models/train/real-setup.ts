/**
 * Shared set-up of the `real` head runs: the wasm backend, the pretrained MoveNet Lightning, the
 * data folder's manifest (buildKey) and the backbone cache (real-cache.ts).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { engine, init, setDefaultDevice } from '../../engine/engine.js';
import { fail } from '../../engine/shape.js';
import type { DeviceName } from '../../backends/backend.js';
import { moveNetBackbone } from '../backbones/backbone.js';
import { moveNetFromSafetensors } from '../movenet/load.js';
import type { MoveNet } from '../movenet/movenet.js';
import { readFrame } from '../pose/datasets/io.js';
import { GLPOSE_TRAINING } from '../glpose/presets.js';
import { loadSplit, type DataSplit } from './data.js';
import { buildRealCache, cacheViews, type CacheIndex } from './real-cache.js';
import { TRAIN_AUGMENT } from './recipes.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
export const LIGHTNING_WEIGHTS = join(ROOT, 'assets', 'weights', 'movenet', 'lightning.safetensors');

/** Starts `device` (wasm: `threads` GEMM threads) as the default device. */
export async function startDevice(device: DeviceName, threads = 1): Promise<void> {
  if (device === 'wasm') {
    const { createWasmBackend } = await import('../../backends/wasm/index.js');
    engine.registerBackendFactory('wasm', () => createWasmBackend({ threads }));
  } else if (device === 'webgpu') {
    const { createWebGPUBackend } = await import('../../backends/webgpu/index.js');
    engine.registerBackendFactory('webgpu', () => createWebGPUBackend());
  }
  await init(device);
  setDefaultDevice(device);
}

/** MoveNet Lightning from the shipped weights, on `device`, with the file's sha256. */
export async function loadLightning(device: DeviceName, path = LIGHTNING_WEIGHTS): Promise<{ movenet: MoveNet; sha256: string }> {
  const bytes = new Uint8Array(readFileSync(path));
  const movenet = moveNetFromSafetensors(bytes, path);
  if (device !== 'cpu') await movenet.toAsync(device);
  return { movenet, sha256: createHash('sha256').update(bytes).digest('hex') };
}

export interface RealData {
  split: DataSplit;
  manifest: { buildKey: string; sha256: string };
}

/** The real-data folder (cli/real-data.ts): its split and manifest. @throws Error when it is not one. */
export function loadRealData(dir: string): RealData {
  const split = loadSplit(dir);
  if (split.jointSet !== 'coco17') fail('train --preset real', `a real-data folder (split.json jointSet 'coco17', npm run real-data)`, `${split.jointSet ?? 'posetrack'} in ${dir}`);
  const raw = readFileSync(join(dir, 'manifest.json'));
  const m = JSON.parse(raw.toString('utf8')) as { buildKey?: string };
  if (!m.buildKey) fail('train --preset real', 'manifest.json with a buildKey', dir);
  return { split, manifest: { buildKey: m.buildKey, sha256: createHash('sha256').update(raw).digest('hex') } };
}

/** Builds (or reuses) the backbone cache of a real-data folder: plain + augmented views (by default 1 of GLPose's recipe and none of the shared one). */
export async function ensureRealCache(data: RealData, movenet: MoveNet, sha256: string, opts: { root?: string; shared?: number; glpose?: number; part?: { index: number; count: number }; log?: (s: string) => void } = {}): Promise<{ dir: string; index: CacheIndex }> {
  const bb = moveNetBackbone(movenet);
  let last = 0;
  return buildRealCache(bb, data.split.train, data.split.val, {
    root: opts.root,
    ...(opts.part ? { part: opts.part } : {}),
    weightsSha256: sha256,
    buildKey: data.manifest.buildKey,
    views: cacheViews(opts.shared ?? 0, opts.glpose ?? 1),
    augments: { shared: TRAIN_AUGMENT, glpose: GLPOSE_TRAINING.augment },
    loadFrame: (v, i) => readFrame(v, v.frames[i]!),
    onClip: (d, n, s) => {
      if (opts.log && (s - last > 15 || d === n)) {
        last = s;
        opts.log(`backbone cache: ${d}/${n} clip-views (${s.toFixed(0)} s)`);
      }
    },
  });
}
