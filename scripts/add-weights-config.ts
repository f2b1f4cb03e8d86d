/**
 * Adds the module class and configuration (`posegrad.module`, `posegrad.config`; models/weights-file.ts)
 * to the SynthPose weights shipped in assets/weights/ that predate them, building each network as
 * the trainer built it (models/train/adapters.ts createAdapter). Tensors and the `posegrad` training
 * record are kept as they are. Idempotent; the trainer writes these keys itself now.
 *
 *   npx tsx scripts/add-weights-config.ts
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readSafetensors, writeSafetensors } from '../models/nn/safetensors.js';
import { createAdapter, type BaselineArch, type ModelName, type TrainPreset } from '../models/train/adapters.js';
import { WEIGHTS_DIR, type WeightsInfo } from '../models/train/weights.js';
import { moduleMetadata, moduleFromSafetensors } from '../models/weights-file.js';

for (const f of readdirSync(WEIGHTS_DIR).filter((n) => n.endsWith('.safetensors'))) {
  const path = join(WEIGHTS_DIR, f);
  const file = readSafetensors(new Uint8Array(readFileSync(path)));
  const info = JSON.parse(file.metadata.posegrad ?? 'null') as WeightsInfo | null;
  if (!info) throw new Error(`${path}: expected the trainer's 'posegrad' metadata, got none`);
  const adapter = createAdapter(info.model as ModelName, info.preset as TrainPreset, { arch: info.arch as BaselineArch });
  const meta = { ...moduleMetadata(adapter.module), ...file.metadata };
  adapter.module.dispose();
  const bytes = writeSafetensors(file.tensors, meta);
  const { module } = moduleFromSafetensors(bytes, f); // must rebuild and load strictly
  module.dispose();
  writeFileSync(path, bytes);
  console.log(`${f}: ${meta['posegrad.module']} ${meta['posegrad.config']!.length} chars of configuration`);
}
