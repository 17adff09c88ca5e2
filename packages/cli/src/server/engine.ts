// What `pillow serve` asks of whatever runs the model. The HTTP layer (app.ts) owns protocol,
// limits, auth and queueing; an engine only turns one validated request into text. Tests drive the
// server with a scripted engine; `pillow serve --model DIR` plugs in core's NativeBackend
// (native-engine.ts), whose continuous batcher runs every request in the same decode steps.

import type { GenerationOptions } from "@pillow/core";

export type ChatMessage = { role: "system" | "user" | "assistant" | "tool"; content: string };

export type FinishReason = "stop" | "length";

export type EngineRequest = {
  /** The served id the client asked for: "base" or "base:adapter". */
  model: string;
  /** The adapter part of `model`, already checked to be a plain name; undefined for the base model. */
  adapter?: string;
  /** Exactly one of prompt (/v1/completions) and messages (/v1/chat/completions) is set. */
  prompt?: string;
  messages?: ChatMessage[];
  /** What the request body asked for, passed to the model unchanged (maxNewTokens always set). */
  options: GenerationOptions & { maxNewTokens: number };
  /** Aborted when the client goes away or the server shuts down: stop generating. */
  signal: AbortSignal;
};

export type EngineResult = {
  text: string;
  finishReason: FinishReason;
  promptTokens: number;
  completionTokens: number;
};

/** One streamed piece; the last one carries finishReason and the token counts. */
export type EngineChunk = { text: string } & Partial<Omit<EngineResult, "text">>;

export interface ServeEngine {
  /** Served ids, base model first, then "base:adapter" for each adapter. */
  models(): string[];
  complete(request: EngineRequest): Promise<EngineResult>;
  stream(request: EngineRequest): AsyncIterable<EngineChunk>;
  /** One vector per text; throw when the engine cannot embed. */
  embed(texts: string[], model: string): Promise<Float32Array[]>;
  /** Releases the model (called once on shutdown, after in-flight requests ended). */
  close?(): Promise<void> | void;
}

/** A demonstration for PILLOW prompting: an Alpaca-style record from the prompt pool. */
export type Demo = { id?: string; instruction: string; input?: string; output: string };

/** Picks demonstrations for a query (the PILLOW matcher, or kNN/BM25 baselines). */
export interface DemoSelector {
  readonly name: string;
  select(query: string, count?: number): Promise<Demo[]>;
}
