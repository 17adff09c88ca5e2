// Generation on a Model, as the Model's generate methods run it (the caller holds Model.exclusive):
// one sequence streamed token by token through the KV cache (one prefill, then one native call per
// token, stop strings and partial UTF-8 held back by StreamedText), and a batch of prompts decoded
// together (left-padded; each step is one native call for every sequence).
import { ModelError } from "./errors.js";
import type { GenerationChunk, GenerationOptions, GenerationResult } from "./generation-options.js";
import type { Model } from "./model.js";
import { pickToken } from "./pick-token.js";
import { StreamedText } from "./streamed-text.js";
import type { Tokenizer } from "./tokenizer.js";

/** Model.streamUnlocked: the chunks of one generation, then its result. */
export async function* streamTokens(
  model: Model,
  prompt: string | Int32Array,
  options: GenerationOptions,
): AsyncGenerator<GenerationChunk, GenerationResult> {
  const promptTokens = model.encodePrompt(prompt, options.addSpecialTokens ?? true);
  const maxNewTokens = model.newTokenLimit(promptTokens.length, options);
  const eos = model.eosTokens(options);
  const generated: number[] = [];
  const history = new Int32Array(promptTokens.length + maxNewTokens);
  history.set(promptTokens);
  const text = model.tokenizer ? new StreamedText(model.tokenizer, options.stop) : null;
  let finishReason: GenerationResult["finishReason"] = "length";
  if (maxNewTokens === 0) return { text: "", tokens: new Int32Array(0), finishReason };
  let logits = await model.native.forward(promptTokens, { useCache: true, startPosition: 0, lastOnly: true });
  for (let step = 0; step < maxNewTokens; step++) {
    const token = pickToken(
      logits,
      options,
      step,
      history.subarray(0, promptTokens.length + generated.length),
      model.device,
    );
    if (eos.has(token)) {
      finishReason = "eos";
      break;
    }
    generated.push(token);
    history[promptTokens.length + generated.length - 1] = token;
    if (text) {
      const { delta, stopped } = text.update(generated);
      if (stopped) {
        if (delta) yield { token, text: delta };
        finishReason = "stop";
        break;
      }
      yield { token, text: delta };
    } else {
      yield { token, text: "" };
    }
    if (step + 1 < maxNewTokens) {
      logits = await model.native.forward(Int32Array.of(token), {
        useCache: true,
        startPosition: promptTokens.length + generated.length - 1,
        lastOnly: true,
      });
    }
  }
  // Text held back (a partial stop string or UTF-8 sequence) is flushed once generation is over.
  const rest = text?.flush() ?? "";
  if (rest) yield { token: -1, text: rest };
  return { text: text?.value ?? "", tokens: Int32Array.from(generated), finishReason };
}

/** Model.generateBatchUnlocked: one result per prompt, the same as each generated alone. */
export async function generateBatchTokens(
  model: Model,
  prompts: Array<string | Int32Array>,
  options: GenerationOptions,
): Promise<GenerationResult[]> {
  if (!Array.isArray(prompts)) throw new ModelError("E_TYPE", "prompts must be an array");
  if (prompts.length === 0) return [];
  if (prompts.length === 1) return [await model.generateUnlocked(prompts[0], options)];
  const encoded = prompts.map((prompt) => model.encodePrompt(prompt, options.addSpecialTokens ?? true));
  const batch = encoded.length;
  const length = Math.max(...encoded.map((tokens) => tokens.length));
  const maxNewTokens = model.newTokenLimit(length, options);
  if (maxNewTokens === 0)
    return encoded.map(() => ({ text: "", tokens: new Int32Array(0), finishReason: "length" as const }));
  const eos = model.eosTokens(options);
  const texts = model.tokenizer
    ? encoded.map(() => new StreamedText(model.tokenizer as Tokenizer, options.stop))
    : null;
  const tokens = new Int32Array(batch * length);
  const paddings = new Int32Array(batch);
  encoded.forEach((prompt, b) => {
    paddings[b] = length - prompt.length;
    tokens.set(prompt, b * length + paddings[b]);
  });
  const generated: number[][] = encoded.map(() => []);
  const finish: Array<GenerationResult["finishReason"] | null> = encoded.map(() => null);
  const vocab = model.config.vocabSize;
  let logits = await model.native.forward(tokens, {
    batch,
    useCache: true,
    startPosition: 0,
    lastOnly: true,
    paddings,
  });
  for (let step = 0; step < maxNewTokens; step++) {
    const next = new Int32Array(batch);
    for (let b = 0; b < batch; b++) {
      if (finish[b] !== null) continue;
      const history = Int32Array.from([...encoded[b], ...generated[b]]);
      const token = pickToken(logits.subarray(b * vocab, (b + 1) * vocab), options, step, history, model.device);
      next[b] = token;
      if (eos.has(token)) {
        finish[b] = "eos";
        continue;
      }
      generated[b].push(token);
      if (texts?.[b].update(generated[b]).stopped) finish[b] = "stop";
    }
    if (finish.every((f) => f !== null) || step + 1 === maxNewTokens) break;
    // Finished rows keep decoding their last token; their output is ignored.
    logits = await model.native.forward(next, { batch, useCache: true, startPosition: length + step, lastOnly: true });
  }
  return encoded.map((_, b) => ({
    text: texts?.[b].value ?? "",
    tokens: Int32Array.from(generated[b]),
    finishReason: finish[b] ?? "length",
  }));
}
