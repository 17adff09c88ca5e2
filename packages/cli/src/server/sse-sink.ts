// Where an SSE answer's events go. Under @hono/node-server (pillow serve) they are written straight
// to node's ServerResponse: hono's streamSSE would carry each event through a TransformStream, a
// TextEncoder and node-server's web-stream reader before the same res.write, which at 64 streams
// of one token per decode step was the larger part of the server's CPU (profile in the README).
// The writes of one event-loop tick are corked into one socket write (the last token, the finish
// chunk, usage and [DONE] leave together). Elsewhere (app.request, other runtimes) streamSSE is used.
import type { ServerResponse } from "node:http";
import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";
import type { Context } from "hono";
import { streamSSE } from "hono/streaming";

export type SseSink = {
  /** Sends `data: <data>\n\n`; resolves once the socket can take more (backpressure). */
  send(data: string): Promise<void> | undefined;
  /** The client went away (no more writes are read). */
  readonly aborted: boolean;
};

/**
 * Answers with an SSE stream: `body` writes the events; if it throws, `onError` may write a last
 * event (the stream then ends either way).
 */
export function sseResponse(
  c: Context,
  body: (sink: SseSink) => Promise<void>,
  onError: (error: unknown, sink: SseSink) => Promise<void>,
): Response {
  const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
  if (!outgoing || typeof outgoing.writeHead !== "function") {
    return streamSSE(
      c,
      async (stream) =>
        body({
          send: (data) => stream.writeSSE({ data }),
          get aborted() {
            return stream.aborted;
          },
        }),
      async (error, stream) =>
        onError(error, {
          send: (data) => stream.writeSSE({ data }),
          get aborted() {
            return stream.aborted;
          },
        }),
    );
  }
  const sink = new NodeSseSink(outgoing);
  void (async () => {
    try {
      await body(sink);
    } catch (error) {
      try {
        await onError(error, sink);
      } catch {
        // The socket is gone: nothing more to tell the client.
      }
    } finally {
      sink.end();
    }
  })();
  return RESPONSE_ALREADY_SENT;
}

class NodeSseSink implements SseSink {
  private corked = false;
  private closed = false;

  constructor(private readonly response: ServerResponse) {
    // The headers hono's streamSSE sends.
    response.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      connection: "keep-alive",
      "transfer-encoding": "chunked",
    });
    response.once("close", () => {
      this.closed = true;
    });
  }

  get aborted(): boolean {
    return this.closed && !this.response.writableFinished;
  }

  send(data: string): Promise<void> | undefined {
    if (this.closed || this.response.writableEnded) return undefined;
    if (!this.corked) {
      this.corked = true;
      this.response.cork();
      process.nextTick(() => {
        this.corked = false;
        this.response.uncork();
      });
    }
    // SSE data lines cannot hold a newline; JSON never has a raw one, [DONE] neither.
    if (this.response.write(`data: ${data}\n\n`)) return undefined;
    return new Promise<void>((resolve) => {
      const done = () => {
        this.response.off("drain", done);
        this.response.off("close", done);
        resolve();
      };
      this.response.on("drain", done);
      this.response.on("close", done);
    });
  }

  end(): void {
    if (!this.response.writableEnded) this.response.end();
  }
}
