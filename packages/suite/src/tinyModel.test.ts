import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { describe, expect, it } from "vitest";
import { tinyModelConfig, tinyModelDir, writeTinyModelAssets } from "./tinyModel.js";

describe("tiny model assets", () => {
  it("writes an HF LLaMA config whose vocabulary matches the tokenizer it writes beside it", async () => {
    const directory = await mkdtemp(path.join(tmpdir(), "tiny-assets-"));
    try {
      await writeTinyModelAssets(directory);
      const read = async (name: string) => JSON.parse(await readFile(path.join(directory, name), "utf8"));
      const config = await read("config.json");
      const tokenizerJson = await read("tokenizer.json");
      const tokenizerConfig = await read("tokenizer_config.json");
      expect(config.architectures).toEqual(["LlamaForCausalLM"]);
      expect(config.hidden_size / config.num_attention_heads).toBe(config.head_dim);
      expect(config.num_attention_heads % config.num_key_value_heads).toBe(0);
      expect(config.tie_word_embeddings).toBe(true);
      expect(config.vocab_size).toBe(Object.keys(tokenizerJson.model.vocab).length + tokenizerJson.added_tokens.length);
      const tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
      expect(tokenizer.encode("A").ids).toEqual([config.bos_token_id, 65]);
      expect((await read("generation_config.json")).eos_token_id).toBe(config.eos_token_id);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
    expect(() =>
      tinyModelConfig({ hiddenSize: 100, layers: 1, attentionHeads: 3, keyValueHeads: 1, intermediateSize: 8 }),
    ).toThrow(/must divide/);
  });

  it("points tinyModelDir at the package's model folder", () => {
    expect(path.basename(tinyModelDir)).toBe("model");
    expect(path.basename(path.dirname(tinyModelDir))).toBe("suite");
  });
});
