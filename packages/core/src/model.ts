// A loaded LLaMA-family model: the HF config, the tokenizer and the native model object (weights,
// LoRA adapters, KV cache). Every whole-model step is one native call that runs off the JS thread.
import path from "node:path";
import type { Device, NativeLlamaModel, NativeTrainMode } from "@pillow/lora-kernels";
import type { ScoredContinuation } from "./backend.js";
import { type ScoringOptions, type ScoringPair, scoreTokenSequences } from "./score-continuations.js";
import type { ModelConfig } from "./config.js";
import { ModelError } from "./errors.js";
import type { GenerationChunk, GenerationOptions, GenerationResult } from "./generation-options.js";
import { adaptedLayerIndices, adaptedLayers, linearInFeatures } from "./adapter-layout.js";
import { readPeftAdapter, writePeftAdapter } from "./peft-adapter-files.js";
import {
  ADAPTER_WEIGHTS_FILE,
  hfTensorName,
  LINEAR_MODULES,
  type LinearModule,
  type LoraConfig,
  loraScale,
  peftTensorName,
} from "./peft.js";
import { Random } from "./random.js";
import { generateBatchTokens, streamTokens } from "./model-decoding.js";
import type { Tokenizer } from "./tokenizer.js";

export type ModelDtype = "f32" | "bf16";
export type TrainMode = NativeTrainMode;

export type AdapterOptions = {
  r: number;
  alpha: number;
  targetModules: LinearModule[];
  /**
   * PEFT lora_dropout: in lossAndGrad/train (lora mode) each adapted module's LoRA branch sees its
   * input with this fraction of elements zeroed and the rest scaled by 1/(1−p) (inverted dropout);
   * forward and generation never drop. Recorded in adapter_config.json.
   */
  dropout?: number;
  rslora?: boolean;
  /** Seed of the A initialisation (kaiming-uniform, as PEFT) and of the dropout masks; B starts at zero. */
  seed?: number;
};

export type { FinishReason, GenerationChunk, GenerationOptions, GenerationResult } from "./generation-options.js";

export type LossAndGradInput = {
  tokens: Int32Array;
  /** Aligned with tokens (HF `labels`): the loss at position t predicts labels[t + 1]; -100 = ignored. */
  labels: Int32Array;
  /** Sequences of equal length concatenated in tokens/labels. Default 1. */
  batch?: number;
  /** Default: "lora" when an adapter is active, else "full". */
  mode?: TrainMode;
  /**
   * Picks the LoRA dropout masks (an adapter with dropout > 0): masks are a pure function of the
   * adapter's seed, this step, the layer, module and element. Default: a counter of this model's
   * lossAndGrad calls, so successive calls draw fresh masks.
   */
  dropoutStep?: number;
};

/** Number of targets the loss averages over: labels[t + 1] != -100 within each sequence. */
export function countTargets(labels: Int32Array, batch = 1): number {
  const length = labels.length / batch;
  let count = 0;
  for (let b = 0; b < batch; b++) {
    for (let t = 1; t < length; t++) if (labels[b * length + t] !== -100) count++;
  }
  return count;
}

export class Model {
  readonly config: ModelConfig;
  /** null when the model folder has no tokenizer.json (token-id input only). */
  readonly tokenizer: Tokenizer | null;
  readonly directory: string;
  readonly dtype: ModelDtype;
  /** Where the weights live and the steps run (LoadModelOptions.device). */
  readonly device: Device;
  /** The native model object; use the methods of Model unless you need the raw steps. */
  readonly native: NativeLlamaModel;
  private readonly adapters = new Map<string, LoraConfig>();
  private active: string | null = null;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    config: ModelConfig,
    native: NativeLlamaModel,
    tokenizer: Tokenizer | null,
    directory: string,
    dtype: ModelDtype,
  ) {
    this.config = config;
    this.native = native;
    this.tokenizer = tokenizer;
    this.directory = directory;
    this.dtype = dtype;
    this.device = native.device();
  }

  /** Frees the native weights now, not at garbage collection; any later use throws a KernelError E_DISPOSED. */
  dispose(): void {
    this.native.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  /** Runs steps that use the KV cache or the active adapter one at a time (generation is several calls). */
  exclusive<T>(body: () => Promise<T>): Promise<T> {
    const run = this.queue.then(body, body);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private requireTokenizer(): Tokenizer {
    if (!this.tokenizer)
      throw new ModelError(
        "E_NO_TOKENIZER",
        `${this.directory} has no tokenizer.json: pass token ids (Int32Array) instead of text`,
      );
    return this.tokenizer;
  }

  private checkTokens(tokens: Int32Array, what = "tokens"): void {
    if (!(tokens instanceof Int32Array)) throw new ModelError("E_TYPE", `${what} must be an Int32Array`);
    if (tokens.length === 0) throw new ModelError("E_SHAPE", `${what} must not be empty`);
    for (let i = 0; i < tokens.length; i++) {
      if (tokens[i] < 0 || tokens[i] >= this.config.vocabSize) {
        throw new ModelError(
          "E_ARGUMENT",
          `${what}[${i}] = ${tokens[i]} is outside the vocabulary [0, ${this.config.vocabSize})`,
        );
      }
    }
  }

  /** Logits [T, vocab] (row-major) of one sequence, with the active adapter applied. */
  forward(tokens: Int32Array): Promise<Float32Array> {
    this.checkTokens(tokens);
    return this.native.forward(tokens, {});
  }

  // ------------------------------------------------------------------ adapters

  get activeAdapter(): string | null {
    return this.active;
  }

  adapterNames(): string[] {
    return [...this.adapters.keys()];
  }

  adapterConfig(name: string): LoraConfig {
    const config = this.adapters.get(name);
    if (!config)
      throw new ModelError(
        "E_ARGUMENT",
        `no adapter named "${name}" (have: ${this.adapterNames().join(", ") || "none"})`,
      );
    return config;
  }

  private registerAdapter(
    name: string,
    lora: LoraConfig,
    source: string,
    seed = 0,
  ): { modules: LinearModule[]; layers?: number[] } {
    if (typeof name !== "string" || name.length === 0)
      throw new ModelError("E_ARGUMENT", "adapter name must be a non-empty string");
    if (this.adapters.has(name)) throw new ModelError("E_ARGUMENT", `an adapter named "${name}" already exists`);
    const selection = adaptedLayers(this.config, lora, source);
    this.native.addAdapter(name, {
      rank: lora.r,
      scale: loraScale(lora),
      targetModules: selection.modules,
      layers: selection.layers,
      dropout: lora.dropout,
      dropoutSeed: seed,
    });
    this.adapters.set(name, lora);
    return selection;
  }

  /** A new adapter initialised as PEFT does: A ~ kaiming-uniform(a=√5) = U(−1/√in, 1/√in), B = 0. */
  addAdapter(name: string, options: AdapterOptions): void {
    const { r, alpha } = options;
    if (!Number.isInteger(r) || r < 1)
      throw new ModelError("E_ARGUMENT", `r must be an integer >= 1, got ${String(r)}`);
    if (typeof alpha !== "number" || !Number.isFinite(alpha) || alpha <= 0)
      throw new ModelError("E_ARGUMENT", `alpha must be a number > 0, got ${String(alpha)}`);
    if (!Array.isArray(options.targetModules) || options.targetModules.length === 0) {
      throw new ModelError("E_ARGUMENT", `targetModules must list some of ${LINEAR_MODULES.join(", ")}`);
    }
    for (const module of options.targetModules) {
      if (!(LINEAR_MODULES as readonly string[]).includes(module)) {
        throw new ModelError(
          "E_ARGUMENT",
          `targetModules: "${String(module)}" is not one of ${LINEAR_MODULES.join(", ")}`,
        );
      }
    }
    const dropout = options.dropout ?? 0;
    if (!(dropout >= 0 && dropout < 1))
      throw new ModelError("E_ARGUMENT", `dropout must be in [0, 1), got ${String(dropout)}`);
    const lora: LoraConfig = {
      r,
      alpha,
      targetModules: [...new Set(options.targetModules)],
      dropout,
      rslora: options.rslora ?? false,
      bias: "none",
      baseModel: this.directory,
    };
    const seed = options.seed ?? 0;
    if (!Number.isInteger(seed) || seed < 0 || seed > Number.MAX_SAFE_INTEGER)
      throw new ModelError("E_ARGUMENT", `seed must be an integer >= 0, got ${String(seed)}`);
    const { modules, layers } = this.registerAdapter(name, lora, "addAdapter", seed);
    const random = new Random(seed);
    for (const layer of adaptedLayerIndices(this.config, layers)) {
      for (const module of modules) {
        const inFeatures = linearInFeatures(this.config, module);
        const bound = 1 / Math.sqrt(inFeatures);
        const a = new Float32Array(r * inFeatures);
        for (let i = 0; i < a.length; i++) a[i] = (2 * random.next() - 1) * bound;
        this.native.setAdapterTensor(name, layer, module, "A", a);
      }
    }
  }

  /**
   * A new adapter `to` with the configuration and a copy of the factors of `from` (a look-ahead trains
   * the copy and removes it, so the original is never written). Dropout masks of the copy use seed 0.
   */
  copyAdapter(from: string, to: string): void {
    const lora = this.adapterConfig(from);
    const { modules, layers } = this.registerAdapter(
      to,
      { ...lora, targetModules: [...lora.targetModules] },
      "copyAdapter",
    );
    for (const layer of adaptedLayerIndices(this.config, layers)) {
      for (const module of modules) {
        for (const part of ["A", "B"] as const)
          this.native.setAdapterTensor(
            to,
            layer,
            module,
            part,
            this.native.getAdapterTensor(from, layer, module, part),
          );
      }
    }
  }

  /** Loads a PEFT adapter folder (adapter_config.json + adapter_model.safetensors). Returns its name. */
  loadAdapter(dir: string, name: string = path.basename(path.resolve(dir))): string {
    // Every tensor is read and checked before the adapter is registered, so a bad folder leaves nothing behind.
    const { lora, factors } = readPeftAdapter(
      dir,
      this.config,
      (layer, module) => this.native.tensorShape(hfTensorName(layer, module))[0],
    );
    this.registerAdapter(name, lora, path.join(dir, ADAPTER_WEIGHTS_FILE));
    for (const factor of factors)
      this.native.setAdapterTensor(name, factor.layer, factor.module, factor.part, factor.data);
    return name;
  }

  /** The adapter's factors keyed by PEFT tensor names. */
  adapterTensors(name: string): Record<string, Float32Array> {
    const lora = this.adapterConfig(name);
    const { modules, layers } = adaptedLayers(this.config, lora, name);
    const tensors: Record<string, Float32Array> = {};
    for (const layer of adaptedLayerIndices(this.config, layers)) {
      for (const module of modules) {
        for (const part of ["A", "B"] as const)
          tensors[peftTensorName(layer, module, part)] = this.native.getAdapterTensor(name, layer, module, part);
      }
    }
    return tensors;
  }

  /** Writes the adapter in PEFT format (adapter_config.json + adapter_model.safetensors, atomically). */
  saveAdapter(name: string, dir: string): void {
    writePeftAdapter(dir, this.config, this.adapterConfig(name), this.adapterTensors(name));
  }

  setActiveAdapter(name: string | null): void {
    if (name !== null) this.adapterConfig(name);
    this.native.setActiveAdapter(name);
    this.active = name;
  }

  removeAdapter(name: string): void {
    this.adapterConfig(name);
    this.native.removeAdapter(name);
    this.adapters.delete(name);
    if (this.active === name) this.active = null;
  }

  // ------------------------------------------------------------------ training steps

  private resolveMode(mode: TrainMode | undefined): TrainMode {
    const resolved = mode ?? (this.active ? "lora" : "full");
    if (resolved !== "lora" && resolved !== "full")
      throw new ModelError("E_ARGUMENT", `mode must be "lora" or "full", got ${String(mode)}`);
    if (resolved === "lora" && !this.active)
      throw new ModelError("E_ARGUMENT", 'mode "lora" needs an active adapter (setActiveAdapter)');
    if (resolved === "full" && this.active)
      throw new ModelError("E_ARGUMENT", 'mode "full" trains the base weights: call setActiveAdapter(null) first');
    if (resolved === "full" && this.dtype !== "f32")
      throw new ModelError("E_ARGUMENT", 'full training needs dtype "f32"');
    return resolved;
  }

  private checkLabels(input: LossAndGradInput): number {
    this.checkTokens(input.tokens);
    if (!(input.labels instanceof Int32Array)) throw new ModelError("E_TYPE", "labels must be an Int32Array");
    if (input.labels.length !== input.tokens.length) {
      throw new ModelError(
        "E_SHAPE",
        `labels has length ${input.labels.length}, expected ${input.tokens.length} (one per token, HF-aligned)`,
      );
    }
    const batch = input.batch ?? 1;
    if (!Number.isInteger(batch) || batch < 1 || input.tokens.length % batch !== 0) {
      throw new ModelError("E_SHAPE", `batch ${String(batch)} does not divide ${input.tokens.length} tokens`);
    }
    for (let i = 0; i < input.labels.length; i++) {
      const label = input.labels[i];
      if (label !== -100 && (label < 0 || label >= this.config.vocabSize)) {
        throw new ModelError(
          "E_ARGUMENT",
          `labels[${i}] = ${label} is outside the vocabulary [0, ${this.config.vocabSize}) and is not -100`,
        );
      }
    }
    return batch;
  }

  /** Gradient keys of the native model mapped to PEFT names (lora) or kept as HF names (full). */
  private publicGradients(mode: TrainMode, native: Record<string, Float32Array>): Record<string, Float32Array> {
    if (mode === "full") return native;
    const grads: Record<string, Float32Array> = {};
    for (const [key, value] of Object.entries(native)) {
      const [, layer, module, part] = key.split(".");
      grads[peftTensorName(Number(layer), module as LinearModule, part as "A" | "B")] = value;
    }
    return grads;
  }

  /**
   * Mean cross-entropy over the non-ignored next-token targets and its gradients: the active
   * adapter's A/B keyed by PEFT names (lora), or every weight keyed by HF names (full). With no
   * target at all the loss is 0 and the gradients are zero.
   */
  async lossAndGrad(
    input: LossAndGradInput,
  ): Promise<{ loss: number; count: number; grads: Record<string, Float32Array> }> {
    const mode = this.resolveMode(input.mode);
    const batch = this.checkLabels(input);
    const count = countTargets(input.labels, batch);
    const result = await this.native.lossAndGrad(input.tokens, input.labels, {
      batch,
      mode,
      accumulate: false,
      gradScale: count > 0 ? 1 / count : 0,
      dropoutStep: this.nextDropoutStep(input),
    });
    return {
      loss: count > 0 ? result.lossSum / count : 0,
      count,
      grads: this.publicGradients(mode, this.native.gradients(mode)),
    };
  }

  /** Adds the gradients of gradScale·Σloss to the native buffers; returns Σloss and the target count. */
  accumulateGradients(input: LossAndGradInput, gradScale: number): Promise<{ lossSum: number; count: number }> {
    const mode = this.resolveMode(input.mode);
    const batch = this.checkLabels(input);
    return this.native.lossAndGrad(input.tokens, input.labels, {
      batch,
      mode,
      accumulate: true,
      gradScale,
      dropoutStep: this.nextDropoutStep(input),
    });
  }

  private dropoutCalls = 0;

  /** The dropout step of this call: the caller's, else the next of this model's call counter. */
  private nextDropoutStep(input: LossAndGradInput): number {
    if (input.dropoutStep === undefined) return this.dropoutCalls++;
    if (!Number.isInteger(input.dropoutStep) || input.dropoutStep < 0) {
      throw new ModelError("E_ARGUMENT", `dropoutStep must be an integer >= 0, got ${String(input.dropoutStep)}`);
    }
    return input.dropoutStep;
  }

  // ------------------------------------------------------------------ generation

  /**
   * How many tokens may follow a prompt of `promptLength`: maxNewTokens (default 128) capped by the
   * context. A prompt that leaves no room is E_CONTEXT_LENGTH, naming the limit.
   */
  newTokenLimit(promptLength: number, options: GenerationOptions): number {
    const context = this.config.maxPositionEmbeddings;
    if (promptLength >= context) {
      throw new ModelError(
        "E_CONTEXT_LENGTH",
        `the prompt has ${promptLength} tokens; this model's context (max_position_embeddings) is ${context} tokens, prompt and completion together`,
      );
    }
    const requested = options.maxNewTokens ?? 128;
    if (!Number.isInteger(requested) || requested < 0)
      throw new ModelError("E_ARGUMENT", `maxNewTokens must be an integer >= 0, got ${String(options.maxNewTokens)}`);
    return Math.min(requested, context - promptLength);
  }

  /** The prompt as checked token ids (text is encoded with the tokenizer). */
  encodePrompt(prompt: string | Int32Array, addSpecialTokens = true): Int32Array {
    const tokens = typeof prompt === "string" ? this.requireTokenizer().encode(prompt, { addSpecialTokens }) : prompt;
    this.checkTokens(tokens, "prompt tokens");
    return tokens;
  }

  /**
   * Streams generated tokens (KV cache: one prefill, then one native call per token). Each chunk
   * carries the token and the text it adds; stop strings are never emitted. The model is held
   * (see exclusive) from the first chunk to the end, so finish or return() the iterator.
   */
  async *generateStream(
    prompt: string | Int32Array,
    options: GenerationOptions = {},
  ): AsyncGenerator<GenerationChunk, GenerationResult> {
    let release: () => void = () => undefined;
    const turn = new Promise<void>((resolve) => {
      release = resolve;
    });
    const previous = this.queue;
    this.queue = previous.then(() => turn);
    await previous.catch(() => undefined);
    try {
      return yield* this.streamUnlocked(prompt, options);
    } finally {
      release();
    }
  }

  /** generateStream for a caller that already holds exclusive(). */
  async *streamUnlocked(
    prompt: string | Int32Array,
    options: GenerationOptions = {},
  ): AsyncGenerator<GenerationChunk, GenerationResult> {
    return yield* streamTokens(this, prompt, options);
  }

  /** End-of-sequence ids of this model (config and tokenizer), none with ignoreEos. */
  eosTokens(options: GenerationOptions): Set<number> {
    return new Set(options.ignoreEos ? [] : [...this.config.eosTokenIds, ...(this.tokenizer?.eosTokenIds ?? [])]);
  }

  /** generate for a caller that already holds exclusive(). */
  async generateUnlocked(
    prompt: string | Int32Array,
    options: GenerationOptions & { onToken?: (chunk: GenerationChunk) => void } = {},
  ): Promise<GenerationResult> {
    const stream = this.streamUnlocked(prompt, options);
    for (;;) {
      const next = await stream.next();
      if (next.done) return next.value;
      options.onToken?.(next.value);
    }
  }

  /** Generates a continuation; `onToken` sees each chunk as it is produced. */
  generate(
    prompt: string | Int32Array,
    options: GenerationOptions & { onToken?: (chunk: GenerationChunk) => void } = {},
  ): Promise<GenerationResult> {
    return this.exclusive(() => this.generateUnlocked(prompt, options));
  }

  /**
   * One generation per prompt, decoded together as one batch (left-padded; each step is one native
   * call for every sequence). Same options and results as generate, per prompt.
   */
  generateBatch(prompts: Array<string | Int32Array>, options: GenerationOptions = {}): Promise<GenerationResult[]> {
    return this.exclusive(() => this.generateBatchUnlocked(prompts, options));
  }

  /** generateBatch for a caller that already holds exclusive(). */
  async generateBatchUnlocked(
    prompts: Array<string | Int32Array>,
    options: GenerationOptions = {},
  ): Promise<GenerationResult[]> {
    return generateBatchTokens(this, prompts, options);
  }

  /**
   * Teacher-forced log-likelihood of each continuation given its prompt, with the active adapter:
   * Σ_t log p(continuation_t | prompt, continuation_<t) and the number of continuation tokens. The
   * prompt is encoded with special tokens (BOS), the continuation without, as `train` tokenizes a
   * {prompt, response} pair; so −logProb/count is lossAndGrad's loss on that pair. Sequences are
   * left-padded into batches of at most `maxBatchTokens` padded tokens, one forward each.
   */
  scoreContinuations(pairs: ScoringPair[], options: ScoringOptions = {}): Promise<ScoredContinuation[]> {
    return this.exclusive(() => this.scoreContinuationsUnlocked(pairs, options));
  }

  /** scoreContinuations for a caller that already holds exclusive(). */
  async scoreContinuationsUnlocked(pairs: ScoringPair[], options: ScoringOptions = {}): Promise<ScoredContinuation[]> {
    if (!Array.isArray(pairs)) throw new ModelError("E_TYPE", "pairs must be an array of {prompt, continuation}");
    const maxBatchTokens = options.maxBatchTokens ?? 8192;
    if (!Number.isInteger(maxBatchTokens) || maxBatchTokens < 1) {
      throw new ModelError(
        "E_ARGUMENT",
        `maxBatchTokens must be a positive integer, got ${String(options.maxBatchTokens)}`,
      );
    }
    const sequences = pairs.map((pair, index) => {
      if (!pair || (typeof pair.prompt !== "string" && !(pair.prompt instanceof Int32Array))) {
        throw new ModelError("E_TYPE", `pairs[${index}].prompt must be a string or an Int32Array`);
      }
      const prompt = this.encodePrompt(pair.prompt, options.addSpecialTokens ?? true);
      const continuation =
        typeof pair.continuation === "string"
          ? this.requireTokenizer().encode(pair.continuation, { addSpecialTokens: false })
          : pair.continuation;
      if (!(continuation instanceof Int32Array))
        throw new ModelError("E_TYPE", `pairs[${index}].continuation must be a string or an Int32Array`);
      if (continuation.length > 0) this.checkTokens(continuation, `pairs[${index}] continuation tokens`);
      const tokens = new Int32Array(prompt.length + continuation.length);
      tokens.set(prompt);
      tokens.set(continuation, prompt.length);
      if (tokens.length > this.config.maxPositionEmbeddings) {
        throw new ModelError(
          "E_ARGUMENT",
          `pairs[${index}] has ${tokens.length} tokens; max_position_embeddings is ${this.config.maxPositionEmbeddings}`,
        );
      }
      return { tokens, promptLength: prompt.length, index };
    });
    return scoreTokenSequences(
      (tokens, shape) => this.native.forward(tokens, shape),
      sequences,
      this.config.vocabSize,
      maxBatchTokens,
    );
  }

  /** Mean-pooled final hidden states (after the final norm), one [hidden] vector per text. */
  embed(texts: Array<string | Int32Array>): Promise<Float32Array[]> {
    return this.exclusive(() => this.embedUnlocked(texts));
  }

  /** embed for a caller that already holds exclusive(). */
  async embedUnlocked(texts: Array<string | Int32Array>): Promise<Float32Array[]> {
    const vectors: Float32Array[] = [];
    for (const text of texts) vectors.push(await this.native.embed(this.encodePrompt(text, true), {}));
    return vectors;
  }
}
