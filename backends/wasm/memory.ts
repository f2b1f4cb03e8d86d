/**
 * The wasm backend's memory: one WebAssembly.Memory (wasm32, up to 4 GiB) shared by every kernel,
 * and a size-class allocator that lives here, on the JS side (kernels never allocate).
 *
 * Blocks: a request of `bytes` gets a block of at least roundUp(bytes, 16) + 16 bytes, 16-byte
 * aligned. The extra 16 bytes are a tail guard so SIMD kernels may over-read (and, for whole-buffer
 * loops, over-write) up to one f32x4 past the last element (see assembly/common.ts).
 * Size classes: multiples of 16 up to 256 bytes, then four classes per power of two (≤ 25% waste).
 * A released block goes on its class's free list and is reused by the next request of that class;
 * new blocks are bumped from the top of the heap, growing the memory when needed. Memory never
 * shrinks (wasm cannot), so `pooledBytes` reports the free-listed bytes plus the scratch slots.
 *
 * Views: growing the memory detaches the old ArrayBuffer, so the typed-array views are re-created
 * whenever `memory.buffer` changes (check on every access through `f32`/`i32`/`u8`).
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

/** The block size for a request of `bytes` (> 0). */
export function blockSize(bytes: number): number {
  const need = Math.ceil(bytes / 16) * 16 + 16;
  if (need <= 256) return need;
  const step = 2 ** (Math.floor(Math.log2(need - 1)) - 2);
  return Math.ceil(need / step) * step;
}

export class WasmMemory {
  private buf: ArrayBuffer;
  private _f32: Float32Array;
  private _i32: Int32Array;
  private _u8: Uint8Array;
  private top: number;
  private readonly free = new Map<number, number[]>();
  private freeBytes = 0;
  private scratchBytes = 0;
  private readonly slots: (WasmStorage | null)[] = [];

  constructor(readonly memory: WebAssembly.Memory, heapBase: number) {
    this.top = Math.ceil(heapBase / 16) * 16;
    this.buf = memory.buffer;
    this._f32 = new Float32Array(this.buf);
    this._i32 = new Int32Array(this.buf);
    this._u8 = new Uint8Array(this.buf);
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

  /** Bytes held beyond live tensors: free-listed blocks and scratch slots. */
  get pooledBytes(): number {
    return this.freeBytes + this.scratchBytes;
  }

  /**
   * A block for `bytes` bytes of tensor data. `op` names the caller in errors.
   * @throws Error when the request cannot fit in wasm32's 4 GiB.
   */
  alloc(op: string, bytes: number): WasmStorage {
    if (bytes === 0) return { ptr: 0, bytes: 0, block: 0 };
    const block = blockSize(bytes);
    const list = this.free.get(block);
    if (list && list.length) {
      this.freeBytes -= block;
      return { ptr: list.pop()!, bytes, block };
    }
    if (this.top + block > MAX_BYTES) {
      throw new Error(`${op}: expected an allocation that fits the 4 GiB wasm32 memory (${fmtBytes(MAX_BYTES - this.top)} left), got ${bytes} bytes (${fmtBytes(bytes)})`);
    }
    const end = this.top + block;
    if (end > this.memory.buffer.byteLength) {
      const have = this.memory.buffer.byteLength / PAGE;
      const need = Math.ceil(end / PAGE);
      // grow by at least 1/8 of the current size, to amortize growth
      const want = Math.min(MAX_PAGES, Math.max(need, have + Math.ceil(have / 8)));
      try {
        this.memory.grow(want - have);
      } catch {
        try {
          this.memory.grow(need - have);
        } catch (e) {
          throw new Error(`${op}: expected ${fmtBytes(bytes)} of wasm memory (${fmtBytes(this.memory.buffer.byteLength)} in use), got a failed memory.grow: ${(e as Error).message}`);
        }
      }
    }
    const ptr = this.top;
    this.top = end;
    return { ptr, bytes, block };
  }

  /** Returns a block to its free list. */
  release(s: WasmStorage): void {
    if (s.block === 0) return;
    let list = this.free.get(s.block);
    if (!list) this.free.set(s.block, (list = []));
    list.push(s.ptr);
    this.freeBytes += s.block;
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
