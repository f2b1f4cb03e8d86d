/**
 * The web demo's page (`npm run web`, cli/web.ts). It imports only from 'posegrad', the package
 * installed from the packed tarball, and bundles with esbuild.
 *
 * Per frame: MoveNet MultiPose finds the people (longer side 512 px, score ≥ 0.2), SinglePose
 * Thunder or Lightning re-estimates each person on a 1.25× square crop (movenet.MoveNetPipeline,
 * the same code and settings as the Node demo, cli/demo-movenet.ts), an IoU PoseTracker gives the
 * ids, and optionally one of the papers' networks (RPSTN, FaSRnet, VREMD, GLPose, weights from
 * assets/weights via moduleFromSafetensors) estimates each tracked person again from the frames
 * so far (causal windows: the newest frame is the key frame, later frames are not waited for).
 *
 * Sources: the bundled clip (JPEG bytes decoded by posegrad's decodeImage, the pixels the Node demo
 * sees), a local image (createImageBitmap) or video file (a <video> stepped 0.1 s at a time, so the
 * tracker sees evenly spaced frames however slow the networks are), or the webcam (getUserMedia,
 * live; the option is hidden when there is no camera). Frames from files and the webcam are drawn
 * into a canvas, at most 960 px on the longer side.
 *
 * Query parameters set the first choices: backend=webgpu|wasm-1|wasm-2, movenet=thunder|lightning|
 * multipose, paper=none|<id> (e.g. rpstn-tiny), autoplay=0|1. Tests drive the page through
 * `window.__posegrad` (see PosegradDemoApi).
 */
import {
  boxToCenterScale, COCO17, cropPersonArray, decodeImage, getFinalPreds, glpose, init, memory, moduleFromSafetensors,
  movenet, noGrad, POSETRACK, PoseTracker, reshape, slice, tensor, tidy, trackColour,
  type CenterScale, type DeviceName, type JointSet, type RgbaImage, type Tensor,
} from 'posegrad';

// ----------------------------------------------------------------------------------- types

type BackendChoice = 'webgpu' | 'wasm-1' | 'wasm-2';
type MoveNetChoice = 'thunder' | 'lightning' | 'multipose';
type SourceKind = 'clip' | 'file' | 'webcam';

interface Settings {
  backend: BackendChoice;
  movenet: MoveNetChoice;
  /** 'none' or a paper network id of the manifest (e.g. 'rpstn-tiny'). */
  paper: string;
}

/** manifest.json, written by cli/web.ts. */
interface Manifest {
  version: string;
  clip: string[];
  movenet: Record<'multipose' | 'thunder' | 'lightning', { url: string; bytes: number }>;
  papers: { id: string; model: string; preset: string; url: string; bytes: number; module: string; info: { steps?: number; mAP?: Record<string, number> } }[];
  wasmDir: string;
  wasmFiles: string[];
}

interface Point {
  x: number;
  y: number;
  score: number;
}

/** One tracked person of a processed frame. Coordinates: frame pixels (x right, y down, pixel centres at integers). */
export interface DemoPerson {
  trackId: number;
  /** MultiPose's person score. */
  score: number;
  /** [x, y, w, h], MultiPose's box. */
  box: [number, number, number, number];
  /** 17 COCO keypoints: the SinglePose network's (MultiPose's with 'multipose'). */
  keypoints: Point[];
  /** The paper network's 17 PoseTrack keypoints, when one is selected. */
  paper?: Point[];
}

/** What the page publishes for every processed frame (window.__posegrad.last). */
export interface DemoFrameResult {
  source: SourceKind;
  /** The clip frame's file name, or 'image' / 'video' / 'webcam'. */
  frame: string;
  width: number;
  height: number;
  device: DeviceName;
  /** wasm threads (1 for webgpu). */
  threads: number;
  /** The wasm build or the WebGPU adapter. */
  backendInfo: string;
  movenet: MoveNetChoice;
  paper: string;
  crossOriginIsolated: boolean;
  /** Milliseconds of the networks (crops, forward, read-back, decoding): total and per stage. */
  ms: { total: number; detect: number; refine: number; paper: number };
  /** Live tensors after the frame (the models' weights and nothing else: the same after every frame of the same settings). */
  tensors: number;
  persons: DemoPerson[];
}

/** The test hook: window.__posegrad. */
export interface PosegradDemoApi {
  /** Resolves when the page has its manifest and controls (rejects with the page's error). */
  ready: Promise<void>;
  /** The last processed frame. */
  last: DemoFrameResult | null;
  /** The last error shown on the page, or null. */
  error: string | null;
  /** Pauses, selects the bundled clip, applies `settings`, resets the tracker and processes clip frame `index` (0-based). */
  runClipFrame(index: number, settings?: Partial<Settings>): Promise<DemoFrameResult>;
  settings(): Settings;
}

declare global {
  interface Window {
    __posegrad?: PosegradDemoApi;
  }
}

// ----------------------------------------------------------------------------------- page

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`web demo: expected #${id} in index.html, got none`);
  return el as T;
};
const ui = {
  source: $<HTMLSelectElement>('source'),
  file: $<HTMLInputElement>('file'),
  backend: $<HTMLSelectElement>('backend'),
  movenet: $<HTMLSelectElement>('movenet'),
  paper: $<HTMLSelectElement>('paper'),
  play: $<HTMLButtonElement>('play'),
  step: $<HTMLButtonElement>('step'),
  status: $<HTMLParagraphElement>('status'),
  view: $<HTMLCanvasElement>('view'),
  ms: $<HTMLTableCellElement>('ms'),
  msParts: $<HTMLTableCellElement>('ms-parts'),
  frame: $<HTMLTableCellElement>('frame'),
  backendInfo: $<HTMLTableCellElement>('backend-info'),
  people: $<HTMLTableCellElement>('people'),
  paperNote: $<HTMLParagraphElement>('paper-note'),
  video: $<HTMLVideoElement>('video'),
};

const MAX_SIDE = 960;
const HISTORY = 8;
const MIN_KEYPOINT_SCORE = 0.3;
const query = new URLSearchParams(location.search);

function status(msg: string, isError = false): void {
  ui.status.textContent = msg;
  ui.status.classList.toggle('error', isError);
  if (isError) api.error = msg;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

// ----------------------------------------------------------------------------------- sources

interface Frame {
  image: RgbaImage;
  name: string;
  /** A new sequence starts here (the clip looped, a new file): the tracker and the frame history restart. */
  restart: boolean;
}

interface FrameSource {
  kind: SourceKind;
  /** A still image: playing stops after one frame. */
  still: boolean;
  next(): Promise<Frame>;
  stop(): void;
}

/** An RgbaImage from whatever a canvas can draw, at most MAX_SIDE px on the longer side. */
function grab(el: CanvasImageSource, w: number, h: number): RgbaImage {
  const s = Math.min(1, MAX_SIDE / Math.max(w, h));
  const W = Math.max(1, Math.round(w * s));
  const H = Math.max(1, Math.round(h * s));
  const c = document.createElement('canvas');
  c.width = W;
  c.height = H;
  const ctx = c.getContext('2d', { willReadFrequently: true })!;
  ctx.drawImage(el, 0, 0, W, H);
  const d = ctx.getImageData(0, 0, W, H);
  return { width: W, height: H, channels: 4, data: new Uint8Array(d.data.buffer, d.data.byteOffset, d.data.byteLength) };
}

/** The bundled clip: its JPEG bytes decoded by posegrad (jpeg-js), the same pixels as the Node demo. */
class ClipSource implements FrameSource {
  readonly kind = 'clip';
  readonly still = false;
  private frames = new Map<number, Promise<RgbaImage>>();
  private index = -1;
  private restartNext = true;

  constructor(private readonly urls: readonly string[]) {}

  frameAt(i: number): Promise<RgbaImage> {
    let p = this.frames.get(i);
    if (!p) {
      p = fetch(this.urls[i]!).then(async (r) => {
        if (!r.ok) throw new Error(`${this.urls[i]}: expected the clip frame, got HTTP ${r.status}`);
        return decodeImage(new Uint8Array(await r.arrayBuffer()));
      });
      p.catch(() => this.frames.delete(i));
      this.frames.set(i, p);
    }
    return p;
  }

  /** The next next() returns frame i as the start of a sequence. */
  seek(i: number): void {
    this.index = i - 1;
    this.restartNext = true;
  }

  async next(): Promise<Frame> {
    const i = (this.index = (this.index + 1) % this.urls.length);
    const restart = this.restartNext || i === 0;
    this.restartNext = false;
    return { image: await this.frameAt(i), name: this.urls[i]!.split('/').pop()!, restart };
  }

  stop(): void {}
}

class ImageSource implements FrameSource {
  readonly kind = 'file';
  readonly still = true;
  constructor(private readonly image: RgbaImage) {}
  async next(): Promise<Frame> {
    return { image: this.image, name: 'image', restart: true };
  }
  stop(): void {}
}

/** Seconds of video between two frames of a video file (10 frames per second, the bundled clip's rate). */
const VIDEO_STEP = 0.1;

/**
 * A <video>: a file is stepped through VIDEO_STEP seconds at a time (paused, seeking), so that the
 * tracker sees evenly spaced frames however slow the networks are; the webcam (or a file without a
 * known duration) plays live and each next() takes the frame showing now.
 */
class VideoSource implements FrameSource {
  readonly still = false;
  private first = true;

  private constructor(readonly kind: 'file' | 'webcam', private readonly video: HTMLVideoElement, private readonly stepped: boolean, private readonly release: () => void) {}

  static async open(kind: 'file' | 'webcam', video: HTMLVideoElement, src: MediaStream | string, release: () => void): Promise<VideoSource> {
    video.pause();
    if (typeof src === 'string') {
      video.srcObject = null;
      video.src = src;
      video.loop = true;
    } else {
      video.removeAttribute('src');
      video.srcObject = src;
      video.loop = false;
    }
    await new Promise<void>((ok, fail) => {
      video.onloadeddata = () => ok();
      video.onerror = () => fail(new Error(`expected a video the browser can play, got an error (${video.error?.message || `code ${video.error?.code}`})`));
      if (video.readyState >= 2) ok();
    });
    const stepped = kind === 'file' && Number.isFinite(video.duration) && video.duration > 0;
    if (!stepped) await video.play();
    return new VideoSource(kind, video, stepped, release);
  }

  private seek(t: number): Promise<void> {
    return new Promise((ok) => {
      this.video.addEventListener('seeked', () => ok(), { once: true });
      this.video.currentTime = t;
    });
  }

  async next(): Promise<Frame> {
    let restart = this.first;
    if (this.stepped) {
      let t = this.first ? 0 : this.video.currentTime + VIDEO_STEP;
      if (t > this.video.duration - 1e-3) {
        t = 0;
        restart = true;
      }
      await this.seek(t);
    } else if (this.video.paused) {
      await this.video.play().catch(() => {});
    }
    this.first = false;
    const name = this.kind === 'webcam' ? 'webcam' : `video at ${this.video.currentTime.toFixed(1)} s`;
    return { image: grab(this.video, this.video.videoWidth, this.video.videoHeight), name, restart };
  }

  pause(): void {
    if (!this.stepped) this.video.pause();
  }

  stop(): void {
    this.video.pause();
    this.video.onloadeddata = null;
    this.video.onerror = null;
    this.release();
  }
}

// ----------------------------------------------------------------------------------- backends and models

let manifest: Manifest;
const wasmThreads = { started: 0 };
const adapterNames = new Map<DeviceName, string>();

function parseBackend(b: BackendChoice): { device: DeviceName; threads: number } {
  return b === 'webgpu' ? { device: 'webgpu', threads: 1 } : { device: 'wasm', threads: b === 'wasm-2' ? 2 : 1 };
}

/** Starts the backend (once). A wasm backend started with other threads needs a new page: init's options hold for the page. */
async function startBackend(choice: BackendChoice): Promise<DeviceName> {
  const { device, threads } = parseBackend(choice);
  if (device === 'wasm') {
    if (wasmThreads.started && wasmThreads.started !== threads) {
      const q = new URLSearchParams(location.search);
      q.set('backend', choice);
      q.set('movenet', ui.movenet.value);
      q.set('paper', ui.paper.value);
      status(`wasm is running with ${wasmThreads.started} thread(s); reloading the page for ${threads}…`);
      location.search = q.toString();
      throw new Error(`wasm: reloading the page for ${threads} thread(s)`);
    }
    const be = (await init('wasm', { threads, wasmPaths: new URL(manifest.wasmDir, location.href).href })) as unknown as { moduleFile?: string; threads?: number };
    wasmThreads.started = threads;
    adapterNames.set('wasm', `${be.moduleFile ?? 'wasm'}, ${be.threads ?? threads} thread${(be.threads ?? threads) > 1 ? 's' : ''}`);
  } else {
    const be = (await init('webgpu', { powerPreference: 'high-performance' })) as unknown as { rt?: { adapterName?: string } };
    adapterNames.set('webgpu', be.rt?.adapterName ?? 'WebGPU');
  }
  return device;
}

const bytesCache = new Map<string, Promise<Uint8Array>>();

function fetchBytes(url: string, what: string): Promise<Uint8Array> {
  let p = bytesCache.get(url);
  if (!p) {
    p = (async () => {
      status(`downloading ${what}…`);
      const r = await fetch(url);
      if (!r.ok) throw new Error(`${url}: expected ${what}, got HTTP ${r.status}`);
      return new Uint8Array(await r.arrayBuffer());
    })();
    p.catch(() => bytesCache.delete(url));
    bytesCache.set(url, p);
  }
  return p;
}

const moveNets = new Map<string, Promise<movenet.MoveNet>>();

/** A MoveNet on `device` (each backend holds its own copy of the weights). */
function getMoveNet(variant: 'multipose' | 'thunder' | 'lightning', device: DeviceName): Promise<movenet.MoveNet> {
  const key = `${variant}@${device}`;
  let p = moveNets.get(key);
  if (!p) {
    p = (async () => {
      const f = manifest.movenet[variant];
      const bytes = await fetchBytes(f.url, `MoveNet ${variant} (${(f.bytes / 1e6).toFixed(1)} MB)`);
      status(`loading MoveNet ${variant} on ${device}…`);
      return movenet.moveNetFromSafetensors(bytes, f.url).toAsync(device);
    })();
    p.catch(() => moveNets.delete(key));
    moveNets.set(key, p);
  }
  return p;
}

/** A paper network built from its weights file, with how to feed it. */
interface PaperNet {
  id: string;
  label: string;
  /** [width, height] of the network input. */
  inputSize: [number, number];
  jointSet: JointSet;
  /** The frames of the window, as indices into the history (length n, newest last = the key frame). */
  window(n: number): number[];
  /** clip [P, T, 3, H, W] (ImageNet-normalized crops) → heatmaps [P, K, h, w] of the key frame. */
  run(clip: Tensor): Tensor;
}

const LABELS: Record<string, string> = { RPSTN: 'RPSTN', FaSRnet: 'FaSRnet', VREMD: 'VREMD', GLPose: 'GLPose' };

function buildPaperNet(entry: Manifest['papers'][number], bytes: Uint8Array, device: DeviceName): Promise<PaperNet> {
  const { module, metadata } = moduleFromSafetensors(bytes, entry.url);
  const name = metadata['posegrad.module'] ?? '';
  const cfg = JSON.parse(metadata['posegrad.config'] ?? '{}');
  const label = `${LABELS[name] ?? name} '${entry.preset}'`;
  const frameOf = (clip: Tensor, t: number): Tensor => {
    const [P, , C, H, W] = clip.shape as [number, number, number, number, number];
    return reshape(slice(clip, 1, t, t + 1), [P, C, H, W]);
  };
  // [t-1, t, t+1] with the newest frame as t: t+1 is not there yet, so it repeats t (as at a clip's end).
  const prevCurNext = (n: number): number[] => [Math.max(0, n - 2), n - 1, n - 1];
  const base = { id: entry.id, label, jointSet: POSETRACK };
  const m = module as unknown as {
    forward(x: unknown): Tensor & { hFinal: Tensor };
    forwardFrames(x: Tensor): Tensor;
  };
  const on = (net: PaperNet): Promise<PaperNet> => module.toAsync(device).then(() => net);
  switch (name) {
    case 'RPSTN': {
      const T: number = cfg.numFrames;
      return on({
        ...base,
        inputSize: [cfg.inputSize[0], cfg.inputSize[1]],
        window: (n) => Array.from({ length: T }, (_, j) => Math.max(0, n - T + j)),
        run: (clip) => {
          const out = m.forward(clip) as Tensor; // [P, T, K, h, w]
          const [P, Tn, K, h, w] = out.shape as [number, number, number, number, number];
          return reshape(slice(out, 1, Tn - 1, Tn), [P, K, h, w]);
        },
      });
    }
    case 'FaSRnet':
      return on({ ...base, inputSize: [cfg.inputSize[0], cfg.inputSize[1]], window: prevCurNext, run: (clip) => m.forward({ prev: frameOf(clip, 0), cur: frameOf(clip, 1), next: frameOf(clip, 2) }).hFinal });
    case 'VREMD': {
      const [h, w] = cfg.backbone.imgSize as [number, number];
      return on({ ...base, inputSize: [w, h], window: prevCurNext, run: (clip) => m.forward({ frames: clip }) as Tensor });
    }
    case 'GLPose':
      return on({
        ...base,
        inputSize: [cfg.inputSize[0], cfg.inputSize[1]],
        window: (n) => glpose.glposeWindows(n, cfg)[n - 1]!.frames,
        run: (clip) => m.forwardFrames(clip),
      });
    default:
      module.dispose();
      throw new Error(`${entry.url}: expected an RPSTN, FaSRnet, VREMD or GLPose weights file, got module '${name}'`);
  }
}

const paperNets = new Map<string, Promise<PaperNet>>();

function getPaperNet(id: string, device: DeviceName): Promise<PaperNet> {
  const key = `${id}@${device}`;
  let p = paperNets.get(key);
  if (!p) {
    p = (async () => {
      const entry = manifest.papers.find((e) => e.id === id);
      if (!entry) throw new Error(`paper network: expected one of [${manifest.papers.map((e) => e.id).join(', ')}], got '${id}'`);
      const bytes = await fetchBytes(entry.url, `${entry.id} (${(entry.bytes / 1e3).toFixed(0)} kB)`);
      status(`loading ${entry.id} on ${device}…`);
      return buildPaperNet(entry, bytes, device);
    })();
    p.catch(() => paperNets.delete(key));
    paperNets.set(key, p);
  }
  return p;
}

// ----------------------------------------------------------------------------------- processing

const tracker = new PoseTracker({ metric: 'iou' });
let frameNumber = 0;
let history: RgbaImage[] = [];
const recentMs: number[] = [];

/** The paper network's keypoints for each tracked person (crops around MoveNet's boxes over the window's frames). */
async function runPaper(net: PaperNet, persons: readonly { box: readonly number[] }[], device: DeviceName): Promise<Point[][]> {
  if (persons.length === 0) return [];
  const frames = net.window(history.length).map((i) => history[i]!);
  const [W, H] = net.inputSize;
  const crops: CenterScale[] = persons.map((p) => boxToCenterScale(p.box, W / H, { padding: 1.25 }));
  const P = persons.length;
  const T = frames.length;
  const plane = 3 * H * W;
  const host = new Float32Array(P * T * plane);
  crops.forEach((cs, p) => frames.forEach((f, t) => host.set(cropPersonArray(f, cs, [W, H]), (p * T + t) * plane)));
  const out = noGrad(() => tidy(() => net.run(tensor(host, { shape: [P, T, 3, H, W], device }))));
  try {
    const data = await out.data();
    return getFinalPreds(data, out.shape, { crops }).map((kps) => kps.map((k) => ({ x: k.x, y: k.y, score: k.score })));
  } finally {
    out.dispose();
  }
}

async function processFrame(source: SourceKind, frame: Frame, s: Settings): Promise<DemoFrameResult> {
  const device = await startBackend(s.backend);
  const detector = await getMoveNet('multipose', device);
  const refiner = s.movenet === 'multipose' ? null : await getMoveNet(s.movenet, device);
  const net = s.paper === 'none' ? null : await getPaperNet(s.paper, device);
  if (frame.restart) {
    tracker.reset();
    frameNumber = 0;
    history = [];
  }
  history.push(frame.image);
  if (history.length > HISTORY) history.shift();
  status(`running on ${device}…`);

  const pipeline = new movenet.MoveNetPipeline(detector, refiner, { detectorMaxSize: 512, minPersonScore: 0.2, cropPadding: 1.25 });
  const t0 = performance.now();
  const detected = await pipeline.detect(frame.image, device);
  const t1 = performance.now();
  let people = detected.map((p) => ({ box: p.box!, score: p.score, keypoints: p.keypoints as Point[] }));
  if (refiner && people.length > 0) {
    const refined = await pipeline.refine(frame.image, people.map((p) => p.box), device);
    people = people.map((p, k) => ({ ...p, keypoints: refined[k]!.keypoints }));
  }
  const t2 = performance.now();
  const tracked = tracker.update(people, frameNumber++);
  const paper = net ? await runPaper(net, tracked, device) : null;
  const t3 = performance.now();

  const persons: DemoPerson[] = tracked.map((p, i) => ({
    trackId: p.trackId,
    score: p.score,
    box: [...p.box] as [number, number, number, number],
    keypoints: p.keypoints.map((k) => ({ x: k.x, y: k.y, score: k.score })),
    ...(paper ? { paper: paper[i]! } : {}),
  }));
  const { threads } = parseBackend(s.backend);
  return {
    source,
    frame: frame.name,
    width: frame.image.width,
    height: frame.image.height,
    device,
    threads: device === 'wasm' ? threads : 1,
    backendInfo: adapterNames.get(device) ?? device,
    movenet: s.movenet,
    paper: s.paper,
    crossOriginIsolated: globalThis.crossOriginIsolated === true,
    ms: { total: t3 - t0, detect: t1 - t0, refine: t2 - t1, paper: t3 - t2 },
    tensors: memory().numTensors,
    persons,
  };
}

// ----------------------------------------------------------------------------------- drawing

const css = (c: readonly number[], a = 1): string => `rgba(${c[0]}, ${c[1]}, ${c[2]}, ${a})`;

function drawSkeleton(ctx: CanvasRenderingContext2D, kps: readonly Point[], set: JointSet, colour: readonly number[], width: number, minScore: number, dashed: boolean): void {
  const ok = (j: number): boolean => set.used[j] === true && kps[j] !== undefined && kps[j]!.score >= minScore && Number.isFinite(kps[j]!.x + kps[j]!.y);
  ctx.setLineDash(dashed ? [width * 2.5, width * 1.8] : []);
  ctx.lineCap = 'round';
  for (const pass of [0, 1]) {
    // a dark halo first, so that the colour reads on any background
    ctx.strokeStyle = pass === 0 ? 'rgba(0, 0, 0, 0.55)' : css(colour);
    ctx.lineWidth = pass === 0 ? width + 2 : width;
    ctx.beginPath();
    for (const [a, b] of set.skeleton) {
      if (!ok(a) || !ok(b)) continue;
      ctx.moveTo(kps[a]!.x, kps[a]!.y);
      ctx.lineTo(kps[b]!.x, kps[b]!.y);
    }
    ctx.stroke();
  }
  ctx.setLineDash([]);
  for (let j = 0; j < kps.length; j++) {
    if (!ok(j)) continue;
    ctx.beginPath();
    ctx.arc(kps[j]!.x, kps[j]!.y, width * 1.1, 0, 2 * Math.PI);
    if (dashed) {
      ctx.strokeStyle = css(colour);
      ctx.lineWidth = Math.max(1, width / 2);
      ctx.stroke();
    } else {
      ctx.fillStyle = css(colour);
      ctx.fill();
      ctx.strokeStyle = 'rgba(0, 0, 0, 0.6)';
      ctx.lineWidth = 1;
      ctx.stroke();
    }
  }
}

function draw(image: RgbaImage, res: DemoFrameResult): void {
  const c = ui.view;
  if (c.width !== image.width || c.height !== image.height) {
    c.width = image.width;
    c.height = image.height;
  }
  const ctx = c.getContext('2d')!;
  ctx.putImageData(new ImageData(new Uint8ClampedArray(image.data), image.width, image.height), 0, 0);
  const line = Math.max(2, Math.round(Math.max(image.width, image.height) / 300));
  for (const p of res.persons) {
    const colour = trackColour(p.trackId);
    ctx.strokeStyle = css(colour, 0.8);
    ctx.lineWidth = 1;
    ctx.strokeRect(p.box[0], p.box[1], p.box[2], p.box[3]);
    if (p.paper) drawSkeleton(ctx, p.paper, POSETRACK, colour, Math.max(1, line - 1), 0, true);
    drawSkeleton(ctx, p.keypoints, COCO17, colour, line, MIN_KEYPOINT_SCORE, false);
    const label = `#${p.trackId}`;
    ctx.font = `bold ${Math.max(11, line * 5)}px system-ui, sans-serif`;
    const tw = ctx.measureText(label).width;
    const ty = Math.max(0, p.box[1] - line * 6);
    ctx.fillStyle = 'rgba(0, 0, 0, 0.6)';
    ctx.fillRect(p.box[0], ty, tw + 6, line * 6);
    ctx.fillStyle = css(colour);
    ctx.textBaseline = 'top';
    ctx.fillText(label, p.box[0] + 3, ty + 1);
  }
}

let statsKey = '';

function showStats(res: DemoFrameResult): void {
  // the mean covers the frames of the current settings only
  const key = `${res.source}|${res.device}|${res.threads}|${res.movenet}|${res.paper}`;
  if (key !== statsKey) recentMs.length = 0;
  statsKey = key;
  recentMs.push(res.ms.total);
  if (recentMs.length > 10) recentMs.shift();
  const mean = recentMs.reduce((a, b) => a + b, 0) / recentMs.length;
  ui.ms.textContent = `${mean.toFixed(0)} ms`;
  ui.ms.title = `this frame: ${res.ms.total.toFixed(1)} ms`;
  const n = res.persons.length;
  const refiner = res.movenet === 'multipose' ? '' : ` · ${res.movenet[0]!.toUpperCase()}${res.movenet.slice(1)} ${res.ms.refine.toFixed(0)} (${n} crop${n === 1 ? '' : 's'})`;
  const paper = res.paper === 'none' ? '' : ` · ${res.paper} ${res.ms.paper.toFixed(0)}`;
  ui.msParts.textContent = `MultiPose ${res.ms.detect.toFixed(0)}${refiner}${paper} (this frame, ms)`;
  ui.frame.textContent = `${res.frame}, ${res.width}×${res.height}`;
  ui.backendInfo.textContent = `${res.device}: ${res.backendInfo}${res.device === 'wasm' && !res.crossOriginIsolated ? ' (not cross-origin isolated)' : ''}`;
  ui.people.textContent = n === 0 ? 'nobody found' : res.persons.map((p) => `#${p.trackId} (${p.score.toFixed(2)})`).join(', ');
}

// ----------------------------------------------------------------------------------- control

let clip: ClipSource;
let source: FrameSource;
let playing = false;
let looping = false;
let chain: Promise<unknown> = Promise.resolve();

/** Runs `f` after everything queued before it (one frame at a time). */
function exclusive<T>(f: () => Promise<T>): Promise<T> {
  const p = chain.then(f);
  chain = p.catch(() => {});
  return p;
}

function settings(): Settings {
  return { backend: ui.backend.value as BackendChoice, movenet: ui.movenet.value as MoveNetChoice, paper: ui.paper.value };
}

function step(): Promise<DemoFrameResult> {
  return exclusive(async () => {
    const src = source;
    const frame = await src.next();
    const res = await processFrame(src.kind, frame, settings());
    draw(frame.image, res);
    showStats(res);
    api.last = res;
    api.error = null;
    status(`${res.device}${res.device === 'wasm' ? ` (${res.threads} thread${res.threads > 1 ? 's' : ''})` : ''}: ${res.persons.length} ${res.persons.length === 1 ? 'person' : 'people'} in ${res.frame}${playing ? '' : ' (paused)'}`);
    return res;
  });
}

function setPlaying(on: boolean): void {
  playing = on;
  ui.play.textContent = on ? 'Pause' : 'Play';
  if (!on && source instanceof VideoSource) source.pause();
  if (on && !looping) void loop();
}

async function loop(): Promise<void> {
  looping = true;
  try {
    await frames();
  } finally {
    looping = false;
  }
}

async function frames(): Promise<void> {
  while (playing) {
    const t0 = performance.now();
    try {
      await step();
    } catch (e) {
      status(errorText(e), true);
      setPlaying(false);
      return;
    }
    if (source.still) {
      setPlaying(false);
      return;
    }
    // the clip and video files are 10 frames per second: no faster than that; the webcam as fast as it goes
    const wait = source.kind === 'webcam' ? 0 : Math.max(0, 1000 * VIDEO_STEP - (performance.now() - t0));
    await new Promise((r) => setTimeout(r, wait));
  }
}

function useSource(next: FrameSource): void {
  if (source !== next) source?.stop();
  source = next;
}

/** The source selector: the clip at once; 'file' shows the file input; the webcam after the browser's permission prompt. */
async function onSourceChange(): Promise<void> {
  const kind = ui.source.value as SourceKind;
  ui.file.hidden = kind !== 'file';
  if (kind === 'clip') {
    clip.seek(0);
    useSource(clip);
    setPlaying(true);
  } else if (kind === 'file') {
    setPlaying(false);
    status('choose a video or an image file');
  } else {
    setPlaying(false);
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 960 } }, audio: false });
      useSource(await VideoSource.open('webcam', ui.video, stream, () => stream.getTracks().forEach((t) => t.stop())));
      setPlaying(true);
    } catch (e) {
      status(`webcam: ${errorText(e)}`, true);
    }
  }
}

async function onFile(file: File): Promise<void> {
  setPlaying(false);
  try {
    if (file.type.startsWith('image/')) {
      const bmp = await createImageBitmap(file);
      const img = grab(bmp, bmp.width, bmp.height);
      bmp.close();
      useSource(new ImageSource(img));
    } else {
      const url = URL.createObjectURL(file);
      try {
        useSource(await VideoSource.open('file', ui.video, url, () => URL.revokeObjectURL(url)));
      } catch (e) {
        URL.revokeObjectURL(url);
        throw e;
      }
    }
    setPlaying(true);
  } catch (e) {
    status(`${file.name}: ${errorText(e)}`, true);
  }
}

function updatePaperNote(): void {
  const entry = manifest.papers.find((e) => e.id === ui.paper.value);
  ui.paperNote.hidden = !entry;
  if (!entry) return;
  const all = entry.info.mAP?.all;
  ui.paperNote.textContent =
    entry.preset === 'real'
      ? `${entry.model} '${entry.preset}': weights trained on real video (see the package's docs/training.md); dashed skeletons.`
      : `${entry.model} '${entry.preset}': these weights were trained on synthetic SynthPose clips only${all !== undefined ? ` (validation mAP ${all.toFixed(1)} there)` : ''}; ` +
        'on real frames their keypoints are not meaningful. The dashed skeletons show the network running on this backend, not good poses. ' +
        'No pretrained weights of the four papers exist yet.';
}

async function setup(): Promise<void> {
  const r = await fetch('manifest.json');
  if (!r.ok) throw new Error(`manifest.json: expected the demo's manifest (written by npm run web), got HTTP ${r.status}`);
  manifest = (await r.json()) as Manifest;
  clip = new ClipSource(manifest.clip);
  source = clip;

  for (const e of manifest.papers) {
    const o = document.createElement('option');
    o.value = e.id;
    o.textContent = `${LABELS[e.module] ?? e.model} (${e.preset}, ${e.preset === 'real' ? 'real-video' : 'synthetic'} weights)`;
    ui.paper.append(o);
  }

  // backends: WebGPU when there is an adapter (preferred unless it is a software one, such as
  // SwiftShader, far slower than wasm), wasm threads when the page is cross-origin isolated
  type AdapterInfo = { vendor?: string; architecture?: string; description?: string; isFallbackAdapter?: boolean };
  const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  const adapter = (gpu ? await gpu.requestAdapter().catch(() => null) : null) as { info?: AdapterInfo; isFallbackAdapter?: boolean } | null;
  const info: AdapterInfo = adapter?.info ?? {};
  const adapterName = [info.vendor, info.architecture || info.description].filter(Boolean).join(' / ');
  const software = adapter !== null && (adapter.isFallbackAdapter === true || info.isFallbackAdapter === true || /swiftshader|llvmpipe|lavapipe|software/i.test(adapterName));
  const isolated = globalThis.crossOriginIsolated === true;
  const opt = (v: string): HTMLOptionElement | null => ui.backend.querySelector<HTMLOptionElement>(`option[value="${v}"]`);
  if (!adapter) {
    opt('webgpu')!.disabled = true;
    opt('webgpu')!.textContent = 'WebGPU (no adapter in this browser)';
  } else if (software) {
    opt('webgpu')!.textContent = 'WebGPU (software adapter, slow)';
    opt('webgpu')!.title = `${adapterName || 'a fallback adapter'}: WebGPU emulated on the CPU, far slower than wasm`;
  }
  if (!isolated) {
    opt('wasm-2')!.disabled = true;
    opt('wasm-2')!.textContent = 'wasm, 2 threads (needs cross-origin isolation)';
  }
  const wanted = query.get('backend');
  const wasmDefault: BackendChoice = isolated && navigator.hardwareConcurrency > 1 ? 'wasm-2' : 'wasm-1';
  ui.backend.value = wanted && opt(wanted) && !opt(wanted)!.disabled ? wanted : adapter && !software ? 'webgpu' : wasmDefault;
  const mv = query.get('movenet');
  if (mv && ['thunder', 'lightning', 'multipose'].includes(mv)) ui.movenet.value = mv;
  const pp = query.get('paper');
  if (pp && manifest.papers.some((e) => e.id === pp)) ui.paper.value = pp;
  updatePaperNote();

  // the webcam option only where there is a camera
  const media = navigator.mediaDevices as MediaDevices | undefined; // absent outside secure contexts
  const devices = media && typeof media.getUserMedia === 'function' ? await media.enumerateDevices().catch(() => []) : [];
  ui.source.querySelector<HTMLOptionElement>('option[value="webcam"]')!.hidden = !devices.some((d) => d.kind === 'videoinput');

  ui.source.addEventListener('change', () => void onSourceChange());
  ui.file.addEventListener('change', () => {
    const f = ui.file.files?.[0];
    if (f) void onFile(f);
  });
  ui.paper.addEventListener('change', updatePaperNote);
  ui.play.addEventListener('click', () => setPlaying(!playing));
  ui.step.addEventListener('click', () => {
    setPlaying(false);
    step().catch((e) => status(errorText(e), true));
  });
  for (const sel of [ui.backend, ui.movenet, ui.paper]) {
    sel.addEventListener('change', () => {
      if (!playing) step().catch((e) => status(errorText(e), true));
    });
  }
  status(`posegrad ${manifest.version}: ready`);
}

const api: PosegradDemoApi = {
  ready: Promise.resolve(),
  last: null,
  error: null,
  settings,
  async runClipFrame(index, s = {}) {
    setPlaying(false);
    await chain;
    if (s.backend) ui.backend.value = s.backend;
    if (s.movenet) ui.movenet.value = s.movenet;
    if (s.paper) ui.paper.value = s.paper;
    updatePaperNote();
    if ((s.backend && ui.backend.value !== s.backend) || (s.movenet && ui.movenet.value !== s.movenet) || (s.paper && ui.paper.value !== s.paper)) {
      throw new Error(`runClipFrame: expected settings the page offers, got ${JSON.stringify(s)}`);
    }
    ui.source.value = 'clip';
    ui.file.hidden = true;
    useSource(clip);
    clip.seek(index);
    return step();
  },
};
window.__posegrad = api;
api.ready = setup().then(
  () => {
    if (query.get('autoplay') !== '0') setPlaying(true);
  },
  (e) => {
    status(errorText(e), true);
    throw e;
  },
);
api.ready.catch(() => {});
