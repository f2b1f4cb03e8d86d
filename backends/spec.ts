/**
 * The elementwise spec table: one line per op, giving its forward expression and its gradient
 * expression in each backend's language. Adding an elementwise op means adding one line here;
 * the cpu backend evaluates `cpu`/`grad`, the webgpu backend generates WGSL from `wgsl`/`wgslGrad`,
 * and the wasm build generates AssemblyScript from `as`/`asGrad`.
 *
 * Names available in the expressions: x (input), y (output f(x), gradients only), dy (upstream
 * gradient, gradients only), p0 and p1 (the op's scalar parameters). WGSL and AssemblyScript
 * expressions are f32; the helpers in WGSL_PRELUDE / AS_PRELUDE (pg_erf) may be used.
 */

export interface UnarySpec {
  /** Number of scalar parameters (p0, p1) the op takes. */
  readonly params: number;
  /** Forward, in float64 JS (stored into the output dtype). */
  readonly cpu: (x: number, p0: number, p1: number) => number;
  /** dx given x, y = f(x) and dy. */
  readonly grad: (x: number, y: number, dy: number, p0: number, p1: number) => number;
  readonly wgsl: string;
  readonly wgslGrad: string;
  readonly as: string;
  readonly asGrad: string;
  /** The op's output is piecewise constant: its gradient is zero (floor, sign, ...). */
  readonly zeroGrad?: boolean;
}

const SQRT1_2 = Math.SQRT1_2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);
const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

/**
 * erf to float64 precision: for |x| < 6, erf(x) = 2/√π · e^(-x²) · Σ 2ⁿ x^(2n+1) / (2n+1)!!,
 * a series of positive terms (no cancellation); beyond, erf = ±1 to double precision.
 */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const a = Math.abs(x);
  if (a >= 6) return Math.sign(x);
  const x2 = a * a;
  let term = a;
  let sum = a;
  for (let n = 1; n < 500; n++) {
    term *= (2 * x2) / (2 * n + 1);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return Math.sign(x) * TWO_OVER_SQRT_PI * Math.exp(-x2) * sum;
}

const sigmoid = (x: number): number => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));
const geluTanhInner = (x: number): number => SQRT_2_OVER_PI * (x + 0.044715 * x * x * x);

export const UNARY = {
  copy: { params: 0, cpu: (x) => x, grad: (_x, _y, dy) => dy, wgsl: 'x', wgslGrad: 'dy', as: 'x', asGrad: 'dy' },
  neg: { params: 0, cpu: (x) => -x, grad: (_x, _y, dy) => -dy, wgsl: '-x', wgslGrad: '-dy', as: '-x', asGrad: '-dy' },
  exp: { params: 0, cpu: Math.exp, grad: (_x, y, dy) => dy * y, wgsl: 'exp(x)', wgslGrad: 'dy * y', as: 'Mathf.exp(x)', asGrad: 'dy * y' },
  log: { params: 0, cpu: Math.log, grad: (x, _y, dy) => dy / x, wgsl: 'log(x)', wgslGrad: 'dy / x', as: 'Mathf.log(x)', asGrad: 'dy / x' },
  sqrt: { params: 0, cpu: Math.sqrt, grad: (_x, y, dy) => dy / (2 * y), wgsl: 'sqrt(x)', wgslGrad: 'dy / (2.0 * y)', as: 'Mathf.sqrt(x)', asGrad: 'dy / (2.0 * y)' },
  rsqrt: { params: 0, cpu: (x) => 1 / Math.sqrt(x), grad: (_x, y, dy) => -0.5 * dy * y * y * y, wgsl: 'inverseSqrt(x)', wgslGrad: '-0.5 * dy * y * y * y', as: '1.0 / Mathf.sqrt(x)', asGrad: '-0.5 * dy * y * y * y' },
  abs: { params: 0, cpu: Math.abs, grad: (x, _y, dy) => dy * Math.sign(x), wgsl: 'abs(x)', wgslGrad: 'dy * sign(x)', as: 'Mathf.abs(x)', asGrad: 'dy * Mathf.sign(x)' },
  sign: { params: 0, cpu: Math.sign, grad: () => 0, wgsl: 'sign(x)', wgslGrad: '0.0', as: 'Mathf.sign(x)', asGrad: '0.0', zeroGrad: true },
  relu: { params: 0, cpu: (x) => (x > 0 ? x : 0), grad: (x, _y, dy) => (x > 0 ? dy : 0), wgsl: 'max(x, 0.0)', wgslGrad: 'select(0.0, dy, x > 0.0)', as: 'x > 0 ? x : 0.0', asGrad: 'x > 0 ? dy : 0.0' },
  sigmoid: { params: 0, cpu: sigmoid, grad: (_x, y, dy) => dy * y * (1 - y), wgsl: '1.0 / (1.0 + exp(-x))', wgslGrad: 'dy * y * (1.0 - y)', as: '1.0 / (1.0 + Mathf.exp(-x))', asGrad: 'dy * y * (1.0 - y)' },
  tanh: { params: 0, cpu: Math.tanh, grad: (_x, y, dy) => dy * (1 - y * y), wgsl: 'tanh(clamp(x, -15.0, 15.0))', wgslGrad: 'dy * (1.0 - y * y)', as: 'pg_tanh(x)', asGrad: 'dy * (1.0 - y * y)' },
  erf: { params: 0, cpu: erf, grad: (x, _y, dy) => dy * TWO_OVER_SQRT_PI * Math.exp(-x * x), wgsl: 'pg_erf(x)', wgslGrad: 'dy * 1.1283791670955126 * exp(-x * x)', as: 'pg_erf(x)', asGrad: 'dy * 1.1283791670955126 * Mathf.exp(-x * x)' },
  /** GELU, exact (erf) form: x·Φ(x). torch.nn.functional.gelu(approximate='none'). */
  gelu: {
    params: 0,
    cpu: (x) => 0.5 * x * (1 + erf(x * SQRT1_2)),
    grad: (x, _y, dy) => dy * (0.5 * (1 + erf(x * SQRT1_2)) + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x)),
    wgsl: '0.5 * x * (1.0 + pg_erf(x * 0.7071067811865476))',
    wgslGrad: 'dy * (0.5 * (1.0 + pg_erf(x * 0.7071067811865476)) + x * 0.3989422804014327 * exp(-0.5 * x * x))',
    as: '0.5 * x * (1.0 + pg_erf(x * 0.7071067811865476))',
    asGrad: 'dy * (0.5 * (1.0 + pg_erf(x * 0.7071067811865476)) + x * 0.3989422804014327 * Mathf.exp(-0.5 * x * x))',
  },
  /** GELU, tanh approximation. torch.nn.functional.gelu(approximate='tanh'). */
  geluTanh: {
    params: 0,
    cpu: (x) => 0.5 * x * (1 + Math.tanh(geluTanhInner(x))),
    grad: (x, _y, dy) => {
      const t = Math.tanh(geluTanhInner(x));
      return dy * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x));
    },
    wgsl: '0.5 * x * (1.0 + tanh(clamp(0.7978845608028654 * (x + 0.044715 * x * x * x), -15.0, 15.0)))',
    wgslGrad: 'dy * pg_gelu_tanh_grad(x)',
    as: '0.5 * x * (1.0 + pg_tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))',
    asGrad: 'dy * pg_gelu_tanh_grad(x)',
  },
  /** p0 = negative slope. */
  leakyRelu: { params: 1, cpu: (x, a) => (x > 0 ? x : a * x), grad: (x, _y, dy, a) => (x > 0 ? dy : a * dy), wgsl: 'select(p0 * x, x, x > 0.0)', wgslGrad: 'select(p0 * dy, dy, x > 0.0)', as: 'x > 0 ? x : p0 * x', asGrad: 'x > 0 ? dy : p0 * dy' },
  /** p0 = alpha. */
  elu: { params: 1, cpu: (x, a) => (x > 0 ? x : a * Math.expm1(x)), grad: (x, y, dy, a) => (x > 0 ? dy : dy * (y + a)), wgsl: 'select(p0 * (exp(x) - 1.0), x, x > 0.0)', wgslGrad: 'select(dy * (y + p0), dy, x > 0.0)', as: 'x > 0 ? x : p0 * (Mathf.exp(x) - 1.0)', asGrad: 'x > 0 ? dy : dy * (y + p0)' },
  silu: { params: 0, cpu: (x) => x * sigmoid(x), grad: (x, _y, dy) => { const s = sigmoid(x); return dy * s * (1 + x * (1 - s)); }, wgsl: 'x / (1.0 + exp(-x))', wgslGrad: 'dy * pg_silu_grad(x)', as: 'x / (1.0 + Mathf.exp(-x))', asGrad: 'dy * pg_silu_grad(x)' },
  square: { params: 0, cpu: (x) => x * x, grad: (x, _y, dy) => 2 * x * dy, wgsl: 'x * x', wgslGrad: '2.0 * x * dy', as: 'x * x', asGrad: '2.0 * x * dy' },
  reciprocal: { params: 0, cpu: (x) => 1 / x, grad: (_x, y, dy) => -dy * y * y, wgsl: '1.0 / x', wgslGrad: '-dy * y * y', as: '1.0 / x', asGrad: '-dy * y * y' },
  sin: { params: 0, cpu: Math.sin, grad: (x, _y, dy) => dy * Math.cos(x), wgsl: 'sin(x)', wgslGrad: 'dy * cos(x)', as: 'Mathf.sin(x)', asGrad: 'dy * Mathf.cos(x)' },
  cos: { params: 0, cpu: Math.cos, grad: (x, _y, dy) => -dy * Math.sin(x), wgsl: 'cos(x)', wgslGrad: '-dy * sin(x)', as: 'Mathf.cos(x)', asGrad: '-dy * Mathf.sin(x)' },
  floor: { params: 0, cpu: Math.floor, grad: () => 0, wgsl: 'floor(x)', wgslGrad: '0.0', as: 'Mathf.floor(x)', asGrad: '0.0', zeroGrad: true },
  ceil: { params: 0, cpu: Math.ceil, grad: () => 0, wgsl: 'ceil(x)', wgslGrad: '0.0', as: 'Mathf.ceil(x)', asGrad: '0.0', zeroGrad: true },
  /** Round half to even, as torch.round. */
  round: { params: 0, cpu: roundHalfEven, grad: () => 0, wgsl: 'round(x)', wgslGrad: '0.0', as: 'Mathf.nearest(x)', asGrad: '0.0', zeroGrad: true },
  /** p0 = min, p1 = max (use ±Infinity for a one-sided clamp). Gradient passes where min ≤ x ≤ max, as torch.clamp. */
  clamp: { params: 2, cpu: (x, lo, hi) => Math.min(Math.max(x, lo), hi), grad: (x, _y, dy, lo, hi) => (x >= lo && x <= hi ? dy : 0), wgsl: 'min(max(x, p0), p1)', wgslGrad: 'select(0.0, dy, x >= p0 && x <= p1)', as: 'Mathf.min(Mathf.max(x, p0), p1)', asGrad: 'x >= p0 && x <= p1 ? dy : 0.0' },
  /** x ** p0 for a scalar exponent. */
  powScalar: { params: 1, cpu: (x, e) => Math.pow(x, e), grad: (x, _y, dy, e) => (e === 0 ? 0 : dy * e * Math.pow(x, e - 1)), wgsl: 'pg_pow(x, p0)', wgslGrad: 'select(dy * p0 * pg_pow(x, p0 - 1.0), 0.0, p0 == 0.0)', as: 'Mathf.pow(x, p0)', asGrad: 'p0 == 0 ? 0.0 : dy * p0 * Mathf.pow(x, p0 - 1.0)' },
} satisfies Record<string, UnarySpec>;

export type UnaryOp = keyof typeof UNARY;
export const UNARY_OPS = Object.keys(UNARY) as UnaryOp[];

function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export interface BinarySpec {
  readonly cpu: (a: number, b: number) => number;
  readonly wgsl: string;
  readonly as: string;
  /** Comparisons: the output is int32 0/1. */
  readonly compare?: boolean;
}

export const BINARY = {
  add: { cpu: (a, b) => a + b, wgsl: 'a + b', as: 'a + b' },
  sub: { cpu: (a, b) => a - b, wgsl: 'a - b', as: 'a - b' },
  mul: { cpu: (a, b) => a * b, wgsl: 'a * b', as: 'a * b' },
  div: { cpu: (a, b) => a / b, wgsl: 'a / b', as: 'a / b' },
  pow: { cpu: Math.pow, wgsl: 'pg_pow(a, b)', as: 'Mathf.pow(a, b)' },
  maximum: { cpu: (a, b) => (a > b || Number.isNaN(a) ? a : b), wgsl: 'max(a, b)', as: 'Mathf.max(a, b)' },
  minimum: { cpu: (a, b) => (a < b || Number.isNaN(a) ? a : b), wgsl: 'min(a, b)', as: 'Mathf.min(a, b)' },
  eq: { cpu: (a, b) => (a === b ? 1 : 0), wgsl: 'a == b', as: 'a == b', compare: true },
  ne: { cpu: (a, b) => (a !== b ? 1 : 0), wgsl: 'a != b', as: 'a != b', compare: true },
  lt: { cpu: (a, b) => (a < b ? 1 : 0), wgsl: 'a < b', as: 'a < b', compare: true },
  le: { cpu: (a, b) => (a <= b ? 1 : 0), wgsl: 'a <= b', as: 'a <= b', compare: true },
  gt: { cpu: (a, b) => (a > b ? 1 : 0), wgsl: 'a > b', as: 'a > b', compare: true },
  ge: { cpu: (a, b) => (a >= b ? 1 : 0), wgsl: 'a >= b', as: 'a >= b', compare: true },
} satisfies Record<string, BinarySpec>;

export type BinaryOp = keyof typeof BINARY;
export const BINARY_OPS = Object.keys(BINARY) as BinaryOp[];

export interface ReduceSpec {
  readonly init: number;
  readonly cpu: (acc: number, x: number) => number;
  /** WGSL/AS combine of `acc` and `x`. */
  readonly wgsl: string;
  readonly as: string;
}

export const REDUCE = {
  sum: { init: 0, cpu: (acc, x) => acc + x, wgsl: 'acc + x', as: 'acc + x' },
  prod: { init: 1, cpu: (acc, x) => acc * x, wgsl: 'acc * x', as: 'acc * x' },
  max: { init: -Infinity, cpu: (acc, x) => (x > acc || Number.isNaN(x) ? x : acc), wgsl: 'max(acc, x)', as: 'Mathf.max(acc, x)' },
  min: { init: Infinity, cpu: (acc, x) => (x < acc || Number.isNaN(x) ? x : acc), wgsl: 'min(acc, x)', as: 'Mathf.min(acc, x)' },
} satisfies Record<string, ReduceSpec>;

export type ReduceOp = keyof typeof REDUCE;

/** WGSL helpers the spec expressions may call. erf: Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7). */
export const WGSL_PRELUDE = /* wgsl */ `
fn pg_erf(x: f32) -> f32 {
  let a = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let poly = ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t;
  return sign(x) * (1.0 - poly * exp(-a * a));
}
fn pg_pow(a: f32, b: f32) -> f32 {
  // WGSL pow is undefined for a < 0; follow C pow for integer exponents.
  if (a >= 0.0) { return pow(a, b); }
  if (b == floor(b)) {
    let m = pow(-a, b);
    return select(m, -m, (abs(b) % 2.0) == 1.0);
  }
  return bitcast<f32>(0x7fc00000u);
}
fn pg_gelu_tanh_grad(x: f32) -> f32 {
  let t = tanh(clamp(0.7978845608028654 * (x + 0.044715 * x * x * x), -15.0, 15.0));
  return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * 0.7978845608028654 * (1.0 + 0.134145 * x * x);
}
fn pg_silu_grad(x: f32) -> f32 {
  let s = 1.0 / (1.0 + exp(-x));
  return s * (1.0 + x * (1.0 - s));
}
`;

/** AssemblyScript helpers the spec expressions may call (f32). */
export const AS_PRELUDE = /* ts */ `
@inline function pg_erf(x: f32): f32 {
  const a: f32 = Mathf.abs(x);
  const t: f32 = 1.0 / (1.0 + 0.3275911 * a);
  const poly: f32 = ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t;
  return Mathf.sign(x) * (1.0 - poly * Mathf.exp(-a * a));
}
@inline function pg_tanh(x: f32): f32 {
  const c: f32 = Mathf.min(Mathf.max(x, -15.0), 15.0);
  const e: f32 = Mathf.exp(2.0 * c);
  return (e - 1.0) / (e + 1.0);
}
@inline function pg_gelu_tanh_grad(x: f32): f32 {
  const t: f32 = pg_tanh(0.7978845608028654 * (x + 0.044715 * x * x * x));
  return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * 0.7978845608028654 * (1.0 + 0.134145 * x * x);
}
@inline function pg_silu_grad(x: f32): f32 {
  const s: f32 = 1.0 / (1.0 + Mathf.exp(-x));
  return s * (1.0 + x * (1.0 - s));
}
`;
