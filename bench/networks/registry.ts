/**
 * The network registry of the bench: name → builder(preset, device) → { forward, trainStep }.
 *
 * Adding a network means adding one entry to NETWORKS whose `build` constructs the model at a
 * preset on a device, with a fixed random clip, and returns a BenchNetwork. The suite does the
 * rest (timing, eval/noGrad, tidy, sync, memory). A network that has not landed yet gives its
 * reason through `unavailable()` (or `build` returns `{ na: reason }`), shown as "n/a (reason)".
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DeviceName } from '../../backends/backend.js';
import type { Tensor } from '../../engine/tensor.js';

export type Preset = 'paper' | 'small' | 'tiny' | 'real';

/** A network built on a device, with its input clip and (for training) its optimizer. */
export interface BenchNetwork {
  /**
   * Frames whose poses one `forward()` produces (RPSTN: the T frames of its clip; FaSRnet, VREMD
   * and GLPose: the one key frame). ms per frame = ms per forward / framesPerForward.
   */
  framesPerForward: number;
  /** Inference on the clip. The suite calls it in eval mode, under noGrad and tidy. */
  forward(): Tensor | readonly Tensor[];
  /** One training step (forward, loss, backward, optimizer step), in train mode; returns the loss. The suite wraps it in tidy. */
  trainStep(): Tensor;
  /** Puts the model in eval (false) or train (true) mode. */
  setTraining(training: boolean): void;
  /** Frees parameters, inputs and optimizer state. */
  dispose(): void;
  /** Parameter count, for the report. */
  parameters?: number;
}

export interface NetworkEntry {
  /** Id used by --filter and in the JSON: 'rpstn'. */
  name: string;
  label: string;
  /** Paper reference. */
  paper: string;
  build(preset: Preset, device: DeviceName): Promise<BenchNetwork | { na: string }>;
  /**
   * Loads the code `build` needs (the model modules) without building anything: the paper mode calls
   * it before reading its pre-model RSS baseline, so that the baseline holds the code and the
   * difference is the network's memory.
   */
  preload?(): Promise<unknown>;
  /**
   * Optional cheap check, run in the bench parent before any process starts: a reason when the
   * network cannot run at all (not landed yet), else null.
   */
  unavailable?(): string | null;
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** `{ na }` until `models/<dir>/model.ts` exists. */
function notLandedYet(dir: string): string | null {
  return existsSync(path.join(ROOT, 'models', dir, 'model.ts')) ? null : `models/${dir}/ has no model yet`;
}

// The builders import the models lazily, so that kernel-only runs never load them.
export const NETWORKS: readonly NetworkEntry[] = [
  {
    name: 'rpstn',
    label: 'RPSTN',
    paper: 'Dang, Yin, Zhang, IEEE TIP 2022',
    unavailable: () => notLandedYet('rpstn'),
    build: async (preset) => (await import('./builders.js')).buildRPSTN(preset),
    preload: () => import('./builders.js'),
  },
  {
    name: 'fasrnet',
    label: 'FaSRnet',
    paper: 'Zhong et al., FITEE 2024',
    unavailable: () => notLandedYet('fasrnet'),
    build: async (preset) => (await import('./builders.js')).buildFaSRnet(preset),
    preload: () => import('./builders.js'),
  },
  {
    name: 'vremd',
    label: 'VREMD',
    paper: 'Jiao et al.',
    unavailable: () => notLandedYet('vremd'),
    build: async (preset) => (await import('./builders.js')).buildVREMD(preset),
    preload: () => import('./builders.js'),
  },
  {
    name: 'glpose',
    label: 'GLPose',
    paper: 'Jiao et al., ACM TOMM 2022',
    unavailable: () => notLandedYet('glpose'),
    build: async (preset) => (await import('./builders.js')).buildGLPose(preset),
    preload: () => import('./builders.js'),
  },
];
