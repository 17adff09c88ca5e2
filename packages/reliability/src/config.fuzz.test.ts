// HF config.json and PEFT adapter_config.json parsers on mutated documents: a parsed config or a
// ConfigError naming the field, never a TypeError or a config with impossible numbers.
import { ConfigError, parseAdapterConfig, parseModelConfig } from "@pillow/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { recordFuzzCases } from "./fuzz-count.js";

const validModelConfig = {
  architectures: ["LlamaForCausalLM"],
  hidden_size: 64,
  intermediate_size: 172,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  vocab_size: 259,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  max_position_embeddings: 512,
  tie_word_embeddings: true,
  bos_token_id: 1,
  eos_token_id: 2,
};
const validAdapterConfig = {
  peft_type: "LORA",
  task_type: "CAUSAL_LM",
  r: 8,
  lora_alpha: 16,
  target_modules: ["q_proj", "v_proj"],
  lora_dropout: 0.05,
  bias: "none",
};

const hostileValue = fc.oneof(
  fc.integer({ min: -5, max: 5 }),
  fc.double(),
  fc.constantFrom(0, -1, 2 ** 60, Number.NaN, null, true, "", "12", [], {}),
  fc.string({ maxLength: 20 }),
  fc.array(fc.string({ maxLength: 8 }), { maxLength: 3 }),
);

function mutated<T extends Record<string, unknown>>(base: T) {
  return fc
    .array(
      fc.tuple(fc.constantFrom(...Object.keys(base), "unknown_field"), fc.oneof(hostileValue, fc.constant(undefined))),
      {
        minLength: 1,
        maxLength: 4,
      },
    )
    .map((changes) => {
      const copy: Record<string, unknown> = { ...base };
      for (const [key, value] of changes) {
        if (value === undefined) delete copy[key];
        else copy[key] = value;
      }
      return copy;
    });
}

describe("config parsers under fuzzing", () => {
  it("model config: parsed with sane numbers, or ConfigError", () => {
    const runs = 2000;
    fc.assert(
      fc.property(fc.oneof(mutated(validModelConfig), hostileValue), (json) => {
        try {
          const config = parseModelConfig(json, "fuzz/config.json");
          for (const value of [
            config.hiddenSize,
            config.numLayers,
            config.numHeads,
            config.numKeyValueHeads,
            config.vocabSize,
            config.headDim,
          ]) {
            expect(Number.isSafeInteger(value) && value > 0).toBe(true);
          }
          expect(config.numHeads % config.numKeyValueHeads).toBe(0);
          expect(Number.isFinite(config.rmsNormEps) && config.rmsNormEps > 0).toBe(true);
        } catch (error) {
          if (!(error instanceof ConfigError)) throw error;
          expect(error.message).toContain("fuzz/config.json");
        }
      }),
      { numRuns: runs, seed: 11 },
    );
    recordFuzzCases("config.json parser", runs);
  });

  it("adapter config: parsed with a positive rank, or ConfigError", () => {
    const runs = 2000;
    fc.assert(
      fc.property(fc.oneof(mutated(validAdapterConfig), hostileValue), (json) => {
        try {
          const config = parseAdapterConfig(json, "fuzz/adapter_config.json");
          expect(Number.isSafeInteger(config.r) && config.r > 0).toBe(true);
          expect(Number.isFinite(config.alpha)).toBe(true);
          expect(config.targetModules.length).toBeGreaterThan(0);
        } catch (error) {
          if (!(error instanceof ConfigError)) throw error;
          expect(error.message).toContain("fuzz/adapter_config.json");
        }
      }),
      { numRuns: runs, seed: 12 },
    );
    recordFuzzCases("adapter_config.json parser", runs);
  });
});
