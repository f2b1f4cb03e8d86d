/**
 * Command-line flags of `npm run bench`, parsed with Node's `util.parseArgs`.
 *
 *   --filter <regex>     only workloads whose id or label matches (e.g. 'matmul|conv2d', 'rpstn')
 *   --backend <list>     posegrad backends, comma-separated (default: every registered backend;
 *                        'none' runs the peers alone)
 *   --peers <list>       peer engines: 'all' (default), 'none', or ids/prefixes ('tfjs,ort-web')
 *   --suite <list>       'kernels', 'networks' or both (default)
 *   --mode <list>        modes to run: kernels 'fwd', 'fwd+bwd'; networks 'infer', 'train', 'paper',
 *                        'movenet' (the MoveNet race against TF.js, bench/movenet/)
 *                        (default: all; e.g. 'fwd,infer,train' skips fwd+bwd, the paper-size runs and MoveNet)
 *   --quick              tiny shapes and few iterations (about a minute; the CI smoke test)
 *   --json               print the JSON report to stdout (the table then goes to stderr)
 *   --out <dir>          where to write the report (default bench/results)
 *   --no-write           do not write report files
 *   --preload <module>   a module imported first by the parent and the posegrad workers (not the
 *                        peers), e.g. one that registers a backend with options (bench/dev/wasm-options.ts)
 *   --help
 */
import { parseArgs } from 'node:util';

export type SuiteName = 'kernels' | 'networks';
export const SUITES: readonly SuiteName[] = ['kernels', 'networks'];
/** Every mode of both suites: kernel modes (formulas.ts MODES), then network modes (protocol.ts NetMode, then the MoveNet race). */
export const ALL_MODES = ['fwd', 'fwd+bwd', 'infer', 'train', 'paper', 'movenet'] as const;
export type AnyMode = (typeof ALL_MODES)[number];

export interface BenchArgs {
  filter: RegExp | null;
  /** null = every registered backend. */
  backends: string[] | null;
  peers: string[] | 'all' | 'none';
  suites: SuiteName[];
  /** Modes to run (--mode); every mode by default. */
  modes: AnyMode[];
  quick: boolean;
  json: boolean;
  outDir: string;
  write: boolean;
  /** Absolute path or path relative to the working directory; null for none. */
  preload: string | null;
  help: boolean;
}

export const USAGE = `Usage: npm run bench -- [--quick] [--filter <regex>] [--backend cpu,wasm,webgpu] [--peers all|none|<ids>]
                       [--suite kernels,networks] [--mode fwd,fwd+bwd,infer,train,paper,movenet] [--json] [--out <dir>] [--no-write] [--preload <module>]`;

function list(v: string | undefined): string[] | undefined {
  if (v === undefined) return undefined;
  return v.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

/** Parses argv (without the node and script entries). Throws an Error naming the bad flag. */
export function parseBenchArgs(argv: readonly string[]): BenchArgs {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        filter: { type: 'string' },
        backend: { type: 'string' },
        peers: { type: 'string' },
        suite: { type: 'string' },
        mode: { type: 'string' },
        quick: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        out: { type: 'string' },
        'no-write': { type: 'boolean', default: false },
        preload: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    throw new Error(`bench: expected flags as in "${USAGE.split('\n')[0]}", got ${(e as Error).message}`);
  }
  let filter: RegExp | null = null;
  if (values.filter !== undefined) {
    try {
      filter = new RegExp(values.filter, 'i');
    } catch (e) {
      throw new Error(`--filter: expected a regular expression, got '${values.filter}' (${(e as Error).message})`);
    }
  }
  const backend = list(values.backend);
  const backends = backend === undefined ? null : backend.length === 1 && backend[0] === 'none' ? [] : backend;
  const peersList = list(values.peers);
  const peers = peersList === undefined || (peersList.length === 1 && peersList[0] === 'all') ? 'all' : peersList.length === 0 || (peersList.length === 1 && peersList[0] === 'none') ? 'none' : peersList;
  const suiteList = list(values.suite) ?? [...SUITES];
  for (const s of suiteList) if (!SUITES.includes(s as SuiteName)) throw new Error(`--suite: expected a list of [${SUITES.join(', ')}], got '${s}'`);
  if (suiteList.length === 0) throw new Error(`--suite: expected a list of [${SUITES.join(', ')}], got an empty list`);
  const modeList = list(values.mode) ?? [...ALL_MODES];
  for (const m of modeList) if (!ALL_MODES.includes(m as AnyMode)) throw new Error(`--mode: expected a list of [${ALL_MODES.join(', ')}], got '${m}'`);
  if (modeList.length === 0) throw new Error(`--mode: expected a list of [${ALL_MODES.join(', ')}], got an empty list`);
  return {
    filter,
    backends,
    peers,
    suites: SUITES.filter((s) => suiteList.includes(s)),
    modes: ALL_MODES.filter((m) => modeList.includes(m)),
    quick: values.quick ?? false,
    json: values.json ?? false,
    outDir: values.out ?? 'bench/results',
    write: !(values['no-write'] ?? false),
    preload: values.preload ?? null,
    help: values.help ?? false,
  };
}

/** Whether a workload (id and label) passes --filter. */
export function matchesFilter(filter: RegExp | null, ...names: readonly string[]): boolean {
  return filter === null || names.some((n) => filter.test(n));
}
