// `pillow serve`'s HTTP server (hono on @hono/node-server) under load on loopback, with a scripted
// engine that streams one token every few milliseconds: 64 concurrent streaming clients complete
// with 0 errors, overload beyond the queue gets 429 (never a 5xx or a crash), a client that stops
// reading does not stall the others, memory stays bounded, and hostile requests are refused.
// Every loop here is bounded in count and time, and only 127.0.0.1 is contacted.
import http from "node:http";
import { createScriptedEngine, type RunningServer, startServer } from "@pillow/cli";
import { afterEach, describe, expect, it } from "vitest";

let server: RunningServer | undefined;
afterEach(async () => {
  await server?.close(2000);
  server = undefined;
});

const expectedAnswer = (prompt: string, adapter = "base") => `${adapter}|${[...prompt].reverse().join("")}`;

/** Streams one chat completion; returns the concatenated content, or throws on any protocol fault. */
async function streamChat(url: string, prompt: string, model = "tiny"): Promise<string> {
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: "Bearer load-test" },
    body: JSON.stringify({ model, stream: true, max_tokens: 200, messages: [{ role: "user", content: prompt }] }),
  });
  if (response.status !== 200) throw new Error(`status ${response.status}: ${await response.text()}`);
  const text = await response.text();
  const events = text.split("\n\n").filter((event) => event.startsWith("data: "));
  if (events.at(-1) !== "data: [DONE]") throw new Error("stream did not end with [DONE]");
  let content = "";
  let finished = false;
  for (const event of events.slice(0, -1)) {
    const chunk = JSON.parse(event.slice(6));
    const choice = chunk.choices[0];
    content += choice.delta?.content ?? "";
    if (choice.finish_reason) finished = true;
  }
  if (!finished) throw new Error("stream had no finish_reason");
  return content;
}

describe("pillow serve under load", () => {
  it("64 concurrent streaming clients: every stream complete and correct, 0 errors, bounded memory", async () => {
    server = await startServer({
      engine: createScriptedEngine({ tokenDelayMs: 1 }),
      apiKey: "load-test",
      concurrency: 8,
      queueCapacity: 64,
      port: 0,
    });
    const url = server.url;
    const rounds = 4;
    let served = 0;
    let errors = 0;
    const rssBefore = process.memoryUsage().rss;
    const started = Date.now();
    await Promise.all(
      Array.from({ length: 64 }, async (_, client) => {
        for (let round = 0; round < rounds; round++) {
          const prompt = `client ${client} round ${round} says hello`;
          try {
            const content = await streamChat(url, prompt);
            if (content !== expectedAnswer(`user: ${prompt}`))
              throw new Error(`wrong content for client ${client}: ${content}`);
            served++;
          } catch (error) {
            errors++;
            console.error((error as Error).message);
          }
        }
      }),
    );
    const seconds = (Date.now() - started) / 1000;
    const rssGrowthMiB = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
    console.log(
      `server load: ${served} streamed requests in ${seconds.toFixed(1)} s, ${errors} errors, RSS growth ${rssGrowthMiB.toFixed(1)} MiB`,
    );
    expect(errors).toBe(0);
    expect(served).toBe(64 * rounds);
    expect(rssGrowthMiB).toBeLessThan(200);
  });

  it("beyond the queue: 429 with retry-after, never a 5xx, and the server still answers afterwards", async () => {
    server = await startServer({
      engine: createScriptedEngine({ delayMs: 150 }),
      concurrency: 1,
      queueCapacity: 4,
      port: 0,
    });
    const statuses = await Promise.all(
      Array.from({ length: 40 }, () =>
        fetch(`${server?.url}/v1/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ model: "tiny", prompt: "overload", max_tokens: 8 }),
        }).then(async (response) => ({
          status: response.status,
          retryAfter: response.headers.get("retry-after"),
          body: await response.text(),
        })),
      ),
    );
    const counts = new Map<number, number>();
    for (const { status } of statuses) counts.set(status, (counts.get(status) ?? 0) + 1);
    console.log(`overload: ${JSON.stringify(Object.fromEntries(counts))}`);
    expect([...counts.keys()].every((status) => status === 200 || status === 429)).toBe(true);
    expect(counts.get(429) ?? 0).toBeGreaterThan(0);
    expect(counts.get(200) ?? 0).toBeGreaterThanOrEqual(5); // one running + four queued at least
    for (const response of statuses.filter((r) => r.status === 429)) {
      expect(response.retryAfter).toBe("1");
      expect(JSON.parse(response.body).error.type).toBe("rate_limit_error");
    }
    const after = await fetch(`${server.url}/v1/models`);
    expect(after.status).toBe(200);
  });

  it("a client that stops reading its stream does not stall the others", async () => {
    server = await startServer({
      engine: createScriptedEngine({ tokenDelayMs: 1 }),
      concurrency: 4,
      queueCapacity: 16,
      port: 0,
    });
    const { port } = server;
    // The slow client asks for a long answer and never reads it.
    const longPrompt = "x".repeat(60_000);
    const slow = http.request({
      host: "127.0.0.1",
      port,
      path: "/v1/completions",
      method: "POST",
      headers: { "content-type": "application/json" },
    });
    slow.on("response", (response) => response.pause());
    slow.on("error", () => {});
    slow.end(JSON.stringify({ model: "tiny", prompt: longPrompt, max_tokens: 2000, stream: true }));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const started = Date.now();
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) => streamChat(server?.url ?? "", `quick ${i}`)),
    );
    const elapsed = Date.now() - started;
    // The scripted engine answers a chat with its "role: content" transcript reversed.
    for (const [i, answer] of answers.entries()) expect(answer).toBe(expectedAnswer(`user: quick ${i}`));
    console.log(`slow client: 12 other streams finished in ${elapsed} ms`);
    expect(elapsed).toBeLessThan(15_000);
    slow.destroy();
  });

  it("refuses path traversal in adapter names, oversized bodies and missing auth", async () => {
    server = await startServer({
      engine: createScriptedEngine({ adapters: ["good"] }),
      apiKey: "secret",
      maxBodyBytes: 4096,
      port: 0,
    });
    const post = (body: unknown, auth = true) =>
      fetch(`${server?.url}/v1/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", ...(auth ? { authorization: "Bearer secret" } : {}) },
        body: typeof body === "string" ? body : JSON.stringify(body),
      });
    for (const model of ["tiny:../../etc/passwd", "tiny:..", "tiny:a/b", "tiny:%2e%2e", "tiny:\u0000"]) {
      const response = await post({ model, prompt: "hi", max_tokens: 4 });
      expect([400, 404]).toContain(response.status);
    }
    expect((await post({ model: "tiny", prompt: "y".repeat(10_000), max_tokens: 4 })).status).toBe(413);
    expect((await post({ model: "tiny", prompt: "hi", max_tokens: 4 }, false)).status).toBe(401);
    expect((await post("{not json")).status).toBe(400);
    const ok = await post({ model: "tiny:good", prompt: "hi", max_tokens: 40 });
    expect(ok.status).toBe(200);
    const completion = (await ok.json()) as { choices: { text: string }[] };
    expect(completion.choices[0].text).toBe(expectedAnswer("hi", "good"));
  });
});
