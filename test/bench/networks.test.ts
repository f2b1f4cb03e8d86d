/**
 * The network suite's peers and memory comparison (bench/peers/ort-networks.ts, ort-export.ts,
 * torch-memory.ts; bench/report): the jobs a run plans (`real` beside `small`), whole-network
 * ratios against onnxruntime, the paper-size memory rows against PyTorch, the Markdown sections,
 * amending a report with a later engine, and — end to end — an exported network timed in
 * onnxruntime-node and onnxruntime-web (wasm) and PyTorch's memory script at its tiny size.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PEER_ENGINES, posegradEngine, NETWORK_PEER_IDS } from '../../bench/engines.js';
import { planNetworkJobs } from '../../bench/networks/suite.js';
import type { PeakResult } from '../../bench/native/peak.js';
import { exportBenchNetwork, runOrtNetworkJob } from '../../bench/peers/ort-networks.js';
import { decodeExportLine } from '../../bench/peers/ort-export.js';
import { parseTorchMemory, runTorchMemoryJob, torchMemoryCell } from '../../bench/peers/torch-memory.js';
import { computeNetworkRatios, paperMemory } from '../../bench/report/analyze.js';
import { amendReport } from '../../bench/report/amend.js';
import { networkInferMatrix, networkRatioTable, paperMemoryTable, renderMarkdown } from '../../bench/report/markdown.js';
import type { BenchReport, EngineReport, MachineInfo, NetworkResult } from '../../bench/report/types.js';
import { MARK } from '../../bench/protocol.js';
import { summarize } from '../../bench/stats.js';

const machine: MachineInfo = { hostname: 'box', cpu: 'Test CPU', cores: 2, memoryBytes: 8 * 2 ** 30, os: 'Linux', node: '20', adapter: 'llvmpipe', adapterIsSoftware: true };
const peak: PeakResult = { threads: 2, fmaGflops1t: 50, fmaGflopsAll: 100, copyGBs1t: 10, copyGBsAll: 16 };
const engine = (id: string): EngineReport => ({ ...(id.startsWith('posegrad-') ? posegradEngine(id.slice(9) as 'cpu' | 'wasm' | 'webgpu') : PEER_ENGINES.find((e) => e.id === id)!), status: 'ok' });
const MiB = 2 ** 20;

function infer(network: string, label: string, preset: string, engineId: string, msPerFrame: number | null, reason?: string): NetworkResult {
  const r: NetworkResult = { network, label, mode: 'infer', preset, ranPreset: preset, engineId, status: msPerFrame === null ? 'na' : 'ok' };
  if (msPerFrame !== null) {
    r.stats = summarize([msPerFrame]);
    r.msPerFrame = msPerFrame;
  } else r.reason = reason;
  return r;
}

function paper(network: string, label: string, engineId: string, aboveMiB: number | null, parameters: number, extra: Partial<NetworkResult> = {}): NetworkResult {
  const r: NetworkResult = { network, label, mode: 'paper', preset: 'paper', ranPreset: 'paper', engineId, status: aboveMiB === null ? 'error' : 'ok', parameters, ...extra };
  if (aboveMiB !== null) r.memory = { inferPeakAboveBaselineBytes: aboveMiB * MiB, buildPeakAboveBaselineBytes: 100 * MiB, peakLiveBytes: 50 * MiB, pooledBytes: 10 * MiB, peakRssReset: true };
  return r;
}

function report(networks: NetworkResult[], engineIds: string[], date = '2026-12-05T00:00:00.000Z'): BenchReport {
  const engines = engineIds.map(engine);
  const networkRatios = computeNetworkRatios(networks, engines);
  const rows = paperMemory(networks);
  return {
    schema: 1, date, quick: false, argv: ['--suite', 'networks'], durationMs: 1, machine, peak, engines, kernels: [], networks, ratios: [], targets: [], missingBackends: [], git: null,
    ...(networkRatios.length ? { networkRatios } : {}),
    ...(rows.length ? { paperMemory: rows } : {}),
  };
}

describe('network jobs', () => {
  const args = { suites: ['networks' as const], filter: null, modes: ['infer' as const, 'train' as const, 'paper' as const], quick: false };

  it('infer runs each network at small and at real (MoveNet backbone); --quick leaves real out', () => {
    const jobs = planNetworkJobs(args).filter((j) => j.name === 'fasrnet');
    expect(jobs).toEqual([
      { name: 'fasrnet', preset: 'small', mode: 'infer' },
      { name: 'fasrnet', preset: 'real', mode: 'infer' },
      { name: 'fasrnet', preset: 'tiny', mode: 'train' },
      { name: 'fasrnet', preset: 'paper', mode: 'paper' },
    ]);
    expect(planNetworkJobs({ ...args, quick: true }).some((j) => j.preset === 'real')).toBe(false);
    expect(planNetworkJobs({ ...args, suites: ['kernels'] })).toEqual([]);
  });

  it('the onnxruntime network peers are onnxruntime-node and onnxruntime-web (wasm) engines', () => {
    for (const id of NETWORK_PEER_IDS) expect(PEER_ENGINES.find((e) => e.id === id)?.adapter).toMatch(/^ort-(node|web)$/);
    expect(NETWORK_PEER_IDS).not.toContain('ort-web-webgpu');
  });
});

describe('network ratios and paper memory', () => {
  it('ratios are the peer ms/frame ÷ posegrad ms/frame, per network and preset, only where both ran', () => {
    const nets = [
      infer('rpstn', 'RPSTN', 'small', 'posegrad-wasm', 20),
      infer('rpstn', 'RPSTN', 'small', 'ort-web-wasm-1t', 30),
      infer('rpstn', 'RPSTN', 'small', 'ort-node-1t', 10),
      infer('rpstn', 'RPSTN', 'real', 'posegrad-wasm', 100),
      infer('rpstn', 'RPSTN', 'real', 'ort-web-wasm-1t', null, 'no DeformConv | kernel'),
    ];
    const r = computeNetworkRatios(nets, ['posegrad-wasm', 'ort-web-wasm-1t', 'ort-node-1t'].map(engine));
    expect(r.map((x) => [x.preset, x.peer, x.ratio])).toEqual([['small', 'ort-web-wasm-1t', 1.5], ['small', 'ort-node-1t', 0.5]]);
    const rep = report(nets, ['posegrad-wasm', 'ort-node-1t', 'ort-web-wasm-1t']);
    const matrix = networkInferMatrix(rep);
    expect(matrix).toContain('| network, preset [ms/frame] | posegrad wasm | ort-node 1t | ort-web-wasm 1t |');
    expect(matrix).toContain('| RPSTN small | 20.0 (N=1) | 10.0 (N=1) | 30.0 (N=1) |');
    expect(matrix).toContain('| RPSTN real | 100 (N=1) |  | n/a [1] |');
    expect(matrix).toContain('[1] no DeformConv | kernel');
    const ratios = networkRatioTable(rep);
    expect(ratios).toContain('| network, preset | wasm vs ort-web-wasm 1t | wasm vs ort-node 1t |');
    expect(ratios).toContain('| RPSTN small | 1.50x | 0.500x |');
  });

  it('memory rows compare each posegrad backend with PyTorch: ratio, ≤ 1.5x, or why not measured', () => {
    const nets = [
      paper('rpstn', 'RPSTN', 'posegrad-wasm', 600, 89_488_038),
      paper('rpstn', 'RPSTN', 'posegrad-cpu', 1000, 89_488_038),
      paper('rpstn', 'RPSTN', 'torch-1t', 400, 89_488_038),
      paper('glpose', 'GLPose', 'posegrad-wasm', null, 64e6, { reason: 'wasm: out of memory' }),
      paper('glpose', 'GLPose', 'torch-1t', 1200, 64e6),
      paper('vremd', 'VREMD', 'posegrad-wasm', 100, 449e6),
    ];
    const rows = paperMemory(nets);
    expect(rows.map((r) => [r.network, r.engineId, r.ratio, r.verdict])).toEqual([
      ['rpstn', 'posegrad-wasm', 1.5, 'met'],
      ['rpstn', 'posegrad-cpu', 2.5, 'not met'],
      ['glpose', 'posegrad-wasm', undefined, 'not measured'],
      ['vremd', 'posegrad-wasm', undefined, 'not measured'],
    ]);
    expect(rows[2]!.reason).toBe('posegrad-wasm: error (wasm: out of memory)');
    expect(rows[3]!.reason).toBe('torch-1t: not run');
    const md = paperMemoryTable(report(nets, ['posegrad-cpu', 'posegrad-wasm', 'torch-1t']));
    expect(md).toContain('| RPSTN paper | posegrad wasm | 89.5M | 600 MiB | 50.0 MiB | 10.0 MiB | 100 MiB | 400 MiB | 1.50x | met |');
    expect(md).toContain('| RPSTN paper | posegrad cpu | 89.5M | 1000 MiB | 50.0 MiB | 10.0 MiB | 100 MiB | 400 MiB | 2.50x | not met |');
    expect(md).toMatch(/\| GLPose paper \| posegrad wasm \| 64\.0M \| error \| – \| – \| – \| 1\.17 GiB \| – \| not measured \[1\] \|/);
    // Different parameter counts are flagged: then it is not the same network.
    const odd = paperMemoryTable(report([paper('rpstn', 'RPSTN', 'posegrad-wasm', 1, 10e6), paper('rpstn', 'RPSTN', 'torch-1t', 1, 11e6)], ['posegrad-wasm', 'torch-1t']));
    expect(odd).toContain('10000000 / 11000000 [1]');
    expect(odd).toContain('[1] posegrad / PyTorch parameter counts differ by 1000000 (not the same network)');
    const close = paperMemoryTable(report([paper('rpstn', 'RPSTN', 'posegrad-wasm', 1, 89_487_674), paper('rpstn', 'RPSTN', 'torch-1t', 1, 89_488_038)], ['posegrad-wasm', 'torch-1t']));
    expect(close).toContain('[1] posegrad / PyTorch parameter counts differ by 364 (by under 0.1%: the same network up to small unused or extra layers)');
  });

  it('the whole report has the inference, ratio and memory sections', () => {
    const md = renderMarkdown(report([infer('vremd', 'VREMD', 'real', 'posegrad-wasm', 50), infer('vremd', 'VREMD', 'real', 'ort-node-1t', 25), paper('vremd', 'VREMD', 'posegrad-wasm', 2000, 449e6), paper('vremd', 'VREMD', 'torch-1t', 1000, 449e6)], ['posegrad-wasm', 'ort-node-1t', 'torch-1t']));
    expect(md).toContain('### Inference, ms per frame');
    expect(md).toContain('| VREMD real | 0.500x |');
    expect(md).toContain('### Paper-size memory, posegrad against PyTorch');
    expect(md).toContain('| 2.00x | not met |');
    expect(md).toContain('### All network cells');
  });

  it('amending adds an engine the base run did not have, network cells included', () => {
    const base = report([paper('rpstn', 'RPSTN', 'posegrad-wasm', 600, 1), paper('rpstn', 'RPSTN', 'torch-1t', 400, 1)], ['posegrad-wasm', 'torch-1t']);
    const later = report([paper('rpstn', 'RPSTN', 'posegrad-webgpu', 800, 1)], ['posegrad-webgpu'], '2026-12-05T02:00:00.000Z');
    const out = amendReport(base, later, ['posegrad-webgpu'], 'webgpu ran after the others');
    expect(out.engines.map((e) => e.id)).toEqual(['posegrad-wasm', 'torch-1t', 'posegrad-webgpu']);
    expect(out.paperMemory!.map((r) => [r.engineId, r.ratio])).toEqual([['posegrad-wasm', 1.5], ['posegrad-webgpu', 2]]);
    expect(out.amendments![0]!.engines).toEqual(['posegrad-webgpu']);
    expect(base.paperMemory!.length).toBe(1);
    // A later run of one network replaces that cell of the engine and keeps the engine's others.
    const two = report([paper('rpstn', 'RPSTN', 'posegrad-cpu', 600, 1), paper('glpose', 'GLPose', 'posegrad-cpu', null, 1), paper('rpstn', 'RPSTN', 'torch-1t', 400, 1), paper('glpose', 'GLPose', 'torch-1t', 500, 1)], ['posegrad-cpu', 'torch-1t']);
    const glpose = report([paper('glpose', 'GLPose', 'posegrad-cpu', 1000, 1)], ['posegrad-cpu']);
    const fixed = amendReport(two, glpose, ['posegrad-cpu'], 'GLPose alone, with a longer timeout');
    expect(fixed.paperMemory!.map((r) => [r.network, r.ratio, r.verdict])).toEqual([['rpstn', 1.5, 'met'], ['glpose', 2, 'not met']]);
    expect(fixed.amendments![0]!.cells).toEqual(['posegrad-cpu glpose paper paper']);
    expect(renderMarkdown(fixed)).toContain('- **amended**: the cells posegrad-cpu glpose paper paper come from a later run');
    expect(out.amendments![0]!.cells).toBeUndefined();
  });
});

describe('PyTorch paper memory (test/reference/torch_peak_memory.py)', () => {
  const job = { name: 'rpstn', preset: 'paper' as const, mode: 'paper' as const };

  it('parses the script output and refuses a malformed one, naming the field', () => {
    const line = JSON.stringify({ network: 'rpstn', preset: 'paper', torch: '1.13', threads: 1, parameters: 5, input: 'clip', framesPerForward: 5, output: [[1]], finite: true, baselineRssBytes: 100, rssAfterBuildBytes: 150, buildPeakAboveBaselineBytes: 60, inferPeakAboveBaselineBytes: 80, peakReset: true, buildMs: 1, inferMs: 10 });
    const c = torchMemoryCell(job, parseTorchMemory(line));
    expect(c).toMatchObject({ engineId: 'torch-1t', workload: 'net:rpstn:paper:paper', status: 'ok', samples: [10], framesPerIter: 5 });
    expect(c.extra).toMatchObject({ inferPeakAboveBaselineBytes: 80, buildPeakAboveBaselineBytes: 60, peakRssBytes: 180, parameters: 5 });
    expect(() => parseTorchMemory('{"parameters": 1}')).toThrow(/^torch-memory: expected a number in field 'baselineRssBytes'/);
    expect(() => parseTorchMemory('Traceback')).toThrow(/^torch-memory: expected one JSON object/);
  });

  const torch = existsSync('/usr/bin/python3') && spawnSync('/usr/bin/python3', ['-c', 'import torch, torchvision'], { encoding: 'utf8' }).status === 0;
  it.skipIf(!torch)('runs the script in a fresh Python process (tiny configuration, as --quick does)', async () => {
    const c = await runTorchMemoryJob('/usr/bin/python3', job, true, 120_000);
    expect(c.reason).toBeUndefined();
    expect(c.status).toBe('ok');
    expect(c.extra!.inferPeakAboveBaselineBytes as number).toBeGreaterThan(0);
    expect(c.extra!.parameters as number).toBeGreaterThan(10_000);
    const bad = await runTorchMemoryJob('/usr/bin/python3', { ...job, name: 'nope' }, true, 10_000);
    expect(bad).toMatchObject({ status: 'na', reason: 'test/reference/torch_peak_memory.py has no nope' });
  }, 120_000);
});

describe('onnxruntime whole-network peers (bench/peers/ort-networks.ts)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'posegrad-bench-onnx-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('exports a bench network and times it in ort-node and ort-web (wasm); train is n/a', async () => {
    const m = await exportBenchNetwork('vremd', 'tiny', dir);
    expect(existsSync(m.path)).toBe(true);
    expect(JSON.parse(readFileSync(m.path.replace(/\.onnx$/, '.json'), 'utf8')).inputs).toEqual([{ name: 'frames', shape: [1, 3, 3, 64, 48] }]);
    const job = { name: 'vremd', preset: 'small' as const, mode: 'infer' as const };
    for (const id of ['ort-node-1t', 'ort-web-wasm-1t']) {
      const c = await runOrtNetworkJob(PEER_ENGINES.find((e) => e.id === id)!, job, true, dir);
      expect(c.reason, id).toBeUndefined();
      expect(c).toMatchObject({ engineId: id, workload: 'net:vremd:small:infer', status: 'ok', framesPerIter: 1 });
      expect(c.samples!.length).toBeGreaterThan(0);
      expect(c.note, 'the model was exported beforehand, not in the engine process').toBeUndefined();
    }
    const train = await runOrtNetworkJob(PEER_ENGINES.find((e) => e.id === 'ort-node-1t')!, { ...job, mode: 'train' }, true, dir);
    expect(train).toMatchObject({ status: 'na', reason: 'inference only (onnxruntime has no autograd)' });
  }, 60_000);

  it('exports a `real` network (the paper head on the shipped MoveNet Lightning) at 192x192', async () => {
    const m = await exportBenchNetwork('rpstn', 'real', dir);
    expect(m.inputs).toEqual([{ name: 'clip', shape: [1, 5, 3, 192, 192] }]);
    expect(m.outputs[0]!.shape).toEqual([1, 5, 17, 48, 48]);
    expect(m.framesPerForward).toBe(5);
  }, 60_000);

  it('the export process reports each model on a protocol line', () => {
    expect(decodeExportLine(`${MARK}{"type":"export","name":"rpstn","preset":"tiny","ok":false,"error":"x"}`)).toEqual({ type: 'export', name: 'rpstn', preset: 'tiny', ok: false, error: 'x' });
    expect(decodeExportLine(`${MARK}{"type":"cell"}`)).toBeNull();
    expect(decodeExportLine('plain output')).toBeNull();
  });
});
