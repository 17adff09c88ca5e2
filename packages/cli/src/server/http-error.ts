// Errors as OpenAI-compatible servers answer them: a status, an `error` object with message, type,
// param and code, and the mapping from what the queue and the model throw to the answer a client
// can act on (a prompt past the context is the client's 400, not the server's 500).
import { ModelError } from "@pillow/core";
import { QueueClosedError, QueueFullError } from "./request-queue.js";

export type ErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "not_found_error"
  | "rate_limit_error"
  | "server_error";

export type ErrorStatus = 400 | 401 | 404 | 413 | 429 | 500 | 503;

export class HttpError extends Error {
  constructor(
    readonly status: ErrorStatus,
    message: string,
    readonly type: ErrorType,
    readonly code?: string,
    readonly param?: string,
  ) {
    super(message);
    this.name = "HttpError";
  }
}

export function errorBody(error: HttpError) {
  return { error: { message: error.message, type: error.type, param: error.param ?? null, code: error.code ?? null } };
}

/** Whatever a request's handling threw, as the HTTP error to answer with. */
export function httpErrorOf(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof QueueFullError) return new HttpError(429, error.message, "rate_limit_error", "queue_full");
  if (error instanceof QueueClosedError) return new HttpError(503, error.message, "server_error", "shutting_down");
  if (error instanceof ModelError) {
    if (error.code === "E_CONTEXT_LENGTH")
      return new HttpError(400, error.message, "invalid_request_error", "context_length_exceeded", "prompt");
    if (error.code === "E_KV_BUDGET")
      return new HttpError(400, error.message, "invalid_request_error", "kv_cache_budget_exceeded", "max_tokens");
    if (error.code === "E_ABORTED" || error.code === "E_CLOSED")
      return new HttpError(
        503,
        "the request was stopped (client gone or server shutting down)",
        "server_error",
        "aborted",
      );
  }
  const message = error instanceof Error ? error.message : String(error);
  return new HttpError(500, `generation failed: ${message}`, "server_error");
}
