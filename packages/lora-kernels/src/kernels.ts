// The public kernel API: thin, typed wrappers over the addon. Argument checks happen in native
// code (so the addon is safe to call directly too); errors carry a stable `code`.
import type { BackendInfo, MatmulShape } from "./AddonTypes.js";
import { loadAddon } from "./loader.js";

export function backendInfo(): BackendInfo {
  return loadAddon().backendInfo();
}

/** Sets the number of threads the native CPU kernels use (default: all cores). */
export function setThreads(threads: number): number {
  return loadAddon().setThreads(threads);
}

/** y[T,out] = x[T,in]·w[out,in]ᵀ in f32 (HF/PEFT layout: w is [out, in]). */
export function matmul(x: Float32Array, w: Float32Array, shape: MatmulShape): Float32Array {
  return loadAddon().matmul(x, w, shape);
}

/** As `matmul`, computed off the JS thread. */
export function matmulAsync(x: Float32Array, w: Float32Array, shape: MatmulShape): Promise<Float32Array> {
  return loadAddon().matmulAsync(x, w, shape);
}
