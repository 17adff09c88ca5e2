// createEmbedder: one entry point for the three embedders. All are frozen and cached.

import type { GenerationBackend } from "@pillow/core";
import { CachedEmbedder, type SavableEmbedder } from "./embedder.js";
import { MatcherError } from "./errors.js";
import { TfidfModel, type TfidfOptions, type TfidfState } from "./tfidf.js";

export type EmbedderOptions =
  | ({ kind: "tfidf"; corpus: readonly string[] } & TfidfOptions)
  | { kind: "tfidf"; state: TfidfState }
  | { kind: "llm"; backend: GenerationBackend; batchSize?: number }
  | {
      kind: "openai";
      model: string;
      /** Server root, e.g. "http://localhost:8000" or "https://api.openai.com/v1". */
      baseUrl?: string;
      apiKey?: string;
      batchSize?: number;
      /** Injected for tests; defaults to the global fetch. */
      fetch?: typeof fetch;
    };

export function createEmbedder(options: EmbedderOptions): SavableEmbedder {
  if (typeof options !== "object" || options === null) throw new TypeError("createEmbedder: options are required");
  switch (options.kind) {
    case "tfidf": {
      const model = "state" in options ? TfidfModel.fromState(options.state) : new TfidfModel(options.corpus, options);
      return new CachedEmbedder(
        `tfidf:${model.dimension}`,
        async (texts) => texts.map((text) => model.transform(text)),
        {
          kind: "tfidf",
          state: model.toState(),
        },
      );
    }
    case "llm": {
      const { backend } = options;
      if (!backend || typeof backend.embed !== "function") {
        throw new TypeError(
          `createEmbedder({kind: "llm"}): backend ${backend?.name ?? "(none)"} has no embed() method`,
        );
      }
      const batchSize = positiveInteger(options.batchSize ?? 16, "batchSize");
      return new CachedEmbedder(
        `llm:${backend.name}`,
        async (texts) => {
          const result: Float32Array[] = [];
          for (let start = 0; start < texts.length; start += batchSize) {
            result.push(...(await backend.embed!(texts.slice(start, start + batchSize))));
          }
          return result;
        },
        { kind: "llm", backend: backend.name },
      );
    }
    case "openai":
      return createOpenAIEmbedder(options);
    default:
      throw new MatcherError(
        "E_UNKNOWN_NAME",
        `createEmbedder: unknown kind ${JSON.stringify((options as { kind?: unknown }).kind)} (expected "llm", "tfidf" or "openai")`,
        { field: "kind" },
      );
  }
}

function createOpenAIEmbedder(options: Extract<EmbedderOptions, { kind: "openai" }>): SavableEmbedder {
  if (typeof options.model !== "string" || options.model === "") {
    throw new TypeError('createEmbedder({kind: "openai"}): "model" is required');
  }
  const root = (options.baseUrl ?? "https://api.openai.com/v1").replace(/\/+$/, "");
  const url = root.endsWith("/v1") ? `${root}/embeddings` : `${root}/v1/embeddings`;
  const apiKey = options.apiKey ?? process.env.OPENAI_API_KEY;
  const batchSize = positiveInteger(options.batchSize ?? 64, "batchSize");
  const fetchFunction = options.fetch ?? globalThis.fetch;
  return new CachedEmbedder(
    `openai:${options.model}`,
    async (texts) => {
      const result: Float32Array[] = [];
      for (let start = 0; start < texts.length; start += batchSize) {
        const batch = texts.slice(start, start + batchSize);
        const response = await fetchFunction(url, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}),
          },
          body: JSON.stringify({ model: options.model, input: batch }),
        });
        if (!response.ok) {
          const body = (await response.text()).slice(0, 300);
          throw new MatcherError("E_EMBEDDING_SERVICE", `answered HTTP ${response.status}: ${body}`, {
            file: `openai embeddings: ${url}`,
            status: response.status,
          });
        }
        const payload = (await response.json()) as { data?: { embedding?: unknown; index?: number }[] };
        if (!Array.isArray(payload.data) || payload.data.length !== batch.length) {
          throw new MatcherError(
            "E_EMBEDDING_SERVICE",
            `returned ${payload.data?.length ?? "no"} vectors for ${batch.length} texts`,
            { file: `openai embeddings: ${url}` },
          );
        }
        const ordered = payload.data.slice().sort((a, b) => (a.index ?? 0) - (b.index ?? 0));
        for (const item of ordered) {
          if (!Array.isArray(item.embedding) || item.embedding.some((value) => typeof value !== "number")) {
            throw new MatcherError("E_EMBEDDING_SERVICE", 'returned an item without a numeric "embedding" array', {
              file: `openai embeddings: ${url}`,
            });
          }
          result.push(Float32Array.from(item.embedding as number[]));
        }
      }
      return result;
    },
    { kind: "openai", model: options.model, baseUrl: root },
  );
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1)
    throw new RangeError(`createEmbedder: ${name} must be a positive integer, got ${value}`);
  return value;
}
