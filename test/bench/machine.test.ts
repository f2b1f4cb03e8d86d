import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { cpuModelFromCpuinfo, isSoftwareAdapter } from '../../bench/machine.js';
import { cpuHasAvx2Fma, parsePeakOutput, runPeak } from '../../bench/native/peak.js';

const CPUINFO = `processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Processor
flags\t\t: fpu vme sse sse2 avx fma avx2 avx512f
`;

describe('bench machine info', () => {
  it('reads the CPU model and flags from /proc/cpuinfo', () => {
    expect(cpuModelFromCpuinfo(CPUINFO)).toBe('Intel(R) Xeon(R) Processor');
    expect(cpuModelFromCpuinfo('processor : 0\n')).toBeNull();
    expect(cpuHasAvx2Fma(CPUINFO)).toBe(true);
    expect(cpuHasAvx2Fma(CPUINFO.replace(' avx2', ''))).toBe(false);
    expect(cpuHasAvx2Fma(null)).toBeNull();
  });

  it('recognizes software adapters', () => {
    expect(isSoftwareAdapter('llvmpipe: Mesa 25.0.7 (LLVM 15.0.6) / mesa / software')).toBe(true);
    expect(isSoftwareAdapter('SwiftShader Device (Subzero)')).toBe(true);
    expect(isSoftwareAdapter('NVIDIA GeForce RTX 4090 / nvidia / ada')).toBe(false);
  });

  it('parses the peak program output, and reports a bad line as skipped', () => {
    expect(parsePeakOutput('{"threads": 2, "fmaGflops1t": 70.5, "fmaGflopsAll": 140, "copyGBs1t": 9, "copyGBsAll": 12}\n')).toEqual({ threads: 2, fmaGflops1t: 70.5, fmaGflopsAll: 140, copyGBs1t: 9, copyGBsAll: 12 });
    expect(parsePeakOutput('{"skipped": "CPU without AVX2/FMA"}')).toEqual({ skipped: 'CPU without AVX2/FMA' });
    expect(parsePeakOutput('segfault').skipped).toMatch(/^peak: expected one JSON line, got 'segfault'/);
  });
});

describe('bench native peak without a compiler', () => {
  it('is skipped with the reason', () => {
    expect(runPeak(1, true, 'no-such-compiler-here')).toEqual({ skipped: 'no C compiler (`no-such-compiler-here`) on PATH' });
  });
});

const hasCc = spawnSync('cc', ['--version']).status === 0;
describe.skipIf(!hasCc)('bench native peak program', () => {
  it('builds with cc and reports positive figures (or why it skipped)', () => {
    const r = runPeak(2, true);
    if (r.skipped) {
      // only acceptable reason on a machine with cc: a CPU without AVX2/FMA
      expect(r.skipped).toMatch(/AVX2/);
      return;
    }
    for (const v of [r.fmaGflops1t, r.fmaGflopsAll, r.copyGBs1t, r.copyGBsAll]) expect(v).toBeGreaterThan(0);
    expect(r.threads).toBe(2);
    expect(r.compiler).toMatch(/\S/);
  });
});
