import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { KernelError } from "@pillow/lora-kernels";
import { afterAll, describe, expect, it } from "vitest";
import { ModelError } from "./errors.js";
import { loadModel } from "./load-model.js";
import { createTinyModel } from "./tiny-model.js";

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "pillow-errors-"));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

describe("typed errors", () => {
  it("ModelError carries one of its stable codes", () => {
    const error = new ModelError("E_NO_TOKENIZER", "no tokenizer");
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe("ModelError");
    expect(error.code).toBe("E_NO_TOKENIZER");
    // @ts-expect-error: codes are a closed union (checked by `pnpm typecheck`).
    expect(new ModelError("E_WHATEVER", "x").code).toBe("E_WHATEVER");
  });

  it("a native failure reached through a loaded model is a KernelError, a runtime check a ModelError", async () => {
    const dir = path.join(scratch, "tiny");
    createTinyModel(dir, { hiddenSize: 8, numLayers: 1, numHeads: 2, seed: 1 });
    const model = await loadModel(dir);
    // The native side checks the tensor's length against config.json's shape.
    const native = (() => {
      try {
        model.native.setTensor("model.norm.weight", new Float32Array(3));
      } catch (error) {
        return error;
      }
    })();
    expect(native).toBeInstanceOf(KernelError);
    expect(native).toMatchObject({ code: "E_SHAPE" });
    expect(() => model.forward(new Int32Array(0))).toThrow(ModelError);
  });
});
