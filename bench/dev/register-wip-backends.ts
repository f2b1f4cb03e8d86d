/**
 * A preload for bench runs made before the root index.ts registers the wasm and webgpu backends:
 * it registers their factories exactly as index.ts will, so that `engine.registeredBackends()`
 * lists them in the bench parent and in the posegrad workers:
 *
 *   npm run bench -- --preload bench/dev/register-wip-backends.ts
 *
 * Delete this file once index.ts registers both backends (the bench needs no other change).
 */
import { createWasmBackend } from '../../backends/wasm/index.js';
import { createWebGPUBackend } from '../../backends/webgpu/index.js';
import { engine } from '../../engine/engine.js';

const registered = engine.registeredBackends();
if (!registered.includes('wasm')) engine.registerBackendFactory('wasm', () => createWasmBackend());
if (!registered.includes('webgpu')) engine.registerBackendFactory('webgpu', () => createWebGPUBackend());
