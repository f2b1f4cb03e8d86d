/**
 * The demo CLI: input errors give one line and exit code 2; a run on the bundled clip (tiny preset,
 * cpu) writes keypoints.json and one overlay PNG per frame; --weights loads a checkpoint; --clip
 * synth loads the shipped SynthPose weights by default and scores against the clip's ground truth;
 * --preset real (a paper network on the frozen MoveNet) and --flip.
 * Plus the shared helpers (box-file validation, clip windows).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { findOnPath } from '../../cli/video.js';
import { CliError, formatTable, keyframeWindows, parseBoxes, recurrentWindows, unionBox } from '../../cli/common.js';
import { manualSeed } from '../../engine/engine.js';
import { writeSafetensors, type HostTensor } from '../../models/nn/safetensors.js';
import { decodeImage } from '../../models/pose/image.js';
import { RPSTN } from '../../models/rpstn/model.js';
import { rpstnPreset } from '../../models/rpstn/presets.js';
import { scorePredictions } from '../../models/train/evaluate.js';
import { loadSynthDemoClip } from '../../models/train/weights.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function demo(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'cli/demo.ts', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 300_000, env: { ...process.env, XDG_RUNTIME_DIR: '/tmp' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The stderr lines the demo itself wrote (Node may add its own warnings). */
const demoLines = (stderr: string): string[] => stderr.split('\n').filter((l) => l.startsWith('demo:'));

describe('demo CLI errors', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'posegrad-demo-'));

  it('a missing box file: one line, exit code 2', () => {
    const r = demo('--boxes', '/nonexistent/boxes.json');
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual(['demo: box file not found: /nonexistent/boxes.json']);
  });

  it('a missing frames directory and a missing frame', () => {
    const r = demo('--frames', '/nonexistent-dir', '--boxes', join(ROOT, 'assets/demo/boxes.json'));
    expect(r.code).toBe(2);
    expect(demoLines(r.stderr)).toEqual(['demo: frames directory not found: /nonexistent-dir']);
    const boxes = join(tmp, 'missing-frame.json');
    writeFileSync(boxes, JSON.stringify({ frames: [{ file: 'nope.jpg', persons: [] }] }));
    const r2 = demo('--frames', join(ROOT, 'assets/demo'), '--boxes', boxes);
    expect(r2.code).toBe(2);
    expect(demoLines(r2.stderr)).toEqual([`demo: frame not found: ${join(ROOT, 'assets/demo/nope.jpg')}`]);
  });

  it('malformed box JSON', () => {
    const bad = join(tmp, 'bad.json');
    writeFileSync(bad, '{"frames": [ {"file": "0001.jpg", ');
    const r = demo('--boxes', bad, '--frames', join(ROOT, 'assets/demo'));
    expect(r.code).toBe(2);
    const lines = demoLines(r.stderr);
    expect(lines.length).toBe(1);
    expect(lines[0]).toMatch(/^demo: malformed box file .*bad\.json: expected JSON, got a parse error/);
    const neg = join(tmp, 'neg.json');
    writeFileSync(neg, JSON.stringify({ frames: [{ file: '0001.jpg', persons: [{ id: 1, box: [1, 2, -3, 4] }] }] }));
    const r2 = demo('--boxes', neg, '--frames', join(ROOT, 'assets/demo'));
    expect(r2.code).toBe(2);
    expect(demoLines(r2.stderr)).toEqual([`demo: malformed box file ${neg}: frames[0].persons[0].box: expected [x, y, w, h] of finite numbers with w, h > 0, got [1,2,-3,4]`]);
  });

  it('unknown flags, models, presets and backends', () => {
    const r = demo('--bogus');
    expect(r.code).toBe(2);
    expect(demoLines(r.stderr)[0]).toMatch(/^demo: Unknown option '--bogus'/);
    expect(demoLines(demo('--model', 'hrnet').stderr)).toEqual(["demo: --model: expected one of [thunder, lightning, multipose, rpstn, fasrnet, vremd, glpose], got 'hrnet'"]);
    expect(demoLines(demo('--model', 'rpstn', '--preset', 'huge').stderr)).toEqual(["demo: --preset: expected one of [paper, small, tiny, real] for rpstn, got 'huge'"]);
    expect(demoLines(demo('--preset', 'tiny').stderr)).toEqual(["demo: --weights and --preset are for the papers' networks; MoveNet thunder uses its pretrained weights (assets/weights/movenet)"]);
    expect(demoLines(demo('--model', 'multipose', '--boxes', join(ROOT, 'assets/demo/boxes.json')).stderr)).toEqual(['demo: --model multipose finds people itself: it does not take --boxes (use --model thunder or lightning to estimate the boxes of a box file)']);
    expect(demoLines(demo('--detector-size', '500').stderr)).toEqual(["demo: --detector-size: expected a multiple of 32 (MultiPose's input), got 500"]);
    expect(demoLines(demo('--frames', ROOT, '--video', 'x.mp4').stderr)).toEqual(['demo: expected at most one of --clip, --frames and --video, got several']);
    expect(demoLines(demo('--backend', 'tpu').stderr)).toEqual(["demo: --backend: expected all or a list of [cpu, wasm, webgpu], got 'tpu'"]);
    const clip = demo('--clip', 'posetrack');
    expect(clip.code).toBe(2);
    expect(demoLines(clip.stderr)).toEqual(["demo: --clip: expected one of [bundled, synth], got 'posetrack'"]);
  });

  it.skipIf(!findOnPath('ffmpeg'))('--video with a file that is not a video: one line naming the file and ffmpeg\'s message', () => {
    const bogus = join(tmp, 'bogus.mp4');
    writeFileSync(bogus, Buffer.from(Array.from({ length: 8192 }, (_, i) => (i * 7919) % 251)));
    const r = demo('--video', bogus, '--backend', 'wasm', '--out', join(tmp, 'bogus-out'));
    expect(r.code).toBe(2);
    expect(demoLines(r.stderr)).toHaveLength(1);
    expect(demoLines(r.stderr)[0]).toMatch(/^demo: streamVideo: ffmpeg could not decode .*bogus\.mp4: .*Invalid data found when processing input$/);
  });

  it('a weights file that is not safetensors', () => {
    const w = join(tmp, 'weights.safetensors');
    writeFileSync(w, 'not a checkpoint');
    const r = demo('--model', 'rpstn', '--preset', 'tiny', '--weights', w, '--backend', 'cpu', '--out', join(tmp, 'o'));
    expect(r.code).toBe(2);
    expect(demoLines(r.stderr)[0]).toMatch(/^demo: .*weights\.safetensors: readSafetensors: expected a header length of at most/);
  });
});

/** What a tracked person of keypoints.json (PoseTrack 2018 layout, COCO keypoints) looks like. */
interface Ann { image_id: number; track_id: number; keypoints: number[]; bbox: number[]; score: number }

/**
 * Plausible skeletons of upright walkers: the keypoints sit in or near the person's box, the head
 * above the hips above the ankles, and each track keeps its box between frames.
 */
function checkPlausible(anns: Ann[]): void {
  for (const a of anns) {
    const [x, y, w, h] = a.bbox as [number, number, number, number];
    const k = (j: number): [number, number, number] => [a.keypoints[3 * j]!, a.keypoints[3 * j + 1]!, a.keypoints[3 * j + 2]!];
    let inside = 0;
    for (let j = 0; j < 17; j++) {
      const [kx, ky] = k(j);
      if (kx >= x - 0.15 * w && kx <= x + 1.15 * w && ky >= y - 0.1 * h && ky <= y + 1.1 * h) inside++;
    }
    expect(inside, `track ${a.track_id} image ${a.image_id}: keypoints inside the box`).toBeGreaterThanOrEqual(15);
    const noseY = k(0)[1];
    const hipY = (k(11)[1] + k(12)[1]) / 2;
    const ankleY = (k(15)[1] + k(16)[1]) / 2;
    expect(noseY, `track ${a.track_id}: nose above hips`).toBeLessThan(hipY);
    expect(hipY, `track ${a.track_id}: hips above ankles`).toBeLessThan(ankleY);
    expect(ankleY - noseY, `track ${a.track_id}: the skeleton spans most of the box height`).toBeGreaterThan(0.6 * h);
  }
}

describe('demo: MoveNet on real frames (the default)', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'posegrad-movenet-demo-'));

  it('finds, tracks and poses the three pedestrians of the bundled clip without a box file', () => {
    const out = join(tmp, 'bundled');
    const r = demo('--backend', 'wasm', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/MoveNet MultiPose Lightning finds the people/);
    expect(r.stdout).toMatch(/SinglePose Thunder/);
    expect(r.stdout).not.toMatch(/UNTRAINED|not meaningful/);
    expect(r.stdout).toMatch(/3 tracks: #1 \(5 frames\), #2 \(5 frames\), #3 \(5 frames\)/);
    const doc = JSON.parse(readFileSync(join(out, 'keypoints.json'), 'utf8')) as { images: { id: number; file_name: string }[]; annotations: Ann[]; categories: { keypoints: string[] }[] };
    expect(doc.categories[0]!.keypoints[0]).toBe('nose');
    expect(doc.images.map((i) => i.file_name)).toEqual(['0001.jpg', '0002.jpg', '0003.jpg', '0004.jpg', '0005.jpg']);
    expect(doc.annotations.length).toBe(15);
    checkPlausible(doc.annotations);
    // the detections match the hand-drawn boxes of assets/demo/boxes.json (IoU > 0.5 for every person)
    const hand = JSON.parse(readFileSync(join(ROOT, 'assets/demo/boxes.json'), 'utf8')) as { frames: { persons: { box: number[] }[] }[] };
    const iou = (a: number[], b: number[]): number => {
      const ix = Math.max(0, Math.min(a[0]! + a[2]!, b[0]! + b[2]!) - Math.max(a[0]!, b[0]!));
      const iy = Math.max(0, Math.min(a[1]! + a[3]!, b[1]! + b[3]!) - Math.max(a[1]!, b[1]!));
      return (ix * iy) / (a[2]! * a[3]! + b[2]! * b[3]! - ix * iy);
    };
    hand.frames.forEach((f, i) => {
      for (const p of f.persons) expect(Math.max(...doc.annotations.filter((a) => a.image_id === i).map((a) => iou(a.bbox, p.box))), `frame ${i}`).toBeGreaterThan(0.5);
    });
    for (const f of ['0001.png', '0005.png']) expect(decodeImage(new Uint8Array(readFileSync(join(out, 'frames', f)))).width).toBe(576);
    expect(existsSync(join(out, 'contact-sheet.png'))).toBe(true);
  });

  it('--frames DIR: any folder of frames, no box file', () => {
    const dir = join(tmp, 'frames');
    mkdirSync(dir);
    for (const f of ['0002.jpg', '0003.jpg']) copyFileSync(join(ROOT, 'assets/demo', f), join(dir, f));
    const out = join(tmp, 'frames-out');
    const r = demo('--frames', dir, '--backend', 'wasm', '--model', 'lightning', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/SinglePose Lightning/);
    const doc = JSON.parse(readFileSync(join(out, 'keypoints.json'), 'utf8')) as { annotations: Ann[] };
    expect(doc.annotations.length).toBe(6);
    checkPlausible(doc.annotations);
  });

  const vtest = '/usr/share/doc/opencv-doc/examples/data/vtest.avi';
  const haveVideo = findOnPath('ffmpeg') !== null && existsSync(vtest);
  if (!haveVideo && process.env.CI === 'true') throw new Error('demo --video: CI=true requires ffmpeg and opencv-doc (vtest.avi); .ci/run installs them');
  it.skipIf(!haveVideo)('--video FILE: decodes with ffmpeg, MultiPose keypoints, every backend agrees with wasm', () => {
    const out = join(tmp, 'video-out');
    const r = demo('--video', vtest, '--max-frames', '3', '--model', 'multipose', '--backend', 'wasm,cpu', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/3 frames of 768x576/);
    const row = r.stdout.split('\n').find((l) => l.startsWith('cpu'))!;
    const [, frames, , , mapDiff, kpDiff] = row.split(/\s{2,}/);
    expect(frames).toBe('1');
    expect(Number(mapDiff)).toBeLessThan(1e-3);
    expect(Number.parseFloat(kpDiff!)).toBeLessThan(0.5);
    const doc = JSON.parse(readFileSync(join(out, 'keypoints.json'), 'utf8')) as { images: unknown[]; annotations: Ann[] };
    expect(doc.images.length).toBe(3);
    expect(doc.annotations.length).toBeGreaterThanOrEqual(3);
    expect(existsSync(join(out, 'demo.gif'))).toBe(true);
  });
  if (!haveVideo) console.warn('[demo --video skipped] ffmpeg or /usr/share/doc/opencv-doc/examples/data/vtest.avi is missing (apt-get install ffmpeg opencv-doc)');

  it('a paper network on a folder without boxes gets its persons from MultiPose', () => {
    const dir = join(tmp, 'frames');
    const r = demo('--frames', dir, '--model', 'rpstn', '--preset', 'tiny', '--backend', 'wasm', '--out', join(tmp, 'rpstn-out'));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/persons: MoveNet MultiPose \(wasm\), tracked: 6 boxes in 2 frames/);
  });
});

describe('demo CLI run', () => {
  it('runs the tiny preset on the bundled clip and writes keypoints and overlays', () => {
    const out = mkdtempSync(join(tmpdir(), 'posegrad-demo-out-'));
    // --weights none: the demo's own RPSTN tiny (Penn Action joints), not the shipped SynthPose weights
    const r = demo('--model', 'rpstn', '--preset', 'tiny', '--backend', 'cpu', '--weights', 'none', '--out', out);
    expect(r.stderr).not.toMatch(/^demo:/m);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/weights: UNTRAINED \(random, seed 0\)/);
    expect(r.stdout).toMatch(/^cpu\s+\d+(\.\d+)?\s+0 \(reference\)/m);
    const doc = JSON.parse(readFileSync(join(out, 'keypoints.json'), 'utf8'));
    expect(doc.model).toBe('rpstn');
    expect(doc.jointSet).toBe('pennAction');
    expect(doc.frames.map((f: { file: string }) => f.file)).toEqual(['0001.jpg', '0002.jpg', '0003.jpg', '0004.jpg', '0005.jpg']);
    for (const f of doc.frames) {
      expect(f.persons.map((p: { id: string }) => p.id)).toEqual(['1', '2', '3']);
      for (const p of f.persons) {
        expect(p.keypoints.length).toBe(13);
        for (const k of p.keypoints) for (const v of [k.x, k.y, k.score]) expect(Number.isFinite(v)).toBe(true);
      }
    }
    for (const f of ['0001', '0005']) {
      const png = decodeImage(new Uint8Array(readFileSync(join(out, `${f}.png`))));
      expect([png.width, png.height]).toEqual([576, 432]);
    }
  });

  it('loads --weights and reports them instead of "UNTRAINED"', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'posegrad-demo-w-'));
    manualSeed(7);
    const m = new RPSTN(rpstnPreset('tiny'));
    const state = new Map<string, HostTensor>([...m.stateDict()].map(([k, t]) => [k, { dtype: t.dtype, shape: t.shape, data: t.dataSync() }]));
    m.dispose();
    const file = join(tmp, 'tiny.safetensors');
    writeFileSync(file, writeSafetensors(state));
    const r = demo('--model', 'rpstn', '--preset', 'tiny', '--backend', 'cpu', '--weights', file, '--out', join(tmp, 'out'));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`weights: ${file}`);
    expect(r.stdout).not.toContain('UNTRAINED');
    expect(existsSync(join(tmp, 'out', 'keypoints.json'))).toBe(true);
    // a checkpoint for another preset fails loudly
    const r2 = demo('--model', 'rpstn', '--preset', 'small', '--backend', 'cpu', '--weights', file, '--out', join(tmp, 'out2'));
    expect(r2.code).toBe(2);
    expect(demoLines(r2.stderr)[0]).toMatch(/tiny\.safetensors: loadStateDict: expected the model's keys, got 96 missing \[pose_net\.layer1\.1\.conv1\.weight/);
  });
});

describe('demo --preset real and --flip', () => {
  it("a paper network's real preset (frozen MoveNet Lightning, untrained residual head) draws MoveNet's poses; --flip runs the flip test", () => {
    const out = mkdtempSync(join(tmpdir(), 'posegrad-demo-real-'));
    const r = demo('--model', 'rpstn', '--preset', 'real', '--backend', 'wasm', '--out', join(out, 'plain'));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/model: RPSTN 'real': 0\.02M trainable \+ 2\.32M frozen parameters, input 192x192, T=5, K=17 \(frozen pretrained MoveNet Lightning/);
    const plain = JSON.parse(readFileSync(join(out, 'plain', 'keypoints.json'), 'utf8'));
    expect(plain.jointSet).toBe('coco17');
    const f = demo('--model', 'rpstn', '--preset', 'real', '--backend', 'wasm', '--flip', '--out', join(out, 'flip'));
    expect(f.code, f.stderr).toBe(0);
    expect(f.stdout).toMatch(/; flip test on$/m);
    const flipped = JSON.parse(readFileSync(join(out, 'flip', 'keypoints.json'), 'utf8'));
    // both are MoveNet-like: the two runs agree to a few pixels on ~60 px pedestrians, and differ
    let n = 0;
    let sum = 0;
    plain.frames.forEach((fr: { persons: { keypoints: { x: number; y: number }[] }[] }, i: number) => fr.persons.forEach((p, j) => p.keypoints.forEach((k, q) => {
      const o = flipped.frames[i].persons[j].keypoints[q];
      sum += Math.hypot(k.x - o.x, k.y - o.y);
      n++;
    })));
    expect(n).toBe(5 * 3 * 17);
    expect(sum / n).toBeGreaterThan(0);
    expect(sum / n).toBeLessThan(3);
    expect(demoLines(demo('--model', 'thunder', '--flip').stderr)).toEqual(["demo: --flip is for the papers' networks (--model rpstn|fasrnet|vremd|glpose), not MoveNet thunder"]);
  });
});

describe('demo --clip synth (the held-out SynthPose clip)', () => {
  it('loads the shipped weights by default, says so, and scores its keypoints against the ground truth', () => {
    const out = mkdtempSync(join(tmpdir(), 'posegrad-demo-synth-'));
    const r = demo('--clip', 'synth', '--model', 'rpstn', '--backend', 'cpu', '--out', out);
    expect(demoLines(r.stderr)).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^clip: SynthPose validation clip 35, frames 8-19, held out from training .*: 12 frames of 256x256/m);
    expect(r.stdout).toMatch(/^weights: assets\/weights\/rpstn-tiny\.safetensors \(shipped: trained on SynthPose, \d+ steps of batch \d+ from its stage-1 baseline; validation mAP \d+\.\d, hard \d+\.\d, clean \d+\.\d; docs\/results\.md\)$/m);
    expect(r.stdout).not.toContain('UNTRAINED');
    const doc = JSON.parse(readFileSync(join(out, 'keypoints.json'), 'utf8'));
    expect([doc.model, doc.preset, doc.weights, doc.jointSet]).toEqual(['rpstn', 'tiny', 'assets/weights/rpstn-tiny.safetensors', 'posetrack']);
    const boxes = parseBoxes(readFileSync(join(ROOT, 'assets/synth/boxes.json'), 'utf8'), 'boxes.json');
    expect(doc.frames.map((f: { file: string }) => f.file)).toEqual(boxes.map((f) => f.file));
    doc.frames.forEach((f: { persons: { id: string; keypoints: { x: number; y: number; score: number }[] }[] }, i: number) => {
      expect(f.persons.map((p) => p.id)).toEqual(boxes[i]!.persons.map((p) => p.id));
      for (const p of f.persons) {
        expect(p.keypoints.length).toBe(17);
        for (const k of p.keypoints) for (const v of [k.x, k.y, k.score]) expect(Number.isFinite(v)).toBe(true);
      }
    });
    // the printed mAP is the one in keypoints.json, and the one poseval gives for the written keypoints
    const { video } = loadSynthDemoClip();
    const preds = new Map(video.frames.map((fr, i) => [fr.id, doc.frames[i].persons.map((p: { keypoints: { x: number; y: number; score: number }[] }) => ({ keypoints: p.keypoints.flatMap((k) => [k.x, k.y, k.score]) }))]));
    const again = scorePredictions([video], preds);
    for (const k of ['all', 'hard', 'clean'] as const) {
      expect(doc.groundTruth.mAP[k]).toBeCloseTo(again[k].table.mean, 1);
      expect(doc.groundTruth.frames[k]).toBe(again[k].numFrames);
    }
    expect(doc.groundTruth.frames.hard).toBeGreaterThan(0); // the clip has occluded or blurred frames
    expect(doc.groundTruth.frames.clean).toBeGreaterThan(0);
    expect(r.stdout).toContain(`mAP all ${doc.groundTruth.mAP.all.toFixed(1)} (12 frames)`);
  });

  it('the other temporal networks load their shipped weights too', () => {
    for (const model of ['fasrnet', 'vremd', 'glpose']) {
      const out = mkdtempSync(join(tmpdir(), `posegrad-demo-${model}-`));
      const r = demo('--clip', 'synth', '--model', model, '--backend', 'cpu', '--out', out);
      expect(demoLines(r.stderr)).toEqual([]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`weights: assets/weights/${model}-tiny.safetensors (shipped`);
      expect(r.stdout).toMatch(/^ground truth \(assets\/synth\/annotations\.json, cpu keypoints\): mAP all \d+\.\d \(12 frames\)/m);
      expect(JSON.parse(readFileSync(join(out, 'keypoints.json'), 'utf8')).weights).toBe(`assets/weights/${model}-tiny.safetensors`);
    }
  });

  it('--weights none keeps the random network and says that weights are shipped; its joints are not scored', () => {
    const out = mkdtempSync(join(tmpdir(), 'posegrad-demo-synth-none-'));
    const r = demo('--clip', 'synth', '--model', 'rpstn', '--preset', 'tiny', '--weights', 'none', '--backend', 'cpu', '--out', out);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('weights: UNTRAINED (random, seed 0); the keypoints it writes are not meaningful (trained weights are shipped for --preset tiny).');
    expect(r.stdout).toContain('ground truth: not scored (the network predicts pennAction joints, the ground truth is PoseTrack)');
    expect(JSON.parse(readFileSync(join(out, 'keypoints.json'), 'utf8')).weights).toBe('untrained (seed 0)');
  });
});

describe('cli/common helpers', () => {
  it('parseBoxes accepts the bundled file and names the JSON path of an error', () => {
    const boxes = parseBoxes(readFileSync(join(ROOT, 'assets/demo/boxes.json'), 'utf8'), 'boxes.json');
    expect(boxes.length).toBe(5);
    expect(boxes[0]!.persons.map((p) => p.id)).toEqual(['1', '2', '3']);
    for (const f of boxes) for (const p of f.persons) {
      const [x, y, w, h] = p.box;
      expect(x >= 0 && y >= 0 && x + w <= 576 && y + h <= 432).toBe(true);
    }
    expect(() => parseBoxes('[]', 'f')).toThrow(CliError);
    expect(() => parseBoxes('{"frames": []}', 'f')).toThrow(/f: frames: expected at least one frame/);
    expect(() => parseBoxes('{"frames": [{"file": "a.jpg", "persons": [{"id": 1, "box": [0, 0, 1, 1]}, {"id": "1", "box": [0, 0, 1, 1]}]}]}', 'f')).toThrow(/frames\[0\]\.persons\[1\]\.id: expected ids unique within a frame/);
    expect(() => parseBoxes('{"frames": [{"persons": []}]}', 'f')).toThrow(/frames\[0\]\.file: expected a file name, got undefined/);
  });

  it('recurrent windows cover every frame once; key-frame windows clamp at the edges', () => {
    expect(recurrentWindows(5, 5)).toEqual([{ frames: [0, 1, 2, 3, 4], outputs: [0, 1, 2, 3, 4] }]);
    expect(recurrentWindows(7, 3).map((w) => w.frames)).toEqual([[0, 1, 2], [3, 4, 5], [6]]);
    expect(keyframeWindows(3, 2, 1)).toEqual([
      { frames: [0, 0, 0, 1], outputs: [0] },
      { frames: [0, 0, 1, 2], outputs: [1] },
      { frames: [0, 1, 2, 2], outputs: [2] },
    ]);
    expect(() => recurrentWindows(0, 5)).toThrow(/recurrentWindows: expected positive integers/);
  });

  it('unionBox and formatTable', () => {
    expect(unionBox([[0, 0, 2, 2], [1, -1, 3, 1]])).toEqual([0, -1, 4, 3]);
    expect(formatTable(['a', 'bb'], [['xyz', '1']])).toBe('a    bb\n---  --\nxyz  1');
  });
});
