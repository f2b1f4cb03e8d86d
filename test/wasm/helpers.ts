/**
 * Setup for the wasm-specific tests (allocator, memory, loader, threads; the network tests): the
 * shared backend and deterministic inputs. Op parity on every backend, wasm at 1, 2 and 16 threads
 * included, lives in the one op suite (test/ops/*, test/helpers/backends.ts).
 */
import { createWasmBackend, type WasmBackend, type WasmBackendOptions } from '../../backends/wasm/index.js';
import { engine, init } from '../../engine/engine.js';

let backend: WasmBackend | null = null;

/** Registers and initializes the wasm backend once per test file (vitest runs each file in its own process). */
export async function setupWasm(opts: WasmBackendOptions = {}): Promise<WasmBackend> {
  if (!backend) {
    engine.registerBackendFactory('wasm', () => createWasmBackend(opts));
    backend = (await init('wasm')) as WasmBackend;
  }
  return backend;
}

// Deterministic inputs are shared with the one op suite.
export { rand, numel, f, i32, fixed, type In } from '../helpers/backends.js';
