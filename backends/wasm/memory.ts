/**
 * The wasm backend's memory: one WebAssembly.Memory (wasm32, up to 4 GiB) shared by every kernel,
 * and a TLSF allocator (two-level segregated fit; Masmano et al., ECRTS 2004) that lives here, on
 * the JS side (kernels never allocate).
 *
 * Blocks: a request of `bytes` gets a block of blockSize(bytes) ≥ roundUp(bytes, 16) + 16 bytes,
 * 16-byte aligned. The extra 16 bytes are a tail guard so SIMD kernels may over-read (and, for
 * whole-buffer loops, over-write) up to one f32x4 past the last element (see assembly/common.ts).
 * The size is then rounded up to a granule of 1/32 of its power of two, at least 16 bytes and at
 * most 4 KiB, so that tensors of nearly the same size recycle each other's blocks exactly: the
 * waste is under 3.2 % of the block, and under 4 KiB above 128 KiB (a 64 MiB tensor takes
 * 64 MiB + 4 KiB, 0.006 %).
 *
 * TLSF: the whole linear memory above the module's static data (heap_base) is one address space
 * cut into blocks. A free block sits in one of 24 × 32 lists, by its size's power of two (first
 * level) and the 32 equal steps within it (second level), with a bitmap per level, so finding a
 * list that holds a big-enough block is a few bit operations. alloc takes the first block of the
 * smallest non-empty list whose blocks all fit (after trying the request's own list), keeps the
 * rest as a free block, and returns the low part. release merges the block at once with
 * its free physical neighbours, so freed space never stays cut into pieces: after everything is
 * freed the heap is one block again (plus the scratch slots). The metadata lives in JS maps keyed
 * by address (free blocks by start and by end, live blocks by start), not in the wasm memory;
 * releasing a block twice throws instead of corrupting the lists.
 * When no free block fits, the memory grows (by at least 1/8, up to 4 GiB) and the new pages join
 * the last free block. Memory never shrinks (wasm cannot), so `pooledBytes` reports every byte
 * of the memory's heap not held by a tensor: free blocks, the unused grown tail and the scratch.
 *
 * Views: growing the memory detaches the old ArrayBuffer (or, when shared, gives a longer
 * SharedArrayBuffer), so the typed-array views are re-created whenever `memory.buffer` changes
 * (checked on every access through `f32`/`i32`/`u8`). Pointers above 2 GiB are plain numbers here
 * (never `| 0`); view indices use `>>> 2`.
 */
import type { DType } from '../../engine/dtype.js';

/** A wasm tensor storage: `bytes` of data at `ptr`, inside a block of `block` bytes. */
export interface WasmStorage {
  readonly ptr: number;
  readonly bytes: number;
  readonly block: number;
}

export const PAGE = 65536;
/** wasm32 addresses 2^32 bytes at most. */
export const MAX_BYTES = 2 ** 32;
const MAX_PAGES = MAX_BYTES / PAGE;

/** Largest rounding granule of a block (see blockSize). */
const MAX_GRANULE = 4096;

/** The block size for a request of `bytes` (> 0): data rounded to 16, a 16-byte guard, a granule. */
export function blockSize(bytes: number): number {
  const need = Math.ceil(bytes / 16) * 16 + 16;
  const granule = Math.min(MAX_GRANULE, Math.max(16, 2 ** Math.floor(Math.log2(need)) / 32));
  return Math.ceil(need / granule) * granule;
}

// ------------------------------------------------------------------ TLSF
const SL_LOG2 = 5;
/** Second-level lists per power of two. */
const SL = 1 << SL_LOG2;
/** Sizes below this (16-byte steps) all map to first level 0. */
const SMALL = SL * 16;
/** First levels: 0 (< 512 B) and one per power of two from 2^9 to 2^31. */
const FL = 24;
/** How many blocks of the request's own list alloc looks at before searching larger lists. */
const OWN_LIST_SCAN = 16;

interface FreeBlock {
  ptr: number;
  size: number;
  list: number;
  prev: FreeBlock | null;
  next: FreeBlock | null;
}

/** The list index (fl · 32 + sl) of a size (≥ 16, < 2^32). */
function listOf(size: number): number {
  if (size < SMALL) return size >>> 4;
  const log = 31 - Math.clz32(size);
  return (log - 8) * SL + ((size >>> (log - SL_LOG2)) & (SL - 1));
}

/** Index of the lowest set bit of a non-zero 32-bit word. */
function ctz(x: number): number {
  return 31 - Math.clz32(x & -x);
}

/**
 * A TLSF allocator over the address range [base, end): pure bookkeeping (no memory access), so it
 * can be driven by the wasm memory or by a replayed trace. Sizes and addresses are multiples of 16.
 */
export class Tlsf {
  private readonly heads: (FreeBlock | null)[] = new Array<FreeBlock | null>(FL * SL).fill(null);
  private flBits = 0;
  private readonly slBits = new Int32Array(FL);
  private readonly byStart = new Map<number, FreeBlock>();
  private readonly byEnd = new Map<number, FreeBlock>();
  /** Live (allocated) blocks: start → size. */
  private readonly live = new Map<number, number>();
  private _end: number;
  /** Bytes in free blocks. */
  freeBytes = 0;
  /** Bytes in live blocks. */
  liveBytes = 0;
  /** The most bytes ever in live blocks at once. */
  peakLiveBytes = 0;
  /** The highest end of any block ever allocated. */
  highWater: number;

  constructor(readonly base: number, end: number) {
    if (base % 16 !== 0) throw new Error(`Tlsf: expected a 16-byte aligned base, got ${base}`);
    this._end = base;
    this.highWater = base;
    this.extend(end);
  }

  /** End of the managed range. */
  get end(): number {
    return this._end;
  }

  /** Adds [end, newEnd) to the heap as free space (merged with a free last block). */
  extend(newEnd: number): void {
    const end = Math.floor(newEnd / 16) * 16;
    if (end <= this._end) return;
    const start = this._end;
    this._end = end;
    this.insertMerged(start, end - start);
  }

  /** Size of the free block that ends the heap (0 when the last block is live). */
  get tailFree(): number {
    return this.byEnd.get(this._end)?.size ?? 0;
  }

  /** Size of the largest free block (a scan: for reports and errors, not the hot path). */
  get largestFree(): number {
    let m = 0;
    for (const b of this.byStart.values()) if (b.size > m) m = b.size;
    return m;
  }

  /** Number of free blocks. */
  get freeBlocks(): number {
    return this.byStart.size;
  }

  /** Size of the live block at `ptr`, or undefined. */
  sizeOf(ptr: number): number | undefined {
    return this.live.get(ptr);
  }

  /** A block of exactly `size` bytes (a multiple of 16), or -1 when no free block holds it. */
  malloc(size: number): number {
    if (size >= MAX_BYTES) return -1;
    // The request's own list may hold a block that fits although the list's smallest size does
    // not (TLSF's rounded search skips it); look at a few before going to larger lists.
    const own = listOf(size);
    let best = this.bestIn(own, size, OWN_LIST_SCAN);
    if (!best) {
      // Good fit: the first block of the smallest non-empty list all of whose blocks are ≥ size.
      const r = size < SMALL ? size : size + 2 ** (31 - Math.clz32(size) - SL_LOG2) - 1;
      if (r < MAX_BYTES) {
        const i = listOf(r);
        let fl = (i / SL) | 0;
        let bits = this.slBits[fl]! & (~0 << (i & (SL - 1)));
        if (bits === 0 && fl + 1 < FL) {
          const fb = this.flBits & (~0 << (fl + 1));
          if (fb !== 0) bits = this.slBits[(fl = ctz(fb))]!;
        }
        if (bits !== 0) best = this.heads[fl * SL + ctz(bits)]!;
      }
    }
    // Before giving up (the caller then grows the memory): a block of the request's own list that
    // fits but lay beyond the scan. A full scan of that list, so only on this rare path.
    best ??= this.bestIn(own, size, Infinity);
    return best ? this.take(best, size) : -1;
  }

  /** The smallest block ≥ size among the first `limit` blocks of list `list`. */
  private bestIn(list: number, size: number, limit: number): FreeBlock | null {
    let best: FreeBlock | null = null;
    let b = this.heads[list] ?? null;
    for (let k = 0; b && k < limit; k++, b = b.next) {
      if (b.size >= size && (!best || b.size < best.size)) {
        best = b;
        if (b.size === size) break;
      }
    }
    return best;
  }

  /** Frees the live block at `ptr`, merging it with its free neighbours; returns its size. */
  free(ptr: number): number {
    const size = this.live.get(ptr);
    if (size === undefined) throw new Error(`wasm release: expected a live block at ${ptr}, got none (released twice?)`);
    this.live.delete(ptr);
    this.liveBytes -= size;
    this.insertMerged(ptr, size);
    return size;
  }

  /** Allocates the low `size` bytes of free block `b`; the rest stays free (the same record). */
  private take(b: FreeBlock, size: number): number {
    const ptr = b.ptr;
    if (b.size === size) this.drop(b);
    else {
      this.byStart.delete(ptr);
      b.ptr += size;
      b.size -= size;
      this.byStart.set(b.ptr, b);
      this.relist(b);
    }
    this.freeBytes -= size;
    this.live.set(ptr, size);
    this.liveBytes += size;
    if (this.liveBytes > this.peakLiveBytes) this.peakLiveBytes = this.liveBytes;
    if (ptr + size > this.highWater) this.highWater = ptr + size;
    return ptr;
  }

  /** Makes [ptr, ptr + size) free, merged with the free blocks that end at ptr and start at its end. */
  private insertMerged(ptr: number, size: number): void {
    const end = ptr + size;
    const prev = this.byEnd.get(ptr);
    const next = this.byStart.get(end);
    this.freeBytes += size;
    if (prev) {
      this.byEnd.delete(ptr);
      prev.size += size;
      if (next) {
        this.drop(next);
        prev.size += next.size;
      }
      this.byEnd.set(prev.ptr + prev.size, prev);
      this.relist(prev);
    } else if (next) {
      this.byStart.delete(end);
      next.ptr = ptr;
      next.size += size;
      this.byStart.set(ptr, next);
      this.relist(next);
    } else {
      const b: FreeBlock = { ptr, size, list: listOf(size), prev: null, next: null };
      this.byStart.set(ptr, b);
      this.byEnd.set(end, b);
      this.push(b);
    }
  }

  /** Removes a free block from its list and the maps. */
  private drop(b: FreeBlock): void {
    this.unlink(b);
    this.byStart.delete(b.ptr);
    this.byEnd.delete(b.ptr + b.size);
  }

  /** Moves a block whose size changed to the list of its new size. */
  private relist(b: FreeBlock): void {
    const list = listOf(b.size);
    this.unlink(b);
    b.list = list;
    this.push(b);
  }

  /** Pushes a block on the front of list b.list. */
  private push(b: FreeBlock): void {
    const head = this.heads[b.list] ?? null;
    b.prev = null;
    b.next = head;
    if (head) head.prev = b;
    this.heads[b.list] = b;
    const fl = (b.list / SL) | 0;
    this.slBits[fl]! |= 1 << (b.list & (SL - 1));
    this.flBits |= 1 << fl;
  }

  /** Takes a block out of its list. */
  private unlink(b: FreeBlock): void {
    if (b.prev) b.prev.next = b.next;
    else this.heads[b.list] = b.next;
    if (b.next) b.next.prev = b.prev;
    if (!this.heads[b.list]) {
      const fl = (b.list / SL) | 0;
      this.slBits[fl]! &= ~(1 << (b.list & (SL - 1)));
      if (this.slBits[fl] === 0) this.flBits &= ~(1 << fl);
    }
  }
}

// ------------------------------------------------------------------ the wasm memory
export class WasmMemory {
  private buf: ArrayBuffer | SharedArrayBuffer;
  private _f32: Float32Array;
  private _i32: Int32Array;
  private _u8: Uint8Array;
  /** The allocator over [heap_base, memory end). */
  readonly heap: Tlsf;
  private scratchBytes = 0;
  private readonly slots: (WasmStorage | null)[] = [];

  constructor(readonly memory: WebAssembly.Memory, heapBase: number) {
    this.buf = memory.buffer;
    this._f32 = new Float32Array(this.buf);
    this._i32 = new Int32Array(this.buf);
    this._u8 = new Uint8Array(this.buf);
    this.heap = new Tlsf(Math.ceil(heapBase / 16) * 16, memory.buffer.byteLength);
  }

  private views(): void {
    if (this.buf !== this.memory.buffer) {
      this.buf = this.memory.buffer;
      this._f32 = new Float32Array(this.buf);
      this._i32 = new Int32Array(this.buf);
      this._u8 = new Uint8Array(this.buf);
    }
  }
  get f32(): Float32Array { this.views(); return this._f32; }
  get i32(): Int32Array { this.views(); return this._i32; }
  get u8(): Uint8Array { this.views(); return this._u8; }

  /** Current size of the linear memory in bytes. */
  get size(): number {
    return this.memory.buffer.byteLength;
  }

  /** Bytes held beyond live tensors: free blocks (including the unused grown tail) and scratch slots. */
  get pooledBytes(): number {
    return this.heap.freeBytes + this.scratchBytes;
  }

  /** Bytes in the largest free block (a scan of the free blocks). */
  get largestFreeBlock(): number {
    return this.heap.largestFree;
  }

  /**
   * A block for `bytes` bytes of tensor data. `op` names the caller in errors.
   * @throws Error when the request cannot fit in wasm32's 4 GiB or the memory cannot grow; it
   *   names the request, the free total and the largest free block.
   */
  alloc(op: string, bytes: number): WasmStorage {
    if (bytes === 0) return { ptr: 0, bytes: 0, block: 0 };
    const block = blockSize(bytes);
    let ptr = this.heap.malloc(block);
    if (ptr < 0) ptr = this.grow(op, bytes, block);
    return { ptr, bytes, block };
  }

  /** Grows the memory so that the heap's last free block holds `block`, and allocates it there. */
  private grow(op: string, bytes: number, block: number): number {
    const heap = this.heap;
    heap.extend(this.memory.buffer.byteLength); // adopt pages grown by anyone else
    const needEnd = heap.end - heap.tailFree + block;
    if (needEnd > MAX_BYTES) {
      throw new Error(`${op}: expected an allocation that fits the 4 GiB wasm32 memory (${this.freeReport(true)}), got ${bytes} bytes (${fmtBytes(bytes)})`);
    }
    const have = this.memory.buffer.byteLength / PAGE;
    const need = Math.ceil(needEnd / PAGE);
    // grow by at least 1/8 of the current size, to amortize growth
    const want = Math.min(MAX_PAGES, Math.max(need, have + Math.ceil(have / 8)));
    try {
      this.memory.grow(want - have);
    } catch {
      try {
        this.memory.grow(need - have);
      } catch (e) {
        throw new Error(`${op}: expected ${bytes} bytes (${fmtBytes(bytes)}) of wasm memory (${this.freeReport(false)}), got a failed memory.grow: ${(e as Error).message}`);
      }
    }
    heap.extend(this.memory.buffer.byteLength);
    return heap.malloc(block);
  }

  /** "largest free block X, Y free in total …" for exhaustion errors. */
  private freeReport(toLimit: boolean): string {
    const heap = this.heap;
    const size = this.memory.buffer.byteLength;
    if (!toLimit) return `largest free block ${fmtBytes(heap.largestFree)}, ${fmtBytes(heap.freeBytes)} free in total in the ${fmtBytes(size)} memory`;
    const room = MAX_BYTES - size;
    const largest = Math.max(heap.largestFree, heap.tailFree + room);
    return `largest free block ${fmtBytes(largest)}, ${fmtBytes(heap.freeBytes + room)} free in total, counting the ${fmtBytes(room)} the memory can still grow`;
  }

  /** Returns a block to the allocator (merged with its free neighbours). */
  release(s: WasmStorage): void {
    if (s.block === 0) return;
    this.heap.free(s.ptr);
  }

  /**
   * A scratch region of at least `bytes` for slot `slot`, kept across calls (im2col columns, packed
   * panels, the args block). Its contents are undefined. Grows (by reallocation) when too small.
   */
  scratch(slot: number, bytes: number, op = 'scratch'): number {
    const cur = this.slots[slot] ?? null;
    if (cur && cur.block - 16 >= bytes) return cur.ptr;
    if (cur) {
      this.scratchBytes -= cur.block;
      this.slots[slot] = null;
      this.release(cur);
    }
    const s = this.alloc(op, Math.max(bytes, 64));
    this.slots[slot] = s;
    this.scratchBytes += s.block;
    return s.ptr;
  }

  /** Writes i32 words into the args slot (slot 0) and returns its pointer. */
  args(words: readonly number[], extra = 0): number {
    const p = this.scratch(0, (words.length + extra) * 4, 'args');
    this.i32.set(words, p >>> 2);
    return p;
  }

  /** Copies host values into a fresh block (float32 or int32 words). */
  upload(op: string, values: ArrayLike<number>, dtype: DType): WasmStorage {
    const s = this.alloc(op, values.length * 4);
    if (values.length) {
      if (dtype === 'int32') {
        const v = this.i32;
        if (values instanceof Int32Array) v.set(values, s.ptr >>> 2);
        else for (let i = 0; i < values.length; i++) v[(s.ptr >>> 2) + i] = Math.trunc(values[i]!);
      } else this.f32.set(values, s.ptr >>> 2);
    }
    return s;
  }

  /** A host copy of a storage holding `n` elements of `dtype`. */
  read(s: WasmStorage, n: number, dtype: DType): Float32Array | Int32Array {
    if (dtype === 'int32') return this.i32.slice(s.ptr >>> 2, (s.ptr >>> 2) + n);
    return this.f32.slice(s.ptr >>> 2, (s.ptr >>> 2) + n);
  }
}

export function fmtBytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(2)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(2)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}
