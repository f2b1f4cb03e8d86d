/**
 * Fragmentation of the wasm allocator (backends/wasm/memory.ts), before and after TLSF.
 *
 *   npx tsx scripts/wasm-alloc-trace.ts [--preset tiny|small|paper] [--nets rpstn,fasrnet]
 *                                       [--save trace.json] [--load trace.json] [--no-random]
 *
 * 1. Records the allocator calls (alloc sizes, releases, scratch-slot requests) of real networks
 *    on the wasm backend: each network is built, runs two inferences (noGrad, in a tidy) and, below
 *    paper size, two training steps, and is disposed; then the next network runs in the same
 *    process (the RPSTN → FaSRnet case of issue 14).
 * 2. Replays the trace, and seeded random traces, on two allocators over address arithmetic only:
 *    - before: the former size-class allocator (16-byte classes to 256 B, then four classes per
 *      power of two; per-class free lists; bump allocation at the top; never merges), reproduced
 *      below;
 *    - after: the TLSF heap of memory.ts (the same `Tlsf` and `blockSize` the backend uses).
 *    Both grow the memory the same way (to the page, by at least 1/8, up to 4 GiB).
 * Reports, per trace: peak live bytes (requested bytes of live tensors and scratch), the peak heap
 * (highest block end above heap_base), the memory size it needs, the overhead ratio (peak heap /
 * peak live), and after the trace (everything but scratch freed) the largest request that still
 * fits within 4 GiB.
 */
import { writeFileSync, readFileSync } from 'node:fs';
import { MAX_BYTES, PAGE, Tlsf, blockSize, fmtBytes, type WasmMemory } from '../backends/wasm/memory.js';

// ------------------------------------------------------------------ traces
/** alloc: [0, id, bytes]; release: [1, id]; scratch: [2, slot, bytes]. Flattened. */
export interface Trace {
  name: string;
  heapBase: number;
  ops: number[];
}

function parseArgs(argv: string[]): Record<string, string | boolean> {
  const out: Record<string, string | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) continue;
    const next = argv[i + 1];
    if (next !== undefined && !next.startsWith('--')) {
      out[a.slice(2)] = next;
      i++;
    } else out[a.slice(2)] = true;
  }
  return out;
}

/** Wraps a WasmMemory so that every alloc/release/scratch call is appended to `ops`. */
function recordInto(mem: WasmMemory, ops: number[]): () => void {
  const alloc = mem.alloc.bind(mem);
  const release = mem.release.bind(mem);
  const scratch = mem.scratch.bind(mem);
  const ids = new Map<number, number>();
  let nextId = 1;
  let inScratch = false;
  mem.alloc = (op, bytes) => {
    const s = alloc(op, bytes);
    if (!inScratch && s.block !== 0) {
      ids.set(s.ptr, nextId);
      ops.push(0, nextId++, bytes);
    }
    return s;
  };
  mem.release = (s) => {
    if (!inScratch && s.block !== 0) {
      const id = ids.get(s.ptr);
      if (id !== undefined) {
        ids.delete(s.ptr);
        ops.push(1, id);
      }
    }
    release(s);
  };
  mem.scratch = (slot, bytes, op) => {
    ops.push(2, slot, bytes);
    inScratch = true;
    try {
      return scratch(slot, bytes, op);
    } finally {
      inScratch = false;
    }
  };
  return () => {
    mem.alloc = alloc;
    mem.release = release;
    mem.scratch = scratch;
  };
}

async function recordNetworks(preset: 'tiny' | 'small' | 'paper', nets: string[]): Promise<Trace> {
  const P = await import('../index.js');
  const { buildRPSTN, buildFaSRnet, buildVREMD, buildGLPose } = await import('../bench/networks/builders.js');
  const builders: Record<string, typeof buildRPSTN> = { rpstn: buildRPSTN, fasrnet: buildFaSRnet, vremd: buildVREMD, glpose: buildGLPose };
  const be = (await P.init('wasm')) as unknown as { memory: WasmMemory };
  P.setDefaultDevice('wasm');
  const mem = be.memory;
  const ops: number[] = [];
  const heapBase = mem.heap.base;
  const stop = recordInto(mem, ops);
  try {
    for (const name of nets) {
      const build = builders[name];
      if (!build) throw new Error(`wasm-alloc-trace: expected a network among [${Object.keys(builders).join(', ')}], got '${name}'`);
      const t0 = performance.now();
      const net = build(preset);
      net.setTraining(false);
      for (let i = 0; i < 2; i++) {
        const out = P.tidy(() => P.noGrad(() => net.forward()));
        for (const t of Array.isArray(out) ? out : [out]) t.dispose();
      }
      if (preset !== 'paper') {
        net.setTraining(true);
        for (let i = 0; i < 2; i++) P.tidy(() => void net.trainStep());
      }
      net.dispose();
      const m = P.memory().devices.wasm!;
      console.error(`recorded ${name} (${preset}): ${((performance.now() - t0) / 1000).toFixed(1)} s, ${ops.length} words; memory ${fmtBytes(mem.size)}, ${m.tensors} tensors left`);
    }
  } finally {
    stop();
  }
  return { name: `${nets.join(' → ')} (${preset}${preset === 'paper' ? ', inference' : ', inference + training'})`, heapBase, ops };
}

/** A seeded random trace: sizes log-uniform in [lo, hi], frees at random, live bytes ≤ cap. */
function randomTrace(name: string, seed: number, steps: number, lo: number, hi: number, cap: number, pow2 = false): Trace {
  let s = seed >>> 0 || 1;
  const rnd = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
  const ops: number[] = [];
  const live: [number, number][] = [];
  let liveBytes = 0;
  let id = 1;
  for (let k = 0; k < steps; k++) {
    let bytes = Math.round(Math.exp(Math.log(lo) + rnd() * (Math.log(hi) - Math.log(lo))) / 4) * 4;
    if (pow2) bytes = 2 ** Math.round(Math.log2(bytes));
    while (live.length && (liveBytes + bytes > cap || rnd() < 0.45)) {
      const j = Math.floor(rnd() * live.length);
      const [fid, fb] = live[j]!;
      live[j] = live[live.length - 1]!;
      live.pop();
      liveBytes -= fb;
      ops.push(1, fid);
    }
    ops.push(0, id, bytes);
    live.push([id++, bytes]);
    liveBytes += bytes;
  }
  for (const [fid] of live) ops.push(1, fid);
  return { name, heapBase: 65536, ops };
}

/**
 * The issue's pattern: mid-size tensors of many sizes until the former allocator's top is within
 * 5 MiB of 4 GiB, all freed; then one 100 MiB tensor and 1,000 tensors of 12 KB.
 */
function issueTrace(): Trace {
  const ops: number[] = [];
  let id = 1;
  const ids: number[] = [];
  let top = 65536;
  for (let k = 0; ; k++) {
    const bytes = (1 + (k % 37)) * 1.5 * 2 ** 20 + 4 * (k % 5);
    if (top + oldBlockSize(bytes) > MAX_BYTES - 5 * 2 ** 20) break;
    ops.push(0, id, bytes);
    ids.push(id++);
    top += oldBlockSize(bytes);
  }
  const fill = 1.5 * 2 ** 20;
  while (top + oldBlockSize(fill) <= MAX_BYTES - 4.69 * 2 ** 20) {
    ops.push(0, id, fill);
    ids.push(id++);
    top += oldBlockSize(fill);
  }
  for (const i of ids) ops.push(1, i);
  ops.push(0, id++, 100 * 2 ** 20);
  for (let j = 0; j < 1000; j++) ops.push(0, id++, 12000);
  return { name: 'issue 14 pattern: 1.5–55 MiB tensors up to 4 GiB, all freed, then 100 MiB and 1,000 × 12 KB', heapBase: 65536, ops };
}

// ------------------------------------------------------------------ the two allocators
interface Sim {
  /** The block's address and size, or null when out of (4 GiB) memory. */
  alloc(bytes: number): { ptr: number; block: number } | null;
  release(ptr: number, block: number): void;
  /** Highest block end so far. */
  readonly highWater: number;
  /** Memory size in bytes (grown to the page, by ≥ 1/8). */
  readonly size: number;
  /** The largest request that still fits (free block or room to grow). */
  largestFit(): number;
}

/** Page count after growing from `have` to hold `needEnd` (as memory.ts does). */
function grownPages(have: number, needEnd: number): number {
  const need = Math.ceil(needEnd / PAGE);
  return Math.min(MAX_BYTES / PAGE, Math.max(need, have + Math.ceil(have / 8)));
}

const INITIAL = 16 * 2 ** 20;

/** The allocator before issue 14 (size classes, free lists, bump; never merges). */
function oldBlockSize(bytes: number): number {
  const need = Math.ceil(bytes / 16) * 16 + 16;
  if (need <= 256) return need;
  const step = 2 ** (Math.floor(Math.log2(need - 1)) - 2);
  return Math.ceil(need / step) * step;
}

class SizeClassSim implements Sim {
  private top: number;
  private readonly free = new Map<number, number[]>();
  highWater: number;
  size = INITIAL;
  constructor(base: number) {
    this.top = this.highWater = Math.ceil(base / 16) * 16;
  }
  alloc(bytes: number): { ptr: number; block: number } | null {
    const block = oldBlockSize(bytes);
    const list = this.free.get(block);
    if (list && list.length) return { ptr: list.pop()!, block };
    if (this.top + block > MAX_BYTES) return null;
    const ptr = this.top;
    this.top += block;
    this.highWater = this.top;
    if (this.top > this.size) this.size = grownPages(this.size / PAGE, this.top) * PAGE;
    return { ptr, block };
  }
  release(ptr: number, block: number): void {
    let list = this.free.get(block);
    if (!list) this.free.set(block, (list = []));
    list.push(ptr);
  }
  largestFit(): number {
    let m = MAX_BYTES - this.top - 32;
    for (const [b, l] of this.free) if (l.length && b - 32 > m) m = b - 32;
    return m;
  }
}

class TlsfSim implements Sim {
  private readonly heap: Tlsf;
  constructor(base: number) {
    this.heap = new Tlsf(Math.ceil(base / 16) * 16, INITIAL);
  }
  get highWater(): number {
    return this.heap.highWater;
  }
  get size(): number {
    return this.heap.end;
  }
  alloc(bytes: number): { ptr: number; block: number } | null {
    const block = blockSize(bytes);
    let ptr = this.heap.malloc(block);
    if (ptr < 0) {
      const needEnd = this.heap.end - this.heap.tailFree + block;
      if (needEnd > MAX_BYTES) return null;
      this.heap.extend(grownPages(this.heap.end / PAGE, needEnd) * PAGE);
      ptr = this.heap.malloc(block);
    }
    return { ptr, block };
  }
  release(ptr: number): void {
    this.heap.free(ptr);
  }
  largestFit(): number {
    return Math.max(this.heap.largestFree, this.heap.tailFree + MAX_BYTES - this.heap.end) - 32;
  }
}

interface Result {
  peakLive: number;
  peakHeap: number;
  size: number;
  /** The first failed request, and how many failed. */
  failed: string | null;
  failures: number;
  largestAfter: number;
}

function replay(t: Trace, sim: Sim): Result {
  const base = Math.ceil(t.heapBase / 16) * 16;
  const live = new Map<number, { ptr: number; block: number; bytes: number }>();
  const slots = new Map<number, { ptr: number; block: number; bytes: number }>();
  let liveBytes = 0;
  let peakLive = 0;
  let failed: string | null = null;
  let failures = 0;
  let allocs = 0;
  const ops = t.ops;
  const take = (bytes: number, what: string): { ptr: number; block: number; bytes: number } | null => {
    const b = sim.alloc(bytes);
    if (!b) {
      failed ??= `${what} #${allocs + 1} (${fmtBytes(bytes)}) failed with ${fmtBytes(liveBytes)} live`;
      failures++;
      return null;
    }
    allocs++;
    liveBytes += bytes;
    if (liveBytes > peakLive) peakLive = liveBytes;
    return { ...b, bytes };
  };
  for (let i = 0; i < ops.length; ) {
    const code = ops[i]!;
    if (code === 0) {
      const b = take(ops[i + 2]!, 'alloc');
      if (b) live.set(ops[i + 1]!, b);
      i += 3;
    } else if (code === 1) {
      const b = live.get(ops[i + 1]!);
      if (b) {
        live.delete(ops[i + 1]!);
        sim.release(b.ptr, b.block);
        liveBytes -= b.bytes;
      }
      i += 2;
    } else {
      const slot = ops[i + 1]!;
      const bytes = ops[i + 2]!;
      const cur = slots.get(slot);
      if (!cur || cur.block - 16 < bytes) {
        if (cur) {
          sim.release(cur.ptr, cur.block);
          liveBytes -= cur.bytes;
        }
        const b = take(Math.max(bytes, 64), 'scratch');
        if (b) slots.set(slot, b);
        else slots.delete(slot);
      }
      i += 3;
    }
  }
  return { peakLive, peakHeap: sim.highWater - base, size: sim.size, failed, failures, largestAfter: sim.largestFit() };
}

function report(t: Trace): void {
  const rows: [string, Result][] = [['before (size classes)', replay(t, new SizeClassSim(t.heapBase))], ['after (TLSF)', replay(t, new TlsfSim(t.heapBase))]];
  console.log(`\n${t.name} — ${t.ops.length} words`);
  console.log('| allocator | peak live | peak heap | memory size | overhead (peak heap / peak live) | largest request that fits afterwards | result |');
  console.log('|---|---|---|---|---|---|---|');
  for (const [label, r] of rows) {
    console.log(`| ${label} | ${fmtBytes(r.peakLive)} | ${fmtBytes(r.peakHeap)} | ${fmtBytes(r.size)} | ${(r.peakHeap / r.peakLive).toFixed(3)} | ${fmtBytes(r.largestAfter)} | ${r.failed ? `${r.failures} failed; first: ${r.failed}` : 'ok'} |`);
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const traces: Trace[] = [];
  if (typeof args.load === 'string') traces.push(JSON.parse(readFileSync(args.load, 'utf8')) as Trace);
  else if (args.preset !== 'none') {
    const preset = (typeof args.preset === 'string' ? args.preset : 'small') as 'tiny' | 'small' | 'paper';
    const nets = typeof args.nets === 'string' ? args.nets.split(',') : ['rpstn', 'fasrnet'];
    const t = await recordNetworks(preset, nets);
    if (typeof args.save === 'string') writeFileSync(args.save, JSON.stringify(t));
    traces.push(t);
  }
  if (!args['no-random']) {
    traces.push(randomTrace('random: 20k tensors, 64 B – 64 MiB log-uniform, ≤ 1 GiB live', 1, 20000, 64, 64 * 2 ** 20, 2 ** 30));
    traces.push(randomTrace('random: 20k tensors, 1 KiB – 256 MiB log-uniform, ≤ 2 GiB live', 2, 20000, 1024, 256 * 2 ** 20, 2 ** 31));
    traces.push(randomTrace('random: 20k power-of-two tensors, 4 KiB – 64 MiB, ≤ 1 GiB live', 3, 20000, 4096, 64 * 2 ** 20, 2 ** 30, true));
    traces.push(issueTrace());
  }
  for (const t of traces) report(t);
}

await main();
