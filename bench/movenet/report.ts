/**
 * The MoveNet race in the bench report: the `movenet` section of the JSON, built from the engine
 * processes' messages by pure functions (the correctness check, ratios, targets), and its Markdown.
 */
import { fmt, fmtBytes } from '../report/markdown.js';
import { summarize, type Stats } from '../stats.js';
import type { TimingPlan } from '../timing.js';
import { checkKeypoints, TOLERANCE_PX, type FramePoses } from './check.js';
import { MOVENET_PAIRS, type MoveNetCellMessage, type MoveNetEngineDef } from './engines.js';
import type { MoveNetModelId } from './models.js';

export interface MoveNetEngineReport extends MoveNetEngineDef {
  status: 'ok' | 'failed' | 'not-run';
  error?: string;
  version?: string;
  details?: Record<string, string | number | boolean>;
  /** The CPU list the process was pinned to (taskset -c), if any. */
  pinnedTo?: string;
  maxRssBytes?: number;
}

export interface MoveNetCellResult {
  engineId: string;
  model: MoveNetModelId;
  status: 'ok' | 'na' | 'error';
  reason?: string;
  /** ms per frame: upload, forward, read back the keypoint outputs. */
  stats?: Stats;
  firstMs?: number;
  plan?: TimingPlan;
  loadMs?: number;
  /** Largest keypoint distance to the reference over every frame, person and keypoint (px). */
  worstPx?: number;
  /** posegrad: host decoding of one frame's maps (decodeSinglePose / decodeMultiPose), ms. */
  decode?: Stats;
}

export interface MoveNetRatio {
  model: MoveNetModelId;
  ours: string;
  peer: string;
  /** Peer median ÷ posegrad median (ms per frame); > 1: posegrad is faster. */
  ratio: number;
  /** The same with posegrad's host decoding added to its time (TF.js decodes in its graph). */
  ratioWithDecode?: number;
}

export interface MoveNetTarget {
  text: string;
  model: MoveNetModelId;
  ours: string;
  peer: string;
  min: number;
  ratio?: number;
  status: 'met' | 'not met' | 'not measured';
  reason?: string;
}

export interface MoveNetReport {
  /** Demo frames each model saw, and the input each model got. */
  frames: string[];
  models: { id: MoveNetModelId; label: string; size: [number, number]; input: string }[];
  tolerancePx: number;
  reference: { engine: string; status: 'ok' | 'failed' | 'not-run'; version?: string; error?: string; cachedFrames?: number; computedFrames?: number };
  /** Where the TF.js graph models came from. */
  graphModels: string;
  engines: MoveNetEngineReport[];
  cells: MoveNetCellResult[];
  ratios: MoveNetRatio[];
  targets: MoveNetTarget[];
}

/**
 * One engine's cell after the correctness check: an ok cell whose keypoints are more than
 * `tolerancePx` from the reference on any frame becomes an error and loses its timings; without a
 * reference nothing is checked, and no time is reported either ('na').
 */
export function checkCell(m: MoveNetCellMessage, ref: { keypoints: FramePoses[]; frames: string[] } | { missing: string }, tolerancePx = TOLERANCE_PX): MoveNetCellResult {
  const c: MoveNetCellResult = { engineId: m.engineId, model: m.model, status: m.status };
  if (m.reason) c.reason = m.reason;
  if (m.loadMs !== undefined) c.loadMs = m.loadMs;
  if (m.status !== 'ok') return c;
  if ('missing' in ref) return { ...c, status: 'na', reason: `not checked, so not timed: no TF.js reference (${ref.missing})` };
  if (!m.keypoints || !m.frames || m.frames.join() !== ref.frames.join()) {
    return { ...c, status: 'error', reason: `expected keypoints for the reference's frames [${ref.frames.join(', ')}], got ${m.frames ? `[${m.frames.join(', ')}]` : 'none'}` };
  }
  const r = checkKeypoints(m.keypoints, ref.keypoints, ref.frames, tolerancePx);
  if (!r.ok) return { ...c, status: 'error', worstPx: r.worstPx, reason: `wrong keypoints: ${r.detail}, ${Number.isFinite(r.worstPx) ? `${r.worstPx.toFixed(2)} px` : 'no match'} > ${tolerancePx} px from TF.js` };
  c.worstPx = r.worstPx;
  if (!m.samples?.length) return { ...c, status: 'error', reason: 'expected timed frames, got none' };
  c.stats = summarize(m.samples);
  if (m.firstMs !== undefined) c.firstMs = m.firstMs;
  if (m.plan) c.plan = m.plan;
  if (m.decodeSamples?.length) c.decode = summarize(m.decodeSamples);
  return c;
}

/** Ratios of the pairs in MOVENET_PAIRS that both have a time, and the targets (met / not met / not measured). */
export function compare(cells: readonly MoveNetCellResult[], engines: readonly MoveNetEngineReport[], models: readonly MoveNetModelId[]): { ratios: MoveNetRatio[]; targets: MoveNetTarget[] } {
  const ratios: MoveNetRatio[] = [];
  const targets: MoveNetTarget[] = [];
  const label = (id: string): string => engines.find((e) => e.id === id)?.label ?? id;
  for (const model of models) {
    for (const pair of MOVENET_PAIRS) {
      const ours = cells.find((c) => c.model === model && c.engineId === pair.ours);
      const peer = cells.find((c) => c.model === model && c.engineId === pair.peer);
      const ok = ours?.stats && peer?.stats;
      if (ok) {
        const r: MoveNetRatio = { model, ours: pair.ours, peer: pair.peer, ratio: peer.stats!.median / ours.stats!.median };
        if (ours.decode) r.ratioWithDecode = peer.stats!.median / (ours.stats!.median + ours.decode.median);
        ratios.push(r);
      }
      if (pair.target === undefined) continue;
      if (!ours && !peer) continue;
      const t: MoveNetTarget = { text: `${label(pair.ours)} ≥ ${pair.target}x ${label(pair.peer)}`, model, ours: pair.ours, peer: pair.peer, min: pair.target, status: 'not measured' };
      if (ok) {
        t.ratio = peer.stats!.median / ours.stats!.median;
        t.status = t.ratio >= pair.target ? 'met' : 'not met';
      } else {
        const why = (id: string, c: MoveNetCellResult | undefined): string => `${label(id)}: ${c ? `${c.status === 'na' ? 'n/a' : c.status}${c.reason ? ` (${c.reason})` : ''}` : 'not run'}`;
        t.reason = [!ours?.stats ? why(pair.ours, ours) : '', !peer?.stats ? why(pair.peer, peer) : ''].filter((s) => s).join('; ');
      }
      targets.push(t);
    }
  }
  return { ratios, targets };
}

// ---------------------------------------------------------------------------------------------
// Markdown

function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const esc = (s: string): string => s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
  return [`| ${head.map(esc).join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`)].join('\n');
}

export function renderMoveNetMarkdown(r: MoveNetReport, quick: boolean): string {
  const notes: string[] = [];
  const note = (t: string): string => {
    let i = notes.indexOf(t);
    if (i < 0) i = notes.push(t) - 1;
    return `[${i + 1}]`;
  };
  const engines = r.engines.filter((e) => r.cells.some((c) => c.engineId === e.id));
  const rows = r.models.map((m) => [m.label, ...engines.map((e) => {
    const c = r.cells.find((x) => x.model === m.id && x.engineId === e.id);
    if (!c) return '';
    if (c.status !== 'ok' || !c.stats) return `${c.status === 'na' ? 'n/a' : 'error'} ${note(c.reason ?? '')}`;
    return `${fmt(c.stats.median)} (${fmt(c.stats.p25)}–${fmt(c.stats.p75)}, N=${c.stats.n})`;
  })]);
  const worstRows = r.models.map((m) => [m.label, ...engines.map((e) => {
    const c = r.cells.find((x) => x.model === m.id && x.engineId === e.id);
    return c?.worstPx !== undefined ? (Number.isFinite(c.worstPx) ? c.worstPx.toFixed(3) : '∞') : '–';
  })]);
  const decodeRows = r.models.map((m) => [m.label, ...engines.filter((e) => e.kind === 'posegrad').map((e) => {
    const c = r.cells.find((x) => x.model === m.id && x.engineId === e.id);
    return c?.decode ? fmt(c.decode.median) : '–';
  })]);
  const label = (id: string): string => r.engines.find((e) => e.id === id)?.label ?? id;
  const ratioRows = r.ratios.map((x) => [r.models.find((m) => m.id === x.model)?.label ?? x.model, `${label(x.ours)} vs ${label(x.peer)}`, `${fmt(x.ratio)}x`, x.ratioWithDecode !== undefined ? `${fmt(x.ratioWithDecode)}x` : '–']);
  const targetRows = r.targets.map((t) => [t.text, r.models.find((m) => m.id === t.model)?.label ?? t.model, t.ratio !== undefined ? `${fmt(t.ratio)}x` : '–', t.status === 'not measured' ? `not measured ${note(t.reason ?? '')}` : t.status === 'met' ? 'met' : '**NOT met**']);
  const engineRows = r.engines.map((e) => [e.label, e.version ?? '', e.threads === 'gpu' ? 'WebGPU' : String(e.threads), e.pinnedTo ?? '', e.status === 'ok' ? 'ok' : `${e.status}: ${e.error ?? ''}`, Object.entries(e.details ?? {}).map(([k, v]) => `${k}: ${String(v)}`).join('; '), e.maxRssBytes ? fmtBytes(e.maxRssBytes) : '']);
  const ref = r.reference;
  const parts = [
    '## MoveNet: posegrad against TF.js, ms per frame',
    '',
    ...(quick ? ['_--quick: fewer models and frames, few runs; these times say nothing._', ''] : []),
    `Google's MoveNet on the same weights (posegrad: \`assets/weights/movenet/\`, converted from the TF.js graphs that TF.js runs: ${r.graphModels}) and the same inputs: demo frames ${r.frames.join(', ')}. One frame = upload the input, forward, read back what the keypoints need (posegrad: its maps, decoded on the host afterwards; TF.js: its graph's output, keypoints decoded in the graph). Median ms per frame (p25–p75, N). Every cell's keypoints on every frame must lie within ${r.tolerancePx} px of the reference (${ref.engine}${ref.version ? ` ${ref.version}` : ''}: ${ref.status}${ref.error ? `, ${ref.error}` : ''}${ref.cachedFrames ? `, ${ref.cachedFrames} frames from its cache` : ''}${ref.computedFrames ? `, ${ref.computedFrames} computed` : ''}), else the cell is an error and shows no time.`,
    '',
    table(['model', ...engines.map((e) => e.label)], rows),
    '',
    `### Keypoints: largest distance to the reference, px (over every frame, person and keypoint; the check fails above ${r.tolerancePx})`,
    '',
    table(['model', ...engines.map((e) => e.label)], worstRows),
    '',
    '### posegrad host decoding, ms per frame (not in the times above; TF.js decodes in its graph)',
    '',
    table(['model', ...engines.filter((e) => e.kind === 'posegrad').map((e) => e.label)], decodeRows),
    '',
    '### Ratios (TF.js median ÷ posegrad median; > 1: posegrad is faster)',
    '',
    ratioRows.length ? table(['model', 'pair', 'ratio', 'with posegrad host decode'], ratioRows) : '_No pair measured._',
    '',
    '### Targets',
    '',
    targetRows.length ? table(['target', 'model', 'ratio', 'status'], targetRows) : '_No target measured._',
    '',
    '### Engines',
    '',
    table(['engine', 'version', 'threads', 'pinned to CPU', 'status', 'details', 'process peak RSS'], engineRows),
    '',
    'Inputs: ' + r.models.map((m) => `${m.label}: ${m.input}`).join('; ') + '.',
  ];
  if (notes.length) parts.push('', notes.map((t, i) => `[${i + 1}] ${t}`).join('  \n'));
  return parts.join('\n');
}
