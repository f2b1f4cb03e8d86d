/**
 * Video and frame-folder I/O for the command-line tools (Node only): list a folder's frames in
 * natural order, decode a video file to RGBA frames with the `ffmpeg` executable (streamVideo: one
 * frame at a time, the decoder every caller uses; decodeVideo: all of them in memory), and write
 * frames as an animated GIF or an MP4.
 *
 * ffmpeg is not a dependency: it is looked up on PATH when a function is called (not at import), so
 * a missing ffmpeg only matters to the commands that read or write video. `ffprobe` (shipped with
 * ffmpeg) is used to read the video size when present; otherwise the size is parsed from
 * `ffmpeg -i`'s stream description. Every ffmpeg run has a timeout, after which it is killed.
 *
 * Errors about the user's input (a missing folder, file or ffmpeg, an undecodable video) are
 * `CliError`s (cli/common.ts), so `runCli` prints them as one line.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { delimiter, dirname, extname, join } from 'node:path';
import type { Writable } from 'node:stream';
import type { RgbaImage } from '../models/pose/image.js';
import { CliError } from './common.js';

/** The message of the error thrown when a video must be decoded and ffmpeg is not on PATH. */
export const FFMPEG_NOT_FOUND = 'ffmpeg not found on PATH: install it (Debian/Ubuntu: apt-get install ffmpeg; macOS: brew install ffmpeg) or pass --frames DIR';

/** Default time limit of one decodeVideo / encodeAnimation call, or of one wait for a streamVideo frame, in ms. */
export const DEFAULT_FFMPEG_TIMEOUT_MS = 120_000;

export interface FfmpegOptions {
  /** The ffmpeg executable (default: `ffmpeg` found on PATH when the function is called). */
  ffmpeg?: string;
  /** The ffprobe executable (default: `ffprobe` on PATH; without it the size is read from `ffmpeg -i`). */
  ffprobe?: string;
  /** Time limit in ms (default 120000) for the whole call, or for each wait for a frame of streamVideo; ffmpeg is killed when it runs out. */
  timeoutMs?: number;
}

export interface DecodeVideoOptions extends FfmpegOptions {
  /** Decode at most this many frames (default: all; with decodeVideo every frame costs width·height·4 bytes of memory). */
  maxFrames?: number;
  /** Resample to this frame rate in frames per second (ffmpeg's `fps` filter; default: the video's own). */
  fps?: number;
  /** Maximum output width in pixels: wider videos are downscaled (area averaging), keeping the aspect ratio. */
  scale?: number;
  /**
   * Accept a video whose decoding ffmpeg reports errors on (a truncated or damaged file: ffmpeg then
   * exits with code 0 after the frames it could decode, some of them damaged). Default false: an
   * Error naming the file and ffmpeg's message, thrown after the last frame.
   */
  allowDecodeErrors?: boolean;
}

export interface VideoInfo {
  /** Frame size in pixels as decoded, i.e. after ffmpeg's automatic rotation (rotated videos have width and height swapped). */
  width: number;
  height: number;
  /** Average frame rate in frames per second, or null when unknown. */
  fps: number | null;
  /** Rotation from the container's display matrix or `rotate` tag, in degrees (0 when none). */
  rotation: number;
}

// ------------------------------------------------------------------------------------ frame folders

/**
 * The .jpg, .jpeg and .png files of `dir` (names only, case-insensitive extensions), in natural
 * order: digit runs compare as numbers, so 2.jpg < 10.jpg and 0002.jpg < 0010.jpg.
 * @throws CliError "listFrameFiles: frames folder not found: DIR" or "... found none" naming the folder.
 */
export function listFrameFiles(dir: string): string[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new CliError(`listFrameFiles: frames folder not found: ${dir}`);
  const files = readdirSync(dir, { withFileTypes: true })
    .filter((e) => /\.(jpe?g|png)$/i.test(e.name) && (e.isFile() || (e.isSymbolicLink() && statSync(join(dir, e.name), { throwIfNoEntry: false })?.isFile())))
    .map((e) => e.name)
    .sort(naturalCompare);
  if (files.length === 0) throw new CliError(`listFrameFiles: expected .jpg, .jpeg or .png files in the folder ${dir}, found none`);
  return files;
}

/** Natural string order: runs of digits compare by value (then fewer leading zeros first), the rest by code unit. */
export function naturalCompare(a: string, b: string): number {
  const ta = a.match(/\d+|\D+/g) ?? [];
  const tb = b.match(/\d+|\D+/g) ?? [];
  for (let i = 0; i < Math.min(ta.length, tb.length); i++) {
    const x = ta[i]!;
    const y = tb[i]!;
    if (x === y) continue;
    const dx = /^\d/.test(x);
    const dy = /^\d/.test(y);
    if (dx && dy) {
      const sx = x.replace(/^0+(?=\d)/, '');
      const sy = y.replace(/^0+(?=\d)/, '');
      if (sx.length !== sy.length) return sx.length - sy.length;
      if (sx !== sy) return sx < sy ? -1 : 1;
      return x.length - y.length;
    }
    return x < y ? -1 : 1;
  }
  return ta.length - tb.length || (a < b ? -1 : a > b ? 1 : 0);
}

// ------------------------------------------------------------------------------------ finding ffmpeg

/**
 * The first executable file called `name` in the folders of `pathEnv` (default: PATH now), or null.
 * On Windows `name.exe` is looked for too.
 */
export function findOnPath(name: string, pathEnv: string = process.env.PATH ?? ''): string | null {
  const names = process.platform === 'win32' ? [name, `${name}.exe`] : [name];
  for (const dir of pathEnv.split(delimiter)) {
    if (!dir) continue;
    for (const n of names) {
      const p = join(dir, n);
      try {
        if (!statSync(p).isFile()) continue;
        accessSync(p, constants.X_OK);
        return p;
      } catch {
        // not there, or not executable
      }
    }
  }
  return null;
}

// ------------------------------------------------------------------------------------ decoding

/**
 * Frame size, frame rate and rotation of the first video stream of `file`, with ffprobe (or
 * `ffmpeg -i` when ffprobe is absent).
 * @throws CliError when the file does not exist, ffmpeg is not on PATH (FFMPEG_NOT_FOUND), or the
 *   file has no readable video stream (naming the file and ffmpeg's last stderr line); Error on timeout.
 */
export async function probeVideo(file: string, opts: FfmpegOptions = {}): Promise<VideoInfo> {
  const timeoutMs = timeoutOf('probeVideo', opts);
  return probe('probeVideo', file, opts, Date.now() + timeoutMs, timeoutMs);
}

/** One decoded video frame: an RGBA image (`channels` 4, data = width·height·4 bytes) and its position. */
export interface VideoFrame extends RgbaImage {
  /** 0-based position of the frame in the decoded stream (after `fps` resampling). */
  readonly index: number;
}

/**
 * Decodes `file` as a stream: an async iterator of RGBA frames (presentation order, `index` 0, 1, …),
 * read from `ffmpeg -i FILE -vf [fps=..,]scale=W:H -frames:v N -f rawvideo -pix_fmt rgba pipe:1`
 * after probeVideo has read the size (W x H: the video's, or `scale` wide and round(h·scale/w) high
 * when it is wider than `scale`). ffmpeg is started when the first frame is asked for.
 *
 * Memory is flat in the clip length: ffmpeg's stdout is read only while the consumer waits for the
 * next frame, so besides the frames the consumer keeps, at most one partly filled frame and the pipe
 * buffers (about 128 KiB) are held; a stalled consumer blocks ffmpeg on its pipe (backpressure).
 * Leaving the loop early (`break`, `return`, an exception: the iterator's `return()`) kills ffmpeg
 * and waits for it to exit, so no process is left behind. `timeoutMs` (default 120000) bounds each
 * wait for ffmpeg (the probe, then every frame); the time the consumer spends between frames does
 * not count.
 * @throws CliError "streamVideo: video not found: FILE", FFMPEG_NOT_FOUND when ffmpeg is not on PATH,
 *   "streamVideo: ffmpeg could not decode FILE: <ffmpeg's last stderr line>" (not a video, or ffmpeg
 *   exited non-zero, also after some frames), "streamVideo: ffmpeg decoded no frames from FILE", or,
 *   after the last frame, "streamVideo: expected a video that decodes without errors, got ffmpeg
 *   errors in FILE ..." (a truncated or damaged file, unless `allowDecodeErrors`);
 *   Error for bad options, a stream ending inside a frame ("expected whole WxH RGBA frames ...") or
 *   "streamVideo: ffmpeg produced no frame of FILE within N ms" (ffmpeg is killed).
 */
export function streamVideo(file: string, opts: DecodeVideoOptions = {}): AsyncGenerator<VideoFrame, void, undefined> {
  const op = 'streamVideo';
  const timeoutMs = timeoutOf(op, opts);
  checkDecodeOptions(op, opts);
  return frameStream(op, file, opts, () => timeoutMs, `produced no frame of ${file} within ${timeoutMs} ms`);
}

/**
 * Decodes `file` to RGBA frames in memory (every frame costs width·height·4 bytes: prefer
 * streamVideo for long clips); the frames of streamVideo, collected. `timeoutMs` bounds the whole call.
 * @throws CliError "decodeVideo: video not found: FILE", FFMPEG_NOT_FOUND when ffmpeg is not on
 *   PATH, or "decodeVideo: ffmpeg could not decode FILE: <ffmpeg's last stderr line>"; Error for bad
 *   options, or "decodeVideo: ffmpeg did not finish ... within N ms" on timeout.
 */
export async function decodeVideo(file: string, opts: DecodeVideoOptions = {}): Promise<RgbaImage[]> {
  const op = 'decodeVideo';
  const timeoutMs = timeoutOf(op, opts);
  checkDecodeOptions(op, opts);
  const deadline = Date.now() + timeoutMs;
  const frames: RgbaImage[] = [];
  for await (const f of frameStream(op, file, opts, () => deadline - Date.now(), `did not finish decoding ${file} within ${timeoutMs} ms (killed; raise timeoutMs or lower maxFrames)`)) {
    frames.push({ width: f.width, height: f.height, channels: 4, data: f.data });
  }
  return frames;
}

function checkDecodeOptions(op: string, opts: DecodeVideoOptions): void {
  if (opts.maxFrames !== undefined && !(Number.isInteger(opts.maxFrames) && opts.maxFrames > 0)) throw new Error(`${op}: expected maxFrames as a positive integer, got ${opts.maxFrames}`);
  if (opts.fps !== undefined && !(Number.isFinite(opts.fps) && opts.fps > 0)) throw new Error(`${op}: expected fps > 0 (frames per second), got ${opts.fps}`);
  if (opts.scale !== undefined && !(Number.isInteger(opts.scale) && opts.scale > 0)) throw new Error(`${op}: expected scale as a positive integer (maximum width in pixels), got ${opts.scale}`);
}

/**
 * The one ffmpeg frame reader behind streamVideo and decodeVideo. `waitMs()` is the time allowed for
 * the current wait on ffmpeg (the probe, then each chunk of stdout and the exit); when it runs out
 * ffmpeg is killed and Error "OP: ffmpeg TIMEOUT_TEXT" is thrown.
 */
async function* frameStream(op: string, file: string, opts: DecodeVideoOptions, waitMs: () => number, timeoutText: string): AsyncGenerator<VideoFrame, void, undefined> {
  const probeMs = Math.max(1, waitMs());
  const info = await probe(op, file, opts, Date.now() + probeMs, probeMs);
  const ffmpeg = resolveFfmpeg(opts)!;
  const ow = opts.scale !== undefined && info.width > opts.scale ? opts.scale : info.width;
  const oh = ow === info.width ? info.height : Math.max(1, Math.round((info.height * ow) / info.width));
  // An explicit scale to the expected size guarantees the byte layout even if the probe missed something.
  const filters = [...(opts.fps !== undefined ? [`fps=${opts.fps}`] : []), `scale=${ow}:${oh}${ow < info.width ? ':flags=area' : ''}`];
  const args = ['-hide_banner', '-nostdin', '-v', 'error', '-i', file, '-an', '-sn', '-dn', '-vf', filters.join(','), ...(opts.maxFrames !== undefined ? ['-frames:v', String(opts.maxFrames)] : []), '-f', 'rawvideo', '-pix_fmt', 'rgba', 'pipe:1'];
  const frameBytes = ow * oh * 4;
  const child = spawn(ffmpeg, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString('utf8')).slice(-16384);
  });
  // settles once: the exit (after stdio closed) or the spawn error
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  const running = (): boolean => child.exitCode === null && child.signalCode === null;
  /** `p`, or ffmpeg killed and the timeout Error when waitMs() runs out first. */
  const timed = async <T>(p: Promise<T>): Promise<T> => {
    p.catch(() => undefined); // settled after a timeout: nobody listens any more
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`${op}: ffmpeg ${timeoutText}`));
      }, Math.max(1, waitMs()));
    });
    try {
      return await Promise.race([p, limit]);
    } finally {
      clearTimeout(timer);
    }
  };
  const chunks = (child.stdout as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  let cur = new Uint8Array(frameBytes);
  let filled = 0;
  let index = 0;
  try {
    for (;;) {
      const r = await timed(chunks.next());
      if (r.done) break;
      const chunk = r.value;
      let off = 0;
      while (off < chunk.length) {
        const n = Math.min(frameBytes - filled, chunk.length - off);
        cur.set(chunk.subarray(off, off + n), filled);
        filled += n;
        off += n;
        if (filled === frameBytes) {
          const frame: VideoFrame = { index: index++, width: ow, height: oh, channels: 4, data: cur };
          cur = new Uint8Array(frameBytes);
          filled = 0;
          yield frame;
        }
      }
    }
    const end = await timed(ended);
    if (end.error) throw new CliError(`${op}: could not run ${ffmpeg} to decode ${file}: ${end.error.message}`);
    const msg = lastLine(stderr);
    if (end.code !== 0) throw new CliError(`${op}: ffmpeg could not decode ${file}: ${msg || `exit ${end.code === null ? `signal ${end.signal}` : `code ${end.code}`}`}${index > 0 ? ` (after ${index} frames)` : ''}`);
    if (filled !== 0) throw new Error(`${op}: expected whole ${ow}x${oh} RGBA frames from ffmpeg, got ${index} frames and ${filled} extra bytes for ${file} (a truncated stream)${msg ? `: ${msg}` : ''}`);
    if (index === 0) throw new CliError(`${op}: ffmpeg decoded no frames from ${file}${msg ? `: ${msg}` : ''}`);
    // `-v error` prints nothing for a clean file; a truncated or damaged one exits 0 with messages
    if (msg && !opts.allowDecodeErrors) throw new CliError(`${op}: expected a video that decodes without errors, got ffmpeg errors in ${file} after ${index} frames (truncated or damaged? allowDecodeErrors accepts it): ${msg}`);
  } finally {
    // early stop (break/return/throw in the consumer), an error or a timeout: stop ffmpeg and reap it
    if (running()) {
      child.stdout!.destroy();
      child.kill('SIGKILL');
    }
    await chunks.return?.();
    await ended;
  }
}

async function probe(op: string, file: string, opts: FfmpegOptions, deadline: number, totalMs: number): Promise<VideoInfo> {
  if (!existsSync(file)) throw new CliError(`${op}: video not found: ${file}`);
  if (statSync(file).isDirectory()) throw new CliError(`${op}: expected a video file, got the directory ${file} (use --frames DIR for a folder of frames)`);
  const ffmpeg = resolveFfmpeg(opts);
  if (!ffmpeg) throw new CliError(FFMPEG_NOT_FOUND);
  const ffprobe = opts.ffprobe ?? findOnPath('ffprobe');
  const timeoutMs = Math.max(1, deadline - Date.now());
  const timedOut = (): never => {
    throw new Error(`${op}: ffmpeg did not finish reading ${file} within ${totalMs} ms (killed)`);
  };
  let info: VideoInfo;
  if (ffprobe) {
    const args = ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height,avg_frame_rate,r_frame_rate:stream_tags=rotate:stream_side_data=rotation', '-of', 'json', file];
    const r = await run(ffprobe, args, { timeoutMs, collectStdout: true });
    if (r.timedOut) timedOut();
    if (r.code !== 0) throw new CliError(`${op}: ffmpeg could not decode ${file}: ${lastLine(r.stderr) || `ffprobe exit code ${r.code ?? r.signal}`}`);
    let s: { width?: number; height?: number; avg_frame_rate?: string; r_frame_rate?: string; tags?: { rotate?: string }; side_data_list?: { rotation?: number }[] } | undefined;
    try {
      s = (JSON.parse(r.stdout.toString('utf8')) as { streams?: (typeof s)[] }).streams?.[0];
    } catch {
      s = undefined;
    }
    if (!s || !(Number(s.width) > 0 && Number(s.height) > 0)) throw new CliError(`${op}: ffmpeg could not decode ${file}: no video stream${lastLine(r.stderr) ? ` (${lastLine(r.stderr)})` : ''}`);
    const rot = s.side_data_list?.find((d) => typeof d.rotation === 'number')?.rotation ?? Number(s.tags?.rotate ?? 0);
    info = { width: Number(s.width), height: Number(s.height), fps: rate(s.avg_frame_rate) ?? rate(s.r_frame_rate), rotation: Number.isFinite(rot) ? rot : 0 };
  } else {
    // `ffmpeg -i FILE` without an output describes the input on stderr and exits with code 1.
    const r = await run(ffmpeg, ['-hide_banner', '-nostdin', '-i', file], { timeoutMs });
    if (r.timedOut) timedOut();
    const lines = r.stderr.split(/\r?\n/);
    const vi = lines.findIndex((l) => /Stream #\S+.*: Video: /.test(l));
    const size = vi >= 0 ? /, (\d{1,5})x(\d{1,5})\b/.exec(lines[vi]!) : null;
    if (!size) throw new CliError(`${op}: ffmpeg could not decode ${file}: ${lastLine(r.stderr.replace(/At least one output file must be specified\s*$/, '')) || 'no video stream'}`);
    const fps = /, ([\d.]+) fps/.exec(lines[vi]!);
    const tail = lines.slice(vi + 1, vi + 8).join('\n');
    const rot = /rotation of (-?[\d.]+) degrees/.exec(tail) ?? /rotate\s*:\s*(-?\d+)/.exec(tail);
    info = { width: Number(size[1]), height: Number(size[2]), fps: fps ? Number(fps[1]) : null, rotation: rot ? Number(rot[1]) : 0 };
  }
  if (Math.abs(Math.round(info.rotation / 90)) % 2 === 1) info = { ...info, width: info.height, height: info.width };
  return info;
}

function rate(r: string | undefined): number | null {
  const m = /^(\d+)\/(\d+)$/.exec(r ?? '');
  if (!m || Number(m[2]) === 0 || Number(m[1]) === 0) return null;
  return Number(m[1]) / Number(m[2]);
}

// ------------------------------------------------------------------------------------ encoding

/**
 * Writes `frames` (all the same size) as an animation at `fps` frames per second, chosen by the
 * extension of `out`: `.gif` (one palette for the whole clip with ffmpeg's palettegen/paletteuse,
 * looping forever) or `.mp4` (H.264 yuv420p with +faststart, odd sizes padded by one pixel; MPEG-4
 * part 2 when this ffmpeg has no libx264). The folder of `out` is created.
 * @returns `out`, or null when ffmpeg is not on PATH (nothing is written; the caller can say the
 *   animation was skipped).
 * @throws Error for no frames, frames of different sizes, fps ≤ 0, another extension, an ffmpeg
 *   failure ("encodeAnimation: ffmpeg could not write OUT: <last stderr line>") or the timeout.
 */
export async function encodeAnimation(frames: readonly RgbaImage[], out: string, fps: number, opts: FfmpegOptions = {}): Promise<string | null> {
  const op = 'encodeAnimation';
  const timeoutMs = timeoutOf(op, opts);
  if (!Array.isArray(frames) || frames.length === 0) throw new Error(`${op}: expected at least one frame, got ${Array.isArray(frames) ? 0 : typeof frames}`);
  const { width: w, height: h } = frames[0]!;
  frames.forEach((f, i) => {
    if (f.width !== w || f.height !== h || f.data.length !== w * h * 4) throw new Error(`${op}: expected every frame to be ${w}x${h} RGBA (${w * h * 4} bytes), got frames[${i}] ${f.width}x${f.height} with ${f.data.length} bytes`);
  });
  if (!(Number.isFinite(fps) && fps > 0)) throw new Error(`${op}: expected fps > 0 (frames per second), got ${fps}`);
  const ext = extname(out).toLowerCase();
  if (ext !== '.gif' && ext !== '.mp4') throw new Error(`${op}: expected an output file ending in .gif or .mp4, got ${out}`);
  const ffmpeg = resolveFfmpeg(opts);
  if (!ffmpeg) return null;
  mkdirSync(dirname(out), { recursive: true });
  const deadline = Date.now() + timeoutMs;
  const input = ['-hide_banner', '-v', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'rgba', '-s', `${w}x${h}`, '-framerate', String(fps), '-i', 'pipe:0'];
  const attempts: string[][] =
    ext === '.gif'
      ? [['-filter_complex', 'format=rgb24,split[a][b];[a]palettegen[p];[b][p]paletteuse', '-loop', '0', out]]
      : ['libx264', 'mpeg4'].map((codec) => ['-vf', 'pad=ceil(iw/2)*2:ceil(ih/2)*2', '-c:v', codec, ...(codec === 'mpeg4' ? ['-q:v', '3'] : []), '-pix_fmt', 'yuv420p', '-movflags', '+faststart', out]);
  let stderr = '';
  for (const outputArgs of attempts) {
    const r = await run(ffmpeg, [...input, ...outputArgs], { timeoutMs: deadline - Date.now(), stdin: (s) => writeFrames(s, frames) });
    if (r.timedOut) throw new Error(`${op}: ffmpeg did not finish writing ${out} within ${timeoutMs} ms (killed)`);
    if (r.code === 0) return out;
    stderr = r.stderr;
    if (!/Unknown encoder|Encoder not found/i.test(stderr)) break;
  }
  throw new Error(`${op}: ffmpeg could not write ${out}: ${lastLine(stderr) || 'no message'}`);
}

async function writeFrames(stdin: Writable, frames: readonly RgbaImage[]): Promise<void> {
  for (const f of frames) {
    if (stdin.destroyed) return;
    const ok = stdin.write(Buffer.from(f.data.buffer, f.data.byteOffset, f.data.byteLength));
    if (!ok) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          stdin.off('drain', done);
          stdin.off('close', done);
          stdin.off('error', done);
          resolve();
        };
        stdin.once('drain', done);
        stdin.once('close', done);
        stdin.once('error', done);
      });
    }
  }
  stdin.end();
}

// ------------------------------------------------------------------------------------ running ffmpeg

function resolveFfmpeg(opts: FfmpegOptions): string | null {
  return opts.ffmpeg ?? findOnPath('ffmpeg');
}

function timeoutOf(op: string, opts: FfmpegOptions): number {
  const t = opts.timeoutMs ?? DEFAULT_FFMPEG_TIMEOUT_MS;
  if (!(Number.isFinite(t) && t > 0)) throw new Error(`${op}: expected timeoutMs > 0 (milliseconds), got ${t}`);
  return t;
}

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last 16 KiB of stderr. */
  stderr: string;
  stdout: Buffer;
  timedOut: boolean;
}

interface RunOptions {
  timeoutMs: number;
  onStdout?: (chunk: Buffer) => void;
  collectStdout?: boolean;
  /** Feeds stdin (EPIPE from a child that exits early is ignored: its exit code and stderr tell why). */
  stdin?: (stdin: Writable) => Promise<void>;
}

function run(bin: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    let stderr = '';
    const out: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, Math.max(1, opts.timeoutMs));
    child.stdout!.on('data', (c: Buffer) => {
      if (opts.onStdout) opts.onStdout(c);
      if (opts.collectStdout) out.push(c);
    });
    child.stderr!.on('data', (c: Buffer) => {
      stderr = (stderr + c.toString('utf8')).slice(-16384);
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new CliError(`could not run ${bin}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr, stdout: Buffer.concat(out), timedOut });
    });
    if (opts.stdin && child.stdin) {
      child.stdin.on('error', () => {
        // EPIPE when ffmpeg stops reading: reported through its exit code and stderr
      });
      opts.stdin(child.stdin).catch(() => child.stdin?.destroy());
    }
  });
}

function lastLine(s: string): string {
  const lines = s.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  return lines[lines.length - 1] ?? '';
}
