/**
 * Builds and runs bench/native/peak.c (the machine's FMA and copy-bandwidth peak) with the
 * system C compiler. Skipped, with the reason, when there is no `cc`, when the CPU lacks AVX2/FMA,
 * or when the build fails; the report then shows fractions of peak as "n/a".
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface PeakResult {
  /** Why it did not run, when it did not. */
  skipped?: string;
  threads?: number;
  /** AVX2 FMA GFLOP/s on one core, and on all `threads` at once. */
  fmaGflops1t?: number;
  fmaGflopsAll?: number;
  /** Copy bandwidth GB/s (read + write bytes), one thread and all threads. */
  copyGBs1t?: number;
  copyGBsAll?: number;
  compiler?: string;
}

const SOURCE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'peak.c');

/** Whether /proc/cpuinfo lists both avx2 and fma (null when there is no /proc/cpuinfo). */
export function cpuHasAvx2Fma(cpuinfo: string | null): boolean | null {
  if (cpuinfo === null) return null;
  const flags = /^flags\s*:(.*)$/m.exec(cpuinfo)?.[1]?.split(/\s+/) ?? [];
  return flags.includes('avx2') && flags.includes('fma');
}

/** Parses the program's JSON line. */
export function parsePeakOutput(stdout: string): PeakResult {
  const line = stdout.trim().split('\n').pop() ?? '';
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return { skipped: `peak: expected one JSON line, got '${line.slice(0, 120)}'` };
  }
  if (typeof v.skipped === 'string') return { skipped: v.skipped };
  const num = (k: string): number | undefined => (typeof v[k] === 'number' ? (v[k] as number) : undefined);
  return { threads: num('threads'), fmaGflops1t: num('fmaGflops1t'), fmaGflopsAll: num('fmaGflopsAll'), copyGBs1t: num('copyGBs1t'), copyGBsAll: num('copyGBsAll') };
}

/** Builds and runs the program with `compiler` (the system `cc` by default). */
export function runPeak(threads: number, quick: boolean, compiler = 'cc'): PeakResult {
  let cpuinfo: string | null = null;
  try {
    cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    cpuinfo = null;
  }
  if (cpuHasAvx2Fma(cpuinfo) === false) return { skipped: 'CPU without AVX2/FMA (the peak program measures AVX2 FMA)' };
  const cc = spawnSync(compiler, ['--version'], { encoding: 'utf8' });
  if (cc.error || cc.status !== 0) return { skipped: `no C compiler (\`${compiler}\`) on PATH` };
  const version = (cc.stdout.split('\n')[0] ?? compiler).trim();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'posegrad-peak-'));
  try {
    const exe = path.join(dir, 'peak');
    const build = spawnSync(compiler, ['-O2', '-mavx2', '-mfma', '-pthread', SOURCE, '-o', exe], { encoding: 'utf8' });
    if (build.status !== 0) return { skipped: `${compiler} -O2 -mavx2 -mfma failed: ${(build.stderr || String(build.error)).trim().split('\n')[0]}`, compiler: version };
    const run = spawnSync(exe, [String(threads), ...(quick ? ['--quick'] : [])], { encoding: 'utf8', timeout: 120_000 });
    if (run.status !== 0) return { skipped: `peak exited with ${run.status}: ${run.stderr.trim()}`, compiler: version };
    return { ...parsePeakOutput(run.stdout), compiler: version };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
