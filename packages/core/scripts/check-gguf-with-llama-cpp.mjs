// Cross-check of the GGUF exporter against llama.cpp itself (through node-llama-cpp): writes a small
// random LLaMA-family checkpoint, exports it (F32, F16) and a LoRA adapter with @pillow/core, loads
// them in llama.cpp, and compares llama.cpp's logits with a plain float64 reference forward of the
// HF model written below. node-llama-cpp is not a dependency of pillow; install it anywhere and pass
// its folder:
//   (cd /tmp/x && npm install node-llama-cpp) && node packages/core/scripts/check-gguf-with-llama-cpp.mjs /tmp/x
import fs from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const core = await import(pathToFileURL(path.join(here, "..", "dist", "index.js")).href);
const installFolder = path.resolve(process.argv[2] ?? ".");
const llamaEntry = createRequire(path.join(installFolder, "package.json")).resolve("node-llama-cpp");
const { getLlama, LlamaLogLevel } = await import(pathToFileURL(llamaEntry).href);

function random(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
  };
}

function byteToUnicode() {
  const printable = [];
  for (let b = 33; b <= 126; b++) printable.push(b);
  for (let b = 161; b <= 172; b++) printable.push(b);
  for (let b = 174; b <= 255; b++) printable.push(b);
  const table = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++)
    table[b] = printable.includes(b) ? String.fromCharCode(b) : String.fromCharCode(256 + extra++);
  return table;
}

function tokenizerJson() {
  const vocab = {};
  byteToUnicode().forEach((character, index) => {
    vocab[character] = index;
  });
  const merges = ["h e", "l l", "he ll", "hell o", "Ġ w", "o r", "Ġw or", "Ġwor l", "Ġworl d", "Ġ t"];
  let next = 256;
  for (const merge of merges) vocab[merge.replace(" ", "")] = next++;
  const specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"];
  return {
    version: "1.0",
    added_tokens: specials.map((content, i) => ({
      id: 266 + i,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [
        {
          type: "Split",
          pattern: {
            Regex:
              "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
          },
          behavior: "Isolated",
          invert: false,
        },
        { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "<|begin_of_text|>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      pair: [
        { SpecialToken: { id: "<|begin_of_text|>", type_id: 0 } },
        { Sequence: { id: "A", type_id: 0 } },
        { Sequence: { id: "B", type_id: 1 } },
      ],
      special_tokens: { "<|begin_of_text|>": { id: "<|begin_of_text|>", ids: [266], tokens: ["<|begin_of_text|>"] } },
    },
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: true,
      vocab,
      merges,
    },
  };
}

/** Plain float64 HF LLaMA forward (rotate_half rope, GQA, SwiGLU); returns logits of the last position. */
function referenceLogits(config, weights, tokens, lora) {
  const {
    hiddenSize: d,
    headDim,
    numHeads,
    numKeyValueHeads,
    numLayers,
    intermediateSize,
    vocabSize,
    rmsNormEps,
    ropeTheta,
  } = config;
  const weight = (name) => weights[name].data;
  const effective = (name, layer, module) => {
    const base = weight(name);
    if (!lora) return base;
    const a = lora.tensors[core.peftTensorName(layer, module, "A")];
    const b = lora.tensors[core.peftTensorName(layer, module, "B")];
    if (!a) return base;
    const [r, columns] = a.shape;
    const rows = b.shape[0];
    const merged = Float64Array.from(base);
    for (let i = 0; i < rows; i++)
      for (let j = 0; j < columns; j++)
        for (let k = 0; k < r; k++) merged[i * columns + j] += lora.scale * b.data[i * r + k] * a.data[k * columns + j];
    return merged;
  };
  const matVec = (m, rows, columns, x) => {
    const out = new Float64Array(rows);
    for (let i = 0; i < rows; i++) {
      let sum = 0;
      for (let j = 0; j < columns; j++) sum += m[i * columns + j] * x[j];
      out[i] = sum;
    }
    return out;
  };
  const rmsNorm = (x, w) => {
    let sum = 0;
    for (const v of x) sum += v * v;
    const scale = 1 / Math.sqrt(sum / x.length + rmsNormEps);
    return x.map((v, i) => v * scale * w[i]);
  };
  // HF's inverse frequencies, with Llama-3 scaling over its three wavelength bands.
  const inverseFrequencies = Array.from({ length: headDim / 2 }, (_, i) => {
    const base = 1 / ropeTheta ** ((2 * i) / headDim);
    const scaling = config.ropeScaling;
    // PILLOW_CHECK_IGNORE_ROPE_SCALING=1 shows the check is sensitive to the scaling (it then fails).
    if (scaling?.type !== "llama3" || process.env.PILLOW_CHECK_IGNORE_ROPE_SCALING) return base;
    const wavelength = (2 * Math.PI) / base;
    const original = scaling.originalMaxPositionEmbeddings;
    if (wavelength < original / scaling.highFreqFactor) return base;
    if (wavelength > original / scaling.lowFreqFactor) return base / scaling.factor;
    const smooth = (original / wavelength - scaling.lowFreqFactor) / (scaling.highFreqFactor - scaling.lowFreqFactor);
    return (1 - smooth) * (base / scaling.factor) + smooth * base;
  });
  const rope = (v, heads, position) => {
    const half = headDim / 2;
    const out = new Float64Array(v.length);
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < half; i++) {
        const angle = position * inverseFrequencies[i];
        const a = v[h * headDim + i];
        const b = v[h * headDim + i + half];
        out[h * headDim + i] = a * Math.cos(angle) - b * Math.sin(angle);
        out[h * headDim + i + half] = b * Math.cos(angle) + a * Math.sin(angle);
      }
    }
    return out;
  };
  const embed = weight("model.embed_tokens.weight");
  let states = tokens.map((token) => Float64Array.from(embed.subarray(token * d, (token + 1) * d)));
  const group = numHeads / numKeyValueHeads;
  for (let layer = 0; layer < numLayers; layer++) {
    const p = `model.layers.${layer}`;
    const wq = effective(`${p}.self_attn.q_proj.weight`, layer, "q_proj");
    const wk = effective(`${p}.self_attn.k_proj.weight`, layer, "k_proj");
    const wv = effective(`${p}.self_attn.v_proj.weight`, layer, "v_proj");
    const wo = effective(`${p}.self_attn.o_proj.weight`, layer, "o_proj");
    const normed = states.map((x) => rmsNorm(x, weight(`${p}.input_layernorm.weight`)));
    const biased = (v, name) => (config.attentionBias ? v.map((value, i) => value + weight(name)[i]) : v);
    const qs = normed.map((x, t) =>
      rope(biased(matVec(wq, numHeads * headDim, d, x), `${p}.self_attn.q_proj.bias`), numHeads, t),
    );
    const ks = normed.map((x, t) =>
      rope(biased(matVec(wk, numKeyValueHeads * headDim, d, x), `${p}.self_attn.k_proj.bias`), numKeyValueHeads, t),
    );
    const vs = normed.map((x) => biased(matVec(wv, numKeyValueHeads * headDim, d, x), `${p}.self_attn.v_proj.bias`));
    states = states.map((x, t) => {
      const attention = new Float64Array(numHeads * headDim);
      for (let h = 0; h < numHeads; h++) {
        const kv = Math.floor(h / group);
        const scores = [];
        for (let s = 0; s <= t; s++) {
          let dot = 0;
          for (let i = 0; i < headDim; i++) dot += qs[t][h * headDim + i] * ks[s][kv * headDim + i];
          scores.push(dot / Math.sqrt(headDim));
        }
        const max = Math.max(...scores);
        const exps = scores.map((score) => Math.exp(score - max));
        const total = exps.reduce((a, b) => a + b, 0);
        for (let s = 0; s <= t; s++)
          for (let i = 0; i < headDim; i++) attention[h * headDim + i] += (exps[s] / total) * vs[s][kv * headDim + i];
      }
      const afterAttention = x.map((v, i) => v + matVec(wo, d, numHeads * headDim, attention)[i]);
      const h2 = rmsNorm(afterAttention, weight(`${p}.post_attention_layernorm.weight`));
      const gate = matVec(effective(`${p}.mlp.gate_proj.weight`, layer, "gate_proj"), intermediateSize, d, h2);
      const up = matVec(effective(`${p}.mlp.up_proj.weight`, layer, "up_proj"), intermediateSize, d, h2);
      const hidden = gate.map((g, i) => (g / (1 + Math.exp(-g))) * up[i]);
      const down = matVec(effective(`${p}.mlp.down_proj.weight`, layer, "down_proj"), d, intermediateSize, hidden);
      return afterAttention.map((v, i) => v + down[i]);
    });
  }
  const last = rmsNorm(states[states.length - 1], weight("model.norm.weight"));
  return matVec(config.tieWordEmbeddings ? embed : weight("lm_head.weight"), vocabSize, d, last);
}

function makeWeights(config, seed) {
  const next = random(seed);
  const tensors = {};
  const make = (name, shape, scale = 0.4) => {
    tensors[name] = {
      shape,
      data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => next() * scale),
    };
  };
  const { hiddenSize: d, headDim, numHeads, numKeyValueHeads, intermediateSize, vocabSize } = config;
  make("model.embed_tokens.weight", [vocabSize, d], 2);
  tensors["model.norm.weight"] = { shape: [d], data: Float32Array.from({ length: d }, () => 1 + next() * 0.2) };
  if (!config.tieWordEmbeddings) make("lm_head.weight", [vocabSize, d]);
  for (let layer = 0; layer < config.numLayers; layer++) {
    const p = `model.layers.${layer}`;
    tensors[`${p}.input_layernorm.weight`] = {
      shape: [d],
      data: Float32Array.from({ length: d }, () => 1 + next() * 0.2),
    };
    tensors[`${p}.post_attention_layernorm.weight`] = {
      shape: [d],
      data: Float32Array.from({ length: d }, () => 1 + next() * 0.2),
    };
    make(`${p}.self_attn.q_proj.weight`, [numHeads * headDim, d]);
    make(`${p}.self_attn.k_proj.weight`, [numKeyValueHeads * headDim, d]);
    make(`${p}.self_attn.v_proj.weight`, [numKeyValueHeads * headDim, d]);
    make(`${p}.self_attn.o_proj.weight`, [d, numHeads * headDim]);
    make(`${p}.mlp.gate_proj.weight`, [intermediateSize, d]);
    make(`${p}.mlp.up_proj.weight`, [intermediateSize, d]);
    make(`${p}.mlp.down_proj.weight`, [d, intermediateSize]);
    if (config.attentionBias) {
      make(`${p}.self_attn.q_proj.bias`, [numHeads * headDim]);
      make(`${p}.self_attn.k_proj.bias`, [numKeyValueHeads * headDim]);
      make(`${p}.self_attn.v_proj.bias`, [numKeyValueHeads * headDim]);
    }
  }
  return tensors;
}

function makeLora(config, r, seed) {
  const next = random(seed);
  const tensors = {};
  const q = config.numHeads * config.headDim;
  const kv = config.numKeyValueHeads * config.headDim;
  const outputs = {
    q_proj: q,
    k_proj: kv,
    v_proj: kv,
    o_proj: config.hiddenSize,
    gate_proj: config.intermediateSize,
    up_proj: config.intermediateSize,
    down_proj: config.hiddenSize,
  };
  const inputs = {
    q_proj: config.hiddenSize,
    k_proj: config.hiddenSize,
    v_proj: config.hiddenSize,
    o_proj: q,
    gate_proj: config.hiddenSize,
    up_proj: config.hiddenSize,
    down_proj: config.intermediateSize,
  };
  for (let layer = 0; layer < config.numLayers; layer++) {
    for (const module of core.LINEAR_MODULES) {
      tensors[core.peftTensorName(layer, module, "A")] = {
        shape: [r, inputs[module]],
        data: Float32Array.from({ length: r * inputs[module] }, () => next() * 0.5),
      };
      tensors[core.peftTensorName(layer, module, "B")] = {
        shape: [outputs[module], r],
        data: Float32Array.from({ length: outputs[module] * r }, () => next() * 0.5),
      };
    }
  }
  return tensors;
}

function compare(label, expected, actual) {
  let maxError = 0;
  let maxMagnitude = 0;
  let argmaxExpected = 0;
  let argmaxActual = 0;
  for (let i = 0; i < expected.length; i++) {
    maxError = Math.max(maxError, Math.abs(expected[i] - actual[i]));
    maxMagnitude = Math.max(maxMagnitude, Math.abs(expected[i]));
    if (expected[i] > expected[argmaxExpected]) argmaxExpected = i;
    if (actual[i] > actual[argmaxActual]) argmaxActual = i;
  }
  const relative = maxError / maxMagnitude;
  console.log(
    `${label}: max |Δlogit| ${maxError.toExponential(2)} (relative to max |logit| ${relative.toExponential(2)}), argmax ${argmaxExpected} vs ${argmaxActual}`,
  );
  return relative;
}

const llama = await getLlama({ gpu: false, logLevel: LlamaLogLevel.error });
const folder = fs.mkdtempSync(path.join(os.tmpdir(), "pillow-gguf-check-"));
const tokenizer = tokenizerJson();
const tokenizerConfig = { bos_token: "<|begin_of_text|>", eos_token: "<|eot_id|>" };
const pillowTokenizer = core.Tokenizer.fromJson(tokenizer, tokenizerConfig);
let failures = 0;
// 48 positions, so low rotary frequencies (the ones Llama-3 scaling changes) turn far enough to matter.
const tokens = [266, ...Array.from({ length: 47 }, (_, i) => (i * 37 + 11) % 271)];

async function llamaCppLogits(modelPath, loraPath, checkTokenizer, evaluated = tokens) {
  const model = await llama.loadModel({ modelPath });
  try {
    if (checkTokenizer) {
      for (const text of ["hello world", "hello to the world, 12345!"]) {
        const theirs = Array.from(model.tokenize(text));
        const ours = Array.from(pillowTokenizer.encode(text, { addSpecialTokens: false }));
        const same = JSON.stringify(theirs) === JSON.stringify(ours);
        console.log(
          `tokenize ${JSON.stringify(text)}: llama.cpp ${JSON.stringify(theirs)} ${same ? "=" : "≠"} pillow ${JSON.stringify(ours)}`,
        );
        if (!same) failures++;
      }
    }
    // An f32 KV cache, so the comparison measures the export and not llama.cpp's f16 cache rounding.
    const context = await model.createContext({
      contextSize: 64,
      flashAttention: false,
      experimentalKvCacheKeyType: "F32",
      experimentalKvCacheValueType: "F32",
      ...(loraPath ? { lora: loraPath } : {}),
    });
    const sequence = context.getSequence();
    const input = evaluated.map((token, index) =>
      index === evaluated.length - 1 ? [token, { generateNext: { logits: true } }] : token,
    );
    const result = await sequence.controlledEvaluate(input);
    const map = result[evaluated.length - 1].next.logits;
    const out = new Float64Array(map.size);
    for (const [token, value] of map) out[token] = value;
    await context.dispose();
    return out;
  } finally {
    await model.dispose();
  }
}

for (const variant of [
  { label: "llama GQA untied", overrides: {} },
  { label: "llama tied embeddings", overrides: { tie_word_embeddings: true, num_key_value_heads: 4 } },
  {
    label: "llama3 rope scaling",
    overrides: {
      rope_theta: 500000,
      rope_scaling: {
        rope_type: "llama3",
        factor: 32,
        low_freq_factor: 1,
        high_freq_factor: 4,
        original_max_position_embeddings: 8192,
      },
    },
  },
  { label: "qwen2 (qkv bias, NeoX rope)", overrides: { architectures: ["Qwen2ForCausalLM"], rope_theta: 1000000 } },
]) {
  const config = core.parseModelConfig(
    {
      architectures: ["LlamaForCausalLM"],
      hidden_size: 64,
      intermediate_size: 96,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      vocab_size: 288,
      rms_norm_eps: 1e-5,
      rope_theta: 10000,
      max_position_embeddings: 256,
      tie_word_embeddings: false,
      bos_token_id: 266,
      eos_token_id: 270,
      ...variant.overrides,
    },
    "check/config.json",
  );
  const weights = makeWeights(config, 11);
  const expected = referenceLogits(config, weights, tokens);
  for (const dtype of ["f32", "f16"]) {
    const file = path.join(folder, `model-${dtype}.gguf`);
    core.writeGguf(file, { config, tokenizerJson: tokenizer, tokenizerConfig, tensors: weights, dtype });
    const relative = compare(
      `${variant.label} ${dtype}`,
      expected,
      await llamaCppLogits(file, undefined, dtype === "f32" && !config.tieWordEmbeddings),
    );
    if (relative > (dtype === "f32" ? 1e-4 : 5e-3)) failures++;
  }
  const lora = { r: 4, alpha: 8, targetModules: [...core.LINEAR_MODULES], dropout: 0, rslora: false, bias: "none" };
  const loraTensors = makeLora(config, 4, 23);
  const adapterFile = path.join(folder, "adapter.gguf");
  core.writeLoraGguf(adapterFile, { config, lora, tensors: loraTensors });
  const withAdapter = referenceLogits(config, weights, tokens, { tensors: loraTensors, scale: core.loraScale(lora) });
  const baseFile = path.join(folder, "model-f32.gguf");
  const relative = compare(
    `${variant.label} f32 + LoRA r=4 on all linear layers`,
    withAdapter,
    await llamaCppLogits(baseFile, adapterFile, false),
  );
  if (relative > 1e-4) failures++;
  // How far the adapter moves the logits, so the agreement above means something.
  compare(
    "  (the adapter's effect: base reference vs adapted llama.cpp)",
    expected,
    await llamaCppLogits(baseFile, adapterFile, false),
  );
}
// The embedded tiny model's shape and byte-level tokenizer (@pillow/suite): no merges, no Split regex.
{
  const suite = await import(pathToFileURL(path.join(here, "..", "..", "suite", "dist", "index.js")).href);
  const config = core.parseModelConfig(suite.tinyModelConfig(), "tiny/config.json");
  const byteTokenizer = suite.buildByteTokenizerJson();
  const byteTokenizerConfig = suite.buildTokenizerConfigJson();
  const pillowByteTokenizer = core.Tokenizer.fromJson(byteTokenizer, byteTokenizerConfig);
  const weights = makeWeights(config, 31);
  const file = path.join(folder, "tiny.gguf");
  core.writeGguf(file, {
    config,
    tokenizerJson: byteTokenizer,
    tokenizerConfig: byteTokenizerConfig,
    tensors: weights,
  });
  const model = await llama.loadModel({ modelPath: file });
  for (const text of [
    "### Instruction:\nPluralize the word.\n### Input:\nmouse\n### Response:\n",
    "héllo wörld 👋, 12345!",
  ]) {
    const theirs = Array.from(model.tokenize(text));
    const ours = Array.from(pillowByteTokenizer.encode(text, { addSpecialTokens: false }));
    const same = JSON.stringify(theirs) === JSON.stringify(ours);
    console.log(
      `tiny byte tokenizer, ${JSON.stringify(text).slice(0, 30)}…: llama.cpp ${same ? "=" : "≠"} pillow (${ours.length} tokens)`,
    );
    if (!same) failures++;
    if (model.detokenize(theirs) !== text) {
      console.log("  llama.cpp does not detokenize it back");
      failures++;
    }
  }
  await model.dispose();
  const tinyTokens = Array.from(
    pillowByteTokenizer.encode("### Instruction:\nName the capital.\n### Input:\nFrance\n### Response:\n"),
  );
  const expected = referenceLogits(config, weights, tinyTokens);
  if (
    compare(
      "tiny model shape, byte tokenizer, f32",
      expected,
      await llamaCppLogits(file, undefined, false, tinyTokens),
    ) > 1e-4
  )
    failures++;
}
fs.rmSync(folder, { recursive: true, force: true });
console.log(failures === 0 ? "llama.cpp agrees with pillow's export" : `${failures} check(s) failed`);
process.exit(failures === 0 ? 0 : 1);
