/**
 * A small least-recently-used cache of frozen-backbone features, keyed by frame id.
 *
 * VREMD's backbone is frozen, so a frame crop's tokens [N, D] never change during training: a trainer
 * that visits the same (video, frame, person box) again, or a demo sliding a 3-frame window along a
 * clip (each frame is the next window's key frame, then its previous frame), can reuse them. The id
 * must identify the crop, not only the frame: for PoseTrack use e.g. `${video}/${frame}/${track}`
 * with the key frame's box. Entries are kept tensors (they survive `tidy`); eviction and `clear()`
 * dispose them. Entries keep the dtype and device they were computed with: clear the cache after
 * `Module.toDtype` or `Module.to`.
 */
import { fail, fmtShape } from '../../engine/shape.js';
import type { Tensor } from '../../engine/tensor.js';
import { clone } from '../../ops/elementwise.js';

export class FeatureCache {
  private readonly entries = new Map<string, Tensor>();
  hits = 0;
  misses = 0;

  /** @throws Error when capacity is not an integer ≥ 1. */
  constructor(readonly capacity = 64) {
    if (!Number.isInteger(capacity) || capacity < 1) fail('FeatureCache', 'a capacity as an integer ≥ 1', String(capacity));
  }

  get size(): number {
    return this.entries.size;
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  /** The tokens [N, D] of `id` (marking them most recently used), or undefined; counts hits/misses. */
  get(id: string): Tensor | undefined {
    const t = this.entries.get(id);
    if (!t) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.entries.delete(id);
    this.entries.set(id, t);
    return t;
  }

  /**
   * Stores a copy of `tokens` [N, D] under `id` (the caller keeps ownership of its tensor), evicting
   * the least recently used entry beyond capacity.
   * @throws Error when tokens is not rank 2, requires grad, or is disposed.
   */
  set(id: string, tokens: Tensor): void {
    if (tokens.isDisposed) fail('FeatureCache.set', 'a live tensor', `tensor #${tokens.id}, which was disposed`);
    if (tokens.rank !== 2) fail('FeatureCache.set', 'tokens of shape [N, D]', fmtShape(tokens.shape));
    if (tokens.requiresGrad) fail('FeatureCache.set', 'frozen features (requiresGrad false)', 'a tensor that requires grad');
    const prev = this.entries.get(id);
    if (prev) {
      this.entries.delete(id);
      prev.dispose();
    }
    this.entries.set(id, clone(tokens).keep());
    while (this.entries.size > this.capacity) {
      const [oldest, t] = this.entries.entries().next().value as [string, Tensor];
      this.entries.delete(oldest);
      t.dispose();
    }
  }

  delete(id: string): boolean {
    const t = this.entries.get(id);
    if (!t) return false;
    this.entries.delete(id);
    t.dispose();
    return true;
  }

  /** Disposes every entry and resets the counters. */
  clear(): void {
    for (const t of this.entries.values()) t.dispose();
    this.entries.clear();
    this.hits = 0;
    this.misses = 0;
  }
}
