/**
 * WebGPU in Node for the peer engines: they expect a browser's `navigator.gpu`, so we install
 * Dawn's (the `webgpu` npm package, the same one posegrad's webgpu backend uses) as
 * `globalThis.navigator.gpu`, with Dawn's WebGPU classes (GPUBufferUsage, ...) as globals.
 */

interface DawnModule {
  create(flags: string[]): GPU;
  globals: Record<string, unknown>;
}

let installed: Promise<string> | null = null;

/** Dawn `create()` flags from POSEGRAD_WEBGPU_ADAPTER / POSEGRAD_WEBGPU_BACKEND, as posegrad's own backend reads them. */
export function dawnFlags(env: NodeJS.ProcessEnv = process.env): string[] {
  const flags: string[] = [];
  if (env.POSEGRAD_WEBGPU_ADAPTER) flags.push(`adapter=${env.POSEGRAD_WEBGPU_ADAPTER}`);
  if (env.POSEGRAD_WEBGPU_BACKEND) flags.push(`backend=${env.POSEGRAD_WEBGPU_BACKEND}`);
  return flags;
}

/** "description / vendor / architecture / device" of an adapter's `info`. */
export function describeAdapterInfo(info: Partial<GPUAdapterInfo> | undefined): string {
  if (!info) return 'unknown adapter';
  const parts = [info.description, info.vendor, info.architecture, info.device].filter((s): s is string => !!s);
  return parts.length ? parts.join(' / ') : 'unknown adapter';
}

/**
 * Installs Dawn as `navigator.gpu` (once per process) and returns the adapter's description.
 * Throws when no adapter is found.
 */
export function installDawnNavigator(): Promise<string> {
  installed ??= (async () => {
    const dawn = (await import('webgpu')) as unknown as DawnModule;
    Object.assign(globalThis, dawn.globals);
    const gpu = dawn.create(dawnFlags());
    Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
    const adapter = await gpu.requestAdapter();
    if (!adapter) throw new Error('webgpu: expected a WebGPU adapter from Dawn, got none (install lavapipe: scripts/install-lavapipe.sh, and set XDG_RUNTIME_DIR=/tmp)');
    return describeAdapterInfo(adapter.info);
  })();
  return installed;
}

/**
 * onnxruntime-web's WebGPU provider uploads with `queue.writeBuffer(buffer, offset, view)` where
 * the view lies in its wasm memory, a SharedArrayBuffer (its JSEP build passes the SharedArrayBuffer itself); Dawn
 * for Node rejects both
 * ("Invalid argument"). This shim copies such a view into a plain buffer first. It is applied only
 * in the ort-web-webgpu process, and reported in the results. Inputs are uploaded once before
 * timing (gpu-buffer tensors), so the copy is outside the timed loop.
 */
export function patchWriteBufferForSharedMemory(): void {
  const Queue = (globalThis as unknown as { GPUQueue?: { prototype: GPUQueue } }).GPUQueue;
  if (!Queue) throw new Error('webgpu: expected the GPUQueue global from Dawn, got none (call installDawnNavigator first)');
  const proto = Queue.prototype as GPUQueue & { __posegradShim?: boolean };
  if (proto.__posegradShim) return;
  const original = proto.writeBuffer;
  proto.writeBuffer = function (this: GPUQueue, buffer: GPUBuffer, offset: number, data: BufferSource | SharedArrayBuffer, dataOffset?: number, size?: number) {
    if (data instanceof SharedArrayBuffer) {
      // A raw buffer: dataOffset and size are in bytes.
      const start = dataOffset ?? 0;
      const copy = new Uint8Array(size ?? data.byteLength - start);
      copy.set(new Uint8Array(data, start, copy.length));
      return original.call(this, buffer, offset, copy as Uint8Array<ArrayBuffer>, 0, copy.length);
    }
    if (ArrayBuffer.isView(data) && data.buffer instanceof SharedArrayBuffer) {
      // Same element type, so that dataOffset and size (in elements for typed arrays) keep their meaning.
      const copy = data instanceof DataView ? new Uint8Array(data.byteLength) : new (data.constructor as new (n: number) => Uint8Array)((data as Uint8Array).length);
      copy.set(new (copy.constructor as new (b: ArrayBufferLike, o: number, n: number) => Uint8Array)(data.buffer, data.byteOffset, copy.length));
      return original.call(this, buffer, offset, copy as Uint8Array<ArrayBuffer>, dataOffset, size);
    }
    return original.call(this, buffer, offset, data as BufferSource, dataOffset, size);
  } as GPUQueue['writeBuffer'];
  proto.__posegradShim = true;
}
