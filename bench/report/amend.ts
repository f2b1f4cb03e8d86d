/**
 * Replaces the cells of some engines in a report with those of a later run: after a harness fix
 * for one engine, its column is measured again instead of the whole run. The throughput, ratios
 * and targets are recomputed with the base report's peak, and the report records the amendment
 * (which engines, which run, why), so that every number still says where it comes from.
 */
import { MODES } from '../formulas.js';
import { KERNEL_WORKLOADS } from '../workloads.js';
import { addThroughput, computeRatios, evaluateTargets } from './analyze.js';
import type { BenchReport } from './types.js';

export function amendReport(base: BenchReport, later: BenchReport, engineIds: readonly string[], reason: string): BenchReport {
  if (base.quick !== later.quick) throw new Error(`amend: expected two reports of the same kind, got quick=${base.quick} and quick=${later.quick}`);
  for (const id of engineIds) {
    if (!base.engines.some((e) => e.id === id)) throw new Error(`amend: expected engine '${id}' in the base report, got [${base.engines.map((e) => e.id).join(', ')}]`);
    if (!later.engines.some((e) => e.id === id && e.status !== 'not-run')) throw new Error(`amend: expected engine '${id}' to have run in the later report, got none`);
  }
  const replaced = new Set(engineIds);
  const engines = base.engines.map((e) => (replaced.has(e.id) ? structuredClone(later.engines.find((l) => l.id === e.id)!) : structuredClone(e)));
  const kernels = [...base.kernels.filter((k) => !replaced.has(k.engineId)), ...later.kernels.filter((k) => replaced.has(k.engineId))].map((k) => structuredClone(k));
  const engineOrder = new Map(engines.map((e, i) => [e.id, i]));
  const wOrder = new Map(KERNEL_WORKLOADS.map((w, i) => [w.id, i]));
  kernels.sort((a, b) => (wOrder.get(a.workload) ?? 0) - (wOrder.get(b.workload) ?? 0) || MODES.indexOf(a.mode) - MODES.indexOf(b.mode) || (engineOrder.get(a.engineId) ?? 0) - (engineOrder.get(b.engineId) ?? 0));
  addThroughput(kernels, engines, base.peak, base.machine);
  const ratios = computeRatios(kernels, engines);
  const amendment = { engines: [...engineIds], date: later.date, argv: later.argv, git: later.git, reason, ...(later.machine.loadAverage ? { loadAverage: later.machine.loadAverage } : {}) };
  return { ...structuredClone(base), engines, kernels, ratios, targets: evaluateTargets(kernels, ratios, engines), amendments: [...(base.amendments ?? []), amendment] };
}
