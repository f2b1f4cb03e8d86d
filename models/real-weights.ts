/**
 * The shipped `real` heads (issue 12, item 6): the trained temporal heads of FaSRnet, VREMD, GLPose
 * and RPSTN on the frozen pretrained MoveNet SinglePose Lightning, one safetensors file per network
 * under assets/weights/<net>-real/head.safetensors. A file holds the head's tensors only (the
 * state dict without the backbone's keys; the backbone is the shipped
 * assets/weights/movenet/lightning.safetensors) and, in its metadata:
 *
 *   posegrad.module    the network class ('FaSRnet', 'VREMD', 'GLPose', 'RPSTN'), as every weights file
 *   posegrad.config    the network's configuration (JSON), as every weights file
 *   posegrad.head      JSON { backbonePrefix, backbone: { file, sha256 } }: where the omitted backbone goes
 *   posegrad.training  JSON { command, data: { buildKey, manifestSha256, cacheKey }, steps, seed, recipe, val }
 *
 * `loadRealHead(name, movenet)` builds the network around a MoveNet and loads the head (strict:
 * every head key present, none unexpected). Node only (reads files); the browser can use
 * `realHeadFromBytes`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createFaSRnet } from './fasrnet/presets.js';
import { createGLPose } from './glpose/presets.js';
import { CONFIG_METADATA_KEY, MODULE_METADATA_KEY } from './movenet/load.js';
import type { MoveNet } from './movenet/movenet.js';
import type { Module } from './nn/module.js';
import { readSafetensors, type HostTensor } from './nn/safetensors.js';
import { RPSTN } from './rpstn/model.js';
import { rpstnPreset } from './rpstn/presets.js';
import { createVREMD } from './vremd/model.js';
import { vremdPreset } from './vremd/config.js';
import type { FaSRnet } from './fasrnet/model.js';
import type { GLPose } from './glpose/model.js';
import type { VREMD } from './vremd/model.js';

export const REAL_HEAD_NAMES = ['fasrnet', 'vremd', 'glpose', 'rpstn'] as const;
export type RealHeadName = (typeof REAL_HEAD_NAMES)[number];
export const HEAD_METADATA_KEY = 'posegrad.head';
export const TRAINING_METADATA_KEY = 'posegrad.training';
const CLASS_OF: Record<RealHeadName, string> = { fasrnet: 'FaSRnet', vremd: 'VREMD', glpose: 'GLPose', rpstn: 'RPSTN' };

const ROOT = resolve(import.meta.dirname, '..');

/** The shipped head file of a network: assets/weights/<name>-real/head.safetensors. */
export function realHeadPath(name: RealHeadName): string {
  return join(ROOT, 'assets', 'weights', `${name}-real`, 'head.safetensors');
}

/** The state-dict prefix of the frozen MoveNet inside each `real` network. */
export function realBackbonePrefixOf(name: RealHeadName): string {
  return name === 'fasrnet' ? 'rough_pose_estimation_net.' : name === 'vremd' ? 'feature_backbone.' : 'backbone.';
}

/** The `real` network of `name` around `movenet` (random MoveNet weights without it). */
export function createRealNetwork(name: RealHeadName, movenet?: MoveNet): FaSRnet | VREMD | GLPose<Module> | RPSTN {
  switch (name) {
    case 'fasrnet':
      return createFaSRnet('real', {}, { movenet });
    case 'vremd':
      return createVREMD(vremdPreset('real'), { movenet });
    case 'glpose':
      return createGLPose('real', {}, { movenet });
    case 'rpstn':
      return new RPSTN(rpstnPreset('real'), { movenet });
    default:
      throw new Error(`createRealNetwork: expected one of [${REAL_HEAD_NAMES.join(', ')}], got '${String(name)}'`);
  }
}

export interface RealHeadFile {
  tensors: Map<string, HostTensor>;
  metadata: Record<string, string>;
  /** posegrad.training, parsed. */
  training: Record<string, unknown>;
}

/**
 * Reads a head file's bytes and checks it is the head of `name`.
 * @throws Error naming `source` when the file is not safetensors, names another class, or lacks the metadata keys.
 */
export function readRealHead(bytes: Uint8Array, name: RealHeadName, source = 'weights'): RealHeadFile {
  let file;
  try {
    file = readSafetensors(bytes);
  } catch (e) {
    throw new Error(`${source}: ${(e as Error).message}`);
  }
  const cls = file.metadata[MODULE_METADATA_KEY];
  if (cls !== CLASS_OF[name]) throw new Error(`${source}: expected metadata ${MODULE_METADATA_KEY} = "${CLASS_OF[name]}" (the ${name} head), got ${JSON.stringify(cls)}`);
  for (const k of [CONFIG_METADATA_KEY, HEAD_METADATA_KEY, TRAINING_METADATA_KEY]) {
    if (!file.metadata[k]) throw new Error(`${source}: expected metadata key ${k}, got none`);
  }
  const prefix = realBackbonePrefixOf(name);
  const stray = [...file.tensors.keys()].filter((k) => k.startsWith(prefix));
  if (stray.length) throw new Error(`${source}: expected head tensors only (no '${prefix}*'), got ${stray.length} backbone tensors such as ${stray[0]}`);
  return { tensors: file.tensors, metadata: file.metadata, training: JSON.parse(file.metadata[TRAINING_METADATA_KEY]!) as Record<string, unknown> };
}

/**
 * Builds the `real` network of `name` around `movenet` and loads a head file's bytes into it, in
 * eval mode. Every head tensor of the network must be in the file and nothing else.
 * @throws Error (naming `source`) from readRealHead, or on missing / unexpected / misshapen tensors.
 */
export function realHeadFromBytes(bytes: Uint8Array, name: RealHeadName, movenet: MoveNet, source = 'weights'): FaSRnet | VREMD | GLPose<Module> | RPSTN {
  const head = readRealHead(bytes, name, source);
  const net = createRealNetwork(name, movenet);
  const prefix = realBackbonePrefixOf(name);
  const want = [...net.stateDict().keys()].filter((k) => !k.startsWith(prefix));
  const missing = want.filter((k) => !head.tensors.has(k));
  if (missing.length) throw new Error(`${source}: expected every head tensor of ${name}, got ${missing.length} missing such as ${missing[0]}`);
  try {
    net.loadStateDict(head.tensors, { strict: false });
  } catch (e) {
    throw new Error(`${source}: ${(e as Error).message}`);
  }
  const extra = [...head.tensors.keys()].filter((k) => !want.includes(k));
  if (extra.length) throw new Error(`${source}: expected only ${name}'s head tensors, got ${extra.length} unexpected such as ${extra[0]}`);
  return net.eval();
}

/**
 * The shipped trained head of `name` (assets/weights/<name>-real/head.safetensors) on `movenet`
 * (the pretrained Lightning, e.g. `moveNetFromSafetensors` of assets/weights/movenet/lightning.safetensors),
 * in eval mode on the cpu backend (move it with `toAsync`).
 * @throws Error when the file is missing or invalid (see realHeadFromBytes).
 */
export async function loadRealHead(name: RealHeadName, movenet: MoveNet, path = realHeadPath(name)): Promise<FaSRnet | VREMD | GLPose<Module> | RPSTN> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(path));
  } catch (e) {
    throw new Error(`loadRealHead: expected the trained ${name} head at ${path}, got ${(e as Error).message}`);
  }
  return realHeadFromBytes(bytes, name, movenet, path);
}

/**
 * Loads the shipped head of `name` into an already built `real` network `net` (e.g. the demo's,
 * built around the pretrained MoveNet), strictly: every head tensor of `net` must be in the file and
 * nothing else. The backbone's tensors are left as they are. Returns the file's path and a
 * one-line description for the demo's `weights:` line.
 * @throws Error naming the file when it is missing or invalid, or does not fit `net`.
 */
export function loadShippedRealHeadInto(name: RealHeadName, net: Module, path = realHeadPath(name)): { path: string; note: string; training: Record<string, unknown> } {
  if (!existsSync(path)) throw new Error(`loadShippedRealHeadInto: expected the trained ${name} head at ${path}, got no file`);
  const bytes = new Uint8Array(readFileSync(path));
  const head = readRealHead(bytes, name, path);
  const prefix = realBackbonePrefixOf(name);
  const want = [...net.stateDict().keys()].filter((k) => !k.startsWith(prefix));
  const missing = want.filter((k) => !head.tensors.has(k));
  if (missing.length) throw new Error(`${path}: expected every head tensor of the ${name} network, got ${missing.length} missing such as ${missing[0]}`);
  const extra = [...head.tensors.keys()].filter((k) => !want.includes(k));
  if (extra.length) throw new Error(`${path}: expected only ${name}'s head tensors, got ${extra.length} unexpected such as ${extra[0]}`);
  try {
    net.loadStateDict(head.tensors, { strict: false });
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  }
  const t = head.training as { steps?: number; batchSize?: number; seed?: number; val?: { torso?: { hard?: number; clean?: number } } };
  const f = (v: number | undefined): string => (typeof v === 'number' ? v.toFixed(1) : '?');
  const note = `trained head on the frozen MoveNet Lightning: ${t.steps ?? '?'} steps of batch ${t.batchSize ?? '?'} on real video (OpenCV vtest.avi, teacher MoveNet Thunder), seed ${t.seed ?? '?'}; held-out PCK@0.2 hard ${f(t.val?.torso?.hard)}, clean ${f(t.val?.torso?.clean)}; docs/results.md`;
  return { path, note, training: head.training };
}
