// The typed contract between TypeScript and pillow_native.node. Every function the addon exports
// is declared here, and only here; the rest of the package talks to the addon through this type.

/** Stable error codes thrown by the addon (and by this package's own checks). */
export type NativeErrorCode =
  | "E_SHAPE"
  | "E_TYPE"
  | "E_ARGUMENT"
  | "E_NONFINITE_LOGITS"
  | "E_CUDA"
  | "E_INTERNAL";

export type MatmulShape = { tokens: number; inFeatures: number; outFeatures: number };

export type CpuIsa = "avx512" | "avx2" | "portable";

export type BackendInfo = {
  version: string;
  cpu: {
    isa: CpuIsa;
    threads: number;
    features: {
      avx2: boolean;
      fma: boolean;
      f16c: boolean;
      avx512f: boolean;
      avx512bw: boolean;
      avx512vl: boolean;
      avx512bf16: boolean;
    };
  };
  cuda: { compiled: boolean; devices: number; runtimeVersion?: number; error?: string };
};

export type AddonTypes = {
  backendInfo(): BackendInfo;
  /** Resizes the native thread pool; returns the new size. */
  setThreads(threads: number): number;
  /** y[T,out] = x[T,in]·w[out,in]ᵀ */
  matmul(x: Float32Array, w: Float32Array, shape: MatmulShape): Float32Array;
  matmulAsync(x: Float32Array, w: Float32Array, shape: MatmulShape): Promise<Float32Array>;
};
