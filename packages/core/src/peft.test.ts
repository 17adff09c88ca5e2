import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError } from "./errors.js";
import {
  hfTensorName,
  isLoraTarget,
  LINEAR_MODULES,
  loraScale,
  parseAdapterConfig,
  parsePeftTensorName,
  peftTensorName,
  readAdapterConfig,
  writeAdapterConfig,
} from "./peft.js";

// adapter_config.json as PEFT 0.13 writes it for LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj","v_proj"]).
const peftWritten = {
  alpha_pattern: {},
  auto_mapping: null,
  base_model_name_or_path: "meta-llama/Llama-3.2-1B",
  bias: "none",
  fan_in_fan_out: false,
  inference_mode: true,
  init_lora_weights: true,
  layer_replication: null,
  layers_pattern: null,
  layers_to_transform: null,
  loftq_config: {},
  lora_alpha: 16,
  lora_dropout: 0.05,
  megatron_config: null,
  megatron_core: "megatron.core",
  modules_to_save: null,
  peft_type: "LORA",
  r: 8,
  rank_pattern: {},
  revision: null,
  target_modules: ["v_proj", "q_proj"],
  task_type: "CAUSAL_LM",
  use_dora: false,
  use_rslora: false,
};

describe("tensor names", () => {
  it("builds PEFT and HF names", () => {
    expect(peftTensorName(0, "q_proj", "A")).toBe("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
    expect(peftTensorName(11, "down_proj", "B")).toBe("base_model.model.model.layers.11.mlp.down_proj.lora_B.weight");
    expect(hfTensorName(0, "q_proj")).toBe("model.layers.0.self_attn.q_proj.weight");
    expect(hfTensorName(3, "gate_proj")).toBe("model.layers.3.mlp.gate_proj.weight");
    expect(hfTensorName(3, "k_proj", "bias")).toBe("model.layers.3.self_attn.k_proj.bias");
  });

  it("parses every name it builds, and PEFT's in-memory variant", () => {
    for (const module of LINEAR_MODULES) {
      for (const part of ["A", "B"] as const)
        expect(parsePeftTensorName(peftTensorName(7, module, part))).toEqual({ layer: 7, module, part });
    }
    expect(parsePeftTensorName("base_model.model.model.layers.2.mlp.up_proj.lora_B.default.weight")).toEqual({
      layer: 2,
      module: "up_proj",
      part: "B",
    });
    expect(parsePeftTensorName("base_model.model.model.layers.2.mlp.q_proj.lora_A.weight")).toBeNull();
    expect(parsePeftTensorName("base_model.model.lm_head.lora_A.weight")).toBeNull();
    expect(parsePeftTensorName("model.layers.0.self_attn.q_proj.weight")).toBeNull();
  });
});

describe("adapter config", () => {
  it("reads what PEFT writes", () => {
    const config = parseAdapterConfig(peftWritten, "a/adapter_config.json");
    expect(config).toEqual({
      r: 8,
      alpha: 16,
      targetModules: ["q_proj", "v_proj"],
      dropout: 0.05,
      rslora: false,
      bias: "none",
      baseModel: "meta-llama/Llama-3.2-1B",
    });
    expect(loraScale(config)).toBe(2);
    expect(loraScale({ ...config, rslora: true })).toBeCloseTo(16 / Math.sqrt(8), 12);
  });

  it("resolves target_modules given as a regex, all-linear or dotted suffixes", () => {
    const regex = parseAdapterConfig(
      { ...peftWritten, target_modules: ".*\\.layers\\.[01]\\.self_attn\\.(q|k)_proj" },
      "x",
    );
    expect(regex.targetModules).toEqual(["q_proj", "k_proj"]);
    expect(isLoraTarget(regex, 1, "q_proj")).toBe(true);
    expect(isLoraTarget(regex, 2, "q_proj")).toBe(false);
    expect(isLoraTarget(regex, 0, "v_proj")).toBe(false);
    expect(parseAdapterConfig({ ...peftWritten, target_modules: "all-linear" }, "x").targetModules).toEqual([
      ...LINEAR_MODULES,
    ]);
    expect(
      parseAdapterConfig({ ...peftWritten, target_modules: ["self_attn.o_proj", "mlp.down_proj"] }, "x").targetModules,
    ).toEqual(["o_proj", "down_proj"]);
    const someLayers = parseAdapterConfig({ ...peftWritten, layers_to_transform: [0, 2] }, "x");
    expect(isLoraTarget(someLayers, 2, "v_proj")).toBe(true);
    expect(isLoraTarget(someLayers, 1, "v_proj")).toBe(false);
  });

  it("names the file and field for what it cannot honour", () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ r: undefined }, "r: missing"],
      [{ r: 0 }, "r:"],
      [{ lora_alpha: "16" }, "lora_alpha"],
      [{ peft_type: "IA3" }, "peft_type"],
      [{ bias: "all" }, "bias"],
      [{ use_dora: true }, "use_dora"],
      [{ target_modules: ["lm_head"] }, "lm_head"],
      [{ target_modules: "(" }, "regular expression"],
      [{ rank_pattern: { q_proj: 4 } }, "rank_pattern"],
      [{ modules_to_save: ["lm_head"] }, "modules_to_save"],
    ];
    for (const [change, fragment] of cases) {
      expect(() => parseAdapterConfig({ ...peftWritten, ...change }, "a/adapter_config.json")).toThrowError(
        ConfigError,
      );
      expect(() => parseAdapterConfig({ ...peftWritten, ...change }, "a/adapter_config.json")).toThrowError(
        new RegExp(`a/adapter_config\\.json.*${fragment.replace(/[()]/g, "\\$&")}`),
      );
    }
  });

  it("writes the JSON PEFT writes, and reads it back", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pillow-peft-"));
    try {
      expect(() => readAdapterConfig(dir)).toThrowError(/adapter_config\.json: not found/);
      const config = {
        r: 16,
        alpha: 32,
        targetModules: ["v_proj", "q_proj"] as ("q_proj" | "v_proj")[],
        dropout: 0,
        rslora: true,
        bias: "none" as const,
        baseModel: "tiny",
      };
      writeAdapterConfig(dir, config);
      const json = JSON.parse(fs.readFileSync(path.join(dir, "adapter_config.json"), "utf8"));
      expect(json).toMatchObject({
        peft_type: "LORA",
        task_type: "CAUSAL_LM",
        r: 16,
        lora_alpha: 32,
        target_modules: ["q_proj", "v_proj"],
        lora_dropout: 0,
        use_rslora: true,
        bias: "none",
        base_model_name_or_path: "tiny",
        use_dora: false,
        fan_in_fan_out: false,
      });
      expect(readAdapterConfig(dir)).toEqual({ ...config, targetModules: ["q_proj", "v_proj"] });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
