/// <reference types="@webgpu/types" />
/**
 * The WebGPU runtime: buffer pool, pipeline cache, command batching, uploads, reads and error
 * reporting. Every kernel in kernels/*.ts is written against this small API.
 *
 * ## Writing a kernel (the whole API a kernel author needs)
 *
 * ```ts
 * import { Uniforms, type GPUStorage, type Runtime } from '../runtime.js';
 *
 * export function myKernel(rt: Runtime, x: GPUStorage, n: number): GPUStorage {
 *   const out = rt.alloc(n * 4);                       // output storage (pooled), bytes
 *   const u = new Uniforms().u32('n', n).f32('alpha', 0.5);
 *   rt.run({
 *     name: 'myKernel',                                 // names the kernel in every error
 *     key: 'myKernel:f32',                              // pipeline cache key: everything the WGSL depends on
 *     code: () => `
 *       ${u.struct('P')}                                // struct P { n: u32, alpha: f32, }
 *       @group(0) @binding(0) var<storage, read> x: array<f32>;
 *       @group(0) @binding(1) var<storage, read_write> y: array<f32>;
 *       @group(0) @binding(2) var<uniform> p: P;         // uniforms come right after the buffers
 *       @compute @workgroup_size(256)
 *       fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
 *               @builtin(local_invocation_index) lid: u32) {
 *         let i = ${GRID_INDEX('256u')};                // flat index over a 2-D grid (see grid())
 *         if (i >= p.n) { return; }
 *         y[i] = x[i] * p.alpha;
 *       }`,
 *     bindings: [x, out],                               // @binding(0), @binding(1), ... in order
 *     uniforms: u,                                      // @binding(bindings.length)
 *     workgroups: grid(rt, Math.ceil(n / 256)),          // [x, y, z]; a count of 0 skips the dispatch
 *   });
 *   return out;
 * }
 * ```
 *
 * - Shapes go in uniforms, never in the WGSL text, so one pipeline serves every shape; put in `key`
 *   exactly what changes the WGSL (dtype, op, tile sizes, flags). `code` runs once per key.
 * - `Uniforms` lays out scalars (u32/i32/f32, 4 bytes each) and `array<vec4<u32|i32>, n>` fields
 *   (16-byte aligned, read them with `p.dims[i / 4u][i % 4u]`), following WGSL's uniform layout.
 * - Storage is always contiguous, 4 bytes per element (f32 or i32; data movement kernels may treat
 *   both as u32 bits). float64 never reaches a kernel: uploads, fills and casts reject it.
 * - Temporary buffers: `rt.alloc(bytes)` then `rt.free(s)` once the dispatches that use it are
 *   encoded; the queue runs commands in order, so a freed buffer reused by a later dispatch is safe.
 * - Host tables (index maps, weights): `rt.upload(new Int32Array(...))` is safe at any point.
 * - Textures: `rt.allocTexture(width, height)` gives a pooled rgba32float 2-D texture usable as a
 *   write-only storage texture and as a sampled texture; pass `tex.createView()` in `bindings`
 *   (a binding is either a GPUStorage or a GPUTextureView) and `rt.freeTexture(tex)` afterwards.
 * - Errors: pipeline-creation errors (bad WGSL) and encoding/validation errors are caught with error
 *   scopes and rethrown as `Error("webgpu: kernel '<name>' failed ...")` by the next `read()`,
 *   `sync()` or kernel call. A lost device is reported the same way.
 * - Limits: kernels should stay within WebGPU's default limits (256 invocations and 16 KiB of
 *   workgroup memory per workgroup, 8 storage buffers per stage), so they run on every adapter.
 *
 * ## Hazards handled here
 * - `queue.writeBuffer` executes at the next submit, *before* the commands still sitting in the
 *   open encoder. An upload into a pooled buffer that the open batch still uses is therefore encoded
 *   as a copy from a fresh mapped staging buffer instead (`upload`).
 * - A buffer is destroyed (pool trimming, staging) only after the batch that uses it is submitted.
 */
import type { AcquiredDevice } from './device.js';

/** GPUBufferUsage / GPUMapMode values (the spec's constants; Node has no globals for them). */
export const Usage = { MAP_READ: 0x1, MAP_WRITE: 0x2, COPY_SRC: 0x4, COPY_DST: 0x8, UNIFORM: 0x40, STORAGE: 0x80 } as const;
const MAP_MODE_READ = 0x1;

/** A tensor's storage on the GPU: a (pooled) buffer and the number of bytes it holds. */
export interface GPUStorage {
  readonly buffer: GPUBuffer;
  /** Bytes of data (elements · 4). The buffer itself may be larger (its pool size class). */
  readonly bytes: number;
  /**
   * The values, when the storage was uploaded from int32 host data of at most HOST_COPY_MAX
   * elements (storages are immutable, so the copy stays right): index tensors are checked on the
   * host from it, without a GPU readback (see `checkIndices`).
   */
  readonly host?: Int32Array;
}

/** int32 uploads up to this many elements keep a host copy (`GPUStorage.host`). */
export const HOST_COPY_MAX = 1 << 20;

/** A deferred index check (`checkIndices`): its result words and how to report a bad index. */
interface PendingCheck {
  readonly result: GPUStorage;
  readonly op: string;
  readonly expected: string;
}

/** One compute dispatch. See the header for the conventions. */
export interface Dispatch {
  /** Kernel name, used in labels and error messages. */
  readonly name: string;
  /** Pipeline cache key: must determine the WGSL text completely. */
  readonly key: string;
  /** Builds the WGSL source (entry point `main`); called once per key. */
  readonly code: () => string;
  /** Storage buffers (or texture views) bound at @group(0) @binding(0..n-1), in order. */
  readonly bindings: readonly (GPUStorage | GPUTextureView)[];
  /** Bound at @binding(bindings.length) as a uniform buffer. */
  readonly uniforms?: Uniforms;
  /** Workgroup counts [x, y, z]; a zero anywhere skips the dispatch. */
  readonly workgroups: readonly number[];
}

// ------------------------------------------------------------------------------------ uniforms

type ScalarType = 'u32' | 'i32' | 'f32';
interface UField {
  name: string;
  type: ScalarType;
  /** Number of vec4 elements for array fields, 0 for scalars. */
  vec4s: number;
  values: readonly number[];
  offset: number;
}

/**
 * A uniform block builder: add fields in order, then `struct(name)` gives the WGSL declaration and
 * `bytes()` the packed data. Scalars take 4 bytes; arrays are `array<vec4<T>, n>` (16-byte aligned).
 */
export class Uniforms {
  private readonly fields: UField[] = [];
  private size = 0;

  private add(name: string, type: ScalarType, vec4s: number, values: readonly number[]): this {
    const align = vec4s ? 16 : 4;
    const offset = Math.ceil(this.size / align) * align;
    this.fields.push({ name, type, vec4s, values, offset });
    this.size = offset + (vec4s ? 16 * vec4s : 4);
    return this;
  }
  u32(name: string, v: number): this {
    return this.add(name, 'u32', 0, [v]);
  }
  i32(name: string, v: number): this {
    return this.add(name, 'i32', 0, [v]);
  }
  f32(name: string, v: number): this {
    return this.add(name, 'f32', 0, [v]);
  }
  /** `array<vec4<u32>, ceil(len/4)>` holding `values` (padded with zeros to `len`). */
  u32s(name: string, values: readonly number[], len: number): this {
    if (values.length > len) throw new Error(`webgpu: expected at most ${len} values for uniform '${name}', got ${values.length}`);
    return this.add(name, 'u32', Math.max(1, Math.ceil(len / 4)), values);
  }
  /** `array<vec4<i32>, ceil(len/4)>`. */
  i32s(name: string, values: readonly number[], len: number): this {
    if (values.length > len) throw new Error(`webgpu: expected at most ${len} values for uniform '${name}', got ${values.length}`);
    return this.add(name, 'i32', Math.max(1, Math.ceil(len / 4)), values);
  }
  /** The WGSL struct declaration. */
  struct(name: string): string {
    const body = this.fields.map((f) => `  ${f.name}: ${f.vec4s ? `array<vec4<${f.type}>, ${f.vec4s}>` : f.type},`).join('\n');
    return `struct ${name} {\n${body}\n}\n`;
  }
  /** Bytes of the packed block (a multiple of 16). */
  get byteLength(): number {
    return Math.max(16, Math.ceil(this.size / 16) * 16);
  }
  /** Writes the packed block into `view` at `offset`. */
  writeTo(view: DataView, offset: number): void {
    for (const f of this.fields) {
      const n = f.vec4s ? f.values.length : 1;
      for (let i = 0; i < n; i++) {
        const at = offset + f.offset + 4 * i;
        const v = f.values[i]!;
        if (f.type === 'f32') view.setFloat32(at, v, true);
        else if (f.type === 'i32') view.setInt32(at, v, true);
        else view.setUint32(at, v >>> 0, true);
      }
    }
  }
}

// ------------------------------------------------------------------------------------ WGSL helpers

/**
 * WGSL expression for a flat invocation-group index over a 2-D dispatch made by `grid()`:
 * needs `wid` (workgroup_id), `nwg` (num_workgroups) and `lid` (local_invocation_index) in scope.
 */
export const GRID_INDEX = (wgSize: string): string => `(wid.y * nwg.x + wid.x) * ${wgSize} + lid`;
/** Flat workgroup index over a 2-D dispatch made by `grid()`. */
export const GRID_GROUP = '(wid.y * nwg.x + wid.x)';

/** Workgroup counts for `groups` workgroups, folded into 2-D when above the per-dimension limit. */
export function grid(rt: Runtime, groups: number): [number, number, number] {
  const max = rt.limits.maxComputeWorkgroupsPerDimension;
  if (groups <= max) return [groups, 1, 1];
  const y = Math.ceil(groups / max);
  return [Math.ceil(groups / y), y, 1];
}

// ------------------------------------------------------------------------------------ buffer pool

/**
 * Size class of a request: powers of two up to 4 KiB, then four classes per power of two (at most
 * 25% waste), so that a freed buffer serves later requests of similar size.
 */
export function sizeClass(bytes: number): number {
  const b = Math.max(16, bytes);
  if (b <= 4096) return 2 ** Math.ceil(Math.log2(b));
  const p = 2 ** Math.floor(Math.log2(b - 1));
  const step = p / 4;
  return Math.ceil(b / step) * step;
}

class BufferPool {
  private readonly free = new Map<number, GPUBuffer[]>();
  pooledBytes = 0;
  /** Bytes of every live buffer made by the pool (in use or free). */
  allocatedBytes = 0;
  constructor(private readonly device: GPUDevice, private readonly maxPooledBytes: number, private readonly destroy: (b: GPUBuffer) => void) {}

  acquire(bytes: number): GPUBuffer {
    const size = sizeClass(bytes);
    const list = this.free.get(size);
    const hit = list?.pop();
    if (hit) {
      this.pooledBytes -= size;
      return hit;
    }
    this.allocatedBytes += size;
    return this.device.createBuffer({ size, usage: Usage.STORAGE | Usage.COPY_SRC | Usage.COPY_DST, label: 'posegrad-storage' });
  }

  release(buf: GPUBuffer): void {
    if (this.pooledBytes + buf.size > this.maxPooledBytes) {
      this.allocatedBytes -= buf.size;
      this.destroy(buf);
      return;
    }
    let list = this.free.get(buf.size);
    if (!list) this.free.set(buf.size, (list = []));
    list.push(buf);
    this.pooledBytes += buf.size;
  }

  /** Destroys every free buffer. */
  trim(): void {
    for (const list of this.free.values()) for (const b of list) {
      this.allocatedBytes -= b.size;
      this.destroy(b);
    }
    this.free.clear();
    this.pooledBytes = 0;
  }
}

// ------------------------------------------------------------------------------------ runtime

export interface RuntimeOptions {
  /** Dispatches per submitted command buffer (default 32): smaller batches start the GPU sooner. */
  maxDispatchesPerBatch?: number;
  /** Free bytes the pool may hold before destroying released buffers (default 512 MiB). */
  maxPooledBytes?: number;
}

interface CachedPipeline {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
}

export class Runtime {
  readonly device: GPUDevice;
  readonly queue: GPUQueue;
  readonly limits: GPUSupportedLimits;
  readonly adapterName: string;
  /**
   * A CPU implementation of WebGPU (lavapipe/llvmpipe, SwiftShader, a fallback adapter). Kernels
   * may pick layouts tuned for it: see kernels/matmul.ts.
   */
  readonly software: boolean;
  private readonly acquired: AcquiredDevice;
  private readonly pool: BufferPool;
  private readonly pipelines = new Map<string, CachedPipeline>();
  private readonly maxDispatches: number;
  private readonly uniformAlign: number;

  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private dispatches = 0;
  private batchKernels = new Set<string>();
  /** Id of the open batch; buffers remember the batch that last bound them. */
  private batchId = 0;
  private readonly lastUse = new WeakMap<GPUBuffer, number>();
  private deferred: (GPUBuffer | GPUTexture)[] = [];

  private arena: GPUBuffer;
  private readonly arenaData: ArrayBuffer;
  private readonly arenaView: DataView;
  private arenaUsed = 0;
  private static readonly ARENA_BYTES = 64 * 1024;

  /** Errors reported asynchronously (error scopes, uncaptured errors), thrown by the next check. */
  private readonly errors: Error[] = [];
  private lostError: Error | null = null;
  private destroyed = false;
  /** Settles when the error scopes of every submitted batch have been popped. */
  private scopesSettled: Promise<void> = Promise.resolve();

  /** Counters for tests and benchmarks. */
  readonly stats = { dispatches: 0, submits: 0, pipelinesCreated: 0, stagedUploads: 0 };

  constructor(acquired: AcquiredDevice, opts: RuntimeOptions = {}) {
    this.acquired = acquired;
    this.device = acquired.device;
    this.queue = acquired.device.queue;
    this.limits = acquired.device.limits;
    this.adapterName = acquired.adapterName;
    const fallback = (acquired.adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter === true || (acquired.adapter.info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter === true;
    this.software = fallback || /llvmpipe|lavapipe|swiftshader|software/i.test(acquired.adapterName);
    this.maxDispatches = opts.maxDispatchesPerBatch ?? 32;
    this.uniformAlign = Math.max(16, this.limits.minUniformBufferOffsetAlignment);
    this.pool = new BufferPool(this.device, opts.maxPooledBytes ?? 512 * 1024 * 1024, (b) => this.deferDestroy(b));
    this.arenaData = new ArrayBuffer(Runtime.ARENA_BYTES);
    this.arenaView = new DataView(this.arenaData);
    this.arena = this.newArena();
    this.device.addEventListener('uncapturederror', (ev) => {
      const e = (ev as GPUUncapturedErrorEvent).error;
      this.errors.push(new Error(`webgpu: uncaptured error (kernels in flight: ${[...this.batchKernels].join(', ') || 'none'}): ${e.message}`));
    });
    void this.device.lost.then((info) => {
      if (this.destroyed) return;
      this.lostError = new Error(`webgpu: the device was lost (${info.reason}): ${info.message}. Re-initialize the webgpu backend; tensors on it are gone.`);
    });
  }

  // ---------------------------------------------------------------- memory
  /** A storage of `bytes` bytes (uninitialized contents) from the pool. */
  alloc(bytes: number): GPUStorage {
    this.check();
    return { buffer: this.pool.acquire(bytes), bytes };
  }

  /** Returns a storage's buffer to the pool. Safe while queued commands still use it. */
  free(s: GPUStorage): void {
    if (this.destroyed) return;
    this.pool.release(s.buffer);
  }

  get pooledBytes(): number {
    return this.pool.pooledBytes + this.pooledTextureBytes;
  }
  get allocatedBytes(): number {
    return this.pool.allocatedBytes;
  }

  /** Destroys the pooled free buffers and textures. */
  trimPool(): void {
    this.pool.trim();
    for (const list of this.freeTextures.values()) for (const t of list) this.deferDestroy(t);
    this.freeTextures.clear();
    this.pooledTextureBytes = 0;
  }

  // ---------------------------------------------------------------- textures
  private readonly freeTextures = new Map<string, GPUTexture[]>();
  private pooledTextureBytes = 0;

  /** A pooled rgba32float 2-D texture (storage write + sampled), contents undefined. */
  allocTexture(width: number, height: number): GPUTexture {
    this.check();
    const key = `${width}x${height}`;
    const hit = this.freeTextures.get(key)?.pop();
    if (hit) {
      this.pooledTextureBytes -= width * height * 16;
      return hit;
    }
    // STORAGE_BINDING (0x08) | TEXTURE_BINDING (0x04)
    return this.device.createTexture({ size: [width, height], format: 'rgba32float', usage: 0x08 | 0x04, label: 'posegrad-texture' });
  }

  /** Returns a texture to the pool (safe while queued commands still use it). */
  freeTexture(t: GPUTexture): void {
    if (this.destroyed) return;
    const bytes = t.width * t.height * 16;
    if (this.pooledBytes + bytes > 64 * 1024 * 1024) {
      this.deferDestroy(t);
      return;
    }
    const key = `${t.width}x${t.height}`;
    let list = this.freeTextures.get(key);
    if (!list) this.freeTextures.set(key, (list = []));
    list.push(t);
    this.pooledTextureBytes += bytes;
  }

  private deferDestroy(b: GPUBuffer | GPUTexture): void {
    if (this.encoder) this.deferred.push(b);
    else b.destroy();
  }

  // ---------------------------------------------------------------- upload / read
  /** A new storage holding `data` (4-byte elements). */
  upload(data: Float32Array | Int32Array | Uint32Array): GPUStorage {
    const s: GPUStorage = data instanceof Int32Array && data.length <= HOST_COPY_MAX ? { ...this.alloc(data.byteLength), host: data.slice() } : this.alloc(data.byteLength);
    if (data.byteLength === 0) return s;
    if (this.encoder && this.lastUse.get(s.buffer) === this.batchId) {
      // The open batch still uses this pooled buffer: writeBuffer would land before those commands.
      const staging = this.device.createBuffer({ size: data.byteLength, usage: Usage.COPY_SRC, mappedAtCreation: true, label: 'posegrad-upload' });
      new Uint8Array(staging.getMappedRange()).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      staging.unmap();
      this.endPass();
      this.encoder.copyBufferToBuffer(staging, 0, s.buffer, 0, data.byteLength);
      this.deferred.push(staging);
      this.stats.stagedUploads++;
    } else {
      this.queue.writeBuffer(s.buffer, 0, data.buffer, data.byteOffset, data.byteLength);
    }
    return s;
  }

  /** Copies `bytes` bytes of a storage back to the host, after all queued work. */
  async read(s: GPUStorage, bytes = s.bytes): Promise<ArrayBuffer> {
    this.check();
    await this.resolveChecks();
    if (bytes === 0) return new ArrayBuffer(0);
    const staging = this.device.createBuffer({ size: bytes, usage: Usage.MAP_READ | Usage.COPY_DST, label: 'posegrad-read' });
    const enc = this.openEncoder();
    this.endPass();
    enc.copyBufferToBuffer(s.buffer, 0, staging, 0, bytes);
    this.lastUse.set(s.buffer, this.batchId);
    this.flush();
    try {
      await staging.mapAsync(MAP_MODE_READ);
    } catch (e) {
      await this.scopesSettled;
      this.check();
      throw new Error(`webgpu: read failed: ${(e as Error).message}`);
    }
    await this.scopesSettled;
    try {
      this.check();
      return staging.getMappedRange().slice(0);
    } finally {
      staging.unmap();
      staging.destroy();
    }
  }

  /** Submits the open batch and waits for the GPU to finish all work; rethrows kernel errors. */
  async sync(): Promise<void> {
    this.check();
    await this.resolveChecks();
    this.flush();
    await this.queue.onSubmittedWorkDone();
    await this.scopesSettled;
    this.check();
  }

  // ---------------------------------------------------------------- index checks
  private pendingChecks: PendingCheck[] = [];

  /**
   * Checks that the `count` int32 values of `index` are in [0, n) (or equal `ignore`), raising
   * `Error("<op>: expected <expected>, got <value>")` for the first one that is not, as the cpu and
   * wasm backends do at the op's call.
   * - When the storage has a host copy (uploaded from the host: `GPUStorage.host`), the check runs
   *   on the host at once and throws at the call: no GPU work, no sync.
   * - Otherwise (indices computed on the GPU) one bounds-check dispatch (a single workgroup scans
   *   the indices and records the first bad position and its value) is queued with the op, and the
   *   Error is thrown by the next `read()` or `sync()` (a `data()`, `toAsync`, `sync`), which then
   *   reads the 8-byte results back together: no extra stall at the op's call, one small mapped
   *   read at that next sync. The op's output is undefined in that case.
   */
  checkIndices(op: string, expected: string, index: GPUStorage, count: number, n: number, ignore: number | null = null): void {
    this.check();
    if (count === 0) return;
    if (index.host) {
      const v = index.host;
      for (let i = 0; i < count; i++) {
        const x = v[i]!;
        if ((x < 0 || x >= n) && x !== ignore) throw new Error(`${op}: expected ${expected}, got ${x}`);
      }
      return;
    }
    const result = this.alloc(8);
    const u = new Uniforms().u32('count', count).u32('n', n).i32('ignore', ignore ?? 0).u32('useIgnore', ignore === null ? 0 : 1);
    this.run({
      name: 'checkIndices',
      key: 'checkIndices',
      code: () => `
${u.struct('P')}
@group(0) @binding(0) var<storage, read> idx: array<i32>;
@group(0) @binding(1) var<storage, read_write> res: array<u32>;
@group(0) @binding(2) var<uniform> p: P;
var<workgroup> best: atomic<u32>;
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
  if (lid == 0u) { atomicStore(&best, 0xffffffffu); }
  workgroupBarrier();
  var mine = 0xffffffffu;
  for (var i = lid; i < p.count; i = i + 256u) {
    let v = idx[i];
    let inRange = v >= 0 && u32(v) < p.n;
    if (!inRange && !(p.useIgnore == 1u && v == p.ignore)) { mine = i; break; }
  }
  atomicMin(&best, mine);
  workgroupBarrier();
  if (lid == 0u) {
    let b = atomicLoad(&best);
    res[0] = b;
    res[1] = select(0u, bitcast<u32>(idx[min(b, p.count - 1u)]), b != 0xffffffffu);
  }
}`,
      bindings: [index, result],
      uniforms: u,
      workgroups: [1],
    });
    this.pendingChecks.push({ result, op, expected });
  }

  /** Reads the results of the queued index checks back; throws the first failure's Error. */
  private async resolveChecks(): Promise<void> {
    if (!this.pendingChecks.length) return;
    const checks = this.pendingChecks;
    this.pendingChecks = [];
    const staging = this.device.createBuffer({ size: 8 * checks.length, usage: Usage.MAP_READ | Usage.COPY_DST, label: 'posegrad-index-checks' });
    const enc = this.openEncoder();
    this.endPass();
    checks.forEach((c, i) => enc.copyBufferToBuffer(c.result.buffer, 0, staging, 8 * i, 8));
    this.flush();
    for (const c of checks) this.free(c.result);
    try {
      await staging.mapAsync(MAP_MODE_READ);
      await this.scopesSettled;
      this.check();
      const words = new Uint32Array(staging.getMappedRange().slice(0));
      staging.unmap();
      checks.forEach((c, i) => {
        if (words[2 * i] !== 0xffffffff) this.errors.push(new Error(`${c.op}: expected ${c.expected}, got ${words[2 * i + 1]! | 0}`));
      });
    } finally {
      staging.destroy();
    }
    this.check();
  }

  // ---------------------------------------------------------------- dispatch
  /** Encodes one compute dispatch into the open batch (see `Dispatch`). */
  run(d: Dispatch): void {
    this.check();
    const wg = [d.workgroups[0] ?? 1, d.workgroups[1] ?? 1, d.workgroups[2] ?? 1] as const;
    if (wg[0] === 0 || wg[1] === 0 || wg[2] === 0) return;
    const maxWg = this.limits.maxComputeWorkgroupsPerDimension;
    if (wg.some((v) => !Number.isInteger(v) || v < 0 || v > maxWg)) {
      throw new Error(`webgpu: kernel '${d.name}': expected workgroup counts ≤ ${maxWg}, got [${wg.join(', ')}]`);
    }
    const cached = this.pipeline(d.name, d.key, d.code);
    // Reserve uniform space first: a full arena flushes the batch.
    let uniformOffset = 0;
    let uniformSize = 0;
    if (d.uniforms) {
      uniformSize = d.uniforms.byteLength;
      if (this.arenaUsed + uniformSize > Runtime.ARENA_BYTES) this.flush();
      uniformOffset = this.arenaUsed;
      d.uniforms.writeTo(this.arenaView, uniformOffset);
      this.arenaUsed = Math.ceil((uniformOffset + uniformSize) / this.uniformAlign) * this.uniformAlign;
    }
    this.openEncoder();
    const entries: GPUBindGroupEntry[] = d.bindings.map((s, i) => ({ binding: i, resource: isStorage(s) ? { buffer: s.buffer } : s }));
    if (d.uniforms) entries.push({ binding: d.bindings.length, resource: { buffer: this.arena, offset: uniformOffset, size: uniformSize } });
    const group = this.device.createBindGroup({ layout: cached.layout, entries, label: d.name });
    for (const s of d.bindings) if (isStorage(s)) this.lastUse.set(s.buffer, this.batchId);
    if (!this.pass) this.pass = this.encoder!.beginComputePass({ label: 'posegrad' });
    this.pass.setPipeline(cached.pipeline);
    this.pass.setBindGroup(0, group);
    this.pass.dispatchWorkgroups(wg[0], wg[1], wg[2]);
    this.batchKernels.add(d.name);
    this.dispatches++;
    this.stats.dispatches++;
    if (this.dispatches >= this.maxDispatches) this.flush();
  }

  /** Encodes a buffer-to-buffer copy (e.g. concat of contiguous blocks). Sizes in bytes, multiples of 4. */
  copy(src: GPUStorage, srcOffset: number, dst: GPUStorage, dstOffset: number, bytes: number): void {
    this.check();
    if (bytes === 0) return;
    const enc = this.openEncoder();
    this.endPass();
    enc.copyBufferToBuffer(src.buffer, srcOffset, dst.buffer, dstOffset, bytes);
    this.lastUse.set(src.buffer, this.batchId);
    this.lastUse.set(dst.buffer, this.batchId);
  }

  /** Submits the open batch (if any). Nothing waits: the GPU runs while JS continues. */
  flush(): void {
    if (!this.encoder) return;
    this.endPass();
    if (this.arenaUsed > 0) this.queue.writeBuffer(this.arena, 0, this.arenaData, 0, this.arenaUsed);
    const kernels = [...this.batchKernels];
    this.queue.submit([this.encoder.finish()]);
    this.stats.submits++;
    const oom = this.device.popErrorScope();
    const validation = this.device.popErrorScope();
    const settled = Promise.all([validation, oom]).then(
      ([v, o]) => {
        for (const e of [v, o]) if (e) this.errors.push(new Error(`webgpu: kernel ${nameFrom(e.message, kernels)} failed: ${e.message}`));
      },
      (e: unknown) => {
        this.errors.push(new Error(`webgpu: error scope failed: ${String(e)}`));
      },
    );
    this.scopesSettled = Promise.all([this.scopesSettled, settled]).then(() => undefined);
    for (const b of this.deferred) b.destroy();
    this.deferred = [];
    this.encoder = null;
    this.dispatches = 0;
    this.batchKernels = new Set();
    this.arenaUsed = 0;
    this.batchId++;
  }

  private openEncoder(): GPUCommandEncoder {
    if (!this.encoder) {
      this.device.pushErrorScope('validation');
      this.device.pushErrorScope('out-of-memory');
      this.encoder = this.device.createCommandEncoder({ label: 'posegrad' });
    }
    return this.encoder;
  }

  private endPass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
  }

  private newArena(): GPUBuffer {
    return this.device.createBuffer({ size: Runtime.ARENA_BYTES, usage: Usage.UNIFORM | Usage.COPY_DST, label: 'posegrad-uniforms' });
  }

  private pipeline(name: string, key: string, code: () => string): CachedPipeline {
    const hit = this.pipelines.get(key);
    if (hit) return hit;
    const src = code();
    this.device.pushErrorScope('validation');
    const module = this.device.createShaderModule({ code: src, label: name });
    const pipeline = this.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: name });
    const layout = pipeline.getBindGroupLayout(0);
    const entry = { pipeline, layout };
    this.pipelines.set(key, entry);
    this.stats.pipelinesCreated++;
    const scope = this.device.popErrorScope().then(async (e) => {
      if (!e) return;
      this.pipelines.delete(key);
      let detail = '';
      try {
        const info = await module.getCompilationInfo();
        detail = info.messages.filter((m) => m.type === 'error').map((m) => ` [line ${m.lineNum}:${m.linePos}] ${m.message}`).join('');
      } catch {
        // compilation info is optional
      }
      // Put the precise (named) error first: the batch that used this pipeline fails too.
      this.errors.unshift(new Error(`webgpu: kernel '${name}' failed to build its pipeline (key ${key}): ${e.message}${detail}`));
    });
    this.scopesSettled = Promise.all([this.scopesSettled, scope]).then(() => undefined);
    return entry;
  }

  /** Throws the first pending asynchronous error (then forgets the others of that failure), or a lost device. */
  check(): void {
    if (this.lostError) throw this.lostError;
    if (this.destroyed) throw new Error('webgpu: expected a live backend, got one that was destroyed');
    if (this.errors.length) {
      const first = this.errors[0]!;
      this.errors.length = 0;
      throw first;
    }
  }

  /** Releases the device (pending work is abandoned). The runtime is unusable afterwards. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.pipelines.clear();
    this.pool.trim();
    this.device.destroy();
  }

  /** The acquired device (adapter, source), for diagnostics. */
  get info(): AcquiredDevice {
    return this.acquired;
  }
}

function isStorage(s: GPUStorage | GPUTextureView): s is GPUStorage {
  return (s as GPUStorage).buffer !== undefined;
}

/** The kernel named by a Dawn message label (`[ComputePipeline "matmul"]`), else the batch's kernels. */
function nameFrom(message: string, kernels: readonly string[]): string {
  for (const k of kernels) if (message.includes(`"${k}"`)) return `'${k}'`;
  return kernels.length === 1 ? `'${kernels[0]}'` : `in the batch [${kernels.join(', ')}]`;
}
