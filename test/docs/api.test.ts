/**
 * The API reference (`npm run docs:api`: TypeDoc with typedoc.json, into out/api/): TypeDoc must
 * convert and validate both entries (`posegrad`, `posegrad/node`) with no error or warning (a type
 * that an export refers to but the package does not export is a warning, see
 * `intentionallyNotExported`), and every runtime export of index.ts and node.ts must have a page,
 * except those tagged @internal. Nothing is written: the HTML is generated on demand, never
 * committed.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Application, ReflectionKind, TSConfigReader, TypeDocReader, type ProjectReflection } from 'typedoc';
import { describe, expect, it } from 'vitest';
import * as main from '../../index.js';
import * as node from '../../node.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Names declared right after an `@internal` docblock in the library's sources. */
function internalNames(): Set<string> {
  const out = new Set<string>();
  const walk = (dir: string): void => {
    for (const d of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      const p = `${dir}/${d.name}`;
      if (d.isDirectory()) {
        if (!/assembly$|models\/train$/.test(p)) walk(p);
      } else if (p.endsWith('.ts')) {
        const text = readFileSync(join(ROOT, p), 'utf8');
        for (const m of text.matchAll(/\/\*\*((?:(?!\*\/)[\s\S])*?@internal[\s\S]*?)\*\/\s*export (?:declare )?(?:async )?(?:function|const|class|let) (\w+)/g)) out.add(m[2]!);
      }
    }
  };
  for (const dir of ['engine', 'backends', 'ops', 'models']) walk(dir);
  return out;
}

describe('the API reference (TypeDoc)', () => {
  it('converts both entries without warnings, and documents every export', async () => {
    const app = await Application.bootstrap({ options: join(ROOT, 'typedoc.json'), logLevel: 'Error' }, [new TypeDocReader(), new TSConfigReader()]);
    const warnings: string[] = [];
    const log = app.logger.log.bind(app.logger);
    app.logger.log = (message, level) => {
      warnings.push(String(message));
      log(message, level);
    };
    const project = (await app.convert()) as ProjectReflection;
    expect(project, 'TypeDoc converted the project').toBeDefined();
    app.validate(project);
    expect(app.logger.errorCount, warnings.join('\n')).toBe(0);
    expect(app.logger.warningCount, warnings.join('\n')).toBe(0);

    const internal = internalNames();
    for (const [entry, mod] of [['index', main], ['node', node]] as const) {
      const reflection = project.getChildByName(entry);
      expect(reflection?.kindOf(ReflectionKind.Module), `module '${entry}'`).toBe(true);
      const documented = new Set((reflection as { children?: { name: string }[] }).children?.map((c) => c.name) ?? []);
      const missing = Object.keys(mod).filter((k) => !documented.has(k) && !internal.has(k));
      expect(missing, `exports of ${entry}.ts without a page`).toEqual([]);
      expect(documented.size).toBeGreaterThan(300);
    }
  });
});
