/**
 * `npm run web`: the web demo. Builds the page in web/ against the packed package, as a user of
 * posegrad would, and serves it on 127.0.0.1.
 *
 *   npx tsx cli/web.ts [--port N] [--out DIR] [--rebuild | --no-build]
 *
 * 1. `npm pack` into OUT. Its `prepare` rebuilds dist/ (tsc, ~30 s) when a file dist/ is built from
 *    (index.ts, node.ts, engine/, backends/, ops/, models/, the tsconfigs, package.json,
 *    scripts/copy-assets.mjs) is newer than dist/index.js, or with `--rebuild`; otherwise, and with
 *    `--no-build`, the dist/ that is there is packed (`npm pack --ignore-scripts`).
 * 2. A fresh project, OUT/app, installs the tarball (`npm install --prefer-offline`), and the page's
 *    sources (web/main.ts, index.html, style.css) are copied into it: main.ts imports only from
 *    'posegrad', so it gets the installed package, resolved through its `exports` (`browser`).
 * 3. esbuild bundles OUT/app/main.ts into OUT/site/main.js; the four .wasm builds of the installed
 *    package are copied to OUT/site/wasm/ (the page passes that folder as `init('wasm', { wasmPaths })`);
 *    OUT/site/manifest.json lists the clip's frames and the weights files the page can fetch.
 * 4. A node:http server on 127.0.0.1:PORT (default 5173; `--port 0` picks a free one; it is opened
 *    before step 1, so that a port in use fails at once) serves
 *    OUT/site, plus the bundled clip (assets/demo/*.jpg) and the weights (assets/weights/*.safetensors,
 *    assets/weights/movenet/*.safetensors) straight from the repository, every response with
 *    `Cross-Origin-Opener-Policy: same-origin` and `Cross-Origin-Embedder-Policy: require-corp`:
 *    the page is cross-origin isolated, so wasm can run with 2 threads. It prints the URL and
 *    serves until Ctrl-C (SIGINT) or SIGTERM.
 *
 * OUT defaults to out/web. Exit codes: 0 after a signal; 2 a usage error; 1 a failed build or a
 * port that cannot be opened (one line on stderr).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, relative, resolve, sep } from 'node:path';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { CliError, runCli } from './common.js';

const ROOT = resolve(import.meta.dirname, '..');
const WEB_SRC = join(ROOT, 'web');
const PAGE_FILES = ['index.html', 'main.ts', 'style.css'];
/** The papers' networks the page can run, by the file-name prefix of their weights in assets/weights. */
const PAPER_MODELS = ['rpstn', 'fasrnet', 'vremd', 'glpose'];

const USAGE = `usage: npx tsx cli/web.ts [--port N] [--out DIR] [--rebuild | --no-build]

Builds the web demo (web/) from the packed package and serves it on http://127.0.0.1:PORT/.
  --port N     port (default 5173; 0 picks a free one)
  --out DIR    build folder (default out/web)
  --rebuild    rebuild dist/ before packing (default: only when a source is newer than dist/)
  --no-build   pack the dist/ that is there as it is`;

/** What dist/ is built from (npm run build). */
const BUILD_INPUTS = ['index.ts', 'node.ts', 'package.json', 'tsconfig.json', 'tsconfig.build.json', join('scripts', 'copy-assets.mjs'), 'engine', 'backends', 'ops', 'models'];

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.jpg': 'image/jpeg',
  '.png': 'image/png',
  '.safetensors': 'application/octet-stream',
};

/** What the page reads from manifest.json. */
interface WebManifest {
  /** The installed package's version. */
  version: string;
  /** The bundled clip: URLs of its frames, in order. */
  clip: string[];
  /** MoveNet weights: variant → URL and size. */
  movenet: Record<'multipose' | 'thunder' | 'lightning', { url: string; bytes: number }>;
  /** The papers' networks with weights in assets/weights (`<model>-<preset>.safetensors`). */
  papers: { id: string; model: string; preset: string; url: string; bytes: number; module: string; info: Record<string, unknown> }[];
  /** The .wasm builds, relative to the page. */
  wasmDir: string;
  wasmFiles: string[];
}

/** The newest file under `path` (a file or a folder): its path and mtime. */
function newest(path: string): { path: string; mtime: number } {
  const st = statSync(path);
  if (!st.isDirectory()) return { path, mtime: st.mtimeMs };
  let best = { path, mtime: 0 };
  for (const d of readdirSync(path, { withFileTypes: true })) {
    if (d.name === 'node_modules' || d.name.startsWith('.')) continue;
    const n = newest(join(path, d.name));
    if (n.mtime > best.mtime) best = n;
  }
  return best;
}

/** Why dist/ needs a rebuild (a source newer than it, or no dist/), or null when it is up to date. */
function staleDist(): string | null {
  const stamp = join(ROOT, 'dist', 'index.js');
  if (!existsSync(stamp)) return 'there is no dist/';
  const built = statSync(stamp).mtimeMs;
  for (const p of BUILD_INPUTS) {
    if (!existsSync(join(ROOT, p))) continue;
    const n = newest(join(ROOT, p));
    if (n.mtime > built) return `${relative(ROOT, n.path)} is newer than dist/`;
  }
  return null;
}

function run(cmd: string, args: string[], cwd: string): string {
  try {
    return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_fund: 'false', npm_config_audit: 'false', npm_config_update_notifier: 'false' } });
  } catch (e) {
    const x = e as { stdout?: string; stderr?: string; message: string };
    const tail = `${x.stderr ?? ''}\n${x.stdout ?? ''}`.trim().split('\n').slice(-12).join(' | ');
    throw new CliError(`${cmd} ${args.join(' ')} (in ${cwd}) failed: ${tail || x.message}`, 1);
  }
}

/** The JSON header of a safetensors file (its metadata). */
function safetensorsMetadata(path: string): Record<string, string> {
  const bytes = readFileSync(path);
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as { __metadata__?: Record<string, string> };
  return header.__metadata__ ?? {};
}

function manifest(version: string, wasmFiles: string[]): WebManifest {
  const clip = readdirSync(join(ROOT, 'assets', 'demo')).filter((f) => /^\d+\.jpg$/.test(f)).sort().map((f) => `assets/demo/${f}`);
  const file = (p: string): { url: string; bytes: number } => ({ url: p, bytes: statSync(join(ROOT, p)).size });
  const movenet = {
    multipose: file('assets/weights/movenet/multipose.safetensors'),
    thunder: file('assets/weights/movenet/thunder.safetensors'),
    lightning: file('assets/weights/movenet/lightning.safetensors'),
  };
  const papers: WebManifest['papers'] = [];
  for (const f of readdirSync(join(ROOT, 'assets', 'weights')).sort()) {
    const m = /^([a-z]+)-([a-z0-9]+)\.safetensors$/.exec(f);
    if (!m || !PAPER_MODELS.includes(m[1]!)) continue;
    const path = `assets/weights/${f}`;
    const meta = safetensorsMetadata(join(ROOT, path));
    let info: Record<string, unknown> = {};
    try {
      info = JSON.parse(meta.posegrad ?? '{}') as Record<string, unknown>;
    } catch {
      /* a file without the trainer's record: listed without it */
    }
    papers.push({ id: `${m[1]}-${m[2]}`, model: m[1]!, preset: m[2]!, ...file(path), module: meta['posegrad.module'] ?? '', info });
  }
  papers.sort((a, b) => PAPER_MODELS.indexOf(a.model) - PAPER_MODELS.indexOf(b.model) || a.preset.localeCompare(b.preset));
  return { version, clip, movenet, papers, wasmDir: 'wasm/', wasmFiles };
}

/** Packs, installs, bundles into OUT/site. */
async function buildWebDemo(outDir: string, opts: { build: 'auto' | 'always' | 'never'; log?: (s: string) => void }): Promise<void> {
  const log = opts.log ?? ((s: string) => console.log(s));
  for (const f of PAGE_FILES) if (!existsSync(join(WEB_SRC, f))) throw new CliError(`expected the page's ${relative(ROOT, join(WEB_SRC, f))}, got no such file`, 1);
  const stale = opts.build === 'never' ? null : staleDist();
  if (opts.build === 'never' && !existsSync(join(ROOT, 'dist', 'index.js'))) throw new CliError('--no-build: expected a built dist/ (npm run build), got none', 1);
  const rebuild = opts.build === 'always' || stale !== null;
  // OUT's app/ and site/ are replaced: only an empty folder or an earlier build is taken
  const foreign = existsSync(outDir) ? readdirSync(outDir).filter((f) => !['app', 'site'].includes(f) && !/^posegrad-.*\.tgz$/.test(f)) : [];
  if (foreign.length) throw new CliError(`--out ${outDir}: expected an empty folder or an earlier build of this command (app/, site/, the tarball), got other files (${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', ...' : ''})`);
  mkdirSync(outDir, { recursive: true });
  const t0 = Date.now();

  // 1. pack (its prepare script rebuilds dist/)
  for (const f of readdirSync(outDir)) if (/^posegrad-.*\.tgz$/.test(f)) rmSync(join(outDir, f));
  if (rebuild) log(`building dist/ (${opts.build === 'always' ? '--rebuild' : stale})…`);
  const packOut = run('npm', ['pack', '--json', '--pack-destination', outDir, ...(rebuild ? [] : ['--ignore-scripts'])], ROOT);
  const info = JSON.parse(packOut.replace(/^[^[]*/s, '')) as { filename: string; version: string }[];
  const tarball = join(outDir, info[0]!.filename);
  log(`packed ${relative(process.cwd(), tarball)}${rebuild ? ' (dist/ rebuilt)' : ' (dist/ up to date)'} in ${((Date.now() - t0) / 1e3).toFixed(1)} s`);

  // 2. a fresh project that installs it
  const app = join(outDir, 'app');
  rmSync(app, { recursive: true, force: true });
  mkdirSync(app, { recursive: true });
  writeFileSync(join(app, 'package.json'), `${JSON.stringify({ name: 'posegrad-web-demo', private: true, type: 'module' }, null, 2)}\n`);
  const t1 = Date.now();
  run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--no-package-lock', tarball], app);
  for (const f of PAGE_FILES) copyFileSync(join(WEB_SRC, f), join(app, f));
  log(`installed it in ${relative(process.cwd(), app)} in ${((Date.now() - t1) / 1e3).toFixed(1)} s`);

  // 3. bundle, and the static files
  const site = join(outDir, 'site');
  rmSync(site, { recursive: true, force: true });
  mkdirSync(join(site, 'wasm'), { recursive: true });
  const t2 = Date.now();
  const res = await build({
    absWorkingDir: app,
    entryPoints: [join(app, 'main.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    outfile: join(site, 'main.js'),
    logLevel: 'silent',
  }).catch((e: { errors?: { text: string; location?: { file: string; line: number } | null }[]; message: string }) => {
    const msgs = e.errors?.map((m) => `${m.location ? `${m.location.file}:${m.location.line}: ` : ''}${m.text}`) ?? [e.message];
    throw new CliError(`esbuild: ${msgs.join('; ')}`, 1);
  });
  for (const w of res.warnings) log(`esbuild warning: ${w.location ? `${w.location.file}:${w.location.line}: ` : ''}${w.text}`);
  copyFileSync(join(app, 'index.html'), join(site, 'index.html'));
  copyFileSync(join(app, 'style.css'), join(site, 'style.css'));
  const wasmDir = join(app, 'node_modules', 'posegrad', 'dist', 'backends', 'wasm', 'build');
  const wasmFiles = existsSync(wasmDir) ? readdirSync(wasmDir).filter((f) => f.endsWith('.wasm')).sort() : [];
  if (wasmFiles.length === 0) throw new CliError(`expected the .wasm builds in ${relative(process.cwd(), wasmDir)}, got none`, 1);
  for (const f of wasmFiles) copyFileSync(join(wasmDir, f), join(site, 'wasm', f));
  const version = (JSON.parse(readFileSync(join(app, 'node_modules', 'posegrad', 'package.json'), 'utf8')) as { version: string }).version;
  writeFileSync(join(site, 'manifest.json'), `${JSON.stringify(manifest(version, wasmFiles), null, 2)}\n`);
  log(`bundled ${relative(process.cwd(), join(site, 'main.js'))} (${(statSync(join(site, 'main.js')).size / 1e3).toFixed(0)} kB) with esbuild in ${((Date.now() - t2) / 1e3).toFixed(1)} s`);
}

/** The file a URL path names: under `site`, or one of the repository's clip frames and weights files; null otherwise. */
function resolvePath(site: string, urlPath: string): string | null {
  let p: string;
  try {
    p = decodeURIComponent(urlPath.split('?')[0]!.split('#')[0]!);
  } catch {
    return null;
  }
  if (p.includes('\0')) return null;
  if (/^\/assets\/demo\/[\w.-]+\.jpg$/.test(p) || /^\/assets\/weights\/(movenet\/)?[\w.-]+\.safetensors$/.test(p)) return join(ROOT, p);
  const file = normalize(join(site, p.endsWith('/') ? `${p}index.html` : p));
  return file === site || file.startsWith(site + sep) ? file : null;
}

/** Serves the site on 127.0.0.1 with COOP/COEP (cross-origin isolation). */
function serveWebDemo(site: string, port: number): Promise<Server> {
  const root = resolve(site);
  const server = createServer((req, res) => {
    const headers: Record<string, string> = {
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-embedder-policy': 'require-corp',
      'cross-origin-resource-policy': 'same-origin',
      'cache-control': 'no-cache',
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...headers, allow: 'GET, HEAD' }).end();
      return;
    }
    const file = resolvePath(root, req.url ?? '/');
    if (!file || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { ...headers, 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    res.writeHead(200, { ...headers, 'content-type': MIME[extname(file)] ?? 'application/octet-stream', 'content-length': String(statSync(file).size) });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    createReadStream(file).on('error', () => res.destroy()).pipe(res);
  });
  return new Promise((ok, fail) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      fail(new CliError(e.code === 'EADDRINUSE' ? `port ${port} on 127.0.0.1 is in use (pass --port N, or --port 0 for a free one)` : `cannot listen on 127.0.0.1:${port}: ${e.message}`, 1)),
    );
    server.listen(port, '127.0.0.1', () => ok(server));
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      port: { type: 'string', default: '5173' },
      out: { type: 'string', default: join('out', 'web') },
      rebuild: { type: 'boolean', default: false },
      'no-build': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const port = Number(values.port);
  if (!(Number.isInteger(port) && port >= 0 && port < 65536)) throw new CliError(`--port: expected an integer in 0..65535, got '${values.port}'`);
  if (values.rebuild && values['no-build']) throw new CliError('expected at most one of --rebuild and --no-build, got both');
  const out = resolve(values.out!);
  // the port first: a port in use fails before anything is built
  const server = await serveWebDemo(join(out, 'site'), port);
  try {
    await buildWebDemo(out, { build: values.rebuild ? 'always' : values['no-build'] ? 'never' : 'auto' });
  } catch (e) {
    server.close();
    throw e;
  }
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  console.log(`posegrad web demo: ${url}  (cross-origin isolated; Ctrl-C stops it)`);
  await new Promise<void>((done) => {
    const stop = (): void => {
      server.close(() => done());
      server.closeAllConnections();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

await runCli('web', main);
