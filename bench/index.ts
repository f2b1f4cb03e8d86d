/**
 * `npm run bench`: the kernel and network suites on posegrad's backends and the peer engines, side
 * by side, then the report (JSON, Markdown table, SVG charts) in bench/results/.
 *
 * The parent process plans the run, measures the machine's peak (bench/native/peak.c), and starts
 * one child process per engine group (worker.ts for JS engines, peers/torch_bench.py for PyTorch),
 * one after another so that they never compete for the cores. Children stream their results back
 * (protocol.ts); everything is summarized here. See docs/benchmarks.md.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import cliProgress from 'cli-progress';
import { DEVICES, type DeviceName } from '../backends/backend.js';
import { matchesFilter, parseBenchArgs, USAGE, type BenchArgs } from './args.js';
import { groupEngines, NETWORK_PEER_IDS, PEER_ENGINES, posegradEngine, selectPeers, type EngineDef } from './engines.js';
import { MODES, workOf } from './formulas.js';
import { machineInfo } from './machine.js';
import { runMoveNetSuite } from './movenet/suite.js';
import { runPeak } from './native/peak.js';
import { NETWORKS } from './networks/registry.js';
import { effectivePreset, netWorkloadId, planNetworkJobs } from './networks/suite.js';
import { decodeMessage, type CellMessage, type ChildMessage, type KernelJob, type NetworkJob, type WorkerJob } from './protocol.js';
import { decodeExportLine } from './peers/ort-export.js';
import { runTorchMemoryJob, TORCH_MEMORY_ENGINE } from './peers/torch-memory.js';
import { addThroughput, applyStartDetails, computeNetworkRatios, computeRatios, evaluateTargets, paperMemory } from './report/analyze.js';
import { renderMarkdown } from './report/markdown.js';
import type { BenchReport, EngineReport, KernelResult, NetworkResult } from './report/types.js';
import { renderJson, writeReport } from './report/write.js';
import { summarize } from './stats.js';
import { describeSpec, KERNEL_WORKLOADS, specOf } from './workloads.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');

interface ProcessPlan {
  job: WorkerJob;
  /** Cells this process will report (for the progress bar and for filling gaps after a crash). */
  expected: { engineId: string; workload: string; mode: string }[];
}

function log(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

/** The posegrad backends to run: --backend, or every registered one. */
function chooseBackends(args: BenchArgs, registered: readonly DeviceName[]): DeviceName[] {
  if (args.backends === null) return [...registered];
  for (const b of args.backends) {
    if (!registered.includes(b as DeviceName)) {
      throw new Error(`--backend: expected a list of the registered backends [${registered.join(', ')}], got '${b}'`);
    }
  }
  return args.backends as DeviceName[];
}

/** Networks that cannot run at all (not landed), with the reason: reported without starting a process. */
function unavailableNetworks(args: BenchArgs): Map<string, string> {
  const out = new Map<string, string>();
  if (!args.suites.includes('networks')) return out;
  for (const n of NETWORKS) {
    const why = n.unavailable?.() ?? null;
    if (why !== null && matchesFilter(args.filter, n.name, n.label)) out.set(n.name, why);
  }
  return out;
}

function plan(args: BenchArgs, backends: readonly DeviceName[], peers: readonly EngineDef[], unavailable: ReadonlyMap<string, string>): ProcessPlan[] {
  const kernels: KernelJob[] = args.suites.includes('kernels')
    ? KERNEL_WORKLOADS.filter((w) => matchesFilter(args.filter, w.id, w.label)).map((w) => ({ id: w.id, spec: specOf(w, args.quick), modes: MODES.filter((m) => args.modes.includes(m)) }))
      .filter((k) => k.modes.length > 0)
    : [];
  const nets = planNetworkJobs(args);
  const plans: ProcessPlan[] = [];
  const expectKernels = (engines: readonly EngineDef[]): ProcessPlan['expected'] =>
    kernels.flatMap((k) => k.modes.flatMap((mode) => engines.map((e) => ({ engineId: e.id, workload: k.id, mode }))));
  for (const b of backends) {
    const e = posegradEngine(b);
    const inProcess = nets.filter((n) => n.mode !== 'paper' && !unavailable.has(n.name));
    plans.push({
      job: { engines: [e], quick: args.quick, kernels, networks: inProcess },
      expected: [...expectKernels([e]), ...inProcess.map((n) => ({ engineId: e.id, workload: netWorkloadId(n), mode: n.mode }))],
    });
    // Each paper-size inference runs in a fresh process, so that its peak RSS is its own. Under
    // --quick (tiny presets) one fresh process per backend runs them all: same code path, fewer starts.
    const paper = nets.filter((x) => x.mode === 'paper' && !unavailable.has(x.name));
    for (const group of args.quick ? (paper.length ? [paper] : []) : paper.map((n) => [n])) {
      plans.push({ job: { engines: [e], quick: args.quick, kernels: [], networks: group }, expected: group.map((n) => ({ engineId: e.id, workload: netWorkloadId(n), mode: n.mode })) });
    }
  }
  // Peers: their kernels, and for the onnxruntime engines of NETWORK_PEER_IDS the inference jobs
  // on the exported networks (one process per engine group, as for the kernels).
  const peerNets = nets.filter((n) => n.mode === 'infer' && !unavailable.has(n.name));
  for (const group of groupEngines(peers)) {
    const netEngines = group.filter((e) => NETWORK_PEER_IDS.includes(e.id));
    const networks = netEngines.length > 0 ? peerNets : [];
    if (kernels.length === 0 && networks.length === 0) continue;
    plans.push({
      job: { engines: group, quick: args.quick, kernels, networks },
      expected: [...expectKernels(group), ...networks.flatMap((n) => netEngines.map((e) => ({ engineId: e.id, workload: netWorkloadId(n), mode: n.mode })))],
    });
  }
  return plans.filter((p) => p.expected.length > 0);
}

/** The (network, preset) pairs the onnxruntime engines of `plans` need exported (presets as run: tiny under --quick). */
function ortExports(plans: readonly ProcessPlan[], quick: boolean): { name: string; preset: string }[] {
  const out = new Map<string, { name: string; preset: string }>();
  for (const p of plans) {
    if (p.job.engines[0]!.kind !== 'peer') continue;
    for (const n of p.job.networks) {
      const preset = effectivePreset(n, quick);
      out.set(`${n.name}:${preset}`, { name: n.name, preset });
    }
  }
  return [...out.values()];
}

/**
 * Exports the networks the onnxruntime engines time, in a process of its own
 * (peers/ort-export.ts), into `dir`. Logs each model; a failed export leaves its cells to say why.
 */
function runOrtExports(models: readonly { name: string; preset: string }[], dir: string, preload: string | null): Promise<void> {
  const flags = ['--import', 'tsx', ...(preload ? ['--import', pathToFileURL(preload).href] : [])];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...flags, path.join(HERE, 'peers', 'ort-export.ts'), dir, JSON.stringify(models)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      const m = decodeExportLine(line);
      if (m) log(`bench: onnx export ${m.name} ${m.preset}: ${m.ok ? `${m.nodes} nodes in ${((m.exportMs ?? 0) / 1000).toFixed(1)} s` : `FAILED: ${m.error}`}`);
    });
    child.on('error', (e) => {
      log(`bench: onnx export could not start: ${e.message}`);
      resolve();
    });
    child.on('close', (code) => {
      if (code !== 0) log(`bench: onnx export exited with code ${code}: ${stderr.trim().split('\n').slice(-3).join(' ')}`);
      resolve();
    });
  });
}

/** The checkout's commit, and whether files differ from it (the numbers belong to that code). */
function gitState(): { commit: string; dirty: boolean } | null {
  const head = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' });
  if (head.status !== 0) return null;
  const status = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8' });
  return { commit: head.stdout.trim(), dirty: status.stdout.trim().length > 0 };
}

/**
 * The order processes run in: the slowest work last, so that an interrupted run has the most
 * results: posegrad wasm/webgpu suites, the peers, the posegrad cpu suite, then paper-size networks.
 */
function runOrder(plans: ProcessPlan[]): ProcessPlan[] {
  const rank = (p: ProcessPlan): number => {
    const e = p.job.engines[0]!;
    const paper = p.job.kernels.length === 0 && p.job.networks.every((n) => n.mode === 'paper');
    if (paper) return e.backend === 'cpu' ? 4 : 3;
    if (e.kind === 'peer') return 1;
    return e.backend === 'cpu' ? 2 : 0;
  };
  return plans.map((p, i) => ({ p, i })).sort((a, b) => rank(a.p) - rank(b.p) || a.i - b.i).map((x) => x.p);
}

/** Table order: posegrad cpu, wasm, webgpu, then the peers as in PEER_ENGINES. */
function canonicalOrder(engines: EngineReport[]): EngineReport[] {
  const order = [...DEVICES.map((d) => `posegrad-${d}`), ...PEER_ENGINES.map((e) => e.id)];
  return [...engines].sort((a, b) => order.indexOf(a.id) - order.indexOf(b.id));
}

/** POSEGRAD_BENCH_PYTHON, else the system Python (/usr/bin/python3, where the Debian torch lives), else python3 on PATH. */
function pythonExecutable(): string {
  return process.env.POSEGRAD_BENCH_PYTHON || (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
}

/**
 * How long one paper-size inference may take: POSEGRAD_BENCH_PAPER_TIMEOUT_MIN minutes, default 20
 * (posegrad's cpu backend needs longer for VREMD and GLPose at paper size on a slow machine).
 */
function paperTimeoutMs(): number {
  const v = process.env.POSEGRAD_BENCH_PAPER_TIMEOUT_MIN;
  if (v === undefined || v === '') return 20 * 60_000;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`POSEGRAD_BENCH_PAPER_TIMEOUT_MIN: expected a positive number of minutes, got '${v}'`);
  return n * 60_000;
}

/** Runs one child process, calling `onMessage` per protocol message. Resolves with its exit status. */
function runChild(p: ProcessPlan, timeoutMs: number, preload: string | null, onnxDir: string | null, onMessage: (m: ChildMessage) => void): Promise<{ code: number | null; stderrTail: string; timedOut: boolean }> {
  const first = p.job.engines[0]!;
  const nodeFlags = [...(p.job.quick ? first.quickNodeFlags ?? [] : []), '--import', 'tsx'];
  if (preload && first.kind === 'posegrad') nodeFlags.push('--import', pathToFileURL(preload).href);
  // The paper mode collects garbage before reading its pre-model RSS baseline (networks/suite.ts).
  if (first.kind === 'posegrad') nodeFlags.push('--expose-gc');
  const [cmd, argv] = first.runtime === 'python'
    ? [pythonExecutable(), [path.join(HERE, 'peers', 'torch_bench.py')]]
    : [process.execPath, [...nodeFlags, path.join(HERE, 'worker.ts'), JSON.stringify(p.job)]];
  return new Promise((resolve) => {
    const child = spawn(cmd, argv, { cwd: ROOT, env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp', ...(onnxDir ? { POSEGRAD_BENCH_ONNX_DIR: onnxDir } : {}) }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    let timedOut = false;
    let settled = false;
    const finish = (code: number | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ code, stderrTail: stderr.trim().split('\n').slice(-6).join('\n'), timedOut });
    };
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (e) => {
      // Typically ENOENT: no python3. Reported like an engine that failed to start.
      onMessage({ type: 'engine', engineIds: p.job.engines.map((x) => x.id), ok: false, error: first.runtime === 'python' ? `torch: not installed (cannot run ${cmd}: ${e.message})` : e.message });
      finish(null);
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-20_000);
    });
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      const m = decodeMessage(line);
      if (m) onMessage(m);
    });
    child.on('close', (code) => finish(code));
    if (first.runtime === 'python') child.stdin.end(JSON.stringify(p.job));
    else child.stdin.end();
  });
}

async function main(): Promise<number> {
  const t0 = Date.now();
  const args = parseBenchArgs(process.argv.slice(2));
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const preload = args.preload ? path.resolve(args.preload) : null;
  if (preload) {
    if (!existsSync(preload)) throw new Error(`--preload: expected an existing module, got '${args.preload}'`);
    await import(pathToFileURL(preload).href);
  }
  const root = await import('../index.js');
  const registered = root.engine.registeredBackends();
  const backends = chooseBackends(args, registered);
  const peers = selectPeers(args.peers);
  const date = new Date().toISOString();

  log(`bench: ${args.quick ? 'quick' : 'full'} run; posegrad backends [${backends.join(', ')}] (registered: [${registered.join(', ')}]); peers [${peers.map((p) => p.id).join(', ')}]`);
  const machine = machineInfo();
  const loadAtStart = os.loadavg()[0]!;
  log(`bench: ${machine.cpu}, ${machine.cores} cores; WebGPU adapter: ${machine.adapter ?? machine.adapterError}`);
  const peak = runPeak(machine.cores, args.quick);
  log(peak.skipped ? `bench: peak skipped (${peak.skipped})` : `bench: peak ${peak.fmaGflops1t?.toFixed(1)} GFLOP/s/core (AVX2 FMA), copy ${peak.copyGBs1t?.toFixed(1)} GB/s/core`);

  const unavailable = unavailableNetworks(args);
  const plans = runOrder(plan(args, backends, peers, unavailable));
  const engineReports = new Map<string, EngineReport>();
  for (const d of DEVICES) {
    if (!registered.includes(d)) engineReports.set(`posegrad-${d}`, { ...posegradEngine(d), status: 'not-run', error: `'${d}' is not registered in the engine yet` });
  }
  for (const p of plans) for (const e of p.job.engines) if (!engineReports.has(e.id)) engineReports.set(e.id, { ...e, status: 'not-run' });

  // The networks the onnxruntime engines time: exported once, by a process of their own, into a
  // directory of this run (removed at the end).
  const exports = ortExports(plans, args.quick);
  const onnxDir = exports.length > 0 ? mkdtempSync(path.join(os.tmpdir(), 'posegrad-bench-onnx-')) : null;
  if (onnxDir) {
    log(`bench: exporting ${exports.length} networks for onnxruntime (${exports.map((m) => `${m.name} ${m.preset}`).join(', ')})`);
    await runOrtExports(exports, onnxDir, preload);
  }

  const cells: CellMessage[] = [];
  const total = plans.reduce((n, p) => n + p.expected.length, 0);
  const tty = process.stderr.isTTY === true && !process.env.CI;
  const bar = tty ? new cliProgress.SingleBar({ format: 'bench {bar} {value}/{total} | {engine} {task}', stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic) : null;
  bar?.start(total, 0, { engine: '', task: '' });
  let done = 0;

  for (const p of plans) {
    const ids = p.job.engines.map((e) => e.id).join(', ');
    if (!bar) log(`bench: ${ids}: ${p.expected.length} cells`);
    bar?.update(done, { engine: ids, task: 'starting' });
    const got = new Set<string>();
    let startError: string | null = null;
    // Paper-size inferences get 20 minutes each (POSEGRAD_BENCH_PAPER_TIMEOUT_MIN); a suite process 60 (its slow cells run once).
    const paperJob = p.job.kernels.length === 0 && p.job.networks.every((n) => n.mode === 'paper');
    const timeoutMs = args.quick ? 5 * 60_000 : paperJob ? paperTimeoutMs() : 60 * 60_000;
    const r = await runChild(p, timeoutMs, preload, onnxDir, (m) => {
      if (m.type === 'engine') {
        for (const id of m.engineIds) {
          const e = engineReports.get(id)!;
          if (m.ok && m.start) {
            Object.assign(e, { status: 'ok', version: m.start.version, details: m.start.details });
            applyStartDetails(e, m.start.details);
          }
          else Object.assign(e, { status: 'failed', error: m.error ?? 'failed to start' });
        }
        if (!m.ok) startError = m.error ?? 'failed to start';
      } else if (m.type === 'cell') {
        cells.push(m);
        got.add(`${m.engineId}|${m.workload}|${m.mode}`);
        done++;
        bar?.update(done, { engine: m.engineId, task: `${m.workload} ${m.mode}` });
        // Without a terminal (logs, CI), full runs report each cell as it completes.
        if (!bar && !args.quick) log(`bench:   ${m.engineId} ${m.workload} ${m.mode}: ${m.status === 'ok' && m.samples?.length ? `median ${summarize(m.samples).median.toFixed(3)} ms (N=${m.samples.length})` : `${m.status} ${(m.reason ?? '').slice(0, 120)}`}`);
      } else if (m.type === 'done') {
        for (const e of p.job.engines) {
          const er = engineReports.get(e.id)!;
          er.maxRssBytes = Math.max(er.maxRssBytes ?? 0, m.maxRssBytes);
        }
      }
    });
    // Cells the child never reported: the engine failed to start, crashed, or timed out.
    const why = startError !== null
      ? `engine failed to start: ${startError}`
      : r.timedOut ? `timed out after ${timeoutMs / 60_000} min` : `process exited with code ${r.code} before reporting: ${r.stderrTail}`;
    for (const x of p.expected) {
      if (got.has(`${x.engineId}|${x.workload}|${x.mode}`)) continue;
      // A timeout is a limit of the run, not a bug: n/a, like an engine that cannot start.
      cells.push({ type: 'cell', engineId: x.engineId, workload: x.workload, mode: x.mode as CellMessage['mode'], status: startError !== null || r.timedOut ? 'na' : 'error', reason: why });
      done++;
    }
    if (startError === null && r.code !== 0) {
      for (const e of p.job.engines) {
        const er = engineReports.get(e.id)!;
        if (er.status !== 'failed') Object.assign(er, { status: 'failed', error: why });
      }
    }
    if (!bar) log(`bench: ${ids}: done (${r.timedOut ? 'timed out' : `exit ${r.code}`})`);
  }
  bar?.stop();
  if (onnxDir) rmSync(onnxDir, { recursive: true, force: true });
  // PyTorch's side of the paper mode's memory comparison: one fresh Python process per network
  // (peers/torch-memory.ts), when the torch peer is selected.
  const torchPaper = peers.some((p) => p.id === TORCH_MEMORY_ENGINE) ? planNetworkJobs(args).filter((n) => n.mode === 'paper' && !unavailable.has(n.name)) : [];
  for (const n of torchPaper) {
    log(`bench: ${TORCH_MEMORY_ENGINE} ${n.name} paper memory (test/reference/torch_peak_memory.py${args.quick ? ', --quick: its tiny configuration' : ''})`);
    const c = await runTorchMemoryJob(pythonExecutable(), n, args.quick, args.quick ? 5 * 60_000 : paperTimeoutMs());
    cells.push(c);
    const e = engineReports.get(TORCH_MEMORY_ENGINE) ?? { ...PEER_ENGINES.find((x) => x.id === TORCH_MEMORY_ENGINE)!, status: 'not-run' as const };
    engineReports.set(TORCH_MEMORY_ENGINE, e);
    if (c.status === 'ok' && e.status !== 'ok') Object.assign(e, { status: 'ok', version: String(c.extra?.runtime ?? 'torch') });
    else if (c.status !== 'ok' && e.status === 'not-run') Object.assign(e, { status: 'failed', error: c.reason });
  }
  // The MoveNet race (bench/movenet/): its own engine processes, after the other suites.
  const movenet = args.suites.includes('networks') && args.modes.includes('movenet')
    ? await runMoveNetSuite({ quick: args.quick, filter: args.filter, backends, peers: args.peers, preload, log })
    : null;
  for (const n of planNetworkJobs(args)) {
    const why = unavailable.get(n.name);
    if (why === undefined) continue;
    for (const b of backends) cells.push({ type: 'cell', engineId: posegradEngine(b).id, workload: netWorkloadId(n), mode: n.mode, status: 'na', reason: why });
  }

  machine.loadAverage = { start: loadAtStart, end: os.loadavg()[0]! };
  const engines = canonicalOrder([...engineReports.values()]);
  const kernels: KernelResult[] = [];
  const networks: NetworkResult[] = [];
  for (const c of cells) {
    if (c.workload.startsWith('net:')) {
      const [, name, preset] = c.workload.split(':') as [string, string, string];
      const entry = NETWORKS.find((n) => n.name === name);
      const n: NetworkResult = { network: name, label: entry?.label ?? name, mode: c.mode as NetworkResult['mode'], preset, ranPreset: effectivePreset({ name, preset: preset as NetworkJob['preset'], mode: c.mode as NetworkJob['mode'] }, args.quick), engineId: c.engineId, status: c.status };
      if (c.reason) n.reason = c.reason;
      if (c.note) n.note = c.note;
      if (c.samples?.length) {
        n.stats = summarize(c.samples);
        const frames = c.framesPerIter ?? 1;
        if (c.mode === 'train') n.msPerStep = n.stats.median;
        else n.msPerFrame = n.stats.median / frames;
      }
      const ex = c.extra ?? {};
      if (typeof ex.peakRssBytes === 'number') n.peakRssBytes = ex.peakRssBytes;
      if (typeof ex.rssBeforeBuildBytes === 'number') n.rssBeforeBuildBytes = ex.rssBeforeBuildBytes;
      if (typeof ex.parameters === 'number') n.parameters = ex.parameters;
      if (typeof ex.runtime === 'string') n.runtime = ex.runtime;
      if (typeof ex.inferPeakAboveBaselineBytes === 'number') {
        const num = (k: string): number | undefined => (typeof ex[k] === 'number' ? (ex[k] as number) : undefined);
        n.memory = {
          inferPeakAboveBaselineBytes: ex.inferPeakAboveBaselineBytes,
          buildPeakAboveBaselineBytes: num('buildPeakAboveBaselineBytes'),
          rssAfterBuildBytes: num('rssAfterBuildBytes'),
          peakLiveBytes: num('peakLiveBytes'),
          pooledBytes: num('pooledBytes'),
          modelBytes: num('modelBytes'),
          peakRssReset: typeof ex.peakRssReset === 'string' ? ex.peakRssReset === 'yes' : undefined,
        };
      }
      networks.push(n);
      continue;
    }
    const w = KERNEL_WORKLOADS.find((k) => k.id === c.workload);
    if (!w) continue;
    const spec = specOf(w, args.quick);
    const mode = c.mode as KernelResult['mode'];
    const work = workOf(spec, mode);
    const label = args.quick ? `${w.id} (quick: ${describeSpec(spec)})` : w.label;
    const k: KernelResult = { workload: w.id, label, spec, metric: w.metric, mode, engineId: c.engineId, status: c.status, flops: work.flops, bytes: work.bytes };
    if (c.reason) k.reason = c.reason;
    if (c.note) k.note = c.note;
    if (c.samples?.length) k.stats = summarize(c.samples);
    if (c.firstMs !== undefined) k.firstMs = c.firstMs;
    if (c.plan) k.plan = c.plan;
    kernels.push(k);
  }
  // Table order: workloads as in KERNEL_WORKLOADS, modes, engines as planned.
  const engineOrder = new Map(engines.map((e, i) => [e.id, i]));
  const wOrder = new Map(KERNEL_WORKLOADS.map((w, i) => [w.id, i]));
  kernels.sort((a, b) => wOrder.get(a.workload)! - wOrder.get(b.workload)! || MODES.indexOf(a.mode) - MODES.indexOf(b.mode) || engineOrder.get(a.engineId)! - engineOrder.get(b.engineId)!);

  addThroughput(kernels, engines, peak, machine);
  const ratios = computeRatios(kernels, engines);
  const networkRatios = computeNetworkRatios(networks, engines);
  const memoryRows = paperMemory(networks);
  const report: BenchReport = {
    schema: 1,
    date,
    quick: args.quick,
    argv: process.argv.slice(2),
    durationMs: Date.now() - t0,
    machine,
    peak,
    engines,
    kernels,
    networks,
    ratios,
    ...(networkRatios.length ? { networkRatios } : {}),
    ...(memoryRows.length ? { paperMemory: memoryRows } : {}),
    targets: evaluateTargets(kernels, ratios, engines),
    missingBackends: DEVICES.filter((d) => !registered.includes(d)),
    git: gitState(),
  };
  if (movenet && movenet.report.models.length > 0) report.movenet = movenet.report;

  if (args.write) {
    const files = writeReport(report, path.resolve(ROOT, args.outDir));
    log(`bench: wrote ${path.relative(ROOT, files.json)}, ${path.relative(ROOT, files.markdown)}${files.charts.map((c) => `, ${path.relative(ROOT, c)}`).join('')}`);
  }
  const md = renderMarkdown(report);
  if (args.json) {
    process.stdout.write(renderJson(report));
    process.stderr.write(md);
  } else {
    process.stdout.write(md);
  }

  // posegrad's own failures fail the run (CI's smoke test); peers' never do.
  const ours = new Set(engines.filter((e) => e.kind === 'posegrad').map((e) => e.id));
  const failedEngines = engines.filter((e) => ours.has(e.id) && e.status === 'failed');
  const failedCells = [...kernels, ...networks].filter((c) => ours.has(c.engineId) && c.status === 'error');
  for (const e of failedEngines) log(`bench: FAILED ${e.id}: ${e.error}`);
  for (const c of failedCells) log(`bench: FAILED ${c.engineId} ${'workload' in c ? `${c.workload} ${c.mode}` : `${c.network} ${c.mode}`}: ${c.reason}`);
  const movenetFailures = movenet?.failures ?? [];
  for (const f of movenetFailures) log(`bench: FAILED movenet ${f}`);
  const failures = failedEngines.length + failedCells.length + movenetFailures.length;
  log(`bench: ${kernels.length} kernel cells, ${networks.length} network cells, ${report.movenet?.cells.length ?? 0} MoveNet cells in ${((Date.now() - t0) / 1000).toFixed(1)} s; ${failures} posegrad failures`);
  return failures > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    log(`bench: ${(e as Error).message}`);
    process.exit(2);
  },
);
