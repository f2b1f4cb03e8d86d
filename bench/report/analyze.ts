/**
 * Derived figures of a report: throughput at the median, fraction of the machine's peak, ratios
 * of posegrad's backends to each peer, and the project's performance targets (met / not met).
 * Pure functions of measured results: no timing happens here.
 */
import type { EngineDef } from '../engines.js';
import type { Mode } from '../formulas.js';
import type { PeakResult } from '../native/peak.js';
import { perSecondG } from '../stats.js';
import type { EngineReport, KernelResult, MachineInfo, NetworkRatio, NetworkResult, PaperMemoryRow, RatioResult, TargetResult } from './types.js';

/**
 * The peak an engine's throughput is compared with: per-core figures for one thread, the
 * all-threads figures for as many threads as the machine has (and for a software WebGPU adapter,
 * which computes on every core), scaled per-core figures in between; none for a hardware GPU.
 */
export function peakFor(engine: Pick<EngineDef, 'threads'>, metric: 'flops' | 'bytes', peak: PeakResult, machine: Pick<MachineInfo, 'cores' | 'adapterIsSoftware'>): { value: number; basis: string } | null {
  if (peak.skipped) return null;
  const one = metric === 'flops' ? peak.fmaGflops1t : peak.copyGBs1t;
  const all = metric === 'flops' ? peak.fmaGflopsAll : peak.copyGBsAll;
  const what = metric === 'flops' ? 'AVX2 FMA' : 'copy bandwidth';
  const allThreads = peak.threads ?? machine.cores;
  if (engine.threads === 'gpu') {
    if (!machine.adapterIsSoftware || all === undefined) return null;
    return { value: all, basis: `${what}, ${allThreads} threads (software adapter)` };
  }
  if (engine.threads === 1) return one === undefined ? null : { value: one, basis: `${what}, 1 thread` };
  if (engine.threads >= allThreads && all !== undefined) return { value: all, basis: `${what}, ${allThreads} threads` };
  return one === undefined ? null : { value: one * engine.threads, basis: `${what}, ${engine.threads} x 1 thread` };
}

/**
 * A posegrad engine whose backend reports its own thread count (wasm with `threads: 2`, from a
 * --preload) computes on that many threads: the report's threads, label and fraction of peak
 * follow it, as does a relaxed-SIMD build in the label.
 */
export function applyStartDetails(e: EngineReport, details: Record<string, string | number | boolean>): void {
  if (e.kind !== 'posegrad') return;
  const tags: string[] = [];
  if (details.relaxedSimd === true) tags.push('relaxed SIMD');
  if (typeof details.threads === 'number' && details.threads > 1 && e.threads !== 'gpu') {
    e.threads = details.threads;
    tags.push(`${details.threads}t`);
  }
  if (tags.length > 0) e.label = `${e.label} (${tags.join(', ')})`;
}

/** Fills gflops, gbs, fractionOfPeak and peakBasis of ok results (mutates and returns them). */
export function addThroughput(results: KernelResult[], engines: readonly EngineReport[], peak: PeakResult, machine: MachineInfo): KernelResult[] {
  const byId = new Map(engines.map((e) => [e.id, e]));
  for (const r of results) {
    if (r.status !== 'ok' || !r.stats) continue;
    r.gflops = perSecondG(r.flops, r.stats.median);
    r.gbs = perSecondG(r.bytes, r.stats.median);
    const e = byId.get(r.engineId);
    const p = e ? peakFor(e, r.metric, peak, machine) : null;
    if (p) {
      r.fractionOfPeak = (r.metric === 'flops' ? r.gflops : r.gbs) / p.value;
      r.peakBasis = p.basis;
    }
  }
  return results;
}

function key(workload: string, mode: Mode, engineId: string): string {
  return `${workload}|${mode}|${engineId}`;
}

/** Every posegrad × peer ratio where both sides measured the same workload and mode. */
export function computeRatios(results: readonly KernelResult[], engines: readonly EngineReport[]): RatioResult[] {
  const ok = new Map<string, KernelResult>();
  for (const r of results) if (r.status === 'ok' && r.stats) ok.set(key(r.workload, r.mode, r.engineId), r);
  const ours = engines.filter((e) => e.kind === 'posegrad');
  const peers = engines.filter((e) => e.kind === 'peer');
  const out: RatioResult[] = [];
  const seen = new Set<string>();
  for (const r of results) {
    const wm = `${r.workload}|${r.mode}`;
    if (seen.has(wm)) continue;
    seen.add(wm);
    for (const o of ours) {
      const a = ok.get(key(r.workload, r.mode, o.id));
      if (!a) continue;
      for (const p of peers) {
        const b = ok.get(key(r.workload, r.mode, p.id));
        if (!b) continue;
        out.push({ workload: r.workload, mode: r.mode, ours: o.id, peer: p.id, ratio: b.stats!.median / a.stats!.median });
      }
    }
  }
  return out;
}

export interface TargetDef {
  id: string;
  text: string;
  ours: string;
  peer: string;
  min: number;
  /** Workload ids the target covers. */
  workloads: RegExp;
  modes: readonly Mode[];
}

/** The project's performance targets (issue "npm run bench", and the webgpu and wasm issues). */
export const TARGETS: readonly TargetDef[] = [
  { id: 'webgpu-tfjs', text: 'webgpu ≥ 2x tfjs-webgpu on matmul, conv2d, softmax, attention', ours: 'posegrad-webgpu', peer: 'tfjs-webgpu', min: 2, workloads: /^(matmul|conv2d|softmax|attention)/, modes: ['fwd'] },
  { id: 'webgpu-ort', text: 'webgpu ≥ 2x ort-web-webgpu on matmul, conv2d, softmax, attention', ours: 'posegrad-webgpu', peer: 'ort-web-webgpu', min: 2, workloads: /^(matmul|conv2d|softmax|attention)/, modes: ['fwd'] },
  { id: 'wasm-tfjs', text: 'wasm ≥ 1.5x tfjs-wasm (one thread) on matmul, conv2d', ours: 'posegrad-wasm', peer: 'tfjs-wasm', min: 1.5, workloads: /^(matmul|conv2d)/, modes: ['fwd'] },
  { id: 'wasm-ort', text: 'wasm ≥ 1.0x ort-web-wasm at equal threads (1) on matmul, conv2d, deformConv2d, attention', ours: 'posegrad-wasm', peer: 'ort-web-wasm-1t', min: 1, workloads: /^(matmul|conv2d|deformConv2d|attention)/, modes: ['fwd'] },
  { id: 'wasm-torchvision', text: 'wasm deformConv2d ≥ 3x torchvision (torch, one thread)', ours: 'posegrad-wasm', peer: 'torch-1t', min: 3, workloads: /^deformConv2d/, modes: ['fwd', 'fwd+bwd'] },
];

/** Evaluates each target on each workload it covers that the run included. */
export function evaluateTargets(results: readonly KernelResult[], ratios: readonly RatioResult[], engines: readonly EngineReport[], targets: readonly TargetDef[] = TARGETS): TargetResult[] {
  const workloads = [...new Set(results.map((r) => r.workload))];
  const engineById = new Map(engines.map((e) => [e.id, e]));
  const cell = new Map(results.map((r) => [key(r.workload, r.mode, r.engineId), r]));
  const out: TargetResult[] = [];
  for (const t of targets) {
    for (const w of workloads.filter((x) => t.workloads.test(x))) {
      for (const mode of t.modes) {
        const base = { id: t.id, text: t.text, workload: w, mode, ours: t.ours, peer: t.peer, min: t.min };
        const r = ratios.find((x) => x.workload === w && x.mode === mode && x.ours === t.ours && x.peer === t.peer);
        if (r) {
          out.push({ ...base, ratio: r.ratio, status: r.ratio >= t.min ? 'met' : 'not met' });
          continue;
        }
        const missing = [t.ours, t.peer].map((id) => {
          const c = cell.get(key(w, mode, id));
          if (!c) {
            const e = engineById.get(id);
            return `${id}: ${e?.error ?? 'not run'}`;
          }
          if (c.status !== 'ok') return `${id}: ${c.status === 'na' ? 'n/a' : 'error'} (${c.reason ?? ''})`;
          return null;
        }).filter((s): s is string => s !== null);
        out.push({ ...base, status: 'not measured', reason: missing.join('; ') || 'no ratio' });
      }
    }
  }
  return out;
}

/**
 * Whole-network ratios for every posegrad × peer pair that measured the same network, preset and
 * mode (infer): the peer's ms/frame ÷ posegrad's, so that > 1 means posegrad is faster.
 */
export function computeNetworkRatios(results: readonly NetworkResult[], engines: readonly EngineReport[]): NetworkRatio[] {
  const kind = new Map(engines.map((e) => [e.id, e.kind]));
  const ok = results.filter((r) => r.status === 'ok' && r.mode === 'infer' && r.msPerFrame !== undefined && r.msPerFrame > 0);
  const out: NetworkRatio[] = [];
  for (const a of ok) {
    if (kind.get(a.engineId) !== 'posegrad') continue;
    for (const b of ok) {
      if (kind.get(b.engineId) !== 'peer' || b.network !== a.network || b.preset !== a.preset || b.mode !== a.mode) continue;
      out.push({ network: a.network, preset: a.preset, mode: a.mode, ours: a.engineId, peer: b.engineId, ratio: b.msPerFrame! / a.msPerFrame! });
    }
  }
  return out;
}

/** The paper-size memory target of issue 14: posegrad's peak ≤ 1.5x PyTorch's for the same network. */
export const PAPER_MEMORY_MAX_RATIO = 1.5;

/**
 * The paper-size memory comparison: for each network, each posegrad backend's inference peak RSS
 * above its baseline against PyTorch's (the torch peer's paper cell), the ratio, and whether it
 * is ≤ PAPER_MEMORY_MAX_RATIO. Rows exist for every posegrad paper cell; without a PyTorch cell,
 * or when either side failed, the verdict is 'not measured' with the reason.
 */
export function paperMemory(results: readonly NetworkResult[], peerId = 'torch-1t', maxRatio = PAPER_MEMORY_MAX_RATIO): PaperMemoryRow[] {
  const rows: PaperMemoryRow[] = [];
  const paper = results.filter((r) => r.mode === 'paper');
  for (const r of paper) {
    if (!r.engineId.startsWith('posegrad-')) continue;
    const t = paper.find((x) => x.engineId === peerId && x.network === r.network && x.preset === r.preset);
    const row: PaperMemoryRow = { network: r.network, label: r.label, preset: r.ranPreset ?? r.preset, engineId: r.engineId, peerId, status: r.status, maxRatio, verdict: 'not measured' };
    if (r.parameters !== undefined) row.parameters = r.parameters;
    if (t?.parameters !== undefined) row.peerParameters = t.parameters;
    if (r.memory) row.posegrad = r.memory;
    if (t?.memory) {
      row.peerInferPeakAboveBaselineBytes = t.memory.inferPeakAboveBaselineBytes;
      if (t.memory.buildPeakAboveBaselineBytes !== undefined) row.peerBuildPeakAboveBaselineBytes = t.memory.buildPeakAboveBaselineBytes;
    }
    const why: string[] = [];
    if (r.status !== 'ok' || !r.memory) why.push(`${r.engineId}: ${r.status === 'ok' ? 'no memory figures' : `${r.status === 'na' ? 'n/a' : 'error'} (${r.reason ?? ''})`}`);
    if (!t) why.push(`${peerId}: not run`);
    else if (t.status !== 'ok' || !t.memory) why.push(`${peerId}: ${t.status === 'ok' ? 'no memory figures' : `${t.status === 'na' ? 'n/a' : 'error'} (${t.reason ?? ''})`}`);
    if (why.length === 0 && row.posegrad && row.peerInferPeakAboveBaselineBytes !== undefined && row.peerInferPeakAboveBaselineBytes > 0) {
      row.ratio = row.posegrad.inferPeakAboveBaselineBytes / row.peerInferPeakAboveBaselineBytes;
      row.verdict = row.ratio <= maxRatio ? 'met' : 'not met';
    } else {
      row.reason = why.join('; ') || `${peerId}: a peak of 0 bytes`;
    }
    rows.push(row);
  }
  return rows;
}
