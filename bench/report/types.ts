/**
 * The bench report: what `bench/results/<date>-<machine>.json` holds, and what the Markdown and
 * SVG writers read. All times are milliseconds; throughput is G-units per second.
 */
import type { EngineDef } from '../engines.js';
import type { KernelSpec, Mode } from '../formulas.js';
import type { PeakResult } from '../native/peak.js';
import type { CellStatus, NetMode } from '../protocol.js';
import type { Stats } from '../stats.js';
import type { TimingPlan } from '../timing.js';
import type { MoveNetReport } from '../movenet/report.js';

export interface MachineInfo {
  hostname: string;
  cpu: string;
  /** Logical CPUs available to the process. */
  cores: number;
  memoryBytes: number;
  os: string;
  node: string;
  /** WebGPU adapter description (Dawn), or null with the reason in adapterError. */
  adapter: string | null;
  adapterError?: string;
  /** Whether the adapter is a software rasterizer on the CPU (lavapipe/llvmpipe, SwiftShader). */
  adapterIsSoftware: boolean;
  /**
   * 1-minute load average when the run started and when it ended (os.loadavg): above the core
   * count, other processes were competing with the bench and its numbers are low.
   */
  loadAverage?: { start: number; end: number };
}

export interface EngineReport extends EngineDef {
  status: 'ok' | 'failed' | 'not-run';
  /** Why it failed to start, or why it was not run (e.g. "torch: not installed"). */
  error?: string;
  version?: string;
  details?: Record<string, string | number | boolean>;
  /** Peak RSS of the engine's process. */
  maxRssBytes?: number;
}

export interface KernelResult {
  workload: string;
  label: string;
  spec: KernelSpec;
  metric: 'flops' | 'bytes';
  mode: Mode;
  engineId: string;
  status: CellStatus;
  reason?: string;
  note?: string;
  /** FLOPs and bytes of one iteration (formulas.ts). */
  flops: number;
  bytes: number;
  stats?: Stats;
  firstMs?: number;
  plan?: TimingPlan;
  /** Throughput at the median time: GFLOP/s and GB/s. */
  gflops?: number;
  gbs?: number;
  /** Throughput in the workload's metric ÷ the peak of the engine's threads (see peakBasis). */
  fractionOfPeak?: number;
  peakBasis?: string;
}

export interface NetworkResult {
  network: string;
  label: string;
  mode: NetMode;
  /** The preset the job asked for, and the one it ran at (tiny under --quick). */
  preset: string;
  ranPreset?: string;
  engineId: string;
  status: CellStatus;
  reason?: string;
  note?: string;
  stats?: Stats;
  /** infer/paper: median ÷ frames per forward. */
  msPerFrame?: number;
  /** train: median ms per training step. */
  msPerStep?: number;
  peakRssBytes?: number;
  rssBeforeBuildBytes?: number;
  parameters?: number;
  /** The engine's runtime, when the cell says (onnxruntime and torch cells). */
  runtime?: string;
  /** paper: memory figures (bench/networks/suite.ts, test/reference/torch_peak_memory.py). */
  memory?: NetworkMemory;
}

/** A paper cell's memory, measured from the pre-model RSS baseline (see bench/networks/suite.ts). */
export interface NetworkMemory {
  /** Peak RSS during one inference (the peak mark reset after building) above the pre-model baseline: the figure compared across engines. */
  inferPeakAboveBaselineBytes: number;
  /** Peak RSS while building the network and its input, above the baseline. */
  buildPeakAboveBaselineBytes?: number;
  rssAfterBuildBytes?: number;
  /** posegrad: `memory().peakBytes` over the inference, after `resetPeakMemory()` (live tensor storage; weights and input included). */
  peakLiveBytes?: number;
  /** posegrad: the backend's bytes beyond live tensors (its pool) right after the inference. */
  pooledBytes?: number;
  /** posegrad: live tensor bytes after building (weights and input). */
  modelBytes?: number;
  /** Whether the peak-RSS mark could be reset (/proc/self/clear_refs); if not, the peaks are process maxima since start. */
  peakRssReset?: boolean;
}

/** A whole-network speed ratio: the peer's ms/frame ÷ posegrad's (> 1: posegrad is faster). */
export interface NetworkRatio {
  network: string;
  preset: string;
  mode: NetMode;
  ours: string;
  peer: string;
  ratio: number;
}

/** One row of the paper-size memory comparison: a network on one posegrad backend against PyTorch. */
export interface PaperMemoryRow {
  network: string;
  label: string;
  preset: string;
  /** The posegrad engine. */
  engineId: string;
  /** The PyTorch engine (torch-1t). */
  peerId: string;
  status: CellStatus;
  reason?: string;
  parameters?: number;
  peerParameters?: number;
  posegrad?: NetworkMemory;
  /** PyTorch's inference peak RSS above its baseline. */
  peerInferPeakAboveBaselineBytes?: number;
  peerBuildPeakAboveBaselineBytes?: number;
  /** posegrad's inference peak above baseline ÷ PyTorch's. */
  ratio?: number;
  /** The target: ratio ≤ this (issue 14: 1.5). */
  maxRatio: number;
  verdict: 'met' | 'not met' | 'not measured';
}

export interface RatioResult {
  workload: string;
  mode: Mode;
  ours: string;
  peer: string;
  /** posegrad throughput ÷ peer throughput (= peer median time ÷ posegrad median time). */
  ratio: number;
}

export interface TargetResult {
  id: string;
  text: string;
  workload: string;
  mode: Mode;
  ours: string;
  peer: string;
  min: number;
  ratio?: number;
  status: 'met' | 'not met' | 'not measured';
  /** For 'not measured': which side is missing and why. */
  reason?: string;
}

export interface BenchReport {
  schema: 1;
  /** ISO timestamp of the run's start. */
  date: string;
  quick: boolean;
  argv: string[];
  durationMs: number;
  machine: MachineInfo;
  peak: PeakResult;
  engines: EngineReport[];
  kernels: KernelResult[];
  networks: NetworkResult[];
  ratios: RatioResult[];
  /** Whole-network speed ratios of posegrad's backends to the onnxruntime peers (--mode infer). */
  networkRatios?: NetworkRatio[];
  /** Paper-size memory, posegrad against PyTorch (--mode paper with the torch peer). */
  paperMemory?: PaperMemoryRow[];
  targets: TargetResult[];
  /** posegrad backends that are not registered yet (DeviceName list minus registered). */
  missingBackends: string[];
  /** The commit measured, and whether tracked files differed from it; null outside a git checkout. */
  git: { commit: string; dirty: boolean } | null;
  /**
   * Engines whose cells were replaced by those of a later run (report/amend.ts), e.g. after a
   * harness fix for that engine: which engines, from which run, and why.
   */
  amendments?: Amendment[];
  /** The MoveNet race (--mode movenet, bench/movenet/), when it ran. */
  movenet?: MoveNetReport;
}

export interface Amendment {
  engines: string[];
  /** When only some network cells of those engines were replaced: which ('posegrad-cpu glpose paper paper'). */
  cells?: string[];
  /** The later run: its date, argv, commit, and load average. */
  date: string;
  argv: string[];
  git: { commit: string; dirty: boolean } | null;
  loadAverage?: { start: number; end: number };
  reason: string;
}
