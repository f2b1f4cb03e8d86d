/**
 * softmax and logSoftmax over any dim (torch.softmax / torch.log_softmax). The kernel subtracts
 * each row's max before exponentiating, so logits in the thousands (RPSTN's JRE) cannot overflow.
 */
import { normalizeAxis, sizeOf } from '../engine/shape.js';
import type { Tensor } from '../engine/tensor.js';
import { backendOf, check, kt, record, requireFloat, wrap } from './util.js';

function softmaxImpl(op: 'softmax' | 'logSoftmax', x: Tensor, dim: number): Tensor {
  check(op, 'input', x);
  requireFloat(op, 'input', x);
  const a = normalizeAxis(op, dim, Math.max(x.rank, 1));
  const outer = sizeOf(x.shape.slice(0, a));
  const size = x.rank === 0 ? 1 : x.shape[a]!;
  const inner = sizeOf(x.shape.slice(a + 1));
  const log = op === 'logSoftmax';
  const be = backendOf(x);
  const y = wrap(x.device, be.softmax(kt(op, x), outer, size, inner, log), x.shape, x.dtype);
  return record(op, y, [x], (g) => [wrap(g.device, be.softmaxBackward(kt(op, y), kt(op, g), outer, size, inner, log), x.shape, x.dtype)]);
}

/** exp(x)/Σexp(x) along `dim` (torch.softmax). Shape unchanged. A fully masked row (all -inf) gives zeros. */
export function softmax(x: Tensor, dim: number): Tensor {
  return softmaxImpl('softmax', x, dim);
}

/** x - logΣexp(x) along `dim` (torch.log_softmax). Shape unchanged. */
export function logSoftmax(x: Tensor, dim: number): Tensor {
  return softmaxImpl('logSoftmax', x, dim);
}
