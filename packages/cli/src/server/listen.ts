// Binds a ServeApp to a port with @hono/node-server and shuts it down gracefully: stop accepting,
// let running requests finish (up to a grace period), then close the sockets and the engine.
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { serve } from "@hono/node-server";
import { createServeApp, type ServeApp, type ServeAppOptions } from "./app.js";

export type ListenOptions = ServeAppOptions & {
  /** Default 127.0.0.1: exposing the model to the network is a decision (--host 0.0.0.0). */
  host?: string;
  /** 0 picks a free port. */
  port?: number;
};

export type RunningServer = {
  url: string;
  port: number;
  serveApp: ServeApp;
  /** Graceful: running requests get `graceMs` (default 10 s) to finish. Safe to call twice. */
  close(graceMs?: number): Promise<void>;
};

export async function startServer(options: ListenOptions): Promise<RunningServer> {
  const serveApp = createServeApp(options);
  const host = options.host ?? "127.0.0.1";
  const server = await new Promise<Server>((resolve, reject) => {
    const created = serve({ fetch: serveApp.app.fetch, hostname: host, port: options.port ?? 0 }, () =>
      resolve(created as Server),
    ) as Server;
    created.once("error", (error: NodeJS.ErrnoException) => {
      reject(
        error.code === "EADDRINUSE"
          ? new Error(`port ${options.port} on ${host} is in use — pass another --port (or 0 for any free port)`)
          : error,
      );
    });
  });
  const { port } = server.address() as AddressInfo;
  const urlHost = host.includes(":") ? `[${host}]` : host === "0.0.0.0" ? "127.0.0.1" : host;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    serveApp,
    close(graceMs = 10_000) {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        let isClosed = false;
        void closed.then(() => {
          isClosed = true;
        });
        await serveApp.drain(graceMs);
        // The last responses are still being written when the queue empties: give their sockets a
        // moment to finish and go idle before cutting whatever is left.
        const deadline = Date.now() + Math.min(graceMs, 2000);
        while (!isClosed && Date.now() < deadline) {
          server.closeIdleConnections();
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        server.closeAllConnections();
        await closed;
        await options.engine.close?.();
      })();
      return closing;
    },
  };
}
