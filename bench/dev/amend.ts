/**
 * `npx tsx bench/dev/amend.ts <base.json> <later.json> <engine ids, comma-separated> <reason>`
 *
 * Rewrites the base report (JSON, Markdown, SVG charts, next to it) with the cells of the given
 * engines taken from the later report (report/amend.ts). Use it when a harness fix invalidates
 * one engine's column: rerun that engine alone, then amend the full run.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { amendReport } from '../report/amend.js';
import type { BenchReport } from '../report/types.js';
import { writeReport } from '../report/write.js';

const [basePath, laterPath, ids, reason] = process.argv.slice(2);
if (!basePath || !laterPath || !ids || !reason) throw new Error('amend: expected <base.json> <later.json> <engine ids> <reason>');
const base = JSON.parse(readFileSync(basePath, 'utf8')) as BenchReport;
const later = JSON.parse(readFileSync(laterPath, 'utf8')) as BenchReport;
const files = writeReport(amendReport(base, later, ids.split(','), reason), path.dirname(path.resolve(basePath)));
process.stdout.write(`amend: wrote ${[files.json, files.markdown, ...files.charts].join(', ')}\n`);
