// The ServeEngine over @pillow/core's native Model: one base model, any number of PEFT adapters
// loaded at start (`--adapter name=DIR`). Each request switches to its adapter inside the model's
// exclusive section, so requests for different adapters interleave safely.
import type { GenerationOptions, Model } from "@pillow/core";
import type { EngineChunk, EngineRequest, EngineResult, ServeEngine } from "./engine.js";

export type ModelEngineOptions = {
  /** Served id of the base model (default: the model folder's name). */
  baseName: string;
  /** Adapter names already loaded on the model (model.loadAdapter). */
  adapters: string[];
};

function generationOptions(request: EngineRequest): GenerationOptions {
  return {
    maxNewTokens: request.maxTokens,
    temperature: request.temperature,
    topK: request.topK,
    topP: request.topP,
    minP: request.minP,
    seed: request.seed,
    stop: request.stop,
    repetitionPenalty: request.repetitionPenalty,
  };
}

export function createModelEngine(model: Model, options: ModelEngineOptions): ServeEngine {
  const promptOf = (request: EngineRequest): string => {
    if (request.prompt !== undefined) return request.prompt;
    if (!model.tokenizer) throw new Error("the model has no tokenizer.json: chat needs a chat template — use /v1/completions");
    return model.tokenizer.applyChatTemplate(request.messages ?? [], { addGenerationPrompt: true });
  };
  const countTokens = (text: string) => model.tokenizer?.encode(text).length ?? 0;
  const finish = (reason: string): EngineResult["finishReason"] => (reason === "length" ? "length" : "stop");

  return {
    models: () => [options.baseName, ...options.adapters.map((adapter) => `${options.baseName}:${adapter}`)],
    async complete(request) {
      const prompt = promptOf(request);
      return model.exclusive(async () => {
        model.setActiveAdapter(request.adapter ?? null);
        const result = await model.generateUnlocked(prompt, generationOptions(request));
        return { text: result.text, finishReason: finish(result.finishReason), promptTokens: countTokens(prompt), completionTokens: result.tokens.length };
      });
    },
    stream(request): AsyncIterable<EngineChunk> {
      const prompt = promptOf(request);
      // The model's lock is held by a pump that fills a small queue; the HTTP side drains it.
      const pending: EngineChunk[] = [];
      let done = false;
      let failure: unknown;
      let wake: (() => void) | undefined;
      const notify = () => {
        wake?.();
        wake = undefined;
      };
      void model
        .exclusive(async () => {
          model.setActiveAdapter(request.adapter ?? null);
          const iterator = model.streamUnlocked(prompt, generationOptions(request));
          let completionTokens = 0;
          while (true) {
            if (request.signal.aborted) {
              await iterator.return(undefined as never);
              return;
            }
            const next = await iterator.next();
            if (next.done) {
              pending.push({ text: "", finishReason: finish(next.value.finishReason), promptTokens: countTokens(prompt), completionTokens: next.value.tokens.length });
              return;
            }
            if (next.value.token >= 0) completionTokens += 1;
            if (next.value.text) pending.push({ text: next.value.text, completionTokens });
            notify();
          }
        })
        .catch((error: unknown) => {
          failure = error;
        })
        .finally(() => {
          done = true;
          notify();
        });
      return {
        async *[Symbol.asyncIterator]() {
          while (true) {
            while (pending.length > 0) yield pending.shift()!;
            if (failure) throw failure;
            if (done) return;
            await new Promise<void>((resolve) => {
              wake = resolve;
            });
          }
        },
      };
    },
    async embed(texts, model_) {
      const adapter = model_.includes(":") ? model_.slice(model_.indexOf(":") + 1) : null;
      return model.exclusive(async () => {
        model.setActiveAdapter(adapter);
        return model.embedUnlocked(texts);
      });
    },
    close() {
      // The native model is freed with the process; nothing to flush.
    },
  };
}
