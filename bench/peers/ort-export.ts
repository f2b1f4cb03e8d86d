/**
 * The export step of the onnxruntime network peers, as a process of its own:
 *
 *   node --import tsx bench/peers/ort-export.ts <dir> '[{"name":"rpstn","preset":"small"}, ...]'
 *
 * exports each (network, preset) with `exportBenchNetwork` (ort-networks.ts) into <dir>, one after
 * another, and writes one protocol line per model on stdout (protocol.ts MARK + JSON):
 * `{ "type": "export", name, preset, ok, nodes?, exportMs?, error? }`. It exits 0 even when an
 * export fails (the error is in its line; the onnxruntime cells of that model then say why).
 * The bench parent (index.ts) runs it before the onnxruntime engine processes, so that their RSS
 * and time hold nothing of posegrad.
 */
import { MARK } from '../protocol.js';
import { exportBenchNetwork } from './ort-networks.js';

export interface ExportLine {
  type: 'export';
  name: string;
  preset: string;
  ok: boolean;
  nodes?: number;
  exportMs?: number;
  error?: string;
}

/** The export line in a stdout line, or null for any other line. */
export function decodeExportLine(line: string): ExportLine | null {
  if (!line.startsWith(MARK)) return null;
  const v = JSON.parse(line.slice(MARK.length)) as { type?: string };
  return v.type === 'export' ? (v as ExportLine) : null;
}

async function main(): Promise<void> {
  const [dir, list] = process.argv.slice(2);
  let models: { name: string; preset: string }[];
  try {
    models = JSON.parse(list ?? '') as { name: string; preset: string }[];
    if (!dir || !Array.isArray(models)) throw new Error('not a list');
  } catch {
    throw new Error(`ort-export: expected <dir> '<JSON list of {name, preset}>', got ${JSON.stringify(process.argv.slice(2))}`);
  }
  for (const { name, preset } of models) {
    let line: ExportLine;
    try {
      const m = await exportBenchNetwork(name, preset, dir);
      line = { type: 'export', name, preset, ok: true, nodes: m.nodes, exportMs: m.exportMs };
    } catch (e) {
      line = { type: 'export', name, preset, ok: false, error: (e as Error).message };
    }
    process.stdout.write(`${MARK}${JSON.stringify(line)}\n`);
  }
}

const isMain = process.argv[1] !== undefined && import.meta.filename === (await import('node:path')).resolve(process.argv[1]);
if (isMain) {
  main().then(
    () => process.exit(0),
    (e) => {
      process.stderr.write(`${(e as Error).message}\n`);
      process.exit(2);
    },
  );
}
