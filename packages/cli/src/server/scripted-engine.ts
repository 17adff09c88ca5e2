// A deterministic engine for tests and for trying the server without a model: the answer is the
// adapter name followed by the prompt reversed, one character per "token". It records every request
// so tests can see exactly what reached the engine (demos included).
import type { EngineChunk, EngineRequest, EngineResult, ServeEngine } from "./engine.js";

export type ScriptedEngineOptions = {
  base?: string;
  adapters?: string[];
  /** Milliseconds per request before the first token (simulates a busy model). */
  delayMs?: number;
  /** Milliseconds between streamed tokens. */
  tokenDelayMs?: number;
};

export type ScriptedEngine = ServeEngine & { requests: EngineRequest[]; promptText(request: EngineRequest): string };

const wait = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (ms <= 0) return resolve();
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });

export function createScriptedEngine(options: ScriptedEngineOptions = {}): ScriptedEngine {
  const base = options.base ?? "tiny";
  const adapters = options.adapters ?? [];
  const requests: EngineRequest[] = [];

  const promptText = (request: EngineRequest) =>
    request.prompt ?? (request.messages ?? []).map((message) => `${message.role}: ${message.content}`).join("\n");

  function answer(request: EngineRequest): EngineResult {
    const prompt = promptText(request);
    let text = `${request.adapter ?? "base"}|${[...prompt].reverse().join("")}`;
    let finishReason: EngineResult["finishReason"] = "stop";
    for (const stop of request.options.stop ?? []) {
      const at = text.indexOf(stop);
      if (at >= 0) text = text.slice(0, at);
    }
    if ([...text].length > request.options.maxNewTokens) {
      text = [...text].slice(0, request.options.maxNewTokens).join("");
      finishReason = "length";
    }
    return { text, finishReason, promptTokens: [...prompt].length, completionTokens: [...text].length };
  }

  return {
    requests,
    promptText,
    models: () => [base, ...adapters.map((adapter) => `${base}:${adapter}`)],
    async complete(request) {
      requests.push(request);
      await wait(options.delayMs ?? 0, request.signal);
      return answer(request);
    },
    async *stream(request): AsyncIterable<EngineChunk> {
      requests.push(request);
      await wait(options.delayMs ?? 0, request.signal);
      const result = answer(request);
      const characters = [...result.text];
      for (const character of characters) {
        if (request.signal.aborted) return;
        await wait(options.tokenDelayMs ?? 0, request.signal);
        yield { text: character };
      }
      yield {
        text: "",
        finishReason: result.finishReason,
        promptTokens: result.promptTokens,
        completionTokens: result.completionTokens,
      };
    },
    async embed(texts) {
      // [length, vowels, first char code]: enough to check order and routing.
      return texts.map((text) =>
        Float32Array.from([text.length, (text.match(/[aeiou]/g) ?? []).length, text.charCodeAt(0) || 0]),
      );
    },
  };
}
