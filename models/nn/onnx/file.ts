/**
 * Writing an exported model to disk (Node). `node:fs` is reached through
 * `process.getBuiltinModule` at call time, never imported, so that a browser bundle of posegrad
 * does not try to resolve it; in a browser, call `exportOnnx` and keep or upload the bytes.
 */
import type { Tensor } from '../../../engine/tensor.js';
import type { Module } from '../module.js';
import { exportOnnx, type ExportOnnxOptions } from './export.js';

async function fs(): Promise<typeof import('node:fs/promises')> {
  const getBuiltin = typeof process !== 'undefined' ? process.getBuiltinModule : undefined;
  if (typeof getBuiltin !== 'function') {
    throw new Error('saveOnnx: expected Node.js ≥ 20.16 (node:fs), got a runtime without it; call exportOnnx and save the bytes yourself');
  }
  return getBuiltin('node:fs/promises') as typeof import('node:fs/promises');
}

/**
 * Exports `module` as exportOnnx does and writes the model to `path` (conventionally `.onnx`).
 * Returns the number of bytes written.
 * @throws Error from exportOnnx, or Node's error when the file cannot be written.
 */
export async function saveOnnx(module: Module, exampleInputs: Tensor | readonly unknown[], path: string, opts: ExportOnnxOptions = {}): Promise<number> {
  const bytes = exportOnnx(module, exampleInputs, opts);
  await (await fs()).writeFile(path, bytes);
  return bytes.length;
}
