/// <reference types="@webgpu/types" />
/**
 * The WebGPU runtime: segment pool (storages as blocks of shared buffers), pipeline cache, command batching, uploads, reads, device limits
 * (binding windows, workgroup grids), error reporting and device loss. Every kernel in kernels/*.ts
 * is written against this small API. docs/webgpu.md has the user-facing summary.
 *
 * ## Writing a kernel (the whole API a kernel author needs)
 *
 * ```ts
 * import { entry, GRID_INDEX, grid, Uniforms, type GPUStorage, type Runtime } from '../runtime.js';
 *
 * // entry(op, f): runs f as the op `op` (named in every error; frees its allocations if it throws)
 * export const myKernel = entry('myKernel', (rt: Runtime, x: GPUStorage, n: number): GPUStorage => {
 *   const out = rt.alloc(n * 4);                       // output storage (pooled), bytes
 *   const u = new Uniforms().u32('n', n).f32('alpha', 0.5);
 *   rt.run({
 *     name: 'myKernel',                                 // names the kernel (the WGSL) in errors
 *     key: 'myKernel:f32',                              // pipeline cache key: everything the WGSL depends on
 *     code: () => `
 *       ${u.struct('P')}                                // struct P { n: u32, alpha: f32, }
 *       @group(0) @binding(0) var<storage, read> x: array<f32>;
 *       @group(0) @binding(1) var<storage, read_write> y: array<f32>;
 *       @group(0) @binding(2) var<uniform> p: P;         // uniforms come right after the buffers
 *       @compute @workgroup_size(256)
 *       fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
 *               @builtin(local_invocation_index) lid: u32) {
 *         let i = ${GRID_INDEX('256u')};                // flat index over a 3-D grid (see grid())
 *         if (i >= p.n) { return; }
 *         y[i] = x[i] * p.alpha;
 *       }`,
 *     bindings: [x, out],                               // @binding(0), @binding(1), ... in order
 *     uniforms: u,                                      // @binding(bindings.length)
 *     workgroups: grid(rt, Math.ceil(n / 256)),          // [x, y, z]; a count of 0 skips the dispatch
 *   });
 *   return out;
 * });
 * ```
 *
 * - Shapes go in uniforms, never in the WGSL text, so one pipeline serves every shape; put in `key`
 *   exactly what changes the WGSL (dtype, op, tile sizes, flags). `code` runs once per key.
 * - `Uniforms` lays out scalars (u32/i32/f32, 4 bytes each) and `array<vec4<u32|i32>, n>` fields
 *   (16-byte aligned, read them with `p.dims[i / 4u][i % 4u]`), following WGSL's uniform layout.
 *   `set(name, v)` changes a scalar between dispatches (`run` copies the block when it is called).
 * - Storage is always contiguous, 4 bytes per element (f32 or i32; data movement kernels may treat
 *   both as u32 bits). float64 never reaches a kernel: uploads, fills and casts reject it.
 * - Temporary buffers: `rt.alloc(bytes)` then `rt.free(s)` once the dispatches that use it are
 *   encoded; the queue runs commands in order, so a freed block reused by a later dispatch is safe.
 *   Storages are blocks of shared buffers (SegmentPool); inside an `entry`, every allocation lands
 *   in a buffer that holds none of the op's inputs (found in its arguments) and none of its other
 *   allocations, so a dispatch never binds one buffer written and bound again (`run` checks it).
 *   A kernel that binds a storage it was not passed (a cached table) must pass it in the arguments.
 * - Host tables (index maps, weights): `rt.upload(new Int32Array(...))` is safe at any point.
 * - Textures: `rt.allocTexture(width, height)` gives a pooled rgba32float 2-D texture usable as a
 *   write-only storage texture and as a sampled texture; pass `tex.createView()` in `bindings`
 *   (a binding is a GPUStorage, a BufferWindow or a GPUTextureView) and `rt.freeTexture(tex)` afterwards.
 *
 * ## Device limits
 * The device is created with the adapter's own limits (device.ts), and kernels still keep to
 * WebGPU's defaults for workgroup size (256 invocations) and workgroup memory (16 KiB).
 * - **Workgroup counts** (`maxComputeWorkgroupsPerDimension`, 65,535): a kernel never dispatches
 *   more than that in one dimension. One-dimensional kernels take `grid(rt, groups)`, which folds
 *   the count into a 2-D or 3-D grid, and read their flat index with GRID_INDEX / GRID_GROUP (and
 *   return early past the end: a folded grid has a few extra workgroups). Kernels with a logical
 *   [X, Y, Z] grid (matmul, conv, attention...) take `grid3(rt, u, [X, Y, Z])`, which adds three
 *   uniforms and folds X·Y·Z the same way; their WGSL names the builtins `pg_wid`/`pg_nwg`
 *   (GRID3_ARGS) and starts with GRID3_DECODE, which defines the logical `wid` (and returns from the
 *   extra workgroups). `run` rejects a count above the limit at once, naming the op.
 * - **Binding size** (`maxStorageBufferBindingSize`, 128 MiB on lavapipe and most GPUs; the buffer
 *   itself may be larger, up to `maxBufferSize`): a storage is bound as its `bytes` at its offset
 *   (not its whole buffer). A kernel that handles larger tensors binds windows instead: `rt.window(s, lo, hi)`
 *   gives a binding of elements [lo, hi) starting at an aligned element `base` (offsets are
 *   multiples of `minStorageBufferOffsetAlignment`), and the kernel reads element e as
 *   `x[e - base]`; `rt.planRanges(n, spans)` splits an index range into chunks whose windows fit,
 *   and the kernel dispatches once per chunk (fast path: one chunk, whole storages, base 0). The
 *   chunked kernels: elementwise (unary, binary, where, cast, fill, unaryGrad), reductions
 *   (sum/prod/max/min), batchNormForward, strided copies (permute/slice/flip), concat, conv2d
 *   (forward and both backwards, split over the batch) and matmul (blocks of batches or of rows
 *   of A, on buffer copies); pad, gather, indexSelect and scatterAdd (ranges of output elements).
 *   Kernels whose work is independent over an outer index (softmax, layerNorm, pooling,
 *   interpolate, gridSample, deformConv2d, attention) use `rt.splitOuter(outer, parts, what, f)`
 *   instead: it cuts each batched storage into views (`rt.view`, a GPUStorage with an `offset`)
 *   of whole slices at aligned offsets, and `f` runs the unchanged kernel on each block as on a
 *   smaller tensor.
 *   Every other kernel that is handed a tensor above the limit throws at the op's call, before any
 *   GPU work: `"<op>: expected at most <limit> bytes per tensor bound by a webgpu kernel
 *   (maxStorageBufferBindingSize), got <bytes> bytes ..."`.
 * - Test hooks (RuntimeOptions, or the POSEGRAD_WEBGPU_MAX_BINDING_BYTES /
 *   POSEGRAD_WEBGPU_MAX_WORKGROUPS environment variables in Node): `maxBindingBytes` and
 *   `maxWorkgroupsPerDimension` lower the two limits, so that small tensors take the chunked and
 *   folded paths (test/webgpu/limits.test.ts).
 *
 * ## Errors and where they arrive
 * Kernel entry points run inside `rt.op(name, fn)` (via `entry`): every error names the op, and the
 * op's allocations are released if it throws.
 * - At the op's call (synchronous): bad input, a tensor above the binding size or `maxBufferSize`,
 *   a grid above the workgroup limits, a lost device.
 * - At the next sync point, a `sync()` or `read()` (`await t.data()`, `toAsync`, `engine.sync`),
 *   or an earlier op call if the error has arrived by then: WGSL compilation errors, validation
 *   errors of the encoded commands, and out-of-memory errors (buffer creation is wrapped in its own
 *   error scope; dispatches in the error scopes of their batch). Their message is
 *   `"webgpu: <op>: kernel '<kernel>' failed: <driver message>"` (or lists the ops of the batch when
 *   the driver's message names none of them). WebGPU reports these asynchronously by design; an
 *   error scope per op would cost a promise per op and still not catch command-buffer validation,
 *   which happens at submit.
 * - Index checks (`checkIndices`): at the call for host-known indices, else at the next sync point.
 *
 * ## Device loss
 * `lost` turns true when `device.lost` resolves (driver reset, GPU removed, `device.destroy()`) or
 * after `destroy()`. From then on every entry point (alloc, upload, read, run, copy, sync) throws
 * `"webgpu: the device was lost (<reason>); call init('webgpu') again and re-create the tensors
 * ..."`; `free` is a no-op (disposing tensors of a lost device is fine).
 *
 * ## Hazards handled here
 * - `queue.writeBuffer` executes at the next submit, *before* the commands still sitting in the
 *   open encoder. An upload into a buffer that the open batch uses therefore submits the batch
 *   first (`upload`).
 * - A buffer is destroyed (pool trimming, staging) only after the batch that uses it is submitted.
 */
import type { AcquiredDevice } from './device.js';

/** GPUBufferUsage / GPUMapMode values (the spec's constants; Node has no globals for them). */
export const Usage = { MAP_READ: 0x1, MAP_WRITE: 0x2, COPY_SRC: 0x4, COPY_DST: 0x8, UNIFORM: 0x40, STORAGE: 0x80 } as const;
const MAP_MODE_READ = 0x1;

/**
 * A tensor's storage on the GPU: `bytes` bytes at byte `offset` of a GPUBuffer. An allocated
 * storage is a block of a shared buffer (a segment of the pool, see SegmentPool); a view
 * (`Runtime.view`) is a range of another storage.
 */
export interface GPUStorage {
  readonly buffer: GPUBuffer;
  /** Bytes of data (elements · 4). Its block may be larger (rounded up to the offset alignment). */
  readonly bytes: number;
  /**
   * The values, when the storage was uploaded from int32 host data of at most HOST_COPY_MAX
   * elements (storages are immutable, so the copy stays right): index tensors are checked on the
   * host from it, without a GPU readback (see `checkIndices`).
   */
  readonly host?: Int32Array;
  /**
   * The byte offset of the data in `buffer` (a multiple of minStorageBufferOffsetAlignment; absent
   * means 0). A storage is bound, copied and read at that offset.
   */
  readonly offset?: number;
  /**
   * Set on a view (`Runtime.view`): it owns nothing and is never freed. (A view and its storage are
   * never bound by one dispatch, one read and the other written: WebGPU forbids a writable binding
   * beside any other binding of the same buffer.)
   */
  readonly view?: true;
}

/** int32 uploads up to this many elements keep a host copy (`GPUStorage.host`). */
export const HOST_COPY_MAX = 1 << 20;

/** A deferred index check (`checkIndices`): its result words and how to report a bad index. */
interface PendingCheck {
  readonly result: GPUStorage;
  readonly op: string;
  readonly expected: string;
}

/**
 * A byte range of a storage bound as one binding (made by `Runtime.window`): `offset` is a multiple
 * of minStorageBufferOffsetAlignment and `size` at most the runtime's `maxBindingBytes`.
 */
export interface BufferWindow {
  readonly storage: GPUStorage;
  /** Byte offset into the storage's buffer. */
  readonly offset: number;
  /** Bytes bound. */
  readonly size: number;
}

/** What a dispatch binds at one @binding: a whole storage, a window of one, or a texture view. */
export type Binding = GPUStorage | BufferWindow | GPUTextureView;

/** One compute dispatch. See the header for the conventions. */
export interface Dispatch {
  /** Kernel name, used in labels and error messages. */
  readonly name: string;
  /** Pipeline cache key: must determine the WGSL text completely. */
  readonly key: string;
  /** Builds the WGSL source (entry point `main`); called once per key. */
  readonly code: () => string;
  /** Storage buffers, windows or texture views bound at @group(0) @binding(0..n-1), in order. */
  readonly bindings: readonly Binding[];
  /** Bound at @binding(bindings.length) as a uniform buffer. */
  readonly uniforms?: Uniforms;
  /** Workgroup counts [x, y, z]; a zero anywhere skips the dispatch. */
  readonly workgroups: readonly number[];
}

/** A range-splitting constraint for `Runtime.planRanges`: a storage and the elements a range reads. */
export interface Span {
  readonly s: GPUStorage;
  /** Elements [lo, hi) of `s` touched by the index range [i0, i1); must grow with the range. */
  readonly span: (i0: number, i1: number) => readonly [number, number];
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
  /** Changes the value of scalar field `name` (for the next `run`; `run` copies the block at once). */
  set(name: string, v: number): this {
    const f = this.fields.find((x) => x.name === name && x.vec4s === 0);
    if (!f) throw new Error(`webgpu: expected a scalar uniform '${name}', got none`);
    f.values = [v];
    return this;
  }
  /** True when a field of that name exists. */
  has(name: string): boolean {
    return this.fields.some((x) => x.name === name);
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
 * WGSL expression for a flat invocation index over a grid made by `grid()` (1-D, 2-D or 3-D):
 * needs `wid` (workgroup_id), `nwg` (num_workgroups) and `lid` (local_invocation_index) in scope.
 * A folded grid has up to one row of extra workgroups: the kernel returns past its element count.
 */
export const GRID_INDEX = (wgSize: string): string => `((wid.z * nwg.y + wid.y) * nwg.x + wid.x) * ${wgSize} + lid`;
/** Flat workgroup index over a grid made by `grid()` (return early when it is past the count). */
export const GRID_GROUP = '((wid.z * nwg.y + wid.y) * nwg.x + wid.x)';

/** Folds `groups` workgroups into [x, y, z] counts of at most `max` each (x·y·z ≥ groups). */
function fold(rt: Runtime, groups: number, what: string): [number, number, number] {
  const max = rt.maxWorkgroups;
  if (groups <= max) return [groups, 1, 1];
  const y = Math.ceil(groups / max);
  if (y <= max) return [Math.ceil(groups / y), y, 1];
  const z = Math.ceil(groups / (max * max));
  if (z > max || groups > 0xffffffff) {
    throw new Error(`${rt.opName ?? 'webgpu'}: expected at most ${Math.min(max ** 3, 0xffffffff)} workgroups (${max} per dimension) ${what}, got ${groups}`);
  }
  const rest = Math.ceil(groups / z);
  const yy = Math.ceil(rest / max);
  return [Math.ceil(rest / yy), yy, z];
}

/**
 * Workgroup counts for `groups` workgroups, folded into a 2-D or 3-D grid when above the
 * per-dimension limit (maxComputeWorkgroupsPerDimension, or the runtime's lowered test limit).
 * Read the flat index with GRID_INDEX / GRID_GROUP and return past the end.
 * @throws Error naming the op when even a 3-D grid cannot hold them (above 65,535³ on real devices).
 */
export function grid(rt: Runtime, groups: number): [number, number, number] {
  return fold(rt, groups, 'in a 1-D dispatch');
}

/**
 * A logical grid of X·Y·Z workgroups, any size: adds the uniforms `pg_gx`, `pg_gy`, `pg_gn` to `u`
 * (call it before `u.struct`, in the same order for every call of a pipeline) and returns the
 * physical workgroup counts, the flat count X·Y·Z folded by `grid`. The kernel declares its
 * builtins with GRID3_ARGS and starts with GRID3_DECODE, which defines `wid` (the logical
 * workgroup id, x fastest, as a direct [X, Y, Z] dispatch would number them) and returns from the
 * extra workgroups of the fold. Every value involved is workgroup-uniform, so barriers after it
 * stay in uniform control flow.
 */
export function grid3(rt: Runtime, u: Uniforms, counts: readonly [number, number, number]): [number, number, number] {
  const [X, Y, Z] = counts;
  const total = X * Y * Z;
  u.u32('pg_gx', Math.max(1, X)).u32('pg_gy', Math.max(1, Y)).u32('pg_gn', total);
  if (total === 0) return [0, 1, 1];
  return fold(rt, total, `for a [${X}, ${Y}, ${Z}] grid`);
}

/** The entry point's builtin parameters for GRID3_DECODE (plus `lid`). */
export const GRID3_ARGS = '@builtin(workgroup_id) pg_wid: vec3<u32>, @builtin(num_workgroups) pg_nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32';
/** WGSL: the logical workgroup id `wid` of a `grid3` dispatch (uniforms in `p`). */
export const GRID3_DECODE = `let pg_l = (pg_wid.z * pg_nwg.y + pg_wid.y) * pg_nwg.x + pg_wid.x;
  if (pg_l >= p.pg_gn) { return; }
  let wid = vec3<u32>(pg_l % p.pg_gx, (pg_l / p.pg_gx) % p.pg_gy, pg_l / (p.pg_gx * p.pg_gy));`;

/**
 * Elements [lo, hi) that a strided read touches for the flat output range [i0, i1) of `shape`
 * (row-major), element i reading `base + Σ_d coord_d(i) · strides[d]` (strides may be 0 or
 * negative). A bound, exact when the range covers whole rows: dims after the first one on which
 * the two ends differ are taken over their full extent.
 */
export function stridedSpan(shape: readonly number[], strides: readonly number[], base: number, i0: number, i1: number): [number, number] {
  const r = shape.length;
  const c = new Array<number>(r);
  const e = new Array<number>(r);
  let a = i0;
  let b = i1 - 1;
  for (let d = r - 1; d >= 0; d--) {
    const n = shape[d]!;
    c[d] = a % n;
    e[d] = b % n;
    a = Math.floor(a / n);
    b = Math.floor(b / n);
  }
  let lo = base;
  let hi = base;
  let d = 0;
  for (; d < r && c[d] === e[d]; d++) {
    lo += c[d]! * strides[d]!;
    hi += c[d]! * strides[d]!;
  }
  if (d < r) {
    const s = strides[d]!;
    lo += Math.min(c[d]! * s, e[d]! * s);
    hi += Math.max(c[d]! * s, e[d]! * s);
    for (d++; d < r; d++) {
      const ext = (shape[d]! - 1) * strides[d]!;
      lo += Math.min(0, ext);
      hi += Math.max(0, ext);
    }
  }
  return [lo, hi + 1];
}

// ------------------------------------------------------------------------------------ segment pool

/** Largest shared segment (a GPUBuffer that holds many storages); larger requests get their own. */
export const SEGMENT_BYTES = 8 * 1024 * 1024;
/** Smallest segment. */
export const MIN_SEGMENT_BYTES = 1024 * 1024;

/**
 * Bytes of the segment made for a request of `bytes` (rounded to the offset alignment) that no
 * free range holds, when the pool already holds `pooled` bytes of segments: the request itself
 * above SEGMENT_BYTES; else a power of two of at least twice the request and an eighth of the
 * pool, between MIN_SEGMENT_BYTES and SEGMENT_BYTES. Segments grow with the pool, so a small
 * network holds small segments (Dawn zero-fills a buffer at its first use, so on lavapipe a
 * segment is resident in full however little of it is used: a tiny FaSRnet held 31 MiB of 8 MiB
 * segments for 3 MiB of tensors), and a large one 8 MiB segments, which fit its tensors best
 * (a paper-size FaSRnet forward needed 349 MiB of segments with 8 MiB ones, 369 MiB with
 * segments sized by the request alone).
 */
export function segmentSize(bytes: number, pooled = 0): number {
  if (bytes > SEGMENT_BYTES) return bytes;
  const want = Math.max(2 * bytes, pooled / 8, MIN_SEGMENT_BYTES);
  return Math.min(SEGMENT_BYTES, 2 ** Math.ceil(Math.log2(want)));
}

/** A GPUBuffer cut into blocks: storages at aligned offsets, and the free ranges between them. */
interface Segment {
  readonly buffer: GPUBuffer;
  readonly size: number;
  /** Free ranges [offset, offset + size), sorted by offset, never adjacent (they are merged). */
  readonly free: { offset: number; size: number }[];
  freeBytes: number;
}

/** An allocated block: `size` bytes at `offset` of `segment` (size ≥ the storage's bytes). */
interface Block {
  readonly segment: Segment;
  readonly offset: number;
  readonly size: number;
}

/**
 * Storages live in blocks of shared GPUBuffers (segments), the design of PyTorch's CUDA caching
 * allocator (c10/cuda/CUDACachingAllocator.cpp: blocks split from segments, merged with their free
 * neighbours when released, segments released only when wholly free):
 * - a request is rounded up to `align` bytes (minStorageBufferOffsetAlignment, 256) and served by
 *   the best-fitting free range of any segment it may use (the smallest range that holds it,
 *   lowest offset on ties), split off the range's start;
 * - with no such range, a new segment is made (`segmentSize`): a power of two from 1 to 8 MiB, at
 *   least twice the request and an eighth of the pool, or the request itself above 8 MiB (a large
 *   tensor gets its own buffer, which later requests can split once it is free);
 * - a released block merges with the free ranges on either side, so neighbouring frees become one
 *   range again (the old pool of whole buffers in size classes could not merge them: after a
 *   paper-size FaSRnet forward it held 190 MiB of free buffers made for 70 MiB of live
 *   intermediates, most of them of sizes no later request fitted);
 * - `avoid`: segments the request must not use. WebGPU forbids binding a buffer writable beside any
 *   other binding of the same buffer in one dispatch (and a copy from a buffer to itself), so an
 *   op's outputs and temporaries are placed in segments that hold none of its inputs and none of
 *   its other allocations (`Runtime.op`);
 * - a wholly free segment counts in `pooledBytes` like any free range; above `maxPooledBytes` it is
 *   destroyed when the GPU is done with it (at once, or by `reclaim` once its batch completes: see
 *   `release`). A segment with any live block stays.
 * On lavapipe a buffer is host memory whose pages count in the RSS once written; a free range of a
 * segment keeps its pages. docs/webgpu.md has the measurements.
 */
class SegmentPool {
  private readonly segments = new Set<Segment>();
  /** Free bytes in all segments (wholly free segments included). */
  pooledBytes = 0;
  /** Bytes of every segment (in use or free). */
  allocatedBytes = 0;
  constructor(
    private readonly create: (size: number) => GPUBuffer,
    private readonly maxPooledBytes: number,
    private readonly maxBufferSize: number,
    private readonly align: number,
    private readonly destroy: (b: GPUBuffer) => void,
    /** True when the GPU has finished every command that uses the buffer. */
    private readonly idle: (b: GPUBuffer) => boolean,
  ) {}

  acquire(bytes: number, avoid: ReadonlySet<GPUBuffer> | null): Block {
    const n = Math.ceil(Math.max(16, bytes) / this.align) * this.align;
    let best: Segment | null = null;
    let bestIndex = -1;
    let bestSize = Infinity;
    for (const seg of this.segments) {
      if (seg.freeBytes < n || avoid?.has(seg.buffer)) continue;
      for (let i = 0; i < seg.free.length; i++) {
        const r = seg.free[i]!;
        if (r.size >= n && r.size < bestSize) {
          best = seg;
          bestIndex = i;
          bestSize = r.size;
          if (r.size === n) break;
        }
      }
      if (bestSize === n) break;
    }
    if (!best) {
      const cap = Math.floor(this.maxBufferSize / this.align) * this.align;
      const size = Math.max(n, Math.min(segmentSize(n, this.allocatedBytes), cap));
      best = { buffer: this.create(size), size, free: [{ offset: 0, size }], freeBytes: size };
      this.segments.add(best);
      this.allocatedBytes += size;
      this.pooledBytes += size;
      bestIndex = 0;
    }
    const r = best.free[bestIndex]!;
    const block: Block = { segment: best, offset: r.offset, size: n };
    if (r.size === n) best.free.splice(bestIndex, 1);
    else {
      r.offset += n;
      r.size -= n;
    }
    best.freeBytes -= n;
    this.pooledBytes -= n;
    return block;
  }

  /**
   * Takes a block back, merged with its free neighbours. When that frees its whole segment and the
   * pool is above `maxPooledBytes`, the segment is destroyed if the GPU is done with it; otherwise
   * it stays, and `reclaim` destroys it once its batch completes. (Destroying a buffer that queued
   * commands still use frees nothing until the GPU passes them, while a new one would be made for
   * the next request: on lavapipe, where the GPU runs far behind the encoder, that turned every
   * release into growth, 9 GiB of RSS over 2.3 GiB of live tensors for GLPose.)
   */
  release(block: Block): void {
    const seg = block.segment;
    const free = seg.free;
    // The first free range after the block (binary search), then merge with it and the one before.
    let lo = 0;
    let hi = free.length;
    while (lo < hi) {
      const m = (lo + hi) >> 1;
      if (free[m]!.offset < block.offset) lo = m + 1;
      else hi = m;
    }
    const prev = lo > 0 ? free[lo - 1]! : null;
    const next = lo < free.length ? free[lo]! : null;
    const end = block.offset + block.size;
    if (prev && prev.offset + prev.size > block.offset) throw new Error(`webgpu: internal: block at ${block.offset} released twice`);
    if (next && next.offset < end) throw new Error(`webgpu: internal: block at ${block.offset} released twice`);
    if (prev && prev.offset + prev.size === block.offset) {
      prev.size += block.size;
      if (next && next.offset === end) {
        prev.size += next.size;
        free.splice(lo, 1);
      }
    } else if (next && next.offset === end) {
      next.offset = block.offset;
      next.size += block.size;
    } else {
      free.splice(lo, 0, { offset: block.offset, size: block.size });
    }
    seg.freeBytes += block.size;
    this.pooledBytes += block.size;
    if (seg.freeBytes === seg.size && this.pooledBytes > this.maxPooledBytes && this.idle(seg.buffer)) this.drop(seg);
  }

  private drop(seg: Segment): void {
    this.segments.delete(seg);
    this.pooledBytes -= seg.size;
    this.allocatedBytes -= seg.size;
    this.destroy(seg.buffer);
  }

  /**
   * Destroys wholly free segments the GPU is done with, largest first, until the pool holds at
   * most `maxPooledBytes` free. Returns the bytes destroyed.
   */
  reclaim(): number {
    if (this.pooledBytes <= this.maxPooledBytes) return 0;
    let freed = 0;
    const empty = [...this.segments].filter((s) => s.freeBytes === s.size).sort((a, b) => b.size - a.size);
    for (const seg of empty) {
      if (this.pooledBytes <= this.maxPooledBytes) break;
      if (!this.idle(seg.buffer)) continue;
      freed += seg.size;
      this.drop(seg);
    }
    return freed;
  }

  /** Destroys every wholly free segment. */
  trim(): void {
    for (const seg of [...this.segments]) if (seg.freeBytes === seg.size) this.drop(seg);
  }
}

// ------------------------------------------------------------------------------------ runtime

export interface RuntimeOptions {
  /** Dispatches per submitted command buffer (default 32): smaller batches start the GPU sooner. */
  maxDispatchesPerBatch?: number;
  /**
   * Free bytes the pool keeps (default 512 MiB): free ranges of the segments, wholly free segments
   * included. Above them, wholly free segments are destroyed once the GPU is done with them: at
   * once when it is, else when their batch completes (see SegmentPool.release for why not
   * earlier). A segment with a live block stays, whatever its free bytes.
   */
  maxPooledBytes?: number;
  /**
   * Test hook: a binding size limit (bytes) below the device's maxStorageBufferBindingSize, so that
   * small tensors take the chunked (windowed) paths. Default: the device's limit, or the
   * POSEGRAD_WEBGPU_MAX_BINDING_BYTES environment variable (Node). Rounded down to a multiple of
   * minStorageBufferOffsetAlignment (and of 16).
   */
  maxBindingBytes?: number;
  /**
   * Test hook: workgroups per grid dimension below maxComputeWorkgroupsPerDimension, so that small
   * shapes take the folded-grid paths. Default: the device's limit, or the
   * POSEGRAD_WEBGPU_MAX_WORKGROUPS environment variable (Node).
   */
  maxWorkgroupsPerDimension?: number;
}

interface CachedPipeline {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  /** The bindings the WGSL declares `var<storage, read_write>` (checked against aliasing in `run`). */
  writable: number[];
}

/** A dispatch of the open batch, for error messages: its op, kernel and bind group label. */
interface BatchEntry {
  readonly op: string;
  readonly kernel: string;
  readonly label: string;
}

function envNumber(name: string): number | undefined {
  const env = typeof process !== 'undefined' && process.env ? process.env : {};
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`webgpu: expected ${name} to be a positive number, got '${v}'`);
  return n;
}

function isWindow(b: Binding): b is BufferWindow {
  return (b as BufferWindow).storage !== undefined && (b as BufferWindow).offset !== undefined;
}

function isStorage(b: Binding): b is GPUStorage {
  return (b as GPUStorage).buffer !== undefined;
}

/** Bytes a whole storage is bound with: its data, in whole 16-byte units (vec4 arrays), ≥ 16. */
function bindBytes(s: GPUStorage): number {
  return Math.min(s.buffer.size - (s.offset ?? 0), Math.ceil(Math.max(16, s.bytes) / 16) * 16);
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** A storage cut into `outer` equal slices of `per` elements (for `Runtime.splitOuter`). */
export type OuterPart = readonly [s: GPUStorage, per: number];

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
  /** Largest binding, bytes: maxStorageBufferBindingSize (or the lower `maxBindingBytes` test option). */
  readonly maxBindingBytes: number;
  /** Workgroups per grid dimension: maxComputeWorkgroupsPerDimension (or the lower test option). */
  readonly maxWorkgroups: number;
  /** minStorageBufferOffsetAlignment, bytes: binding windows start at multiples of it. */
  readonly storageAlign: number;
  private readonly acquired: AcquiredDevice;
  private readonly pool: SegmentPool;
  /** The pool block of each allocated storage (views and freed storages have none). */
  private readonly blocks = new WeakMap<GPUStorage, Block>();
  /** Buffers the running op's allocations must avoid: its inputs' and its own allocations' (see `op`). */
  private opAvoid: Set<GPUBuffer> | null = null;
  private readonly pipelines = new Map<string, CachedPipeline>();
  private readonly maxDispatches: number;
  private readonly uniformAlign: number;

  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private dispatches = 0;
  private batch = new Map<string, BatchEntry>();
  /** Id of the open batch; buffers remember the batch that last bound them. */
  private batchId = 0;
  private readonly lastUse = new WeakMap<GPUBuffer, number>();
  /** Id of the last batch the GPU has finished (its onSubmittedWorkDone resolved), -1 before any. */
  private completedBatch = -1;
  private deferred: (GPUBuffer | GPUTexture)[] = [];

  private arena: GPUBuffer;
  private readonly arenaData: ArrayBuffer;
  private readonly arenaView: DataView;
  private arenaUsed = 0;
  private static readonly ARENA_BYTES = 64 * 1024;

  /** Errors reported asynchronously (error scopes, uncaptured errors), thrown by the next check. */
  private readonly errors: Error[] = [];
  /** Why the device was lost (`device.lost`'s reason and message), or null while it lives. */
  private lostReason: string | null = null;
  private destroyed = false;
  /** Settles when the error scopes of every submitted batch have been popped. */
  private scopesSettled: Promise<void> = Promise.resolve();

  /** The op running (see `op`), named in errors; null between ops. */
  private currentOp: string | null = null;
  /** Storages and textures allocated by the running op and not freed yet (released if it throws). */
  private opAllocs: Set<GPUStorage> | null = null;
  private opTextures: Set<GPUTexture> | null = null;

  /** Counters for tests and benchmarks. */
  readonly stats = { dispatches: 0, submits: 0, pipelinesCreated: 0, uploadFlushes: 0, windowedDispatches: 0 };

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
    this.storageAlign = Math.max(16, this.limits.minStorageBufferOffsetAlignment);
    const bindLimit = Math.min(this.limits.maxStorageBufferBindingSize, this.limits.maxBufferSize);
    const wantBind = opts.maxBindingBytes ?? envNumber('POSEGRAD_WEBGPU_MAX_BINDING_BYTES') ?? bindLimit;
    this.maxBindingBytes = Math.floor(Math.min(bindLimit, wantBind) / this.storageAlign) * this.storageAlign;
    if (this.maxBindingBytes < this.storageAlign) {
      throw new Error(`webgpu: expected maxBindingBytes ≥ ${this.storageAlign} (minStorageBufferOffsetAlignment), got ${wantBind}`);
    }
    const wantWg = opts.maxWorkgroupsPerDimension ?? envNumber('POSEGRAD_WEBGPU_MAX_WORKGROUPS') ?? this.limits.maxComputeWorkgroupsPerDimension;
    this.maxWorkgroups = Math.floor(Math.min(this.limits.maxComputeWorkgroupsPerDimension, wantWg));
    if (this.maxWorkgroups < 2) throw new Error(`webgpu: expected maxWorkgroupsPerDimension ≥ 2, got ${wantWg}`);
    const idle = (b: GPUBuffer): boolean => (this.lastUse.get(b) ?? -1) <= this.completedBatch;
    this.pool = new SegmentPool((size) => this.createStorageBuffer(size), opts.maxPooledBytes ?? 512 * 1024 * 1024, this.limits.maxBufferSize, this.storageAlign, (b) => this.deferDestroy(b), idle);
    this.arenaData = new ArrayBuffer(Runtime.ARENA_BYTES);
    this.arenaView = new DataView(this.arenaData);
    this.arena = this.newArena();
    this.device.addEventListener('uncapturederror', (ev) => {
      const e = (ev as GPUUncapturedErrorEvent).error;
      this.errors.push(new Error(`webgpu: uncaptured error (ops in flight: ${this.describeBatch() || 'none'}): ${e.message}`));
    });
    void this.device.lost.then((info) => {
      const msg = (info.message ?? '').trim();
      this.lostReason ??= `${info.reason}${msg ? `: ${msg}` : ''}`;
    });
  }

  /**
   * True once the device is lost (`device.lost` resolved: a driver reset, the GPU removed,
   * `device.destroy()`) or this runtime was destroyed. Every entry point then throws; re-create the
   * backend (`init('webgpu')`) and its tensors.
   */
  get lost(): boolean {
    return this.destroyed || this.lostReason !== null;
  }

  /** The op running (inside `op`), or null. */
  get opName(): string | null {
    return this.currentOp;
  }

  // ---------------------------------------------------------------- ops
  /**
   * Runs `fn` as the op `name`: errors of its dispatches and limit checks name it, and if `fn`
   * throws, the storages and textures it allocated (and did not free) are released before the
   * Error propagates. Nested calls (a kernel calling another) belong to the outer op.
   * `inputs` (the op's arguments; `entry` passes them): the storages found in them, and each
   * storage the op allocates, put their buffers off limits for the op's later allocations, so that
   * no dispatch of the op binds one buffer both written and bound again (WebGPU forbids it) when
   * storages share segments.
   * @throws the lost-device Error, or whatever `fn` throws.
   */
  op<T>(name: string, fn: () => T, inputs?: readonly unknown[]): T {
    if (this.currentOp !== null) {
      if (inputs && this.opAvoid) collectBuffers(inputs, this.opAvoid, 0);
      return fn();
    }
    this.check();
    this.currentOp = name;
    const allocs = (this.opAllocs = new Set());
    const textures = (this.opTextures = new Set());
    const avoid = (this.opAvoid = new Set());
    if (inputs) collectBuffers(inputs, avoid, 0);
    try {
      return fn();
    } catch (e) {
      this.opAllocs = null;
      this.opTextures = null;
      for (const s of allocs) this.free(s);
      for (const t of textures) this.freeTexture(t);
      throw e;
    } finally {
      this.currentOp = null;
      this.opAllocs = null;
      this.opTextures = null;
      this.opAvoid = null;
    }
  }

  /** The Error for a tensor (or binding) of `bytes` bytes above the binding limit, naming the op. */
  tooLarge(bytes: number, detail = ''): Error {
    const lowered = this.maxBindingBytes < this.limits.maxStorageBufferBindingSize ? `, lowered to ${this.maxBindingBytes} by the maxBindingBytes option` : '';
    return new Error(
      `${this.currentOp ?? 'webgpu'}: expected at most ${this.maxBindingBytes} bytes per tensor bound by a webgpu kernel ` +
        `(the device's maxStorageBufferBindingSize is ${this.limits.maxStorageBufferBindingSize}${lowered}), got ${bytes} bytes${detail ? ` (${detail})` : ''}; ` +
        'docs/webgpu.md lists the webgpu ops that split larger tensors, and how',
    );
  }

  // ---------------------------------------------------------------- memory
  /** A storage of `bytes` bytes (uninitialized contents) from the pool. */
  alloc(bytes: number): GPUStorage {
    this.check();
    if (bytes > this.limits.maxBufferSize) {
      throw new Error(`${this.currentOp ?? 'webgpu'}: expected at most ${this.limits.maxBufferSize} bytes per tensor on this webgpu device (maxBufferSize), got ${bytes} bytes`);
    }
    const block = this.pool.acquire(bytes, this.opAvoid);
    const s: GPUStorage = block.offset === 0 ? { buffer: block.segment.buffer, bytes } : { buffer: block.segment.buffer, bytes, offset: block.offset };
    this.blocks.set(s, block);
    this.opAllocs?.add(s);
    this.opAvoid?.add(s.buffer);
    return s;
  }

  /** Returns a storage's buffer to the pool. Safe while queued commands still use it; a no-op on a lost device. */
  free(s: GPUStorage): void {
    if (this.lost) return;
    const block = this.blocks.get(s);
    if (!block) throw new Error(`webgpu: ${this.currentOp ?? 'free'}: internal: expected an allocated storage, got ${s.view ? 'a view (views own nothing)' : 'one already freed'}`);
    this.blocks.delete(s);
    this.opAllocs?.delete(s);
    this.pool.release(block);
  }

  /** A new storage buffer, its creation in error scopes: an out-of-memory error names the op. */
  private createStorageBuffer(size: number): GPUBuffer {
    const op = this.currentOp ?? 'alloc';
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    const buf = this.device.createBuffer({ size, usage: Usage.STORAGE | Usage.COPY_SRC | Usage.COPY_DST, label: 'posegrad-storage' });
    const validation = this.device.popErrorScope();
    const oom = this.device.popErrorScope();
    const settled = Promise.all([validation, oom]).then(
      ([v, o]) => {
        if (o) this.errors.push(new Error(`webgpu: ${op}: expected ${size} bytes of GPU memory for a tensor, got an out-of-memory error (${this.allocatedBytes} bytes allocated, ${this.pooledBytes} pooled): ${o.message}`));
        if (v) this.errors.push(new Error(`webgpu: ${op}: creating a buffer of ${size} bytes failed: ${v.message}`));
      },
      (e: unknown) => {
        this.errors.push(new Error(`webgpu: error scope failed: ${String(e)}`));
      },
    );
    this.scopesSettled = Promise.all([this.scopesSettled, settled]).then(() => undefined);
    return buf;
  }

  get pooledBytes(): number {
    return this.pool.pooledBytes + this.pooledTextureBytes;
  }
  get allocatedBytes(): number {
    return this.pool.allocatedBytes;
  }

  /**
   * Destroys the free buffers above the pool's bound (`maxPooledBytes`) that the GPU is done with.
   * WebGPU implementations (Dawn) release a destroyed buffer's memory when a later submit
   * completes, so an empty command buffer follows when nothing else is queued.
   */
  private reclaim(): void {
    if (this.pool.reclaim() > 0 && !this.encoder) this.queue.submit([this.device.createCommandEncoder({ label: 'posegrad-reclaim' }).finish()]);
  }

  /** Destroys the pooled free buffers and textures. */
  trimPool(): void {
    this.pool.trim();
    for (const list of this.freeTextures.values()) for (const t of list) this.deferDestroy(t);
    this.freeTextures.clear();
    this.pooledTextureBytes = 0;
  }

  // ---------------------------------------------------------------- binding windows
  /**
   * The binding for elements [lo, hi) of `s` (4-byte elements) and `base`, the element at the
   * binding's start: the kernel reads element e as `x[e - base]`. A storage within the binding
   * limit is bound whole (base 0); a larger one as a window starting at the aligned element at or
   * below `lo`.
   * @throws Error naming the op when the window is above the binding limit (plan with `planRanges`).
   */
  window(s: GPUStorage, lo: number, hi: number): { binding: GPUStorage | BufferWindow; base: number } {
    if (bindBytes(s) <= this.maxBindingBytes) return { binding: s, base: 0 };
    const a = this.storageAlign / 4;
    const base = Math.floor(Math.max(0, lo) / a) * a;
    const end = Math.min(Math.max(hi, base + 1), Math.ceil(s.bytes / 4));
    const size = Math.max(4, (end - base) * 4);
    if (size > this.maxBindingBytes) throw this.tooLarge(s.bytes, `a window of ${size} bytes`);
    return { binding: { storage: s, offset: (s.offset ?? 0) + base * 4, size }, base };
  }

  /** True when elements [lo, hi) of `s` fit one binding (see `window`). */
  fits(s: GPUStorage, lo: number, hi: number): boolean {
    if (bindBytes(s) <= this.maxBindingBytes) return true;
    const a = this.storageAlign / 4;
    return (hi - Math.floor(Math.max(0, lo) / a) * a) * 4 <= this.maxBindingBytes;
  }

  /**
   * Splits the index range [0, n) into consecutive ranges [i0, i1) for which every span's window
   * fits one binding. One range [0, n) when every storage fits whole (the common case).
   * @throws Error naming the op when a single index reads more than a binding can hold.
   */
  planRanges(n: number, spans: readonly Span[]): [number, number][] {
    if (n <= 0) return [];
    const big = spans.filter((x) => bindBytes(x.s) > this.maxBindingBytes);
    if (big.length === 0) return [[0, n]];
    const ok = (i0: number, i1: number): boolean => big.every((x) => {
      const [lo, hi] = x.span(i0, i1);
      return this.fits(x.s, lo, hi);
    });
    const out: [number, number][] = [];
    let i0 = 0;
    while (i0 < n) {
      if (!ok(i0, i0 + 1)) {
        const worst = big.find((x) => !this.fits(x.s, ...x.span(i0, i0 + 1)))!;
        const [lo, hi] = worst.span(i0, i0 + 1);
        throw this.tooLarge(worst.s.bytes, `one output element reads a span of ${(hi - lo) * 4} bytes of it`);
      }
      // Gallop, then bisect, to the longest range that fits.
      let good = i0 + 1;
      let bad = -1;
      while (good < n) {
        const t = Math.min(n, i0 + 2 * (good - i0));
        if (ok(i0, t)) good = t;
        else {
          bad = t;
          break;
        }
      }
      if (bad > 0) {
        while (bad - good > 1) {
          const m = Math.floor((good + bad) / 2);
          if (ok(i0, m)) good = m;
          else bad = m;
        }
      }
      out.push([i0, good]);
      i0 = good;
    }
    return out;
  }

  /**
   * A view of elements [lo, hi) of `s`: a storage bound, copied and read at that offset, so that a
   * kernel runs unchanged on a slice of a tensor as on a smaller tensor. `lo` must start at a
   * multiple of minStorageBufferOffsetAlignment (`splitOuter` plans its slices so). The view owns
   * nothing: never free it.
   */
  view(s: GPUStorage, lo: number, hi: number): GPUStorage {
    const offset = (s.offset ?? 0) + lo * 4;
    if (offset % this.storageAlign !== 0 || lo < 0 || hi < lo || hi * 4 > s.bytes) {
      throw new Error(`webgpu: ${this.currentOp ?? 'view'}: internal: expected a view at a multiple of ${this.storageAlign} bytes within ${s.bytes} bytes, got elements [${lo}, ${hi})`);
    }
    const host = s.host?.subarray(lo, hi);
    return host ? { buffer: s.buffer, bytes: (hi - lo) * 4, offset, view: true, host } : { buffer: s.buffer, bytes: (hi - lo) * 4, offset, view: true };
  }

  /**
   * Splits `outer` independent slices (images, planes, rows, batches) into chunks for tensors
   * above the binding limit, and calls `f(count, views, o0)` once per chunk [o0, o0 + count): each
   * part (a storage of `outer` slices of `per` elements) is passed as the view of the chunk's
   * slices, so the kernel runs unchanged on the chunk as on a tensor of `count` slices (the same
   * binding windows as `window`, with chunk starts kept aligned: a chunk holds a multiple of
   * `align / gcd(align, per)` slices, align = minStorageBufferOffsetAlignment / 4). Storages that
   * every slice shares (weights, tables) are bound whole by the kernel, outside `parts`.
   * With every part within the limit, one call on the storages themselves (the common case).
   * @throws Error naming the op when the smallest aligned chunk of a part is above the limit.
   */
  splitOuter(outer: number, parts: readonly OuterPart[], what: string, f: (count: number, views: GPUStorage[], o0: number) => void): void {
    if (outer <= 0) return;
    if (parts.every(([s]) => bindBytes(s) <= this.maxBindingBytes)) {
      f(outer, parts.map(([s]) => s), 0);
      return;
    }
    const a = this.storageAlign / 4;
    let g = 1;
    let maxPer = 1;
    for (const [, per] of parts) {
      if (per <= 0) continue;
      g = Math.max(g, a / gcd(a, per)); // powers of two: the largest is their lcm
      maxPer = Math.max(maxPer, per);
    }
    const k = Math.floor(Math.floor(this.maxBindingBytes / 4 / maxPer) / g) * g;
    if (k < 1) {
      const worst = parts.reduce((x, y) => (y[1] > x[1] ? y : x));
      throw this.tooLarge(worst[0].bytes, `one ${what} of it takes ${worst[1] * 4} bytes${g > 1 ? `, bound ${g} at a time to keep the windows aligned` : ''}; this op splits only over ${what}s`);
    }
    for (let o0 = 0; o0 < outer; o0 += k) {
      const o1 = Math.min(outer, o0 + k);
      f(o1 - o0, parts.map(([s, per]) => this.view(s, o0 * per, o1 * per)), o0);
    }
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
      this.opTextures?.add(hit);
      return hit;
    }
    // STORAGE_BINDING (0x08) | TEXTURE_BINDING (0x04)
    const t = this.device.createTexture({ size: [width, height], format: 'rgba32float', usage: 0x08 | 0x04, label: 'posegrad-texture' });
    this.opTextures?.add(t);
    return t;
  }

  /**
   * Returns a texture to the pool (safe while queued commands still use it). The texture pool keeps
   * up to 64 MiB of its own, whatever the buffer segments hold free.
   */
  freeTexture(t: GPUTexture): void {
    if (this.lost) return;
    this.opTextures?.delete(t);
    const bytes = t.width * t.height * 16;
    if (this.pooledTextureBytes + bytes > 64 * 1024 * 1024) {
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
    const raw = this.alloc(data.byteLength);
    let s = raw;
    if (data instanceof Int32Array && data.length <= HOST_COPY_MAX) {
      s = raw.offset === undefined ? { buffer: raw.buffer, bytes: raw.bytes, host: data.slice() } : { buffer: raw.buffer, bytes: raw.bytes, offset: raw.offset, host: data.slice() };
      this.blocks.set(s, this.blocks.get(raw)!);
      this.blocks.delete(raw);
      if (this.opAllocs?.delete(raw)) this.opAllocs.add(s);
    }
    if (data.byteLength === 0) return s;
    if (this.encoder && this.lastUse.get(s.buffer) === this.batchId) {
      // The open batch uses this buffer (this block's previous owner, or another block of its
      // segment), and writeBuffer lands before the commands still in the open encoder: submit
      // them first (queue operations run in order). No staging copy: that would hold a second copy
      // of the data until the batch is submitted.
      this.flush();
      this.stats.uploadFlushes++;
    }
    this.queue.writeBuffer(s.buffer, s.offset ?? 0, data.buffer, data.byteOffset, data.byteLength);
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
    enc.copyBufferToBuffer(s.buffer, s.offset ?? 0, staging, 0, bytes);
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
    // As an op of its own (or within the caller's): the result avoids the index's buffer.
    this.op(op, () => this.queueIndexCheck(op, expected, index, count, n, ignore), [index]);
  }

  private queueIndexCheck(op: string, expected: string, index: GPUStorage, count: number, n: number, ignore: number | null): void {
    const result = this.alloc(8);
    this.opAllocs?.delete(result); // owned by the pending check, freed when it is read
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
    checks.forEach((c, i) => enc.copyBufferToBuffer(c.result.buffer, c.result.offset ?? 0, staging, 8 * i, 8));
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
  /**
   * Encodes one compute dispatch into the open batch (see `Dispatch`).
   * @throws Error naming the op (and kernel) at once for workgroup counts above the per-dimension
   *   limit, a binding above the binding limit, a misaligned window, or a lost device.
   */
  run(d: Dispatch): void {
    this.check();
    const op = this.currentOp ?? d.name;
    const wg = [d.workgroups[0] ?? 1, d.workgroups[1] ?? 1, d.workgroups[2] ?? 1] as const;
    if (wg[0] === 0 || wg[1] === 0 || wg[2] === 0) return;
    const maxWg = this.maxWorkgroups;
    if (wg.some((v) => !Number.isInteger(v) || v < 0 || v > maxWg)) {
      throw new Error(`webgpu: ${op}: kernel '${d.name}': expected workgroup counts ≤ ${maxWg}, got [${wg.join(', ')}]`);
    }
    // Binding sizes and window alignment, checked here so that the Error is synchronous and names the op.
    const entries: GPUBindGroupEntry[] = [];
    let windowed = false;
    for (let i = 0; i < d.bindings.length; i++) {
      const b = d.bindings[i]!;
      if (isWindow(b)) {
        if (b.offset % this.storageAlign !== 0 || b.size > this.maxBindingBytes || b.offset + b.size > b.storage.buffer.size || b.size <= 0) {
          throw new Error(`webgpu: ${op}: kernel '${d.name}': expected binding ${i} to be a window at a multiple of ${this.storageAlign} bytes of at most ${this.maxBindingBytes} bytes within its ${b.storage.buffer.size}-byte buffer, got offset ${b.offset}, size ${b.size}`);
        }
        entries.push({ binding: i, resource: { buffer: b.storage.buffer, offset: b.offset, size: b.size } });
        windowed = true;
      } else if (isStorage(b)) {
        const size = bindBytes(b);
        if (size > this.maxBindingBytes) throw this.tooLarge(b.bytes, `kernel '${d.name}', binding ${i}`);
        entries.push({ binding: i, resource: { buffer: b.buffer, offset: b.offset ?? 0, size } });
        if (b.view) windowed = true;
      } else {
        entries.push({ binding: i, resource: b });
      }
    }
    const cached = this.pipeline(d.name, d.key, d.code);
    for (const w of cached.writable) {
      const bw = d.bindings[w];
      const buf = bw === undefined ? undefined : isWindow(bw) ? bw.storage.buffer : isStorage(bw) ? bw.buffer : undefined;
      if (!buf) continue;
      for (let i = 0; i < d.bindings.length; i++) {
        const b = d.bindings[i]!;
        if (i !== w && (isWindow(b) ? b.storage.buffer : isStorage(b) ? b.buffer : undefined) === buf) {
          throw new Error(`webgpu: ${op}: kernel '${d.name}': internal: binding ${w} (written) and binding ${i} are in the same GPU buffer, which WebGPU forbids; expected the op's allocations to avoid its inputs' buffers (Runtime.op)`);
        }
      }
    }
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
    if (d.uniforms) entries.push({ binding: d.bindings.length, resource: { buffer: this.arena, offset: uniformOffset, size: uniformSize } });
    const label = op === d.name ? d.name : `${op}/${d.name}`;
    const group = this.device.createBindGroup({ layout: cached.layout, entries, label });
    for (const b of d.bindings) {
      if (isWindow(b)) this.lastUse.set(b.storage.buffer, this.batchId);
      else if (isStorage(b)) this.lastUse.set(b.buffer, this.batchId);
    }
    if (!this.pass) this.pass = this.encoder!.beginComputePass({ label: 'posegrad' });
    this.pass.setPipeline(cached.pipeline);
    this.pass.setBindGroup(0, group);
    this.pass.dispatchWorkgroups(wg[0], wg[1], wg[2]);
    if (!this.batch.has(label)) this.batch.set(label, { op, kernel: d.name, label });
    this.dispatches++;
    this.stats.dispatches++;
    if (windowed) this.stats.windowedDispatches++;
    if (this.dispatches >= this.maxDispatches) this.flush();
  }

  /** Encodes a buffer-to-buffer copy (e.g. concat of contiguous blocks). Sizes in bytes, multiples of 4. */
  copy(src: GPUStorage, srcOffset: number, dst: GPUStorage, dstOffset: number, bytes: number): void {
    this.check();
    if (bytes === 0) return;
    if (src.buffer === dst.buffer) throw new Error(`webgpu: ${this.currentOp ?? 'copy'}: internal: a copy within one GPU buffer, which WebGPU forbids; expected the op's allocations to avoid its inputs' buffers (Runtime.op)`);
    const enc = this.openEncoder();
    this.endPass();
    enc.copyBufferToBuffer(src.buffer, (src.offset ?? 0) + srcOffset, dst.buffer, (dst.offset ?? 0) + dstOffset, bytes);
    this.lastUse.set(src.buffer, this.batchId);
    this.lastUse.set(dst.buffer, this.batchId);
    const op = this.currentOp ?? 'copy';
    if (!this.batch.has(`${op}/copy`)) this.batch.set(`${op}/copy`, { op, kernel: 'copyBufferToBuffer', label: `${op}/copy` });
  }

  /** The ops of the open batch, for messages: `op (kernel 'k')`, comma-separated. */
  private describeBatch(entries: readonly BatchEntry[] = [...this.batch.values()]): string {
    return entries.map((e) => (e.op === e.kernel ? `'${e.kernel}'` : `${e.op} (kernel '${e.kernel}')`)).join(', ');
  }

  /** Submits the open batch (if any). Nothing waits: the GPU runs while JS continues. */
  flush(): void {
    if (!this.encoder) return;
    this.endPass();
    if (this.arenaUsed > 0) this.queue.writeBuffer(this.arena, 0, this.arenaData, 0, this.arenaUsed);
    const entries = [...this.batch.values()];
    this.queue.submit([this.encoder.finish()]);
    this.stats.submits++;
    const oom = this.device.popErrorScope();
    const validation = this.device.popErrorScope();
    const settled = Promise.all([validation, oom]).then(
      ([v, o]) => {
        for (const e of [v, o]) if (e) this.errors.push(new Error(`webgpu: ${culprit(e.message, entries, (x) => this.describeBatch(x))} failed: ${e.message}`));
      },
      (e: unknown) => {
        this.errors.push(new Error(`webgpu: error scope failed: ${String(e)}`));
      },
    );
    this.scopesSettled = Promise.all([this.scopesSettled, settled]).then(() => undefined);
    for (const b of this.deferred) b.destroy();
    this.deferred = [];
    // Learn when the GPU is done with this batch (resolves once JS yields to the event loop):
    // buffers whose last use is done may then be destroyed, and the pool is brought back to its bound.
    const id = this.batchId;
    this.queue.onSubmittedWorkDone().then(
      () => {
        if (id > this.completedBatch) this.completedBatch = id;
        if (!this.lost) this.reclaim();
      },
      () => undefined, // a lost device: `lost` reports it
    );
    this.encoder = null;
    this.dispatches = 0;
    this.batch = new Map();
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
    const op = this.currentOp ?? name;
    const src = code();
    this.device.pushErrorScope('validation');
    const module = this.device.createShaderModule({ code: src, label: name });
    const pipeline = this.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: name });
    const layout = pipeline.getBindGroupLayout(0);
    const writable = [...src.matchAll(/@binding\((\d+)\)\s*var\s*<\s*storage\s*,\s*read_write\s*>/g)].map((m) => Number(m[1]));
    const entry = { pipeline, layout, writable };
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
      this.errors.unshift(new Error(`webgpu: ${op}: kernel '${name}' failed to build its pipeline (key ${key}): ${e.message}${detail}`));
    });
    this.scopesSettled = Promise.all([this.scopesSettled, scope]).then(() => undefined);
    return entry;
  }

  /** The Error every entry point throws once the device is lost. */
  private lostError(): Error {
    const reason = this.lostReason ?? 'destroyed';
    const [kind, ...rest] = reason.split(': ');
    const detail = rest.join(': ');
    return new Error(
      `webgpu: the device was lost (${kind})${detail ? ` [${detail}]` : ''}; call init('webgpu') again and re-create the tensors ` +
        '(the tensors on the lost device are gone)',
    );
  }

  /** Throws the first pending asynchronous error (then forgets the others of that failure), or a lost device. */
  check(): void {
    if (this.lost) throw this.lostError();
    if (this.errors.length) {
      const first = this.errors[0]!;
      this.errors.length = 0;
      throw first;
    }
  }

  /** Releases the device (pending work is abandoned). The runtime is unusable afterwards (`lost`). */
  destroy(): void {
    if (this.destroyed) return;
    this.pipelines.clear();
    this.pool.trim();
    this.lostReason ??= 'destroyed: the backend was destroyed';
    this.destroyed = true;
    this.encoder = null;
    this.pass = null;
    this.device.destroy();
  }

  /** The acquired device (adapter, source), for diagnostics. */
  get info(): AcquiredDevice {
    return this.acquired;
  }
}

/**
 * Who failed, from a driver message and the batch's dispatches: the op whose bind group label (or
 * failing kernel's pipeline label) the message quotes, else every op of the batch.
 */
function culprit(message: string, entries: readonly BatchEntry[], describe: (e: readonly BatchEntry[]) => string): string {
  const byLabel = entries.filter((e) => message.includes(`"${e.label}"`));
  const hit = byLabel.length ? byLabel : entries.filter((e) => message.includes(`"${e.kernel}"`));
  const list = hit.length ? hit : entries;
  if (list.length === 1) {
    const e = list[0]!;
    return e.op === e.kernel ? `kernel '${e.kernel}'` : `${e.op}: kernel '${e.kernel}'`;
  }
  return `one of the ops of the batch [${describe(list)}]`;
}

/**
 * Wraps a kernel entry point `f(rt, ...args)` so that it runs as the op `op` (see `Runtime.op`):
 * a name, or a function of the argument list (e.g. `(a) => a[0]` for a kernel whose first argument
 * is the op).
 */
export function entry<A extends unknown[], R>(op: string | ((args: NoInfer<A>) => string), f: (rt: Runtime, ...args: A) => R): (rt: Runtime, ...args: A) => R {
  return (rt, ...args) => rt.op(typeof op === 'string' ? op : op(args), () => f(rt, ...args), args);
}

/**
 * Adds to `out` the GPUBuffer of every storage in `x`: a GPUStorage, a KTensor (`{ storage }`), a
 * BufferWindow, or arrays and plain objects of them (an op's arguments), down to a few levels.
 */
function collectBuffers(x: unknown, out: Set<GPUBuffer>, depth: number): void {
  if (x === null || typeof x !== 'object' || depth > 4 || ArrayBuffer.isView(x)) return;
  const o = x as { buffer?: unknown; bytes?: unknown };
  if (typeof o.bytes === 'number' && o.buffer !== undefined && typeof o.buffer === 'object' && !ArrayBuffer.isView(o.buffer) && !(o.buffer instanceof ArrayBuffer)) {
    out.add(o.buffer as GPUBuffer);
    return;
  }
  if (Array.isArray(x)) {
    for (const v of x) collectBuffers(v, out, depth + 1);
    return;
  }
  for (const v of Object.values(x)) collectBuffers(v, out, depth + 1);
}
