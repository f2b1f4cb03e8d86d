/**
 * The page of the consumer test (test/browser/consumer.test.ts), bundled from a fresh project that
 * installed the packed posegrad tarball: everything comes from `import ... from 'posegrad'`.
 *
 * `?device=wasm&threads=N` or `?device=webgpu` picks the backend. The page seeds a small network
 * (conv → batch norm → relu → max pool → bilinear upsampling → conv → flatten → linear → softmax,
 * plus a matmul), runs it on cpu and on that device, and publishes both outputs and the
 * differences as `window.posegradConsumer` (a promise). It also round-trips an image through the
 * PNG and JPEG codecs, which must work without Node's Buffer. It never falls back to another
 * backend: a failure to start is reported with the library's error message.
 */
import {
  conv2d, createImage, decodeImage, encodeJpeg, encodePng, engine, flatten, init, interpolate, linear, manualSeed, matmul,
  maxPool2d, mul, nn, noGrad, randn, softmax,
} from 'posegrad';

function maxAbsDiff(a, b) {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function maxAbs(a) {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** The network and its inputs, seeded: the same values on every backend. */
function build() {
  manualSeed(11);
  const block = new nn.Sequential(new nn.Conv2d(3, 8, 3, { padding: 1 }), new nn.BatchNorm2d(8), new nn.ReLU());
  block.eval();
  return {
    block,
    w2: mul(randn([4, 8, 3, 3]), 0.2),
    fc: mul(randn([10, 4 * 32 * 32]), 0.01),
    a: randn([33, 47]),
    b: randn([47, 29]),
    x: randn([2, 3, 32, 32]),
  };
}

/** The forward: returns the map drawn on the canvas, the class probabilities and a matmul. */
function forward(m, device) {
  m.block.to(device);
  return noGrad(() => {
    const x = m.x.to(device);
    let y = m.block.forward(x);                                           // [2, 8, 32, 32]
    y = maxPool2d(y, 2);                                                  // [2, 8, 16, 16]
    y = interpolate(y, { scaleFactor: 2, mode: 'bilinear' });             // [2, 8, 32, 32]
    const map = conv2d(y, m.w2.to(device), null, { padding: 1 });         // [2, 4, 32, 32]
    const probs = softmax(linear(flatten(map, 1), m.fc.to(device)), 1);   // [2, 10]
    const mm = matmul(m.a.to(device), m.b.to(device));                    // [33, 29]
    return { map, probs, mm };
  });
}

async function values(out) {
  return {
    map: Array.from(await out.map.data()),
    probs: Array.from(await out.probs.data()),
    mm: Array.from(await out.mm.data()),
    devices: [...new Set([out.map.device, out.probs.device, out.mm.device])],
  };
}

function draw(id, map) {
  const canvas = document.getElementById(id);
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(32, 32);
  const plane = map.slice(0, 32 * 32);
  const lo = Math.min(...plane);
  const hi = Math.max(...plane);
  for (let i = 0; i < plane.length; i++) {
    const v = Math.round((255 * (plane[i] - lo)) / (hi - lo || 1));
    img.data.set([v, Math.round(v * 0.6), 255 - v, 255], i * 4);
  }
  ctx.putImageData(img, 0, 0);
}

/** PNG and JPEG round trips in the browser (fast-png; jpeg-js without Buffer). */
function codecs() {
  const img = createImage(6, 5, [10, 200, 30, 255]);
  img.data[4] = 99; // the red of the second pixel (JPEG keeps no alpha)
  const png = decodeImage(encodePng(img));
  const jpg = decodeImage(encodeJpeg(img, 95));
  return {
    pngExact: png.width === 6 && png.height === 5 && maxAbsDiff(png.data, img.data) === 0,
    jpegMaxDiff: jpg.width === 6 && jpg.height === 5 ? maxAbsDiff(jpg.data, img.data) : 999,
    bufferLeftUndefined: typeof globalThis.Buffer === 'undefined',
  };
}

function show(res) {
  const status = document.getElementById('status');
  status.textContent = res.ok
    ? `ok: ${res.bundler} bundle, ${res.device}${res.device === 'wasm' ? ` (${res.threads} thread${res.threads > 1 ? 's' : ''}, ${res.moduleFile})` : ` (${res.adapter})`}, matches cpu`
    : `FAILED at ${res.stage}: ${res.error}`;
  const rows = res.ok
    ? [
        ['bundler', res.bundler], ['device', res.device], ['backend', res.device === 'wasm' ? `${res.moduleFile}, ${res.threads} thread(s)` : res.adapter],
        ['crossOriginIsolated', String(res.crossOriginIsolated)], ['max |Δ| map (vs cpu)', res.diff.map.toExponential(2)],
        ['max |Δ| probs', res.diff.probs.toExponential(2)], ['max |Δ| matmul', res.diff.mm.toExponential(2)],
        ['PNG exact / JPEG max |Δ|', `${res.codecs.pngExact} / ${res.codecs.jpegMaxDiff}`], ['init / forward ms', `${res.ms.init.toFixed(0)} / ${res.ms.forward.toFixed(0)}`],
      ]
    : [['stage', res.stage], ['error', res.error]];
  document.getElementById('results').innerHTML = rows.map(([k, v]) => `<tr><th>${k}</th><td>${v}</td></tr>`).join('');
}

export function run(bundler, options) {
  const q = new URLSearchParams(location.search);
  const device = q.get('device') ?? 'wasm';
  const threads = Number(q.get('threads') ?? '1');
  const base = { bundler, device, threads, crossOriginIsolated: globalThis.crossOriginIsolated === true };
  window.posegradConsumer = (async () => {
    let stage = 'init';
    try {
      const t0 = performance.now();
      const backend = await init(device, device === 'wasm' ? { threads, ...(options.wasmPaths ? { wasmPaths: options.wasmPaths } : {}) } : { powerPreference: 'high-performance' });
      const tInit = performance.now() - t0;
      stage = 'forward';
      const m = build();
      const cpu = await values(forward(m, 'cpu'));
      const t1 = performance.now();
      const dev = await values(forward(m, device));
      const tFwd = performance.now() - t1;
      draw('cpu', cpu.map);
      draw('device', dev.map);
      document.getElementById('device-label').textContent = `${device}${device === 'wasm' ? `, ${threads} thread${threads > 1 ? 's' : ''}` : ''} (first output channel)`;
      stage = 'codecs';
      const c = codecs();
      return {
        ...base,
        ok: true,
        moduleFile: backend.moduleFile ?? null,
        backendThreads: backend.threads ?? null,
        adapter: backend.rt?.adapterName ?? null,
        devices: dev.devices,
        scale: { map: maxAbs(cpu.map), probs: maxAbs(cpu.probs), mm: maxAbs(cpu.mm) },
        diff: { map: maxAbsDiff(dev.map, cpu.map), probs: maxAbsDiff(dev.probs, cpu.probs), mm: maxAbsDiff(dev.mm, cpu.mm) },
        sizes: { map: dev.map.length, probs: dev.probs.length, mm: dev.mm.length },
        codecs: c,
        registered: engine.registeredBackends(),
        ms: { init: tInit, forward: tFwd },
      };
    } catch (e) {
      return { ...base, ok: false, stage, error: e instanceof Error ? e.message : String(e) };
    }
  })().then((res) => {
    show(res);
    return res;
  });
}
