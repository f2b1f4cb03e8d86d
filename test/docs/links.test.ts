/**
 * The relative links of README.md, CHANGELOG.md, docs/ and test/browser/README.md (test/docs/links.ts
 * reads them): every one must resolve in the repository (file and heading), and every one in a
 * Markdown file that the package ships must resolve inside the package, as package.json `files`
 * describes it (test/browser/consumer.test.ts checks the same against the packed tarball).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { anchorsOf, brokenLinks, describeBroken, inPackageFiles, linksOf, markdownFiles, ROOT_OF } from './links.js';

const ROOT = ROOT_OF(import.meta.url);
const files = markdownFiles(ROOT);
const pkgFiles = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { files: string[] }).files;

describe('links in the Markdown docs', () => {
  it('finds the docs and their links', () => {
    expect(files).toContain('README.md');
    expect(files).toContain('docs/architecture.md');
    expect(files.filter((f) => f.startsWith('docs/kernels/')).length).toBeGreaterThan(1);
    const relative = files.flatMap((f) => linksOf(f, readFileSync(join(ROOT, f), 'utf8'))).filter((l) => !/^[a-z]+:/i.test(l.href));
    expect(relative.length).toBeGreaterThan(50);
  });

  it('every relative link resolves in the repository', () => {
    const broken = brokenLinks(ROOT, files);
    if (broken.length) throw new Error(`${broken.length} broken relative links (fix the link, or the heading it points to):\n${describeBroken(broken)}`);
  });

  it('every relative link of a shipped Markdown file resolves inside the package', () => {
    const shipped = files.filter((f) => inPackageFiles(pkgFiles, f));
    expect(shipped).toContain('README.md');
    const broken = brokenLinks(ROOT, shipped, (p) => existsSync(join(ROOT, p)) && inPackageFiles(pkgFiles, p));
    if (broken.length) throw new Error(`${broken.length} links of the shipped docs point outside the package (link to something it ships, or add the target to package.json "files"):\n${describeBroken(broken)}`);
  });
});

describe('the checker', () => {
  it('reads inline links, images, reference definitions and HTML, but not code', () => {
    const md = [
      '# Title', 'See [a](a.md) and ![img](img/x.svg "t") and [ref][r].', '', '[r]: ./b.md#part', '<a href="c.md">c</a> <img src="d.png">',
      '```sh', '[not](a link.md)', '```', 'and `[nor](this.md)` either, but [e](<e f.md>).',
    ].join('\n');
    expect(linksOf('x.md', md).map((l) => [l.line, l.href])).toEqual([[2, 'a.md'], [2, 'img/x.svg'], [4, './b.md#part'], [5, 'c.md'], [5, 'd.png'], [9, 'e f.md']]);
  });

  it("slugs headings as GitHub does", () => {
    const a = anchorsOf('# Using posegrad in a browser\n## `init(device, options)`\n## WebGPU without a GPU (Linux)\n## Notes\n## Notes\n```\n# not a heading\n```\n');
    expect([...a]).toEqual(['using-posegrad-in-a-browser', 'initdevice-options', 'webgpu-without-a-gpu-linux', 'notes', 'notes-1']);
  });

  it('reports missing files, missing headings, and links that leave the root', () => {
    const dir = mkdtempSync(join(tmpdir(), 'posegrad-links-'));
    try {
      mkdirSync(join(dir, 'docs'));
      writeFileSync(join(dir, 'README.md'), '# Top\n## Using it\n[ok](docs/a.md#details) [here](#using-it) [gone](docs/b.md) [anchor](docs/a.md#nope) [out](../x.md) [web](https://example.com/x)\n');
      writeFileSync(join(dir, 'docs', 'a.md'), '# A\n## Details\n[back](../README.md#top) [folder](./)\n');
      const broken = brokenLinks(dir, ['README.md', 'docs/a.md']);
      expect(broken.map((b) => [b.file, b.href, b.why])).toEqual([
        ['README.md', 'docs/b.md', 'no such file: docs/b.md'],
        ['README.md', 'docs/a.md#nope', "no heading '#nope' in docs/a.md"],
        ['README.md', '../x.md', 'it leaves the root'],
      ]);
      const shippedOnly = brokenLinks(dir, ['README.md'], (p) => p === 'README.md');
      expect(shippedOnly.map((b) => b.href)).toEqual(['docs/a.md#details', 'docs/b.md', 'docs/a.md#nope', '../x.md']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads package.json "files" entries as npm does', () => {
    const entries = ['dist', 'docs/', 'ops/*.ts', 'README.md'];
    expect(inPackageFiles(entries, 'docs/kernels/matmul.md')).toBe(true);
    expect(inPackageFiles(entries, 'docs')).toBe(true);
    expect(inPackageFiles(entries, 'ops/conv.ts')).toBe(true);
    expect(inPackageFiles(entries, 'ops/sub/conv.ts')).toBe(false);
    expect(inPackageFiles(entries, 'bench/results/x.md')).toBe(false);
    expect(inPackageFiles(entries, 'distant.js')).toBe(false);
    expect(inPackageFiles(['dist'], 'package.json')).toBe(true);
  });
});
