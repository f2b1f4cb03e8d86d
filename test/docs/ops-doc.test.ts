/**
 * docs/ops.md is generated from the docstrings in ops/*.ts by scripts/gen-ops-doc.ts. These tests
 * regenerate it in memory and require the committed page to match, check the generator against an
 * independent scan of the op files, and require every public op to have a docstring that says what
 * it matches (a PyTorch function or a paper).
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { firstDifference, generateOpsDoc, mentionsReference, OPS_DOC_PATH, parseOpFile } from '../../scripts/gen-ops-doc.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const REGEN = 'npx tsx scripts/gen-ops-doc.ts';
const result = generateOpsDoc(ROOT);

describe('docs/ops.md', () => {
  it('is up to date with the docstrings in ops/', () => {
    const committed = readFileSync(join(ROOT, OPS_DOC_PATH), 'utf8');
    if (committed !== result.markdown) {
      throw new Error(`${OPS_DOC_PATH} is stale: an op or a docstring in ops/ changed since it was generated (first difference at ${firstDifference(committed, result.markdown)}). Regenerate it with \`${REGEN}\` and commit it.`);
    }
  });

  it('lists every exported function of every op file (checked against a plain-text scan)', () => {
    const files = readdirSync(join(ROOT, 'ops')).filter((f) => f.endsWith('.ts') && f !== 'util.ts' && f !== 'index.ts');
    expect(result.files.map((f) => f.file).sort()).toEqual(files.map((f) => `ops/${f}`).sort());
    for (const f of files) {
      const text = readFileSync(join(ROOT, 'ops', f), 'utf8');
      const scanned = new Set<string>();
      for (const m of text.matchAll(/^export (?:async )?function (\w+)|^export const (\w+)\s*(?::[^=]+)?=\s*(?:\(|\w+\s*;|async|function)/gm)) {
        const name = (m[1] ?? m[2])!;
        const before = text.slice(Math.max(0, m.index! - 400), m.index!);
        const doc = before.slice(before.lastIndexOf('/**'));
        if (before.lastIndexOf('/**') >= 0 && doc.includes('*/') && /@internal/.test(doc) && /\*\/\s*$/.test(doc)) continue;
        scanned.add(name);
      }
      const listed = result.files.find((x) => x.file === `ops/${f}`)!.ops.map((o) => o.name);
      expect(new Set(listed), `ops/${f}`).toEqual(scanned);
    }
    const conv = result.ops.find((o) => o.name === 'conv2d')!;
    expect(conv.signatures[0]).toMatch(/^conv2d\(input: Tensor, weight: Tensor, bias\?: Tensor \| null, opts: Conv2dOptions = \{\}\): Tensor$/);
    expect(conv.doc).toMatch(/torch\.nn\.functional\.conv2d/);
    expect(result.markdown).toContain('### `conv2d`');
  });

  it('every public op has a docstring', () => {
    const missing = result.undocumented.map((o) => `${o.name} (${o.file})`);
    if (missing.length) throw new Error(`${missing.length} ops without a docstring: ${missing.join(', ')}. Add one (shapes, errors, the PyTorch function matched), then run \`${REGEN}\`.`);
  });

  it('every docstring says what the op matches (a PyTorch function or a paper)', () => {
    const missing = result.unreferenced.map((o) => `${o.name} (${o.file})`);
    if (missing.length) throw new Error(`${missing.length} ops whose docstring names no PyTorch function or paper: ${missing.join(', ')}. Name it (e.g. "(torch.nn.functional.x)"), or tag helpers that are not ops @internal, then run \`${REGEN}\`.`);
  });
});

describe('the generator', () => {
  it('parses functions, overloads, arrows, aliases, types, and skips @internal', () => {
    const src = [
      '/**',
      ' * Demo family.',
      ' */',
      "import { x } from './x.js';",
      '/** Adds (torch.add). @throws Error on a bad shape. */',
      'export function add(a: T, b = 2): T { return a; }',
      '/** One or two (torch.pick). */',
      'export function pick(a: number): number;',
      'export function pick(a: string): string;',
      'export function pick(a: any): any { return a; }',
      '/** Negation (torch.neg). */',
      'export const neg = (x: T): T => x;',
      '/** Alias of add (torch.Tensor.add). */',
      'export const plus = add;',
      '/** @internal */',
      'export function hidden(): void {}',
      'function local(): void {}',
      '/** Options. */',
      'export interface Opts {',
      '  /** A flag. */',
      '  flag?: boolean;',
      '}',
    ].join('\n');
    const f = parseOpFile('ops/demo.ts', src);
    expect(f.header).toBe('Demo family.');
    expect(f.ops.map((o) => [o.name, o.signatures])).toEqual([
      ['add', ['add(a: T, b = 2): T']],
      ['pick', ['pick(a: number): number', 'pick(a: string): string']],
      ['neg', ['neg(x: T): T']],
      ['plus', ['plus(a: T, b = 2): T']],
    ]);
    expect(f.ops[0]!.tags).toEqual([['throws', 'Error on a bad shape.']]);
    expect(f.ops[3]!.aliasOf).toBe('add');
    expect(f.types.map((t) => t.source)).toEqual(['/** Options. */\nexport interface Opts {\n  /** A flag. */\n  flag?: boolean;\n}']);
  });

  it('recognizes PyTorch functions and papers as references', () => {
    for (const yes of ['as torch.nn.functional.conv2d', 'torchvision.ops.deform_conv2d', 'F.grid_sample semantics', "PyTorch's rule", 'FaSRnet Eq. 3', 'Ioffe & Szegedy 2015', 'Dai et al.', 'see Eq. (4)']) expect(mentionsReference(yes), yes).toBe(true);
    for (const no of ['A tensor of ones.', 'Adds two tensors.', 'torch', 'Returns 2 values']) expect(mentionsReference(no), no).toBe(false);
  });

  it('--check exits non-zero with the regeneration command when the page is stale; a run rewrites it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'posegrad-opsdoc-'));
    mkdirSync(join(dir, 'ops'));
    mkdirSync(join(dir, 'docs'));
    cpSync(join(ROOT, 'ops', 'softmax.ts'), join(dir, 'ops', 'softmax.ts'));
    writeFileSync(join(dir, 'ops', 'index.ts'), "export * from './softmax.js';\n");
    writeFileSync(join(dir, 'docs', 'ops.md'), '# stale\n');
    const script = join(ROOT, 'scripts', 'gen-ops-doc.ts');
    const tsx = join(ROOT, 'node_modules', '.bin', 'tsx');
    let failed: { status: number; stderr: string } | null = null;
    try {
      execFileSync(tsx, [script, '--check', '--root', dir], { stdio: 'pipe' });
    } catch (e) {
      const err = e as { status: number; stderr: Buffer };
      failed = { status: err.status, stderr: err.stderr.toString() };
    }
    expect(failed?.status).toBe(1);
    expect(failed?.stderr).toContain('docs/ops.md is stale');
    expect(failed?.stderr).toContain(REGEN);
    expect(execFileSync(tsx, [script, '--root', dir], { stdio: 'pipe' }).toString()).toMatch(/wrote docs\/ops.md: 2 ops/);
    const written = readFileSync(join(dir, 'docs', 'ops.md'), 'utf8');
    expect(written).toContain('### `softmax`');
    expect(written).toBe(generateOpsDoc(dir).markdown);
  });
});
