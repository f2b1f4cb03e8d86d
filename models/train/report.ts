/**
 * Tables for docs/results.md from the runs' metrics.json files.
 *
 *   npx tsx models/train/report.ts RUNS_DIR [OTHER_SEED_DIR ...]
 *
 * reads RUNS_DIR/<id>/metrics.json for every run folder and prints Markdown: the main table
 * (final mAP on all / hard / clean / occluded / blurred validation frames, with the difference to
 * the baseline each network is paired with), the per-joint-group AP of each subset, and timings.
 * Further folders hold the same stage-2 runs with other seeds: a table then sets the final mAP of
 * each seed side by side (`seedMarkdown`).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

interface Metrics {
  id: string;
  config: { model: string; arch: string; steps: number; batchSize: number; seed: number; device: string; init: string | null; staticInput?: boolean; recipe: { optimizer: string; lr: number; milestones: number[] } };
  parameters: { total: number; trainable: number };
  final: { mAP: Record<string, number>; tables: Record<string, Record<string, number>> };
  evals: { step: number; stride: number; mAP: Record<string, number> }[];
  trainSeconds: number;
  evalSeconds: number;
  machine: { loadavg: number[] };
}

/** The single-frame network each run is compared with. */
const PAIR: Record<string, string> = { fasrnet: 'hrnet', glpose: 'hrnet', vremd: 'vitpose', rpstn: 'simplebaseline' };

export function loadRuns(dir: string): Map<string, Metrics> {
  const out = new Map<string, Metrics>();
  for (const d of readdirSync(dir).sort()) {
    const p = join(dir, d, 'metrics.json');
    if (existsSync(p)) out.set(d, JSON.parse(readFileSync(p, 'utf8')) as Metrics);
  }
  return out;
}

const f1 = (v: number | undefined): string => (v === undefined || Number.isNaN(v) ? '–' : v.toFixed(1));
const sgn = (v: number): string => `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(1)}`;

/** The Markdown tables for the runs of `dir` (stage-1 runs are the folders named pre-*). */
export function reportMarkdown(dir: string): string {
  const runs = loadRuns(dir);
  const lines: string[] = [];
  const base = (arch: string): Metrics | undefined => runs.get(`baseline-${arch}`);
  const order = ['baseline-hrnet', 'fasrnet', 'fasrnet-static', 'glpose', 'glpose-static', 'baseline-vitpose', 'vremd', 'vremd-static', 'baseline-simplebaseline', 'rpstn', 'rpstn-static'];
  const pre = (arch: string): Metrics | undefined => runs.get(`pre-baseline-${arch}`);
  lines.push('| network | paired baseline | trained params | steps (stage 1 + 2) | train min | mAP all | hard | clean | occluded | blurred | Δ hard | Δ clean |');
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const id of order) {
    const m = runs.get(id);
    if (!m) continue;
    const arch = m.config.model === 'baseline' ? m.config.arch : PAIR[m.config.model]!;
    const b = base(arch);
    const a = m.final.mAP;
    const d = (k: string): string => (m.config.model === 'baseline' || !b ? '' : sgn(a[k]! - b.final.mAP[k]!));
    const p1 = m.config.init ? pre(arch) : undefined;
    const steps = p1 ? `${p1.config.steps} + ${m.config.steps}` : `${m.config.steps}`;
    const minutes = ((p1?.trainSeconds ?? 0) + m.trainSeconds) / 60;
    lines.push(`| ${id} | ${m.config.model === 'baseline' ? '—' : `baseline-${arch}`} | ${m.parameters.trainable.toLocaleString('en-US')} | ${steps} | ${minutes.toFixed(1)} | ${f1(a.all)} | ${f1(a.hard)} | ${f1(a.clean)} | ${f1(a.occluded)} | ${f1(a.blurred)} | ${d('hard')} | ${d('clean')} |`);
  }
  lines.push('');
  lines.push('Per joint group (AP), hard frames / clean frames:');
  lines.push('');
  lines.push('| network | Head | Sho | Elb | Wri | Hip | Knee | Ank | Mean |');
  lines.push('|---|---|---|---|---|---|---|---|---|');
  for (const id of order) {
    const m = runs.get(id);
    if (!m) continue;
    const h = m.final.tables.hard!;
    const c = m.final.tables.clean!;
    const cells = ['head', 'shoulder', 'elbow', 'wrist', 'hip', 'knee', 'ankle', 'mean'].map((k) => `${f1(h[k])} / ${f1(c[k])}`);
    lines.push(`| ${id} | ${cells.join(' | ')} |`);
  }
  lines.push('');
  lines.push('Runs (steps of batch 8; wall-clock seconds of training and of evaluation; load average at the end):');
  lines.push('');
  lines.push('| run | init | optimizer | steps | train s | eval s | s/step | load |');
  lines.push('|---|---|---|---|---|---|---|---|');
  for (const [id, m] of runs) {
    const r = m.config.recipe;
    const init = m.config.init ? m.config.init.split('/').slice(-2, -1)[0] : 'random';
    lines.push(`| ${id} | ${init} | ${r.optimizer} ${r.lr}${r.milestones.length ? ` ÷10 at ${r.milestones.map((x) => `${Math.round(x * 100)}%`).join('/')}` : ''} | ${m.config.steps} | ${m.trainSeconds.toFixed(0)} | ${m.evalSeconds.toFixed(0)} | ${(m.trainSeconds / m.config.steps).toFixed(2)} | ${m.machine.loadavg[0]!.toFixed(1)} |`);
  }
  lines.push('');
  const stage2 = order.map((id) => runs.get(id)).filter((m): m is Metrics => m !== undefined);
  const evalSteps = [...new Set(stage2.flatMap((m) => m.evals.map((e) => e.step)))].sort((x, y) => x - y);
  lines.push('Validation mAP (all frames) during stage 2 (* = a periodic evaluation on every 4th frame; the last is the final one on every frame):');
  lines.push('');
  lines.push(`| run | ${evalSteps.map((s) => `step ${s}`).join(' | ')} |`);
  lines.push(`|---|${evalSteps.map(() => '---').join('|')}|`);
  for (const id of order) {
    const m = runs.get(id);
    if (!m) continue;
    const at = (s: number): string => {
      const e = m.evals.filter((x) => x.step === s).sort((x, y) => x.stride - y.stride)[0];
      return e ? `${f1(e.mAP.all)}${e.stride > 1 ? '*' : ''}` : '–';
    };
    lines.push(`| ${id} | ${evalSteps.map(at).join(' | ')} |`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The final mAP (all / hard / clean) of each stage-2 run in each of `dirs` (one seed per folder),
 * with the difference to the paired baseline of the same seed, and each temporal network minus its
 * static control; runs missing from a folder show –.
 */
export function seedMarkdown(dirs: readonly string[]): string {
  const sets = dirs.map((d) => ({ seed: [...loadRuns(d).values()][0]?.config.seed, runs: loadRuns(d) }));
  const ids = ['baseline-hrnet', 'fasrnet', 'fasrnet-static', 'glpose', 'glpose-static', 'baseline-vitpose', 'vremd', 'vremd-static', 'baseline-simplebaseline', 'rpstn', 'rpstn-static'];
  const lines: string[] = [];
  lines.push(`| network | ${sets.map((s) => `seed ${s.seed}: all / hard / clean (Δ all vs baseline)`).join(' | ')} |`);
  lines.push(`|---|${sets.map(() => '---').join('|')}|`);
  for (const id of ids) {
    const cells = sets.map(({ runs }) => {
      const m = runs.get(id);
      if (!m) return '–';
      const a = m.final.mAP;
      const b = m.config.model === 'baseline' ? undefined : runs.get(`baseline-${PAIR[m.config.model]}`);
      return `${f1(a.all)} / ${f1(a.hard)} / ${f1(a.clean)}${b ? ` (${sgn(a.all! - b.final.mAP.all!)})` : ''}`;
    });
    lines.push(`| ${id} | ${cells.join(' | ')} |`);
  }
  lines.push('');
  lines.push('What the neighbouring frames bring: each temporal network minus its static control (same seed), all / hard / clean:');
  lines.push('');
  lines.push(`| network | ${sets.map((s) => `seed ${s.seed}`).join(' | ')} |`);
  lines.push(`|---|${sets.map(() => '---').join('|')}|`);
  for (const id of ['fasrnet', 'glpose', 'vremd', 'rpstn']) {
    const cells = sets.map(({ runs }) => {
      const m = runs.get(id);
      const c = runs.get(`${id}-static`);
      if (!m || !c) return '–';
      return (['all', 'hard', 'clean'] as const).map((k) => sgn(m.final.mAP[k]! - c.final.mAP[k]!)).join(' / ');
    });
    lines.push(`| ${id} | ${cells.join(' | ')} |`);
  }
  return `${lines.join('\n')}\n`;
}

const isMain = process.argv[1] !== undefined && resolve(process.argv[1]) === resolve(fileURLToPath(import.meta.url));
if (isMain) {
  const dirs = process.argv.slice(2).map((d) => resolve(d));
  process.stdout.write(reportMarkdown(dirs[0] ?? resolve('out/train')));
  if (dirs.length > 1) process.stdout.write(`\nFinal mAP per seed of stage 2:\n\n${seedMarkdown(dirs)}`);
}
