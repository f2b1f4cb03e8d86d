/**
 * The backend options that a page passes to `init` (WasmBackendOptions, WebGPUBackendOptions),
 * exercised in Node: where the wasm loader finds its builds (`wasmPaths` as a folder path, a file:
 * URL, an http URL or one URL per file; `wasmBinary` as bytes, a map or a compiled module), the
 * errors when they are missing or wrong (an HTTP 404, a dev server's HTML page, a build that does
 * not fit `threads`), init's once-only options, an application's own GPUDevice, and the entries of
 * the package (`posegrad/node`'s file helpers). The browser side is test/browser/consumer.test.ts.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWasmBackend, WASM_FILES, type WasmBackend, type WasmFileName } from '../../backends/wasm/index.js';
import { conv2d } from '../../ops/conv.js';
import { ones } from '../../ops/creation.js';
import * as P from '../../index.js';
import * as N from '../../node.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BUILD = join(ROOT, 'backends', 'wasm', 'build');
const bytesOf = (f: WasmFileName): Uint8Array<ArrayBuffer> => Uint8Array.from(readFileSync(join(BUILD, f)));

const started: WasmBackend[] = [];
async function start(opts: Parameters<typeof createWasmBackend>[0]): Promise<WasmBackend> {
  const be = await createWasmBackend(opts);
  started.push(be);
  return be;
}
afterAll(() => {
  for (const b of started) b.terminate();
});

describe('wasm: where the builds come from', () => {
  let server: Server;
  let url = '';
  beforeAll(async () => {
    server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0]!;
      const m = /^\/wasm\/(posegrad[-a-z]*\.wasm)$/.exec(path);
      if (m && (WASM_FILES as readonly string[]).includes(m[1]!)) {
        res.writeHead(200, { 'content-type': 'application/wasm' }).end(readFileSync(join(BUILD, m[1]!)));
      } else if (path.startsWith('/spa/')) {
        res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><html><body>app</body></html>');
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((ok) => server.close(() => ok())));

  it('the default finds them next to the loader', async () => {
    const be = await start({ relaxedSimd: false });
    expect(be.moduleFile).toBe('posegrad.wasm');
  });

  it('wasmPaths: a folder path, a file: URL, an http URL, or one URL per file', async () => {
    expect((await start({ relaxedSimd: false, wasmPaths: BUILD })).moduleFile).toBe('posegrad.wasm');
    expect((await start({ relaxedSimd: false, wasmPaths: `${BUILD}/` })).moduleFile).toBe('posegrad.wasm');
    expect((await start({ relaxedSimd: false, wasmPaths: pathToFileURL(`${BUILD}/`) })).moduleFile).toBe('posegrad.wasm');
    expect((await start({ relaxedSimd: false, wasmPaths: `${url}/wasm/` })).moduleFile).toBe('posegrad.wasm');
    expect((await start({ relaxedSimd: false, wasmPaths: { 'posegrad.wasm': `${url}/wasm/posegrad.wasm` } })).moduleFile).toBe('posegrad.wasm');
    const threaded = await start({ relaxedSimd: false, threads: 2, wasmPaths: `${url}/wasm` });
    expect([threaded.moduleFile, threaded.threads]).toEqual(['posegrad-threads.wasm', 2]);
  });

  it('a missing build says where it looked and what to set', async () => {
    await expect(start({ relaxedSimd: false, wasmPaths: `${url}/nowhere/` })).rejects.toThrow(
      new RegExp(`^wasm: expected ${url}/nowhere/posegrad\\.wasm to load, got HTTP 404\\. posegrad's \\.wasm files ship in node_modules/posegrad/dist/backends/wasm/build/.*init\\('wasm', \\{ wasmPaths: `),
    );
    await expect(start({ relaxedSimd: false, wasmPaths: `${url}/spa/` })).rejects.toThrow(/^wasm: expected a WebAssembly module \(\\0asm\) at .*\/spa\/posegrad\.wasm, got 44 bytes starting with '<!doctype html><html><bo' \(an HTML page: the server has no such file\)/);
    const empty = mkdtempSync(join(tmpdir(), 'posegrad-wasm-'));
    try {
      await expect(start({ relaxedSimd: false, wasmPaths: empty })).rejects.toThrow(/^wasm: expected .*posegrad\.wasm to be readable, got ENOENT.*wasmPaths/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
    await expect(start({ relaxedSimd: false, wasmPaths: { 'posegrad-relaxed.wasm': `${url}/wasm/posegrad-relaxed.wasm` } })).rejects.toThrow(
      "wasm: expected wasmPaths to name 'posegrad.wasm' (the build this runtime and these options select), got only [posegrad-relaxed.wasm]",
    );
  });

  it('wasmBinary: bytes, an ArrayBuffer, a compiled module, or one per file', async () => {
    const plain = bytesOf('posegrad.wasm');
    expect((await start({ relaxedSimd: false, wasmBinary: plain })).moduleFile).toBe('posegrad.wasm');
    expect((await start({ relaxedSimd: false, wasmBinary: plain.slice().buffer })).moduleFile).toBe('posegrad.wasm');
    expect((await start({ relaxedSimd: false, wasmBinary: await WebAssembly.compile(plain) })).moduleFile).toBe('posegrad.wasm');
    const be = await start({ relaxedSimd: false, threads: 2, wasmBinary: { 'posegrad.wasm': plain, 'posegrad-threads.wasm': bytesOf('posegrad-threads.wasm') } });
    expect(be.moduleFile).toBe('posegrad-threads.wasm');
  });

  it('wasmBinary that is not the selected build, or not wasm, is reported', async () => {
    await expect(start({ relaxedSimd: false, threads: 2, wasmBinary: bytesOf('posegrad.wasm') })).rejects.toThrow(
      /^wasm: expected posegrad-threads\.wasm to link with a shared memory \(threads: 2\), got .* \(wasmBinary holds another build\?\)/,
    );
    await expect(start({ relaxedSimd: false, wasmBinary: new TextEncoder().encode('not wasm at all') })).rejects.toThrow(/^wasm: expected a WebAssembly module \(\\0asm\) at wasmBinary, got 15 bytes starting with 'not wasm at all'/);
    await expect(start({ relaxedSimd: false, wasmBinary: { 'posegrad-threads.wasm': bytesOf('posegrad-threads.wasm') } })).rejects.toThrow(
      "wasm: expected wasmBinary to hold 'posegrad.wasm' (the build this runtime and these options select), got only [posegrad-threads.wasm]",
    );
  });
});

describe('init(device, options)', () => {
  it('passes the options to the backend once, and rejects different ones later', async () => {
    const be = (await P.init('wasm', { relaxedSimd: false, wasmPaths: BUILD })) as WasmBackend;
    expect(be.moduleFile).toBe('posegrad.wasm');
    expect(await P.init('wasm', { relaxedSimd: false, wasmPaths: BUILD })).toBe(be);
    expect(await P.init('wasm')).toBe(be);
    await expect(P.init('wasm', { threads: 2 })).rejects.toThrow(
      `init: expected the options of the first init('wasm') (a backend starts once per page or process), got different ones: { threads: 2 } after { relaxedSimd: false, wasmPaths: ${JSON.stringify(BUILD)} }`,
    );
    // a 3x3 conv of ones over 2 channels of ones (zero padding): 8 at the corners, 12 on the edges
    const y = conv2d(ones([1, 2, 4, 4], { device: 'wasm' }), ones([3, 2, 3, 3], { device: 'wasm' }), null, { padding: 1 });
    expect(Array.from(y.dataSync()).slice(0, 5)).toEqual([8, 12, 12, 8, 12]);
    y.dispose();
  });

  it('threads without SharedArrayBuffer: the Error says why and what to do', async () => {
    const g = globalThis as { SharedArrayBuffer?: unknown; crossOriginIsolated?: boolean };
    const sab = g.SharedArrayBuffer;
    try {
      g.crossOriginIsolated = false;
      await expect(createWasmBackend({ threads: 2 })).rejects.toThrow(/^wasm: expected SharedArrayBuffer for threads: 2, got none \(this page is not cross-origin isolated .*`Cross-Origin-Opener-Policy: same-origin` and `Cross-Origin-Embedder-Policy: require-corp`/);
      delete g.crossOriginIsolated;
      delete g.SharedArrayBuffer;
      await expect(createWasmBackend({ threads: 2 })).rejects.toThrow('wasm: expected SharedArrayBuffer for threads: 2, got none (this runtime has no SharedArrayBuffer; use threads: 1)');
    } finally {
      g.SharedArrayBuffer = sab;
      delete g.crossOriginIsolated;
    }
  });
});

describe('webgpu: an application device', () => {
  it("runs on a GPUDevice that the application made (Node: Dawn's)", async (ctx) => {
    process.env.XDG_RUNTIME_DIR ??= '/tmp';
    let device: GPUDevice;
    try {
      const dawn = (await import('webgpu')) as unknown as { create(flags: string[]): GPU; globals: Record<string, unknown> };
      for (const [k, v] of Object.entries(dawn.globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
      const adapter = await dawn.create([]).requestAdapter();
      if (!adapter) throw new Error('no adapter');
      device = await adapter.requestDevice({ label: 'the application' });
    } catch (e) {
      if (process.env.CI === 'true') throw e;
      console.warn(`[webgpu application device skipped] ${(e as Error).message}`);
      return ctx.skip();
    }
    const { createWebGPUBackend } = await import('../../backends/webgpu/index.js');
    const be = (await createWebGPUBackend({ device })) as import('../../backends/webgpu/index.js').WebGPUBackend;
    expect(be.rt.device).toBe(device);
    expect(be.rt.info.source).toBe('application');
    expect(be.rt.info.gpu).toBeNull();
    const x = be.upload(new Float32Array([1, -2, 3]), 'float32');
    const y = be.unary('relu', { storage: x, shape: [3], dtype: 'float32' }, []);
    expect(Array.from(await be.read({ storage: y, shape: [3], dtype: 'float32' }))).toEqual([1, 0, 3]);
    be.destroy();
  });
});

describe('posegrad/node', () => {
  it('exports everything in posegrad, plus the file helpers', () => {
    for (const k of Object.keys(P)) expect(N, k).toHaveProperty(k);
    for (const k of ['loadCheckpointFile', 'saveSafetensors', 'loadTfjsGraphModelFile', 'saveTrainingCheckpoint', 'loadTrainingCheckpoint', 'readImageFile', 'writeImageFile']) {
      expect(typeof (N as Record<string, unknown>)[k], k).toBe('function');
    }
    expect(N.WASM_FILES).toEqual(WASM_FILES);
    expect(N.wasmFilesDir).toBe(`${BUILD}/`);
  });

  it('readImageFile / writeImageFile round-trip PNG exactly and JPEG closely', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'posegrad-img-'));
    try {
      const img = P.createImage(5, 3, [200, 100, 50, 255]);
      await N.writeImageFile(join(dir, 'a.png'), img);
      expect(Array.from((await N.readImageFile(join(dir, 'a.png'))).data)).toEqual(Array.from(img.data));
      await N.writeImageFile(join(dir, 'a.JPG'), img, 95);
      const j = await N.readImageFile(join(dir, 'a.JPG'));
      expect([j.width, j.height]).toEqual([5, 3]);
      await expect(N.writeImageFile(join(dir, 'a.gif'), img)).rejects.toThrow("writeImageFile: expected a .png, .jpg or .jpeg path, got '");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
