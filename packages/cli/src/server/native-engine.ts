// The ServeEngine over core's NativeBackend: served names ("base", "base:adapter") mapped onto the
// backend, nothing else. Everything about the model — chat templates, adapters, the continuous
// batcher that runs all requests in the same decode steps, aborts — lives in the backend.
import type { NativeBackend } from "@pillow/core";
import type { EngineChunk, EngineRequest, EngineResult, FinishReason, ServeEngine } from "./engine.js";

export type NativeEngineOptions = {
  /** Served id of the base model (default: the model folder's name). */
  baseName: string;
  /** Adapter names already loaded on the model (model.loadAdapter). */
  adapters: string[];
};

/** OpenAI knows "stop" and "length": an end-of-sequence token is a stop. */
const finishOf = (reason: string): FinishReason => (reason === "length" ? "length" : "stop");

export function createNativeEngine(backend: NativeBackend, options: NativeEngineOptions): ServeEngine {
  const requestOf = (request: EngineRequest) => ({
    prompt: request.prompt,
    messages: request.messages,
    adapter: request.adapter ?? null,
    options: request.options,
    signal: request.signal,
  });
  return {
    models: () => [options.baseName, ...options.adapters.map((adapter) => `${options.baseName}:${adapter}`)],
    async complete(request): Promise<EngineResult> {
      const result = await backend.complete(requestOf(request));
      return {
        text: result.text,
        finishReason: finishOf(result.finishReason),
        promptTokens: result.promptTokens,
        completionTokens: result.completionTokens,
      };
    },
    stream(request): AsyncIterable<EngineChunk> {
      // Submitted now, so a request the model cannot take (context, KV budget) fails before any byte is sent.
      const stream = backend.stream(requestOf(request));
      return (async function* () {
        let completionTokens = 0;
        for await (const chunk of stream) {
          if (chunk.token >= 0) completionTokens += 1;
          if (chunk.text) yield { text: chunk.text, completionTokens };
        }
        const result = await stream.result;
        yield {
          text: "",
          finishReason: finishOf(result.finishReason),
          promptTokens: result.promptTokens,
          completionTokens: result.tokens.length,
        };
      })();
    },
    embed(texts, model) {
      const separator = model.indexOf(":");
      return backend.embed(texts, separator >= 0 ? model.slice(separator + 1) : null);
    },
    close: () => backend.close(),
  };
}
