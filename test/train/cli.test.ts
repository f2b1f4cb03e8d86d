/**
 * `npm run train` (cli/train.ts): flag errors are one line on stderr with exit code 2 (checked on
 * the real process for a few, and through parseTrainArgs for the rest); --help exits 0; the
 * parsed configuration takes each paper's recipe and the documented defaults.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseTrainArgs } from '../../cli/train.js';
import { CliError } from '../../cli/common.js';
import { RECIPES } from '../../models/train/recipes.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function run(...args: string[]): { code: number | null; stdout: string; lines: string[] } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'cli/train.ts', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  // Node may print its own warnings; the tool's lines start with "train:"
  return { code: r.status, stdout: r.stdout, lines: r.stderr.split('\n').filter((l) => l.startsWith('train:')) };
}

describe('train CLI (process)', () => {
  it('an unknown flag: one line, exit 2', () => {
    const r = run('--epoch', '3');
    expect(r.code).toBe(2);
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatch(/^train: Unknown option '--epoch'/);
  });

  it('a bad value: one line naming the flag, the expected and the received value, exit 2', () => {
    const r = run('--model', 'posenet');
    expect(r.code).toBe(2);
    expect(r.lines).toEqual(["train: --model: expected one of [baseline, rpstn, fasrnet, vremd, glpose], got 'posenet'"]);
    const r2 = run('--model', 'rpstn', '--batch', '0');
    expect(r2.code).toBe(2);
    expect(r2.lines).toEqual(["train: --batch: expected an integer ≥ 1, got '0'"]);
  });

  it('--help prints the usage and exits 0', () => {
    const r = run('--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^usage: npm run train -- --model NAME/);
    for (const flag of ['--model', '--preset', '--backend', '--epochs', '--batch', '--lr', '--out', '--data', '--resume', '--eval-every', '--seed', '--max-steps', '--init', '--static']) expect(r.stdout).toContain(flag);
  });
});

describe('parseTrainArgs', () => {
  const bad = (args: string[], message: string): void => {
    let err: unknown = null;
    try {
      parseTrainArgs(args);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(2);
    expect((err as Error).message).toBe(message);
  };

  it('rejects bad values with the flag, the expected and the received value', () => {
    bad(['--preset', 'paper'], "--preset: expected one of [tiny, small, real], got 'paper'");
    bad(['--backend', 'cuda'], "--backend: expected one of [cpu, wasm, webgpu], got 'cuda'");
    bad(['--arch', 'resnet'], "--arch: expected one of [hrnet, vitpose, simplebaseline], got 'resnet'");
    bad(['--model', 'fasrnet', '--arch', 'hrnet'], '--arch: expected only with --model baseline, got --model fasrnet (its single-frame network is fixed)');
    bad(['--epochs', '1.5'], "--epochs: expected an integer ≥ 1, got '1.5'");
    bad(['--max-steps=-3'], "--max-steps: expected an integer ≥ 1, got '-3'");
    bad(['--seed', 'x'], "--seed: expected an integer ≥ 0, got 'x'");
    bad(['--lr', '0'], "--lr: expected a number > 0, got '0'");
    bad(['--lr', 'fast'], "--lr: expected a number > 0, got 'fast'");
    bad(['--eval-every=-1'], "--eval-every: expected an integer ≥ 0, got '-1'");
    bad(['--threads', '2'], '--threads: expected only with --backend wasm, got --backend cpu');
    bad(['--frame-size', '16x16'], "--frame-size: expected WxH with W, H ≥ 32, got '16x16'");
    bad(['--resume', '/nonexistent/last.safetensors'], "--resume: expected an existing file, got '/nonexistent/last.safetensors'");
    bad(['--init', '/nonexistent/weights.safetensors'], "--init: expected an existing file, got '/nonexistent/weights.safetensors'");
    bad(['--data', '/nonexistent-dir'], "--data: expected an existing SynthPose folder, got '/nonexistent-dir' (omit --data to generate one)");
    bad(['--data', '/tmp', '--train-clips', '4'], '--data: expected either --data DIR or the generation flags (--train-clips, ...), got both');
    bad(['--milestones', '0.5,1.2'], "--milestones: expected none or fractions in (0, 1) separated by commas, got '0.5,1.2'");
    bad(['--static'], '--static: expected a temporal model (the baseline reads one frame), got --model baseline');
  });

  it('defaults: the paper\'s recipe, tiny, cpu, batch 8, augmentation on', () => {
    const p = parseTrainArgs(['--model', 'vremd'])!;
    expect(p.config.recipe).toEqual(RECIPES.vremd);
    expect(p.config.preset).toBe('tiny');
    expect(p.config.device).toBe('cpu');
    expect(p.config.batchSize).toBe(8);
    expect(p.config.augment).toBe(true);
    expect(p.config.outDir).toBe(join(process.cwd(), 'out', 'train', 'vremd-tiny'));
    const q = parseTrainArgs(['--model', 'glpose', '--lr', '3e-4', '--no-augment', '--static', '--seed', '4'])!;
    expect(q.config.recipe).toEqual({ ...RECIPES.glpose, lr: 3e-4 });
    expect(q.config.augment).toBe(false);
    expect(q.config.staticInput).toBe(true);
    expect(q.config.seed).toBe(4);
    expect(parseTrainArgs(['--milestones', 'none'])!.config.recipe.milestones).toEqual([]);
    expect(parseTrainArgs(['--milestones', '0.5,0.75'])!.config.recipe.milestones).toEqual([0.5, 0.75]);
    expect(q.config.outDir).toBe(join(process.cwd(), 'out', 'train', 'glpose-static-tiny'));
  });
});
