/**
 * Weights files that rebuild their own module. Every weights file posegrad ships
 * (`assets/weights/*.safetensors`, `assets/weights/movenet/*.safetensors`) records in its
 * safetensors metadata the module class (`posegrad.module`) and the full configuration its
 * constructor takes (`posegrad.config`, JSON), so that
 *
 *   const model = moduleFromSafetensors(bytes);   // RPSTN, FaSRnet, MoveNet, ... in eval mode
 *
 * needs no preset name and no knowledge of how the file was trained (the SynthPose RPSTN, for
 * instance, has 17 PoseTrack joints where `rpstnPreset('tiny')` has 13). Browser-safe.
 */
import { HRNet } from './backbones/hrnet.js';
import { SimpleBaseline } from './backbones/resnet.js';
import { ViTPose } from './backbones/vit.js';
import { FaSRnet } from './fasrnet/model.js';
import { GLPose } from './glpose/model.js';
import { CONFIG_METADATA_KEY, MODULE_METADATA_KEY } from './movenet/load.js';
import { MoveNet } from './movenet/movenet.js';
import type { Module } from './nn/module.js';
import { readSafetensors } from './nn/safetensors.js';
import { RPSTN } from './rpstn/model.js';
import { VREMD } from './vremd/model.js';

export { CONFIG_METADATA_KEY, MODULE_METADATA_KEY };

const BUILDERS: Record<string, (cfg: any) => Module> = {
  MoveNet: (c) => new MoveNet(c),
  HRNet: (c) => new HRNet(c),
  ViTPose: (c) => new ViTPose(c),
  SimpleBaseline: (c) => new SimpleBaseline(c),
  RPSTN: (c) => new RPSTN(c),
  FaSRnet: (c) => new FaSRnet(c),
  VREMD: (c) => new VREMD(c),
  GLPose: (c) => new GLPose(c),
};

/** The module classes a weights file can name. */
export const WEIGHTS_FILE_MODULES = Object.keys(BUILDERS);

/**
 * The metadata that lets a weights file rebuild `m`: its class and the configuration it was built from.
 * @throws Error for a module of another class.
 */
export function moduleMetadata(m: Module): Record<string, string> {
  let name: string;
  let cfg: unknown;
  if (m instanceof MoveNet) [name, cfg] = ['MoveNet', m.config];
  else if (m instanceof SimpleBaseline) [name, cfg] = ['SimpleBaseline', m.spec];
  else if (m instanceof HRNet) [name, cfg] = ['HRNet', m.cfg];
  else if (m instanceof ViTPose) [name, cfg] = ['ViTPose', m.cfg];
  else if (m instanceof RPSTN) [name, cfg] = ['RPSTN', m.cfg];
  else if (m instanceof FaSRnet) [name, cfg] = ['FaSRnet', m.cfg];
  else if (m instanceof VREMD) [name, cfg] = ['VREMD', m.cfg];
  else if (m instanceof GLPose) [name, cfg] = ['GLPose', m.cfg];
  else throw new Error(`moduleMetadata: expected one of [${WEIGHTS_FILE_MODULES.join(', ')}], got ${m.constructor.name}`);
  return { [MODULE_METADATA_KEY]: name, [CONFIG_METADATA_KEY]: JSON.stringify(cfg) };
}

/**
 * Builds the module a weights file describes and loads its tensors (strict), in eval mode, on the
 * cpu backend. Returns the module and the file's metadata.
 * @throws Error naming `source` when the file is not safetensors, names no known module, has an
 *   invalid configuration, or its tensors do not match the module (missing, unexpected, wrong shape).
 */
export function moduleFromSafetensors(bytes: Uint8Array, source = 'weights'): { module: Module; metadata: Record<string, string> } {
  let file;
  try {
    file = readSafetensors(bytes);
  } catch (e) {
    throw new Error(`${source}: ${(e as Error).message}`);
  }
  const name = file.metadata[MODULE_METADATA_KEY];
  const build = name !== undefined ? BUILDERS[name] : undefined;
  if (!build) throw new Error(`${source}: expected metadata ${MODULE_METADATA_KEY} naming one of [${WEIGHTS_FILE_MODULES.join(', ')}], got ${JSON.stringify(name)}`);
  let module: Module;
  try {
    module = build(JSON.parse(file.metadata[CONFIG_METADATA_KEY] ?? ''));
  } catch (e) {
    throw new Error(`${source}: expected a ${name} configuration as JSON in metadata ${CONFIG_METADATA_KEY}, got an invalid one (${(e as Error).message})`);
  }
  try {
    module.loadStateDict(file.tensors);
  } catch (e) {
    module.dispose();
    throw new Error(`${source}: ${(e as Error).message}`);
  }
  return { module: module.eval(), metadata: file.metadata };
}
