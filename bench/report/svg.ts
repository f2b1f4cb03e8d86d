/**
 * A small SVG writer for the bench chart: grouped bars of throughput by kernel (groups) and
 * engine (bars), one panel for compute-bound kernels (GFLOP/s) and one for memory-bound kernels
 * (GB/s), on a log scale (engines differ by orders of magnitude). No chart library: the output is
 * plain SVG text, readable in any browser and on GitHub.
 */
import type { Mode } from '../formulas.js';
import { fmt, throughputOf } from './markdown.js';
import type { BenchReport, EngineReport, KernelResult } from './types.js';

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Tableau-like palette; posegrad engines take the first colours. */
const PALETTE = ['#d62728', '#ff7f0e', '#2ca02c', '#1f77b4', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf', '#393b79', '#637939', '#8c6d31', '#843c39'];

/** Decade ticks covering [lo, hi] (both > 0). */
export function logTicks(lo: number, hi: number): number[] {
  if (!(lo > 0) || !(hi > 0) || hi < lo) throw new Error(`logTicks: expected 0 < lo ≤ hi, got ${lo}, ${hi}`);
  const a = Math.floor(Math.log10(lo));
  let b = Math.ceil(Math.log10(hi));
  if (b === a) b = a + 1;
  const out: number[] = [];
  for (let e = a; e <= b; e++) out.push(10 ** e);
  return out;
}

interface Panel {
  title: string;
  groups: { label: string; values: (number | null)[] }[];
}

const BAR = 9;
const GROUP_GAP = 18;
const PANEL_H = 230;
const LEFT = 90;
const TOP_PAD = 28;
const LABEL_H = 92;

function panelSvg(p: Panel, engines: readonly EngineReport[], y0: number, width: number): string {
  const vals = p.groups.flatMap((g) => g.values).filter((v): v is number => v !== null && v > 0);
  const out: string[] = [`<text x="${LEFT}" y="${y0 + 16}" font-size="13" font-weight="bold">${escapeXml(p.title)}</text>`];
  const plotTop = y0 + TOP_PAD;
  const plotBottom = plotTop + PANEL_H;
  if (vals.length === 0) {
    out.push(`<text x="${LEFT + 10}" y="${plotTop + 40}" font-size="12" fill="#666">no measurements</text>`);
    return out.join('\n');
  }
  const ticks = logTicks(Math.min(...vals), Math.max(...vals));
  const lo = Math.log10(ticks[0]!);
  const hi = Math.log10(ticks[ticks.length - 1]!);
  const y = (v: number): number => plotBottom - ((Math.log10(v) - lo) / (hi - lo)) * PANEL_H;
  for (const t of ticks) {
    const yy = y(t).toFixed(1);
    out.push(`<line x1="${LEFT}" x2="${width - 10}" y1="${yy}" y2="${yy}" stroke="#ddd"/>`);
    out.push(`<text x="${LEFT - 6}" y="${yy}" font-size="10" text-anchor="end" dominant-baseline="middle">${escapeXml(fmt(t))}</text>`);
  }
  out.push(`<line x1="${LEFT}" x2="${LEFT}" y1="${plotTop}" y2="${plotBottom}" stroke="#333"/>`);
  out.push(`<line x1="${LEFT}" x2="${width - 10}" y1="${plotBottom}" y2="${plotBottom}" stroke="#333"/>`);
  const groupW = engines.length * BAR + GROUP_GAP;
  p.groups.forEach((g, gi) => {
    const gx = LEFT + GROUP_GAP / 2 + gi * groupW;
    g.values.forEach((v, ei) => {
      const x = gx + ei * BAR;
      const e = engines[ei]!;
      if (v === null || !(v > 0)) {
        out.push(`<text x="${(x + BAR / 2).toFixed(1)}" y="${plotBottom - 3}" font-size="7" fill="#999" text-anchor="middle">·</text>`);
        return;
      }
      const top = y(v);
      out.push(`<rect x="${x.toFixed(1)}" y="${top.toFixed(1)}" width="${BAR - 1}" height="${(plotBottom - top).toFixed(1)}" fill="${PALETTE[ei % PALETTE.length]}"><title>${escapeXml(`${g.label} · ${e.label}: ${fmt(v)}`)}</title></rect>`);
    });
    const cx = gx + (engines.length * BAR) / 2;
    out.push(`<text x="${cx.toFixed(1)}" y="${plotBottom + 12}" font-size="10" text-anchor="end" transform="rotate(-30 ${cx.toFixed(1)} ${plotBottom + 12})">${escapeXml(g.label)}</text>`);
  });
  return out.join('\n');
}

/** The chart of one mode as an SVG document. */
export function renderChart(report: BenchReport, mode: Mode): string {
  const used = new Set(report.kernels.filter((k) => k.mode === mode).map((k) => k.engineId));
  const engines = report.engines.filter((e) => used.has(e.id));
  const find = (w: string, e: string): KernelResult | undefined => report.kernels.find((k) => k.workload === w && k.mode === mode && k.engineId === e);
  const workloads: { id: string; label: string; metric: 'flops' | 'bytes' }[] = [];
  for (const k of report.kernels) if (k.mode === mode && !workloads.some((w) => w.id === k.workload)) workloads.push({ id: k.workload, label: k.label, metric: k.metric });
  const panel = (metric: 'flops' | 'bytes', title: string): Panel => ({
    title,
    groups: workloads.filter((w) => w.metric === metric).map((w) => ({
      // the short id: full labels (and --quick's shape notes) do not fit under a bar group
      label: w.id,
      values: engines.map((e) => {
        const r = find(w.id, e.id);
        return r && r.status === 'ok' ? (throughputOf(r) ?? null) : null;
      }),
    })),
  });
  const panels = [panel('flops', `GFLOP/s (log scale), ${mode}`), panel('bytes', `GB/s of compulsory traffic (log scale), ${mode}`)].filter((p) => p.groups.length > 0);
  const maxGroups = Math.max(1, ...panels.map((p) => p.groups.length));
  const width = Math.max(640, LEFT + maxGroups * (engines.length * BAR + GROUP_GAP) + 20);
  const legendRows = Math.ceil(engines.length / 5);
  const legendH = 16 * legendRows + 34;
  const panelH = TOP_PAD + PANEL_H + LABEL_H;
  const height = legendH + panels.length * panelH + 10;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="18" font-size="14" font-weight="bold">${escapeXml(`posegrad bench ${report.date.slice(0, 10)}: ${report.machine.cpu}${report.quick ? ' (--quick: not meaningful)' : ''}`)}</text>`,
  ];
  engines.forEach((e, i) => {
    const x = 10 + (i % 5) * Math.floor((width - 20) / 5);
    const yy = 30 + Math.floor(i / 5) * 16;
    out.push(`<rect x="${x}" y="${yy}" width="10" height="10" fill="${PALETTE[i % PALETTE.length]}"/>`);
    out.push(`<text x="${x + 14}" y="${yy + 9}" font-size="11">${escapeXml(e.label)}</text>`);
  });
  panels.forEach((p, i) => out.push(panelSvg(p, engines, legendH + i * panelH, width)));
  out.push('</svg>');
  return out.join('\n') + '\n';
}
