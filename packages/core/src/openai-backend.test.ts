// The openai backend against small scripted HTTP servers on loopback: real sockets, real fetch.
// (The end-to-end test against `pillow serve` lives in @pillow/cli.)
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createOpenAIBackend, normalizeEndpoint, OpenAIBackendError } from "./openai-backend.js";

type Handler = (
  request: { url: string; body: any; headers: http.IncomingHttpHeaders },
  response: http.ServerResponse,
) => void;

const servers: http.Server[] = [];

async function startServer(handler: Handler): Promise<{ url: string; requests: { url: string; body: any }[] }> {
  const requests: { url: string; body: any }[] = [];
  const server = http.createServer((request, response) => {
    let raw = "";
    request.on("data", (chunk) => {
      raw += chunk;
    });
    request.on("end", () => {
      const body = raw ? JSON.parse(raw) : undefined;
      requests.push({ url: request.url ?? "", body });
      handler({ url: request.url ?? "", body, headers: request.headers }, response);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, requests };
}

function json(response: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  response.writeHead(status, { "content-type": "application/json", ...headers });
  response.end(JSON.stringify(body));
}

afterEach(async () => {
  await Promise.all(
    servers.splice(0).map(
      (server) =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    ),
  );
});

describe("normalizeEndpoint", () => {
  it("adds /v1 when missing and strips trailing slashes", () => {
    expect(normalizeEndpoint("http://h:1")).toBe("http://h:1/v1");
    expect(normalizeEndpoint("http://h:1/")).toBe("http://h:1/v1");
    expect(normalizeEndpoint("http://h:1/v1/")).toBe("http://h:1/v1");
    expect(normalizeEndpoint("https://h/proxy/v1")).toBe("https://h/proxy/v1");
  });
  it("rejects non-URLs with a message saying what to pass", () => {
    expect(() => normalizeEndpoint("localhost:8000")).toThrow(/must use http or https|not a URL/);
    expect(() => normalizeEndpoint("::::")).toThrow(/not a URL — pass e.g./);
  });
});

describe("createOpenAIBackend", () => {
  it("maps GenerateOptions onto /v1/completions and reads choices[0].text", async () => {
    const server = await startServer((request, response) =>
      json(response, 200, { choices: [{ text: `echo:${request.body.prompt}` }] }),
    );
    const backend = createOpenAIBackend({ endpoints: [server.url], model: "base:a", apiKey: "k" });
    const result = await backend.generate("hi", { maxNewTokens: 7, topK: 3, topP: 0.9, seed: 5, stop: ["\n"] });
    expect(result.text).toBe("echo:hi");
    expect(server.requests[0].url).toBe("/v1/completions");
    expect(server.requests[0].body).toEqual({
      model: "base:a",
      prompt: "hi",
      temperature: 0,
      max_tokens: 7,
      top_k: 3,
      top_p: 0.9,
      seed: 5,
      stop: ["\n"],
    });
  });

  it("sends the bearer token and uses chat/completions when asked", async () => {
    let authorization: string | undefined;
    const server = await startServer((request, response) => {
      authorization = request.headers.authorization;
      json(response, 200, {
        choices: [{ message: { role: "assistant", content: request.body.messages[0].content.toUpperCase() } }],
      });
    });
    const backend = createOpenAIBackend({
      endpoints: [server.url],
      model: "m",
      apiKey: "secret",
      completionPath: "chat",
    });
    expect((await backend.generate("abc")).text).toBe("ABC");
    expect(authorization).toBe("Bearer secret");
    expect(server.requests[0].url).toBe("/v1/chat/completions");
  });

  it("retries 503 and 429 with backoff, then succeeds", async () => {
    let calls = 0;
    const server = await startServer((_request, response) => {
      calls += 1;
      if (calls === 1) return json(response, 503, { error: { message: "warming up" } });
      if (calls === 2) return json(response, 429, { error: { message: "slow down" } }, { "retry-after": "0" });
      json(response, 200, { choices: [{ text: "ok" }] });
    });
    const backend = createOpenAIBackend({ endpoints: [server.url], model: "m", retries: 3, backoffMs: 5 });
    expect((await backend.generate("x")).text).toBe("ok");
    expect(calls).toBe(3);
  });

  it("does not retry a 401 and says to pass the API key", async () => {
    let calls = 0;
    const server = await startServer((_request, response) => {
      calls += 1;
      json(response, 401, { error: { message: "missing bearer token" } });
    });
    const backend = createOpenAIBackend({ endpoints: [server.url], model: "m", retries: 3, backoffMs: 1 });
    const error = await backend.generate("x").catch((caught) => caught);
    expect(error).toBeInstanceOf(OpenAIBackendError);
    expect(error.status).toBe(401);
    expect(error.message).toContain(`${server.url}/v1/completions returned 401: missing bearer token`);
    expect(error.message).toContain("--api-key");
    expect(calls).toBe(1);
  });

  it("times out a hung request, names the endpoint and gives up after retries", async () => {
    let calls = 0;
    const server = await startServer(() => {
      calls += 1; // never answers
    });
    const backend = createOpenAIBackend({
      endpoints: [server.url],
      model: "m",
      timeoutMs: 100,
      retries: 1,
      backoffMs: 1,
    });
    const started = Date.now();
    const error = await backend.generate("x").catch((caught) => caught);
    expect(error).toBeInstanceOf(OpenAIBackendError);
    expect(error.code).toBe("TIMEOUT");
    expect(error.message).toContain(`POST ${server.url}/v1/completions timed out after 100 ms`);
    expect(error.message).toContain("gave up after 2 attempts");
    expect(calls).toBe(2);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("fails over from a dead endpoint to a live one", async () => {
    const dead = await startServer(() => {});
    const deadUrl = dead.url;
    await new Promise<void>((resolve) => servers.pop()!.close(() => resolve())); // nothing listens there now
    const live = await startServer((_request, response) => json(response, 200, { choices: [{ text: "live" }] }));
    const backend = createOpenAIBackend({ endpoints: [deadUrl, live.url], model: "m", retries: 2, backoffMs: 1 });
    const results = await backend.generateBatch(["a", "b", "c", "d"]);
    expect(results.map((result) => result.text)).toEqual(["live", "live", "live", "live"]);
  });

  it("balances a batch across endpoints and keeps the prompts' order", async () => {
    const handler: Handler = (request, response) => {
      // Delay so several requests are in flight at once and least-busy balancing has something to do.
      setTimeout(() => json(response, 200, { choices: [{ text: `r:${request.body.prompt}` }] }), 20);
    };
    const first = await startServer(handler);
    const second = await startServer(handler);
    const backend = createOpenAIBackend({ endpoints: [first.url, second.url], model: "m", concurrencyPerEndpoint: 2 });
    const prompts = Array.from({ length: 12 }, (_, index) => `p${index}`);
    const results = await backend.generateBatch(prompts);
    expect(results.map((result) => result.text)).toEqual(prompts.map((prompt) => `r:${prompt}`));
    // Least-busy keeps both servers equally loaded; exact counts depend on completion timing.
    expect(first.requests.length + second.requests.length).toBe(12);
    expect(Math.min(first.requests.length, second.requests.length)).toBeGreaterThanOrEqual(3);
    expect(Object.values(backend.inFlight())).toEqual([0, 0]);
  });

  it("embeds in batches and puts vectors back in input order by index", async () => {
    const server = await startServer((request, response) => {
      const data = (request.body.input as string[]).map((text, index) => ({ index, embedding: [text.length, index] }));
      json(response, 200, { data: data.reverse() });
    });
    const backend = createOpenAIBackend({ endpoints: [server.url], model: "m", embeddingBatchSize: 2 });
    const vectors = await backend.embed(["a", "bb", "ccc"]);
    expect(vectors.map((vector) => Array.from(vector))).toEqual([
      [1, 0],
      [2, 1],
      [3, 0],
    ]);
    expect(server.requests.map((request) => request.body.input)).toEqual([["a", "bb"], ["ccc"]]);
  });

  it("rejects a response that is not OpenAI-shaped with a clear error", async () => {
    const server = await startServer((_request, response) => json(response, 200, { result: "x" }));
    const backend = createOpenAIBackend({ endpoints: [server.url], model: "m" });
    await expect(backend.generate("x")).rejects.toThrow(/answered without choices\[0\]\.text/);
  });

  it("streams completions over SSE, split across packets, and sends every sampling field", async () => {
    let attempts = 0;
    const server = await startServer((_request, response) => {
      attempts += 1;
      if (attempts === 1) return json(response, 503, { error: { message: "warming up" } }, { "retry-after": "0" });
      response.writeHead(200, { "content-type": "text/event-stream" });
      const events = ["Hel", "lo", " wor", "ld"].map(
        (text) => `data: ${JSON.stringify({ choices: [{ index: 0, text, finish_reason: null }] })}\n\n`,
      );
      events.push(
        `data: ${JSON.stringify({ choices: [{ index: 0, text: "", finish_reason: "length" }] })}\n\n`,
        "data: [DONE]\n\n",
      );
      // One event cut in the middle of a line: the client must join packets before parsing.
      const wire = events.join("");
      response.write(wire.slice(0, 37));
      setTimeout(() => response.end(wire.slice(37)), 20);
    });
    const backend = createOpenAIBackend({ endpoints: [server.url], model: "m", backoffMs: 1 });
    const stream = backend.generateStream("hi", {
      maxNewTokens: 4,
      frequencyPenalty: 0.5,
      presencePenalty: 0.25,
      repetitionPenalty: 1.1,
      ignoreEos: true,
      seed: 7,
    });
    const pieces: string[] = [];
    let end: { text: string; finishReason: string | null } | undefined;
    for (;;) {
      const next = await stream.next();
      if (next.done) {
        end = next.value;
        break;
      }
      pieces.push(next.value.text);
    }
    expect(pieces).toEqual(["Hel", "lo", " wor", "ld"]);
    expect(end).toEqual({ text: "Hello world", finishReason: "length" });
    expect(server.requests[1].body).toMatchObject({
      model: "m",
      prompt: "hi",
      stream: true,
      max_tokens: 4,
      frequency_penalty: 0.5,
      presence_penalty: 0.25,
      repetition_penalty: 1.1,
      ignore_eos: true,
      seed: 7,
    });
  });

  it("streams chat deltas, and an error event mid-stream throws naming the server's message", async () => {
    const server = await startServer((request, response) => {
      response.writeHead(200, { "content-type": "text/event-stream" });
      if (request.body.messages[0].content === "fail") {
        response.end(
          `data: ${JSON.stringify({ choices: [{ delta: { content: "x" } }] })}\n\ndata: ${JSON.stringify({ error: { message: "out of memory" } })}\n\n`,
        );
        return;
      }
      const chunks = [
        { delta: { role: "assistant", content: "" } },
        { delta: { content: "ok" } },
        { delta: {}, finish_reason: "stop" },
      ];
      response.end(
        `${chunks.map((choice) => `data: ${JSON.stringify({ choices: [choice] })}`).join("\n\n")}\n\ndata: [DONE]\n\n`,
      );
    });
    const backend = createOpenAIBackend({ endpoints: [server.url], model: "m", completionPath: "chat" });
    const texts: string[] = [];
    for await (const chunk of backend.generateStream("hello")) texts.push(chunk.text);
    expect(texts).toEqual(["ok"]);
    await expect(
      (async () => {
        for await (const _ of backend.generateStream("fail"));
      })(),
    ).rejects.toMatchObject({ code: "STREAM_ERROR", message: expect.stringContaining("out of memory") });
  });

  it("aborts a stream when the caller's signal fires", async () => {
    const server = await startServer((_request, response) => {
      response.writeHead(200, { "content-type": "text/event-stream" });
      response.write(`data: ${JSON.stringify({ choices: [{ text: "a" }] })}\n\n`);
      // never ends on its own
    });
    const backend = createOpenAIBackend({ endpoints: [server.url], model: "m" });
    const controller = new AbortController();
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const chunk of backend.generateStream("x", {}, controller.signal)) {
          seen.push(chunk.text);
          controller.abort();
        }
      })(),
    ).rejects.toThrow();
    expect(seen).toEqual(["a"]);
  });

  it("validates its options", () => {
    expect(() => createOpenAIBackend({ endpoints: [], model: "m" })).toThrow(/no endpoints/);
    expect(() => createOpenAIBackend({ endpoints: ["http://a"], model: "" })).toThrow(/model is empty/);
    expect(() => createOpenAIBackend({ endpoints: ["http://a"], model: "m", retries: -1 })).toThrow(/retries must be/);
  });
});
