/**
 * Replaces the cells of some engines in a report with those of a later run: after a harness fix
 * for one engine, its column is measured again instead of the whole run. An engine the base run
 * did not have is added (e.g. the webgpu column of a paper-size run, measured after the others).
 * Kernel cells are taken as a column when the later run timed kernels on that engine (the engine's
 * base kernel cells are dropped; a network-only later run leaves them); network cells one by
 * one (a later cell replaces the base cell of the same engine, network, preset and mode, the
 * engine's other network cells stay). The throughput, ratios, network ratios, paper-memory
 * rows and targets are recomputed with the base report's peak, and the report records the
 * amendment (which engines, which run, why), so that every number still says where it comes from.
 */
import { MODES } from '../formulas.js';
import { KERNEL_WORKLOADS } from '../workloads.js';
import { addThroughput, computeNetworkRatios, computeRatios, evaluateTargets, paperMemory } from './analyze.js';
import type { BenchReport } from './types.js';

export function amendReport(base: BenchReport, later: BenchReport, engineIds: readonly string[], reason: string): BenchReport {
  if (base.quick !== later.quick) throw new Error(`amend: expected two reports of the same kind, got quick=${base.quick} and quick=${later.quick}`);
  for (const id of engineIds) {
    if (!later.engines.some((e) => e.id === id && e.status !== 'not-run')) throw new Error(`amend: expected engine '${id}' to have run in the later report, got none`);
  }
  const replaced = new Set(engineIds);
  const engines = base.engines.map((e) => (replaced.has(e.id) ? structuredClone(later.engines.find((l) => l.id === e.id)!) : structuredClone(e)));
  for (const id of engineIds) if (!engines.some((e) => e.id === id)) engines.push(structuredClone(later.engines.find((l) => l.id === id)!));
  // An engine whose later run timed no kernel (a network-only run) keeps its base kernel column.
  const kernelCols = new Set(later.kernels.filter((k) => replaced.has(k.engineId)).map((k) => k.engineId));
  const kernels = [...base.kernels.filter((k) => !kernelCols.has(k.engineId)), ...later.kernels.filter((k) => kernelCols.has(k.engineId))].map((k) => structuredClone(k));
  const engineOrder = new Map(engines.map((e, i) => [e.id, i]));
  const wOrder = new Map(KERNEL_WORKLOADS.map((w, i) => [w.id, i]));
  kernels.sort((a, b) => (wOrder.get(a.workload) ?? 0) - (wOrder.get(b.workload) ?? 0) || MODES.indexOf(a.mode) - MODES.indexOf(b.mode) || (engineOrder.get(a.engineId) ?? 0) - (engineOrder.get(b.engineId) ?? 0));
  addThroughput(kernels, engines, base.peak, base.machine);
  const ratios = computeRatios(kernels, engines);
  // Network cells are replaced one by one: a later run of one network (say a paper-size run that
  // timed out) replaces that network's cell of the engine and keeps the engine's others.
  const netKey = (n: BenchReport['networks'][number]): string => `${n.engineId}|${n.network}|${n.preset}|${n.mode}`;
  const laterNets = later.networks.filter((n) => replaced.has(n.engineId));
  const laterKeys = new Set(laterNets.map(netKey));
  const networks = [...base.networks.filter((n) => !laterKeys.has(netKey(n))), ...laterNets].map((n) => structuredClone(n));
  const networkRatios = computeNetworkRatios(networks, engines);
  const memoryRows = paperMemory(networks);
  // Which cells came from the later run, when it replaced only some of the engines' network cells.
  const partial = engineIds.some((id) => base.networks.some((n) => n.engineId === id && !laterKeys.has(netKey(n))));
  const amendment = {
    engines: [...engineIds],
    ...(partial ? { cells: laterNets.map((n) => `${n.engineId} ${n.network} ${n.preset} ${n.mode}`) } : {}),
    date: later.date,
    argv: later.argv,
    git: later.git,
    reason,
    ...(later.machine.loadAverage ? { loadAverage: later.machine.loadAverage } : {}),
  };
  const out: BenchReport = { ...structuredClone(base), engines, kernels, networks, ratios, targets: evaluateTargets(kernels, ratios, engines), amendments: [...(base.amendments ?? []), amendment] };
  delete out.networkRatios;
  delete out.paperMemory;
  if (networkRatios.length) out.networkRatios = networkRatios;
  if (memoryRows.length) out.paperMemory = memoryRows;
  return out;
}
