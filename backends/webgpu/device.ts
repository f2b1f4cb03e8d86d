/// <reference types="@webgpu/types" />
/**
 * Getting a WebGPU adapter and device.
 *
 * Order of preference:
 * 0. a `device` that the application passes (`init('webgpu', { device })`), used as it is;
 * 1. the browser's `navigator.gpu`, unless the POSEGRAD_WEBGPU_* overrides below are set;
 * 2. Dawn for Node, `create(flags)` from the `webgpu` npm package, imported lazily (a dynamic
 *    `import()`), so that browsers and bundlers never load it. It is an optional peer dependency:
 *    Node users install it themselves (`npm install webgpu`).
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

/** How the webgpu backend gets its device (part of `init('webgpu', options)`). */
export interface DeviceOptions {
  /** Node (Dawn) only: adapter name (substring); default: the POSEGRAD_WEBGPU_ADAPTER variable. */
  adapter?: string | undefined;
  /** Node (Dawn) only: Dawn backend (vulkan, metal, d3d12...); default: POSEGRAD_WEBGPU_BACKEND. */
  backend?: string | undefined;
  /** Passed to `requestAdapter` (default 'high-performance'). */
  powerPreference?: GPUPowerPreference | undefined;
  /**
   * Device limits to request instead of posegrad's default request, which is every limit at the
   * adapter's own (best) value: its largest `maxBufferSize`, `maxStorageBufferBindingSize`,
   * `maxComputeWorkgroupsPerDimension`, `maxStorageBuffersPerShaderStage`, `maxTextureDimension2D`,
   * smallest `minStorageBufferOffsetAlignment`, and so on. With this option only these limits are
   * requested (the others keep WebGPU's defaults), e.g. to test under the defaults a browser may
   * give. A limit the adapter does not support fails the device request with the browser's (or
   * Dawn's) message. Kernels adapt to whatever the device has (see backends/webgpu/runtime.ts).
   */
  requiredLimits?: Record<string, number> | undefined;
  /**
   * A GPUDevice the application already has (to share buffers with its own rendering, say):
   * posegrad requests no adapter or device (so the options above do not apply) and runs its
   * kernels on this one, within the limits it was created with (its maxBufferSize and
   * maxStorageBufferBindingSize cap posegrad's tensors). The backend's `destroy()` destroys it.
   */
  device?: GPUDevice | undefined;
}

export interface AcquiredDevice {
  readonly device: GPUDevice;
  readonly adapter: GPUAdapter;
  /** Human-readable adapter description (vendor, architecture, driver). */
  readonly adapterName: string;
  /** Where the adapter came from. */
  readonly source: 'navigator.gpu' | 'dawn-node' | 'application';
  /**
   * The GPU object. Dawn-node keeps its instance alive only as long as this object is referenced,
   * so the runtime holds it for the device's lifetime. Null for an application's device.
   */
  readonly gpu: GPU | null;
}

/** The install hint appended to every "no adapter" error (the script ships in the package). */
export const LAVAPIPE_HINT =
  'To run WebGPU without a GPU, install Mesa\'s lavapipe (software Vulkan, Mesa >= 24 from bookworm-backports) ' +
  'with `bash scripts/install-lavapipe.sh` (in posegrad\'s folder, node_modules/posegrad/scripts/; see the README section "WebGPU without a GPU (Linux)"), ' +
  'and set XDG_RUNTIME_DIR=/tmp before starting Node. ' +
  'POSEGRAD_WEBGPU_ADAPTER / POSEGRAD_WEBGPU_BACKEND choose a specific adapter or Dawn backend. ' +
  'In a browser: WebGPU needs a secure context (https or localhost) and a browser that enables it (headless Chromium: --enable-unsafe-webgpu).';

/** @internal The POSEGRAD_WEBGPU_* environment variables (Node) as options. */
export function envDeviceOptions(): DeviceOptions {
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
    const code = (e as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' && /'webgpu'/.test((e as Error).message)) {
      throw noAdapter("no navigator.gpu, and the 'webgpu' package (Dawn for Node, an optional peer dependency of posegrad) is not installed: run `npm install webgpu` in your project");
    }
    throw noAdapter(`no navigator.gpu, and the 'webgpu' package (Dawn for Node) failed to load: ${(e as Error).message}`);
  }
}

/** An application's device, as an AcquiredDevice (its adapter stands in from device.adapterInfo). */
function applicationDevice(device: GPUDevice): AcquiredDevice {
  const info = (device as { adapterInfo?: GPUAdapterInfo }).adapterInfo;
  const adapter = { info, limits: device.limits, features: device.features, isFallbackAdapter: (info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter === true } as unknown as GPUAdapter;
  return { device, adapter, adapterName: describeAdapter(adapter), source: 'application', gpu: null };
}

/**
 * Every numeric limit of the adapter (but the dynamic-offset counts, which posegrad does not use) at its own value, the best the device can ask for (largest
 * sizes and counts, smallest alignments). The adapter's limits are getters on GPUSupportedLimits'
 * prototype: `for...in` lists them (WebIDL attributes are enumerable) in browsers and in Dawn.
 */
export function adapterLimits(adapter: GPUAdapter): Record<string, number> {
  const out: Record<string, number> = {};
  const lim = adapter.limits as unknown as Record<string, unknown>;
  for (const k in lim) {
    // posegrad binds no dynamic-offset buffers; asking Dawn for its huge adapter values only makes
    // it print "artificially reduced" warnings on every start
    if (k.startsWith('maxDynamic')) continue;
    const v = lim[k];
    if (typeof v === 'number' && Number.isFinite(v)) out[k] = v;
  }
  return out;
}

/**
 * Requests an adapter and a device. Options default to the POSEGRAD_WEBGPU_* environment variables.
 * The device asks for every limit at the adapter's value (`adapterLimits`) unless
 * `options.requiredLimits` is given; kernels stay within the WebGPU default limits for workgroup
 * size (256 invocations) and workgroup memory (16 KiB), so they run anywhere, and split or fold
 * their work to the device's binding and workgroup-count limits (runtime.ts).
 * @throws Error when there is no adapter (with the lavapipe install hint) or the device request fails.
 */
export async function acquireDevice(options: DeviceOptions = envDeviceOptions()): Promise<AcquiredDevice> {
  if (options.device) return applicationDevice(options.device);
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
    adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
  } catch (e) {
    const what = options.adapter ? `no adapter matches POSEGRAD_WEBGPU_ADAPTER='${options.adapter}'` : 'requestAdapter failed';
    throw noAdapter(`${what}: ${String((e as Error).message ?? e).trim()}`);
  }
  if (!adapter) {
    throw noAdapter(source === 'navigator.gpu' ? 'navigator.gpu.requestAdapter() returned null' : 'Dawn found no Vulkan/Metal/D3D12 adapter on this machine');
  }
  const requiredLimits = options.requiredLimits ?? adapterLimits(adapter);
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredLimits, label: 'posegrad' });
  } catch (e) {
    if (options.requiredLimits) throw new Error(`webgpu: expected a device from adapter '${describeAdapter(adapter)}' with the requiredLimits ${JSON.stringify(options.requiredLimits)}, got an error: ${(e as Error).message}`);
    // An implementation that lists a limit it cannot grant: fall back to the limits posegrad needs most.
    const lim = adapter.limits;
    const essential = { maxBufferSize: lim.maxBufferSize, maxStorageBufferBindingSize: lim.maxStorageBufferBindingSize, maxTextureDimension2D: lim.maxTextureDimension2D };
    try {
      device = await adapter.requestDevice({ requiredLimits: essential, label: 'posegrad' });
    } catch (e2) {
      throw new Error(`webgpu: expected a device from adapter '${describeAdapter(adapter)}', got an error: ${(e2 as Error).message} (with every adapter limit requested: ${(e as Error).message})`);
    }
  }
  return { device, adapter, adapterName: describeAdapter(adapter), source, gpu };
}
