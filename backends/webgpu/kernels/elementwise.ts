/**
 * Elementwise kernels, generated from the one spec table (backends/spec.ts: `wgsl`, `wgslGrad`,
 * `WGSL_PRELUDE`): unary, unaryGrad, binary (with broadcasting), where, fill and cast.
 *
 * Algorithm: one invocation per output element, 256 invocations per workgroup, workgroups folded
 * into a 2-D or 3-D grid when there are more than 65,535 of them (runtime.ts `grid`). Each input
 * is read through one of
 * three access modes, chosen on the host and baked into the pipeline key:
 *   F (full)      x[i]                       the input has the output's shape
 *   S (scalar)    x[0]                       a one-element input (a Python scalar operand)
 *   B (broadcast) x[Σ_d coord_d · stride_d]  stride 0 on broadcast dims
 * Broadcast dims are first coalesced on the host (adjacent dims that are contiguous in every
 * input merge into one, size-1 dims drop), so `[N, C, H, W] + [C, 1, 1]` runs as a rank-2 loop.
 * Memory traffic: each output element is written once; each input element is read once per
 * output that uses it (broadcast reads hit the cache). Arithmetic intensity is ~1 flop per
 * 8-12 bytes, so these kernels are bandwidth-bound: no tiling is needed.
 * Tensors above the binding limit (maxStorageBufferBindingSize, 128 MiB): the output is split
 * into ranges of elements whose windows fit one binding each, the output's and every input's (a
 * broadcast input's window is the span of its elements the range reads, `stridedSpan`); one
 * dispatch per range, with the range's first element and the windows' first elements in uniforms.
 *
 * int32: the ops that are exact on integers (copy, neg, abs, sign, add, sub, mul, maximum,
 * minimum, comparisons) run in i32; any other op on int32 runs in f32 and converts back with
 * `pg_f2i` (non-finite -> 0, as the cpu backend's Int32Array store). Data movement (where, fill)
 * copies 32-bit patterns and so serves both dtypes with one pipeline.
 */
import type { DType } from '../../../engine/dtype.js';
import { broadcastStrides, fail, sizeOf } from '../../../engine/shape.js';
import { BINARY, UNARY, WGSL_PRELUDE, type BinaryOp, type BinarySpec, type UnaryOp } from '../../spec.js';
import { unaryNaN } from '../../cpu/nan.js';
import { entry, GRID_INDEX, grid, stridedSpan, Uniforms, type GPUStorage, type Runtime } from '../runtime.js';

const WG = 256;
/** Broadcasting supports this many dims after coalescing. */
export const MAX_RANK = 8;

/**
 * WGSL helpers shared by the kernels (beyond the spec table's prelude). Infinities and NaN come
 * from private variables: WGSL rejects a *constant* expression whose value is not finite
 * (\`bitcast<f32>(0x7f800000u)\` is a shader-creation error), but a runtime value is fine.
 */
export const WGSL_UTIL = /* wgsl */ `
var<private> pg_bits_posinf: u32 = 0x7f800000u;
var<private> pg_bits_neginf: u32 = 0xff800000u;
var<private> pg_bits_nan: u32 = 0x7fc00000u;
fn pg_posinf() -> f32 { return bitcast<f32>(pg_bits_posinf); }
fn pg_neginf() -> f32 { return bitcast<f32>(pg_bits_neginf); }
fn pg_nan() -> f32 { return bitcast<f32>(pg_bits_nan); }
fn pg_isnan(v: f32) -> bool { return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u; }
fn pg_isinf(v: f32) -> bool { return (bitcast<u32>(v) & 0x7fffffffu) == 0x7f800000u; }
fn pg_f2i(v: f32) -> i32 {
  if ((bitcast<u32>(v) & 0x7fffffffu) >= 0x7f800000u) { return 0; }
  return i32(v);
}
`;

/**
 * The spec table's WGSL prelude, made valid: its \`pg_pow\` returns \`bitcast<f32>(0x7fc00000u)\`, a
 * constant NaN, which WGSL rejects at shader creation; it is replaced by the runtime \`pg_nan()\`.
 * (Reported upstream: the fix belongs in backends/spec.ts.)
 */
export const SPEC_PRELUDE = WGSL_PRELUDE.split('bitcast<f32>(0x7fc00000u)').join('pg_nan()') + /* wgsl */ `
// C's pow (torch.pow; backends/cpu/nan.ts): pow(1, y) = pow(x, 0) = 1 even for NaN, pow(-1, ±inf) = 1,
// pow(0, y < 0) = +inf, pow(-inf, y) by the parity of y.
fn pg_pow_c(a: f32, b: f32) -> f32 {
  if (a == 1.0 || b == 0.0) { return 1.0; }
  if (pg_isnan(a) || pg_isnan(b)) { return pg_nan(); }
  if (a == -1.0 && pg_isinf(b)) { return 1.0; }
  if (a == 0.0 && b < 0.0) { return select(pg_posinf(), pg_neginf(), bitcast<u32>(a) != 0u && abs(b) % 2.0 == 1.0); }
  if (pg_isinf(a) && a < 0.0) {
    let odd = b == floor(b) && abs(b) % 2.0 == 1.0;
    if (b > 0.0) { return select(pg_posinf(), pg_neginf(), odd); }
    return select(0.0, -0.0, odd);
  }
  return pg_pow(a, b);
}
`;

export function wgslType(dtype: DType, op: string): 'f32' | 'i32' {
  if (dtype === 'float32') return 'f32';
  if (dtype === 'int32') return 'i32';
  return fail(op, 'dtype float32 or int32 on webgpu (WGSL has no f64)', dtype);
}

// -------------------------------------------------------------------------------- the map generator

type Access = 'F' | 'S' | 'B';

interface MapInput {
  readonly s: GPUStorage;
  /** WGSL element type of the binding. */
  readonly type: 'f32' | 'i32' | 'u32';
  readonly shape: readonly number[];
}

/**
 * Merges the dims of `outShape` for a set of broadcast stride vectors: drops size-1 dims and joins
 * dim d with d+1 when every input is contiguous across them.
 */
export function coalesce(outShape: readonly number[], strides: readonly (readonly number[])[]): { shape: number[]; strides: number[][] } {
  const shape: number[] = [];
  const st: number[][] = strides.map(() => []);
  for (let d = 0; d < outShape.length; d++) {
    const n = outShape[d]!;
    if (n === 1) continue;
    const last = shape.length - 1;
    if (last >= 0 && strides.every((s, k) => st[k]![last] === s[d]! * n)) {
      shape[last]! *= n;
      strides.forEach((s, k) => (st[k]![last] = s[d]!));
    } else {
      shape.push(n);
      strides.forEach((s, k) => st[k]!.push(s[d]!));
    }
  }
  return { shape, strides: st };
}

/**
 * Runs `out[i] = expr(in0, in1, ...)` over `outShape`, broadcasting the inputs. `expr` is WGSL
 * using `v0`, `v1`, ... (the inputs' values) and the uniforms `p.p0`, `p.p1`; `prelude` is extra
 * WGSL (helper functions). The pipeline key is `name:specKey:<access modes>`.
 * Tensors above the binding limit: the output range is split (`Runtime.planRanges`) into chunks
 * whose windows of the output and of every input fit one binding, one dispatch per chunk; `p.i0`
 * is the chunk's first output element and `p.ob`, `p.b<k>` the windows' first elements.
 */
function mapKernel(
  rt: Runtime,
  name: string,
  specKey: string,
  inputs: readonly MapInput[],
  outShape: readonly number[],
  outType: 'f32' | 'i32' | 'u32',
  expr: string,
  params: readonly number[] = [],
  prelude = '',
): GPUStorage {
  const n = sizeOf(outShape);
  const out = rt.alloc(n * 4);
  if (n === 0) return out;
  const access: Access[] = inputs.map((x) => {
    const m = sizeOf(x.shape);
    if (m === n && x.shape.length <= outShape.length && sameTail(x.shape, outShape)) return 'F';
    if (m === 1) return 'S';
    return 'B';
  });
  const bIdx = access.map((a, k) => (a === 'B' ? k : -1)).filter((k) => k >= 0);
  const u = new Uniforms().u32('n', n).f32('p0', params[0] ?? 0).f32('p1', params[1] ?? 0).u32('i0', 0).u32('ob', 0);
  inputs.forEach((_, k) => u.u32(`b${k}`, 0));
  let merged: { shape: number[]; strides: number[][] } | null = null;
  if (bIdx.length) {
    merged = coalesce(outShape, bIdx.map((k) => broadcastStrides(inputs[k]!.shape, outShape)));
    if (merged.shape.length > MAX_RANK) fail(name, `at most ${MAX_RANK} dims after merging broadcast dims`, `[${outShape.join(', ')}]`);
    u.u32('rank', merged.shape.length).u32s('shape', merged.shape, MAX_RANK);
    merged.strides.forEach((s, j) => u.u32s(`st${j}`, s, MAX_RANK));
  }
  // Elements [lo, hi) of input k read by the outputs [i0, i1).
  const spanOf = (k: number) => (i0: number, i1: number): readonly [number, number] => {
    if (access[k] === 'F') return [i0, i1];
    if (access[k] === 'S') return [0, 1];
    return stridedSpan(merged!.shape, merged!.strides[bIdx.indexOf(k)]!, 0, i0, i1);
  };
  const decl = inputs.map((x, k) => `@group(0) @binding(${k}) var<storage, read> in${k}: array<${x.type}>;`).join('\n');
  const loads = inputs.map((_, k) => {
    const a = access[k]!;
    const idx = a === 'F' ? `i - p.b${k}` : a === 'S' ? '0u' : `o${bIdx.indexOf(k)} - p.b${k}`;
    return `let v${k} = in${k}[${idx}];`;
  });
  const offsets = bIdx.length
    ? `${bIdx.map((_, j) => `var o${j} = 0u;`).join(' ')}
    var rem = i;
    for (var d = i32(p.rank) - 1; d >= 0; d--) {
      let sz = p.shape[d / 4][d % 4];
      let c = rem % sz;
      rem = rem / sz;
      ${bIdx.map((_, j) => `o${j} += c * p.st${j}[d / 4][d % 4];`).join(' ')}
    }`
    : '';
  const ranges = rt.planRanges(n, [{ s: out, span: (i0, i1) => [i0, i1] }, ...inputs.map((x, k) => ({ s: x.s, span: spanOf(k) }))]);
  for (const [i0, i1] of ranges) {
    const binds = inputs.map((x, k) => {
      const [lo, hi] = spanOf(k)(i0, i1);
      const w = rt.window(x.s, lo, hi);
      u.set(`b${k}`, w.base);
      return w.binding;
    });
    const ow = rt.window(out, i0, i1);
    u.set('n', i1 - i0).set('i0', i0).set('ob', ow.base);
    rt.run({
      name,
      key: `${name}:${specKey}:${access.join('')}`,
      code: () => `${WGSL_UTIL}
${SPEC_PRELUDE}
${prelude}
${u.struct('P')}
${decl}
@group(0) @binding(${inputs.length}) var<storage, read_write> out: array<${outType}>;
@group(0) @binding(${inputs.length + 1}) var<uniform> p: P;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let li = ${GRID_INDEX(`${WG}u`)};
  if (li >= p.n) { return; }
  let i = p.i0 + li;                        // the output element (p.i0: this chunk's first)
  ${offsets}
  ${loads.join('\n  ')}
  out[i - p.ob] = ${expr};
}`,
      bindings: [...binds, ow.binding],
      uniforms: u,
      workgroups: grid(rt, Math.ceil((i1 - i0) / WG)),
    });
  }
  return out;
}

function sameTail(a: readonly number[], b: readonly number[]): boolean {
  // Same element count and the non-1 dims line up: a reads index i directly.
  const sa = a.filter((d) => d !== 1);
  const sb = b.filter((d) => d !== 1);
  return sa.length === sb.length && sa.every((d, i) => d === sb[i]);
}

// -------------------------------------------------------------------------------- public kernels

/** Ops whose WGSL expression is exact (and well-typed) on i32. */
const INT_UNARY = new Set<string>(['copy', 'neg', 'abs', 'sign']);
const INT_BINARY = new Set<string>(['add', 'sub', 'mul', 'maximum', 'minimum', 'eq', 'ne', 'lt', 'le', 'gt', 'ge']);

export const fill = entry('fill', (rt: Runtime, shape: readonly number[], dtype: DType, value: number): GPUStorage => {
  const t = wgslType(dtype, 'fill');
  const bits = new DataView(new ArrayBuffer(4));
  if (t === 'f32') bits.setFloat32(0, value, true);
  else bits.setInt32(0, Math.trunc(value), true);
  const n = sizeOf(shape);
  const out = rt.alloc(n * 4);
  if (n === 0) return out;
  const u = new Uniforms().u32('n', n).u32('bits', bits.getUint32(0, true)).u32('i0', 0).u32('ob', 0);
  for (const [i0, i1] of rt.planRanges(n, [{ s: out, span: (a, b) => [a, b] }])) {
    const ow = rt.window(out, i0, i1);
    u.set('n', i1 - i0).set('i0', i0).set('ob', ow.base);
    rt.run({
      name: 'fill',
      key: 'fill',
      code: () => `${u.struct('P')}
@group(0) @binding(0) var<storage, read_write> out: array<u32>;
@group(0) @binding(1) var<uniform> p: P;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let li = ${GRID_INDEX(`${WG}u`)};
  if (li < p.n) { out[p.i0 + li - p.ob] = p.bits; }
}`,
      bindings: [ow.binding],
      uniforms: u,
      workgroups: grid(rt, Math.ceil((i1 - i0) / WG)),
    });
  }
  return out;
});

export const cast = entry('cast', (rt: Runtime, x: GPUStorage, shape: readonly number[], from: DType, to: DType): GPUStorage => {
  const a = wgslType(from, 'cast');
  const b = wgslType(to, 'cast');
  const expr = a === b ? 'v0' : b === 'i32' ? 'pg_f2i(v0)' : 'f32(v0)';
  return mapKernel(rt, 'cast', `${a}>${b}`, [{ s: x, type: a, shape }], shape, b, expr);
});

export const unary = entry((a) => a[0], (rt: Runtime, op: UnaryOp, x: GPUStorage, shape: readonly number[], dtype: DType, params: readonly number[]): GPUStorage => {
  const t = wgslType(dtype, op);
  const body = UNARY[op].wgsl;
  let expr: string;
  let prelude: string;
  if (t === 'f32') {
    // NaN in: torch's result (backends/cpu/nan.ts); WGSL's max/min/clamp/tanh may drop NaN
    const rule = unaryNaN(op, params);
    const nanOut = rule === 'zero' ? '0.0' : rule === 'one' ? '1.0' : 'x';
    prelude = `fn f0(x: f32, p0: f32, p1: f32) -> f32 { return ${op === 'powScalar' ? 'pg_pow_c(x, p0)' : body}; }
fn f(x: f32, p0: f32, p1: f32) -> f32 { return select(f0(x, p0, p1), ${nanOut}, pg_isnan(x)); }`;
    expr = 'f(v0, p.p0, p.p1)';
  } else if (INT_UNARY.has(op)) {
    prelude = `fn f(x: ${t}, p0: f32, p1: f32) -> ${t} { return ${body}; }`;
    expr = 'f(v0, p.p0, p.p1)';
  } else {
    prelude = `fn f(x: f32, p0: f32, p1: f32) -> f32 { return ${body}; }`;
    expr = 'pg_f2i(f(f32(v0), p.p0, p.p1))';
  }
  return mapKernel(rt, 'unary', `${op}:${t}:${t === 'f32' ? unaryNaN(op, params) : ''}`, [{ s: x, type: t, shape }], shape, t, expr, params, prelude);
});

export const unaryGrad = entry((a) => `${a[0]} backward`, (rt: Runtime, op: UnaryOp, x: GPUStorage, y: GPUStorage, dy: GPUStorage, shape: readonly number[], dtype: DType, params: readonly number[]): GPUStorage => {
  const t = wgslType(dtype, `${op} backward`);
  if (t !== 'f32') fail(`${op} backward`, 'float32 tensors', dtype);
  const prelude = `fn g(x: f32, y: f32, dy: f32, p0: f32, p1: f32) -> f32 { return ${UNARY[op].wgslGrad}; }`;
  return mapKernel(rt, 'unaryGrad', op, [x, y, dy].map((s) => ({ s, type: 'f32' as const, shape })), shape, 'f32', 'g(v0, v1, v2, p.p0, p.p1)', params, prelude);
});

/** float32 binary ops whose spec expression would mishandle NaN in WGSL, in NaN-exact form. */
const F32_BINARY: Partial<Record<BinaryOp, string>> = {
  maximum: 'select(max(a, b), pg_nan(), pg_isnan(a) || pg_isnan(b))',
  minimum: 'select(min(a, b), pg_nan(), pg_isnan(a) || pg_isnan(b))',
  pow: 'pg_pow_c(a, b)',
  eq: '!pg_isnan(a) && !pg_isnan(b) && a == b',
  ne: 'pg_isnan(a) || pg_isnan(b) || a != b',
  lt: '!pg_isnan(a) && !pg_isnan(b) && a < b',
  le: '!pg_isnan(a) && !pg_isnan(b) && a <= b',
  gt: '!pg_isnan(a) && !pg_isnan(b) && a > b',
  ge: '!pg_isnan(a) && !pg_isnan(b) && a >= b',
};

export const binary = entry((a) => a[0], (rt: Runtime, op: BinaryOp, a: GPUStorage, aShape: readonly number[], b: GPUStorage, bShape: readonly number[], dtype: DType, outShape: readonly number[], outDtype: DType): GPUStorage => {
  const t = wgslType(dtype, op);
  const ot = wgslType(outDtype, op);
  const spec = BINARY[op] as BinarySpec;
  let prelude: string;
  if (t === 'f32' && F32_BINARY[op]) {
    // NaN-exact forms (backends/cpu/nan.ts): a GPU compiler may assume comparisons NaN-free
    prelude = spec.compare ? `fn f(a: f32, b: f32) -> i32 { return select(0, 1, ${F32_BINARY[op]}); }` : `fn f(a: f32, b: f32) -> f32 { return ${F32_BINARY[op]}; }`;
  } else if (t === 'f32' || INT_BINARY.has(op)) {
    prelude = spec.compare
      ? `fn f(a: ${t}, b: ${t}) -> i32 { return select(0, 1, ${spec.wgsl}); }`
      : `fn f(a: ${t}, b: ${t}) -> ${t} { return ${spec.wgsl}; }`;
  } else {
    prelude = `fn f(a: i32, b: i32) -> i32 { let af = f32(a); let bf = f32(b); return pg_f2i(fk(af, bf)); }
fn fk(a: f32, b: f32) -> f32 { return ${spec.wgsl}; }`;
  }
  return mapKernel(rt, 'binary', `${op}:${t}:${ot}`, [{ s: a, type: t, shape: aShape }, { s: b, type: t, shape: bShape }], outShape, ot, 'f(v0, v1)', [], prelude);
});

export const where = entry('where', (rt: Runtime, cond: GPUStorage, condShape: readonly number[], condDtype: DType, a: GPUStorage, aShape: readonly number[], b: GPUStorage, bShape: readonly number[], outShape: readonly number[]): GPUStorage => {
  const ct = wgslType(condDtype, 'where');
  // Values are copied as bit patterns (f32 or i32 alike); the condition is compared in its own type.
  return mapKernel(
    rt,
    'where',
    ct,
    [{ s: cond, type: ct, shape: condShape }, { s: a, type: 'u32', shape: aShape }, { s: b, type: 'u32', shape: bShape }],
    outShape,
    'u32',
    ct === 'f32' ? 'select(v2, v1, v0 != 0.0)' : 'select(v2, v1, v0 != 0)',
  );
});
