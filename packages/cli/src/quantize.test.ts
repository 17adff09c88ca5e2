// `pillow quantize` and `--model FILE.gguf`, run as the binary users run: the file holds Q8_0/Q4_0/Q4_K
// matrices, and `pillow generate` on it prints what the library's greedy generation on the same file gives.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createTinyModel, GGML_TYPES, loadModel, readGguf } from "@pillow/core";
import { afterAll, describe, expect, it } from "vitest";

const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "dist", "bin.js");
const root = fs.mkdtempSync(path.join(os.tmpdir(), "pillow-quantize-"));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function pillow(args: string[]) {
  const result = spawnSync(process.execPath, [bin, "--threads", "2", ...args], { encoding: "utf8", timeout: 120_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const modelDir = path.join(root, "model");
createTinyModel(modelDir, {
  hiddenSize: 64,
  intermediateSize: 96,
  numLayers: 2,
  numHeads: 4,
  numKeyValueHeads: 2,
  seed: 9,
  initStd: 0.1,
});

/** `pillow generate --model FILE.gguf` runs `file` and prints the library's greedy text on it. */
async function expectGenerateToPrintTheLibrarysText(file: string): Promise<void> {
  const generated = pillow(["generate", "--model", file, "--raw", "--max-tokens", "12", "abc"]);
  expect(generated.status, generated.stderr).toBe(0);
  const model = await loadModel(file, { threads: 2 });
  const expected = await model.generate("abc", { maxNewTokens: 12, temperature: 0 });
  model.dispose();
  expect(generated.stdout).toBe(`${expected.text}\n`);
}

describe("pillow quantize", () => {
  for (const type of ["q8_0", "q4_0"]) {
    it(`--type ${type}: every matrix in ${type.toUpperCase()}, and pillow generate --model FILE.gguf runs it`, async () => {
      const out = path.join(root, `model-${type}.gguf`);
      const result = pillow(["quantize", "--model", modelDir, "--type", type, "--out", out, "--json"]);
      expect(result.status, result.stderr).toBe(0);
      expect(JSON.parse(result.stdout).type).toBe(type);
      const matrices = readGguf(out).tensors.filter((tensor) => tensor.dims.length === 2);
      expect(matrices.length).toBe(2 * 7 + 1); // tied embeddings: no output.weight
      expect(new Set(matrices.map((tensor) => GGML_TYPES[tensor.type].name))).toEqual(new Set([type.toUpperCase()]));

      await expectGenerateToPrintTheLibrarysText(out);
    });
  }

  it("--type q4_k: matrices of whole 256-value rows in Q4_K, the others in Q4_0; pillow generate runs it", async () => {
    // hidden 256 makes q/k/v/o, gate/up and the embedding's rows whole super-blocks; down_proj's rows
    // hold the intermediate 320 values (10 blocks of 32, not whole super-blocks), so it falls back.
    const wideDir = path.join(root, "model-256");
    createTinyModel(wideDir, {
      hiddenSize: 256,
      intermediateSize: 320,
      numLayers: 2,
      numHeads: 4,
      numKeyValueHeads: 2,
      seed: 9,
      initStd: 0.05,
    });
    const out = path.join(root, "model-q4_k.gguf");
    const result = pillow(["quantize", "--model", wideDir, "--type", "q4_k", "--out", out, "--json"]);
    expect(result.status, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout).type).toBe("q4_k");
    const file = readGguf(out);
    expect(file.metadata.get("general.file_type")).toBe(14); // LLAMA_FTYPE_MOSTLY_Q4_K_S
    const matrices = file.tensors.filter((tensor) => tensor.dims.length === 2);
    expect(matrices.length).toBe(2 * 7 + 1);
    for (const tensor of matrices) {
      const expected = tensor.name.endsWith("ffn_down.weight") ? "Q4_0" : "Q4_K";
      expect(GGML_TYPES[tensor.type].name, tensor.name).toBe(expected);
    }

    await expectGenerateToPrintTheLibrarysText(out);
  });

  it("explains bad input", () => {
    const type = pillow(["quantize", "--model", modelDir, "--type", "q5_k", "--out", path.join(root, "x.gguf")]);
    expect(type.status).toBe(2);
    expect(type.stderr).toContain('--type must be one of q8_0, q4_0, q4_k, got "q5_k"');
    const missing = pillow(["generate", "--model", path.join(root, "absent.gguf"), "hi"]);
    expect(missing.status).toBe(3);
    expect(missing.stderr).toContain("absent.gguf");
  });
});
