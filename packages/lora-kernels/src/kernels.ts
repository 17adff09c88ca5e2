// The public kernel API: thin, typed wrappers over the addon. Argument checks happen in native
// code (so the addon is safe to call directly too); errors carry a stable `code`.
import type {
  BackendInfo,
  EarthMoversDistanceResult,
  MatmulShape,
  PairwiseCostMetric,
  PairwiseCostShape,
} from "./AddonTypes.js";
import { type OutputOptions, onDevice } from "./device.js";
import { loadAddon, loaderReport } from "./loader.js";

/** What the loaded addon can do: CPU ISA and threads, the CUDA backend, the ops per device, and where it was loaded from. */
export function backendInfo(): BackendInfo {
  const info = loadAddon().backendInfo();
  return { ...info, loader: loaderReport() };
}

/** Sets the number of threads the native CPU kernels use (default: all cores). */
export function setThreads(threads: number): number {
  return loadAddon().setThreads(threads);
}

/** y[T,out] = x[T,in]·w[out,in]ᵀ in f32 (HF/PEFT layout: w is [out, in]). */
export function matmul(x: Float32Array, w: Float32Array, shape: MatmulShape, options?: OutputOptions): Float32Array {
  return loadAddon().matmul(x, w, onDevice(shape, options), options?.out);
}

/** As `matmul`, computed off the JS thread. */
export function matmulAsync(
  x: Float32Array,
  w: Float32Array,
  shape: MatmulShape,
  options?: OutputOptions,
): Promise<Float32Array> {
  return loadAddon().matmulAsync(x, w, onDevice(shape, options), options?.out);
}

/**
 * out[rows] = W[rows, columns]·x with W in llama.cpp's Q8_0 blocks as a GGUF file stores them (per 32
 * values: f16 d, int8 q[32]; value = q·d), read as stored (34 bytes per 32 weights); x stays f32.
 * columns must be a multiple of 32. CPU, multi-threaded over rows (AVX-512 / AVX2 / portable).
 */
export function quantizedMatvecQ8_0(
  x: Float32Array,
  w: Uint8Array,
  shape: { rows: number; columns: number },
): Float32Array {
  return loadAddon().quantizedMatvecQ8_0(x, w, shape);
}

/**
 * out[rows] = W[rows, columns]·x with W in llama.cpp's Q4_0 blocks as a GGUF file stores them (per 32
 * values: f16 d, 16 bytes of 4-bit codes; value j = ((qs[j] & 15) − 8)·d, value j + 16 = ((qs[j] >> 4)
 * − 8)·d), read as stored (18 bytes per 32 weights); x is rounded to Q8_0 as llama.cpp's CPU backend
 * rounds it and multiplied in integers per block. columns must be a multiple of 32. CPU,
 * multi-threaded over rows (AVX-512 VNNI / AVX2 / portable).
 */
export function quantizedMatvecQ4_0(
  x: Float32Array,
  w: Uint8Array,
  shape: { rows: number; columns: number },
): Float32Array {
  return loadAddon().quantizedMatvecQ4_0(x, w, shape);
}

/**
 * out[rows] = W[rows, columns]·x with W in llama.cpp's Q4_K super-blocks as a GGUF file stores them
 * (per 256 values: f16 d and dmin, eight 6-bit scales and mins, 128 bytes of 4-bit codes; value =
 * d·scale·q − dmin·min per 32-value sub-block), read as stored (144 bytes per 256 weights); x is
 * rounded to Q8_K (256 values per f32 scale) as llama.cpp's CPU backend rounds it for Q4_K and
 * multiplied in integers per sub-block. columns must be a multiple of 256. CPU, multi-threaded over
 * rows (AVX-512 VNNI / AVX2 / portable).
 */
export function quantizedMatvecQ4_K(
  x: Float32Array,
  w: Uint8Array,
  shape: { rows: number; columns: number },
): Float32Array {
  return loadAddon().quantizedMatvecQ4_K(x, w, shape);
}

/** Pairwise ground costs in f64 between the rows of a[n, dim] and b[m, dim] (cosine: 1 − cos). */
export function pairwiseCost(
  a: Float32Array,
  b: Float32Array,
  shape: PairwiseCostShape,
  metric: PairwiseCostMetric,
): Float64Array {
  return loadAddon().pairwiseCost(a, b, shape, metric);
}

/** Exact earth mover's distance by the native network simplex: min ⟨X, C⟩ over plans with marginals a, b. */
export function earthMoversDistance(
  a: Float64Array,
  b: Float64Array,
  costs: Float64Array,
  options?: { maxPivots?: number },
): EarthMoversDistanceResult {
  return loadAddon().earthMoversDistance(a, b, costs, options);
}

/**
 * Whether the loaded addon has the optimal-transport kernels (false when no addon loads, or an older
 * prebuilt one lacks them): callers such as @pillow/replay then use their TypeScript solver.
 */
export function hasEarthMoversDistance(): boolean {
  try {
    const addon = loadAddon() as Partial<ReturnType<typeof loadAddon>>;
    return typeof addon.earthMoversDistance === "function" && typeof addon.pairwiseCost === "function";
  } catch {
    return false;
  }
}
