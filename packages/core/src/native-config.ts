// ModelConfig → the shapes and constants the native model is built from (one mapping for every loader).
import type { NativeModelConfig } from "@pillow/lora-kernels";
import type { ModelConfig } from "./config.js";

export function nativeConfig(config: ModelConfig): NativeModelConfig {
  return {
    vocabSize: config.vocabSize,
    hiddenSize: config.hiddenSize,
    intermediateSize: config.intermediateSize,
    numLayers: config.numLayers,
    numHeads: config.numHeads,
    numKeyValueHeads: config.numKeyValueHeads,
    headDim: config.headDim,
    maxPositionEmbeddings: config.maxPositionEmbeddings,
    rmsNormEps: config.rmsNormEps,
    ropeTheta: config.ropeTheta,
    ropeScaling: config.ropeScaling,
    tieWordEmbeddings: config.tieWordEmbeddings,
    attentionBias: config.attentionBias,
  };
}
