/// <reference types="@webgpu/types" />
/**
 * Getting a WebGPU adapter and device.
 *
 * Order of preference:
 * 1. the browser's `navigator.gpu`, unless the POSEGRAD_WEBGPU_* overrides below are set;
 * 2. Dawn for Node, `create(flags)` from the `webgpu` npm package, imported lazily (a dynamic
 *    `import()`), so that browsers and bundlers never load it.
 *
 * Environment overrides (Node only; Dawn's own `create()` flags, see the package's README):
 * - POSEGRAD_WEBGPU_ADAPTER=<name>: Dawn flag `adapter=<name>`, which picks the adapter whose name
 *   matches (a prefix/substring such as `llvmpipe`). An unknown name fails with Dawn's list of the
 *   available adapters in the message.
 * - POSEGRAD_WEBGPU_BACKEND=<backend>: Dawn flag `backend=<backend>` (vulkan, metal, d3d12, opengl...).
 *
 * When no adapter can be found this module throws an Error saying why and how to get one (Mesa's
 * lavapipe, a software Vulkan driver). It never falls back to another backend silently.
 */

export interface DeviceOptions {
  /** Adapter name (substring), as POSEGRAD_WEBGPU_ADAPTER. */
  adapter?: string | undefined;
  /** Dawn backend, as POSEGRAD_WEBGPU_BACKEND. */
  backend?: string | undefined;
}

export interface AcquiredDevice {
  readonly device: GPUDevice;
  readonly adapter: GPUAdapter;
  /** Human-readable adapter description (vendor, architecture, driver). */
  readonly adapterName: string;
  /** Where the adapter came from. */
  readonly source: 'navigator.gpu' | 'dawn-node';
  /**
   * The GPU object. Dawn-node keeps its instance alive only as long as this object is referenced,
   * so the runtime holds it for the device's lifetime.
   */
  readonly gpu: GPU;
}

/** The install hint appended to every "no adapter" error. */
export const LAVAPIPE_HINT =
  'To run WebGPU without a GPU, install Mesa\'s lavapipe (software Vulkan, Mesa >= 24 from bookworm-backports) ' +
  'with `bash scripts/install-lavapipe.sh`, and set XDG_RUNTIME_DIR=/tmp before starting Node. ' +
  'POSEGRAD_WEBGPU_ADAPTER / POSEGRAD_WEBGPU_BACKEND choose a specific adapter or Dawn backend.';

function envOptions(): DeviceOptions {
  const env = typeof process !== 'undefined' && process.env ? process.env : {};
  return { adapter: env.POSEGRAD_WEBGPU_ADAPTER || undefined, backend: env.POSEGRAD_WEBGPU_BACKEND || undefined };
}

function noAdapter(why: string): Error {
  return new Error(`webgpu: expected a WebGPU adapter, got none (${why}). ${LAVAPIPE_HINT}`);
}

function describeAdapter(a: GPUAdapter): string {
  const info = (a as { info?: GPUAdapterInfo }).info;
  if (!info) return 'unknown adapter';
  const parts = [info.description, info.vendor, info.architecture, info.device].filter((s) => !!s);
  return parts.length ? parts.join(' / ') : 'unknown adapter';
}

/** The subset of Dawn-node's module that we use. */
interface DawnModule {
  create(flags: string[]): GPU;
  globals: Record<string, unknown>;
}

async function loadDawn(): Promise<DawnModule> {
  // A variable specifier keeps bundlers from trying to include the native module in browser builds.
  const name = 'webgpu';
  try {
    return (await import(/* @vite-ignore */ name)) as DawnModule;
  } catch (e) {
    throw noAdapter(`no navigator.gpu, and the 'webgpu' package (Dawn for Node) failed to load: ${(e as Error).message}`);
  }
}

/**
 * Requests an adapter and a device. Options default to the POSEGRAD_WEBGPU_* environment variables.
 * The device asks for the adapter's largest buffer sizes; kernels stay within the WebGPU default
 * limits for workgroup size (256 invocations) and workgroup memory (16 KiB), so they run anywhere.
 * @throws Error when there is no adapter (with the lavapipe install hint) or the device request fails.
 */
export async function acquireDevice(options: DeviceOptions = envOptions()): Promise<AcquiredDevice> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  const overridden = !!(options.adapter || options.backend);
  let gpu: GPU;
  let source: AcquiredDevice['source'];
  if (nav?.gpu && !overridden) {
    gpu = nav.gpu;
    source = 'navigator.gpu';
  } else {
    const dawn = await loadDawn();
    // Dawn's constants (GPUBufferUsage, ...) for code that expects them as globals; never
    // overwrite what a host already defines.
    for (const [k, v] of Object.entries(dawn.globals)) {
      if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
    }
    const flags: string[] = [];
    if (options.adapter) flags.push(`adapter=${options.adapter}`);
    if (options.backend) flags.push(`backend=${options.backend}`);
    try {
      gpu = dawn.create(flags);
    } catch (e) {
      throw noAdapter(`Dawn rejected the flags [${flags.join(', ')}]: ${(e as Error).message}`);
    }
    source = 'dawn-node';
  }
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (e) {
    const what = options.adapter ? `no adapter matches POSEGRAD_WEBGPU_ADAPTER='${options.adapter}'` : 'requestAdapter failed';
    throw noAdapter(`${what}: ${String((e as Error).message ?? e).trim()}`);
  }
  if (!adapter) {
    throw noAdapter(source === 'navigator.gpu' ? 'navigator.gpu.requestAdapter() returned null' : 'Dawn found no Vulkan/Metal/D3D12 adapter on this machine');
  }
  const lim = adapter.limits;
  const requiredLimits: Record<string, number> = {
    maxBufferSize: lim.maxBufferSize,
    maxStorageBufferBindingSize: lim.maxStorageBufferBindingSize,
    // matmul on CPU adapters stages its A operand in a texture (kernels/matmul.ts)
    maxTextureDimension2D: lim.maxTextureDimension2D,
  };
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredLimits, label: 'posegrad' });
  } catch (e) {
    throw new Error(`webgpu: expected a device from adapter '${describeAdapter(adapter)}', got an error: ${(e as Error).message}`);
  }
  return { device, adapter, adapterName: describeAdapter(adapter), source, gpu };
}
