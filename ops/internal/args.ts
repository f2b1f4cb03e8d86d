/**
 * Argument checks shared by the conv and pooling ops (not part of the public API): every invalid
 * option is an Error "<op>: expected …, got …", never a TypeError from deeper down.
 */
import { pair } from '../../engine/shape.js';
import { fail, requireInt } from '../util.js';

/** Describes a received option value: strings quoted, arrays in brackets. @internal */
export function show(v: unknown): string {
  if (typeof v === 'string') return `'${v}'`;
  if (Array.isArray(v)) return `[${v.map(show).join(', ')}]`;
  if (v === null) return 'null';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return String(v);
}

/**
 * An integer (≥ min) or a pair of them, as [h, w]; `dflt` when undefined. Values of another type
 * (a string, an object) are an Error naming the option, what it accepts (`alternatives` adds other
 * accepted values, e.g. "'same' or 'valid'") and the value received.
 * @internal
 */
export function intPair(op: string, name: string, v: unknown, dflt: number, min: number, alternatives = ''): [number, number] {
  if (v !== undefined && typeof v !== 'number' && !Array.isArray(v)) {
    fail(op, alternatives ? `${name} as an integer ≥ ${min}, a pair of them, ${alternatives}` : `${name} as an integer ≥ ${min} or a pair of them`, show(v));
  }
  const p = pair(op, name, v as number | number[] | undefined, dflt);
  for (const e of p) requireInt(op, name, e, min);
  return p;
}
