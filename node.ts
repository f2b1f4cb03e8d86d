/**
 * posegrad/node: everything that `posegrad` exports, plus the helpers that read and write files,
 * which need Node's `fs` (a browser bundle never sees this entry: import `posegrad` there).
 *
 *   import { loadCheckpointFile, readImageFile, init } from 'posegrad/node';
 *
 * - checkpoints: `loadCheckpointFile` (.pth/.pt/.tar/.ckpt/.bin and .safetensors),
 *   `saveSafetensors`, `loadTfjsGraphModelFile`, `saveTrainingCheckpoint`, `loadTrainingCheckpoint`
 *   (the byte-level readers they wrap, such as `nn.loadPth` and `readTfjsGraphModel`, are in
 *   `posegrad` and work in browsers on fetched bytes);
 * - images: `readImageFile` and `writeImageFile` (the codecs, `decodeImage`, `encodePng` and
 *   `encodeJpeg`, are in `posegrad`);
 * - the wasm builds: `WASM_FILES` and `wasmFilesDir`, for copying them next to a bundle (see
 *   WasmBackendOptions.wasmPaths).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { decodeImage, encodeJpeg, encodePng, type RgbaImage } from './models/pose/image.js';

export * from './index.js';
export { loadCheckpointFile, saveSafetensors, loadTfjsGraphModelFile } from './models/nn/checkpoint/files.js';
export { saveOnnx } from './models/nn/onnx/file.js';
export { saveTrainingCheckpoint, loadTrainingCheckpoint } from './models/nn/checkpoint/training.js';
export { WASM_FILES } from './backends/wasm/index.js';

/**
 * The folder that holds posegrad's .wasm builds (`dist/backends/wasm/build/` in the package), as
 * a filesystem path ending in a separator. Copy its files (WASM_FILES) to where a bundled page is
 * served, and point `init('wasm', { wasmPaths })` at that URL.
 */
export const wasmFilesDir: string = fileURLToPath(new URL('./backends/wasm/build/', import.meta.url));

/**
 * Reads a PNG or JPEG file and decodes it to RGBA (see decodeImage).
 * @throws Error when the file cannot be read (Node's message) or decodeImage rejects its bytes.
 */
export async function readImageFile(path: string): Promise<RgbaImage> {
  return decodeImage(new Uint8Array(await readFile(path)));
}

/**
 * Encodes an RGBA image and writes it: JPEG for a `.jpg`/`.jpeg` path (quality 0..100, default
 * 85), PNG for a `.png` path.
 * @throws Error "writeImageFile: expected a .png, .jpg or .jpeg path, got ..." for another
 *   extension, or Node's error when the file cannot be written.
 */
export async function writeImageFile(path: string, img: RgbaImage, quality = 85): Promise<void> {
  const lower = path.toLowerCase();
  if (lower.endsWith('.png')) return writeFile(path, encodePng(img));
  if (lower.endsWith('.jpg') || lower.endsWith('.jpeg')) return writeFile(path, encodeJpeg(img, quality));
  throw new Error(`writeImageFile: expected a .png, .jpg or .jpeg path, got '${path}'`);
}
