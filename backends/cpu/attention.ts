/**
 * scaledDotProductAttention on cpu: out = softmax(q·kᵀ·scale + mask)·v, blocked with an online
 * softmax (the flash-attention forward, on one core), everything accumulated in float64.
 *
 * Forward, for each (batch, head): the Lq query rows go in tiles of BR rows, the Lk keys in tiles of
 * BC keys. For a query tile, each key tile gives a BR×BC block of scores s = scale·q·kᵀ + mask,
 * and each row keeps a running max m, a running sum l = Σ exp(s - m) and a running output
 * acc = Σ exp(s - m)·v. When a new tile raises the max to m', the old l and acc are rescaled by
 * exp(m - m') before the tile's terms are added, so no exp() ever sees a positive argument (logits
 * of ±5000 are safe) and the Lq×Lk matrix is never stored. At the end out = acc / l and the row's
 * log-sum-exp lse = m + log(l) is saved for the backward. A row whose scores are all -Infinity
 * (fully masked) has l = 0: it gives out = 0 and lse = -Infinity.
 * Memory traffic: each key/value tile is read once per query tile (Lq/BR times in all), rather than
 * once per query row.
 *
 * Backward, per row i, recomputing the probabilities from lse instead of storing them:
 *   p_ij = exp(s_ij - lse_i),  Δ_i = Σ_d dOut_id·out_id,  ds_ij = p_ij·(dOut_i·v_j - Δ_i)
 *   dv_j += p_ij·dOut_i,  dq_i += scale·ds_ij·k_j,  dk_j += scale·ds_ij·q_i
 * Fully masked rows (lse = -Infinity) contribute nothing.
 */
import type { AttentionParams } from '../backend.js';
import { broadcastStrides } from '../../engine/shape.js';
import { alloc, type CT, type CpuStorage } from './util.js';

/** Query rows per tile. */
const BR = 16;
/** Keys per tile. */
const BC = 32;

interface AGeo {
  B: number; H: number; Lq: number; Lk: number; D: number; Dv: number;
  /** Strides of the mask over [B, H, Lq, Lk] (0 on broadcast dims); null without a mask. */
  ms: number[] | null;
}

function geometry(q: CT, k: CT, v: CT, mask: CT | null): AGeo {
  const [B, H, Lq, D] = q.shape as [number, number, number, number];
  const Lk = k.shape[2]!;
  const Dv = v.shape[3]!;
  return { B, H, Lq, Lk, D, Dv, ms: mask ? broadcastStrides(mask.shape, [B, H, Lq, Lk]) : null };
}

export function attention(q: CT, k: CT, v: CT, mask: CT | null, p: AttentionParams): { out: CpuStorage; lse: CpuStorage } {
  const { B, H, Lq, Lk, D, Dv, ms } = geometry(q, k, v, mask);
  const qs = q.storage;
  const ks = k.storage;
  const vs = v.storage;
  const mk = mask ? mask.storage : null;
  const scale = p.scale;
  const outAcc = new Float64Array(B * H * Lq * Dv);
  const lseAcc = new Float64Array(B * H * Lq);
  const s = new Float64Array(BR * BC); // the score tile
  const m = new Float64Array(BR); // running max per row
  const l = new Float64Array(BR); // running Σ exp(s - m) per row
  const acc = new Float64Array(BR * Dv); // running Σ exp(s - m)·v per row
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const bh = b * H + h;
      const qBase = bh * Lq * D;
      const kBase = bh * Lk * D;
      const vBase = bh * Lk * Dv;
      const mBase = ms ? b * ms[0]! + h * ms[1]! : 0;
      for (let i0 = 0; i0 < Lq; i0 += BR) {
        const rows = Math.min(BR, Lq - i0);
        m.fill(-Infinity);
        l.fill(0);
        acc.fill(0);
        for (let j0 = 0; j0 < Lk; j0 += BC) {
          const cols = Math.min(BC, Lk - j0);
          // 1. the score tile s[r, c] = scale·q_(i0+r)·k_(j0+c) + mask
          for (let r = 0; r < rows; r++) {
            const qRow = qBase + (i0 + r) * D;
            for (let c = 0; c < cols; c++) {
              const kRow = kBase + (j0 + c) * D;
              let dot = 0;
              for (let d = 0; d < D; d++) dot += qs[qRow + d]! * ks[kRow + d]!;
              let sc = dot * scale;
              if (mk) sc += mk[mBase + (i0 + r) * ms![2]! + (j0 + c) * ms![3]!]!;
              s[r * BC + c] = sc;
            }
          }
          // 2. online softmax: rescale the running sums to the new max, then add the tile
          for (let r = 0; r < rows; r++) {
            let tileMax = -Infinity;
            for (let c = 0; c < cols; c++) tileMax = Math.max(tileMax, s[r * BC + c]!);
            const mNew = Math.max(m[r]!, tileMax);
            if (mNew === -Infinity) continue; // every score so far is masked: nothing to add
            const corr = Math.exp(m[r]! - mNew); // exp(-Infinity) = 0 on the first live tile
            const aRow = r * Dv;
            let lr = l[r]! * corr;
            for (let d = 0; d < Dv; d++) acc[aRow + d]! *= corr;
            for (let c = 0; c < cols; c++) {
              const e = Math.exp(s[r * BC + c]! - mNew);
              if (e === 0) continue;
              lr += e;
              const vRow = vBase + (j0 + c) * Dv;
              for (let d = 0; d < Dv; d++) acc[aRow + d]! += e * vs[vRow + d]!;
            }
            l[r] = lr;
            m[r] = mNew;
          }
        }
        // 3. normalize and save the row log-sum-exp
        for (let r = 0; r < rows; r++) {
          const row = bh * Lq + i0 + r;
          if (l[r]! > 0) {
            const inv = 1 / l[r]!;
            for (let d = 0; d < Dv; d++) outAcc[row * Dv + d] = acc[r * Dv + d]! * inv;
            lseAcc[row] = m[r]! + Math.log(l[r]!);
          } else if (l[r]! !== l[r]!) {
            // a NaN or +Infinity score (NaN or infinite q, k or mask): NaN, as softmax gives in PyTorch
            for (let d = 0; d < Dv; d++) outAcc[row * Dv + d] = NaN;
            lseAcc[row] = NaN;
          } else {
            lseAcc[row] = -Infinity; // fully masked: out stays 0
          }
        }
      }
    }
  }
  const out = alloc(q.dtype, outAcc.length);
  out.set(outAcc);
  const lse = alloc(q.dtype, lseAcc.length);
  lse.set(lseAcc);
  return { out, lse };
}

export function attentionBackward(dOut: CT, q: CT, k: CT, v: CT, out: CT, lse: CT, mask: CT | null, p: AttentionParams): { dq: CpuStorage; dk: CpuStorage; dv: CpuStorage } {
  const { B, H, Lq, Lk, D, Dv, ms } = geometry(q, k, v, mask);
  const qs = q.storage;
  const ks = k.storage;
  const vs = v.storage;
  const gs = dOut.storage;
  const os = out.storage;
  const mk = mask ? mask.storage : null;
  const scale = p.scale;
  const dq = new Float64Array(qs.length);
  const dk = new Float64Array(ks.length);
  const dv = new Float64Array(vs.length);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const bh = b * H + h;
      const qBase = bh * Lq * D;
      const kBase = bh * Lk * D;
      const vBase = bh * Lk * Dv;
      const mBase = ms ? b * ms[0]! + h * ms[1]! : 0;
      for (let i = 0; i < Lq; i++) {
        const row = bh * Lq + i;
        const lseI = lse.storage[row]!;
        if (lseI === -Infinity) continue; // fully masked row: out = 0 whatever q, k, v
        const qRow = qBase + i * D;
        const gRow = row * Dv;
        let delta = 0; // Δ_i = dOut_i · out_i
        for (let d = 0; d < Dv; d++) delta += gs[gRow + d]! * os[gRow + d]!;
        for (let j = 0; j < Lk; j++) {
          const kRow = kBase + j * D;
          const vRow = vBase + j * Dv;
          let dot = 0;
          for (let d = 0; d < D; d++) dot += qs[qRow + d]! * ks[kRow + d]!;
          let sc = dot * scale;
          if (mk) sc += mk[mBase + i * ms![2]! + j * ms![3]!]!;
          const pij = Math.exp(sc - lseI);
          if (pij === 0) continue;
          let dp = 0; // dOut_i · v_j
          for (let d = 0; d < Dv; d++) {
            dp += gs[gRow + d]! * vs[vRow + d]!;
            dv[vRow + d]! += pij * gs[gRow + d]!;
          }
          const ds = pij * (dp - delta) * scale;
          for (let d = 0; d < D; d++) {
            dq[qRow + d]! += ds * ks[kRow + d]!;
            dk[kRow + d]! += ds * qs[qRow + d]!;
          }
        }
      }
    }
  }
  const round = (a: Float64Array): CpuStorage => {
    const o = alloc(q.dtype, a.length);
    o.set(a);
    return o;
  };
  return { dq: round(dq), dk: round(dk), dv: round(dv) };
}
