// `pillow export gguf|peft` and `pillow bench`, run as the binary users run.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createTinyModel, loadModel, readGguf, SafetensorsFile, train } from "@pillow/core";
import { afterAll, describe, expect, it } from "vitest";

const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "dist", "bin.js");
const root = fs.mkdtempSync(path.join(os.tmpdir(), "pillow-export-"));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function pillow(args: string[]) {
  const result = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 120_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const modelDir = path.join(root, "model");
createTinyModel(modelDir, { hiddenSize: 32, numLayers: 2, numHeads: 4, numKeyValueHeads: 2, seed: 5 });

describe("pillow export", () => {
  it("gguf: the model with every tensor, readable back", () => {
    const out = path.join(root, "model.gguf");
    const result = pillow(["export", "gguf", "--model", modelDir, "--out", out, "--json"]);
    expect(result.status, result.stderr).toBe(0);
    const summary = JSON.parse(result.stdout);
    const gguf = readGguf(out);
    expect(gguf.tensors.length).toBe(summary.tensors);
    // 2 layers × (4 attention + 3 MLP + 2 norms) + embeddings + final norm (tied: no output.weight)
    expect(summary.tensors).toBe(2 * 9 + 2);
    expect(gguf.tensors.map((t: { name: string }) => t.name)).toContain("blk.1.attn_q.weight");
  });

  it("peft + gguf: the adapter of a training checkpoint, byte-identical, then as a GGUF LoRA", async () => {
    const model = await loadModel(modelDir);
    model.addAdapter("task", { r: 4, alpha: 8, targetModules: ["q_proj", "v_proj"], seed: 2 });
    model.setActiveAdapter("task");
    const checkpoints = path.join(root, "checkpoints");
    await train(
      model,
      [
        { prompt: "1+1=", response: "2" },
        { prompt: "2+2=", response: "4" },
      ],
      { epochs: 2, lr: 1e-2, checkpointDir: checkpoints, checkpointEvery: 1 },
    );
    const latest = JSON.parse(fs.readFileSync(path.join(checkpoints, "latest.json"), "utf8")).checkpoint;

    const adapter = path.join(root, "adapter");
    const peft = pillow(["export", "peft", "--checkpoint", checkpoints, "--out", adapter, "--json"]);
    expect(peft.status, peft.stderr).toBe(0);
    expect(JSON.parse(peft.stdout).r).toBe(4);
    const original = fs.readFileSync(path.join(checkpoints, latest, "adapter", "adapter_model.safetensors"));
    expect(fs.readFileSync(path.join(adapter, "adapter_model.safetensors")).equals(original)).toBe(true);
    const tensors = SafetensorsFile.open(path.join(adapter, "adapter_model.safetensors"));
    expect(tensors.has("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight")).toBe(true);
    tensors.close();
    // Refuses to overwrite.
    expect(pillow(["export", "peft", "--checkpoint", checkpoints, "--out", adapter]).status).toBe(2);

    const out = path.join(root, "adapter.gguf");
    const gguf = pillow(["export", "gguf", "--model", modelDir, "--adapter", adapter, "--out", out, "--dtype", "f16"]);
    expect(gguf.status, gguf.stderr).toBe(0);
    const names = readGguf(out).tensors.map((t: { name: string }) => t.name);
    // q and v in 2 layers, A and B each
    expect(names.length).toBe(8);
    expect(names).toContain("blk.0.attn_q.weight.lora_a");
  });

  it("explains bad input", () => {
    const missing = pillow([
      "export",
      "peft",
      "--checkpoint",
      path.join(root, "nothing"),
      "--out",
      path.join(root, "x"),
    ]);
    expect(missing.status).toBe(3);
    expect(missing.stderr).toContain("latest.json");
    const dtype = pillow(["export", "gguf", "--model", modelDir, "--out", path.join(root, "y.gguf"), "--dtype", "q4"]);
    expect(dtype.status).toBe(2);
    expect(dtype.stderr).toContain("--dtype must be f32 or f16");
  });
});

describe("pillow bench", () => {
  it("--quick --json gives positive, finite medians for every row", () => {
    const result = pillow(["--threads", "2", "bench", "--quick", "--json", "--model", modelDir]);
    expect(result.status, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout);
    const names = report.rows.map((row: { name: string }) => row.name);
    expect(names).toEqual([
      "fused LoRA matmul",
      "unfused LoRA (3 GEMMs)",
      "top-p sampling",
      "prefill",
      "decode (greedy, KV cache)",
      "LoRA training",
    ]);
    for (const row of report.rows) expect(Number.isFinite(row.median) && row.median > 0, row.name).toBe(true);
  });
});
