import { describe, expect, it } from 'vitest';
import { posegradEngine, PEER_ENGINES } from '../../bench/engines.js';
import { workOf, type KernelSpec, type Mode } from '../../bench/formulas.js';
import { addThroughput, computeRatios, evaluateTargets, peakFor, TARGETS } from '../../bench/report/analyze.js';
import { cell, fmt, networkTable, renderMarkdown, throughputMatrix } from '../../bench/report/markdown.js';
import { escapeXml, logTicks, renderChart } from '../../bench/report/svg.js';
import type { BenchReport, EngineReport, KernelResult, MachineInfo } from '../../bench/report/types.js';
import { chartFileName, machineSlug, renderJson, reportBaseName } from '../../bench/report/write.js';
import { quantile, summarize } from '../../bench/stats.js';
import type { PeakResult } from '../../bench/native/peak.js';

const machine: MachineInfo = { hostname: 'box', cpu: 'Test CPU', cores: 2, memoryBytes: 8 * 2 ** 30, os: 'Linux', node: '20', adapter: 'llvmpipe', adapterIsSoftware: true, loadAverage: { start: 0.5, end: 3.2 } };
const peak: PeakResult = { threads: 2, fmaGflops1t: 50, fmaGflopsAll: 100, copyGBs1t: 10, copyGBsAll: 16 };

const engine = (id: string): EngineReport => {
  const def = id.startsWith('posegrad-') ? posegradEngine(id.slice(9) as 'cpu' | 'wasm' | 'webgpu') : PEER_ENGINES.find((e) => e.id === id)!;
  return { ...def, status: 'ok' };
};

const MM: KernelSpec = { op: 'matmul', M: 1000, N: 1000, K: 500 }; // 1 GFLOP
const SM: KernelSpec = { op: 'softmax', shape: [1000, 1000] }; // 8 MB forward

function result(workload: string, spec: KernelSpec, metric: 'flops' | 'bytes', engineId: string, medianMs: number | null, mode: Mode = 'fwd', extra: Partial<KernelResult> = {}): KernelResult {
  const w = workOf(spec, mode);
  const r: KernelResult = { workload, label: workload, spec, metric, mode, engineId, status: medianMs === null ? 'na' : 'ok', flops: w.flops, bytes: w.bytes, ...extra };
  if (medianMs !== null) r.stats = summarize([medianMs * 0.9, medianMs, medianMs * 1.2]);
  return r;
}

function syntheticReport(): BenchReport {
  const engines = ['posegrad-wasm', 'posegrad-webgpu', 'tfjs-wasm', 'ort-web-wasm-1t', 'tfjs-webgpu', 'ort-web-webgpu'].map(engine);
  const kernels = [
    result('matmul-1024', MM, 'flops', 'posegrad-wasm', 50), // 20 GFLOP/s
    result('matmul-1024', MM, 'flops', 'tfjs-wasm', 100), // 10 GFLOP/s: ratio 2
    result('matmul-1024', MM, 'flops', 'ort-web-wasm-1t', 40), // ratio 0.8
    result('matmul-1024', MM, 'flops', 'posegrad-webgpu', 10),
    result('matmul-1024', MM, 'flops', 'tfjs-webgpu', 30), // ratio 3
    result('matmul-1024', MM, 'flops', 'ort-web-webgpu', null, 'fwd', { reason: 'no MatMul kernel | here' }),
    result('softmax', SM, 'bytes', 'posegrad-wasm', 2), // 4 GB/s
    result('softmax', SM, 'bytes', 'tfjs-wasm', 4),
    result('matmul-1024', MM, 'flops', 'posegrad-wasm', 150, 'fwd+bwd'),
    result('matmul-1024', MM, 'flops', 'tfjs-wasm', null, 'fwd+bwd', { reason: 'inference only' }),
  ];
  addThroughput(kernels, engines, peak, machine);
  const ratios = computeRatios(kernels, engines);
  return {
    schema: 1,
    date: '2026-01-02T03:04:05.000Z',
    quick: false,
    argv: [],
    durationMs: 1234,
    machine,
    peak,
    engines,
    kernels,
    networks: [
      { network: 'rpstn', label: 'RPSTN', mode: 'infer', preset: 'small', ranPreset: 'small', engineId: 'posegrad-wasm', status: 'ok', stats: summarize([100, 110, 120]), msPerFrame: 22 },
      { network: 'rpstn', label: 'RPSTN', mode: 'paper', preset: 'paper', ranPreset: 'paper', engineId: 'posegrad-wasm', status: 'ok', stats: summarize([5000]), msPerFrame: 1000, peakRssBytes: 3 * 2 ** 30, rssBeforeBuildBytes: 100 * 2 ** 20 },
      { network: 'glpose', label: 'GLPose', mode: 'train', preset: 'tiny', engineId: 'posegrad-wasm', status: 'na', reason: 'models/glpose/ has no model yet' },
    ],
    ratios,
    targets: evaluateTargets(kernels, ratios, engines),
    missingBackends: ['cpu'],
    git: { commit: '0123456789abcdef', dirty: true },
  };
}

describe('bench stats', () => {
  it('summarizes samples with interpolated quantiles', () => {
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
    const s = summarize([5, 1, 4, 2, 3]);
    expect(s).toEqual({ n: 5, median: 3, p25: 2, p75: 4, min: 1, max: 5, mean: 3 });
    expect(summarize([7]).median).toBe(7);
  });

  it('refuses empty or invalid samples', () => {
    expect(() => summarize([])).toThrow(/^summarize: expected at least one sample, got none/);
    expect(() => summarize([1, NaN])).toThrow(/^summarize: expected finite non-negative times, got NaN/);
    expect(() => quantile([1], 2)).toThrow(/^quantile: expected q in \[0, 1\], got 2/);
  });
});

describe('bench analysis', () => {
  it('computes throughput at the median and the fraction of the right peak', () => {
    const r = syntheticReport();
    const mm = r.kernels.find((k) => k.workload === 'matmul-1024' && k.engineId === 'posegrad-wasm' && k.mode === 'fwd')!;
    expect(mm.gflops).toBeCloseTo(20, 10);
    expect(mm.fractionOfPeak).toBeCloseTo(20 / 50, 10); // one thread: the per-core FMA peak
    const gpu = r.kernels.find((k) => k.engineId === 'posegrad-webgpu')!;
    expect(gpu.fractionOfPeak).toBeCloseTo(100 / 100, 10); // software adapter: all cores
    const sm = r.kernels.find((k) => k.workload === 'softmax' && k.engineId === 'posegrad-wasm')!;
    expect(sm.gbs).toBeCloseTo(4, 10);
    expect(sm.fractionOfPeak).toBeCloseTo(4 / 10, 10); // copy bandwidth, one thread
  });

  it('picks the peak by thread count, and none for a hardware GPU or a skipped peak', () => {
    expect(peakFor({ threads: 2 }, 'flops', peak, machine)?.value).toBe(100);
    expect(peakFor({ threads: 1 }, 'bytes', peak, machine)?.value).toBe(10);
    expect(peakFor({ threads: 'gpu' }, 'flops', peak, { ...machine, adapterIsSoftware: false })).toBeNull();
    expect(peakFor({ threads: 1 }, 'flops', { skipped: 'no cc' }, machine)).toBeNull();
    expect(peakFor({ threads: 4 }, 'flops', { ...peak, threads: 8 }, { ...machine, cores: 8 })?.value).toBe(200);
  });

  it('ratios are posegrad throughput ÷ peer throughput, only where both measured', () => {
    const r = syntheticReport();
    const get = (ours: string, peer: string, w = 'matmul-1024', mode: Mode = 'fwd'): number | undefined => r.ratios.find((x) => x.ours === ours && x.peer === peer && x.workload === w && x.mode === mode)?.ratio;
    expect(get('posegrad-wasm', 'tfjs-wasm')).toBeCloseTo(2, 10);
    expect(get('posegrad-wasm', 'ort-web-wasm-1t')).toBeCloseTo(0.8, 10);
    expect(get('posegrad-webgpu', 'tfjs-webgpu')).toBeCloseTo(3, 10);
    expect(get('posegrad-webgpu', 'ort-web-webgpu')).toBeUndefined();
    expect(get('posegrad-wasm', 'tfjs-wasm', 'matmul-1024', 'fwd+bwd')).toBeUndefined();
    expect(get('posegrad-wasm', 'tfjs-wasm', 'softmax')).toBeCloseTo(2, 10);
  });

  it('marks targets met, not met, or not measured with the reason', () => {
    const t = syntheticReport().targets;
    const find = (id: string, w: string): (typeof t)[number] | undefined => t.find((x) => x.id === id && x.workload === w && x.mode === 'fwd');
    expect(find('wasm-tfjs', 'matmul-1024')).toMatchObject({ status: 'met', min: 1.5 });
    expect(find('wasm-ort', 'matmul-1024')).toMatchObject({ status: 'not met' });
    expect(find('webgpu-tfjs', 'matmul-1024')).toMatchObject({ status: 'met' });
    const missing = find('webgpu-ort', 'matmul-1024')!;
    expect(missing.status).toBe('not measured');
    expect(missing.reason).toContain('ort-web-webgpu: n/a (no MatMul kernel | here)');
    // softmax is a webgpu target only
    expect(t.filter((x) => x.workload === 'softmax').map((x) => x.id).sort()).toEqual(['webgpu-ort', 'webgpu-tfjs']);
    expect(TARGETS.map((x) => x.min)).toEqual([2, 2, 1.5, 1, 3]);
  });
});

describe('bench Markdown', () => {
  it('formats numbers with three significant digits', () => {
    expect(fmt(1234.5)).toBe('1235');
    expect(fmt(12.345)).toBe('12.3');
    expect(fmt(1.2345)).toBe('1.23');
    expect(fmt(0.012345)).toBe('0.012');
    expect(fmt(0.0012345)).toBe('0.0012');
    expect(cell('a | b\nc')).toBe('a \\| b c');
  });

  it('renders the matrix with units, % of peak and numbered n/a reasons', () => {
    const md = throughputMatrix(syntheticReport(), 'fwd');
    const lines = md.split('\n');
    expect(lines[0]).toBe('| workload | posegrad wasm | posegrad webgpu | tfjs-wasm 1t | ort-web-wasm 1t | tfjs-webgpu | ort-web-webgpu |');
    expect(lines[2]).toBe('| matmul-1024 [GFLOP/s] | 20.0 (40.0%) | 100 (100%) | 10.0 (20.0%) | 25.0 (50.0%) | 33.3 (33.3%) | n/a [1] |');
    expect(lines[3]).toBe('| softmax [GB/s] | 4.00 (40.0%) |  | 2.00 (20.0%) |  |  |  |');
    expect(md).toContain('[1] no MatMul kernel | here');
  });

  it('renders the whole report: machine, engines, ratios, targets, timings, networks', () => {
    const md = renderMarkdown(syntheticReport(), ['chart-fwd.svg']);
    expect(md).toContain('- machine: `box`, Test CPU, 2 logical cores');
    expect(md).toContain('posegrad backends not registered yet: cpu');
    expect(md).toContain('- code: commit 0123456789 with uncommitted changes');
    expect(md).toContain('- load average (1 min) at start and end: 0.500, 3.20 (**above the 2 cores');
    expect(md).toContain('![chart](chart-fwd.svg)');
    expect(md).toContain('| workload | wasm vs tfjs-wasm 1t | wasm vs ort-web-wasm 1t | webgpu vs tfjs-webgpu |');
    expect(md).toContain('| matmul-1024 | 2.00x | 0.800x | 3.00x |');
    expect(md).toMatch(/\| wasm ≥ 1\.5x tfjs-wasm \(one thread\) on matmul, conv2d \| matmul-1024 \| fwd \| 2\.00x \| ≥ 1\.5x \| met \|/);
    expect(md).toContain('| matmul-1024 | fwd | posegrad wasm | 50.0 | 47.5–55.0 | 45.0–60.0 | 3 | 20.0 GFLOP/s | 40.0% |');
  });

  it('renders networks per frame and per step, with peak RSS', () => {
    const md = networkTable(syntheticReport());
    expect(md).toContain('| RPSTN | infer | small | posegrad wasm | 22.0 ms/frame | 110 (105–115, N=3) |  |');
    expect(md).toContain('| RPSTN | paper | paper | posegrad wasm | 1000 ms/frame | 5000 (5000–5000, N=1) | 3.00 GiB (RSS before build 100 MiB) |');
    expect(md).toContain('| GLPose | train | tiny | posegrad wasm | n/a [1] |');
    expect(md).toContain('[1] models/glpose/ has no model yet');
  });
});

describe('bench SVG chart', () => {
  it('has one bar per measured cell, with a tooltip, and escapes text', () => {
    const svg = renderChart(syntheticReport(), 'fwd');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    const bars = svg.match(/<rect x="[\d.]+" y="[\d.]+" width="8" height="[\d.]+" fill="#[0-9a-f]{6}"><title>/g) ?? [];
    expect(bars.length).toBe(7); // 5 matmul + 2 softmax measurements in fwd
    expect(svg).toContain('<title>matmul-1024 · tfjs-wasm 1t: 10.0</title>');
    expect(svg).toContain('GB/s of compulsory traffic (log scale), fwd');
    // every opened element is closed
    const opens = (svg.match(/<(svg|text|title|rect)\b/g) ?? []).length;
    const closes = (svg.match(/<\/(svg|text|title|rect)>|\/>/g) ?? []).length;
    expect(closes).toBeGreaterThanOrEqual(opens);
    expect(escapeXml('a<b & "c">')).toBe('a&lt;b &amp; &quot;c&quot;&gt;');
  });

  it('puts taller bars for larger values (log scale)', () => {
    const svg = renderChart(syntheticReport(), 'fwd');
    const height = (label: string): number => Number(new RegExp(`height="([\\d.]+)" fill="#[0-9a-f]{6}"><title>${label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`).exec(svg)![1]);
    expect(height('matmul-1024 · posegrad webgpu: 100')).toBeGreaterThan(height('matmul-1024 · posegrad wasm: 20.0'));
    expect(height('matmul-1024 · posegrad wasm: 20.0')).toBeGreaterThan(height('matmul-1024 · tfjs-wasm 1t: 10.0'));
  });

  it('decade ticks cover the data', () => {
    expect(logTicks(3, 250)).toEqual([1, 10, 100, 1000]);
    expect(logTicks(10, 10)).toEqual([10, 100]);
    expect(() => logTicks(0, 1)).toThrow(/^logTicks: expected 0 < lo ≤ hi, got 0, 1/);
  });

  it('says so when a panel has no measurements', () => {
    const r = syntheticReport();
    for (const k of r.kernels) if (k.mode === 'fwd+bwd') k.status = 'na';
    expect(renderChart(r, 'fwd+bwd')).toContain('no measurements');
  });
});

describe('bench report files', () => {
  it('names files by date and machine', () => {
    const r = syntheticReport();
    expect(reportBaseName(r)).toBe('2026-01-02-box');
    expect(reportBaseName({ ...r, quick: true })).toBe('2026-01-02-box-quick');
    expect(machineSlug('localhost', 'Intel(R) Xeon(R) Processor')).toBe('intel-xeon-processor');
    expect(chartFileName('2026-01-02-box', 'fwd+bwd')).toBe('2026-01-02-box-fwd-bwd.svg');
  });

  it('writes JSON that parses back to the same report', () => {
    const r = syntheticReport();
    expect(JSON.parse(renderJson(r))).toEqual(JSON.parse(JSON.stringify(r)));
  });
});
