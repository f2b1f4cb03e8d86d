/**
 * MoveNet weights files: safetensors with float16 storage whose metadata carries the configuration
 * (`posegrad.config`, JSON), so a file rebuilds its own module. Browser-safe (bytes in, module out);
 * Node file helpers are in `models/movenet/files.ts`.
 */
import { readSafetensors } from '../nn/safetensors.js';
import { checkMoveNetConfig, type MoveNetConfig } from './config.js';
import { MoveNet } from './movenet.js';

/** The metadata key holding a module's configuration as JSON in every weights file posegrad ships. */
export const CONFIG_METADATA_KEY = 'posegrad.config';
/** The metadata key naming the module class the configuration is for. */
export const MODULE_METADATA_KEY = 'posegrad.module';

/**
 * Builds a MoveNet from a weights file's bytes (as written by scripts/movenet/convert.ts), in eval
 * mode, on the cpu backend (move it with `toAsync`).
 * @throws Error naming `source` when the file is not safetensors, has no MoveNet configuration in
 *   its metadata, or its tensors do not match the configuration (missing, unexpected, wrong shape).
 */
export function moveNetFromSafetensors(bytes: Uint8Array, source = 'weights'): MoveNet {
  let file;
  try {
    file = readSafetensors(bytes);
  } catch (e) {
    throw new Error(`${source}: ${(e as Error).message}`);
  }
  const kind = file.metadata[MODULE_METADATA_KEY];
  if (kind !== 'MoveNet') throw new Error(`${source}: expected metadata ${MODULE_METADATA_KEY} = "MoveNet", got ${JSON.stringify(kind)}`);
  let cfg: MoveNetConfig;
  try {
    cfg = JSON.parse(file.metadata[CONFIG_METADATA_KEY] ?? '') as MoveNetConfig;
    checkMoveNetConfig(cfg);
  } catch (e) {
    throw new Error(`${source}: expected a MoveNet configuration as JSON in metadata ${CONFIG_METADATA_KEY}, got an invalid one (${(e as Error).message})`);
  }
  const model = new MoveNet(cfg);
  try {
    model.loadStateDict(file.tensors);
  } catch (e) {
    model.dispose();
    throw new Error(`${source}: ${(e as Error).message}`);
  }
  return model.eval();
}
