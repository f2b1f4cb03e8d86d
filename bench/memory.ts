/**
 * The process's resident set, for the paper mode's memory figures (bench/networks/suite.ts) and the
 * PyTorch side (test/reference/torch_peak_memory.py measures the same way):
 * - `rssBytes()`: the current RSS (`process.memoryUsage().rss`);
 * - `peakRssBytes()`: the peak RSS since the process started or since the last `resetPeakRss()`
 *   (Linux VmHWM in /proc/self/status; `process.resourceUsage().maxRSS` reads the same mark);
 * - `resetPeakRss()`: restarts that peak at the current RSS by writing "5" to
 *   /proc/self/clear_refs (Linux ≥ 4.0). Returns false where that is not possible: the peak is then
 *   the process's maximum since it started.
 */
import { readFileSync, writeFileSync } from 'node:fs';

export function rssBytes(): number {
  return process.memoryUsage().rss;
}

/** A field of /proc/self/status in bytes, or null off Linux. */
function statusBytes(field: string): number | null {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

export function peakRssBytes(): number {
  return statusBytes('VmHWM') ?? process.resourceUsage().maxRSS * 1024;
}

export function resetPeakRss(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

/** Runs a garbage collection when Node was started with --expose-gc (the bench's posegrad workers are). */
export function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}
