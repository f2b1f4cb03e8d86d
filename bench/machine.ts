/**
 * What the report says about the machine: hostname, CPU model (/proc/cpuinfo "model name"),
 * logical cores, memory, OS, Node, and the WebGPU adapter Dawn picks (its `info`).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { MachineInfo } from './report/types.js';

/** The first "model name" of /proc/cpuinfo, or null. */
export function cpuModelFromCpuinfo(cpuinfo: string): string | null {
  const m = /^model name\s*:\s*(.+)$/m.exec(cpuinfo);
  return m ? m[1]!.trim() : null;
}

/** Whether an adapter description names a software rasterizer. */
export function isSoftwareAdapter(description: string): boolean {
  return /llvmpipe|lavapipe|swiftshader|software|warp/i.test(description);
}

/**
 * Asks a short-lived Node process for the WebGPU adapter (so that Dawn never loads into the bench
 * parent). Returns the description, or the error.
 */
function probeAdapter(): { adapter: string | null; error?: string } {
  const module = pathToFileURL(path.join(path.dirname(fileURLToPath(import.meta.url)), 'peers', 'webgpu-node.ts')).href;
  const code = `
    const { installDawnNavigator } = await import(${JSON.stringify(module)});
    try { console.log(JSON.stringify({ adapter: await installDawnNavigator() })); }
    catch (e) { console.log(JSON.stringify({ adapter: null, error: e.message })); }
    process.exit(0);`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { encoding: 'utf8', timeout: 60_000 });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as { adapter: string | null; error?: string };
  } catch {
    return { adapter: null, error: `adapter probe failed: ${(r.stderr || String(r.error ?? '')).trim().split('\n').slice(-1)[0] ?? 'no output'}` };
  }
}

export function machineInfo(): MachineInfo {
  let cpu: string | null = null;
  try {
    cpu = cpuModelFromCpuinfo(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    cpu = null;
  }
  cpu ??= os.cpus()[0]?.model ?? 'unknown CPU';
  const probe = probeAdapter();
  const info: MachineInfo = {
    hostname: os.hostname(),
    cpu,
    cores: os.availableParallelism(),
    memoryBytes: os.totalmem(),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.versions.node,
    adapter: probe.adapter,
    adapterIsSoftware: probe.adapter !== null && isSoftwareAdapter(probe.adapter),
  };
  if (probe.error) info.adapterError = probe.error;
  return info;
}
