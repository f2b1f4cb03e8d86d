/**
 * State-dict helpers: find the state dict inside a checkpoint, rename keys, and load it into a
 * Module (PyTorch's `load_state_dict`, plus the renaming that official checkpoints need:
 * `module.` prefixes from DataParallel, or a module renamed between repositories).
 */
import { Tensor } from '../../../engine/tensor.js';
import type { LoadResult, Module } from '../module.js';
import type { HostTensor, SafetensorsFile } from '../safetensors.js';
import { describe } from './pickle.js';

/** A state dict: parameter and buffer names to host tensors (or live posegrad tensors). */
export type StateDict = Map<string, HostTensor>;

/** The keys under which training scripts commonly store the model's state dict, in search order. */
export const STATE_DICT_KEYS = ['state_dict', 'model_state_dict', 'model', 'state_dict_ema', 'model_ema', 'net', 'network', 'params', 'module', 'weights'];

export function isHostTensor(v: unknown): v is HostTensor {
  return !!v && typeof v === 'object' && !(v instanceof Tensor) && 'shape' in v && 'data' in v && 'dtype' in v && ArrayBuffer.isView((v as HostTensor).data);
}

function isTensorDict(v: unknown): v is Map<unknown, HostTensor> {
  if (!(v instanceof Map) || v.size === 0) return false;
  for (const x of v.values()) if (!isHostTensor(x)) return false;
  return true;
}

/**
 * The model state dict inside a checkpoint: the object itself when it is a dict of tensors, else
 * the first of `keys` (default STATE_DICT_KEYS: 'state_dict', 'model', ...) holding one, searched
 * one level deep. Accepts `loadPth` output, a safetensors file, or a Map / plain object of tensors.
 * @throws Error listing the checkpoint's top-level keys when no state dict is found, or naming a
 *   non-tensor entry inside what should be one.
 */
export function extractStateDict(obj: unknown, opts: { keys?: readonly string[] } = {}): StateDict {
  const op = 'extractStateDict';
  if (obj && typeof obj === 'object' && 'tensors' in obj && (obj as SafetensorsFile).tensors instanceof Map) return new Map((obj as SafetensorsFile).tensors);
  const asMap = obj instanceof Map ? obj : obj && typeof obj === 'object' && Object.getPrototypeOf(obj) === Object.prototype ? new Map(Object.entries(obj)) : null;
  if (!asMap) throw new Error(`${op}: expected a checkpoint dict or a state dict, got ${describe(obj)}`);
  if (isTensorDict(asMap)) return new Map([...asMap].map(([k, v]) => [String(k), v]));
  const keys = opts.keys ?? STATE_DICT_KEYS;
  for (const k of keys) {
    const v = asMap.get(k);
    if (v === undefined) continue;
    const inner = v instanceof Map ? v : v && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype ? new Map(Object.entries(v)) : null;
    if (inner && isTensorDict(inner)) return new Map([...inner].map(([kk, vv]) => [String(kk), vv]));
    if (inner) {
      const bad = [...inner].find(([, x]) => !isHostTensor(x));
      if (bad) throw new Error(`${op}: expected '${k}' to hold only tensors, got ${describe(bad[1])} at '${String(bad[0])}'`);
    }
  }
  const top = [...asMap.keys()].map(String);
  const bad = [...asMap].find(([, x]) => !isHostTensor(x));
  throw new Error(
    `${op}: expected a dict of tensors, or a checkpoint with one under [${keys.join(', ')}], got a dict with keys [${top.slice(0, 12).join(', ')}${top.length > 12 ? ', ...' : ''}]` +
      (bad && top.length > 0 ? ` ('${String(bad[0])}' is ${describe(bad[1])})` : ''),
  );
}

/** The state dict with `prefix` removed from the keys that start with it (e.g. 'module.'). */
export function stripPrefix<T>(sd: Map<string, T>, prefix: string): Map<string, T> {
  const out = new Map<string, T>();
  for (const [k, v] of sd) {
    const nk = k.startsWith(prefix) ? k.slice(prefix.length) : k;
    if (out.has(nk)) throw new Error(`stripPrefix: expected distinct keys after removing '${prefix}', got '${nk}' twice`);
    out.set(nk, v);
  }
  return out;
}

/**
 * A key-renaming rule: [from, to]. A string `from` replaces that prefix; a RegExp is applied with
 * String.replace (so `to` may use $1...). `to` null drops the matching keys.
 */
export type KeyRule = readonly [from: string | RegExp, to: string | null];
export type KeyMap = ((key: string) => string | null) | readonly KeyRule[];

/**
 * Renames the keys of a state dict with a function (returning null drops the key) or a list of
 * rules applied in order.
 * @throws Error when two keys map to the same name.
 */
export function mapKeys<T>(sd: Map<string, T>, mapping: KeyMap): Map<string, T> {
  const fn = typeof mapping === 'function' ? mapping : (k: string): string | null => applyRules(k, mapping);
  const out = new Map<string, T>();
  const from = new Map<string, string>();
  for (const [k, v] of sd) {
    const nk = fn(k);
    if (nk === null) continue;
    if (typeof nk !== 'string') throw new Error(`mapKeys: expected a string or null for '${k}', got ${describe(nk)}`);
    if (out.has(nk)) throw new Error(`mapKeys: expected distinct keys, got '${from.get(nk)}' and '${k}' both mapped to '${nk}'`);
    out.set(nk, v);
    from.set(nk, k);
  }
  return out;
}

function applyRules(key: string, rules: readonly KeyRule[]): string | null {
  let k = key;
  for (const [from, to] of rules) {
    const hit = typeof from === 'string' ? k.startsWith(from) : new RegExp(from.source, from.flags.replace('g', '')).test(k);
    if (!hit) continue;
    if (to === null) return null;
    k = typeof from === 'string' ? to + k.slice(from.length) : k.replace(from, to);
  }
  return k;
}

export interface LoadIntoOptions {
  /** Throw on missing or unexpected keys (default true, as PyTorch). */
  strict?: boolean;
  /** Prefixes removed first, e.g. 'module.' from DataParallel (default none). */
  stripPrefix?: string | readonly string[];
  /** Renaming applied after stripping. */
  map?: KeyMap;
}

/**
 * Loads a checkpoint into `module` (Module.loadStateDict after extractStateDict, stripPrefix and
 * mapKeys). Values are converted to each parameter's dtype and device.
 * @returns the missing and unexpected keys (both empty after a strict load).
 * @throws Error from extractStateDict, or from Module.loadStateDict on a shape mismatch or (strict)
 *   missing/unexpected keys.
 */
export function loadInto(module: Module, checkpoint: unknown, opts: LoadIntoOptions = {}): LoadResult {
  let sd = checkpoint instanceof Map && [...checkpoint.values()].every((v) => v instanceof Tensor) ? (checkpoint as Map<string, HostTensor | Tensor>) : extractStateDict(checkpoint);
  const prefixes = opts.stripPrefix === undefined ? [] : typeof opts.stripPrefix === 'string' ? [opts.stripPrefix] : opts.stripPrefix;
  for (const p of prefixes) sd = stripPrefix(sd, p);
  if (opts.map) sd = mapKeys(sd, opts.map);
  return module.loadStateDict(sd, { strict: opts.strict ?? true });
}

/**
 * Host copies of a module's state dict (or of a Map of tensors), read asynchronously so that it
 * works from every backend.
 */
export async function toHostStateDict(src: Module | Map<string, Tensor | HostTensor>): Promise<StateDict> {
  const entries = src instanceof Map ? src : src.stateDict();
  const out: StateDict = new Map();
  for (const [k, t] of entries) {
    if (t instanceof Tensor) out.set(k, { dtype: t.dtype, shape: [...t.shape], data: await t.data() });
    else if (isHostTensor(t)) out.set(k, t);
    else throw new Error(`toHostStateDict: expected tensors, got ${describe(t)} at '${k}'`);
  }
  return out;
}
