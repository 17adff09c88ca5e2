// loadModel(dir, { device: "cuda" }) against the same model on the CPU, on a tiny model (2 layers,
// hidden 16, GQA 4:2). With a CUDA backend (a GPU, or the PILLOW_CUDA=emulate addon that
// `pnpm test:cuda-emulated` builds) the cuda model must give the CPU's greedy text, batched and
// sampled generations, and LoRA losses and gradients within the kernels' stated tolerances (GEMMs
// 2e-5, attention backward 1e-4: see native/README.md), and refuse the CPU-only steps with
// E_UNSUPPORTED. Without one (the default CPU build) device "cuda" must be a clear E_CUDA error.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { backendInfo, KernelError } from "@pillow/lora-kernels";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadModel } from "./load-model.js";
import type { Model } from "./model.js";
import { createTinyModel } from "./tiny-model.js";
import { train } from "./train.js";
import { relativeError } from "./test-relative-error.js";

const cudaUsable = (backendInfo().ops?.cuda ?? []).includes("LlamaModel.forward");

let dir = "";

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "pillow-device-"));
  createTinyModel(dir, {
    hiddenSize: 16,
    intermediateSize: 24,
    numLayers: 2,
    numHeads: 4,
    numKeyValueHeads: 2,
    maxPositionEmbeddings: 64,
    seed: 7,
    initStd: 0.3,
  });
});

afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** The same adapter on both models: A from the seeded init, B set to small nonzero values. */
function addTestAdapter(model: Model): void {
  model.addAdapter("test", { r: 4, alpha: 8, targetModules: ["q_proj", "v_proj", "o_proj", "down_proj"], seed: 3 });
  let state = 12345;
  for (let layer = 0; layer < model.config.numLayers; layer++) {
    for (const module of ["q_proj", "v_proj", "o_proj", "down_proj"] as const) {
      const size = model.native.getAdapterTensor("test", layer, module, "B").length;
      const b = new Float32Array(size);
      for (let i = 0; i < size; i++) {
        state = (state * 1103515245 + 12345) % 2147483648;
        b[i] = (state / 2147483648 - 0.5) * 0.2;
      }
      model.native.setAdapterTensor("test", layer, module, "B", b);
    }
  }
  model.setActiveAdapter("test");
}

describe.runIf(cudaUsable)("device cuda matches the CPU on the tiny model", () => {
  let cpu: Model;
  let cuda: Model;

  beforeAll(async () => {
    cpu = await loadModel(dir, { device: "cpu" });
    cuda = await loadModel(dir, { device: "cuda" });
  });

  afterAll(() => {
    cpu?.dispose();
    cuda?.dispose();
  });

  it("reports its device", () => {
    expect(cpu.device).toBe("cpu");
    expect(cuda.device).toBe("cuda");
  });

  it("gives the CPU's logits (prefill) and greedy text (KV-cache decode)", async () => {
    const tokens = cpu.encodePrompt("pillow runs on");
    expect(relativeError(await cuda.forward(tokens), await cpu.forward(tokens))).toBeLessThan(1e-4);
    const options = { maxNewTokens: 12, ignoreEos: true };
    const expected = await cpu.generate("pillow runs on", options);
    const actual = await cuda.generate("pillow runs on", options);
    expect(actual.tokens).toEqual(expected.tokens);
    expect(actual.text).toBe(expected.text);
  });

  it("keeps bf16 weights bf16 on the device and gives the CPU's bf16 greedy text", async () => {
    const cpuBf16 = await loadModel(dir, { device: "cpu", dtype: "bf16" });
    const cudaBf16 = await loadModel(dir, { device: "cuda", dtype: "bf16" });
    try {
      const options = { maxNewTokens: 8, ignoreEos: true };
      // The device widens bf16 weights to f32, as the CPU does without BF16 dot products; on a CPU with
      // them (AMX, AVX512-BF16) the prefill would round x to bf16, so the CPU reference runs its
      // widening path (PILLOW_BF16_DOT=off, read at every call).
      process.env.PILLOW_BF16_DOT = "off";
      const expected = Array.from((await cpuBf16.generate("bf16 weights", options)).tokens);
      delete process.env.PILLOW_BF16_DOT;
      expect(Array.from((await cudaBf16.generate("bf16 weights", options)).tokens)).toEqual(expected);
    } finally {
      delete process.env.PILLOW_BF16_DOT;
      cpuBf16.dispose();
      cudaBf16.dispose();
    }
  });

  it("gives the CPU's batched (left-padded) greedy generations and sampled tokens", async () => {
    const prompts = ["a", "three words here"];
    const options = { maxNewTokens: 6, ignoreEos: true };
    const expected = await cpu.generateBatch(prompts, options);
    const actual = await cuda.generateBatch(prompts, options);
    expect(actual.map((r) => Array.from(r.tokens))).toEqual(expected.map((r) => Array.from(r.tokens)));
    // Sampling on the device (the sample kernel) from the device's logits: the same seeded draws.
    const sampled = { maxNewTokens: 6, ignoreEos: true, temperature: 0.9, topK: 40, topP: 0.95, seed: 11 };
    expect(Array.from((await cuda.generate("xy", sampled)).tokens)).toEqual(
      Array.from((await cpu.generate("xy", sampled)).tokens),
    );
  });

  it("gives the CPU's LoRA loss and gradients, and the same training steps", async () => {
    for (const model of [cpu, cuda]) addTestAdapter(model);
    const tokens = cpu.encodePrompt("train the adapter on this line");
    const labels = Int32Array.from(tokens);
    labels[0] = -100;
    const expected = await cpu.lossAndGrad({ tokens, labels });
    const actual = await cuda.lossAndGrad({ tokens, labels });
    expect(actual.count).toBe(expected.count);
    expect(Math.abs(actual.loss - expected.loss)).toBeLessThan(1e-5 * Math.max(1, expected.loss));
    expect(Object.keys(actual.grads).sort()).toEqual(Object.keys(expected.grads).sort());
    for (const [name, grad] of Object.entries(expected.grads)) {
      expect(relativeError(actual.grads[name], grad), name).toBeLessThan(1e-4);
    }
    const dataset = [
      { prompt: "q: one", response: " two" },
      { prompt: "q: three", response: " four" },
    ];
    const options = { epochs: 2, lr: 1e-2, schedule: "constant" as const, seed: 5 };
    const cpuRun = await train(cpu, dataset, options);
    const cudaRun = await train(cuda, dataset, options);
    expect(cudaRun.losses.length).toBe(cpuRun.losses.length);
    for (const [step, loss] of cudaRun.losses.entries()) {
      expect(Math.abs(loss - cpuRun.losses[step]), `step ${step}`).toBeLessThan(
        1e-4 * Math.max(1, cpuRun.losses[step]),
      );
    }
    // The trained adapter (copied back from the device after each step) and the moments agree.
    for (const module of ["q_proj", "down_proj"] as const) {
      expect(
        relativeError(
          cuda.native.getAdapterTensor("test", 1, module, "B"),
          cpu.native.getAdapterTensor("test", 1, module, "B"),
        ),
      ).toBeLessThan(1e-3);
    }
    const cudaMoments = cuda.native.optimizerState("lora");
    const cpuMoments = cpu.native.optimizerState("lora");
    for (const [key, moments] of Object.entries(cpuMoments))
      expect(relativeError(cudaMoments[key].v, moments.v), key).toBeLessThan(1e-3);
  });

  it("refuses the CPU-only steps with E_UNSUPPORTED instead of running them on the CPU", async () => {
    cuda.setActiveAdapter(null);
    const tokens = cuda.encodePrompt("full");
    const failure = await cuda.lossAndGrad({ tokens, labels: tokens, mode: "full" }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(KernelError);
    expect((failure as KernelError).code).toBe("E_UNSUPPORTED");
    expect((failure as KernelError).message).toMatch(/full-parameter training.*CPU only/);
    expect(backendInfo().ops?.cudaMissing).toContain("LlamaModel.lossAndGrad(full)");
  });
});

describe.runIf(!cudaUsable)("device cuda without a CUDA backend or device", () => {
  it("is a KernelError E_CUDA that says why, not a crash", async () => {
    const failure = await loadModel(dir, { device: "cuda" }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(KernelError);
    expect((failure as KernelError).code).toBe("E_CUDA");
    expect((failure as KernelError).message).toMatch(/options\.device is "cuda" but/);
    const info = backendInfo();
    expect(info.ops?.cuda).toEqual([]);
    // The CPU still works in the same process.
    const cpu = await loadModel(dir, { device: "cpu" });
    expect(cpu.device).toBe("cpu");
    cpu.dispose();
  });

  it("rejects an unknown device name", async () => {
    const failure = await loadModel(dir, { device: "gpu" as never }).catch((error: unknown) => error);
    expect((failure as { code?: string }).code).toMatch(/E_ARGUMENT/);
  });
});
