// Bearer-token auth for /v1/*: the key is compared as a SHA-256 digest with timingSafeEqual, so the
// comparison takes the same time whatever the key's length or content.
import { createHash, timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import { HttpError } from "./http-error.js";

function sha256(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

export function bearerAuth(apiKey: string): MiddlewareHandler {
  const expected = sha256(apiKey);
  return async (c, next) => {
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer\s+(.+)$/i.exec(header);
    if (!match || !timingSafeEqual(sha256(match[1].trim()), expected)) {
      c.header("www-authenticate", 'Bearer realm="pillow"');
      throw new HttpError(
        401,
        match ? "invalid API key" : "missing API key: send the header `Authorization: Bearer <key>`",
        "authentication_error",
        "invalid_api_key",
      );
    }
    await next();
  };
}
