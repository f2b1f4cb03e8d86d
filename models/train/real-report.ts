/**
 * The tables of docs/results.md "Real heads on MoveNet (issue 12)": reads the run folders written
 * by `npm run train -- --preset real` (metrics.json) and, optionally, the JSON of
 * `scripts/eval-real.ts --real-heads DIR --out FILE` (PCKh@0.5 on the PoseTrack sample), and
 * prints Markdown: per network, its static control and MoveNet alone, PCK vs the teacher on hard
 * and clean held-out frames and PCKh@0.5, as the mean over seeds with the seeds' values.
 *
 *   npx tsx models/train/real-report.ts RUNS_DIR [PCKH_JSON]
 *
 * Run folders are named <net>[-static]-s<seed> (and `movenet` for MoveNet alone).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

interface Metrics {
  final: { torso: Record<string, number>; box: Record<string, number>; frames: Record<string, number> };
  history?: { seconds: number }[];
  trainSeconds?: number;
  config?: { steps: number; batchSize: number };
}

const f1 = (v: number): string => (Number.isFinite(v) ? v.toFixed(1) : '–');

/** "mean (s0 / s1)" of values per seed. */
function cell(vals: number[]): string {
  if (vals.length === 0) return '–';
  const m = vals.reduce((a, b) => a + b, 0) / vals.length;
  return vals.length === 1 ? f1(m) : `${f1(m)} (${vals.map(f1).join(' / ')})`;
}

export function realReport(runsDir: string, pckhJson?: string): string {
  const dir = resolve(runsDir);
  const runs = new Map<string, { seed: number; m: Metrics }[]>();
  for (const d of readdirSync(dir).sort()) {
    const p = join(dir, d, 'metrics.json');
    if (!existsSync(p)) continue;
    const m = /^(.+?)-s(\d+)$/.exec(d);
    const id = m ? m[1]! : d;
    const list = runs.get(id) ?? [];
    list.push({ seed: m ? Number(m[2]) : 0, m: JSON.parse(readFileSync(p, 'utf8')) as Metrics });
    runs.set(id, list);
  }
  let pckh: Map<string, number> | null = null;
  if (pckhJson) {
    const j = JSON.parse(readFileSync(pckhJson, 'utf8')) as { posetrack?: { rows?: { id: string; pckh: number }[] } };
    pckh = new Map((j.posetrack?.rows ?? []).map((r) => [r.id, r.pckh]));
  }
  const order = ['movenet', 'fasrnet', 'fasrnet-static', 'vremd', 'vremd-static', 'glpose', 'glpose-static', 'rpstn', 'rpstn-static'];
  const lines: string[] = [];
  lines.push('| network | PCK@0.2 hard | PCK@0.2 clean | PCK@0.2 all | PCK@0.1 box, hard | PCK@0.1 box, clean | PCKh@0.5 PoseTrack sample | steps × batch | s/step | training s |');
  lines.push('|---|---|---|---|---|---|---|---|---|---|');
  for (const id of order) {
    const list = (runs.get(id) ?? []).sort((a, b) => a.seed - b.seed);
    if (!list.length) continue;
    const v = (get: (m: Metrics) => number): string => cell(list.map((r) => get(r.m)));
    const ph = pckh ? (id === 'movenet' ? [pckh.get('lightning-heatmaps') ?? NaN] : list.map((r) => pckh!.get(`${id}-s${r.seed}`) ?? NaN)) : [];
    const c = list[0]!.m.config;
    const sps = list.map((r) => (r.m.trainSeconds ?? 0) / Math.max(1, r.m.history?.length ?? 1));
    lines.push(
      `| ${id === 'movenet' ? 'MoveNet Lightning alone' : id} | ${v((m) => m.final.torso.hard!)} | ${v((m) => m.final.torso.clean!)} | ${v((m) => m.final.torso.all!)} | ${v((m) => m.final.box.hard!)} | ${v((m) => m.final.box.clean!)} | ${ph.length ? cell(ph) : '–'} | ${c ? `${c.steps} × ${c.batchSize}` : '–'} | ${c ? sps.map((s) => s.toFixed(1)).join(' / ') : '–'} | ${c ? list.map((r) => Math.round(r.m.trainSeconds ?? 0)).join(' / ') : '–'} |`,
    );
  }
  const first = [...runs.values()][0]?.[0]?.m.final.frames;
  if (first) lines.push('', `Held-out frames scored: ${first.all} (${first.hard} hard, ${first.clean} clean).`);
  return lines.join('\n');
}

const isMain = process.argv[1] !== undefined && resolve(process.argv[1]) === resolve(import.meta.filename);
if (isMain) {
  const [runs, json] = process.argv.slice(2);
  if (!runs) {
    process.stderr.write('usage: npx tsx models/train/real-report.ts RUNS_DIR [PCKH_JSON]\n');
    process.exit(2);
  }
  process.stdout.write(`${realReport(runs, json)}\n`);
}
