// `pillow inspect PATH`: what a model folder, PEFT adapter folder or .safetensors file holds —
// architecture and sizes, LoRA settings, tensor counts, dtypes and parameter counts — without
// loading any weights (headers only).
import fs from "node:fs";
import path from "node:path";
import {
  ADAPTER_CONFIG_FILE,
  loraScale,
  parsePeftTensorName,
  readAdapterConfig,
  readModelConfig,
  SafetensorsCheckpoint,
  type TensorInfo,
} from "@pillow/core";
import { inputError } from "./cli-error.js";

export type TensorSummary = { count: number; parameters: number; bytes: number; dtypes: Record<string, number> };

export type InspectReport =
  | {
      kind: "model";
      path: string;
      architecture: string;
      layers: number;
      hiddenSize: number;
      intermediateSize: number;
      heads: number;
      keyValueHeads: number;
      vocabSize: number;
      maxPositions: number;
      tiedEmbeddings: boolean;
      tokenizer: boolean;
      tensors: TensorSummary;
    }
  | {
      kind: "adapter";
      path: string;
      r: number;
      alpha: number;
      scale: number;
      rslora: boolean;
      targetModules: string[];
      baseModel?: string;
      layers: number[];
      tensors: TensorSummary;
    }
  | {
      kind: "safetensors";
      path: string;
      tensors: TensorSummary;
      list: { name: string; dtype: string; shape: number[] }[];
    };

function summarise(infos: TensorInfo[]): TensorSummary {
  const dtypes: Record<string, number> = {};
  let parameters = 0;
  let bytes = 0;
  for (const info of infos) {
    parameters += info.shape.reduce((product, dimension) => product * dimension, 1);
    bytes += info.byteLength;
    dtypes[info.dtype] = (dtypes[info.dtype] ?? 0) + 1;
  }
  return { count: infos.length, parameters, bytes, dtypes };
}

function tensorsOf(location: string): TensorInfo[] {
  const checkpoint = SafetensorsCheckpoint.open(location);
  try {
    return checkpoint.names().map((name) => checkpoint.info(name));
  } finally {
    checkpoint.close();
  }
}

export function inspectPath(location: string): InspectReport {
  if (!fs.existsSync(location))
    throw inputError(`${location} does not exist`, "pass a model folder, an adapter folder or a .safetensors file");
  const resolved = path.resolve(location);
  if (fs.statSync(resolved).isDirectory()) {
    if (fs.existsSync(path.join(resolved, ADAPTER_CONFIG_FILE))) {
      const config = readAdapterConfig(resolved);
      const infos = tensorsOf(path.join(resolved, "adapter_model.safetensors"));
      const layers = [
        ...new Set(infos.map((info) => parsePeftTensorName(info.name)?.layer).filter((layer) => layer !== undefined)),
      ].sort((a, b) => a - b);
      return {
        kind: "adapter",
        path: resolved,
        r: config.r,
        alpha: config.alpha,
        scale: loraScale(config),
        rslora: config.rslora,
        targetModules: config.targetModules,
        baseModel: config.baseModel,
        layers,
        tensors: summarise(infos),
      };
    }
    if (fs.existsSync(path.join(resolved, "config.json"))) {
      const config = readModelConfig(resolved);
      return {
        kind: "model",
        path: resolved,
        architecture: config.architecture,
        layers: config.numLayers,
        hiddenSize: config.hiddenSize,
        intermediateSize: config.intermediateSize,
        heads: config.numHeads,
        keyValueHeads: config.numKeyValueHeads,
        vocabSize: config.vocabSize,
        maxPositions: config.maxPositionEmbeddings,
        tiedEmbeddings: config.tieWordEmbeddings,
        tokenizer: fs.existsSync(path.join(resolved, "tokenizer.json")),
        tensors: summarise(tensorsOf(resolved)),
      };
    }
    throw inputError(
      `${location} has neither config.json (a model) nor ${ADAPTER_CONFIG_FILE} (a PEFT adapter)`,
      "pass the folder that holds them, or a .safetensors file",
    );
  }
  if (!resolved.endsWith(".safetensors") && !resolved.endsWith(".json")) {
    throw inputError(
      `${location}: cannot inspect this kind of file`,
      "pass a model folder, an adapter folder or a .safetensors file",
    );
  }
  const infos = tensorsOf(resolved);
  return {
    kind: "safetensors",
    path: resolved,
    tensors: summarise(infos),
    list: infos.map((info) => ({ name: info.name, dtype: info.dtype, shape: info.shape })),
  };
}

const formatCount = (count: number) =>
  count >= 1e9
    ? `${(count / 1e9).toFixed(2)}B`
    : count >= 1e6
      ? `${(count / 1e6).toFixed(2)}M`
      : count >= 1e3
        ? `${(count / 1e3).toFixed(1)}K`
        : String(count);

const formatBytes = (bytes: number) =>
  bytes >= 2 ** 30
    ? `${(bytes / 2 ** 30).toFixed(2)} GiB`
    : bytes >= 2 ** 20
      ? `${(bytes / 2 ** 20).toFixed(1)} MiB`
      : `${(bytes / 1024).toFixed(1)} KiB`;

export function formatInspect(report: InspectReport): string {
  const tensors = `${report.tensors.count} tensors, ${formatCount(report.tensors.parameters)} parameters, ${formatBytes(report.tensors.bytes)} (${Object.entries(
    report.tensors.dtypes,
  )
    .map(([dtype, count]) => `${count} ${dtype}`)
    .join(", ")})`;
  if (report.kind === "model") {
    return [
      `model ${report.path}`,
      `  ${report.architecture}: ${report.layers} layers, hidden ${report.hiddenSize}, MLP ${report.intermediateSize}, ${report.heads} heads (${report.keyValueHeads} KV), vocab ${report.vocabSize}, context ${report.maxPositions}${report.tiedEmbeddings ? ", tied embeddings" : ""}`,
      `  tokenizer.json: ${report.tokenizer ? "yes" : "missing — pass --tokenizer"}`,
      `  ${tensors}`,
    ].join("\n");
  }
  if (report.kind === "adapter") {
    return [
      `LoRA adapter ${report.path}`,
      `  r ${report.r}, alpha ${report.alpha}, scale ${report.scale.toFixed(4)}${report.rslora ? " (rsLoRA)" : ""}`,
      `  targets ${report.targetModules.join(", ")} in ${report.layers.length} layer(s)${report.baseModel ? `, base ${report.baseModel}` : ""}`,
      `  ${tensors}`,
    ].join("\n");
  }
  const shown = report.list
    .slice(0, 40)
    .map((tensor) => `  ${tensor.name} ${tensor.dtype} [${tensor.shape.join(", ")}]`);
  if (report.list.length > 40) shown.push(`  … ${report.list.length - 40} more (use --json for all)`);
  return [`safetensors ${report.path}`, `  ${tensors}`, ...shown].join("\n");
}
