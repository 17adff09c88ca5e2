// `pillow serve` through the official `openai` npm client, against the real model engine on the
// tiny model: streamed completions and chat equal the non-streamed answers, 64 concurrent greedy
// streams each equal the same request alone, an aborted stream frees its sequence, and the
// client sees 400/401/413/429 as its own error classes. Also: the same stream through app.request
// (hono's streamSSE path, no node socket) carries the same events as through the socket.
import { loadModel, type Model, NativeBackend } from "@pillow/core";
import { tinyModelDir } from "@pillow/suite";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningServer, startServer } from "./listen.js";
import { createNativeEngine } from "./native-engine.js";

let model: Model;
let backend: NativeBackend;
let server: RunningServer;
let client: OpenAI;

beforeAll(async () => {
  model = await loadModel(tinyModelDir);
  backend = new NativeBackend(model);
  server = await startServer({
    engine: createNativeEngine(backend, { baseName: "tiny", adapters: [] }),
    port: 0,
    concurrency: 64,
    apiKey: "secret",
    maxBodyBytes: 4096,
  });
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "secret", maxRetries: 0 });
});

afterAll(async () => {
  await server?.close(1000);
});

const promptOf = (i: number) => `### Instruction:\nWrite a short note about topic number ${i}.\n\n### Response:\n`;

async function streamed(
  prompt: string,
  maxTokens: number,
): Promise<{ text: string; events: number; usage?: OpenAI.CompletionUsage }> {
  const stream = await client.completions.create({
    model: "tiny",
    prompt,
    max_tokens: maxTokens,
    temperature: 0,
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = "";
  let events = 0;
  let usage: OpenAI.CompletionUsage | undefined;
  for await (const event of stream) {
    events += 1;
    text += event.choices[0]?.text ?? "";
    if (event.usage) usage = event.usage;
  }
  return { text, events, usage };
}

describe("pillow serve through the openai client", () => {
  it("streams a completion equal to the non-streamed one, with usage", async () => {
    const whole = await client.completions.create({
      model: "tiny",
      prompt: promptOf(1),
      max_tokens: 24,
      temperature: 0,
    });
    const parts = await streamed(promptOf(1), 24);
    expect(whole.choices[0].text.length).toBeGreaterThan(0);
    expect(parts.text).toBe(whole.choices[0].text);
    expect(parts.usage?.completion_tokens).toBe(whole.usage?.completion_tokens);
    expect(parts.usage?.prompt_tokens).toBe(whole.usage?.prompt_tokens);
    expect(parts.events).toBeGreaterThan(2);
  });

  it("streams chat deltas equal to the non-streamed answer", async () => {
    const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: "user", content: "Say something." }];
    const whole = await client.chat.completions.create({ model: "tiny", messages, max_tokens: 20, temperature: 0 });
    const stream = await client.chat.completions.create({
      model: "tiny",
      messages,
      max_tokens: 20,
      temperature: 0,
      stream: true,
    });
    let text = "";
    let role: string | undefined;
    let finish: string | null = null;
    for await (const event of stream) {
      role ??= event.choices[0]?.delta.role;
      text += event.choices[0]?.delta.content ?? "";
      finish = event.choices[0]?.finish_reason ?? finish;
    }
    expect(role).toBe("assistant");
    expect(text).toBe(whole.choices[0].message.content);
    expect(finish).toBe(whole.choices[0].finish_reason);
  });

  it("answers 64 concurrent greedy streams each exactly as the same request alone", async () => {
    const count = 64;
    const alone: string[] = [];
    for (let i = 0; i < count; i++) alone.push((await streamed(promptOf(i), 12)).text);
    const stepsBefore = backend.batcher.stats().steps;
    const together = await Promise.all(Array.from({ length: count }, (_, i) => streamed(promptOf(i), 12)));
    const steps = backend.batcher.stats().steps - stepsBefore;
    expect(together.map((result) => result.text)).toEqual(alone);
    expect(new Set(alone).size).toBeGreaterThan(1);
    // Shared steps: far fewer than the 64 · 13 a request-at-a-time server would take.
    expect(steps).toBeLessThan(count * 4);
  });

  it("frees the sequence of a stream the client aborts, and keeps serving", async () => {
    const controller = new AbortController();
    // ignore_eos (a pillow extension the client passes through) so the stream is still running at the abort.
    const stream = await client.completions.create(
      {
        model: "tiny",
        prompt: promptOf(3),
        max_tokens: 400,
        temperature: 0,
        stream: true,
        ignore_eos: true,
      } as OpenAI.CompletionCreateParamsStreaming,
      { signal: controller.signal },
    );
    let events = 0;
    for await (const _event of stream) {
      events += 1;
      if (events === 3) {
        controller.abort();
        break;
      }
    }
    expect(events).toBe(3);
    const stepsAtAbort = backend.batcher.stats().steps;
    const deadline = Date.now() + 5000;
    while (backend.batcher.stats().running > 0 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 10));
    expect(backend.batcher.stats()).toMatchObject({ running: 0, waiting: 0, kvCacheBytesUsed: 0 });
    // Stopped within a few steps of the abort, not after its 400 tokens.
    expect(backend.batcher.stats().steps - stepsAtAbort).toBeLessThan(50);
    expect((await streamed(promptOf(3), 5)).text.length).toBeGreaterThan(0);
  });

  it("surfaces 400 (context), 401 (key) and 413 (body) as the client's error classes", async () => {
    const tooLong = "x".repeat(3000);
    await expect(
      client.completions.create({ model: "tiny", prompt: tooLong, max_tokens: 4, stream: true }),
    ).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    const stranger = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "wrong", maxRetries: 0 });
    await expect(stranger.completions.create({ model: "tiny", prompt: "hi", max_tokens: 2 })).rejects.toBeInstanceOf(
      OpenAI.AuthenticationError,
    );
    await expect(
      client.completions.create({ model: "tiny", prompt: "y".repeat(5000), max_tokens: 2 }),
    ).rejects.toMatchObject({ status: 413 });
  });

  it("answers 429 through the client when the queue is full", async () => {
    // Its own backend: closing a server closes its engine.
    const small = await startServer({
      engine: createNativeEngine(new NativeBackend(model), { baseName: "tiny", adapters: [] }),
      port: 0,
      concurrency: 1,
      queueCapacity: 0,
    });
    try {
      const narrow = new OpenAI({ baseURL: `${small.url}/v1`, apiKey: "none", maxRetries: 0 });
      const first = narrow.completions.create({
        model: "tiny",
        prompt: promptOf(5),
        max_tokens: 200,
        temperature: 0,
        stream: true,
      });
      const holder = await first;
      await expect(narrow.completions.create({ model: "tiny", prompt: "hi", max_tokens: 2 })).rejects.toBeInstanceOf(
        OpenAI.RateLimitError,
      );
      for await (const _event of holder);
    } finally {
      await small.close(1000);
    }
  });

  it("sends the same events through app.request (streamSSE) as through the socket", async () => {
    const body = { model: "tiny", prompt: promptOf(7), max_tokens: 10, temperature: 0, stream: true };
    const events = async (response: Response) =>
      (await response.text())
        .split("\n\n")
        .filter((block) => block.startsWith("data: "))
        .map((block) => block.slice(6))
        .map((data) => (data === "[DONE]" ? data : JSON.stringify({ ...JSON.parse(data), id: "", created: 0 })));
    const init = {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer secret" },
      body: JSON.stringify(body),
    };
    const viaSocket = await events(await fetch(`${server.url}/v1/completions`, init));
    const viaApp = await events(await server.serveApp.app.request("/v1/completions", init));
    expect(viaSocket.length).toBeGreaterThan(3);
    expect(viaApp).toEqual(viaSocket);
  });
});
