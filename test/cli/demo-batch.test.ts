/**
 * The demo's --batch (issue 14, item 5): the persons of a frame (MoveNet) or of a window (the
 * papers' networks) run in batches of at most N, and the keypoints do not depend on N: --batch 1
 * (every person alone) and a batch larger than any frame's persons (the unbatched run) write the
 * same keypoints.json, on wasm (MoveNet SinglePose Lightning on the bundled clip's boxes) and on
 * cpu and wasm together (RPSTN tiny with its shipped weights on the SynthPose clip: the network moves
 * between backends once per segment). Also MoveNetPipeline.refine's batches, batchRanges, and
 * --batch's errors.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { init } from '../../engine/engine.js';
import { moveNetFromSafetensors } from '../../models/movenet/load.js';
import type { MoveNet } from '../../models/movenet/movenet.js';
import { batchRanges, MoveNetPipeline, type Box } from '../../models/movenet/pipeline.js';
import { decodeImage } from '../../models/pose/image.js';

const ROOT = join(import.meta.dirname, '..', '..');

function demo(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'cli/demo.ts', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 300_000, env: { ...process.env, XDG_RUNTIME_DIR: '/tmp' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const demoLines = (stderr: string): string[] => stderr.split('\n').filter((l) => l.startsWith('demo:'));
const readJson = (path: string): unknown => JSON.parse(readFileSync(path, 'utf8'));

describe('batchRanges', () => {
  it('splits n items into consecutive batches of at most batchSize', () => {
    expect(batchRanges(0, 4)).toEqual([]);
    expect(batchRanges(3, 1)).toEqual([[0, 1], [1, 2], [2, 3]]);
    expect(batchRanges(7, 3)).toEqual([[0, 3], [3, 6], [6, 7]]);
    expect(batchRanges(2, 8)).toEqual([[0, 2]]);
    expect(() => batchRanges(3, 0)).toThrow('batchRanges: expected batchSize as a positive integer, got 0');
    expect(() => batchRanges(-1, 2)).toThrow('batchRanges: expected n as a non-negative integer, got -1');
  });
});

describe('MoveNetPipeline.refine in batches', () => {
  let lightning: MoveNet;
  beforeAll(async () => {
    await init('wasm');
    lightning = await moveNetFromSafetensors(new Uint8Array(readFileSync(join(ROOT, 'assets/weights/movenet/lightning.safetensors'))), 'lightning').toAsync('wasm');
  });
  afterAll(() => lightning?.dispose());

  it('gives the same poses with 1, 2 and 8 crops per forward, and rejects a batch size of 0', async () => {
    const frame = decodeImage(new Uint8Array(readFileSync(join(ROOT, 'assets/demo/0001.jpg'))));
    const boxes = (readJson(join(ROOT, 'assets/demo/boxes.json')) as { frames: { persons: { box: Box }[] }[] }).frames[0]!.persons.map((p) => p.box);
    expect(boxes.length).toBe(3);
    const run = (batchSize: number) => new MoveNetPipeline(null, lightning, { batchSize }).refine(frame, boxes, 'wasm');
    const one = await run(1);
    expect(one.length).toBe(3);
    expect(await run(2)).toEqual(one);
    expect(await run(8)).toEqual(one);
    // the crops really differ: a batch that mixed persons up would not match
    expect(one[0]!.keypoints[0]!.x).not.toBeCloseTo(one[1]!.keypoints[0]!.x, 0);
    expect(() => new MoveNetPipeline(null, lightning, { batchSize: 0 })).toThrow('MoveNetPipeline: expected batchSize as a positive integer (crops per forward), got 0');
  });
});

describe('demo --batch', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'posegrad-demo-batch-'));

  it('MoveNet: --batch 1 and --batch 8 write the same keypoints (3 persons per frame)', () => {
    const args = ['--frames', join(ROOT, 'assets/demo'), '--boxes', join(ROOT, 'assets/demo/boxes.json'), '--model', 'lightning', '--backend', 'wasm'];
    const a = demo(...args, '--batch', '1', '--out', join(tmp, 'mv-1'));
    expect(a.code, a.stderr).toBe(0);
    const b = demo(...args, '--batch', '8', '--out', join(tmp, 'mv-8'));
    expect(b.code, b.stderr).toBe(0);
    const ka = readJson(join(tmp, 'mv-1', 'keypoints.json')) as { annotations: { keypoints: number[] }[] };
    expect(ka.annotations.length).toBe(15);
    expect(ka).toEqual(readJson(join(tmp, 'mv-8', 'keypoints.json')));
  });

  it("a paper network: --batch 1 and --batch 8 write the same keypoints, on cpu and on cpu and wasm together", () => {
    const args = ['--clip', 'synth', '--model', 'rpstn', '--preset', 'tiny'];
    const a = demo(...args, '--backend', 'cpu', '--batch', '1', '--out', join(tmp, 'rp-1'));
    expect(a.code, a.stderr).toBe(0);
    const b = demo(...args, '--backend', 'cpu,wasm', '--batch', '8', '--out', join(tmp, 'rp-8'));
    expect(b.code, b.stderr).toBe(0);
    const ka = readJson(join(tmp, 'rp-1', 'keypoints.json')) as { frames: { persons: unknown[] }[] };
    expect(ka.frames.reduce((s, f) => s + f.persons.length, 0)).toBe(24);
    expect(ka).toEqual(readJson(join(tmp, 'rp-8', 'keypoints.json')));
    // wasm ran every batch and agrees with cpu
    const row = b.stdout.split('\n').find((l) => l.startsWith('wasm'))!;
    expect(row, b.stdout).toBeDefined();
    expect(Number(row.split(/\s{2,}/)[3])).toBeLessThan(1e-4);
  });

  it('rejects a --batch that is not a positive integer', () => {
    for (const v of ['0', '2.5']) {
      const r = demo('--batch', v);
      expect(r.code).toBe(2);
      expect(demoLines(r.stderr)).toEqual([`demo: --batch: expected a positive integer, got '${v}'`]);
    }
  });
});
