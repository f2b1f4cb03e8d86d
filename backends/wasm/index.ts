/**
 * The wasm backend: AssemblyScript SIMD kernels (backends/wasm/assembly/*.ts, built by build.ts)
 * in one linear memory with a JS-side size-class allocator (memory.ts).
 *
 *   await init('wasm');                                        // defaults
 *   await init('wasm', { threads: 2, wasmPaths: '/assets/' }); // WasmBackendOptions
 *
 * Loading: by default the .wasm bytes come from build/ next to this file (Node: fs; browsers: fetch
 * of `new URL('./build/…', import.meta.url)`); `wasmPaths` names another folder or one URL per file
 * (for bundlers that do not copy them, such as esbuild), and `wasmBinary` hands the bytes over
 * directly. Two builds ship, each with a `-threads` twin: plain SIMD, and relaxed SIMD (fused
 * multiply-add in the GEMM micro-kernel). A 37-byte probe module decides which the runtime can
 * compile. Node 20 compiles relaxed SIMD only with `--experimental-wasm-relaxed-simd` (on by default
 * from Node 22 / Chrome 114); `createWasmBackend({ relaxedSimd: 'v8-flag' })` sets that flag at run
 * time through `v8.setFlagsFromString` (Node only, opt-in).
 *
 * Each kernel family lives in its own file on both sides: assembly/<family>.ts (the kernel) and
 * <family>.ts here (the wrapper: allocate the output, call, return). WasmBackend only wires them to
 * the Backend interface, as every backend does (backends/cpu/index.ts is the file to copy): the
 * interface's methods in its order and under its section headings, one delegation per method,
 * the context (WasmContext: memory, exports, thread pool) passed first. All calls are synchronous,
 * so readSync works. `threads: 2` adds worker threads that every split kernel uses (matmul, conv2d and its backward
 * passes, depthwise conv, deformConv2d, attention, softmax, the norms, gridSample; threads.ts), each
 * above a size threshold below which waking a worker costs more than it saves.
 * backends/index.ts registers createWasmBackend as the engine's 'wasm' factory.
 */
import type {
  AttentionParams, Backend, BackendMemoryInfo, Conv2dParams, DeformConv2dParams, GridSampleParams,
  InterpolateParams, KTensor, MatmulParams, Pool2dParams,
} from '../backend.js';
import type { DType, TypedArray } from '../../engine/dtype.js';
import type { BinaryOp, ReduceOp, UnaryOp } from '../spec.js';
import * as attn from './attention.js';
import { checkDtype, numel, type WasmContext, type WT } from './context.js';
import * as conv from './conv.js';
import * as deform from './deform-conv.js';
import * as ew from './elementwise.js';
import * as gs from './grid-sample.js';
import * as mm from './matmul.js';
import { GEMM_BLOCKS } from './matmul.js';
import { PAGE, WasmMemory, type WasmStorage } from './memory.js';
import * as norm from './norm.js';
import * as pool from './pooling.js';
import * as red from './reduce.js';
import * as rs from './resample.js';
import * as sh from './shape.js';
import * as sm from './softmax.js';
import { ThreadPool } from './threads.js';

export type { WasmStorage } from './memory.js';

/** A minimal module using f32x4.relaxed_madd: it validates only where relaxed SIMD is available. */
const RELAXED_PROBE = '0061736d010000000108016003' + '7b7b7b017b' + '030201000a0d010b00200020012002fd85020b';

/**
 * The wasm builds that ship in `dist/backends/wasm/build/` (also exported as
 * `posegrad/wasm/<file>`): plain or relaxed SIMD, single-threaded or `-threads` (shared memory).
 */
export type WasmFileName = 'posegrad.wasm' | 'posegrad-relaxed.wasm' | 'posegrad-threads.wasm' | 'posegrad-relaxed-threads.wasm';

/** Every shipped build, for copying them next to a bundle (see WasmBackendOptions.wasmPaths). */
export const WASM_FILES: readonly WasmFileName[] = ['posegrad.wasm', 'posegrad-relaxed.wasm', 'posegrad-threads.wasm', 'posegrad-relaxed-threads.wasm'];

/** Bytes of a .wasm build, or the build already compiled. */
export type WasmBinary = ArrayBuffer | ArrayBufferView | WebAssembly.Module;

/**
 * Options of the wasm backend: `init('wasm', options)` (or `createWasmBackend(options)`). They
 * apply when the backend starts, once per page or process.
 */
export interface WasmBackendOptions {
  /**
   * 'auto' (default): use the relaxed-SIMD build when the runtime validates it. false: always the
   * plain SIMD build. 'v8-flag': in Node, first enable V8's --experimental-wasm-relaxed-simd (needed
   * on Node 20), then probe. When omitted, the environment variable POSEGRAD_WASM_RELAXED_SIMD
   * (Node) may set it: 'v8-flag', 'off' or 'auto'.
   */
  relaxedSimd?: 'auto' | false | 'v8-flag';
  /** Initial memory in bytes (default 16 MiB); it grows on demand up to 4 GiB. */
  initialBytes?: number;
  /**
   * Threads for the split kernels (matmul, conv2d and its backward passes, deformConv2d,
   * attention, softmax, the norms, gridSample), including the
   * calling thread; default 1. More than 1 uses the `-threads` build over a shared memory and
   * needs SharedArrayBuffer (in browsers: a cross-origin isolated page).
   */
  threads?: number;
  /**
   * Where to fetch the .wasm files from, when they are not served next to posegrad's own
   * `dist/backends/wasm/` (the default, `new URL('./build/<file>', import.meta.url)`, which holds
   * in Node, for native ES modules and for a Vite build, but not for esbuild bundles or dev servers
   * that pre-bundle dependencies):
   * - a folder: a URL string or URL object (`'/assets/wasm/'`, `'https://cdn.example/posegrad/'`);
   *   relative strings resolve against the page (`document.baseURI`), and in Node a plain string
   *   is a filesystem folder. The folder must hold the build(s) in use, named as in WASM_FILES
   *   (copy `node_modules/posegrad/dist/backends/wasm/build/*.wasm` there);
   * - or one URL per file name, for bundlers that give each asset its own (hashed) URL, e.g.
   *   `{ 'posegrad-relaxed.wasm': url }` with `import url from 'posegrad/wasm/posegrad-relaxed.wasm?url'`.
   * Like TF.js's `setWasmPaths` and onnxruntime-web's `env.wasm.wasmPaths`.
   */
  wasmPaths?: string | URL | Partial<Record<WasmFileName, string | URL>>;
  /**
   * The module itself, instead of fetching it: the bytes (or a compiled WebAssembly.Module) of
   * the build that `relaxedSimd` and `threads` select, or one per file name. With the defaults on
   * a runtime that has relaxed SIMD (Chrome ≥ 114, Node ≥ 22) that is `posegrad-relaxed.wasm`;
   * pass `relaxedSimd: false` with `posegrad.wasm`, and a `-threads` build with `threads` > 1.
   */
  wasmBinary?: WasmBinary | Partial<Record<WasmFileName, WasmBinary>>;
}

function hexBytes(hex: string): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(new ArrayBuffer(hex.length / 2));
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const isNode = typeof process !== 'undefined' && typeof process.versions === 'object' && !!process.versions.node;

/**
 * A Node built-in module, through `process.getBuiltinModule` (Node ≥ 20.16) rather than an import,
 * so that bundlers never see a `node:` specifier in posegrad's browser graph.
 */
function nodeBuiltin<T>(id: string): T {
  const get = isNode ? (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule : undefined;
  if (typeof get !== 'function') throw new Error(`wasm: expected Node.js ≥ 20.16 (process.getBuiltinModule) to load ${id}, got ${isNode ? `Node ${process.versions.node}` : 'another runtime'}`);
  return get(id) as T;
}

/** What to do when the .wasm files are not where the loader looks (appended to load errors). */
const WASM_PATHS_HINT =
  "posegrad's .wasm files ship in node_modules/posegrad/dist/backends/wasm/build/ and are looked up next to its loader; " +
  "a bundle that moves the loader away from them (esbuild, a dev server that pre-bundles) must serve them and say where: " +
  "init('wasm', { wasmPaths: '/folder/with/the/wasm/files/' }) (or one URL per file), or pass the bytes as wasmBinary";

/** Where `file` is: from `wasmPaths` when given, else next to this module. */
function wasmLocation(file: WasmFileName, paths: WasmBackendOptions['wasmPaths']): URL | string {
  if (paths === undefined) {
    try {
      return new URL(`./build/${file}`, import.meta.url);
    } catch (e) {
      throw new Error(`wasm: expected a module URL (import.meta.url) to find ${file} next to, got ${(e as Error).message}. ${WASM_PATHS_HINT}`);
    }
  }
  let target: string | URL;
  if (typeof paths === 'string' || paths instanceof URL) {
    const folder = String(paths);
    target = folder.endsWith('/') || folder.endsWith('\\') ? folder + file : `${folder}/${file}`;
  } else {
    const one = paths[file];
    if (one === undefined) throw new Error(`wasm: expected wasmPaths to name '${file}' (the build this runtime and these options select), got only [${Object.keys(paths).join(', ')}]`);
    target = one;
  }
  if (target instanceof URL) return target;
  if (/^[a-z][a-z0-9+.-]*:/i.test(target) && !/^[a-z]:[\\/]/i.test(target)) return new URL(target);
  const doc = (globalThis as { document?: { baseURI?: string } }).document;
  const loc = (globalThis as { location?: { href?: string } }).location;
  const base = doc?.baseURI ?? loc?.href;
  if (base) return new URL(target, base);
  if (isNode) return target; // a filesystem path
  throw new Error(`wasm: expected an absolute URL in wasmPaths (no page to resolve it against), got '${target}'`);
}

async function loadBytes(file: WasmFileName, paths: WasmBackendOptions['wasmPaths']): Promise<Uint8Array<ArrayBuffer>> {
  const where = wasmLocation(file, paths);
  let bytes: Uint8Array<ArrayBuffer>;
  if (isNode && (typeof where === 'string' || where.protocol === 'file:')) {
    const { readFile } = nodeBuiltin<typeof import('node:fs/promises')>('node:fs/promises');
    let buf: Uint8Array;
    try {
      buf = await readFile(where);
    } catch (e) {
      throw new Error(`wasm: expected ${String(where)} to be readable, got ${(e as Error).message}. ${WASM_PATHS_HINT}`);
    }
    bytes = new Uint8Array(new ArrayBuffer(buf.byteLength));
    bytes.set(buf);
  } else {
    let res: Response;
    try {
      res = await fetch(where);
    } catch (e) {
      throw new Error(`wasm: expected ${String(where)} to load, got a failed fetch (${(e as Error).message}). ${WASM_PATHS_HINT}`);
    }
    if (!res.ok) throw new Error(`wasm: expected ${String(where)} to load, got HTTP ${res.status}. ${WASM_PATHS_HINT}`);
    bytes = new Uint8Array(await res.arrayBuffer());
  }
  checkMagic(bytes, String(where));
  return bytes;
}

/** A clear error for bytes that are not a wasm module (typically a dev server's HTML fallback page). */
function checkMagic(bytes: Uint8Array, where: string): void {
  if (bytes.length >= 4 && bytes[0] === 0 && bytes[1] === 0x61 && bytes[2] === 0x73 && bytes[3] === 0x6d) return;
  const head = new TextDecoder().decode(bytes.subarray(0, 24)).replace(/\s+/g, ' ').replace(/[^\x20-\x7e]/g, '.');
  throw new Error(`wasm: expected a WebAssembly module (\\0asm) at ${where}, got ${bytes.length} bytes starting with '${head}'${/^\s*</.test(head) ? ' (an HTML page: the server has no such file)' : ''}. ${WASM_PATHS_HINT}`);
}

/** The module for `file`: from `wasmBinary` when given, else loaded (see loadBytes). */
async function compileBuild(file: WasmFileName, opts: WasmBackendOptions): Promise<WebAssembly.Module> {
  const given = opts.wasmBinary;
  let bin: WasmBinary;
  let where = `wasmBinary`;
  if (given === undefined) {
    bin = await loadBytes(file, opts.wasmPaths);
    where = file;
  } else if (given instanceof WebAssembly.Module || given instanceof ArrayBuffer || ArrayBuffer.isView(given)) {
    bin = given;
  } else {
    const one = given[file];
    if (one === undefined) throw new Error(`wasm: expected wasmBinary to hold '${file}' (the build this runtime and these options select), got only [${Object.keys(given).join(', ')}]`);
    bin = one;
    where = `wasmBinary['${file}']`;
  }
  if (bin instanceof WebAssembly.Module) return bin;
  const bytes = ArrayBuffer.isView(bin) ? new Uint8Array(bin.buffer, bin.byteOffset, bin.byteLength) : new Uint8Array(bin);
  checkMagic(bytes, where);
  if (!WebAssembly.validate(bytes as BufferSource)) throw new Error(`wasm: expected a runtime with WebAssembly SIMD${file.includes('-threads') ? ' and threads' : ''}${file.includes('-relaxed') ? ' and relaxed SIMD' : ''} that validates ${where}, got a failed validation`);
  return WebAssembly.compile(bytes as BufferSource);
}

/** Whether this runtime compiles relaxed SIMD (after optionally setting V8's flag). */
export async function probeRelaxedSimd(setV8Flag = false): Promise<boolean> {
  if (setV8Flag && isNode) {
    nodeBuiltin<typeof import('node:v8')>('node:v8').setFlagsFromString('--experimental-wasm-relaxed-simd');
  }
  return WebAssembly.validate(hexBytes(RELAXED_PROBE));
}

/** Why SharedArrayBuffer is missing, and what to do (the threads error). */
function noSharedMemory(threads: number): Error {
  const g = globalThis as { crossOriginIsolated?: boolean; document?: unknown };
  const why = g.document !== undefined || g.crossOriginIsolated !== undefined
    ? 'this page is not cross-origin isolated (crossOriginIsolated is false), and browsers give SharedArrayBuffer only to isolated pages: ' +
      'serve the page (and its workers) with the headers `Cross-Origin-Opener-Policy: same-origin` and `Cross-Origin-Embedder-Policy: require-corp` ' +
      '(or `credentialless`), or use threads: 1'
    : 'this runtime has no SharedArrayBuffer; use threads: 1';
  return new Error(`wasm: expected SharedArrayBuffer for threads: ${threads}, got none (${why})`);
}

/** Loads and instantiates the wasm module and returns the backend. */
export async function createWasmBackend(opts: WasmBackendOptions = {}): Promise<WasmBackend> {
  const env = isNode ? process.env.POSEGRAD_WASM_RELAXED_SIMD : undefined;
  if (env !== undefined && env !== '' && env !== 'auto' && env !== 'off' && env !== 'v8-flag') {
    throw new Error(`wasm: expected POSEGRAD_WASM_RELAXED_SIMD to be 'auto', 'off' or 'v8-flag', got '${env}'`);
  }
  const mode = opts.relaxedSimd ?? (env === 'off' ? false : env === 'v8-flag' ? 'v8-flag' : 'auto');
  const threads = opts.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`wasm: expected threads as an integer ≥ 1, got ${threads}`);
  if (threads > 1 && (typeof SharedArrayBuffer === 'undefined' || (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === false)) {
    throw noSharedMemory(threads);
  }
  const relaxed = mode !== false && (await probeRelaxedSimd(mode === 'v8-flag'));
  const file: WasmFileName = `posegrad${relaxed ? '-relaxed' : ''}${threads > 1 ? '-threads' : ''}.wasm`;
  const module = await compileBuild(file, opts);
  const initialPages = Math.max(1, Math.ceil((opts.initialBytes ?? 16 * 2 ** 20) / PAGE));
  const memory = new WebAssembly.Memory({ initial: initialPages, maximum: 65536, shared: threads > 1 });
  let instance: WebAssembly.Instance;
  try {
    instance = await WebAssembly.instantiate(module, { env: { memory } });
  } catch (e) {
    throw new Error(`wasm: expected ${file} to link with a ${threads > 1 ? 'shared' : 'non-shared'} memory (threads: ${threads}), got ${(e as Error).message}${opts.wasmBinary !== undefined ? ' (wasmBinary holds another build?)' : ''}`);
  }
  const exports = instance.exports;
  const heapBase = (exports.heap_base as () => number)();
  const mem = new WasmMemory(memory, heapBase);
  const blocks = [GEMM_BLOCKS.kc, GEMM_BLOCKS.mc, GEMM_BLOCKS.nc];
  const pool = threads > 1 ? await ThreadPool.create(mem, module, threads, blocks) : null;
  return new WasmBackend({ mem, exports, relaxed, pool }, file);
}

export class WasmBackend implements Backend<WasmStorage> {
  readonly name = 'wasm' as const;

  /** `ctx`: the memory and module every kernel wrapper takes first; `moduleFile`: the build in use. */
  constructor(private readonly ctx: WasmContext, readonly moduleFile: string) {}

  // ---------------------------------------------------------------- wasm only (not in Backend)
  /** Whether the relaxed-SIMD build (fused multiply-add GEMM) is in use. */
  get relaxedSimd(): boolean {
    return this.ctx.relaxed;
  }

  /** Threads the split kernels use (1 = no workers). */
  get threads(): number {
    return this.ctx.pool ? this.ctx.pool.size : 1;
  }

  /** Stops the worker threads, if any; the backend must not be used afterwards. */
  terminate(): void {
    this.ctx.pool?.terminate();
  }

  /** The allocator (for tests and diagnostics). */
  get memory(): WasmMemory {
    return this.ctx.mem;
  }

  // ---------------------------------------------------------------- memory and data movement
  upload(values: TypedArray, dtype: DType): WasmStorage {
    checkDtype('upload', dtype);
    return this.ctx.mem.upload('upload', values, dtype);
  }
  read(x: WT): Promise<TypedArray> {
    return Promise.resolve(this.readSync(x));
  }
  readSync(x: WT): TypedArray {
    checkDtype('read', x.dtype);
    return this.ctx.mem.read(x.storage, numel(x.shape), x.dtype);
  }
  release(storage: WasmStorage): void {
    this.ctx.mem.release(storage);
  }
  memoryInfo(): BackendMemoryInfo {
    return { pooledBytes: this.ctx.mem.pooledBytes };
  }
  sync(): Promise<void> {
    return Promise.resolve();
  }

  // ---------------------------------------------------------------- creation and elementwise
  fill(shape: readonly number[], dtype: DType, value: number): WasmStorage {
    return ew.fill(this.ctx, shape, dtype, value);
  }
  cast(x: WT, dtype: DType): WasmStorage {
    return ew.cast(this.ctx, x, dtype);
  }
  unary(op: UnaryOp, x: WT, params: readonly number[]): WasmStorage {
    return ew.unary(this.ctx, op, x, params);
  }
  unaryGrad(op: UnaryOp, x: WT, y: WT, dy: WT, params: readonly number[]): WasmStorage {
    return ew.unaryGrad(this.ctx, op, x, y, dy, params);
  }
  binary(op: BinaryOp, a: WT, b: WT, outShape: readonly number[], outDtype: DType): WasmStorage {
    return ew.binary(this.ctx, op, a, b, outShape, outDtype);
  }
  where(cond: WT, a: WT, b: WT, outShape: readonly number[]): WasmStorage {
    return ew.where(this.ctx, cond, a, b, outShape);
  }

  // ---------------------------------------------------------------- reductions and scans
  reduce(op: ReduceOp, x: WT, outer: number, size: number, inner: number): WasmStorage {
    return red.reduce(this.ctx, op, x, outer, size, inner);
  }
  argReduce(op: 'argmax' | 'argmin', x: WT, outer: number, size: number, inner: number): WasmStorage {
    return red.argReduce(this.ctx, op, x, outer, size, inner);
  }
  cumsum(x: WT, outer: number, size: number, inner: number): WasmStorage {
    return red.cumsum(this.ctx, x, outer, size, inner);
  }
  topk(x: WT, outer: number, size: number, k: number, largest: boolean): { values: WasmStorage; indices: WasmStorage } {
    return red.topk(this.ctx, x, outer, size, k, largest);
  }

  // ---------------------------------------------------------------- matmul
  matmul(a: WT, b: WT, p: MatmulParams): WasmStorage {
    return mm.matmul(this.ctx, a, b, p);
  }

  // ---------------------------------------------------------------- shape and indexing (all dtypes)
  permute(x: WT, perm: readonly number[]): WasmStorage {
    return sh.permute(this.ctx, x, perm);
  }
  slice(x: WT, begin: readonly number[], size: readonly number[], step: readonly number[]): WasmStorage {
    return sh.slice(this.ctx, x, begin, size, step);
  }
  pad(x: WT, before: readonly number[], after: readonly number[], value: number): WasmStorage {
    return sh.pad(this.ctx, x, before, after, value);
  }
  concat(xs: readonly WT[], axis: number): WasmStorage {
    return sh.concat(this.ctx, xs, axis);
  }
  flip(x: WT, axes: readonly number[]): WasmStorage {
    return sh.flip(this.ctx, x, axes);
  }
  gather(x: WT, index: WT, axis: number): WasmStorage {
    return sh.gather(this.ctx, x, index, axis);
  }
  scatterAdd(outShape: readonly number[], index: WT, src: WT, axis: number): WasmStorage {
    return sh.scatterAdd(this.ctx, outShape, index, src, axis);
  }
  indexSelect(x: WT, axis: number, index: WT): WasmStorage {
    return sh.indexSelect(this.ctx, x, axis, index);
  }

  // ---------------------------------------------------------------- convolution
  conv2d(x: WT, w: WT, bias: WT | null, p: Conv2dParams): WasmStorage {
    return conv.conv2d(this.ctx, x, w, bias, p);
  }
  conv2dBackwardInput(dy: WT, w: WT, xShape: readonly number[], p: Conv2dParams): WasmStorage {
    return conv.conv2dBackwardInput(this.ctx, dy, w, xShape, p);
  }
  conv2dBackwardWeight(x: WT, dy: WT, wShape: readonly number[], p: Conv2dParams): WasmStorage {
    return conv.conv2dBackwardWeight(this.ctx, x, dy, wShape, p);
  }
  deformConv2d(x: WT, offset: WT, mask: WT | null, w: WT, bias: WT | null, p: DeformConv2dParams): WasmStorage {
    return deform.deformConv2d(this.ctx, x, offset, mask, w, bias, p);
  }
  deformConv2dBackward(dy: WT, x: WT, offset: WT, mask: WT | null, w: WT, p: DeformConv2dParams): { dx: WasmStorage; dOffset: WasmStorage; dMask: WasmStorage | null; dWeight: WasmStorage } {
    return deform.deformConv2dBackward(this.ctx, dy, x, offset, mask, w, p);
  }

  // ---------------------------------------------------------------- pooling and resampling (NCHW)
  maxPool2d(x: WT, p: Pool2dParams): { out: WasmStorage; indices: WasmStorage } {
    return pool.maxPool2d(this.ctx, x, p);
  }
  maxPool2dBackward(dy: WT, indices: WT, xShape: readonly number[], p: Pool2dParams): WasmStorage {
    return pool.maxPool2dBackward(this.ctx, dy, indices, xShape, p);
  }
  avgPool2d(x: WT, p: Pool2dParams): WasmStorage {
    return pool.avgPool2d(this.ctx, x, p);
  }
  avgPool2dBackward(dy: WT, xShape: readonly number[], p: Pool2dParams): WasmStorage {
    return pool.avgPool2dBackward(this.ctx, dy, xShape, p);
  }
  adaptiveAvgPool2d(x: WT, outH: number, outW: number): WasmStorage {
    return pool.adaptiveAvgPool2d(this.ctx, x, outH, outW);
  }
  adaptiveAvgPool2dBackward(dy: WT, xShape: readonly number[]): WasmStorage {
    return pool.adaptiveAvgPool2dBackward(this.ctx, dy, xShape);
  }
  interpolate(x: WT, p: InterpolateParams): WasmStorage {
    return rs.interpolate(this.ctx, x, p);
  }
  interpolateBackward(dy: WT, xShape: readonly number[], p: InterpolateParams): WasmStorage {
    return rs.interpolateBackward(this.ctx, dy, xShape, p);
  }
  gridSample(x: WT, grid: WT, p: GridSampleParams): WasmStorage {
    return gs.gridSample(this.ctx, x, grid, p);
  }
  gridSampleBackward(dy: WT, x: WT, grid: WT, p: GridSampleParams): { dx: WasmStorage; dGrid: WasmStorage } {
    return gs.gridSampleBackward(this.ctx, dy, x, grid, p);
  }

  // ---------------------------------------------------------------- softmax, norms, attention
  softmax(x: WT, outer: number, size: number, inner: number, log: boolean): WasmStorage {
    return sm.softmax(this.ctx, x, outer, size, inner, log);
  }
  softmaxBackward(y: WT, dy: WT, outer: number, size: number, inner: number, log: boolean): WasmStorage {
    return sm.softmaxBackward(this.ctx, y, dy, outer, size, inner, log);
  }
  layerNorm(x: WT, gamma: WT | null, beta: WT | null, rows: number, cols: number, eps: number): { y: WasmStorage; mean: WasmStorage; rstd: WasmStorage } {
    return norm.layerNorm(this.ctx, x, gamma, beta, rows, cols, eps);
  }
  layerNormBackward(dy: WT, x: WT, mean: WT, rstd: WT, gamma: WT | null, rows: number, cols: number): { dx: WasmStorage; dGamma: WasmStorage | null; dBeta: WasmStorage | null } {
    return norm.layerNormBackward(this.ctx, dy, x, mean, rstd, gamma, rows, cols);
  }
  batchNormStats(x: WT, n: number, c: number, s: number): { mean: WasmStorage; variance: WasmStorage } {
    return norm.batchNormStats(this.ctx, x, n, c, s);
  }
  batchNormForward(x: WT, mean: WT, variance: WT, gamma: WT | null, beta: WT | null, n: number, c: number, s: number, eps: number): WasmStorage {
    return norm.batchNormForward(this.ctx, x, mean, variance, gamma, beta, n, c, s, eps);
  }
  batchNormBackward(dy: WT, x: WT, mean: WT, variance: WT, gamma: WT | null, n: number, c: number, s: number, eps: number, training: boolean): { dx: WasmStorage; dGamma: WasmStorage | null; dBeta: WasmStorage | null } {
    return norm.batchNormBackward(this.ctx, dy, x, mean, variance, gamma, n, c, s, eps, training);
  }
  attention(q: WT, k: WT, v: WT, mask: WT | null, p: AttentionParams): { out: WasmStorage; lse: WasmStorage } {
    return attn.attention(this.ctx, q, k, v, mask, p);
  }
  attentionBackward(dOut: WT, q: WT, k: WT, v: WT, out: WT, lse: WT, mask: WT | null, p: AttentionParams): { dq: WasmStorage; dk: WasmStorage; dv: WasmStorage } {
    return attn.attentionBackward(this.ctx, dOut, q, k, v, out, lse, mask, p);
  }
}

export type { KTensor };
