import { afterEach, describe, expect, it } from "vitest";
import {
  backendInfo,
  loraMatmul,
  loraMatmulBackward,
  loraMatmulMulti,
  matmul,
  referenceLoraMatmul,
  referenceMatmul,
  resolveDevice,
  sample,
} from "./index.js";
import { maxRelativeError, randomArray, seededRandom } from "./test-utils.js";

// Runs against whichever addon loads: with a usable CUDA backend (a GPU, or the PILLOW_CUDA=emulate
// build that `pnpm test:cuda-emulated` uses) "cuda" must agree with "cpu"; without one, a "cuda"
// request must fail with E_CUDA and the reason, before any kernel runs.
const cudaOps = backendInfo().ops?.cuda ?? [];
const cudaUsable = cudaOps.includes("matmul");
const savedDevice = process.env.PILLOW_DEVICE;

afterEach(() => {
  if (savedDevice === undefined) delete process.env.PILLOW_DEVICE;
  else process.env.PILLOW_DEVICE = savedDevice;
});

describe("device selection", () => {
  it("resolves the option, then PILLOW_DEVICE, then cpu, and rejects other names", () => {
    delete process.env.PILLOW_DEVICE;
    expect(resolveDevice()).toBe("cpu");
    expect(resolveDevice("cuda")).toBe("cuda");
    process.env.PILLOW_DEVICE = "cuda";
    expect(resolveDevice()).toBe("cuda");
    expect(resolveDevice("cpu")).toBe("cpu");
    process.env.PILLOW_DEVICE = "gpu";
    expect(() => resolveDevice()).toThrow(/PILLOW_DEVICE must be "cpu" or "cuda", got "gpu"/);
    expect(() => resolveDevice("tpu" as "cpu")).toThrow(expect.objectContaining({ code: "E_ARGUMENT" }));
  });

  it("backendInfo lists the ops of each device and where the addon came from", () => {
    const info = backendInfo();
    expect(info.ops?.cpu).toEqual(
      expect.arrayContaining(["matmul", "loraMatmul", "loraMatmulBackward", "loraMatmulMulti", "sample"]),
    );
    if (info.cuda.compiled && info.cuda.devices > 0) {
      expect(cudaOps).toEqual([
        "matmul",
        "loraMatmul",
        "loraMatmulBackward",
        "loraMatmulMulti",
        "sample",
        "LlamaModel.forward",
        "LlamaModel.embed",
        "LlamaModel.lossAndGrad(lora)",
        "LlamaModel.adamwStep(lora)",
      ]);
    } else {
      expect(cudaOps).toEqual([]);
    }
    // What a cuda model refuses (E_UNSUPPORTED) is listed whether or not a device is usable.
    expect(info.ops?.cudaMissing).toEqual(
      expect.arrayContaining(["LlamaModel.lossAndGrad(full)", "LlamaModel.forwardSequences", "pairwiseCost"]),
    );
    expect(info.loader?.path).toMatch(/pillow_native\.node$/);
  });

  it.runIf(!cudaUsable)("without a usable CUDA backend, device cuda fails with E_CUDA naming the reason", () => {
    const x = new Float32Array([1, 2]);
    const w = new Float32Array([3, 4]);
    const shape = { tokens: 1, inFeatures: 2, outFeatures: 1 };
    expect(() => matmul(x, w, shape, { device: "cuda" })).toThrow(expect.objectContaining({ code: "E_CUDA" }));
    expect(() => matmul(x, w, shape, { device: "cuda" })).toThrow(/shape\.device is "cuda" but/);
    expect(() => sample(new Float32Array([0, 1]), { rows: 1, vocab: 2 }, { device: "cuda", seed: 1 })).toThrow(
      /options\.device is "cuda" but/,
    );
    expect(Array.from(matmul(x, w, shape, { device: "cpu" }))).toEqual([11]);
  });

  it.runIf(cudaUsable)("matmul, LoRA forward/backward/multi and sample on cuda agree with cpu", () => {
    const random = seededRandom(5);
    const shape = { tokens: 7, inFeatures: 33, outFeatures: 19, rank: 3 };
    const x = randomArray(shape.tokens * shape.inFeatures, random);
    const w = randomArray(shape.outFeatures * shape.inFeatures, random);
    const a = randomArray(shape.rank * shape.inFeatures, random);
    const b = randomArray(shape.outFeatures * shape.rank, random);
    const dy = randomArray(shape.tokens * shape.outFeatures, random);
    const base = { tokens: 7, inFeatures: 33, outFeatures: 19 };
    expect(maxRelativeError(matmul(x, w, base, { device: "cuda" }), referenceMatmul(x, w, base))).toBeLessThan(1e-5);
    const y = loraMatmul(x, w, a, b, shape, 0.5, { device: "cuda" });
    expect(maxRelativeError(y, referenceLoraMatmul(x, w, a, b, shape, 0.5))).toBeLessThan(1e-5);
    const cpu = loraMatmulBackward(dy, x, w, a, b, shape, 0.5, { device: "cpu" });
    const cuda = loraMatmulBackward(dy, x, w, a, b, shape, 0.5, { device: "cuda" });
    for (const key of ["dx", "da", "db"] as const) {
      expect(maxRelativeError(cuda[key], cpu[key]), key).toBeLessThan(1e-5);
    }
    const adapters = [{ a, b, rank: 3, scale: 2 }];
    const index = new Int32Array([0, -1, 0, 0, -1, 0, 0]);
    expect(
      maxRelativeError(
        loraMatmulMulti(x, w, adapters, index, base, { device: "cuda" }),
        loraMatmulMulti(x, w, adapters, index, base, { device: "cpu" }),
      ),
    ).toBeLessThan(1e-5);
    const logits = randomArray(2 * 41, random);
    const options = {
      topK: 5,
      topP: 0.9,
      seed: 12,
      previousTokens: [new Int32Array([1, 2]), new Int32Array([])],
      repetitionPenalty: 1.3,
    };
    const onCuda = sample(logits, { rows: 2, vocab: 41 }, { ...options, device: "cuda" });
    const onCpu = sample(logits, { rows: 2, vocab: 41 }, { ...options, device: "cpu" });
    expect(Array.from(onCuda.tokens)).toEqual(Array.from(onCpu.tokens));
    expect(maxRelativeError(onCuda.logprobs, onCpu.logprobs)).toBeLessThan(2e-5);
  });

  it.runIf(cudaUsable)("PILLOW_DEVICE=cuda routes calls without an option, and checks still name the argument", () => {
    process.env.PILLOW_DEVICE = "cuda";
    const y = matmul(new Float32Array([1, 2, 3, 4]), new Float32Array([1, 0, 0, 1, 1, 1]), {
      tokens: 2,
      inFeatures: 2,
      outFeatures: 3,
    });
    expect(Array.from(y)).toEqual([1, 2, 3, 3, 4, 7]);
    expect(() => sample(new Float32Array([0, Number.NaN]), { rows: 1, vocab: 2 }, { seed: 1 })).toThrow(
      expect.objectContaining({ code: "E_NONFINITE_LOGITS" }),
    );
  });
});
