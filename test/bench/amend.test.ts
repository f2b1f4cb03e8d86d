import { describe, expect, it } from 'vitest';
import { PEER_ENGINES, posegradEngine } from '../../bench/engines.js';
import { workOf, type KernelSpec } from '../../bench/formulas.js';
import type { PeakResult } from '../../bench/native/peak.js';
import { addThroughput, computeRatios, evaluateTargets } from '../../bench/report/analyze.js';
import { amendReport } from '../../bench/report/amend.js';
import { renderMarkdown } from '../../bench/report/markdown.js';
import type { BenchReport, EngineReport, KernelResult, MachineInfo } from '../../bench/report/types.js';
import { summarize } from '../../bench/stats.js';

const machine: MachineInfo = { hostname: 'box', cpu: 'Test CPU', cores: 1, memoryBytes: 2 ** 30, os: 'Linux', node: '20', adapter: 'llvmpipe', adapterIsSoftware: true, loadAverage: { start: 1, end: 1 } };
const peak: PeakResult = { threads: 1, fmaGflops1t: 100, fmaGflopsAll: 100, copyGBs1t: 10, copyGBsAll: 10 };
const MM: KernelSpec = { op: 'matmul', M: 1000, N: 1000, K: 500 }; // 1 GFLOP

const engine = (id: string): EngineReport => ({ ...(id.startsWith('posegrad-') ? posegradEngine(id.slice(9) as 'webgpu') : PEER_ENGINES.find((e) => e.id === id)!), status: 'ok' });
const cell = (engineId: string, ms: number): KernelResult => {
  const w = workOf(MM, 'fwd');
  return { workload: 'matmul-1024', label: 'matmul-1024', spec: MM, metric: 'flops', mode: 'fwd', engineId, status: 'ok', flops: w.flops, bytes: w.bytes, stats: summarize([ms]) };
};
function report(date: string, cells: KernelResult[], engineIds: string[]): BenchReport {
  const engines = engineIds.map(engine);
  addThroughput(cells, engines, peak, machine);
  const ratios = computeRatios(cells, engines);
  return { schema: 1, date, quick: false, argv: ['--x'], durationMs: 1, machine, peak, engines, kernels: cells, networks: [], ratios, targets: evaluateTargets(cells, ratios, engines), missingBackends: [], git: { commit: 'abc', dirty: false } };
}

describe('amendReport', () => {
  it("replaces one engine's cells with a later run's and recomputes ratios and targets", () => {
    // The base run timed tfjs-webgpu wrongly (0.1 ms: nothing ran), the later run correctly.
    const base = report('2026-01-01T00:00:00Z', [cell('posegrad-webgpu', 100), cell('tfjs-webgpu', 0.1), cell('ort-web-webgpu', 400)], ['posegrad-webgpu', 'tfjs-webgpu', 'ort-web-webgpu']);
    const later = report('2026-01-01T01:00:00Z', [cell('tfjs-webgpu', 300)], ['tfjs-webgpu']);
    expect(base.targets.find((t) => t.peer === 'tfjs-webgpu')!.status).toBe('not met');
    const out = amendReport(base, later, ['tfjs-webgpu'], 'the base run did not wait for tfjs-webgpu');
    expect(out.kernels.map((k) => [k.engineId, k.stats!.median])).toEqual([['posegrad-webgpu', 100], ['tfjs-webgpu', 300], ['ort-web-webgpu', 400]]);
    expect(out.ratios.find((r) => r.peer === 'tfjs-webgpu')!.ratio).toBeCloseTo(3);
    const t = out.targets.find((x) => x.peer === 'tfjs-webgpu')!;
    expect(t.status).toBe('met');
    expect(out.kernels[1]!.gflops).toBeCloseTo(1 / 0.3);
    expect(out.amendments).toEqual([{ engines: ['tfjs-webgpu'], date: later.date, argv: ['--x'], git: { commit: 'abc', dirty: false }, loadAverage: { start: 1, end: 1 }, reason: 'the base run did not wait for tfjs-webgpu' }]);
    expect(renderMarkdown(out)).toContain('**amended**: the cells of tfjs-webgpu come from a later run (2026-01-01T01:00:00Z');
    // the base report is left as it was
    expect(base.kernels[1]!.stats!.median).toBe(0.1);
  });

  it('refuses an engine that the later run did not run', () => {
    const base = report('d', [cell('posegrad-webgpu', 1)], ['posegrad-webgpu', 'tfjs-webgpu']);
    expect(() => amendReport(base, base, ['ort-web-webgpu'], 'x')).toThrow(/^amend: expected engine 'ort-web-webgpu' to have run in the later report/);
    const later = report('d', [], ['posegrad-webgpu']);
    expect(() => amendReport(base, later, ['tfjs-webgpu'], 'x')).toThrow(/^amend: expected engine 'tfjs-webgpu' to have run in the later report/);
  });
});
