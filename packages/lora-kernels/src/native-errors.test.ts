import { describe, expect, it } from "vitest";
import { KernelError } from "./errors.js";
import { matmul, matmulAsync } from "./kernels.js";
import { sampleAsync } from "./sample.js";
import { loadAddon } from "./loader.js";
import { asKernelError } from "./native-errors.js";

const config = {
  vocabSize: 16,
  hiddenSize: 8,
  intermediateSize: 16,
  numLayers: 1,
  numHeads: 2,
  numKeyValueHeads: 2,
  headDim: 4,
  maxPositionEmbeddings: 32,
  rmsNormEps: 1e-5,
  ropeTheta: 10000,
  ropeScaling: null,
  tieWordEmbeddings: false,
  attentionBias: false,
};

function caught(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error("expected a throw");
}

describe("native failures surface as KernelError", () => {
  it("maps a synchronous native argument check, keeping code, message and the native error as cause", () => {
    // matmul has no TypeScript-side length check: this failure is raised by the addon's C++.
    const error = caught(() =>
      matmul(new Float32Array(6), new Float32Array(11), { tokens: 2, inFeatures: 3, outFeatures: 4 }),
    );
    expect(error).toBeInstanceOf(KernelError);
    expect((error as KernelError).code).toBe("E_SHAPE");
    expect((error as KernelError).message).toContain("w has length 11, expected 12");
    expect((error as KernelError).cause).toBeInstanceOf(Error);
    expect((error as KernelError).cause).not.toBeInstanceOf(KernelError);
  });

  it("maps argument checks of asynchronous kernels (thrown before any work starts) and their rejections", async () => {
    const shape = { tokens: 2, inFeatures: 3, outFeatures: 4 };
    const early = caught(() => matmulAsync(new Float32Array(5), new Float32Array(12), shape));
    expect(early).toBeInstanceOf(KernelError);
    expect(early).toMatchObject({ code: "E_SHAPE", message: expect.stringContaining("x has length 5") });
    // A NaN logit is found by the kernel, on the worker thread: the promise rejects.
    const logits = Float32Array.of(0, 1, Number.NaN, 2);
    const rejection = sampleAsync(logits, { rows: 1, vocab: 4 }, { seed: 1 });
    await expect(rejection).rejects.toBeInstanceOf(KernelError);
    await expect(rejection).rejects.toMatchObject({
      code: "E_NONFINITE_LOGITS",
      message: expect.stringContaining("index 2"),
    });
  });

  it("maps the native model's constructor and methods", () => {
    const addon = loadAddon();
    const broken = caught(() => new addon.LlamaModel({ ...config, numHeads: 3 }));
    expect(broken).toBeInstanceOf(KernelError);
    expect((broken as KernelError).code).toMatch(/^E_(ARGUMENT|SHAPE)$/);
    const model = new addon.LlamaModel(config);
    expect(model.tensorNames()).toContain("model.embed_tokens.weight");
    const missing = caught(() => model.setTensor("model.embed_tokens.weight", new Float32Array(3)));
    expect(missing).toBeInstanceOf(KernelError);
    expect((missing as KernelError).code).toBe("E_SHAPE");
    const labels = caught(() => model.lossAndGrad(Int32Array.of(1, 2), Int32Array.of(1), { mode: "full" } as never));
    expect(labels).toBeInstanceOf(KernelError);
    expect(labels).toMatchObject({ code: "E_SHAPE", message: expect.stringContaining("labels has length 1") });
  });

  it("names the argument in every native typed-array check (one helper in napi/arguments.h)", () => {
    // Straight to the addon, past the TypeScript checks, so the messages come from the C++ helper.
    const addon = loadAddon();
    const wrongType = (run: () => unknown, text: string) => {
      const error = caught(run);
      expect(error).toMatchObject({ code: "E_TYPE", message: expect.stringContaining(text) });
    };
    wrongType(
      () =>
        addon.matmul(new Float32Array(6), new Int32Array(12) as never, { tokens: 2, inFeatures: 3, outFeatures: 4 }),
      "w must be a Float32Array",
    );
    wrongType(
      () =>
        addon.matmul(new Float64Array(6) as never, new Float32Array(12), { tokens: 2, inFeatures: 3, outFeatures: 4 }),
      "x must be a Float32Array",
    );
    wrongType(
      () => addon.earthMoversDistance(new Float32Array(1) as never, Float64Array.of(1), Float64Array.of(0)),
      "a must be a Float64Array",
    );
    expect(
      caught(() => addon.earthMoversDistance(Float64Array.of(1), Float64Array.of(1), new Float64Array(2))),
    ).toMatchObject({
      code: "E_SHAPE",
      message: expect.stringContaining("costs has length 2, expected 1"),
    });
    expect(
      caught(() => addon.earthMoversDistance(new Float64Array(0), Float64Array.of(1), Float64Array.of(0))),
    ).toMatchObject({
      code: "E_SHAPE",
      message: expect.stringContaining("a must not be empty"),
    });
    const model = new addon.LlamaModel(config);
    wrongType(
      () => model.setTensor("model.norm.weight", new Int8Array(8) as never),
      'data for tensor "model.norm.weight" must be a Float32Array or a',
    );
    wrongType(() => model.forward(Float32Array.of(1, 2) as never), "tokens must be an Int32Array");
    wrongType(
      () => model.forward(Int32Array.of(1, 2), { batch: 1, paddings: Float32Array.of(0) } as never),
      "options.paddings must be an Int32Array",
    );
    expect(
      caught(() => model.forward(Int32Array.of(1, 2), { batch: 1, paddings: Int32Array.of(0, 0) } as never)),
    ).toMatchObject({
      code: "E_SHAPE",
      message: expect.stringContaining("options.paddings has length 2, expected 1 (one per sequence)"),
    });
  });

  it("leaves errors without a stable code unchanged", () => {
    const plain = new Error("not native");
    expect(asKernelError(plain)).toBe(plain);
    const foreign = Object.assign(new Error("fs"), { code: "ENOENT" });
    expect(asKernelError(foreign)).toBe(foreign);
    expect(asKernelError("text")).toBe("text");
  });
});
