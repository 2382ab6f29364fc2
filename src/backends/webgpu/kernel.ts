/**
 * The contract between the WebGPU executor and op kernels. A kernel is attached to
 * an op of the registry with {@link registerKernel} (a trait on the op handle) and,
 * given the concrete input/output types of one node, plans one or more dispatches:
 * WGSL source, which buffers to bind, uniforms, and the workgroup grid.
 *
 * GPU storage: every element is 4 bytes (f32, i32 or u32), except float16 which is
 * stored as f16 when the device has `shader-f16`. int64 is narrowed to i32 (values
 * are range-checked at upload), bool is a u32 0/1, narrow ints widen to i32/u32,
 * float64 narrows to f32.
 */
import type { DType } from '../../graph/dtype.js';
import { getTrait, setTrait, traitKey, type OpDef } from '../../graph/op.js';
import type { OPS } from '../../graph/ops/index.js';
import type { Tensor } from '../../graph/tensor.js';

/** WGSL scalar type used to store a tensor. */
export type GpuStorage = 'f32' | 'f16' | 'i32' | 'u32';

/** The storage of a dtype on the GPU. */
export function storageOf(dtype: DType, f16: boolean): GpuStorage {
  switch (dtype) {
    case 'float32':
    case 'float64':
    case 'bfloat16':
    case 'float8e4m3fn':
    case 'float8e4m3fnuz':
    case 'float8e5m2':
    case 'float8e5m2fnuz':
      return 'f32';
    case 'float16':
      return f16 ? 'f16' : 'f32';
    case 'int8':
    case 'int16':
    case 'int32':
    case 'int64':
    case 'int4':
      return 'i32';
    default:
      return 'u32';
  }
}

/** Bytes per element of a storage type. */
export function storageBytes(s: GpuStorage): number {
  return s === 'f16' ? 2 : 4;
}

/** A tensor as a kernel sees it: concrete type, storage, and its value when constant. */
export interface GpuTensorInfo {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly storage: GpuStorage;
  /** The tensor's value when it is an initializer or folded constant (e.g. weights, axes). */
  readonly value?: Tensor | undefined;
}

/** Device limits a kernel must respect. */
export interface KernelLimits {
  readonly maxComputeInvocationsPerWorkgroup: number;
  readonly maxComputeWorkgroupSizeX: number;
  readonly maxComputeWorkgroupSizeY: number;
  readonly maxComputeWorkgroupsPerDimension: number;
  readonly maxStorageBuffersPerShaderStage: number;
  readonly maxComputeWorkgroupStorageSize: number;
  readonly maxStorageBufferBindingSize: number;
  /** Alignment (bytes) of a storage binding's offset into its buffer. */
  readonly minStorageBufferOffsetAlignment: number;
}

/** WebGPU's default limits: what every adapter grants (used to plan without a device). */
export const DEFAULT_KERNEL_LIMITS: KernelLimits = {
  maxComputeInvocationsPerWorkgroup: 256,
  maxComputeWorkgroupSizeX: 256,
  maxComputeWorkgroupSizeY: 256,
  maxComputeWorkgroupsPerDimension: 65535,
  maxStorageBuffersPerShaderStage: 8,
  maxComputeWorkgroupStorageSize: 16384,
  maxStorageBufferBindingSize: 134217728,
  minStorageBufferOffsetAlignment: 256,
};

/** Choices between kernel variants that compute the same result (for benchmarks and tests). */
export interface KernelOptions {
  /**
   * Plan a 2-D Conv with constant weights as one implicit-GEMM dispatch where it
   * fits (default true); false plans im2col + GEMM instead.
   */
  readonly implicitGemm?: boolean | undefined;
  /** Plan a one-group f32 ConvTranspose as GEMM + col2im (default true); false plans the direct gather. */
  readonly convTransposeGemm?: boolean | undefined;
}

/** What a kernel's planner receives for one node. */
export interface KernelContext {
  /** Node name (for error messages only; never put it in WGSL). */
  readonly node: string;
  /** Resolved attributes (defaults filled in). */
  readonly attrs: Readonly<Record<string, unknown>>;
  /** Inputs (undefined for omitted optional ones). */
  readonly inputs: readonly (GpuTensorInfo | undefined)[];
  /** Outputs with concrete shapes. */
  readonly outputs: readonly GpuTensorInfo[];
  /** Device limits. */
  readonly limits: KernelLimits;
  /** True if shader-f16 is enabled. */
  readonly f16: boolean;
  /** True if subgroups are enabled. */
  readonly subgroups: boolean;
  /** Kernel variant choices (default: every option at its default). */
  readonly options?: KernelOptions | undefined;
}

/** A buffer bound to a dispatch, in binding order. */
export type BindingRef =
  | { readonly kind: 'input'; readonly index: number }
  | { readonly kind: 'output'; readonly index: number }
  /** `readOnly`: bound read-only (a chunk's staged copy of an input that the kernel reads, chunk.ts). */
  | { readonly kind: 'scratch'; readonly index: number; readonly readOnly?: boolean }
  /** A tensor the kernel prepared at plan time (see {@link KernelPlan.constants}). */
  | { readonly kind: 'constant'; readonly index: number };

/** One compute dispatch. */
export interface Dispatch {
  /** Complete WGSL module. Storage buffers at @group(0) @binding(i) follow `bindings`; the uniform buffer, if any, comes last. */
  readonly shader: string;
  /** Entry point (default `main`). */
  readonly entryPoint?: string;
  /** Buffers bound, in binding order. Inputs are read-only storage, outputs and scratch read_write. */
  readonly bindings: readonly BindingRef[];
  /** Uniform data (16-byte aligned per WGSL rules), bound after the storage buffers. */
  readonly uniforms?: ArrayBuffer;
  /** Workgroup counts, each ≤ maxComputeWorkgroupsPerDimension. */
  readonly workgroups: readonly [number, number, number];
  /** Short label for profiles (op and kernel variant; no model strings). */
  readonly label: string;
}

/** A kernel's plan for one node. */
export interface KernelPlan {
  /**
   * Tensors derived at plan time from constant inputs (e.g. weights re-laid out for
   * a kernel), uploaded once with the plan and bound read-only as `constant`
   * bindings. A constant input that no dispatch binds is not uploaded at all.
   */
  readonly constants?: readonly Tensor[];
  /** Scratch buffers (bytes) private to this node. */
  readonly scratch?: readonly number[];
  /** Dispatches in order. Empty when the node is an alias. */
  readonly dispatches: readonly Dispatch[];
  /** Output 0 is the same bytes as input `aliasOf` (reshape-like ops); no dispatch needed. */
  readonly aliasOf?: number;
  /**
   * Input k may instead be written by its producer directly at byte offset
   * `inPlaceInputs[k]` of output 0 (Concat along an axis with nothing outside it);
   * when the planner arranges that for every input, the node needs no dispatch.
   */
  readonly inPlaceInputs?: readonly number[];
}

/** The rows of one value in a {@link KernelSplit}: `unit` elements per row (contiguous), `shape(n)` the shape of n rows. */
export interface SplitRows {
  readonly unit: number;
  readonly shape: (n: number) => number[];
  /**
   * Rows that are not contiguous in the value (a ConvTranspose weight's output
   * channels): the tensor of rows r0..r0+n of constant `value`. Such a value can
   * only be split when it is a constant (each chunk uploads its own rows).
   */
  readonly slice?: (value: Tensor, r0: number, n: number) => Tensor;
}

/**
 * How a node splits into chunks of rows when a value is larger than one storage
 * binding (chunk.ts): the number of rows and, per input and output, its rows
 * (undefined: bound whole in every chunk).
 */
export interface KernelSplit {
  readonly rows: number;
  readonly inputs: readonly (SplitRows | undefined)[];
  readonly outputs: readonly (SplitRows | undefined)[];
  /** Attributes of a chunk of n rows (default: the node's). */
  readonly attrs?: (n: number) => Readonly<Record<string, unknown>>;
}

/** A range of a value's elements (from `start`, `count` of them) that one tile binds. */
export interface ElementRange {
  readonly start: number;
  readonly count: number;
}

/**
 * One tile of a node's own tiling (GpuKernel.tiles), for values larger than one
 * binding that no split into rows covers (a Transpose's blocks): the element range
 * of each value it binds (undefined: bound whole) and its plan.
 */
export interface KernelTile {
  readonly inputs: readonly (ElementRange | undefined)[];
  readonly outputs: readonly (ElementRange | undefined)[];
  /** Plans the tile: `ctx` is the node's, each ranged value's shape being `[count]` (indexed from its range's start). */
  plan(ctx: KernelContext): KernelPlan;
}

/** A WebGPU kernel for one op. */
export interface GpuKernel {
  /** Plans the dispatches for one node; throws a typed error naming ctx.node if unsupported. */
  plan(ctx: KernelContext): KernelPlan;
  /**
   * The node's split over the rows of its output's axes 0..a flattened, for values
   * larger than one binding (chunk.ts); undefined when it cannot split there. A
   * kernel without it cannot read or write such values.
   */
  split?(ctx: KernelContext, a: number): KernelSplit | undefined;
  /**
   * Tiles of the node whose ranges each fit one binding (`ctx.limits`), tried when
   * no split into rows does; undefined when it has none.
   */
  tiles?(ctx: KernelContext): readonly KernelTile[] | undefined;
}

/** The name of an op of the registry (graph/ops OPS): a kernel table key that is not one fails the type check. */
export type OpName = keyof typeof OPS;

/** A family's WebGPU kernels by op (kernels/index.ts registers each on its op handle `OPS[name]`). */
export type KernelTable = { readonly [K in OpName]?: GpuKernel };

/** The trait under which an op's WebGPU kernel is stored. */
export const WEBGPU_KERNEL = traitKey<GpuKernel>('webgpu.kernel');

/** Registers the WebGPU kernel of an op. */
export function registerKernel(op: OpDef, kernel: GpuKernel): void {
  setTrait(op, WEBGPU_KERNEL, kernel);
}

/** The WebGPU kernel of an op, if registered. */
export function kernelOf(op: OpDef): GpuKernel | undefined {
  return getTrait(op, WEBGPU_KERNEL);
}
