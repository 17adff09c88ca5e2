// Fused LoRA matmul: forward, backward and multi-adapter forward, each with an ...Async twin that
// runs off the JS thread. Shapes and lengths are checked in native code (E_SHAPE naming the argument).
import type { LoraAdapter, LoraGradients, LoraShape, MatmulShape, NativeWeight } from "./AddonTypes.js";
import { type Bf16Array, isBf16Array } from "./bf16.js";
import { type DeviceOptions, type OutputOptions, onDevice } from "./device.js";
import { KernelError } from "./errors.js";
import { loadAddon } from "./loader.js";

/** A frozen weight W [out, in]: f32, or bf16 bits tagged with `bf16()` / made by `toBf16()`. */
export type Weight = Float32Array | Bf16Array;

function nativeWeight(w: Weight): NativeWeight {
  const value: unknown = w;
  if (value instanceof Float32Array || isBf16Array(value)) return value;
  const hint =
    value instanceof Uint16Array ? " (a plain Uint16Array is ambiguous: wrap raw bf16 bits with bf16(bits))" : "";
  throw new KernelError("E_TYPE", `w must be a Float32Array or a Bf16Array${hint}`);
}

/** y[T,out] = x[T,in]·W[out,in]ᵀ + scale·(x·A[r,in]ᵀ)·B[out,r]ᵀ (PEFT layouts; rank 0 = no adapter). */
export function loraMatmul(
  x: Float32Array,
  w: Weight,
  a: Float32Array,
  b: Float32Array,
  shape: LoraShape,
  scale: number,
  options?: OutputOptions,
): Float32Array {
  return loadAddon().loraMatmul(x, nativeWeight(w), a, b, onDevice(shape, options), scale, options?.out);
}

/** As `loraMatmul`, computed off the JS thread. */
export function loraMatmulAsync(
  x: Float32Array,
  w: Weight,
  a: Float32Array,
  b: Float32Array,
  shape: LoraShape,
  scale: number,
  options?: OutputOptions,
): Promise<Float32Array> {
  return loadAddon().loraMatmulAsync(x, nativeWeight(w), a, b, onDevice(shape, options), scale, options?.out);
}

/**
 * Gradients of `loraMatmul` for a frozen W, given dy = ∂loss/∂y [T,out]:
 * dx = dy·W + scale·(dy·B)·A [T,in], da = scale·(dy·B)ᵀ·x [r,in], db = scale·dyᵀ·(x·Aᵀ) [out,r].
 */
export function loraMatmulBackward(
  dy: Float32Array,
  x: Float32Array,
  w: Weight,
  a: Float32Array,
  b: Float32Array,
  shape: LoraShape,
  scale: number,
  options?: DeviceOptions,
): LoraGradients {
  return loadAddon().loraMatmulBackward(dy, x, nativeWeight(w), a, b, onDevice(shape, options), scale);
}

/** As `loraMatmulBackward`, computed off the JS thread. */
export function loraMatmulBackwardAsync(
  dy: Float32Array,
  x: Float32Array,
  w: Weight,
  a: Float32Array,
  b: Float32Array,
  shape: LoraShape,
  scale: number,
  options?: DeviceOptions,
): Promise<LoraGradients> {
  return loadAddon().loraMatmulBackwardAsync(dy, x, nativeWeight(w), a, b, onDevice(shape, options), scale);
}

/**
 * Many adapters in one batch (Punica BGMV style): row t uses adapters[adapterIndex[t]], or the base
 * weight alone where adapterIndex[t] is -1. Adapters may have different ranks.
 */
export function loraMatmulMulti(
  x: Float32Array,
  w: Weight,
  adapters: LoraAdapter[],
  adapterIndex: Int32Array,
  shape: Omit<LoraShape, "rank">,
  options?: DeviceOptions,
): Float32Array {
  return loadAddon().loraMatmulMulti(
    x,
    nativeWeight(w),
    adapters,
    adapterIndex,
    onDevice(shape as MatmulShape, options),
  );
}

/** As `loraMatmulMulti`, computed off the JS thread. */
export function loraMatmulMultiAsync(
  x: Float32Array,
  w: Weight,
  adapters: LoraAdapter[],
  adapterIndex: Int32Array,
  shape: Omit<LoraShape, "rank">,
  options?: DeviceOptions,
): Promise<Float32Array> {
  return loadAddon().loraMatmulMultiAsync(
    x,
    nativeWeight(w),
    adapters,
    adapterIndex,
    onDevice(shape as MatmulShape, options),
  );
}
