// llama.cpp as a peer, through node-llama-cpp's prebuilt CPU binary (@node-llama-cpp/linux-x64, an
// npm optional package: nothing is built or downloaded at run time). Models reach it as GGUF files
// written by @pillow/core's exporter, so pillow and llama.cpp run the very same weights.
import {
  getLlama,
  type Llama,
  type LlamaContext,
  type LlamaContextSequence,
  LlamaLogLevel,
  type LlamaModel,
  type Token,
} from "node-llama-cpp";

let shared: Promise<Llama> | undefined;

/** The llama.cpp runtime, CPU only; refuses to compile or download anything. */
export function openLlamaCpp(): Promise<Llama> {
  shared ??= getLlama({
    gpu: false,
    build: "never",
    usePrebuiltBinaries: true,
    skipDownload: true,
    progressLogs: false,
    logLevel: LlamaLogLevel.error,
  });
  return shared;
}

export type LlamaCppRunner = {
  model: LlamaModel;
  context: LlamaContext;
  /** The context's first sequence (the one the single-sequence measurements use). */
  sequence: LlamaContextSequence;
  /** All `sequences` of the context (batched decoding across them). */
  sequences: LlamaContextSequence[];
  dispose(): Promise<void>;
};

/**
 * Loads a GGUF and opens one sequence with `threads` threads and room for `contextSize` tokens.
 * By default llama.cpp runs as it ships (F16 KV cache, flash attention when it chooses); `exact`
 * asks for an F32 KV cache without flash attention (whose CPU path rounds Q to F16), so its logits
 * can be compared with pillow's to float rounding.
 */
export async function openLlamaCppModel(
  file: string,
  options: { threads: number; contextSize: number; batchSize: number; exact?: boolean; sequences?: number },
): Promise<LlamaCppRunner> {
  const llama = await openLlamaCpp();
  const model = await llama.loadModel({ modelPath: file, gpuLayers: 0 });
  const context = await model.createContext({
    contextSize: options.contextSize,
    batchSize: options.batchSize,
    threads: { ideal: options.threads, min: options.threads },
    sequences: options.sequences ?? 1,
    ...(options.exact
      ? { flashAttention: false, experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32" }
      : {}),
  });
  const sequences = Array.from({ length: options.sequences ?? 1 }, () => context.getSequence());
  return {
    model,
    context,
    sequence: sequences[0],
    sequences,
    async dispose() {
      await context.dispose();
      await model.dispose();
    },
  };
}

const toTokens = (ids: Int32Array): Token[] => Array.from(ids, (id) => id as Token);

/** Raw next-token logits after every prompt position, as a [T, vocab] array (a fresh sequence). */
export async function llamaCppLogits(runner: LlamaCppRunner, tokens: Int32Array, vocab: number): Promise<Float32Array> {
  await runner.sequence.clearHistory();
  const outputs = await runner.sequence.controlledEvaluate(
    toTokens(tokens).map((token) => [token, { generateNext: { logits: true } }]),
  );
  const logits = new Float32Array(tokens.length * vocab);
  for (let position = 0; position < tokens.length; position++) {
    const map = outputs[position]?.next.logits;
    if (!map || map.size !== vocab)
      throw new Error(`llama.cpp returned ${map?.size ?? 0} logits at position ${position}, expected ${vocab}`);
    for (const [token, value] of map) logits[position * vocab + token] = value;
  }
  return logits;
}

/**
 * llama.cpp's decode path: the logits after every position of `tokens`, [T, vocab], each token
 * evaluated alone on a fresh sequence's KV cache (as it generates), not the prompt's batch.
 */
export async function llamaCppStepLogits(
  runner: LlamaCppRunner,
  tokens: Int32Array,
  vocab: number,
): Promise<Float32Array> {
  await runner.sequence.clearHistory();
  const logits = new Float32Array(tokens.length * vocab);
  for (let position = 0; position < tokens.length; position++) {
    const [output] = await runner.sequence.controlledEvaluate([
      [tokens[position] as Token, { generateNext: { logits: true } }],
    ]);
    const map = output?.next.logits;
    if (!map || map.size !== vocab)
      throw new Error(`llama.cpp returned ${map?.size ?? 0} logits at position ${position}, expected ${vocab}`);
    for (const [token, value] of map) logits[position * vocab + token] = value;
  }
  return logits;
}

/** Prefill speed: the prompt in one batch into an empty sequence (no token sampled), tokens/s. */
export async function llamaCppPrefill(runner: LlamaCppRunner, prompt: Int32Array): Promise<number> {
  await runner.sequence.clearHistory();
  const started = performance.now();
  await runner.sequence.evaluateWithoutGeneratingNewTokens(toTokens(prompt));
  return prompt.length / ((performance.now() - started) / 1000);
}

/**
 * Decode speed: greedy generation of `count` tokens after `prompt`, each step one token through
 * the whole model plus its output layer and argmax, as pillow's decode loop does; tokens/s.
 */
export async function llamaCppDecode(runner: LlamaCppRunner, prompt: Int32Array, count: number): Promise<number> {
  await runner.sequence.clearHistory();
  await runner.sequence.evaluateWithoutGeneratingNewTokens(toTokens(prompt.subarray(0, -1)));
  let next = prompt[prompt.length - 1] as Token;
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const [output] = await runner.sequence.controlledEvaluate([
      [next, { generateNext: { token: true, options: { temperature: 0 } } }],
    ]);
    const token = output?.next.token;
    if (token === undefined || token === null) throw new Error("llama.cpp produced no token");
    next = token;
  }
  return count / ((performance.now() - started) / 1000);
}

/** llama.cpp's greedy continuation of `prompt` on a fresh sequence: `count` token ids. */
export async function llamaCppGreedyTokens(
  runner: LlamaCppRunner,
  prompt: Int32Array,
  count: number,
): Promise<number[]> {
  await runner.sequence.clearHistory();
  const tokens: number[] = [];
  for await (const token of runner.sequence.evaluate(toTokens(prompt), { temperature: 0 })) {
    tokens.push(token);
    if (tokens.length >= count) break;
  }
  return tokens;
}

export type ParallelDecode = { tokensPerSecond: number; firstTokenMs: number[]; tokens: number[][] };

/**
 * llama.cpp's batched decoding: every prompt on its own sequence of one context, all generating at
 * once (node-llama-cpp gathers the sequences' pending tokens into one llama_decode per step), greedy,
 * `count` tokens each. Aggregate tokens/s over the whole run (prefill included, as a server sees it).
 */
export async function llamaCppParallelDecode(
  runner: LlamaCppRunner,
  prompts: Int32Array[],
  count: number,
): Promise<ParallelDecode> {
  if (prompts.length > runner.sequences.length)
    throw new Error(`${prompts.length} prompts for ${runner.sequences.length} sequences`);
  for (const sequence of runner.sequences) await sequence.clearHistory();
  const started = performance.now();
  const results = await Promise.all(
    prompts.map(async (prompt, i) => {
      const tokens: number[] = [];
      let firstTokenMs = 0;
      for await (const token of runner.sequences[i].evaluate(toTokens(prompt), { temperature: 0 })) {
        if (tokens.length === 0) firstTokenMs = performance.now() - started;
        tokens.push(token);
        if (tokens.length >= count) break;
      }
      return { tokens, firstTokenMs };
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const total = results.reduce((sum, result) => sum + result.tokens.length, 0);
  return {
    tokensPerSecond: total / seconds,
    firstTokenMs: results.map((result) => result.firstTokenMs),
    tokens: results.map((result) => result.tokens),
  };
}

/** max |a - b| / max |b|: logits' error relative to their scale (the bench's and the test's cross-check). */
export function relativeError(actual: Float32Array, expected: Float32Array): number {
  let error = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    error = Math.max(error, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return error / scale;
}
