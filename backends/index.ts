/**
 * The built-in backends, registered with the engine when this module is imported:
 * - cpu, ready at once: the reference backend and the default device;
 * - wasm and webgpu, as factories that `init('wasm' | 'webgpu', options)` calls once. Their code
 *   loads only then (a dynamic import), so a browser bundle never pulls in the Node WebGPU binding
 *   unless webgpu is initialized.
 *
 * The package entry (index.ts) imports this module, and so does ops/util.ts, so that any code that
 * runs an op (tests, CLIs and benchmarks that import modules directly) has cpu registered; the
 * engine itself imports no backend. A backend of the same name registered before this module runs
 * (an application's or a test's own instance or factory) is kept.
 *
 * A new backend: copy backends/cpu/index.ts, then register it here (docs/architecture.md,
 * "Adding a backend").
 */
import { engine } from '../engine/engine.js';
import { CpuBackend } from './cpu/index.js';

const registered = engine.registeredBackends();
if (!registered.includes('cpu')) engine.registerBackend(new CpuBackend());
if (!registered.includes('wasm')) engine.registerBackendFactory('wasm', async (options) => (await import('./wasm/index.js')).createWasmBackend(options));
if (!registered.includes('webgpu')) engine.registerBackendFactory('webgpu', async (options) => (await import('./webgpu/index.js')).createWebGPUBackend(options));
