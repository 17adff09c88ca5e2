// `pillow serve` over the native model: what comes back over HTTP equals what the model generates
// in-process, for the base model and for an adapter, streamed or not.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createOpenAIBackend, createTinyModel, loadModel, type Model, NativeBackend, train } from "@pillow/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningServer, startServer } from "./listen.js";
import { createNativeEngine } from "./native-engine.js";

let model: Model;
let server: RunningServer;

beforeAll(async () => {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), "pillow-engine-"));
  createTinyModel(directory, { hiddenSize: 32, numLayers: 2, numHeads: 2, maxPositionEmbeddings: 128, seed: 3 });
  model = await loadModel(directory);
  // An adapter trained hard on one string, so its answers differ from the base model's.
  model.addAdapter("echo", { r: 4, alpha: 8, targetModules: ["q_proj", "v_proj", "up_proj", "down_proj"], seed: 1 });
  model.setActiveAdapter("echo");
  await train(model, [{ prompt: "say:", completion: " zebra zebra" }], { mode: "lora", epochs: 30, lr: 3e-2 });
  model.setActiveAdapter(null);
  server = await startServer({
    engine: createNativeEngine(new NativeBackend(model), { baseName: "tiny", adapters: ["echo"] }),
    port: 0,
  });
});

afterAll(async () => {
  await server?.close(1000);
});

async function direct(adapter: string | null, prompt: string, maxNewTokens: number): Promise<string> {
  return model.exclusive(async () => {
    model.setActiveAdapter(adapter);
    return (await model.generateUnlocked(prompt, { maxNewTokens, temperature: 0 })).text;
  });
}

describe("model engine over HTTP", () => {
  it("answers like the model in-process, per adapter", async () => {
    const base = createOpenAIBackend({ endpoints: [server.url], model: "tiny" });
    const echo = createOpenAIBackend({ endpoints: [server.url], model: "tiny:echo" });
    const expectedBase = await direct(null, "say:", 8);
    const expectedEcho = await direct("echo", "say:", 8);
    expect(expectedEcho).not.toBe(expectedBase);
    expect((await base.generate("say:", { maxNewTokens: 8 })).text).toBe(expectedBase);
    expect((await echo.generate("say:", { maxNewTokens: 8 })).text).toBe(expectedEcho);
    // Interleaved requests for both adapters still get their own adapter.
    const mixed = await Promise.all([
      echo.generate("say:", { maxNewTokens: 8 }),
      base.generate("say:", { maxNewTokens: 8 }),
      echo.generate("say:", { maxNewTokens: 8 }),
    ]);
    expect(mixed.map((result) => result.text)).toEqual([expectedEcho, expectedBase, expectedEcho]);
  });

  it("streams the same text token by token and reports usage", async () => {
    const expected = await direct("echo", "say:", 10);
    const response = await fetch(`${server.url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: "tiny:echo",
        prompt: "say:",
        max_tokens: 10,
        temperature: 0,
        stream: true,
        stream_options: { include_usage: true },
      }),
    });
    const events = (await response.text())
      .split("\n")
      .filter((line) => line.startsWith("data: "))
      .map((line) => line.slice(6));
    expect(events.at(-1)).toBe("[DONE]");
    const chunks = events.slice(0, -1).map((event) => JSON.parse(event));
    expect(chunks.map((chunk) => chunk.choices[0]?.text ?? "").join("")).toBe(expected);
    const usage = chunks.at(-1).usage;
    expect(usage.prompt_tokens).toBe(model.tokenizer!.encode("say:").length);
    expect(usage.completion_tokens).toBeGreaterThan(0);
  });

  it("embeds through /v1/embeddings like model.embed", async () => {
    const backend = createOpenAIBackend({ endpoints: [server.url], model: "tiny" });
    const [viaHttp] = await backend.embed(["hello"]);
    const [direct] = await model.exclusive(async () => {
      model.setActiveAdapter(null);
      return model.embedUnlocked(["hello"]);
    });
    expect(Array.from(viaHttp)).toEqual(Array.from(direct));
  });
});
