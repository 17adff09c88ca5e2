// A validated request body as the one GenerationOptions core defines: every sampling field the
// schema accepts is mapped here, once, and travels to the sampler unchanged.
import type { GenerationOptions } from "@pillow/core";
import { HttpError } from "./http-error.js";
import type { ChatBody, CompletionBody } from "./schemas.js";

export type TokenLimits = {
  /** Largest max_tokens a request may ask for. */
  maxTokens: number;
  /** max_tokens when the request gives none. */
  defaultMaxTokens: number;
};

export function generationOptionsOf(
  body: CompletionBody | ChatBody,
  limits: TokenLimits,
): GenerationOptions & { maxNewTokens: number } {
  const requested = body.max_completion_tokens ?? body.max_tokens;
  if (requested !== undefined && requested > limits.maxTokens) {
    throw new HttpError(
      400,
      `max_tokens ${requested} is above this server's limit of ${limits.maxTokens} (--max-tokens)`,
      "invalid_request_error",
      "max_tokens_too_large",
      "max_tokens",
    );
  }
  const stop = body.stop === undefined ? undefined : Array.isArray(body.stop) ? body.stop : [body.stop];
  return {
    maxNewTokens: requested ?? limits.defaultMaxTokens,
    // OpenAI's default temperature is 1.
    temperature: body.temperature ?? 1,
    topP: body.top_p,
    topK: body.top_k,
    minP: body.min_p,
    seed: body.seed,
    stop: stop?.filter((value) => value.length > 0),
    repetitionPenalty: body.repetition_penalty,
    frequencyPenalty: body.frequency_penalty,
    presencePenalty: body.presence_penalty,
    ignoreEos: body.ignore_eos,
  };
}
