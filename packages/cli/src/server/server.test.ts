// `pillow serve` on loopback with a scripted engine: real HTTP through @hono/node-server, driven both
// by raw fetch and by core's openai backend (the client every other package uses).
import { createOpenAIBackend, OpenAIBackendError } from "@pillow/core";
import { afterEach, describe, expect, it } from "vitest";
import type { DemoSelector } from "./engine.js";
import { type ListenOptions, type RunningServer, startServer } from "./listen.js";
import { createScriptedEngine, type ScriptedEngine } from "./scripted-engine.js";

const running: RunningServer[] = [];

async function start(overrides: Partial<ListenOptions> & { engine?: ScriptedEngine } = {}) {
  const engine = overrides.engine ?? createScriptedEngine({ adapters: ["math", "geo"] });
  const server = await startServer({ host: "127.0.0.1", port: 0, ...overrides, engine });
  running.push(server);
  return { server, engine };
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((server) => server.close(1000)));
});

const reverse = (text: string) => [...text].reverse().join("");

async function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: response.status, headers: response.headers, json: (await response.json()) as any };
}

/** The `data:` payloads of an SSE body, in order. */
async function readSSE(response: Response): Promise<string[]> {
  const text = await response.text();
  return text
    .split("\n")
    .filter((line) => line.startsWith("data:"))
    .map((line) => line.slice("data:".length).trim());
}

describe("pillow serve (OpenAI-compatible)", () => {
  it("answers the openai backend with the adapter named in model, batches and embeddings", async () => {
    const { server, engine } = await start();
    const math = createOpenAIBackend({ endpoints: [server.url], model: "tiny:math" });
    expect((await math.generate("abc")).text).toBe(`math|cba`);
    const base = createOpenAIBackend({ endpoints: [server.url], model: "tiny" });
    expect((await base.generate("xyz", { maxNewTokens: 3 })).text).toBe("bas");
    // vLLM style: the adapter name alone is accepted as a model id.
    const geo = createOpenAIBackend({ endpoints: [`${server.url}/v1`], model: "geo" });
    const batch = await geo.generateBatch(["one", "two", "three"]);
    expect(batch.map((generation) => generation.text)).toEqual(["geo|eno", "geo|owt", "geo|eerht"]);
    expect(engine.requests.at(-1)?.adapter).toBe("geo");
    expect(engine.requests[1].options.maxNewTokens).toBe(3);
    expect(engine.requests[0].options.temperature).toBe(0);
    const vectors = await base.embed(["hello", "a"]);
    expect(vectors.map((vector) => Array.from(vector))).toEqual([
      [5, 2, 104],
      [1, 1, 97],
    ]);
  });

  it("serves chat completions through the backend's chat path", async () => {
    const { server, engine } = await start();
    const chat = createOpenAIBackend({ endpoints: [server.url], model: "tiny:math", completionPath: "chat" });
    expect((await chat.generate("hi")).text).toBe(`math|${reverse("user: hi")}`);
    expect(engine.requests[0].messages).toEqual([{ role: "user", content: "hi" }]);
  });

  it("lists the base model and its adapters", async () => {
    const { server } = await start();
    const response = await fetch(`${server.url}/v1/models`);
    const body = (await response.json()) as any;
    expect(body.object).toBe("list");
    expect(body.data.map((model: any) => model.id)).toEqual(["tiny", "tiny:math", "tiny:geo"]);
    expect(body.data[1].parent).toBe("tiny");
  });

  it("streams chat deltas as SSE ending in data: [DONE], equal to the non-streamed answer", async () => {
    const { server } = await start({ engine: createScriptedEngine({ adapters: ["math"], tokenDelayMs: 1 }) });
    const messages = [{ role: "user", content: "stream me" }];
    const plain = await post(`${server.url}/v1/chat/completions`, { model: "tiny:math", messages });
    expect(plain.status).toBe(200);
    const response = await fetch(`${server.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "tiny:math", messages, stream: true, stream_options: { include_usage: true } }),
    });
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    const events = await readSSE(response);
    expect(events.at(-1)).toBe("[DONE]");
    const chunks = events.slice(0, -1).map((event) => JSON.parse(event));
    expect(chunks[0].choices[0].delta.role).toBe("assistant");
    const streamed = chunks.map((chunk) => chunk.choices[0]?.delta?.content ?? "").join("");
    expect(streamed).toBe(plain.json.choices[0].message.content);
    expect(chunks.length).toBeGreaterThan(5); // token by token, not one blob
    const finish = chunks.find((chunk) => chunk.choices[0]?.finish_reason);
    expect(finish.choices[0].finish_reason).toBe("stop");
    const usage = chunks.at(-1).usage;
    expect(usage.completion_tokens).toBe([...streamed].length);
    expect(usage.total_tokens).toBe(usage.prompt_tokens + usage.completion_tokens);
  });

  it("streams /v1/completions too, honouring max_tokens with finish_reason length", async () => {
    const { server } = await start();
    const response = await fetch(`${server.url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "tiny", prompt: "abcdef", max_tokens: 4, stream: true }),
    });
    const events = await readSSE(response);
    expect(events.at(-1)).toBe("[DONE]");
    const chunks = events.slice(0, -1).map((event) => JSON.parse(event));
    expect(chunks.map((chunk) => chunk.choices[0].text).join("")).toBe("base");
    expect(chunks.at(-1).choices[0].finish_reason).toBe("length");
  });

  it("requires the bearer token when started with an API key (401 otherwise)", async () => {
    const { server } = await start({ apiKey: "s3cret" });
    const body = { model: "tiny", prompt: "x" };
    const missing = await post(`${server.url}/v1/completions`, body);
    expect(missing.status).toBe(401);
    expect(missing.headers.get("www-authenticate")).toContain("Bearer");
    expect(missing.json.error.message).toContain("Authorization: Bearer");
    const wrong = await post(`${server.url}/v1/completions`, body, { authorization: "Bearer nope" });
    expect(wrong.status).toBe(401);
    expect((await fetch(`${server.url}/v1/models`)).status).toBe(401);
    const right = await post(`${server.url}/v1/completions`, body, { authorization: "Bearer s3cret" });
    expect(right.status).toBe(200);
    expect((await fetch(`${server.url}/health`)).status).toBe(200); // health stays open for load balancers

    const withoutKey = createOpenAIBackend({ endpoints: [server.url], model: "tiny", retries: 2, backoffMs: 1 });
    const error = await withoutKey.generate("x").catch((caught) => caught);
    expect(error).toBeInstanceOf(OpenAIBackendError);
    expect(error.status).toBe(401);
    const withKey = createOpenAIBackend({ endpoints: [server.url], model: "tiny", apiKey: "s3cret" });
    expect((await withKey.generate("ab")).text).toBe("base|ba");
  });

  it("answers 429 when the queue is full, and the backend's retries get through", async () => {
    const engine = createScriptedEngine({ delayMs: 300 });
    const { server } = await start({ engine, concurrency: 1, queueCapacity: 1 });
    const statuses = await Promise.all(
      Array.from({ length: 6 }, () =>
        post(`${server.url}/v1/completions`, { prompt: "busy" }).then((result) => result),
      ),
    );
    const codes = statuses.map((result) => result.status).sort();
    expect(codes).toEqual([200, 200, 429, 429, 429, 429]);
    const rejected = statuses.find((result) => result.status === 429)!;
    expect(rejected.headers.get("retry-after")).toBe("1");
    expect(rejected.json.error.type).toBe("rate_limit_error");

    engine.requests.length = 0;
    const backend = createOpenAIBackend({
      endpoints: [server.url],
      model: "tiny",
      retries: 12,
      backoffMs: 100,
      maxBackoffMs: 400,
    });
    const results = await backend.generateBatch(["a", "b", "c", "d"]);
    expect(results.map((result) => result.text)).toEqual(["base|a", "base|b", "base|c", "base|d"]);
    expect(engine.requests.length).toBe(4);
  });

  it("refuses path-like adapter names (400) and unknown models (404)", async () => {
    const { server, engine } = await start();
    for (const model of ["tiny:../../etc/passwd", "tiny:a/b", "..", "tiny:..", "tiny:a\\b"]) {
      const result = await post(`${server.url}/v1/completions`, { model, prompt: "x" });
      expect(result.status, model).toBe(400);
      expect(result.json.error.code).toBe("invalid_adapter_name");
    }
    const unknown = await post(`${server.url}/v1/completions`, { model: "tiny:nope", prompt: "x" });
    expect(unknown.status).toBe(404);
    expect(unknown.json.error.message).toContain("available: tiny, tiny:math, tiny:geo");
    expect(engine.requests.length).toBe(0);
  });

  it("enforces body-size and max-token limits and names bad fields", async () => {
    const { server } = await start({ maxBodyBytes: 2000, maxTokens: 64 });
    const huge = await post(`${server.url}/v1/completions`, { prompt: "x".repeat(5000) });
    expect(huge.status).toBe(413);
    expect(huge.json.error.code).toBe("body_too_large");
    const tooMany = await post(`${server.url}/v1/completions`, { prompt: "x", max_tokens: 65 });
    expect(tooMany.status).toBe(400);
    expect(tooMany.json.error.message).toContain("max_tokens 65 is above this server's limit of 64");
    const badJson = await post(`${server.url}/v1/completions`, "{not json");
    expect(badJson.status).toBe(400);
    expect(badJson.json.error.code).toBe("invalid_json");
    const badField = await post(`${server.url}/v1/chat/completions`, { messages: [{ role: "wizard", content: "x" }] });
    expect(badField.status).toBe(400);
    expect(badField.json.error.message).toMatch(/^messages\.0\.role: /);
    const noPrompt = await post(`${server.url}/v1/completions`, { model: "tiny" });
    expect(noPrompt.status).toBe(400);
    expect(noPrompt.json.error.message).toMatch(/^prompt: /);
  });

  it("prepends PILLOW demos from the matcher when the request asks for them", async () => {
    const selector: DemoSelector = {
      name: "test",
      async select(query, count) {
        return Array.from({ length: count ?? 3 }, (_, index) => ({
          id: `d${index}`,
          instruction: `Q${index} for ${query}`,
          output: `A${index}`,
        }));
      },
    };
    const { server, engine } = await start({ demoSelector: selector });
    const result = await post(`${server.url}/v1/completions`, { prompt: "Capital of Peru?", pillow: { demos: 2 } });
    expect(result.status).toBe(200);
    expect(result.json.pillow.demos).toEqual(["d0", "d1"]);
    expect(engine.requests[0].prompt).toBe(
      "### Instruction:\nQ0 for Capital of Peru?\n\n### Response:\nA0\n\n### Instruction:\nQ1 for Capital of Peru?\n\n### Response:\nA1\n\nCapital of Peru?",
    );
    const chat = await post(`${server.url}/v1/chat/completions`, {
      messages: [
        { role: "system", content: "be brief" },
        { role: "user", content: "hi" },
      ],
      pillow_matcher: true,
    });
    expect(chat.json.pillow.demos).toEqual(["d0", "d1", "d2"]);
    expect(engine.requests[1].messages?.[0]).toEqual({ role: "system", content: "be brief" });
    expect(engine.requests[1].messages?.[1].content.endsWith("### Response:\nA2\n\nhi")).toBe(true);

    const { server: plain } = await start();
    const refused = await post(`${plain.url}/v1/completions`, { prompt: "x", pillow: { demos: 1 } });
    expect(refused.status).toBe(400);
    expect(refused.json.error.message).toContain("--matcher");
  });

  it("returns base64 embeddings when asked, as the OpenAI Python client does", async () => {
    const { server } = await start();
    const result = await post(`${server.url}/v1/embeddings`, { input: "hello", encoding_format: "base64" });
    const bytes = Buffer.from(result.json.data[0].embedding, "base64");
    expect(Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4))).toEqual([5, 2, 104]);
  });

  it("shuts down gracefully: the running request finishes, new ones are refused", async () => {
    const engine = createScriptedEngine({ delayMs: 300 });
    const { server } = await start({ engine });
    const inFlight = post(`${server.url}/v1/completions`, { prompt: "last" });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const closing = server.close(5000);
    const late = await fetch(`${server.url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ prompt: "late" }),
    }).then(
      (response) => response.status,
      () => "refused",
    );
    expect([503, "refused"]).toContain(late);
    const finished = await inFlight;
    expect(finished.status).toBe(200);
    expect(finished.json.choices[0].text).toBe("base|tsal");
    await closing;
  });
});
