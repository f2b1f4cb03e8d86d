/**
 * Bench builders of the four paper networks: each builds the model at a preset on the current
 * default device, with a fixed random clip (and a random target for training), and wraps it as a
 * BenchNetwork. Inputs follow each model's forward contract:
 * - RPSTN: clip [1, T, 3, H, W] → heatmaps of all T frames; loss rpstnLoss (Eq 5).
 * - FaSRnet: frames cur/prev/next [1, 3, H, W] → H^final of the key frame; loss fasrnetLoss
 *   (Eqs 17-19). The backbone is frozen (the paper), so training updates the head only.
 * - VREMD: frames [1, 3, 3, H, W] → H_t of the key frame; loss vremdLoss. Frozen ViT backbone.
 * - GLPose: frames [1, 1 + 2k + G, 3, H, W] (key, locals, global candidates) → H of the key frame;
 *   loss glposeLoss (Eq 6).
 * Presets `tiny`, `small`, `paper` start from each model's own initialization; `real` puts the
 * paper's head on the frozen pretrained MoveNet SinglePose Lightning (the shipped
 * assets/weights/movenet/lightning.safetensors; docs/models/backbone.md), 192x192 crops.
 * Training uses Adam (lr 1e-4) on each model's trainable parameters, batch 1.
 * `benchModule` builds the same modules without inputs, for the onnxruntime peers
 * (bench/peers/ort-networks.ts), so that both sides time the same network.
 */
import { randn, rand, ones } from '../../ops/creation.js';
import type { Tensor } from '../../engine/tensor.js';
import { Adam } from '../../models/nn/optim.js';
import type { Module } from '../../models/nn/module.js';
import { RPSTN, rpstnLoss } from '../../models/rpstn/model.js';
import { rpstnPreset } from '../../models/rpstn/presets.js';
import { fasrnetLoss, type FaSRnet } from '../../models/fasrnet/model.js';
import { createFaSRnet, type FaSRnetPresetName } from '../../models/fasrnet/presets.js';
import { createVREMD, vremdLoss, type VREMD } from '../../models/vremd/model.js';
import { vremdPreset } from '../../models/vremd/config.js';
import { glposeLoss, type GLPose } from '../../models/glpose/model.js';
import { createGLPose, type GLPosePresetName } from '../../models/glpose/presets.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { moveNetFromSafetensors } from '../../models/movenet/load.js';
import type { MoveNet } from '../../models/movenet/movenet.js';
import type { BenchNetwork, Preset } from './registry.js';

const LIGHTNING = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../assets/weights/movenet/lightning.safetensors');

/** The frozen pretrained MoveNet Lightning of the `real` presets (the shipped weights), on the default device; nothing for other presets. */
function realMoveNet(preset: Preset): { movenet: MoveNet } | Record<string, never> {
  return preset === 'real' ? { movenet: moveNetFromSafetensors(new Uint8Array(readFileSync(LIGHTNING)), 'assets/weights/movenet/lightning.safetensors') } : {};
}

/** The module of network `name` at `preset` (as the builders below make it), and the frames one forward produces poses for. */
export function benchModule(name: string, preset: Preset): { module: Module; framesPerForward: number } {
  switch (name) {
    case 'rpstn': {
      const cfg = rpstnPreset(preset);
      return { module: new RPSTN(cfg, realMoveNet(preset)), framesPerForward: cfg.numFrames };
    }
    case 'fasrnet':
      return { module: createFaSRnet(preset as FaSRnetPresetName, {}, realMoveNet(preset)), framesPerForward: 1 };
    case 'vremd':
      return { module: createVREMD(vremdPreset(preset), realMoveNet(preset)), framesPerForward: 1 };
    case 'glpose':
      return { module: createGLPose(preset as Exclude<GLPosePresetName, 'real'>, {}, realMoveNet(preset)), framesPerForward: 1 };
    default:
      throw new Error(`benchModule: expected one of [rpstn, fasrnet, vremd, glpose], got '${name}'`);
  }
}

interface Parts {
  module: Module;
  /** Inference output (heatmaps). */
  forward(): Tensor;
  /** Training loss on the fixed target. */
  loss(): Tensor;
  trainable: Tensor[];
  framesPerForward: number;
  /** Tensors the builder made (inputs, targets), freed by dispose. */
  owned: Tensor[];
}

/** Keeps `t` out of every tidy scope and records it for disposal. */
function own<T extends Tensor>(owned: Tensor[], t: T): T {
  owned.push(t.keep());
  return t;
}

function wrap(p: Parts): BenchNetwork {
  const opt = new Adam(p.trainable, { lr: 1e-4 });
  return {
    framesPerForward: p.framesPerForward,
    parameters: p.module.numParameters(),
    forward: () => p.forward(),
    trainStep: () => {
      const loss = p.loss();
      loss.backward();
      opt.step();
      opt.zeroGrad();
      return loss;
    },
    setTraining: (on) => {
      p.module.train(on);
    },
    dispose: () => {
      p.module.dispose();
      for (const t of p.owned) t.dispose();
    },
  };
}

export function buildRPSTN(preset: Preset): BenchNetwork {
  const module = benchModule('rpstn', preset).module as RPSTN;
  const cfg = module.cfg;
  const owned: Tensor[] = [];
  const [w, h] = cfg.inputSize;
  const T = cfg.numFrames;
  const [hh, hw] = module.heatmapSize;
  const clip = own(owned, randn([1, T, 3, h, w]));
  const target = own(owned, rand([1, T, cfg.numJoints, hh, hw]));
  return wrap({
    module,
    forward: () => module.forward(clip),
    loss: () => rpstnLoss(module.forward(clip), target),
    trainable: module.parameters().filter((p) => p.requiresGrad),
    framesPerForward: T,
    owned,
  });
}

export function buildFaSRnet(preset: Preset): BenchNetwork {
  const module = benchModule('fasrnet', preset).module as FaSRnet;
  const cfg = module.cfg;
  const owned: Tensor[] = [];
  const [w, h] = cfg.inputSize;
  const frame = (): Tensor => own(owned, randn([1, 3, h, w]));
  const input = { cur: frame(), prev: frame(), next: frame() };
  const target = own(owned, rand([1, cfg.numJoints, h / 4, w / 4]));
  const weight = own(owned, ones([1, cfg.numJoints, 1]));
  return wrap({
    module,
    forward: () => module.forward(input).hFinal,
    loss: () => fasrnetLoss(module.forward(input), target, weight, cfg.lossAlpha ?? 0.4),
    trainable: module.trainableParameters(),
    framesPerForward: 1,
    owned,
  });
}

export function buildVREMD(preset: Preset): BenchNetwork {
  const module = benchModule('vremd', preset).module as VREMD;
  const cfg = module.cfg;
  const owned: Tensor[] = [];
  // The crops' size: the ViT's image, or 4x its token grid's input over MoveNet (`real`).
  const [h, w] = module.inputSize;
  const frames = own(owned, randn([1, 3, 3, h, w]));
  // H_t is [B, J, H/4, W/4] (ViTPose's deconv head: 4x the 16-pixel token grid).
  const target = own(owned, rand([1, cfg.numJoints, h / 4, w / 4]));
  const weight = own(owned, ones([1, cfg.numJoints, 1]));
  return wrap({
    module,
    forward: () => module.forward({ frames }),
    loss: () => vremdLoss(module.forward({ frames }), target, weight),
    trainable: module.trainableParameters(),
    framesPerForward: 1,
    owned,
  });
}

export function buildGLPose(preset: Preset): BenchNetwork {
  const module = benchModule('glpose', preset).module as GLPose<Module>;
  const cfg = module.cfg;
  const owned: Tensor[] = [];
  const [w, h] = cfg.inputSize;
  const frames = own(owned, randn([1, 1 + 2 * cfg.localFrames + cfg.globalCandidates, 3, h, w]));
  const target = own(owned, rand([1, cfg.numJoints, h / 4, w / 4]));
  const weight = own(owned, ones([1, cfg.numJoints, 1]));
  return wrap({
    module,
    forward: () => module.forwardFrames(frames),
    loss: () => glposeLoss(module.forwardFrames(frames), target, weight),
    trainable: module.trainableParameters(),
    framesPerForward: 1,
    owned,
  });
}
