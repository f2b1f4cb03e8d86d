/**
 * Backend wiring (issue 16 item 6): the engine imports no backend implementation at run time
 * (`import type` is allowed: it is erased), backends/index.ts registers the built-in backends, the
 * package entry and every op module bring that registration with them, and a backend whose device
 * was lost (`Backend.lost`) is re-created by the next `init`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it, vi } from 'vitest';
import type { Backend, DeviceName } from '../../backends/backend.js';
import { Engine } from '../../engine/engine.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The backend interface files: shared types and the op spec tables, no implementation. */
const INTERFACE_FILES = new Set(['backends/backend.ts', 'backends/spec.ts']);

/** Every module `file` loads at run time (static imports and re-exports that are not type-only, dynamic imports, require), as repo paths. */
function runtimeImports(file: string, source: string): string[] {
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const out: string[] = [];
  const add = (spec: ts.Expression | undefined): void => {
    if (!spec || !ts.isStringLiteralLike(spec)) return;
    const target = spec.text.startsWith('.') ? relative(ROOT, resolve(ROOT, dirname(file), spec.text)).replace(/\.js$/, '.ts') : spec.text;
    out.push(target.split('\\').join('/'));
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      const clause = node.importClause;
      const named = clause?.namedBindings;
      const typeOnly = !!clause && (clause.isTypeOnly || (!clause.name && !!named && ts.isNamedImports(named) && named.elements.length > 0 && named.elements.every((e) => e.isTypeOnly)));
      if (!typeOnly) add(node.moduleSpecifier);
    } else if (ts.isExportDeclaration(node)) {
      if (!node.isTypeOnly) add(node.moduleSpecifier);
    } else if (ts.isImportEqualsDeclaration(node)) {
      if (!node.isTypeOnly && ts.isExternalModuleReference(node.moduleReference)) add(node.moduleReference.expression);
    } else if (ts.isCallExpression(node)) {
      const callee = node.expression;
      if (callee.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(callee) && callee.text === 'require')) add(node.arguments[0]);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

/** The backend implementation modules among `file`'s run-time imports. */
function backendImplementationImports(file: string, source: string): string[] {
  return runtimeImports(file, source).filter((p) => p.startsWith('backends/') && !INTERFACE_FILES.has(p));
}

describe('the engine imports no backend', () => {
  it('the import check sees static, re-exported, dynamic and required imports, and lets `import type` pass', () => {
    const src = [
      "import type { WasmBackendOptions } from '../backends/wasm/index.js';",
      "import { type WebGPUBackendOptions } from '../backends/webgpu/index.js';",
      "import { DEVICES, type DeviceName } from '../backends/backend.js';",
      "import { CpuBackend } from '../backends/cpu/index.js';",
      "export { createWasmBackend } from '../backends/wasm/index.js';",
      "export type { GPUStorage } from '../backends/webgpu/runtime.js';",
      "const w = () => import('../backends/webgpu/index.js');",
      "const r = require('../backends/wasm/memory.js');",
      "import '../backends/index.js';",
    ].join('\n');
    expect(backendImplementationImports('engine/example.ts', src)).toEqual([
      'backends/cpu/index.ts', 'backends/wasm/index.ts', 'backends/webgpu/index.ts', 'backends/wasm/memory.ts', 'backends/index.ts',
    ]);
  });

  it('no engine/*.ts module loads a backend implementation at run time', () => {
    const files = readdirSync(join(ROOT, 'engine')).filter((f) => f.endsWith('.ts'));
    expect(files).toContain('engine.ts');
    const offenders = files.flatMap((f) => backendImplementationImports(`engine/${f}`, readFileSync(join(ROOT, 'engine', f), 'utf8')).map((p) => `engine/${f} -> ${p}`));
    expect(offenders).toEqual([]);
  });
});

/**
 * The members of the first class or interface named `name` in `file`, in source order, each section
 * heading (`// ----- title`) before them as '# title'.
 */
function membersWithHeadings(file: string, name: string): string[] {
  const source = readFileSync(join(ROOT, file), 'utf8');
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  let decl: ts.ClassDeclaration | ts.InterfaceDeclaration | undefined;
  sf.forEachChild((n) => {
    if (!decl && (ts.isClassDeclaration(n) || ts.isInterfaceDeclaration(n)) && n.name?.text === name) decl = n;
  });
  if (!decl) throw new Error(`${file}: expected a class or interface ${name}, got none`);
  const out: string[] = [];
  for (const m of decl.members) {
    for (const c of ts.getLeadingCommentRanges(source, m.getFullStart()) ?? []) {
      const h = /^\/\/ -{8,} (.+)$/.exec(source.slice(c.pos, c.end).trim());
      if (h) out.push(`# ${h[1]!.trim()}`);
    }
    if (m.name && (ts.isIdentifier(m.name) || ts.isStringLiteral(m.name))) out.push(m.name.text);
  }
  return out;
}

describe('one wiring style for every backend', () => {
  const iface = membersWithHeadings('backends/backend.ts', 'Backend');
  const cases = [
    ['backends/cpu/index.ts', 'CpuBackend'],
    ['backends/wasm/index.ts', 'WasmBackend'],
    ['backends/webgpu/index.ts', 'WebGPUBackend'],
  ] as const;

  it('the interface has its sections and kernels (the reference order)', () => {
    expect(iface.filter((x) => x.startsWith('# '))).toEqual([
      '# memory and data movement', '# creation and elementwise', '# reductions and scans', '# matmul',
      '# shape and indexing (all dtypes)', '# convolution', '# pooling and resampling (NCHW)', '# softmax, norms, attention',
    ]);
    expect(iface).toContain('attentionBackward');
  });

  for (const [file, cls] of cases) {
    it(`${cls} (${file}) lists the interface's members in its order, under its section headings`, () => {
      const members = membersWithHeadings(file, cls);
      const own = new Set(members);
      // the class's interface members and interface headings, in the class's order (members not in Backend and their "(not in Backend)" section left out)
      const wired = members.filter((x) => (x.startsWith('# ') ? iface.includes(x) || !x.includes('(not in Backend)') : iface.includes(x)));
      // the interface's, less the optional members this backend does not implement (lost)
      const expected = iface.filter((x) => x.startsWith('# ') || own.has(x));
      expect(wired).toEqual(expected);
      expect(expected.filter((x) => !x.startsWith('# ')).length).toBeGreaterThan(45);
    });
  }
});

describe('registration (backends/index.ts)', () => {
  /** A fresh module graph: the engine as a program that has not imported backends/index.ts yet sees it. */
  async function freshEngine(): Promise<Engine> {
    vi.resetModules();
    return (await import('../../engine/engine.js')).engine;
  }

  it('the engine alone has no backend; the package entry registers cpu (ready), wasm and webgpu (factories)', async () => {
    const engine = await freshEngine();
    expect(engine.registeredBackends()).toEqual([]);
    await import('../../index.js');
    expect(engine.registeredBackends()).toEqual(['cpu', 'wasm', 'webgpu']);
    expect(engine.isInitialized('cpu')).toBe(true);
    // wasm and webgpu start only on init (their modules load then)
    expect(engine.isInitialized('wasm')).toBe(false);
    expect(engine.isInitialized('webgpu')).toBe(false);
  });

  it('importing an op module (as tests, CLIs and benchmarks do) registers them as well', async () => {
    const engine = await freshEngine();
    const { tensor } = await import('../../ops/creation.js');
    expect(engine.registeredBackends()).toEqual(['cpu', 'wasm', 'webgpu']);
    expect(Array.from(tensor([1, 2, 3]).dataSync())).toEqual([1, 2, 3]);
  });

  it('keeps a factory registered before backends/index.ts runs (an application or test preload)', async () => {
    const engine = await freshEngine();
    const own = async (): Promise<Backend> => fakeBackend('wasm');
    engine.registerBackendFactory('wasm', own);
    await import('../../backends/index.js');
    expect(engine.registeredBackends()).toEqual(['cpu', 'wasm', 'webgpu']);
    expect((await engine.init('wasm')).name).toBe('wasm');
    expect(engine.backend('wasm')).toHaveProperty('fake', true);
  });
});

/** A stand-in backend: only what the engine itself calls (release, memoryInfo); `lost` settable. */
type Fake = Backend & { lost: boolean; fake: true; released: unknown[] };
function fakeBackend(name: DeviceName): Fake {
  const released: unknown[] = [];
  return {
    name,
    lost: false,
    fake: true,
    released,
    release: (s: unknown) => void released.push(s),
    memoryInfo: () => ({ pooledBytes: 0 }),
  } as unknown as Fake;
}

describe('a lost backend is re-created by init (Backend.lost)', () => {
  it('init returns the same backend while it lives, and a new one from the factory once it is lost', async () => {
    const e = new Engine();
    const made: Fake[] = [];
    const options: unknown[] = [];
    e.registerBackendFactory('webgpu', async (o) => {
      options.push(o);
      const b = fakeBackend('webgpu');
      made.push(b);
      return b;
    });
    const b1 = (await e.init('webgpu', { powerPreference: 'low-power' })) as Fake;
    expect(await e.init('webgpu')).toBe(b1);
    await expect(e.init('webgpu', { powerPreference: 'high-performance' })).rejects.toThrow(/^init: expected the options of the first init\('webgpu'\)/);
    expect(made).toHaveLength(1);

    const ref = e.newRef('webgpu', 'storage of b1', 64);
    expect(ref.backend).toBe(b1);
    expect(e.memory().devices.webgpu!.bytes).toBe(64);

    b1.lost = true;
    // a new backend, started with this call's options (the lost one's no longer bind)
    const b2 = (await e.init('webgpu', { powerPreference: 'high-performance' })) as Fake;
    expect(made).toHaveLength(2);
    expect(b2).toBe(made[1]);
    expect(b2).not.toBe(b1);
    expect(options).toEqual([{ powerPreference: 'low-power' }, { powerPreference: 'high-performance' }]);
    expect(e.backend('webgpu')).toBe(b2);
    expect(await e.init('webgpu')).toBe(b2);
    expect(made).toHaveLength(2);

    // a storage of the lost backend is released through it, never handed to its successor
    e.releaseRef(ref);
    expect(b1.released).toEqual(['storage of b1']);
    expect(b2.released).toEqual([]);
    expect(e.memory().devices.webgpu!.bytes).toBe(0);

    // concurrent inits after a loss start one backend
    b2.lost = true;
    const [c1, c2] = await Promise.all([e.init('webgpu'), e.init('webgpu')]);
    expect(c1).toBe(c2);
    expect(c1).toBe(made[2]);
    expect(made).toHaveLength(3);
  });

  it('a lost backend without a factory gives a clear Error instead of coming back dead', async () => {
    const e = new Engine();
    const b = fakeBackend('cpu');
    e.registerBackend(b);
    expect(await e.init('cpu')).toBe(b);
    b.lost = true;
    await expect(e.init('cpu')).rejects.toThrow("init: expected a factory to start a new 'cpu' backend (the registered one lost its device), got none; register one with engine.registerBackendFactory");
  });
});
