/**
 * The limits that keep a hostile checkpoint from costing unbounded time or memory (docs/checkpoints.md).
 *
 * - **Memory budget** (`maxBytes`): everything the loader allocates for one file counts against
 *   it, and is checked before the allocation: inflated zip entries (their declared size, before
 *   inflating), decoded tensors (all of them, before the first is decoded), pickled containers
 *   (a flat cost per dict, set, list or tuple) and pickled strings and bytes. The default,
 *   max(32 MiB, 8 × the file size), holds every real checkpoint: decoding converts at most 1 byte of
 *   storage into 4 (int8, uint8 and bool become int32), and views that share a storage share its
 *   decoded data. What exceeds it: stride-0 (expanded) tensors, many strided copies of one storage,
 *   zip bombs, millions of empty containers from a few bytes each.
 * - **Nesting depth** (`maxDepth`, default 1000): pickled MARKs open at once, and containers
 *   nested in the loaded value (the loader walks it recursively).
 * - **Integer size** (`maxIntBytes`, default 1024): a pickled integer of at most 1024 bytes
 *   (LONG1/LONG4), or about 2467 decimal digits (text INT/LONG). PyTorch's largest is the legacy
 *   format's 10-byte magic number.
 */

export interface LoadLimits {
  /**
   * The memory budget in bytes for one file: inflated zip entries, decoded tensors, pickled
   * containers, strings and bytes (default max(32 MiB, 8 × the file's size)).
   */
  maxBytes?: number;
  /** The deepest nesting of pickled MARKs and of containers in the loaded value (default 1000). */
  maxDepth?: number;
  /** The largest pickled integer, in bytes of two's complement (default 1024; text integers: 2.41 digits a byte). */
  maxIntBytes?: number;
}

export const MIB = 1 << 20;
export const DEFAULT_MAX_DEPTH = 1000;
export const DEFAULT_MAX_INT_BYTES = 1024;
/** The budget floor and the multiple of the file size. */
export const BUDGET_FLOOR = 32 * MIB;
export const BUDGET_FILE_FACTOR = 8;

/** What a pickled container is charged against the budget (V8's sizes: a Map ~184 bytes, an empty array 32). */
export const MAP_COST = 256;
export const ARRAY_COST = 64;

/** The default memory budget for a file of `fileBytes` bytes. */
export function defaultMaxBytes(fileBytes: number): number {
  return Math.max(BUDGET_FLOOR, BUDGET_FILE_FACTOR * fileBytes);
}

/** A byte count for messages: '4096 bytes', '32 MiB', '1.49 GiB'. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (n < 64 * 1024) return `${n} bytes`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) (v /= 1024), u++;
  return `${Number.isInteger(v) ? v : v.toPrecision(3)} ${units[u]}`;
}

/** The memory budget of one load: `charge` reserves bytes before they are allocated, or throws. */
export class Budget {
  used = 0;
  constructor(
    /** The limit in bytes. */
    readonly limit: number,
    /** The operation named in errors ('loadPth(model.pth)'). */
    readonly op: string,
    /** Whether the limit is the default (the message then says how it was derived). */
    readonly isDefault = true,
  ) {}

  /** Whether `n` more bytes fit. */
  fits(n: number): boolean {
    return n >= 0 && this.used + n <= this.limit;
  }

  /**
   * Reserves `n` bytes for `what`.
   * @throws Error naming `what`, the bytes asked for and the limit, when they do not fit.
   */
  charge(n: number, what: string): void {
    if (this.fits(n)) {
      this.used += n;
      return;
    }
    const how = this.isDefault ? `the default max(32 MiB, 8 × the file size); raise it with the maxBytes option if the file is trusted` : 'the maxBytes option';
    throw new Error(
      `${this.op}: expected ${what} to fit the memory budget of ${formatBytes(this.limit)} (${how}), got ${formatBytes(n)} more on top of ${formatBytes(this.used)} already used`,
    );
  }
}

/** The resolved limits of one load, and its budget. */
export interface LoadContext {
  /** The operation named in errors: 'loadPth' or 'loadPth(<file>)'. */
  readonly op: string;
  readonly budget: Budget;
  readonly maxDepth: number;
  readonly maxIntBytes: number;
}

/** Resolves the limits for a file of `fileBytes` bytes. */
export function loadContext(op: string, fileBytes: number, limits: LoadLimits = {}): LoadContext {
  const positive = (v: number | undefined, name: string): void => {
    if (v !== undefined && !(Number.isFinite(v) && v > 0)) throw new Error(`${op}: expected a positive ${name}, got ${v}`);
  };
  positive(limits.maxBytes, 'maxBytes');
  positive(limits.maxDepth, 'maxDepth');
  positive(limits.maxIntBytes, 'maxIntBytes');
  const budget = new Budget(limits.maxBytes ?? defaultMaxBytes(fileBytes), op, limits.maxBytes === undefined);
  return { op, budget, maxDepth: limits.maxDepth ?? DEFAULT_MAX_DEPTH, maxIntBytes: limits.maxIntBytes ?? DEFAULT_MAX_INT_BYTES };
}
