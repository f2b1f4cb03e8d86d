/**
 * Writes a report as `<dir>/<date>-<machine>[-quick].{json,md}` plus one SVG chart per mode.
 * `machine` is the hostname, or a slug of the CPU name when the hostname says nothing.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { MODES, type Mode } from '../formulas.js';
import { renderMarkdown } from './markdown.js';
import { renderChart } from './svg.js';
import type { BenchReport } from './types.js';

export function slug(s: string): string {
  return s.toLowerCase().replace(/\(r\)|\(tm\)/g, '').replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 48) || 'machine';
}

export function machineSlug(hostname: string, cpu: string): string {
  const h = hostname.trim();
  return h && h !== 'localhost' ? slug(h) : slug(cpu);
}

export function reportBaseName(report: Pick<BenchReport, 'date' | 'quick' | 'machine'>): string {
  return `${report.date.slice(0, 10)}-${machineSlug(report.machine.hostname, report.machine.cpu)}${report.quick ? '-quick' : ''}`;
}

export function chartFileName(base: string, mode: Mode): string {
  return `${base}-${mode.replace('+', '-')}.svg`;
}

/** The JSON text of a report (stable key order as built, two-space indent). */
export function renderJson(report: BenchReport): string {
  return JSON.stringify(report, null, 2) + '\n';
}

export interface WrittenFiles {
  json: string;
  markdown: string;
  charts: string[];
}

export function writeReport(report: BenchReport, dir: string): WrittenFiles {
  mkdirSync(dir, { recursive: true });
  const base = reportBaseName(report);
  const charts: string[] = [];
  for (const mode of MODES) {
    if (!report.kernels.some((k) => k.mode === mode)) continue;
    const file = path.join(dir, chartFileName(base, mode));
    writeFileSync(file, renderChart(report, mode));
    charts.push(file);
  }
  const json = path.join(dir, `${base}.json`);
  writeFileSync(json, renderJson(report));
  const markdown = path.join(dir, `${base}.md`);
  writeFileSync(markdown, renderMarkdown(report, charts.map((c) => path.basename(c))));
  return { json, markdown, charts };
}
