/// <reference types="@webgpu/types" />
/**
 * Acquiring a WebGPU implementation and a device, in the browser or in Node.
 *
 * In a browser this is just `navigator.gpu`. In Node it is Dawn's `dawn.node`
 * addon from the optional `webgpu` npm package; on Linux it is forced onto the
 * Vulkan backend, which on a machine without a GPU is Mesa's lavapipe
 * (package `mesa-vulkan-drivers`, 25.x from bookworm-backports; see
 * `.ci/setup-system.sh`).
 *
 * Gotchas with `dawn.node` (webgpu 0.6.2), found the hard way:
 *
 * - **The `GPU` object must stay reachable.** Adapters and devices do not keep
 *   it alive; if it is garbage collected while a device is in use, Dawn's
 *   `InstanceBase::ProcessEvents` runs on freed memory and the process dies
 *   with SIGSEGV / SIGABRT ("The futex facility returned an unexpected error
 *   code"), nondeterministically. This module therefore caches it in a
 *   module-level variable for the life of the process. Never call
 *   `create()` from `webgpu` yourself and drop the result.
 * - Holding the `GPU` object does not keep Node's event loop alive once no GPU
 *   work is pending: a script (or mocha without `--exit`) ends normally, with or
 *   without `device.destroy()`.
 * - Dawn prints two harmless "maxDynamic*BuffersPerPipelineLayout artificially
 *   reduced" warnings on stderr when the lavapipe adapter is requested.
 *
 * @module
 */

import { KilnError } from '../../graph/errors.js';

/** Flags passed to `dawn.node`'s `create()` on Linux. Elsewhere none are passed. */
const LINUX_DAWN_FLAGS: readonly string[] = ['backend=vulkan'];

/** Optional features that Kiln enables on the device whenever the adapter has them. */
export const WANTED_FEATURES: readonly GPUFeatureName[] = ['shader-f16', 'timestamp-query', 'subgroups'];

/**
 * Limits that Kiln raises to the adapter's maximum (the WebGPU defaults, e.g.
 * 128 MiB storage bindings and 256 invocations per workgroup, are too small for
 * real models).
 */
export const RAISED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
] as const;

/** Name of one of the limits in {@link RAISED_LIMITS}. */
export type RaisedLimit = (typeof RAISED_LIMITS)[number];

/** Shape of the `webgpu` npm package (dawn.node) as far as Kiln uses it. */
interface DawnModule {
  create(flags: string[]): GPU;
  globals: Record<string, unknown>;
}

/**
 * The cached `GPU` object (or `null` when none is available). Kept in a
 * module-level variable on purpose: see the module docs, dropping it crashes
 * Dawn.
 */
let gpuPromise: Promise<GPU | null> | undefined;

/** Why the last {@link acquireGpu} returned `null`, for error messages. */
let unavailableReason = '';

/** Thrown by {@link requestDevice} when no WebGPU implementation or adapter exists. */
export class GpuUnavailableError extends KilnError {
  /** @param message why no adapter could be had. */
  constructor(message: string) {
    super('NO_ADAPTER', message);
  }
}

/** True when running under Node.js (also true for Deno/Bun in Node mode). */
function isNode(): boolean {
  const proc = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof proc?.versions?.node === 'string';
}

/** `navigator.gpu` when the host provides one (browsers, and Node only if polyfilled). */
function navigatorGpu(): GPU | undefined {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  return nav?.gpu ?? undefined;
}

/**
 * Loads `dawn.node` and creates its `GPU` object. The import specifier is kept
 * in a variable so that bundlers (esbuild, Vite, webpack) leave it alone.
 */
async function createNodeGpu(): Promise<GPU | null> {
  const name = 'webgpu';
  let mod: DawnModule;
  try {
    mod = (await import(/* @vite-ignore */ /* webpackIgnore: true */ name)) as DawnModule;
  } catch (err) {
    unavailableReason = `could not load the optional 'webgpu' package: ${(err as Error).message}`;
    return null;
  }
  // GPUBufferUsage, GPUMapMode, GPUShaderStage, ... are not Node globals: install
  // Dawn's versions, but never overwrite ones that some other code already set.
  const g = globalThis as Record<string, unknown>;
  for (const [key, value] of Object.entries(mod.globals)) {
    if (g[key] === undefined) g[key] = value;
  }
  const flags = (globalThis as { process?: { platform?: string } }).process?.platform === 'linux' ? [...LINUX_DAWN_FLAGS] : [];
  try {
    return mod.create(flags);
  } catch (err) {
    unavailableReason = `webgpu create(${JSON.stringify(flags)}) failed: ${(err as Error).message}`;
    return null;
  }
}

/**
 * Returns the host's WebGPU entry point, creating it on first use.
 *
 * - In a browser: `navigator.gpu` (or `null` if the browser has no WebGPU).
 * - In Node: dynamically imports the optional `webgpu` package (dawn.node),
 *   installs its `globals` (`GPUBufferUsage`, `GPUMapMode`, ...) on
 *   `globalThis` where missing, and calls `create(['backend=vulkan'])` on
 *   Linux (`create([])` elsewhere). `null` if the package is not installed or
 *   fails to load.
 *
 * The result is cached for the life of the process; keeping this reference is
 * what stops Dawn from crashing (see the module docs).
 *
 * @returns the `GPU` object, or `null` when WebGPU is unavailable.
 */
export async function acquireGpu(): Promise<GPU | null> {
  if (gpuPromise === undefined) {
    gpuPromise = (async (): Promise<GPU | null> => {
      const fromNavigator = navigatorGpu();
      if (fromNavigator) return fromNavigator;
      if (!isNode()) {
        unavailableReason = 'navigator.gpu is not available in this browser';
        return null;
      }
      return createNodeGpu();
    })();
  }
  return gpuPromise;
}

/** Options for {@link requestDevice}. */
export interface RequestDeviceOptions {
  /** Passed to `requestAdapter`. */
  powerPreference?: GPUPowerPreference;
  /** Extra features to require on top of the {@link WANTED_FEATURES} the adapter has; fails if missing. */
  requiredFeatures?: GPUFeatureName[];
  /** Set to false to request none of {@link WANTED_FEATURES} (for testing fallbacks). Default true. */
  optionalFeatures?: boolean;
  /** Overrides for individual limits; by default each of {@link RAISED_LIMITS} is the adapter's maximum. */
  requiredLimits?: Partial<Record<RaisedLimit, number>>;
  /** Label for the device, shown in Dawn's error messages. */
  label?: string;
}

/** Plain-object copy of the adapter's `GPUAdapterInfo`. */
export interface GpuInfo {
  /** e.g. `'mesa'`, `'nvidia'`; may be empty. */
  vendor: string;
  /** e.g. `'software'` for lavapipe; may be empty. */
  architecture: string;
  /** Vendor-specific device name, e.g. `'llvmpipe-llvm-15-0-6-256-bits-'`. */
  device: string;
  /** Human-readable description, e.g. `'llvmpipe: Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6) 0.0.1'`. */
  description: string;
  /** True for software/fallback adapters such as lavapipe. */
  isFallbackAdapter: boolean;
  /** Smallest subgroup size, when `subgroups` is supported. */
  subgroupMinSize?: number;
  /** Largest subgroup size, when `subgroups` is supported. */
  subgroupMaxSize?: number;
}

/** What {@link requestDevice} returns. */
export interface AcquiredDevice {
  /** The adapter the device came from. */
  adapter: GPUAdapter;
  /** The device, with {@link features} enabled and {@link RAISED_LIMITS} raised. */
  device: GPUDevice;
  /** The adapter's description. */
  info: GpuInfo;
  /** Features enabled on the device (sorted), e.g. `['shader-f16', 'subgroups', 'timestamp-query']`. */
  features: string[];
}

/** Copies the fields of a `GPUAdapterInfo` into a plain object. */
function copyInfo(adapter: GPUAdapter): GpuInfo {
  const i = adapter.info;
  const info: GpuInfo = {
    vendor: i.vendor ?? '',
    architecture: i.architecture ?? '',
    device: i.device ?? '',
    description: i.description ?? '',
    isFallbackAdapter: Boolean((i as { isFallbackAdapter?: boolean }).isFallbackAdapter),
  };
  if (typeof i.subgroupMinSize === 'number') info.subgroupMinSize = i.subgroupMinSize;
  if (typeof i.subgroupMaxSize === 'number') info.subgroupMaxSize = i.subgroupMaxSize;
  return info;
}

/**
 * Requests an adapter and a device with everything Kiln can use.
 *
 * The device gets the adapter's `shader-f16`, `timestamp-query` and
 * `subgroups` features where present, and the adapter's maximum for each of
 * {@link RAISED_LIMITS}. Each call makes a new device; the `GPU` object
 * behind it is shared (see {@link acquireGpu}).
 *
 * Callers own the device: `device.destroy()` it when done (not needed for the
 * process to exit, but it frees the GPU memory at once).
 *
 * @param opts adapter/device options; see {@link RequestDeviceOptions}.
 * @returns the adapter, the device, the adapter's info and the enabled features.
 * @throws {GpuUnavailableError} when there is no WebGPU implementation or no adapter.
 */
export async function requestDevice(opts: RequestDeviceOptions = {}): Promise<AcquiredDevice> {
  const gpu = await acquireGpu();
  if (!gpu) throw new GpuUnavailableError(`WebGPU is unavailable: ${unavailableReason || 'unknown reason'}`);
  const adapterOpts: GPURequestAdapterOptions = {};
  if (opts.powerPreference) adapterOpts.powerPreference = opts.powerPreference;
  const adapter = await gpu.requestAdapter(adapterOpts);
  if (!adapter) {
    throw new GpuUnavailableError(
      'WebGPU has no adapter' +
        (isNode() ? ' (on Linux without a GPU install mesa-vulkan-drivers >= 25 for lavapipe: sudo .ci/setup-system.sh)' : ''),
    );
  }

  const wanted = opts.optionalFeatures === false ? [] : WANTED_FEATURES.filter((f) => adapter.features.has(f));
  const requiredFeatures = [...new Set<GPUFeatureName>([...wanted, ...(opts.requiredFeatures ?? [])])];

  const requiredLimits: Record<string, number> = {};
  const adapterLimits = adapter.limits as unknown as Record<string, number | undefined>;
  for (const name of RAISED_LIMITS) {
    const value = opts.requiredLimits?.[name] ?? adapterLimits[name];
    if (typeof value === 'number') requiredLimits[name] = value;
  }

  const descriptor: GPUDeviceDescriptor = { requiredFeatures, requiredLimits };
  if (opts.label !== undefined) descriptor.label = opts.label;
  const device = await adapter.requestDevice(descriptor);

  return {
    adapter,
    device,
    info: copyInfo(adapter),
    features: [...device.features].map(String).sort(),
  };
}
