// Loading a model: an HF folder — config.json → the native model's shapes, every tensor of
// model.safetensors (or its shards) checked against them and copied in, tokenizer.json when present.
import fs from "node:fs";
import path from "node:path";
import { type Device, loadAddon, resolveDevice, setThreads } from "@pillow/lora-kernels";
import { readModelConfig } from "./config.js";
import { CheckpointError, ModelError } from "./errors.js";
import { loadGgufModel } from "./gguf-model.js";
import { Model, type ModelDtype } from "./model.js";
import { nativeConfig } from "./native-config.js";
import { SafetensorsCheckpoint } from "./safetensors.js";
import { Tokenizer } from "./tokenizer.js";

export type LoadModelOptions = {
  /** Weight storage: f32 (default), or bf16 linear weights with f32 compute (inference and LoRA training). */
  dtype?: ModelDtype;
  /** Native thread-pool size (process-wide). Default: every core. */
  threads?: number;
  /**
   * Where the weights live and the steps run. "cuda": weights and the active adapter are uploaded to
   * the GPU once; forward, decode (KV cache on the GPU), sampling, embed and LoRA lossAndGrad/train
   * run the CUDA kernels. Full-parameter training, LoRA dropout and continuous batching are CPU-only
   * for now and throw E_UNSUPPORTED on a cuda model. Default: PILLOW_DEVICE, else "cpu"; "cuda"
   * without a CUDA build or device is a KernelError E_CUDA saying why.
   */
  device?: Device;
  /**
   * GGUF files only: "keep" (the default on the CPU) stores Q8_0, Q4_0 and Q4_K linear weights and
   * token embeddings as their llama.cpp blocks, 34 / 18 bytes per 32 weights or 144 per 256: decode reads them through the
   * Q8_0 / Q4_0 / Q4_K kernels and prefill/training GEMMs dequantize blocks while packing, the
   * activations rounded as llama.cpp's CPU backend rounds them (Q8_0, or Q8_K for Q4_K), so the
   * logits are the dequantized model's up to that rounding; LoRA trains over the frozen quantized
   * base, full training needs "dequantize". "dequantize" (the default on CUDA, which runs none of
   * them) converts them to f32 (or bf16 with dtype). A kept embedding's rows are decoded when looked up,
   * and a tied model's output layer multiplies its blocks (with x rounded, as llama.cpp does). Q5_K and
   * Q6_K are always dequantized at load.
   */
  quantized?: "keep" | "dequantize";
};

/**
 * Loads an HF model folder (config.json, model.safetensors or a sharded index, tokenizer.json), or a
 * GGUF file (a path ending in .gguf: llama.cpp's metadata, embedded tokenizer and tensors; see gguf-model.ts).
 */
export async function loadModel(dir: string, options: LoadModelOptions = {}): Promise<Model> {
  const dtype = options.dtype ?? "f32";
  if (dtype !== "f32" && dtype !== "bf16")
    throw new ModelError("E_ARGUMENT", `dtype must be "f32" or "bf16", got ${String(dtype)}`);
  if (options.threads !== undefined) setThreads(options.threads);
  if (dir.toLowerCase().endsWith(".gguf")) return loadGgufModel(dir, { ...options, dtype });
  const config = readModelConfig(dir);
  const tokenizer = fs.existsSync(path.join(dir, "tokenizer.json")) ? await Tokenizer.load(dir) : null;
  const addon = loadAddon();
  const native = new addon.LlamaModel(nativeConfig(config), { device: resolveDevice(options.device) });
  const checkpoint = SafetensorsCheckpoint.open(dir);
  try {
    for (const name of native.tensorNames()) {
      const where = { file: checkpoint.path, tensor: name };
      if (!checkpoint.has(name))
        throw new CheckpointError("E_MISSING_TENSOR", "missing from the checkpoint (required by config.json)", where);
      const info = checkpoint.info(name);
      const want = native.tensorShape(name);
      if (info.shape.length !== want.length || info.shape.some((d, i) => d !== want[i])) {
        throw new CheckpointError(
          "E_SHAPE",
          `shape [${info.shape.join(", ")}] does not match config.json's [${want.join(", ")}]`,
          where,
        );
      }
      if (dtype === "bf16" && info.dtype === "BF16") native.setTensor(name, checkpoint.readBf16Bits(name), "bf16");
      else native.setTensor(name, checkpoint.readFloat32(name), dtype);
    }
  } finally {
    checkpoint.close();
  }
  return new Model(config, native, tokenizer, path.resolve(dir), dtype);
}
