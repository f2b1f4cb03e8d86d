/**
 * `npx tsx bench/dev/render.ts <report.json>`
 *
 * Rewrites a report's Markdown and SVG charts (next to it) from its JSON, recomputing the derived
 * network figures (networkRatios, paperMemory) from its cells: after a change to the report
 * writers, an existing run reads as a new one would. The measured cells are not touched.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { computeNetworkRatios, paperMemory } from '../report/analyze.js';
import type { BenchReport } from '../report/types.js';
import { writeReport } from '../report/write.js';

const [file] = process.argv.slice(2);
if (!file) throw new Error('render: expected <report.json>, got nothing');
const report = JSON.parse(readFileSync(file, 'utf8')) as BenchReport;
delete report.networkRatios;
delete report.paperMemory;
const networkRatios = computeNetworkRatios(report.networks, report.engines);
const rows = paperMemory(report.networks);
if (networkRatios.length) report.networkRatios = networkRatios;
if (rows.length) report.paperMemory = rows;
const files = writeReport(report, path.dirname(path.resolve(file)));
process.stdout.write(`render: wrote ${[files.json, files.markdown, ...files.charts].join(', ')}\n`);
