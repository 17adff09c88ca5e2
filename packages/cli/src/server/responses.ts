// The answer to one completion or chat request: a JSON body, or an SSE stream of chunks ending in
// `data: [DONE]`, in OpenAI's shapes (choices, deltas, usage, finish_reason).
import { randomUUID } from "node:crypto";
import type { Context } from "hono";
import type { Demo, EngineChunk, EngineRequest, ServeEngine } from "./engine.js";
import { errorBody, httpErrorOf } from "./http-error.js";
import type { ChatBody, CompletionBody } from "./schemas.js";
import { sseResponse } from "./sse-sink.js";

export type Kind = "completion" | "chat";

const usageOf = (promptTokens: number, completionTokens: number) => ({
  prompt_tokens: promptTokens,
  completion_tokens: completionTokens,
  total_tokens: promptTokens + completionTokens,
});

/**
 * Runs the request on the engine and answers it; `release` is called once the engine is done with
 * it (the response may still be flushing). Errors the engine throws before the first byte become
 * HTTP errors; later ones travel as one more SSE event, as OpenAI does.
 */
export async function respond(
  c: Context,
  engine: ServeEngine,
  kind: Kind,
  body: CompletionBody | ChatBody,
  request: EngineRequest,
  demos: Demo[],
  release: () => void,
  log?: (line: string) => void,
): Promise<Response> {
  const id = `${kind === "chat" ? "chatcmpl" : "cmpl"}-${randomUUID()}`;
  const created = Math.floor(Date.now() / 1000);
  const object = kind === "chat" ? "chat.completion" : "text_completion";
  const extension = demos.length > 0 ? { pillow: { demos: demos.map((demo) => demo.id ?? demo.instruction) } } : {};
  if (!body.stream) {
    try {
      const result = await engine.complete(request);
      const choice =
        kind === "chat"
          ? { index: 0, message: { role: "assistant", content: result.text }, finish_reason: result.finishReason }
          : { index: 0, text: result.text, logprobs: null, finish_reason: result.finishReason };
      return c.json({
        id,
        object,
        created,
        model: request.model,
        choices: [choice],
        usage: usageOf(result.promptTokens, result.completionTokens),
        ...extension,
      });
    } finally {
      release();
    }
  }
  let pieces: AsyncIterable<EngineChunk>;
  try {
    pieces = engine.stream(request);
  } catch (error) {
    release();
    throw error;
  }
  const includeUsage = body.stream_options?.include_usage === true;
  const chunkObject = kind === "chat" ? "chat.completion.chunk" : "text_completion";
  const chunk = (text: string | undefined, finishReason: string | null, first = false) => ({
    id,
    object: chunkObject,
    created,
    model: request.model,
    choices: [
      kind === "chat"
        ? {
            index: 0,
            delta: first ? { role: "assistant", content: text ?? "" } : text === undefined ? {} : { content: text },
            finish_reason: finishReason,
          }
        : { index: 0, text: text ?? "", logprobs: null, finish_reason: finishReason },
    ],
    ...(first ? extension : {}),
  });
  // The per-token event differs from chunk(text, null) only in its text: its JSON is built once
  // around the text, not re-serialised from an object 48 times a stream.
  const [tokenPrefix, tokenSuffix] = JSON.stringify(chunk(TEXT_MARK, null)).split(JSON.stringify(TEXT_MARK));
  return sseResponse(
    c,
    async (sink) => {
      try {
        if (kind === "chat") await sink.send(JSON.stringify(chunk("", null, true)));
        let last: EngineChunk = { text: "" };
        let completionTokens = 0;
        for await (const piece of pieces) {
          if (sink.aborted || request.signal.aborted) break;
          last = piece;
          completionTokens += piece.text.length > 0 ? 1 : 0;
          if (piece.text.length > 0) await sink.send(tokenPrefix + JSON.stringify(piece.text) + tokenSuffix);
        }
        if (!sink.aborted && !request.signal.aborted) {
          await sink.send(JSON.stringify(chunk(undefined, last.finishReason ?? "stop")));
          if (includeUsage) {
            const usage = usageOf(last.promptTokens ?? 0, last.completionTokens ?? completionTokens);
            await sink.send(
              JSON.stringify({ id, object: chunkObject, created, model: request.model, choices: [], usage }),
            );
          }
          await sink.send("[DONE]");
        }
      } finally {
        release();
      }
    },
    async (error, sink) => {
      const failure = httpErrorOf(error);
      log?.(`stream error: ${failure.message}`);
      await sink.send(JSON.stringify(errorBody(failure)));
      await sink.send("[DONE]");
    },
  );
}

/** A string no generated text equals, marking where the text goes in the token event's JSON. */
const TEXT_MARK = "\u0000pillow-text\u0000";
