/**
 * A small checker for the relative links of the project's Markdown (README.md, CHANGELOG.md,
 * docs/**, test/browser/README.md): used by links.test.ts (the repository, and the package as
 * package.json `files` describes it) and by test/browser/consumer.test.ts (the packed tarball).
 *
 * It reads inline links and images (`[text](href "title")`, `![alt](href)`), reference
 * definitions (`[id]: href`) and HTML `href`/`src` attributes, outside fenced code blocks and code
 * spans. A relative link must name an existing file or folder; a `#fragment` on a Markdown file
 * (or alone, for the same file) must match one of its headings, slugged as GitHub does. Absolute
 * URLs (http:, https:, mailto:) are not fetched.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, posix, relative, resolve, sep } from 'node:path';

export interface Link {
  /** The Markdown file, relative to the root (with '/'). */
  file: string;
  line: number;
  href: string;
}

export interface Broken extends Link {
  why: string;
}

const toPosix = (p: string): string => p.split(sep).join('/');

/** README.md, CHANGELOG.md, every .md under docs/, and test/browser/README.md. */
export function markdownFiles(root: string): string[] {
  const out = ['README.md', 'CHANGELOG.md', 'test/browser/README.md'].filter((f) => existsSync(join(root, f)));
  const walk = (dir: string): void => {
    for (const d of readdirSync(join(root, dir), { withFileTypes: true })) {
      const p = `${dir}/${d.name}`;
      if (d.isDirectory()) {
        if (p !== 'docs/api') walk(p);
      } else if (d.name.endsWith('.md')) out.push(p);
    }
  };
  if (existsSync(join(root, 'docs'))) walk('docs');
  return out.sort();
}

/** The text with fenced code blocks and code spans blanked (lengths and line breaks kept). */
function withoutCode(text: string): string {
  const blank = (s: string): string => s.replace(/[^\n]/g, ' ');
  return text.replace(/^( {0,3})(`{3,}|~{3,})[^\n]*\n[\s\S]*?(?:\n {0,3}\2[^\n]*(?=\n|$)|$)/gm, blank).replace(/(`+)[^`\n][\s\S]*?\1/g, blank);
}

/** Every link of one Markdown text. */
export function linksOf(file: string, text: string): Link[] {
  const src = withoutCode(text);
  const out: Link[] = [];
  const lineAt = (i: number): number => src.slice(0, i).split('\n').length;
  const patterns = [
    /!?\[(?:[^\]\\]|\\.)*\]\(\s*(?:<([^>\n]+)>|([^)\s]+))(?:\s+(?:"[^"]*"|'[^']*'))?\s*\)/g,
    /^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$/gm,
    /<(?:a|img)\b[^>]*?\s(?:href|src)="([^"]+)"/gi,
  ];
  for (const re of patterns) for (const m of src.matchAll(re)) out.push({ file, line: lineAt(m.index!), href: (m[1] ?? m[2])! });
  return out.sort((a, b) => a.line - b.line);
}

/** GitHub's heading anchors of a Markdown text (duplicates get -1, -2, ...). */
export function anchorsOf(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  const src = text.replace(/^( {0,3})(`{3,}|~{3,})[^\n]*\n[\s\S]*?(?:\n {0,3}\2[^\n]*(?=\n|$)|$)/gm, '');
  for (const m of src.matchAll(/^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/gm)) {
    const plain = m[1]!
      .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
      .replace(/<[^>]+>/g, '')
      .replace(/[`*~]/g, '');
    const base = plain.toLowerCase().replace(/[^\p{L}\p{N}\p{M}\p{Pc}\- ]/gu, '').replace(/ /g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  for (const m of src.matchAll(/<a\s[^>]*(?:name|id)="([^"]+)"/gi)) out.add(m[1]!);
  return out;
}

/**
 * The broken relative links of `files` (relative to `root`). `exists(path)` says whether a
 * root-relative path is there (default: on disk under root; the package view passes the packed
 * file list). A link that climbs out of the root is broken.
 */
export function brokenLinks(root: string, files: readonly string[], exists: (path: string) => boolean = (p) => existsSync(join(root, p))): Broken[] {
  const broken: Broken[] = [];
  const anchorCache = new Map<string, Set<string>>();
  const anchors = (p: string): Set<string> => {
    let a = anchorCache.get(p);
    if (!a) anchorCache.set(p, (a = anchorsOf(readFileSync(join(root, p), 'utf8'))));
    return a;
  };
  for (const file of files) {
    for (const link of linksOf(file, readFileSync(join(root, file), 'utf8'))) {
      const { href } = link;
      if (/^[a-z][a-z0-9+.-]*:/i.test(href) || href.startsWith('//')) continue;
      const [rawPath, fragment] = href.split('#', 2) as [string, string | undefined];
      let path: string;
      try {
        path = decodeURIComponent(rawPath);
      } catch {
        broken.push({ ...link, why: 'a malformed %-escape' });
        continue;
      }
      const target = path === '' ? file : posix.normalize(posix.join(posix.dirname(file), path)).replace(/\/$/, '');
      if (target.startsWith('../') || target === '..' || posix.isAbsolute(path)) {
        broken.push({ ...link, why: `it leaves the ${path.startsWith('/') ? 'file tree (absolute path)' : 'root'}` });
        continue;
      }
      if (!exists(target)) {
        broken.push({ ...link, why: `no such file: ${target}` });
        continue;
      }
      if (fragment !== undefined && fragment !== '' && target.endsWith('.md') && existsSync(join(root, target)) && statSync(join(root, target)).isFile()) {
        if (!anchors(target).has(decodeURIComponent(fragment).toLowerCase())) broken.push({ ...link, why: `no heading '#${fragment}' in ${target}` });
      }
    }
  }
  return broken;
}

/**
 * Whether package.json `files` (entries as npm reads them: a path, a folder, or a glob with `*`)
 * includes `path`; package.json itself always ships.
 */
export function inPackageFiles(entries: readonly string[], path: string): boolean {
  if (path === 'package.json') return true;
  return entries.some((e) => {
    const entry = e.replace(/^\.\//, '').replace(/\/$/, '');
    if (!entry.includes('*')) return path === entry || path.startsWith(`${entry}/`);
    const re = new RegExp(`^${entry.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*')}(/.*)?$`);
    return re.test(path);
  });
}

/** Root-relative paths of every file and folder under `dir` (for an `exists` over a file list). */
export function pathsWithFolders(files: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const f of files) {
    const parts = toPosix(f).split('/');
    for (let i = 1; i <= parts.length; i++) out.add(parts.slice(0, i).join('/'));
  }
  return out;
}

/** Formats broken links for an error message, one per line. */
export function describeBroken(broken: readonly Broken[]): string {
  return broken.map((b) => `  ${b.file}:${b.line}: (${b.href}) ${b.why}`).join('\n');
}

export const ROOT_OF = (metaUrl: string): string => resolve(dirname(new URL(metaUrl).pathname), '..', '..');
export const relativeTo = (root: string, p: string): string => toPosix(relative(root, p));
