/**
 * The report as Markdown: the machine and peak, the engines (versions, threads, failures), a
 * throughput matrix per mode (workloads × engines, "n/a [k]" cells with numbered reasons below),
 * the detailed timings (median, p25–p75, min–max, N), ratios to the peers, the targets, and the
 * network suite.
 */
import type { Mode } from '../formulas.js';
import { MODES } from '../formulas.js';
import type { BenchReport, EngineReport, KernelResult, NetworkResult, RatioResult } from './types.js';
import { PAPER_MEMORY_MAX_RATIO } from './analyze.js';
import { renderMoveNetMarkdown } from '../movenet/report.js';

/** Fixed-significance number: 3 significant digits, no exponent for ordinary ranges. */
export function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a === 0) return '0';
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  if (a >= 0.01) return x.toFixed(3);
  return x.toPrecision(2);
}

export function fmtBytes(n: number): string {
  if (n >= 1 << 30) return `${fmt(n / (1 << 30))} GiB`;
  if (n >= 1 << 20) return `${fmt(n / (1 << 20))} MiB`;
  if (n >= 1 << 10) return `${fmt(n / (1 << 10))} KiB`;
  return `${n} B`;
}

export function fmtPct(f: number): string {
  return `${fmt(100 * f)}%`;
}

/** Escapes table-breaking characters in a cell. */
export function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const lines = [`| ${head.map(cell).join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of rows) lines.push(`| ${r.map(cell).join(' | ')} |`);
  return lines.join('\n');
}

/** Collects footnotes: identical reasons share a number. */
class Notes {
  private readonly list: string[] = [];
  ref(text: string): string {
    let i = this.list.indexOf(text);
    if (i < 0) {
      this.list.push(text);
      i = this.list.length - 1;
    }
    return `[${i + 1}]`;
  }
  render(): string {
    return this.list.map((t, i) => `[${i + 1}] ${t}`).join('  \n');
  }
  get size(): number {
    return this.list.length;
  }
}

function unit(metric: 'flops' | 'bytes'): string {
  return metric === 'flops' ? 'GFLOP/s' : 'GB/s';
}

export function throughputOf(r: KernelResult): number | undefined {
  return r.metric === 'flops' ? r.gflops : r.gbs;
}

function workloadsOf(report: BenchReport): { id: string; label: string; metric: 'flops' | 'bytes' }[] {
  const seen = new Map<string, { id: string; label: string; metric: 'flops' | 'bytes' }>();
  for (const r of report.kernels) if (!seen.has(r.workload)) seen.set(r.workload, { id: r.workload, label: r.label, metric: r.metric });
  return [...seen.values()];
}

function engineColumns(report: BenchReport): EngineReport[] {
  const used = new Set(report.kernels.map((k) => k.engineId));
  return report.engines.filter((e) => used.has(e.id));
}

function statusText(r: KernelResult, notes: Notes): string {
  if (r.status === 'na') return `n/a ${notes.ref(r.reason ?? 'not available')}`;
  if (r.status === 'error') return `error ${notes.ref(r.reason ?? 'unknown error')}`;
  return '';
}

/** Workloads × engines, throughput in the workload's unit (and % of peak). */
export function throughputMatrix(report: BenchReport, mode: Mode): string {
  const notes = new Notes();
  const engines = engineColumns(report);
  const rows = workloadsOf(report).map((w) => {
    const cells = engines.map((e) => {
      const r = report.kernels.find((k) => k.workload === w.id && k.mode === mode && k.engineId === e.id);
      if (!r) return '';
      if (r.status !== 'ok') return statusText(r, notes);
      const t = throughputOf(r);
      const pct = r.fractionOfPeak !== undefined ? ` (${fmtPct(r.fractionOfPeak)})` : '';
      const mark = r.note ? ` ${notes.ref(`${e.label}: ${r.note}`)}` : '';
      return `${t !== undefined ? fmt(t) : '?'}${pct}${mark}`;
    });
    return [`${w.label} [${unit(w.metric)}]`, ...cells];
  });
  const body = table(['workload', ...engines.map((e) => e.label)], rows);
  return notes.size ? `${body}\n\n${notes.render()}` : body;
}

/** One row per measured cell: the timing distribution. */
export function detailTable(report: BenchReport): string {
  const label = new Map(report.engines.map((e) => [e.id, e.label]));
  const rows = report.kernels
    .filter((r) => r.status === 'ok' && r.stats)
    .map((r) => {
      const s = r.stats!;
      const t = throughputOf(r);
      return [
        r.label,
        r.mode,
        label.get(r.engineId) ?? r.engineId,
        fmt(s.median),
        `${fmt(s.p25)}–${fmt(s.p75)}`,
        `${fmt(s.min)}–${fmt(s.max)}`,
        String(s.n),
        t !== undefined ? `${fmt(t)} ${unit(r.metric)}` : '',
        r.fractionOfPeak !== undefined ? fmtPct(r.fractionOfPeak) : 'n/a',
      ];
    });
  return table(['workload', 'mode', 'engine', 'median ms', 'p25–p75 ms', 'min–max ms', 'N', 'throughput', '% peak'], rows);
}

/** The peer pairs shown in the ratio table (all pairs are in the JSON). */
export const HEADLINE_PAIRS: readonly (readonly [string, string])[] = [
  ['posegrad-cpu', 'tfjs-cpu'],
  ['posegrad-wasm', 'tfjs-wasm'],
  ['posegrad-wasm', 'ort-web-wasm-1t'],
  ['posegrad-wasm', 'ort-web-wasm-2t'],
  ['posegrad-wasm', 'ort-node-1t'],
  ['posegrad-wasm', 'torch-1t'],
  ['posegrad-webgpu', 'tfjs-webgpu'],
  ['posegrad-webgpu', 'ort-web-webgpu'],
];

/** Ratios (posegrad throughput ÷ peer throughput) for the headline pairs that have data. */
export function ratioTable(report: BenchReport, mode: Mode, pairs: readonly (readonly [string, string])[] = HEADLINE_PAIRS): string {
  const label = new Map(report.engines.map((e) => [e.id, e.label]));
  const present = pairs.filter(([o, p]) => report.ratios.some((r) => r.mode === mode && r.ours === o && r.peer === p));
  if (present.length === 0) return '_No posegrad backend and peer measured the same workload in this mode._';
  const find = (w: string, o: string, p: string): RatioResult | undefined => report.ratios.find((r) => r.workload === w && r.mode === mode && r.ours === o && r.peer === p);
  const rows = workloadsOf(report).map((w) => [w.label, ...present.map(([o, p]) => {
    const r = find(w.id, o, p);
    return r ? `${fmt(r.ratio)}x` : '–';
  })]);
  return table(['workload', ...present.map(([o, p]) => `${(label.get(o) ?? o).replace('posegrad ', '')} vs ${label.get(p) ?? p}`)], rows);
}

export function targetTable(report: BenchReport): string {
  if (report.targets.length === 0) return '_No target workloads in this run._';
  const rows = report.targets.map((t) => [t.text, t.workload, t.mode, t.ratio !== undefined ? `${fmt(t.ratio)}x` : '–', `≥ ${t.min}x`, t.status === 'not measured' ? `not measured (${t.reason ?? ''})` : t.status]);
  return table(['target', 'workload', 'mode', 'measured', 'goal', 'status'], rows);
}

/** The row label of a network cell: 'RPSTN small', 'FaSRnet real', 'VREMD tiny (for small)'. */
function netRow(n: Pick<NetworkResult, 'label' | 'preset' | 'ranPreset'>): string {
  return `${n.label} ${n.ranPreset && n.ranPreset !== n.preset ? `${n.ranPreset} (for ${n.preset})` : n.preset}`;
}

/**
 * Whole-network inference, networks × engines in ms/frame (posegrad's backends and the onnxruntime
 * peers on the exported networks), "n/a [k]" cells with numbered reasons below.
 */
export function networkInferMatrix(report: BenchReport): string {
  const infer = report.networks.filter((n) => n.mode === 'infer');
  if (infer.length === 0) return '_No network inference in this run._';
  const used = new Set(infer.map((n) => n.engineId));
  const engines = report.engines.filter((e) => used.has(e.id));
  const notes = new Notes();
  const rows = [...new Map(infer.map((n) => [`${n.network}|${n.preset}`, n])).values()].map((n) => [
    netRow(n),
    ...engines.map((e) => {
      const c = infer.find((x) => x.network === n.network && x.preset === n.preset && x.engineId === e.id);
      if (!c) return '';
      if (c.status !== 'ok') return `${c.status === 'na' ? 'n/a' : 'error'} ${notes.ref(c.reason ?? '')}`;
      return `${fmt(c.msPerFrame ?? NaN)}${c.stats ? ` (N=${c.stats.n})` : ''}${c.note ? ` ${notes.ref(`${e.label}: ${c.note}`)}` : ''}`;
    }),
  ]);
  const body = table(['network, preset [ms/frame]', ...engines.map((e) => e.label)], rows);
  return notes.size ? `${body}\n\n${notes.render()}` : body;
}

/** The network pairs shown in the ratio table (all pairs are in the JSON's networkRatios). */
export const NETWORK_PAIRS: readonly (readonly [string, string])[] = [
  ['posegrad-wasm', 'ort-web-wasm-1t'],
  ['posegrad-wasm', 'ort-web-wasm-2t'],
  ['posegrad-wasm', 'ort-node-1t'],
  ['posegrad-wasm', 'ort-node-2t'],
  ['posegrad-cpu', 'ort-node-1t'],
  ['posegrad-webgpu', 'ort-web-wasm-1t'],
];

/** Whole-network ratios (peer ms/frame ÷ posegrad ms/frame) for the pairs that have data. */
export function networkRatioTable(report: BenchReport, pairs: readonly (readonly [string, string])[] = NETWORK_PAIRS): string {
  const ratios = report.networkRatios ?? [];
  const label = new Map(report.engines.map((e) => [e.id, e.label]));
  const present = pairs.filter(([o, p]) => ratios.some((r) => r.ours === o && r.peer === p));
  if (present.length === 0) return '_No posegrad backend and onnxruntime peer ran the same network._';
  const keys = [...new Map(ratios.map((r) => [`${r.network}|${r.preset}`, r])).values()];
  const rows = keys.map((k) => {
    const n = report.networks.find((x) => x.network === k.network && x.preset === k.preset && x.mode === 'infer');
    return [n ? netRow(n) : `${k.network} ${k.preset}`, ...present.map(([o, p]) => {
      const r = ratios.find((x) => x.network === k.network && x.preset === k.preset && x.ours === o && x.peer === p);
      return r ? `${fmt(r.ratio)}x` : '–';
    })];
  });
  return table(['network, preset', ...present.map(([o, p]) => `${(label.get(o) ?? o).replace('posegrad ', '')} vs ${label.get(p) ?? p}`)], rows);
}

/**
 * Paper-size memory: each network's inference peak RSS above the pre-model baseline on each posegrad
 * backend (with posegrad's peak live tensor bytes and pooled bytes), beside PyTorch's for the same
 * network (eval, no_grad, test/reference/torch_peak_memory.py), the ratio and the ≤ 1.5x target.
 */
export function paperMemoryTable(report: BenchReport): string {
  const rows = report.paperMemory ?? [];
  if (rows.length === 0) return '_No paper-size network in this run._';
  const label = new Map(report.engines.map((e) => [e.id, e.label]));
  const notes = new Notes();
  const b = (x: number | undefined): string => (x === undefined ? '–' : fmtBytes(x));
  const params = (a?: number, c?: number): string => {
    if (a === undefined && c === undefined) return '–';
    const m = (x?: number): string => (x === undefined ? '?' : `${fmt(x / 1e6)}M`);
    if (a === undefined || c === undefined || a === c) return m(a ?? c);
    const d = Math.abs(a - c);
    const what = d / Math.max(a, c) > 1e-3 ? 'not the same network' : 'by under 0.1%: the same network up to small unused or extra layers';
    return `${a} / ${c} ${notes.ref(`posegrad / PyTorch parameter counts differ by ${d} (${what})`)}`;
  };
  const body = table(
    ['network', 'backend', 'parameters', 'posegrad: inference peak RSS above baseline', 'peak live tensors (memory().peakBytes)', 'pooled after', 'build peak above baseline', 'PyTorch: inference peak RSS above baseline', 'ratio', `≤ ${PAPER_MEMORY_MAX_RATIO}x`],
    rows.map((r) => [
      `${r.label} ${r.preset}`,
      label.get(r.engineId) ?? r.engineId,
      params(r.parameters, r.peerParameters),
      r.posegrad ? b(r.posegrad.inferPeakAboveBaselineBytes) : `${r.status === 'ok' ? '–' : r.status === 'na' ? 'n/a' : 'error'}`,
      b(r.posegrad?.peakLiveBytes),
      b(r.posegrad?.pooledBytes),
      b(r.posegrad?.buildPeakAboveBaselineBytes),
      b(r.peerInferPeakAboveBaselineBytes),
      r.ratio !== undefined ? `${fmt(r.ratio)}x` : '–',
      r.verdict === 'not measured' ? `not measured ${notes.ref(r.reason ?? '')}` : r.verdict,
    ]),
  );
  const resetOff = rows.some((r) => r.posegrad?.peakRssReset === false);
  const foot = resetOff ? '\n\nSome processes could not reset their peak-RSS mark (/proc/self/clear_refs): their "inference peak" is the process maximum since the baseline, build included.' : '';
  return `${body}${notes.size ? `\n\n${notes.render()}` : ''}${foot}`;
}

export function networkTable(report: BenchReport): string {
  if (report.networks.length === 0) return '_No network in this run._';
  const label = new Map(report.engines.map((e) => [e.id, e.label]));
  const notes = new Notes();
  const rows = report.networks.map((n) => {
    const s = n.stats;
    const preset = n.ranPreset && n.ranPreset !== n.preset ? `${n.ranPreset} (for ${n.preset})` : n.preset;
    const what = n.status !== 'ok' ? `${n.status === 'na' ? 'n/a' : 'error'} ${notes.ref(n.reason ?? '')}` : n.mode === 'train' ? `${fmt(n.msPerStep ?? NaN)} ms/step` : `${fmt(n.msPerFrame ?? NaN)} ms/frame`;
    const above = n.memory ? `; inference peak ${fmtBytes(n.memory.inferPeakAboveBaselineBytes)} above it` : '';
    const mem = n.peakRssBytes !== undefined ? `${fmtBytes(n.peakRssBytes)} (RSS before build ${fmtBytes(n.rssBeforeBuildBytes ?? 0)}${above})` : '';
    return [n.label, n.mode, preset, label.get(n.engineId) ?? n.engineId, what, s ? `${fmt(s.median)} (${fmt(s.p25)}–${fmt(s.p75)}, N=${s.n})` : '', mem];
  });
  const body = table(['network', 'mode', 'preset', 'engine', 'result', 'median ms (p25–p75, N)', 'peak RSS'], rows);
  return notes.size ? `${body}\n\n${notes.render()}` : body;
}

export function engineTable(report: BenchReport): string {
  const rows = report.engines.map((e) => {
    const details = Object.entries(e.details ?? {}).map(([k, v]) => `${k}: ${String(v)}`).join('; ');
    const status = e.status === 'ok' ? 'ok' : `${e.status}: ${e.error ?? ''}`;
    return [e.label, e.version ?? '', e.threads === 'gpu' ? 'WebGPU' : String(e.threads), status, details, e.maxRssBytes ? fmtBytes(e.maxRssBytes) : ''];
  });
  return table(['engine', 'version', 'threads', 'status', 'details', 'process peak RSS'], rows);
}

export function machineSection(report: BenchReport): string {
  const m = report.machine;
  const p = report.peak;
  const peak = p.skipped
    ? `peak: not measured (${p.skipped})`
    : `peak (bench/native/peak.c, ${p.compiler ?? 'cc'}): AVX2 FMA ${fmt(p.fmaGflops1t ?? NaN)} GFLOP/s on 1 thread, ${fmt(p.fmaGflopsAll ?? NaN)} on ${p.threads} threads; copy ${fmt(p.copyGBs1t ?? NaN)} GB/s on 1 thread, ${fmt(p.copyGBsAll ?? NaN)} on ${p.threads}`;
  return [
    `- date: ${report.date}${report.quick ? ' (**--quick**: tiny shapes, timings are not meaningful)' : ''}; duration ${fmt(report.durationMs / 1000)} s`,
    `- machine: \`${m.hostname}\`, ${m.cpu}, ${m.cores} logical cores, ${fmtBytes(m.memoryBytes)}, ${m.os}, Node ${m.node}`,
    `- WebGPU adapter: ${m.adapter ?? `none (${m.adapterError ?? 'unknown'})`}${m.adapterIsSoftware ? ' (software: computes on the CPU cores)' : ''}`,
    ...(m.loadAverage ? [`- load average (1 min) at start and end: ${fmt(m.loadAverage.start)}, ${fmt(m.loadAverage.end)}${Math.max(m.loadAverage.start, m.loadAverage.end) > m.cores ? ` (**above the ${m.cores} cores: other processes competed with the bench, its numbers are low**)` : ''}`] : []),
    `- ${peak}`,
    `- posegrad backends not registered yet: ${report.missingBackends.length ? report.missingBackends.join(', ') : 'none'}`,
    `- code: ${report.git ? `commit ${report.git.commit.slice(0, 10)}${report.git.dirty ? ' with uncommitted changes' : ''}` : 'not a git checkout'}`,
    ...(report.amendments ?? []).map((a) => `- **amended**: ${a.cells ? `the cells ${a.cells.join(', ')}` : `the cells of ${a.engines.join(', ')}`} come from a later run (${a.date}, \`${a.argv.join(' ')}\`, ${a.git ? `commit ${a.git.commit.slice(0, 10)}` : 'no commit'}${a.loadAverage ? `, load ${fmt(a.loadAverage.start)}, ${fmt(a.loadAverage.end)}` : ''}): ${a.reason}`),
  ].join('\n');
}

/** The whole report. `chartFiles` are SVG paths relative to the Markdown file. */
export function renderMarkdown(report: BenchReport, chartFiles: readonly string[] = []): string {
  const parts: string[] = [`# posegrad bench, ${report.date.slice(0, 10)}`, '', machineSection(report), '', '## Engines', '', engineTable(report)];
  if (report.kernels.length) {
    parts.push('', '## Kernels', '', 'Throughput at the median time (GFLOP/s for compute-bound kernels, GB/s of compulsory traffic for memory-bound ones; formulas in `bench/formulas.ts`), and in parentheses the fraction of the peak of the threads the engine uses.');
    for (const c of chartFiles) parts.push('', `![chart](${c})`);
    for (const mode of MODES) {
      if (!report.kernels.some((k) => k.mode === mode)) continue;
      parts.push('', `### ${mode}`, '', throughputMatrix(report, mode));
    }
    for (const mode of MODES) {
      if (!report.kernels.some((k) => k.mode === mode)) continue;
      parts.push('', `### Ratios, ${mode} (posegrad ÷ peer throughput; > 1 means posegrad is faster)`, '', ratioTable(report, mode));
    }
    parts.push('', '### Targets', '', ...(report.quick ? ['_--quick: tiny shapes; these statuses say nothing about the targets._', ''] : []), targetTable(report));
    parts.push('', '### Timings', '', detailTable(report));
  }
  if (report.networks.length) {
    parts.push('', '## Networks');
    if (report.networks.some((n) => n.mode === 'infer')) {
      parts.push('', '### Inference, ms per frame', '', 'Median forward time ÷ the frames whose poses one forward produces (RPSTN: its T frames; the others: the key frame), batch 1. The onnxruntime columns run the same networks exported with `nn.exportOnnx` (bench/peers/ort-networks.ts); `real` is the paper\'s head on the frozen pretrained MoveNet Lightning.', '', networkInferMatrix(report));
      parts.push('', '### Inference ratios (peer ms/frame ÷ posegrad ms/frame; > 1 means posegrad is faster)', '', networkRatioTable(report));
    }
    if (report.paperMemory?.length) {
      parts.push('', '### Paper-size memory, posegrad against PyTorch', '', `Peak RSS during one inference above the process's RSS before the network was built (the same method on both sides: the peak mark reset after building; bench/networks/suite.ts, test/reference/torch_peak_memory.py, PyTorch in eval mode under no_grad, one thread). The target (issue 14) is ≤ ${PAPER_MEMORY_MAX_RATIO}x PyTorch's. On webgpu over lavapipe the GPU buffers are host memory and count in the RSS.`, '', ...(report.quick ? ['_--quick: tiny configurations on both sides (not the same sizes); these verdicts say nothing._', ''] : []), paperMemoryTable(report));
    }
    parts.push('', '### All network cells', '', networkTable(report));
  }
  if (report.movenet) parts.push('', renderMoveNetMarkdown(report.movenet, report.quick));
  return parts.join('\n') + '\n';
}
