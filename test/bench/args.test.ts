import { describe, expect, it } from 'vitest';
import { matchesFilter, parseBenchArgs } from '../../bench/args.js';
import { groupEngines, PEER_ENGINES, posegradEngine, selectPeers } from '../../bench/engines.js';
import { threadsOfEngineId } from '../../bench/peers/ort.js';
import { decodeMessage, encodeMessage, isUnsupportedError } from '../../bench/protocol.js';
import { planTiming } from '../../bench/timing.js';

describe('bench arguments', () => {
  it('defaults: every backend, every peer, both suites, full run, report written', () => {
    const a = parseBenchArgs([]);
    expect(a).toMatchObject({ filter: null, backends: null, peers: 'all', suites: ['kernels', 'networks'], quick: false, json: false, outDir: 'bench/results', write: true, preload: null, help: false });
  });

  it('parses every flag', () => {
    const a = parseBenchArgs(['--quick', '--json', '--filter', 'matmul|conv', '--backend', 'cpu,wasm', '--peers', 'tfjs,ort-web', '--suite', 'kernels', '--out', '/tmp/x', '--no-write', '--preload', 'bench/dev/x.ts']);
    expect(a.preload).toBe('bench/dev/x.ts');
    expect(a.quick).toBe(true);
    expect(a.json).toBe(true);
    expect(a.filter?.test('conv2d-3x3')).toBe(true);
    expect(a.filter?.test('softmax')).toBe(false);
    expect(a.backends).toEqual(['cpu', 'wasm']);
    expect(a.peers).toEqual(['tfjs', 'ort-web']);
    expect(a.suites).toEqual(['kernels']);
    expect(a.outDir).toBe('/tmp/x');
    expect(a.write).toBe(false);
  });

  it("'none' empties the backends and peers", () => {
    const a = parseBenchArgs(['--backend', 'none', '--peers', 'none']);
    expect(a.backends).toEqual([]);
    expect(a.peers).toBe('none');
  });

  it('throws naming the flag on bad input', () => {
    expect(() => parseBenchArgs(['--filter', '('])).toThrow(/^--filter: expected a regular expression, got '\('/);
    expect(() => parseBenchArgs(['--suite', 'models'])).toThrow(/^--suite: expected a list of \[kernels, networks\], got 'models'/);
    expect(() => parseBenchArgs(['--bogus'])).toThrow(/^bench: expected flags/);
    expect(() => parseBenchArgs(['stray'])).toThrow(/^bench: expected flags/);
  });

  it('filters on any of the names given, case-insensitively', () => {
    const f = parseBenchArgs(['--filter', 'RPSTN']).filter;
    expect(matchesFilter(f, 'net', 'rpstn')).toBe(true);
    expect(matchesFilter(f, 'matmul-1024')).toBe(false);
    expect(matchesFilter(null, 'anything')).toBe(true);
  });
});

describe('bench engines', () => {
  it('select peers by id or prefix, in table order', () => {
    expect(selectPeers('all').length).toBe(PEER_ENGINES.length);
    expect(selectPeers('none')).toEqual([]);
    expect(selectPeers(['tfjs']).map((e) => e.id)).toEqual(['tfjs-cpu', 'tfjs-wasm', 'tfjs-webgpu']);
    expect(selectPeers(['torch-2t', 'ort-web']).map((e) => e.id)).toEqual(['ort-web-wasm-1t', 'ort-web-wasm-2t', 'ort-web-webgpu', 'torch-2t']);
    expect(() => selectPeers(['mxnet'])).toThrow(/^--peers: expected one of \[.*\] \(or a prefix such as 'tfjs'\), got 'mxnet'/);
  });

  it('share a process only within a group', () => {
    const groups = groupEngines(PEER_ENGINES).map((g) => g.map((e) => e.id));
    expect(groups).toContainEqual(['ort-node-1t', 'ort-node-2t']);
    expect(groups).toContainEqual(['torch-1t', 'torch-2t']);
    // onnxruntime-web fixes its thread count per process
    expect(groups).toContainEqual(['ort-web-wasm-1t']);
    expect(groups).toContainEqual(['ort-web-wasm-2t']);
  });

  it('describe posegrad backends with their thread counts', () => {
    expect(posegradEngine('wasm')).toMatchObject({ id: 'posegrad-wasm', kind: 'posegrad', threads: 1 });
    expect(posegradEngine('webgpu').threads).toBe('gpu');
    expect(threadsOfEngineId('ort-node-2t')).toBe(2);
    expect(() => threadsOfEngineId('ort-node')).toThrow(/^ort: expected an engine id ending in -<n>t, got 'ort-node'/);
  });
});

describe('bench protocol and timing plan', () => {
  it('round-trips messages and ignores other stdout lines', () => {
    const m = { type: 'done', maxRssBytes: 123 } as const;
    expect(decodeMessage(encodeMessage(m))).toEqual(m);
    expect(decodeMessage('Hi, looks like you are running TensorFlow.js in Node.js')).toBeNull();
  });

  it('tells "cannot do this" errors from failures', () => {
    expect(isUnsupportedError("Kernel 'Conv2DBackpropFilter' not registered for backend 'wasm'")).toBe(true);
    expect(isUnsupportedError('Error in gradient of conv2D: dilation rates greater than 1 are not yet supported in gradients.')).toBe(true);
    expect(isUnsupportedError('cpu: attention is not implemented yet')).toBe(true);
    expect(isUnsupportedError('failed to call OrtRun(). ERROR_CODE: 1')).toBe(false);
    expect(isUnsupportedError('matmul: expected tensors on one device, got cpu and wasm')).toBe(false);
  });

  it('plans fewer runs for slower workloads and a fixed tiny plan under --quick', () => {
    expect(planTiming(20_000, false)).toEqual({ warmupIterations: 0, iterations: 1, timeMs: 0 });
    expect(planTiming(5000, false)).toEqual({ warmupIterations: 1, iterations: 3, timeMs: 0 });
    expect(planTiming(500, false).iterations).toBe(5);
    expect(planTiming(50, false)).toEqual({ warmupIterations: 3, iterations: 10, timeMs: 1000 });
    expect(planTiming(1, false).iterations).toBe(20);
    expect(planTiming(5000, true)).toEqual({ warmupIterations: 1, iterations: 3, timeMs: 0 });
    expect(planTiming(5000, true, true)).toEqual({ warmupIterations: 0, iterations: 1, timeMs: 0 });
  });
});

describe('bench --mode', () => {
  it('defaults to every mode and keeps the canonical order', () => {
    expect(parseBenchArgs([]).modes).toEqual(['fwd', 'fwd+bwd', 'infer', 'train', 'paper', 'movenet']);
    expect(parseBenchArgs(['--mode', 'train,fwd,infer']).modes).toEqual(['fwd', 'infer', 'train']);
  });

  it('throws naming the flag on an unknown or empty mode list', () => {
    expect(() => parseBenchArgs(['--mode', 'bwd'])).toThrow(/^--mode: expected a list of \[fwd, fwd\+bwd, infer, train, paper, movenet\], got 'bwd'/);
    expect(() => parseBenchArgs(['--mode', ','])).toThrow(/^--mode: expected a list of .*got an empty list/);
  });
});

describe('posegrad engine details from the started backend', () => {
  it('takes a wasm backend’s threads and relaxed SIMD into the report’s threads and label', async () => {
    const { applyStartDetails } = await import('../../bench/report/analyze.js');
    const { backendDetails } = await import('../../bench/posegrad-kernels.js');
    const details = backendDetails('wasm', { moduleFile: 'posegrad-relaxed-threads.wasm', threads: 2, relaxedSimd: true, other: 1 });
    expect(details).toEqual({ backend: 'wasm', module: 'posegrad-relaxed-threads.wasm', threads: 2, relaxedSimd: true });
    const e = { ...posegradEngine('wasm'), status: 'ok' as const };
    applyStartDetails(e, details);
    expect(e.threads).toBe(2);
    expect(e.label).toBe('posegrad wasm (relaxed SIMD, 2t)');
    const plain = { ...posegradEngine('wasm'), status: 'ok' as const };
    applyStartDetails(plain, backendDetails('wasm', { moduleFile: 'posegrad.wasm', threads: 1, relaxedSimd: false }));
    expect(plain.threads).toBe(1);
    expect(plain.label).toBe('posegrad wasm');
    const peer = { ...PEER_ENGINES[0]!, status: 'ok' as const };
    applyStartDetails(peer, { threads: 4 });
    expect(peer.threads).toBe(1);
  });
});
