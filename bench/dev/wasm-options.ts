/**
 * A preload that registers the wasm backend with options from the environment, to measure what
 * each wasm step gains (plain SIMD → relaxed SIMD → worker threads) with the same harness:
 *
 *   POSEGRAD_BENCH_WASM_THREADS=2 npm run bench -- --backend wasm --preload bench/dev/wasm-options.ts
 *   POSEGRAD_WASM_RELAXED_SIMD=v8-flag npm run bench -- --backend wasm   (read by the backend itself)
 *
 * POSEGRAD_BENCH_WASM_THREADS: an integer ≥ 1 (default 1), WasmBackendOptions.threads. The report
 * takes the thread count, and whether relaxed SIMD is on, from the started backend (its engine
 * details): the label reads e.g. "posegrad wasm (relaxed SIMD, 2t)" and the fraction of peak uses
 * the 2-thread peak.
 */
import { createWasmBackend } from '../../backends/wasm/index.js';
import { engine } from '../../engine/engine.js';

const raw = process.env.POSEGRAD_BENCH_WASM_THREADS ?? '1';
const threads = Number(raw);
if (!Number.isInteger(threads) || threads < 1) throw new Error(`wasm-options: expected POSEGRAD_BENCH_WASM_THREADS as an integer ≥ 1, got '${raw}'`);
engine.registerBackendFactory('wasm', () => createWasmBackend({ threads }));
