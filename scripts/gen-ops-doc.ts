/**
 * Generates docs/ops.md, the op reference, from the docstrings in ops/*.ts.
 *
 *   npx tsx scripts/gen-ops-doc.ts           # rewrite docs/ops.md
 *   npx tsx scripts/gen-ops-doc.ts --check   # exit 1 when docs/ops.md is stale
 *   (--root <dir> points both at another checkout)
 *
 * It parses each op file with the TypeScript compiler API (syntax only: no type checking, so it
 * takes well under a second) and lists, per file and in source order, every exported function
 * (function declarations, overloads, and `export const f = (...) => ...` arrows and aliases) with
 * its signature as written and its JSDoc, followed by the exported option types. `ops/util.ts`
 * (internal plumbing) and declarations tagged `@internal` are left out. Files follow the order of
 * `export * from` in ops/index.ts; files not re-exported there come last.
 *
 * The end of the page lists the ops whose docstring is missing or does not say what the op
 * matches (a PyTorch/torchvision function, or a paper).
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export interface OpDoc {
  /** The file, relative to the repository root ('ops/conv.ts'). */
  file: string;
  name: string;
  /** Signatures as written (several for overloads). */
  signatures: string[];
  /** The JSDoc text (description), '' when missing. */
  doc: string;
  /** JSDoc tags as [name, text]. */
  tags: [string, string][];
  /** For `export const a = b`: the name of the aliased function. */
  aliasOf?: string;
}

export interface TypeDoc {
  file: string;
  name: string;
  /** The declaration's source text, with its JSDoc. */
  source: string;
}

export interface FileDoc {
  file: string;
  family: string;
  header: string;
  ops: OpDoc[];
  types: TypeDoc[];
}

export interface OpsDocResult {
  markdown: string;
  files: FileDoc[];
  ops: OpDoc[];
  /** Ops with no docstring at all. */
  undocumented: OpDoc[];
  /** Documented ops whose docstring names no PyTorch function or paper. */
  unreferenced: OpDoc[];
}

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const OPS_DOC_PATH = 'docs/ops.md';
const EXCLUDED = new Set(['util.ts', 'index.ts']);

/**
 * Whether a docstring says what the op matches: a torch/torchvision name (`torch.nn.functional.x`,
 * `F.x`, `torchvision.ops.x`), PyTorch itself, or a paper (one of the project's papers or their
 * bases, an equation number, or an author-year citation).
 */
export function mentionsReference(text: string): boolean {
  return (
    /\btorch(vision)?\.[A-Za-z_]/.test(text) ||
    /\bF\.[a-z_]+/.test(text) ||
    /\bPyTorch\b/.test(text) ||
    /\b(FaSRnet|VREMD|GLPose|RPSTN|DCPose|EDVR|HRNet|SimpleBaseline|ViTPose|ViT)\b/.test(text) ||
    /\b(Eq|Eqs|Equation)\.?\s*\(?\d/.test(text) ||
    /\bet al\b/.test(text) ||
    /\barXiv\b/.test(text) ||
    /\b[A-Z][A-Za-z-]+(?:\s*(?:&|and)\s*[A-Z][A-Za-z-]+)?,?\s+(?:19|20)\d\d\b/.test(text)
  );
}

function squash(s: string): string {
  return s.replace(/\s+/g, ' ').replace(/\(\s+/g, '(').replace(/\s+\)/g, ')').replace(/,\s*\)/g, ')').trim();
}

function isExported(node: ts.Node): boolean {
  return !!(ts.getCombinedModifierFlags(node as ts.Declaration) & ts.ModifierFlags.Export);
}

function jsDocOf(node: ts.Node): { doc: string; tags: [string, string][]; internal: boolean } {
  const blocks = ts.getJSDocCommentsAndTags(node).filter((d): d is ts.JSDoc => ts.isJSDoc(d));
  const last = blocks[blocks.length - 1];
  if (!last) return { doc: '', tags: [], internal: false };
  const doc = (ts.getTextOfJSDocComment(last.comment) ?? '').trim();
  const tags: [string, string][] = (last.tags ?? []).map((t) => {
    let text = (ts.getTextOfJSDocComment(t.comment) ?? '').trim();
    if (ts.isJSDocParameterTag(t)) text = `${t.name.getText()} ${text}`.trim();
    return [t.tagName.text, text];
  });
  return { doc, tags, internal: tags.some(([n]) => n === 'internal') };
}

function signatureOf(name: string, fn: ts.SignatureDeclaration, sf: ts.SourceFile): string {
  const tp = fn.typeParameters ? `<${fn.typeParameters.map((p) => squash(p.getText(sf))).join(', ')}>` : '';
  const params = fn.parameters.map((p) => squash(p.getText(sf))).join(', ');
  const ret = fn.type ? `: ${squash(fn.type.getText(sf))}` : '';
  return `${name}${tp}(${params})${ret}`;
}

/** The file's opening comment (its header), without the comment markers. */
function headerOf(text: string): string {
  const ranges = ts.getLeadingCommentRanges(text, 0) ?? [];
  const first = ranges.find((r) => text.slice(r.pos, r.pos + 3) === '/**');
  if (!first) return '';
  return text
    .slice(first.pos + 3, first.end - 2)
    .split('\n')
    .map((l) => l.replace(/^\s*\* ?/, ''))
    .join('\n')
    .trim();
}

/** Parses one op file. */
export function parseOpFile(file: string, text: string): FileDoc {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const ops: OpDoc[] = [];
  const types: TypeDoc[] = [];
  const byName = new Map<string, OpDoc>();
  const localFns = new Map<string, ts.FunctionDeclaration[]>();
  for (const st of sf.statements) if (ts.isFunctionDeclaration(st) && st.name) localFns.set(st.name.text, [...(localFns.get(st.name.text) ?? []), st]);

  for (const st of sf.statements) {
    if (ts.isFunctionDeclaration(st) && st.name && isExported(st)) {
      const name = st.name.text;
      const decls = localFns.get(name)!;
      const overloads = decls.filter((d) => !d.body);
      const isImpl = !!st.body;
      if (isImpl && overloads.length > 0) continue; // overloads are listed, not the implementation
      const { doc, tags, internal } = jsDocOf(st);
      if (internal) continue;
      const sig = signatureOf(name, st, sf);
      const existing = byName.get(name);
      if (existing) {
        existing.signatures.push(sig);
        if (!existing.doc && doc) (existing.doc = doc), (existing.tags = tags);
        continue;
      }
      const op: OpDoc = { file, name, signatures: [sig], doc, tags };
      byName.set(name, op);
      ops.push(op);
    } else if (ts.isVariableStatement(st) && isExported(st)) {
      for (const d of st.declarationList.declarations) {
        if (!ts.isIdentifier(d.name) || !d.initializer) continue;
        const name = d.name.text;
        const { doc, tags, internal } = jsDocOf(d);
        if (internal) continue;
        let init: ts.Expression = d.initializer;
        while (ts.isAsExpression(init) || ts.isParenthesizedExpression(init) || ts.isSatisfiesExpression(init)) init = init.expression;
        if (ts.isArrowFunction(init) || ts.isFunctionExpression(init)) {
          const op: OpDoc = { file, name, signatures: [signatureOf(name, init, sf)], doc, tags };
          ops.push(op);
          byName.set(name, op);
        } else if (ts.isIdentifier(init)) {
          const target = localFns.get(init.text)?.find((f) => f.body) ?? localFns.get(init.text)?.[0];
          const sigs = target ? (localFns.get(init.text)!.filter((f) => !f.body).length ? localFns.get(init.text)!.filter((f) => !f.body) : [target]).map((f) => signatureOf(name, f, sf)) : [`${name} = ${init.text}`];
          const op: OpDoc = { file, name, signatures: sigs, doc, tags, aliasOf: init.text };
          ops.push(op);
          byName.set(name, op);
        }
      }
    } else if ((ts.isInterfaceDeclaration(st) || ts.isTypeAliasDeclaration(st)) && isExported(st)) {
      const { internal } = jsDocOf(st);
      if (internal) continue;
      const full = text.slice(st.getFullStart(), st.getEnd());
      // Keep the declaration's own JSDoc, drop blank lines and unrelated comments before it.
      const jsdocStart = full.lastIndexOf('/**', full.indexOf(st.getText(sf)));
      const src = (jsdocStart >= 0 && /^\s*$/.test(full.slice(full.indexOf('*/', jsdocStart) + 2, full.indexOf(st.getText(sf)))) ? full.slice(jsdocStart) : st.getText(sf)).trim();
      types.push({ file, name: st.name.text, source: src });
    }
  }
  const base = file.replace(/^ops\//, '').replace(/\.ts$/, '');
  return { file, family: base, header: headerOf(text), ops, types };
}

/** Op files in ops/index.ts order, then any others alphabetically. */
function opFiles(root: string): string[] {
  const all = readdirSync(join(root, 'ops')).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && !EXCLUDED.has(f));
  const index = readFileSync(join(root, 'ops', 'index.ts'), 'utf8');
  const order = [...index.matchAll(/export\s+\*\s+from\s+'\.\/([\w-]+)\.js'/g)].map((m) => `${m[1]}.ts`);
  const listed = order.filter((f) => all.includes(f));
  const rest = all.filter((f) => !listed.includes(f)).sort();
  return [...listed, ...rest];
}

/** Escapes `<` outside inline code so that text such as "<op>" is not read as HTML. */
function mdText(s: string): string {
  return s
    .split(/(`[^`]*`)/)
    .map((part, i) => (i % 2 === 1 ? part : part.replace(/</g, '&lt;')))
    .join('');
}

function anchor(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9 -]/g, '').replace(/ /g, '-');
}

const TAG_LABEL: Record<string, string> = { throws: 'Throws', returns: 'Returns', return: 'Returns', see: 'See', example: 'Example', deprecated: 'Deprecated' };

function renderOp(op: OpDoc): string {
  const out: string[] = [];
  out.push(`### \`${op.name}\``, '', '```ts', ...op.signatures, '```', '');
  if (op.doc) out.push(mdText(op.doc), '');
  else out.push('_No docstring._', '');
  const params = op.tags.filter(([n]) => n === 'param');
  if (params.length) {
    out.push('Parameters:', '');
    for (const [, t] of params) {
      const [pname, ...rest] = t.split(' ');
      out.push(`- \`${pname}\`${rest.length ? ` ${mdText(rest.join(' '))}` : ''}`);
    }
    out.push('');
  }
  for (const [n, t] of op.tags) {
    if (n === 'param' || n === 'internal') continue;
    const label = TAG_LABEL[n] ?? n;
    out.push(n === 'example' ? `**${label}:**\n\n${t}` : `**${label}:** ${mdText(t)}`, '');
  }
  return out.join('\n');
}

/** Builds the reference from the op files under `root` (default: this repository). */
export function generateOpsDoc(root = ROOT): OpsDocResult {
  const files = opFiles(root).map((f) => parseOpFile(`ops/${f}`, readFileSync(join(root, 'ops', f), 'utf8')));
  const ops = files.flatMap((f) => f.ops);
  const undocumented = ops.filter((o) => !o.doc);
  const unreferenced = ops.filter((o) => o.doc && !mentionsReference([o.doc, ...o.tags.map((t) => t[1])].join('\n')) && !(o.aliasOf && ops.some((p) => p.name === o.aliasOf && p.file === o.file && mentionsReference(p.doc))));
  const lines: string[] = [];
  lines.push(
    '# posegrad op reference',
    '',
    '<!-- Generated by `npx tsx scripts/gen-ops-doc.ts` from the docstrings in ops/*.ts. Do not edit by hand: edit the docstrings and regenerate. -->',
    '',
    `Every public op of posegrad, by family (one file of \`ops/\` each), with its signature and its docstring: shapes, errors and the PyTorch function or paper it matches. ${ops.length} ops in ${files.length} files. All ops are also exported from the package root (\`import { conv2d } from 'posegrad'\`).`,
    '',
    '## Families',
    '',
  );
  for (const f of files) lines.push(`- [${f.family}](#${anchor(f.family)}) (\`${f.file}\`): ${f.ops.length ? f.ops.map((o) => `\`${o.name}\``).join(', ') : '_no ops yet_'}`);
  lines.push('');
  for (const f of files) {
    lines.push(`## ${f.family}`, '', `Source: [\`${f.file}\`](../${f.file})`, '');
    if (f.header) lines.push(mdText(f.header), '');
    if (!f.ops.length) lines.push('_No ops yet._', '');
    for (const op of f.ops) lines.push(renderOp(op));
    if (f.types.length) {
      lines.push(`### Types in \`${f.file}\``, '', '```ts', f.types.map((t) => t.source).join('\n\n'), '```', '');
    }
  }
  lines.push('## Docstring coverage', '');
  lines.push(`Ops without a docstring: ${undocumented.length ? undocumented.map((o) => `\`${o.name}\` (${o.file})`).join(', ') : 'none'}.`, '');
  lines.push(`Ops whose docstring does not name the PyTorch function or paper they match: ${unreferenced.length ? unreferenced.map((o) => `\`${o.name}\` (${o.file})`).join(', ') : 'none'}.`, '');
  const markdown = lines.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd() + '\n';
  return { markdown, files, ops, undocumented, unreferenced };
}

/** The first line where two texts differ, for a readable staleness message. */
export function firstDifference(a: string, b: string): string {
  const la = a.split('\n');
  const lb = b.split('\n');
  for (let i = 0; i < Math.max(la.length, lb.length); i++) {
    if (la[i] !== lb[i]) return `line ${i + 1}: committed ${JSON.stringify(la[i] ?? '<end of file>')}, generated ${JSON.stringify(lb[i] ?? '<end of file>')}`;
  }
  return 'none';
}

function main(): void {
  const args = process.argv.slice(2);
  const check = args.includes('--check');
  // --root <dir>: another checkout (used by the tests); default: this repository.
  const r = args.indexOf('--root');
  const root = r >= 0 && args[r + 1] ? resolve(args[r + 1]!) : ROOT;
  const { markdown, ops, undocumented, unreferenced } = generateOpsDoc(root);
  const path = join(root, OPS_DOC_PATH);
  if (check) {
    let current = '';
    try {
      current = readFileSync(path, 'utf8');
    } catch {
      current = '';
    }
    if (current !== markdown) {
      console.error(`${OPS_DOC_PATH} is stale (first difference at ${firstDifference(current, markdown)}). Regenerate it with: npx tsx scripts/gen-ops-doc.ts`);
      process.exit(1);
    }
    console.log(`${OPS_DOC_PATH} is up to date (${ops.length} ops).`);
    return;
  }
  writeFileSync(path, markdown);
  console.log(`wrote ${OPS_DOC_PATH}: ${ops.length} ops; ${undocumented.length} without a docstring, ${unreferenced.length} without a reference`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
