/**
 * layerNorm and batchNorm on cpu: plain loops with float64 accumulation.
 *
 * layerNorm views x as [rows, cols] and normalizes each row; batchNorm views x as [N, C, S] and
 * normalizes each channel c over its N·S values. Statistics use two passes (mean, then the mean of
 * squared deviations), which is exact enough in float64 that no Welford update is needed here.
 * The variance is the biased one (divide by the count), as PyTorch normalizes with it.
 *
 * Backward, with x̂ = (x - mean)·rstd and g = dy·gamma (gamma = 1 when absent):
 * - dBeta = Σ dy, dGamma = Σ dy·x̂ (summed over the normalized values of each feature);
 * - when the statistics depend on x (layerNorm; batchNorm in training), over the M values sharing
 *   one mean: dx = rstd·(g - mean(g) - x̂·mean(g·x̂));
 * - batchNorm in eval mode (running statistics are constants): dx = g·rstd.
 */
import { alloc, type CT, type CpuStorage } from './util.js';

export function layerNorm(x: CT, gamma: CT | null, beta: CT | null, rows: number, cols: number, eps: number): { y: CpuStorage; mean: CpuStorage; rstd: CpuStorage } {
  const xs = x.storage;
  const gs = gamma?.storage;
  const bs = beta?.storage;
  const y = alloc(x.dtype, rows * cols);
  const mean = alloc(x.dtype, rows);
  const rstd = alloc(x.dtype, rows);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    let s = 0;
    for (let j = 0; j < cols; j++) s += xs[base + j]!;
    const mu = s / cols;
    let v = 0;
    for (let j = 0; j < cols; j++) {
      const d = xs[base + j]! - mu;
      v += d * d;
    }
    const rs = 1 / Math.sqrt(v / cols + eps);
    mean[r] = mu;
    rstd[r] = rs;
    for (let j = 0; j < cols; j++) {
      let t = (xs[base + j]! - mu) * rs;
      if (gs) t *= gs[j]!;
      if (bs) t += bs[j]!;
      y[base + j] = t;
    }
  }
  return { y, mean, rstd };
}

/** dGamma and dBeta ([cols]) are returned when gamma is given, and are null otherwise. */
export function layerNormBackward(dy: CT, x: CT, mean: CT, rstd: CT, gamma: CT | null, rows: number, cols: number): { dx: CpuStorage; dGamma: CpuStorage | null; dBeta: CpuStorage | null } {
  const xs = x.storage;
  const ds = dy.storage;
  const ms = mean.storage;
  const rs = rstd.storage;
  const gs = gamma?.storage;
  const dx = alloc(x.dtype, rows * cols);
  const dGamma = gs ? new Float64Array(cols) : null;
  const dBeta = gs ? new Float64Array(cols) : null;
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    const mu = ms[r]!;
    const rsd = rs[r]!;
    // mean(g) and mean(g·x̂) over the row
    let sg = 0;
    let sgx = 0;
    for (let j = 0; j < cols; j++) {
      const xh = (xs[base + j]! - mu) * rsd;
      const g = gs ? ds[base + j]! * gs[j]! : ds[base + j]!;
      sg += g;
      sgx += g * xh;
      if (dGamma) {
        dGamma[j] = dGamma[j]! + ds[base + j]! * xh;
        dBeta![j] = dBeta![j]! + ds[base + j]!;
      }
    }
    sg /= cols;
    sgx /= cols;
    for (let j = 0; j < cols; j++) {
      const xh = (xs[base + j]! - mu) * rsd;
      const g = gs ? ds[base + j]! * gs[j]! : ds[base + j]!;
      dx[base + j] = rsd * (g - sg - xh * sgx);
    }
  }
  const cast = (a: Float64Array | null): CpuStorage | null => {
    if (!a) return null;
    const out = alloc(x.dtype, cols);
    out.set(a);
    return out;
  };
  return { dx, dGamma: cast(dGamma), dBeta: cast(dBeta) };
}

export function batchNormStats(x: CT, n: number, c: number, s: number): { mean: CpuStorage; variance: CpuStorage } {
  const xs = x.storage;
  const mean = alloc(x.dtype, c);
  const variance = alloc(x.dtype, c);
  const count = n * s;
  for (let ch = 0; ch < c; ch++) {
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const base = (i * c + ch) * s;
      for (let k = 0; k < s; k++) sum += xs[base + k]!;
    }
    const mu = sum / count;
    let v = 0;
    for (let i = 0; i < n; i++) {
      const base = (i * c + ch) * s;
      for (let k = 0; k < s; k++) {
        const d = xs[base + k]! - mu;
        v += d * d;
      }
    }
    mean[ch] = mu;
    variance[ch] = v / count;
  }
  return { mean, variance };
}

export function batchNormForward(x: CT, mean: CT, variance: CT, gamma: CT | null, beta: CT | null, n: number, c: number, s: number, eps: number): CpuStorage {
  const xs = x.storage;
  const out = alloc(x.dtype, xs.length);
  for (let ch = 0; ch < c; ch++) {
    const mu = mean.storage[ch]!;
    const rs = 1 / Math.sqrt(variance.storage[ch]! + eps);
    const scale = gamma ? gamma.storage[ch]! * rs : rs;
    const shift = beta ? beta.storage[ch]! : 0;
    for (let i = 0; i < n; i++) {
      const base = (i * c + ch) * s;
      for (let k = 0; k < s; k++) out[base + k] = (xs[base + k]! - mu) * scale + shift;
    }
  }
  return out;
}

/** dGamma and dBeta ([C]) are returned when gamma is given, and are null otherwise. */
export function batchNormBackward(dy: CT, x: CT, mean: CT, variance: CT, gamma: CT | null, n: number, c: number, s: number, eps: number, training: boolean): { dx: CpuStorage; dGamma: CpuStorage | null; dBeta: CpuStorage | null } {
  const xs = x.storage;
  const ds = dy.storage;
  const dx = alloc(x.dtype, xs.length);
  const dGamma = gamma ? alloc(x.dtype, c) : null;
  const dBeta = gamma ? alloc(x.dtype, c) : null;
  const count = n * s;
  for (let ch = 0; ch < c; ch++) {
    const mu = mean.storage[ch]!;
    const rs = 1 / Math.sqrt(variance.storage[ch]! + eps);
    const gm = gamma ? gamma.storage[ch]! : 1;
    // Σ dy and Σ dy·x̂ over the channel
    let sdy = 0;
    let sdyx = 0;
    for (let i = 0; i < n; i++) {
      const base = (i * c + ch) * s;
      for (let k = 0; k < s; k++) {
        const d = ds[base + k]!;
        sdy += d;
        sdyx += d * (xs[base + k]! - mu) * rs;
      }
    }
    if (dGamma) {
      dGamma[ch] = sdyx;
      dBeta![ch] = sdy;
    }
    const mdy = sdy / count;
    const mdyx = sdyx / count;
    for (let i = 0; i < n; i++) {
      const base = (i * c + ch) * s;
      for (let k = 0; k < s; k++) {
        const p = base + k;
        dx[p] = training ? gm * rs * (ds[p]! - mdy - (xs[p]! - mu) * rs * mdyx) : gm * rs * ds[p]!;
      }
    }
  }
  return { dx, dGamma, dBeta };
}
