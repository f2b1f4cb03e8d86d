/**
 * Worker threads for the wasm kernels: optional, opt-in with `createWasmBackend({ threads: 2 })`.
 *
 * Every worker instantiates the same compiled module (the `-threads` build, which imports a
 * shared memory) over the same WebAssembly.Memory, so all of them see every tensor. A kernel is
 * split into contiguous ranges of independent units, one per thread, each thread with its own
 * scratch (per-thread slots of scratch.ts) writing a disjoint part of the output, so nothing is
 * locked and no atomics run in the kernels; the calling thread computes range 0 itself. A GEMM
 * (`gemm`) is split by columns of C, aligned to the 8-column micro-tile; the other kernels
 * (`run`) by rows (softmax, layerNorm), channels (batchNorm), (head, query block) and (head, key
 * tile) units (attention), (pixel chunk, weight group) items (deformConv2d), (sample, point chunk)
 * units (gridSample), ... (see each wrapper). Partial sums that two threads would share (a
 * weight gradient, the dQ of a head cut between two threads) go to per-thread buffers, added in
 * thread order after the threads finish.
 *
 * Signalling uses one 128-byte control block per worker in the shared memory:
 *   [0] job sequence number (the caller increments it and notifies), [1] finished sequence,
 *   [2..] the gemm_f32 arguments, then the conv geometry pointer (0 when not a conv).
 * Other kernels run through `run` (generic jobs): [21] = 1 + the kernel's index among the module's
 * exported functions sorted by name (the same list on every thread), [20] = its argument count,
 * [2..] its i32 arguments (at most 18; floats travel as their bits, f32Bits/f64Words, and longer
 * argument lists in the args block); [21] = 0 marks a GEMM job.
 * Waiting: workers sleep in Atomics.wait on [0], the caller on [1] (Node; browsers' main thread
 * may not block, so there it spins on Atomics.load). A dispatch round trip with sleeping workers
 * measured 12-20 µs on this 2-core VM (two futex wake-ups). POSEGRAD_WASM_SPIN_US (Node) makes
 * the workers spin that long for their next job, and the caller for the workers, before
 * sleeping: faster dispatch on an idle machine, but measured 40x slower round trips (0.6-0.8 ms)
 * when other processes compete for the cores, hence off by default.
 *
 * Partitioning helpers (splitRange, threadsFor) are shared by the wrappers: ranges of nearly equal
 * size with boundaries on multiples of an alignment (whole samples, weight groups, ...), and a
 * minimum of work per thread below which a kernel stays on fewer threads (each wrapper's
 * THREAD_MIN_* constant, tens of µs of work, so that the wake-up does not dominate).
 * Node: worker_threads with an inline (eval) script; browsers: a Blob-URL Worker, which needs a
 * cross-origin isolated page for SharedArrayBuffer.
 */
import type { WasmMemory } from './memory.js';
import { scratch } from './scratch.js';

/** The worker's code (CommonJS in Node's eval mode; a classic script in browsers). */
const WORKER_SRC = `
const start = (d, post) => {
  const inst = new WebAssembly.Instance(d.module, { env: { memory: d.memory } });
  const ex = inst.exports;
  const fns = Object.keys(ex).filter((n) => typeof ex[n] === 'function').sort();
  ex.gemm_config(d.blocks[0], d.blocks[1], d.blocks[2]);
  const ctl = new Int32Array(d.memory.buffer, d.ctl, 32);
  post('ready');
  let seq = 0;
  const now = () => performance.now();
  for (;;) {
    // spin up to d.spinMs for the next job, then sleep (Atomics.wait returns at once if one came)
    if (d.spinMs > 0) {
      const until = now() + d.spinMs;
      for (let k = 1; Atomics.load(ctl, 0) === seq && ((k & 255) !== 0 || now() < until); k++);
    }
    Atomics.wait(ctl, 0, seq);
    seq = Atomics.load(ctl, 0);
    if (seq < 0) return;
    const a = ctl;
    if (a[21] > 0) {
      ex[fns[a[21] - 1]](...a.subarray(2, 2 + a[20]));
      Atomics.store(ctl, 1, seq);
      Atomics.notify(ctl, 1);
      continue;
    }
    if (a[20] !== 0) ex.conv_geometry(a[20]);
    ex.gemm_f32(a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15], a[16], a[17], a[18], a[19]);
    Atomics.store(ctl, 1, seq);
    Atomics.notify(ctl, 1);
  }
};
if (typeof require === 'function') {
  const { parentPort, workerData } = require('node:worker_threads');
  start(workerData, (m) => parentPort.postMessage(m));
} else {
  self.onmessage = (e) => start(e.data, (m) => self.postMessage(m));
}
`;

const isNode = typeof process !== 'undefined' && typeof process.versions === 'object' && !!process.versions.node;

/**
 * How long (µs) a worker spins for its next job, and the caller for a worker to finish, before
 * sleeping in Atomics.wait: POSEGRAD_WASM_SPIN_US in Node (an integer 0-10000), else 0.
 */
export function spinMicros(): number {
  const raw = isNode ? process.env.POSEGRAD_WASM_SPIN_US : undefined;
  if (raw === undefined || raw === '') return 0;
  const us = Number(raw);
  if (!Number.isInteger(us) || us < 0 || us > 10000) throw new Error(`wasm: expected POSEGRAD_WASM_SPIN_US as an integer from 0 to 10000 (microseconds), got '${raw}'`);
  return us;
}

interface WorkerHandle {
  ctl: number;
  terminate(): void;
}

export class ThreadPool {
  private seq = 0;
  private constructor(private readonly mem: WasmMemory, private readonly workers: WorkerHandle[], private readonly spinMs: number) {}

  /** Number of threads including the caller. */
  get size(): number {
    return this.workers.length + 1;
  }

  static async create(mem: WasmMemory, module: WebAssembly.Module, count: number, blocks: readonly number[]): Promise<ThreadPool> {
    const spinMs = spinMicros() / 1000;
    const workers: WorkerHandle[] = [];
    const ready: Promise<void>[] = [];
    for (let t = 0; t < count - 1; t++) {
      const ctl = scratch(mem, 'threadCtl', 128, 'threads', t + 1);
      new Int32Array(mem.memory.buffer, ctl, 32).fill(0);
      const data = { module, memory: mem.memory, ctl, blocks: [...blocks], spinMs };
      if (isNode) {
        const { Worker } = await import('node:worker_threads');
        const w = new Worker(WORKER_SRC, { eval: true, workerData: data });
        w.unref();
        ready.push(new Promise((res, rej) => { w.once('message', () => res()); w.once('error', rej); }));
        workers.push({ ctl, terminate: () => void w.terminate() });
      } else {
        const url = URL.createObjectURL(new Blob([WORKER_SRC], { type: 'text/javascript' }));
        const w = new Worker(url);
        ready.push(new Promise((res, rej) => { w.onmessage = () => res(); w.onerror = (e) => rej(new Error(`wasm: expected a worker thread to start, got ${e.message}`)); }));
        w.postMessage(data);
        workers.push({ ctl, terminate: () => w.terminate() });
      }
    }
    await Promise.all(ready);
    return new ThreadPool(mem, workers, spinMs);
  }

  /**
   * Runs gemm_f32 over the column ranges [bounds[t], bounds[t+1]) on thread t (0 = the caller).
   * `args(t)` gives thread t's 16 leading gemm_f32 arguments (its own scratch pointers).
   */
  gemm(run0: () => void, args: (t: number) => number[], bounds: readonly number[], convArgs: number): void {
    const seq = ++this.seq;
    const i32 = this.mem.i32;
    const active: WorkerHandle[] = [];
    this.workers.forEach((w, k) => {
      const t = k + 1;
      if (bounds[t + 1]! <= bounds[t]!) return;
      const base = w.ctl >>> 2;
      i32.set([...args(t), bounds[t]!, bounds[t + 1]!, convArgs, 0], base + 2);
      Atomics.store(i32, base, seq);
      Atomics.notify(i32, base);
      active.push(w);
    });
    run0();
    this.join(active, seq);
  }

  private fns: string[] | null = null;

  /**
   * Runs the exported kernel `name` (i32 arguments only, at most 18) on every thread t that gets
   * arguments from args(t) (null: it sits out); thread 0 is the caller. Returns when all are done.
   * The kernel must write disjoint memory on each thread, with per-thread scratch.
   */
  run(exports: WebAssembly.Exports, name: string, args: (t: number) => number[] | null): void {
    if (!this.fns) this.fns = Object.keys(exports).filter((n) => typeof exports[n] === 'function').sort();
    const kind = this.fns.indexOf(name) + 1;
    if (kind === 0) throw new Error(`wasm: expected kernel '${name}' in the module, got none`);
    const seq = ++this.seq;
    const i32 = this.mem.i32;
    const active: WorkerHandle[] = [];
    this.workers.forEach((w, k) => {
      const a = args(k + 1);
      if (!a) return;
      if (a.length > 18) throw new Error(`wasm: expected at most 18 arguments for a thread job, got ${a.length} (${name})`);
      const base = w.ctl >>> 2;
      i32.set(a, base + 2);
      i32[base + 20] = a.length;
      i32[base + 21] = kind;
      Atomics.store(i32, base, seq);
      Atomics.notify(i32, base);
      active.push(w);
    });
    const a0 = args(0);
    if (a0) (exports[name] as (...x: number[]) => void)(...a0);
    this.join(active, seq);
  }

  /**
   * Waits until every worker in `active` has finished job `seq`: spins up to spinMs, then sleeps in
   * Atomics.wait (Node); browsers' main thread may not block, so there it spins.
   */
  private join(active: readonly WorkerHandle[], seq: number): void {
    const i32 = this.mem.i32;
    for (const w of active) {
      const at = (w.ctl >>> 2) + 1;
      if (this.spinMs > 0 || !isNode) {
        const until = performance.now() + this.spinMs;
        for (let k = 1; Atomics.load(i32, at) !== seq && (!isNode || (k & 255) !== 0 || performance.now() < until); k++);
      }
      if (isNode) while (Atomics.load(i32, at) !== seq) Atomics.wait(i32, at, Atomics.load(i32, at), 50);
    }
  }

  terminate(): void {
    const i32 = new Int32Array(this.mem.memory.buffer);
    for (const w of this.workers) {
      Atomics.store(i32, w.ctl >>> 2, -1);
      Atomics.notify(i32, w.ctl >>> 2);
      w.terminate();
    }
  }
}

/**
 * Bounds [b0 = 0, b1, …, bT = n] splitting n units into T contiguous ranges of nearly equal size,
 * every inner bound a multiple of `align` or n itself (so that a group of `align` units, e.g. the
 * chunks of one sample or the weight groups of one chunk, stays on one thread); some ranges may be
 * empty when n is small.
 */
export function splitRange(n: number, T: number, align = 1): number[] {
  return Array.from({ length: T + 1 }, (_, t) => (t === T ? n : Math.min(n, Math.round((t * n) / T / align) * align)));
}

/**
 * Threads worth using for `work` units of work split `units` ways, at least `minWork` units per
 * thread (below that the wake-up costs more than it saves): 1 without a pool.
 */
export function threadsFor(pool: ThreadPool | null, work: number, minWork: number, units = Infinity): number {
  if (!pool) return 1;
  return Math.max(1, Math.min(pool.size, Math.floor(work / minWork), units));
}

const F64 = new Float64Array(1);
const F64_WORDS = new Int32Array(F64.buffer);
const F32 = new Float32Array(1);
const F32_WORD = new Int32Array(F32.buffer);

/** The two i32 halves [lo, hi] of a float64's bits: thread jobs pass i32 arguments only. */
export function f64Words(x: number): [number, number] {
  F64[0] = x;
  return [F64_WORDS[0]!, F64_WORDS[1]!];
}

/** The bits of a float32 as an i32 (a kernel reinterprets them), for thread jobs. */
export function f32Bits(x: number): number {
  F32[0] = x;
  return F32_WORD[0]!;
}
