/**
 * FLOP counting by running a forward pass: the heavy ops report their multiply-accumulates (MACs)
 * while the counter is on. Pose papers (HRNet, DCPose, FaSRnet, RPSTN) report MACs as "GFLOPs";
 * model cards follow that convention and say so. Elementwise ops, norms and pooling are not counted
 * (as in thop/mmcv's counters, they are a few percent at most).
 */
import { noGrad, tidy } from '../../engine/engine.js';
import { macCounter } from '../../ops/util.js';

export interface MacReport {
  /** Total multiply-accumulates. */
  total: number;
  /** MACs per op name (conv2d, convTranspose2d, deformConv2d, matmul, scaledDotProductAttention). */
  byOp: Record<string, number>;
}

/** Runs `fn` without autograd inside `tidy` (its tensors are freed) and counts its MACs. */
export function countMacsOf(fn: () => unknown): MacReport {
  const saved = macCounter.byOp;
  macCounter.byOp = new Map();
  macCounter.active++;
  try {
    noGrad(() => tidy(() => {
      fn();
    }));
    const byOp = Object.fromEntries(macCounter.byOp);
    return { total: Object.values(byOp).reduce((a, b) => a + b, 0), byOp };
  } finally {
    macCounter.active--;
    macCounter.byOp = saved;
  }
}
