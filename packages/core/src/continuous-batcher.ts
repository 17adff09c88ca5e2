// Continuous batching over one Model: every running sequence (its own KV cache, position,
// adapter, sampling options, seed and stop strings) advances in one native step; sequences join
// and leave between steps. Newly arrived prompts are fed in fixed chunks interleaved with the
// decode rows, so running streams keep flowing while a long prompt is read, and the time to a
// first token stays bounded. A KV-cache budget admits sequences in arrival order; the rest wait.
//
// Batch invariance: the native step computes every row from its own sequence alone (see
// LlamaModel::forward_sequences), prefill chunks are cut the same way whatever else runs, and each
// sequence samples with its own seed, so a request's text does not depend on its companions.
import os from "node:os";
import { type NativeSequenceStep, sample } from "@pillow/lora-kernels";
import {
  argmax,
  type FinishReason,
  type GenerationChunk,
  type GenerationOptions,
  isGreedy,
  samplingFor,
} from "./generation-options.js";
import { ModelError } from "./errors.js";
import type { Model } from "./model.js";
import { StreamedText } from "./streamed-text.js";

export type ContinuousBatcherOptions = {
  /** Bytes of KV cache all running sequences may hold together. Default: defaultKvCacheBytes(model). */
  kvCacheBytes?: number;
  /** Prompt tokens a sequence feeds per step while it prefills (default 64). */
  prefillChunk?: number;
  /** Prefill tokens per step on top of the decode rows (default 256; one chunk always goes). */
  prefillTokensPerStep?: number;
  /** Sequences running at once (default 64). */
  maxSequences?: number;
};

export type BatchRequest = {
  /** Text (encoded with the tokenizer) or token ids. */
  prompt: string | Int32Array;
  options?: GenerationOptions;
  /** One of the model's adapters; null or omitted = the base model. */
  adapter?: string | null;
  /** Aborting ends the sequence at the next step boundary and frees its KV cache. */
  signal?: AbortSignal;
};

export type BatchResult = {
  text: string;
  tokens: Int32Array;
  finishReason: FinishReason;
  promptTokens: number;
};

/** The chunks of one request as they are generated; `result` settles when it ends. */
export type BatchStream = AsyncIterable<GenerationChunk> & { readonly result: Promise<BatchResult> };

/** Room for 64 full-context sequences, but at most a quarter of the free memory and at least one sequence. */
export function defaultKvCacheBytes(model: Model, freeBytes = os.freemem()): number {
  const full = model.native.sequenceBytes(model.config.maxPositionEmbeddings);
  return Math.max(full, Math.min(64 * full, Math.floor(freeBytes / 4)));
}

type Sequence = {
  prompt: Int32Array;
  options: GenerationOptions;
  adapter: string | null;
  signal?: AbortSignal;
  maxNewTokens: number;
  capacity: number;
  bytes: number;
  eos: Set<number>;
  /** Native id once admitted, else 0. */
  id: number;
  /** Prompt tokens already in the KV cache. */
  fed: number;
  generated: number[];
  history: Int32Array;
  text: StreamedText | null;
  channel: Channel;
};

/** A queue of chunks between the batcher (producer) and one consumer. */
class Channel {
  private readonly pending: GenerationChunk[] = [];
  private wake: (() => void) | undefined;
  private ended = false;
  private failure: unknown;
  readonly result: Promise<BatchResult>;
  private settle!: { resolve: (result: BatchResult) => void; reject: (error: unknown) => void };
  cancelled = false;

  constructor() {
    this.result = new Promise<BatchResult>((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    this.result.catch(() => undefined); // consumers that only iterate see the error there
  }

  push(chunk: GenerationChunk): void {
    this.pending.push(chunk);
    this.notify();
  }

  end(result: BatchResult): void {
    this.ended = true;
    this.settle.resolve(result);
    this.notify();
  }

  fail(error: unknown): void {
    this.ended = true;
    this.failure = error;
    this.settle.reject(error);
    this.notify();
  }

  private notify(): void {
    this.wake?.();
    this.wake = undefined;
  }

  async *chunks(): AsyncGenerator<GenerationChunk> {
    try {
      while (true) {
        while (this.pending.length > 0) yield this.pending.shift() as GenerationChunk;
        if (this.failure !== undefined) throw this.failure;
        if (this.ended) return;
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
      }
    } finally {
      // A consumer that stops early (break, return) gives its sequence up.
      if (!this.ended) this.cancelled = true;
    }
  }
}

export class ContinuousBatcher {
  readonly kvCacheBytes: number;
  readonly prefillChunk: number;
  readonly prefillTokensPerStep: number;
  readonly maxSequences: number;
  private readonly waiting: Sequence[] = [];
  private readonly running: Sequence[] = [];
  private reserved = 0;
  private loop: Promise<void> | null = null;
  private closed = false;
  private stepCount = 0;

  constructor(
    readonly model: Model,
    options: ContinuousBatcherOptions = {},
  ) {
    this.kvCacheBytes = positive(options.kvCacheBytes ?? defaultKvCacheBytes(model), "kvCacheBytes");
    this.prefillChunk = positive(options.prefillChunk ?? 64, "prefillChunk");
    this.prefillTokensPerStep = positive(options.prefillTokensPerStep ?? 256, "prefillTokensPerStep");
    this.maxSequences = positive(options.maxSequences ?? 64, "maxSequences");
  }

  /** Sequences generating now / waiting for KV-cache room; bytes of KV cache held; steps run. */
  stats(): { running: number; waiting: number; kvCacheBytesUsed: number; steps: number } {
    return {
      running: this.running.length,
      waiting: this.waiting.length,
      kvCacheBytesUsed: this.reserved,
      steps: this.stepCount,
    };
  }

  /**
   * Queues one generation. Throws at once (ModelError) for a prompt the context cannot hold
   * (E_CONTEXT_LENGTH), one that needs more KV cache than the whole budget (E_KV_BUDGET), an unknown
   * adapter or bad options; later failures reject `result` and the iteration.
   */
  submit(request: BatchRequest): BatchStream {
    if (this.closed) throw new ModelError("E_CLOSED", "the batcher is closed");
    const options = request.options ?? {};
    const adapter = request.adapter ?? null;
    if (adapter !== null) this.model.adapterConfig(adapter); // throws naming the adapters there are
    const prompt = this.model.encodePrompt(request.prompt, options.addSpecialTokens ?? true);
    const maxNewTokens = this.model.newTokenLimit(prompt.length, options);
    const capacity = prompt.length + maxNewTokens;
    const bytes = this.model.native.sequenceBytes(capacity);
    if (bytes > this.kvCacheBytes) {
      throw new ModelError(
        "E_KV_BUDGET",
        `the request needs ${mib(bytes)} MiB of KV cache (${capacity} positions); the whole budget is ${mib(this.kvCacheBytes)} MiB (--kv-cache-mb)`,
      );
    }
    const channel = new Channel();
    const sequence: Sequence = {
      prompt,
      options,
      adapter,
      signal: request.signal,
      maxNewTokens,
      capacity,
      bytes,
      eos: this.model.eosTokens(options),
      id: 0,
      fed: 0,
      generated: [],
      history: new Int32Array(capacity),
      text: this.model.tokenizer ? new StreamedText(this.model.tokenizer, options.stop) : null,
      channel,
    };
    sequence.history.set(prompt);
    if (maxNewTokens === 0) {
      channel.end({ text: "", tokens: new Int32Array(0), finishReason: "length", promptTokens: prompt.length });
    } else {
      this.waiting.push(sequence);
      this.loop ??= this.run().finally(() => {
        this.loop = null;
      });
    }
    return { [Symbol.asyncIterator]: () => channel.chunks(), result: channel.result };
  }

  /** Fails everything queued or running (E_CLOSED) and waits for the step in flight. */
  async close(): Promise<void> {
    this.closed = true;
    const error = new ModelError("E_CLOSED", "the batcher was closed");
    for (const sequence of this.waiting.splice(0)) sequence.channel.fail(error);
    for (const sequence of [...this.running]) this.finish(sequence, error);
    await this.loop;
  }

  private async run(): Promise<void> {
    while (this.waiting.length > 0 || this.running.length > 0) {
      this.dropCancelled();
      this.admit();
      if (this.running.length === 0) continue;
      const { tokens, steps, members } = this.plan();
      let logits: Float32Array;
      try {
        logits = await this.model.native.forwardSequences(tokens, steps);
      } catch (error) {
        for (const sequence of members) this.finish(sequence, error);
        continue;
      }
      this.stepCount += 1;
      this.advance(members, steps, logits);
    }
  }

  private dropCancelled(): void {
    const gone = (sequence: Sequence) => sequence.channel.cancelled || sequence.signal?.aborted === true;
    for (let i = this.waiting.length - 1; i >= 0; i--) {
      if (gone(this.waiting[i])) this.waiting.splice(i, 1)[0].channel.fail(abortError());
    }
    for (const sequence of this.running.filter(gone)) this.finish(sequence, abortError());
  }

  /** Arrival order: the first waiting sequence goes in once its KV cache fits; none overtakes it. */
  private admit(): void {
    while (
      this.waiting.length > 0 &&
      this.running.length < this.maxSequences &&
      this.reserved + this.waiting[0].bytes <= this.kvCacheBytes
    ) {
      const sequence = this.waiting.shift() as Sequence;
      try {
        sequence.id = this.model.native.createSequence(sequence.capacity);
      } catch (error) {
        sequence.channel.fail(error);
        continue;
      }
      this.reserved += sequence.bytes;
      this.running.push(sequence);
    }
  }

  /** Every decoding sequence's next token, then prefill chunks (the oldest first) up to the step's prefill share. */
  private plan(): { tokens: Int32Array; steps: NativeSequenceStep[]; members: Sequence[] } {
    const steps: NativeSequenceStep[] = [];
    const members: Sequence[] = [];
    const tokens: number[] = [];
    for (const sequence of this.running) {
      if (sequence.fed < sequence.prompt.length) continue;
      const position = sequence.prompt.length + sequence.generated.length - 1;
      steps.push({ sequence: sequence.id, start: position, count: 1, adapter: sequence.adapter });
      tokens.push(sequence.generated[sequence.generated.length - 1]);
      members.push(sequence);
    }
    let prefill = 0;
    for (const sequence of this.running) {
      if (sequence.fed >= sequence.prompt.length) continue;
      // The chunk's size depends on the sequence alone (never on the room left), so its numbers do too.
      const count = Math.min(this.prefillChunk, sequence.prompt.length - sequence.fed);
      if (prefill > 0 && prefill + count > this.prefillTokensPerStep) break;
      steps.push({ sequence: sequence.id, start: sequence.fed, count, adapter: sequence.adapter });
      for (let i = 0; i < count; i++) tokens.push(sequence.prompt[sequence.fed + i]);
      members.push(sequence);
      prefill += count;
    }
    return { tokens: Int32Array.from(tokens), steps, members };
  }

  private advance(members: Sequence[], steps: NativeSequenceStep[], logits: Float32Array): void {
    const vocab = this.model.config.vocabSize;
    members.forEach((sequence, row) => {
      const step = steps[row];
      if (sequence.fed < sequence.prompt.length) {
        sequence.fed += step.count;
        if (sequence.fed < sequence.prompt.length) return; // more prompt to read before the first token
      }
      try {
        this.accept(sequence, this.pick(sequence, logits.subarray(row * vocab, (row + 1) * vocab)));
      } catch (error) {
        this.finish(sequence, error);
      }
    });
  }

  private pick(sequence: Sequence, logits: Float32Array): number {
    const length = sequence.prompt.length + sequence.generated.length;
    if (isGreedy(sequence.options)) {
      const best = argmax(logits);
      if (!Number.isFinite(logits[best]))
        throw new ModelError("E_NONFINITE_LOGITS", "the model produced non-finite logits");
      return best;
    }
    const options = samplingFor(sequence.options, sequence.generated.length, sequence.history.subarray(0, length));
    return sample(logits, { rows: 1, vocab: logits.length }, options).tokens[0];
  }

  private accept(sequence: Sequence, token: number): void {
    if (sequence.eos.has(token)) {
      this.finish(sequence, "eos");
      return;
    }
    sequence.generated.push(token);
    sequence.history[sequence.prompt.length + sequence.generated.length - 1] = token;
    const update = sequence.text?.update(sequence.generated) ?? { delta: "", stopped: false };
    if (update.delta || !update.stopped) sequence.channel.push({ token, text: update.delta });
    if (update.stopped) this.finish(sequence, "stop");
    else if (sequence.generated.length >= sequence.maxNewTokens) this.finish(sequence, "length");
  }

  /** Ends a running sequence with a finish reason (its held-back text flushed) or an error; frees its cache. */
  private finish(sequence: Sequence, outcome: FinishReason | unknown): void {
    const index = this.running.indexOf(sequence);
    if (index < 0) return;
    this.running.splice(index, 1);
    this.reserved -= sequence.bytes;
    try {
      this.model.native.releaseSequence(sequence.id);
    } catch {
      // Already gone: nothing held.
    }
    if (outcome === "eos" || outcome === "stop" || outcome === "length") {
      const rest = sequence.text?.flush() ?? "";
      if (rest) sequence.channel.push({ token: -1, text: rest });
      sequence.channel.end({
        text: sequence.text?.value ?? "",
        tokens: Int32Array.from(sequence.generated),
        finishReason: outcome,
        promptTokens: sequence.prompt.length,
      });
    } else {
      sequence.channel.fail(outcome);
    }
  }
}

function positive(value: number, field: string): number {
  if (!Number.isInteger(value) || value < 1)
    throw new ModelError("E_ARGUMENT", `${field} must be an integer >= 1, got ${String(value)}`);
  return value;
}

function mib(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(1);
}

function abortError(): ModelError {
  return new ModelError("E_ABORTED", "the request was aborted");
}
