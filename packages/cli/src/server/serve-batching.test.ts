// `pillow serve` with the real model engine on the tiny model shipped in @pillow/suite: 64 mixed
// requests at once (base and adapter, greedy and seeded sampling, stops, penalties, PILLOW demos,
// streamed and not) give each the same text as when it runs alone, while sharing decode steps;
// penalties reach the sampler; a prompt past the context is a 400 naming it; client disconnects
// and shutdown stop non-streamed generations too.
import { loadModel, type Model, NativeBackend, Random } from "@pillow/core";
import { tinyModelDir } from "@pillow/suite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DemoSelector } from "./engine.js";
import { type RunningServer, startServer } from "./listen.js";
import { createNativeEngine } from "./native-engine.js";

let model: Model;
let backend: NativeBackend;
let server: RunningServer;

const demos: DemoSelector = {
  name: "fixed",
  async select(query, count = 1) {
    const pool = [
      { id: "d1", instruction: "Say hello.", output: "Hello!" },
      { id: "d2", instruction: "Count to three.", output: "1, 2, 3" },
      { id: "d3", instruction: `Repeat: ${query.slice(0, 12)}`, output: query.slice(0, 12) },
    ];
    return pool.slice(0, count);
  },
};

beforeAll(async () => {
  model = await loadModel(tinyModelDir);
  // An adapter with non-zero B, so adapter rows really differ from base rows in a shared step.
  model.addAdapter("mix", { r: 4, alpha: 8, targetModules: ["q_proj", "v_proj", "o_proj", "down_proj"], seed: 2 });
  const random = new Random(9);
  for (const tensorName of Object.keys(model.adapterTensors("mix"))) {
    const match = /layers\.(\d+)\.(?:self_attn|mlp)\.(\w+)\.lora_B/.exec(tensorName);
    if (!match) continue;
    const size = model.adapterTensors("mix")[tensorName].length;
    model.native.setAdapterTensor(
      "mix",
      Number(match[1]),
      match[2] as never,
      "B",
      Float32Array.from({ length: size }, () => (random.next() - 0.5) * 1.0),
    );
  }
  backend = new NativeBackend(model, { batching: { prefillChunk: 32 } });
  server = await startServer({
    engine: createNativeEngine(backend, { baseName: "tiny", adapters: ["mix"] }),
    port: 0,
    demoSelector: demos,
    concurrency: 64,
  });
});

afterAll(async () => {
  await server?.close(1000);
});

type Reply = { status: number; text: string; finish: string | null };

async function ask(body: Record<string, unknown>, signal?: AbortSignal): Promise<Reply> {
  const chat = "messages" in body;
  const response = await fetch(`${server.url}/v1/${chat ? "chat/completions" : "completions"}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    signal,
  });
  if (!body.stream) {
    const json = (await response.json()) as any;
    if (response.status !== 200) return { status: response.status, text: json.error.message, finish: json.error.code };
    const choice = json.choices[0];
    return { status: 200, text: chat ? choice.message.content : choice.text, finish: choice.finish_reason };
  }
  let text = "";
  let finish: string | null = null;
  for (const line of (await response.text()).split("\n")) {
    if (!line.startsWith("data: ") || line === "data: [DONE]") continue;
    const event = JSON.parse(line.slice(6));
    if (event.error) throw new Error(event.error.message);
    const choice = event.choices[0];
    if (!choice) continue;
    text += (chat ? choice.delta?.content : choice.text) ?? "";
    finish = choice.finish_reason ?? finish;
  }
  return { status: response.status, text, finish };
}

const topics = ["the sea", "a red apple", "how to bake bread", "the moon", "winter", "a small dog", "numbers", "music"];

function mixedRequest(i: number): Record<string, unknown> {
  const body: Record<string, unknown> = {
    model: i % 3 === 1 ? "tiny:mix" : "tiny",
    max_tokens: 32,
    temperature: 0,
    stream: i % 2 === 0,
  };
  const instruction = `### Instruction:\nWrite about ${topics[i % topics.length]} (${i}).\n\n### Response:\n`;
  if (i % 5 === 4) body.messages = [{ role: "user", content: instruction }];
  else body.prompt = instruction;
  if (i % 4 === 1) body.stop = ["\n", "."];
  if (i % 4 === 2) body.frequency_penalty = 0.8;
  if (i % 4 === 3) Object.assign(body, { temperature: 0.8, top_p: 0.9, seed: 1000 + i });
  if (i % 8 === 0) body.pillow = { demos: 1 + (i % 3) };
  if (i % 6 === 5) body.ignore_eos = true;
  return body;
}

describe("pillow serve, continuous batching on the shipped tiny model", () => {
  it("answers 64 mixed concurrent requests exactly as each alone, in shared decode steps", async () => {
    const requests = Array.from({ length: 64 }, (_, i) => mixedRequest(i));
    const alone: Reply[] = [];
    for (const request of requests) alone.push(await ask(request));
    const before = backend.batcher.stats().steps;
    const together = await Promise.all(requests.map((request) => ask(request)));
    const steps = backend.batcher.stats().steps - before;
    for (let i = 0; i < requests.length; i++) {
      expect(together[i].status, `request ${i}`).toBe(200);
      expect(together[i].text, `request ${i}: ${JSON.stringify(requests[i])}`).toBe(alone[i].text);
      expect(together[i].finish).toBe(alone[i].finish);
    }
    // Batching happened: far fewer steps than tokens (each request alone needs one step per token).
    const tokens = together.reduce((sum, reply) => sum + Math.max(1, reply.text.length), 0);
    expect(steps).toBeLessThan(tokens / 8);
    // The mix was real: some answers stopped at a stop string, some ran to the limit, adapters changed text.
    expect(together.some((reply) => reply.finish === "stop")).toBe(true);
    expect(together.some((reply) => reply.finish === "length")).toBe(true);
    expect(alone[10].text).not.toBe((await ask({ ...requests[10], model: "tiny" })).text);
    expect(model.native.sequenceCount()).toBe(0);
  }, 120_000);

  it("passes frequency and presence penalties from the request body to the sampler", async () => {
    const prompt = "### Instruction:\nSay something.\n\n### Response:\n";
    const plain = await ask({ model: "tiny", prompt, max_tokens: 40, temperature: 0, ignore_eos: true });
    const penalised = await ask({
      model: "tiny",
      prompt,
      max_tokens: 40,
      temperature: 0,
      ignore_eos: true,
      presence_penalty: 2,
      frequency_penalty: 1,
    });
    // The in-process model (its own decode loop and sampler call) with the same options.
    const expected = await model.generate(prompt, {
      maxNewTokens: 40,
      temperature: 0,
      ignoreEos: true,
      presencePenalty: 2,
      frequencyPenalty: 1,
    });
    expect(penalised.text).toBe(expected.text);
    expect(penalised.text).not.toBe(plain.text);
  });

  it("answers a prompt longer than the context with a 400 naming the limit", async () => {
    const reply = await ask({
      model: "tiny",
      prompt: "z".repeat(model.config.maxPositionEmbeddings + 10),
      max_tokens: 4,
    });
    expect(reply.status).toBe(400);
    expect(reply.finish).toBe("context_length_exceeded");
    expect(reply.text).toContain(`${model.config.maxPositionEmbeddings} tokens`);
    const streamed = await fetch(`${server.url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: "tiny",
        prompt: "z".repeat(model.config.maxPositionEmbeddings + 10),
        stream: true,
      }),
    });
    expect(streamed.status).toBe(400);
  });

  it("stops a non-streamed generation when its client disconnects", async () => {
    const controller = new AbortController();
    const reply = ask(
      { model: "tiny", prompt: "long", max_tokens: 500, ignore_eos: true, temperature: 0 },
      controller.signal,
    );
    while (backend.batcher.stats().running === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    const stepsAtAbort = backend.batcher.stats().steps;
    controller.abort();
    await expect(reply).rejects.toThrow();
    const deadline = Date.now() + 5000;
    while (backend.batcher.stats().running > 0 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 2));
    expect(backend.batcher.stats().running).toBe(0);
    // It ended long before its 500 tokens.
    expect(backend.batcher.stats().steps - stepsAtAbort).toBeLessThan(400);
    expect(model.native.sequenceCount()).toBe(0);
  });
});
