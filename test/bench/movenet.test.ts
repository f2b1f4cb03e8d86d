/**
 * The MoveNet race's correctness check (bench/movenet/): an engine whose keypoints stray from TF.js's
 * reference by more than 0.5 px on any frame gets an error and no time, and a cell that cannot be
 * checked gets no time either. Pure functions on synthetic messages: no engine runs here.
 */
import { describe, expect, it } from 'vitest';
import { checkKeypoints, posesFromTfjsOutput, TOLERANCE_PX, type FramePoses } from '../../bench/movenet/check.js';
import { MOVENET_ENGINES, type MoveNetCellMessage } from '../../bench/movenet/engines.js';
import { checkCell, compare, renderMoveNetMarkdown, type MoveNetEngineReport, type MoveNetReport } from '../../bench/movenet/report.js';
import { allowedCpus, moveNetEngines, moveNetModels } from '../../bench/movenet/suite.js';

/** One SinglePose person: keypoint j at (10 + j, 20 + 2j), score 0.5. */
const person = (): number[] => Array.from({ length: 17 }, (_, j) => [10 + j, 20 + 2 * j, 0.5]).flat();
const frames = ['0001.jpg', '0002.jpg'];
const reference = { keypoints: [[person()], [person()]] as FramePoses[], frames };

function cell(engineId: string, keypoints: FramePoses[], samples = [30, 31, 32]): MoveNetCellMessage {
  return { type: 'movenet-cell', engineId, model: 'lightning', status: 'ok', keypoints, frames, samples, decodeSamples: [0.7, 0.8] };
}

describe('MoveNet race: correctness check', () => {
  it('passes an engine that matches the reference, with its time', () => {
    const near = [[person()], [person().map((v, i) => (i % 3 === 0 ? v + 0.3 : v))]];
    const c = checkCell(cell('posegrad-wasm-1t', near), reference);
    expect(c.status).toBe('ok');
    expect(c.stats?.median).toBe(31);
    expect(c.decode?.median).toBeCloseTo(0.75, 12);
    expect(c.worstPx).toBeCloseTo(0.3, 6);
  });

  it('fails a deliberately wrong engine result and reports no time for it', () => {
    const off = person();
    off[3 * 9 + 1] = off[3 * 9 + 1]! + 4; // keypoint 9 (left wrist): 4 px lower, one heatmap cell
    const wrong = [[person()], [off]]; // on frame 2
    const c = checkCell(cell('posegrad-webgpu', wrong), reference);
    expect(c.status).toBe('error');
    expect(c.stats).toBeUndefined();
    expect(c.decode).toBeUndefined();
    expect(c.reason).toMatch(/^wrong keypoints: 0002\.jpg person 0 keypoint 9: .* 4\.00 px > 0\.5 px from TF\.js/);
    // ... and a wrong cell makes no ratio and misses its target rather than meeting it.
    const peer = checkCell(cell('tfjs-webgpu', reference.keypoints, [300, 310, 320]), reference);
    const engines: MoveNetEngineReport[] = MOVENET_ENGINES.map((e) => ({ ...e, status: 'ok' }));
    const { ratios, targets } = compare([c, peer], engines, ['lightning']);
    expect(ratios).toEqual([]);
    expect(targets.find((t) => t.ours === 'posegrad-webgpu')).toMatchObject({ status: 'not measured' });
  });

  it('fails NaN keypoints, a missing person and missing frames', () => {
    const nan = [[person()], [person().map(() => NaN)]];
    expect(checkKeypoints(nan, reference.keypoints, frames).ok).toBe(false);
    expect(checkCell(cell('tfjs-wasm-1t', [[person()], []]), reference)).toMatchObject({ status: 'error', reason: expect.stringMatching(/0002\.jpg: expected 1 people, got 0/) });
    expect(checkCell({ ...cell('tfjs-wasm-1t', [[person()]]), frames: ['0001.jpg'] }, reference).status).toBe('error');
    expect(checkKeypoints(reference.keypoints, reference.keypoints, frames, TOLERANCE_PX)).toMatchObject({ ok: true, worstPx: 0 });
  });

  it('reports no time without a reference (not checked), and keeps errors as errors', () => {
    const c = checkCell(cell('posegrad-wasm-1t', reference.keypoints), { missing: 'graph models not fetched' });
    expect(c).toMatchObject({ status: 'na', reason: expect.stringMatching(/not checked.*graph models not fetched/) });
    expect(c.stats).toBeUndefined();
    const crashed: MoveNetCellMessage = { type: 'movenet-cell', engineId: 'posegrad-wasm-1t', model: 'lightning', status: 'error', reason: 'boom' };
    expect(checkCell(crashed, reference)).toMatchObject({ status: 'error', reason: 'boom' });
  });

  it('reads TF.js outputs: SinglePose [1,1,17,3] and MultiPose [1,6,56] (y, x, score normalized)', () => {
    const single = new Float32Array(51).map((_, i) => (i % 3 === 2 ? 0.9 : 0.5));
    expect(posesFromTfjsOutput(single, [1, 1, 17, 3], 192, 256)[0]!.slice(0, 3)).toEqual([128, 96, Math.fround(0.9)]);
    const multi = new Float32Array(6 * 56);
    multi[56 + 0] = 0.25; // person 1, nose y
    multi[56 + 1] = 0.75; // person 1, nose x
    const poses = posesFromTfjsOutput(multi, [1, 6, 56], 384, 512);
    expect(poses).toHaveLength(6);
    expect(poses[1]!.slice(0, 2)).toEqual([384, 96]);
    expect(() => posesFromTfjsOutput(multi, [1, 6, 50], 384, 512)).toThrow(/expected a MultiPose output/);
  });
});

describe('MoveNet race: selection, ratios and report', () => {
  it('selects models by --filter and --quick, engines by --backend and --peers', () => {
    expect(moveNetModels({ quick: false, filter: null }).map((m) => m.id)).toEqual(['lightning', 'thunder', 'multipose-256', 'multipose-512x384']);
    expect(moveNetModels({ quick: true, filter: null }).map((m) => m.id)).toEqual(['lightning', 'multipose-256']);
    expect(moveNetModels({ quick: false, filter: /thunder/i }).map((m) => m.id)).toEqual(['thunder']);
    expect(moveNetModels({ quick: false, filter: /rpstn/i })).toEqual([]);
    expect(moveNetEngines({ backends: ['wasm'], peers: ['tfjs-wasm'] }).map((e) => e.id)).toEqual(['posegrad-wasm-1t', 'posegrad-wasm-2t', 'tfjs-wasm-1t', 'tfjs-wasm-2t']);
    expect(moveNetEngines({ backends: ['cpu', 'webgpu'], peers: 'none' }).map((e) => e.id)).toEqual(['posegrad-webgpu']);
    expect(allowedCpus('Name:\tnode\nCpus_allowed_list:\t0-1,4\n')).toEqual([0, 1, 4]);
  });

  it('computes ratios (peer ÷ posegrad), targets, and renders them', () => {
    const ours = checkCell(cell('posegrad-wasm-1t', reference.keypoints, [20, 20, 20]), reference);
    const peer = checkCell(cell('tfjs-wasm-1t', reference.keypoints, [30, 30, 30]), reference);
    const engines: MoveNetEngineReport[] = MOVENET_ENGINES.map((e) => ({ ...e, status: 'ok' }));
    const { ratios, targets } = compare([ours, peer], engines, ['lightning']);
    expect(ratios).toEqual([{ model: 'lightning', ours: 'posegrad-wasm-1t', peer: 'tfjs-wasm-1t', ratio: 1.5, ratioWithDecode: 30 / 20.75 }]);
    expect(targets.find((t) => t.ours === 'posegrad-wasm-1t')).toMatchObject({ ratio: 1.5, min: 1.3, status: 'met' });
    const report: MoveNetReport = {
      frames,
      models: [{ id: 'lightning', label: 'SinglePose Lightning 192x192', size: [192, 192], input: 'crop' }],
      tolerancePx: TOLERANCE_PX,
      reference: { engine: 'TF.js cpu (reference)', status: 'ok' },
      graphModels: 'test',
      engines,
      cells: [ours, peer],
      ratios,
      targets,
    };
    const md = renderMoveNetMarkdown(report, false);
    expect(md).toContain('| SinglePose Lightning 192x192 | 20.0 (20.0–20.0, N=3) | 30.0 (30.0–30.0, N=3) |');
    expect(md).toContain('| posegrad wasm 1t ≥ 1.3x tfjs-wasm 1t | SinglePose Lightning 192x192 | 1.50x | met |');
  });
});
