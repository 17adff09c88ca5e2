// What every request of `pillow serve` passes through before a route: errors as OpenAI-style JSON
// (429 with retry-after, 500 logged), 404 for unknown routes, one log line per request, /health,
// 503 while draining, bearer auth on /v1/* when a key is set, and the body-size limit (413).
import type { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { bearerAuth } from "./auth.js";
import { errorBody, HttpError, httpErrorOf } from "./http-error.js";

export type MiddlewareSettings = {
  apiKey?: string;
  maxBodyBytes: number;
  log?: (line: string) => void;
  /** Read at each request: whether the server is draining, and the queue's running and waiting counts. */
  health: () => { draining: boolean; active: number; queued: number };
};

export function installMiddleware(app: Hono, settings: MiddlewareSettings): void {
  app.onError((error, c) => {
    const failure = httpErrorOf(error);
    if (failure.status === 429) c.header("retry-after", "1");
    if (failure.status === 500)
      settings.log?.(`error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    return c.json(errorBody(failure), failure.status);
  });

  app.notFound((c) =>
    c.json(errorBody(new HttpError(404, `no route ${c.req.method} ${c.req.path}`, "not_found_error")), 404),
  );

  app.use("*", async (c, next) => {
    const started = performance.now();
    await next();
    settings.log?.(`${c.req.method} ${c.req.path} ${c.res.status} ${(performance.now() - started).toFixed(0)}ms`);
  });

  app.get("/health", (c) => {
    const { draining, active, queued } = settings.health();
    return c.json({ status: draining ? "draining" : "ok", active, queued }, draining ? 503 : 200);
  });

  app.use("/v1/*", async (_c, next) => {
    if (settings.health().draining)
      throw new HttpError(503, "server is shutting down", "server_error", "shutting_down");
    await next();
  });
  if (settings.apiKey) app.use("/v1/*", bearerAuth(settings.apiKey));
  app.use(
    "/v1/*",
    bodyLimit({
      maxSize: settings.maxBodyBytes,
      onError: (c) =>
        c.json(
          errorBody(
            new HttpError(
              413,
              `request body larger than ${settings.maxBodyBytes} bytes (server limit --max-body)`,
              "invalid_request_error",
              "body_too_large",
            ),
          ),
          413,
        ),
    }),
  );
}
