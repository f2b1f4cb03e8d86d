/**
 * Video pipeline output pieces: frame folders (cli/video.ts listFrameFiles), decoding a real video
 * (streamVideo, the streaming decoder, and decodeVideo) and writing GIF/MP4 with ffmpeg (probeVideo,
 * encodeAnimation), the missing-ffmpeg
 * message, the contact sheet (models/pose/contact-sheet.ts) and the per-track colours of draw.ts.
 *
 * Tests that need ffmpeg or the OpenCV sample video (Debian package opencv-doc) skip with a message
 * when they are absent, except under CI=true, where they fail (CI installs both).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeVideo, encodeAnimation, FFMPEG_NOT_FOUND, findOnPath, listFrameFiles, naturalCompare, probeVideo, streamVideo, type VideoFrame } from '../../cli/video.js';
import { CliError } from '../../cli/common.js';
import { contactSheet, drawText, textWidth } from '../../models/pose/contact-sheet.js';
import { resizeArea } from '../../models/pose/resize.js';
import { drawPose, trackColour } from '../../models/pose/draw.js';
import { createImage, type RgbaImage } from '../../models/pose/image.js';
import { COCO17 } from '../../models/pose/joints.js';

const CI = process.env.CI === 'true';
const VTEST = '/usr/share/doc/opencv-doc/examples/data/vtest.avi';
const FFMPEG = findOnPath('ffmpeg');
const TMP = mkdtempSync(join(tmpdir(), 'posegrad-video-'));
afterAll(() => rmSync(TMP, { recursive: true, force: true }));

/** Skips the test (with a message) when ffmpeg or the sample video is missing; fails instead under CI=true. */
function need(ctx: { skip: () => void }, what: ('ffmpeg' | 'vtest')[]): void {
  const missing = [
    ...(what.includes('ffmpeg') && !FFMPEG ? ['ffmpeg on PATH (apt-get install ffmpeg)'] : []),
    ...(what.includes('vtest') && !existsSync(VTEST) ? [`${VTEST} (apt-get install opencv-doc)`] : []),
  ];
  if (missing.length === 0) return;
  const msg = `needs ${missing.join(' and ')}`;
  if (CI) throw new Error(`CI=true: ${msg}`);
  console.warn(`[video test skipped] ${msg}`);
  ctx.skip();
}

/** Runs `fn` with PATH set to `path`, restoring it afterwards. */
async function withPath<T>(path: string, fn: () => Promise<T>): Promise<T> {
  const saved = process.env.PATH;
  process.env.PATH = path;
  try {
    return await fn();
  } finally {
    process.env.PATH = saved;
  }
}

function solid(w: number, h: number, rgb: [number, number, number]): RgbaImage {
  return createImage(w, h, [...rgb, 255]);
}

const px = (img: RgbaImage, x: number, y: number): number[] => Array.from(img.data.subarray((y * img.width + x) * 4, (y * img.width + x) * 4 + 4));

async function collect(frames: AsyncIterable<VideoFrame>): Promise<VideoFrame[]> {
  const out: VideoFrame[] = [];
  for await (const f of frames) out.push(f);
  return out;
}

/** The live child processes of this process named `comm` (Linux /proc), as pid → state letter (Z: a zombie). */
function children(comm: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${d}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // pid (comm) state ppid ...: comm may hold spaces, so split after its closing parenthesis
    const close = stat.lastIndexOf(')');
    const name = stat.slice(stat.indexOf('(') + 1, close);
    const [state, ppid] = stat.slice(close + 2).split(' ');
    if (name === comm && Number(ppid) === process.pid) out.set(Number(d), state!);
  }
  return out;
}

describe('listFrameFiles', () => {
  it('lists .jpg/.jpeg/.png files in natural order', () => {
    const dir = join(TMP, 'frames');
    mkdirSync(join(dir, 'sub.jpg'), { recursive: true }); // a folder is not a frame
    for (const f of ['0010.jpg', '0002.jpg', '0001.jpg', '0100.jpg', 'notes.txt', 'clip.gif', '0003.JPEG', '0004.Png']) writeFileSync(join(dir, f), '');
    expect(listFrameFiles(dir)).toEqual(['0001.jpg', '0002.jpg', '0003.JPEG', '0004.Png', '0010.jpg', '0100.jpg']);
  });

  it('natural order compares digit runs by value', () => {
    const names = ['img10.png', 'img2.png', 'img1.png', 'img_b.png', 'img_a.png', 'img02.png'];
    expect([...names].sort(naturalCompare)).toEqual(['img1.png', 'img2.png', 'img02.png', 'img10.png', 'img_a.png', 'img_b.png']);
    expect(naturalCompare('frame9', 'frame10')).toBeLessThan(0);
    expect(naturalCompare('a', 'a')).toBe(0);
    expect(naturalCompare('999999999999999999998', '999999999999999999999')).toBeLessThan(0);
  });

  it('names the folder when it is missing or holds no frames', () => {
    const missing = join(TMP, 'no-such-folder');
    expect(() => listFrameFiles(missing)).toThrow(`listFrameFiles: frames folder not found: ${missing}`);
    const empty = join(TMP, 'empty');
    mkdirSync(empty);
    writeFileSync(join(empty, 'readme.txt'), '');
    expect(() => listFrameFiles(empty)).toThrow(`listFrameFiles: expected .jpg, .jpeg or .png files in the folder ${empty}, found none`);
    expect(() => listFrameFiles(empty)).toThrow(CliError);
  });
});

describe('without ffmpeg on PATH', () => {
  it('decodeVideo says how to install it; encodeAnimation returns null', async () => {
    const emptyBin = join(TMP, 'empty-bin');
    mkdirSync(emptyBin);
    const video = join(TMP, 'some.avi');
    writeFileSync(video, 'not really a video');
    await withPath(emptyBin, async () => {
      expect(findOnPath('ffmpeg')).toBeNull();
      const err = await decodeVideo(video).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CliError);
      expect((err as Error).message).toBe('ffmpeg not found on PATH: install it (Debian/Ubuntu: apt-get install ffmpeg; macOS: brew install ffmpeg) or pass --frames DIR');
      expect((err as Error).message).toBe(FFMPEG_NOT_FOUND);
      await expect(probeVideo(video)).rejects.toThrow(FFMPEG_NOT_FOUND);
      await expect(collect(streamVideo(video))).rejects.toThrow(FFMPEG_NOT_FOUND);
      const out = join(TMP, 'skipped', 'anim.gif');
      await expect(encodeAnimation([solid(4, 4, [1, 2, 3])], out, 5)).resolves.toBeNull();
      expect(existsSync(out)).toBe(false);
    });
  });

  it('argument errors come first and do not need ffmpeg', async () => {
    await expect(decodeVideo(join(TMP, 'nope.avi'))).rejects.toThrow(`decodeVideo: video not found: ${join(TMP, 'nope.avi')}`);
    await expect(decodeVideo(VTEST, { maxFrames: 0 })).rejects.toThrow(/decodeVideo: expected maxFrames as a positive integer, got 0/);
    await expect(decodeVideo(VTEST, { scale: 0.5 })).rejects.toThrow(/decodeVideo: expected scale as a positive integer/);
    await expect(decodeVideo(VTEST, { timeoutMs: 0 })).rejects.toThrow(/decodeVideo: expected timeoutMs > 0/);
    expect(() => streamVideo(VTEST, { maxFrames: 1.5 })).toThrow(/^streamVideo: expected maxFrames as a positive integer, got 1.5$/);
    expect(() => streamVideo(VTEST, { fps: -1 })).toThrow(/^streamVideo: expected fps > 0/);
    await expect(collect(streamVideo(join(TMP, 'nope.avi')))).rejects.toThrow(`streamVideo: video not found: ${join(TMP, 'nope.avi')}`);
    await expect(encodeAnimation([], join(TMP, 'a.gif'), 5)).rejects.toThrow(/encodeAnimation: expected at least one frame, got 0/);
    await expect(encodeAnimation([solid(4, 4, [0, 0, 0]), solid(4, 5, [0, 0, 0])], join(TMP, 'a.gif'), 5)).rejects.toThrow(/encodeAnimation: expected every frame to be 4x4 RGBA .* got frames\[1\] 4x5/);
    await expect(encodeAnimation([solid(4, 4, [0, 0, 0])], join(TMP, 'a.avi'), 5)).rejects.toThrow(/encodeAnimation: expected an output file ending in \.gif or \.mp4, got .*a\.avi/);
    await expect(encodeAnimation([solid(4, 4, [0, 0, 0])], join(TMP, 'a.gif'), 0)).rejects.toThrow(/encodeAnimation: expected fps > 0/);
  });
});

describe('decodeVideo (ffmpeg, vtest.avi)', () => {
  it('decodes the first 3 frames at 768x576, and they differ', async (ctx) => {
    need(ctx, ['ffmpeg', 'vtest']);
    const frames = await decodeVideo(VTEST, { maxFrames: 3 });
    expect(frames).toHaveLength(3);
    for (const f of frames) {
      expect([f.width, f.height, f.channels, f.data.length]).toEqual([768, 576, 4, 768 * 576 * 4]);
      expect(f.data[3]).toBe(255);
      let sum = 0;
      for (let i = 0; i < f.data.length; i += 4) sum += f.data[i]!;
      expect(sum / (768 * 576)).toBeGreaterThan(20); // a lit street scene, not a black frame
    }
    for (const [a, b] of [[0, 1], [1, 2]] as const) {
      let differ = 0;
      for (let i = 0; i < frames[a]!.data.length; i++) if (frames[a]!.data[i] !== frames[b]!.data[i]) differ++;
      expect(differ).toBeGreaterThan(1000);
    }
  });

  it('probes size, frame rate and rotation', async (ctx) => {
    need(ctx, ['ffmpeg', 'vtest']);
    expect(await probeVideo(VTEST)).toEqual({ width: 768, height: 576, fps: 10, rotation: 0 });
  });

  it('scale caps the width keeping the aspect ratio; fps resamples in time', async (ctx) => {
    need(ctx, ['ffmpeg', 'vtest']);
    const small = await decodeVideo(VTEST, { maxFrames: 2, scale: 200 });
    expect(small.map((f) => [f.width, f.height])).toEqual([[200, 150], [200, 150]]);
    expect(await decodeVideo(VTEST, { maxFrames: 1, scale: 1000 }).then((f) => [f[0]!.width, f[0]!.height])).toEqual([768, 576]);
    // the video is 10 fps: at 5 fps, output frame k is input frame 2k
    const native = await decodeVideo(VTEST, { maxFrames: 5, scale: 96 });
    const half = await decodeVideo(VTEST, { maxFrames: 3, fps: 5, scale: 96 });
    expect(half).toHaveLength(3);
    half.forEach((f, k) => expect(Buffer.from(f.data).equals(Buffer.from(native[2 * k]!.data))).toBe(true));
  });

  it('reads the size from `ffmpeg -i` when ffprobe is absent', async (ctx) => {
    need(ctx, ['ffmpeg', 'vtest']);
    const onlyFfmpeg = join(TMP, 'only-ffmpeg');
    mkdirSync(onlyFfmpeg);
    symlinkSync(FFMPEG!, join(onlyFfmpeg, 'ffmpeg'));
    await withPath(onlyFfmpeg, async () => {
      expect(findOnPath('ffprobe')).toBeNull();
      expect(await probeVideo(VTEST)).toEqual({ width: 768, height: 576, fps: 10, rotation: 0 });
      const frames = await decodeVideo(VTEST, { maxFrames: 2, scale: 64 });
      expect(frames.map((f) => [f.width, f.height])).toEqual([[64, 48], [64, 48]]);
      await expect(decodeVideo(join(TMP, 'garbage.bin'))).rejects.toThrow(/video not found/);
    });
  });

  it("an undecodable file: an error naming the file and ffmpeg's last stderr line", async (ctx) => {
    need(ctx, ['ffmpeg']);
    const bad = join(TMP, 'broken.avi');
    writeFileSync(bad, Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 251)));
    const err = (await decodeVideo(bad).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(CliError);
    expect(err.message.startsWith(`decodeVideo: ffmpeg could not decode ${bad}: `)).toBe(true);
    expect(err.message).toContain('Invalid data found when processing input');
    expect(err.message).not.toContain('\n');
  });

  it('times out instead of hanging', async (ctx) => {
    need(ctx, ['ffmpeg', 'vtest']);
    const t0 = Date.now();
    await expect(decodeVideo(VTEST, { timeoutMs: 50 })).rejects.toThrow(/decodeVideo: ffmpeg did not finish (reading|decoding) .*vtest\.avi within 50 ms/);
    expect(Date.now() - t0).toBeLessThan(5000);
  });
});

describe('streamVideo (ffmpeg, a generated testsrc clip)', () => {
  // 30 frames of ffmpeg's test pattern (a moving counter), 320x240: 300 KiB per RGBA frame, so the
  // whole clip (9 MB) cannot sit in the pipe buffers: ffmpeg blocks until frames are read
  const clip = join(TMP, 'testsrc.avi');
  const makeClip = (): void => {
    if (existsSync(clip)) return;
    const r = spawnSync(FFMPEG!, ['-hide_banner', '-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=10', '-frames:v', '30', '-c:v', 'mpeg4', '-q:v', '5', clip], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`could not generate ${clip}: ${r.stderr}`);
  };
  /** The clip's frames decoded by ffmpeg in one piece (the oracle): N×W×H×4 bytes. */
  const rawFrames = (extra: string[]): Buffer => {
    const r = spawnSync(FFMPEG!, ['-hide_banner', '-v', 'error', '-i', clip, ...extra, '-f', 'rawvideo', '-pix_fmt', 'rgba', 'pipe:1'], { maxBuffer: 64 * 2 ** 20 });
    if (r.status !== 0) throw new Error(`ffmpeg failed on ${clip}: ${r.stderr}`);
    return r.stdout;
  };
  /** A fake ffmpeg (a shell script) for the failure paths ffmpeg itself will not produce on demand. */
  const fakeFfmpeg = (name: string, body: string): string => {
    const path = join(TMP, name);
    writeFileSync(path, `#!/bin/sh\n${body}\n`);
    chmodSync(path, 0o755);
    return path;
  };

  it('yields every frame in order, byte-identical to one ffmpeg run, with maxFrames and scale', async (ctx) => {
    need(ctx, ['ffmpeg']);
    makeClip();
    const frames = await collect(streamVideo(clip));
    expect(frames.map((f) => f.index)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    const raw = rawFrames([]);
    const bytes = 320 * 240 * 4;
    expect(raw.length).toBe(30 * bytes);
    frames.forEach((f, i) => {
      expect([f.width, f.height, f.channels, f.data.length]).toEqual([320, 240, 4, bytes]);
      expect(Buffer.from(f.data.buffer, f.data.byteOffset, f.data.byteLength).equals(raw.subarray(i * bytes, (i + 1) * bytes))).toBe(true);
    });
    expect(Buffer.from(frames[0]!.data).equals(Buffer.from(frames[10]!.data))).toBe(false); // the counter moves
    const few = await collect(streamVideo(clip, { maxFrames: 5, scale: 160 }));
    expect(few.map((f) => [f.index, f.width, f.height])).toEqual([0, 1, 2, 3, 4].map((i) => [i, 160, 120]));
    const small = rawFrames(['-vf', 'scale=160:120:flags=area', '-frames:v', '5']);
    few.forEach((f, i) => expect(Buffer.from(f.data).equals(small.subarray(i * 160 * 120 * 4, (i + 1) * 160 * 120 * 4))).toBe(true));
    // decodeVideo collects the same frames
    const all = await decodeVideo(clip, { maxFrames: 5, scale: 160 });
    all.forEach((f, i) => expect(Buffer.from(f.data).equals(Buffer.from(few[i]!.data))).toBe(true));
  });

  it('reads only when asked (backpressure); leaving the loop early kills ffmpeg and reaps it', async (ctx) => {
    need(ctx, ['ffmpeg']);
    if (process.platform !== 'linux') ctx.skip(); // reads /proc
    makeClip();
    expect(children('ffmpeg').size).toBe(0);
    let pids = new Map<number, string>();
    let seen = 0;
    for await (const f of streamVideo(clip)) {
      seen++;
      expect(f.index).toBe(0);
      // held for 300 ms: an eager reader would have let ffmpeg decode all 30 small frames and exit
      await new Promise((r) => setTimeout(r, 300));
      pids = children('ffmpeg');
      break;
    }
    expect(seen).toBe(1);
    expect(pids.size).toBe(1);
    expect([...pids.values()][0]).not.toBe('Z'); // alive, blocked on its full pipe
    // the loop's exit awaited the iterator's return(): ffmpeg is gone, not even a zombie
    expect(children('ffmpeg').size).toBe(0);
    for (const pid of pids.keys()) expect(existsSync(`/proc/${pid}`)).toBe(false);
    // the same after an exception in the consumer
    await expect((async () => {
      for await (const f of streamVideo(clip)) if (f.index === 2) throw new Error('consumer failed');
    })()).rejects.toThrow('consumer failed');
    expect(children('ffmpeg').size).toBe(0);
  });

  it('a bogus or truncated file: an Error naming the file and ffmpeg\'s message', async (ctx) => {
    need(ctx, ['ffmpeg']);
    makeClip();
    const bogus = join(TMP, 'bogus.mp4');
    writeFileSync(bogus, Buffer.from(Array.from({ length: 8192 }, (_, i) => (i * 7919) % 251)));
    const err = (await collect(streamVideo(bogus)).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(CliError);
    expect(err.message).toMatch(new RegExp(`^streamVideo: ffmpeg could not decode ${bogus.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .*Invalid data found when processing input$`));
    // the first half of the clip: ffmpeg decodes what is there, reports the damage and exits with 0
    const bytes = readFileSync(clip);
    const cut = join(TMP, 'truncated.avi');
    writeFileSync(cut, bytes.subarray(0, bytes.length >> 1));
    let got = 0;
    const err2 = (await (async () => {
      for await (const _ of streamVideo(cut)) got++;
    })().catch((e: unknown) => e)) as Error;
    expect(got).toBeGreaterThan(0);
    expect(got).toBeLessThan(30);
    expect(err2).toBeInstanceOf(CliError);
    expect(err2.message).toContain(`streamVideo: expected a video that decodes without errors, got ffmpeg errors in ${cut} after ${got} frames`);
    expect(err2.message).toMatch(/\[mpeg4 @ [^\]]+\] .+$/);
    const tolerated = await collect(streamVideo(cut, { allowDecodeErrors: true }));
    expect(tolerated.length).toBe(got);
    expect(children('ffmpeg').size).toBe(0);
  });

  it('ffmpeg failing part-way, a stream ending inside a frame, a stalled ffmpeg: errors, no process left', async (ctx) => {
    need(ctx, ['ffmpeg']);
    if (!findOnPath('ffprobe')) ctx.skip(); // the fake ffmpeg cannot describe the clip: ffprobe must
    makeClip();
    const frame = 320 * 240 * 4;
    const dies = fakeFfmpeg('ffmpeg-dies', `head -c ${frame} /dev/zero; echo "fake: decoder exploded" >&2; exit 3`);
    let got = 0;
    const e1 = (await (async () => {
      for await (const _ of streamVideo(clip, { ffmpeg: dies })) got++;
    })().catch((e: unknown) => e)) as Error;
    expect(got).toBe(1);
    expect(e1.message).toBe(`streamVideo: ffmpeg could not decode ${clip}: fake: decoder exploded (after 1 frames)`);
    const short = fakeFfmpeg('ffmpeg-short', `head -c ${frame + 1000} /dev/zero; exit 0`);
    await expect(collect(streamVideo(clip, { ffmpeg: short }))).rejects.toThrow(`streamVideo: expected whole 320x240 RGBA frames from ffmpeg, got 1 frames and 1000 extra bytes for ${clip} (a truncated stream)`);
    const stalls = fakeFfmpeg('ffmpeg-stalls', 'exec sleep 30');
    const t0 = Date.now();
    // (the limit also covers ffprobe, which takes up to a second on a loaded machine)
    await expect(collect(streamVideo(clip, { ffmpeg: stalls, timeoutMs: 4000 }))).rejects.toThrow(`streamVideo: ffmpeg produced no frame of ${clip} within 4000 ms`);
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(children('ffmpeg-stalls').size + children('sleep').size).toBe(0);
  });
});

describe('encodeAnimation (ffmpeg)', () => {
  const colours: [number, number, number][] = [[220, 30, 30], [30, 220, 30], [30, 30, 220]];

  it('writes a valid animated GIF that decodes back to the frames', async (ctx) => {
    need(ctx, ['ffmpeg']);
    const frames = colours.map((c) => solid(16, 12, c));
    const out = join(TMP, 'anim', 'three.gif');
    expect(await encodeAnimation(frames, out, 5)).toBe(out);
    const bytes = readFileSync(out);
    expect(bytes.subarray(0, 6).toString('latin1')).toBe('GIF89a');
    expect(bytes.readUInt16LE(6)).toBe(16); // logical screen width
    expect(bytes.readUInt16LE(8)).toBe(12);
    expect(bytes.includes(Buffer.from('NETSCAPE2.0', 'latin1'))).toBe(true); // the looping extension
    const back = await decodeVideo(out);
    expect(back).toHaveLength(3);
    back.forEach((f, i) => {
      const [r, g, b] = px(f, 8, 6);
      expect(Math.abs(r! - colours[i]![0]) + Math.abs(g! - colours[i]![1]) + Math.abs(b! - colours[i]![2])).toBeLessThan(30);
    });
  });

  it('writes an MP4 (odd sizes padded to even)', async (ctx) => {
    need(ctx, ['ffmpeg']);
    const frames = colours.map((c) => solid(15, 11, c));
    const out = join(TMP, 'anim', 'three.mp4');
    expect(await encodeAnimation(frames, out, 10)).toBe(out);
    const bytes = readFileSync(out);
    expect(bytes.subarray(4, 8).toString('latin1')).toBe('ftyp');
    const back = await decodeVideo(out);
    expect(back.map((f) => [f.width, f.height])).toEqual([[16, 12], [16, 12], [16, 12]]);
  });
});

describe('contactSheet', () => {
  const palette: [number, number, number][] = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [0, 255, 255]];
  const frames = palette.map((c) => solid(40, 30, c));

  it('lays frames out in a grid: size, cell positions, gaps', () => {
    const sheet = contactSheet(frames, { columns: 3, cellWidth: 20 });
    // cells 20x15 (the frames' 4:3), 4 px gaps: 3·20 + 4·4 by 2·15 + 3·4
    expect([sheet.width, sheet.height, sheet.data.length]).toEqual([76, 42, 76 * 42 * 4]);
    palette.forEach((c, i) => {
      const x = 4 + (i % 3) * 24;
      const y = 4 + Math.floor(i / 3) * 19;
      expect(px(sheet, x, y)).toEqual([...c, 255]); // top-left pixel of the cell
      expect(px(sheet, x + 19, y + 14)).toEqual([...c, 255]); // bottom-right
      expect(px(sheet, x + 20, y)).toEqual([24, 24, 24, 255]); // the gap right of it
    });
    expect(px(sheet, 4 + 2 * 24 + 10, 4 + 19 + 7)).toEqual([24, 24, 24, 255]); // the sixth cell is empty
    expect(px(sheet, 0, 0)).toEqual([24, 24, 24, 255]);
  });

  it('defaults: ⌈√n⌉ columns, cells as wide as the frames up to 320 px', () => {
    const sheet = contactSheet(frames);
    expect([sheet.width, sheet.height]).toEqual([3 * 40 + 4 * 4, 2 * 30 + 3 * 4]);
    const big = contactSheet([solid(768, 576, [9, 9, 9])], { gap: 0 });
    expect([big.width, big.height]).toEqual([320, 240]);
  });

  it('downscales by area averaging (no aliasing) and letterboxes other aspect ratios', () => {
    const stripes = createImage(40, 30);
    for (let y = 0; y < 30; y++) for (let x = 0; x < 40; x += 2) stripes.data.set([255, 255, 255, 255], (y * 40 + x) * 4);
    const sheet = contactSheet([stripes], { cellWidth: 20, gap: 0 });
    expect(new Set(Array.from(sheet.data.filter((_, i) => i % 4 === 0)))).toEqual(new Set([128]));
    // a portrait frame in a landscape cell: centred, background on both sides
    const tall = contactSheet([solid(40, 30, [0, 0, 0]), solid(15, 30, [200, 100, 50])], { columns: 2, cellWidth: 40, gap: 0, background: [1, 2, 3] });
    expect([tall.width, tall.height]).toEqual([80, 30]);
    expect(px(tall, 40 + 5, 15)).toEqual([1, 2, 3, 255]);
    expect(px(tall, 40 + 20, 15)).toEqual([200, 100, 50, 255]);
    expect(px(tall, 40 + 34, 15)).toEqual([1, 2, 3, 255]);
    expect(resizeArea(solid(7, 5, [10, 20, 30]), 3, 2).data.length).toBe(3 * 2 * 4);
  });

  it('draws labels inside their cells only', () => {
    const plain = contactSheet(frames, { columns: 3, cellWidth: 20 });
    const labelled = contactSheet(frames, { columns: 3, cellWidth: 20, labels: ['#1 frame 12', '', 'x'] });
    const changed: [number, number][] = [];
    for (let y = 0; y < plain.height; y++) for (let x = 0; x < plain.width; x++) if (px(plain, x, y).some((v, c) => v !== px(labelled, x, y)[c])) changed.push([x, y]);
    expect(changed.length).toBeGreaterThan(20);
    const inCell = (x: number, y: number, i: number): boolean => x >= 4 + (i % 3) * 24 && x < 24 + (i % 3) * 24 && y >= 4 + Math.floor(i / 3) * 19 && y < 19 + Math.floor(i / 3) * 19;
    expect(changed.every(([x, y]) => inCell(x, y, 0) || inCell(x, y, 2))).toBe(true);
    expect(changed.some(([x, y]) => inCell(x, y, 2))).toBe(true);
    // white glyph pixels are there
    expect(changed.some(([x, y]) => px(labelled, x, y).slice(0, 3).every((v) => v === 255))).toBe(true);
  });

  it('drawText: 6 px per character at scale 1, clipped to the image', () => {
    const img = createImage(40, 20);
    expect(drawText(img, 'AB', 1, 1)).toBe(textWidth('AB'));
    expect(textWidth('AB')).toBe(15);
    expect(textWidth('AB', 2)).toBe(30);
    expect(() => drawText(img, 'far away, mostly outside', 30, 15, { scale: 2 })).not.toThrow();
    expect(drawText(img, 'abc', 0, 0, { maxWidth: 10 })).toBe(textWidth('a'));
  });

  it('rejects bad arguments naming contactSheet', () => {
    expect(() => contactSheet([])).toThrow(/^contactSheet: expected at least one frame, got 0$/);
    expect(() => contactSheet(frames, { columns: 0 })).toThrow(/contactSheet: expected columns as a positive integer, got 0/);
    expect(() => contactSheet(frames, { cellWidth: 10.5 })).toThrow(/contactSheet: expected cellWidth as a positive integer/);
    expect(() => contactSheet(frames.slice(0, 1), { labels: ['a', 'b'] })).toThrow(/contactSheet: expected at most one label per frame \(1\), got 2 labels/);
    expect(() => contactSheet([{ width: 2, height: 2, channels: 4, data: new Uint8Array(3) }])).toThrow(/contactSheet: expected frames\[0\] as an RGBA image/);
  });
});

describe('track colours (draw.ts)', () => {
  it('are saturated, stable and distinct for the first ids', () => {
    const cols = Array.from({ length: 12 }, (_, i) => trackColour(i + 1));
    for (const c of cols) {
      expect(c.every((v) => Number.isInteger(v) && v >= 0 && v <= 255)).toBe(true);
      expect(Math.max(...c) - Math.min(...c)).toBeGreaterThanOrEqual(200);
    }
    expect(trackColour(3)).toEqual(cols[2]);
    expect(trackColour(0)).toEqual([255, 38, 38]); // hue 0: red
    let minDist = Infinity;
    for (let i = 0; i < cols.length; i++) for (let j = i + 1; j < cols.length; j++) minDist = Math.min(minDist, Math.hypot(...cols[i]!.map((v, c) => v - cols[j]![c]!)));
    expect(minDist).toBeGreaterThan(50);
    expect(() => trackColour(1.5)).toThrow(/^trackColour: expected an integer track id, got 1.5$/);
    expect(trackColour(-7).every((v) => v >= 0 && v <= 255)).toBe(true);
  });

  it("drawPose's colour option paints bones and joints in the track colour; without it nothing changes", () => {
    const kps = COCO17.names.map((_, i) => ({ x: 10 + (i % 4) * 10, y: 10 + Math.floor(i / 4) * 10, score: 1 }));
    const colour = trackColour(2);
    const img = createImage(60, 70);
    drawPose(img, kps, COCO17, { colour });
    const seen = new Set<string>();
    for (let i = 0; i < img.data.length; i += 4) if (img.data[i] || img.data[i + 1] || img.data[i + 2]) seen.add(Array.from(img.data.subarray(i, i + 3)).join(','));
    expect([...seen]).toEqual([colour.join(',')]);
    const plain = createImage(60, 70);
    drawPose(plain, kps, COCO17);
    expect(px(plain, kps[5]!.x, kps[5]!.y).slice(0, 3)).toEqual([255, 128, 0]); // left shoulder keeps the left colour
  });
});
