/**
 * A Python pickle reader (protocols 0 to 5) that executes nothing.
 *
 * A pickle is a small stack-machine program: opcodes push values, build containers, and, through
 * GLOBAL/STACK_GLOBAL + REDUCE/NEWOBJ/BUILD, import and call arbitrary Python callables. That last
 * part is what makes `pickle.load` unsafe. Here GLOBAL never imports anything: the caller's
 * `findGlobal` maps an allowlisted (module, name) to a `PyGlobal` whose `call` builds a plain JS
 * value, and throws for everything else (`os.system`, `builtins.eval`, user classes...).
 *
 * Python values map to JS as: None → null, bool → boolean, int → number (bigint beyond 2⁵³),
 * float → number, str → string, bytes/bytearray → Uint8Array, list and tuple → array,
 * dict → Map (keys keep their Python type), set/frozenset → Set.
 *
 * Decoding is linear in the input, and bounded (limits.ts): integers of at most `maxIntBytes`
 * bytes, at most `maxDepth` MARKs open at once, and containers, strings, bytes and memo entries
 * charged against a memory budget before they are made.
 */
import { ARRAY_COST, Budget, DEFAULT_MAX_DEPTH, DEFAULT_MAX_INT_BYTES, defaultMaxBytes, MAP_COST } from './limits.js';

/** An allowlisted Python callable or class: what GLOBAL pushes. */
export interface PyGlobal {
  readonly __pyGlobal: true;
  /** 'module.name', for error messages. */
  readonly qualname: string;
  /** REDUCE / INST / OBJ: `callable(*args)`. */
  call?(args: unknown[]): unknown;
  /** NEWOBJ / NEWOBJ_EX: `cls.__new__(cls, *args)`. */
  newObj?(args: unknown[]): unknown;
  /** When present, GLOBAL pushes this value instead of the global itself (e.g. `torch.float16`). */
  readonly value?: unknown;
}

/** Objects produced by a PyGlobal that accept BUILD (`__setstate__`) implement this symbol. */
export const SET_STATE: unique symbol = Symbol('pickle.setstate');

export interface SetStateTarget {
  [SET_STATE](state: unknown): void;
}

/** Makes a PyGlobal. */
export function pyGlobal(qualname: string, impl: { call?: (args: unknown[]) => unknown; newObj?: (args: unknown[]) => unknown; value?: unknown }): PyGlobal {
  return { __pyGlobal: true, qualname, ...impl };
}

export function isPyGlobal(v: unknown): v is PyGlobal {
  return !!v && typeof v === 'object' && (v as PyGlobal).__pyGlobal === true;
}

export interface UnpickleOptions {
  /** Resolves GLOBAL module.name; must throw for anything not allowlisted. */
  findGlobal(module: string, name: string): PyGlobal;
  /** Resolves a persistent id (PERSID / BINPERSID); absent: persistent ids throw. */
  persistentLoad?(pid: unknown): unknown;
  /** The name used in error messages (default 'unpickle'). */
  op?: string;
  /** Where the pickle sits, for limit errors ("'archive/data.pkl'", 'the object pickle'); default none. */
  entry?: string;
  /** The memory budget to charge (default: a budget of max(32 MiB, 8 × bytes.length) for this pickle alone). */
  budget?: Budget;
  /** The most MARKs open at once (default 1000). */
  maxDepth?: number;
  /** The largest integer in bytes of two's complement (default 1024; text integers: 2.41 digits a byte). */
  maxIntBytes?: number;
}

/** Attributes set by BUILD on dicts (PyTorch's state_dict `_metadata`), by object. */
const attributes = new WeakMap<object, Map<unknown, unknown>>();

/** The instance attributes that a pickle set on a dict (for example `_metadata` on a state dict). */
export function pyAttributes(obj: object): Map<unknown, unknown> | undefined {
  return attributes.get(obj);
}

/**
 * Reads one pickle from `bytes` starting at `start` and returns its value and the offset just past
 * its STOP opcode (several pickles may follow each other, as in PyTorch's legacy format).
 * @throws Error naming the opcode and offset on truncated input, an unknown or unsupported opcode,
 *   a global that `findGlobal` refuses, a malformed stack, or a limit exceeded (an integer over
 *   `maxIntBytes`, MARKs nested deeper than `maxDepth`, the memory budget).
 */
export function unpickle(bytes: Uint8Array, opts: UnpickleOptions, start = 0): { value: unknown; end: number } {
  return new Unpickler(bytes, opts, start).run();
}

class Unpickler {
  private pos: number;
  private stack: unknown[] = [];
  private readonly metastack: unknown[][] = [];
  private readonly memo = new Map<number, unknown>();
  private readonly dv: DataView;
  private readonly op: string;
  private readonly budget: Budget;
  private readonly maxDepth: number;
  private readonly maxIntBytes: number;
  /** The offset of the opcode being run. */
  private at = 0;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly opts: UnpickleOptions,
    start: number,
  ) {
    this.pos = start;
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.op = opts.op ?? 'unpickle';
    this.budget = opts.budget ?? new Budget(defaultMaxBytes(bytes.length), this.op);
    this.maxDepth = opts.maxDepth ?? DEFAULT_MAX_DEPTH;
    this.maxIntBytes = opts.maxIntBytes ?? DEFAULT_MAX_INT_BYTES;
  }

  private fail(expected: string, received: string): never {
    throw new Error(`${this.op}: expected ${expected}, got ${received}`);
  }

  /** "LONG4 at offset 12 in 'archive/data.pkl'": where a limit was hit. */
  private site(opcode: string): string {
    return `${opcode} at offset ${this.at}${this.opts.entry ? ` in ${this.opts.entry}` : ''}`;
  }

  /** Charges `n` bytes for what `opcode` makes, before making it. */
  private spend(n: number, opcode: string): void {
    if (!this.budget.fits(n)) this.budget.charge(n, `the pickle's values (${this.site(opcode)})`);
    this.budget.used += n;
  }

  /** A LONG1/LONG4 of `n` bytes, decoded in one pass, after checking `n` against maxIntBytes. */
  private long(n: number, opcode: string): number | bigint {
    if (n > this.maxIntBytes) this.fail(`an integer of at most ${this.maxIntBytes} bytes (maxIntBytes)`, `${n} bytes (${this.site(opcode)})`);
    return decodeLong(this.raw(n, opcode));
  }

  /** A text integer (INT, LONG, PUT, GET), its digits checked against maxIntBytes before parsing. */
  private intText(s: string, opcode: string): number | bigint {
    const maxDigits = Math.ceil(this.maxIntBytes * 8 * Math.log10(2)) + 1;
    if (s.length > maxDigits + 1) this.fail(`an integer of at most ${maxDigits} digits (maxIntBytes ${this.maxIntBytes})`, `${s.length} characters (${this.site(opcode)})`);
    return parseIntText(this.op, s);
  }

  /** A memo index from a text PUT/GET. */
  private memoIndex(s: string, opcode: string): number {
    const i = this.intText(s, opcode);
    if (typeof i !== 'number' || i < 0) this.fail(`a memo index for ${opcode}`, `${String(i)} (${this.site(opcode)})`);
    return i;
  }

  private memoSet(i: number, v: unknown, opcode: string): void {
    this.spend(32, opcode);
    this.memo.set(i, v);
  }

  private need(n: number, what: string): number {
    if (n < 0 || this.pos + n > this.bytes.length) {
      this.fail(`${n} more bytes for ${what} at offset ${this.pos}`, `the end of the data after ${this.bytes.length - this.pos} (truncated file?)`);
    }
    const p = this.pos;
    this.pos += n;
    return p;
  }

  private u8(what: string): number {
    return this.bytes[this.need(1, what)]!;
  }
  private u16(what: string): number {
    return this.dv.getUint16(this.need(2, what), true);
  }
  private u32(what: string): number {
    return this.dv.getUint32(this.need(4, what), true);
  }
  private i32(what: string): number {
    return this.dv.getInt32(this.need(4, what), true);
  }
  private u64(what: string): number {
    const v = this.dv.getBigUint64(this.need(8, what), true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`a length below 2^53 for ${what}`, String(v));
    return Number(v);
  }
  /** `n` bytes, charged to the budget (they usually become a string or a copy). */
  private raw(n: number, what: string): Uint8Array {
    const p = this.need(n, what);
    this.spend(n, what);
    return this.bytes.subarray(p, p + n);
  }
  private line(what: string): string {
    const end = this.bytes.indexOf(0x0a, this.pos);
    if (end < 0) this.fail(`a newline-terminated ${what} at offset ${this.pos}`, 'the end of the data (truncated file?)');
    this.spend(end - this.pos, what);
    const s = latin1(this.bytes.subarray(this.pos, end));
    this.pos = end + 1;
    return s;
  }
  private utf8(n: number, what: string): string {
    return new TextDecoder('utf-8').decode(this.raw(n, what));
  }

  private pop(what: string): unknown {
    if (this.stack.length === 0) this.fail(`a value on the stack for ${what}`, 'an empty stack (malformed pickle)');
    return this.stack.pop();
  }
  private top(what: string): unknown {
    if (this.stack.length === 0) this.fail(`a value on the stack for ${what}`, 'an empty stack (malformed pickle)');
    return this.stack[this.stack.length - 1];
  }
  /** A new tuple or list (charged to the budget). */
  private array(items: unknown[], opcode: string): unknown[] {
    this.spend(ARRAY_COST, opcode);
    return items;
  }
  private popMark(what: string): unknown[] {
    const items = this.stack;
    const prev = this.metastack.pop();
    if (!prev) this.fail(`a MARK before ${what}`, 'none (malformed pickle)');
    this.stack = prev;
    return items;
  }
  private push(v: unknown): void {
    this.stack.push(v);
  }

  private resolve(module: string, name: string): PyGlobal {
    const g = this.opts.findGlobal(module, name);
    if (!isPyGlobal(g)) this.fail(`an allowlisted global for ${module}.${name}`, typeof g);
    return g;
  }

  /** What GLOBAL / STACK_GLOBAL push: the global, or its plain value. */
  private globalValue(module: string, name: string): unknown {
    const g = this.resolve(module, name);
    return 'value' in g ? g.value : g;
  }

  private callGlobal(fn: unknown, args: unknown, how: 'call' | 'newObj', opcode: string): unknown {
    if (!isPyGlobal(fn)) this.fail(`an allowlisted callable for ${opcode}`, describe(fn));
    if (!Array.isArray(args)) this.fail(`an argument tuple for ${fn.qualname}`, describe(args));
    const impl = fn[how];
    if (!impl) this.fail(`${fn.qualname} to support ${opcode}`, 'a global that does not (posegrad builds only known data types)');
    this.spend(MAP_COST, opcode);
    return impl.call(fn, args);
  }

  private setItems(target: unknown, items: unknown[], opcode: string): void {
    if (!(target instanceof Map)) this.fail(`a dict for ${opcode}`, describe(target));
    if (items.length % 2 !== 0) this.fail(`key/value pairs for ${opcode}`, `${items.length} items`);
    for (let i = 0; i < items.length; i += 2) target.set(items[i], items[i + 1]);
  }

  private append(target: unknown, items: unknown[], opcode: string): void {
    if (!Array.isArray(target)) this.fail(`a list for ${opcode}`, describe(target));
    for (const v of items) target.push(v);
  }

  private persistent(pid: unknown): unknown {
    if (!this.opts.persistentLoad) this.fail('no persistent ids', `persistent id ${describe(pid)}`);
    return this.opts.persistentLoad(pid);
  }

  private build(obj: unknown, state: unknown): void {
    if (obj && typeof obj === 'object' && SET_STATE in obj) {
      (obj as SetStateTarget)[SET_STATE](state);
      return;
    }
    // A dict subclass (OrderedDict with `_metadata`): keep the attributes aside, as data.
    if (obj instanceof Map && (state instanceof Map || state === null)) {
      if (state) attributes.set(obj, state);
      return;
    }
    this.fail('BUILD on an object that accepts state', describe(obj));
  }

  run(): { value: unknown; end: number } {
    for (;;) {
      const at = this.pos;
      this.at = at;
      const code = this.u8('an opcode');
      switch (code) {
        case 0x80: // PROTO
          {
            const v = this.u8('the protocol');
            if (v > 5) this.fail('pickle protocol ≤ 5', String(v));
          }
          break;
        case 0x95: // FRAME: an 8-byte length; the framed opcodes follow inline.
          this.u64('a frame length');
          break;
        case 0x2e: // STOP
          {
            const value = this.pop('STOP');
            return { value, end: this.pos };
          }

        // ---------------------------------------------------------------- constants
        case 0x4e: // NONE
          this.push(null);
          break;
        case 0x88: // NEWTRUE
          this.push(true);
          break;
        case 0x89: // NEWFALSE
          this.push(false);
          break;
        case 0x4b: // BININT1
          this.push(this.u8('BININT1'));
          break;
        case 0x4d: // BININT2
          this.push(this.u16('BININT2'));
          break;
        case 0x4a: // BININT
          this.push(this.i32('BININT'));
          break;
        case 0x8a: // LONG1
          this.push(this.long(this.u8('LONG1 length'), 'LONG1'));
          break;
        case 0x8b: // LONG4
          {
            const n = this.i32('LONG4 length');
            if (n < 0) this.fail('a non-negative LONG4 length', String(n));
            this.push(this.long(n, 'LONG4'));
          }
          break;
        case 0x47: // BINFLOAT (big-endian double)
          this.push(this.dv.getFloat64(this.need(8, 'BINFLOAT'), false));
          break;
        case 0x49: // INT (text; "00"/"01" are False/True)
          {
            const s = this.line('INT');
            if (s === '00') this.push(false);
            else if (s === '01') this.push(true);
            else this.push(this.intText(s, 'INT'));
          }
          break;
        case 0x4c: // LONG (text, trailing L)
          this.push(this.intText(this.line('LONG').replace(/L$/, ''), 'LONG'));
          break;
        case 0x46: // FLOAT (text)
          {
            const s = this.line('FLOAT');
            const v = Number(s);
            if (Number.isNaN(v) && !/nan/i.test(s)) this.fail('a float literal', JSON.stringify(s));
            this.push(v);
          }
          break;

        // ---------------------------------------------------------------- strings and bytes
        case 0x58: // BINUNICODE
          this.push(this.utf8(this.u32('BINUNICODE length'), 'BINUNICODE'));
          break;
        case 0x8c: // SHORT_BINUNICODE
          this.push(this.utf8(this.u8('SHORT_BINUNICODE length'), 'SHORT_BINUNICODE'));
          break;
        case 0x8d: // BINUNICODE8
          this.push(this.utf8(this.u64('BINUNICODE8 length'), 'BINUNICODE8'));
          break;
        case 0x56: // UNICODE (raw-unicode-escape text)
          this.push(this.line('UNICODE').replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_, a: string, b: string) => String.fromCodePoint(parseInt(a ?? b, 16))));
          break;
        case 0x54: // BINSTRING (Python 2 str: decoded as latin-1)
          {
            const n = this.i32('BINSTRING length');
            this.push(latin1(this.raw(n, 'BINSTRING')));
          }
          break;
        case 0x55: // SHORT_BINSTRING
          this.push(latin1(this.raw(this.u8('SHORT_BINSTRING length'), 'SHORT_BINSTRING')));
          break;
        case 0x53: // STRING (a quoted Python 2 literal)
          this.push(unquote(this.op, this.line('STRING')));
          break;
        case 0x42: // BINBYTES
          this.push(this.raw(this.u32('BINBYTES length'), 'BINBYTES').slice());
          break;
        case 0x43: // SHORT_BINBYTES
          this.push(this.raw(this.u8('SHORT_BINBYTES length'), 'SHORT_BINBYTES').slice());
          break;
        case 0x8e: // BINBYTES8
          this.push(this.raw(this.u64('BINBYTES8 length'), 'BINBYTES8').slice());
          break;
        case 0x96: // BYTEARRAY8
          this.push(this.raw(this.u64('BYTEARRAY8 length'), 'BYTEARRAY8').slice());
          break;
        case 0x97: // NEXT_BUFFER
        case 0x98: // READONLY_BUFFER
          this.fail('no out-of-band buffers (pickle protocol 5 buffers are not stored in the file)', `opcode 0x${code.toString(16)} at offset ${at}`);

        // ---------------------------------------------------------------- containers
        case 0x28: // MARK
          if (this.metastack.length >= this.maxDepth) this.fail(`at most ${this.maxDepth} MARKs open at once (maxDepth)`, `one more (${this.site('MARK')})`);
          this.metastack.push(this.stack);
          this.stack = this.array([], 'MARK');
          break;
        case 0x29: // EMPTY_TUPLE
          this.push(this.array([], 'EMPTY_TUPLE'));
          break;
        case 0x85: // TUPLE1
          this.push(this.array([this.pop('TUPLE1')], 'TUPLE1'));
          break;
        case 0x86: // TUPLE2
          {
            const b = this.pop('TUPLE2');
            const a = this.pop('TUPLE2');
            this.push(this.array([a, b], 'TUPLE2'));
          }
          break;
        case 0x87: // TUPLE3
          {
            const c = this.pop('TUPLE3');
            const b = this.pop('TUPLE3');
            const a = this.pop('TUPLE3');
            this.push(this.array([a, b, c], 'TUPLE3'));
          }
          break;
        case 0x74: // TUPLE
          this.push(this.popMark('TUPLE'));
          break;
        case 0x5d: // EMPTY_LIST
          this.push(this.array([], 'EMPTY_LIST'));
          break;
        case 0x6c: // LIST
          this.push(this.popMark('LIST'));
          break;
        case 0x7d: // EMPTY_DICT
          this.spend(MAP_COST, 'EMPTY_DICT');
          this.push(new Map());
          break;
        case 0x64: // DICT
          {
            const items = this.popMark('DICT');
            this.spend(MAP_COST, 'DICT');
            const d = new Map();
            this.setItems(d, items, 'DICT');
            this.push(d);
          }
          break;
        case 0x8f: // EMPTY_SET
          this.spend(MAP_COST, 'EMPTY_SET');
          this.push(new Set());
          break;
        case 0x91: // FROZENSET
          this.spend(MAP_COST, 'FROZENSET');
          this.push(new Set(this.popMark('FROZENSET')));
          break;
        case 0x90: // ADDITEMS
          {
            const items = this.popMark('ADDITEMS');
            const s = this.top('ADDITEMS');
            if (!(s instanceof Set)) this.fail('a set for ADDITEMS', describe(s));
            for (const v of items) s.add(v);
          }
          break;
        case 0x61: // APPEND
          {
            const v = this.pop('APPEND');
            this.append(this.top('APPEND'), [v], 'APPEND');
          }
          break;
        case 0x65: // APPENDS
          {
            const items = this.popMark('APPENDS');
            this.append(this.top('APPENDS'), items, 'APPENDS');
          }
          break;
        case 0x73: // SETITEM
          {
            const v = this.pop('SETITEM');
            const k = this.pop('SETITEM');
            this.setItems(this.top('SETITEM'), [k, v], 'SETITEM');
          }
          break;
        case 0x75: // SETITEMS
          {
            const items = this.popMark('SETITEMS');
            this.setItems(this.top('SETITEMS'), items, 'SETITEMS');
          }
          break;

        // ---------------------------------------------------------------- stack and memo
        case 0x30: // POP
          if (this.stack.length) this.stack.pop();
          else this.popMark('POP');
          break;
        case 0x31: // POP_MARK
          this.popMark('POP_MARK');
          break;
        case 0x32: // DUP
          this.push(this.top('DUP'));
          break;
        case 0x70: // PUT
          this.memoSet(this.memoIndex(this.line('PUT'), 'PUT'), this.top('PUT'), 'PUT');
          break;
        case 0x71: // BINPUT
          this.memoSet(this.u8('BINPUT'), this.top('BINPUT'), 'BINPUT');
          break;
        case 0x72: // LONG_BINPUT
          this.memoSet(this.u32('LONG_BINPUT'), this.top('LONG_BINPUT'), 'LONG_BINPUT');
          break;
        case 0x94: // MEMOIZE
          this.memoSet(this.memo.size, this.top('MEMOIZE'), 'MEMOIZE');
          break;
        case 0x67: // GET
          this.push(this.memoGet(this.memoIndex(this.line('GET'), 'GET')));
          break;
        case 0x68: // BINGET
          this.push(this.memoGet(this.u8('BINGET')));
          break;
        case 0x6a: // LONG_BINGET
          this.push(this.memoGet(this.u32('LONG_BINGET')));
          break;

        // ---------------------------------------------------------------- globals and calls
        case 0x63: // GLOBAL
          {
            const module = this.line('GLOBAL module');
            const name = this.line('GLOBAL name');
            this.push(this.globalValue(module, name));
          }
          break;
        case 0x93: // STACK_GLOBAL
          {
            const name = this.pop('STACK_GLOBAL');
            const module = this.pop('STACK_GLOBAL');
            if (typeof module !== 'string' || typeof name !== 'string') this.fail('strings for STACK_GLOBAL', `${describe(module)}, ${describe(name)}`);
            this.push(this.globalValue(module, name));
          }
          break;
        case 0x52: // REDUCE
          {
            const args = this.pop('REDUCE');
            const fn = this.pop('REDUCE');
            this.push(this.callGlobal(fn, args, 'call', 'REDUCE'));
          }
          break;
        case 0x81: // NEWOBJ
          {
            const args = this.pop('NEWOBJ');
            const cls = this.pop('NEWOBJ');
            this.push(this.callGlobal(cls, args, 'newObj', 'NEWOBJ'));
          }
          break;
        case 0x92: // NEWOBJ_EX
          {
            const kwargs = this.pop('NEWOBJ_EX');
            const args = this.pop('NEWOBJ_EX');
            const cls = this.pop('NEWOBJ_EX');
            if (kwargs instanceof Map && kwargs.size > 0) this.fail('NEWOBJ_EX without keyword arguments', `${kwargs.size} keyword arguments`);
            this.push(this.callGlobal(cls, args, 'newObj', 'NEWOBJ_EX'));
          }
          break;
        case 0x69: // INST
          {
            const module = this.line('INST module');
            const name = this.line('INST name');
            const cls = this.resolve(module, name);
            this.push(this.callGlobal(cls, this.popMark('INST'), 'call', 'INST'));
          }
          break;
        case 0x6f: // OBJ
          {
            const items = this.popMark('OBJ');
            const [cls, ...args] = items;
            this.push(this.callGlobal(cls, args, 'call', 'OBJ'));
          }
          break;
        case 0x62: // BUILD
          {
            const state = this.pop('BUILD');
            this.build(this.top('BUILD'), state);
          }
          break;
        case 0x50: // PERSID
          this.push(this.persistent(this.line('PERSID')));
          break;
        case 0x51: // BINPERSID
          this.push(this.persistent(this.pop('BINPERSID')));
          break;
        case 0x82: // EXT1
        case 0x83: // EXT2
        case 0x84: // EXT4
          this.fail('no copyreg extension codes (they name arbitrary globals)', `opcode EXT at offset ${at}`);

        default:
          this.fail('a pickle opcode', `byte 0x${code.toString(16).padStart(2, '0')} at offset ${at} (not a pickle, or a corrupt one)`);
      }
    }
  }

  private memoGet(i: number): unknown {
    if (!this.memo.has(i)) this.fail(`memo entry ${i}`, 'a missing entry (malformed pickle)');
    return this.memo.get(i);
  }
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/**
 * Little-endian two's complement → number (or bigint beyond ±2⁵³), in one linear pass: the bytes
 * become one big-endian hex string, parsed by BigInt at once (shifting a BigInt byte by byte
 * copies it each time: quadratic).
 */
export function decodeLong(b: Uint8Array): number | bigint {
  const n = b.length;
  if (n === 0) return 0;
  if (n <= 6) {
    let v = 0;
    for (let i = n - 1; i >= 0; i--) v = v * 256 + b[i]!;
    return b[n - 1]! & 0x80 ? v - 2 ** (8 * n) : v;
  }
  const hex = new Array<string>(n);
  for (let i = 0; i < n; i++) hex[i] = HEX[b[n - 1 - i]!]!;
  let v = BigInt(`0x${hex.join('')}`);
  if (b[n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function parseIntText(op: string, s: string): number | bigint {
  if (!/^[-+]?\d+$/.test(s)) throw new Error(`${op}: expected an integer literal, got ${JSON.stringify(s)}`);
  const b = BigInt(s);
  return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
}

export function latin1(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode(...b.subarray(i, i + 8192));
  return s;
}

function unquote(op: string, s: string): string {
  const q = s[0];
  if ((q !== "'" && q !== '"') || s[s.length - 1] !== q || s.length < 2) throw new Error(`${op}: expected a quoted STRING literal, got ${JSON.stringify(s)}`);
  return s.slice(1, -1).replace(/\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|.)/g, (_, e: string) => {
    if (e[0] === 'x') return String.fromCharCode(parseInt(e.slice(1), 16));
    if (/^[0-7]/.test(e)) return String.fromCharCode(parseInt(e, 8));
    return ({ n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"' } as Record<string, string>)[e] ?? `\\${e}`;
  });
}

/** A short description of a pickled value, for error messages. */
export function describe(v: unknown): string {
  if (v === null) return 'None';
  if (v === undefined) return 'nothing';
  if (isPyGlobal(v)) return v.qualname;
  if (Array.isArray(v)) return `a tuple/list of length ${v.length}`;
  if (v instanceof Map) return `a dict of ${v.size} entries`;
  if (v instanceof Uint8Array) return `bytes of length ${v.length}`;
  if (typeof v === 'object') return v.constructor?.name ?? 'an object';
  return `${typeof v} ${String(v).slice(0, 40)}`;
}
