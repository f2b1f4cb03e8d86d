/**
 * Worker threads for the GEMM (matmul, conv2d and its backward passes): optional, opt-in with
 * `createWasmBackend({ threads: 2 })`.
 *
 * Every worker instantiates the same compiled module (the `-threads` build, which imports a
 * shared memory) over the same WebAssembly.Memory, so all of them see every tensor. A GEMM is split
 * by columns of C into one range per thread, aligned to the 8-column micro-tile; each thread packs
 * its own panels into its own scratch (per-thread slots of scratch.ts) and writes a disjoint part of C, so there
 * is nothing to lock. The calling thread computes range 0 itself.
 *
 * Signalling uses one 64-byte control block per worker in the shared memory:
 *   [0] job sequence number (the caller increments it and notifies), [1] finished sequence,
 *   [2..] the gemm_f32 arguments, then the conv geometry pointer (0 when not a conv).
 * Other kernels run through `run` (generic jobs): [21] = 1 + the kernel's index among the module's
 * exported functions sorted by name (the same list on every thread), [20] = its argument count,
 * [2..] its i32 arguments; [21] = 0 marks a GEMM job.
 * Workers sleep in Atomics.wait on [0]; the caller waits on [1] (Atomics.wait in Node, a spin on
 * Atomics.load in browsers, whose main thread may not block).
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
  for (;;) {
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

interface WorkerHandle {
  ctl: number;
  terminate(): void;
}

export class ThreadPool {
  private seq = 0;
  private constructor(private readonly mem: WasmMemory, private readonly workers: WorkerHandle[]) {}

  /** Number of threads including the caller. */
  get size(): number {
    return this.workers.length + 1;
  }

  static async create(mem: WasmMemory, module: WebAssembly.Module, count: number, blocks: readonly number[]): Promise<ThreadPool> {
    const workers: WorkerHandle[] = [];
    const ready: Promise<void>[] = [];
    for (let t = 0; t < count - 1; t++) {
      const ctl = scratch(mem, 'threadCtl', 128, 'threads', t + 1);
      new Int32Array(mem.memory.buffer, ctl, 32).fill(0);
      const data = { module, memory: mem.memory, ctl, blocks: [...blocks] };
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
    return new ThreadPool(mem, workers);
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
    for (const w of active) {
      const at = (w.ctl >>> 2) + 1;
      if (isNode) while (Atomics.load(i32, at) !== seq) Atomics.wait(i32, at, Atomics.load(i32, at), 50);
      else while (Atomics.load(i32, at) !== seq) { /* spin: the browser main thread may not block */ }
    }
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
    for (const w of active) {
      const at = (w.ctl >>> 2) + 1;
      if (isNode) while (Atomics.load(i32, at) !== seq) Atomics.wait(i32, at, Atomics.load(i32, at), 50);
      else while (Atomics.load(i32, at) !== seq) { /* spin: the browser main thread may not block */ }
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
