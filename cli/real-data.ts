/**
 * `npm run real-data -- --out DIR`: builds the real training data of the temporal heads
 * (models/train/real-data.ts; docs/training.md, "Real video data"; docs/data.md, "Real training
 * data"): person clips from vtest.avi and the shared OpenCV sample frames, labelled by MoveNet
 * Thunder with the flip test on the clean frames, corrupted with SynthPose-style occluders and
 * motion blur for the student. A second run with the same settings reuses the labels and writes
 * nothing.
 *
 * Exit codes: 0 success; 2 a usage error; 1 a failure (one line on stderr; POSEGRAD_DEBUG=1 adds the stack).
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import type { DeviceName } from '../backends/backend.js';
import { engine, init } from '../engine/engine.js';
import { buildRealData, defaultRealSources, type RealSourceSpec, type SplitStats } from '../models/train/real-data.js';
import { CliError, runCli } from './common.js';
import { decodeVideo } from './video.js';

const HELP = `usage: npm run real-data -- --out DIR [options]

Builds the real training data: MoveNet MultiPose + an IoU tracker find person tracks in vtest.avi
(Debian opencv-doc) and the basketball frames of ../shared/data/opencv-samples, MoveNet Thunder
with the flip test labels them on the clean frames, and the crops the student sees get
SynthPose-style occluders and motion blur. Labels are cached (labels/*.json + manifest.json).

  --out DIR          output folder (required)
  --stride N         the teacher labels every N-th vtest frame (default 2; frames in between
                     stay in the clips, unlabelled)
  --sources LIST     vtest,basketball (default: both, when present)
  --frames DIR       use a folder of frames instead (one source 'frames', all training unless
                     --val-from N puts frames N.. in the held-out half)
  --val-from N       with --frames: first held-out frame
  --backend NAME     wasm | cpu | webgpu (default wasm)
  --threads N        wasm threads (default 1)
  --seed N           seed of the corruption (default 0)
  --min-height PX    smallest person kept, in frame pixels (default 48)
  --no-flip          the teacher without the flip test
  --force            relabel even when the label cache matches
  -h, --help`;

function intFlag(name: string, v: string | undefined, min: number): number | null {
  if (v === undefined) return null;
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min) throw new CliError(`--${name}: expected an integer ≥ ${min}, got '${v}'`);
  return n;
}

function fmtStats(name: string, s: SplitStats): string {
  return `${name}: ${s.clips} clips of ${s.tracks} tracks, ${s.frames} frames, ${s.labelled} labelled person-frames (${s.hard} hard: occluded ${s.occluded}, blurred ${s.blurred}; ${s.clean} clean)`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      out: { type: 'string' },
      stride: { type: 'string' },
      sources: { type: 'string' },
      frames: { type: 'string' },
      'val-from': { type: 'string' },
      backend: { type: 'string' },
      threads: { type: 'string' },
      seed: { type: 'string' },
      'min-height': { type: 'string' },
      'no-flip': { type: 'boolean' },
      force: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return;
  }
  if (!values.out) throw new CliError('--out: expected an output folder (see --help)');
  const device = (values.backend ?? 'wasm') as DeviceName;
  if (!['wasm', 'cpu', 'webgpu'].includes(device)) throw new CliError(`--backend: expected one of [wasm, cpu, webgpu], got '${device}'`);
  const threads = intFlag('threads', values.threads, 1) ?? 1;
  const stride = intFlag('stride', values.stride, 1) ?? 2;
  let sources: RealSourceSpec[];
  if (values.frames) {
    const valFrom = intFlag('val-from', values['val-from'], 1);
    sources = [{
      name: 'frames',
      kind: 'frames',
      path: resolve(values.frames),
      licence: 'given with --frames (record its licence yourself)',
      blocks: valFrom === null ? [{ split: 'train', start: 0, end: 1e9 }] : [{ split: 'train', start: 0, end: valFrom }, { split: 'val', start: valFrom, end: 1e9 }],
      stride,
    }];
  } else {
    sources = defaultRealSources(stride);
    if (values.sources) {
      const want = values.sources.split(',');
      const unknown = want.filter((w) => !sources.some((s) => s.name === w));
      if (unknown.length > 0) throw new CliError(`--sources: expected names from [${sources.map((s) => s.name).join(', ')}] (present on this machine), got '${unknown.join(',')}'`);
      sources = sources.filter((s) => want.includes(s.name));
    }
    if (sources.length === 0) throw new CliError('no source found: vtest.avi needs Debian\'s opencv-doc (apt-get install opencv-doc), or pass --frames DIR');
  }
  if (device === 'wasm') {
    const { createWasmBackend } = await import('../backends/wasm/index.js');
    engine.registerBackendFactory('wasm', () => createWasmBackend({ threads }));
  } else if (device === 'webgpu') {
    const { createWebGPUBackend } = await import('../backends/webgpu/index.js');
    engine.registerBackendFactory('webgpu', () => createWebGPUBackend());
  }
  await init(device);

  const say = (s: string): void => void process.stdout.write(`${s}\n`);
  const tty = process.stderr.isTTY === true;
  const bar = tty ? new cliProgress.SingleBar({ format: '{stage} {source} |{bar}| {value}/{total} | eta {eta_formatted}', hideCursor: true, stream: process.stderr }, cliProgress.Presets.shades_classic) : null;
  let current = '';
  let lastLog = 0;
  const t0 = performance.now();
  try {
    const r = await buildRealData({
      outDir: values.out,
      sources,
      device,
      decodeVideo: (file) => decodeVideo(file, { timeoutMs: 600_000 }),
      label: { minBoxHeight: intFlag('min-height', values['min-height'], 0) ?? 48, teacher: { flip: !values['no-flip'] } },
      output: { seed: intFlag('seed', values.seed, 0) ?? 0 },
      force: values.force === true,
      log: (s) => {
        bar?.stop();
        current = '';
        say(s);
      },
      onProgress: (e) => {
        const id = `${e.stage} ${e.source}`;
        if (bar) {
          if (id !== current) {
            bar.start(e.total, e.done, { stage: e.stage, source: e.source });
            current = id;
          } else bar.update(e.done);
        } else if (e.done === e.total || performance.now() - lastLog > 30_000) {
          lastLog = performance.now();
          say(`${id}: ${e.done}/${e.total} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
        }
      },
    });
    bar?.stop();
    const m = r.manifest;
    say(`labels: ${r.labelled.length ? `labelled ${r.labelled.join(', ')}` : 'nothing labelled'}${r.reused.length ? `; reused ${r.reused.join(', ')}` : ''} (labelling time recorded: ${m.stats.labelSeconds.toFixed(0)} s)`);
    say(fmtStats('train', m.stats.train));
    say(fmtStats('held out', m.stats.val));
    say(`${r.written ? 'wrote' : 'unchanged:'} ${r.outDir} (split.json, manifest.json, annotations/real/, images/real/, clean/real/) in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  } finally {
    bar?.stop();
  }
}

const isMain = process.argv[1] !== undefined && resolve(process.argv[1]) === resolve(import.meta.filename);
if (isMain) await runCli('real-data', main);
