// The typed contract between TypeScript and pillow_native.node. Every function the addon exports
// is declared here, and only here; the rest of the package talks to the addon through this type.

/** Stable error codes thrown by the addon (and by this package's own checks); native/src/runtime/errors.h mirrors them. */
export const NATIVE_ERROR_CODES = [
  "E_SHAPE",
  "E_TYPE",
  "E_ARGUMENT",
  "E_NONFINITE_LOGITS",
  "E_CUDA",
  "E_UNSUPPORTED",
  "E_INTERNAL",
  "E_DISPOSED",
] as const;
export type NativeErrorCode = (typeof NATIVE_ERROR_CODES)[number];

/** The device field the addon reads from a shape or options object (default "cpu"). */
export type NativeDevice = "cpu" | "cuda";

export type MatmulShape = { tokens: number; inFeatures: number; outFeatures: number; device?: NativeDevice };

/** Shape of a LoRA matmul: x [tokens, inFeatures], W [outFeatures, inFeatures], A [rank, inFeatures], B [outFeatures, rank]. */
export type LoraShape = {
  tokens: number;
  inFeatures: number;
  outFeatures: number;
  rank: number;
  device?: NativeDevice;
};

/** One adapter of a multi-adapter batch: A [rank, in], B [out, rank], y += scale·(x·Aᵀ)·Bᵀ. */
export type LoraAdapter = { a: Float32Array; b: Float32Array; rank: number; scale: number };

export type LoraGradients = { dx: Float32Array; da: Float32Array; db: Float32Array };

export type SampleShape = { rows: number; vocab: number };

export type SampleResult = { tokens: Int32Array; logprobs: Float32Array };

/** Sampling options as the addon takes them: seeds resolved to one integer in [0, 2^53) per row. */
export type NativeSamplingOptions = {
  temperature?: number;
  topK?: number;
  topP?: number;
  minP?: number;
  repetitionPenalty?: number;
  frequencyPenalty?: number;
  presencePenalty?: number;
  previousTokens?: Int32Array[];
  seeds: number[];
  device?: NativeDevice;
};

/**
 * A frozen weight as the addon takes it: a Float32Array (f32) or a Uint16Array holding raw bf16
 * bits. The public API only passes a Uint16Array that the caller tagged as a Bf16Array.
 */
export type NativeWeight = Float32Array | Uint16Array;

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
      /** AMX tiles with TDPBF16PS, and the OS saves their state. */
      amxBf16: boolean;
    };
    /**
     * The kernels the GEMM of bf16 weights (prefill, T > 4 tokens) runs on: "amx" (AMX tiles),
     * "avx512_bf16" (vdpbf16ps), with x rounded to bf16; null: the weights are widened to f32.
     * PILLOW_BF16_DOT=off forces null, =avx512_bf16 skips AMX.
     */
    bf16Dot: "amx" | "avx512_bf16" | null;
  };
  /** emulated: the PILLOW_CUDA=emulate build (CUDA kernels on CPU threads, for tests). */
  cuda: { compiled: boolean; devices: number; runtimeVersion?: number; error?: string; emulated?: boolean };
  /**
   * The ops each device runs through the `device` option (cuda: empty when no device is usable;
   * "LlamaModel.*" are the steps of a model created with device "cuda"), and cudaMissing: what has
   * no CUDA path yet (a cuda model refuses those steps with E_UNSUPPORTED, never a silent CPU run).
   */
  ops?: { cpu: string[]; cuda: string[]; cudaMissing?: string[] };
  /** Set by the loader: which addon file it loaded and why it skipped the others. */
  loader?: { path: string; skipped: { path: string; reason: string }[] };
};

export type PairwiseCostShape = { n: number; m: number; dim: number };
export type PairwiseCostMetric = "cosine" | "euclidean" | "sqeuclidean";
export type EarthMoversDistanceResult = { cost: number; pivots: number };

export type AddonTypes = {
  backendInfo(): BackendInfo;
  /** Resizes the native thread pool; returns the new size. */
  setThreads(threads: number): number;
  /** y[T,out] = x[T,in]·w[out,in]ᵀ */
  matmul(x: Float32Array, w: Float32Array, shape: MatmulShape, out?: Float32Array): Float32Array;
  matmulAsync(x: Float32Array, w: Float32Array, shape: MatmulShape, out?: Float32Array): Promise<Float32Array>;
  /** out[rows] = W·x, W [rows, columns] in llama.cpp's Q8_0 blocks (rows·columns/32·34 bytes), x f32. CPU. */
  quantizedMatvecQ8_0(x: Float32Array, w: Uint8Array, shape: { rows: number; columns: number }): Float32Array;
  /** out[rows] = W·x, W [rows, columns] in llama.cpp's Q4_0 blocks (rows·columns/32·18 bytes), x f32. CPU. */
  quantizedMatvecQ4_0(x: Float32Array, w: Uint8Array, shape: { rows: number; columns: number }): Float32Array;
  /** out[rows] = W·x, W [rows, columns] in llama.cpp's Q4_K super-blocks (rows·columns/256·144 bytes), x f32. CPU. */
  quantizedMatvecQ4_K(x: Float32Array, w: Uint8Array, shape: { rows: number; columns: number }): Float32Array;
  /** y[T,out] = x·Wᵀ + scale·(x·Aᵀ)·Bᵀ; rank 0 (empty a, b) is the base product alone. */
  loraMatmul(
    x: Float32Array,
    w: NativeWeight,
    a: Float32Array,
    b: Float32Array,
    shape: LoraShape,
    scale: number,
    out?: Float32Array,
  ): Float32Array;
  loraMatmulAsync(
    x: Float32Array,
    w: NativeWeight,
    a: Float32Array,
    b: Float32Array,
    shape: LoraShape,
    scale: number,
    out?: Float32Array,
  ): Promise<Float32Array>;
  /** Gradients for a frozen W: dx [T,in], da [rank,in], db [out,rank]. */
  loraMatmulBackward(
    dy: Float32Array,
    x: Float32Array,
    w: NativeWeight,
    a: Float32Array,
    b: Float32Array,
    shape: LoraShape,
    scale: number,
  ): LoraGradients;
  loraMatmulBackwardAsync(
    dy: Float32Array,
    x: Float32Array,
    w: NativeWeight,
    a: Float32Array,
    b: Float32Array,
    shape: LoraShape,
    scale: number,
  ): Promise<LoraGradients>;
  /** One adapter per row: adapterIndex[t] in [0, adapters.length) or -1 (base only). */
  loraMatmulMulti(
    x: Float32Array,
    w: NativeWeight,
    adapters: LoraAdapter[],
    adapterIndex: Int32Array,
    shape: MatmulShape,
  ): Float32Array;
  loraMatmulMultiAsync(
    x: Float32Array,
    w: NativeWeight,
    adapters: LoraAdapter[],
    adapterIndex: Int32Array,
    shape: MatmulShape,
  ): Promise<Float32Array>;
  /** One token per row of logits [rows, vocab]; throws E_NONFINITE_LOGITS on NaN/Inf. */
  sample(logits: Float32Array, shape: SampleShape, options: NativeSamplingOptions): SampleResult;
  sampleAsync(logits: Float32Array, shape: SampleShape, options: NativeSamplingOptions): Promise<SampleResult>;
  /** The native LLaMA-family model object (native/src/napi/model_binding.cc). */
  LlamaModel: NativeLlamaModelConstructor;
  /** costs[n, m] in f64 between the f32 rows of a[n, dim] and b[m, dim]; cosine = 1 − cos (zero rows: E_ARGUMENT). */
  pairwiseCost(a: Float32Array, b: Float32Array, shape: PairwiseCostShape, metric: PairwiseCostMetric): Float64Array;
  /** Exact optimal transport cost (network simplex); a and b ≥ 0 with equal sums, costs[a.length, b.length]. */
  earthMoversDistance(
    a: Float64Array,
    b: Float64Array,
    costs: Float64Array,
    options?: { maxPivots?: number },
  ): EarthMoversDistanceResult;
};

// ---------------------------------------------------------------- LlamaModel (model_binding.cc)

/** The model shape as the native LlamaModel takes it (core's ModelConfig fields). */
export type NativeModelConfig = {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKeyValueHeads: number;
  headDim: number;
  maxPositionEmbeddings: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling:
    | null
    | { type: "linear"; factor: number }
    | {
        type: "llama3";
        factor: number;
        lowFreqFactor: number;
        highFreqFactor: number;
        originalMaxPositionEmbeddings: number;
      };
  tieWordEmbeddings: boolean;
  attentionBias: boolean;
};

export type NativeTrainMode = "lora" | "full";

export type NativeLoraModule = "q_proj" | "k_proj" | "v_proj" | "o_proj" | "gate_proj" | "up_proj" | "down_proj";

export type NativeForwardOptions = {
  /** Sequences in `tokens` (equal lengths, concatenated). Default 1. */
  batch?: number;
  /** Position of the first token (KV-cache continuation). Default 0. */
  startPosition?: number;
  /** Write keys/values to the KV cache and attend over it. Default false. */
  useCache?: boolean;
  /** Logits of each sequence's last position only ([batch, vocab]). Default false. */
  lastOnly?: boolean;
  /**
   * Left padding per sequence ([batch]) of a ragged batch: masked out of attention, positions count from
   * the first real token. With useCache it is given at startPosition 0 and kept for the decode steps.
   */
  paddings?: Int32Array;
};

/** One sequence's share of a forwardSequences step (see NativeLlamaModel.forwardSequences). */
export type NativeSequenceStep = {
  /** An id from createSequence. */
  sequence: number;
  /** Position of the first token: the sequence's cached length. */
  start: number;
  /** Tokens of this sequence in the step (a prefill chunk, or 1 when decoding). */
  count: number;
  /** The adapter for these rows; null or omitted = the base model. */
  adapter?: string | null;
};

export type NativeLossAndGradOptions = {
  batch?: number;
  mode: NativeTrainMode;
  /** Add to the gradient buffers instead of overwriting them. Default false. */
  accumulate?: boolean;
  /** Gradients are those of gradScale · lossSum. Default 1. */
  gradScale?: number;
  /** Picks the LoRA dropout masks of this call (an adapter with dropout > 0 in lora mode). Default 0. */
  dropoutStep?: number;
};

export type NativeAdamWOptions = {
  learningRate: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  weightDecay?: number;
  /** 1-based step number (bias correction). */
  step: number;
  /** Clip the global gradient norm to this (torch.nn.utils.clip_grad_norm_); 0 = off. */
  maxGradNorm?: number;
};

/**
 * One LLaMA-family model held natively. Tensor names are HF names; gradient/optimizer keys are HF
 * names (full mode) or "lora.<layer>.<module>.A|B" (the active adapter, lora mode).
 */
export interface NativeLlamaModel {
  tensorNames(): string[];
  missingTensors(): string[];
  tensorShape(name: string): number[];
  /**
   * data: f32 values, or a Uint16Array of raw bf16 bits. storeAs "bf16" keeps linear weights in bf16;
   * storeAs "q8_0" takes a Uint8Array of llama.cpp Q8_0 blocks, [out · (in / 32) · 34] bytes, and
   * "q4_0" one of Q4_0 blocks, [out · (in / 32) · 18] bytes, for a linear weight (in a multiple of
   * 32), and "q4_k" one of Q4_K super-blocks, [out · (in / 256) · 144] bytes (in a multiple of 256),
   * kept as they are (CPU only). The token embedding takes them too ([vocab, hidden] as [out, in]):
   * its looked-up rows are decoded, and a tied model's output layer multiplies its blocks.
   */
  setTensor(
    name: string,
    data: Float32Array | Uint16Array | Uint8Array,
    storeAs?: "f32" | "bf16" | "q8_0" | "q4_0" | "q4_k",
  ): void;
  getTensor(name: string): Float32Array;
  /** layers: the adapted layers (PEFT layers_to_transform); omitted = all. */
  /** dropout: PEFT lora_dropout, applied in lossAndGrad (lora mode) only; dropoutSeed seeds its masks. */
  addAdapter(
    name: string,
    options: {
      rank: number;
      scale: number;
      targetModules: NativeLoraModule[];
      layers?: number[];
      dropout?: number;
      dropoutSeed?: number;
    },
  ): void;
  removeAdapter(name: string): void;
  adapterNames(): string[];
  setAdapterTensor(
    adapter: string,
    layer: number,
    module: NativeLoraModule,
    which: "A" | "B",
    data: Float32Array,
  ): void;
  getAdapterTensor(adapter: string, layer: number, module: NativeLoraModule, which: "A" | "B"): Float32Array;
  setActiveAdapter(name: string | null): void;
  activeAdapter(): string | null;
  /** logits [batch·T, vocab] (or [batch, vocab] with lastOnly). */
  forward(tokens: Int32Array, options?: NativeForwardOptions): Promise<Float32Array>;
  /** Mean-pooled final hidden states [batch, hidden]. */
  embed(tokens: Int32Array, options?: { batch?: number }): Promise<Float32Array>;
  resetCache(): void;
  /**
   * A sequence with its own KV cache of `capacity` positions (allocated now), independent of
   * forward's cache and of the active adapter. Returns its id (never reused).
   */
  createSequence(capacity: number): number;
  releaseSequence(sequence: number): void;
  /** Bytes of KV cache one sequence of `capacity` positions holds. */
  sequenceBytes(capacity: number): number;
  sequenceCount(): number;
  /**
   * One step over several sequences (continuous batching): tokens holds each step's tokens in
   * order; each row goes through its step's adapter. Logits of each step's last token, [steps, vocab].
   * A row's numbers depend on its own sequence alone, never on the other steps.
   */
  forwardSequences(tokens: Int32Array, steps: NativeSequenceStep[]): Promise<Float32Array>;
  /** labels aligned with tokens (HF); -100 = ignored. lossSum over `count` predicted targets. */
  lossAndGrad(
    tokens: Int32Array,
    labels: Int32Array,
    options: NativeLossAndGradOptions,
  ): Promise<{ lossSum: number; count: number }>;
  zeroGradients(mode: NativeTrainMode): void;
  gradients(mode: NativeTrainMode): Record<string, Float32Array>;
  adamwStep(mode: NativeTrainMode, options: NativeAdamWOptions): Promise<{ gradNorm: number }>;
  optimizerState(mode: NativeTrainMode): Record<string, { m: Float32Array; v: Float32Array }>;
  setOptimizerState(mode: NativeTrainMode, key: string, m: Float32Array, v: Float32Array): void;
  resetOptimizerState(mode: NativeTrainMode): void;
  /** Where the weights live and the steps run (the constructor's options.device). */
  device(): NativeDevice;
  /**
   * Frees the native weights, adapters, caches and optimizer state now (a kernel still running keeps
   * them until it finishes); any later call throws E_DISPOSED. Idempotent. `using` calls it too.
   */
  dispose(): void;
  [Symbol.dispose](): void;
}

/** device "cuda": weights and the active adapter stay on the GPU; E_CUDA when no device is usable. */
export type NativeModelOptions = { device?: NativeDevice };

export type NativeLlamaModelConstructor = new (
  config: NativeModelConfig,
  options?: NativeModelOptions,
) => NativeLlamaModel;
