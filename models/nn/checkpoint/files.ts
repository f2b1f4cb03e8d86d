/**
 * Checkpoint files on disk (Node; also exported from the `posegrad/node` entry). `node:fs` is
 * reached through `process.getBuiltinModule` at call time, never imported, so that a browser
 * bundle of posegrad does not try to resolve it; in a browser, fetch the bytes and call
 * `loadPthAsync`, `readSafetensors` or `readTfjsGraphModel` directly.
 */
import type { Tensor } from '../../../engine/tensor.js';
import type { Module } from '../module.js';
import { readSafetensors, writeSafetensors, type HostTensor } from '../safetensors.js';
import { detectFormat, loadPth, type LoadPthOptions, type PyValue } from './pth.js';
import { toHostStateDict, type StateDict } from './state-dict.js';
import { parseTfjsModelJson, readTfjsGraphModel, type TfjsGraphModel } from './tfjs.js';

async function fs(): Promise<typeof import('node:fs/promises')> {
  const getBuiltin = typeof process !== 'undefined' ? process.getBuiltinModule : undefined;
  if (typeof getBuiltin !== 'function') {
    throw new Error('loadCheckpointFile: expected Node.js ≥ 20.16 (node:fs), got a runtime without it; fetch the bytes and use loadPthAsync or readSafetensors');
  }
  return getBuiltin('node:fs/promises') as typeof import('node:fs/promises');
}

/**
 * Reads a checkpoint file: `.safetensors` gives its tensors (a Map); `.pth`, `.pt`, `.pth.tar`,
 * `.tar`, `.ckpt` and `.bin` go through `loadPth` (zip, legacy or tar container, detected from the
 * bytes), with `path` as the name in its errors and its limits (`opts.maxBytes`, ...; see
 * docs/checkpoints.md). Pass the result to `extractStateDict` or `loadInto`.
 * @throws Error when the file cannot be read, has an unknown extension and content, or fails to
 *   parse or exceeds a limit (see loadPth and readSafetensors).
 */
export async function loadCheckpointFile(path: string, opts: LoadPthOptions = {}): Promise<PyValue | StateDict> {
  const bytes = new Uint8Array(await (await fs()).readFile(path));
  const lower = path.toLowerCase();
  if (lower.endsWith('.safetensors')) return readSafetensors(bytes).tensors;
  const named: LoadPthOptions = { name: path, ...opts };
  if (/\.(pth|pt|tar|ckpt|bin)$/.test(lower)) return loadPth(bytes, named);
  const fmt = detectFormat(bytes);
  if (fmt === 'safetensors') return readSafetensors(bytes).tensors;
  if (fmt !== 'unknown') return loadPth(bytes, named);
  throw new Error(`loadCheckpointFile: expected a .pth/.pt/.tar/.ckpt/.bin (PyTorch) or .safetensors file, got '${path}' whose content is neither`);
}

/**
 * Writes a module's state dict (or a Map of tensors) as safetensors, in state-dict order, with
 * optional string metadata. Reads tensors asynchronously, so it works from every backend.
 */
export async function saveSafetensors(src: Module | Map<string, Tensor | HostTensor>, path: string, metadata?: Record<string, string>): Promise<void> {
  const host = await toHostStateDict(src);
  await (await fs()).writeFile(path, writeSafetensors(host, metadata));
}

/**
 * Reads a TF.js graph model from disk: `modelJsonPath` (model.json) and its weight shards, whose
 * manifest paths are relative to the json's folder, decoded by readTfjsGraphModel (see there for
 * shapes and dtypes). The manifest is checked before any shard is read.
 * @throws Error when a file cannot be read, a shard path is absolute or climbs out of the folder
 *   ('..'), or anything readTfjsGraphModel rejects (errors name `modelJsonPath`).
 */
export async function loadTfjsGraphModelFile(modelJsonPath: string): Promise<TfjsGraphModel> {
  const f = await fs();
  const text = await f.readFile(modelJsonPath, 'utf8');
  const { json, groups } = parseTfjsModelJson(text, modelJsonPath);
  const cut = Math.max(modelJsonPath.lastIndexOf('/'), modelJsonPath.lastIndexOf('\\'));
  const dir = cut >= 0 ? modelJsonPath.slice(0, cut + 1) : '';
  const shards = new Map<string, Uint8Array>();
  for (const p of new Set(groups.flatMap((g) => g.paths))) {
    if (/^([\\/]|[a-zA-Z]:)/.test(p) || p.split(/[\\/]/).includes('..')) {
      throw new Error(`loadTfjsGraphModelFile(${modelJsonPath}): expected shard paths relative to the model's folder, got '${p}'`);
    }
    shards.set(p, new Uint8Array(await f.readFile(dir + p)));
  }
  return readTfjsGraphModel(json, (p) => shards.get(p)!, modelJsonPath);
}
