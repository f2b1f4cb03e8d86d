/**
 * The non-cpu backends a test can run on: each of wasm and webgpu is initialized once; one that
 * cannot start (no WebGPU adapter, say) is left out with a warning naming `label`, except under
 * CI=true, where that is an Error (CI installs lavapipe, so every backend must start there).
 */
import type { DeviceName } from '../../backends/backend.js';
import '../../backends/index.js'; // the built-in backends' factories (the engine registers none itself)
import { engine } from '../../engine/engine.js';

export async function availableDevices(label: string): Promise<DeviceName[]> {
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
  const devices: DeviceName[] = [];
  for (const name of ['wasm', 'webgpu'] as const) {
    try {
      await engine.init(name);
      devices.push(name);
    } catch (e) {
      if (process.env.CI === 'true') throw new Error(`${label}: CI=true requires the ${name} backend. ${(e as Error).message}`);
      console.warn(`[${label} on ${name} skipped] ${(e as Error).message}`);
    }
  }
  return devices;
}
