/**
 * PyTorch's side of the paper mode's memory comparison (issue 14 item 6): each paper network runs
 * in a fresh Python process, test/reference/torch_peak_memory.py (the test/reference PyTorch
 * models at posegrad's `paper` preset, eval mode, `torch.no_grad()`, one thread), which measures
 * its peak RSS above the pre-model baseline the way bench/networks/suite.ts measures posegrad's.
 * The cell is the torch engine's (`torch-1t`), `net:<name>:paper:paper`, with the same `extra`
 * fields as posegrad's paper cells, so that the report sets them side by side. Under --quick the
 * script builds its own tiny configurations (a smoke test of the path; the figures mean nothing).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CellMessage, NetworkJob } from '../protocol.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The script, relative to the repository root. */
export const TORCH_MEMORY_SCRIPT = 'test/reference/torch_peak_memory.py';
/** The engine the cells belong to: PyTorch on one thread, as posegrad's cpu and wasm backends. */
export const TORCH_MEMORY_ENGINE = 'torch-1t';
/** The networks the script builds. */
export const TORCH_MEMORY_NETWORKS: readonly string[] = ['rpstn', 'fasrnet', 'vremd', 'glpose'];

/** What the script prints (one JSON object). */
export interface TorchMemoryResult {
  network: string;
  preset: string;
  torch: string;
  threads: number;
  parameters: number;
  input: string;
  framesPerForward: number;
  output: number[][];
  finite: boolean;
  baselineRssBytes: number;
  rssAfterBuildBytes: number;
  buildPeakAboveBaselineBytes: number;
  inferPeakAboveBaselineBytes: number;
  peakReset: boolean;
  buildMs: number;
  inferMs: number;
}

/** Checks the script's output line and returns it typed. @throws Error naming the missing field. */
export function parseTorchMemory(line: string): TorchMemoryResult {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new Error(`torch-memory: expected one JSON object from ${TORCH_MEMORY_SCRIPT}, got ${JSON.stringify(line.slice(0, 200))}`);
  }
  const o = v as Record<string, unknown>;
  for (const k of ['parameters', 'baselineRssBytes', 'buildPeakAboveBaselineBytes', 'inferPeakAboveBaselineBytes', 'inferMs']) {
    if (typeof o[k] !== 'number' || !Number.isFinite(o[k])) throw new Error(`torch-memory: expected a number in field '${k}' of ${TORCH_MEMORY_SCRIPT}'s output, got ${JSON.stringify(o[k])}`);
  }
  return o as unknown as TorchMemoryResult;
}

/** The cell of a parsed result (or the reason it failed). */
export function torchMemoryCell(job: NetworkJob, r: TorchMemoryResult): CellMessage {
  const extra: Record<string, number | string> = {
    preset: r.preset,
    parameters: r.parameters,
    runtime: `torch ${r.torch}, ${r.threads} thread${r.threads === 1 ? '' : 's'}`,
    rssBeforeBuildBytes: r.baselineRssBytes,
    rssAfterBuildBytes: r.rssAfterBuildBytes,
    buildPeakAboveBaselineBytes: r.buildPeakAboveBaselineBytes,
    inferPeakAboveBaselineBytes: r.inferPeakAboveBaselineBytes,
    peakRssBytes: r.baselineRssBytes + Math.max(r.buildPeakAboveBaselineBytes, r.inferPeakAboveBaselineBytes),
    peakRssReset: r.peakReset ? 'yes' : 'no (the peak is the process maximum since it started)',
  };
  const note = `PyTorch eval mode under no_grad, ${r.input}${r.finite ? '' : '; the output has non-finite values (default init)'}`;
  return { type: 'cell', engineId: TORCH_MEMORY_ENGINE, workload: `net:${job.name}:${job.preset}:${job.mode}`, mode: job.mode, status: 'ok', samples: [r.inferMs], firstMs: r.inferMs, framesPerIter: r.framesPerForward, extra, note };
}

/**
 * Runs the script for paper job `job` in a fresh `python` process (tiny configurations under
 * `quick`) and returns the torch cell. Never throws: a missing torch, a crash or a timeout is an
 * 'na' or 'error' cell saying so.
 */
export function runTorchMemoryJob(python: string, job: NetworkJob, quick: boolean, timeoutMs: number): Promise<CellMessage> {
  const base = { type: 'cell' as const, engineId: TORCH_MEMORY_ENGINE, workload: `net:${job.name}:${job.preset}:${job.mode}`, mode: job.mode };
  if (!TORCH_MEMORY_NETWORKS.includes(job.name)) return Promise.resolve({ ...base, status: 'na', reason: `${TORCH_MEMORY_SCRIPT} has no ${job.name}` });
  return new Promise((resolve) => {
    const child = spawn(python, [path.join(ROOT, TORCH_MEMORY_SCRIPT), job.name, '--threads', '1', '--preset', quick ? 'tiny' : 'paper'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ ...base, status: 'na', reason: `torch: not installed (cannot run ${python}: ${e.message})` });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) return resolve({ ...base, status: 'na', reason: `timed out after ${timeoutMs / 60_000} min` });
      if (code !== 0) {
        const tail = err.trim().split('\n').slice(-3).join(' ');
        const missing = /No module named 'torch(vision)?'/.test(err);
        return resolve({ ...base, status: missing ? 'na' : 'error', reason: missing ? `torch: not installed (${tail})` : `${TORCH_MEMORY_SCRIPT} exited with ${signal ?? `code ${code}`}: ${tail}` });
      }
      try {
        resolve(torchMemoryCell(job, parseTorchMemory(out.trim().split('\n').pop() ?? '')));
      } catch (e) {
        resolve({ ...base, status: 'error', reason: (e as Error).message });
      }
    });
  });
}
